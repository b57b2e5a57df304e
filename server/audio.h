// realtime-emulator: audio formats of the wire (§1.5), G.711 codecs and resampling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace emu {

// §1.5: pcm16 = S16LE mono 24 kHz; g711_ulaw / g711_alaw = 8 kHz, one byte per sample.
enum class Fmt { PCM16, ULAW, ALAW };

int fmt_rate(Fmt f);                 // 24000 / 8000
int fmt_bytes_per_sample(Fmt f);     // 2 / 1
const char *fmt_preview_name(Fmt f); // "pcm16" / "g711_ulaw" / "g711_alaw"  (§2.1)
const char *fmt_ga_type(Fmt f);      // "audio/pcm" / "audio/pcmu" / "audio/pcma" (§2.2)

// The cumulative input-audio timeline (§6) is kept in ticks of 1/48000 s, so that both
// 24 kHz and 8 kHz samples map to an exact integer number of ticks.
constexpr int64_t kTicksPerSecond = 48000;
constexpr int64_t kTicksPerMs = 48;
inline int64_t fmt_ticks_per_sample(Fmt f) { return kTicksPerSecond / fmt_rate(f); }
inline int64_t bytes_to_ticks(Fmt f, size_t bytes) {
  return int64_t(bytes / size_t(fmt_bytes_per_sample(f))) * fmt_ticks_per_sample(f);
}
inline size_t ticks_to_bytes(Fmt f, int64_t ticks) {
  return size_t(ticks / fmt_ticks_per_sample(f)) * size_t(fmt_bytes_per_sample(f));
}
// Duration in ms of `bytes` of audio in format f (exact, fractional).
inline double bytes_to_ms(Fmt f, size_t bytes) {
  return double(bytes / size_t(fmt_bytes_per_sample(f))) * 1000.0 / fmt_rate(f);
}

// ITU-T G.711 (the classic reference algorithms).
uint8_t linear_to_ulaw(int16_t pcm);
int16_t ulaw_to_linear(uint8_t u);
uint8_t linear_to_alaw(int16_t pcm);
int16_t alaw_to_linear(uint8_t a);

// Wire bytes of format f -> linear S16 samples.
void decode_to_s16(Fmt f, const uint8_t *data, size_t len, std::vector<int16_t> &out);
// Linear S16 samples (already at fmt_rate(f)) -> wire bytes of format f.
std::vector<uint8_t> encode_from_s16(Fmt f, const std::vector<int16_t> &pcm);

// Resamples mono S16 from `in_rate` to `out_rate` (windowed-sinc low-pass when down-sampling,
// then linear interpolation). Good enough for speech; deterministic.
std::vector<int16_t> resample(const std::vector<int16_t> &in, int in_rate, int out_rate);

}  // namespace emu
