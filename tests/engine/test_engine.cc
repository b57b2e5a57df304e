// Session engine tests (issue 4): GoogleTest against realtime-emulator on an ephemeral port.
// Every wait is bounded by a deadline; nothing asserts wall-clock performance.
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>

#include <memory>

#include "../common/watchdog.h"
#include "engine_test_util.h"
#include "net_thread.h"
#include "session_internal.h"

// The engine's pool of network threads defaults to one per two cores, i.e. ONE on the 2-core CI
// machines; this suite runs with two (unless RTC_NET_THREADS is set) so that sessions bound to
// different threads, per-thread SoupSessions, ticks, closers and shutdown are all exercised, while
// the element and pipeline suites run the default single thread. Set before the first Session.
[[maybe_unused]] static const bool kTwoNetThreads = g_setenv("RTC_NET_THREADS", "2", FALSE);

// A hang becomes a failure that names the test and what it waited for (tests/common/watchdog.h).
[[maybe_unused]] static const bool kWatchdog = rtctest::install_test_watchdog(std::chrono::seconds(150));

using namespace rtctest;
using rtc::ServerEventType;
using rtc::SessionState;

namespace {

size_t b64_decoded_len(const std::string &b64) {
  if (b64.empty()) return 0;
  size_t n = b64.size() / 4 * 3;
  if (b64.size() >= 1 && b64[b64.size() - 1] == '=') n--;
  if (b64.size() >= 2 && b64[b64.size() - 2] == '=') n--;
  return n;
}

// Sum of input audio bytes appended per emulator session.
std::map<std::string, size_t> appended_bytes(const EmulatorLog &log) {
  std::map<std::string, size_t> r;
  for (auto *e : log.find("in", "input_audio_buffer.append")) r[e->session] += b64_decoded_len(str_member(e->node, "audio"));
  return r;
}

std::string item_text_of(JsonNode *ev) {
  // conversation.item.create -> item.content[0].text
  JsonObject *o = obj(ev);
  if (!o || !json_object_has_member(o, "item")) return {};
  JsonObject *it = json_object_get_object_member(o, "item");
  if (!json_object_has_member(it, "content")) return {};
  JsonArray *c = json_object_get_array_member(it, "content");
  if (json_array_get_length(c) == 0) return {};
  JsonObject *p = json_array_get_object_element(c, 0);
  return json_object_get_string_member_with_default(p, "text", "");
}
std::string item_role_of(JsonNode *ev) {
  JsonObject *o = obj(ev);
  if (!o || !json_object_has_member(o, "item")) return {};
  return json_object_get_string_member_with_default(json_object_get_object_member(o, "item"), "role", "");
}

// Waits (bounded) until every network thread has run two posted callbacks: whatever was already
// queued there when this was called has been dispatched.
bool net_barrier(std::chrono::milliseconds t = 5s) {
  for (int round = 0; round < 2; round++) {
    struct B {
      std::mutex mu;
      std::condition_variable cv;
      size_t left = 0;
    };
    auto b = std::make_shared<B>();
    size_t n = rtc::net::loop_count();
    b->left = n;
    for (size_t i = 0; i < n; i++) {
      rtc::net::post(
          rtc::net::loop_at(i),
          [](gpointer d) -> gboolean {
            auto &bb = **static_cast<std::shared_ptr<B> *>(d);
            std::lock_guard<std::mutex> lk(bb.mu);
            bb.left--;
            bb.cv.notify_all();
            return G_SOURCE_REMOVE;
          },
          new std::shared_ptr<B>(b), [](gpointer d) { delete static_cast<std::shared_ptr<B> *>(d); });
    }
    std::unique_lock<std::mutex> lk(b->mu);
    if (!b->cv.wait_for(lk, t, [&] { return b->left == 0; })) return false;
  }
  return true;
}

// start_emu() + leave the test when it skipped (no emulator) or failed
#define START_EMU(...)                                     \
  do {                                                     \
    start_emu(__VA_ARGS__);                                \
    if (IsSkipped() || HasFatalFailure()) return;          \
  } while (0)

class EngineTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (s) {
      s->stop();
      rec.mark_stopped();
      s.reset();
    }
    EXPECT_EQ(rec.callbacks_after_stop.load(), 0) << "callback after stop() returned";
    emu.stop();
  }
  // Starts the emulator with the test defaults (--voice tone --pace burst) + extra args.
  void start_emu(std::vector<std::string> extra = {}, bool burst = true) {
    std::vector<std::string> args = {"--voice", "tone"};
    if (burst) {
      args.push_back("--pace");
      args.push_back("burst");
    }
    for (auto &a : extra) args.push_back(a);
    std::string err;
    if (!emu.start(args, &err)) {
      if (env_or("RTC_EMULATOR", "").empty()) GTEST_SKIP() << err;
      FAIL() << err;
    }
  }
  void make_session(const rtc::EngineConfig &cfg) { s = std::make_unique<rtc::Session>(cfg, &rec); }
  bool wait_ready(std::chrono::milliseconds t = 15s) {
    return rec.wait_until([&] { return rec.has_state(SessionState::Ready); }, t);
  }
  bool wait_count(ServerEventType type, size_t n, std::chrono::milliseconds t = 20s) {
    return rec.wait_until([&] { return rec.count(type) >= n; }, t);
  }
  bool wait_stats(const std::function<bool(const rtc::SessionStats &)> &pred, std::chrono::milliseconds t = 20s) {
    auto deadline = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(s->stats())) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred(s->stats());
  }
  // Waits until nothing arrived for `quiet` (bounded by `t`): the server finished a burst.
  void settle(std::chrono::milliseconds quiet = 300ms, std::chrono::milliseconds t = 5s) {
    auto deadline = std::chrono::steady_clock::now() + t;
    uint64_t last = s->stats().events_in;
    auto since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      uint64_t n = s->stats().events_in;
      if (n != last) {
        last = n;
        since = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - since >= quiet) {
        return;
      }
    }
  }

  Emulator emu;
  Recorder rec;
  std::unique_ptr<rtc::Session> s;
};

// ------------------------------------------------------------------------------------------
// Pure units
// Manual commits not answered yet: answered in order with their end samples; past the bound
// only counted (and every later one until the count is answered, to keep the order), so the
// count of those lost with a session stays exact.
TEST(EngineUnit, CommitLedgerKeepsOrderAndCountsPastItsBound) {
  rtc::detail::CommitLedger l;
  const size_t cap = rtc::detail::CommitLedger::kMaxRecorded;
  for (size_t i = 0; i < cap + 3; i++) l.sent("c" + std::to_string(i), static_cast<int64_t>(i) * 10);
  EXPECT_EQ(l.unanswered(), cap + 3);
  EXPECT_EQ(l.committed(), 0);
  EXPECT_EQ(l.committed(), 10);
  l.rejected("c2", true);  // a recorded commit the server rejected
  EXPECT_EQ(l.committed(), 30);
  l.rejected("not-a-commit", false);  // some other event's error: nothing
  EXPECT_EQ(l.unanswered(), cap + 3 - 4);
  l.sent("late", 5);  // still behind the ones not recorded: not recorded either
  EXPECT_EQ(l.unanswered(), cap);
  for (size_t i = 4; i < cap; i++) ASSERT_EQ(l.committed(), static_cast<int64_t>(i) * 10) << i;
  l.rejected("c1025", true);  // not recorded, named by an error of a commit
  EXPECT_EQ(l.unanswered(), 3u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(l.committed(), -1);
  EXPECT_EQ(l.unanswered(), 0u);
  EXPECT_EQ(l.committed(), -1);  // a commit of the server's VAD
  EXPECT_EQ(l.unanswered(), 0u);
  l.sent("again", 7);  // recorded again once the count is answered
  EXPECT_EQ(l.committed(), 7);
  l.sent("x", 1);
  l.clear();
  EXPECT_EQ(l.unanswered(), 0u);
}

TEST(EngineUnit, SessionInputMapAcrossGaps) {
  rtc::detail::SessionInputMap t;
  EXPECT_EQ(t.to_caller(0), -1);
  t.add(0, 960);     // caller 0..959 -> session 0..959
  t.add(960, 960);   // contiguous: merged
  EXPECT_EQ(t.segments(), 1u);
  t.add(5000, 480);  // caller jumped (dropped 3040 samples)
  EXPECT_EQ(t.segments(), 2u);
  EXPECT_EQ(t.sent(), 2400);
  EXPECT_EQ(t.to_caller(0), 0);
  EXPECT_EQ(t.to_caller(1919), 1919);
  EXPECT_EQ(t.to_caller(1920), 5000);
  EXPECT_EQ(t.to_caller(2399), 5479);
  EXPECT_EQ(t.to_caller(2400), 5480);  // exclusive end
  EXPECT_EQ(t.to_caller(2500), 5580);  // extrapolated past the end
  t.reset();
  EXPECT_EQ(t.sent(), 0);
  EXPECT_EQ(t.to_caller(0), -1);
}

TEST(EngineUnit, EventTypeMapIsBounded) {
  rtc::detail::EventTypeMap m(3);
  m.add("a", "x.a");
  m.add("b", "x.b");
  m.add("c", "x.c");
  m.add("d", "x.d");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.get("a"), "");
  EXPECT_EQ(m.get("d"), "x.d");
}

TEST(EngineUnit, ErrorClassification) {
  auto cls = [](const char *code, const char *type = "invalid_request_error", const char *msg = "m") {
    rtc::ErrorInfo e;
    e.code = code;
    e.type = type;
    e.message = msg;
    return rtc::detail::classify_error(e);
  };
  EXPECT_EQ(cls("invalid_api_key"), rtc::ErrorClass::Fatal);
  EXPECT_EQ(cls("beta_api_shape_disabled"), rtc::ErrorClass::Fatal);
  EXPECT_EQ(cls("", "insufficient_quota"), rtc::ErrorClass::Fatal);
  EXPECT_EQ(cls("response_cancel_not_active"), rtc::ErrorClass::Benign);
  EXPECT_EQ(cls("conversation_already_has_active_response"), rtc::ErrorClass::Benign);
  EXPECT_EQ(cls("input_audio_buffer_commit_empty"), rtc::ErrorClass::Benign);
  EXPECT_EQ(cls("", "invalid_request_error", "Conversation already has an active response in progress"),
            rtc::ErrorClass::Benign);
  EXPECT_EQ(cls("invalid_value", "invalid_request_error", "Audio content of 100ms is already shorter than 200ms"),
            rtc::ErrorClass::Benign);
  EXPECT_EQ(cls("invalid_value"), rtc::ErrorClass::Warning);
  EXPECT_TRUE(rtc::detail::handshake_status_fatal(401));
  EXPECT_FALSE(rtc::detail::handshake_status_fatal(503));
  EXPECT_TRUE(rtc::detail::close_code_reconnectable(1011));
  EXPECT_FALSE(rtc::detail::close_code_reconnectable(4000));
}

TEST(EngineUnit, BackoffIsExponentialJitteredAndCapped) {
  using rtc::detail::backoff_delay_ms;
  EXPECT_EQ(backoff_delay_ms(1, 100, 1000, 0.5), 100);
  EXPECT_EQ(backoff_delay_ms(2, 100, 1000, 0.5), 200);
  EXPECT_EQ(backoff_delay_ms(3, 100, 1000, 0.5), 400);
  EXPECT_EQ(backoff_delay_ms(10, 100, 1000, 0.5), 1000);
  EXPECT_EQ(backoff_delay_ms(1, 100, 1000, 0.0), 75);
  EXPECT_EQ(backoff_delay_ms(1, 100, 1000, 0.999999), 124);
}

TEST(EngineUnit, StopWithoutStartAndIdempotentStop) {
  Recorder rec;
  rtc::EngineConfig cfg = engine_config("ws://127.0.0.1:9", rtc::DialectChoice::GA);
  {
    rtc::Session s(cfg, &rec);
    s.stop();
    s.stop();
    EXPECT_EQ(s.state(), SessionState::Idle);
    std::vector<uint8_t> a;
    append_tone(a, 100);
    s.push_audio(a.data(), a.size());
    EXPECT_EQ(s.input_samples_pushed(), 2400);
  }
}

// ------------------------------------------------------------------------------------------
// Conversations

struct DialectCase {
  const char *name;
  rtc::DialectChoice dialect;
  const char *path;
};

class ConversationTest : public EngineTest, public ::testing::WithParamInterface<DialectCase> {};

TEST_P(ConversationTest, AudioInServerVadGivesAudioAndTranscript) {
  START_EMU();
  rtc::EngineConfig cfg = engine_config(emu.url, GetParam().dialect, GetParam().path);
  cfg.session.input_transcription = rtc::InputTranscription();
  cfg.session.input_transcription->model = "whisper-1";
  make_session(cfg);
  s->start();
  ASSERT_TRUE(wait_ready());

  std::vector<uint8_t> audio;
  append_silence(audio, 500);
  append_tone(audio, 800);
  append_silence(audio, 1500);
  push_in_pieces(*s, audio);
  s->flush_audio();
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1)) << "no response";
  ASSERT_TRUE(wait_count(ServerEventType::InputTranscriptionCompleted, 1)) << "no input transcription";
  ASSERT_TRUE(wait_stats([&](const rtc::SessionStats &st) { return st.audio_bytes_sent == audio.size(); }));

  auto started = rec.events_of(ServerEventType::SpeechStarted);
  auto stopped = rec.events_of(ServerEventType::SpeechStopped);
  auto committed = rec.events_of(ServerEventType::InputBufferCommitted);
  ASSERT_EQ(started.size(), 1u);
  ASSERT_EQ(stopped.size(), 1u);
  ASSERT_EQ(committed.size(), 1u);
  // one session, nothing dropped: caller samples == session samples (§6)
  EXPECT_EQ(started[0].ctx.input_start_sample, started[0].ev.audio_start_ms * 24);
  EXPECT_NEAR(started[0].ctx.input_start_sample, (500 - 300) * 24, 240);  // onset - prefix_padding
  EXPECT_EQ(stopped[0].ctx.input_end_sample, stopped[0].ev.audio_end_ms * 24);
  EXPECT_EQ(stopped[0].ctx.input_start_sample, started[0].ctx.input_start_sample);
  EXPECT_EQ(committed[0].ctx.input_start_sample, started[0].ctx.input_start_sample);
  EXPECT_EQ(committed[0].ctx.input_end_sample, stopped[0].ctx.input_end_sample);
  auto tr = rec.events_of(ServerEventType::InputTranscriptionCompleted);
  EXPECT_EQ(tr[0].ev.item_id, committed[0].ev.item_id);
  EXPECT_EQ(tr[0].ctx.input_start_sample, started[0].ctx.input_start_sample);
  EXPECT_EQ(tr[0].ctx.input_end_sample, stopped[0].ctx.input_end_sample);

  auto done = rec.events_of(ServerEventType::ResponseDone);
  EXPECT_EQ(done[0].ev.response.status, "completed");
  EXPECT_GE(rec.count_locked(ServerEventType::AudioTranscriptDone), 1u);
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    EXPECT_GT(rec.audio_bytes, 0u);
    EXPECT_EQ(rec.offset_mismatch, 0u);
    EXPECT_TRUE(rec.errors.empty()) << rec.errors[0].code << ": " << rec.errors[0].message;
    EXPECT_EQ(rec.thread_ids.size(), 1u);
  }
  rtc::SessionStats st = s->stats();
  EXPECT_EQ(st.state, SessionState::Ready);
  EXPECT_EQ(st.connects, 1u);
  EXPECT_FALSE(st.session_id.empty());
  EXPECT_EQ(st.responses_completed, 1u);
  EXPECT_GE(st.ttfa.count, 1u);
  EXPECT_GE(st.ttfa.last_us, 0);
  EXPECT_NEAR(st.audio_ms_sent, 2800.0, 0.01);
  EXPECT_GT(st.audio_ms_received, 0.0);
  EXPECT_EQ(s->input_samples_pushed(), static_cast<int64_t>(audio.size() / 2));

  // the emulator received exactly our audio, in chunks of at most 40 ms (1920 bytes)
  EmulatorLog log = emu.log();
  auto appends = log.find("in", "input_audio_buffer.append");
  ASSERT_FALSE(appends.empty());
  size_t total = 0;
  for (auto *e : appends) {
    size_t n = b64_decoded_len(str_member(e->node, "audio"));
    EXPECT_LE(n, 1920u);
    EXPECT_EQ(n % 2, 0u);
    total += n;
  }
  EXPECT_EQ(total, audio.size());
  // session.update went first (§10.1)
  auto ins = log.find("in", "");
  ASSERT_FALSE(ins.empty());
  EXPECT_EQ(ins[0]->type, "session.update");
}

INSTANTIATE_TEST_SUITE_P(Dialects, ConversationTest,
                         ::testing::Values(DialectCase{"openai_ga", rtc::DialectChoice::GA, ""},
                                           DialectCase{"openai_preview", rtc::DialectChoice::Preview, ""},
                                           DialectCase{"azure_preview", rtc::DialectChoice::Preview, "/openai"},
                                           DialectCase{"azure_ga", rtc::DialectChoice::GA, "/openai"}),
                         [](const ::testing::TestParamInfo<DialectCase> &i) { return std::string(i.param.name); });

TEST_F(EngineTest, ManualCommitMode) {
  START_EMU();
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.session.turn_detection.type = rtc::TurnDetection::Type::None;
  make_session(cfg);
  // commands before Ready are queued in order, not lost
  std::vector<uint8_t> audio;
  append_tone(audio, 730);  // not a multiple of the chunk: commit flushes the tail
  push_in_pieces(*s, audio, 999);
  s->start();
  ASSERT_TRUE(s->commit());
  ASSERT_TRUE(s->create_response());
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1));
  auto committed = rec.events_of(ServerEventType::InputBufferCommitted);
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].ctx.input_start_sample, 0);
  EXPECT_EQ(committed[0].ctx.input_end_sample, static_cast<int64_t>(audio.size() / 2));
  EXPECT_EQ(rec.count_locked(ServerEventType::SpeechStarted), 0u);
  EXPECT_EQ(rec.events_of(ServerEventType::ResponseDone)[0].ev.response.status, "completed");

  EmulatorLog log = emu.log();
  auto ins = log.find("in", "");
  // order: session.update, appends, commit, response.create
  std::vector<std::string> order;
  for (auto *e : ins)
    if (e->type != "input_audio_buffer.append" || order.empty() || order.back() != "append")
      order.push_back(e->type == "input_audio_buffer.append" ? "append" : e->type);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0], "session.update");
  EXPECT_EQ(order[1], "append");
  EXPECT_EQ(order[2], "input_audio_buffer.commit");
  EXPECT_EQ(order[3], "response.create");
  EXPECT_EQ(appended_bytes(log).begin()->second, audio.size());
}

TEST_F(EngineTest, TextInAudioOut) {
  START_EMU();
  make_session(engine_config(emu.url, rtc::DialectChoice::Preview, "/openai"));
  s->start();
  ASSERT_TRUE(s->send_text("Hello"));
  EXPECT_TRUE(s->response_pending());
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1));
  ASSERT_TRUE(wait_stats([&](const rtc::SessionStats &) { return !s->response_pending(); }));
  EXPECT_EQ(rec.events_of(ServerEventType::ResponseDone)[0].ev.response.status, "completed");
  auto tdone = rec.events_of(ServerEventType::AudioTranscriptDone);
  ASSERT_EQ(tdone.size(), 1u);
  EXPECT_FALSE(tdone[0].ev.text.empty());
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    EXPECT_GT(rec.audio_bytes, 0u);
  }
  rtc::SessionStats st = s->stats();
  EXPECT_EQ(st.responses_completed, 1u);
  EXPECT_TRUE(st.usage_total.present);
  EXPECT_GT(st.usage_total.total_tokens, 0);
  EXPECT_EQ(st.ttfa.count, 1u);
}

const char *kWeatherTool =
    R"([{"type":"function","name":"get_weather_for_location","description":"gets the weather for a location",)"
    R"("parameters":{"type":"object","properties":{"location":{"type":"string","description":"The city and state such as San Francisco, CA"},)"
    R"("unit":{"type":"string","enum":["c","f"]}},"required":["location","unit"]}}])";

TEST_F(EngineTest, FunctionCallingRoundTrip) {
  std::string dir = make_temp_dir();
  std::string scen = dir + "/weather.json";
  {
    std::ofstream f(scen);
    f << R"({"name":"weather","turns":[{"user":"What's the weather like in Seattle today?",)"
         R"("function_call":{"name":"get_weather_for_location","arguments":{"location":"Seattle, WA","unit":"f"}},)"
         R"("reply":"It's {{output.temperature|about 60}} degrees in Seattle."}]})";
  }
  START_EMU({"--scenario", scen});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.session.tools_json = kWeatherTool;
  cfg.session.tool_choice_json = "\"auto\"";
  make_session(cfg);
  rtc::Session *sp = s.get();
  // answer from inside the callback (allowed by the contract: queued, runs after it returns)
  rec.call_hook = [sp](const rtc::FunctionCall &c) { sp->function_output(c.call_id, R"({"temperature":72})"); };
  s->start();
  ASSERT_TRUE(s->send_text("What's the weather like in Seattle today?"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 2));
  std::vector<rtc::FunctionCall> calls;
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    calls = rec.calls;
    EXPECT_TRUE(rec.errors.empty());
  }
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "get_weather_for_location");
  EXPECT_NE(calls[0].arguments.find("Seattle"), std::string::npos);
  EXPECT_FALSE(calls[0].call_id.empty());
  auto tdone = rec.events_of(ServerEventType::AudioTranscriptDone);
  ASSERT_FALSE(tdone.empty());
  EXPECT_NE(tdone.back().ev.text.find("72"), std::string::npos) << tdone.back().ev.text;

  // wire order (§10.6): function_call_output item, then response.create after response.done
  EmulatorLog log = emu.log();
  int out_idx = -1, create_after = -1, done1 = -1, i = 0;
  for (auto &e : log.entries) {
    if (e.dir == "out" && e.type == "response.done" && done1 < 0) done1 = i;
    if (e.dir == "in" && e.type == "conversation.item.create" && e.json.find("function_call_output") != std::string::npos)
      out_idx = i;
    if (e.dir == "in" && e.type == "response.create" && out_idx >= 0 && create_after < 0) create_after = i;
    i++;
  }
  ASSERT_GE(out_idx, 0);
  ASSERT_GE(create_after, 0);
  EXPECT_GT(out_idx, done1);
  EXPECT_GT(create_after, out_idx);
  g_unlink(scen.c_str());
  g_rmdir(dir.c_str());
}

// Each response.done carries that response's own time to first audio (EventContext::ttfa_us):
// -1 for the response that only holds a function call (no audio), the measured value for the
// spoken answer that follows the function output (the same number the stats record for it).
TEST_F(EngineTest, ResponseDoneCarriesItsOwnTimeToFirstAudio) {
  std::string dir = make_temp_dir();
  std::string scen = dir + "/weather.json";
  {
    std::ofstream f(scen);
    f << R"({"name":"weather","turns":[{"user":"What's the weather like in Seattle today?",)"
         R"("function_call":{"name":"get_weather_for_location","arguments":{"location":"Seattle, WA","unit":"f"}},)"
         R"("reply":"It's {{output.temperature|about 60}} degrees in Seattle."}]})";
  }
  START_EMU({"--scenario", scen});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.session.tools_json = kWeatherTool;
  cfg.session.tool_choice_json = "\"auto\"";
  make_session(cfg);
  rtc::Session *sp = s.get();
  rec.call_hook = [sp](const rtc::FunctionCall &c) { sp->function_output(c.call_id, R"({"temperature":72})"); };
  s->start();
  ASSERT_TRUE(s->send_text("What's the weather like in Seattle today?"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 2));
  auto done = rec.events_of(ServerEventType::ResponseDone);
  ASSERT_EQ(done.size(), 2u);
  bool has_call = false;
  for (const auto &o : done[0].ev.response.output) has_call |= o.type == "function_call";
  ASSERT_TRUE(has_call);
  EXPECT_EQ(done[0].ctx.ttfa_us, -1) << "a function-call-only response has no audio";
  EXPECT_GE(done[1].ctx.ttfa_us, 0) << "the spoken answer has a time to first audio";
  EXPECT_LT(done[1].ctx.ttfa_us, 20 * 1000 * 1000);
  rtc::SessionStats st = s->stats();
  EXPECT_EQ(st.ttfa.count, 1u);
  EXPECT_EQ(st.ttfa.last_us, done[1].ctx.ttfa_us);
  // Other events carry no TTFA.
  for (const auto &e : rec.events_of(ServerEventType::ResponseCreated)) EXPECT_EQ(e.ctx.ttfa_us, -1);
  g_unlink(scen.c_str());
  g_rmdir(dir.c_str());
}

TEST_F(EngineTest, CreateResponseIsQueuedBehindTheActiveOne) {
  start_emu({}, false);  // paced: the first response is still active when the second is asked
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(wait_ready());
  ASSERT_TRUE(s->send_text("Hello"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseCreated, 1));
  ASSERT_TRUE(s->create_response());
  EXPECT_TRUE(s->response_pending());
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 2, 60s));
  for (auto &d : rec.events_of(ServerEventType::ResponseDone)) EXPECT_EQ(d.ev.response.status, "completed");
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    for (auto &e : rec.errors) ADD_FAILURE() << "error " << e.code;
  }
  EmulatorLog log = emu.log();
  // never sent to fail: no conversation_already_has_active_response, and the second
  // response.create arrives after the first response.done
  for (auto *e : log.find("out", "error")) ADD_FAILURE() << e->json;
  int creates = 0, first_done = -1, second_create = -1, i = 0;
  for (auto &e : log.entries) {
    if (e.dir == "out" && e.type == "response.done" && first_done < 0) first_done = i;
    if (e.dir == "in" && e.type == "response.create" && ++creates == 2) second_create = i;
    i++;
  }
  EXPECT_EQ(creates, 2);
  EXPECT_GT(second_create, first_done);
}

TEST_F(EngineTest, CancelAndTruncateWithClamping) {
  start_emu({}, false);  // paced, so the response is still running when we cancel
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  rtc::Session *sp = s.get();
  std::atomic<bool> cancelled{false};
  rec.audio_hook = [&](const rtc::AudioDeltaInfo &) {
    if (!cancelled.exchange(true)) sp->cancel_response();
  };
  s->start();
  ASSERT_TRUE(s->send_text("Tell me a long story please"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1, 30s));
  auto done = rec.events_of(ServerEventType::ResponseDone);
  EXPECT_EQ(done[0].ev.response.status, "cancelled");
  std::string item;
  int64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    item = rec.last_audio_item;
    bytes = rec.audio_by_item[item];
  }
  ASSERT_FALSE(item.empty());
  ASSERT_GT(bytes, 0);
  // a position past the received audio is clamped to it (§10.5)
  ASSERT_TRUE(s->truncate(item, 10 * 60 * 1000));
  ASSERT_TRUE(wait_count(ServerEventType::ItemTruncated, 1));
  auto tr = rec.events_of(ServerEventType::ItemTruncated);
  EXPECT_EQ(tr[0].ev.audio_end_ms, bytes / 48);
  // an item without received audio is deleted instead (0 ms)
  auto users = rec.events_of(ServerEventType::ItemAdded);
  std::string user_item;
  for (auto &u : users)
    if (u.ev.item.role == "user") user_item = u.ev.item.id;
  ASSERT_FALSE(user_item.empty());
  ASSERT_TRUE(s->truncate(user_item, 500));
  ASSERT_TRUE(wait_count(ServerEventType::ItemDeleted, 1));
  EXPECT_EQ(rec.events_of(ServerEventType::ItemDeleted)[0].ev.item_id, user_item);
  // cancel with nothing active: benign, not surfaced
  ASSERT_TRUE(s->cancel_response());
  settle();
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    for (auto &e : rec.errors) ADD_FAILURE() << "surfaced error " << e.code << ": " << e.message;
  }
  EXPECT_EQ(s->stats().responses_cancelled, 1u);
  EmulatorLog log = emu.log();
  auto truncs = log.find("in", "conversation.item.truncate");
  ASSERT_EQ(truncs.size(), 1u);
  EXPECT_EQ(int_member(truncs[0]->node, "audio_end_ms"), bytes / 48);
}

TEST_F(EngineTest, InputTranscriptionAfterResponseDone) {
  START_EMU({"--transcription-delay-ms", "1500"});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.session.input_transcription = rtc::InputTranscription();
  cfg.session.input_transcription->model = "gpt-4o-transcribe";
  make_session(cfg);
  s->start();
  ASSERT_TRUE(wait_ready());
  std::vector<uint8_t> audio;
  append_silence(audio, 300);
  append_tone(audio, 700);
  append_silence(audio, 1200);
  push_in_pieces(*s, audio);
  s->flush_audio();
  ASSERT_TRUE(wait_count(ServerEventType::InputTranscriptionCompleted, 1));
  // delivered after response.done, still correlated with its item and speech span
  std::lock_guard<std::mutex> lk(rec.mu);
  int done_at = -1, tr_at = -1;
  for (size_t i = 0; i < rec.events.size(); i++) {
    if (rec.events[i].ev.type == ServerEventType::ResponseDone && done_at < 0) done_at = static_cast<int>(i);
    if (rec.events[i].ev.type == ServerEventType::InputTranscriptionCompleted) tr_at = static_cast<int>(i);
  }
  ASSERT_GE(done_at, 0);
  EXPECT_GT(tr_at, done_at);
  const auto &tr = rec.events[static_cast<size_t>(tr_at)];
  std::string committed_item;
  int64_t span0 = -1, span1 = -1;
  for (auto &e : rec.events)
    if (e.ev.type == ServerEventType::InputBufferCommitted) {
      committed_item = e.ev.item_id;
      span0 = e.ctx.input_start_sample;
      span1 = e.ctx.input_end_sample;
    }
  EXPECT_EQ(tr.ev.item_id, committed_item);
  EXPECT_EQ(tr.ctx.input_start_sample, span0);
  EXPECT_EQ(tr.ctx.input_end_sample, span1);
  EXPECT_GE(span0, 0);
  EXPECT_GT(span1, span0);
}

TEST_F(EngineTest, ServerWarningNamesTheClientEvent) {
  START_EMU();
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(wait_ready());
  ASSERT_TRUE(s->delete_item("item_does_not_exist"));
  ASSERT_TRUE(rec.wait_until([&] { return !rec.errors.empty(); }));
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_EQ(rec.errors[0].cls, rtc::ErrorClass::Warning);
  EXPECT_EQ(rec.errors[0].client_event_type, "conversation.item.delete");
  EXPECT_FALSE(rec.errors[0].client_event_id.empty());
  EXPECT_EQ(s->state(), SessionState::Ready);
}

TEST_F(EngineTest, UpdateConfigAtRuntimeSendsSessionUpdate) {
  START_EMU();
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  make_session(cfg);
  s->start();
  ASSERT_TRUE(wait_ready());
  rtc::SessionConfig sc = cfg.session;
  sc.instructions = "Be brief.";
  s->update_config(sc);
  ASSERT_TRUE(wait_count(ServerEventType::SessionUpdated, 2));
  EXPECT_EQ(s->state(), SessionState::Ready);
  EmulatorLog log = emu.log();
  auto ups = log.find("in", "session.update");
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_NE(ups[1]->json.find("Be brief."), std::string::npos);
}

// ------------------------------------------------------------------------------------------
// Fatal errors

TEST_F(EngineTest, Fatal401ApiKeyMismatch) {
  START_EMU({"--api-key", "the-right-key"});
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }));
  std::lock_guard<std::mutex> lk(rec.mu);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].cls, rtc::ErrorClass::Fatal);
  EXPECT_EQ(rec.errors[0].http_status, 401);
  EXPECT_GT(rec.errors[0].message.size(), std::string("HTTP 401").size()) << "no server message";
  EXPECT_EQ(rec.errors[0].message.find("test-key"), std::string::npos);
  EXPECT_TRUE(rec.reconnecting.empty());
  for (auto &l : rec.logs) EXPECT_EQ(l.find("test-key"), std::string::npos) << l;
}

TEST_F(EngineTest, Fatal404Path) {
  START_EMU();
  make_session(engine_config(emu.url, rtc::DialectChoice::GA, "/v9/realtime"));
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }));
  std::lock_guard<std::mutex> lk(rec.mu);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].cls, rtc::ErrorClass::Fatal);
  EXPECT_EQ(rec.errors[0].http_status, 404);
  EXPECT_TRUE(rec.reconnecting.empty());
}

TEST_F(EngineTest, Fatal403Handshake) {
  START_EMU({"--fault-handshake-status", "403"});
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }));
  std::lock_guard<std::mutex> lk(rec.mu);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].http_status, 403);
  EXPECT_EQ(rec.errors[0].cls, rtc::ErrorClass::Fatal);
}

TEST_F(EngineTest, HandshakeUnavailableIsRetried) {
  START_EMU({"--fault-handshake-status", "503", "--fault-handshake-count", "2"});
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(wait_ready());
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_EQ(rec.reconnecting.size(), 2u);
  EXPECT_NE(rec.reconnecting[0].reason.find("503"), std::string::npos);
}

TEST_F(EngineTest, FatalBetaApiShapeDisabled) {
  START_EMU({"--fault-error-after", "1:beta_api_shape_disabled"});
  make_session(engine_config(emu.url, rtc::DialectChoice::Preview));
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }));
  std::lock_guard<std::mutex> lk(rec.mu);
  ASSERT_FALSE(rec.errors.empty());
  EXPECT_EQ(rec.errors.back().cls, rtc::ErrorClass::Fatal);
  EXPECT_EQ(rec.errors.back().code, "beta_api_shape_disabled");
  EXPECT_TRUE(rec.reconnecting.empty());
}

TEST_F(EngineTest, MalformedFrameIsAWarning) {
  START_EMU({"--fault-malformed-after", "2"});
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(wait_ready());
  ASSERT_TRUE(s->send_text("Hello"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1));
  EXPECT_GE(s->stats().parse_errors, 1u);
  EXPECT_EQ(s->state(), SessionState::Ready);
}

// ------------------------------------------------------------------------------------------
// Reconnection: the faulty connection dies after N = 100 server events. The first turn ("Hello"
// + its answer) takes fewer; then cheap one-event commands (input_audio_buffer.clear ->
// .cleared) fill up to N, so the fault hits between turns, wherever the first turn ended.

struct FaultCase {
  const char *name;
  std::vector<std::string> args;
  int replayed;  // expected items replayed (0: the fault hits before any turn)
};

class ReconnectTest : public EngineTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(ReconnectTest, ReconnectsAndReplaysContext) {
  const FaultCase &fc = GetParam();
  std::vector<std::string> args = fc.args;
  args.push_back("--fault-connections");
  args.push_back("1");
  START_EMU(args);
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.ping_interval_ms = 500;
  cfg.ping_timeout_ms = 1500;
  make_session(cfg);
  s->start();
  ASSERT_TRUE(s->send_text("Hello"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1, 30s));
  std::string assistant_text = rec.events_of(ServerEventType::AudioTranscriptDone).at(0).ev.text;
  for (size_t i = 1; i <= 200; i++) {
    if (!rec.wait_until([&] { return !rec.reconnecting.empty() || rec.count(ServerEventType::InputBufferCleared) >= i - 1; }, 5s))
      break;
    {
      std::lock_guard<std::mutex> lk(rec.mu);
      if (!rec.reconnecting.empty()) break;
    }
    s->clear();
  }
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnected.empty(); }, 30s)) << "no reconnect";
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    ASSERT_FALSE(rec.reconnecting.empty());
    EXPECT_EQ(rec.reconnected[0].first, fc.replayed);  // user "Hello" + the assistant transcript
    EXPECT_FALSE(rec.reconnected[0].second);
    for (auto &e : rec.errors) EXPECT_NE(e.cls, rtc::ErrorClass::Fatal) << e.code << ": " << e.message;
  }
  EXPECT_EQ(s->state(), SessionState::Ready);
  // the new session keeps working
  ASSERT_TRUE(s->send_text("Hello again"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 2));
  rtc::SessionStats st = s->stats();
  EXPECT_EQ(st.reconnects, 1u);
  EXPECT_EQ(st.connects, 2u);
  if (fc.replayed == 0) return;

  // replayed context is visible in the emulator log: the second session starts with
  // session.update, then the user and assistant text items, in order
  EmulatorLog log = emu.log();
  auto sessions = log.sessions();
  ASSERT_GE(sessions.size(), 2u);
  std::vector<const LogEntry *> second;
  for (auto &e : log.entries)
    if (e.session == sessions[1] && e.dir == "in") second.push_back(&e);
  ASSERT_GE(second.size(), 3u);
  EXPECT_EQ(second[0]->type, "session.update");
  EXPECT_EQ(second[1]->type, "conversation.item.create");
  EXPECT_EQ(item_role_of(second[1]->node), "user");
  EXPECT_EQ(item_text_of(second[1]->node), "Hello");
  EXPECT_EQ(second[2]->type, "conversation.item.create");
  EXPECT_EQ(item_role_of(second[2]->node), "assistant");
  EXPECT_EQ(item_text_of(second[2]->node), assistant_text);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, ReconnectTest,
    ::testing::Values(FaultCase{"close_1001", {"--fault-close-after", "100", "--fault-close-code", "1001"}, 2},
                      FaultCase{"close_1011", {"--fault-close-after", "100", "--fault-close-code", "1011"}, 2},
                      FaultCase{"close_1012", {"--fault-close-after", "100", "--fault-close-code", "1012"}, 2},
                      FaultCase{"close_1013", {"--fault-close-after", "100", "--fault-close-code", "1013"}, 2},
                      FaultCase{"abrupt", {"--fault-close-after", "100", "--fault-close-code", "abrupt"}, 2},
                      FaultCase{"session_expired", {"--fault-error-after", "100:session_expired"}, 2},
                      // every event 6 s late: no session.created within the 1.5 s ping timeout
                      FaultCase{"delay_beyond_ping_timeout", {"--fault-delay-ms", "6000"}, 0}),
    [](const ::testing::TestParamInfo<FaultCase> &i) { return std::string(i.param.name); });

TEST_F(EngineTest, CloseCode4000IsFatal) {
  START_EMU({"--fault-close-after", "2", "--fault-close-code", "4000"});
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }));
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_TRUE(rec.reconnecting.empty());
  ASSERT_FALSE(rec.errors.empty());
  EXPECT_EQ(rec.errors.back().cls, rtc::ErrorClass::Fatal);
}

// Issue 12 #5: a TLS certificate rejection is permanent (fails fast, no retries) and its error
// names TLS and the settings that fix it.
TEST_F(EngineTest, TlsVerificationFailureFailsFastAndNamesTheSettings) {
  const std::string dir = make_temp_dir();
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + key +
                          " -out " + cert + " -days 1 -subj /CN=127.0.0.1";
  gint status = 0;
  ASSERT_TRUE(g_spawn_command_line_sync(cmd.c_str(), nullptr, nullptr, &status, nullptr));
  ASSERT_EQ(status, 0) << "openssl failed";
  START_EMU({"--tls-cert=" + cert, "--tls-key=" + key});
  ASSERT_EQ(emu.url.rfind("wss://", 0), 0u) << emu.url;
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);  // ssl_strict, system CAs
  make_session(cfg);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }, 15s));
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_TRUE(rec.reconnecting.empty()) << "a certificate rejection was retried";
  ASSERT_FALSE(rec.errors.empty());
  EXPECT_EQ(rec.errors.back().code, "tls");
  EXPECT_NE(rec.errors.back().message.find("TLS certificate verification failed"), std::string::npos) << rec.errors.back().message;
  EXPECT_NE(rec.errors.back().message.find("ssl-ca-file"), std::string::npos);
  EXPECT_NE(rec.errors.back().message.find("ssl-strict"), std::string::npos);
}

TEST_F(EngineTest, GivesUpAfterBoundedAttempts) {
  START_EMU({"--fault-close-after", "2", "--fault-close-code", "1011"});  // every connection
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.reconnect_attempts = 2;
  cfg.reconnect_base_ms = 50;
  make_session(cfg);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }, 30s));
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_EQ(rec.reconnecting.size(), 2u);
  ASSERT_FALSE(rec.errors.empty());
  EXPECT_EQ(rec.errors.back().code, "reconnect_failed");
  EXPECT_EQ(rec.errors.back().cls, rtc::ErrorClass::Fatal);
}

TEST_F(EngineTest, PlannedRenewalBeforeExpiry) {
  START_EMU({"--session-max-s", "8"});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.renew_margin_s = 6;  // renew ~2 s after the start
  make_session(cfg);
  s->start();
  ASSERT_TRUE(s->send_text("Hello"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1));
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnected.empty(); }, 20s)) << "no renewal";
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    EXPECT_TRUE(rec.reconnected[0].second);
    EXPECT_EQ(rec.reconnected[0].first, 2);
    EXPECT_TRUE(rec.reconnecting.empty()) << "renewal must not look like a failure";
    for (auto &e : rec.errors) ADD_FAILURE() << e.code << ": " << e.message;
  }
  EXPECT_EQ(s->stats().renewals, 1u);
  ASSERT_TRUE(s->send_text("Hello again"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 2));
  EmulatorLog log = emu.log();
  auto sessions = log.sessions();
  ASSERT_GE(sessions.size(), 2u);
  // the second response ran on the renewed session
  auto creates = log.find("in", "response.create");
  ASSERT_EQ(creates.size(), 2u);
  EXPECT_EQ(creates[1]->session, sessions[1]);
  // and that session got the replay
  int replayed = 0;
  for (auto *e : log.find("in", "conversation.item.create"))
    if (e->session == sessions[1] && (item_text_of(e->node) == "Hello" || item_role_of(e->node) == "assistant")) replayed++;
  EXPECT_GE(replayed, 2);
}

TEST_F(EngineTest, InputBufferedDuringDisconnectIsAccountedExactly) {
  START_EMU({"--fault-close-after", "2", "--fault-close-code", "1011", "--fault-connections", "1"});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.reconnect_base_ms = 1500;  // time to push while disconnected
  cfg.offline_buffer_ms = 1000;
  make_session(cfg);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnecting.empty(); }));
  // while disconnected: 2.5 s of audio; only the last 1 s (caller 1500..2500 ms) is kept, with
  // the tone at caller 2000..2400 ms
  std::vector<uint8_t> audio;
  append_silence(audio, 2000);
  append_tone(audio, 400);
  append_silence(audio, 100);
  push_in_pieces(*s, audio, 4801);
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    EXPECT_TRUE(rec.reconnected.empty()) << "reconnected too early for this test";
  }
  // pending input while disconnected: exactly the 1 s the offline buffer keeps
  EXPECT_EQ(s->input_unsent_bytes(), 48000);
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnected.empty(); }, 20s));
  ASSERT_TRUE(wait_stats([&](const rtc::SessionStats &st) { return st.audio_bytes_sent >= 48000; }));
  // after the reconnect: the end of the turn, so VAD ends it
  std::vector<uint8_t> tail;
  append_silence(tail, 1000);
  push_in_pieces(*s, tail);
  s->flush_audio();
  const int64_t total = static_cast<int64_t>((audio.size() + tail.size()) / 2);
  ASSERT_TRUE(wait_stats([&](const rtc::SessionStats &st) {
    return static_cast<int64_t>(st.audio_bytes_sent / 2) + static_cast<int64_t>(st.input_ms_dropped) * 24 >= total;
  }));
  ASSERT_TRUE(wait_count(ServerEventType::SpeechStarted, 1));
  int64_t dropped = 0;
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    ASSERT_FALSE(rec.drops.empty());
    EXPECT_EQ(rec.drops[0].first, 0);  // the oldest audio went first
    int64_t expect_first = 0;
    for (auto &d : rec.drops) {
      EXPECT_EQ(d.first, expect_first);  // contiguous from the start
      expect_first = d.first + d.second;
      dropped += d.second;
    }
  }
  EXPECT_EQ(dropped, static_cast<int64_t>(audio.size() / 2) - 24000);  // kept exactly 1 s
  EXPECT_EQ(s->stats().input_ms_dropped, static_cast<uint64_t>(dropped / 24));
  EXPECT_EQ(s->stats().input_samples_dropped, static_cast<uint64_t>(dropped));  // exact, not rounded
  // sent audio stays pending until the server has proven it read it (docs/reliability.md)
  EXPECT_TRUE(poll_until([&] { return s->input_unsent_bytes() == 0; }));
  EXPECT_EQ(static_cast<int64_t>(s->stats().input_samples_delivered) + dropped, total);
  // exact accounting: pushed == dropped + appended to the new session
  EmulatorLog log = emu.log();
  auto per = appended_bytes(log);
  auto sessions = log.sessions();
  ASSERT_GE(sessions.size(), 2u);
  EXPECT_EQ(per[sessions[0]], 0u);
  EXPECT_EQ(static_cast<int64_t>(per[sessions[1]] / 2) + dropped, total);
  EXPECT_EQ(s->input_samples_pushed(), total);
  // the mapping to the caller timeline survives the drop: speech at caller 2000 ms - prefix 300
  auto st = rec.events_of(ServerEventType::SpeechStarted);
  EXPECT_EQ(st[0].ctx.generation, 1u);
  EXPECT_NEAR(st[0].ctx.input_start_sample, (2000 - 300) * 24, 240);
  EXPECT_EQ(st[0].ctx.input_start_sample, dropped + st[0].ev.audio_start_ms * 24);
}

// ------------------------------------------------------------------------------------------
// stop() never hangs, and no callback runs after it returns

TEST_F(EngineTest, StopDuringConnect) {
  // a TCP server that accepts and never answers the handshake
  GError *e = nullptr;
  GSocketListener *l = g_socket_listener_new();
  guint16 port = g_socket_listener_add_any_inet_port(l, nullptr, &e);
  ASSERT_NE(port, 0) << (e ? e->message : "");
  rtc::EngineConfig cfg = engine_config("ws://127.0.0.1:" + std::to_string(port), rtc::DialectChoice::GA);
  cfg.connect_timeout_ms = 60000;
  make_session(cfg);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Connecting); }));
  // The TCP connection is established (the server side accepted it): stop() now has a pending
  // WebSocket handshake to cancel.
  std::atomic<GSocketConnection *> conn{nullptr};  // the server side, kept open (never answers)
  {
    GCancellable *cancel = g_cancellable_new();
    std::thread acceptor([&] { conn = g_socket_listener_accept(l, nullptr, cancel, nullptr); });
    Waiting w("the engine's TCP connection to the test server");
    const bool accepted = poll_until([&] { return conn != nullptr; }, 10s);
    if (!accepted) g_cancellable_cancel(cancel);
    acceptor.join();
    g_object_unref(cancel);
    ASSERT_TRUE(accepted) << "the engine never opened the TCP connection";
  }
  rtctest::must_return_within(10s, "stop() during connect", [&] { s->stop(); });
  rec.mark_stopped();
  g_object_unref(conn.load());
  EXPECT_EQ(s->state(), SessionState::Idle);
  g_socket_listener_close(l);
  g_object_unref(l);
}

TEST_F(EngineTest, StopDuringResponse) {
  start_emu({}, false);  // paced response
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(s->send_text("Tell me a long story please"));
  ASSERT_TRUE(rec.wait_until([&] { return rec.audio_deltas > 0; }));
  s->stop();
  rec.mark_stopped();
  EXPECT_EQ(s->state(), SessionState::Idle);
  // any late callback already queued on the network threads runs now (and is counted)
  ASSERT_TRUE(net_barrier());
  EXPECT_EQ(rec.callbacks_after_stop.load(), 0);
  // restart after stop: a fresh connection, counters kept
  rec.stopped = false;
  s->start();
  ASSERT_TRUE(rec.wait_until([&] {
    int n = 0;
    for (auto x : rec.states) n += x == SessionState::Ready;
    return n >= 2;
  }));
  EXPECT_EQ(s->stats().connects, 2u);
}

TEST_F(EngineTest, StopDuringReconnectBackoff) {
  START_EMU({"--fault-close-after", "2", "--fault-close-code", "1011"});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.reconnect_base_ms = 30000;
  cfg.reconnect_max_ms = 30000;
  make_session(cfg);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnecting.empty(); }));
  rtctest::must_return_within(10s, "stop() during the reconnect backoff", [&] { s->stop(); });
  rec.mark_stopped();
}

TEST_F(EngineTest, DestroyWhileRunningFromAnotherThread) {
  START_EMU();
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  s->start();
  ASSERT_TRUE(s->send_text("Hello"));
  std::vector<uint8_t> audio;
  append_tone(audio, 200);
  std::thread pusher([&] {
    for (int i = 0; i < 50; i++) s->push_audio(audio.data(), audio.size());
  });
  pusher.join();
  ASSERT_TRUE(wait_count(ServerEventType::ResponseCreated, 1));
  s.reset();  // destructor stops
  rec.mark_stopped();
}

// ------------------------------------------------------------------------------------------
// Many sessions share the one network thread

TEST_F(EngineTest, FiftySessionsShareTheNetworkThreads) {
  START_EMU();
  constexpr int kN = 50;
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::unique_ptr<rtc::Session>> ss;
  for (int i = 0; i < kN; i++) {
    recs.push_back(std::make_unique<Recorder>());
    rtc::EngineConfig cfg = engine_config(emu.url, i % 2 ? rtc::DialectChoice::GA : rtc::DialectChoice::Preview);
    ss.push_back(std::make_unique<rtc::Session>(cfg, recs.back().get()));
    ss.back()->start();
    ss.back()->send_text("Hello");
  }
  std::vector<uint8_t> audio;
  append_silence(audio, 400);
  for (auto &x : ss) push_in_pieces(*x, audio, 3000);
  std::map<std::thread::id, int> threads;  // network thread -> sessions bound to it
  for (int i = 0; i < kN; i++) {
    Recorder &r = *recs[static_cast<size_t>(i)];
    EXPECT_TRUE(r.wait_until([&] { return r.count(ServerEventType::ResponseDone) >= 1; }, 60s)) << "session " << i;
    std::lock_guard<std::mutex> lk(r.mu);
    EXPECT_EQ(r.thread_ids.size(), 1u) << "session " << i << ": every callback on its one network thread";
    for (auto &t : r.thread_ids) threads[t]++;
    EXPECT_GT(r.audio_bytes, 0u);
  }
  // The pool: one thread per core (at most 4, or RTC_NET_THREADS), sessions spread evenly.
  const size_t loops = rtc::net::loop_count();
  EXPECT_EQ(threads.size(), std::min<size_t>(loops, kN));
  for (auto &kv : threads) {
    EXPECT_GE(kv.second, kN / static_cast<int>(loops)) << "sessions are balanced over the network threads";
    EXPECT_LE(kv.second, (kN + static_cast<int>(loops) - 1) / static_cast<int>(loops));
  }
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  for (auto &x : ss) x->stop();
  for (auto &r : recs) r->mark_stopped();
  ss.clear();
  for (auto &r : recs) EXPECT_EQ(r->callbacks_after_stop.load(), 0);
}

// ------------------------------------------------------------------------------------------
// What the element reads from the engine: unsent bytes, update acknowledgements, pending
// responses; replay across faults; restart after a failure


TEST_F(EngineTest, InputUnsentBytesTracksPendingInput) {
  START_EMU();
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  std::vector<uint8_t> audio;
  append_silence(audio, 100);  // 4800 bytes
  s->push_audio(audio.data(), audio.size());
  EXPECT_EQ(s->input_unsent_bytes(), 4800);  // before start(): all pending
  s->start();
  ASSERT_TRUE(wait_ready());
  s->flush_audio();
  ASSERT_TRUE(poll_until([&] { return s->input_unsent_bytes() == 0; }));
  EXPECT_EQ(s->stats().audio_bytes_sent, 4800u);
  // less than one chunk (40 ms = 1920 bytes) stays pending until a flush / commit / clear
  std::vector<uint8_t> small(1000, 0);
  s->push_audio(small.data(), small.size());
  EXPECT_EQ(s->input_unsent_bytes(), 1000);
  settle(200ms);
  EXPECT_EQ(s->input_unsent_bytes(), 1000);
  ASSERT_TRUE(s->clear());  // discarded, never sent
  ASSERT_TRUE(poll_until([&] { return s->input_unsent_bytes() == 0; }));
  ASSERT_TRUE(wait_count(ServerEventType::InputBufferCleared, 1));
  EXPECT_EQ(s->stats().audio_bytes_sent, 4800u);
  EXPECT_EQ(s->input_samples_pushed(), (4800 + 1000) / 2);
}

// update_config() tickets (Session::updates_answered()): the answer of a session.update answers
// the ticket whose configuration it carries, published after the answer has been delivered; an
// earlier update still in flight never answers a later ticket; a rejected update is answered too.
TEST_F(EngineTest, UpdateTicketsAreAnsweredByTheirOwnUpdate) {
  START_EMU();
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  make_session(cfg);
  EXPECT_EQ(s->updates_answered(), 0u);
  // What updates_answered() said while each session.updated / session.update error was delivered.
  std::mutex m;
  std::vector<uint64_t> seen_at_answer;
  rec.event_hook = [&](const rtc::ServerEvent &ev) {
    if (ev.type != ServerEventType::SessionUpdated) return;
    std::lock_guard<std::mutex> g(m);
    seen_at_answer.push_back(s->updates_answered());
  };
  s->start();
  ASSERT_TRUE(wait_ready());
  ASSERT_TRUE(wait_count(ServerEventType::SessionUpdated, 1));  // the configuration update: no ticket
  EXPECT_EQ(s->updates_answered(), 0u);
  rtc::SessionConfig sc = cfg.session;
  sc.instructions = "Be brief.";
  const uint64_t t1 = s->update_config(sc);
  sc.instructions = "Be very brief.";
  const uint64_t t2 = s->update_config(sc);  // sent while t1's update is in flight
  EXPECT_EQ(t1, 1u);
  EXPECT_EQ(t2, 2u);
  ASSERT_TRUE(poll_until([&] { return s->updates_answered() >= t2; }));
  {
    std::lock_guard<std::mutex> g(m);
    // Delivered before publication: the configuration update's answer saw 0, t1's answer saw 0
    // (not yet published), t2's answer saw t1 (and not t2, although an answer had come).
    ASSERT_EQ(seen_at_answer.size(), 3u);
    EXPECT_EQ(seen_at_answer[0], 0u);
    EXPECT_EQ(seen_at_answer[1], 0u);
    EXPECT_EQ(seen_at_answer[2], t1);
  }
  rec.event_hook = nullptr;
  // a session.update the server rejects (error.event_id = its event_id) is answered too: the
  // barrier does not hang
  sc.extra_json = R"({"no_such_parameter": 1})";
  const uint64_t t3 = s->update_config(sc);
  ASSERT_TRUE(poll_until([&] { return s->updates_answered() >= t3; }));
  EXPECT_EQ(rec.count_locked(ServerEventType::SessionUpdated), 3u);
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    ASSERT_FALSE(rec.errors.empty());
    EXPECT_EQ(rec.errors.back().client_event_type, "session.update");
  }
  EXPECT_EQ(s->state(), SessionState::Ready);
  settle();
  EXPECT_EQ(s->updates_answered(), t3);
}

TEST_F(EngineTest, UpdateTicketIsAnsweredAcrossAReconnect) {
  // the first connection dies right after session.created: its session.update, which carries
  // the configuration of ticket 1 (issued before start()), is never answered; the ticket is
  // answered on the next connection by a session.update sent once it is Ready (after any input
  // to re-send), not by that connection's own configuration update: three updates in all
  START_EMU({"--fault-close-after", "1", "--fault-close-code", "1011", "--fault-connections", "1"});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  make_session(cfg);
  rtc::SessionConfig sc = cfg.session;
  sc.instructions = "Be brief.";
  const uint64_t t1 = s->update_config(sc);
  s->start();
  ASSERT_TRUE(wait_ready(30s));
  ASSERT_TRUE(poll_until([&] { return s->updates_answered() >= t1; }));
  ASSERT_TRUE(poll_until([&] { return emu.log().find("in", "session.update").size() >= 3u; }));
  settle();
  EXPECT_EQ(emu.log().find("in", "session.update").size(), 3u);
  sc.instructions = "Be very brief.";
  const uint64_t t2 = s->update_config(sc);
  EXPECT_GT(t2, t1);
  ASSERT_TRUE(poll_until([&] { return s->updates_answered() >= t2; }));
}

// A response.create still in the command queue keeps response_pending() true, even when another
// response finishes meanwhile (EOS-like: the owner waits for !response_pending()).
TEST_F(EngineTest, ResponsePendingCoversQueuedCreate) {
  start_emu({}, false);  // paced
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  std::atomic<bool> armed{false}, second_done{false};
  std::atomic<int> false_while_queued{0}, create_rejected{0};
  std::atomic<int> dones{0};
  auto check = [&] {
    if (armed.load() && !second_done.load() && !s->response_pending()) false_while_queued++;
  };
  rec.event_hook = [&](const rtc::ServerEvent &ev) {
    if (ev.type == ServerEventType::ResponseDone) {
      int n = ++dones;
      if (n == 1) {
        // on the network thread, before the engine handled this response.done: the command is
        // queued and runs after this callback
        if (!s->create_response()) create_rejected++;
        armed = true;
        check();
        return;
      }
      if (n == 2) second_done = true;
    }
    check();
  };
  rec.log_hook = [&](const std::string &) { check(); };
  s->start();
  ASSERT_TRUE(wait_ready());
  ASSERT_TRUE(s->send_text("Hello"));
  EXPECT_TRUE(s->response_pending());
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 2, 60s));
  ASSERT_TRUE(poll_until([&] { return !s->response_pending(); }));
  settle();
  rec.event_hook = nullptr;
  rec.log_hook = nullptr;
  EXPECT_EQ(create_rejected.load(), 0);
  EXPECT_EQ(false_while_queued.load(), 0) << "response_pending() was false while a response.create was queued";
  EXPECT_EQ(rec.events_of(ServerEventType::ResponseCreated).size(), 2u);
}

TEST_F(EngineTest, QueuedResponseCreatesAreBounded) {
  // Real-time pace and a long reply (tone voice: 60 ms per character, about 7 s here), so the
  // first response is still active when the queue is checked, however loaded the machine is.
  start_emu({"--pace", "realtime"}, false);
  make_session(engine_config(emu.url, rtc::DialectChoice::GA));
  std::atomic<int> accepted{0}, rejected{0};
  std::atomic<bool> fired{false};
  rec.event_hook = [&](const rtc::ServerEvent &ev) {
    // on the network thread: nothing of these runs before the callback returns
    if (ev.type == ServerEventType::ResponseCreated && !fired.exchange(true)) {
      for (int i = 0; i < 100; i++) (s->create_response() ? accepted : rejected)++;
    }
  };
  s->start();
  ASSERT_TRUE(wait_ready());
  ASSERT_TRUE(s->send_text("Tell me a long story please, about a lighthouse keeper, a storm at sea and a ship that "
                          "found its way home"));
  ASSERT_TRUE(poll_until([&] { return fired.load(); }));
  settle(100ms, 1s);
  rec.event_hook = nullptr;
  EXPECT_EQ(accepted.load(), static_cast<int>(rtc::Session::kMaxQueuedResponses));
  EXPECT_EQ(rejected.load(), 100 - static_cast<int>(rtc::Session::kMaxQueuedResponses));
  EXPECT_TRUE(rec.has_log("response queue full"));
  // now all of them wait behind the active response (deferred): still full
  EXPECT_FALSE(s->create_response());
  EXPECT_FALSE(s->send_text("more", true));
  EXPECT_TRUE(s->send_text("no response wanted", false));  // not a response request
  EXPECT_TRUE(s->response_pending());
  // cancel drops the queued ones: room again
  ASSERT_TRUE(s->cancel_response());
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1, 30s));
  ASSERT_TRUE(s->create_response());
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 2, 60s));
  EmulatorLog log = emu.log();
  EXPECT_EQ(log.find("in", "response.create").size(), 2u);
}

// Connections that die during the replay (before the server echoed the replayed items) must
// not lose the context: the next connection replays it again.
class ReplayFaultTest : public EngineTest, public ::testing::WithParamInterface<int> {};

TEST_P(ReplayFaultTest, ReplayedContextSurvivesFaultsDuringReplay) {
  START_EMU();  // the first server: builds the context
  Emulator emu2;  // the second: its first two connections die after N events
  {
    std::string err;
    std::string n = std::to_string(GetParam());
    ASSERT_TRUE(emu2.start({"--voice", "tone", "--pace", "burst", "--fault-close-after", n.c_str(), "--fault-close-code",
                            "1011", "--fault-connections", "2"},
                           &err))
        << err;
  }
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  make_session(cfg);
  s->start();
  ASSERT_TRUE(s->send_text("Hello"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1, 30s));
  std::string assistant_text = rec.events_of(ServerEventType::AudioTranscriptDone).at(0).ev.text;
  ASSERT_FALSE(assistant_text.empty());
  settle();
  // from the next connect on: the second server; then the first one goes away
  rtc::EngineConfig cfg2 = engine_config(emu2.url, rtc::DialectChoice::GA);
  s->set_engine_config(cfg2);
  emu.stop();
  EmulatorLog log;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::vector<std::string> sessions;
  while (std::chrono::steady_clock::now() < deadline) {
    log.load(emu2.log_path);
    sessions = log.sessions();
    if (sessions.size() >= 3 && s->state() == SessionState::Ready) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(sessions.size(), 3u) << "expected two faulted connections and a third one";
  ASSERT_EQ(s->state(), SessionState::Ready);
  settle();
  log.load(emu2.log_path);
  // every connection of the second server got the whole context, in order
  for (size_t k = 0; k < 3; k++) {
    std::vector<const LogEntry *> in;
    for (auto &e : log.entries)
      if (e.session == sessions[k] && e.dir == "in" && e.type == "conversation.item.create") in.push_back(&e);
    ASSERT_EQ(in.size(), 2u) << "connection " << k + 1 << " of the second server";
    EXPECT_EQ(item_role_of(in[0]->node), "user");
    EXPECT_EQ(item_text_of(in[0]->node), "Hello");
    EXPECT_EQ(item_role_of(in[1]->node), "assistant");
    EXPECT_EQ(item_text_of(in[1]->node), assistant_text);
  }
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    ASSERT_FALSE(rec.reconnected.empty());
    EXPECT_EQ(rec.reconnected.back().first, 2);
  }
  // and the context is still complete for a later reconnect (the echoes were tracked)
  s->stop();
  rec.mark_stopped();
}

INSTANTIATE_TEST_SUITE_P(Faults, ReplayFaultTest, ::testing::Values(1, 3),
                         [](const ::testing::TestParamInfo<int> &i) { return "close_after_" + std::to_string(i.param); });

TEST_F(EngineTest, RestartAfterFailedStartsFresh) {
  // the first three connections die right after session.created: never Ready, 2 retries, Failed
  START_EMU({"--fault-close-after", "1", "--fault-close-code", "1011", "--fault-connections", "3"});
  rtc::EngineConfig cfg = engine_config(emu.url, rtc::DialectChoice::GA);
  cfg.reconnect_attempts = 2;
  cfg.reconnect_base_ms = 50;
  make_session(cfg);
  s->start();
  ASSERT_TRUE(s->create_response());  // queued for Ready, which never comes
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Failed); }, 30s));
  ASSERT_TRUE(poll_until([&] { return !s->response_pending(); }, 5s)) << "stale create_response() after the failure";
  ASSERT_TRUE(s->send_text("stale message"));  // queued while Failed: belongs to the failed session
  EXPECT_TRUE(s->response_pending());
  s->start();
  EXPECT_FALSE(s->response_pending());
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Ready); }, 30s));
  settle();
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    EXPECT_TRUE(rec.reconnected.empty()) << "a restart is not a reconnect";
  }
  EXPECT_EQ(s->stats().reconnects, 0u);
  EXPECT_FALSE(s->response_pending());
  EXPECT_TRUE(rec.has_log("dropped 1 stale queued command"));
  EmulatorLog log = emu.log();
  auto sessions = log.sessions();
  ASSERT_EQ(sessions.size(), 4u);
  for (auto &e : log.entries) {
    if (e.dir != "in") continue;
    EXPECT_NE(e.type, "response.create") << "stale response.create sent";
    EXPECT_NE(e.type, "conversation.item.create") << "stale item sent: " << e.json;
  }
  // the fresh session works
  ASSERT_TRUE(s->send_text("fresh"));
  ASSERT_TRUE(wait_count(ServerEventType::ResponseDone, 1, 30s));
}

// shutdown_network_thread() racing with sessions being created / started / stopped must never
// post into a dying network thread (stop() would then wait forever).
TEST(EngineNetThread, ShutdownRacesSessionCreation) {
  std::atomic<bool> done{false};
  std::thread shutter([&] {
    while (!done.load()) {
      rtc::shutdown_network_thread();
      std::this_thread::yield();
    }
  });
  std::atomic<int> iterations{0};
  std::promise<void> finished;
  std::future<void> all_done = finished.get_future();
  std::thread worker([&] {
    Recorder r;
    // nothing listens there: connect fails fast, the session goes to Reconnecting
    rtc::EngineConfig cfg = engine_config("ws://127.0.0.1:9", rtc::DialectChoice::GA);
    for (int i = 0; i < 400; i++) {
      rtc::Session sess(cfg, &r);
      sess.start();
      // (varies where stop() lands in the connect: the race's input, not a wait for a check)
      if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      sess.stop();
      iterations++;
    }
    finished.set_value();
  });
  // Progress is the event: every 10 s at least one more start()/stop() must have returned. A hung
  // stop() cannot be recovered (the thread is stuck in it), so the watchdog fails the test with
  // the iteration instead of letting meson time out.
  {
    Waiting w("the start()/stop() worker to finish its 400 iterations");
    int last = -1;
    while (all_done.wait_for(10s) != std::future_status::ready) {
      const int now = iterations.load();
      if (now == last)
        rtctest::watchdog_fire("start()/stop() hangs at iteration " + std::to_string(now) +
                               " (racing shutdown_network_thread)");
      last = now;
    }
  }
  worker.join();
  EXPECT_EQ(iterations.load(), 400);
  done = true;
  shutter.join();
  rtc::shutdown_network_thread();
}

}  // namespace

// Free the network thread at exit (LeakSanitizer).
class NetThreadCleanup : public ::testing::Environment {
 public:
  void TearDown() override { rtc::shutdown_network_thread(); }
};
static ::testing::Environment *const kCleanup = ::testing::AddGlobalTestEnvironment(new NetThreadCleanup);
