// rtcgst scheduler: see rtcscheduler.h and docs/timing.md.
#include "rtcscheduler.h"

#include <algorithm>
#include <cmath>

namespace rtcgst {

Ns place_response(bool live, Ns anchor, Ns origin, Ns tail, Ns arrival) {
  Ns pos = live ? tmax(arrival, tail) : tmax(tmax(anchor, origin), tail);
  if (!valid(pos)) pos = valid(arrival) ? arrival : 0;
  return pos;
}

Ns live_fill_interval(Ns latency) { return std::clamp<Ns>(latency / 2, 20 * kMs, 100 * kMs); }

Ns live_push_lead(Ns latency) { return std::clamp<Ns>(latency / 4, 20 * kMs, 50 * kMs); }

LivePacing live_pacing(Ns latency, Ns push_ahead) {
  if (push_ahead == 0) return {live_push_lead(latency), kLivePushChunk};
  const Ns lead = std::max<Ns>(push_ahead / 2, kMinLivePacing);
  return {lead, std::max<Ns>(push_ahead - push_ahead / 2, kMinLivePacing)};
}

Ns live_push_time(Ns rt, Ns render_latency, Ns lead) {
  if (!valid(rt)) return 0;
  const Ns play = rt + (valid(render_latency) ? render_latency : 0);
  return play > lead ? play - lead : 0;
}

int64_t heard_samples(int64_t clock_samples, int64_t pushed_samples, int64_t received_samples) {
  (void)clock_samples;  // reported beside it (ahead-ms), never more than the lead + one piece below
  return std::max<int64_t>(0, std::min(pushed_samples, received_samples));
}

// ---------------------------------------------------------------------------------------------

int TurnGate::min_gap_ms(bool semantic, int silence_ms) {
  if (semantic) return 250;
  return std::max(100, silence_ms - 100);
}

void TurnGate::reset(const Config &c, int64_t position) {
  const Config keep = c;
  *this = TurnGate();
  cfg_ = keep;
  frame_len_ = std::max(1, cfg_.rate / 100);
  pos_ = released_upto_ = position;
}

void TurnGate::frame_done() {
  const double rms = std::sqrt(frame_energy_ / (double)frame_fill_);
  const double dbfs = rms > 0 ? 20.0 * std::log10(rms / 32768.0) : -200.0;
  if (dbfs >= cfg_.threshold_dbfs) {
    const int64_t start = pos_ - frame_fill_;
    if (speech_end_ >= 0 && start - speech_end_ >= cfg_.min_gap) {
      onset_ = start;
      onset_prev_end_ = speech_end_;
    }
    speech_end_ = pos_;  // pos_ is the end of this frame
  }
  frame_fill_ = 0;
  frame_energy_ = 0;
}

void TurnGate::on_input(const int16_t *s, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double v = s[i];
    frame_energy_ += v * v;
    frame_fill_++;
    pos_++;
    if (frame_fill_ == frame_len_) frame_done();
  }
}

void TurnGate::on_silence(int64_t n) {
  while (n > 0) {
    const int64_t k = std::min<int64_t>(n, frame_len_ - frame_fill_);
    frame_fill_ += k;
    pos_ += k;
    n -= k;
    if (frame_fill_ == frame_len_) frame_done();
  }
}

bool TurnGate::onset_ahead(const int16_t *next, int64_t n) const {
  if (!cfg_.enabled) return false;
  TurnGate probe = *this;
  const int64_t before = probe.onset_;
  probe.on_input(next, n);
  // A new onset after a pause that follows speech sent since the last release (a turn the
  // server may be ending or answering).
  return probe.onset_ != before && probe.onset_prev_end_ > released_upto_;
}

void TurnGate::on_speech_started() { server_in_speech_ = true; }

void TurnGate::on_speech_stopped(int64_t end_sample) {
  server_in_speech_ = false;
  // Unknown position: the stop still counts as after the last release.
  last_stop_ = end_sample >= 0 ? end_sample : std::max<int64_t>(pos_, released_upto_ + 1);
}

void TurnGate::on_barrier_sent() { barrier_ = Barrier::Sent; }

void TurnGate::on_barrier_answered() {
  if (barrier_ == Barrier::Sent) barrier_ = Barrier::Answered;
  if (barrier_ == Barrier::Stale) barrier_ = Barrier::None;
}

void TurnGate::release() {
  released_upto_ = pos_;
  // A barrier still on its way belongs to this hold: its answer says nothing about the next one
  // (one barrier at a time; answers come in order).
  barrier_ = barrier_ == Barrier::Sent || barrier_ == Barrier::Stale ? Barrier::Stale : Barrier::None;
}

TurnGate::Decision TurnGate::decide(const int16_t *next, int64_t n, bool turn_wait, bool all_sent) {
  if (!cfg_.enabled) return Decision::Send;
  if (turn_wait) return Decision::WaitTurn;
  if (!onset_ahead(next, n)) return Decision::Send;
  // Speech starts again after a pause the server may have ended a turn in.
  if (last_stop_ > released_upto_) {  // it did, and (turn_wait false) its answer is done
    release();
    return Decision::Send;
  }
  if (!all_sent) return Decision::WaitSent;
  switch (barrier_) {
    case Barrier::None: return Decision::SendBarrier;
    case Barrier::Sent:
    case Barrier::Stale: return Decision::WaitBarrier;
    case Barrier::Answered: break;
  }
  // The server has processed everything before the onset: either it is still in the previous
  // turn (the onset joins it) or it heard no turn (a stop would have come before the answer).
  release();
  return Decision::Send;
}

// ITU-T G.711 expansions.
int16_t mulaw_to_linear(uint8_t u) {
  u = (uint8_t)~u;
  const int sign = u & 0x80, exponent = (u >> 4) & 0x07, mantissa = u & 0x0F;
  int v = ((mantissa << 3) + 0x84) << exponent;
  v -= 0x84;
  return (int16_t)(sign ? -v : v);
}

int16_t alaw_to_linear(uint8_t a) {
  a ^= 0x55;
  const int sign = a & 0x80, exponent = (a >> 4) & 0x07, mantissa = a & 0x0F;
  int v = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return (int16_t)(sign ? v : -v);
}

}  // namespace rtcgst
