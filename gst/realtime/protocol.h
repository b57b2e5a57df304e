// Realtime API wire protocol: one internal model, two JSON dialects.
//
// Spec: docs/protocol.md (cited below as "§N").
//   - Dialect::GA      : the GA protocol (session.type "realtime", nested audio.input/output,
//                        output_modalities, response.output_audio.delta ...)       (§1.2, §2.2)
//   - Dialect::Preview : the 2024 beta/preview protocol (flat session fields, modalities,
//                        response.audio.delta ...), the dialect of the seeds          (§1.1, §2.1)
//
// This header is GStreamer-free and libsoup-free: it only turns typed C++ structs into JSON
// text (client events, §3) and JSON text into typed events (server events, §4, §7).
//
// Error policy: nothing in this API throws. Builders cannot fail (they escape every string).
// Parsers return a value whose `ok` says whether the bytes were a valid event; on failure
// `error` is one clear sentence. Unknown event types are NOT errors (ServerEventType::Unknown,
// with the type string and the raw JSON kept).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rtc {

// ---------------------------------------------------------------------------------------------
// Basic enums
// ---------------------------------------------------------------------------------------------

enum class Dialect { GA, Preview };
enum class DialectChoice { Auto, GA, Preview };

// The three kinds of Realtime session (docs/protocol.md): a conversation (voice agent,
// realtimeconv), transcription only (realtimetranscriber), translation (realtimetranslator).
// The kind decides the URL (EndpointParams::kind), the session.update shape and which client
// and server events exist.
enum class SessionKind { Conversation, Transcription, Translation };
const char *session_kind_name(SessionKind k);  // "conversation" / "transcription" / "translation"

const char *dialect_name(Dialect d);  // "ga" / "preview"

// §2.1 input_audio_format / §7.2 audio.input.format
enum class AudioFormat { PCM16, G711_ULAW, G711_ALAW };

int audio_format_rate(AudioFormat f);              // 24000 / 8000 / 8000
int audio_format_bytes_per_sample(AudioFormat f);  // 2 / 1 / 1
const char *audio_format_preview_name(AudioFormat f);  // "pcm16" / "g711_ulaw" / "g711_alaw"
const char *audio_format_ga_type(AudioFormat f);       // "audio/pcm" / "audio/pcmu" / "audio/pcma"
// Accepts every spelling of §2.1/§7.2/§1.5 ("pcm16", "g711_ulaw", "g711-ulaw", "audio/pcm", ...).
std::optional<AudioFormat> audio_format_from_string(const std::string &s);

// Output modality. GA: exactly one of ["audio"] / ["text"] (§2.2).
// Preview: Audio is sent as ["text","audio"], Text as ["text"] (§2.1, §7.2).
enum class Modality { Audio, Text };

enum class NoiseReduction { Off, NearField, FarField };

// §2.3
struct TurnDetection {
  enum class Type { None, ServerVad, SemanticVad };
  Type type = Type::ServerVad;
  double threshold = 0.5;             // server_vad, 0..1
  int prefix_padding_ms = 300;        // server_vad
  int silence_duration_ms = 500;      // server_vad
  bool create_response = true;
  bool interrupt_response = true;
  std::optional<int> idle_timeout_ms; // server_vad, GA only (5000..30000); not sent in preview
  std::string eagerness = "auto";     // semantic_vad: low|medium|high|auto
};

// §2.1 input_audio_transcription / §2.2 audio.input.transcription
struct InputTranscription {
  std::string model;     // e.g. "whisper-1", "gpt-4o-transcribe"
  std::string language;  // ISO-639-1, empty = not sent
  std::string prompt;    // empty = not sent
  // Transcription sessions (docs/protocol.md §14; shared Part B §8). Empty = not sent.
  std::string delay;                   // gpt-realtime-whisper only: minimal|low|medium|high|xhigh
  std::vector<std::string> keywords;   // gpt-transcribe / gpt-live-transcribe
  std::vector<std::string> languages;  // gpt-transcribe / gpt-live-transcribe (never sent empty)
};

// The session configuration the client wants. session.update always carries every field that
// has a value here (the full desired state), so a session.update after a reconnect restores it.
struct SessionConfig {
  std::optional<std::string> instructions;
  std::optional<std::string> voice;
  Modality output_modality = Modality::Audio;
  AudioFormat input_format = AudioFormat::PCM16;
  AudioFormat output_format = AudioFormat::PCM16;
  std::optional<InputTranscription> input_transcription;  // nullopt = off (sent as null)
  NoiseReduction noise_reduction = NoiseReduction::Off;   // Off is sent as null
  TurnDetection turn_detection;                           // Type::None is sent as null
  std::string tools_json;                 // JSON array text (flat function tools, §10.6); "" = not sent
  std::string tool_choice_json;           // JSON value text ("\"auto\"" or an object); "" = not sent
  std::optional<double> temperature;      // preview only (0.6..1.2); never sent in GA (§7.2)
  std::optional<int> max_output_tokens;   // 1..4096; nullopt = "inf"
  std::optional<double> speed;            // 0.25..1.5
  std::string extra_json;                 // JSON object deep-merged last into "session" (escape hatch)
  // Translation sessions only (docs/protocol.md §15): audio.output.language, the target language
  // (ISO-639-1). input_transcription (model only) and noise_reduction are sent too; the other
  // fields above do not exist in a translation session and are never sent there.
  std::string output_language;
  // include: ["item.input_audio_transcription.logprobs"] (transcription sessions; §3.2, Part B §8)
  bool include_logprobs = false;
};

// §2.6: per-response overrides for response.create. Everything optional.
struct ResponseParams {
  std::optional<std::string> instructions;
  std::optional<Modality> output_modality;
  std::optional<std::string> voice;
  std::optional<AudioFormat> output_format;
  std::string tools_json;                // "" = not sent
  std::string tool_choice_json;          // "" = not sent
  std::optional<double> temperature;     // preview only
  std::optional<int> max_output_tokens;  // nullopt = not sent
  bool conversation_none = false;        // out-of-band response (§10.7)
  std::string metadata_json;             // JSON object, "" = not sent
  std::string input_json;                // JSON array of items, "" = not sent
};

// §2.4: an item for conversation.item.create.
struct ItemCreate {
  enum class Kind { UserText, SystemText, AssistantText, UserAudio, FunctionCall, FunctionCallOutput };
  Kind kind = Kind::UserText;
  std::string id;                 // "" = let the server choose
  std::string text;               // *Text kinds
  std::vector<uint8_t> audio;     // UserAudio: raw bytes in the session input format
  std::string call_id;            // FunctionCall / FunctionCallOutput
  std::string name;               // FunctionCall
  std::string arguments;          // FunctionCall (JSON text as a string)
  std::string output;             // FunctionCallOutput (JSON text as a string)
  std::optional<std::string> previous_item_id;  // nullopt = append; "root" = insert at start
};

// ---------------------------------------------------------------------------------------------
// Client events (§3): the 12 events, both dialects. Each returns one complete JSON text.
// event_id: "" = omitted. Use EventIdCounter for per-session ids so errors can be matched back.
// ---------------------------------------------------------------------------------------------

class EventIdCounter {
 public:
  explicit EventIdCounter(std::string prefix = "evt_") : prefix_(std::move(prefix)) {}
  std::string next();  // "evt_1", "evt_2", ...
  void reset() { n_ = 0; }
  uint64_t count() const { return n_; }

 private:
  std::string prefix_;
  uint64_t n_ = 0;
};

std::string build_session_update(Dialect d, const SessionConfig &cfg, const std::string &event_id = {});
// §3.2: preview -> transcription_session.update; GA -> session.update with session.type "transcription".
std::string build_transcription_session_update(Dialect d, const SessionConfig &cfg,
                                               const std::string &event_id = {});
// §3.3. Hot path: the base64 is encoded straight into `out` (which is cleared first), no tree.
void build_input_audio_append(std::string &out, const uint8_t *data, size_t len,
                              const std::string &event_id = {});
std::string build_input_audio_append(const uint8_t *data, size_t len, const std::string &event_id = {});
std::string build_input_audio_commit(const std::string &event_id = {});
std::string build_input_audio_clear(const std::string &event_id = {});
std::string build_item_create(Dialect d, const ItemCreate &item, const std::string &event_id = {});
std::string build_item_retrieve(const std::string &item_id, const std::string &event_id = {});
std::string build_item_truncate(const std::string &item_id, int content_index, int64_t audio_end_ms,
                                const std::string &event_id = {});
std::string build_item_delete(const std::string &item_id, const std::string &event_id = {});
// params == nullptr: {"type":"response.create"} with no "response" member.
std::string build_response_create(Dialect d, const ResponseParams *params, const std::string &event_id = {});
std::string build_response_cancel(const std::string &response_id = {}, const std::string &event_id = {});
std::string build_output_audio_buffer_clear(const std::string &event_id = {});

// Translation sessions (docs/protocol.md §15): the only three client events there.
// session.update {session:{audio:{input:{transcription, noise_reduction}, output:{language}}}}
// (no type, model, formats, voice or turn detection: the session object has none of them).
std::string build_translation_session_update(const SessionConfig &cfg, const std::string &event_id = {});
// session.input_audio_buffer.append (hot path, as build_input_audio_append).
void build_translation_audio_append(std::string &out, const uint8_t *data, size_t len,
                                    const std::string &event_id = {});
std::string build_session_close(const std::string &event_id = {});

// ---------------------------------------------------------------------------------------------
// Server events (§4). One parser for both dialects (§7.1 name table).
// ---------------------------------------------------------------------------------------------

enum class ServerEventType {
  Unknown,
  Error,
  SessionCreated,              // session.created, transcription_session.created
  SessionUpdated,              // session.updated, transcription_session.updated
  ConversationCreated,
  ItemAdded,                   // conversation.item.created (preview) / conversation.item.added (GA)
  ItemDone,                    // conversation.item.done (GA)
  ItemRetrieved,
  ItemTruncated,
  ItemDeleted,
  InputTranscriptionDelta,
  InputTranscriptionCompleted,
  InputTranscriptionFailed,
  InputTranscriptionSegment,
  InputBufferCommitted,
  InputBufferCleared,
  SpeechStarted,
  SpeechStopped,
  TimeoutTriggered,
  OutputAudioBufferStarted,
  OutputAudioBufferStopped,
  OutputAudioBufferCleared,
  ResponseCreated,
  ResponseDone,
  OutputItemAdded,
  OutputItemDone,
  ContentPartAdded,
  ContentPartDone,
  TextDelta,                   // response.text.delta / response.output_text.delta
  TextDone,
  AudioTranscriptDelta,        // response.audio_transcript.delta / response.output_audio_transcript.delta
  AudioTranscriptDone,
  AudioDelta,                  // response.audio.delta / response.output_audio.delta
  AudioDone,
  FunctionCallArgumentsDelta,
  FunctionCallArgumentsDone,
  RateLimitsUpdated,
  // Translation sessions (docs/protocol.md §15)
  SessionClosed,                   // session.closed: the answer to session.close
  TranslationInputTranscriptDelta,   // session.input_transcript.delta  (text, elapsed_ms)
  TranslationOutputTranscriptDelta,  // session.output_transcript.delta (text, elapsed_ms)
  TranslationOutputAudioDelta,       // session.output_audio.delta (audio, elapsed_ms, sample_rate, channels, format)
};

const char *server_event_type_name(ServerEventType t);  // canonical GA name, "unknown" for Unknown

struct ErrorInfo {
  std::string type;      // required in an error event
  std::string code;      // "" when null/absent
  std::string message;   // required in an error event
  std::string param;
  std::string event_id;  // the client event that caused it ("" when null/absent)
};

struct Usage {
  bool present = false;
  int64_t total_tokens = 0, input_tokens = 0, output_tokens = 0;
  int64_t input_text_tokens = 0, input_audio_tokens = 0, input_cached_tokens = 0;
  int64_t output_text_tokens = 0, output_audio_tokens = 0;
};

struct ContentPart {
  std::string type;        // input_text, input_audio, text, audio, output_text, output_audio
  std::string text;
  std::string transcript;
  bool transcript_null = true;
};

struct ItemInfo {
  std::string id, type, role, status;  // type: message | function_call | function_call_output | ...
  std::string call_id, name, arguments, output;
  std::vector<ContentPart> content;
};

struct ResponseInfo {
  std::string id, status;           // in_progress | completed | cancelled | failed | incomplete
  std::string status_type, reason;  // status_details.type / .reason ("" when null)
  ErrorInfo status_error;           // status_details.error (type/code), empty when absent
  std::string conversation_id;      // "" when null (out-of-band)
  std::vector<ItemInfo> output;
  Usage usage;
  std::string metadata_json;        // raw JSON object text, "" when null/absent
};

struct SessionInfo {
  std::string id, object, type, model;
  int64_t expires_at = 0;           // unix seconds, 0 when absent
  std::string voice;
  std::optional<AudioFormat> input_format, output_format;
  std::optional<Modality> output_modality;
  std::string turn_detection_type;  // "server_vad" | "semantic_vad" | "" (null)
  std::string raw_json;             // the "session" object as received
};

struct RateLimit {
  std::string name;  // requests | tokens
  double limit = 0, remaining = 0, reset_seconds = 0;
};

struct ServerEvent {
  ServerEventType type = ServerEventType::Unknown;
  std::string type_name;        // the "type" string exactly as received
  std::string event_id;
  std::string response_id, item_id, previous_item_id, call_id, name, conversation_id;
  int output_index = -1, content_index = -1;
  // Text payload, by type: *Delta -> delta; TextDone -> text; AudioTranscriptDone / InputTranscriptionCompleted
  // -> transcript; FunctionCallArgumentsDone -> arguments; InputTranscriptionSegment -> text.
  std::string text;
  int64_t audio_start_ms = -1, audio_end_ms = -1;  // speech_*, timeout_triggered, item.truncated
  std::vector<uint8_t> audio;   // AudioDelta decoded by the generic parser (the fast path avoids this)
  ErrorInfo error;              // Error, InputTranscriptionFailed
  SessionInfo session;          // Session*
  ResponseInfo response;        // ResponseCreated / ResponseDone
  ItemInfo item;                // Item*, OutputItem*
  ContentPart part;             // ContentPart*
  std::vector<RateLimit> rate_limits;
  Usage usage;                  // InputTranscriptionCompleted (token usage), when present
  // InputTranscriptionDelta / Completed: logprobs[].logprob when the session asked for them
  // (include item.input_audio_transcription.logprobs); empty otherwise.
  std::vector<double> logprobs;
  // InputTranscriptionSegment (diarization, Part B §9): id, speaker, start/end in seconds
  // (origin undocumented; -1 when absent).
  std::string segment_id, speaker;
  double segment_start = -1, segment_end = -1;
  std::string raw_json;         // Unknown events: the whole frame
  // Translation deltas (docs/protocol.md §15): elapsed_ms, -1 when absent or null; the audio
  // delta's declared format (0 / "" when absent: PCM16 24 kHz mono is then assumed).
  int64_t elapsed_ms = -1;
  int sample_rate = 0, channels = 0;
  std::string format;
};

struct ParsedServerEvent {
  bool ok = false;
  std::string error;  // when !ok: one sentence, e.g. "malformed JSON at offset 17: ..."
  ServerEvent event;
};

// Generic path (json-glib). Accepts any bytes; never throws; never reads past len.
ParsedServerEvent parse_server_event(const char *data, size_t len);
inline ParsedServerEvent parse_server_event(const std::string &s) { return parse_server_event(s.data(), s.size()); }

// ---------------------------------------------------------------------------------------------
// Hot path (no json-glib tree): audio delta events of both dialects.
// ---------------------------------------------------------------------------------------------

enum class FastParseStatus {
  NotAudioDelta,  // well-formed or not, this is not an audio delta: use parse_server_event()
  Ok,             // decoded; header filled
  Error,          // it is an audio delta frame but invalid (JSON, types, base64, missing fields)
};

struct AudioDeltaHeader {
  std::string type_name, event_id, response_id, item_id;
  int output_index = -1, content_index = -1;
  size_t audio_len = 0;  // decoded bytes written into the allocated memory
};

// `alloc(max_len)` is called at most once, with an upper bound of the decoded size, and must
// return writable memory of at least max_len bytes (e.g. a mapped GstBuffer); the decoder writes
// the audio straight there. It is not called for NotAudioDelta. On Error after alloc, the memory
// contents are unspecified and the caller frees it.
// Contract checked by tests: for every input, Ok <=> parse_server_event() gives ok with type
// AudioDelta, with the same field values and the same bytes; Error <=> parse_server_event() is !ok.
using AudioAlloc = std::function<uint8_t *(size_t max_len)>;
FastParseStatus parse_audio_delta_fast(const char *data, size_t len, AudioDeltaHeader *hdr,
                                       const AudioAlloc &alloc, std::string *error);
// The same, and the allocator is also told where the base64 text starts inside `data` (`b64`, or
// nullptr when the text had JSON escapes and was unescaped into a copy). A caller that owns the
// frame's memory may return a pointer at or before `b64` inside it (e.g. `b64` rounded down to an
// alignment, once it no longer needs the bytes in between): base64_decode() is in-place safe, so
// the audio is decoded over its own text, with no second buffer (docs/reliability.md "Memory bounds").
using AudioAllocAt = std::function<uint8_t *(size_t max_len, const char *b64)>;
FastParseStatus parse_audio_delta_fast_at(const char *data, size_t len, AudioDeltaHeader *hdr,
                                          const AudioAllocAt &alloc, std::string *error);

// ---------------------------------------------------------------------------------------------
// Base64 (strict, RFC 4648 with padding; no whitespace). Exposed for the emulator and tests.
// ---------------------------------------------------------------------------------------------
size_t base64_encoded_len(size_t n);
void base64_encode_append(std::string &out, const uint8_t *data, size_t n);
// Returns false on any invalid character, bad padding or length. Writes at most
// base64_decoded_max(len) bytes to out; *out_len = bytes written. In-place safe: `out` may be
// `in` or any address before it (each step reads its characters before it writes, and output
// position <= 3/4 of the input position plus the out-in gap never passes the unread input).
size_t base64_decoded_max(size_t len);
bool base64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len);

// ---------------------------------------------------------------------------------------------
// Endpoint resolution (§1). From user settings to the WebSocket URL and handshake headers.
// ---------------------------------------------------------------------------------------------

// Environment lookup (injectable for tests). Returns nullopt when unset or empty.
using EnvLookup = std::function<std::optional<std::string>(const char *name)>;
std::optional<std::string> process_env(const char *name);

struct EndpointParams {
  std::string endpoint;     // https://, wss://, http://, ws://, with or without path; "" = from env/default
  std::string deployment;   // Azure deployment or OpenAI model; "" = from env/default
  std::string api_version;  // Azure preview api-version; "" = from env (OPENAI_API_VERSION) when preview
  DialectChoice dialect = DialectChoice::Auto;
  std::string api_key;      // "" = from env (AZURE_OPENAI_API_KEY for Azure, OPENAI_API_KEY for OpenAI)
  std::string bearer_token; // OpenAI key / Entra ID token / ephemeral key sent as Authorization: Bearer
  bool api_key_in_query = false;  // Azure: send api-key as query parameter instead of header
  bool allow_insecure = false;    // allow ws:// / http:// to non-loopback hosts
  bool use_env = true;            // fall back to the seeds' environment variables
  SessionKind kind = SessionKind::Conversation;
};

struct ResolvedEndpoint {
  std::string url;           // wss://... or ws://... ; may contain a secret (api-key in query): never log it
  std::string display_url;   // same URL with secrets replaced by "REDACTED": safe to log
  std::vector<std::pair<std::string, std::string>> headers;  // may contain secrets: never log values
  Dialect dialect = Dialect::GA;
  bool azure = false;
  bool has_credentials = false;
};

// Returns false with a one-sentence *error (containing no secret) when the settings cannot work.
bool resolve_endpoint(const EndpointParams &p, ResolvedEndpoint *out, std::string *error,
                      const EnvLookup &env = process_env);

// Replaces any secret-looking value in s (api-key=..., Bearer ..., sk-..., given secrets) for logs.
std::string redact(const std::string &s, const std::vector<std::string> &secrets = {});

// ---------------------------------------------------------------------------------------------
// Strict JSON checks (added by the protocol work, issue 2). Both server-event parsers run the
// same strict RFC 8259 scanner before anything else, so they accept exactly the same texts:
// UTF-8 only (no BOM), no comments, strict number grammar, integers must fit in int64 and
// other numbers must be finite doubles, no escaped NUL (U+0000) and no lone surrogates in
// strings, at most kJsonMaxDepth nested arrays/objects. Duplicate members: the last one wins.
//
// Precise outcome of parse_audio_delta_fast() (same messages as parse_server_event()):
//   Error         - malformed JSON (whatever the type), not an object, "type" missing or not a
//                   string, or an audio delta with a bad field / bad base64;
//   NotAudioDelta - a well-formed object whose "type" string is not one of the two audio delta
//                   names (parse_server_event() may still reject it for that type's fields);
//   alloc(0) is called for an empty delta (returning nullptr is fine then).
// ---------------------------------------------------------------------------------------------
constexpr int kJsonMaxDepth = 256;

// Any JSON value under the rules above. On failure *error (if not null) gets one sentence
// such as "malformed JSON at offset 17: expected ':' after a member name".
bool validate_json(const char *data, size_t len, std::string *error);
// Same, and the value must be an object (used for extra_json / metadata_json).
bool validate_json_object(const std::string &text, std::string *error);
// Byte range [first, second) of the value of the last top-level member `name` of `data`,
// which must be a valid JSON object text; nullopt when absent or invalid.
std::optional<std::pair<size_t, size_t>> json_top_level_member_span(const char *data, size_t len,
                                                                    const std::string &name);

}  // namespace rtc
