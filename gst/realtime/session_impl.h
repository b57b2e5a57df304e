// Private to the session engine (gst/realtime/session*.cc, and the engine's white-box test driver
// tests/engine/dispatch_bench.*): Session::Impl and the types it owns. Contract: session.h.
// Which file holds what, the threads, the owner of each piece of state and every queue:
// docs/engine.md.
//
// Structure
//   * Public methods (any thread) only touch the "shared" members under `mu`: the command queue,
//     the pending input audio, lifecycle requests; then wake the network thread (one pending
//     wake per session, an idle GSource on the network context holding a shared_ptr<Impl>).
//   * Everything else (the connections, conversation state, timers) is owned by the network
//     thread (net_thread.h) and only touched there. Listener callbacks are only called there,
//     and only while `active_` (cleared by the stop command before stop() returns).
//   * Async libsoup operations carry a shared_ptr<Impl> so their completion can run after the
//     Session object is gone; they check the connection id and `active_` and drop stale results.
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "net_thread.h"
#include "session.h"
#include "session_internal.h"
#include "session_transcription.h"

namespace rtc {
namespace engine {

inline int64_t now_us() { return g_get_monotonic_time(); }

// One WebSocket connection attempt / connection. Owned by the Impl (network thread).
struct Conn {
  uint64_t id = 0;
  bool renewal = false;
  Dialect dialect = Dialect::GA;
  SoupMessage *msg = nullptr;
  SoupWebsocketConnection *ws = nullptr;
  GCancellable *cancel = nullptr;
  GSource *timeout = nullptr;
  bool timed_out = false;
  bool got_created = false, got_updated = false;
  uint64_t sent_off = 0;         // input audio bytes handed to this connection
  uint64_t probed_off = 0;       // sent_off at the last delivery probe (ping)
  int64_t last_probe_us = 0;
  struct UpdateSent {
    uint64_t sent_off = 0;  // input audio bytes handed to this connection when it was sent
    bool barrier = false;   // the barrier after a re-send (become_ready), not a caller's update
  };
  std::map<std::string, UpdateSent> update_marks;  // session.update event id -> its record, until answered
  // The rejection (code, message, param) of the last session.update answered on this connection,
  // empty when it was accepted. The barrier repeats the configuration of the update sent just
  // before it on this connection, so the same rejection again is not news.
  std::string reported_rejection;
  int local_error_code = 0;      // libsoup closed because of the server's data (SOUP_WEBSOCKET_CLOSE_*)
  std::string local_error_msg;
  std::string update_event_id;  // of the session.update sent at configuration
  // session.update events sent and not answered yet, oldest first: their event id and the
  // update_config() ticket whose configuration they carry (see Session::updates_answered()).
  std::deque<std::pair<std::string, uint64_t>> updates_unanswered;
  int64_t last_rx_us = 0;       // any frame or pong (transport liveness)
  int64_t last_event_us = 0;    // last server event
  int64_t last_request_us = 0;  // last client event that expects an answer
  SessionInfo info;
  std::string url_http;  // for the error-body request after a failed handshake; secret, never logged
  std::vector<std::pair<std::string, std::string>> headers;
  SoupSession *soup = nullptr;  // not owned
  std::string display_url;
  void *ref = nullptr;  // ConnRef given to the signal handlers
  // A large frame (Session::kInPlaceFrameBytes) received but not handled yet: libsoup still holds
  // it during its "message" emission. Handled first thing at the next frame, close or error, or by
  // Impl::held_flush_ (Impl::on_frame).
  GBytes *held_frame = nullptr;
  int64_t held_rx_us = 0;  // when it came
  Conn() = default;
  Conn(const Conn &) = delete;
  Conn &operator=(const Conn &) = delete;
  ~Conn() {
    if (held_frame) g_bytes_unref(held_frame);
  }
};

enum class CmdKind { UpdateConfig, Flush, Commit, Clear, CreateResponse, Cancel, SendText, FunctionOutput, Truncate, Delete, CloseInput };

// A caller's command, queued under `mu` (kMaxQueuedCommands) and executed on the network thread.
struct Cmd {
  CmdKind kind = CmdKind::Flush;
  int64_t audio_mark = 0;  // caller byte position when the command was issued
  bool counts_create = false;  // requests a default-conversation response.create (creates_queued)
  // The arguments, by the kind that uses them (the others leave them empty):
  std::optional<SessionConfig> cfg;        // UpdateConfig: the new session configuration
  uint64_t ticket = 0;                     // UpdateConfig: its number (Session::update_config())
  std::optional<ResponseParams> params;    // CreateResponse: its parameters (none: the defaults)
  std::string text;                        // SendText: the user text item
  std::string call_id, output_json;        // FunctionOutput: the call answered and its output
  bool create_response = false;            // SendText, FunctionOutput: ask for a response after the item
  std::string item_id;                     // Truncate, Delete: the conversation item
  int64_t audio_end_ms = 0;                // Truncate: cut the item's audio there
};

enum class LifeOp { Start, Stop };

// A conversation item as mirrored by the engine (for the replay after a reconnect, truncation
// clamping and the input spans of EventContext).
struct Item {
  std::string id, type, role, status;
  std::string text;  // user input_text / input transcription, assistant transcript / text
  bool has_text = false;
  bool truncated = false;
  bool in_order = false;
  bool replayed = false;                    // the server's echo of an item we replayed
  int64_t audio_bytes = 0;                  // assistant audio received (truncate clamping)
  int64_t span_start = -1, span_end = -1;   // user audio: caller input samples (EventContext)
};

// A response.create waiting for the active response to end (the response queue, kMaxQueuedResponses).
struct Deferred {
  std::optional<ResponseParams> params;
  bool from_function = false;
};

// Item text kept for the replay: at most Session::kMaxItemTextBytes, cut at a UTF-8 boundary.
void set_item_text(Item &x, const std::string &t);

// The call a function_call output item of response `response_id` asks for.
FunctionCall function_call_of(const std::string &response_id, const ItemInfo &item);

}  // namespace engine

// =============================================================================================
struct Session::Impl : std::enable_shared_from_this<Session::Impl> {
  using Conn = engine::Conn;
  using Cmd = engine::Cmd;
  using CmdKind = engine::CmdKind;
  using LifeOp = engine::LifeOp;
  using Item = engine::Item;
  using Deferred = engine::Deferred;

  Impl(EngineConfig cfg, SessionListener *l);
  ~Impl();

  SessionListener *listener;
  // The network thread this Session is bound to for its whole life (every libsoup call of this
  // Session runs there). Set once by the constructor.
  net::Loop *loop_ = nullptr;

  // ---------------- shared, under mu ----------------
  mutable std::mutex mu;
  std::condition_variable cv;
  EngineConfig cfg_pub;
  std::deque<Cmd> cmds;
  std::deque<LifeOp> life;
  bool wake_pending = false;
  bool started = false;
  bool net_running = false;  // a Start was posted (the net thread exists for us)
  uint64_t stop_seq = 0, stop_done = 0;
  // input audio not sent yet
  std::vector<uint8_t> abuf;
  size_t aoff = 0;
  int64_t abuf_pos = 0;      // caller byte position of abuf[aoff]
  int64_t held_pub = 0;      // network thread's held_bytes_ (sent, not proven read, or to re-send)
  int64_t pushed_bytes = 0;  // caller bytes ever pushed
  int in_bps = 2, in_rate = 24000;
  size_t chunk_bytes = 1920, limit_bytes = 480000;
  bool accepting = false;  // net thread is Ready: wake on full chunks
  std::vector<std::pair<int64_t, int64_t>> drops;  // (first caller sample, samples)
  int64_t dropped_samples = 0;
  std::vector<std::pair<LogLevel, std::string>> pending_logs;
  // response.create requests not sent yet: counted commands in `cmds` (+ the one executing), and
  // the size of deferred_ as last published by the network thread (kMaxQueuedResponses).
  size_t creates_queued = 0;
  size_t deferred_pub = 0;

  // stats
  mutable std::mutex stats_mu;
  SessionStats st;
  std::atomic<int> state_pub{static_cast<int>(SessionState::Idle)};
  std::atomic<bool> resp_pending_pub{false};
  // update_config() tickets: the last one issued (under `mu`) and the highest answered (published
  // once the answer has been delivered: see Session::updates_answered()).
  uint64_t update_tickets_issued = 0;
  std::atomic<uint64_t> updates_answered_pub{0};
  uint64_t answered_due_ = 0;  // network thread: the highest answered ticket not published yet
  uint64_t cfg_ticket_ = 0;    // network thread: the newest ticket whose configuration is in scfg_
  // network thread: a connection was lost with a ticket unanswered: it is answered by a
  // session.update sent once the input is re-sent on the next connection (become_ready), and no
  // update sent before that answers a ticket.
  bool barrier_after_resend_ = false;
  int64_t cfg_ticket_mark_ = 0;  // network thread: the caller's input position at the newest ticket
  void publish_answered(uint64_t ticket);  // any thread: updates_answered_pub = max(it, ticket)

  // ---------------- network thread only ----------------
  bool active_ = false;
  SessionState state_ = SessionState::Idle;
  EngineConfig ecfg_;    // snapshot at the last connect
  SessionConfig scfg_;   // desired session configuration
  std::unique_ptr<Conn> cur_, next_;
  std::vector<std::unique_ptr<Conn>> graveyard_;
  uint64_t next_conn_id_ = 1;
  std::vector<std::string> secrets_;
  EventIdCounter ids_{"evt_"};
  detail::EventTypeMap evtypes_;
  int attempt_ = 0;
  int64_t ready_since_us_ = 0;
  static constexpr int64_t kStableUs = 10 * G_USEC_PER_SEC;
  bool reconnect_pending_ = false;   // next Ready reports on_reconnected
  std::string reconnect_reason_;
  int replayed_ = 0;
  // Last replay list sent into a new server session, kept until the server echoed every item of
  // it (replay_echoes_left_ == 0): if that connection dies before, the next replay resends it.
  std::vector<std::pair<bool, std::string>> replay_;  // (assistant?, text)
  size_t replay_echoes_left_ = 0;
  std::set<std::string> replay_ids_;  // event ids of the replay's conversation.item.create
  GSource *backoff_timer_ = nullptr, *renew_timer_ = nullptr, *watchdog_ = nullptr, *renew_retry_timer_ = nullptr;
  gpointer watchdog_tick_ = nullptr;  // net::add_tick() handle: the watchdog at a 1 s period
  bool renew_due_ = false;
  uint32_t generation_ = 0;
  uint64_t sessions_seen_ = 0;
  std::mt19937 rng_{std::random_device{}()};
  std::string append_buf_;
  std::vector<uint8_t> scratch_, drop_scratch_;
  // Input accounting (docs/reliability.md): audio handed to cur_ but not proven read by the server,
  // and audio of a lost connection to send again first on the next one. Bounded together by the
  // offline buffer (limit_bytes): beyond it the oldest is dropped and reported.
  struct SentChunk {
    int64_t pos;  // caller byte position
    std::vector<uint8_t> data;
    uint64_t end_off = 0;  // cur_->sent_off after this chunk
    int64_t sent_us = 0;
  };
  std::deque<SentChunk> unconfirmed_, resend_;
  int64_t held_bytes_ = 0;
  GSource *held_flush_ = nullptr;  // handles the held frames (Conn::held_frame) at the latest
  static constexpr int64_t kProbeIntervalUs = 200 * 1000;  // see maybe_probe()
  void send_chunk(int64_t pos, std::vector<uint8_t> &&data);
  Conn *probe_candidate();  // the connection with input sent and not probed yet, or nullptr
  void maybe_probe(bool now_or_never = false);
  void send_probe(Conn *c, int64_t now);
  void tail_probe(int64_t now);  // from watchdog_pass()
  void confirm(Conn *c, uint64_t off);
  void requeue_unconfirmed();
  void settle_held(bool as_delivered, bool report);  // at renewal / failure / stop
  void account_drop(int64_t first_sample, int64_t samples, bool report);
  void publish_held() {
    std::lock_guard<std::mutex> lk(mu);
    held_pub = held_bytes_;
  }
  // input timeline (§6) of the current server session
  detail::SessionInputMap input_map_;
  int64_t buffer_start_sess_ = 0;
  detail::CommitLedger pending_commits_;  // manual commits not answered yet
  // conversation
  std::deque<std::string> order_;  // capped at 2048, trimmed from the front in O(1)
  std::unordered_map<std::string, Item> items_;
  bool create_in_flight_ = false;
  std::string create_event_id_;
  std::string active_resp_;
  int oob_outstanding_ = 0;
  std::set<std::string> oob_resps_;
  std::deque<Deferred> deferred_;
  std::unordered_map<std::string, std::vector<FunctionCall>> fcalls_;  // by response id
  std::map<std::string, std::string> unanswered_calls_;                // call_id -> response id
  std::set<std::string> want_response_after_;                          // response ids
  // TTFA (§ issue "Observability")
  int64_t ttfa_mark_us_ = -1;
  std::string last_audio_resp_;
  // Per-response TTFA (µs), from its first audio delta until its response.done reports it
  // (EventContext::ttfa_us). Bounded: cleared with the conversation / on reconnect, and capped.
  std::unordered_map<std::string, int64_t> resp_ttfa_;
  static constexpr size_t kMaxRespTtfa = 256;
  // ---- translation sessions (docs/protocol.md §15; the section "Translation sessions" below) ----
  bool xl() const { return ecfg_.endpoint.kind == SessionKind::Translation; }
  bool xl_close_requested_ = false;  // close_input() executed: session.close sent (resent after a reconnect)
  uint64_t xl_close_conn_ = 0;       // id of the connection session.close was last sent on
  void xl_send_close();
  void xl_on_audio(Conn *c, const ServerEvent &ev);
  void xl_on_closed();

  // ---- public side helpers ----
  void wake_locked();
  // The two halves of wake_locked(), for the input hot path: claim under `mu`, post once `mu` is
  // released, so that the woken network thread does not block on `mu` at once (a context switch
  // there and back per input chunk). A wake-up claimed and posted late is never lost: process()
  // clears wake_pending before it reads the queues.
  bool claim_wake_locked();
  void post_wake();
  bool enqueue(Cmd &&c, uint64_t *ticket = nullptr);  // *ticket: an UpdateConfig's number
  size_t drop_cmds_locked(bool keep_update_config);  // returns the number dropped
  void reset_conversation();
  void push(const uint8_t *data, size_t len);
  bool push_locked(const uint8_t *data, size_t len);
  void log_any(LogLevel lvl, std::string msg);

  // ---- network thread ----
  static gboolean on_wake(gpointer data);
  void process();
  void run_queued();  // queued commands (in order), then whole audio chunks
  void do_start();
  void do_stop();
  void exec(Cmd &c);
  bool cmd_needs_ready(const Cmd &c) const { return c.kind != CmdKind::UpdateConfig; }
  void pump_audio(int64_t limit_pos);
  void drop_audio_to(int64_t pos);
  void report_drops_and_logs();

  void log(LogLevel lvl, const std::string &msg) {
    if (active_) listener->on_log(lvl, msg);
  }
  void set_state(SessionState s, const std::string &detail);
  void emit_error(const SessionError &e) {
    if (active_) listener->on_error(e);
  }
  void fail(SessionError e);

  // connection
  void start_connect(bool renewal);
  void on_connected(uint64_t conn_id, SoupWebsocketConnection *ws, GError *err);
  void on_error_body(uint64_t conn_id, int status, GBytes *body);
  void handshake_failed(Conn *c, int status, const std::string &code, const std::string &message);
  void conn_failed(Conn *c, const std::string &reason, bool fatal, SessionError *err);
  void conn_lost(Conn *c, const std::string &reason, int fatal_close);
  void retire(std::unique_ptr<Conn> &c, bool abrupt);
  void end_connections();
  void schedule_reconnect(const std::string &reason);
  void clear_timer(GSource *&t) {
    if (t) {
      g_source_destroy(t);
      g_source_unref(t);
      t = nullptr;
    }
  }
  GSource *timer(unsigned ms, void (Impl::*fn)());
  void on_backoff();
  void on_renew_timer();
  void on_renew_retry();
  void renew_timer_fired(GSource *&which);
  void on_watchdog();
  void on_watchdog_tick();
  void watchdog_pass();
  void disarm_watchdog();
  int watchdog_period_ms() const {
    return std::clamp(std::min(ecfg_.ping_interval_ms, ecfg_.ping_timeout_ms / 4), 100, 1000);
  }
  void arm_watchdog();
  void arm_renewal();
  void maybe_start_renewal();
  void maybe_switch();
  Conn *find_conn(uint64_t id) {
    if (cur_ && cur_->id == id) return cur_.get();
    if (next_ && next_->id == id) return next_.get();
    return nullptr;
  }

  // frames / events
  void send_raw(Conn *c, const std::string &json, bool count = true);
  std::string send_event(Conn *c, const char *type, const std::function<std::string(const std::string &)> &build);
  // A text frame from libsoup's "message" signal: handled at once, or held until libsoup lets go
  // of it when it is large (Session::kInPlaceFrameBytes), so that its memory is taken, not copied.
  void on_frame(Conn *c, GBytes *frame);
  void flush_held_frame(Conn *c);
  void on_held_flush();
  void trim_after_large_frame();
  int64_t last_trim_us_ = 0;
  // `owned`: the frame's memory (== data), g_malloc'd and the engine's, or nullptr; an audio delta
  // is then decoded in place and the block handed to SessionListener::adopt_audio (freed
  // here if it is not adopted).
  void handle_frame(Conn *c, const char *data, size_t len, uint8_t *owned = nullptr);
  uint8_t *alloc_listener_audio(size_t max_len, void **handle, bool *dropped);
  void *adopt_in_place(std::unique_ptr<uint8_t, void (*)(gpointer)> *block, size_t at, size_t n, bool *dropped);
  AudioDeltaInfo next_audio_info(Conn *c, const std::string &response_id, const std::string &item_id, int output_index,
                                 int content_index, size_t bytes);
  void handle_event(Conn *c, const ServerEvent &ev);
  bool track_input_event(Conn *c, const ServerEvent &ev, EventContext &ctx);     // session_dispatch.cc
  bool track_conversation_event(const ServerEvent &ev, EventContext &ctx);      // session_conversation.cc
  bool track_response_event(Conn *c, const ServerEvent &ev, EventContext &ctx);  // session_responses.cc
  void count_response_done(const ResponseInfo &r);
  void after_event(const ServerEvent &ev);
  void handle_error_event(Conn *c, const ServerEvent &ev);
  void on_session_created(Conn *c, const ServerEvent &ev);
  void on_session_updated(Conn *c, const ServerEvent &ev);
  void become_ready();
  void send_session_update(Conn *c, bool barrier = false);
  void ack_update(Conn *c, const std::string &event_id);  // "" = the oldest (session.updated)
  int replay_into(Conn *c);
  void new_generation();

  // conversation
  Item &item(const std::string &id);
  void item_in_order(const std::string &id, const std::string &prev);
  void upsert_item(const ItemInfo &info, const std::string &prev);
  void erase_item(const std::string &id);
  void request_response(std::optional<ResponseParams> params, bool from_function);
  void send_response_create(const std::optional<ResponseParams> &params);
  bool response_busy() const { return create_in_flight_ || !active_resp_.empty(); }
  void pump_deferred();
  // Network thread; never with `mu` held.
  void publish_pending() {
    std::lock_guard<std::mutex> lk(mu);
    publish_pending_locked();
  }
  void publish_pending_locked() {
    size_t d = deferred_.size();
    // while a counted command executes it is still in creates_queued: do not count it twice
    if (exec_deferred_base_ != SIZE_MAX && d > exec_deferred_base_) d--;
    deferred_pub = d;
    resp_pending_pub.store(response_busy() || !deferred_.empty() || creates_queued > 0);
  }
  size_t exec_deferred_base_ = SIZE_MAX;  // network thread: deferred_.size() before a counted exec
  void deliver_function_calls(const ServerEvent &ev);

  // Caller input sample of a server time (§6), or -1 when the server's value is outside this
  // session's input timeline (warned, never wrapped: docs/reliability.md).
  int64_t server_pos(const char *field, int64_t ms) {
    if (ms == -1) return -1;  // field absent (the parser's default)
    int64_t x = detail::server_ms_to_sample(ms, in_rate_net_, input_map_.sent(), in_rate_net_);
    if (x < 0) {
      stat([](SessionStats &st) { st.server_times_rejected++; });
      if (bad_times_logged_ < 10 || bad_times_logged_ % 1000 == 0)
        log(LogLevel::Warning, std::string("server sent ") + field + "=" + std::to_string(ms) +
                                   ", outside the input timeline (" + std::to_string(input_map_.sent() * 1000 / in_rate_net_) +
                                   " ms sent to this session): ignored");
      bad_times_logged_++;
      return -1;
    }
    return input_map_.to_caller(x);
  }
  uint64_t bad_times_logged_ = 0;
  // Translation elapsed_ms (docs/protocol.md §15): its meaning is unconfirmed, so a value outside
  // the input timeline is not an error: -1 (the caller then places by arrival), saturating, no warning.
  int64_t elapsed_pos(int64_t ms) const {
    int64_t x = detail::server_ms_to_sample(ms, in_rate_net_, input_map_.sent(), in_rate_net_);
    return x < 0 ? -1 : input_map_.to_caller(x);
  }
  double out_bytes_per_ms() const {
    return audio_format_rate(scfg_.output_format) * audio_format_bytes_per_sample(scfg_.output_format) / 1000.0;
  }
  int in_rate_net_ = 24000, in_bps_net_ = 2;

  template <class F>
  void stat(F f) {
    std::lock_guard<std::mutex> lk(stats_mu);
    f(st);
  }
};

}  // namespace rtc
