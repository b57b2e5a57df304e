// realtime-emulator: energy-based voice activity detector for server_vad / semantic_vad (§2.3, §6).
//
// Level scale (documented in --help too):
//   The input is cut into 10 ms frames aligned on the cumulative input-audio timeline (§6).
//   A frame is "speech" when its RMS level in dBFS (0 dBFS = full-scale S16 square wave) is
//   >= -60 + 60 * threshold, i.e. threshold 0.0 -> -60 dBFS, 0.5 (default) -> -30 dBFS,
//   1.0 -> 0 dBFS. G.711 input is decoded to linear PCM first.
//   Onset = start of the first speech frame.  speech_started.audio_start_ms =
//   max(0, onset - prefix_padding_ms).  The turn ends once `silence_duration_ms` of non-speech
//   frames follow the last speech frame: speech_stopped.audio_end_ms = end of the last speech
//   frame + silence_duration_ms (= the moment the silence duration elapsed).
//   semantic_vad uses the same detector at threshold 0.5 / prefix 300 ms, with the silence
//   duration given by eagerness: high 250 ms, medium/auto 600 ms, low 1200 ms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace emu {

class Vad {
 public:
  struct Params {
    double threshold = 0.5;
    int prefix_padding_ms = 300;
    int silence_duration_ms = 200;
  };
  struct Event {
    bool started;       // true: speech started, false: speech stopped
    int64_t ticks;      // started: onset (frame start); stopped: end of last speech frame + silence
  };

  static double threshold_to_dbfs(double threshold) { return -60.0 + 60.0 * threshold; }

  // `rate` = sample rate of the samples fed; timeline positions are in 1/48000 s ticks.
  void configure(const Params &p, int rate, int64_t timeline_ticks);
  // Feeds decoded samples that start at the current timeline end. Appends events to out.
  void feed(const int16_t *s, size_t n, std::vector<Event> &out);
  // Forget an ongoing turn (manual commit / clear during speech).
  void reset_turn() { in_speech_ = false; silent_frames_ = 0; }
  bool in_speech() const { return in_speech_; }

 private:
  void frame_done(std::vector<Event> &out);

  Params p_;
  int rate_ = 24000;
  int64_t ticks_per_sample_ = 2;
  int frame_len_ = 240;           // samples per 10 ms
  int64_t pos_ticks_ = 0;         // timeline position of the next sample fed
  int64_t frame_start_ticks_ = 0; // timeline position of the current frame's start
  int frame_fill_ = 0;
  double frame_energy_ = 0;
  bool in_speech_ = false;
  int64_t last_speech_end_ticks_ = 0;
  int silent_frames_ = 0;
};

}  // namespace emu
