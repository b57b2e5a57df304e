// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv: Properties of realtimeconv: named enums, the settings struct, installation, get/set_property,
// and the mapping of the settings to the engine configuration.
#include "gstrealtimeconv-props.h"

#include <json-glib/json-glib.h>

#include "gstrealtimeconv-internal.h"
#include "gstrealtimeconv-conversation.h"
#include "gstrealtimeconv-input.h"
#include "gstrealtimeconv-messages.h"
#include "rtcenginebridge.h"
#include "rtcsrcpusher.h"

// Registers a static enum type once (thread-safe), for the enum properties below.
static GType register_enum_once(GType *type, const char *name, const GEnumValue *values) {
  if (g_once_init_enter(type)) g_once_init_leave(type, g_enum_register_static(name, values));
  return *type;
}

GType gst_realtimeconv_modality_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{MODALITY_AUDIO, "Audio (with its transcript)", "audio"},
                                      {MODALITY_TEXT, "Text only", "text"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvModality", values);
}

GType gst_realtimeconv_turn_detection_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{TURN_DETECTION_SERVER_VAD, "Server voice activity detection", "server-vad"},
                                      {TURN_DETECTION_SEMANTIC_VAD, "Semantic voice activity detection", "semantic-vad"},
                                      {TURN_DETECTION_NONE, "None (manual: commit / create-response signals)", "none"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvTurnDetection", values);
}

GType gst_realtimeconv_eagerness_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{EAGERNESS_AUTO, "Auto (medium)", "auto"},
                                      {EAGERNESS_LOW, "Low", "low"},
                                      {EAGERNESS_MEDIUM, "Medium", "medium"},
                                      {EAGERNESS_HIGH, "High", "high"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvEagerness", values);
}

GType gst_realtimeconv_noise_reduction_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{NOISE_REDUCTION_OFF, "Off", "off"},
                                      {NOISE_REDUCTION_NEAR_FIELD, "Near field (headset)", "near-field"},
                                      {NOISE_REDUCTION_FAR_FIELD, "Far field (room microphone)", "far-field"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvNoiseReduction", values);
}

GType gst_realtimeconv_silence_fill_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {
      {SILENCE_FILL_AUTO, "Silence buffers when upstream is not live, GAP events when live", "auto"},
      {SILENCE_FILL_ALWAYS, "Always silence buffers", "always"},
      {SILENCE_FILL_NEVER, "Always GAP events", "never"},
      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvSilenceFill", values);
}

// Splits the non-standard "result" members out of a tools JSON array.
static const char *eagerness_name(GstRealtimeConvEagerness e) {
  switch (e) {
    case EAGERNESS_LOW: return "low";
    case EAGERNESS_MEDIUM: return "medium";
    case EAGERNESS_HIGH: return "high";
    case EAGERNESS_AUTO: break;
  }
  return "auto";
}

static bool split_tools(const std::string &tools, std::string *clean, std::map<std::string, std::string> *results,
                 std::string *error) {
  clean->clear();
  results->clear();
  if (tools.empty()) return true;
  GError *err = nullptr;
  JsonNode *root = json_from_string(tools.c_str(), &err);
  if (!root) {
    *error = err ? err->message : "invalid JSON";
    g_clear_error(&err);
    return false;
  }
  if (!JSON_NODE_HOLDS_ARRAY(root)) {
    json_node_unref(root);
    *error = "tools must be a JSON array";
    return false;
  }
  JsonArray *arr = json_node_get_array(root);
  for (guint i = 0; i < json_array_get_length(arr); i++) {
    JsonNode *n = json_array_get_element(arr, i);
    if (!JSON_NODE_HOLDS_OBJECT(n)) continue;
    JsonObject *o = json_node_get_object(n);
    if (!json_object_has_member(o, "result")) continue;
    JsonNode *r = json_object_get_member(o, "result");
    std::string value;
    if (JSON_NODE_HOLDS_VALUE(r) && json_node_get_value_type(r) == G_TYPE_STRING) {
      value = json_node_get_string(r);
    } else {
      gchar *txt = json_to_string(r, FALSE);
      value = txt;
      g_free(txt);
    }
    const char *name = json_object_has_member(o, "name") ? json_object_get_string_member(o, "name") : nullptr;
    if (name) (*results)[name] = value;
    json_object_remove_member(o, "result");
  }
  gchar *txt = json_to_string(root, FALSE);
  *clean = txt;
  g_free(txt);
  json_node_unref(root);
  return true;
}

// Checks a JSON property value: empty is allowed (unset); otherwise it must parse and its root
// must be of type `want` (or, for `alt`, of that type). `err` gets the parse error / the type.
static bool json_value_ok(const std::string &v, JsonNodeType want, JsonNodeType alt, std::string *err) {
  if (v.empty()) return true;
  JsonParser *parser = json_parser_new();
  GError *e = nullptr;
  bool ok = json_parser_load_from_data(parser, v.c_str(), (gssize)v.size(), &e);
  if (!ok) {
    *err = e ? e->message : "invalid JSON";
    g_clear_error(&e);
  } else {
    JsonNode *root = json_parser_get_root(parser);
    const JsonNodeType t = root ? json_node_get_node_type(root) : JSON_NODE_NULL;
    ok = t == want || t == alt;
    if (!ok) *err = std::string("not a JSON ") + (want == JSON_NODE_OBJECT ? "object" : "array");
  }
  g_object_unref(parser);
  return ok;
}

static std::string tool_choice_json(const std::string &tc) {
  if (tc.empty()) return {};
  if (tc[0] == '{' || tc[0] == '"') return tc;
  if (tc == "auto" || tc == "none" || tc == "required") return "\"" + tc + "\"";
  // A function name: force that tool (GA form; the engine adapts it to the preview dialect).
  gchar *esc = g_strescape(tc.c_str(), NULL);
  std::string r = std::string("{\"type\":\"function\",\"name\":\"") + esc + "\"}";
  g_free(esc);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Configuration and session lifecycle
// ---------------------------------------------------------------------------------------------

rtc::SessionConfig build_session_config(const Settings &s, const std::string &tools_clean,
                                               rtc::AudioFormat in, rtc::AudioFormat out) {
  rtc::SessionConfig c;
  if (!s.instructions.empty()) c.instructions = s.instructions;
  if (!s.voice.empty()) c.voice = s.voice;
  c.output_modality = s.modality == MODALITY_TEXT ? rtc::Modality::Text : rtc::Modality::Audio;
  c.input_format = in;
  c.output_format = out;
  if (!s.transcription_model.empty()) {
    rtc::InputTranscription t;
    t.model = s.transcription_model;
    t.language = s.transcription_language;
    t.prompt = s.transcription_prompt;
    c.input_transcription = t;
  }
  c.noise_reduction = s.noise_reduction == NOISE_REDUCTION_NEAR_FIELD  ? rtc::NoiseReduction::NearField
                      : s.noise_reduction == NOISE_REDUCTION_FAR_FIELD ? rtc::NoiseReduction::FarField
                                               : rtc::NoiseReduction::Off;
  rtc::TurnDetection &td = c.turn_detection;
  td.type = s.turn_detection == TURN_DETECTION_SEMANTIC_VAD ? rtc::TurnDetection::Type::SemanticVad
            : s.turn_detection == TURN_DETECTION_NONE       ? rtc::TurnDetection::Type::None
                                    : rtc::TurnDetection::Type::ServerVad;
  td.threshold = s.vad_threshold;
  td.prefix_padding_ms = s.prefix_padding_ms;
  td.silence_duration_ms = s.silence_duration_ms;
  td.create_response = s.create_response;
  td.interrupt_response = s.interrupt_response;
  td.eagerness = eagerness_name(s.eagerness);
  c.tools_json = tools_clean;
  c.tool_choice_json = tool_choice_json(s.tool_choice);
  c.temperature = s.temperature;  // never sent in GA (the engine drops it)
  if (s.max_output_tokens > 0) c.max_output_tokens = s.max_output_tokens;
  if (s.speed != DEFAULT_SPEED) c.speed = s.speed;
  c.extra_json = s.session_config;
  return c;
}

rtc::EngineConfig build_engine_config(RtcPriv *p, rtc::AudioFormat in, rtc::AudioFormat out) {
  std::lock_guard<std::mutex> g(p->props_mutex);
  const Settings &s = p->settings;
  rtc::EngineConfig cfg;
  rtcgst::conn_props_to_engine(s.conn, &cfg);
  cfg.session = build_session_config(s, p->tools_clean, in, out);
  cfg.chunk_ms = s.chunk_ms;
  return cfg;
}

static const char *str_or_empty(const GValue *v) {
  const char *s = g_value_get_string(v);
  return s ? s : "";
}

void gst_realtimeconv_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec) {
  GstRealtimeConv *self = GST_REALTIMECONV(object);
  RtcPriv *p = self->priv;
  enum { None, Session, Engine } apply = None;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    Settings &s = p->settings;
    if (rtcgst::conn_props_set(&s.conn, PROP_CONN_FIRST, prop_id, value)) apply = Engine;
    else switch (prop_id) {
      case PROP_INSTRUCTIONS: s.instructions = str_or_empty(value); apply = Session; break;
      case PROP_VOICE: s.voice = str_or_empty(value); apply = Session; break;
      case PROP_OUTPUT_MODALITIES: s.modality = (GstRealtimeConvModality)g_value_get_enum(value); apply = Session; break;
      case PROP_TURN_DETECTION: s.turn_detection = (GstRealtimeConvTurnDetection)g_value_get_enum(value); apply = Session; break;
      case PROP_VAD_THRESHOLD: s.vad_threshold = g_value_get_double(value); apply = Session; break;
      case PROP_PREFIX_PADDING_MS: s.prefix_padding_ms = g_value_get_int(value); apply = Session; break;
      case PROP_SILENCE_DURATION_MS: s.silence_duration_ms = g_value_get_int(value); apply = Session; break;
      case PROP_VAD_EAGERNESS: s.eagerness = (GstRealtimeConvEagerness)g_value_get_enum(value); apply = Session; break;
      case PROP_CREATE_RESPONSE: s.create_response = g_value_get_boolean(value); apply = Session; break;
      case PROP_INTERRUPT_RESPONSE: s.interrupt_response = g_value_get_boolean(value); apply = Session; break;
      case PROP_INPUT_TRANSCRIPTION_MODEL: s.transcription_model = str_or_empty(value); apply = Session; break;
      case PROP_TRANSCRIPTION_LANGUAGE: s.transcription_language = str_or_empty(value); apply = Session; break;
      case PROP_TRANSCRIPTION_PROMPT: s.transcription_prompt = str_or_empty(value); apply = Session; break;
      case PROP_NOISE_REDUCTION: s.noise_reduction = (GstRealtimeConvNoiseReduction)g_value_get_enum(value); apply = Session; break;
      case PROP_TOOLS: {
        // Invalid JSON is refused at set time: the old value is kept (issue 12 #4).
        const std::string v = str_or_empty(value);
        std::string err, clean;
        std::map<std::string, std::string> results;
        if (!v.empty() && !split_tools(v, &clean, &results, &err)) {
          g_warning("property 'tools' refused, it is not a valid JSON array of tools (%s); the previous "
                    "value is kept", err.c_str());
          return;
        }
        s.tools = v;
        p->tools_clean = clean;
        p->tool_results = std::move(results);
        apply = Session;
        break;
      }
      case PROP_TOOL_CHOICE: {
        const std::string v = str_or_empty(value);
        std::string err;
        if (!v.empty() && (v[0] == '{' || v[0] == '"') &&
            !json_value_ok(v, JSON_NODE_OBJECT, JSON_NODE_VALUE, &err)) {
          g_warning("property 'tool-choice' refused (%s); the previous value is kept", err.c_str());
          return;
        }
        s.tool_choice = v;
        apply = Session;
        break;
      }
      case PROP_TEMPERATURE: s.temperature = g_value_get_double(value); apply = Session; break;
      case PROP_MAX_OUTPUT_TOKENS: s.max_output_tokens = g_value_get_int(value); apply = Session; break;
      case PROP_SPEED: s.speed = g_value_get_double(value); apply = Session; break;
      case PROP_SESSION_CONFIG: {
        const std::string v = str_or_empty(value);
        std::string err;
        if (!json_value_ok(v, JSON_NODE_OBJECT, JSON_NODE_OBJECT, &err)) {
          g_warning("property 'session-config' refused, it must be a JSON object (%s); the previous "
                    "value is kept", err.c_str());
          return;
        }
        s.session_config = v;
        apply = Session;
        break;
      }
      case PROP_CHUNK_DURATION: s.chunk_ms = g_value_get_int(value); apply = Engine; break;
      case PROP_LATENCY: s.latency_ms = g_value_get_int(value); break;
      case PROP_SILENCE_FILL: s.silence_fill = (GstRealtimeConvSilenceFill)g_value_get_enum(value); break;
      case PROP_BARGE_IN: s.barge_in = g_value_get_boolean(value); break;
      case PROP_DRAIN_TIMEOUT: s.drain_timeout_ms = g_value_get_int(value); break;
      case PROP_CAPTION_LATENCY: s.caption_latency_ms = g_value_get_int(value); break;
      case PROP_PUSH_AHEAD: s.push_ahead_ms = g_value_get_int(value); break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        return;
    }
  }
  if (prop_id == PROP_LATENCY || prop_id == PROP_CAPTION_LATENCY)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
  if (apply == Session)
    apply_session_config(self);
  else if (apply == Engine)
    apply_engine_config(self);
}

void gst_realtimeconv_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec) {
  GstRealtimeConv *self = GST_REALTIMECONV(object);
  RtcPriv *p = self->priv;
  switch (prop_id) {
    case PROP_STATS:
      g_value_take_boxed(value, stats_structure(self));
      return;
    case PROP_SESSION_ID: {
      std::lock_guard<std::mutex> g(p->lock);
      g_value_set_string(value, p->st.session_id.c_str());
      return;
    }
    case PROP_MAX_OBSERVED_DELAY: {
      std::lock_guard<std::mutex> g(p->lock);
      g_value_set_uint(value, (guint)(p->st.max_observed_delay / GST_MSECOND));
      return;
    }
    default:
      break;
  }
  std::lock_guard<std::mutex> g(p->props_mutex);
  const Settings &s = p->settings;
  if (rtcgst::conn_props_get(s.conn, PROP_CONN_FIRST, prop_id, value)) return;
  switch (prop_id) {
    case PROP_INSTRUCTIONS: g_value_set_string(value, s.instructions.c_str()); break;
    case PROP_VOICE: g_value_set_string(value, s.voice.c_str()); break;
    case PROP_OUTPUT_MODALITIES: g_value_set_enum(value, s.modality); break;
    case PROP_TURN_DETECTION: g_value_set_enum(value, s.turn_detection); break;
    case PROP_VAD_THRESHOLD: g_value_set_double(value, s.vad_threshold); break;
    case PROP_PREFIX_PADDING_MS: g_value_set_int(value, s.prefix_padding_ms); break;
    case PROP_SILENCE_DURATION_MS: g_value_set_int(value, s.silence_duration_ms); break;
    case PROP_VAD_EAGERNESS: g_value_set_enum(value, s.eagerness); break;
    case PROP_CREATE_RESPONSE: g_value_set_boolean(value, s.create_response); break;
    case PROP_INTERRUPT_RESPONSE: g_value_set_boolean(value, s.interrupt_response); break;
    case PROP_INPUT_TRANSCRIPTION_MODEL: g_value_set_string(value, s.transcription_model.c_str()); break;
    case PROP_TRANSCRIPTION_LANGUAGE: g_value_set_string(value, s.transcription_language.c_str()); break;
    case PROP_TRANSCRIPTION_PROMPT: g_value_set_string(value, s.transcription_prompt.c_str()); break;
    case PROP_NOISE_REDUCTION: g_value_set_enum(value, s.noise_reduction); break;
    case PROP_TOOLS: g_value_set_string(value, s.tools.c_str()); break;
    case PROP_TOOL_CHOICE: g_value_set_string(value, s.tool_choice.c_str()); break;
    case PROP_TEMPERATURE: g_value_set_double(value, s.temperature); break;
    case PROP_MAX_OUTPUT_TOKENS: g_value_set_int(value, s.max_output_tokens); break;
    case PROP_SPEED: g_value_set_double(value, s.speed); break;
    case PROP_SESSION_CONFIG: g_value_set_string(value, s.session_config.c_str()); break;
    case PROP_CHUNK_DURATION: g_value_set_int(value, s.chunk_ms); break;
    case PROP_LATENCY: g_value_set_int(value, s.latency_ms); break;
    case PROP_SILENCE_FILL: g_value_set_enum(value, s.silence_fill); break;
    case PROP_BARGE_IN: g_value_set_boolean(value, s.barge_in); break;
    case PROP_DRAIN_TIMEOUT: g_value_set_int(value, s.drain_timeout_ms); break;
    case PROP_CAPTION_LATENCY: g_value_set_int(value, s.caption_latency_ms); break;
    case PROP_PUSH_AHEAD: g_value_set_int(value, s.push_ahead_ms); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Installation (class_init), in groups
// ---------------------------------------------------------------------------------------------

#define SESS_FLAGS (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)
#define RO_FLAGS (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)

// Session (sent with session.update, also while playing): voice, modalities, turn detection.
static void install_session_props(GObjectClass *gobject_class) {
  g_object_class_install_property(gobject_class, PROP_INSTRUCTIONS,
      g_param_spec_string("instructions", "Instructions", "System instructions (empty: the server default)", NULL,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_VOICE,
      g_param_spec_string("voice", "Voice",
          "Voice: alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar (empty: server default; "
          "fixed once audio was produced)",
          NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_OUTPUT_MODALITIES,
      g_param_spec_enum("output-modalities", "Output modalities", "What the responses contain",
          GST_TYPE_REALTIMECONV_MODALITY, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TURN_DETECTION,
      g_param_spec_enum("turn-detection", "Turn detection", "How the end of the user's turn is detected",
          GST_TYPE_REALTIMECONV_TURN_DETECTION, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_VAD_THRESHOLD,
      g_param_spec_double("vad-threshold", "VAD threshold", "server-vad activation threshold (higher: louder speech)",
          0.0, 1.0, DEFAULT_VAD_THRESHOLD, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_PREFIX_PADDING_MS,
      g_param_spec_int("prefix-padding-ms", "Prefix padding", "server-vad: audio kept before detected speech (ms)",
          0, 10000, DEFAULT_PREFIX_PADDING_MS, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_SILENCE_DURATION_MS,
      g_param_spec_int("silence-duration-ms", "Silence duration", "server-vad: silence that ends a turn (ms)", 0,
          10000, DEFAULT_SILENCE_DURATION_MS, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_VAD_EAGERNESS,
      g_param_spec_enum("vad-eagerness", "VAD eagerness", "semantic-vad: how eagerly the model ends a turn",
          GST_TYPE_REALTIMECONV_EAGERNESS, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_CREATE_RESPONSE,
      g_param_spec_boolean("create-response", "Create response",
          "Respond automatically at the end of each detected turn (and at EOS after committing pending input)", TRUE,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_INTERRUPT_RESPONSE,
      g_param_spec_boolean("interrupt-response", "Interrupt response",
          "The server cancels the active response when the user starts speaking", TRUE, SESS_FLAGS));
}

// Session, continued: transcription of the input, tools, sampling, extra JSON.
static void install_session_extra_props(GObjectClass *gobject_class) {
  g_object_class_install_property(gobject_class, PROP_INPUT_TRANSCRIPTION_MODEL,
      g_param_spec_string("input-transcription-model", "Input transcription model",
          "Model transcribing the incoming speech for input_transcript_src (whisper-1, gpt-4o-transcribe, ...; "
          "empty = off)",
          DEFAULT_TRANSCRIPTION_MODEL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TRANSCRIPTION_LANGUAGE,
      g_param_spec_string("transcription-language", "Transcription language",
          "ISO-639-1 language of the incoming speech (empty: detect); also tagged on input_transcript_src", NULL,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TRANSCRIPTION_PROMPT,
      g_param_spec_string("transcription-prompt", "Transcription prompt",
          "Prompt / keywords for the input transcription (empty: none)", NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_NOISE_REDUCTION,
      g_param_spec_enum("noise-reduction", "Noise reduction", "Input noise reduction",
          GST_TYPE_REALTIMECONV_NOISE_REDUCTION, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TOOLS,
      g_param_spec_string("tools", "Tools",
          "JSON array of function tools {type, name, description, parameters}; a non-standard \"result\" member "
          "gives a static answer used when no function-call handler answers (empty: none)",
          NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TOOL_CHOICE,
      g_param_spec_string("tool-choice", "Tool choice",
          "auto, none, required, a function name, or a JSON object (empty: server default)", NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TEMPERATURE,
      g_param_spec_double("temperature", "Temperature", "Sampling temperature (preview protocol only)", 0.6, 1.2,
          DEFAULT_TEMPERATURE, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_MAX_OUTPUT_TOKENS,
      g_param_spec_int("max-output-tokens", "Max output tokens", "Maximum tokens per response (0 = unlimited)", 0,
          4096, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_SPEED,
      g_param_spec_double("speed", "Speed", "Speaking speed (changes apply between turns)", 0.25, 1.5, DEFAULT_SPEED,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_SESSION_CONFIG,
      g_param_spec_string("session-config", "Session config",
          "JSON object merged last into the session of session.update (fields not modelled by properties)", NULL,
          SESS_FLAGS));
}

// Behaviour of the element (not sent to the server).
static void install_behaviour_props(GObjectClass *gobject_class) {
  g_object_class_install_property(gobject_class, PROP_CHUNK_DURATION,
      g_param_spec_int("chunk-duration", "Chunk duration",
          "Duration of the input audio sent per input_audio_buffer.append (ms)", 10, 1000, DEFAULT_CHUNK_DURATION,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(gobject_class, PROP_LATENCY,
      g_param_spec_int("latency", "Latency",
          "Output latency budget when upstream is live (ms): added to the LATENCY query; response audio arriving "
          "later than this is late",
          0, 10000, DEFAULT_LATENCY, (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(gobject_class, PROP_CAPTION_LATENCY,
      g_param_spec_int("caption-latency", "Caption latency",
          "Live upstream: time allowed for the transcription of the incoming speech (ms). Added to the LATENCY "
          "query when > 0, and input_transcript_src is kept this far behind src, so captions are on time for "
          "live consumers; 0: captions are pushed when transcribed (late by the transcription time)",
          0, 60000, DEFAULT_CAPTION_LATENCY,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(gobject_class, PROP_SILENCE_FILL,
      g_param_spec_enum("silence-fill", "Silence fill", "What fills src between responses",
          GST_TYPE_REALTIMECONV_SILENCE_FILL, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_BARGE_IN,
      g_param_spec_boolean("barge-in", "Barge-in",
          "Live input: when the user starts speaking, drop the assistant's unplayed audio and truncate the "
          "server's copy at what was pushed (at most push-ahead beyond what was played). Files never cut a reply",
          TRUE, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_PUSH_AHEAD,
      g_param_spec_int("push-ahead", "Push ahead",
          "Live: the most response audio pushed downstream and not played yet (ms), which a barge-in cannot take "
          "back. Audio goes out in pieces of half this, each half this before it plays (at most the pipeline latency; "
          "each half at least 10 ms). Larger keeps a busy machine, or a sink that holds one buffer, fed with "
          "fewer wake-ups; smaller makes barge-in tighter. 0: automatic, latency / 4 (20 to 50 ms) plus 40 ms "
          "pieces (90 ms at the default latency)",
          0, 1000, DEFAULT_PUSH_AHEAD, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_DRAIN_TIMEOUT,
      g_param_spec_int("drain-timeout", "Drain timeout",
          "At EOS (and after each turn when not live), how long to wait for responses in progress (ms)", 0, 600000,
          DEFAULT_DRAIN_TIMEOUT, SESS_FLAGS));
}

static void install_readonly_props(GObjectClass *gobject_class) {
  g_object_class_install_property(gobject_class, PROP_SESSION_ID,
      g_param_spec_string("session-id", "Session id", "Id of the current server session (empty: none)", NULL,
          RO_FLAGS));
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
          "Session statistics: connects, audio sent/received, responses, token usage, time-to-first-audio (ns), "
          "rate limits, max-observed-delay",
          GST_TYPE_STRUCTURE, RO_FLAGS));
  g_object_class_install_property(gobject_class, PROP_MAX_OBSERVED_DELAY,
      g_param_spec_uint("max-observed-delay", "Max observed delay",
          "Largest lateness of response audio seen when live (ms); above latency means late output", 0, G_MAXUINT, 0,
          RO_FLAGS));
}

void gst_realtimeconv_install_properties(GObjectClass *gobject_class) {
  // Connection (used from the next connect on; set them in READY): shared by every element.
  rtcgst::conn_props_install(gobject_class, PROP_CONN_FIRST);
  install_session_props(gobject_class);
  install_session_extra_props(gobject_class);
  install_behaviour_props(gobject_class);
  install_readonly_props(gobject_class);
}
