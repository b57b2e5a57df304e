#include "rtctranscripttiming.h"

#include <algorithm>

namespace rtcgst {

TextSpan estimate_text_span(int64_t prev_end, int64_t span_start, int64_t span_end, bool committed, int64_t lag_samples,
                            size_t chars, int rate) {
  const int64_t frame = std::max<int64_t>(1, rate / 100);
  const int64_t lo = std::max<int64_t>(std::max<int64_t>(0, prev_end), span_start);
  const int64_t dur = static_cast<int64_t>(static_cast<double>(chars) / kCharsPerSecond * rate);
  TextSpan s;
  if (!committed) {
    s.end = std::max(lo, span_end - lag_samples);
    s.start = std::max(lo, s.end - dur);
  } else {
    s.start = lo;
    s.end = std::max(lo, std::min(span_end, lo + dur));
  }
  if (s.end <= s.start) s.end = s.start + frame;
  return s;
}

std::vector<TimedWord> split_words(const std::string &text, const TextSpan &span) {
  std::vector<TimedWord> out;
  std::string cur;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  for (char c : text) {
    if (is_space(c) && !cur.empty() && !is_space(cur.back())) {
      out.push_back(TimedWord{cur, {}});
      cur.clear();
    }
    cur.push_back(c);
  }
  if (!cur.empty()) out.push_back(TimedWord{cur, {}});
  const int64_t total = std::max<int64_t>(1, static_cast<int64_t>(text.size()));
  const int64_t len = span.end - span.start;
  int64_t acc = 0;
  for (auto &w : out) {
    w.span.start = span.start + len * acc / total;
    acc += static_cast<int64_t>(w.text.size());
    w.span.end = span.start + len * acc / total;
  }
  return out;
}

int nominal_lag_ms(int delay_index, bool streaming_model) {
  if (!streaming_model) return 0;
  static const int kLag[] = {80, 240, 480, 960, 1600};
  if (delay_index < 0 || delay_index > 4) return 240;
  return kLag[delay_index];
}

}  // namespace rtcgst

#include <cmath>

namespace rtcgst {

bool LocalCommit::frame(double dbfs, int64_t samples) {
  seg_ += samples;
  if (dbfs >= p_.threshold_dbfs) {
    if (!heard_) first_ = seg_ - samples;
    last_end_ = seg_;
    heard_ = true;
    silence_ = 0;
  } else {
    silence_ += samples;
  }
  const int64_t min_commit = rate_ / 10;  // 100 ms
  bool commit = false;
  if (heard_ && silence_ * 1000 >= static_cast<int64_t>(p_.silence_ms) * rate_ && seg_ >= min_commit) commit = true;
  if (p_.max_segment_ms > 0 && seg_ * 1000 >= static_cast<int64_t>(p_.max_segment_ms) * rate_ && seg_ >= min_commit)
    commit = true;
  if (commit) take_span();
  return commit;
}

double level_dbfs(const int16_t *s, size_t n) {
  if (n == 0) return -120.0;
  double acc = 0;
  for (size_t i = 0; i < n; i++) acc += static_cast<double>(s[i]) * s[i];
  const double rms = std::sqrt(acc / static_cast<double>(n)) / 32768.0;
  if (rms <= 1e-6) return -120.0;
  return 20.0 * std::log10(rms * std::sqrt(2.0));  // 0 dBFS = full-scale sine
}

}  // namespace rtcgst
