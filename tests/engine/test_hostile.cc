// Hostile-server suite (issue 12): the session engine against a server that misbehaves on
// purpose (tests/engine/hostile_server.h). Each test states the expected outcome and bounds its
// waits; where audio flows it also checks the input accounting: what the server read + what was
// reported dropped = what was pushed (docs/reliability.md).
#include <gtest/gtest.h>

#include <climits>
#include <condition_variable>
#include <memory>

#include "engine_test_util.h"
#include "hostile_server.h"
#include "session_internal.h"

using namespace rtctest;
using rtc::ServerEventType;
using rtc::SessionState;

namespace {

rtc::EngineConfig hostile_config(const std::string &url) {
  rtc::EngineConfig c = engine_config(url, rtc::DialectChoice::GA);
  c.reconnect_base_ms = 50;
  c.reconnect_max_ms = 200;
  c.connect_timeout_ms = 3000;
  c.ping_interval_ms = 1000;
  c.ping_timeout_ms = 2000;
  return c;
}

class Hostile : public ::testing::Test {
 protected:
  void TearDown() override {
    release();  // a server thread still held (a failed test) is let go before the server stops
    if (s) {
      s->stop();
      rec.mark_stopped();
      s.reset();
    }
    if (srv) srv->stop();
    EXPECT_EQ(rec.callbacks_after_stop.load(), 0);
  }
  void start(HostileServer::Behavior b, rtc::EngineConfig *cfg_out = nullptr, int attempts = 3) {
    srv = std::make_unique<HostileServer>(std::move(b));
    rtc::EngineConfig cfg = hostile_config(srv->url);
    cfg.reconnect_attempts = attempts;
    if (cfg_out) {
      cfg_out->endpoint = cfg.endpoint;
      cfg = *cfg_out;
    }
    s = std::make_unique<rtc::Session>(cfg, &rec);
    s->start();
  }
  // Re-evaluates pred (under the recorder lock) at least every 10 ms until it holds or `t`
  // passes: for conditions no callback announces (counters of the server, input_unsent_bytes()).
  bool poll(const std::function<bool()> &pred, std::chrono::milliseconds t) {
    auto deadline = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < deadline)
      if (rec.wait_until(pred, 10ms)) return true;
    return rec.wait_until(pred, 0ms);
  }
  bool wait_state(SessionState st, std::chrono::milliseconds t) {
    return rec.wait_until([&] { return rec.has_state(st); }, t);
  }
  size_t ready_count() {
    size_t n = 0;
    for (auto x : rec.states)
      if (x == SessionState::Ready) n++;
    return n;
  }
  std::string last_reconnect_reason() {
    std::lock_guard<std::mutex> lk(rec.mu);
    return rec.reconnecting.empty() ? std::string() : rec.reconnecting.back().reason;
  }
  std::string last_error() {
    std::lock_guard<std::mutex> lk(rec.mu);
    return rec.errors.empty() ? std::string() : rec.errors.back().code + ": " + rec.errors.back().message;
  }
  // A well-behaved session on every connection after the first `bad` ones.
  static void good(HostilePeer &p, const std::atomic<bool> &stop) {
    if (!p.open_session()) return;
    while (!stop.load() && !p.eof()) p.serve(200);
  }
  // A server thread holds a connection (not yet upgraded: the engine stays Connecting) until the
  // test calls release() (TearDown does too).
  void hold() {
    std::unique_lock<std::mutex> lk(gate_mu_);
    gate_cv_.wait(lk, [&] { return released_; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lk(gate_mu_);
      released_ = true;
    }
    gate_cv_.notify_all();
  }
  // A well-behaved connection that also answers every later session.update, and records how much
  // appended audio it had read when it answered the first of them (the configuration update of
  // open_session() is answered before any input).
  void answer_updates(HostilePeer &p, std::atomic<int64_t> &read_at_answer) {
    if (!p.open_session()) return;
    const int64_t base = srv->audio_bytes.load();
    HostilePeer::Frame f;
    while (!srv->stop_.load() && !p.eof()) {
      if (!p.read_frame(&f, 200)) continue;
      if (f.opcode != 1 || f.payload.find("\"session.update\"") == std::string::npos) continue;
      if (read_at_answer.load() < 0) read_at_answer = srv->audio_bytes.load() - base;
      p.send_session_updated();
    }
  }
  // A connection that proves nothing read and is lost with the barrier (the session.update after
  // the test's input) unanswered.
  static void lose_with_barrier_unanswered(HostilePeer &p) {
    p.answer_pings = false;
    if (!p.open_session()) return;
    if (!p.read_until("\"session.update\"", 10000)) return;
    p.shutdown_now();
  }
  std::unique_ptr<HostileServer> srv;
  Recorder rec;
  std::mutex gate_mu_;  // hold() / release()
  std::condition_variable gate_cv_;
  bool released_ = false;
  std::unique_ptr<rtc::Session> s;
};

}  // namespace

// ------------------------------------------------------------------------------------------
// Pure units

TEST(HostileUnit, ServerTimesSaturateAndAreBounded) {
  using rtc::detail::server_ms_to_sample;
  EXPECT_EQ(server_ms_to_sample(1000, 24000, 48000, 24000), 24000);
  EXPECT_EQ(server_ms_to_sample(2500, 24000, 48000, 24000), 60000);  // within 1 s past the end
  EXPECT_EQ(server_ms_to_sample(3500, 24000, 48000, 24000), -1);     // beyond: rejected
  EXPECT_EQ(server_ms_to_sample(-5, 24000, 48000, 24000), -1);
  EXPECT_EQ(server_ms_to_sample(INT64_MIN, 24000, 48000, 24000), -1);
  EXPECT_EQ(server_ms_to_sample(INT64_MAX, 24000, 48000, 24000), -1);
  EXPECT_EQ(server_ms_to_sample(1000000000000000LL, 24000, 48000, 24000), -1);  // issue 12 #3
  EXPECT_EQ(server_ms_to_sample(0, 24000, 0, 0), 0);
}

TEST(HostileUnit, CloseCausesAreNamed) {
  using rtc::detail::describe_close;
  auto c = describe_close(1012, "restart", 0, "");
  EXPECT_FALSE(c.fatal);
  EXPECT_NE(c.reason.find("1012 (service restart): restart"), std::string::npos) << c.reason;
  EXPECT_FALSE(describe_close(1013, "", 0, "").fatal);
  EXPECT_FALSE(describe_close(1000, "", 0, "").fatal);
  EXPECT_FALSE(describe_close(1006, "", 0, "").fatal);
  EXPECT_TRUE(describe_close(1008, "", 0, "").fatal);
  EXPECT_TRUE(describe_close(4001, "bad", 0, "").fatal);
  EXPECT_TRUE(describe_close(3000, "", 0, "").fatal);
  auto u = describe_close(0, "", 1007, "Received invalid WebSocket data from the server");
  EXPECT_FALSE(u.fatal);
  EXPECT_NE(u.reason.find("protocol violation by the server"), std::string::npos);
  EXPECT_NE(u.reason.find("UTF-8"), std::string::npos);
  EXPECT_EQ(u.reason.find("server closed"), std::string::npos);
}

// ------------------------------------------------------------------------------------------
// Close codes

TEST_F(Hostile, Close1012And1013Reconnect) {
  start([this](HostilePeer &p, int i) {
    if (i < 2) {
      if (!p.open_session()) return;
      p.send_close(i == 0 ? 1012 : 1013, "maintenance");
      p.serve(1000);
      return;
    }
    good(p, srv->stop_);
  });
  ASSERT_TRUE(rec.wait_until([&] { return ready_count() >= 3; }, 15s)) << last_error();
  std::lock_guard<std::mutex> lk(rec.mu);
  ASSERT_GE(rec.reconnecting.size(), 2u);
  EXPECT_NE(rec.reconnecting[0].reason.find("1012 (service restart): maintenance"), std::string::npos) << rec.reconnecting[0].reason;
  EXPECT_NE(rec.reconnecting[1].reason.find("1013 (try again later)"), std::string::npos) << rec.reconnecting[1].reason;
  EXPECT_FALSE(rec.has_state(SessionState::Failed));
}

TEST_F(Hostile, PermanentCloseCodesFailFast) {
  for (int code : {1008, 4001}) {
    SCOPED_TRACE(code);
    start([code](HostilePeer &p, int) {
      if (!p.open_session()) return;
      p.send_close(code, "denied");
      p.serve(1000);
    });
    ASSERT_TRUE(wait_state(SessionState::Failed, 10s));
    {
      std::lock_guard<std::mutex> lk(rec.mu);
      EXPECT_TRUE(rec.reconnecting.empty());
      ASSERT_FALSE(rec.errors.empty());
      EXPECT_NE(rec.errors.back().message.find("code " + std::to_string(code)), std::string::npos) << rec.errors.back().message;
      EXPECT_NE(rec.errors.back().message.find("denied"), std::string::npos);
    }
    s->stop();
    s.reset();
    srv->stop();
    std::lock_guard<std::mutex> lk(rec.mu);
    rec.errors.clear();
    rec.states.clear();
    rec.reconnecting.clear();
  }
}

TEST_F(Hostile, AbruptCloseReconnects) {
  start([this](HostilePeer &p, int i) {
    if (i == 0) {
      if (p.open_session()) p.shutdown_now();
      return;
    }
    good(p, srv->stop_);
  });
  ASSERT_TRUE(rec.wait_until([&] { return ready_count() >= 2; }, 15s)) << last_error();
  EXPECT_NE(last_reconnect_reason().find("without a close frame"), std::string::npos) << last_reconnect_reason();
}

// ------------------------------------------------------------------------------------------
// Bad frames

TEST_F(Hostile, InvalidUtf8IsAProtocolViolationNotAServerClose) {
  start([this](HostilePeer &p, int i) {
    if (i == 0) {
      if (!p.open_session()) return;
      p.send_frame(1, std::string("{\"type\":\"x\",\"t\":\"\xff\xfe\"}"));
      p.serve(2000);
      return;
    }
    good(p, srv->stop_);
  });
  ASSERT_TRUE(rec.wait_until([&] { return ready_count() >= 2; }, 15s)) << last_error();
  std::string r = last_reconnect_reason();
  EXPECT_NE(r.find("protocol violation by the server"), std::string::npos) << r;
  EXPECT_NE(r.find("UTF-8"), std::string::npos) << r;
  EXPECT_EQ(r.find("server closed"), std::string::npos) << r;
}

TEST_F(Hostile, OversizeFrameIsAProtocolViolation) {
  start([this](HostilePeer &p, int i) {
    if (i == 0) {
      if (!p.open_session()) return;
      std::string big = "{\"type\":\"response.text.delta\",\"delta\":\"" + std::string(17 * 1024 * 1024, 'a') + "\"}";
      p.send_text(big);
      p.serve(2000);
      return;
    }
    good(p, srv->stop_);
  });
  ASSERT_TRUE(rec.wait_until([&] { return ready_count() >= 2; }, 20s)) << last_error();
  std::string r = last_reconnect_reason();
  EXPECT_NE(r.find("larger than the 16 MiB limit"), std::string::npos) << r;
}

// Garbage, binary frames, deep nesting, huge and negative numbers, unknown ids, a flood: the
// session survives all of it (warnings, parse_errors) and still handles the valid event after.
TEST_F(Hostile, GarbageIsSurvived) {
  start([this](HostilePeer &p, int) {
    if (!p.open_session()) return;
    p.send_text("not json at all");
    p.send_frame(2, std::string("\x00\x01\x02binary", 9));
    p.send_text(std::string(100000, '[') + std::string(100000, ']'));
    p.send_text(R"({"type":"response.output_audio.delta","response_id":"r","item_id":"i","output_index":1e400,"content_index":-9223372036854775809,"delta":"AAAA"})");
    p.send_text(R"({"type":"response.output_audio.delta","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"@@@"})");
    p.send_text(R"({"type":"response.done","response":{"id":"unknown_resp","status":"completed","output":[]}})");
    p.send_text(R"({"type":"conversation.item.deleted","item_id":"never_seen"})");
    p.send_text(R"({"type":"response.output_audio_transcript.delta","response_id":"nope","item_id":"nope","delta":"\u0000"})");
    for (int k = 0; k < 20000; k++) p.send_text(R"({"type":"response.output_text.delta","response_id":"f","item_id":"f","output_index":0,"content_index":0,"delta":"x"})");
    p.send_text(R"({"type":"rate_limits.updated","event_id":"last","rate_limits":[]})");
    while (!srv->stop_.load() && !p.eof()) p.serve(200);
  });
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::RateLimitsUpdated) >= 1; }, 30s)) << last_error();
  auto st = s->stats();
  EXPECT_GE(st.parse_errors, 3u);
  EXPECT_EQ(st.state, SessionState::Ready);
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_FALSE(rec.has_state(SessionState::Failed));
  EXPECT_TRUE(rec.reconnecting.empty());
}

// Issue 12 #3: server times outside the input timeline are rejected, never wrapped.
TEST_F(Hostile, HugeAndNegativeServerTimesAreRejected) {
  std::atomic<bool> send_events{false};
  start([&](HostilePeer &p, int) {
    if (!p.open_session()) return;
    while (!send_events.load() && !srv->stop_.load() && !p.eof()) p.serve(50);
    p.send_text(R"({"type":"input_audio_buffer.speech_started","event_id":"a","item_id":"i1","audio_start_ms":1000000000000000})");
    p.send_text(R"({"type":"input_audio_buffer.speech_started","event_id":"b","item_id":"i2","audio_start_ms":-9223372036854775808})");
    p.send_text(R"({"type":"input_audio_buffer.speech_started","event_id":"c","item_id":"i3","audio_start_ms":500})");
    while (!srv->stop_.load() && !p.eof()) p.serve(200);
  });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 1000);
  s->push_audio(a.data(), a.size());
  ASSERT_TRUE(poll([&] { return srv->audio_bytes.load() >= static_cast<int64_t>(a.size()); }, 10s));
  send_events = true;
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::SpeechStarted) >= 3; }, 10s));
  auto ev = rec.events_of(ServerEventType::SpeechStarted);
  EXPECT_EQ(ev[0].ctx.input_start_sample, -1);
  EXPECT_EQ(ev[1].ctx.input_start_sample, -1);
  EXPECT_EQ(ev[2].ctx.input_start_sample, 12000);
  EXPECT_EQ(s->stats().server_times_rejected, 2u);
  EXPECT_TRUE(rec.has_log("outside the input timeline"));
}

// ------------------------------------------------------------------------------------------
// Connection-level faults

// Issue 12 #6: each attempt has its own connect timeout; the budget is bounded.
TEST_F(Hostile, AcceptThenNeverUpgradeGivesUpWithinTheBudget) {
  rtc::EngineConfig cfg = hostile_config("ws://x");
  cfg.connect_timeout_ms = 500;
  cfg.reconnect_attempts = 2;
  start([this](HostilePeer &p, int) {
    p.read_request(5000);
    p.stall(60000, srv->stop_);
  }, &cfg);
  // 3 attempts x 0.5 s + backoff: far within 15 s (before: 15 s per attempt)
  ASSERT_TRUE(wait_state(SessionState::Failed, 15s));
  std::lock_guard<std::mutex> lk(rec.mu);
  ASSERT_FALSE(rec.reconnecting.empty());
  EXPECT_NE(rec.reconnecting[0].reason.find("connect-timeout (500 ms)"), std::string::npos) << rec.reconnecting[0].reason;
  EXPECT_EQ(rec.errors.back().code, "reconnect_failed");
}

TEST_F(Hostile, SilentServerIsDetected) {
  start([this](HostilePeer &p, int i) {
    if (i == 0) {
      if (!p.open_session()) return;
      p.answer_pings = false;
      p.stall(60000, srv->stop_);  // reads nothing, answers nothing
      return;
    }
    good(p, srv->stop_);
  });
  ASSERT_TRUE(rec.wait_until([&] { return ready_count() >= 2; }, 20s)) << last_error();
  EXPECT_FALSE(last_reconnect_reason().empty());
}

TEST_F(Hostile, SlowDripIsNotMistakenForDeath) {
  start([this](HostilePeer &p, int) {
    if (!p.open_session()) return;
    // one event every 300 ms for 4 s: alive (pings answered, frames arriving)
    for (int k = 0; k < 13 && !srv->stop_.load(); k++) {
      p.send_text(R"({"type":"rate_limits.updated","event_id":"d","rate_limits":[]})");
      p.serve(300);
    }
    while (!srv->stop_.load() && !p.eof()) p.serve(200);
  });
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::RateLimitsUpdated) >= 13; }, 20s));
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_TRUE(rec.reconnecting.empty());
}

// Issue 12 #1: a server that accepts the session and then stops reading its socket (TCP stays
// open). Audio written into the dead socket is not counted as delivered: it is re-sent on the
// next session or reported dropped, and server-read + dropped = pushed.
TEST_F(Hostile, HalfOpenConnectionLosesNoAudioSilently) {
  std::atomic<bool> stall_now{false};
  start([&](HostilePeer &p, int i) {
    if (i == 0) {
      if (!p.open_session()) return;
      while (!stall_now.load() && !srv->stop_.load() && !p.eof()) p.serve(20);
      p.answer_pings = false;
      p.stall(60000, srv->stop_);  // TCP open, nothing read
      return;
    }
    good(p, srv->stop_);
  });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> tone;
  append_tone(tone, 100);
  int64_t pushed = 0;
  // 1 s read normally, then the server stalls; keep pushing 100 ms pieces until the engine has
  // reconnected (bounded), then 1 s more.
  for (int k = 0; k < 10; k++) {
    s->push_audio(tone.data(), tone.size());
    pushed += static_cast<int64_t>(tone.size());
  }
  ASSERT_TRUE(poll([&] { return srv->audio_bytes.load() >= pushed; }, 10s));
  stall_now = true;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (ready_count() < 2) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no reconnection after the server stopped reading";
    s->push_audio(tone.data(), tone.size());
    pushed += static_cast<int64_t>(tone.size());
    rec.wait_until([&] { return ready_count() >= 2; }, 100ms);  // paces the input (~real time)
  }
  for (int k = 0; k < 10; k++) {
    s->push_audio(tone.data(), tone.size());
    pushed += static_cast<int64_t>(tone.size());
  }
  s->flush_audio();
  // every byte ends up read by the server or reported dropped
  auto dropped_bytes = [&] { return static_cast<int64_t>(s->stats().input_samples_dropped) * 2; };
  bool ok = poll([&] { return srv->audio_bytes.load() + dropped_bytes() >= pushed && s->input_unsent_bytes() == 0; }, 20s);
  auto st = s->stats();
  EXPECT_TRUE(ok) << "pushed " << pushed << ", server read " << srv->audio_bytes.load() << ", dropped " << dropped_bytes()
                  << ", unsent " << s->input_unsent_bytes();
  // nothing read twice would be ideal; re-sent audio may overlap what the stalled server had read
  // before it stopped: the server never read LESS than delivered
  EXPECT_EQ(static_cast<int64_t>(st.input_samples_delivered + st.input_samples_dropped + st.input_samples_cleared) * 2 +
                s->input_unsent_bytes(),
            pushed);
  EXPECT_GT(st.input_samples_resent, 0u);
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    int64_t reported = 0;
    for (auto &d : rec.drops) reported += d.second;
    EXPECT_EQ(reported, static_cast<int64_t>(st.input_samples_dropped));
  }
}

// The normal case: everything pushed is proven delivered, and the counts add up.
TEST_F(Hostile, DeliveredIsProvenByPongs) {
  start([this](HostilePeer &p, int) { good(p, srv->stop_); });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 2000);
  s->push_audio(a.data(), a.size());
  s->flush_audio();
  ASSERT_TRUE(poll([&] { return s->input_unsent_bytes() == 0; }, 10s));
  auto st = s->stats();
  EXPECT_EQ(static_cast<int64_t>(st.input_samples_delivered) * 2, static_cast<int64_t>(a.size()));
  EXPECT_EQ(st.input_samples_dropped, 0u);
  EXPECT_EQ(srv->audio_bytes.load(), static_cast<int64_t>(a.size()));
}

// A caller that sends seconds of audio at once (a file, read faster than real time) and then
// waits for it to be proven read (the elements' back-pressure counts audio sent and not proven)
// gets its probes by the audio sent, not only by the clock: the server never reads more than a
// probe interval of audio (200 ms) plus one chunk without a ping among it. Without the rule, the
// whole burst went out behind one probe and waited for the watchdog's tail probe.
TEST_F(Hostile, BurstIsProbedByTheAudioSent) {
  start([this](HostilePeer &p, int) { good(p, srv->stop_); });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 3000);  // a whole number of 40 ms chunks: all of it is sent without a flush
  s->push_audio(a.data(), a.size());
  ASSERT_TRUE(poll([&] { return srv->audio_bytes.load() == static_cast<int64_t>(a.size()); }, 10s))
      << "read " << srv->audio_bytes.load() << " of " << a.size() << " bytes";
  const int64_t interval = 24000 * 2 / 5, chunk = 24000 * 2 * 40 / 1000;
  EXPECT_LE(srv->max_unprobed.load(), interval + chunk) << "audio read in a row with no probe among it";
  EXPECT_GE(srv->max_unprobed.load(), chunk);  // the counter works
}

// A connection lost with a barrier unanswered (docs/engine.md "Barriers"): the ticket is answered
// only by a session.update sent after the input the lost connection had not proven read was sent
// again on the next one. Counted answered when the connection went away, it let realtimeconv's
// EOS drain and input gate go on with that input unheard by the server.
TEST_F(Hostile, LostBarrierIsAnsweredAfterTheInputIsResent) {
  std::atomic<int64_t> read_at_answer{-1};
  start([&](HostilePeer &p, int i) {
    if (i == 0) return lose_with_barrier_unanswered(p);
    answer_updates(p, read_at_answer);
  });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 1000);
  s->push_audio(a.data(), a.size());
  s->flush_audio();
  ASSERT_TRUE(poll([&] { return srv->audio_bytes.load() >= static_cast<int64_t>(a.size()); }, 10s));
  const uint64_t t = s->update_config(hostile_config(srv->url).session);
  ASSERT_TRUE(poll([&] { return s->updates_answered() >= t; }, 30s)) << "the barrier was never answered";
  EXPECT_GE(ready_count(), 2u) << "no reconnection";
  EXPECT_GE(read_at_answer.load(), static_cast<int64_t>(a.size()))
      << "the ticket was answered before the server had read the re-sent input";
  EXPECT_GT(s->stats().input_samples_resent, 0u);
}

// A ticket issued while the session is not Ready (here reconnecting, with input pushed during the
// outage) is answered only after that input was sent on the new connection: not by the new
// connection's own configuration update, which goes out before the input that waited for Ready.
TEST_F(Hostile, TicketIssuedWhileReconnectingIsAnsweredAfterTheInput) {
  std::atomic<bool> die{false};
  std::atomic<int64_t> read_at_answer{-1};
  start([&](HostilePeer &p, int i) {
    if (i == 0) {
      if (!p.open_session()) return;
      while (!die.load() && !srv->stop_.load() && !p.eof()) p.serve(20);
      p.shutdown_now();
      return;
    }
    hold();
    answer_updates(p, read_at_answer);
  });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  die = true;
  ASSERT_TRUE(wait_state(SessionState::Reconnecting, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 500);
  s->push_audio(a.data(), a.size());  // waits for Ready (the offline buffer)
  const uint64_t t = s->update_config(hostile_config(srv->url).session);
  release();  // the next connection may now be configured
  ASSERT_TRUE(poll([&] { return s->updates_answered() >= t; }, 30s)) << "the ticket was never answered";
  EXPECT_GE(read_at_answer.load(), static_cast<int64_t>(a.size()))
      << "the ticket was answered before the server had read the input pushed before it";
}

// A configuration the server rejects is reported once per connection. After a lost connection
// with a barrier unanswered, the next connection sends that configuration twice: its own
// configuration update, then the barrier's session.update after the re-sent input. A server that
// rejects the first rejects the second with the same error: that one only answers the ticket.
TEST_F(Hostile, ConfigurationRejectedAfterAReconnectIsReportedOnce) {
  std::atomic<int> rejected{0};
  auto reject = [&](HostilePeer &p, const std::string &frame) {
    const std::string key = "\"event_id\":\"";
    const size_t at = frame.find(key);
    const std::string id = at == std::string::npos ? "" : frame.substr(at + key.size(), frame.find('"', at + key.size()) - at - key.size());
    rejected++;
    return p.send_text(R"({"type":"error","event_id":"h9","error":{"type":"invalid_request_error","code":"invalid_value","message":"voice: unsupported","param":"session.voice","event_id":")" +
                       id + R"("}})");
  };
  start([&](HostilePeer &p, int i) {
    if (i == 0) return lose_with_barrier_unanswered(p);
    if (!p.create_session()) return;
    std::string frame;
    while (!srv->stop_.load() && !p.eof())
      if (p.read_until("\"session.update\"", 200, &frame)) reject(p, frame);
  });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 500);
  s->push_audio(a.data(), a.size());
  s->flush_audio();
  const uint64_t t = s->update_config(hostile_config(srv->url).session);
  ASSERT_TRUE(poll([&] { return s->updates_answered() >= t && rejected.load() >= 2; }, 30s))
      << "the ticket was never answered, or the barrier's update never sent (" << rejected.load() << " rejected)";
  EXPECT_GE(ready_count(), 2u) << "no reconnection";
  std::lock_guard<std::mutex> lk(rec.mu);
  int reported = 0;
  for (const auto &e : rec.errors)
    if (e.code == "invalid_value") reported++;
  EXPECT_EQ(reported, 1) << "the same rejection of the same configuration was reported " << reported << " times";
}

// A full command queue refuses other commands but never a configuration: an update_config()
// takes one slot beyond the bound, and the next replaces it there (nothing is queued after it),
// so the newest configuration goes out once and its answer answers both tickets. Refused, a
// ticket waited for another update (realtimeconv's EOS drain ran into its timeout).
TEST_F(Hostile, ConfigurationIsNeverRefusedByAFullCommandQueue) {
  std::mutex mu;
  std::vector<std::string> updates;  // the session.update events after the connection's own
  start([&](HostilePeer &p, int) {
    hold();  // Connecting until the queue is full
    if (!p.open_session()) return;
    HostilePeer::Frame f;
    while (!srv->stop_.load() && !p.eof()) {
      if (!p.read_frame(&f, 200) || f.opcode != 1 || f.payload.find("\"session.update\"") == std::string::npos) continue;
      {
        std::lock_guard<std::mutex> lk(mu);
        updates.push_back(f.payload);
      }
      p.send_session_updated();
    }
  });
  for (size_t i = 0; i < rtc::Session::kMaxQueuedCommands; i++) ASSERT_TRUE(s->clear()) << i;  // wait for Ready
  EXPECT_FALSE(s->clear()) << "a full queue took another command";
  rtc::SessionConfig first = hostile_config(srv->url).session, second = first;
  first.instructions = "first configuration";
  second.instructions = "second configuration";
  const uint64_t t1 = s->update_config(first), t2 = s->update_config(second);
  ASSERT_GT(t1, 0u);
  ASSERT_GT(t2, t1);
  EXPECT_FALSE(s->clear()) << "the configuration's slot took another command";
  release();
  ASSERT_TRUE(poll([&] { return s->updates_answered() >= t2; }, 30s)) << "a ticket of a full queue was never answered";
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_EQ(updates.size(), 1u) << "the replaced configuration was sent too";
  EXPECT_NE(updates[0].find("second configuration"), std::string::npos);
}

// on_commits_lost counts the commits sent on a server session that went away unanswered, and
// not a commit made while disconnected: that one is queued, sent on the next connection (after
// the input), and answered there (realtimetranscriber counted it lost and pushed its transcript as
// late text).
TEST_F(Hostile, CommitsLostAreTheUnansweredOnesOfTheOldSession) {
  std::atomic<int> commits_on_1{0};
  start([&](HostilePeer &p, int i) {
    if (i == 0) {
      if (!p.open_session()) return;
      p.read_until("\"input_audio_buffer.commit\"", 10000);  // never answered
      p.shutdown_now();
      return;
    }
    hold();
    if (!p.open_session()) return;
    HostilePeer::Frame f;
    while (!srv->stop_.load() && !p.eof()) {
      if (!p.read_frame(&f, 200)) continue;
      if (f.opcode != 1 || f.payload.find("\"input_audio_buffer.commit\"") == std::string::npos) continue;
      commits_on_1++;
      p.send_text(R"({"type":"input_audio_buffer.committed","event_id":"h4","item_id":"item_h1","previous_item_id":null})");
    }
  });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 300);
  s->push_audio(a.data(), a.size());
  ASSERT_TRUE(s->commit());  // sent on connection 0, which dies without answering
  ASSERT_TRUE(wait_state(SessionState::Reconnecting, 10s));
  s->push_audio(a.data(), a.size());
  ASSERT_TRUE(s->commit());  // made while disconnected: queued for the next connection
  release();
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnected.empty(); }, 20s)) << "no reconnection";
  EXPECT_EQ(rec.commits_lost.load(), 1);
  ASSERT_TRUE(poll([&] { return commits_on_1.load() >= 1; }, 10s));
  EXPECT_EQ(commits_on_1.load(), 1);
}

// The count of lost commits is exact past the old bound of 64 (the oldest were forgotten).
TEST_F(Hostile, EveryUnansweredCommitIsCountedLost) {
  constexpr int kCommits = 100;
  start([&](HostilePeer &p, int i) {
    if (!p.open_session()) return;
    if (i == 0) {
      for (int n = 0; n < kCommits; n++)
        if (!p.read_until("\"input_audio_buffer.commit\"", 10000)) return;  // never answered
      p.shutdown_now();
      return;
    }
    while (!srv->stop_.load() && !p.eof()) p.serve(200);
  });
  ASSERT_TRUE(wait_state(SessionState::Ready, 10s));
  std::vector<uint8_t> a;
  append_tone(a, 20);
  for (int n = 0; n < kCommits; n++) {
    s->push_audio(a.data(), a.size());
    ASSERT_TRUE(s->commit()) << n;
  }
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnected.empty(); }, 20s)) << "no reconnection";
  EXPECT_EQ(rec.commits_lost.load(), kCommits);
}

// Issue 12 #9: a pathological non-audio event is refused before any JSON tree is built (its
// size is bounded; see docs/reliability.md), and the session carries on.
TEST_F(Hostile, HugeTextEventIsRefusedNotParsed) {
  start([this](HostilePeer &p, int) {
    if (!p.open_session()) return;
    p.send_text("{\"type\":\"response.output_audio_transcript.done\",\"response_id\":\"r\",\"item_id\":\"i\","
                "\"output_index\":0,\"content_index\":0,\"transcript\":\"" + std::string(6 * 1024 * 1024, 'w') + "\"}");
    p.send_text(R"({"type":"rate_limits.updated","event_id":"after","rate_limits":[]})");
    while (!srv->stop_.load() && !p.eof()) p.serve(200);
  });
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::RateLimitsUpdated) >= 1; }, 20s)) << last_error();
  EXPECT_EQ(rec.count_locked(ServerEventType::AudioTranscriptDone), 0u);
  EXPECT_TRUE(rec.has_log("refused (non-audio events are limited to"));
  std::lock_guard<std::mutex> lk(rec.mu);
  ASSERT_FALSE(rec.errors.empty());
  EXPECT_EQ(rec.errors.back().code, "event_too_large");
  EXPECT_TRUE(rec.reconnecting.empty());
}

// Issue 12 #9: a frame of at least Session::kInPlaceFrameBytes is handled once libsoup has let go
// of it, its audio decoded in place in the frame's memory and handed over without a copy
// (SessionListener::adopt_audio). Frames keep their order: the large delta sits between small
// ones and text events in one burst, and a large delta that no frame follows is still delivered.
namespace {

// Records the audio bytes and the order of audio and events; adopts blocks when `adopt`.
class OrderRecorder : public Recorder {
 public:
  explicit OrderRecorder(bool adopt) : adopt_(adopt) {}
  struct Blk {
    std::vector<uint8_t> v;
    uint8_t *adopted = nullptr;
  };
  uint8_t *alloc_audio(size_t max_bytes, void **handle) override {
    auto *b = new Blk;
    b->v.resize(max_bytes);
    *handle = b;
    return b->v.data();
  }
  void *adopt_audio(uint8_t *block, size_t bytes) override {
    if (!adopt_) return nullptr;
    adopted++;
    adopted_bytes += bytes;
    auto *b = new Blk;
    b->adopted = block;
    return b;
  }
  void on_audio(void *handle, size_t bytes, const rtc::AudioDeltaInfo &info) override {
    auto *b = static_cast<Blk *>(handle);
    {
      std::lock_guard<std::mutex> lk(mu);
      const uint8_t *d = b->adopted ? b->adopted : b->v.data();
      audio.append(reinterpret_cast<const char *>(d), bytes);
      order.push_back("audio " + info.item_id + " " + std::to_string(bytes));
    }
    free_audio(b);
    cv.notify_all();
  }
  void free_audio(void *handle) override {
    auto *b = static_cast<Blk *>(handle);
    g_free(b->adopted);
    delete b;
  }
  void on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) override {
    {
      std::lock_guard<std::mutex> lk(mu);
      order.push_back(ev.type_name);
    }
    Recorder::on_server_event(ev, ctx);
  }
  std::atomic<int> adopted{0};
  std::atomic<size_t> adopted_bytes{0};
  std::string audio;               // under mu
  std::vector<std::string> order;  // under mu

 private:
  bool adopt_;
};

std::string pcm_pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 7 + static_cast<size_t>(seed)) % 251);
  return s;
}

std::string audio_delta(const std::string &pcm, int k) {
  std::string b64;
  rtc::base64_encode_append(b64, reinterpret_cast<const uint8_t *>(pcm.data()), pcm.size());
  return R"({"type":"response.output_audio.delta","event_id":"d)" + std::to_string(k) +
         R"(","response_id":"resp_1","item_id":"item_A","output_index":0,"content_index":0,"delta":")" + b64 + "\"}";
}

// Runs one session against a server that sends `frames` in one burst after the session opens.
struct BurstRun {
  std::unique_ptr<HostileServer> srv;
  std::unique_ptr<rtc::Session> s;
  void start(OrderRecorder *rec, std::vector<std::string> frames) {
    srv = std::make_unique<HostileServer>([this, frames](HostilePeer &p, int) {
      if (!p.open_session()) return;
      for (auto &f : frames)
        if (!p.send_text(f)) return;
      while (!srv->stop_.load() && !p.eof()) p.serve(200);
    });
    s = std::make_unique<rtc::Session>(hostile_config(srv->url), rec);
    s->start();
  }
  void stop(OrderRecorder *rec) {
    s->stop();
    rec->mark_stopped();
    s.reset();
    srv->stop();
  }
};

}  // namespace

TEST(HostileFrames, LargeAudioDeltaIsDecodedInPlaceAndKeepsItsOrder) {
  const std::string a = pcm_pattern(960, 1), b = pcm_pattern(400 * 1000, 2), c = pcm_pattern(480, 3);
  ASSERT_GE(audio_delta(b, 2).size(), rtc::Session::kInPlaceFrameBytes);
  for (bool adopt : {true, false}) {
    SCOPED_TRACE(adopt ? "listener adopts the block" : "listener declines: copied");
    OrderRecorder rec(adopt);
    BurstRun run;
    run.start(&rec, {
      R"({"type":"response.created","event_id":"e1","response":{"object":"realtime.response","id":"resp_1","status":"in_progress","status_details":null,"output":[],"conversation_id":"conv_1","output_modalities":["audio"],"max_output_tokens":"inf","audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},"usage":null,"metadata":null}})",
      audio_delta(a, 1), audio_delta(b, 2), audio_delta(c, 3),
      R"({"type":"response.output_audio_transcript.delta","event_id":"t1","response_id":"resp_1","item_id":"item_A","output_index":0,"content_index":0,"delta":"after"})",
      R"({"type":"response.output_audio.done","event_id":"e5","response_id":"resp_1","item_id":"item_A","output_index":0,"content_index":0})",
    });
    ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::AudioDone) >= 1; }, 20s));
    {
      std::lock_guard<std::mutex> lk(rec.mu);
      EXPECT_TRUE(rec.audio == a + b + c) << "audio differs: " << rec.audio.size() << " bytes";
      std::vector<std::string> want = {"audio item_A 960", "audio item_A 400000", "audio item_A 480",
                                       "response.output_audio_transcript.delta", "response.output_audio.done"};
      std::vector<std::string> got;
      for (auto &o : rec.order)
        if (o.rfind("audio ", 0) == 0 || o.find("output_audio") != std::string::npos) got.push_back(o);
      EXPECT_EQ(got, want);
    }
    EXPECT_EQ(rec.adopted.load(), adopt ? 1 : 0);
    if (adopt) {
      EXPECT_EQ(rec.adopted_bytes.load(), b.size());
    }
    run.stop(&rec);
  }
}

TEST(HostileFrames, LargeAudioDeltaWithNothingAfterItIsDelivered) {
  const std::string b = pcm_pattern(300 * 1000, 5);
  OrderRecorder rec(true);
  BurstRun run;
  run.start(&rec, {audio_delta(b, 1)});
  // No frame, close or error follows: the held frame is handled on the next loop iteration.
  ASSERT_TRUE(rec.wait_until([&] { return rec.audio.size() >= b.size(); }, 20s)) << "the held frame never came out";
  {
    std::lock_guard<std::mutex> lk(rec.mu);
    EXPECT_TRUE(rec.audio == b);
  }
  EXPECT_EQ(rec.adopted.load(), 1);
  run.stop(&rec);
}
