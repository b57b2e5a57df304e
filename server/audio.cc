// realtime-emulator: audio formats, G.711 and resampling.
#include "audio.h"

#include <algorithm>
#include <cmath>

namespace emu {

int fmt_rate(Fmt f) { return f == Fmt::PCM16 ? 24000 : 8000; }
int fmt_bytes_per_sample(Fmt f) { return f == Fmt::PCM16 ? 2 : 1; }
const char *fmt_preview_name(Fmt f) {
  switch (f) {
    case Fmt::PCM16: return "pcm16";
    case Fmt::ULAW: return "g711_ulaw";
    case Fmt::ALAW: return "g711_alaw";
  }
  return "pcm16";
}
const char *fmt_ga_type(Fmt f) {
  switch (f) {
    case Fmt::PCM16: return "audio/pcm";
    case Fmt::ULAW: return "audio/pcmu";
    case Fmt::ALAW: return "audio/pcma";
  }
  return "audio/pcm";
}

// --- G.711 µ-law (bias 0x84, clip 32635) ---
uint8_t linear_to_ulaw(int16_t pcm) {
  const int kBias = 0x84, kClip = 32635;
  int sample = pcm;
  int sign = (sample >> 8) & 0x80;
  if (sign) sample = -sample;
  if (sample > kClip) sample = kClip;
  sample += kBias;
  int exponent = 7;
  for (int mask = 0x4000; (sample & mask) == 0 && exponent > 0; mask >>= 1) exponent--;
  int mantissa = (sample >> (exponent + 3)) & 0x0F;
  return uint8_t(~(sign | (exponent << 4) | mantissa));
}

int16_t ulaw_to_linear(uint8_t u) {
  u = uint8_t(~u);
  int sign = u & 0x80, exponent = (u >> 4) & 0x07, mantissa = u & 0x0F;
  int sample = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return int16_t(sign ? -sample : sample);
}

// --- G.711 A-law (segment search as in the ITU/Sun reference g711.c) ---
uint8_t linear_to_alaw(int16_t pcm) {
  static const int kSegEnd[8] = {0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF};
  int v = pcm >> 3;
  int mask;
  if (v >= 0) {
    mask = 0xD5;
  } else {
    mask = 0x55;
    v = -v - 1;
  }
  int seg = 0;
  while (seg < 8 && v > kSegEnd[seg]) seg++;
  if (seg >= 8) return uint8_t(0x7F ^ mask);
  int aval = seg << 4;
  aval |= (seg < 2 ? (v >> 1) : (v >> seg)) & 0x0F;
  return uint8_t(aval ^ mask);
}

int16_t alaw_to_linear(uint8_t a) {
  a ^= 0x55;
  int t = (a & 0x0F) << 4;
  const int seg = (a & 0x70) >> 4;
  switch (seg) {
    case 0: t += 8; break;
    case 1: t += 0x108; break;
    default: t += 0x108; t <<= seg - 1;
  }
  return int16_t((a & 0x80) ? t : -t);
}

void decode_to_s16(Fmt f, const uint8_t *data, size_t len, std::vector<int16_t> &out) {
  switch (f) {
    case Fmt::PCM16:
      for (size_t i = 0; i + 1 < len; i += 2) out.push_back(int16_t(uint16_t(data[i]) | (uint16_t(data[i + 1]) << 8)));
      break;
    case Fmt::ULAW:
      for (size_t i = 0; i < len; i++) out.push_back(ulaw_to_linear(data[i]));
      break;
    case Fmt::ALAW:
      for (size_t i = 0; i < len; i++) out.push_back(alaw_to_linear(data[i]));
      break;
  }
}

std::vector<uint8_t> encode_from_s16(Fmt f, const std::vector<int16_t> &pcm) {
  std::vector<uint8_t> out;
  switch (f) {
    case Fmt::PCM16:
      out.resize(pcm.size() * 2);
      for (size_t i = 0; i < pcm.size(); i++) {
        const uint16_t v = uint16_t(pcm[i]);
        out[2 * i] = uint8_t(v & 0xFF);
        out[2 * i + 1] = uint8_t(v >> 8);
      }
      break;
    case Fmt::ULAW:
      out.reserve(pcm.size());
      for (int16_t s : pcm) out.push_back(linear_to_ulaw(s));
      break;
    case Fmt::ALAW:
      out.reserve(pcm.size());
      for (int16_t s : pcm) out.push_back(linear_to_alaw(s));
      break;
  }
  return out;
}

std::vector<int16_t> resample(const std::vector<int16_t> &in, int in_rate, int out_rate) {
  if (in.empty() || in_rate == out_rate) return in;
  std::vector<float> src(in.begin(), in.end());
  if (out_rate < in_rate) {
    // Anti-alias low-pass: Hann-windowed sinc, cutoff at 0.45 * out_rate.
    const int taps = 63, half = taps / 2;
    const double fc = 0.45 * out_rate / in_rate;  // normalised to in_rate
    std::vector<double> h(taps);
    double sum = 0;
    for (int i = 0; i < taps; i++) {
      const int m = i - half;
      const double sinc = m == 0 ? 2 * fc : std::sin(2 * M_PI * fc * m) / (M_PI * m);
      const double w = 0.5 - 0.5 * std::cos(2 * M_PI * i / (taps - 1));
      h[i] = sinc * w;
      sum += h[i];
    }
    for (double &v : h) v /= sum;
    std::vector<float> filtered(src.size());
    for (size_t n = 0; n < src.size(); n++) {
      double acc = 0;
      for (int k = 0; k < taps; k++) {
        const long idx = long(n) + k - half;
        if (idx >= 0 && idx < long(src.size())) acc += h[k] * src[size_t(idx)];
      }
      filtered[n] = float(acc);
    }
    src.swap(filtered);
  }
  const size_t out_len = size_t((uint64_t(in.size()) * uint64_t(out_rate)) / uint64_t(in_rate));
  std::vector<int16_t> out(out_len);
  const double step = double(in_rate) / out_rate;
  for (size_t i = 0; i < out_len; i++) {
    const double pos = i * step;
    const size_t i0 = size_t(pos);
    const double frac = pos - double(i0);
    const float a = src[std::min(i0, src.size() - 1)];
    const float b = src[std::min(i0 + 1, src.size() - 1)];
    const double v = a + (b - a) * frac;
    out[i] = int16_t(std::clamp(std::lround(v), -32768L, 32767L));
  }
  return out;
}

}  // namespace emu
