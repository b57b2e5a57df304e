// Session engine: the input pump. Caller audio buffered under `mu` (the offline buffer, oldest
// dropped when full), chunked and sent as appends, held until proven read by the server (delivery
// probes, session.update answers) and re-sent on the next connection. docs/engine.md,
// docs/reliability.md.
#include "session_impl.h"

namespace rtc {

using namespace engine;

void Session::Impl::pump_audio(int64_t limit_pos) {
  // §3.3: append chunks of chunk_ms; no acknowledgement. Sent only in Ready (§10.1: after
  // session.updated the session has its configured input format).
  if (!cur_ || !cur_->ws || state_ != SessionState::Ready) return;
  bool sent = false, window_full = false;
  // audio of a lost connection first (older than anything in abuf)
  while (!resend_.empty()) {
    SentChunk ch = std::move(resend_.front());
    resend_.pop_front();
    held_bytes_ -= static_cast<int64_t>(ch.data.size());
    send_chunk(ch.pos, std::move(ch.data));
    sent = true;
    maybe_probe();
  }
  for (;;) {
    int64_t pos;
    size_t take = 0;
    {
      std::lock_guard<std::mutex> lk(mu);
      size_t avail = abuf.size() - aoff;
      // send window: streaming stops while the offline buffer's worth is not proven read (it
      // resumes on confirm()); a command's own audio (limit_pos) always goes out before it
      if (limit_pos == INT64_MAX && held_bytes_ >= static_cast<int64_t>(limit_bytes)) {
        window_full = true;
        break;
      }
      if (avail >= chunk_bytes && (limit_pos == INT64_MAX || abuf_pos + static_cast<int64_t>(chunk_bytes) <= limit_pos)) {
        take = chunk_bytes;
      } else if (limit_pos != INT64_MAX && limit_pos > abuf_pos) {
        take = std::min<size_t>(avail, static_cast<size_t>(limit_pos - abuf_pos));
        take -= take % static_cast<size_t>(in_bps);
      }
      if (take == 0) break;
      scratch_.assign(abuf.begin() + static_cast<ptrdiff_t>(aoff), abuf.begin() + static_cast<ptrdiff_t>(aoff + take));
      pos = abuf_pos;
      aoff += take;
      abuf_pos += static_cast<int64_t>(take);
      if (aoff == abuf.size()) {
        abuf.clear();
        aoff = 0;
      } else if (aoff > 65536 && aoff * 2 > abuf.size()) {
        abuf.erase(abuf.begin(), abuf.begin() + static_cast<ptrdiff_t>(aoff));
        aoff = 0;
      }
    }
    send_chunk(pos, std::vector<uint8_t>(scratch_.begin(), scratch_.end()));
    sent = true;
    maybe_probe();  // rides on this send when due (by time or by audio sent)
  }
  if (sent) publish_held();
  // A flush or a command (limit_pos) and a full send window are where sending stops for now:
  // whatever is not probed yet is probed at once (the EOS drain and the non-live input gate wait
  // for it).
  if (limit_pos != INT64_MAX || window_full) maybe_probe(true);
}

void Session::Impl::send_chunk(int64_t pos, std::vector<uint8_t> &&data) {
  size_t take = data.size();
  if (xl())
    build_translation_audio_append(append_buf_, data.data(), take);
  else
    build_input_audio_append(append_buf_, data.data(), take);
  send_raw(cur_.get(), append_buf_);
  input_map_.add(pos / in_bps_net_, static_cast<int64_t>(take) / in_bps_net_);
  double ms = static_cast<double>(take) * 1000.0 / (in_rate_net_ * in_bps_net_);
  stat([&](SessionStats &s) {
    s.audio_bytes_sent += take;
    s.audio_ms_sent += ms;
  });
  cur_->sent_off += take;
  held_bytes_ += static_cast<int64_t>(take);
  unconfirmed_.push_back(SentChunk{pos, std::move(data), cur_->sent_off, now_us()});
}

// Delivery probe: a WebSocket ping queued behind the appends (libsoup 3.2 has no ping API, but
// soup_websocket_connection_send_message() sends its type as the opcode: 0x9 = ping, in order with
// the data frames). The pong echoes "rtc:<sent_off>": the server has read every frame before it
// (frames are processed in order, RFC 6455 §5.5.2/§5.5.3).
Conn *Session::Impl::probe_candidate() {
  Conn *c = cur_.get();
  if (!c || !c->ws || unconfirmed_.empty() || c->probed_off >= c->sent_off) return nullptr;
  if (soup_websocket_connection_get_state(c->ws) != SOUP_WEBSOCKET_STATE_OPEN) return nullptr;
  return c;
}

void Session::Impl::maybe_probe(bool now_or_never) {
  // Not on a network thread: the engine is driven synchronously by its caller (a white-box test
  // driver), with no loop for the probe tick or the pong; that caller confirms delivery itself.
  if (!net::current()) return;
  Conn *c = probe_candidate();
  if (!c) return;
  int64_t now = now_us();
  // A probe rides on the wake-up that sends audio: once kProbeIntervalUs has passed since the last
  // one, or once that much audio has been sent since (a non-live caller sends seconds of audio in
  // a burst and then waits for it to be proven read: its back-pressure must not wait for the
  // clock), and at once where sending stops (`now_or_never`: a flush, a command, a full send
  // window). The chunks sent in between are proven by the next probe; the last ones of a stream
  // that just stops, by the tail probe of the watchdog pass (tail_probe(): no timer and no
  // wake-up of its own), docs/engine.md "Delivery probes".
  const uint64_t interval_bytes =
      static_cast<uint64_t>(in_rate_net_) * static_cast<uint64_t>(in_bps_net_) * kProbeIntervalUs / 1000000;
  if (!now_or_never && now - c->last_probe_us < kProbeIntervalUs && c->sent_off - c->probed_off < interval_bytes)
    return;
  send_probe(c, now);
}

void Session::Impl::send_probe(Conn *c, int64_t now) {
  std::string p = "rtc:" + std::to_string(c->sent_off);
  GBytes *b = g_bytes_new(p.data(), p.size());
  soup_websocket_connection_send_message(c->ws, static_cast<SoupWebsocketDataType>(0x09), b);
  g_bytes_unref(b);
  c->probed_off = c->sent_off;
  c->last_probe_us = now;
}

// The tail probe (from the watchdog pass): input sent and not probed, and the last probe an
// interval old. While audio streams the sends keep probing and this does nothing; the last chunks
// of a stream that stops without a flush are proven within one watchdog period (at most 1 s, and a
// quarter of ping_timeout_ms) plus kProbeIntervalUs after they were sent.
void Session::Impl::tail_probe(int64_t now) {
  if (!net::current()) return;
  Conn *c = probe_candidate();
  if (c && now - c->last_probe_us >= kProbeIntervalUs) send_probe(c, now);
}

void Session::Impl::confirm(Conn *c, uint64_t off) {
  if (!c || c != cur_.get()) return;
  int64_t bytes = 0;
  while (!unconfirmed_.empty() && unconfirmed_.front().end_off <= off) {
    bytes += static_cast<int64_t>(unconfirmed_.front().data.size());
    unconfirmed_.pop_front();
  }
  if (bytes == 0) return;
  {
    std::lock_guard<std::mutex> lk(mu);  // (limit_bytes is shared)
    if (held_bytes_ >= static_cast<int64_t>(limit_bytes)) wake_locked();  // the send window opens
  }
  held_bytes_ -= bytes;
  double ms = static_cast<double>(bytes) * 1000.0 / (in_rate_net_ * in_bps_net_);
  stat([&](SessionStats &s) {
    s.audio_bytes_delivered += static_cast<uint64_t>(bytes);
    s.audio_ms_delivered += ms;
    s.input_samples_delivered += static_cast<uint64_t>(bytes / in_bps_net_);
  });
  publish_held();
}

// The current connection is lost: what it did not prove delivered goes out first on the next one
// (bounded by the offline buffer: beyond it the oldest is dropped and reported).
void Session::Impl::requeue_unconfirmed() {
  if (unconfirmed_.empty()) return;
  int64_t bytes = 0;
  for (auto &c : unconfirmed_) bytes += static_cast<int64_t>(c.data.size());
  while (!unconfirmed_.empty()) {
    resend_.push_front(std::move(unconfirmed_.back()));
    unconfirmed_.pop_back();
  }
  stat([&](SessionStats &s) { s.input_samples_resent += static_cast<uint64_t>(bytes / in_bps_net_); });
  log(LogLevel::Warning, std::to_string(bytes * 1000 / (in_rate_net_ * in_bps_net_)) +
                             " ms of input sent but not proven read by the server: re-sent on the next session");
  int64_t pending, limit;
  {
    std::lock_guard<std::mutex> lk(mu);
    pending = static_cast<int64_t>(abuf.size() - aoff);
    limit = static_cast<int64_t>(limit_bytes);
  }
  while (!resend_.empty() && held_bytes_ + pending > limit) {
    SentChunk &o = resend_.front();
    held_bytes_ -= static_cast<int64_t>(o.data.size());
    account_drop(o.pos / in_bps_net_, static_cast<int64_t>(o.data.size()) / in_bps_net_, true);
    resend_.pop_front();
  }
  publish_held();
}

// Renewal switch (as_delivered: the old connection is closed cleanly after its frames; its
// uncommitted input is lost by design, see maybe_switch), failure or stop (dropped).
void Session::Impl::settle_held(bool as_delivered, bool report) {
  for (auto *q : {&unconfirmed_, &resend_}) {
    for (auto &o : *q) {
      int64_t n = static_cast<int64_t>(o.data.size());
      if (as_delivered && q == &unconfirmed_)
        stat([&](SessionStats &s) {
          s.audio_bytes_delivered += static_cast<uint64_t>(n);
          s.audio_ms_delivered += static_cast<double>(n) * 1000.0 / (in_rate_net_ * in_bps_net_);
          s.input_samples_delivered += static_cast<uint64_t>(n / in_bps_net_);
        });
      else
        account_drop(o.pos / in_bps_net_, n / in_bps_net_, report);
    }
    q->clear();
  }
  held_bytes_ = 0;
  publish_held();
}

void Session::Impl::account_drop(int64_t first_sample, int64_t samples, bool report) {
  if (samples <= 0) return;
  {
    std::lock_guard<std::mutex> lk(mu);
    dropped_samples += samples;
    std::lock_guard<std::mutex> sl(stats_mu);
    st.input_ms_dropped = static_cast<uint64_t>(dropped_samples * 1000 / in_rate);
    st.input_samples_dropped = static_cast<uint64_t>(dropped_samples);
  }
  if (report && active_) listener->on_input_dropped(first_sample, samples);
}

void Session::Impl::drop_audio_to(int64_t pos) {
  std::lock_guard<std::mutex> lk(mu);
  if (pos <= abuf_pos) return;
  size_t n = std::min<size_t>(abuf.size() - aoff, static_cast<size_t>(pos - abuf_pos));
  n -= n % static_cast<size_t>(in_bps);
  aoff += n;
  abuf_pos += static_cast<int64_t>(n);
  if (aoff == abuf.size()) {
    abuf.clear();
    aoff = 0;
  }
  std::lock_guard<std::mutex> sl(stats_mu);
  st.input_samples_cleared += n / static_cast<size_t>(in_bps);
}

void Session::Impl::push(const uint8_t *data, size_t len) {
  if (push_locked(data, len)) post_wake();
}

// push() under `mu`; returns true when the network thread must be woken (after `mu` is released).
bool Session::Impl::push_locked(const uint8_t *data, size_t len) {
  if (!data || len == 0) return false;
  Impl &s = *this;
  std::lock_guard<std::mutex> lk(s.mu);
  s.abuf.insert(s.abuf.end(), data, data + len);
  s.pushed_bytes += static_cast<int64_t>(len);
  size_t pending = s.abuf.size() - s.aoff;
  if (pending > s.limit_bytes) {
    // Bounded offline buffer: drop the OLDEST audio, whole samples, and report it.
    size_t n = pending - s.limit_bytes;
    size_t bps = static_cast<size_t>(s.in_bps);
    n = (n + bps - 1) / bps * bps;
    n = std::min(n, pending - pending % bps);
    int64_t first = s.abuf_pos / s.in_bps;
    int64_t samples = static_cast<int64_t>(n / bps);
    s.aoff += n;
    s.abuf_pos += static_cast<int64_t>(n);
    if (s.aoff > 65536 && s.aoff * 2 > s.abuf.size()) {
      s.abuf.erase(s.abuf.begin(), s.abuf.begin() + static_cast<ptrdiff_t>(s.aoff));
      s.aoff = 0;
    }
    if (!s.drops.empty() && s.drops.back().first + s.drops.back().second == first)
      s.drops.back().second += samples;
    else
      s.drops.emplace_back(first, samples);
    if (s.drops.size() > 1024) s.drops.erase(s.drops.begin());
    s.dropped_samples += samples;
    {
      std::lock_guard<std::mutex> sl(s.stats_mu);
      s.st.input_ms_dropped = static_cast<uint64_t>(s.dropped_samples * 1000 / s.in_rate);
      s.st.input_samples_dropped = static_cast<uint64_t>(s.dropped_samples);
    }
    return s.claim_wake_locked();
  }
  return s.accepting && pending >= s.chunk_bytes && s.claim_wake_locked();
}

}  // namespace rtc
