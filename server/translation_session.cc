// realtime-emulator: translation sessions. See translation_session.h for the behaviour and the
// answers it takes to the unconfirmed facts of the reference.
#include "translation_session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "protocol.h"  // rtc::base64_* only

namespace emu {
namespace {

constexpr size_t kFrameBytes = 9600;  // 200 ms of PCM16 24 kHz mono
constexpr int kFrameMs = 200;
constexpr double kSpeechDbfs = -35.0;
constexpr int kEndSilentFrames = 3;   // 600 ms of appended silence end a phrase
constexpr int kDeltaBytes = 9600;     // translated audio in 200 ms deltas

const char *const kLanguages[] = {"es", "pt", "fr", "ja", "ru", "zh", "de", "ko", "hi", "id", "vi", "it", "en"};

// espeak-ng voice of each target language
std::string espeak_voice(const std::string &lang) { return lang == "zh" ? "cmn" : lang; }

// Scenario "translations" table, loaded once per file.
struct Row {
  std::string source;
  std::map<std::string, std::string> target;
};
const std::vector<Row> &table(const std::string &path) {
  static std::map<std::string, std::vector<Row>> cache;
  auto it = cache.find(path);
  if (it != cache.end()) return it->second;
  std::vector<Row> rows;
  gchar *text = nullptr;
  gsize len = 0;
  if (!path.empty() && g_file_get_contents(path.c_str(), &text, &len, nullptr)) {
    std::string err;
    JsonNode *root = parse_json(text, gssize(len), &err);
    if (root && JSON_NODE_HOLDS_OBJECT(root)) {
      JsonNode *t = member(json_node_get_object(root), "translations");
      if (t && JSON_NODE_HOLDS_ARRAY(t)) {
        JsonArray *a = json_node_get_array(t);
        for (guint i = 0; i < json_array_get_length(a); i++) {
          JsonNode *e = json_array_get_element(a, i);
          if (!JSON_NODE_HOLDS_OBJECT(e)) continue;
          Row r;
          JsonObject *o = json_node_get_object(e);
          GList *keys = json_object_get_members(o);
          for (GList *k = keys; k; k = k->next) {
            const char *name = static_cast<const char *>(k->data);
            JsonNode *v = json_object_get_member(o, name);
            if (!is_string(v)) continue;
            if (g_str_equal(name, "source"))
              r.source = string_of(v);
            else
              r.target[name] = string_of(v);
          }
          g_list_free(keys);
          rows.push_back(std::move(r));
        }
      }
    }
    if (root) json_node_unref(root);
    g_free(text);
  }
  return cache.emplace(path, std::move(rows)).first->second;
}

std::vector<std::string> words(const std::string &s) {
  // append-only fragments: the first word, then " word" (concatenate verbatim)
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i + 1);
    if (j == std::string::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

bool TranslationSession::language_supported(const std::string &code) {
  for (const char *l : kLanguages)
    if (code == l) return true;
  return false;
}

TranslationSession::TranslationSession(ServerContext &ctx, SoupWebsocketConnection *conn, const ConnectInfo &info,
                                       std::function<void(TranslationSession *)> on_gone)
    : ctx_(ctx),
      opts_(ctx.opts),
      conn_(SOUP_WEBSOCKET_CONNECTION(g_object_ref(conn))),
      info_(info),
      on_gone_(std::move(on_gone)) {
  rng_ ^= (uint64_t(g_random_int()) << 32) ^ g_random_int() ^ uint64_t(g_get_monotonic_time());
  if (!rng_) rng_ = 1;
  id_ = new_id("sess_", 20);
}

TranslationSession::~TranslationSession() {
  for (guint id : sources_) g_source_remove(id);
  if (msg_handler_) g_signal_handler_disconnect(conn_, msg_handler_);
  if (closed_handler_) g_signal_handler_disconnect(conn_, closed_handler_);
  if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, nullptr);
  g_object_unref(conn_);
}

std::string TranslationSession::new_id(const char *prefix, int n) {
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

void TranslationSession::start() {
  msg_handler_ = g_signal_connect(conn_, "message", G_CALLBACK(on_message_cb), this);
  closed_handler_ = g_signal_connect(conn_, "closed", G_CALLBACK(on_closed_cb), this);
  soup_websocket_connection_set_max_incoming_payload_size(conn_, 32 * 1024 * 1024);
  soup_websocket_connection_set_keepalive_interval(conn_, 0);
  expires_at_ = g_get_real_time() / G_USEC_PER_SEC + (opts_.session_max_s >= 0 ? opts_.session_max_s : 3600);
  ctx_.log.conn(id_, "\"what\":\"open\",\"path\":" + node_to_string(Obj().str("p", info_.path).release_node()) +
                         ",\"kind\":\"translation\",\"azure\":" + (info_.azure ? "true" : "false"));
  Obj created = ev("session.created");
  created.node("session", render_session());
  send(std::move(created));
}

void TranslationSession::shutdown() {
  if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "server shutting down");
}

void TranslationSession::on_message_cb(SoupWebsocketConnection *, gint type, GBytes *msg, gpointer self) {
  auto *s = static_cast<TranslationSession *>(self);
  gsize len = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(msg, &len));
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    s->ctx_.log.raw(s->id_, "in", "<binary frame of " + std::to_string(len) + " bytes>");
    s->send_error("invalid_event", "Binary frames are not supported; send JSON text frames.", std::nullopt,
                  std::nullopt);
    return;
  }
  s->on_message(data ? data : "", len);
}

void TranslationSession::on_closed_cb(SoupWebsocketConnection *, gpointer self) {
  static_cast<TranslationSession *>(self)->on_closed();
}

void TranslationSession::on_closed() {
  if (closed_) return;
  closed_ = true;
  ctx_.log.conn(id_, "\"what\":\"closed\",\"code\":" + std::to_string(soup_websocket_connection_get_close_code(conn_)));
  for (guint id : sources_) g_source_remove(id);
  sources_.clear();
  auto gone = std::move(on_gone_);
  on_gone_ = nullptr;
  if (gone) gone(this);
}

Obj TranslationSession::ev(const char *type) {
  Obj o;
  o.str("type", type).str("event_id", new_id("event_", 21));
  return o;
}

void TranslationSession::send(Obj &&o) {
  if (closed_ || soup_websocket_connection_get_state(conn_) != SOUP_WEBSOCKET_STATE_OPEN) return;
  const std::string text = o.to_string();
  ctx_.log.event(id_, "out", text);
  soup_websocket_connection_send_text(conn_, text.c_str());
  sent_++;
  // --fault-close-after N applies here too (reconnection tests)
  if (info_.faults && opts_.fault_close_after == sent_) {
    for (guint id : sources_) g_source_remove(id);
    sources_.clear();
    soup_websocket_connection_close(conn_, gushort(opts_.fault_close_code), "fault injection");
  }
}

void TranslationSession::send_error(const std::string &code, const std::string &message,
                                    const std::optional<std::string> &param, const std::optional<std::string> &eid) {
  Obj o = ev("error");
  Obj e;
  e.str("type", "invalid_request_error").str("code", code).str("message", message).str_or_null("param", param);
  e.str_or_null("event_id", eid);
  o.obj("error", std::move(e));
  send(std::move(o));
}

JsonNode *TranslationSession::render_session() const {
  Obj in;
  if (transcription_model_)
    in.obj("transcription", std::move(Obj().str("model", *transcription_model_)));
  else
    in.null("transcription");
  if (noise_reduction_)
    in.obj("noise_reduction", std::move(Obj().str("type", *noise_reduction_)));
  else
    in.null("noise_reduction");
  Obj audio;
  audio.obj("input", std::move(in));
  audio.obj("output", std::move(Obj().str("language", language_)));
  Obj s;
  s.str("id", id_).str("type", "translation").str("model", info_.model.empty() ? "gpt-realtime-translate" : info_.model);
  s.num("expires_at", expires_at_);
  s.obj("audio", std::move(audio));
  return s.release_node();
}

void TranslationSession::on_message(const char *data, size_t len) {
  if (closed_) return;
  std::string perr;
  JsonNode *root = parse_json(data, gssize(len), &perr);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    ctx_.log.raw(id_, "in", std::string(data, std::min<size_t>(len, 2000)));
    send_error("invalid_event", "We could not parse the JSON body of your request.", std::nullopt, std::nullopt);
    if (root) json_node_unref(root);
    return;
  }
  ctx_.log.event(id_, "in", memchr(data, '\n', len) ? node_to_string(root) : std::string(data, len));
  JsonObject *o = json_node_get_object(root);
  std::optional<std::string> eid;
  if (JsonNode *e = member(o, "event_id"); e && is_string(e)) eid = string_of(e);
  JsonNode *tn = member(o, "type");
  const std::string type = tn && is_string(tn) ? string_of(tn) : std::string();
  if (type == "session.update") {
    handle_update(o, eid);
  } else if (type == "session.input_audio_buffer.append") {
    handle_append(o, eid);
  } else if (type == "session.close") {
    handle_close();
  } else {
    send_error("invalid_value",
               "Invalid value: '" + type +
                   "'. Translation sessions support only 'session.update', "
                   "'session.input_audio_buffer.append' and 'session.close'.",
               std::string("type"), eid);
  }
  json_node_unref(root);
}

void TranslationSession::handle_update(JsonObject *o, const std::optional<std::string> &eid) {
  JsonNode *sn = member(o, "session");
  if (!sn || !JSON_NODE_HOLDS_OBJECT(sn)) {
    send_error("missing_required_parameter", "Missing required parameter: 'session'.", std::string("session"), eid);
    return;
  }
  JsonObject *s = json_node_get_object(sn);
  for (const char *bad : {"type", "model", "instructions", "voice", "turn_detection", "tools", "output_modalities"}) {
    if (member(s, bad)) {
      send_error("unknown_parameter", std::string("Unknown parameter: 'session.") + bad + "'.",
                 std::string("session.") + bad, eid);
      return;
    }
  }
  std::string lang = language_;
  std::optional<std::string> tmodel = transcription_model_, nr = noise_reduction_;
  JsonNode *an = member(s, "audio");
  if (an && JSON_NODE_HOLDS_OBJECT(an)) {
    JsonObject *a = json_node_get_object(an);
    JsonNode *inn = member(a, "input");
    if (inn && JSON_NODE_HOLDS_OBJECT(inn)) {
      JsonObject *in = json_node_get_object(inn);
      if (JsonNode *f = member(in, "format")) {
        // input is fixed to PCM16 24 kHz mono (reference §2): anything else is a validation error
        bool ok = false;
        if (JSON_NODE_HOLDS_OBJECT(f)) {
          JsonObject *fo = json_node_get_object(f);
          JsonNode *t = member(fo, "type"), *r = member(fo, "rate");
          ok = t && is_string(t) && string_of(t) == "audio/pcm" &&
               (!r || (JSON_NODE_HOLDS_VALUE(r) && json_node_get_int(r) == 24000));
        }
        if (!ok) {
          send_error("invalid_value",
                     "Invalid value for 'session.audio.input.format': translation sessions accept only PCM16 "
                     "24 kHz mono ({\"type\":\"audio/pcm\",\"rate\":24000}).",
                     std::string("session.audio.input.format"), eid);
          return;
        }
      }
      if (JsonNode *t = member(in, "transcription")) {
        if (is_null(t)) {
          tmodel.reset();
        } else if (JSON_NODE_HOLDS_OBJECT(t) && member(json_node_get_object(t), "model") &&
                   is_string(member(json_node_get_object(t), "model"))) {
          tmodel = string_of(member(json_node_get_object(t), "model"));
        } else {
          send_error("invalid_value", "Invalid value for 'session.audio.input.transcription': expected {model} or null.",
                     std::string("session.audio.input.transcription"), eid);
          return;
        }
      }
      if (member(in, "language")) {
        send_error("unknown_parameter", "Unknown parameter: 'session.audio.input.language'.",
                   std::string("session.audio.input.language"), eid);
        return;
      }
      if (JsonNode *n = member(in, "noise_reduction")) {
        if (is_null(n)) {
          nr.reset();
        } else {
          JsonNode *t = JSON_NODE_HOLDS_OBJECT(n) ? member(json_node_get_object(n), "type") : nullptr;
          const std::string v = t && is_string(t) ? string_of(t) : std::string();
          if (v != "near_field" && v != "far_field") {
            send_error("invalid_value",
                       "Invalid value for 'session.audio.input.noise_reduction.type': expected 'near_field' or "
                       "'far_field'.",
                       std::string("session.audio.input.noise_reduction.type"), eid);
            return;
          }
          nr = v;
        }
      }
    }
    JsonNode *outn = member(a, "output");
    if (outn && JSON_NODE_HOLDS_OBJECT(outn)) {
      JsonObject *out = json_node_get_object(outn);
      if (member(out, "format") || member(out, "voice")) {
        send_error("unknown_parameter", "Unknown parameter: 'session.audio.output.format' / 'voice'.",
                   std::string("session.audio.output"), eid);
        return;
      }
      if (JsonNode *l = member(out, "language")) {
        const std::string v = is_string(l) ? string_of(l) : std::string();
        if (!language_supported(v)) {
          send_error("invalid_value",
                     "Invalid value for 'session.audio.output.language': '" + v +
                         "' is not a supported output language (es, pt, fr, ja, ru, zh, de, ko, hi, id, vi, it, en).",
                     std::string("session.audio.output.language"), eid);
          return;
        }
        lang = v;
      }
    }
  }
  language_ = lang;
  transcription_model_ = tmodel;
  noise_reduction_ = nr;
  Obj u = ev("session.updated");
  u.node("session", render_session());
  send(std::move(u));
}

void TranslationSession::handle_append(JsonObject *o, const std::optional<std::string> &eid) {
  if (closing_) {
    send_error("invalid_value", "The session is closing: no more audio is accepted after 'session.close'.",
               std::string("type"), eid);
    return;
  }
  JsonNode *a = member(o, "audio");
  if (!a || !is_string(a)) {
    send_error("missing_required_parameter", "Missing required parameter: 'audio'.", std::string("audio"), eid);
    return;
  }
  const std::string b64 = string_of(a);
  std::vector<uint8_t> bytes(rtc::base64_decoded_max(b64.size()));
  size_t n = 0;
  if (!rtc::base64_decode(b64.data(), b64.size(), bytes.data(), &n) || n % 2 != 0) {
    send_error("invalid_value", "Invalid 'audio': expected base64-encoded PCM16 (an even number of bytes).",
               std::string("audio"), eid);
    return;
  }
  pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + ptrdiff_t(n));
  consume_frames(false);
}

void TranslationSession::consume_frames(bool final) {
  size_t off = 0;
  std::vector<int16_t> s(kFrameBytes / 2);
  while (pending_.size() - off >= kFrameBytes || (final && pending_.size() > off)) {
    size_t take = std::min(kFrameBytes, pending_.size() - off);
    std::fill(s.begin(), s.end(), 0);
    for (size_t i = 0; i + 1 < take; i += 2)
      s[i / 2] = int16_t(uint16_t(pending_[off + i]) | uint16_t(pending_[off + i + 1]) << 8);
    frame(s.data(), s.size());
    off += take;
  }
  pending_.erase(pending_.begin(), pending_.begin() + ptrdiff_t(off));
}

void TranslationSession::frame(const int16_t *s, size_t n) {
  double e = 0;
  for (size_t i = 0; i < n; i++) e += double(s[i]) * s[i];
  const double rms = std::sqrt(e / double(n)) / 32768.0;
  const bool speech = rms > 0 && 20.0 * std::log10(rms) + 3.0103 > kSpeechDbfs;
  const int64_t start_ms = frames_ * kFrameMs;
  frames_++;
  if (speech) {
    silent_frames_ = 0;
    if (!in_phrase_) {
      in_phrase_ = true;
      cur_.start_ms = start_ms;
      cur_.index = phrases_++;
    }
  } else if (in_phrase_ && ++silent_frames_ >= kEndSilentFrames) {
    end_phrase();
  }
}

void TranslationSession::end_phrase() {
  in_phrase_ = false;
  silent_frames_ = 0;
  const Phrase p = cur_;
  const std::string lang = language_;  // the language in force when the phrase ended
  const bool with_source = transcription_model_.has_value();
  outstanding_++;
  struct Cb {
    TranslationSession *s;
    Phrase p;
    std::string lang;
    bool src;
    guint id;
  };
  auto *cb = new Cb{this, p, lang, with_source, 0};
  cb->id = g_timeout_add_full(
      G_PRIORITY_DEFAULT, guint(std::max(0, opts_.translation_lag_ms)),
      [](gpointer d) -> gboolean {
        auto *c = static_cast<Cb *>(d);
        c->s->sources_.erase(c->id);
        c->s->emit_phrase(c->p, c->lang, c->src);
        return G_SOURCE_REMOVE;
      },
      cb, [](gpointer d) { delete static_cast<Cb *>(d); });
  sources_.insert(cb->id);
}

void TranslationSession::emit_phrase(const Phrase &p, const std::string &lang, bool with_source) {
  outstanding_--;
  const auto &rows = table(opts_.scenario);
  std::string source, target;
  if (p.index < int(rows.size())) {
    source = rows[size_t(p.index)].source;
    auto it = rows[size_t(p.index)].target.find(lang);
    if (it != rows[size_t(p.index)].target.end()) target = it->second;
  }
  if (source.empty()) source = "source phrase " + std::to_string(p.index + 1);
  if (target.empty()) target = lang + " phrase " + std::to_string(p.index + 1);
  if (with_source) {
    for (const std::string &w : words(source)) {
      Obj d = ev("session.input_transcript.delta");
      d.str("delta", said_in_ && w[0] != ' ' ? " " + w : w).num("elapsed_ms", p.start_ms);
      said_in_ = true;
      send(std::move(d));
    }
  }
  for (const std::string &w : words(target)) {
    Obj d = ev("session.output_transcript.delta");
    d.str("delta", said_out_ && w[0] != ' ' ? " " + w : w).num("elapsed_ms", p.start_ms);
    said_out_ = true;
    send(std::move(d));
  }
  std::vector<uint8_t> pcm = ctx_.voice->synth(target, "lang:" + espeak_voice(lang), 1.0, Fmt::PCM16);
  for (size_t off = 0; off < pcm.size() && !closed_; off += kDeltaBytes) {
    const size_t n = std::min<size_t>(kDeltaBytes, pcm.size() - off);
    std::string b64;
    rtc::base64_encode_append(b64, pcm.data() + off, n);
    Obj d = ev("session.output_audio.delta");
    d.str("delta", b64).num("sample_rate", 24000).num("channels", 1).str("format", "pcm16").num("elapsed_ms", p.start_ms);
    send(std::move(d));
  }
  maybe_closed();
}

void TranslationSession::handle_close() {
  if (closing_) return;
  closing_ = true;
  consume_frames(true);
  if (in_phrase_) end_phrase();
  maybe_closed();
}

void TranslationSession::maybe_closed() {
  if (!closing_ || closed_sent_ || outstanding_ > 0) return;
  closed_sent_ = true;
  send(ev("session.closed"));
}

}  // namespace emu
