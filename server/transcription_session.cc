// realtime-emulator: transcription-only sessions (see transcription_session.h).
#include "transcription_session.h"

#include <glib.h>

#include "audio.h"

namespace emu {

bool transcription_model_streams_live(const std::string &m) {
  return m == "gpt-realtime-whisper" || m == "gpt-live-transcribe";
}

bool transcription_model_single_delta(const std::string &m) { return m == "whisper-1"; }

int transcription_delay_lag_ms(const std::string &model, const std::string &delay) {
  if (model != "gpt-realtime-whisper") return 240;
  if (delay == "minimal") return 80;
  if (delay == "medium") return 480;
  if (delay == "high") return 960;
  if (delay == "xhigh") return 1600;
  return 240;  // low (and the default when unset)
}

std::optional<TxValidation> validate_transcription(const std::string &model, const std::string &delay,
                                                   bool has_prompt, bool has_keywords, bool turn_detection_on) {
  if (transcription_model_streams_live(model) && turn_detection_on)  // docs/protocol.md §14, LK-STT #5779
    return TxValidation{"session.audio.input.turn_detection",
                        "Turn detection is not supported for this transcription model."};
  if (!delay.empty() && model != "gpt-realtime-whisper")
    return TxValidation{"session.audio.input.transcription.delay",
                        "The 'delay' parameter is only supported by gpt-realtime-whisper."};
  if (has_prompt && model == "gpt-realtime-whisper")
    return TxValidation{"session.audio.input.transcription.prompt",
                        "The 'prompt' parameter is not supported by gpt-realtime-whisper."};
  if (has_keywords && model != "gpt-transcribe" && model != "gpt-live-transcribe")
    return TxValidation{"session.audio.input.transcription.keywords",
                        "The 'keywords' parameter is only supported by gpt-transcribe and gpt-live-transcribe."};
  return std::nullopt;
}

bool audio_has_speech(const int16_t *s, size_t n, int rate) {
  Vad v;
  Vad::Params p;
  p.threshold = 0.5;
  p.prefix_padding_ms = 0;
  p.silence_duration_ms = 200;
  v.configure(p, rate, 0);
  std::vector<Vad::Event> evs;
  v.feed(s, n, evs);
  return !evs.empty() || v.in_speech();
}

std::vector<std::string> split_word_deltas(const std::string &s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size(); i++) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (g_ascii_isspace(c) && !cur.empty() && !g_ascii_isspace(static_cast<unsigned char>(cur.back()))) {
      out.push_back(cur);
      cur.clear();
    }
    cur.push_back(char(c));
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

void LiveTranscriber::begin(int64_t start_ticks, int rate, std::string text, int lag_ms) {
  text_ = std::move(text);
  words_ = split_word_deltas(text_);
  sent_ = 0;
  onset_ = speech_end_ = -1;
  lag_ms_ = lag_ms;
  Vad::Params p;
  p.threshold = 0.5;
  p.prefix_padding_ms = 0;
  p.silence_duration_ms = 200;
  vad_.configure(p, rate, start_ticks);
}

int64_t LiveTranscriber::word_end_ticks(size_t i) const {
  if (onset_ < 0 || i >= words_.size()) return -1;
  size_t chars = 0;
  for (size_t k = 0; k <= i; k++) chars += words_[k].size();
  int64_t t = onset_ + int64_t(double(chars) / kCharsPerSecond * 1000.0) * kTicksPerMs;
  if (speech_end_ >= 0 && t > speech_end_) t = speech_end_;
  return t;
}

std::vector<std::string> LiveTranscriber::feed(const int16_t *s, size_t n, int64_t timeline_end_ticks) {
  std::vector<Vad::Event> evs;
  vad_.feed(s, n, evs);
  for (const auto &e : evs) {
    if (e.started && onset_ < 0) onset_ = e.ticks;
    if (!e.started && onset_ >= 0 && speech_end_ < 0) speech_end_ = e.ticks - 200 * kTicksPerMs;
  }
  std::vector<std::string> due;
  while (sent_ < words_.size()) {
    const int64_t end = word_end_ticks(sent_);
    if (end < 0 || end + int64_t(lag_ms_) * kTicksPerMs > timeline_end_ticks) break;
    due.push_back(words_[sent_++]);
  }
  return due;
}

std::vector<std::string> LiveTranscriber::rest() {
  std::vector<std::string> r;
  if (onset_ >= 0)
    for (; sent_ < words_.size(); sent_++) r.push_back(words_[sent_]);
  words_.clear();
  sent_ = 0;
  onset_ = speech_end_ = -1;
  return r;
}

}  // namespace emu
