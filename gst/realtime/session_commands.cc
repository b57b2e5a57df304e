// Session engine: the command queue (callers -> network thread): enqueue under `mu`, wake-ups,
// the network thread's pump (lifecycle, logs, commands in order, then audio) and the execution of
// each command. docs/engine.md.
#include "session_impl.h"

namespace rtc {

using namespace engine;

namespace {

const char *cmd_name(CmdKind k) {
  switch (k) {
    case CmdKind::UpdateConfig: return "update_config";
    case CmdKind::Flush: return "flush_audio";
    case CmdKind::Commit: return "commit";
    case CmdKind::Clear: return "clear";
    case CmdKind::CreateResponse: return "create_response";
    case CmdKind::Cancel: return "cancel_response";
    case CmdKind::SendText: return "send_text";
    case CmdKind::FunctionOutput: return "function_output";
    case CmdKind::Truncate: return "truncate";
    case CmdKind::Delete: return "delete_item";
    case CmdKind::CloseInput: return "close_input";
  }
  return "?";
}

}  // namespace

void Session::Impl::wake_locked() {
  if (claim_wake_locked()) post_wake();
}

bool Session::Impl::claim_wake_locked() {
  if (wake_pending || !net_running) return false;
  wake_pending = true;
  return true;
}

void Session::Impl::post_wake() {
  auto *ref = new std::shared_ptr<Impl>(shared_from_this());
  net::post(loop_, on_wake, ref, [](gpointer d) { delete static_cast<std::shared_ptr<Impl> *>(d); });
}

gboolean Session::Impl::on_wake(gpointer data) {
  auto &self = *static_cast<std::shared_ptr<Impl> *>(data);
  self->process();
  return G_SOURCE_REMOVE;
}

bool Session::Impl::enqueue(Cmd &&c, uint64_t *ticket) {
  std::string warn;
  {
    std::lock_guard<std::mutex> lk(mu);
    if (c.kind == CmdKind::UpdateConfig) {  // numbered in queue order
      c.ticket = ++update_tickets_issued;
      if (ticket) *ticket = c.ticket;
    }
    const bool full = cmds.size() >= kMaxQueuedCommands;
    if (full && c.kind == CmdKind::UpdateConfig && cmds.back().kind == CmdKind::UpdateConfig) {
      // A configuration is never refused (its ticket would wait for another update to be
      // answered): at a full queue it takes one slot beyond the bound (below), and a later one
      // replaces it there while nothing is queued after it. Each carries the whole configuration,
      // and its answer answers every earlier ticket.
      cmds.back().cfg = std::move(c.cfg);
      cmds.back().ticket = c.ticket;
      cmds.back().audio_mark = pushed_bytes;
      wake_locked();
      return true;
    }
    if (full && c.kind != CmdKind::UpdateConfig) {
      warn = std::string("command queue full: ") + cmd_name(c.kind) + " rejected";
    } else if (c.counts_create && creates_queued + deferred_pub >= kMaxQueuedResponses) {
      warn = std::string("response queue full (") + std::to_string(kMaxQueuedResponses) +
             " response.create waiting): " + cmd_name(c.kind) + " rejected";
    } else {
      c.audio_mark = pushed_bytes;
      if (c.counts_create) {
        creates_queued++;
        resp_pending_pub.store(true);
      }
      cmds.push_back(std::move(c));
      wake_locked();
      return true;
    }
  }
  log_any(LogLevel::Warning, warn);
  return false;
}

void Session::Impl::publish_answered(uint64_t ticket) {
  uint64_t cur = updates_answered_pub.load();
  while (cur < ticket && !updates_answered_pub.compare_exchange_weak(cur, ticket)) {
  }
}

size_t Session::Impl::drop_cmds_locked(bool keep_update_config) {
  size_t n = 0;
  for (auto it = cmds.begin(); it != cmds.end();) {
    if (keep_update_config && it->kind == CmdKind::UpdateConfig) {
      ++it;
      continue;
    }
    if (it->kind == CmdKind::UpdateConfig) publish_answered(it->ticket);  // never to be sent
    if (it->counts_create && creates_queued > 0) creates_queued--;
    it = cmds.erase(it);
    n++;
  }
  return n;
}

void Session::Impl::log_any(LogLevel lvl, std::string msg) {
  std::lock_guard<std::mutex> lk(mu);
  if (pending_logs.size() < 64) pending_logs.emplace_back(lvl, std::move(msg));
  wake_locked();
}

// Network thread: the command pump
void Session::Impl::process() {
  // Lifecycle first (start/stop in call order), then logs/drops, then commands, then audio.
  for (;;) {
    LifeOp op;
    uint64_t seq = 0;
    {
      std::lock_guard<std::mutex> lk(mu);
      wake_pending = false;
      if (life.empty()) break;
      op = life.front();
      life.pop_front();
      seq = stop_seq;
    }
    if (op == LifeOp::Start) {
      do_start();
    } else {
      do_stop();
      std::lock_guard<std::mutex> lk(mu);
      stop_done = std::max(stop_done, seq);
      cv.notify_all();
    }
  }
  graveyard_.clear();
  if (!active_) return;
  report_drops_and_logs();
  run_queued();
}

void Session::Impl::run_queued() {
  for (;;) {
    Cmd c;
    {
      std::lock_guard<std::mutex> lk(mu);
      if (cmds.empty()) break;
      if (cmd_needs_ready(cmds.front()) && state_ != SessionState::Ready) break;
      c = std::move(cmds.front());
      cmds.pop_front();
    }
    if (c.counts_create) exec_deferred_base_ = deferred_.size();
    exec(c);
    if (c.counts_create) {
      // the request is now sent, deferred (deferred_) or merged / dropped (logged)
      std::lock_guard<std::mutex> lk(mu);
      exec_deferred_base_ = SIZE_MAX;
      if (creates_queued > 0) creates_queued--;
      publish_pending_locked();
    }
    if (!active_) return;
  }
  if (state_ == SessionState::Ready) pump_audio(INT64_MAX);
}

void Session::Impl::report_drops_and_logs() {
  std::vector<std::pair<int64_t, int64_t>> d;
  std::vector<std::pair<LogLevel, std::string>> logs;
  {
    std::lock_guard<std::mutex> lk(mu);
    d.swap(drops);
    logs.swap(pending_logs);
  }
  for (auto &l : logs) log(l.first, l.second);
  for (auto &x : d) {
    if (!active_) return;
    listener->on_input_dropped(x.first, x.second);
  }
}

// Commands (network thread, Ready unless UpdateConfig)

void Session::Impl::exec(Cmd &c) {
  Conn *conn = cur_.get();
  // The audio pushed before the command goes out first (not for a clear, which discards it): so
  // also before a session.update, whose answer is a barrier (docs/engine.md "Barriers").
  if (c.kind != CmdKind::Clear) pump_audio(c.audio_mark);
  switch (c.kind) {
    case CmdKind::UpdateConfig: {
      // audio formats are fixed after start(): keep ours (the chunker/timeline depend on them)
      SessionConfig n = *c.cfg;
      if (n.input_format != scfg_.input_format || n.output_format != scfg_.output_format) {
        log(LogLevel::Warning, "audio formats cannot change after start(); keeping the current ones");
        n.input_format = scfg_.input_format;
        n.output_format = scfg_.output_format;
      }
      scfg_ = n;
      cfg_ticket_ = std::max(cfg_ticket_, c.ticket);  // carried by every session.update from now on
      cfg_ticket_mark_ = c.audio_mark;
      // Not Ready: the next connection's own configuration update goes out before the input that
      // waits for Ready (re-sent or buffered); the ticket is answered after it (become_ready).
      if (state_ != SessionState::Ready && c.ticket > 0) barrier_after_resend_ = true;
      if (conn && conn->got_created) send_session_update(conn);
      if (next_ && next_->got_created) send_session_update(next_.get());
      break;
    }
    case CmdKind::Flush:
      break;
    case CmdKind::Commit: {
      std::string id = send_event(conn, "input_audio_buffer.commit", [](const std::string &eid) { return build_input_audio_commit(eid); });
      pending_commits_.sent(std::move(id), input_map_.sent());
      break;
    }
    case CmdKind::Clear: {
      // audio held for delivery proof or re-sending is part of the buffer being cleared
      int64_t n = 0;
      for (auto *q : {&unconfirmed_, &resend_})
        for (auto &o : *q) n += static_cast<int64_t>(o.data.size());
      unconfirmed_.clear();
      resend_.clear();
      held_bytes_ = 0;
      publish_held();
      stat([&](SessionStats &s) { s.input_samples_cleared += static_cast<uint64_t>(n / in_bps_net_); });
      drop_audio_to(c.audio_mark);
      send_event(conn, "input_audio_buffer.clear", [](const std::string &eid) { return build_input_audio_clear(eid); });
      break;
    }
    case CmdKind::CreateResponse:
      request_response(c.params, false);
      break;
    case CmdKind::Cancel: {
      // the queued ones would start talking again right after the cancel: drop them too
      size_t dropped = deferred_.size();
      deferred_.clear();
      if (dropped) log(LogLevel::Debug, "cancel: dropped " + std::to_string(dropped) + " queued response.create");
      send_event(conn, "response.cancel", [&](const std::string &eid) { return build_response_cancel(std::string(), eid); });
      publish_pending();
      break;
    }
    case CmdKind::SendText: {
      ItemCreate ic;
      ic.kind = ItemCreate::Kind::UserText;
      ic.text = c.text;
      Dialect d = conn->dialect;
      send_event(conn, "conversation.item.create", [&](const std::string &eid) { return build_item_create(d, ic, eid); });
      if (c.create_response) request_response(std::nullopt, false);
      break;
    }
    case CmdKind::FunctionOutput: {
      ItemCreate ic;
      ic.kind = ItemCreate::Kind::FunctionCallOutput;
      ic.call_id = c.call_id;
      ic.output = c.output_json;
      Dialect d = conn->dialect;
      send_event(conn, "conversation.item.create", [&](const std::string &eid) { return build_item_create(d, ic, eid); });
      std::string resp;
      auto u = unanswered_calls_.find(c.call_id);
      if (u != unanswered_calls_.end()) {
        resp = u->second;
        unanswered_calls_.erase(u);
      }
      bool others = false;
      for (auto &kv : unanswered_calls_)
        if (!resp.empty() && kv.second == resp) others = true;
      if (others) {
        // §13: answer every call, then ONE response.create
        if (c.create_response) want_response_after_.insert(resp);
        break;
      }
      bool want = c.create_response || want_response_after_.erase(resp) > 0;
      if (want) request_response(std::nullopt, true);
      break;
    }
    case CmdKind::Truncate: {
      // §3.8/§10.5: audio_end_ms must not exceed the item's audio: clamp to what we received.
      auto it = items_.find(c.item_id);
      if (it == items_.end()) {
        log(LogLevel::Warning, "truncate: unknown item " + c.item_id + ", ignored");
        break;
      }
      int64_t have_ms = static_cast<int64_t>(std::floor(static_cast<double>(it->second.audio_bytes) / out_bytes_per_ms()));
      int64_t end = std::min(c.audio_end_ms, have_ms);
      if (end <= 0) {
        send_event(conn, "conversation.item.delete", [&](const std::string &eid) { return build_item_delete(c.item_id, eid); });
      } else {
        if (end < c.audio_end_ms) log(LogLevel::Debug, "truncate clamped " + std::to_string(c.audio_end_ms) + " -> " + std::to_string(end) + " ms");
        send_event(conn, "conversation.item.truncate", [&](const std::string &eid) { return build_item_truncate(c.item_id, 0, end, eid); });
      }
      break;
    }
    case CmdKind::Delete:
      send_event(conn, "conversation.item.delete", [&](const std::string &eid) { return build_item_delete(c.item_id, eid); });
      break;
    case CmdKind::CloseInput:
      // the audio before the mark went out above, including a partial chunk
      xl_close_requested_ = true;
      xl_send_close();
      break;
  }
}

}  // namespace rtc
