// Session engine: received frames and the dispatch of server events (the audio fast path, the
// generic parser, state updates, listener callbacks, error events). docs/engine.md.
#include "session_impl.h"

#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rtc {

namespace detail {

ErrorClass classify_error(const ErrorInfo &e) {
  const std::string &c = e.code;
  // §8 / §1.2: auth, billing and protocol-shape errors never heal by themselves.
  static const char *const fatal_codes[] = {
      "invalid_api_key", "insufficient_quota", "beta_api_shape_disabled", "model_not_found",
      "authentication_error", "account_deactivated", "unauthorized", "permission_denied",
  };
  for (const char *f : fatal_codes)
    if (c == f) return ErrorClass::Fatal;
  if (e.type == "insufficient_quota" || e.type == "authentication_error" || e.type == "permission_error")
    return ErrorClass::Fatal;
  // Benign (§8, §3.11, §5 rule 10): races and no-ops the engine expects.
  if (c == "response_cancel_not_active" || c == "conversation_already_has_active_response" ||
      c == "input_audio_buffer_commit_empty")
    return ErrorClass::Benign;
  // Early 2025 sent the active-response error with code null (§8).
  if (c.empty() && e.message.find("already has an active response") != std::string::npos) return ErrorClass::Benign;
  // Truncate past the end: "Audio content of Xms is already shorter than Yms" (§8).
  if (e.message.find("already shorter than") != std::string::npos) return ErrorClass::Benign;
  if (c.find("truncate") != std::string::npos && c.find("audio_end_ms") != std::string::npos) return ErrorClass::Benign;
  return ErrorClass::Warning;
}

}  // namespace detail

using namespace engine;

// Receiving

// How the listener sees the next `bytes` of audio of an item (its offset in the item, for
// truncation), counted into the item.
AudioDeltaInfo Session::Impl::next_audio_info(Conn *c, const std::string &response_id, const std::string &item_id,
                                              int output_index, int content_index, size_t bytes) {
  Item &it = item(item_id);
  AudioDeltaInfo info;
  info.response_id = response_id;
  info.item_id = item_id;
  info.output_index = output_index;
  info.content_index = content_index;
  info.item_offset_bytes = it.audio_bytes;
  info.receive_time_us = c->last_rx_us;
  it.audio_bytes += static_cast<int64_t>(bytes);
  return info;
}

namespace {
// The value of "type" when it is the frame's first member (as services send it), else empty. It
// only picks the frames worth holding and the audio that the event size limit spares; how a frame
// is handled is decided by the parsers.
std::string leading_type(const char *d, size_t n) {
  const char *p = d, *end = d + std::min<size_t>(n, 256);
  auto ws = [&] {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  };
  auto lit = [&](const char *t) {
    const size_t k = strlen(t);
    if (static_cast<size_t>(end - p) < k || memcmp(p, t, k) != 0) return false;
    p += k;
    return true;
  };
  ws();
  if (!lit("{")) return {};
  ws();
  if (!lit("\"type\"")) return {};
  ws();
  if (!lit(":")) return {};
  ws();
  if (!lit("\"")) return {};
  const char *b = p;
  while (p < end && *p != '"' && *p != '\\') p++;
  if (p >= end || *p != '"') return {};
  return std::string(b, p);
}

bool is_audio_delta_name(const std::string &t) {
  return t == "response.output_audio.delta" || t == "response.audio.delta" || t == "session.output_audio.delta";
}
}  // namespace

void Session::Impl::on_frame(Conn *c, GBytes *frame) {
  flush_held_frame(c);  // an earlier large frame goes first: frames keep their order
  if (c != cur_.get() && c != next_.get()) return;  // retired meanwhile: its later frames are not ours
  gsize n = 0;
  const char *d = static_cast<const char *>(g_bytes_get_data(frame, &n));
  // Only conversation audio deltas are held (the fast path decodes them in place); any other
  // frame is handled at once, so holding never delays a decision (errors, session updates).
  bool hold = false;
  if (n >= Session::kInPlaceFrameBytes && active_) {
    const std::string t = leading_type(d, n);
    hold = t == "response.output_audio.delta" || t == "response.audio.delta";
  }
  if (!hold) {
    handle_frame(c, d, n);
    if (n >= Session::kInPlaceFrameBytes) trim_after_large_frame();
    return;
  }
  // libsoup unrefs the frame when this emission returns; from then on our reference is the only
  // one, and g_bytes_unref_to_data() takes its memory without copying it (flush_held_frame).
  c->last_rx_us = c->last_event_us = c->held_rx_us = now_us();
  c->held_frame = g_bytes_ref(frame);
  if (!held_flush_ && net::current()) held_flush_ = timer(0, &Impl::on_held_flush);
}

void Session::Impl::on_held_flush() {
  g_source_unref(held_flush_);
  held_flush_ = nullptr;
  for (Conn *c : {cur_.get(), next_.get()})
    if (c) flush_held_frame(c);
}

void Session::Impl::flush_held_frame(Conn *c) {
  if (!c || !c->held_frame) return;
  GBytes *b = c->held_frame;
  c->held_frame = nullptr;
  gsize n = 0;
  auto *data = static_cast<uint8_t *>(g_bytes_unref_to_data(b, &n));
  handle_frame(c, reinterpret_cast<const char *>(data), n, data);
  trim_after_large_frame();
}

// What handling a large frame freed (its text, JSON trees) goes back to the system instead of
// staying resident in this thread's malloc arena (glibc; at most once a second per session: it
// walks every arena of the process).
void Session::Impl::trim_after_large_frame() {
#if defined(__GLIBC__)
  const int64_t now = now_us();
  if (now - last_trim_us_ < 1000 * 1000) return;
  last_trim_us_ = now;
  malloc_trim(0);
#endif
}

// Listener memory for `max_len` decoded bytes (*handle); when the listener drops the delta,
// scratch memory (decoded anyway, to account the item's audio) and *dropped.
uint8_t *Session::Impl::alloc_listener_audio(size_t max_len, void **handle, bool *dropped) {
  uint8_t *m = listener->alloc_audio(max_len, handle);
  if (!m) {
    *dropped = true;
    *handle = nullptr;
    drop_scratch_.resize(max_len);
    m = drop_scratch_.data();
  }
  return m;
}

// A large frame's audio, decoded in place at `at` in *block: moved to the block's start and the
// rest given back (g_realloc shrinks a large block with mremap), so the block is just the audio;
// the listener takes it as it is. If it declines, the audio is copied into its memory.
void *Session::Impl::adopt_in_place(std::unique_ptr<uint8_t, void (*)(gpointer)> *block, size_t at, size_t n,
                                    bool *dropped) {
  uint8_t *b = block->release();
  memmove(b, b + at, n);
  b = static_cast<uint8_t *>(g_realloc(b, std::max<size_t>(n, 1)));
  block->reset(b);
  if (void *h = listener->adopt_audio(b, n)) {
    block->release();
    return h;
  }
  void *h = nullptr;
  memcpy(alloc_listener_audio(n, &h, dropped), b, n);
  return h;
}

void Session::Impl::handle_frame(Conn *c, const char *data, size_t len, uint8_t *owned) {
  // `owned` is freed on return unless a listener adopted it (the audio decoded in place).
  std::unique_ptr<uint8_t, void (*)(gpointer)> block(owned, g_free);
  const int64_t now = now_us();
  c->last_event_us = now;
  // A held frame's audio is stamped with when it came (AudioDeltaInfo::receive_time_us), not when
  // it was handled; the transport's liveness keeps the latest time.
  struct RxTime {
    Conn *c;
    int64_t keep;
    ~RxTime() { c->last_rx_us = std::max(c->last_rx_us, keep); }
  } rx{c, std::max(c->last_rx_us, now)};
  c->last_rx_us = owned ? c->held_rx_us : now;
  if (!active_) return;
  stat([](SessionStats &s) { s.events_in++; });

  // Hot path (§4 response.(output_)audio.delta): decode straight into listener memory, or into
  // the frame's own memory when the engine owns it.
  AudioDeltaHeader hdr;
  void *handle = nullptr;
  bool dropped = false;
  std::string perr;
  size_t in_place_at = SIZE_MAX;  // where the audio was decoded in `block`
  FastParseStatus fs = parse_audio_delta_fast_at(
      data, len, &hdr,
      [&](size_t max_len, const char *b64) -> uint8_t * {
        if (block && b64) {  // decoded over its own text (the engine owns the frame)
          in_place_at = static_cast<size_t>(b64 - data);
          return block.get() + in_place_at;
        }
        return alloc_listener_audio(max_len, &handle, &dropped);
      },
      &perr);
  if (fs == FastParseStatus::Ok && in_place_at != SIZE_MAX) handle = adopt_in_place(&block, in_place_at, hdr.audio_len, &dropped);
  if (fs == FastParseStatus::Ok) {
    if (c != cur_.get()) {  // a renewal connection never has responses; be safe
      if (handle) listener->free_audio(handle);
      return;
    }
    AudioDeltaInfo info =
        next_audio_info(c, hdr.response_id, hdr.item_id, hdr.output_index, hdr.content_index, hdr.audio_len);
    double ms = hdr.audio_len / out_bytes_per_ms();
    if (hdr.response_id != last_audio_resp_ && ttfa_mark_us_ >= 0) {
      if (resp_ttfa_.size() >= kMaxRespTtfa) resp_ttfa_.clear();  // responses that never ended
      resp_ttfa_.emplace(hdr.response_id, c->last_rx_us - ttfa_mark_us_);
    }
    stat([&](SessionStats &s) {
      s.audio_bytes_received += hdr.audio_len;
      s.audio_ms_received += ms;
      if (hdr.response_id != last_audio_resp_ && ttfa_mark_us_ >= 0) {
        int64_t v = c->last_rx_us - ttfa_mark_us_;
        s.ttfa.last_us = v;
        s.ttfa.max_us = std::max(s.ttfa.max_us, v);
        s.ttfa.count++;
        s.ttfa.mean_us += (static_cast<double>(v) - s.ttfa.mean_us) / static_cast<double>(s.ttfa.count);
      }
    });
    if (hdr.response_id != last_audio_resp_) {
      last_audio_resp_ = hdr.response_id;
      ttfa_mark_us_ = -1;
    }
    if (!dropped) listener->on_audio(handle, hdr.audio_len, info);
    return;
  }
  if (fs == FastParseStatus::Error) {
    if (handle) listener->free_audio(handle);
    stat([](SessionStats &s) { s.parse_errors++; });
    log(LogLevel::Warning, "invalid audio delta (" + std::to_string(len) + " bytes): " + perr);
    return;
  }
  if (len > Session::kMaxEventBytes && !is_audio_delta_name(leading_type(data, len))) {
    stat([](SessionStats &s) { s.parse_errors++; });
    std::string msg = "server event of " + std::to_string(len) + " bytes refused (non-audio events are limited to " +
                      std::to_string(Session::kMaxEventBytes) + " bytes)";
    log(LogLevel::Warning, msg);
    SessionError e;
    e.cls = ErrorClass::Warning;
    e.code = "event_too_large";
    e.message = msg;
    emit_error(e);
    return;
  }
  ParsedServerEvent p = parse_server_event(data, len);
  if (!p.ok) {
    stat([](SessionStats &s) { s.parse_errors++; });
    log(LogLevel::Warning, "unparsable server event (" + std::to_string(len) + " bytes): " + p.error);
    SessionError e;
    e.cls = ErrorClass::Warning;
    e.code = "parse_error";
    e.message = p.error;
    emit_error(e);
    return;
  }
  if (p.event.type == ServerEventType::AudioDelta) {
    // Contract says the fast path handles these; keep a correct fallback anyway.
    void *h = nullptr;
    uint8_t *m = listener->alloc_audio(p.event.audio.size(), &h);
    if (m) {
      memcpy(m, p.event.audio.data(), p.event.audio.size());
      AudioDeltaInfo info = next_audio_info(c, p.event.response_id, p.event.item_id, p.event.output_index,
                                            p.event.content_index, p.event.audio.size());
      listener->on_audio(h, p.event.audio.size(), info);
    }
    return;
  }
  if (p.event.type == ServerEventType::TranslationOutputAudioDelta) {
    xl_on_audio(c, p.event);
    return;
  }
  handle_event(c, p.event);
  if (answered_due_ > 0) {
    publish_answered(answered_due_);
    answered_due_ = 0;
  }
}

void Session::Impl::handle_event(Conn *c, const ServerEvent &ev) {
  EventContext ctx;
  ctx.generation = generation_;
  if (c != cur_.get()) {
    // renewal connection: only its configuration handshake matters
    if (ev.type == ServerEventType::SessionCreated)
      on_session_created(c, ev);
    else if (ev.type == ServerEventType::SessionUpdated)
      on_session_updated(c, ev);
    else if (ev.type == ServerEventType::Error)
      handle_error_event(c, ev);
    return;
  }
  switch (ev.type) {
    case ServerEventType::SessionCreated:
      on_session_created(c, ev);
      ctx.generation = generation_;
      break;
    case ServerEventType::SessionUpdated:
      on_session_updated(c, ev);
      break;
    case ServerEventType::Error:
      handle_error_event(c, ev);  // may retire `c` (fatal / expired); the event is still delivered
      break;
    case ServerEventType::RateLimitsUpdated:
      stat([&](SessionStats &s) { s.rate_limits = ev.rate_limits; });
      break;
    default:
      // each event type is tracked by (at most) one of these, before the listener sees it
      if (!track_input_event(c, ev, ctx) && !track_conversation_event(ev, ctx)) track_response_event(c, ev, ctx);
      break;
  }
  if (!active_) return;
  listener->on_server_event(ev, ctx);
  if (!active_) return;
  after_event(ev);
}

// After the listener saw `ev`: what the event allows next (function calls, the next queued
// response, a renewal switch, queued commands waiting for Ready).
void Session::Impl::after_event(const ServerEvent &ev) {
  if (ev.type == ServerEventType::ResponseDone) {
    const std::string &id = ev.response.id;
    deliver_function_calls(ev);
    if (!active_) return;
    if (oob_resps_.erase(id) == 0 && id == active_resp_) {
      active_resp_.clear();
      create_in_flight_ = false;
    }
    publish_pending();
    pump_deferred();
    maybe_switch();
    maybe_start_renewal();
  } else if (ev.type == ServerEventType::SessionClosed && xl()) {
    xl_on_closed();
  } else if (ev.type == ServerEventType::SessionUpdated && state_ == SessionState::Ready) {
    // queued commands may have been waiting for Ready
    std::lock_guard<std::mutex> lk(mu);
    wake_locked();
}
}

// Input events: server times (§6) mapped to caller input samples (EventContext), the input
// buffer's start after a commit or a clear. False: not an input event.
bool Session::Impl::track_input_event(Conn *c, const ServerEvent &ev, EventContext &ctx) {
  switch (ev.type) {
    case ServerEventType::TranslationInputTranscriptDelta:
    case ServerEventType::TranslationOutputTranscriptDelta:
      // elapsed_ms on the caller's input timeline (docs/protocol.md §15), across reconnects
      if (ev.elapsed_ms >= 0) ctx.input_start_sample = elapsed_pos(ev.elapsed_ms);
      ctx.input_sent_samples = input_map_.to_caller(input_map_.sent());
      break;
    case ServerEventType::SpeechStarted: {
      int64_t s = server_pos("audio_start_ms", ev.audio_start_ms);
      if (!ev.item_id.empty()) item(ev.item_id).span_start = s;
      ctx.input_start_sample = s;
      break;
    }
    case ServerEventType::SpeechStopped: {
      int64_t e = server_pos("audio_end_ms", ev.audio_end_ms);
      if (!ev.item_id.empty()) {
        Item &x = item(ev.item_id);
        x.span_end = e;
        ctx.input_start_sample = x.span_start;
      }
      ctx.input_end_sample = e;
      ttfa_mark_us_ = c->last_rx_us;  // TTFA from speech_stopped
      break;
    }
    case ServerEventType::TimeoutTriggered:
      ctx.input_start_sample = server_pos("audio_start_ms", ev.audio_start_ms);
      ctx.input_end_sample = server_pos("audio_end_ms", ev.audio_end_ms);
      if (!ev.item_id.empty()) {
        Item &x = item(ev.item_id);
        x.span_start = ctx.input_start_sample;
        x.span_end = ctx.input_end_sample;
      }
      ttfa_mark_us_ = c->last_rx_us;
      break;
    case ServerEventType::InputBufferCommitted: {
      Item &x = item(ev.item_id);
      const int64_t end_sess = pending_commits_.committed();  // our manual commit (§10.4), or -1
      if (x.span_start < 0) x.span_start = input_map_.to_caller(buffer_start_sess_);
      if (x.span_end < 0) x.span_end = input_map_.to_caller(end_sess >= 0 ? end_sess : input_map_.sent());
      // the next buffer starts after what this commit consumed
      if (end_sess >= 0)
        buffer_start_sess_ = end_sess;
      else
        buffer_start_sess_ = input_map_.sent();
      item_in_order(ev.item_id, ev.previous_item_id);
      ctx.input_start_sample = x.span_start;
      ctx.input_end_sample = x.span_end;
      break;
    }
    case ServerEventType::InputBufferCleared:
      buffer_start_sess_ = input_map_.sent();
      break;
    case ServerEventType::InputTranscriptionDelta:
    case ServerEventType::InputTranscriptionFailed:
    case ServerEventType::InputTranscriptionSegment:
    case ServerEventType::InputTranscriptionCompleted: {
      // §5 rule 8: asynchronous, correlated by item_id only (the item may even be unknown yet)
      Item &x = item(ev.item_id);
      if (ev.type == ServerEventType::InputTranscriptionCompleted) {
        set_item_text(x, ev.text);
      }
      ctx.input_start_sample = x.span_start;
      ctx.input_end_sample = x.span_end;
      if (x.span_start < 0 && ecfg_.endpoint.kind == SessionKind::Transcription) {
        // transcription hook: a streaming model's text before the commit (session_transcription.h)
        detail::Span sp = detail::uncommitted_span(input_map_.to_caller(buffer_start_sess_),
                                                   input_map_.to_caller(input_map_.sent()));
        ctx.input_start_sample = sp.start;
        ctx.input_end_sample = sp.end;
      }
      break;
    }
    default:
      return false;
  }
  return true;
}

void Session::Impl::handle_error_event(Conn *c, const ServerEvent &ev) {
  const ErrorInfo &ei = ev.error;
  SessionError e;
  e.cls = detail::classify_error(ei);
  e.code = ei.code.empty() ? ei.type : ei.code;
  e.message = redact(ei.message, secrets_);
  e.param = ei.param;
  e.client_event_id = ei.event_id;
  e.client_event_type = evtypes_.get(ei.event_id);
  stat([](SessionStats &s) { s.server_errors++; });

  // bookkeeping for the client event that failed
  bool repeated = false;  // the barrier's update, rejected as this connection's own was: reported
  if (!ei.event_id.empty()) {
    auto u = c->update_marks.find(ei.event_id);
    if (u != c->update_marks.end()) {
      // After a reconnection the configuration goes out twice (the connection's own update, then
      // the barrier's after the re-sent input: docs/engine.md "Barriers"). Every update sent on a
      // connection carries the newest configuration and is answered in order, so the barrier's
      // repeats the one answered just before it: one rejection to report. A caller's own
      // update_config() is always reported.
      std::string key = e.code + '\n' + ei.message + '\n' + ei.param;
      repeated = u->second.barrier && key == c->reported_rejection;
      c->reported_rejection = std::move(key);
    }
    ack_update(c, ei.event_id);  // a rejected session.update is answered too
    if (c == cur_.get() && replay_ids_.erase(ei.event_id) && replay_echoes_left_ > 0 && --replay_echoes_left_ == 0) {
      // a rejected replay item gets no echo (and would be rejected again)
      replay_.clear();
      replay_ids_.clear();
    }
    if (ei.event_id == create_event_id_ && create_in_flight_) {
      create_in_flight_ = false;  // no response.created will come for it (§5 rule 10)
      publish_pending();
    }
    pending_commits_.rejected(ei.event_id, e.client_event_type == "input_audio_buffer.commit");
  }
  std::string what = "server error " + e.code + (e.client_event_type.empty() ? "" : " (for " + e.client_event_type + ")") +
                     ": " + e.message;
  if (ei.code == "session_expired") {
    // §1.5: max duration reached; the server closes (1001). Reconnect now with a new session.
    log(LogLevel::Info, what);
    conn_lost(c, "session_expired", -1);
    return;
  }
  if (c != cur_.get()) {
    // renewal connection: a fatal error there is fatal for us too (same credentials/endpoint)
    if (e.cls == ErrorClass::Fatal) {
      fail(e);
      return;
    }
    log(LogLevel::Warning, "renewal: " + what);
    return;
  }
  switch (e.cls) {
    case ErrorClass::Fatal:
      fail(e);
      return;
    case ErrorClass::Benign:
      log(LogLevel::Debug, "benign " + what);
      break;
    case ErrorClass::Warning:
      if (repeated) {
        log(LogLevel::Debug, what + " (the same configuration, rejected again: reported once)");
        break;
      }
      log(LogLevel::Warning, what);
      emit_error(e);
      break;
  }
  // A failed initial session.update never gets session.updated: continue with what the server
  // has rather than waiting forever (the warning above tells the owner).
  if (!ei.event_id.empty() && ei.event_id == c->update_event_id && !c->got_updated && c == cur_.get()) {
    c->got_updated = true;
    become_ready();
  }
  pump_deferred();
}

}  // namespace rtc
