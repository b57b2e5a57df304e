// Session engine: the response queue (one default-conversation response at a time, the rest
// deferred up to kMaxQueuedResponses) and function calls delivered at response.done. docs/engine.md.
#include "session_impl.h"

namespace rtc {

using namespace engine;

FunctionCall engine::function_call_of(const std::string &response_id, const ItemInfo &item) {
  FunctionCall fc;
  fc.response_id = response_id;
  fc.item_id = item.id;
  fc.call_id = item.call_id;
  fc.name = item.name;
  fc.arguments = item.arguments;
  return fc;
}

void Session::Impl::deliver_function_calls(const ServerEvent &ev) {
  const ResponseInfo &r = ev.response;
  auto it = fcalls_.find(r.id);
  std::vector<FunctionCall> calls;
  if (it != fcalls_.end()) {
    calls = std::move(it->second);
    fcalls_.erase(it);
  }
  // §10.6: never execute calls of a cancelled / incomplete response, or incomplete items.
  if (r.status != "completed") return;
  // response.done is authoritative (§10.6 "GUIDE-GA reads them from response.done")
  for (const ItemInfo &o : r.output) {
    if (o.type != "function_call") continue;
    if (!o.status.empty() && o.status != "completed") {
      calls.erase(std::remove_if(calls.begin(), calls.end(), [&](const FunctionCall &f) { return f.call_id == o.call_id; }),
                  calls.end());
      continue;
    }
    auto f = std::find_if(calls.begin(), calls.end(), [&](const FunctionCall &x) { return x.call_id == o.call_id; });
    if (f == calls.end()) {
      calls.push_back(function_call_of(r.id, o));
    } else {
      if (!o.name.empty()) f->name = o.name;
      if (!o.arguments.empty()) f->arguments = o.arguments;
    }
  }
  for (auto &fc : calls) unanswered_calls_[fc.call_id] = fc.response_id;
  for (auto &fc : calls) {
    if (!active_) return;
    log(LogLevel::Debug, "function call " + fc.name + " (" + fc.call_id + ")");
    listener->on_function_call(fc);
  }
}

// Responses

void Session::Impl::request_response(std::optional<ResponseParams> params, bool from_function) {
  if (params && params->conversation_none) {
    // out-of-band responses may run in parallel (§5 rule 10, §10.7)
    send_response_create(params);
    return;
  }
  if (from_function) {
    for (auto &d : deferred_)
      if (d.from_function) return;  // one response.create for all outputs (§13)
  }
  if (response_busy() || !deferred_.empty()) {
    if (deferred_.size() >= kMaxQueuedResponses) {
      log(LogLevel::Warning, "response queue full (" + std::to_string(kMaxQueuedResponses) +
                                 " response.create waiting): request dropped");
      return;
    }
    deferred_.push_back(Deferred{std::move(params), from_function});
    log(LogLevel::Debug, "response.create queued behind the active response");
    publish_pending();
    return;
  }
  send_response_create(params);
}

void Session::Impl::send_response_create(const std::optional<ResponseParams> &params) {
  if (!cur_) return;
  Dialect d = cur_->dialect;
  const ResponseParams *pp = params ? &*params : nullptr;
  std::string id = send_event(cur_.get(), "response.create", [&](const std::string &eid) { return build_response_create(d, pp, eid); });
  if (pp && pp->conversation_none) {
    oob_outstanding_++;
    return;
  }
  create_in_flight_ = true;
  create_event_id_ = id;
  if (ttfa_mark_us_ < 0) ttfa_mark_us_ = now_us();  // TTFA from response.create
  publish_pending();
}

void Session::Impl::pump_deferred() {
  while (state_ == SessionState::Ready && cur_ && !response_busy() && !deferred_.empty() &&
         !(next_ && next_->got_updated)) {
    Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    send_response_create(d.params);
  }
  // while a renewal connection is open, the switch happens first (at this boundary)
  publish_pending();
}

// Response lifecycle: response.created (the active or an out-of-band response, TTFA mark) and
// response.done (its TTFA, the counters). False: neither.
bool Session::Impl::track_response_event(Conn *c, const ServerEvent &ev, EventContext &ctx) {
  switch (ev.type) {
    case ServerEventType::ResponseCreated: {
      const std::string &id = ev.response.id;
      bool oob = ev.response.conversation_id.empty() && oob_outstanding_ > 0;
      if (oob) {
        oob_outstanding_--;
        oob_resps_.insert(id);
      } else {
        active_resp_ = id;
        create_in_flight_ = false;
        if (ttfa_mark_us_ < 0) ttfa_mark_us_ = c->last_rx_us;
      }
      publish_pending();
      break;
    }
    case ServerEventType::ResponseDone: {
      const ResponseInfo &r = ev.response;
      {
        auto t = resp_ttfa_.find(r.id.empty() ? ev.response_id : r.id);
        if (t != resp_ttfa_.end()) {
          ctx.ttfa_us = t->second;
          resp_ttfa_.erase(t);
        }
      }
      count_response_done(r);
      break;
    }
    default:
      return false;
  }
  return true;
}

void Session::Impl::count_response_done(const ResponseInfo &r) {
  stat([&](SessionStats &s) {
    if (r.status == "completed")
      s.responses_completed++;
    else if (r.status == "cancelled")
      s.responses_cancelled++;
    else if (r.status == "failed")
      s.responses_failed++;
    else if (r.status == "incomplete")
      s.responses_incomplete++;
    if (r.usage.present) {
      Usage &u = s.usage_total;
      u.present = true;
      u.total_tokens += r.usage.total_tokens;
      u.input_tokens += r.usage.input_tokens;
      u.output_tokens += r.usage.output_tokens;
      u.input_text_tokens += r.usage.input_text_tokens;
      u.input_audio_tokens += r.usage.input_audio_tokens;
      u.input_cached_tokens += r.usage.input_cached_tokens;
      u.output_text_tokens += r.usage.output_text_tokens;
      u.output_audio_tokens += r.usage.output_audio_tokens;
    }
  });
}

}  // namespace rtc
