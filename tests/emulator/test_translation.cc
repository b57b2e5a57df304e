// realtime-emulator translation sessions (issue 14): wire events checked against the reference
// (Part A §2-§5), written by hand here, never with the project's builders.
#include <gtest/gtest.h>

#include <cmath>

#include "harness.h"

using namespace emutest;

namespace {

std::string b64(const std::vector<uint8_t> &v) {
  gchar *s = g_base64_encode(v.data(), v.size());
  std::string r(s);
  g_free(s);
  return r;
}
std::vector<uint8_t> tone(int ms) {
  std::vector<uint8_t> out(size_t(ms) * 48);
  for (size_t i = 0; i < out.size() / 2; i++) {
    int16_t v = int16_t(std::lround(10000 * std::sin(2 * M_PI * 440.0 * double(i) / 24000.0)));
    out[2 * i] = uint8_t(v & 0xff);
    out[2 * i + 1] = uint8_t((v >> 8) & 0xff);
  }
  return out;
}
std::string append(const std::vector<uint8_t> &pcm) {
  return R"({"type":"session.input_audio_buffer.append","audio":")" + b64(pcm) + "\"}";
}
std::string scenario() {
  const char *root = g_getenv("RTC_SOURCE_ROOT");
  return std::string(root ? root : ".") + "/server/scenarios/translation.json";
}

}  // namespace

TEST(Translation, CreatedUpdateValidationAndClose) {
  Emulator emu({"--scenario", scenario(), "--translation-lag-ms", "0"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime/translations?model=gpt-realtime-translate"))) << c.connect_error;
  auto created = c.wait_for("session.created");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->str("session.type"), "translation");
  EXPECT_EQ(created->str("session.model"), "gpt-realtime-translate");
  EXPECT_TRUE(created->at("session.audio.input.transcription") &&
              JSON_NODE_HOLDS_NULL(created->at("session.audio.input.transcription")));

  const std::pair<const char *, const char *> bad[] = {
      {R"({"type":"session.update","event_id":"e1","session":{"audio":{"output":{"language":"xx"}}}})",
       "session.audio.output.language"},
      {R"({"type":"session.update","event_id":"e1","session":{"audio":{"input":{"format":{"type":"audio/pcmu"}}}}})",
       "session.audio.input.format"},
      {R"({"type":"session.update","event_id":"e1","session":{"audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}})",
       "session.audio.input.format"},
      {R"({"type":"response.create","event_id":"e1"})", "type"},
      {R"({"type":"input_audio_buffer.append","event_id":"e1","audio":""})", "type"},
  };
  for (auto &b : bad) {
    c.send(b.first);
    auto e = c.wait_for("error");
    ASSERT_TRUE(e) << b.first;
    EXPECT_EQ(e->str("error.param"), b.second) << e->raw;
    EXPECT_EQ(e->str("error.event_id"), "e1") << e->raw;
  }
  c.send(R"({"type":"session.update","session":{"audio":{"input":{"transcription":{"model":"gpt-realtime-whisper"},"noise_reduction":{"type":"near_field"}},"output":{"language":"fr"}}}})");
  auto upd = c.wait_for("session.updated");
  ASSERT_TRUE(upd);
  EXPECT_EQ(upd->str("session.audio.output.language"), "fr");
  EXPECT_EQ(upd->str("session.audio.input.transcription.model"), "gpt-realtime-whisper");
  EXPECT_EQ(upd->str("session.audio.input.noise_reduction.type"), "near_field");

  // 400 ms silence, 1 s speech, 700 ms silence in 100 ms appends: consumed in 200 ms frames; the
  // phrase starts in frame 2 -> elapsed_ms 400 on every delta of it
  std::vector<uint8_t> pcm(400 * 48, 0), t = tone(1000), s(700 * 48, 0);
  pcm.insert(pcm.end(), t.begin(), t.end());
  pcm.insert(pcm.end(), s.begin(), s.end());
  for (size_t off = 0; off < pcm.size(); off += 4800)
    c.send(append(std::vector<uint8_t>(pcm.begin() + ptrdiff_t(off), pcm.begin() + ptrdiff_t(std::min(off + 4800, pcm.size())))));
  c.send(R"({"type":"session.close"})");
  auto evs = c.until("session.closed", 15000);
  ASSERT_FALSE(evs.empty());
  ASSERT_EQ(evs.back().type, "session.closed");
  std::string in_text, out_text;
  size_t audio_bytes = 0;
  for (auto &e : evs) {
    if (e.type == "session.input_transcript.delta") in_text += e.str("delta");
    if (e.type == "session.output_transcript.delta") out_text += e.str("delta");
    if (e.type == "session.output_audio.delta") {
      EXPECT_EQ(e.num("sample_rate"), 24000);
      EXPECT_EQ(e.num("channels"), 1);
      EXPECT_EQ(e.str("format"), "pcm16");
      gsize n = 0;
      g_free(g_base64_decode(e.str("delta").c_str(), &n));
      audio_bytes += n;
    }
    if (e.type.rfind("session.", 0) == 0 && e.type.find(".delta") != std::string::npos) {
      EXPECT_EQ(e.num("elapsed_ms"), 400) << e.raw;
    }
  }
  EXPECT_EQ(in_text, "Good evening and welcome to the news.");
  EXPECT_EQ(out_text, "Bonsoir et bienvenue aux informations.");
  // tone voice: 60 ms per character
  EXPECT_EQ(audio_bytes, size_t(60 * 48) * g_utf8_strlen(out_text.c_str(), -1));
}

TEST(Translation, AzurePathAndPlaceholderForUnknownSpeech) {
  Emulator emu({"--translation-lag-ms", "0"});  // no phrase table
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/openai/v1/realtime/translations?model=my-deployment"), {{"api-key", "k"}}))
      << c.connect_error;
  auto created = c.wait_for("session.created");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->str("session.model"), "my-deployment");
  c.send(R"({"type":"session.update","session":{"audio":{"output":{"language":"de"}}}})");
  ASSERT_TRUE(c.wait_for("session.updated"));
  c.send(append(tone(600)));
  c.send(R"({"type":"session.close"})");
  auto evs = c.until("session.closed", 15000);
  std::string out;
  for (auto &e : evs)
    if (e.type == "session.output_transcript.delta") out += e.str("delta");
  EXPECT_EQ(out, "de phrase 1");
}
