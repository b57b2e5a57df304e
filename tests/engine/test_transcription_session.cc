// Transcription-only sessions end to end: engine (kind Transcription) against realtime-emulator
// (docs/protocol.md §14; shared Part B §7-§9). Every wait is bounded; nothing asserts timing.
#include <gtest/gtest.h>

#include <memory>

#include "engine_test_util.h"
#include "session_transcription.h"

using namespace rtctest;
using rtc::ServerEventType;
using rtc::SessionState;

namespace {

const char kTurn0[] = "What's the weather like in Seattle today?";  // server/scenarios/weather.json

class TxTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (s) {
      s->stop();
      rec.mark_stopped();
      s.reset();
    }
    emu.stop();
  }
  bool start_emu() {
    std::string err;
    std::string scen = env_or("RTC_SOURCE_ROOT", ".") + "/server/scenarios/weather.json";
    if (!emu.start({"--voice", "tone", "--pace", "burst", "--scenario", scen}, &err)) {
      if (env_or("RTC_EMULATOR", "").empty()) {
        skipped = true;
        return false;
      }
      ADD_FAILURE() << err;
      return false;
    }
    return true;
  }
  rtc::EngineConfig config(const std::string &model, rtc::DialectChoice d, bool vad) {
    rtc::EngineConfig c = engine_config(emu.url, d);
    c.endpoint.kind = rtc::SessionKind::Transcription;
    c.session = rtc::SessionConfig();
    rtc::InputTranscription t;
    t.model = model;
    t.language = "en";
    c.session.input_transcription = t;
    c.session.turn_detection.type = vad ? rtc::TurnDetection::Type::ServerVad : rtc::TurnDetection::Type::None;
    c.session.include_logprobs = true;
    return c;
  }
  std::string deltas_text() {
    std::string out;
    for (auto &e : rec.events_of(ServerEventType::InputTranscriptionDelta)) out += e.ev.text;
    return out;
  }
  Emulator emu;
  Recorder rec;
  std::unique_ptr<rtc::Session> s;
  bool skipped = false;
};

std::vector<uint8_t> speech(int lead_ms, int tone_ms, int trail_ms) {
  std::vector<uint8_t> a;
  append_silence(a, lead_ms);
  append_tone(a, tone_ms);
  append_silence(a, trail_ms);
  return a;
}

}  // namespace

TEST(TxUnit, SessionUpdateShapeByKind) {
  rtc::SessionConfig c;
  c.input_transcription = rtc::InputTranscription();
  c.input_transcription->model = "gpt-realtime-whisper";
  c.turn_detection.type = rtc::TurnDetection::Type::None;
  EXPECT_NE(rtc::detail::build_session_update_for(rtc::SessionKind::Transcription, rtc::Dialect::GA, c, "e")
                .find("\"type\":\"transcription\""),
            std::string::npos);
  EXPECT_STREQ(rtc::detail::session_update_type_for(rtc::SessionKind::Transcription, rtc::Dialect::Preview),
               "transcription_session.update");
  EXPECT_FALSE(rtc::detail::kind_replays_conversation(rtc::SessionKind::Transcription));
  auto sp = rtc::detail::uncommitted_span(100, 50);
  EXPECT_EQ(sp.start, 100);
  EXPECT_EQ(sp.end, 100);
}

// gpt-realtime-whisper: text arrives BEFORE the commit, positioned on the uncommitted buffer.
TEST_F(TxTest, StreamingWhisperDeltasBeforeCommitGA) {
  if (!start_emu()) {
    if (skipped) GTEST_SKIP();
    return;
  }
  s = std::make_unique<rtc::Session>(config("gpt-realtime-whisper", rtc::DialectChoice::GA, false), &rec);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Ready); }, 15s));
  auto a = speech(300, 3200, 600);
  push_in_pieces(*s, a);
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::InputTranscriptionDelta) >= 3; }, 20s))
      << "no streaming deltas before the commit";
  EXPECT_EQ(rec.count(ServerEventType::InputBufferCommitted), 0u);
  auto d0 = rec.events_of(ServerEventType::InputTranscriptionDelta).at(0);
  EXPECT_EQ(d0.ctx.input_start_sample, 0);
  EXPECT_GT(d0.ctx.input_end_sample, 0);
  EXPECT_FALSE(d0.ev.logprobs.empty());
  ASSERT_TRUE(s->commit());
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::InputTranscriptionCompleted) >= 1; }, 20s));
  auto c = rec.events_of(ServerEventType::InputTranscriptionCompleted).at(0);
  EXPECT_EQ(c.ev.text, kTurn0);
  EXPECT_EQ(deltas_text(), kTurn0);
  EXPECT_EQ(c.ctx.input_start_sample, 0);
  EXPECT_EQ(c.ctx.input_end_sample, int64_t(a.size() / 2));
  // the session.update was a transcription update; the URL had intent=transcription
  EmulatorLog log = emu.log();
  auto ups = log.find("in", "session.update");
  ASSERT_FALSE(ups.empty());
  JsonObject *sess = json_object_get_object_member(obj(ups[0]->node), "session");
  EXPECT_STREQ(json_object_get_string_member(sess, "type"), "transcription");
}

// gpt-4o-transcribe, preview dialect (transcription_session.update): deltas only after the commit.
TEST_F(TxTest, CommittedModelPreviewDeltasAfterCommit) {
  if (!start_emu()) {
    if (skipped) GTEST_SKIP();
    return;
  }
  s = std::make_unique<rtc::Session>(config("gpt-4o-transcribe", rtc::DialectChoice::Preview, false), &rec);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Ready); }, 15s));
  push_in_pieces(*s, speech(200, 1500, 300));
  ASSERT_TRUE(s->commit());
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::InputTranscriptionCompleted) >= 1; }, 20s));
  auto ds = rec.events_of(ServerEventType::InputTranscriptionDelta);
  ASSERT_GT(ds.size(), 1u);
  for (auto &d : ds) EXPECT_EQ(d.ctx.input_start_sample, 0) << "delta not tied to the committed item";
  EXPECT_EQ(deltas_text(), kTurn0);
}

// whisper-1: one delta holding the turn.
TEST_F(TxTest, Whisper1SingleDelta) {
  if (!start_emu()) {
    if (skipped) GTEST_SKIP();
    return;
  }
  s = std::make_unique<rtc::Session>(config("whisper-1", rtc::DialectChoice::GA, false), &rec);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Ready); }, 15s));
  push_in_pieces(*s, speech(200, 1500, 300));
  ASSERT_TRUE(s->commit());
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::InputTranscriptionCompleted) >= 1; }, 20s));
  EXPECT_EQ(rec.count(ServerEventType::InputTranscriptionDelta), 1u);
  EXPECT_EQ(deltas_text(), kTurn0);
}

// A streaming model with server turn detection is rejected (Part B §8).
TEST_F(TxTest, StreamingModelRejectsTurnDetection) {
  if (!start_emu()) {
    if (skipped) GTEST_SKIP();
    return;
  }
  s = std::make_unique<rtc::Session>(config("gpt-realtime-whisper", rtc::DialectChoice::GA, true), &rec);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return !rec.errors.empty(); }, 15s));
  EXPECT_NE(rec.errors[0].message.find("Turn detection is not supported"), std::string::npos) << rec.errors[0].message;
  EXPECT_EQ(rec.errors[0].client_event_type, "session.update");
}
