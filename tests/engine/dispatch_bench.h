// DispatchBench: a white-box driver of the session engine for benchmarks and tests (never part of
// the plugin). A Session::Impl in state Ready on a given (or no) WebSocket, driven synchronously on
// the CALLING thread: no network thread is involved, so the engine skips what needs one (delivery
// probes; see Session::Impl::maybe_probe).
#pragma once

#include <libsoup/soup.h>

#include <memory>

#include "session.h"

namespace rtctest {

class DispatchBench {
 public:
  // `ws` may be null (sends are then skipped); it must belong to the calling thread's context.
  DispatchBench(const rtc::EngineConfig &cfg, rtc::SessionListener *listener, SoupWebsocketConnection *ws);
  ~DispatchBench();
  // One received text frame: fast path / parse, state update, listener dispatch.
  void feed(const char *frame, size_t len);
  // push_audio() + what the network thread does with it: chunk, encode, send.
  void push(const uint8_t *data, size_t len);
  rtc::SessionStats stats() const;

 private:
  std::shared_ptr<rtc::Session::Impl> impl_;
};

}  // namespace rtctest
