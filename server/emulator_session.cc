// realtime-emulator: the per-connection Realtime session.
//
// Every server event is built here with json-glib (json_util.h), following the shapes of §4 and
// the orders of §5 / §10 of the protocol reference, for both dialects (§7).
#include "emulator_session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "protocol.h"  // rtc::base64_decode / rtc::base64_encode_append (strict, shared)

namespace emu {

// -------------------------------------------------------------------------------------------
// Response bookkeeping
// -------------------------------------------------------------------------------------------

// §2.6 response.create parameters (per-response overrides).
struct EmulatorSession::ResponseParams {
  std::optional<std::vector<std::string>> modalities;
  std::optional<std::string> instructions, voice;
  std::optional<Fmt> out_fmt;
  NodePtr tools, tool_choice;  // empty = not given
  std::optional<double> temperature;
  bool has_max = false;
  std::optional<int64_t> max_tokens;
  bool conversation_none = false;
  NodePtr metadata;
  bool has_input = false;
  std::vector<ItemPtr> input;
};

struct EmulatorSession::OutItem {
  ItemPtr item;
  std::string text;            // message: full text (transcript); function_call: arguments
  std::vector<uint8_t> audio;  // message with audio modality: full audio
  bool audio_mod = false;
  bool added = false, done = false;
  size_t audio_sent = 0;
  std::string text_sent;
  std::optional<std::string> prev_id;
};

struct EmulatorSession::Step {
  enum class K { Add, TextDelta, AudioDelta, ArgsDelta, Finish, Done };
  int64_t due_us = 0;
  K k = K::Add;
  size_t idx = 0;
  std::string text;
  size_t off = 0, len = 0;
};

struct EmulatorSession::Response {
  std::string id;
  std::optional<std::string> client_event_id;
  bool oob = false;
  std::vector<std::string> modalities;
  std::string voice;
  Fmt fmt = Fmt::PCM16;
  std::optional<int64_t> max_tokens;
  double temperature = 0.8;
  NodePtr metadata;
  std::vector<OutItem> items;
  std::deque<Step> steps;
  int64_t start_us = 0;
  guint timer = 0;
  std::string status = "in_progress";
  std::string reason;  // status_details.reason when cancelled / incomplete
  bool cut_by_max_tokens = false;
  int64_t in_text_tokens = 0, in_audio_tokens = 0;
};

namespace {

int64_t count_words(const std::string &s) {
  int64_t n = 0;
  bool in = false;
  for (unsigned char c : s) {
    const bool sp = g_ascii_isspace(c);
    if (!sp && !in) n++;
    in = !sp;
  }
  return n;
}

// Splits text into word deltas that concatenate back to the text ("Hello", " world", "!").
std::vector<std::string> word_deltas(const std::string &s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size(); i++) {
    const unsigned char c = s[i];
    if (g_ascii_isspace(c) && !cur.empty() && !g_ascii_isspace(static_cast<unsigned char>(cur.back()))) {
      out.push_back(cur);
      cur.clear();
    }
    cur.push_back(char(c));
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string b64(const uint8_t *d, size_t n) {
  std::string out;
  rtc::base64_encode_append(out, d, n);
  return out;
}

bool strict_b64_decode(const std::string &s, std::vector<uint8_t> *out) {
  out->resize(rtc::base64_decoded_max(s.size()));
  size_t n = 0;
  if (!rtc::base64_decode(s.data(), s.size(), out->data(), &n)) return false;
  out->resize(n);
  return true;
}

// Keeps the first `max_words` words of s.
std::string first_words(const std::string &s, int64_t max_words) {
  int64_t n = 0;
  bool in = false;
  for (size_t i = 0; i < s.size(); i++) {
    const bool sp = g_ascii_isspace(static_cast<unsigned char>(s[i]));
    if (!sp && !in) {
      if (n == max_words) return s.substr(0, i > 0 ? i - 1 : 0);
      n++;
    }
    in = !sp;
  }
  return s;
}

const std::vector<std::string> kClientEvents = {
    "session.update",          "transcription_session.update", "input_audio_buffer.append",
    "input_audio_buffer.commit", "input_audio_buffer.clear",  "conversation.item.create",
    "conversation.item.retrieve", "conversation.item.truncate", "conversation.item.delete",
    "response.create",         "response.cancel",             "output_audio_buffer.clear"};

}  // namespace

// -------------------------------------------------------------------------------------------
// Construction, plumbing, faults
// -------------------------------------------------------------------------------------------

EmulatorSession::EmulatorSession(ServerContext &ctx, SoupWebsocketConnection *conn, GSocket *socket,
                                 const ConnectInfo &info, std::function<void(EmulatorSession *)> on_gone)
    : ctx_(ctx),
      opts_(ctx.opts),
      conn_(SOUP_WEBSOCKET_CONNECTION(g_object_ref(conn))),
      socket_(socket ? G_SOCKET(g_object_ref(socket)) : nullptr),
      info_(info),
      on_gone_(std::move(on_gone)) {
  rng_ = (uint64_t(g_random_int()) << 32) ^ g_random_int() ^ uint64_t(g_get_monotonic_time());
  if (!rng_) rng_ = 0x9E3779B97F4A7C15ull;
  id_ = new_id("sess_", 20);
  conversation_id_ = new_id("conv_", 20);
}

EmulatorSession::~EmulatorSession() {
  for (guint id : sources_) g_source_remove(id);
  sources_.clear();
  if (delay_timer_) g_source_remove(delay_timer_);
  if (msg_handler_) g_signal_handler_disconnect(conn_, msg_handler_);
  if (closed_handler_) g_signal_handler_disconnect(conn_, closed_handler_);
  if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, nullptr);
  g_object_unref(conn_);
  if (socket_) g_object_unref(socket_);
}

std::string EmulatorSession::new_id(const char *prefix, int n) {
  static const char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(prefix);
  for (int i = 0; i < n; i++) {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    s.push_back(kAlnum[rng_ % 62]);
  }
  return s;
}

guint EmulatorSession::schedule(int ms, std::function<void()> fn) {
  struct Cb {
    EmulatorSession *s;
    std::function<void()> fn;
    guint id;
  };
  auto *cb = new Cb{this, std::move(fn), 0};
  const guint id = g_timeout_add_full(
      G_PRIORITY_DEFAULT, guint(std::max(ms, 0)),
      [](gpointer d) -> gboolean {
        auto *c = static_cast<Cb *>(d);
        c->s->sources_.erase(c->id);
        c->fn();
        return G_SOURCE_REMOVE;
      },
      cb, [](gpointer d) { delete static_cast<Cb *>(d); });
  cb->id = id;
  sources_.insert(id);
  return id;
}

void EmulatorSession::cancel_source(guint &id) {
  if (id && sources_.erase(id)) g_source_remove(id);
  id = 0;
}

void EmulatorSession::start() {
  msg_handler_ = g_signal_connect(conn_, "message", G_CALLBACK(on_message_cb), this);
  closed_handler_ = g_signal_connect(conn_, "closed", G_CALLBACK(on_closed_cb), this);
  // Appends may be up to 15 MiB of base64 (§1.5).
  soup_websocket_connection_set_max_incoming_payload_size(conn_, 32 * 1024 * 1024);
  soup_websocket_connection_set_keepalive_interval(conn_, 0);

  created_at_ = g_get_real_time() / G_USEC_PER_SEC;
  // §1.5: OpenAI GA 60 min; OpenAI beta and Azure 30 min.
  const int64_t max_s = opts_.session_max_s >= 0 ? opts_.session_max_s
                                                   : (info_.dialect == Dialect::GA && !info_.azure ? 3600 : 1800);
  expires_at_ = created_at_ + max_s;
  cfg_ = SessionConfig::defaults(info_.dialect, info_.model, info_.transcription);
  configure_vad();

  ctx_.log.conn(id_, "\"what\":\"open\",\"path\":" + node_to_string(Obj().str("p", info_.path).release_node()) +
                         ",\"dialect\":\"" + (info_.dialect == Dialect::GA ? "ga" : "preview") + "\",\"azure\":" +
                         (info_.azure ? "true" : "false"));

  // §1.2: beta shape on GA-only models -> beta_api_shape_disabled + close 4000 (opt-in).
  if (info_.beta_header_on_ga_model && opts_.reject_beta_on_ga) {
    send_error({"invalid_request_error", "beta_api_shape_disabled",
                "The beta Realtime API shape is disabled for this model. Remove the 'OpenAI-Beta: realtime=v1' "
                "header to use the GA interface.",
                std::nullopt},
               std::nullopt);
    soup_websocket_connection_close(conn_, 4000, "beta_api_shape_disabled");
    return;
  }

  // §5 rule 1, §10.1
  Obj created = ev("session.created");
  created.node("session", render_session(cfg_, info_.dialect, id_, expires_at_));
  send(std::move(created));
  if (info_.dialect == Dialect::Preview && !info_.transcription) {
    Obj conv = ev("conversation.created");
    conv.obj("conversation", std::move(Obj().str("id", conversation_id_).str("object", "realtime.conversation")));
    send(std::move(conv));
  }

  // §1.5: session expiry -> error session_expired, close 1001.
  if (max_s < int64_t(G_MAXINT / 1000)) {
    schedule(int(max_s * 1000), [this, max_s]() {
      const std::string dur = (max_s % 60 == 0 && max_s > 0) ? std::to_string(max_s / 60) + " minutes"
                                                              : std::to_string(max_s) + " seconds";
      send_error({"invalid_request_error", "session_expired", "Your session hit the maximum duration of " + dur + ".",
                  std::nullopt},
                 std::nullopt);
      if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "session expired");
    });
  }
}

void EmulatorSession::shutdown() {
  if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "server shutting down");
}

void EmulatorSession::on_message_cb(SoupWebsocketConnection *, gint type, GBytes *msg, gpointer self) {
  auto *s = static_cast<EmulatorSession *>(self);
  gsize len = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(msg, &len));
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    // §1.5: every event is one JSON object in one text frame.
    s->ctx_.log.raw(s->id_, "in", "<binary frame of " + std::to_string(len) + " bytes>");
    s->send_error({"invalid_request_error", "invalid_event", "Binary frames are not supported; send JSON text frames.",
                   std::nullopt},
                  std::nullopt);
    return;
  }
  s->on_message(data ? data : "", len);
}

void EmulatorSession::on_closed_cb(SoupWebsocketConnection *, gpointer self) {
  static_cast<EmulatorSession *>(self)->on_closed();
}

void EmulatorSession::on_closed() {
  if (closed_ && !on_gone_) return;
  closed_ = true;
  ctx_.log.conn(id_, "\"what\":\"closed\",\"code\":" +
                         std::to_string(soup_websocket_connection_get_close_code(conn_)));
  for (guint id : sources_) g_source_remove(id);
  sources_.clear();
  for (auto &r : responses_) r->timer = 0;
  if (delay_timer_) {
    g_source_remove(delay_timer_);
    delay_timer_ = 0;
  }
  auto gone = std::move(on_gone_);
  on_gone_ = nullptr;
  if (gone) gone(this);
}

Obj EmulatorSession::ev(const char *type) {
  Obj o;
  o.str("type", type).str("event_id", new_id("event_", 21));
  return o;
}

void EmulatorSession::send(Obj &&o) { send_text(o.to_string()); }

void EmulatorSession::send_text(const std::string &text) {
  if (closed_) return;
  if (info_.faults && opts_.fault_delay_ms > 0) {
    // --fault-delay-ms: every event leaves D ms late, order preserved.
    delayed_.push_back({g_get_monotonic_time() + int64_t(opts_.fault_delay_ms) * 1000, text});
    if (!delay_timer_) flush_delayed();
    return;
  }
  transmit(text);
}

void EmulatorSession::flush_delayed() {
  delay_timer_ = 0;
  const int64_t now = g_get_monotonic_time();
  while (!delayed_.empty() && delayed_.front().due_us <= now && !closed_) {
    std::string t = std::move(delayed_.front().text);
    delayed_.pop_front();
    transmit(t);
  }
  if (!delayed_.empty() && !closed_) {
    const int64_t wait_ms = std::max<int64_t>(0, (delayed_.front().due_us - now + 999) / 1000);
    delay_timer_ = g_timeout_add(
        guint(wait_ms),
        [](gpointer d) -> gboolean {
          static_cast<EmulatorSession *>(d)->flush_delayed();
          return G_SOURCE_REMOVE;
        },
        this);
  }
}

void EmulatorSession::transmit(const std::string &text) {
  if (closed_ || soup_websocket_connection_get_state(conn_) != SOUP_WEBSOCKET_STATE_OPEN) return;
  // Logged before it is handed to libsoup, which may write it at once: a client that has seen
  // an event can rely on its line being in the log already.
  ctx_.log.event(id_, "out", text);
  soup_websocket_connection_send_text(conn_, text.c_str());
  sent_++;
  after_transmit();
}

void EmulatorSession::after_transmit() {
  if (!info_.faults || in_fault_) return;
  in_fault_ = true;
  for (const auto &f : opts_.fault_errors) {
    if (f.after != sent_) continue;
    // --fault-error-after N:CODE
    Obj e = ev("error");
    e.obj("error", std::move(Obj()
                                 .str("type", f.code == "server_error" ? "server_error" : "invalid_request_error")
                                 .str("code", f.code)
                                 .str("message", "Injected fault: " + f.code + ".")
                                 .null("param")
                                 .null("event_id")));
    transmit(e.to_string());
    if (f.code == "session_expired" && soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "session expired");
    if (f.code == "beta_api_shape_disabled" &&
        soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(conn_, 4000, "beta_api_shape_disabled");
  }
  if (opts_.fault_malformed_after == sent_ &&
      soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN) {
    // --fault-malformed-after N: a text frame that is not valid JSON (truncated event).
    const std::string bad = "{\"type\":\"response.audio.delta\",\"event_id\":\"event_malformed\",\"delta\":\"AAAA";
    ctx_.log.raw(id_, "out", bad);
    soup_websocket_connection_send_text(conn_, bad.c_str());
  }
  if (opts_.fault_close_after == sent_) fault_close();
  in_fault_ = false;
}

void EmulatorSession::fault_close() {
  // Stop producing anything else.
  for (auto &r : responses_) cancel_source(r->timer);
  if (opts_.fault_close_abrupt) {
    // Drop the TCP connection without a close frame.
    ctx_.log.conn(id_, "\"what\":\"abrupt_close\"");
    if (socket_) {
      g_socket_shutdown(socket_, TRUE, TRUE, nullptr);
    } else {
      g_io_stream_close(soup_websocket_connection_get_io_stream(conn_), nullptr, nullptr);
    }
    closed_ = true;
    return;
  }
  if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(conn_, gushort(opts_.fault_close_code), "fault injection");
}

// §8: error events carry the client's event_id when the error is caused by a client event.
void EmulatorSession::send_error(const ApiError &e, const std::optional<std::string> &client_event_id) {
  Obj o = ev("error");
  Obj err;
  err.str("type", e.type);
  if (e.code.empty())
    err.null("code");
  else
    err.str("code", e.code);
  err.str("message", e.message).str_or_null("param", e.param).str_or_null("event_id", client_event_id);
  o.obj("error", std::move(err));
  send(std::move(o));
}

// -------------------------------------------------------------------------------------------
// Client event dispatch (§3)
// -------------------------------------------------------------------------------------------

void EmulatorSession::on_message(const char *data, size_t len) {
  if (closed_) return;
  std::string perr;
  JsonNode *root = parse_json(data, gssize(len), &perr);
  if (!root) {
    ctx_.log.raw(id_, "in", std::string(data, len));
    send_error({"invalid_request_error", "invalid_event",
                "We could not parse the JSON body of your request. (" + perr + ")", std::nullopt},
               std::nullopt);
    return;
  }
  // Log the compact form (one line per event).
  if (memchr(data, '\n', len))
    ctx_.log.event(id_, "in", node_to_string(root));
  else
    ctx_.log.event(id_, "in", std::string(data, len));

  if (!is_object(root)) {
    send_error({"invalid_request_error", "invalid_event", "The event must be a JSON object.", std::nullopt},
               std::nullopt);
    json_node_unref(root);
    return;
  }
  JsonObject *o = json_node_get_object(root);
  std::optional<std::string> eid;
  if (JsonNode *e = member(o, "event_id")) {
    if (!is_string(e)) {
      send_error(err_type("event_id", "a string", e), std::nullopt);
      json_node_unref(root);
      return;
    }
    eid = string_of(e);
    if (eid->size() > 512) {  // §1.5 maxLength 512
      send_error(err_value("event_id", "Invalid 'event_id': string too long. Expected a string with maximum length "
                                       "512, but got a string with length " +
                                           std::to_string(eid->size()) + " instead."),
                 std::nullopt);
      json_node_unref(root);
      return;
    }
  }
  JsonNode *tn = member(o, "type");
  if (!tn) {
    send_error({"invalid_request_error", "invalid_event", "The 'type' field is missing.", std::nullopt}, eid);
    json_node_unref(root);
    return;
  }
  if (!is_string(tn)) {
    send_error(err_type("type", "a string", tn), eid);
    json_node_unref(root);
    return;
  }
  const std::string type = string_of(tn);
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kKeys = {
      {"session.update", {"type", "event_id", "session"}},
      {"transcription_session.update", {"type", "event_id", "session"}},
      {"input_audio_buffer.append", {"type", "event_id", "audio"}},
      {"input_audio_buffer.commit", {"type", "event_id"}},
      {"input_audio_buffer.clear", {"type", "event_id"}},
      {"conversation.item.create", {"type", "event_id", "previous_item_id", "item"}},
      {"conversation.item.retrieve", {"type", "event_id", "item_id"}},
      {"conversation.item.truncate", {"type", "event_id", "item_id", "content_index", "audio_end_ms"}},
      {"conversation.item.delete", {"type", "event_id", "item_id"}},
      {"response.create", {"type", "event_id", "response"}},
      {"response.cancel", {"type", "event_id", "response_id"}},
      {"output_audio_buffer.clear", {"type", "event_id"}},
  };
  const std::vector<std::string> *keys = nullptr;
  for (const auto &k : kKeys)
    if (k.first == type) keys = &k.second;
  // GA has no transcription_session.update (§7.1).
  if (!keys || (type == "transcription_session.update" && info_.dialect == Dialect::GA)) {
    std::vector<std::string> allowed;
    for (const auto &k : kClientEvents)
      if (!(k == "transcription_session.update" && info_.dialect == Dialect::GA)) allowed.push_back(k);
    send_error(err_enum("type", type, allowed), eid);  // §8 invalid_value for unknown event types
    json_node_unref(root);
    return;
  }
  if (auto e = check_known(o, *keys, "")) {
    send_error(*e, eid);
    json_node_unref(root);
    return;
  }

  if (type == "session.update")
    handle_session_update(o, eid, false);
  else if (type == "transcription_session.update")
    handle_session_update(o, eid, true);
  else if (type == "input_audio_buffer.append")
    handle_append(o, eid);
  else if (type == "input_audio_buffer.commit")
    handle_commit(eid);
  else if (type == "input_audio_buffer.clear")
    handle_clear(eid);
  else if (type == "conversation.item.create")
    handle_item_create(o, eid);
  else if (type == "conversation.item.retrieve")
    handle_item_retrieve(o, eid);
  else if (type == "conversation.item.truncate")
    handle_item_truncate(o, eid);
  else if (type == "conversation.item.delete")
    handle_item_delete(o, eid);
  else if (type == "response.create")
    handle_response_create(o, eid);
  else if (type == "response.cancel")
    handle_response_cancel(o, eid);
  else if (type == "output_audio_buffer.clear")
    // §3.12: WebRTC/SIP only.
    send_error(err_value("type", "output_audio_buffer.clear is only supported for WebRTC and SIP connections."),
               eid);
  json_node_unref(root);
}

// §3.1 / §3.2
void EmulatorSession::handle_session_update(JsonObject *o, const std::optional<std::string> &eid,
                                            bool transcription_event) {
  JsonNode *sn = member(o, "session");
  SessionConfig next = cfg_;
  ValidationContext vc{info_.dialect, info_.azure, audio_produced_};
  if (transcription_event) {
    if (is_object(sn)) {
      if (auto e = check_known(json_node_get_object(sn),
                               {"input_audio_format", "input_audio_transcription", "turn_detection",
                                "input_audio_noise_reduction", "include", "modalities", "client_secret"},
                               "session.")) {
        send_error(*e, eid);
        return;
      }
    }
    next.transcription_session = true;
  }
  if (auto e = apply_session_update(next, sn, vc)) {
    send_error(*e, eid);  // the session keeps its previous config
    return;
  }
  cfg_ = next;
  if (transcription_event) info_.transcription = true;
  configure_vad();  // threshold / padding / silence / input format may have changed
  Obj u = ev(transcription_event ? "transcription_session.updated" : "session.updated");
  u.node("session", render_session(cfg_, info_.dialect, id_, expires_at_));
  send(std::move(u));
}

// -------------------------------------------------------------------------------------------
// Input audio buffer (§3.3-3.5), VAD (§2.3), timeline (§6)
// -------------------------------------------------------------------------------------------

void EmulatorSession::configure_vad() {
  const TurnDetection &td = cfg_.turn_detection;
  Vad::Params p;
  p.threshold = td.effective_threshold();
  p.prefix_padding_ms = td.effective_prefix_ms();
  p.silence_duration_ms = td.effective_silence_ms();
  vad_.configure(p, fmt_rate(cfg_.input_format), timeline_ticks_);
  speech_item_id_.clear();
}

void EmulatorSession::handle_append(JsonObject *o, const std::optional<std::string> &eid) {
  JsonNode *a = member(o, "audio");
  if (!a) {
    send_error(err_missing("audio"), eid);
    return;
  }
  if (!is_string(a)) {
    send_error(err_type("audio", "a string", a), eid);
    return;
  }
  const char *s = json_node_get_string(a);
  const size_t slen = strlen(s);
  if (slen > size_t(15) * 1024 * 1024) {  // §1.5 15 MiB per event
    send_error(err_value("audio", "Invalid 'audio': the audio chunk exceeds the maximum of 15 MiB per event."), eid);
    return;
  }
  std::vector<uint8_t> bytes;
  if (!strict_b64_decode(std::string(s, slen), &bytes)) {
    send_error(err_value("audio", "Invalid 'audio'. Expected base64-encoded audio bytes."), eid);
    return;
  }
  const Fmt f = cfg_.input_format;
  if (bytes.size() % size_t(fmt_bytes_per_sample(f)) != 0) {
    send_error(err_value("audio", "Invalid 'audio': " + std::to_string(bytes.size()) +
                                      " bytes is not a whole number of " + fmt_preview_name(f) + " samples."),
               eid);
    return;
  }
  if (bytes.empty()) return;
  if (live_model()) live_feed(bytes);  // transcription hook: streaming model deltas
  std::vector<int16_t> pcm;
  if (cfg_.turn_detection.type != TurnDetection::Type::None) decode_to_s16(f, bytes.data(), bytes.size(), pcm);
  in_buf_.insert(in_buf_.end(), bytes.begin(), bytes.end());
  timeline_ticks_ += bytes_to_ticks(f, bytes.size());
  if (cfg_.turn_detection.type == TurnDetection::Type::None) return;

  std::vector<Vad::Event> events;
  vad_.feed(pcm.data(), pcm.size(), events);
  const TurnDetection td = cfg_.turn_detection;
  for (const auto &e : events) {
    if (closed_) return;
    if (e.started) {
      // §6: audio_start_ms = onset - prefix_padding_ms (clamped at 0)
      speech_start_ticks_ = std::max<int64_t>(0, e.ticks - int64_t(td.effective_prefix_ms()) * kTicksPerMs);
      speech_item_id_ = new_id("item_", 21);
      cancel_source(idle_timer_);
      Obj ss = ev("input_audio_buffer.speech_started");
      ss.num("audio_start_ms", speech_start_ticks_ / kTicksPerMs).str("item_id", speech_item_id_);
      send(std::move(ss));
      // §2.3 interrupt_response / §10.5: barge-in cancels the default-conversation response.
      if (td.interrupt_response && !cfg_.transcription_session)
        if (Response *r = default_active()) cancel_response(r, "turn_detected");
    } else {
      const std::string item_id = speech_item_id_.empty() ? new_id("item_", 21) : speech_item_id_;
      speech_item_id_.clear();
      Obj sp = ev("input_audio_buffer.speech_stopped");
      sp.num("audio_end_ms", e.ticks / kTicksPerMs).str("item_id", item_id);
      send(std::move(sp));
      // The committed item holds [speech start, speech end) of what is still buffered.
      const int64_t from = std::clamp(speech_start_ticks_, buf_start_ticks_, timeline_ticks_);
      const int64_t to = std::clamp(e.ticks, from, timeline_ticks_);
      const size_t b0 = ticks_to_bytes(f, from - buf_start_ticks_);
      const size_t b1 = std::min(in_buf_.size(), ticks_to_bytes(f, to - buf_start_ticks_));
      std::vector<uint8_t> audio(in_buf_.begin() + long(b0), in_buf_.begin() + long(b1));
      in_buf_.erase(in_buf_.begin(), in_buf_.begin() + long(b1));
      buf_start_ticks_ += bytes_to_ticks(f, b1);
      commit_audio(item_id, std::move(audio));  // §5 rule 7
      if (td.create_response && !cfg_.transcription_session) {
        if (default_active()) {
          if (opts_.verbose) g_printerr("[%s] VAD turn while a response is active: no auto response\n", id_.c_str());
        } else {
          start_response(ResponseParams{}, std::nullopt);
        }
      }
    }
  }
}

void EmulatorSession::handle_commit(const std::optional<std::string> &eid) {
  const double ms = bytes_to_ms(cfg_.input_format, in_buf_.size());
  if (ms < 100.0) {  // §1.5 / §8 input_audio_buffer_commit_empty
    char buf[64];
    g_ascii_formatd(buf, sizeof buf, "%.2f", ms);
    send_error({"invalid_request_error", "input_audio_buffer_commit_empty",
                std::string("Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                            "audio, but buffer only has ") +
                    buf + "ms of audio.",
                std::nullopt},
               eid);
    return;
  }
  std::string item_id = speech_item_id_.empty() ? new_id("item_", 21) : speech_item_id_;
  if (live_model() && !live_item_id_.empty()) item_id = live_item_id_;  // transcription hook
  speech_item_id_.clear();
  vad_.reset_turn();
  std::vector<uint8_t> audio;
  audio.swap(in_buf_);
  buf_start_ticks_ = timeline_ticks_;
  commit_audio(item_id, std::move(audio));  // §3.4: no response is created
}

void EmulatorSession::handle_clear(const std::optional<std::string> &) {
  live_begun_ = false;  // transcription hook: the cleared words are never sent
  live_item_id_.clear();
  live_.rest();
  in_buf_.clear();
  buf_start_ticks_ = timeline_ticks_;  // the timeline is not reset (§6, §12 item 3)
  speech_item_id_.clear();
  vad_.reset_turn();
  send(ev("input_audio_buffer.cleared"));
}

void EmulatorSession::commit_audio(const std::string &item_id, std::vector<uint8_t> audio) {
  const std::optional<std::string> prev = prev_id_of(int(items_.size()));
  Obj c = ev("input_audio_buffer.committed");
  c.str_or_null("previous_item_id", prev).str("item_id", item_id);
  send(std::move(c));
  auto it = std::make_shared<Item>();
  it->id = item_id;
  it->type = "message";
  it->role = "user";
  Part p;
  p.kind = Part::Kind::InputAudio;
  p.audio = std::move(audio);
  p.fmt = cfg_.input_format;
  it->content.push_back(std::move(p));
  bool bind_turn = true;
  if (cfg_.transcription_session && !live_model()) {  // transcription hook: silence says nothing
    std::vector<int16_t> pcm;
    decode_to_s16(it->content[0].fmt, it->content[0].audio.data(), it->content[0].audio.size(), pcm);
    bind_turn = audio_has_speech(pcm.data(), pcm.size(), fmt_rate(it->content[0].fmt));
  }
  if (live_model()) {  // transcription hook: a buffer in which nobody spoke says nothing
    bind_turn = live_.heard_speech();
    live_rest_ = live_.rest();
    live_begun_ = false;
    live_item_id_.clear();
  }
  if (bind_turn && ctx_.has_scenario && next_turn_ < ctx_.scenario.turns.size()) it->turn = int(next_turn_++);
  if (!bind_turn) it->turn = -2;  // silence
  items_.push_back(it);
  emit_item_added(it, prev, true);
  if (cfg_.transcription) schedule_transcription(it);
}

std::string EmulatorSession::transcript_for(const Item &item) const {
  if (item.turn == -2) return std::string();  // a streaming model's silent buffer
  if (item.turn >= 0 && ctx_.has_scenario && size_t(item.turn) < ctx_.scenario.turns.size())
    return ctx_.scenario.turns[size_t(item.turn)].user;
  double ms = 0;
  for (const auto &p : item.content)
    if (p.kind == Part::Kind::InputAudio) ms += bytes_to_ms(p.fmt, p.audio.size());
  char buf[64];
  g_ascii_formatd(buf, sizeof buf, "%.2f", ms / 1000.0);
  return std::string("[") + buf + " s of speech]";
}

// §4.2 input_audio_transcription.delta / .completed / .failed — asynchronous (§5 rule 8).
void EmulatorSession::schedule_transcription(const ItemPtr &item) {
  const Transcription t = *cfg_.transcription;
  const bool logprobs = is_array(cfg_.include.get());
  std::vector<std::string> rest;
  rest.swap(live_rest_);
  schedule(opts_.transcription_delay_ms, [this, item, t, logprobs, rest]() {
    if (opts_.transcription_fail) {
      Obj f = ev("conversation.item.input_audio_transcription.failed");
      f.str("item_id", item->id).num("content_index", 0);
      f.obj("error", std::move(Obj()
                                   .str("type", "transcription_error")
                                   .str("code", "audio_unintelligible")
                                   .str("message", "The audio could not be transcribed.")
                                   .null("param")));
      send(std::move(f));
      return;
    }
    const std::string text = transcript_for(*item);
    std::vector<std::string> words;
    if (transcription_model_streams_live(t.model))
      words = rest;  // the words the live transcriber had not sent before the commit
    else if (transcription_model_single_delta(t.model) && cfg_.transcription_session && !text.empty())
      words = {text};  // whisper-1: at most one delta holding the whole turn (docs/protocol.md §14)
    else if (t.streams_deltas())
      words = word_deltas(text);
    if (!text.empty() || !words.empty()) {
      for (const auto &w : words) {
        Obj d = ev("conversation.item.input_audio_transcription.delta");
        d.str("item_id", item->id).num("content_index", 0).str("delta", w);
        if (logprobs) {
          Arr lp;
          lp.obj(std::move(Obj().str("token", w).dbl("logprob", -0.01).arr("bytes", Arr())));
          d.arr("logprobs", std::move(lp));
        }
        send(std::move(d));
      }
    }
    double ms = 0;
    for (auto &p : item->content)
      if (p.kind == Part::Kind::InputAudio) {
        ms += bytes_to_ms(p.fmt, p.audio.size());
        p.transcript = text;
      }
    Obj c = ev("conversation.item.input_audio_transcription.completed");
    c.str("item_id", item->id).num("content_index", 0).str("transcript", text);
    if (t.model == "whisper-1") {
      c.obj("usage", std::move(Obj().str("type", "duration").dbl("seconds", std::round(ms / 10.0) / 100.0)));
    } else {
      const int64_t audio_tokens = int64_t(ms / 100.0) + 1, out_tokens = count_words(text);
      c.obj("usage", std::move(Obj()
                                   .str("type", "tokens")
                                   .num("total_tokens", audio_tokens + out_tokens)
                                   .num("input_tokens", audio_tokens)
                                   .obj("input_token_details",
                                        std::move(Obj().num("text_tokens", 0).num("audio_tokens", audio_tokens)))
                                   .num("output_tokens", out_tokens)));
    }
    if (logprobs) c.arr("logprobs", Arr());
    send(std::move(c));
  });
}

// Transcription sessions, streaming models (transcription_session.h): deltas while the audio
// arrives, lagging the stated word ends by the delay; they carry the item id the commit will use.
void EmulatorSession::live_feed(const std::vector<uint8_t> &bytes) {
  const Fmt f = cfg_.input_format;
  if (!live_begun_) {
    std::string text;
    if (ctx_.has_scenario && next_turn_ < ctx_.scenario.turns.size()) text = ctx_.scenario.turns[next_turn_].user;
    const Transcription &t = *cfg_.transcription;
    live_.begin(timeline_ticks_, fmt_rate(f), text, transcription_delay_lag_ms(t.model, t.delay.value_or("")));
    live_item_id_ = new_id("item_", 21);
    live_begun_ = true;
  }
  std::vector<int16_t> pcm;
  decode_to_s16(f, bytes.data(), bytes.size(), pcm);
  const bool logprobs = is_array(cfg_.include.get());
  for (const auto &w : live_.feed(pcm.data(), pcm.size(), timeline_ticks_ + bytes_to_ticks(f, bytes.size()))) {
    Obj d = ev("conversation.item.input_audio_transcription.delta");
    d.str("item_id", live_item_id_).num("content_index", 0).str("delta", w);
    if (logprobs) {
      Arr lp;
      lp.obj(std::move(Obj().str("token", w).dbl("logprob", -0.05).arr("bytes", Arr())));
      d.arr("logprobs", std::move(lp));
    }
    send(std::move(d));
  }
}

// GA server_vad idle_timeout_ms (§2.3, §4.2, §10.3): no speech for idle_timeout_ms after the
// playback end of the last response -> timeout_triggered, commit, response.
void EmulatorSession::arm_idle_timeout(int64_t playback_left_ms) {
  cancel_source(idle_timer_);
  const int idle = *cfg_.turn_detection.idle_timeout_ms;
  idle_timer_ = schedule(int(playback_left_ms) + idle, [this]() {
    idle_timer_ = 0;
    on_idle_timeout();
  });
}

void EmulatorSession::on_idle_timeout() {
  const TurnDetection &td = cfg_.turn_detection;
  if (closed_ || vad_.in_speech() || default_active() || td.type != TurnDetection::Type::ServerVad ||
      !td.idle_timeout_ms)
    return;
  const int64_t end = timeline_ticks_;
  const int64_t start = std::max<int64_t>(buf_start_ticks_, end - int64_t(*td.idle_timeout_ms) * kTicksPerMs);
  const std::string item_id = new_id("item_", 21);
  Obj t = ev("input_audio_buffer.timeout_triggered");
  t.num("audio_start_ms", start / kTicksPerMs).num("audio_end_ms", end / kTicksPerMs).str("item_id", item_id);
  send(std::move(t));
  std::vector<uint8_t> audio;
  audio.swap(in_buf_);
  buf_start_ticks_ = timeline_ticks_;
  vad_.reset_turn();
  commit_audio(item_id, std::move(audio));
  if (td.create_response) start_response(ResponseParams{}, std::nullopt);
}

// -------------------------------------------------------------------------------------------
// Conversation items (§2.4, §3.6-3.9)
// -------------------------------------------------------------------------------------------

int EmulatorSession::find_item(const std::string &id) const {
  for (size_t i = 0; i < items_.size(); i++)
    if (items_[i]->id == id) return int(i);
  return -1;
}

std::optional<std::string> EmulatorSession::prev_id_of(int index) const {
  if (index <= 0 || items_.empty()) return std::nullopt;
  return items_[size_t(std::min<int>(index, int(items_.size())) - 1)]->id;
}

void EmulatorSession::emit_item_added(const ItemPtr &it, const std::optional<std::string> &prev, bool done_too) {
  if (info_.dialect == Dialect::Preview) {
    Obj c = ev("conversation.item.created");
    c.str_or_null("previous_item_id", prev).node("item", render_item(*it, false));
    send(std::move(c));
    return;
  }
  Obj a = ev("conversation.item.added");
  a.str_or_null("previous_item_id", prev).node("item", render_item(*it, false));
  send(std::move(a));
  if (done_too) {
    Obj d = ev("conversation.item.done");
    d.str_or_null("previous_item_id", prev).node("item", render_item(*it, false));
    send(std::move(d));
  }
}

JsonNode *EmulatorSession::render_item(const Item &it, bool with_audio) const {
  const bool ga = info_.dialect == Dialect::GA;
  Obj o;
  o.str("id", it.id).str("object", "realtime.item").str("type", it.type).str("status", it.status);
  if (it.type == "message") {
    o.str("role", it.role);
    Arr content;
    for (const auto &p : it.content) {
      Obj c;
      switch (p.kind) {
        case Part::Kind::InputText:
          c.str("type", "input_text").str("text", p.text);
          break;
        case Part::Kind::InputAudio:
          c.str("type", "input_audio");
          if (with_audio) c.str("audio", b64(p.audio.data(), p.audio.size()));
          c.str_or_null("transcript", p.transcript);
          break;
        case Part::Kind::InputImage:
          c.str("type", "input_image").str("image_url", with_audio ? p.image_url : std::string("<omitted>"));
          if (!p.detail.empty()) c.str("detail", p.detail);
          break;
        case Part::Kind::Text:
          c.str("type", ga ? "output_text" : "text").str("text", p.text);  // §7.2
          break;
        case Part::Kind::Audio:
          c.str("type", ga ? "output_audio" : "audio");  // §7.2
          if (with_audio) c.str("audio", b64(p.audio.data(), p.audio.size()));
          c.str_or_null("transcript", p.transcript);
          break;
      }
      content.obj(std::move(c));
    }
    o.arr("content", std::move(content));
  } else if (it.type == "function_call") {
    o.str("name", it.name).str("call_id", it.call_id).str("arguments", it.arguments);
  } else if (it.type == "function_call_output") {
    o.str("call_id", it.call_id).str("output", it.output);
  }
  return o.release_node();
}

void EmulatorSession::bind_turn_for_text(Item &it) {
  if (!ctx_.has_scenario || it.role != "user") return;
  std::string text;
  for (const auto &p : it.content)
    if (p.kind == Part::Kind::InputText) text += p.text;
  const int m = ctx_.scenario.find_by_text(text);
  if (m >= 0) {
    it.turn = m;
    next_turn_ = size_t(m) + 1;
  } else if (next_turn_ < ctx_.scenario.turns.size()) {
    it.turn = int(next_turn_++);
  }
}

std::optional<ApiError> EmulatorSession::parse_item(JsonNode *n, const std::string &P, bool allow_reference,
                                                    ItemPtr *out, std::string *reference_id) {
  const bool ga = info_.dialect == Dialect::GA;
  if (!n) return err_missing(P);
  if (!is_object(n)) return err_type(P, "an object", n);
  JsonObject *o = json_node_get_object(n);
  JsonNode *tn = member(o, "type");
  std::string type;
  if (!tn) {
    if (!member(o, "role")) return err_missing(P + ".type");
    type = "message";
  } else {
    std::vector<std::string> types = {"message", "function_call", "function_call_output"};
    if (allow_reference) types.push_back("item_reference");
    if (!is_string(tn)) return err_type(P + ".type", "a string", tn);
    type = string_of(tn);
    if (std::find(types.begin(), types.end(), type) == types.end()) return err_enum(P + ".type", type, types);
  }
  if (type == "item_reference") {
    if (auto e = check_known(o, {"type", "id"}, P + ".")) return e;
    JsonNode *id = member(o, "id");
    if (!id) return err_missing(P + ".id");
    if (!is_string(id)) return err_type(P + ".id", "a string", id);
    *reference_id = string_of(id);
    return std::nullopt;
  }
  std::vector<std::string> keys = {"id", "type", "object", "status"};
  if (type == "message") keys.insert(keys.end(), {"role", "content"});
  if (type == "function_call") keys.insert(keys.end(), {"call_id", "name", "arguments"});
  if (type == "function_call_output") keys.insert(keys.end(), {"call_id", "output"});
  if (auto e = check_known(o, keys, P + ".")) return e;
  auto it = std::make_shared<Item>();
  it->type = type;
  if (JsonNode *id = member(o, "id")) {
    if (!is_string(id)) return err_type(P + ".id", "a string", id);
    it->id = string_of(id);
    if (it->id.size() > 32)
      return err_value(P + ".id", "Invalid 'item.id': string too long. Expected a string with maximum length 32.");
  } else {
    it->id = new_id("item_", 21);
  }
  if (JsonNode *ob = member(o, "object")) {
    if (!is_string(ob) || string_of(ob) != "realtime.item")
      return err_enum(P + ".object", is_string(ob) ? string_of(ob) : json_kind(ob), {"realtime.item"});
  }
  if (JsonNode *st = member(o, "status")) {
    std::vector<std::string> sv = {"completed", "incomplete", "in_progress"};
    if (!is_string(st)) return err_type(P + ".status", "a string", st);
    if (std::find(sv.begin(), sv.end(), string_of(st)) == sv.end()) return err_enum(P + ".status", string_of(st), sv);
    // "no effect when sent by client" (§2.4)
  }
  auto want_str = [&](const char *k, std::string *dst, bool required) -> std::optional<ApiError> {
    JsonNode *v = member(o, k);
    if (!v) return required ? std::optional<ApiError>(err_missing(P + "." + k)) : std::nullopt;
    if (!is_string(v)) return err_type(P + "." + k, "a string", v);
    *dst = string_of(v);
    return std::nullopt;
  };
  if (type == "message") {
    JsonNode *rn = member(o, "role");
    if (!rn) return err_missing(P + ".role");
    std::vector<std::string> roles = {"user", "assistant", "system"};
    if (!is_string(rn)) return err_type(P + ".role", "a string", rn);
    it->role = string_of(rn);
    if (std::find(roles.begin(), roles.end(), it->role) == roles.end()) return err_enum(P + ".role", it->role, roles);
    JsonNode *cn = member(o, "content");
    if (!cn) return err_missing(P + ".content");
    if (!is_array(cn)) return err_type(P + ".content", "an array", cn);
    JsonArray *ca = json_node_get_array(cn);
    for (guint i = 0; i < json_array_get_length(ca); i++) {
      const std::string CP = P + ".content[" + std::to_string(i) + "]";
      JsonNode *pn = json_array_get_element(ca, i);
      if (!is_object(pn)) return err_type(CP, "an object", pn);
      JsonObject *po = json_node_get_object(pn);
      JsonNode *ptn = member(po, "type");
      if (!ptn) return err_missing(CP + ".type");
      if (!is_string(ptn)) return err_type(CP + ".type", "a string", ptn);
      const std::string pt = string_of(ptn);
      // §2.4: system -> input_text; user -> input_text/input_audio(/input_image GA);
      // assistant -> text (preview) / output_text (GA); assistant audio cannot be created.
      std::vector<std::string> allowed;
      if (it->role == "system") allowed = {"input_text"};
      if (it->role == "user") {
        allowed = {"input_text", "input_audio"};
        if (ga) allowed.push_back("input_image");
      }
      if (it->role == "assistant") {
        allowed = {ga ? "output_text" : "text"};
        if (pt == "audio" || pt == "output_audio")
          return err_value(CP + ".type", "Cannot populate assistant audio messages: assistant content must be '" +
                                             allowed[0] + "'.");
      }
      if (std::find(allowed.begin(), allowed.end(), pt) == allowed.end()) return err_enum(CP + ".type", pt, allowed);
      Part part;
      if (pt == "input_text" || pt == "text" || pt == "output_text") {
        if (auto e = check_known(po, {"type", "text"}, CP + ".")) return e;
        JsonNode *tx = member(po, "text");
        if (!tx) return err_missing(CP + ".text");
        if (!is_string(tx)) return err_type(CP + ".text", "a string", tx);
        part.kind = pt == "input_text" ? Part::Kind::InputText : Part::Kind::Text;
        part.text = string_of(tx);
      } else if (pt == "input_audio") {
        if (auto e = check_known(po, {"type", "audio", "transcript"}, CP + ".")) return e;
        part.kind = Part::Kind::InputAudio;
        part.fmt = cfg_.input_format;
        if (JsonNode *au = member(po, "audio")) {
          if (!is_string(au)) return err_type(CP + ".audio", "a string", au);
          if (!strict_b64_decode(string_of(au), &part.audio) ||
              part.audio.size() % size_t(fmt_bytes_per_sample(part.fmt)) != 0)
            return err_value(CP + ".audio", "Invalid '" + CP + ".audio'. Expected base64-encoded audio bytes.");
        }
        if (JsonNode *tr = member(po, "transcript")) {
          if (!is_null(tr)) {
            if (!is_string(tr)) return err_type(CP + ".transcript", "a string", tr);
            part.transcript = string_of(tr);
          }
        }
      } else {  // input_image (GA)
        if (auto e = check_known(po, {"type", "image_url", "detail"}, CP + ".")) return e;
        part.kind = Part::Kind::InputImage;
        JsonNode *iu = member(po, "image_url");
        if (!iu) return err_missing(CP + ".image_url");
        if (!is_string(iu)) return err_type(CP + ".image_url", "a string", iu);
        part.image_url = string_of(iu);
        if (part.image_url.rfind("data:image/", 0) != 0)
          return err_value(CP + ".image_url", "Invalid 'image_url': expected a data:image/png or data:image/jpeg URL.");
        if (JsonNode *dt = member(po, "detail")) {
          std::vector<std::string> dv = {"auto", "low", "high"};
          if (!is_string(dt)) return err_type(CP + ".detail", "a string", dt);
          part.detail = string_of(dt);
          if (std::find(dv.begin(), dv.end(), part.detail) == dv.end()) return err_enum(CP + ".detail", part.detail, dv);
        }
      }
      it->content.push_back(std::move(part));
    }
  } else if (type == "function_call") {
    if (auto e = want_str("name", &it->name, true)) return e;
    if (auto e = want_str("arguments", &it->arguments, false)) return e;
    if (auto e = want_str("call_id", &it->call_id, false)) return e;
    if (it->call_id.empty()) it->call_id = new_id("call_", 16);
  } else {
    if (auto e = want_str("call_id", &it->call_id, true)) return e;
    if (auto e = want_str("output", &it->output, true)) return e;
  }
  *out = it;
  return std::nullopt;
}

void EmulatorSession::handle_item_create(JsonObject *o, const std::optional<std::string> &eid) {
  int pos = int(items_.size());
  if (JsonNode *pn = member(o, "previous_item_id")) {
    if (!is_null(pn)) {
      if (!is_string(pn)) {
        send_error(err_type("previous_item_id", "a string", pn), eid);
        return;
      }
      const std::string prev = string_of(pn);
      if (prev == "root") {
        pos = 0;
      } else {
        const int idx = find_item(prev);
        if (idx < 0) {  // §3.6: unknown id -> error, item not added
          send_error(err_value("previous_item_id", "Previous item with item_id not found: " + prev), eid);
          return;
        }
        pos = idx + 1;
      }
    }
  }
  ItemPtr it;
  std::string ref;
  if (auto e = parse_item(member(o, "item"), "item", false, &it, &ref)) {
    send_error(*e, eid);
    return;
  }
  if (find_item(it->id) >= 0) {
    send_error(err_value("item.id", "Item with item_id already exists: " + it->id), eid);
    return;
  }
  if (it->type == "function_call_output") {
    // §2.4 / §10.6: call_id must match an existing function_call item.
    bool found = false;
    for (const auto &x : items_)
      if (x->type == "function_call" && x->call_id == it->call_id) found = true;
    if (!found) {
      send_error(err_value("item.call_id", "Tool call ID '" + it->call_id + "' not found in conversation."), eid);
      return;
    }
  }
  if (it->type == "message" && it->role == "user") {
    bool has_audio = false;
    for (const auto &p : it->content) has_audio |= p.kind == Part::Kind::InputAudio;
    if (has_audio) {
      bool bind_turn = true;
  if (cfg_.transcription_session && !live_model()) {  // transcription hook: silence says nothing
    std::vector<int16_t> pcm;
    decode_to_s16(it->content[0].fmt, it->content[0].audio.data(), it->content[0].audio.size(), pcm);
    bind_turn = audio_has_speech(pcm.data(), pcm.size(), fmt_rate(it->content[0].fmt));
  }
  if (live_model()) {  // transcription hook: a buffer in which nobody spoke says nothing
    bind_turn = live_.heard_speech();
    live_rest_ = live_.rest();
    live_begun_ = false;
    live_item_id_.clear();
  }
  if (bind_turn && ctx_.has_scenario && next_turn_ < ctx_.scenario.turns.size()) it->turn = int(next_turn_++);
  if (!bind_turn) it->turn = -2;  // silence
    } else {
      bind_turn_for_text(*it);
    }
  }
  items_.insert(items_.begin() + pos, it);
  emit_item_added(it, prev_id_of(pos), true);  // §3.6: created (preview) / added + done (GA)
}

void EmulatorSession::handle_item_retrieve(JsonObject *o, const std::optional<std::string> &eid) {
  JsonNode *in = member(o, "item_id");
  if (!in) return send_error(err_missing("item_id"), eid);
  if (!is_string(in)) return send_error(err_type("item_id", "a string", in), eid);
  const int idx = find_item(string_of(in));
  if (idx < 0) {
    send_error({"invalid_request_error", "item_retrieve_invalid_item_id",
                "Item with item_id not found: " + string_of(in), std::string("item_id")},
               eid);
    return;
  }
  Obj r = ev("conversation.item.retrieved");
  r.node("item", render_item(*items_[size_t(idx)], true));  // §3.7: including audio
  send(std::move(r));
}

void EmulatorSession::handle_item_delete(JsonObject *o, const std::optional<std::string> &eid) {
  JsonNode *in = member(o, "item_id");
  if (!in) return send_error(err_missing("item_id"), eid);
  if (!is_string(in)) return send_error(err_type("item_id", "a string", in), eid);
  const std::string id = string_of(in);
  const int idx = find_item(id);
  if (idx < 0) {
    send_error({"invalid_request_error", "item_delete_invalid_item_id", "Item with item_id not found: " + id,
                std::string("item_id")},
               eid);
    return;
  }
  items_.erase(items_.begin() + idx);
  Obj d = ev("conversation.item.deleted");
  d.str("item_id", id);
  send(std::move(d));
}

// §3.8: only assistant audio; audio_end_ms beyond the item's audio -> error; transcript removed.
void EmulatorSession::handle_item_truncate(JsonObject *o, const std::optional<std::string> &eid) {
  JsonNode *in = member(o, "item_id");
  if (!in) return send_error(err_missing("item_id"), eid);
  if (!is_string(in)) return send_error(err_type("item_id", "a string", in), eid);
  JsonNode *ci = member(o, "content_index");
  if (!ci) return send_error(err_missing("content_index"), eid);
  if (!is_int(ci) || json_node_get_int(ci) < 0) return send_error(err_type("content_index", "an integer >= 0", ci), eid);
  JsonNode *ae = member(o, "audio_end_ms");
  if (!ae) return send_error(err_missing("audio_end_ms"), eid);
  if (!is_int(ae) || json_node_get_int(ae) < 0)
    return send_error(err_type("audio_end_ms", "an integer >= 0", ae), eid);
  const std::string id = string_of(in);
  const int idx = find_item(id);
  if (idx < 0) {
    send_error({"invalid_request_error", "item_truncate_invalid_item_id", "Item with item_id not found: " + id,
                std::string("item_id")},
               eid);
    return;
  }
  Item &it = *items_[size_t(idx)];
  if (it.type != "message" || it.role != "assistant") {
    send_error(err_value("item_id", "Only assistant message items can be truncated."), eid);
    return;
  }
  const int64_t cidx = json_node_get_int(ci);
  if (size_t(cidx) >= it.content.size() || it.content[size_t(cidx)].kind != Part::Kind::Audio) {
    send_error(err_value("content_index", "Invalid 'content_index': the content part " + std::to_string(cidx) +
                                              " of item " + id + " is not an audio part."),
               eid);
    return;
  }
  Part &p = it.content[size_t(cidx)];
  const int64_t end_ms = json_node_get_int(ae);
  const double dur = bytes_to_ms(p.fmt, p.audio.size());
  if (double(end_ms) > std::ceil(dur)) {
    send_error(err_value("audio_end_ms", "Audio content of " + std::to_string(int64_t(std::ceil(dur))) +
                                             "ms is already shorter than " + std::to_string(end_ms) + "ms"),
               eid);
    return;
  }
  p.audio.resize(std::min(p.audio.size(), ticks_to_bytes(p.fmt, end_ms * kTicksPerMs)));
  p.transcript = "";  // "will delete the server-side text transcript" (§3.8, §12 item 24)
  Obj t = ev("conversation.item.truncated");
  t.str("item_id", id).num("content_index", cidx).num("audio_end_ms", end_ms);
  send(std::move(t));
}

// -------------------------------------------------------------------------------------------
// Responses (§2.5, §2.6, §3.10, §3.11, §5, §10)
// -------------------------------------------------------------------------------------------

EmulatorSession::Response *EmulatorSession::default_active() const {
  for (const auto &r : responses_)
    if (!r->oob) return r.get();
  return nullptr;
}

std::optional<ApiError> EmulatorSession::parse_response_params(JsonNode *n, ResponseParams &p) {
  if (!n || is_null(n)) return std::nullopt;
  if (!is_object(n)) return err_type("response", "an object", n);
  JsonObject *o = json_node_get_object(n);
  const bool ga = info_.dialect == Dialect::GA;
  const std::string P = "response.";
  std::vector<std::string> keys;
  if (ga)
    keys = {"output_modalities", "instructions", "audio", "tools", "tool_choice", "max_output_tokens",
            "conversation", "metadata", "prompt", "input"};
  else
    keys = {"modalities", "instructions", "voice", "output_audio_format", "tools", "tool_choice", "temperature",
            "max_response_output_tokens", "max_output_tokens", "conversation", "metadata", "input"};
  if (!ga && info_.azure)  // §2.6 legacy Azure preview extras
    keys.insert(keys.end(), {"commit", "cancel_previous", "append_input_items", "input_items"});
  if (auto e = check_known(o, keys, P)) return e;

  // Reuse the session validators on a scratch config for the shared fields.
  SessionConfig scratch = cfg_;
  ValidationContext vc{info_.dialect, info_.azure, false};
  {
    Obj s;
    if (ga) s.str("type", scratch.transcription_session ? "transcription" : "realtime");
    static const char *kShared[] = {"instructions", "tools", "tool_choice"};
    for (const char *k : kShared)
      if (JsonNode *v = member(o, k)) s.copy(k, v);
    if (ga) {
      if (JsonNode *v = member(o, "output_modalities")) s.copy("output_modalities", v);
      if (JsonNode *v = member(o, "max_output_tokens")) s.copy("max_output_tokens", v);
      if (JsonNode *a = member(o, "audio")) {
        if (!is_object(a)) return err_type(P + "audio", "an object", a);
        if (auto e = check_known(json_node_get_object(a), {"output"}, P + "audio.")) return e;
        if (JsonNode *out = member(json_node_get_object(a), "output")) {
          if (!is_object(out)) return err_type(P + "audio.output", "an object", out);
          if (auto e = check_known(json_node_get_object(out), {"format", "voice"}, P + "audio.output.")) return e;
        }
        s.copy("audio", a);
      }
    } else {
      for (const char *k : {"modalities", "voice", "output_audio_format", "temperature", "max_response_output_tokens"})
        if (JsonNode *v = member(o, k)) s.copy(k, v);
      if (JsonNode *v = member(o, "max_output_tokens")) s.copy("max_response_output_tokens", v);  // §12 item 15
    }
    JsonNode *sn = s.release_node();
    auto e = apply_session_update(scratch, sn, vc);
    json_node_unref(sn);
    if (e) {
      if (e->param && e->param->rfind("session.", 0) == 0) {
        e->param = "response." + e->param->substr(8);
        // keep messages consistent with the param
        const size_t at = e->message.find("'session.");
        if (at != std::string::npos) e->message.replace(at + 1, 8, "response.");
      }
      return e;
    }
  }
  if (member(o, ga ? "output_modalities" : "modalities")) p.modalities = scratch.modalities;
  if (member(o, "instructions")) p.instructions = scratch.instructions;
  if (JsonNode *a = member(o, "audio")) {
    JsonNode *out = member(json_node_get_object(a), "output");
    if (out && member(json_node_get_object(out), "voice")) p.voice = scratch.voice;
    if (out && member(json_node_get_object(out), "format")) p.out_fmt = scratch.output_format;
  }
  if (member(o, "voice")) p.voice = scratch.voice;
  if (member(o, "output_audio_format")) p.out_fmt = scratch.output_format;
  if (member(o, "tools")) p.tools = scratch.tools;
  if (member(o, "tool_choice")) p.tool_choice = scratch.tool_choice;
  if (member(o, "temperature")) p.temperature = scratch.temperature;
  if (member(o, "max_output_tokens") || member(o, "max_response_output_tokens")) {
    p.has_max = true;
    p.max_tokens = scratch.max_output_tokens;
  }
  if (JsonNode *c = member(o, "conversation")) {
    std::string v;
    if (!is_string(c)) return err_type(P + "conversation", "a string", c);
    v = string_of(c);
    if (v != "auto" && v != "none") return err_enum(P + "conversation", v, {"auto", "none"});
    p.conversation_none = v == "none";
  }
  if (JsonNode *m = member(o, "metadata")) {
    if (!is_null(m)) {
      if (!is_object(m)) return err_type(P + "metadata", "an object", m);
      JsonObject *mo = json_node_get_object(m);
      if (json_object_get_size(mo) > 16)
        return err_value(P + "metadata", "Invalid 'response.metadata': too many properties. Expected an object with "
                                         "at most 16 properties.");
      GList *ms = json_object_get_members(mo);
      std::optional<ApiError> bad;
      for (GList *l = ms; l && !bad; l = l->next) {
        const std::string k = static_cast<const char *>(l->data);
        JsonNode *v = json_object_get_member(mo, k.c_str());
        if (k.size() > 64)
          bad = err_value(P + "metadata", "Invalid 'response.metadata': keys are limited to 64 characters.");
        else if (!is_string(v))
          bad = err_type(P + "metadata." + k, "a string", v);
        else if (string_of(v).size() > 512)
          bad = err_value(P + "metadata." + k, "Invalid 'response.metadata': values are limited to 512 characters.");
      }
      g_list_free(ms);
      if (bad) return bad;
    }
    p.metadata = copy_node(m);
  }
  if (JsonNode *in = member(o, "input")) {
    if (!is_array(in)) return err_type(P + "input", "an array", in);
    p.has_input = true;
    JsonArray *a = json_node_get_array(in);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      ItemPtr it;
      std::string ref;
      const std::string IP = P + "input[" + std::to_string(i) + "]";
      if (auto e = parse_item(json_array_get_element(a, i), IP, true, &it, &ref)) return e;
      if (!ref.empty()) {
        const int idx = find_item(ref);
        if (idx < 0) return err_value(IP + ".id", "Item with item_id not found: " + ref);
        p.input.push_back(items_[size_t(idx)]);
      } else {
        p.input.push_back(it);
      }
    }
  }
  if (JsonNode *pr = member(o, "prompt")) {
    if (!is_null(pr) && !is_object(pr)) return err_type(P + "prompt", "an object", pr);
  }
  for (const char *k : {"commit", "cancel_previous"})
    if (JsonNode *v = member(o, k))
      if (!is_bool(v)) return err_type(P + k, "a boolean", v);
  return std::nullopt;
}

void EmulatorSession::handle_response_create(JsonObject *o, const std::optional<std::string> &eid) {
  if (cfg_.transcription_session) {
    send_error(err_value("type", "response.create is not supported in transcription sessions."), eid);
    return;
  }
  ResponseParams p;
  if (auto e = parse_response_params(member(o, "response"), p)) {
    send_error(*e, eid);
    return;
  }
  start_response(std::move(p), eid);
}

void EmulatorSession::handle_response_cancel(JsonObject *o, const std::optional<std::string> &eid) {
  Response *target = nullptr;
  if (JsonNode *rid = member(o, "response_id")) {
    if (!is_string(rid)) return send_error(err_type("response_id", "a string", rid), eid);
    for (auto &r : responses_)
      if (r->id == string_of(rid)) target = r.get();
  } else {
    target = default_active();
  }
  if (!target) {  // §3.11 / §8
    send_error({"invalid_request_error", "response_cancel_not_active",
                "Cancellation failed: no active response found", std::nullopt},
               eid);
    return;
  }
  cancel_response(target, "client_cancelled");
}

JsonNode *EmulatorSession::render_response(const Response &r, bool final) const {
  const bool ga = info_.dialect == Dialect::GA;
  Obj o;
  o.str("object", "realtime.response").str("id", r.id).str("status", r.status);
  // status_details (§2.5)
  if (!final || r.status == "completed") {
    o.null("status_details");
  } else {
    o.obj("status_details", std::move(Obj().str("type", r.status).str("reason", r.reason)));
  }
  Arr out;
  int64_t out_text = 0, out_audio = 0;
  if (final) {
    for (const auto &oi : r.items) {
      if (!oi.added) continue;
      out.node(render_item(*oi.item, false));
      if (oi.item->type == "message") {
        out_text += count_words(oi.text_sent);
        out_audio += int64_t(bytes_to_ms(r.fmt, oi.audio_sent) / 50.0);
      } else {
        out_text += int64_t(oi.text_sent.size() / 4) + 1;
      }
    }
  }
  o.arr("output", std::move(out));
  if (r.oob)
    o.null("conversation_id");
  else
    o.str("conversation_id", conversation_id_);
  Arr mods;
  for (const auto &m : r.modalities) mods.str(m);
  if (ga) {
    o.arr("output_modalities", std::move(mods));
    if (r.max_tokens)
      o.num("max_output_tokens", *r.max_tokens);
    else
      o.str("max_output_tokens", "inf");
    o.obj("audio", std::move(Obj().obj(
                       "output", std::move(Obj().node("format", render_format(r.fmt, Dialect::GA)).str("voice", r.voice)))));
  } else {
    o.arr("modalities", std::move(mods));
    o.str("voice", r.voice).str("output_audio_format", fmt_preview_name(r.fmt)).dbl("temperature", r.temperature);
    if (r.max_tokens)
      o.num("max_output_tokens", *r.max_tokens);
    else
      o.str("max_output_tokens", "inf");
  }
  if (final) {
    const int64_t in_total = r.in_text_tokens + r.in_audio_tokens, out_total = out_text + out_audio;
    o.obj("usage",
          std::move(Obj()
                        .num("total_tokens", in_total + out_total)
                        .num("input_tokens", in_total)
                        .num("output_tokens", out_total)
                        .obj("input_token_details", std::move(Obj()
                                                                  .num("cached_tokens", 0)
                                                                  .num("text_tokens", r.in_text_tokens)
                                                                  .num("audio_tokens", r.in_audio_tokens)))
                        .obj("output_token_details",
                             std::move(Obj().num("text_tokens", out_text).num("audio_tokens", out_audio)))));
  } else {
    o.null("usage");
  }
  o.copy("metadata", r.metadata ? r.metadata.get() : nullptr);
  return o.release_node();
}

void EmulatorSession::start_response(ResponseParams p, const std::optional<std::string> &eid) {
  if (!p.conversation_none) {
    if (Response *a = default_active()) {  // §5 rule 10
      send_error({"invalid_request_error", "conversation_already_has_active_response",
                  "Conversation already has an active response in progress: " + a->id +
                      ". Wait until the response is finished before creating a new one.",
                  std::nullopt},
                 eid);
      return;
    }
  }
  if (!p.conversation_none) cancel_source(idle_timer_);
  auto r = std::make_unique<Response>();
  r->id = new_id("resp_", 21);
  r->client_event_id = eid;
  r->oob = p.conversation_none;
  r->modalities = p.modalities ? *p.modalities : cfg_.modalities;
  r->voice = p.voice ? *p.voice : cfg_.voice;
  r->fmt = p.out_fmt ? *p.out_fmt : cfg_.output_format;
  r->max_tokens = p.has_max ? p.max_tokens : cfg_.max_output_tokens;
  r->temperature = p.temperature ? *p.temperature : cfg_.temperature;
  r->metadata = p.metadata;
  r->start_us = g_get_monotonic_time();
  Response *rp = r.get();
  responses_.push_back(std::move(r));
  Obj c = ev("response.created");
  c.node("response", render_response(*rp, false));
  send(std::move(c));
  plan_response(*rp, p);
  rp->timer = schedule(opts_.latency_ms, [this, rp]() { pump(rp); });
}

// Decides what the "model" says (scenario or deterministic rules) and plans the event stream.
void EmulatorSession::plan_response(Response &r, const ResponseParams &p) {
  const std::vector<ItemPtr> &context = p.has_input ? p.input : items_;
  NodePtr tools = p.tools ? p.tools : cfg_.tools;
  NodePtr choice = p.tool_choice ? p.tool_choice : cfg_.tool_choice;
  const std::string instructions = p.instructions ? *p.instructions : cfg_.instructions;

  // Tools offered and tool_choice (§2.1 / §2.2 / §10.6).
  std::vector<std::pair<std::string, JsonNode *>> tool_defs;
  if (is_array(tools.get())) {
    JsonArray *a = json_node_get_array(tools.get());
    for (guint i = 0; i < json_array_get_length(a); i++) {
      JsonNode *t = json_array_get_element(a, i);
      if (!is_object(t)) continue;
      JsonObject *to = json_node_get_object(t);
      const std::string ty = is_string(member(to, "type")) ? string_of(member(to, "type")) : "function";
      if (ty == "function") tool_defs.push_back({string_of(member(to, "name")), member(to, "parameters")});
    }
  }
  bool choice_none = false, choice_required = false;
  std::string forced;
  if (is_string(choice.get())) {
    choice_none = string_of(choice.get()) == "none";
    choice_required = string_of(choice.get()) == "required";
  } else if (is_object(choice.get())) {
    JsonObject *co = json_node_get_object(choice.get());
    forced = string_of(member(co, "name"));
    JsonNode *fn = member(co, "function");
    if (forced.empty() && is_object(fn)) forced = string_of(member(json_node_get_object(fn), "name"));
    if (forced.empty() && is_string(fn)) forced = string_of(fn);
  }
  auto has_tool = [&](const std::string &n) {
    for (const auto &t : tool_defs)
      if (t.first == n) return true;
    return false;
  };

  std::string preamble, reply;
  std::optional<std::string> call_name;
  std::string call_args;
  int call_turn = -1;

  // "Say: X" / "Say exactly: X" in the instructions makes the emulator say X (handy for tests).
  std::string say;
  for (const char *prefix : {"Say exactly:", "Say:", "Repeat:"}) {
    const size_t at = instructions.find(prefix);
    if (at != std::string::npos) {
      say = instructions.substr(at + strlen(prefix));
      const size_t b = say.find_first_not_of(" \t\n");
      say = b == std::string::npos ? "" : say.substr(b);
      break;
    }
  }
  if (!say.empty()) {
    reply = say;
  } else {
    int last = -1;
    for (int i = int(context.size()) - 1; i >= 0; i--) {
      const Item &it = *context[size_t(i)];
      if ((it.type == "message" && it.role == "user") || it.type == "function_call_output") {
        last = i;
        break;
      }
    }
    const Scenario &sc = ctx_.scenario;
    if (last < 0) {
      reply = ctx_.has_scenario && !sc.greeting.empty() ? sc.greeting : "Hello! How can I help you today?";
    } else if (context[size_t(last)]->type == "function_call_output") {
      const Item &out = *context[size_t(last)];
      const Item *call = nullptr;
      for (const auto &x : items_)
        if (x->type == "function_call" && x->call_id == out.call_id) call = x.get();
      if (call && call->turn >= 0 && ctx_.has_scenario && size_t(call->turn) < sc.turns.size())
        reply = fill_reply(sc.turns[size_t(call->turn)].reply, out.output);
      else
        reply = "The function " + (call ? call->name : std::string("call")) + " returned: " + out.output;
    } else {
      const Item &u = *context[size_t(last)];
      const ScenarioTurn *turn =
          (u.turn >= 0 && ctx_.has_scenario && size_t(u.turn) < sc.turns.size()) ? &sc.turns[size_t(u.turn)] : nullptr;
      if (turn) {
        const bool can_call = turn->call_name && !choice_none && has_tool(*turn->call_name) &&
                              (forced.empty() || forced == *turn->call_name);
        bool already_called = false;
        for (const auto &x : items_)
          if (x->type == "function_call" && x->turn == u.turn) already_called = true;
        if (can_call && !already_called) {
          preamble = turn->preamble;
          call_name = *turn->call_name;
          call_args = turn->call_arguments;
          call_turn = u.turn;
        } else if (can_call && already_called) {
          reply = "I'm still waiting for the result of " + *turn->call_name + ".";
        } else {
          reply = fill_reply(turn->reply, "");
        }
      } else if (!choice_none && !tool_defs.empty() && (choice_required || (!forced.empty() && has_tool(forced)))) {
        // Deterministic call: the forced tool (or the first one) with arguments built from its schema.
        const auto &def = forced.empty() ? tool_defs.front()
                                         : *std::find_if(tool_defs.begin(), tool_defs.end(),
                                                         [&](const auto &t) { return t.first == forced; });
        call_name = def.first;
        Obj args;
        if (is_object(def.second)) {
          JsonNode *props = member(json_node_get_object(def.second), "properties");
          if (is_object(props)) {
            GList *ms = json_object_get_members(json_node_get_object(props));
            for (GList *l = ms; l; l = l->next) {
              const char *k = static_cast<const char *>(l->data);
              JsonNode *pd = json_object_get_member(json_node_get_object(props), k);
              JsonObject *pdo = is_object(pd) ? json_node_get_object(pd) : nullptr;
              const std::string ty = string_of(member(pdo, "type"));
              JsonNode *en = member(pdo, "enum");
              if (is_array(en) && json_array_get_length(json_node_get_array(en)) > 0)
                args.copy(k, json_array_get_element(json_node_get_array(en), 0));
              else if (ty == "number" || ty == "integer")
                args.num(k, 1);
              else if (ty == "boolean")
                args.boolean(k, true);
              else
                args.str(k, "test");
            }
            g_list_free(ms);
          }
        }
        call_args = args.to_string();
      } else {
        std::string text;
        double ms = 0;
        bool audio = false;
        for (const auto &pp : u.content) {
          if (pp.kind == Part::Kind::InputText) text += (text.empty() ? "" : " ") + pp.text;
          if (pp.kind == Part::Kind::InputAudio) {
            audio = true;
            ms += bytes_to_ms(pp.fmt, pp.audio.size());
          }
        }
        if (!text.empty()) {
          reply = "You said: " + text;
        } else if (audio) {
          char buf[64];
          g_ascii_formatd(buf, sizeof buf, "%.2f", ms / 1000.0);
          reply = std::string("I heard ") + buf + " seconds of audio.";
        } else {
          reply = "I see.";
        }
      }
    }
  }

  // max_output_tokens: one token per word of output text (documented in --help).
  if (r.max_tokens) {
    auto cut = [&](std::string &s) {
      if (count_words(s) > *r.max_tokens) {
        s = first_words(s, *r.max_tokens);
        r.cut_by_max_tokens = true;
      }
    };
    cut(reply);
    cut(preamble);
  }

  // Input usage (§2.5): one token per word of text, one per 100 ms of input audio.
  r.in_text_tokens = count_words(instructions);
  for (const auto &it : context) {
    for (const auto &pp : it->content) {
      r.in_text_tokens += count_words(pp.text) + (pp.transcript ? count_words(*pp.transcript) : 0);
      if (pp.kind == Part::Kind::InputAudio) r.in_audio_tokens += int64_t(bytes_to_ms(pp.fmt, pp.audio.size()) / 100);
    }
    r.in_text_tokens += count_words(it->arguments) + count_words(it->output);
  }

  const bool audio = std::find(r.modalities.begin(), r.modalities.end(), "audio") != r.modalities.end();
  auto add_message = [&](const std::string &text) {
    OutItem oi;
    oi.item = std::make_shared<Item>();
    oi.item->id = new_id("item_", 21);
    oi.item->type = "message";
    oi.item->role = "assistant";
    oi.item->status = "in_progress";
    oi.text = text;
    oi.audio_mod = audio;
    if (audio) oi.audio = ctx_.voice->synth(text, r.voice, cfg_.speed, r.fmt);
    r.items.push_back(std::move(oi));
  };
  if (!preamble.empty()) add_message(preamble);
  if (call_name) {
    OutItem oi;
    oi.item = std::make_shared<Item>();
    oi.item->id = new_id("item_", 21);
    oi.item->type = "function_call";
    oi.item->status = "in_progress";
    oi.item->name = *call_name;
    oi.item->call_id = new_id("call_", 16);
    oi.item->turn = call_turn;
    oi.text = call_args;
    r.items.push_back(std::move(oi));
  } else {
    add_message(reply);
  }

  // Schedule: media time (ms) -> wall time through --pace (0 = burst).
  const double pace = opts_.pace;
  auto due = [&](double media_ms) -> int64_t { return pace > 0 ? int64_t(media_ms * 1000.0 / pace) : 0; };
  double cursor = 0;
  for (size_t i = 0; i < r.items.size(); i++) {
    OutItem &oi = r.items[i];
    r.steps.push_back({due(cursor), Step::K::Add, i, {}, 0, 0});
    if (oi.item->type == "function_call") {
      // Arguments in ~3 deltas (split on UTF-8 boundaries).
      const glong chars = g_utf8_strlen(oi.text.c_str(), -1);
      const glong piece = std::max<glong>(1, (chars + 2) / 3);
      for (glong c = 0; c < chars; c += piece) {
        const char *b = g_utf8_offset_to_pointer(oi.text.c_str(), c);
        const char *e = g_utf8_offset_to_pointer(oi.text.c_str(), std::min(chars, c + piece));
        r.steps.push_back({due(cursor), Step::K::ArgsDelta, i, std::string(b, e), 0, 0});
        cursor += 20;
      }
    } else if (oi.audio_mod) {
      // §5 rule 2/3: transcript deltas interleaved with audio deltas of varying sizes
      // (75..560 ms each, i.e. 4 800..36 000 base64 chars of pcm16 as the real service sends).
      const auto words = word_deltas(oi.text);
      std::vector<double> word_pos;  // fraction of the text where each word starts
      size_t acc = 0;
      for (const auto &w : words) {
        word_pos.push_back(oi.text.empty() ? 0 : double(acc) / double(oi.text.size()));
        acc += w.size();
      }
      const size_t total = oi.audio.size();
      const double total_ms = bytes_to_ms(r.fmt, total);
      size_t off = 0, wi = 0;
      while (off < total) {
        chunk_rng_ ^= chunk_rng_ << 13;
        chunk_rng_ ^= chunk_rng_ >> 7;
        chunk_rng_ ^= chunk_rng_ << 17;
        const int64_t chunk_ms = 75 + int64_t(chunk_rng_ % 486);
        size_t len = std::max<size_t>(size_t(fmt_bytes_per_sample(r.fmt)), ticks_to_bytes(r.fmt, chunk_ms * kTicksPerMs));
        len = std::min(len, total - off);
        const double start_ms = bytes_to_ms(r.fmt, off);
        const double end_frac = double(off + len) / double(total);
        while (wi < words.size() && word_pos[wi] < end_frac)
          r.steps.push_back({due(cursor + start_ms), Step::K::TextDelta, i, words[wi++], 0, 0});
        r.steps.push_back({due(cursor + start_ms), Step::K::AudioDelta, i, {}, off, len});
        off += len;
      }
      while (wi < words.size()) r.steps.push_back({due(cursor + total_ms), Step::K::TextDelta, i, words[wi++], 0, 0});
      cursor += total_ms;
    } else {
      for (const auto &w : word_deltas(oi.text)) {
        r.steps.push_back({due(cursor), Step::K::TextDelta, i, w, 0, 0});
        cursor += 40;
      }
    }
    r.steps.push_back({due(cursor), Step::K::Finish, i, {}, 0, 0});
  }
  r.steps.push_back({due(cursor), Step::K::Done, 0, {}, 0, 0});
}

void EmulatorSession::pump(Response *r) {
  r->timer = 0;
  int budget = 24;  // yield to the main loop regularly so response.cancel / barge-in land mid-stream
  while (!r->steps.empty() && !closed_) {
    const int64_t now = g_get_monotonic_time() - r->start_us - int64_t(opts_.latency_ms) * 1000;
    if (r->steps.front().due_us > now || budget-- == 0) break;
    Step s = std::move(r->steps.front());
    r->steps.pop_front();
    if (s.k == Step::K::Done) {
      if (r->cut_by_max_tokens)
        finish_response(r, "incomplete", "max_output_tokens");
      else
        finish_response(r, "completed", "");
      return;  // r is gone
    }
    run_step(*r, s);
  }
  if (closed_ || r->steps.empty()) return;
  const int64_t now = g_get_monotonic_time() - r->start_us - int64_t(opts_.latency_ms) * 1000;
  const int64_t wait_ms = std::max<int64_t>(0, (r->steps.front().due_us - now) / 1000);
  r->timer = schedule(int(wait_ms), [this, r]() { pump(r); });
}

void EmulatorSession::run_step(Response &r, const Step &s) {
  const bool ga = info_.dialect == Dialect::GA;
  OutItem &oi = r.items[s.idx];
  Item &it = *oi.item;
  switch (s.k) {
    case Step::K::Add: {
      oi.added = true;
      Obj a = ev("response.output_item.added");
      a.str("response_id", r.id).num("output_index", int64_t(s.idx)).node("item", render_item(it, false));
      send(std::move(a));
      if (!r.oob) {
        oi.prev_id = prev_id_of(int(items_.size()));
        items_.push_back(oi.item);
        emit_item_added(oi.item, oi.prev_id, false);
      }
      if (it.type == "message") {
        Part part;
        part.kind = oi.audio_mod ? Part::Kind::Audio : Part::Kind::Text;
        part.fmt = r.fmt;
        if (oi.audio_mod) part.transcript = "";
        it.content.push_back(part);
        Obj pa = ev("response.content_part.added");
        pa.str("response_id", r.id).str("item_id", it.id).num("output_index", int64_t(s.idx)).num("content_index", 0);
        if (oi.audio_mod)
          pa.obj("part", std::move(Obj().str("type", "audio").str("transcript", "")));  // §4.2: "audio" in both
        else
          pa.obj("part", std::move(Obj().str("type", "text").str("text", "")));
        send(std::move(pa));
      }
      break;
    }
    case Step::K::TextDelta: {
      oi.text_sent += s.text;
      const char *type = oi.audio_mod ? (ga ? "response.output_audio_transcript.delta" : "response.audio_transcript.delta")
                                      : (ga ? "response.output_text.delta" : "response.text.delta");
      Obj d = ev(type);
      d.str("response_id", r.id).str("item_id", it.id).num("output_index", int64_t(s.idx)).num("content_index", 0);
      d.str("delta", s.text);
      if (ga) d.str("obfuscation", new_id("", 8));  // TRACE-GA carries an obfuscation string
      send(std::move(d));
      if (oi.audio_mod)
        it.content[0].transcript = oi.text_sent;
      else
        it.content[0].text = oi.text_sent;
      break;
    }
    case Step::K::AudioDelta: {
      Obj d = ev(ga ? "response.output_audio.delta" : "response.audio.delta");
      d.str("response_id", r.id).str("item_id", it.id).num("output_index", int64_t(s.idx)).num("content_index", 0);
      d.str("delta", b64(oi.audio.data() + s.off, s.len));
      send(std::move(d));
      oi.audio_sent = s.off + s.len;
      it.content[0].audio.assign(oi.audio.begin(), oi.audio.begin() + long(oi.audio_sent));
      audio_produced_ = true;
      break;
    }
    case Step::K::ArgsDelta: {
      oi.text_sent += s.text;
      Obj d = ev("response.function_call_arguments.delta");
      d.str("response_id", r.id).str("item_id", it.id).num("output_index", int64_t(s.idx)).str("call_id", it.call_id);
      d.str("delta", s.text);
      send(std::move(d));
      it.arguments = oi.text_sent;
      break;
    }
    case Step::K::Finish:
      close_item(r, s.idx, true);
      break;
    case Step::K::Done:
      break;
  }
}

// The *.done brackets of one output item (§5 rules 2-4, 6): also used on cancellation.
void EmulatorSession::close_item(Response &r, size_t idx, bool complete) {
  const bool ga = info_.dialect == Dialect::GA;
  OutItem &oi = r.items[idx];
  Item &it = *oi.item;
  if (!oi.added || oi.done) return;
  oi.done = true;
  const int64_t oidx = int64_t(idx);
  if (it.type == "message") {
    if (oi.audio_mod) {
      Obj ad = ev(ga ? "response.output_audio.done" : "response.audio.done");
      ad.str("response_id", r.id).str("item_id", it.id).num("output_index", oidx).num("content_index", 0);
      send(std::move(ad));
      Obj td = ev(ga ? "response.output_audio_transcript.done" : "response.audio_transcript.done");
      td.str("response_id", r.id).str("item_id", it.id).num("output_index", oidx).num("content_index", 0);
      td.str("transcript", oi.text_sent);
      send(std::move(td));
    } else {
      Obj td = ev(ga ? "response.output_text.done" : "response.text.done");
      td.str("response_id", r.id).str("item_id", it.id).num("output_index", oidx).num("content_index", 0);
      td.str("text", oi.text_sent);
      send(std::move(td));
    }
    Obj pd = ev("response.content_part.done");
    pd.str("response_id", r.id).str("item_id", it.id).num("output_index", oidx).num("content_index", 0);
    if (oi.audio_mod)
      pd.obj("part", std::move(Obj().str("type", "audio").str("transcript", oi.text_sent)));
    else
      pd.obj("part", std::move(Obj().str("type", "text").str("text", oi.text_sent)));
    send(std::move(pd));
  } else {
    Obj fd = ev("response.function_call_arguments.done");
    fd.str("response_id", r.id).str("item_id", it.id).num("output_index", oidx).str("call_id", it.call_id);
    fd.str("arguments", oi.text_sent);
    if (ga) fd.str("name", it.name);  // §4.1: name required in GA
    send(std::move(fd));
  }
  it.status = complete ? "completed" : "incomplete";
  Obj od = ev("response.output_item.done");
  od.str("response_id", r.id).num("output_index", oidx).node("item", render_item(it, false));
  send(std::move(od));
  if (ga && !r.oob && find_item(it.id) >= 0) {
    // §5 rule 3 / §12 item 12: GA conversation.item.done right after response.output_item.done.
    Obj cd = ev("conversation.item.done");
    cd.str_or_null("previous_item_id", oi.prev_id).node("item", render_item(it, false));
    send(std::move(cd));
  }
}

void EmulatorSession::finish_response(Response *r, const std::string &status, const std::string &reason) {
  cancel_source(r->timer);
  r->status = status;
  r->reason = reason;
  // Items never started are not part of the response (render_response skips them).
  Obj d = ev("response.done");
  JsonNode *resp = render_response(*r, true);
  d.node("response", json_node_ref(resp));
  send(std::move(d));
  // §9: rate_limits.updated right after response.done (GA traffic shows only "tokens").
  JsonObject *ro = json_node_get_object(resp);
  JsonNode *usage = member(ro, "usage");
  const int64_t total = is_object(usage) ? json_object_get_int_member(json_node_get_object(usage), "total_tokens") : 0;
  rate_tokens_used_ += total;
  Obj rl = ev("rate_limits.updated");
  Arr limits;
  const int64_t tok_limit = info_.dialect == Dialect::GA ? 40000 : 50000;
  if (info_.dialect == Dialect::Preview)
    limits.obj(std::move(Obj().str("name", "requests").num("limit", 1000).num("remaining", 999).dbl("reset_seconds", 60)));
  limits.obj(std::move(Obj()
                           .str("name", "tokens")
                           .num("limit", tok_limit)
                           .num("remaining", std::max<int64_t>(0, tok_limit - total))
                           .dbl("reset_seconds", std::round(double(total) * 60.0 / double(tok_limit) * 1000) / 1000)));
  rl.arr("rate_limits", std::move(limits));
  json_node_unref(resp);
  send(std::move(rl));
  if (!r->oob && status == "completed" && cfg_.turn_detection.type == TurnDetection::Type::ServerVad &&
      cfg_.turn_detection.idle_timeout_ms) {
    // Playback of the response audio (streamed faster than real time) ends later on the client.
    double audio_ms = 0;
    for (const auto &oi : r->items) audio_ms += bytes_to_ms(r->fmt, oi.audio_sent);
    const int64_t elapsed_ms = (g_get_monotonic_time() - r->start_us) / 1000;
    arm_idle_timeout(std::max<int64_t>(0, int64_t(audio_ms) - elapsed_ms));
  }
  for (auto it = responses_.begin(); it != responses_.end(); ++it) {
    if (it->get() == r) {
      responses_.erase(it);
      break;
    }
  }
}

// §3.11 / §10.5: stop generating; close open brackets (status incomplete); response.done cancelled.
void EmulatorSession::cancel_response(Response *r, const std::string &reason) {
  cancel_source(r->timer);
  r->steps.clear();
  for (size_t i = 0; i < r->items.size(); i++) close_item(*r, i, false);
  finish_response(r, "cancelled", reason);
}

}  // namespace emu
