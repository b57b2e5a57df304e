// realtime-emulator: the session configuration of both dialects (§2.1 preview, §2.2 GA, §2.3),
// its validation (session.update, §3.1) and its wire rendering (session.created/updated, §4.2).
#pragma once

#include <json-glib/json-glib.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audio.h"
#include "json_util.h"

namespace emu {

enum class Dialect { GA, Preview };

// Error payload of an `error` event (§8).
struct ApiError {
  std::string type = "invalid_request_error";
  std::string code;
  std::string message;
  std::optional<std::string> param;
};

using NodePtr = std::shared_ptr<JsonNode>;
NodePtr make_node(JsonNode *adopt);          // takes ownership (nullptr -> JSON null)
NodePtr copy_node(JsonNode *n);              // deep copy (nullptr -> JSON null)
NodePtr parse_node(const char *json);        // from literal JSON text

struct TurnDetection {
  enum class Type { None, ServerVad, SemanticVad };
  Type type = Type::ServerVad;
  double threshold = 0.5;
  int prefix_padding_ms = 300;
  int silence_duration_ms = 200;  // §4.2 session.created shows 200 (§12 item 2)
  bool create_response = true;
  bool interrupt_response = true;
  std::optional<int> idle_timeout_ms;  // GA server_vad only
  std::string eagerness = "auto";      // semantic_vad
  // semantic_vad eagerness -> silence duration (documented in vad.h / --help)
  int effective_silence_ms() const;
  double effective_threshold() const { return type == Type::SemanticVad ? 0.5 : threshold; }
  int effective_prefix_ms() const { return type == Type::SemanticVad ? 300 : prefix_padding_ms; }
};

struct Transcription {
  std::string model = "whisper-1";
  std::optional<std::string> language, prompt;
  std::optional<std::string> delay;              // gpt-realtime-whisper (transcription_session.h)
  std::optional<std::vector<std::string>> keywords, languages;
  // gpt-4o-transcribe family streams delta events (§4.2)
  bool streams_deltas() const { return model.find("transcribe") != std::string::npos; }
};

struct SessionConfig {
  bool transcription_session = false;  // GA session.type "transcription" / ?intent=transcription
  std::string model;
  std::vector<std::string> modalities;  // preview: "modalities"; GA: "output_modalities"
  std::string instructions;
  std::string voice = "alloy";
  Fmt input_format = Fmt::PCM16;
  Fmt output_format = Fmt::PCM16;
  std::optional<Transcription> transcription;
  std::optional<std::string> noise_reduction;  // near_field / far_field
  TurnDetection turn_detection;
  NodePtr tools;        // JSON array
  NodePtr tool_choice;  // "auto" | object
  double temperature = 0.8;          // preview only
  std::optional<int64_t> max_output_tokens;  // nullopt = "inf"
  double speed = 1.0;
  NodePtr tracing, include, truncation, prompt;

  bool audio_out() const;  // output modality includes audio
  static SessionConfig defaults(Dialect d, const std::string &model, bool transcription_session);
};

// Context for validation.
struct ValidationContext {
  Dialect dialect = Dialect::GA;
  bool azure = false;
  bool audio_produced = false;  // voice becomes immutable (§2.1, §2.2)
};

// Applies a session.update `session` object onto cfg (a copy). Returns an error (and leaves the
// partially-updated copy to be discarded) on the first invalid field.
std::optional<ApiError> apply_session_update(SessionConfig &cfg, JsonNode *session, const ValidationContext &ctx);

// Renders the full session object (§4.2 examples) for session.created / session.updated.
JsonNode *render_session(const SessionConfig &cfg, Dialect d, const std::string &id, int64_t expires_at);
JsonNode *render_turn_detection(const TurnDetection &td, Dialect d);
JsonNode *render_format(Fmt f, Dialect d);

// --- generic validation helpers (also used for client events) ---
ApiError err_unknown(const std::string &param);
ApiError err_missing(const std::string &param);
ApiError err_type(const std::string &param, const char *expected, JsonNode *got);
ApiError err_enum(const std::string &param, const std::string &value, const std::vector<std::string> &allowed);
ApiError err_value(const std::string &param, const std::string &message);
// First member of o not in `allowed` -> unknown_parameter at prefix + name.
std::optional<ApiError> check_known(JsonObject *o, const std::vector<std::string> &allowed, const std::string &prefix);
std::optional<Fmt> parse_preview_format(const std::string &s, bool azure);

}  // namespace emu
