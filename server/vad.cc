// realtime-emulator: energy-based VAD (see vad.h for the documented level scale).
#include "vad.h"

#include <cmath>

#include "audio.h"

namespace emu {

void Vad::configure(const Params &p, int rate, int64_t timeline_ticks) {
  p_ = p;
  rate_ = rate;
  ticks_per_sample_ = kTicksPerSecond / rate;
  frame_len_ = rate / 100;
  pos_ticks_ = timeline_ticks;
  // Frames are aligned on the timeline: the first (partial) frame ends at the next 10 ms mark.
  const int64_t frame_ticks = 10 * kTicksPerMs;
  frame_start_ticks_ = (timeline_ticks / frame_ticks) * frame_ticks;
  frame_fill_ = int((timeline_ticks - frame_start_ticks_) / ticks_per_sample_);
  frame_energy_ = 0;
  in_speech_ = false;
  silent_frames_ = 0;
}

void Vad::feed(const int16_t *s, size_t n, std::vector<Event> &out) {
  for (size_t i = 0; i < n; i++) {
    const double v = s[i];
    frame_energy_ += v * v;
    frame_fill_++;
    pos_ticks_ += ticks_per_sample_;
    if (frame_fill_ >= frame_len_) frame_done(out);
  }
}

void Vad::frame_done(std::vector<Event> &out) {
  const double rms = std::sqrt(frame_energy_ / frame_len_);
  const double dbfs = rms > 0 ? 20.0 * std::log10(rms / 32768.0) : -200.0;
  const bool speech = dbfs >= threshold_to_dbfs(p_.threshold);
  const int64_t frame_ticks = 10 * kTicksPerMs;
  const int64_t start = frame_start_ticks_, end = frame_start_ticks_ + frame_ticks;
  if (speech) {
    if (!in_speech_) {
      in_speech_ = true;
      out.push_back({true, start});
    }
    silent_frames_ = 0;
    last_speech_end_ticks_ = end;
  } else if (in_speech_) {
    silent_frames_++;
    if (int64_t(silent_frames_) * 10 >= p_.silence_duration_ms) {
      in_speech_ = false;
      silent_frames_ = 0;
      out.push_back({false, last_speech_end_ticks_ + int64_t(p_.silence_duration_ms) * kTicksPerMs});
    }
  }
  frame_start_ticks_ = end;
  frame_fill_ = 0;
  frame_energy_ = 0;
}

}  // namespace emu
