// Translation sessions in the engine (issue 14, docs/protocol.md §15) against realtime-emulator:
// continuous appends, elapsed_ms mapped onto the caller's input timeline (also across a
// reconnect, whose new session restarts elapsed_ms at 0), session.close -> session.closed,
// validation errors. Every wait is bounded.
#include <gio/gio.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "engine_test_util.h"

using namespace rtctest;
using rtc::ServerEventType;
using rtc::SessionState;

namespace {

// Source "speech": a 440 Hz tone at -10 dBFS (the emulator's phrase detector uses the level only).
std::vector<uint8_t> tone_ms(int ms) {
  std::vector<uint8_t> out(static_cast<size_t>(ms) * 48);
  for (size_t i = 0; i < out.size() / 2; i++) {
    int16_t v = static_cast<int16_t>(std::lround(10362.0 * std::sin(2.0 * M_PI * 440.0 * double(i) / 24000.0)));
    out[2 * i] = static_cast<uint8_t>(v & 0xff);
    out[2 * i + 1] = static_cast<uint8_t>((v >> 8) & 0xff);
  }
  return out;
}
std::vector<uint8_t> silence_ms(int ms) { return std::vector<uint8_t>(static_cast<size_t>(ms) * 48, 0); }

class XlRecorder : public Recorder {
 public:
  void on_audio(void *handle, size_t bytes, const rtc::AudioDeltaInfo &info) override {
    {
      std::lock_guard<std::mutex> lk(mu);
      xl_audio.push_back(info);
    }
    Recorder::on_audio(handle, bytes, info);
  }
  std::vector<rtc::AudioDeltaInfo> xl_audio;
};

std::string scenario_path() { return env_or("RTC_SOURCE_ROOT", ".") + "/server/scenarios/translation.json"; }

class TranslationEngine : public ::testing::Test {
 protected:
  void TearDown() override {
    if (s) {
      s->stop();
      rec.mark_stopped();
      s.reset();
    }
    emu.stop();
  }
  bool start_emu(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--voice", "tone", "--scenario", scenario_path(), "--translation-lag-ms", "50"};
    for (auto &a : extra) args.push_back(a);
    std::string err;
    if (!emu.start(args, &err)) {
      if (env_or("RTC_EMULATOR", "").empty()) {
        skipped = true;
        return false;
      }
      ADD_FAILURE() << err;
      return false;
    }
    return true;
  }
  rtc::EngineConfig config(const std::string &lang) {
    rtc::EngineConfig c;
    c.endpoint.endpoint = emu.url;
    c.endpoint.kind = rtc::SessionKind::Translation;
    c.endpoint.use_env = false;
    c.endpoint.api_key = "test-key";
    c.session.output_language = lang;
    c.session.input_transcription = rtc::InputTranscription();
    c.session.input_transcription->model = "gpt-realtime-whisper";
    c.chunk_ms = 100;
    c.reconnect_base_ms = 50;
    return c;
  }
  void push(const std::vector<uint8_t> &v) { s->push_audio(v.data(), v.size()); }
  std::vector<int64_t> starts_of(ServerEventType t) {
    std::lock_guard<std::mutex> lk(rec.mu);
    std::vector<int64_t> r;
    for (auto &e : rec.events)
      if (e.ev.type == t && (r.empty() || r.back() != e.ctx.input_start_sample)) r.push_back(e.ctx.input_start_sample);
    return r;
  }
  std::vector<int64_t> audio_starts() {
    std::lock_guard<std::mutex> lk(rec.mu);
    std::vector<int64_t> r;
    for (auto &i : rec.xl_audio)
      if (r.empty() || r.back() != i.input_sample) r.push_back(i.input_sample);
    return r;
  }
  std::string text_of(ServerEventType t) {
    std::lock_guard<std::mutex> lk(rec.mu);
    std::string r;
    for (auto &e : rec.events)
      if (e.ev.type == t) r += e.ev.text;
    return r;
  }

  Emulator emu;
  XlRecorder rec;
  std::unique_ptr<rtc::Session> s;
  bool skipped = false;
};

#define START(...)                                       \
  do {                                                   \
    if (!start_emu(__VA_ARGS__)) {                       \
      if (skipped) GTEST_SKIP() << "no emulator";        \
      return;                                            \
    }                                                    \
  } while (0)

TEST_F(TranslationEngine, ContinuousAppendsMappingAndCloseDrain) {
  START();
  s = std::make_unique<rtc::Session>(config("es"), &rec);
  s->start();
  // 0.6 s silence, 1 s speech, 1 s silence, 0.8 s speech, 0.5 s silence (not enough to end it:
  // session.close ends the second phrase), pushed at once: the engine sends it all, silence included
  push(silence_ms(600));
  push(tone_ms(1000));
  push(silence_ms(1000));
  push(tone_ms(800));
  push(silence_ms(500));
  const int64_t total = (600 + 1000 + 1000 + 800 + 500) * 24;
  ASSERT_TRUE(s->close_input());
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::SessionClosed) >= 1; }, 20s))
      << "no session.closed";
  ASSERT_TRUE(rec.wait_until([&] { return rec.has_state(SessionState::Idle); }, 5s));
  EXPECT_EQ(s->input_samples_pushed(), total);
  EXPECT_EQ(s->input_unsent_bytes(), 0);
  // elapsed_ms (phrase start frame) on the caller's input timeline: 600 ms and 2600 ms
  const std::vector<int64_t> want = {600 * 24, 2600 * 24};
  EXPECT_EQ(audio_starts(), want);
  EXPECT_EQ(starts_of(ServerEventType::TranslationOutputTranscriptDelta), want);
  EXPECT_EQ(starts_of(ServerEventType::TranslationInputTranscriptDelta), want);
  EXPECT_EQ(text_of(ServerEventType::TranslationOutputTranscriptDelta),
            "Buenas noches y bienvenidos a las noticias. Esta noche el tiempo será templado.");
  EXPECT_EQ(text_of(ServerEventType::TranslationInputTranscriptDelta),
            "Good evening and welcome to the news. Tonight the weather will be mild.");
  EXPECT_GT(s->stats().audio_bytes_received, 0u);
  EXPECT_NEAR(s->stats().audio_ms_sent, 3900.0, 0.01);
  // the emulator log: every pushed byte appended, in order, with the translation event names
  s->stop();
  EmulatorLog log = emu.log();
  size_t appended = 0;
  for (auto *e : log.find("in", "session.input_audio_buffer.append")) {
    std::string b = str_member(e->node, "audio");
    size_t n = b.size() / 4 * 3 - (b.size() >= 1 && b.back() == '=') - (b.size() >= 2 && b[b.size() - 2] == '=');
    appended += n;
  }
  EXPECT_EQ(appended, static_cast<size_t>(total) * 2) << "gaps in the appended audio";
  EXPECT_TRUE(log.find("in", "input_audio_buffer.append").empty());
  EXPECT_EQ(log.find("in", "session.close").size(), 1u);
  auto upd = log.find("in", "session.update");
  ASSERT_FALSE(upd.empty());
  EXPECT_NE(upd[0]->json.find("\"language\":\"es\""), std::string::npos);
}

TEST_F(TranslationEngine, LanguageChangeMidStreamSendsSessionUpdate) {
  START();
  s = std::make_unique<rtc::Session>(config("es"), &rec);
  s->start();
  push(tone_ms(1000));
  push(silence_ms(800));
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::TranslationOutputTranscriptDelta) >= 1; }, 20s));
  rtc::SessionConfig c = config("fr").session;
  const uint64_t ticket = s->update_config(c);
  // updates_answered() does not notify the recorder: poll it (bounded)
  ASSERT_TRUE(poll_until([&] { return s->updates_answered() >= ticket; }, 10s))
      << "session.update for the new language not answered";
  push(tone_ms(1000));
  push(silence_ms(800));
  ASSERT_TRUE(s->close_input());
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::SessionClosed) >= 1; }, 20s));
  EXPECT_EQ(text_of(ServerEventType::TranslationOutputTranscriptDelta),
            "Buenas noches y bienvenidos a las noticias. Ce soir le temps sera doux.");
}

TEST_F(TranslationEngine, BadLanguageIsAClearError) {
  START();
  s = std::make_unique<rtc::Session>(config("xx"), &rec);
  s->start();
  ASSERT_TRUE(rec.wait_until([&] { return !rec.errors.empty(); }, 10s));
  std::lock_guard<std::mutex> lk(rec.mu);
  EXPECT_EQ(rec.errors[0].code, "invalid_value");
  EXPECT_EQ(rec.errors[0].param, "session.audio.output.language");
  EXPECT_EQ(rec.errors[0].client_event_type, "session.update");
}

TEST_F(TranslationEngine, ReconnectKeepsTheInputTimelineContinuous) {
  // the first connection closes (1011) after its first output delta; the next one is fine
  START({"--fault-close-after", "3", "--fault-connections", "1"});
  s = std::make_unique<rtc::Session>(config("de"), &rec);
  s->start();
  push(tone_ms(1000));
  push(silence_ms(800));
  ASSERT_TRUE(rec.wait_until([&] { return !rec.reconnected.empty(); }, 20s)) << "no reconnect";
  // the new server session's elapsed_ms restarts at 0: mapped, it must land after 1.8 s
  push(silence_ms(400));
  push(tone_ms(1000));
  push(silence_ms(800));
  ASSERT_TRUE(s->close_input());
  ASSERT_TRUE(rec.wait_until([&] { return rec.count(ServerEventType::SessionClosed) >= 1; }, 20s));
  auto starts = audio_starts();
  ASSERT_FALSE(starts.empty());
  // The emulator's translation VAD reports a phrase start on its 200 ms analysis frames, counted
  // from the first byte the new connection heard (the first re-sent chunk, wherever the delivery
  // proof left it), so the mapped start is within one such frame before the tone's true start.
  // Unmapped (elapsed_ms taken as caller time), it would land near 0.4-0.6 s.
  EXPECT_GT(starts.back(), (1800 + 400 - 200) * 24) << "phrase after the reconnect misplaced";
  EXPECT_LE(starts.back(), (1800 + 400) * 24) << "phrase after the reconnect misplaced";
}

}  // namespace
