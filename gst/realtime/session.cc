// Session engine: one Realtime session end to end over libsoup-3. Contract: session.h.
// This file: the public API (any thread), which only queues commands and input under `mu` and
// wakes the network thread. The engine's files and threads: docs/engine.md.
#include "session_impl.h"

namespace rtc {

using namespace engine;

const char *session_state_name(SessionState s) {
  switch (s) {
    case SessionState::Idle: return "idle";
    case SessionState::Connecting: return "connecting";
    case SessionState::Configuring: return "configuring";
    case SessionState::Ready: return "ready";
    case SessionState::Reconnecting: return "reconnecting";
    case SessionState::Failed: return "failed";
  }
  return "unknown";
}

Session::Session(EngineConfig cfg, SessionListener *listener) : impl_(std::make_shared<Impl>(std::move(cfg), listener)) {
  net::session_created();
  impl_->loop_ = net::acquire_loop();
}

Session::~Session() {
  stop();
  net::release_loop(impl_->loop_);
  impl_.reset();
  net::session_destroyed();
}

void Session::start() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  if (impl_->started && impl_->state_pub.load() != static_cast<int>(SessionState::Failed)) return;
  if (impl_->started) {
    // restart from Failed: what was queued while failed belongs to the failed session (the
    // configuration is kept: update_config() commands stay)
    size_t n = impl_->drop_cmds_locked(true);
    if (n > 0 && impl_->pending_logs.size() < 64)
      impl_->pending_logs.emplace_back(LogLevel::Warning,
                                       "restart after failure: dropped " + std::to_string(n) + " stale queued command(s)");
    if (impl_->creates_queued == 0 && impl_->deferred_pub == 0) impl_->resp_pending_pub.store(false);
  }
  impl_->started = true;
  impl_->net_running = true;
  impl_->life.push_back(LifeOp::Start);
  // net::context() starts the thread if needed (never waits on the network; only on a
  // concurrent shutdown_network_thread() teardown)
  impl_->wake_locked();
}

void Session::stop() {
  Impl &s = *impl_;
  if (net::current() == s.loop_) {
    // Contract violation (stop from a callback); do what we can without deadlocking.
    {
      std::lock_guard<std::mutex> lk(s.mu);
      if (!s.started) return;
      s.started = false;
    }
    s.do_stop();
    return;
  }
  std::unique_lock<std::mutex> lk(s.mu);
  if (!s.net_running) return;  // never started
  if (s.started) {
    s.started = false;
    s.stop_seq++;
    s.life.push_back(LifeOp::Stop);
    s.wake_locked();
  }
  uint64_t seq = s.stop_seq;
  s.cv.wait(lk, [&] { return s.stop_done >= seq; });
}

uint64_t Session::update_config(const SessionConfig &cfg) {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->cfg_pub.session = cfg;
  }
  Cmd c;
  c.kind = CmdKind::UpdateConfig;
  c.cfg = cfg;
  uint64_t ticket = 0;
  impl_->enqueue(std::move(c), &ticket);
  return ticket;
}

void Session::set_engine_config(const EngineConfig &cfg) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  SessionConfig keep = impl_->cfg_pub.session;
  impl_->cfg_pub = cfg;
  impl_->cfg_pub.session = keep;
  int cm = std::clamp(cfg.chunk_ms, 10, 1000);
  Impl &s = *impl_;
  s.chunk_bytes = static_cast<size_t>(s.in_rate) * s.in_bps * cm / 1000;
  s.limit_bytes = std::max(s.chunk_bytes, static_cast<size_t>(s.in_rate) * s.in_bps * std::max(0, cfg.offline_buffer_ms) / 1000);
}

void Session::push_audio(const uint8_t *data, size_t len) { impl_->push(data, len); }

bool Session::close_input() {
  Cmd c;
  c.kind = CmdKind::CloseInput;
  return impl_->enqueue(std::move(c));
}

void Session::flush_audio() {
  Cmd c;
  c.kind = CmdKind::Flush;
  impl_->enqueue(std::move(c));
}

bool Session::commit() {
  Cmd c;
  c.kind = CmdKind::Commit;
  return impl_->enqueue(std::move(c));
}

bool Session::clear() {
  Cmd c;
  c.kind = CmdKind::Clear;
  return impl_->enqueue(std::move(c));
}

bool Session::create_response(const ResponseParams *params) {
  Cmd c;
  c.kind = CmdKind::CreateResponse;
  if (params) c.params = *params;
  c.counts_create = !(params && params->conversation_none);
  return impl_->enqueue(std::move(c));
}

bool Session::cancel_response() {
  Cmd c;
  c.kind = CmdKind::Cancel;
  return impl_->enqueue(std::move(c));
}

bool Session::send_text(const std::string &text, bool create_response) {
  Cmd c;
  c.kind = CmdKind::SendText;
  c.text = text;
  c.create_response = create_response;
  c.counts_create = create_response;
  return impl_->enqueue(std::move(c));
}

bool Session::function_output(const std::string &call_id, const std::string &output_json, bool create_response) {
  Cmd c;
  c.kind = CmdKind::FunctionOutput;
  c.call_id = call_id;
  c.output_json = output_json;
  c.create_response = create_response;
  c.counts_create = create_response;
  return impl_->enqueue(std::move(c));
}

bool Session::truncate(const std::string &item_id, int64_t audio_end_ms) {
  Cmd c;
  c.kind = CmdKind::Truncate;
  c.item_id = item_id;
  c.audio_end_ms = audio_end_ms;
  return impl_->enqueue(std::move(c));
}

bool Session::delete_item(const std::string &item_id) {
  Cmd c;
  c.kind = CmdKind::Delete;
  c.item_id = item_id;
  return impl_->enqueue(std::move(c));
}

SessionStats Session::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  SessionStats s = impl_->st;
  s.state = static_cast<SessionState>(impl_->state_pub.load());
  return s;
}

SessionState Session::state() const { return static_cast<SessionState>(impl_->state_pub.load()); }

int64_t Session::input_samples_pushed() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->pushed_bytes / impl_->in_bps;
}

bool Session::response_pending() const { return impl_->resp_pending_pub.load(); }

int64_t Session::input_unsent_bytes() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return static_cast<int64_t>(impl_->abuf.size() - impl_->aoff) + impl_->held_pub;
}

uint64_t Session::updates_answered() const { return impl_->updates_answered_pub.load(); }

Session::Impl::Impl(EngineConfig cfg, SessionListener *l) : listener(l), cfg_pub(std::move(cfg)) {
  scfg_ = cfg_pub.session;
  in_bps = audio_format_bytes_per_sample(cfg_pub.session.input_format);
  in_rate = audio_format_rate(cfg_pub.session.input_format);
  in_bps_net_ = in_bps;
  in_rate_net_ = in_rate;
  int cm = std::clamp(cfg_pub.chunk_ms, 10, 1000);
  chunk_bytes = static_cast<size_t>(in_rate) * in_bps * cm / 1000;
  limit_bytes = std::max(chunk_bytes, static_cast<size_t>(in_rate) * in_bps * std::max(0, cfg_pub.offline_buffer_ms) / 1000);
}

Session::Impl::~Impl() {
  // All GObjects were released on the network thread by the stop command; Conn shells left in
  // the graveyard own nothing.
}

}  // namespace rtc
