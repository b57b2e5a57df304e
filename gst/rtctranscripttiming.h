// realtimetranscriber: THE timing rules of transcript text on the input timeline (pure functions,
// unit-tested in tests/transcriber; docs/transcriber.md "Timing estimation rule").
//
// The service gives no word times (docs/protocol.md §14): a delta only says "this text is known
// now". What the engine tells us (rtc::EventContext) is the item's span on the input timeline:
// before the commit [buffer start, audio sent so far]; after it [committed start, committed end].
//
// Rule (all positions in input samples):
//   lo  = max(previous text end, span start)
//   dur = characters / kCharsPerSecond * rate          (nominal speaking rate)
//   * streaming delta, item not committed yet: the words were just recognised, so they END at
//       end = max(lo, span end - lag)                   (lag = the model's nominal delay)
//       start = max(lo, end - dur)
//   * delta of a committed item (models that transcribe after the commit, or the tail of a
//     streaming item): the words FOLLOW the previous text:
//       start = lo, end = min(span end, lo + dur)       (end >= start)
//   * zero-length results get one 10 ms frame, so every text buffer has a duration.
// Within a delta the words share [start, end) in proportion to their characters.
// At `completed` the final transcript is spread over the committed span the same way (the
// correction posted on the bus and carried by the final-transcript event).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rtcgst {

constexpr double kCharsPerSecond = 15.0;

struct TextSpan {
  int64_t start = 0, end = 0;  // input samples, end exclusive
};

TextSpan estimate_text_span(int64_t prev_end, int64_t span_start, int64_t span_end, bool committed, int64_t lag_samples,
                            size_t chars, int rate);

// Splits text into words that keep their leading space ("Hello", " world,"), and shares
// [span.start, span.end) among them in proportion to their characters (contiguous, in order).
struct TimedWord {
  std::string text;
  TextSpan span;
};
std::vector<TimedWord> split_words(const std::string &text, const TextSpan &span);

// Nominal lag per `delay` setting of gpt-realtime-whisper (0 minimal .. 4 xhigh), in ms: the
// emulator's stated figures (no mapping is published by OpenAI).
int nominal_lag_ms(int delay_index, bool streaming_model);

}  // namespace rtcgst

namespace rtcgst {

// realtimetranscriber's LOCAL commit policy (streaming models reject server turn detection,
// docs/protocol.md §14): energy per 10 ms frame; once speech (a frame >= threshold_dbfs) was
// heard, `silence_ms` of frames below it end the utterance -> commit; a buffer reaching
// `max_segment_ms` is committed anyway (if >= 100 ms, the service minimum). Silence-only
// buffers are not committed before max_segment_ms (they cost nothing to keep appending).
class LocalCommit {
 public:
  struct Params {
    double threshold_dbfs = -40.0;
    int silence_ms = 600;
    int max_segment_ms = 15000;
  };
  void configure(const Params &p, int rate) {
    p_ = p;
    rate_ = rate;
    reset();
  }
  void reset() {
    seg_ = 0;
    silence_ = 0;
    heard_ = false;
    first_ = last_end_ = -1;
  }
  // One 10 ms frame of level `dbfs` and `samples` samples. True: commit now (state reset).
  bool frame(double dbfs, int64_t samples);
  bool heard_speech() const { return heard_; }
  // The speech of the buffer committed last, relative to that buffer's first sample: first
  // speech frame start .. last speech frame end (-1, -1 when it held no speech). Set when frame()
  // returns true (and by take_span() for a commit decided elsewhere, e.g. at EOS).
  TextSpan committed_speech() const { return committed_; }
  TextSpan take_span() {
    committed_ = TextSpan{first_, last_end_};
    reset();
    return committed_;
  }
  int64_t buffered_samples() const { return seg_; }

 private:
  Params p_;
  int rate_ = 24000;
  int64_t seg_ = 0, silence_ = 0;
  int64_t first_ = -1, last_end_ = -1;
  TextSpan committed_{-1, -1};
  bool heard_ = false;
};

// RMS level of S16 samples in dBFS (-120 for digital silence).
double level_dbfs(const int16_t *s, size_t n);

}  // namespace rtcgst
