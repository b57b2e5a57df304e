// realtime-emulator: server VAD timings on synthetic audio with known sample positions (§2.3, §6).
// audio_start_ms / audio_end_ms must be within one 10 ms frame of the truth:
//   start = onset - prefix_padding_ms (>= 0), end = end of speech + silence_duration_ms.
#include <algorithm>

#include "harness.h"

using namespace emutest;

namespace {

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (auto &p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Independent G.711 u-law encoder (continuous formula, mu = 255), enough for VAD energy.
std::vector<uint8_t> ulaw_tone(int samples, double amp, double freq = 440.0) {
  std::vector<uint8_t> out;
  for (int i = 0; i < samples; i++) {
    const double x = amp * std::sin(2 * M_PI * freq * i / 8000.0);
    const double y = (x < 0 ? -1 : 1) * std::log1p(255.0 * std::fabs(x)) / std::log1p(255.0);
    // quantise to 8 bits: sign + 7-bit magnitude, then the G.711 bit inversion
    int mag = int(std::lround(std::fabs(y) * 127.0));
    mag = std::min(mag, 127);
    const uint8_t code = uint8_t((x < 0 ? 0x00 : 0x80) | (127 - mag));
    out.push_back(code);
  }
  return out;
}

struct Turn {
  int64_t start = -1, end = -1;
  std::string item;
};

// Appends audio and returns the speech_started / speech_stopped pairs seen.
std::vector<Turn> run(Client &c, const std::vector<uint8_t> &audio, size_t chunk, int settle_ms = 300) {
  append_audio(c, audio, chunk);
  auto evs = c.drain(settle_ms);
  std::vector<Turn> turns;
  for (auto &e : evs) {
    if (e.type == "input_audio_buffer.speech_started") turns.push_back({e.num("audio_start_ms"), -1, e.str("item_id")});
    if (e.type == "input_audio_buffer.speech_stopped") {
      if (turns.empty()) turns.push_back({});
      turns.back().end = e.num("audio_end_ms");
      EXPECT_EQ(turns.back().item, e.str("item_id"));
    }
  }
  return turns;
}

}  // namespace

TEST(Vad, ToneBurstTimingsGa) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500,"create_response":false}}}})");
  const int s0 = 29617, t = 19211;  // onset at 1234.04 ms, tone ends at 2034.50 ms
  auto audio = concat({pcm16_tone(s0, 0.0), pcm16_tone(t, 0.5), pcm16_tone(24000, 0.0)});
  auto turns = run(c, audio, 4800);
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_NEAR(double(turns[0].start), s0 / 24.0 - 300.0, 10.0);
  EXPECT_NEAR(double(turns[0].end), (s0 + t) / 24.0 + 500.0, 10.0);
}

TEST(Vad, SeveralBurstsOddChunksPreview) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  update_session(c, R"({"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":200,"silence_duration_ms":300,"create_response":false}})");
  // burst 1: 500.5..1100 ms, with a 150 ms gap inside (shorter than the silence duration: one turn)
  // burst 2: 2000.25..2500 ms
  auto audio = concat({pcm16_tone(12012, 0.0), pcm16_tone(6000, 0.6), pcm16_tone(3600, 0.0), pcm16_tone(4788, 0.6),
                       pcm16_tone(21606, 0.0), pcm16_tone(11994, 0.3), pcm16_tone(24000, 0.0)});
  auto turns = run(c, audio, 1234);
  ASSERT_EQ(turns.size(), 2u);
  EXPECT_NEAR(double(turns[0].start), 12012 / 24.0 - 200.0, 10.0);
  EXPECT_NEAR(double(turns[0].end), (12012 + 6000 + 3600 + 4788) / 24.0 + 300.0, 10.0);
  const int b2 = 12012 + 6000 + 3600 + 4788 + 21606;
  EXPECT_NEAR(double(turns[1].start), b2 / 24.0 - 200.0, 10.0);
  EXPECT_NEAR(double(turns[1].end), (b2 + 11994) / 24.0 + 300.0, 10.0);
  EXPECT_NE(turns[0].item, turns[1].item);
}

// The committed item holds the audio from audio_start_ms to audio_end_ms.
TEST(Vad, CommittedAudioSpansTheTurn) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","prefix_padding_ms":300,"silence_duration_ms":400,"create_response":false}}}})");
  auto audio = concat({pcm16_tone(24000, 0.0), pcm16_tone(24000, 0.5), pcm16_tone(24000, 0.0)});
  auto turns = run(c, audio, 4800);
  ASSERT_EQ(turns.size(), 1u);
  c.send("{\"type\":\"conversation.item.retrieve\",\"item_id\":\"" + turns[0].item + "\"}");
  auto r = c.wait_for("conversation.item.retrieved");
  ASSERT_TRUE(r);
  const double ms = double(unb64(r->str("item.content.0.audio")).size()) / 48.0;
  EXPECT_NEAR(ms, double(turns[0].end - turns[0].start), 10.0);
}

// Threshold mapping: level >= -60 + 60 * threshold dBFS. A sine of amplitude 0.01414 is -40 dBFS.
TEST(Vad, ThresholdMapsToDbfs) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (double th : {0.3, 0.35}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, false));
    update_session(c, "{\"type\":\"realtime\",\"audio\":{\"input\":{\"turn_detection\":{\"type\":\"server_vad\",\"threshold\":" +
                          std::to_string(th) + ",\"create_response\":false}}}}");
    auto audio = concat({pcm16_tone(12000, 0.0), pcm16_tone(24000, 0.01414), pcm16_tone(12000, 0.0)});
    auto turns = run(c, audio, 4800);
    if (th < 0.34)
      EXPECT_EQ(turns.size(), 1u) << "threshold " << th << " (-42 dBFS) must hear -40 dBFS";
    else
      EXPECT_EQ(turns.size(), 0u) << "threshold " << th << " (-39 dBFS) must not hear -40 dBFS";
  }
}

// G.711 u-law input is decoded for the VAD; timeline arithmetic at 8 kHz.
TEST(Vad, G711UlawInput) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  update_session(c, R"({"input_audio_format":"g711_ulaw","turn_detection":{"type":"server_vad","prefix_padding_ms":100,"silence_duration_ms":250,"create_response":false}})");
  const int s0 = 4123, t = 4800;  // onset 515.375 ms, end 1115.375 ms
  auto audio = concat({ulaw_tone(s0, 0.0), ulaw_tone(t, 0.5), ulaw_tone(8000, 0.0)});
  auto turns = run(c, audio, 800);
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_NEAR(double(turns[0].start), s0 / 8.0 - 100.0, 10.0);
  EXPECT_NEAR(double(turns[0].end), (s0 + t) / 8.0 + 250.0, 10.0);
}

TEST(Vad, PrefixPaddingClampedAtZero) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","prefix_padding_ms":300,"silence_duration_ms":200,"create_response":false}}}})");
  auto turns = run(c, concat({pcm16_tone(2400, 0.0), pcm16_tone(12000, 0.5), pcm16_tone(12000, 0.0)}), 4800);
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_EQ(turns[0].start, 0);
  EXPECT_NEAR(double(turns[0].end), 600.0 + 200.0, 10.0);
}

// semantic_vad: eagerness high -> 250 ms of silence ends the turn (documented mapping).
TEST(Vad, SemanticVadEagerness) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"semantic_vad","eagerness":"high","create_response":false}}}})");
  auto turns = run(c, concat({pcm16_tone(24000, 0.0), pcm16_tone(12000, 0.5), pcm16_tone(24000, 0.0)}), 4800);
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_NEAR(double(turns[0].start), 1000.0 - 300.0, 10.0);
  EXPECT_NEAR(double(turns[0].end), 1500.0 + 250.0, 10.0);
}

// A manual commit or a clear during speech ends the VAD turn without speech_stopped (§4.2).
TEST(Vad, ManualCommitDuringSpeech) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","create_response":false}}}})");
  append_audio(c, concat({pcm16_tone(4800, 0.0), pcm16_tone(12000, 0.5)}));
  auto started = c.wait_for("input_audio_buffer.speech_started");
  ASSERT_TRUE(started);
  c.send(R"({"type":"input_audio_buffer.commit"})");
  auto cm = c.wait_for("input_audio_buffer.committed");
  ASSERT_TRUE(cm);
  EXPECT_EQ(cm->str("item_id"), started->str("item_id"));
  append_audio(c, pcm16_tone(24000, 0.0));
  auto rest = c.drain(300);
  for (auto &e : rest) EXPECT_NE(e.type, "input_audio_buffer.speech_stopped");
}

// interrupt_response false: speech does not cancel; create_response false: no response.
TEST(Vad, NoInterruptNoCreate) {
  Emulator emu({"--pace=1"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  update_session(c, R"({"turn_detection":{"type":"server_vad","create_response":false,"interrupt_response":false}})");
  c.send(R"({"type":"response.create","response":{"instructions":"Say: a fairly long sentence to keep the response busy"}})");
  c.until("response.audio.delta");
  append_audio(c, concat({pcm16_tone(12000, 0.5), pcm16_tone(12000, 0.0)}));
  auto evs = c.until("rate_limits.updated");
  auto types = types_of(evs);
  EXPECT_NE(std::find(types.begin(), types.end(), "input_audio_buffer.speech_stopped"), types.end());
  for (auto &e : evs)
    if (e.type == "response.done") {
      EXPECT_EQ(e.str("response.status"), "completed");
    }
  EXPECT_EQ(std::count(types.begin(), types.end(), "response.created"), 0);
  auto after = c.drain(300);
  for (auto &e : after) EXPECT_NE(e.type, "response.created");
}
