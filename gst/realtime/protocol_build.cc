// Client events (§3) of both dialects, and the dialect / audio format helpers.
//
// The events are built as a small ordered tree (JValue) and written by a hand-written writer:
// member order is stable ("type" first, then "event_id"), every string is escaped (invalid
// UTF-8 and NUL become U+FFFD, so the output always passes validate_json()), numbers use the shortest form that
// reads back to the same double. JSON given as text by the caller (tools_json, extra_json, ...)
// is checked with validate_json() and parsed by json-glib; invalid text is left out because
// builders cannot fail (callers check it first with validate_json_object() / validate_json()).
// input_audio_buffer.append, the hot path, builds no tree: the base64 goes straight into the
// output string (§3.3).
#include <json-glib/json-glib.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "protocol.h"
#include "utf8.h"

namespace rtc {
namespace {

// ---------------------------------------------------------------------------------------------
// A minimal ordered JSON tree.
// ---------------------------------------------------------------------------------------------
struct JValue {
  enum class K { Null, Bool, Int, Double, String, Array, Object };
  K k = K::Null;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<JValue> a;
  std::vector<std::pair<std::string, JValue>> o;

  JValue() = default;
  static JValue null() { return JValue(); }
  static JValue boolean(bool v) {
    JValue j;
    j.k = K::Bool;
    j.b = v;
    return j;
  }
  static JValue integer(int64_t v) {
    JValue j;
    j.k = K::Int;
    j.i = v;
    return j;
  }
  static JValue number(double v) {
    JValue j;
    j.k = K::Double;
    j.d = v;
    return j;
  }
  static JValue string(std::string v) {
    JValue j;
    j.k = K::String;
    j.s = std::move(v);
    return j;
  }
  static JValue array() {
    JValue j;
    j.k = K::Array;
    return j;
  }
  static JValue object() {
    JValue j;
    j.k = K::Object;
    return j;
  }

  JValue *find(const std::string &key) {
    for (auto &m : o)
      if (m.first == key) return &m.second;
    return nullptr;
  }
  // Objects: replaces an existing member in place, else appends.
  JValue &set(const std::string &key, JValue v) {
    if (JValue *e = find(key)) {
      *e = std::move(v);
    } else {
      o.emplace_back(key, std::move(v));
    }
    return *this;
  }
  JValue &push(JValue v) {
    a.push_back(std::move(v));
    return *this;
  }
};

JValue jstr(const std::string &s) { return JValue::string(s); }

// extra_json is merged member by member into objects; anything else replaces (null included,
// so extra_json can also clear a field).
void deep_merge(JValue *dst, const JValue &src) {
  if (dst->k == JValue::K::Object && src.k == JValue::K::Object) {
    for (const auto &m : src.o) {
      JValue *e = dst->find(m.first);
      if (e && e->k == JValue::K::Object && m.second.k == JValue::K::Object) {
        deep_merge(e, m.second);
      } else {
        dst->set(m.first, m.second);
      }
    }
  } else {
    *dst = src;
  }
}

JValue from_node(JsonNode *n) {
  switch (JSON_NODE_TYPE(n)) {
    case JSON_NODE_OBJECT: {
      JValue v = JValue::object();
      JsonObject *obj = json_node_get_object(n);
      GList *members = json_object_get_members(obj);
      for (GList *l = members; l; l = l->next) {
        const char *name = static_cast<const char *>(l->data);
        v.set(name, from_node(json_object_get_member(obj, name)));
      }
      g_list_free(members);
      return v;
    }
    case JSON_NODE_ARRAY: {
      JValue v = JValue::array();
      JsonArray *arr = json_node_get_array(n);
      const guint len = json_array_get_length(arr);
      for (guint i = 0; i < len; i++) v.push(from_node(json_array_get_element(arr, i)));
      return v;
    }
    case JSON_NODE_VALUE: {
      const GType t = json_node_get_value_type(n);
      if (t == G_TYPE_INT64) return JValue::integer(json_node_get_int(n));
      if (t == G_TYPE_DOUBLE) return JValue::number(json_node_get_double(n));
      if (t == G_TYPE_BOOLEAN) return JValue::boolean(json_node_get_boolean(n));
      if (t == G_TYPE_STRING) return JValue::string(json_node_get_string(n));
      return JValue::null();
    }
    case JSON_NODE_NULL:
    default:
      return JValue::null();
  }
}

// Parses caller-provided JSON text (strict rules of validate_json); nullopt when invalid.
std::optional<JValue> parse_json_text(const std::string &text) {
  if (text.empty() || !validate_json(text.data(), text.size(), nullptr)) return std::nullopt;
  JsonParser *parser = json_parser_new_immutable();
  std::optional<JValue> out;
  if (json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), nullptr)) {
    if (JsonNode *root = json_parser_get_root(parser)) out = from_node(root);
  }
  g_object_unref(parser);
  return out;
}

std::optional<JValue> parse_json_kind(const std::string &text, JValue::K kind) {
  std::optional<JValue> v = parse_json_text(text);
  if (v && v->k != kind) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------
void write_string(std::string &out, const std::string &s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const unsigned char *p = reinterpret_cast<const unsigned char *>(s.data());
  const unsigned char *end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      const unsigned char *run = p;
      while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
      out.append(reinterpret_cast<const char *>(run), static_cast<size_t>(p - run));
      continue;
    }
    if (c >= 0x80) {
      const size_t n = utf8_sequence_length(p, end);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD for each invalid byte
        p++;
      } else {
        out.append(reinterpret_cast<const char *>(p), n);
        p += n;
      }
      continue;
    }
    switch (c) {
      case 0:  // json-glib truncates at an escaped NUL and validate_json() rejects it (fastpath.cc)
        out += "\xEF\xBF\xBD";
        break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
        break;
    }
    p++;
  }
  out.push_back('"');
}

void write_double(std::string &out, double d) {
  if (!std::isfinite(d)) {  // not representable in JSON
    out += "null";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  // The shortest form of a large integral double may be plain digits ("12345678901234567000"):
  // JSON readers take that for an integer, which overflows int64 (validate_json() refuses it,
  // json-glib wraps it). Beyond 2^53 (where doubles stop being exact integers) such a value is
  // written in exponent form, which every reader takes for a double.
  const size_t len = static_cast<size_t>(res.ptr - buf);
  if (std::fabs(d) >= 9007199254740992.0 && !memchr(buf, '.', len) && !memchr(buf, 'e', len))
    res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  out.append(buf, res.ptr);
}

void write(std::string &out, const JValue &v) {
  switch (v.k) {
    case JValue::K::Null: out += "null"; break;
    case JValue::K::Bool: out += v.b ? "true" : "false"; break;
    case JValue::K::Int: out += std::to_string(v.i); break;
    case JValue::K::Double: write_double(out, v.d); break;
    case JValue::K::String: write_string(out, v.s); break;
    case JValue::K::Array: {
      out.push_back('[');
      bool first = true;
      for (const JValue &e : v.a) {
        if (!first) out.push_back(',');
        first = false;
        write(out, e);
      }
      out.push_back(']');
      break;
    }
    case JValue::K::Object: {
      out.push_back('{');
      bool first = true;
      for (const auto &m : v.o) {
        if (!first) out.push_back(',');
        first = false;
        write_string(out, m.first);
        out.push_back(':');
        write(out, m.second);
      }
      out.push_back('}');
      break;
    }
  }
}

std::string to_text(const JValue &v) {
  std::string out;
  write(out, v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pieces of the events
// ---------------------------------------------------------------------------------------------
JValue event(const char *type, const std::string &event_id) {
  JValue e = JValue::object();
  e.set("type", jstr(type));
  if (!event_id.empty()) e.set("event_id", jstr(event_id));  // §1.5: optional, echoed in errors
  return e;
}

// §2.2 RealtimeAudioFormats: only 24 kHz PCM exists, the rate is stated for PCM only.
JValue ga_format(AudioFormat f) {
  JValue o = JValue::object();
  o.set("type", jstr(audio_format_ga_type(f)));
  if (f == AudioFormat::PCM16) o.set("rate", JValue::integer(24000));
  return o;
}

JValue transcription(const std::optional<InputTranscription> &t) {
  if (!t) return JValue::null();  // §2.1: null = off
  JValue o = JValue::object();
  if (!t->model.empty()) o.set("model", jstr(t->model));
  if (!t->language.empty()) o.set("language", jstr(t->language));
  if (!t->prompt.empty()) o.set("prompt", jstr(t->prompt));
  if (!t->delay.empty()) o.set("delay", jstr(t->delay));
  auto strings = [](const std::vector<std::string> &v) {
    JValue a = JValue::array();
    for (const auto &x : v) a.push(jstr(x));
    return a;
  };
  if (!t->keywords.empty()) o.set("keywords", strings(t->keywords));
  if (!t->languages.empty()) o.set("languages", strings(t->languages));  // never [] (Part B §8)
  return o;
}

JValue noise_reduction(NoiseReduction n) {
  if (n == NoiseReduction::Off) return JValue::null();
  JValue o = JValue::object();
  o.set("type", jstr(n == NoiseReduction::NearField ? "near_field" : "far_field"));
  return o;
}

// §2.3. create_response / interrupt_response do not exist in transcription sessions;
// idle_timeout_ms is GA only.
JValue turn_detection(const TurnDetection &td, Dialect d, bool transcription_session) {
  if (td.type == TurnDetection::Type::None) return JValue::null();
  JValue o = JValue::object();
  if (td.type == TurnDetection::Type::ServerVad) {
    o.set("type", jstr("server_vad"));
    o.set("threshold", JValue::number(td.threshold));
    o.set("prefix_padding_ms", JValue::integer(td.prefix_padding_ms));
    o.set("silence_duration_ms", JValue::integer(td.silence_duration_ms));
  } else {
    o.set("type", jstr("semantic_vad"));
    if (!td.eagerness.empty()) o.set("eagerness", jstr(td.eagerness));
  }
  if (!transcription_session) {
    o.set("create_response", JValue::boolean(td.create_response));
    o.set("interrupt_response", JValue::boolean(td.interrupt_response));
    if (td.type == TurnDetection::Type::ServerVad && d == Dialect::GA && td.idle_timeout_ms)
      o.set("idle_timeout_ms", JValue::integer(*td.idle_timeout_ms));
  }
  return o;
}

JValue modalities(Dialect d, Modality m) {
  JValue a = JValue::array();
  if (d == Dialect::GA) {
    a.push(jstr(m == Modality::Audio ? "audio" : "text"));  // §2.2: exactly one
  } else {
    a.push(jstr("text"));  // §2.1 / §7.2: audio always comes with text in preview
    if (m == Modality::Audio) a.push(jstr("audio"));
  }
  return a;
}

void set_json_member(JValue *o, const char *key, const std::string &text, JValue::K kind) {
  if (text.empty()) return;
  if (auto v = parse_json_kind(text, kind)) o->set(key, std::move(*v));
}

void set_tool_choice(JValue *o, const std::string &text) {
  if (text.empty()) return;
  if (auto v = parse_json_text(text)) o->set("tool_choice", std::move(*v));
}

JValue max_tokens(const std::optional<int> &n) {
  return n ? JValue::integer(*n) : jstr("inf");  // §2.1: int 1..4096 or "inf"
}

void merge_extra(JValue *session, const std::string &extra_json) {
  if (extra_json.empty()) return;
  if (auto extra = parse_json_kind(extra_json, JValue::K::Object)) deep_merge(session, *extra);
}

JValue session_object(Dialect d, const SessionConfig &cfg) {
  JValue s = JValue::object();
  if (d == Dialect::GA) {  // §2.2
    s.set("type", jstr("realtime"));
    if (cfg.instructions) s.set("instructions", jstr(*cfg.instructions));
    s.set("output_modalities", modalities(d, cfg.output_modality));
    JValue in = JValue::object();
    in.set("format", ga_format(cfg.input_format));
    in.set("transcription", transcription(cfg.input_transcription));
    in.set("noise_reduction", noise_reduction(cfg.noise_reduction));
    in.set("turn_detection", turn_detection(cfg.turn_detection, d, false));
    JValue out = JValue::object();
    out.set("format", ga_format(cfg.output_format));
    if (cfg.voice) out.set("voice", jstr(*cfg.voice));
    if (cfg.speed) out.set("speed", JValue::number(*cfg.speed));
    JValue audio = JValue::object();
    audio.set("input", std::move(in));
    audio.set("output", std::move(out));
    s.set("audio", std::move(audio));
    set_json_member(&s, "tools", cfg.tools_json, JValue::K::Array);
    set_tool_choice(&s, cfg.tool_choice_json);
    s.set("max_output_tokens", max_tokens(cfg.max_output_tokens));
    // §7.2: temperature does not exist in GA.
  } else {  // §2.1
    if (cfg.instructions) s.set("instructions", jstr(*cfg.instructions));
    if (cfg.voice) s.set("voice", jstr(*cfg.voice));
    s.set("modalities", modalities(d, cfg.output_modality));
    s.set("input_audio_format", jstr(audio_format_preview_name(cfg.input_format)));
    s.set("output_audio_format", jstr(audio_format_preview_name(cfg.output_format)));
    s.set("input_audio_transcription", transcription(cfg.input_transcription));
    s.set("input_audio_noise_reduction", noise_reduction(cfg.noise_reduction));
    s.set("turn_detection", turn_detection(cfg.turn_detection, d, false));
    set_json_member(&s, "tools", cfg.tools_json, JValue::K::Array);
    set_tool_choice(&s, cfg.tool_choice_json);
    if (cfg.temperature) s.set("temperature", JValue::number(*cfg.temperature));
    s.set("max_response_output_tokens", max_tokens(cfg.max_output_tokens));
    if (cfg.speed) s.set("speed", JValue::number(*cfg.speed));
  }
  merge_extra(&s, cfg.extra_json);
  return s;
}

std::string with_session(const char *type, const std::string &event_id, JValue session) {
  JValue e = event(type, event_id);
  e.set("session", std::move(session));
  return to_text(e);
}

std::string simple(const char *type, const std::string &event_id) { return to_text(event(type, event_id)); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Enums and formats
// ---------------------------------------------------------------------------------------------
const char *dialect_name(Dialect d) { return d == Dialect::GA ? "ga" : "preview"; }
const char *session_kind_name(SessionKind k) {
  switch (k) {
    case SessionKind::Conversation: return "conversation";
    case SessionKind::Transcription: return "transcription";
    case SessionKind::Translation: return "translation";
  }
  return "conversation";
}

int audio_format_rate(AudioFormat f) { return f == AudioFormat::PCM16 ? 24000 : 8000; }

int audio_format_bytes_per_sample(AudioFormat f) { return f == AudioFormat::PCM16 ? 2 : 1; }

const char *audio_format_preview_name(AudioFormat f) {
  switch (f) {
    case AudioFormat::G711_ULAW: return "g711_ulaw";
    case AudioFormat::G711_ALAW: return "g711_alaw";
    case AudioFormat::PCM16: break;
  }
  return "pcm16";
}

const char *audio_format_ga_type(AudioFormat f) {
  switch (f) {
    case AudioFormat::G711_ULAW: return "audio/pcmu";
    case AudioFormat::G711_ALAW: return "audio/pcma";
    case AudioFormat::PCM16: break;
  }
  return "audio/pcm";
}

std::optional<AudioFormat> audio_format_from_string(const std::string &s) {
  std::string l;
  for (char c : s) l.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  // §2.1 names, §2.2 GA types, §1.5 the hyphenated AZ-SDK spellings.
  if (l == "pcm16" || l == "audio/pcm" || l == "pcm") return AudioFormat::PCM16;
  if (l == "g711_ulaw" || l == "g711-ulaw" || l == "audio/pcmu" || l == "pcmu" || l == "ulaw" || l == "mulaw")
    return AudioFormat::G711_ULAW;
  if (l == "g711_alaw" || l == "g711-alaw" || l == "audio/pcma" || l == "pcma" || l == "alaw")
    return AudioFormat::G711_ALAW;
  return std::nullopt;
}

std::string EventIdCounter::next() { return prefix_ + std::to_string(++n_); }

bool validate_json_object(const std::string &text, std::string *error) {
  if (!validate_json(text.data(), text.size(), error)) return false;
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) i++;
  if (text[i] != '{') {
    if (error) *error = "the JSON value is not an object";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The 12 client events (§3)
// ---------------------------------------------------------------------------------------------
std::string build_session_update(Dialect d, const SessionConfig &cfg, const std::string &event_id) {
  return with_session("session.update", event_id, session_object(d, cfg));
}

std::string build_transcription_session_update(Dialect d, const SessionConfig &cfg, const std::string &event_id) {
  JValue s = JValue::object();
  if (d == Dialect::GA) {  // §2.2b: session.update with session.type "transcription"
    s.set("type", jstr("transcription"));
    JValue in = JValue::object();
    in.set("format", ga_format(cfg.input_format));
    in.set("transcription", transcription(cfg.input_transcription));
    in.set("noise_reduction", noise_reduction(cfg.noise_reduction));
    in.set("turn_detection", turn_detection(cfg.turn_detection, d, true));
    JValue audio = JValue::object();
    audio.set("input", std::move(in));
    s.set("audio", std::move(audio));
    if (cfg.include_logprobs) {
      JValue inc = JValue::array();
      inc.push(jstr("item.input_audio_transcription.logprobs"));
      s.set("include", std::move(inc));
    }
    merge_extra(&s, cfg.extra_json);
    return with_session("session.update", event_id, std::move(s));
  }
  // §3.2 (preview only)
  s.set("input_audio_format", jstr(audio_format_preview_name(cfg.input_format)));
  s.set("input_audio_transcription", transcription(cfg.input_transcription));
  s.set("turn_detection", turn_detection(cfg.turn_detection, d, true));
  s.set("input_audio_noise_reduction", noise_reduction(cfg.noise_reduction));
  if (cfg.include_logprobs) {
    JValue inc = JValue::array();
    inc.push(jstr("item.input_audio_transcription.logprobs"));
    s.set("include", std::move(inc));
  }
  merge_extra(&s, cfg.extra_json);
  return with_session("transcription_session.update", event_id, std::move(s));
}

// An append event written straight into `out` (hot path: no JSON tree), for both append types.
static void build_audio_append(std::string &out, const char *head, size_t head_len, const uint8_t *data, size_t len,
                               const std::string &event_id) {
  out.clear();
  out.reserve(head_len + event_id.size() + 32 + base64_encoded_len(len));
  out.append(head, head_len);
  if (!event_id.empty()) {
    out += ",\"event_id\":";
    write_string(out, event_id);
  }
  out += ",\"audio\":\"";
  if (len > 0) base64_encode_append(out, data, len);
  out += "\"}";
}

void build_input_audio_append(std::string &out, const uint8_t *data, size_t len, const std::string &event_id) {
  static const char kHead[] = "{\"type\":\"input_audio_buffer.append\"";
  build_audio_append(out, kHead, sizeof kHead - 1, data, len, event_id);
}

std::string build_input_audio_append(const uint8_t *data, size_t len, const std::string &event_id) {
  std::string out;
  build_input_audio_append(out, data, len, event_id);
  return out;
}

std::string build_input_audio_commit(const std::string &event_id) {
  return simple("input_audio_buffer.commit", event_id);
}

std::string build_input_audio_clear(const std::string &event_id) {
  return simple("input_audio_buffer.clear", event_id);
}

std::string build_item_create(Dialect d, const ItemCreate &item, const std::string &event_id) {
  JValue e = event("conversation.item.create", event_id);
  if (item.previous_item_id) e.set("previous_item_id", jstr(*item.previous_item_id));  // §3.6
  JValue it = JValue::object();
  if (!item.id.empty()) it.set("id", jstr(item.id));
  auto message = [&](const char *role, const char *content_type, JValue part) {
    it.set("type", jstr("message"));
    it.set("role", jstr(role));
    JValue p = JValue::object();
    p.set("type", jstr(content_type));
    for (auto &m : part.o) p.set(m.first, std::move(m.second));
    it.set("content", JValue::array().push(std::move(p)));
  };
  auto text_part = [&]() {
    JValue p = JValue::object();
    p.set("text", jstr(item.text));
    return p;
  };
  switch (item.kind) {
    case ItemCreate::Kind::UserText:
      message("user", "input_text", text_part());
      break;
    case ItemCreate::Kind::SystemText:
      message("system", "input_text", text_part());
      break;
    case ItemCreate::Kind::AssistantText:
      // §2.4 / §7.2: assistant text content is "text" in preview, "output_text" in GA.
      message("assistant", d == Dialect::GA ? "output_text" : "text", text_part());
      break;
    case ItemCreate::Kind::UserAudio: {
      JValue p = JValue::object();
      std::string b64;
      base64_encode_append(b64, item.audio.data(), item.audio.size());
      p.set("audio", JValue::string(std::move(b64)));
      message("user", "input_audio", std::move(p));
      break;
    }
    case ItemCreate::Kind::FunctionCall:
      it.set("type", jstr("function_call"));
      if (!item.call_id.empty()) it.set("call_id", jstr(item.call_id));
      it.set("name", jstr(item.name));
      it.set("arguments", jstr(item.arguments));
      break;
    case ItemCreate::Kind::FunctionCallOutput:
      it.set("type", jstr("function_call_output"));
      it.set("call_id", jstr(item.call_id));
      it.set("output", jstr(item.output));
      break;
  }
  e.set("item", std::move(it));
  return to_text(e);
}

std::string build_item_retrieve(const std::string &item_id, const std::string &event_id) {
  JValue e = event("conversation.item.retrieve", event_id);
  e.set("item_id", jstr(item_id));
  return to_text(e);
}

std::string build_item_truncate(const std::string &item_id, int content_index, int64_t audio_end_ms,
                                const std::string &event_id) {
  JValue e = event("conversation.item.truncate", event_id);
  e.set("item_id", jstr(item_id));
  e.set("content_index", JValue::integer(content_index));
  e.set("audio_end_ms", JValue::integer(audio_end_ms));
  return to_text(e);
}

std::string build_item_delete(const std::string &item_id, const std::string &event_id) {
  JValue e = event("conversation.item.delete", event_id);
  e.set("item_id", jstr(item_id));
  return to_text(e);
}

std::string build_response_create(Dialect d, const ResponseParams *params, const std::string &event_id) {
  JValue e = event("response.create", event_id);
  if (!params) return to_text(e);
  const ResponseParams &p = *params;
  JValue r = JValue::object();
  if (d == Dialect::GA) {  // §2.6 GA
    if (p.output_modality) r.set("output_modalities", modalities(d, *p.output_modality));
    if (p.instructions) r.set("instructions", jstr(*p.instructions));
    if (p.output_format || p.voice) {
      JValue out = JValue::object();
      if (p.output_format) out.set("format", ga_format(*p.output_format));
      if (p.voice) out.set("voice", jstr(*p.voice));
      JValue audio = JValue::object();
      audio.set("output", std::move(out));
      r.set("audio", std::move(audio));
    }
    set_json_member(&r, "tools", p.tools_json, JValue::K::Array);
    set_tool_choice(&r, p.tool_choice_json);
    if (p.max_output_tokens) r.set("max_output_tokens", JValue::integer(*p.max_output_tokens));
  } else {  // §2.6 beta
    if (p.output_modality) r.set("modalities", modalities(d, *p.output_modality));
    if (p.instructions) r.set("instructions", jstr(*p.instructions));
    if (p.voice) r.set("voice", jstr(*p.voice));
    if (p.output_format) r.set("output_audio_format", jstr(audio_format_preview_name(*p.output_format)));
    set_json_member(&r, "tools", p.tools_json, JValue::K::Array);
    set_tool_choice(&r, p.tool_choice_json);
    if (p.temperature) r.set("temperature", JValue::number(*p.temperature));
    if (p.max_output_tokens) r.set("max_response_output_tokens", JValue::integer(*p.max_output_tokens));
  }
  if (p.conversation_none) r.set("conversation", jstr("none"));  // §10.7 out-of-band
  set_json_member(&r, "metadata", p.metadata_json, JValue::K::Object);
  set_json_member(&r, "input", p.input_json, JValue::K::Array);
  e.set("response", std::move(r));
  return to_text(e);
}

std::string build_response_cancel(const std::string &response_id, const std::string &event_id) {
  JValue e = event("response.cancel", event_id);
  if (!response_id.empty()) e.set("response_id", jstr(response_id));  // §3.11: omitted = current
  return to_text(e);
}

std::string build_output_audio_buffer_clear(const std::string &event_id) {
  return simple("output_audio_buffer.clear", event_id);
}

}  // namespace rtc

// ---------------------------------------------------------------------------------------------
// Translation sessions (docs/protocol.md §15)

namespace rtc {

std::string build_translation_session_update(const SessionConfig &cfg, const std::string &event_id) {
  JValue in = JValue::object();
  if (cfg.input_transcription && !cfg.input_transcription->model.empty()) {
    JValue t = JValue::object();
    t.set("model", jstr(cfg.input_transcription->model));  // no language / prompt in this session
    in.set("transcription", std::move(t));
  } else {
    in.set("transcription", JValue::null());
  }
  in.set("noise_reduction", noise_reduction(cfg.noise_reduction));
  JValue audio = JValue::object();
  audio.set("input", std::move(in));
  if (!cfg.output_language.empty()) {
    JValue out = JValue::object();
    out.set("language", jstr(cfg.output_language));
    audio.set("output", std::move(out));
  }
  JValue s = JValue::object();
  s.set("audio", std::move(audio));
  merge_extra(&s, cfg.extra_json);
  return with_session("session.update", event_id, std::move(s));
}

void build_translation_audio_append(std::string &out, const uint8_t *data, size_t len, const std::string &event_id) {
  static const char kHead[] = "{\"type\":\"session.input_audio_buffer.append\"";
  build_audio_append(out, kHead, sizeof kHead - 1, data, len, event_id);
}

std::string build_session_close(const std::string &event_id) { return simple("session.close", event_id); }

}  // namespace rtc
