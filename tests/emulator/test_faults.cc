// realtime-emulator: fault flags, session expiry (§1.5) and the --log event log.
#include <fstream>

#include "harness.h"

using namespace emutest;

namespace {

std::string tmpdir() {
  gchar *d = g_dir_make_tmp("rtc-emu-XXXXXX", nullptr);
  std::string s(d);
  g_free(d);
  return s;
}

std::vector<NodeRef> read_jsonl(const std::string &path) {
  std::vector<NodeRef> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    auto n = parse(line);
    EXPECT_TRUE(n) << "log line is not JSON: " << line.substr(0, 200);
    if (n) out.push_back(n);
  }
  return out;
}

std::string sget(JsonNode *n, const char *path) {
  JsonNode *v = node_at(n, path);
  return v && JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING ? json_node_get_string(v) : "";
}

}  // namespace

TEST(Faults, CloseAfterNWithCode) {
  Emulator emu({"--fault-close-after=3", "--fault-close-code=4001"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));  // session.created, conversation.created
  c.send(R"({"type":"input_audio_buffer.clear"})");  // 3rd event
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "input_audio_buffer.cleared");
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(c.close_code, 4001);
}

TEST(Faults, CloseAfterNAbrupt) {
  Emulator emu({"--fault-close-after=1", "--fault-close-code=abrupt"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime")));
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "session.created");
  EXPECT_TRUE(c.wait_closed());
  // No close frame: libsoup reports 1006 (abnormal closure) / no code.
  EXPECT_TRUE(c.close_code == 1006 || c.close_code == 0 || c.close_code == 1005) << c.close_code;
}

TEST(Faults, DelayEveryEvent) {
  Emulator emu({"--fault-delay-ms=300"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  const gint64 t0 = g_get_monotonic_time();
  c.send(R"({"type":"input_audio_buffer.clear"})");
  c.send(R"({"type":"response.cancel","event_id":"x"})");
  auto a = c.next(3000);
  const double dt = double(g_get_monotonic_time() - t0) / 1000.0;
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type, "input_audio_buffer.cleared");  // order kept
  EXPECT_GE(dt, 280.0);
  auto b = c.next(3000);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->type, "error");
}

TEST(Faults, HandshakeStatusThenRecovery) {
  Emulator emu({"--fault-handshake-status=503", "--fault-handshake-count=2"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (int i = 0; i < 2; i++) {
    Client c;
    EXPECT_FALSE(c.connect(emu.url("/v1/realtime?model=gpt-realtime")));
    EXPECT_EQ(c.http_status, 503);
  }
  Client ok;
  EXPECT_TRUE(ok.connect(emu.url("/v1/realtime?model=gpt-realtime")));
}

TEST(Faults, HandshakeStatusAlwaysWithJsonBody) {
  Emulator emu({"--fault-handshake-status=429"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  auto r = http_upgrade_request(emu.http_url("/v1/realtime?model=gpt-realtime"),
                                {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"},
                                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  EXPECT_EQ(r.status, 429);
  auto n = parse(r.body);
  ASSERT_TRUE(n) << r.body;
  EXPECT_EQ(sget(n.get(), "error.code"), "429");
}

TEST(Faults, MalformedFrame) {
  Emulator emu({"--fault-malformed-after=1"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime")));
  auto a = c.next(), b = c.next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->type, "session.created");
  EXPECT_EQ(b->type, "<unparsable>");
  ASSERT_EQ(c.unparsable.size(), 1u);
  // The session keeps working afterwards.
  c.send(R"({"type":"input_audio_buffer.clear"})");
  auto d = c.next();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->type, "input_audio_buffer.cleared");
}

TEST(Faults, ErrorAfterN) {
  Emulator emu({"--fault-error-after=2:server_error", "--fault-error-after=1:rate_limit_exceeded"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-4o-realtime-preview"), {{"OpenAI-Beta", "realtime=v1"}}));
  auto evs = c.drain(300);
  // session.created, [error rate_limit_exceeded], conversation.created: the injected error counts as an event
  ASSERT_GE(evs.size(), 3u);
  EXPECT_EQ(evs[0].type, "session.created");
  EXPECT_GOLDEN(evs[1], R"({"type":"error","event_id":"$prefix:event_","error":{"type":"invalid_request_error",
    "code":"rate_limit_exceeded","message":"$string","param":null,"event_id":null}})");
  EXPECT_EQ(evs[2].type, "conversation.created");
}

TEST(Faults, ErrorSessionExpiredCloses) {
  Emulator emu({"--fault-error-after=1:session_expired"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime")));
  c.next();
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->str("error.code"), "session_expired");
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(c.close_code, 1001);
}

TEST(Faults, OnlyFirstConnections) {
  Emulator emu({"--fault-close-after=1", "--fault-connections=1"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  {
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime")));
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(c.close_code, 1011);  // default fault close code
  }
  Client c2;
  ASSERT_TRUE(open_session(c2, emu, false));
  c2.send(R"({"type":"input_audio_buffer.clear"})");
  auto e = c2.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "input_audio_buffer.cleared");
  EXPECT_FALSE(c2.closed);
}

// §1.5: expiry -> error session_expired, then close 1001; expires_at follows --session-max-s.
TEST(Faults, SessionExpiry) {
  Emulator emu({"--session-max-s=1"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  Event created;
  ASSERT_TRUE(open_session(c, emu, false, &created));
  const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  EXPECT_NEAR(double(created.num("session.expires_at") - now), 1.0, 1.5);
  auto e = c.wait_for("error", 4000);
  ASSERT_TRUE(e);
  EXPECT_GOLDEN(*e, R"({"type":"error","event_id":"$prefix:event_","error":{"type":"invalid_request_error",
    "code":"session_expired","message":"Your session hit the maximum duration of 1 seconds.","param":null,"event_id":null}})");
  EXPECT_TRUE(c.wait_closed(3000));
  EXPECT_EQ(c.close_code, 1001);
}

TEST(Faults, SessionExpiryMinutesMessage) {
  Emulator emu({"--session-max-s=60", "--fault-connections=0"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  Event created;
  ASSERT_TRUE(open_session(c, emu, true, &created));
  const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  EXPECT_NEAR(double(created.num("session.expires_at") - now), 60.0, 2.0);
}

// Transcription failure (§4.2 .failed example).
TEST(Faults, TranscriptionFailed) {
  Emulator emu({"--transcription-fail", "--transcription-delay-ms=0"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":null,"transcription":{"model":"gpt-4o-mini-transcribe"}}}})");
  append_audio(c, pcm16_tone(4800, 0.2));
  c.send(R"({"type":"input_audio_buffer.commit"})");
  auto f = c.wait_for("conversation.item.input_audio_transcription.failed");
  ASSERT_TRUE(f);
  EXPECT_GOLDEN(*f, R"({"type":"conversation.item.input_audio_transcription.failed","event_id":"$prefix:event_",
    "item_id":"$prefix:item_","content_index":0,"error":{"type":"transcription_error","code":"audio_unintelligible",
    "message":"The audio could not be transcribed.","param":null}})");
}

// --log: every event of both directions, with timestamp and direction, one JSON object per line.
TEST(Faults, EventLog) {
  const std::string dir = tmpdir(), log = dir + "/events.jsonl";
  {
    Emulator emu({"--log=" + log, "--pace=burst"});
    ASSERT_TRUE(emu.ok()) << emu.error;
    Client c;
    ASSERT_TRUE(open_session(c, emu, false));
    c.send(R"({"type":"conversation.item.create","event_id":"evt_client_1","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"Hi"}]}})");
    c.send("{\n  \"type\": \"response.create\",\n  \"event_id\": \"evt_client_2\"\n}");
    auto evs = c.until("rate_limits.updated");
    // Lines are flushed as they are written: the log is complete while the server runs.
    auto lines = read_jsonl(log);
    size_t out = 0, in = 0;
    bool saw_c1 = false, saw_c2 = false;
    for (auto &l : lines) {
      JsonNode *ts = node_at(l.get(), "ts");
      EXPECT_TRUE(ts && JSON_NODE_HOLDS_VALUE(ts));
      const std::string dirn = sget(l.get(), "dir");
      if (dirn == "out") out++;
      if (dirn == "in") {
        in++;
        saw_c1 |= sget(l.get(), "event.event_id") == "evt_client_1";
        saw_c2 |= sget(l.get(), "event.event_id") == "evt_client_2";
      }
      if (dirn == "in" || dirn == "out") {
        EXPECT_EQ(sget(l.get(), "session").rfind("sess_", 0), 0u);
      }
    }
    EXPECT_EQ(out, evs.size() + 1);  // + session.created
    EXPECT_EQ(in, 2u);
    EXPECT_TRUE(saw_c1);
    EXPECT_TRUE(saw_c2);  // multi-line client JSON is logged on one line
    // Out events are logged as sent (same event_id order).
    std::vector<std::string> logged;
    for (auto &l : lines)
      if (sget(l.get(), "dir") == "out") logged.push_back(sget(l.get(), "event.event_id"));
    ASSERT_EQ(logged.size(), evs.size() + 1);
    for (size_t i = 0; i < evs.size(); i++) EXPECT_EQ(logged[i + 1], evs[i].str("event_id"));
  }
  g_remove(log.c_str());
  g_rmdir(dir.c_str());
}

TEST(Faults, EventLogNoAudio) {
  const std::string dir = tmpdir(), log = dir + "/events.jsonl";
  {
    Emulator emu({"--log=" + log, "--log-no-audio", "--pace=burst"});
    ASSERT_TRUE(emu.ok()) << emu.error;
    Client c;
    ASSERT_TRUE(open_session(c, emu, false));
    append_audio(c, pcm16_tone(2400, 0.0));
    c.send(R"({"type":"response.create"})");
    c.until("rate_limits.updated");
    for (auto &l : read_jsonl(log)) {
      const std::string t = sget(l.get(), "event.type");
      if (t == "input_audio_buffer.append") {
        EXPECT_EQ(sget(l.get(), "event.audio"), "<6400 base64 chars>");
      }
      if (t == "response.output_audio.delta") {
        EXPECT_EQ(sget(l.get(), "event.delta").rfind("<", 0), 0u);
      }
    }
  }
  g_remove(log.c_str());
  g_rmdir(dir.c_str());
}
