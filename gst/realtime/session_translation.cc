// Session engine: what only translation sessions do (docs/protocol.md §15). The rest of the engine
// serves them unchanged (connect, configure, reconnect with backoff, input map).
#include "session_impl.h"

namespace rtc {

using namespace engine;

void Session::Impl::xl_send_close() {
  if (!cur_ || state_ != SessionState::Ready) return;  // sent again once Ready (become_ready)
  if (xl_close_conn_ == cur_->id) return;               // once per connection
  xl_close_conn_ = cur_->id;
  send_event(cur_.get(), "session.close", [](const std::string &eid) { return build_session_close(eid); });
  // session.closed is awaited by the caller, bounded by its own timeout (close_input() contract)
  cur_->last_request_us = now_us();
}

void Session::Impl::xl_on_audio(Conn *c, const ServerEvent &ev) {
  if (c != cur_.get()) return;
  const bool pcm16 = ev.format.empty() || ev.format == "pcm16" || ev.format == "audio/pcm";
  if ((ev.sample_rate != 0 && ev.sample_rate != 24000) || ev.channels > 1 || !pcm16) {
    SessionError e;
    e.cls = ErrorClass::Warning;
    e.code = "unsupported_output_format";
    e.message = "translated audio delta in an unsupported format (" + (ev.format.empty() ? std::string("pcm16") : ev.format) +
                ", " + std::to_string(ev.sample_rate) + " Hz, " + std::to_string(ev.channels) +
                " channel(s)); only PCM16 24 kHz mono is supported: delta dropped";
    log(LogLevel::Warning, e.message);
    emit_error(e);
    return;
  }
  stat([&](SessionStats &x) {
    x.audio_bytes_received += ev.audio.size();
    x.audio_ms_received += static_cast<double>(ev.audio.size()) / 48.0;
  });
  if (ev.audio.empty()) return;
  void *h = nullptr;
  uint8_t *m = listener->alloc_audio(ev.audio.size(), &h);
  if (!m) return;
  memcpy(m, ev.audio.data(), ev.audio.size());
  AudioDeltaInfo info;
  info.receive_time_us = c->last_rx_us;
  info.elapsed_ms = ev.elapsed_ms;
  if (ev.elapsed_ms >= 0) info.input_sample = elapsed_pos(ev.elapsed_ms);
  info.input_sent_samples = input_map_.to_caller(input_map_.sent());
  info.generation = generation_;
  listener->on_audio(h, ev.audio.size(), info);
}

void Session::Impl::xl_on_closed() {
  // session.closed: every output of the closed input has been delivered; close the socket
  log(LogLevel::Info, "translation session closed by the server after session.close");
  clear_timer(backoff_timer_);
  clear_timer(renew_timer_);
  clear_timer(renew_retry_timer_);
  disarm_watchdog();
  set_state(SessionState::Idle, "session closed");
  retire(next_, false);
  retire(cur_, false);
}

}  // namespace rtc
