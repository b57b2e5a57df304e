// rtcgst::DisconnectedWait: how long realtimeconv's input waits for a session that is not
// connected (issue 12 defect 2; docs/reliability.md "EOS and input before the session connects").
//
// Rule: while the session is not connected (connecting, reconnecting), the non-live input waits
// for it at most drain-timeout IN TOTAL, counted from the first buffer that had to wait, not
// drain-timeout per buffer. Once that budget is spent the buffers go straight to the engine, whose
// offline buffer holds them (bounded: the oldest are dropped and reported, docs/reliability.md
// "Input accounting"). The budget is restored when the session is connected (Ready) again.
// At EOS the drain is bounded the same way (at most 2 x drain-timeout, see drain()), and what the
// session never sent is reported in a RESOURCE/WRITE warning (eos_unsent_warning_text()).
//
// Pure (no GStreamer, no clock of its own: times in microseconds are given); unit-tested in
// tests/element/test_reliability.cc. Not thread-safe: the element holds its state lock.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace rtcgst {

class DisconnectedWait {
 public:
  // A buffer at `now_us` finds the session not connected: may it (still) wait? The first call
  // starts the budget of `timeout_us`.
  bool may_wait(int64_t now_us, int64_t timeout_us) {
    if (!started_) {
      started_ = true;
      deadline_ = now_us + timeout_us;
    }
    return now_us < deadline_;
  }
  // The session is connected: the next disconnection gets a fresh budget.
  void on_connected() { started_ = false; }
  bool spent(int64_t now_us) const { return started_ && now_us >= deadline_; }

 private:
  bool started_ = false;
  int64_t deadline_ = 0;
};

// The warning posted at EOS when input was never sent to the server: `unsent_bytes` of input
// at `bytes_per_second`. Empty when nothing is missing.
inline std::string eos_unsent_warning_text(int64_t unsent_bytes, int64_t bytes_per_second, const char *state) {
  if (unsent_bytes <= 0 || bytes_per_second <= 0) return {};
  char buf[256];
  snprintf(buf, sizeof buf,
           "EOS: %.2f s of input was never sent to the server (session %s); forwarding EOS without it",
           (double)unsent_bytes / (double)bytes_per_second, state);
  return buf;
}

}  // namespace rtcgst
