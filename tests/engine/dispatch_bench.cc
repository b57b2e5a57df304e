// DispatchBench (dispatch_bench.h): white-box access to Session::Impl through the engine's
// private header.
#include "dispatch_bench.h"

#include "session_impl.h"

namespace rtctest {

DispatchBench::DispatchBench(const rtc::EngineConfig &cfg, rtc::SessionListener *listener, SoupWebsocketConnection *ws)
    : impl_(std::make_shared<rtc::Session::Impl>(cfg, listener)) {
  rtc::Session::Impl &i = *impl_;
  i.ecfg_ = cfg;
  i.active_ = true;
  i.state_ = rtc::SessionState::Ready;
  i.accepting = true;
  i.cur_ = std::make_unique<rtc::engine::Conn>();
  i.cur_->ws = ws;
  i.cur_->dialect = cfg.endpoint.dialect == rtc::DialectChoice::Preview ? rtc::Dialect::Preview : rtc::Dialect::GA;
  i.cur_->got_created = i.cur_->got_updated = true;
}

DispatchBench::~DispatchBench() {
  impl_->cur_->ws = nullptr;  // owned by the caller
  impl_->active_ = false;
}

void DispatchBench::feed(const char *frame, size_t len) { impl_->handle_frame(impl_->cur_.get(), frame, len); }

void DispatchBench::push(const uint8_t *data, size_t len) {
  impl_->push(data, len);
  impl_->pump_audio(INT64_MAX);
  // the bench's peer only drains: count what was sent as proven read (as a pong would), so the
  // send window never closes
  impl_->confirm(impl_->cur_.get(), impl_->cur_->sent_off);
}

rtc::SessionStats DispatchBench::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  return impl_->st;
}

}  // namespace rtctest
