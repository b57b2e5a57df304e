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

int TurnGate::semantic_window_ms(int eagerness) {
  switch (eagerness) {
    case 1: return 1200;  // low: the server waits longer
    case 3: return 250;   // high
    default: return 600;  // auto / medium
  }
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
    speech_end_ = pos_;  // pos_ is the end of this frame
    hold_ = speech_end_ + cfg_.window;
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
  // Whole silent frames: only the level matters, the partial frame keeps its energy.
  while (n > 0) {
    const int64_t k = std::min<int64_t>(n, frame_len_ - frame_fill_);
    frame_fill_ += k;
    pos_ += k;
    n -= k;
    if (frame_fill_ == frame_len_) frame_done();
  }
}

int64_t TurnGate::hold_at() const {
  if (!cfg_.enabled || speech_end_ < 0) return kNoHold;
  return std::max(hold_, released_upto_ + 1);
}

void TurnGate::on_speech_started() { server_in_speech_ = true; }

void TurnGate::on_speech_stopped(int64_t end_sample) {
  server_in_speech_ = false;
  // Unknown position (no engine position): the stop still answers the held turn.
  last_stop_ = end_sample >= 0 ? end_sample : std::max<int64_t>(pos_, released_upto_ + 1);
}

void TurnGate::on_barrier_sent() { barrier_ = Barrier::Sent; }

void TurnGate::on_barrier_answered() {
  if (barrier_ == Barrier::Sent) barrier_ = Barrier::Answered;
}

void TurnGate::release() {
  released_upto_ = pos_;
  speech_end_ = -1;
  hold_ = kNoHold;
  barrier_ = Barrier::None;
}

TurnGate::Decision TurnGate::decide(int64_t next_sample, bool turn_wait, bool all_sent) {
  if (!cfg_.enabled) return Decision::Send;
  if (turn_wait) return Decision::WaitTurn;
  if (next_sample < hold_at()) return Decision::Send;
  // At the hold point. The server ended a turn after the last release and (turn_wait false) its
  // answer is done: this local turn is answered.
  if (last_stop_ > released_upto_) {
    release();
    return Decision::Send;
  }
  if (!all_sent) return Decision::WaitSent;
  switch (barrier_) {
    case Barrier::None: return Decision::SendBarrier;
    case Barrier::Sent: return Decision::WaitBarrier;
    case Barrier::Answered: break;
  }
  barrier_ = Barrier::None;
  if (server_in_speech_) {
    // The server still hears speech (it waits for more silence than the window): a little more.
    hold_ = std::max(hold_, next_sample) + std::max<int64_t>(cfg_.step, 1);
    return Decision::Send;
  }
  release();  // the server heard no turn here: nothing to wait for
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
