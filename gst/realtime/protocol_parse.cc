// Server events (§4) of both dialects: strict JSON check (fastpath.cc), json-glib tree, typed
// fields. Never throws; every failure is one sentence in ParsedServerEvent::error.
//
// Field rules (shared with the fast path for the audio delta types):
//   - "type" must be present and a string; unknown types are returned as Unknown (§13).
//   - optional string fields accept a string or null (null reads as ""); any other type is an
//     error naming the field. Required string fields must be present and strings (null is an
//     error too).
//   - indexes (output_index, content_index) are optional non-negative integers that fit in an
//     int: 1.0, 1e2, -1 or "1" are errors; -0 is 0; null reads as absent (-1).
//   - millisecond and token counts are integers (no fraction, no exponent).
#include <json-glib/json-glib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <unordered_map>

#include "protocol.h"

namespace rtc {
namespace {

using T = ServerEventType;

struct NameEntry {
  const char *name;
  T type;
};

// §7.1: beta and GA names, plus conversation.item.created/added/done and transcription sessions.
constexpr NameEntry kNames[] = {
    {"error", T::Error},
    {"session.created", T::SessionCreated},
    {"transcription_session.created", T::SessionCreated},
    {"session.updated", T::SessionUpdated},
    {"transcription_session.updated", T::SessionUpdated},
    {"conversation.created", T::ConversationCreated},
    {"conversation.item.added", T::ItemAdded},
    {"conversation.item.created", T::ItemAdded},
    {"conversation.item.done", T::ItemDone},
    {"conversation.item.retrieved", T::ItemRetrieved},
    {"conversation.item.truncated", T::ItemTruncated},
    {"conversation.item.deleted", T::ItemDeleted},
    {"conversation.item.input_audio_transcription.delta", T::InputTranscriptionDelta},
    {"conversation.item.input_audio_transcription.completed", T::InputTranscriptionCompleted},
    {"conversation.item.input_audio_transcription.failed", T::InputTranscriptionFailed},
    {"conversation.item.input_audio_transcription.segment", T::InputTranscriptionSegment},
    {"input_audio_buffer.committed", T::InputBufferCommitted},
    {"input_audio_buffer.cleared", T::InputBufferCleared},
    {"input_audio_buffer.speech_started", T::SpeechStarted},
    {"input_audio_buffer.speech_stopped", T::SpeechStopped},
    {"input_audio_buffer.timeout_triggered", T::TimeoutTriggered},
    {"output_audio_buffer.started", T::OutputAudioBufferStarted},
    {"output_audio_buffer.stopped", T::OutputAudioBufferStopped},
    {"output_audio_buffer.cleared", T::OutputAudioBufferCleared},
    {"response.created", T::ResponseCreated},
    {"response.done", T::ResponseDone},
    {"response.output_item.added", T::OutputItemAdded},
    {"response.output_item.done", T::OutputItemDone},
    {"response.content_part.added", T::ContentPartAdded},
    {"response.content_part.done", T::ContentPartDone},
    {"response.output_text.delta", T::TextDelta},
    {"response.text.delta", T::TextDelta},
    {"response.output_text.done", T::TextDone},
    {"response.text.done", T::TextDone},
    {"response.output_audio_transcript.delta", T::AudioTranscriptDelta},
    {"response.audio_transcript.delta", T::AudioTranscriptDelta},
    {"response.output_audio_transcript.done", T::AudioTranscriptDone},
    {"response.audio_transcript.done", T::AudioTranscriptDone},
    {"response.output_audio.delta", T::AudioDelta},
    {"response.audio.delta", T::AudioDelta},
    {"response.output_audio.done", T::AudioDone},
    {"response.audio.done", T::AudioDone},
    {"response.function_call_arguments.delta", T::FunctionCallArgumentsDelta},
    {"response.function_call_arguments.done", T::FunctionCallArgumentsDone},
    {"rate_limits.updated", T::RateLimitsUpdated},
    // translation sessions (docs/protocol.md §15)
    {"session.closed", T::SessionClosed},
    {"session.input_transcript.delta", T::TranslationInputTranscriptDelta},
    {"session.output_transcript.delta", T::TranslationOutputTranscriptDelta},
    {"session.output_audio.delta", T::TranslationOutputAudioDelta},
};

T lookup_type(const std::string &name) {
  static const std::unordered_map<std::string, T> *map = [] {
    auto *m = new std::unordered_map<std::string, T>();
    for (const NameEntry &e : kNames) m->emplace(e.name, e.type);
    return m;
  }();
  auto it = map->find(name);
  return it == map->end() ? T::Unknown : it->second;
}

// Typed access to the members of one JSON object; the first error wins and later calls are
// no-ops. `path` prefixes member names in messages ("response.usage.total_tokens").
class Fields {
 public:
  Fields(JsonObject *obj, const std::string *ctx, std::string *err, std::string path = {})
      : obj_(obj), ctx_(ctx), err_(err), path_(std::move(path)) {}

  bool failed() const { return !err_->empty(); }

  Fields child(JsonObject *o, const char *name) const { return Fields(o, ctx_, err_, path_ + name + "."); }

  JsonNode *member(const char *name) const { return obj_ ? json_object_get_member(obj_, name) : nullptr; }

  std::string str(const char *name, bool required) {
    std::string out;
    if (failed()) return out;
    JsonNode *n = member(name);
    if (!n) {
      if (required) missing(name);
      return out;
    }
    if (JSON_NODE_HOLDS_NULL(n) && !required) return out;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
      wrong(name, "a string");
      return out;
    }
    out = json_node_get_string(n);
    return out;
  }

  int64_t integer(const char *name, bool required, int64_t def) {
    if (failed()) return def;
    JsonNode *n = member(name);
    if (!n) {
      if (required) missing(name);
      return def;
    }
    if (JSON_NODE_HOLDS_NULL(n) && !required) return def;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
      wrong(name, "an integer");
      return def;
    }
    return json_node_get_int(n);
  }

  int index(const char *name) {
    if (failed()) return -1;
    JsonNode *n = member(name);
    if (!n || JSON_NODE_HOLDS_NULL(n)) return -1;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 || json_node_get_int(n) < 0 ||
        json_node_get_int(n) > INT_MAX) {
      wrong(name, "a non-negative integer");
      return -1;
    }
    return static_cast<int>(json_node_get_int(n));
  }

  double number(const char *name, double def) {
    if (failed()) return def;
    JsonNode *n = member(name);
    if (!n || JSON_NODE_HOLDS_NULL(n)) return def;
    if (JSON_NODE_HOLDS_VALUE(n)) {
      const GType t = json_node_get_value_type(n);
      if (t == G_TYPE_INT64) return static_cast<double>(json_node_get_int(n));
      if (t == G_TYPE_DOUBLE) return json_node_get_double(n);
    }
    wrong(name, "a number");
    return def;
  }

  JsonObject *object(const char *name, bool required) {
    if (failed()) return nullptr;
    JsonNode *n = member(name);
    if (!n) {
      if (required) missing(name);
      return nullptr;
    }
    if (JSON_NODE_HOLDS_NULL(n) && !required) return nullptr;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
      wrong(name, "an object");
      return nullptr;
    }
    return json_node_get_object(n);
  }

  JsonArray *array(const char *name, bool required) {
    if (failed()) return nullptr;
    JsonNode *n = member(name);
    if (!n) {
      if (required) missing(name);
      return nullptr;
    }
    if (JSON_NODE_HOLDS_NULL(n) && !required) return nullptr;
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
      wrong(name, "an array");
      return nullptr;
    }
    return json_node_get_array(n);
  }

  // Element i of an array, which must be an object.
  JsonObject *element_object(JsonArray *a, guint i, const char *name) {
    if (failed()) return nullptr;
    JsonNode *n = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
      set(*ctx_ + ": field \"" + path_ + name + "[" + std::to_string(i) + "]\" must be an object");
      return nullptr;
    }
    return json_node_get_object(n);
  }

  void set(const std::string &msg) {
    if (err_->empty()) *err_ = msg;
  }

  void fail_field(const char *name, const char *what) { wrong(name, what); }

 private:
  void missing(const char *name) { set(*ctx_ + ": missing required field \"" + path_ + name + "\""); }
  void wrong(const char *name, const char *what) {
    set(*ctx_ + ": field \"" + path_ + name + "\" must be " + what);
  }

  JsonObject *obj_;
  const std::string *ctx_;
  std::string *err_;
  std::string path_;
};

std::string node_to_json(JsonNode *n) {
  gchar *s = json_to_string(n, FALSE);
  std::string out = s ? s : "";
  g_free(s);
  return out;
}

void parse_error_info(Fields f, bool required_fields, ErrorInfo *e) {
  e->type = f.str("type", required_fields);
  e->code = f.str("code", false);
  e->message = f.str("message", required_fields);
  e->param = f.str("param", false);
  e->event_id = f.str("event_id", false);
}

// Part B §9: logprobs?: [{token, logprob, bytes[]}] (null / absent = none).
void parse_logprobs(Fields f, std::vector<double> *out) {
  out->clear();
  JsonArray *a = f.array("logprobs", false);
  if (!a) return;
  for (guint i = 0; i < json_array_get_length(a) && !f.failed(); i++) {
    JsonObject *o = f.element_object(a, i, "logprobs");
    if (!o) break;
    out->push_back(f.child(o, ("logprobs[" + std::to_string(i) + "]").c_str()).number("logprob", 0));
  }
}

void parse_usage(Fields f, Usage *u) {
  u->present = true;
  u->total_tokens = f.integer("total_tokens", false, 0);
  u->input_tokens = f.integer("input_tokens", false, 0);
  u->output_tokens = f.integer("output_tokens", false, 0);
  if (JsonObject *in = f.object("input_token_details", false)) {
    Fields d = f.child(in, "input_token_details");
    u->input_text_tokens = d.integer("text_tokens", false, 0);
    u->input_audio_tokens = d.integer("audio_tokens", false, 0);
    u->input_cached_tokens = d.integer("cached_tokens", false, 0);
  }
  if (JsonObject *out = f.object("output_token_details", false)) {
    Fields d = f.child(out, "output_token_details");
    u->output_text_tokens = d.integer("text_tokens", false, 0);
    u->output_audio_tokens = d.integer("audio_tokens", false, 0);
  }
}

void parse_content_part(Fields f, ContentPart *p) {
  p->type = f.str("type", false);
  p->text = f.str("text", false);
  JsonNode *t = f.member("transcript");
  p->transcript_null = (t == nullptr || JSON_NODE_HOLDS_NULL(t));
  p->transcript = f.str("transcript", false);
}

void parse_item(Fields f, ItemInfo *it) {
  it->id = f.str("id", false);
  it->type = f.str("type", false);
  it->role = f.str("role", false);
  it->status = f.str("status", false);
  it->call_id = f.str("call_id", false);
  it->name = f.str("name", false);
  it->arguments = f.str("arguments", false);
  it->output = f.str("output", false);
  if (JsonArray *a = f.array("content", false)) {
    const guint n = json_array_get_length(a);
    for (guint i = 0; i < n && !f.failed(); i++) {
      JsonObject *o = f.element_object(a, i, "content");
      if (!o) break;
      ContentPart part;
      parse_content_part(f.child(o, ("content[" + std::to_string(i) + "]").c_str()), &part);
      it->content.push_back(std::move(part));
    }
  }
}

void parse_response(Fields f, ResponseInfo *r) {
  r->id = f.str("id", true);
  r->status = f.str("status", false);
  if (JsonObject *sd = f.object("status_details", false)) {
    Fields d = f.child(sd, "status_details");
    r->status_type = d.str("type", false);
    r->reason = d.str("reason", false);
    if (JsonObject *e = d.object("error", false)) parse_error_info(d.child(e, "error"), false, &r->status_error);
  }
  r->conversation_id = f.str("conversation_id", false);
  if (JsonArray *a = f.array("output", false)) {
    const guint n = json_array_get_length(a);
    for (guint i = 0; i < n && !f.failed(); i++) {
      JsonObject *o = f.element_object(a, i, "output");
      if (!o) break;
      ItemInfo item;
      parse_item(f.child(o, ("output[" + std::to_string(i) + "]").c_str()), &item);
      r->output.push_back(std::move(item));
    }
  }
  if (JsonObject *u = f.object("usage", false)) parse_usage(f.child(u, "usage"), &r->usage);
  if (f.object("metadata", false)) r->metadata_json = node_to_json(f.member("metadata"));
}

// A format given as a GA object {type, rate} (§2.2) or a preview string (§2.1).
std::optional<AudioFormat> parse_format(Fields &f, const char *name) {
  JsonNode *n = f.member(name);
  if (!n || JSON_NODE_HOLDS_NULL(n)) return std::nullopt;
  if (JSON_NODE_HOLDS_OBJECT(n)) {
    Fields d = f.child(json_node_get_object(n), name);
    return audio_format_from_string(d.str("type", false));
  }
  return audio_format_from_string(f.str(name, false));
}

std::optional<Modality> parse_modalities(Fields &f, const char *name) {
  JsonArray *a = f.array(name, false);
  if (!a) return std::nullopt;
  bool audio = false, any = false;
  const guint n = json_array_get_length(a);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
      f.fail_field(name, "an array of strings");
      return std::nullopt;
    }
    any = true;
    if (std::strcmp(json_node_get_string(e), "audio") == 0) audio = true;
  }
  if (!any) return std::nullopt;
  return audio ? Modality::Audio : Modality::Text;
}

std::string parse_voice(Fields &f) {
  JsonNode *n = f.member("voice");
  if (n && JSON_NODE_HOLDS_OBJECT(n)) return f.child(json_node_get_object(n), "voice").str("id", false);  // custom
  return f.str("voice", false);
}

std::string parse_turn_detection_type(Fields &f) {
  JsonObject *td = f.object("turn_detection", false);
  if (!td) return {};
  return f.child(td, "turn_detection").str("type", false);
}

void parse_session(Fields f, SessionInfo *s) {
  s->id = f.str("id", false);
  s->object = f.str("object", false);
  s->type = f.str("type", false);
  s->model = f.str("model", false);
  s->expires_at = f.integer("expires_at", false, 0);
  if (JsonObject *audio = f.object("audio", false)) {  // GA (§2.2)
    Fields a = f.child(audio, "audio");
    if (JsonObject *in = a.object("input", false)) {
      Fields i = a.child(in, "input");
      s->input_format = parse_format(i, "format");
      s->turn_detection_type = parse_turn_detection_type(i);
    }
    if (JsonObject *out = a.object("output", false)) {
      Fields o = a.child(out, "output");
      s->output_format = parse_format(o, "format");
      s->voice = parse_voice(o);
    }
  } else {  // preview (§2.1)
    s->input_format = parse_format(f, "input_audio_format");
    s->output_format = parse_format(f, "output_audio_format");
    s->voice = parse_voice(f);
    s->turn_detection_type = parse_turn_detection_type(f);
  }
  s->output_modality = parse_modalities(f, "output_modalities");
  if (!s->output_modality) s->output_modality = parse_modalities(f, "modalities");
}

// The fields common to the streaming content events (§4.1).
void parse_part_address(Fields &f, ServerEvent &ev) {
  ev.response_id = f.str("response_id", true);
  ev.item_id = f.str("item_id", true);
  ev.output_index = f.index("output_index");
  ev.content_index = f.index("content_index");
}

}  // namespace

const char *server_event_type_name(ServerEventType t) {
  for (const NameEntry &e : kNames)
    if (e.type == t) return e.name;  // the table lists the GA name first
  return "unknown";
}

namespace {

// "delta": base64 audio into ev.audio (the same checks, order and messages as
// parse_audio_delta_fast() in fastpath.cc).
void decode_audio_delta(Fields &f, ServerEvent &ev) {
  const std::string delta = f.str("delta", true);
  if (f.failed()) return;
  ev.audio.resize(base64_decoded_max(delta.size()));
  size_t n = 0;
  if (!base64_decode(delta.data(), delta.size(), ev.audio.data(), &n)) {
    f.set(ev.type_name + ": field \"delta\" is not valid base64");
    return;
  }
  ev.audio.resize(n);
}

// The fields of the input buffer and conversation events (§4). False: not one of them.
bool parse_conversation_fields(Fields &f, ServerEvent &ev) {
  switch (ev.type) {
    case T::ConversationCreated:
      if (JsonObject *c = f.object("conversation", true)) ev.conversation_id = f.child(c, "conversation").str("id", false);
      break;
    case T::ItemAdded:
    case T::ItemDone:
    case T::ItemRetrieved:
      ev.previous_item_id = f.str("previous_item_id", false);
      if (JsonObject *it = f.object("item", true)) {
        parse_item(f.child(it, "item"), &ev.item);
        ev.item_id = ev.item.id;
      }
      break;
    case T::ItemTruncated:
      ev.item_id = f.str("item_id", true);
      ev.content_index = f.index("content_index");
      ev.audio_end_ms = f.integer("audio_end_ms", true, -1);
      break;
    case T::ItemDeleted:
      ev.item_id = f.str("item_id", true);
      break;
    case T::InputTranscriptionDelta:
      // Part B §9: which item_id a streaming delta carries before its commit is undocumented;
      // an absent or null one is accepted (empty).
      ev.item_id = f.str("item_id", false);
      ev.content_index = f.index("content_index");
      ev.text = f.str("delta", false);
      parse_logprobs(f, &ev.logprobs);
      break;
    case T::InputTranscriptionCompleted:
      ev.item_id = f.str("item_id", true);
      ev.content_index = f.index("content_index");
      ev.text = f.str("transcript", true);
      if (JsonObject *u = f.object("usage", false)) parse_usage(f.child(u, "usage"), &ev.usage);
      parse_logprobs(f, &ev.logprobs);
      break;
    case T::InputTranscriptionFailed:
      ev.item_id = f.str("item_id", true);
      ev.content_index = f.index("content_index");
      if (JsonObject *e = f.object("error", false)) parse_error_info(f.child(e, "error"), false, &ev.error);
      break;
    case T::InputTranscriptionSegment:
      ev.item_id = f.str("item_id", true);
      ev.content_index = f.index("content_index");
      ev.text = f.str("text", false);
      ev.segment_id = f.str("id", false);
      ev.speaker = f.str("speaker", false);
      ev.segment_start = f.number("start", -1);
      ev.segment_end = f.number("end", -1);
      break;
    case T::InputBufferCommitted:
      ev.previous_item_id = f.str("previous_item_id", false);
      ev.item_id = f.str("item_id", true);
      break;
    case T::InputBufferCleared:
      break;
    case T::SpeechStarted:
      ev.audio_start_ms = f.integer("audio_start_ms", true, -1);
      ev.item_id = f.str("item_id", false);
      break;
    case T::SpeechStopped:
      ev.audio_end_ms = f.integer("audio_end_ms", true, -1);
      ev.item_id = f.str("item_id", false);
      break;
    case T::TimeoutTriggered:
      ev.audio_start_ms = f.integer("audio_start_ms", true, -1);
      ev.audio_end_ms = f.integer("audio_end_ms", true, -1);
      ev.item_id = f.str("item_id", false);
      break;
    default:
      return false;
  }
  return true;
}

// The fields of the response and output events (§4.1). False: not one of them.
bool parse_response_fields(Fields &f, ServerEvent &ev) {
  switch (ev.type) {
    case T::OutputAudioBufferStarted:
    case T::OutputAudioBufferStopped:
    case T::OutputAudioBufferCleared:
      ev.response_id = f.str("response_id", false);
      break;
    case T::ResponseCreated:
    case T::ResponseDone:
      if (JsonObject *resp = f.object("response", true)) {
        parse_response(f.child(resp, "response"), &ev.response);
        ev.response_id = ev.response.id;
        ev.conversation_id = ev.response.conversation_id;
      }
      break;
    case T::OutputItemAdded:
    case T::OutputItemDone:
      ev.response_id = f.str("response_id", true);
      ev.output_index = f.index("output_index");
      if (JsonObject *it = f.object("item", true)) {
        parse_item(f.child(it, "item"), &ev.item);
        ev.item_id = ev.item.id;
      }
      break;
    case T::ContentPartAdded:
    case T::ContentPartDone: {
      parse_part_address(f, ev);
      // Early Azure previews sent the part as "content" (§11).
      const char *member = (f.member("part") == nullptr && f.member("content") != nullptr) ? "content" : "part";
      if (JsonObject *p = f.object(member, true)) parse_content_part(f.child(p, member), &ev.part);
      break;
    }
    case T::TextDelta:
    case T::AudioTranscriptDelta:
      parse_part_address(f, ev);
      ev.text = f.str("delta", true);
      break;
    case T::TextDone:
      parse_part_address(f, ev);
      ev.text = f.str("text", true);
      break;
    case T::AudioTranscriptDone:
      parse_part_address(f, ev);
      ev.text = f.str("transcript", true);
      break;
    case T::AudioDelta: {
      // Same checks, order and messages as parse_audio_delta_fast() (fastpath.cc).
      parse_part_address(f, ev);
      decode_audio_delta(f, ev);
      break;
    }
    case T::AudioDone:
      parse_part_address(f, ev);
      break;
    case T::FunctionCallArgumentsDelta:
      ev.response_id = f.str("response_id", false);
      ev.item_id = f.str("item_id", false);
      ev.output_index = f.index("output_index");
      ev.call_id = f.str("call_id", true);
      ev.text = f.str("delta", true);
      break;
    case T::FunctionCallArgumentsDone:
      ev.response_id = f.str("response_id", false);
      ev.item_id = f.str("item_id", false);
      ev.output_index = f.index("output_index");
      ev.call_id = f.str("call_id", true);
      ev.name = f.str("name", false);  // GA only (§12.8)
      ev.text = f.str("arguments", true);
      break;
    default:
      return false;
  }
  return true;
}

// The fields of an event of a known (or unknown) type, after "type" and "event_id".
void parse_event_fields(Fields &f, ServerEvent &ev, const char *data, size_t len) {
  if (parse_conversation_fields(f, ev) || parse_response_fields(f, ev)) return;
  switch (ev.type) {
    case T::Unknown:
      ev.raw_json.assign(data, len);
      break;
    case T::Error:
      if (JsonObject *e = f.object("error", true)) parse_error_info(f.child(e, "error"), true, &ev.error);
      break;
    case T::SessionCreated:
    case T::SessionUpdated:
      if (JsonObject *s = f.object("session", true)) {
        parse_session(f.child(s, "session"), &ev.session);
        if (auto span = json_top_level_member_span(data, len, "session"))
          ev.session.raw_json.assign(data + span->first, span->second - span->first);
      }
      break;
    case T::RateLimitsUpdated:
      if (JsonArray *a = f.array("rate_limits", true)) {
        const guint n = json_array_get_length(a);
        for (guint i = 0; i < n && !f.failed(); i++) {
          JsonObject *o = f.element_object(a, i, "rate_limits");
          if (!o) break;
          Fields e = f.child(o, ("rate_limits[" + std::to_string(i) + "]").c_str());
          RateLimit rl;
          rl.name = e.str("name", false);
          rl.limit = e.number("limit", 0);
          rl.remaining = e.number("remaining", 0);
          rl.reset_seconds = e.number("reset_seconds", 0);
          ev.rate_limits.push_back(std::move(rl));
        }
      }
      break;
    // translation sessions (docs/protocol.md §15)
    case T::SessionClosed:
      break;
    case T::TranslationInputTranscriptDelta:
    case T::TranslationOutputTranscriptDelta:
      ev.text = f.str("delta", true);
      ev.elapsed_ms = f.integer("elapsed_ms", false, -1);
      if (ev.elapsed_ms < 0) ev.elapsed_ms = -1;  // a negative position means nothing: as absent
      break;
    case T::TranslationOutputAudioDelta: {
      ev.elapsed_ms = f.integer("elapsed_ms", false, -1);
      if (ev.elapsed_ms < 0) ev.elapsed_ms = -1;  // a negative position means nothing: as absent
      ev.sample_rate = static_cast<int>(std::clamp<int64_t>(f.integer("sample_rate", false, 0), 0, 1000000));
      ev.channels = static_cast<int>(std::clamp<int64_t>(f.integer("channels", false, 0), 0, 64));
      ev.format = f.str("format", false);
      decode_audio_delta(f, ev);
      break;
    }
    default:
      break;  // parsed above
  }
}

}  // namespace

ParsedServerEvent parse_server_event(const char *data, size_t len) {
  ParsedServerEvent r;
  if (data == nullptr) len = 0;
  if (!validate_json(data ? data : "", len, &r.error)) return r;

  JsonParser *parser = json_parser_new_immutable();
  GError *gerr = nullptr;
  if (!json_parser_load_from_data(parser, data, static_cast<gssize>(len), &gerr)) {
    r.error = std::string("malformed JSON: ") + (gerr ? gerr->message : "unknown error");
    g_clear_error(&gerr);
    g_object_unref(parser);
    return r;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    r.error = "the event is not a JSON object";
    g_object_unref(parser);
    return r;
  }
  JsonObject *obj = json_node_get_object(root);
  ServerEvent &ev = r.event;
  std::string err;
  const std::string none;
  {
    Fields top(obj, &none, &err);
    JsonNode *t = top.member("type");
    if (!t) {
      err = "missing required field \"type\"";
    } else if (!JSON_NODE_HOLDS_VALUE(t) || json_node_get_value_type(t) != G_TYPE_STRING) {
      err = "field \"type\" must be a string";
    } else {
      ev.type_name = json_node_get_string(t);
    }
  }
  if (!err.empty()) {
    r.error = err;
    g_object_unref(parser);
    return r;
  }
  ev.type = lookup_type(ev.type_name);
  const std::string &ctx = ev.type_name;
  Fields f(obj, &ctx, &err);
  ev.event_id = f.str("event_id", false);

  parse_event_fields(f, ev, data, len);
  g_object_unref(parser);
  if (!err.empty()) {
    r.error = err;
    r.event = ServerEvent();
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace rtc
