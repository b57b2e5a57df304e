// Session engine: one Realtime session end to end, GStreamer-free.
//
// THREADING CONTRACT
// ------------------
// * The sessions of a process share a small fixed pool of network threads ("rtc-net": one per
//   two CPU cores, 1 to 4; RTC_NET_THREADS=1..16 overrides), each owning a GMainContext, its
//   GMainLoop and its own SoupSession(s) (net_thread.h). A Session is bound to one of them (the
//   least loaded) when it is constructed, for its whole life: every libsoup /
//   SoupWebsocketConnection call of that Session runs on that one thread, and no libsoup object
//   is shared between threads. "The network thread" below means the Session's own. A thread is
//   started by the first Session::start() bound to it and lives until process exit (or until
//   rtc::shutdown_network_thread() is called with no session alive).
// * Every public method of Session is thread-safe, never blocks on the network and never waits
//   for the network thread to do work (except stop(), see below): it appends a command to the
//   session's bounded command queue and wakes the loop with g_main_context_invoke-style dispatch.
// * SessionListener callbacks are called ON THE NETWORK THREAD, one at a time per session, in
//   the order the events were received. A callback must return quickly (the thread is shared by
//   many sessions): copy/enqueue and return; never push downstream, never wait on a
//   streaming thread, never take a lock that a streaming thread may hold while it calls into
//   the Session.
//   From inside a callback it IS allowed to call any public Session method except stop() and
//   the destructor (they would deadlock: stop() waits for callbacks to finish). Those calls are
//   queued and executed after the callback returns.
// * stop() is idempotent and must not be called from any network thread: from the Session's own
//   it is done inline as a last resort; from another one it waits for that thread, which can
//   deadlock two network threads doing this to each other (the destructor must wait: after it,
//   no callback may run). It
//   cancels a pending connect or reconnect backoff, closes the socket, and returns only when no
//   callback of this session is running and none will run again.
// * start() after stop() starts a fresh connection (same config, counters kept).
//
// QUEUES (all bounded)
// * command queue: kMaxQueuedCommands; when full, the queued commands are kept and the new one is
//   rejected (the method returns false and a warning is logged), except update_config(): it takes
//   one slot beyond the bound, and a later update_config() replaces it there while nothing is
//   queued after it (the newest configuration and ticket; its answer answers the earlier ticket).
//   Audio is not a command: see below.
// * response.create requests of the default conversation not sent yet (create_response(),
//   send_text(.., true), function_output(.., true) still in the command queue, plus those queued
//   behind the active response): kMaxQueuedResponses; when full, the new request is rejected the
//   same way (the method returns false, nothing of it is done, a warning is logged).
// * after a failure (state Failed) nothing of the failed session is kept: queued commands except
//   update_config() and queued response.create are dropped (logged), and start() begins a fresh
//   session (no replay, no on_reconnected). Commands queued while Failed are dropped by start().
// * pending input audio (not yet sent because the session is not ready / disconnected):
//   EngineConfig::offline_buffer_ms; when full, the OLDEST audio is dropped and the drop is
//   reported through on_input_dropped() with its duration (never silently).
// * outgoing WebSocket frames are handed to libsoup immediately on the network thread.
//   libsoup 3.2 exposes no count of unflushed bytes, so there is no send-side backpressure
//   beyond the socket's own buffer; a peer that stops reading is caught by the keepalive
//   watchdog (ping_timeout_ms) and the connection is replaced.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "protocol.h"

namespace rtc {

enum class SessionState {
  Idle,          // not started / stopped
  Connecting,    // HTTP handshake in progress
  Configuring,   // connected, session.update sent, waiting for session.updated
  Ready,         // session.updated received: commands flow
  Reconnecting,  // lost the connection (or renewing); waiting for backoff / new handshake
  Failed,        // fatal error or reconnect attempts exhausted; stop() or start() to leave it
};
const char *session_state_name(SessionState s);

enum class LogLevel { Error, Warning, Info, Debug, Trace };

enum class ErrorClass {
  Fatal,    // auth, quota, invalid_api_key, beta_api_shape_disabled, handshake 401/403/404, ...
  Benign,   // response_cancel_not_active, commit_empty, already_has_active_response race, truncate past end
  Warning,  // anything else: reported, session continues
};

struct SessionError {
  ErrorClass cls = ErrorClass::Warning;
  int http_status = 0;          // handshake failures: the HTTP status; 0 otherwise
  std::string code;             // server error code, or "handshake_failed", "network_error", "reconnect_failed", ...
  std::string message;          // one sentence, no secrets
  std::string param;
  std::string client_event_id;  // error.event_id
  std::string client_event_type;// type of the client event that caused it (from the engine's event_id map)
};

struct Credentials {
  std::string api_key;
  std::string bearer_token;
};
// Called on the network thread before every (re)connect. Must not block for long.
using CredentialsProvider = std::function<Credentials()>;

struct EngineConfig {
  EndpointParams endpoint;
  CredentialsProvider credentials;    // optional; overrides endpoint.api_key/bearer_token when set
  std::string ssl_ca_file;            // "" = system CAs
  bool ssl_strict = true;             // false = accept invalid certificates (as souphttpsrc ssl-strict)
  std::string proxy;                  // "" = system default (as souphttpsrc proxy)
  SessionConfig session;
  int chunk_ms = 40;                  // input_audio_buffer.append chunk duration, 10..1000
  // Per attempt: TCP + TLS + WebSocket upgrade must complete within this (docs/reliability.md).
  // With the defaults (8 s, 5 reconnect attempts, backoff 0.25..8 s) a server that never answers
  // is given up within 60 s: 6 attempts x 8 s + at most 9.7 s of backoff.
  int connect_timeout_ms = 8000;
  int reconnect_attempts = 5;         // 0 = never reconnect
  int reconnect_base_ms = 250;        // backoff: base * 2^n, with +-25 % jitter, capped
  int reconnect_max_ms = 8000;
  int renew_margin_s = 120;           // planned renewal this long before expires_at; 0 = off
  int replay_max_items = 50;          // conversation context replayed after a reconnect
  int offline_buffer_ms = 10000;      // input audio kept while disconnected
  int ping_interval_ms = 5000;        // WebSocket keepalive
  int ping_timeout_ms = 10000;        // no pong/frames for this long => connection dead
};

// Context the engine adds to server events, in the caller's terms.
struct EventContext {
  // Positions of audio_start_ms / audio_end_ms of this event (or, for input transcription and
  // committed events, of the speech span of that item) on the caller's INPUT STREAM timeline:
  // samples (at the input format rate) counted from the first byte ever given to push_audio(),
  // across reconnects. -1 when unknown / not applicable.
  int64_t input_start_sample = -1;
  int64_t input_end_sample = -1;
  uint32_t generation = 0;  // increments with every new server session (reconnect / renewal)
  // ResponseDone only: this response's own time to first audio, in microseconds: from the
  // speech_stopped (or response.create / response.created) that started it to the first audio
  // delta of that response (the same measure as SessionStats::ttfa, but per response). -1 when
  // the response had no audio (e.g. a function call only, text only, cancelled before audio).
  int64_t ttfa_us = -1;
  // Translation transcript deltas only: the caller's input position this session had been sent
  // when the event arrived (the arrival-time fallback, the same measure as
  // AudioDeltaInfo::input_sent_samples). -1 otherwise.
  int64_t input_sent_samples = -1;
};

struct AudioDeltaInfo {
  std::string response_id, item_id;
  int output_index = 0, content_index = 0;
  int64_t item_offset_bytes = 0;  // bytes of this item's audio received before this delta
  int64_t receive_time_us = 0;    // g_get_monotonic_time() when the complete frame was received
  // Translation sessions (docs/protocol.md §15): elapsed_ms of the delta (-1 when absent/null),
  // mapped onto the caller's input timeline as input_sample (-1 when absent or unmappable), and
  // the caller's input position the server had been sent when the delta arrived.
  int64_t elapsed_ms = -1;
  int64_t input_sample = -1;
  int64_t input_sent_samples = -1;
  uint32_t generation = 0;
};

struct FunctionCall {
  std::string response_id, item_id, call_id, name, arguments;
};

struct TimeToFirstAudio {
  int64_t last_us = -1, max_us = -1;
  double mean_us = 0;
  uint64_t count = 0;
};

struct SessionStats {
  SessionState state = SessionState::Idle;
  std::string session_id, model;
  int64_t expires_at = 0;
  uint64_t connects = 0, reconnects = 0, renewals = 0;
  uint64_t events_in = 0, events_out = 0;
  uint64_t audio_bytes_sent = 0, audio_bytes_received = 0;
  double audio_ms_sent = 0, audio_ms_received = 0;
  // Input accounting (docs/reliability.md): every sample given to push_audio() ends up in exactly
  // one of delivered, dropped, cleared, or is still held (input_unsent_bytes()):
  //   input_samples_pushed() = input_samples_delivered + input_samples_dropped + input_samples_cleared
  //                            + input_unsent_bytes() / bytes per sample
  // audio_bytes_sent / audio_ms_sent count what was handed to a socket (re-sent audio twice).
  uint64_t audio_bytes_delivered = 0;     // proven read by the server (pong of a later ping, or the
  double audio_ms_delivered = 0;          // answer to a later session.update)
  uint64_t input_samples_delivered = 0;
  uint64_t input_samples_resent = 0;      // not proven read when a connection was lost: queued again
  uint64_t input_samples_cleared = 0;     // discarded by clear()
  uint64_t input_ms_dropped = 0;     // rounded down; use input_samples_dropped for exact arithmetic
  uint64_t input_samples_dropped = 0;  // exact count of input samples dropped (offline buffer full)
  uint64_t responses_completed = 0, responses_cancelled = 0, responses_failed = 0, responses_incomplete = 0;
  Usage usage_total;                // summed over response.done
  std::vector<RateLimit> rate_limits;  // last rate_limits.updated
  TimeToFirstAudio ttfa;            // speech_stopped (or response.create) -> first audio delta
  uint64_t parse_errors = 0, server_errors = 0;
  uint64_t server_times_rejected = 0;  // audio_start_ms / audio_end_ms outside the input timeline (ignored)
};

class SessionListener {
 public:
  virtual ~SessionListener() = default;
  // All on the network thread; see the contract at the top of this file.
  virtual void on_state(SessionState state, const std::string &detail) { (void)state; (void)detail; }
  // Every parsed server event except audio deltas (delivered through on_audio). Events the
  // engine handled itself are still delivered (the owner may ignore them).
  virtual void on_server_event(const ServerEvent &ev, const EventContext &ctx) { (void)ev; (void)ctx; }
  // Memory for a decoded audio delta: return writable memory of >= max_bytes and an opaque
  // handle (e.g. a GstBuffer*). Return nullptr to drop the delta.
  virtual uint8_t *alloc_audio(size_t max_bytes, void **handle) = 0;
  // The decoded delta: `bytes` valid bytes at the start of the memory of `handle`; ownership of
  // the handle passes to the listener.
  virtual void on_audio(void *handle, size_t bytes, const AudioDeltaInfo &info) = 0;
  // Releases a handle from alloc_audio() that was not passed to on_audio() (decode failed).
  virtual void free_audio(void *handle) = 0;
  // Optional, for large frames (>= Session::kInPlaceFrameBytes), whose audio the engine decodes
  // in place in the frame's own memory: `block` holds exactly the `bytes` of decoded audio and was
  // allocated with g_malloc. A listener that can wrap foreign memory takes ownership of it (frees
  // it with g_free, also when the handle is given back to free_audio()) and returns a handle as
  // alloc_audio() does; on_audio() follows. nullptr (the default): the engine copies the audio into
  // memory from alloc_audio() and frees the block.
  virtual void *adopt_audio(uint8_t *block, size_t bytes) {
    (void)block; (void)bytes;
    return nullptr;
  }
  virtual void on_error(const SessionError &err) { (void)err; }
  // Completed function calls of completed responses (never of cancelled / incomplete ones).
  virtual void on_function_call(const FunctionCall &call) { (void)call; }
  virtual void on_reconnecting(int attempt, int delay_ms, const std::string &reason) {
    (void)attempt; (void)delay_ms; (void)reason;
  }
  virtual void on_reconnected(int items_replayed, bool planned_renewal) { (void)items_replayed; (void)planned_renewal; }
  // `n` manual commits (input_audio_buffer.commit) were sent on a server session that is gone
  // (connection lost, or replaced by a renewal) and never answered: they never will be. Commits
  // still queued then are sent on the next connection and answered there. Called when the next
  // server session starts, before its on_reconnected().
  virtual void on_commits_lost(int n) { (void)n; }
  virtual void on_input_dropped(int64_t first_sample, int64_t samples) { (void)first_sample; (void)samples; }
  virtual void on_log(LogLevel level, const std::string &msg) { (void)level; (void)msg; }
};

class Session {
 public:
  static constexpr size_t kMaxQueuedCommands = 1024;
  static constexpr size_t kMaxQueuedResponses = 64;
  // Memory bounds on what the server sends (docs/reliability.md): audio deltas are decoded
  // straight into listener memory and may use libsoup's whole 16 MiB frame limit; any other event
  // larger than kMaxEventBytes is refused unparsed (warning, parse_errors): a JSON tree costs
  // several times its text. Item text kept for the replay after a reconnect is capped at
  // kMaxItemTextBytes per item (the start is kept, cut at a UTF-8 boundary).
  static constexpr size_t kMaxEventBytes = 1024 * 1024;
  // A frame at least this large is handled once libsoup has let go of it (at the next frame, the
  // connection's close or error, or the next main-loop iteration, whichever comes first; frames
  // keep their order), so that the engine owns its memory without a copy and decodes an audio
  // delta in place (SessionListener::adopt_audio). Smaller frames are handled at once.
  static constexpr size_t kInPlaceFrameBytes = 256 * 1024;
  static constexpr size_t kMaxItemTextBytes = 64 * 1024;

  // The listener must outlive the Session (or stop() must have returned).
  Session(EngineConfig cfg, SessionListener *listener);
  ~Session();  // calls stop()
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  void start();
  void stop();

  // Replace the session configuration; sends session.update when connected (now or later).
  // The audio formats can only change before start(). Returns the update's ticket: its number
  // among this Session's update_config() calls (1, 2, ...), for updates_answered().
  uint64_t update_config(const SessionConfig &cfg);
  // Connection settings (endpoint, reconnect...) used from the next connect on.
  void set_engine_config(const EngineConfig &cfg);

  // Input audio in the configured input format, any size. Chunked to chunk_ms appends.
  void push_audio(const uint8_t *data, size_t len);
  // Sends what is pending in the chunker now (e.g. before a commit).
  void flush_audio();

  // Translation sessions (docs/protocol.md §15): sends every pending input byte (a partial chunk
  // too), then session.close; the server answers with its remaining output and session.closed,
  // delivered through on_server_event (ServerEventType::SessionClosed), after which the engine
  // closes the connection and goes Idle ("session closed"). If the connection is lost before,
  // session.close is sent again into the reconnected session. Bound the wait by a timeout.
  bool close_input();
  bool commit();   // flushes pending audio, then input_audio_buffer.commit
  bool clear();    // drops pending audio, input_audio_buffer.clear
  // Queued behind the active response of the default conversation (never sent to fail).
  bool create_response(const ResponseParams *params = nullptr);
  bool cancel_response();
  bool send_text(const std::string &text, bool create_response = true);
  // function_call_output item, then (by default) one response.create after the active response is done.
  bool function_output(const std::string &call_id, const std::string &output_json, bool create_response = true);
  // audio_end_ms is clamped to the audio received for that item; 0 => the item is deleted instead.
  bool truncate(const std::string &item_id, int64_t audio_end_ms);
  bool delete_item(const std::string &item_id);

  SessionStats stats() const;
  SessionState state() const;
  // Input samples given to push_audio() so far (the caller's input stream timeline).
  int64_t input_samples_pushed() const;
  // True while a response on the default conversation is active or queued, including a
  // response.create requested by create_response() / send_text(.., true) /
  // function_output(.., true) that is still in the command queue or queued behind the active
  // response (it stays true until that response is done, or the request is dropped).
  bool response_pending() const;
  // Bytes given to push_audio() that are neither proven delivered to a server session nor dropped
  // nor discarded by clear(): the engine's pending input, including audio sent but not yet proven
  // read (see SessionStats). 0 means every pushed byte has been delivered, dropped (reported) or
  // cleared. Thread-safe, never blocks on the network.
  int64_t input_unsent_bytes() const;
  // The highest update_config() ticket that has been answered (docs/engine.md "Barriers"). A
  // session.update sent on the connection that carries the input carries the newest ticket
  // executed before it (a connection's own configuration update included), and its answer
  // (session.updated, or an error event whose error.event_id names it: a rejected update) answers
  // that ticket and every earlier one. Published once the answering event, and every event before
  // it, has been delivered to the listener (on_server_event / on_error). Monotonic, kept across
  // stop()/start(). A connection lost with a ticket unanswered: the input it had not proven read
  // is sent again on the next connection, then a session.update answers the ticket. Counted as
  // answered without an answer: a session.update still unanswered when its connection is retired
  // by the renewal switch, stop() or a failure, or dropped at stop(). A full command queue never
  // refuses an update (see QUEUES above).
  // So update_config() is an in-order barrier that cannot hang on a rejected update: t =
  // update_config(), then wait for updates_answered() >= t. An update sent earlier and still in
  // flight never satisfies a later ticket. An Idle or Failed session sends nothing: bound such a
  // wait by a timeout or by state().
  uint64_t updates_answered() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Stops the network threads if no session is alive (tests, leak checkers). Optional.
// Safe against Sessions created concurrently: their start() waits until the teardown is complete
// (the old threads joined) and then starts a new network thread; nothing is ever posted into a
// dying thread's context.
void shutdown_network_thread();

}  // namespace rtc
