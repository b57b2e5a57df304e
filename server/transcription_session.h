// realtime-emulator: transcription-only sessions, model behaviours (docs/protocol.md §14;
// shared docs/protocol.md §14). Pure logic, no sockets: EmulatorSession calls it from its append,
// commit and session.update paths.
//
// Streaming models (gpt-realtime-whisper, gpt-live-transcribe) send text while audio arrives.
// The emulator's STATED word timing (tests and docs/transcriber.md rely on it):
//   * the words are the scenario turn's "user" text (the next unconsumed turn; without a
//     scenario nothing is said before the commit);
//   * speech onset = start of the first 10 ms frame at or above -30 dBFS in the uncommitted
//     buffer (the energy detector of vad.h at threshold 0.5; turn detection stays off);
//   * word i (0-based) ENDS at onset + C(i) / kCharsPerSecond, C(i) = characters of the text up
//     to and including word i (espeak-ng at make_speech.py's 165 wpm speaks about 15 chars/s);
//     once the detector has heard 200 ms of silence, the remaining words end at that speech end;
//   * a word's delta is sent once the appended audio reaches its end + the delay lag:
//       minimal 80 ms, low 240 ms, medium 480 ms, high 960 ms, xhigh 1600 ms
//     (no millisecond mapping is published: these figures are the emulator's, not OpenAI's);
//     gpt-live-transcribe uses the "low" lag;
//   * words still unsent at the commit follow it, then `completed` with the whole text.
// gpt-4o-*-transcribe / gpt-transcribe: word deltas after the commit; whisper-1: one delta
// holding the whole turn, then `completed`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vad.h"

namespace emu {

constexpr double kCharsPerSecond = 15.0;

bool transcription_model_streams_live(const std::string &model);  // deltas before the commit
bool transcription_model_single_delta(const std::string &model);  // whisper-1
int transcription_delay_lag_ms(const std::string &model, const std::string &delay);
// Validation (docs/protocol.md §14): nullopt when fine, else the error message for the `param`.
struct TxValidation {
  std::string param, message;
};
std::optional<TxValidation> validate_transcription(const std::string &model, const std::string &delay,
                                                   bool has_prompt, bool has_keywords, bool turn_detection_on);

// True when some 10 ms frame of the audio reaches -30 dBFS (the vad.h detector at threshold
// 0.5): a committed buffer without speech is transcribed as "" in transcription sessions.
bool audio_has_speech(const int16_t *s, size_t n, int rate);

// Splits text into words that concatenate back to the text ("Hello", " world", "!").
std::vector<std::string> split_word_deltas(const std::string &s);

// The streaming state of the current (uncommitted) buffer of one session.
class LiveTranscriber {
 public:
  // New buffer starting at timeline position `start_ticks` (1/48000 s) with the text that will
  // be said in it ("" = unknown/nothing).
  void begin(int64_t start_ticks, int rate, std::string text, int lag_ms);
  // Decoded samples appended at the end of the timeline; returns the words now due.
  std::vector<std::string> feed(const int16_t *s, size_t n, int64_t timeline_end_ticks);
  // Words not sent yet (commit); empties the state.
  std::vector<std::string> rest();
  bool heard_speech() const { return onset_ >= 0; }
  const std::string &text() const { return text_; }
  // Stated end position (ticks) of word i, -1 before the onset.
  int64_t word_end_ticks(size_t i) const;

 private:
  std::vector<std::string> words_;
  std::string text_;
  size_t sent_ = 0;
  int64_t onset_ = -1, speech_end_ = -1;
  int lag_ms_ = 240;
  Vad vad_;
};

}  // namespace emu
