// Session engine: one Realtime session end to end over libsoup-3. Contract: session.h.
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
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include "net_thread.h"
#include "session.h"
#include "session_internal.h"
#include "session_transcription.h"

namespace rtc {

const char *session_state_name(SessionState s) {
  switch (s) {
    case SessionState::Idle: return "idle";
    case SessionState::Connecting: return "connecting";
    case SessionState::Configuring: return "configuring";
    case SessionState::Ready: return "ready";
    case SessionState::Reconnecting: return "reconnecting";
    case SessionState::Failed: return "failed";
  }
  return "unknown";
}

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

CloseCause describe_close(int peer_code, const std::string &peer_reason, int local_code, const std::string &local_msg) {
  CloseCause r;
  // A close frame received first wins: libsoup 3.2 answers a received 1012-2999 code with its own
  // protocol error 1002, but keeps the server's code and reason (peer_code).
  bool peer_closed = peer_code >= 1000 && peer_code != 1005 && peer_code != 1006;
  if (local_code != 0 && !peer_closed) {
    // libsoup closed on our side because of what the server sent: a protocol violation, not a
    // close by the server. Transient: a new connection may well work (bounded by the attempts).
    const char *what = local_code == 1007   ? "invalid UTF-8 in a text frame"
                       : local_code == 1009 ? "a frame larger than the 16 MiB limit"
                                            : "an invalid WebSocket frame";
    r.reason = std::string("protocol violation by the server: ") + what + " (" + local_msg + "); closed by us with code " +
               std::to_string(local_code);
    return r;
  }
  const char *name = "";
  switch (peer_code) {
    case 1000: name = "normal closure"; break;
    case 1001: name = "going away"; break;
    case 1002: name = "protocol error"; break;
    case 1003: name = "unsupported data"; break;
    case 1007: name = "invalid data"; break;
    case 1008: name = "policy violation"; break;
    case 1009: name = "message too big"; break;
    case 1010: name = "extension required"; break;
    case 1011: name = "server error"; break;
    case 1012: name = "service restart"; break;
    case 1013: name = "try again later"; break;
    case 1014: name = "bad gateway"; break;
    default:
      if (peer_code >= 4000 && peer_code <= 4999) name = "application error";
      else if (peer_code >= 3000 && peer_code <= 3999) name = "registered application error";
      break;
  }
  if (peer_code == 0 || peer_code == 1005 || peer_code == 1006) {
    r.reason = "the connection was closed without a close frame";
    return r;
  }
  r.reason = "the server closed the connection with code " + std::to_string(peer_code) + (*name ? std::string(" (") + name + ")" : "") +
             (peer_reason.empty() ? "" : ": " + peer_reason);
  r.fatal = !close_code_reconnectable(peer_code);
  if (r.fatal) r.reason += " (permanent: not retried)";
  return r;
}

int backoff_delay_ms(int attempt, int base_ms, int max_ms, double u) {
  if (attempt < 1) attempt = 1;
  double d = std::max(1, base_ms);
  for (int i = 1; i < attempt && d < max_ms; i++) d *= 2;
  d = std::min<double>(d, std::max(1, max_ms));
  d *= 0.75 + 0.5 * u;  // +-25 % jitter
  return std::max(1, static_cast<int>(d));
}

}  // namespace detail

namespace {

int64_t now_us() { return g_get_monotonic_time(); }

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
  std::map<std::string, uint64_t> update_marks;  // session.update event id -> sent_off when sent
  int local_error_code = 0;      // libsoup closed because of the server's data (SOUP_WEBSOCKET_CLOSE_*)
  std::string local_error_msg;
  std::string update_event_id;  // of the session.update sent at configuration
  std::deque<std::string> updates_unanswered;  // event ids of session.update sent, oldest first
  int64_t last_rx_us = 0;       // any frame or pong (transport liveness)
  int64_t last_event_us = 0;    // last server event
  int64_t last_request_us = 0;  // last client event that expects an answer
  SessionInfo info;
  std::string url_http;  // for the error-body request after a failed handshake; secret, never logged
  std::vector<std::pair<std::string, std::string>> headers;
  SoupSession *soup = nullptr;  // not owned
  std::string display_url;
  void *ref = nullptr;  // ConnRef given to the signal handlers
};

// Keeps a closing WebSocket alive until libsoup finished the close handshake (or 2 s passed).
struct Closer {
  SoupWebsocketConnection *ws = nullptr;
  GSource *timer = nullptr;
  gulong closed_id = 0;
};

// Closers in flight (network thread only), released at network-thread shutdown.
std::set<Closer *> &closers() {
  // Per network thread: a closing connection is finished on the thread that owns it.
  static thread_local std::set<Closer *> s;
  return s;
}

void closer_finish(Closer *c) {
  if (closers().erase(c) == 0) return;  // already finished (shutdown hook)
  if (c->timer) {
    g_source_destroy(c->timer);
    g_source_unref(c->timer);
  }
  if (c->closed_id) g_signal_handler_disconnect(c->ws, c->closed_id);
  g_object_unref(c->ws);
  delete c;
}

void closer_on_closed(SoupWebsocketConnection *, gpointer data) {
  auto *c = static_cast<Closer *>(data);
  // finish from an idle: we are inside the signal emission of the object we unref
  g_signal_handler_disconnect(c->ws, c->closed_id);
  c->closed_id = 0;
  if (c->timer) {  // only the idle below finishes it
    g_source_destroy(c->timer);
    g_source_unref(c->timer);
    c->timer = nullptr;
  }
  net::post(
      net::current(),
      [](gpointer d) -> gboolean {
        closer_finish(static_cast<Closer *>(d));
        return G_SOURCE_REMOVE;
      },
      c, nullptr);
}

gboolean closer_on_timeout(gpointer data) {
  auto *c = static_cast<Closer *>(data);
  g_source_unref(c->timer);
  c->timer = nullptr;
  closer_finish(c);  // dispose closes the IO stream
  return G_SOURCE_REMOVE;
}

// Network thread. Takes ownership of `ws`: closes it (close frame with `code`, or abruptly) and
// releases it once libsoup is done with the close handshake.
void linger_close(SoupWebsocketConnection *ws, unsigned short code, bool abrupt) {
  if (!ws) return;
  SoupWebsocketState st = soup_websocket_connection_get_state(ws);
  if (abrupt || st == SOUP_WEBSOCKET_STATE_CLOSED) {
    g_object_unref(ws);  // dispose closes the IO stream
    return;
  }
  auto *c = new Closer;
  c->ws = ws;
  closers().insert(c);
  net::add_shutdown_hook([] {
    while (!closers().empty()) closer_finish(*closers().begin());
  });
  c->closed_id = g_signal_connect(ws, "closed", G_CALLBACK(closer_on_closed), c);
  c->timer = net::add_timeout(2000, closer_on_timeout, c, nullptr);
  if (st == SOUP_WEBSOCKET_STATE_OPEN) soup_websocket_connection_close(ws, code, nullptr);
}

gboolean accept_any_certificate(SoupMessage *, GTlsCertificate *, GTlsCertificateFlags, gpointer) {
  return TRUE;  // ssl_strict = false (as souphttpsrc ssl-strict=false)
}

std::string http_url_of(const std::string &ws_url) {
  if (ws_url.compare(0, 5, "ws://") == 0) return "http://" + ws_url.substr(5);
  if (ws_url.compare(0, 6, "wss://") == 0) return "https://" + ws_url.substr(6);
  return ws_url;
}

// {"error":{"message":..,"code":..}} or {"message":..} (§1.4 handshake errors)
void parse_error_body(const char *data, size_t len, std::string *code, std::string *message) {
  if (!data || len == 0) return;
  JsonParser *p = json_parser_new();
  if (json_parser_load_from_data(p, data, static_cast<gssize>(len), nullptr)) {
    JsonNode *root = json_parser_get_root(p);
    if (root && JSON_NODE_HOLDS_OBJECT(root)) {
      JsonObject *o = json_node_get_object(root);
      JsonObject *e = o;
      if (json_object_has_member(o, "error") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "error")))
        e = json_object_get_object_member(o, "error");
      auto str = [&](const char *k) -> std::string {
        if (!json_object_has_member(e, k)) return {};
        JsonNode *n = json_object_get_member(e, k);
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) return json_node_get_string(n);
        return {};
      };
      *code = str("code");
      *message = str("message");
    }
  }
  g_object_unref(p);
  if (message->empty()) {
    std::string s(data, std::min<size_t>(len, 200));
    bool printable = std::all_of(s.begin(), s.end(), [](char ch) { return ch >= 0x20 || ch == '\n' || ch == '\t'; });
    if (printable) *message = s;
  }
}

enum class CmdKind { UpdateConfig, Flush, Commit, Clear, CreateResponse, Cancel, SendText, FunctionOutput, Truncate, Delete, CloseInput };

const char *cmd_name(CmdKind k) {
  switch (k) {
    case CmdKind::UpdateConfig: return "update_config";
    case CmdKind::Flush: return "flush_audio";
    case CmdKind::Commit: return "commit";
    case CmdKind::Clear: return "clear";
    case CmdKind::CreateResponse: return "create_response";
    case CmdKind::Cancel: return "cancel_response";
    case CmdKind::SendText: return "send_text";
    case CmdKind::FunctionOutput: return "function_output";
    case CmdKind::Truncate: return "truncate";
    case CmdKind::Delete: return "delete_item";
    case CmdKind::CloseInput: return "close_input";
  }
  return "?";
}

struct Cmd {
  CmdKind kind = CmdKind::Flush;
  int64_t audio_mark = 0;  // caller byte position when the command was issued
  std::optional<SessionConfig> cfg;
  std::optional<ResponseParams> params;
  std::string a, b;
  int64_t n = 0;
  bool flag = false;
  bool counts_create = false;  // requests a default-conversation response.create (creates_queued)
};

enum class LifeOp { Start, Stop };

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

struct Deferred {
  std::optional<ResponseParams> params;
  bool from_function = false;
};

}  // namespace

// =============================================================================================
struct Session::Impl : std::enable_shared_from_this<Session::Impl> {
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
  std::atomic<uint64_t> update_acks_pub{0};
  uint64_t acks_due_ = 0;  // network thread: answered session.updates not published yet

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
  GSource *probe_timer_ = nullptr;
  static constexpr int64_t kProbeIntervalUs = 100 * 1000;
  void send_chunk(int64_t pos, std::vector<uint8_t> &&data);
  void maybe_probe();
  void on_probe_timer();
  void confirm(Conn *c, uint64_t off);
  void requeue_unconfirmed();
  void settle_held(bool as_delivered, bool report);  // at renewal / failure / stop
  void account_drop(int64_t first_sample, int64_t samples, bool report);
  void publish_held() {
    std::lock_guard<std::mutex> lk(mu);
    held_pub = held_bytes_;
  }
  // input timeline (§6) of the current server session
  detail::InputTimeline timeline_;
  int64_t buffer_start_sess_ = 0;
  std::deque<std::pair<std::string, int64_t>> pending_commits_;  // (event_id, session end sample)
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
  bool enqueue(Cmd &&c);
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
  void handle_frame(Conn *c, const char *data, size_t len);
  void handle_event(Conn *c, const ServerEvent &ev);
  void handle_error_event(Conn *c, const ServerEvent &ev);
  void on_session_created(Conn *c, const ServerEvent &ev);
  void on_session_updated(Conn *c, const ServerEvent &ev);
  void become_ready();
  void send_session_update(Conn *c);
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
    int64_t x = detail::server_ms_to_sample(ms, in_rate_net_, timeline_.sent(), in_rate_net_);
    if (x < 0) {
      stat([](SessionStats &st) { st.server_times_rejected++; });
      if (bad_times_logged_ < 10 || bad_times_logged_ % 1000 == 0)
        log(LogLevel::Warning, std::string("server sent ") + field + "=" + std::to_string(ms) +
                                   ", outside the input timeline (" + std::to_string(timeline_.sent() * 1000 / in_rate_net_) +
                                   " ms sent to this session): ignored");
      bad_times_logged_++;
      return -1;
    }
    return timeline_.to_caller(x);
  }
  uint64_t bad_times_logged_ = 0;
  // Translation elapsed_ms (docs/protocol.md §15): its meaning is unconfirmed, so a value outside
  // the input timeline is not an error: -1 (the caller then places by arrival), saturating, no warning.
  int64_t elapsed_pos(int64_t ms) const {
    int64_t x = detail::server_ms_to_sample(ms, in_rate_net_, timeline_.sent(), in_rate_net_);
    return x < 0 ? -1 : timeline_.to_caller(x);
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

// ---------------------------------------------------------------------------------------------
Session::Impl::Impl(EngineConfig cfg, SessionListener *l) : listener(l), cfg_pub(std::move(cfg)) {
  scfg_ = cfg_pub.session;
  in_bps = audio_format_bytes_per_sample(cfg_pub.session.input_format);
  in_rate = audio_format_rate(cfg_pub.session.input_format);
  in_bps_net_ = in_bps;
  in_rate_net_ = in_rate;
  int cm = std::clamp(cfg_pub.chunk_ms, 10, 1000);
  chunk_bytes = static_cast<size_t>(in_rate) * in_bps * cm / 1000;
  limit_bytes = std::max(chunk_bytes, static_cast<size_t>(in_rate) * in_bps * std::max(0, cfg_pub.offline_buffer_ms) / 1000);
}

Session::Impl::~Impl() {
  // All GObjects were released on the network thread by the stop command; Conn shells left in
  // the graveyard own nothing.
}

void Session::Impl::wake_locked() {
  if (claim_wake_locked()) post_wake();
}

bool Session::Impl::claim_wake_locked() {
  if (wake_pending || !net_running) return false;
  wake_pending = true;
  return true;
}

void Session::Impl::post_wake() {
  auto *ref = new std::shared_ptr<Impl>(shared_from_this());
  net::post(loop_, on_wake, ref, [](gpointer d) { delete static_cast<std::shared_ptr<Impl> *>(d); });
}

gboolean Session::Impl::on_wake(gpointer data) {
  auto &self = *static_cast<std::shared_ptr<Impl> *>(data);
  self->process();
  return G_SOURCE_REMOVE;
}

bool Session::Impl::enqueue(Cmd &&c) {
  std::string warn;
  {
    std::lock_guard<std::mutex> lk(mu);
    if (cmds.size() >= kMaxQueuedCommands) {
      warn = std::string("command queue full: ") + cmd_name(c.kind) + " rejected";
    } else if (c.counts_create && creates_queued + deferred_pub >= kMaxQueuedResponses) {
      warn = std::string("response queue full (") + std::to_string(kMaxQueuedResponses) +
             " response.create waiting): " + cmd_name(c.kind) + " rejected";
    } else {
      c.audio_mark = pushed_bytes;
      if (c.counts_create) {
        creates_queued++;
        resp_pending_pub.store(true);
      }
      cmds.push_back(std::move(c));
      wake_locked();
      return true;
    }
  }
  log_any(LogLevel::Warning, warn);
  return false;
}

size_t Session::Impl::drop_cmds_locked(bool keep_update_config) {
  size_t n = 0;
  for (auto it = cmds.begin(); it != cmds.end();) {
    if (keep_update_config && it->kind == CmdKind::UpdateConfig) {
      ++it;
      continue;
    }
    if (it->counts_create && creates_queued > 0) creates_queued--;
    it = cmds.erase(it);
    n++;
  }
  return n;
}

void Session::Impl::reset_conversation() {
  create_in_flight_ = false;
  active_resp_.clear();
  deferred_.clear();
  fcalls_.clear();
  unanswered_calls_.clear();
  want_response_after_.clear();
  oob_outstanding_ = 0;
  oob_resps_.clear();
  order_.clear();
  items_.clear();
  pending_commits_.clear();
  reconnect_pending_ = false;
  replayed_ = 0;
  replay_.clear();
  replay_echoes_left_ = 0;
  replay_ids_.clear();
  ttfa_mark_us_ = -1;
  resp_ttfa_.clear();
}

void Session::Impl::log_any(LogLevel lvl, std::string msg) {
  std::lock_guard<std::mutex> lk(mu);
  if (pending_logs.size() < 64) pending_logs.emplace_back(lvl, std::move(msg));
  wake_locked();
}

// ---------------------------------------------------------------------------------------------
// Network thread: the command pump
void Session::Impl::process() {
  // Lifecycle first (start/stop in call order), then logs/drops, then commands, then audio.
  for (;;) {
    LifeOp op;
    uint64_t seq = 0;
    {
      std::lock_guard<std::mutex> lk(mu);
      wake_pending = false;
      if (life.empty()) break;
      op = life.front();
      life.pop_front();
      seq = stop_seq;
    }
    if (op == LifeOp::Start) {
      do_start();
    } else {
      do_stop();
      std::lock_guard<std::mutex> lk(mu);
      stop_done = std::max(stop_done, seq);
      cv.notify_all();
    }
  }
  graveyard_.clear();
  if (!active_) return;
  report_drops_and_logs();
  run_queued();
}

void Session::Impl::run_queued() {
  for (;;) {
    Cmd c;
    {
      std::lock_guard<std::mutex> lk(mu);
      if (cmds.empty()) break;
      if (cmd_needs_ready(cmds.front()) && state_ != SessionState::Ready) break;
      c = std::move(cmds.front());
      cmds.pop_front();
    }
    if (c.counts_create) exec_deferred_base_ = deferred_.size();
    exec(c);
    if (c.counts_create) {
      // the request is now sent, deferred (deferred_) or merged / dropped (logged)
      std::lock_guard<std::mutex> lk(mu);
      exec_deferred_base_ = SIZE_MAX;
      if (creates_queued > 0) creates_queued--;
      publish_pending_locked();
    }
    if (!active_) return;
  }
  if (state_ == SessionState::Ready) pump_audio(INT64_MAX);
}

void Session::Impl::report_drops_and_logs() {
  std::vector<std::pair<int64_t, int64_t>> d;
  std::vector<std::pair<LogLevel, std::string>> logs;
  {
    std::lock_guard<std::mutex> lk(mu);
    d.swap(drops);
    logs.swap(pending_logs);
  }
  for (auto &l : logs) log(l.first, l.second);
  for (auto &x : d) {
    if (!active_) return;
    listener->on_input_dropped(x.first, x.second);
  }
}

void Session::Impl::pump_audio(int64_t limit_pos) {
  // §3.3: append chunks of chunk_ms; no acknowledgement. Sent only in Ready (§10.1: after
  // session.updated the session has its configured input format).
  if (!cur_ || !cur_->ws || state_ != SessionState::Ready) return;
  bool sent = false;
  // audio of a lost connection first (older than anything in abuf)
  while (!resend_.empty()) {
    SentChunk ch = std::move(resend_.front());
    resend_.pop_front();
    held_bytes_ -= static_cast<int64_t>(ch.data.size());
    send_chunk(ch.pos, std::move(ch.data));
    sent = true;
  }
  for (;;) {
    int64_t pos;
    size_t take = 0;
    {
      std::lock_guard<std::mutex> lk(mu);
      size_t avail = abuf.size() - aoff;
      // send window: streaming stops while the offline buffer's worth is not proven read (it
      // resumes on confirm()); a command's own audio (limit_pos) always goes out before it
      if (limit_pos == INT64_MAX && held_bytes_ >= static_cast<int64_t>(limit_bytes)) break;
      if (avail >= chunk_bytes && (limit_pos == INT64_MAX || abuf_pos + static_cast<int64_t>(chunk_bytes) <= limit_pos)) {
        take = chunk_bytes;
      } else if (limit_pos != INT64_MAX && limit_pos > abuf_pos) {
        take = std::min<size_t>(avail, static_cast<size_t>(limit_pos - abuf_pos));
        take -= take % static_cast<size_t>(in_bps);
      }
      if (take == 0) break;
      scratch_.assign(abuf.begin() + static_cast<ptrdiff_t>(aoff), abuf.begin() + static_cast<ptrdiff_t>(aoff + take));
      pos = abuf_pos;
      aoff += take;
      abuf_pos += static_cast<int64_t>(take);
      if (aoff == abuf.size()) {
        abuf.clear();
        aoff = 0;
      } else if (aoff > 65536 && aoff * 2 > abuf.size()) {
        abuf.erase(abuf.begin(), abuf.begin() + static_cast<ptrdiff_t>(aoff));
        aoff = 0;
      }
    }
    send_chunk(pos, std::vector<uint8_t>(scratch_.begin(), scratch_.end()));
    sent = true;
  }
  if (sent) {
    publish_held();
    maybe_probe();
  }
}

void Session::Impl::send_chunk(int64_t pos, std::vector<uint8_t> &&data) {
  size_t take = data.size();
  if (xl())
    build_translation_audio_append(append_buf_, data.data(), take);
  else
    build_input_audio_append(append_buf_, data.data(), take);
  send_raw(cur_.get(), append_buf_);
  timeline_.add(pos / in_bps_net_, static_cast<int64_t>(take) / in_bps_net_);
  double ms = static_cast<double>(take) * 1000.0 / (in_rate_net_ * in_bps_net_);
  stat([&](SessionStats &s) {
    s.audio_bytes_sent += take;
    s.audio_ms_sent += ms;
  });
  cur_->sent_off += take;
  held_bytes_ += static_cast<int64_t>(take);
  unconfirmed_.push_back(SentChunk{pos, std::move(data), cur_->sent_off, now_us()});
}

// Delivery probe: a WebSocket ping queued behind the appends (libsoup 3.2 has no ping API, but
// soup_websocket_connection_send_message() sends its type as the opcode: 0x9 = ping, in order with
// the data frames). The pong echoes "rtc:<sent_off>": the server has read every frame before it
// (frames are processed in order, RFC 6455 §5.5.2/§5.5.3).
void Session::Impl::maybe_probe() {
  Conn *c = cur_.get();
  if (!c || !c->ws || unconfirmed_.empty() || c->probed_off >= c->sent_off) return;
  if (!net::current()) return;  // DispatchBench drives the engine on its own thread
  if (soup_websocket_connection_get_state(c->ws) != SOUP_WEBSOCKET_STATE_OPEN) return;
  int64_t now = now_us();
  if (now - c->last_probe_us < kProbeIntervalUs) {
    if (!probe_timer_)
      probe_timer_ = timer(static_cast<unsigned>((kProbeIntervalUs - (now - c->last_probe_us)) / 1000 + 1), &Impl::on_probe_timer);
    return;
  }
  std::string p = "rtc:" + std::to_string(c->sent_off);
  GBytes *b = g_bytes_new(p.data(), p.size());
  soup_websocket_connection_send_message(c->ws, static_cast<SoupWebsocketDataType>(0x09), b);
  g_bytes_unref(b);
  c->probed_off = c->sent_off;
  c->last_probe_us = now;
}

void Session::Impl::on_probe_timer() {
  g_source_unref(probe_timer_);
  probe_timer_ = nullptr;
  if (active_) maybe_probe();
}

void Session::Impl::confirm(Conn *c, uint64_t off) {
  if (!c || c != cur_.get()) return;
  int64_t bytes = 0;
  while (!unconfirmed_.empty() && unconfirmed_.front().end_off <= off) {
    bytes += static_cast<int64_t>(unconfirmed_.front().data.size());
    unconfirmed_.pop_front();
  }
  if (bytes == 0) return;
  {
    std::lock_guard<std::mutex> lk(mu);  // (limit_bytes is shared)
    if (held_bytes_ >= static_cast<int64_t>(limit_bytes)) wake_locked();  // the send window opens
  }
  held_bytes_ -= bytes;
  double ms = static_cast<double>(bytes) * 1000.0 / (in_rate_net_ * in_bps_net_);
  stat([&](SessionStats &s) {
    s.audio_bytes_delivered += static_cast<uint64_t>(bytes);
    s.audio_ms_delivered += ms;
    s.input_samples_delivered += static_cast<uint64_t>(bytes / in_bps_net_);
  });
  publish_held();
}

// The current connection is lost: what it did not prove delivered goes out first on the next one
// (bounded by the offline buffer: beyond it the oldest is dropped and reported).
void Session::Impl::requeue_unconfirmed() {
  if (unconfirmed_.empty()) return;
  int64_t bytes = 0;
  for (auto &c : unconfirmed_) bytes += static_cast<int64_t>(c.data.size());
  while (!unconfirmed_.empty()) {
    resend_.push_front(std::move(unconfirmed_.back()));
    unconfirmed_.pop_back();
  }
  stat([&](SessionStats &s) { s.input_samples_resent += static_cast<uint64_t>(bytes / in_bps_net_); });
  log(LogLevel::Warning, std::to_string(bytes * 1000 / (in_rate_net_ * in_bps_net_)) +
                             " ms of input sent but not proven read by the server: re-sent on the next session");
  int64_t pending, limit;
  {
    std::lock_guard<std::mutex> lk(mu);
    pending = static_cast<int64_t>(abuf.size() - aoff);
    limit = static_cast<int64_t>(limit_bytes);
  }
  while (!resend_.empty() && held_bytes_ + pending > limit) {
    SentChunk &o = resend_.front();
    held_bytes_ -= static_cast<int64_t>(o.data.size());
    account_drop(o.pos / in_bps_net_, static_cast<int64_t>(o.data.size()) / in_bps_net_, true);
    resend_.pop_front();
  }
  publish_held();
}

// Renewal switch (as_delivered: the old connection is closed cleanly after its frames; its
// uncommitted input is lost by design, see maybe_switch), failure or stop (dropped).
void Session::Impl::settle_held(bool as_delivered, bool report) {
  clear_timer(probe_timer_);
  for (auto *q : {&unconfirmed_, &resend_}) {
    for (auto &o : *q) {
      int64_t n = static_cast<int64_t>(o.data.size());
      if (as_delivered && q == &unconfirmed_)
        stat([&](SessionStats &s) {
          s.audio_bytes_delivered += static_cast<uint64_t>(n);
          s.audio_ms_delivered += static_cast<double>(n) * 1000.0 / (in_rate_net_ * in_bps_net_);
          s.input_samples_delivered += static_cast<uint64_t>(n / in_bps_net_);
        });
      else
        account_drop(o.pos / in_bps_net_, n / in_bps_net_, report);
    }
    q->clear();
  }
  held_bytes_ = 0;
  publish_held();
}

void Session::Impl::account_drop(int64_t first_sample, int64_t samples, bool report) {
  if (samples <= 0) return;
  {
    std::lock_guard<std::mutex> lk(mu);
    dropped_samples += samples;
    std::lock_guard<std::mutex> sl(stats_mu);
    st.input_ms_dropped = static_cast<uint64_t>(dropped_samples * 1000 / in_rate);
    st.input_samples_dropped = static_cast<uint64_t>(dropped_samples);
  }
  if (report && active_) listener->on_input_dropped(first_sample, samples);
}

void Session::Impl::drop_audio_to(int64_t pos) {
  std::lock_guard<std::mutex> lk(mu);
  if (pos <= abuf_pos) return;
  size_t n = std::min<size_t>(abuf.size() - aoff, static_cast<size_t>(pos - abuf_pos));
  n -= n % static_cast<size_t>(in_bps);
  aoff += n;
  abuf_pos += static_cast<int64_t>(n);
  if (aoff == abuf.size()) {
    abuf.clear();
    aoff = 0;
  }
  std::lock_guard<std::mutex> sl(stats_mu);
  st.input_samples_cleared += n / static_cast<size_t>(in_bps);
}

void Session::Impl::set_state(SessionState s, const std::string &detail) {
  if (s == state_ && s != SessionState::Reconnecting) return;
  state_ = s;
  state_pub.store(static_cast<int>(s));
  stat([&](SessionStats &x) { x.state = s; });
  {
    std::lock_guard<std::mutex> lk(mu);
    accepting = (s == SessionState::Ready);
  }
  log(LogLevel::Info, std::string("state ") + session_state_name(s) + (detail.empty() ? "" : ": " + detail));
  if (active_) listener->on_state(s, detail);
}

void Session::Impl::fail(SessionError e) {
  settle_held(false, true);  // nothing of the failed session is re-sent: reported dropped
  clear_timer(backoff_timer_);
  clear_timer(renew_timer_);
  clear_timer(renew_retry_timer_);
  disarm_watchdog();
  retire(next_, false);
  retire(cur_, false);
  // Nothing of this session survives a failure: a later start() begins a fresh session (no
  // reconnect report, no replay, no queued response.create / command of before the failure).
  size_t ndef = deferred_.size();
  reset_conversation();
  size_t ncmd;
  {
    std::lock_guard<std::mutex> lk(mu);
    ncmd = drop_cmds_locked(true);
  }
  publish_pending();
  if (ndef + ncmd > 0)
    log(LogLevel::Warning, "failed: dropped " + std::to_string(ncmd) + " queued command(s) and " + std::to_string(ndef) +
                               " queued response.create");
  e.cls = ErrorClass::Fatal;
  log(LogLevel::Error, "fatal: " + e.code + ": " + e.message);
  emit_error(e);
  set_state(SessionState::Failed, e.message);
}

void Session::Impl::do_start() {
  if (active_ && state_ != SessionState::Failed && state_ != SessionState::Idle) return;
  active_ = true;
  attempt_ = 0;
  renew_due_ = false;
  xl_close_requested_ = false;
  {
    std::lock_guard<std::mutex> lk(mu);
    ecfg_ = cfg_pub;
  }
  start_connect(false);
  arm_watchdog();
}

void Session::Impl::do_stop() {
  if (active_ && state_ != SessionState::Idle) set_state(SessionState::Idle, "stopped");
  active_ = false;  // from here on no listener callback
  settle_held(false, false);  // counted dropped (stats); stop() is the caller's decision
  state_ = SessionState::Idle;
  state_pub.store(static_cast<int>(SessionState::Idle));
  stat([&](SessionStats &x) { x.state = SessionState::Idle; });
  clear_timer(backoff_timer_);
  clear_timer(renew_timer_);
  clear_timer(renew_retry_timer_);
  disarm_watchdog();
  retire(next_, false);
  retire(cur_, false);
  reset_conversation();
  {
    std::lock_guard<std::mutex> lk(mu);
    drop_cmds_locked(false);
    abuf_pos += static_cast<int64_t>(abuf.size() - aoff);
    abuf.clear();
    aoff = 0;
    drops.clear();
    pending_logs.clear();
    accepting = false;
  }
  publish_pending();
}

// ---------------------------------------------------------------------------------------------
// Connections

namespace {
struct ConnectOp {
  std::shared_ptr<Session::Impl> impl;
  uint64_t conn_id;
  int status = 0;
};

void on_ws_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer data);
void on_ws_closed(SoupWebsocketConnection *ws, gpointer data);
void on_ws_error(SoupWebsocketConnection *, GError *err, gpointer data);
void on_ws_pong(SoupWebsocketConnection *, GBytes *, gpointer data);

// What the signal handlers of a connection get (freed after the handlers are disconnected).
struct ConnRef {
  Session::Impl *impl;
  Conn *conn;
};
}  // namespace

GSource *Session::Impl::timer(unsigned ms, void (Impl::*fn)()) {
  struct T {
    std::weak_ptr<Impl> w;
    void (Impl::*fn)();
  };
  auto *t = new T{weak_from_this(), fn};
  return net::add_timeout(
      ms,
      [](gpointer d) -> gboolean {
        auto *t = static_cast<T *>(d);
        if (auto s = t->w.lock()) ((*s).*(t->fn))();
        return G_SOURCE_REMOVE;
      },
      t, [](gpointer d) { delete static_cast<T *>(d); });
}

void Session::Impl::start_connect(bool renewal) {
  EndpointParams p = ecfg_.endpoint;
  if (ecfg_.credentials) {
    // Called on every (re)connect so Entra ID / ephemeral tokens can be refreshed.
    Credentials cr = ecfg_.credentials();
    p.api_key = cr.api_key;
    p.bearer_token = cr.bearer_token;
  }
  secrets_.clear();
  if (!p.api_key.empty()) secrets_.push_back(p.api_key);
  if (!p.bearer_token.empty()) secrets_.push_back(p.bearer_token);

  ResolvedEndpoint ep;
  std::string err;
  if (!resolve_endpoint(p, &ep, &err)) {
    SessionError e;
    e.code = "endpoint";
    e.message = redact(err, secrets_);
    fail(e);
    return;
  }
  SoupSession *soup = net::soup_session_for(ecfg_.proxy, ecfg_.ssl_ca_file, &err);
  if (!soup) {
    SessionError e;
    e.code = "tls";
    e.message = err;
    fail(e);
    return;
  }
  auto c = std::make_unique<Conn>();
  c->id = next_conn_id_++;
  c->renewal = renewal;
  c->dialect = ep.dialect;
  c->url_http = http_url_of(ep.url);
  c->headers = ep.headers;
  c->soup = soup;
  c->display_url = ep.display_url;
  c->msg = soup_message_new("GET", c->url_http.c_str());
  if (!c->msg) {
    SessionError e;
    e.code = "endpoint";
    e.message = "invalid URL " + ep.display_url;
    fail(e);
    return;
  }
  SoupMessageHeaders *h = soup_message_get_request_headers(c->msg);
  for (auto &kv : ep.headers) soup_message_headers_append(h, kv.first.c_str(), kv.second.c_str());
  if (!ecfg_.ssl_strict) g_signal_connect(c->msg, "accept-certificate", G_CALLBACK(accept_any_certificate), nullptr);
  c->cancel = g_cancellable_new();

  struct TO {
    std::weak_ptr<Impl> w;
    uint64_t id;
  };
  auto *to = new TO{weak_from_this(), c->id};
  c->timeout = net::add_timeout(
      static_cast<unsigned>(std::max(100, ecfg_.connect_timeout_ms)),
      [](gpointer d) -> gboolean {
        auto *t = static_cast<TO *>(d);
        if (auto s = t->w.lock()) {
          if (Conn *cn = s->find_conn(t->id)) {
            cn->timed_out = true;
            if (cn->cancel) g_cancellable_cancel(cn->cancel);
          }
        }
        return G_SOURCE_REMOVE;
      },
      to, [](gpointer d) { delete static_cast<TO *>(d); });

  log(LogLevel::Info, std::string(renewal ? "renewal: connecting to " : "connecting to ") + ep.display_url + " (" +
                          dialect_name(ep.dialect) + ")");
  auto *op = new ConnectOp{shared_from_this(), c->id};
  SoupMessage *msg = c->msg;
  GCancellable *cancel = c->cancel;
  if (renewal)
    next_ = std::move(c);
  else {
    cur_ = std::move(c);
    if (state_ != SessionState::Reconnecting) set_state(SessionState::Connecting, ep.display_url);
  }
  soup_session_websocket_connect_async(
      soup, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, cancel,
      [](GObject *src, GAsyncResult *res, gpointer d) {
        std::unique_ptr<ConnectOp> op(static_cast<ConnectOp *>(d));
        GError *e = nullptr;
        SoupWebsocketConnection *ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &e);
        op->impl->on_connected(op->conn_id, ws, e);
        g_clear_error(&e);
      },
      op);
}

void Session::Impl::on_connected(uint64_t conn_id, SoupWebsocketConnection *ws, GError *err) {
  Conn *c = active_ ? find_conn(conn_id) : nullptr;
  if (!c) {  // stale (stopped, retired): drop
    if (ws) linger_close(ws, 1000, false);
    return;
  }
  if (!ws) {
    int status = c->msg ? static_cast<int>(soup_message_get_status(c->msg)) : 0;
    if (c->timed_out) {
      conn_failed(c, "timeout: no WebSocket connection to " + c->display_url + " within connect-timeout (" +
                         std::to_string(ecfg_.connect_timeout_ms) + " ms)",
                  false, nullptr);
      return;
    }
    GTlsCertificateFlags tls_flags = c->msg ? soup_message_get_tls_peer_certificate_errors(c->msg) : GTlsCertificateFlags(0);
    if ((err && err->domain == G_TLS_ERROR) || tls_flags != 0) {
      // Permanent: retrying cannot change the certificate (fail fast, name the settings).
      SessionError e;
      e.code = "tls";
      std::string why;
      if (tls_flags & G_TLS_CERTIFICATE_UNKNOWN_CA) why += " unknown CA;";
      if (tls_flags & G_TLS_CERTIFICATE_BAD_IDENTITY) why += " name mismatch;";
      if (tls_flags & G_TLS_CERTIFICATE_NOT_ACTIVATED) why += " not yet valid;";
      if (tls_flags & G_TLS_CERTIFICATE_EXPIRED) why += " expired;";
      if (tls_flags & G_TLS_CERTIFICATE_REVOKED) why += " revoked;";
      if (tls_flags & G_TLS_CERTIFICATE_INSECURE) why += " insecure algorithm;";
      if (!why.empty()) why.pop_back();
      e.message = "TLS certificate verification failed for " + c->display_url + (why.empty() ? "" : " (" + why.substr(1) + ")") +
                  (err ? ": " + redact(err->message, secrets_) : "") +
                  ": set ssl-ca-file to the CA that signed the server's certificate, or ssl-strict=false to accept it";
      conn_failed(c, e.message, true, &e);
      return;
    }
    if (status == 429 || status == 502 || status == 503 || status == 504) {
      // transient overload: retry with backoff, do not add a request to read the body
      const char *r = c->msg ? soup_message_get_reason_phrase(c->msg) : nullptr;
      handshake_failed(c, status, std::string(), r ? r : "");
      return;
    }
    if (status >= 400) {
      // libsoup does not keep the body of a refused upgrade: ask again with a plain GET to get
      // the service's JSON error message (§1.4 "handshake errors arrive as HTTP responses").
      clear_timer(c->timeout);
      SoupMessage *m = soup_message_new("GET", c->url_http.c_str());
      SoupMessageHeaders *h = soup_message_get_request_headers(m);
      for (auto &kv : c->headers) soup_message_headers_append(h, kv.first.c_str(), kv.second.c_str());
      if (!ecfg_.ssl_strict) g_signal_connect(m, "accept-certificate", G_CALLBACK(accept_any_certificate), nullptr);
      auto *op = new ConnectOp{shared_from_this(), c->id, status};
      GCancellable *cancel = c->cancel;
      c->timeout = net::add_timeout(
          3000,
          [](gpointer d) -> gboolean {
            g_cancellable_cancel(static_cast<GCancellable *>(d));
            return G_SOURCE_REMOVE;
          },
          g_object_ref(cancel), g_object_unref);
      soup_session_send_and_read_async(
          c->soup, m, G_PRIORITY_DEFAULT, cancel,
          [](GObject *src, GAsyncResult *res, gpointer d) {
            std::unique_ptr<ConnectOp> op(static_cast<ConnectOp *>(d));
            GBytes *b = soup_session_send_and_read_finish(SOUP_SESSION(src), res, nullptr);
            op->impl->on_error_body(op->conn_id, op->status, b);
            if (b) g_bytes_unref(b);
          },
          op);
      g_object_unref(m);
      return;
    }
    std::string reason = err ? err->message : "connection failed";
    const char *what = "network error";
    if (err && (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
                g_error_matches(err, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
                g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) || err->domain == G_RESOLVER_ERROR))
      what = "network unreachable";
    conn_failed(c, std::string(what) + ": cannot connect to " + c->display_url + ": " + redact(reason, secrets_), false,
                nullptr);
    return;
  }
  clear_timer(c->timeout);
  c->ws = ws;
  // Big audio deltas: soup's default 128 KiB incoming limit is too small (§1.5: up to 15 MiB
  // per append, deltas of seconds of audio).
  soup_websocket_connection_set_max_incoming_payload_size(ws, 16 * 1024 * 1024);
  // Keepalive pings (seconds in libsoup 3.2; it has no pong timeout: our watchdog does it).
  soup_websocket_connection_set_keepalive_interval(ws, static_cast<guint>(std::max(1, (ecfg_.ping_interval_ms + 999) / 1000)));
  auto *ref = new ConnRef{this, c};
  c->ref = ref;
  g_signal_connect(ws, "message", G_CALLBACK(on_ws_message), ref);
  g_signal_connect(ws, "closed", G_CALLBACK(on_ws_closed), ref);
  g_signal_connect(ws, "error", G_CALLBACK(on_ws_error), ref);
  g_signal_connect(ws, "pong", G_CALLBACK(on_ws_pong), ref);
  c->last_rx_us = c->last_event_us = now_us();
  stat([](SessionStats &s) { s.connects++; });
  log(LogLevel::Info, "connected to " + c->display_url);
}

void Session::Impl::on_error_body(uint64_t conn_id, int status, GBytes *body) {
  Conn *c = active_ ? find_conn(conn_id) : nullptr;
  if (!c) return;
  clear_timer(c->timeout);
  std::string code, message;
  if (body) {
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(body, &n));
    parse_error_body(d, std::min<gsize>(n, 65536), &code, &message);
  }
  if (message.empty() && c->msg) {
    const char *r = soup_message_get_reason_phrase(c->msg);
    if (r) message = r;
  }
  handshake_failed(c, status, code, redact(message, secrets_));
}

void Session::Impl::handshake_failed(Conn *c, int status, const std::string &code, const std::string &message) {
  SessionError e;
  e.http_status = status;
  e.code = code.empty() ? "handshake_failed" : code;
  e.message = "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
  bool fatal = detail::handshake_status_fatal(status);
  e.cls = fatal ? ErrorClass::Fatal : ErrorClass::Warning;
  conn_failed(c, "handshake failed: " + e.message, fatal, &e);
}

void Session::Impl::conn_failed(Conn *c, const std::string &reason, bool fatal, SessionError *err) {
  log(LogLevel::Warning, (c->renewal ? "renewal " : "") + reason);
  if (c->renewal) {
    retire(next_, true);
    if (fatal && err) {
      fail(*err);
      return;
    }
    clear_timer(renew_retry_timer_);
    renew_retry_timer_ = timer(5000, &Impl::on_renew_retry);
    return;
  }
  retire(cur_, true);
  if (fatal) {
    SessionError e = err ? *err : SessionError{};
    if (!err) {
      e.code = "connect_failed";
      e.message = reason;
    }
    fail(e);
    return;
  }
  if (err) emit_error(*err);
  schedule_reconnect(reason);
}

void Session::Impl::retire(std::unique_ptr<Conn> &c, bool abrupt) {
  if (!c) return;
  // session.update events that can no longer be answered (see Session::update_acks())
  if (!c->updates_unanswered.empty()) {
    update_acks_pub.fetch_add(c->updates_unanswered.size());
    c->updates_unanswered.clear();
  }
  clear_timer(c->timeout);
  if (c->cancel) {
    g_cancellable_cancel(c->cancel);
    g_object_unref(c->cancel);
    c->cancel = nullptr;
  }
  if (c->ref) {
    if (c->ws) g_signal_handlers_disconnect_by_data(c->ws, c->ref);
    // the ConnRef may still be in use by a signal emission in progress: free it later
    net::post(loop_, [](gpointer) -> gboolean { return G_SOURCE_REMOVE; }, c->ref,
              [](gpointer d) { delete static_cast<ConnRef *>(d); });
    c->ref = nullptr;
  }
  if (c->ws) {
    linger_close(c->ws, 1000, abrupt);
    c->ws = nullptr;
  }
  if (c->msg) {
    g_object_unref(c->msg);
    c->msg = nullptr;
  }
  graveyard_.push_back(std::move(c));
  // reap the shell later (we may be inside one of its handlers)
  std::lock_guard<std::mutex> lk(mu);
  wake_locked();
}

void Session::Impl::schedule_reconnect(const std::string &reason) {
  create_in_flight_ = false;
  active_resp_.clear();
  fcalls_.clear();
  ttfa_mark_us_ = -1;
  resp_ttfa_.clear();  // the responses of the lost session never report done
  publish_pending();
  // Attempts count consecutive failures; a connection that stayed up for a while resets them
  // (one that flaps right after Ready does not: bounded attempts even then).
  if (ready_since_us_ > 0 && now_us() - ready_since_us_ > kStableUs) attempt_ = 0;
  ready_since_us_ = 0;
  attempt_++;
  if (attempt_ > ecfg_.reconnect_attempts) {
    SessionError e;
    e.code = "reconnect_failed";
    e.message = ecfg_.reconnect_attempts == 0 ? "connection lost (" + reason + "), reconnection disabled"
                                              : "gave up after " + std::to_string(ecfg_.reconnect_attempts) +
                                                    " reconnect attempts: " + reason;
    fail(e);
    return;
  }
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int delay = detail::backoff_delay_ms(attempt_, ecfg_.reconnect_base_ms, ecfg_.reconnect_max_ms, u(rng_));
  reconnect_pending_ = true;
  reconnect_reason_ = reason;
  set_state(SessionState::Reconnecting, reason);
  if (active_) listener->on_reconnecting(attempt_, delay, reason);
  if (!active_) return;
  clear_timer(backoff_timer_);
  backoff_timer_ = timer(static_cast<unsigned>(delay), &Impl::on_backoff);
}

void Session::Impl::on_backoff() {
  g_source_unref(backoff_timer_);
  backoff_timer_ = nullptr;
  if (!active_ || state_ != SessionState::Reconnecting) return;
  {
    std::lock_guard<std::mutex> lk(mu);
    ecfg_ = cfg_pub;  // connection settings from set_engine_config() apply from the next connect
  }
  start_connect(false);
}

// fatal_close > 0: the cause is permanent (describe_close()); otherwise reconnect.
void Session::Impl::conn_lost(Conn *c, const std::string &reason, int fatal_close) {
  if (c == next_.get()) {
    log(LogLevel::Warning, "renewal connection lost: " + reason);
    retire(next_, true);
    clear_timer(renew_retry_timer_);
    renew_retry_timer_ = timer(5000, &Impl::on_renew_retry);
    return;
  }
  if (c != cur_.get()) return;
  requeue_unconfirmed();
  retire(cur_, true);
  retire(next_, true);
  if (!active_ || state_ == SessionState::Failed || (xl() && state_ == SessionState::Idle)) return;  // Idle: translation closed
  log(LogLevel::Warning, "connection lost: " + reason);
  if (fatal_close > 0) {
    SessionError e;
    e.code = "closed";
    e.message = reason;
    fail(e);
    return;
  }
  schedule_reconnect(reason);
}

namespace {
void on_ws_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer data) {
  auto *r = static_cast<ConnRef *>(data);
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    r->impl->log(LogLevel::Warning, "ignoring a binary frame (§1.5: events are text frames)");
    return;
  }
  gsize n = 0;
  const char *d = static_cast<const char *>(g_bytes_get_data(message, &n));
  r->impl->handle_frame(r->conn, d, n);
}

void on_ws_closed(SoupWebsocketConnection *ws, gpointer data) {
  auto *r = static_cast<ConnRef *>(data);
  int code = soup_websocket_connection_get_close_code(ws);
  const char *cd = soup_websocket_connection_get_close_data(ws);
  detail::CloseCause cause =
      detail::describe_close(code, redact(cd ? cd : "", r->impl->secrets_), r->conn->local_error_code, r->conn->local_error_msg);
  r->impl->conn_lost(r->conn, cause.reason, cause.fatal ? 1 : -1);
}

void on_ws_error(SoupWebsocketConnection *, GError *err, gpointer data) {
  auto *r = static_cast<ConnRef *>(data);
  if (err && err->domain == SOUP_WEBSOCKET_ERROR && r->conn->local_error_code == 0) {
    r->conn->local_error_code = err->code;
    r->conn->local_error_msg = err->message ? err->message : "";
  }
  r->impl->log(LogLevel::Warning, "websocket error: " + redact(err ? err->message : "?", r->impl->secrets_));
}

void on_ws_pong(SoupWebsocketConnection *, GBytes *payload, gpointer data) {
  auto *r = static_cast<ConnRef *>(data);
  r->conn->last_rx_us = now_us();
  // libsoup 3.2 declares the payload a GBytes but emits a GByteArray. Both structures start with
  // the data pointer followed by the length (GByteArray: guint; GBytes: gsize, whose low 32 bits
  // are at the same offset on little-endian machines), so the length read below is right for
  // either, and nothing is read past the payload. On a big-endian machine the pong is not used
  // (delivery is then proven by the answers to session.update only).
  const char *d = payload ? *reinterpret_cast<const char *const *>(payload) : nullptr;
  size_t n = 0;
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  if (d) n = *reinterpret_cast<const guint *>(reinterpret_cast<const char *>(payload) + sizeof(gpointer));
#endif
  if (d && n > 4 && n < 32 && memcmp(d, "rtc:", 4) == 0) {
    std::string v(d + 4, n - 4);
    char *end = nullptr;
    guint64 off = g_ascii_strtoull(v.c_str(), &end, 10);
    if (end && *end == 0) r->impl->confirm(r->conn, off);
  }
}
}  // namespace

void Session::Impl::disarm_watchdog() {
  clear_timer(watchdog_);
  if (watchdog_tick_) {
    net::remove_tick(watchdog_tick_);
    watchdog_tick_ = nullptr;
  }
}

void Session::Impl::arm_watchdog() {
  disarm_watchdog();
  int period = watchdog_period_ms();
  if (period >= 1000) {
    // The common case (default ping settings): the network thread's shared 1 s tick instead of a
    // timer source per session (every attached source costs each loop pass).
    using W = std::weak_ptr<Impl>;
    watchdog_tick_ = net::add_tick(
        [](gpointer d) -> bool {
          auto self = static_cast<W *>(d)->lock();
          if (!self) return false;
          self->on_watchdog_tick();
          return true;
        },
        new W(weak_from_this()), [](gpointer d) { delete static_cast<W *>(d); });
    return;
  }
  watchdog_ = timer(static_cast<unsigned>(period), &Impl::on_watchdog);
}

void Session::Impl::on_watchdog_tick() {
  if (!active_) {
    disarm_watchdog();
    return;
  }
  watchdog_pass();
  // the period follows ecfg_ (reloaded on reconnect): leave the shared tick if it got shorter
  if (active_ && watchdog_tick_ && watchdog_period_ms() < 1000) arm_watchdog();
}

void Session::Impl::on_watchdog() {
  g_source_unref(watchdog_);
  watchdog_ = nullptr;
  if (!active_) return;
  watchdog_pass();
  if (active_) arm_watchdog();
}

void Session::Impl::watchdog_pass() {
  int64_t now = now_us();
  int64_t limit = static_cast<int64_t>(std::max(500, ecfg_.ping_timeout_ms)) * 1000;
  // Transport: no frame and no pong for ping_timeout_ms -> the peer is dead.
  // Application: the server owes us something (session.created / session.updated, the events of
  // an active response) and sent no event for ping_timeout_ms since we asked -> stalled. Pongs
  // come from the peer's WebSocket layer and do not prove the service is alive.
  auto check = [&](Conn *c) -> bool {
    if (!c || !c->ws) return false;
    if (now - c->last_rx_us > limit) {
      conn_lost(c, "ping timeout: nothing received for " + std::to_string(limit / 1000) + " ms", -1);
      return true;
    }
    bool owed = !c->got_updated || (c == cur_.get() && response_busy());
    if (owed && now - std::max(c->last_event_us, c->last_request_us) > limit) {
      conn_lost(c, "server stalled: no event for " + std::to_string(limit / 1000) + " ms", -1);
      return true;
    }
    return false;
  };
  check(next_.get());
  if (active_ && check(cur_.get())) return;
  // Half-open: frames go out but nothing proves the server reads them (no pong to the probes).
  if (active_ && cur_ && cur_->ws && !unconfirmed_.empty() && now - unconfirmed_.front().sent_us > limit) {
    maybe_probe();
    conn_lost(cur_.get(),
              "server stopped reading: input sent " + std::to_string((now - unconfirmed_.front().sent_us) / 1000) +
                  " ms ago is not proven read (no pong)",
              -1);
  }
}

// ---------------------------------------------------------------------------------------------
// Renewal (planned reconnect before expires_at, at a response boundary)

void Session::Impl::arm_renewal() {
  clear_timer(renew_timer_);
  if (ecfg_.renew_margin_s <= 0 || !cur_ || cur_->info.expires_at <= 0) return;
  // translation: no response boundary to switch at (a switch would lose the old session's
  // unprocessed audio); the server closing at expires_at is handled as a reconnect
  if (xl()) return;
  int64_t due_us = (cur_->info.expires_at - ecfg_.renew_margin_s) * G_USEC_PER_SEC - g_get_real_time();
  int64_t ms = std::max<int64_t>(0, due_us / 1000);
  ms = std::min<int64_t>(ms, 24LL * 3600 * 1000);
  renew_timer_ = timer(static_cast<unsigned>(ms), &Impl::on_renew_timer);
  log(LogLevel::Debug, "renewal planned in " + std::to_string(ms) + " ms");
}

void Session::Impl::on_renew_retry() { renew_timer_fired(renew_retry_timer_); }

void Session::Impl::on_renew_timer() { renew_timer_fired(renew_timer_); }

// The planned-renewal timer or its retry fired (the source is done: release our reference).
void Session::Impl::renew_timer_fired(GSource *&which) {
  g_source_unref(which);
  which = nullptr;
  if (!active_ || state_ != SessionState::Ready) return;
  renew_due_ = true;
  maybe_start_renewal();
}

void Session::Impl::maybe_start_renewal() {
  if (!renew_due_ || next_ || state_ != SessionState::Ready || response_busy() || !deferred_.empty()) return;
  log(LogLevel::Info, "planned renewal before expiry");
  start_connect(true);
}

void Session::Impl::maybe_switch() {
  if (!next_ || !next_->got_updated || response_busy()) return;
  // Switch at a response boundary: replay the conversation into the new session, then close the
  // old one. Audio still in the old session's uncommitted input buffer is lost (by design).
  new_generation();
  int n = replay_into(next_.get());
  settle_held(true, false);
  retire(cur_, false);
  cur_ = std::move(next_);
  cur_->renewal = false;
  renew_due_ = false;
  stat([&](SessionStats &s) {
    s.renewals++;
    s.session_id = cur_->info.id;
    s.model = cur_->info.model;
    s.expires_at = cur_->info.expires_at;
  });
  log(LogLevel::Info, "renewed: now on session " + cur_->info.id + ", " + std::to_string(n) + " items replayed");
  arm_renewal();
  if (active_) listener->on_reconnected(n, true);
  if (!active_) return;
  pump_deferred();
  pump_audio(INT64_MAX);
}

void Session::Impl::new_generation() {
  if (sessions_seen_++ > 0) generation_++;
  timeline_.reset();
  buffer_start_sess_ = 0;
  pending_commits_.clear();
  evtypes_.clear();
}

// ---------------------------------------------------------------------------------------------
// Sending

void Session::Impl::send_raw(Conn *c, const std::string &json, bool count) {
  if (!c || !c->ws || soup_websocket_connection_get_state(c->ws) != SOUP_WEBSOCKET_STATE_OPEN) return;
  soup_websocket_connection_send_text(c->ws, json.c_str());
  if (count) stat([](SessionStats &s) { s.events_out++; });
}

std::string Session::Impl::send_event(Conn *c, const char *type, const std::function<std::string(const std::string &)> &build) {
  std::string id = ids_.next();
  evtypes_.add(id, type);
  std::string json = build(id);
  send_raw(c, json);
  if (c) c->last_request_us = now_us();
  log(LogLevel::Debug, std::string("sent ") + type + " " + id);
  return id;
}

void Session::Impl::send_session_update(Conn *c) {
  Dialect d = c->dialect;
  SessionConfig cfg = scfg_;
  const SessionKind kind = ecfg_.endpoint.kind;  // one dispatch for all kinds: session_transcription.cc
  std::string id = send_event(c, detail::session_update_type_for(kind, d), [&](const std::string &eid) {
    return detail::build_session_update_for(kind, d, cfg, eid);
  });
  c->update_event_id = id;
  c->updates_unanswered.push_back(id);
  c->update_marks[id] = c->sent_off;
  if (c->updates_unanswered.size() > 1024) {  // bound (a server that never answers): count as answered
    c->update_marks.erase(c->updates_unanswered.front());
    c->updates_unanswered.pop_front();
    update_acks_pub.fetch_add(1);
  }
}

void Session::Impl::ack_update(Conn *c, const std::string &event_id) {
  if (!c || c->updates_unanswered.empty()) return;
  std::string id;
  if (event_id.empty()) {
    // session.updated answers the oldest session.update (the server handles events in order)
    id = c->updates_unanswered.front();
    c->updates_unanswered.pop_front();
  } else {
    auto it = std::find(c->updates_unanswered.begin(), c->updates_unanswered.end(), event_id);
    if (it == c->updates_unanswered.end()) return;
    id = *it;
    c->updates_unanswered.erase(it);
  }
  // The answer to a session.update proves the appends sent before it were read (in order).
  auto m = c->update_marks.find(id);
  if (m != c->update_marks.end()) {
    uint64_t off = m->second;
    c->update_marks.erase(m);
    confirm(c, off);
  }
  // Published once the answer (session.updated, or the error) has been delivered to the listener
  // (see the frame handler): a caller that saw update_acks() grow has also seen the answer.
  acks_due_++;
}

int Session::Impl::replay_into(Conn *c) {
  if (!detail::kind_replays_conversation(ecfg_.endpoint.kind)) return 0;  // transcription hook
  // Issue "Reconnection": replay the conversation as text items (user transcripts as user
  // input_text, assistant transcripts as assistant text; the builder picks preview "text" or GA
  // "output_text", §7.2), in order, at most replay_max_items (the most recent ones).
  std::vector<std::pair<bool, std::string>> rep;  // (assistant?, text)
  // A previous replay the server has not fully echoed yet (its connection died before): our
  // items_ only hold part of it, resend it whole. The echoes we did get are part of it.
  if (replay_echoes_left_ > 0) rep = replay_;
  for (auto &id : order_) {
    auto it = items_.find(id);
    if (it == items_.end()) continue;
    const Item &x = it->second;
    if (replay_echoes_left_ > 0 && x.replayed) continue;
    if (x.type != "message" || !x.has_text || x.truncated || x.text.empty()) continue;
    if (x.role == "user")
      rep.emplace_back(false, x.text);
    else if (x.role == "assistant")
      rep.emplace_back(true, x.text);
  }
  size_t maxn = static_cast<size_t>(std::max(0, ecfg_.replay_max_items));
  if (rep.size() > maxn) rep.erase(rep.begin(), rep.end() - static_cast<ptrdiff_t>(maxn));
  replay_ = rep;
  replay_echoes_left_ = rep.size();
  // the new server session starts with an empty conversation: our state follows it (rebuilt from
  // the server's echoes of the replayed items)
  order_.clear();
  items_.clear();
  fcalls_.clear();
  unanswered_calls_.clear();
  want_response_after_.clear();
  Dialect d = c->dialect;
  replay_ids_.clear();
  for (auto &r : rep) {
    ItemCreate ic;
    ic.kind = r.first ? ItemCreate::Kind::AssistantText : ItemCreate::Kind::UserText;
    ic.text = r.second;
    replay_ids_.insert(
        send_event(c, "conversation.item.create", [&](const std::string &id) { return build_item_create(d, ic, id); }));
  }
  if (rep.empty()) replay_.clear();
  return static_cast<int>(rep.size());
}

// ---------------------------------------------------------------------------------------------
// Receiving

void Session::Impl::handle_frame(Conn *c, const char *data, size_t len) {
  c->last_rx_us = c->last_event_us = now_us();
  if (!active_) return;
  stat([](SessionStats &s) { s.events_in++; });

  // Hot path (§4 response.(output_)audio.delta): decode straight into listener memory.
  AudioDeltaHeader hdr;
  void *handle = nullptr;
  bool dropped = false;
  std::string perr;
  FastParseStatus fs = parse_audio_delta_fast(
      data, len, &hdr,
      [&](size_t max_len) -> uint8_t * {
        uint8_t *m = listener->alloc_audio(max_len, &handle);
        if (!m) {  // listener drops it; decode anyway (cheap) to account the item's audio
          dropped = true;
          handle = nullptr;
          drop_scratch_.resize(max_len);
          m = drop_scratch_.data();
        }
        return m;
      },
      &perr);
  if (fs == FastParseStatus::Ok) {
    if (c != cur_.get()) {  // a renewal connection never has responses; be safe
      if (handle) listener->free_audio(handle);
      return;
    }
    Item &it = item(hdr.item_id);
    AudioDeltaInfo info;
    info.response_id = hdr.response_id;
    info.item_id = hdr.item_id;
    info.output_index = hdr.output_index;
    info.content_index = hdr.content_index;
    info.item_offset_bytes = it.audio_bytes;
    info.receive_time_us = c->last_rx_us;
    it.audio_bytes += static_cast<int64_t>(hdr.audio_len);
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
  if (len > Session::kMaxEventBytes) {
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
      Item &it = item(p.event.item_id);
      AudioDeltaInfo info;
      info.response_id = p.event.response_id;
      info.item_id = p.event.item_id;
      info.output_index = p.event.output_index;
      info.content_index = p.event.content_index;
      info.item_offset_bytes = it.audio_bytes;
      info.receive_time_us = c->last_rx_us;
      it.audio_bytes += static_cast<int64_t>(p.event.audio.size());
      listener->on_audio(h, p.event.audio.size(), info);
    }
    return;
  }
  if (p.event.type == ServerEventType::TranslationOutputAudioDelta) {
    xl_on_audio(c, p.event);
    return;
  }
  handle_event(c, p.event);
  if (acks_due_ > 0) {
    update_acks_pub.fetch_add(acks_due_);
    acks_due_ = 0;
  }
}

Item &Session::Impl::item(const std::string &id) {
  auto it = items_.find(id);
  if (it != items_.end()) return it->second;
  if (items_.size() > 8192) {
    // bound: forget placeholders that never made it into the conversation
    for (auto i = items_.begin(); i != items_.end();) {
      if (!i->second.in_order)
        i = items_.erase(i);
      else
        ++i;
    }
  }
  Item &x = items_[id];
  x.id = id;
  return x;
}

void Session::Impl::item_in_order(const std::string &id, const std::string &prev) {
  Item &x = item(id);
  if (x.in_order) return;
  x.in_order = true;
  auto pos = order_.end();
  if (!prev.empty()) {
    auto p = std::find(order_.rbegin(), order_.rend(), prev);
    if (p != order_.rend()) pos = p.base();
  }
  order_.insert(pos, id);
  if (order_.size() > 2048) {
    items_.erase(order_.front());
    order_.pop_front();
  }
}

// Item text kept for the replay: at most Session::kMaxItemTextBytes, cut at a UTF-8 boundary.
static void set_item_text(Item &x, const std::string &t) {
  if (t.size() <= Session::kMaxItemTextBytes) {
    x.text = t;
  } else {
    size_t n = Session::kMaxItemTextBytes;
    while (n > 0 && (static_cast<unsigned char>(t[n]) & 0xC0) == 0x80) n--;
    x.text.assign(t, 0, n);
  }
  x.has_text = true;
}

void Session::Impl::upsert_item(const ItemInfo &info, const std::string &prev) {
  if (info.id.empty()) return;
  item_in_order(info.id, prev);
  Item &x = item(info.id);
  if (!info.type.empty()) x.type = info.type;
  if (!info.role.empty()) x.role = info.role;
  if (!info.status.empty()) x.status = info.status;
  for (const ContentPart &cp : info.content) {
    // input_text / text / output_text carry text; audio parts a transcript (null until known)
    if ((cp.type == "input_text" || cp.type == "text" || cp.type == "output_text") && !cp.text.empty()) {
      set_item_text(x, cp.text);
    } else if (!cp.transcript_null && !cp.transcript.empty() && !x.truncated) {
      set_item_text(x, cp.transcript);
    }
  }
}

void Session::Impl::erase_item(const std::string &id) {
  items_.erase(id);
  auto p = std::find(order_.begin(), order_.end(), id);
  if (p != order_.end()) order_.erase(p);
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
    case ServerEventType::TranslationInputTranscriptDelta:
    case ServerEventType::TranslationOutputTranscriptDelta:
      // elapsed_ms on the caller's input timeline (docs/protocol.md §15), across reconnects
      if (ev.elapsed_ms >= 0) ctx.input_start_sample = elapsed_pos(ev.elapsed_ms);
      ctx.input_sent_samples = timeline_.to_caller(timeline_.sent());
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
      int64_t end_sess = -1;
      if (!pending_commits_.empty()) {  // our manual commit (§10.4)
        end_sess = pending_commits_.front().second;
        pending_commits_.pop_front();
      }
      if (x.span_start < 0) x.span_start = timeline_.to_caller(buffer_start_sess_);
      if (x.span_end < 0) x.span_end = timeline_.to_caller(end_sess >= 0 ? end_sess : timeline_.sent());
      // the next buffer starts after what this commit consumed
      if (end_sess >= 0)
        buffer_start_sess_ = end_sess;
      else
        buffer_start_sess_ = timeline_.sent();
      item_in_order(ev.item_id, ev.previous_item_id);
      ctx.input_start_sample = x.span_start;
      ctx.input_end_sample = x.span_end;
      break;
    }
    case ServerEventType::InputBufferCleared:
      buffer_start_sess_ = timeline_.sent();
      break;
    case ServerEventType::ItemAdded:
    case ServerEventType::ItemDone:
    case ServerEventType::ItemRetrieved: {
      bool is_new = !ev.item.id.empty() && !item(ev.item.id).in_order;
      upsert_item(ev.item, ev.previous_item_id);
      Item &x = item(ev.item.id);
      if (is_new && replay_echoes_left_ > 0 && x.type == "message" && (x.role == "user" || x.role == "assistant")) {
        // the server handles events in order: the first new messages are the replay's echoes
        x.replayed = true;
        if (--replay_echoes_left_ == 0) {
          replay_.clear();
          replay_ids_.clear();
        }
      }
      ctx.input_start_sample = x.span_start;
      ctx.input_end_sample = x.span_end;
      break;
    }
    case ServerEventType::ItemDeleted:
      erase_item(ev.item_id);
      break;
    case ServerEventType::ItemTruncated: {
      // §3.8: the server deletes the transcript of a truncated item: do not replay it
      Item &x = item(ev.item_id);
      x.truncated = true;
      x.has_text = false;
      x.text.clear();
      break;
    }
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
        detail::Span sp = detail::uncommitted_span(timeline_.to_caller(buffer_start_sess_),
                                                   timeline_.to_caller(timeline_.sent()));
        ctx.input_start_sample = sp.start;
        ctx.input_end_sample = sp.end;
      }
      break;
    }
    case ServerEventType::ResponseCreated: {
      const std::string &id = ev.response.id;
      bool oob = ev.response.conversation_id.empty() && oob_outstanding_ > 0;
      if (oob) {
        oob_outstanding_--;
        oob_resps_.insert(id);
      } else {
        active_resp_ = id;
        create_in_flight_ = false;
        if (ttfa_mark_us_ < 0) ttfa_mark_us_ = c->last_rx_us;
      }
      publish_pending();
      break;
    }
    case ServerEventType::OutputItemAdded:
      if (!oob_resps_.count(ev.response_id)) upsert_item(ev.item, std::string());
      break;
    case ServerEventType::OutputItemDone:
      if (!oob_resps_.count(ev.response_id)) upsert_item(ev.item, std::string());
      if (ev.item.type == "function_call" && ev.item.status == "completed") {
        FunctionCall fc;
        fc.response_id = ev.response_id;
        fc.item_id = ev.item.id;
        fc.call_id = ev.item.call_id;
        fc.name = ev.item.name;
        fc.arguments = ev.item.arguments;
        fcalls_[ev.response_id].push_back(fc);
      }
      break;
    case ServerEventType::AudioTranscriptDone:
    case ServerEventType::TextDone: {
      if (oob_resps_.count(ev.response_id)) break;
      Item &x = item(ev.item_id);
      if (!x.truncated) {
        set_item_text(x, ev.text);
      }
      if (x.role.empty()) x.role = "assistant";
      if (x.type.empty()) x.type = "message";
      break;
    }
    case ServerEventType::ResponseDone: {
      const ResponseInfo &r = ev.response;
      {
        auto t = resp_ttfa_.find(r.id.empty() ? ev.response_id : r.id);
        if (t != resp_ttfa_.end()) {
          ctx.ttfa_us = t->second;
          resp_ttfa_.erase(t);
        }
      }
      stat([&](SessionStats &s) {
        if (r.status == "completed")
          s.responses_completed++;
        else if (r.status == "cancelled")
          s.responses_cancelled++;
        else if (r.status == "failed")
          s.responses_failed++;
        else if (r.status == "incomplete")
          s.responses_incomplete++;
        if (r.usage.present) {
          Usage &u = s.usage_total;
          u.present = true;
          u.total_tokens += r.usage.total_tokens;
          u.input_tokens += r.usage.input_tokens;
          u.output_tokens += r.usage.output_tokens;
          u.input_text_tokens += r.usage.input_text_tokens;
          u.input_audio_tokens += r.usage.input_audio_tokens;
          u.input_cached_tokens += r.usage.input_cached_tokens;
          u.output_text_tokens += r.usage.output_text_tokens;
          u.output_audio_tokens += r.usage.output_audio_tokens;
        }
      });
      break;
    }
    case ServerEventType::RateLimitsUpdated:
      stat([&](SessionStats &s) { s.rate_limits = ev.rate_limits; });
      break;
    default:
      break;
  }
  if (!active_) return;
  listener->on_server_event(ev, ctx);
  if (!active_) return;

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

void Session::Impl::deliver_function_calls(const ServerEvent &ev) {
  const ResponseInfo &r = ev.response;
  auto it = fcalls_.find(r.id);
  std::vector<FunctionCall> calls;
  if (it != fcalls_.end()) {
    calls = std::move(it->second);
    fcalls_.erase(it);
  }
  // §10.6: never execute calls of a cancelled / incomplete response, or incomplete items.
  if (r.status != "completed") return;
  // response.done is authoritative (§10.6 "GUIDE-GA reads them from response.done")
  for (const ItemInfo &o : r.output) {
    if (o.type != "function_call") continue;
    if (!o.status.empty() && o.status != "completed") {
      calls.erase(std::remove_if(calls.begin(), calls.end(), [&](const FunctionCall &f) { return f.call_id == o.call_id; }),
                  calls.end());
      continue;
    }
    auto f = std::find_if(calls.begin(), calls.end(), [&](const FunctionCall &x) { return x.call_id == o.call_id; });
    if (f == calls.end()) {
      FunctionCall fc;
      fc.response_id = r.id;
      fc.item_id = o.id;
      fc.call_id = o.call_id;
      fc.name = o.name;
      fc.arguments = o.arguments;
      calls.push_back(fc);
    } else {
      if (!o.name.empty()) f->name = o.name;
      if (!o.arguments.empty()) f->arguments = o.arguments;
    }
  }
  for (auto &fc : calls) unanswered_calls_[fc.call_id] = fc.response_id;
  for (auto &fc : calls) {
    if (!active_) return;
    log(LogLevel::Debug, "function call " + fc.name + " (" + fc.call_id + ")");
    listener->on_function_call(fc);
  }
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
  if (!ei.event_id.empty()) {
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
    for (auto it = pending_commits_.begin(); it != pending_commits_.end(); ++it)
      if (it->first == ei.event_id) {
        pending_commits_.erase(it);
        break;
      }
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

void Session::Impl::on_session_created(Conn *c, const ServerEvent &ev) {
  if (c->got_created) return;
  c->got_created = true;
  c->info = ev.session;
  if (c != cur_.get()) {  // renewal: configure now, replay at the switch
    send_session_update(c);
    return;
  }
  new_generation();
  // §10.1: session.created first, then our session.update with the full desired configuration
  send_session_update(c);
  if (reconnect_pending_) replayed_ = replay_into(c);
  stat([&](SessionStats &s) {
    s.session_id = c->info.id;
    s.model = c->info.model;
    s.expires_at = c->info.expires_at;
  });
  log(LogLevel::Info, "session " + c->info.id + " created (model " + c->info.model + ")");
  set_state(SessionState::Configuring, c->info.id);
}

void Session::Impl::on_session_updated(Conn *c, const ServerEvent &ev) {
  ack_update(c, std::string());
  if (c->got_created) c->info.raw_json = ev.session.raw_json;
  if (c->got_updated) return;
  c->got_updated = true;
  if (c != cur_.get()) {
    maybe_switch();
    return;
  }
  become_ready();
}

void Session::Impl::become_ready() {
  ready_since_us_ = now_us();
  set_state(SessionState::Ready, cur_ ? cur_->info.id : std::string());
  if (!active_) return;
  // what waited for Ready goes out now, in order: queued commands, then buffered audio
  run_queued();
  if (!active_) return;
  if (reconnect_pending_) {
    reconnect_pending_ = false;
    stat([](SessionStats &s) { s.reconnects++; });
    log(LogLevel::Info, "reconnected, " + std::to_string(replayed_) + " items replayed");
    listener->on_reconnected(replayed_, false);
    replayed_ = 0;
    if (!active_) return;
  }
  arm_renewal();
  pump_deferred();
  // translation: a session.close sent into a lost connection is sent again into the new one,
  // after the audio that waited for it (run_queued above sent that)
  if (xl() && xl_close_requested_ && active_) xl_send_close();
}

// ---------------------------------------------------------------------------------------------
// Responses

void Session::Impl::request_response(std::optional<ResponseParams> params, bool from_function) {
  if (params && params->conversation_none) {
    // out-of-band responses may run in parallel (§5 rule 10, §10.7)
    send_response_create(params);
    return;
  }
  if (from_function) {
    for (auto &d : deferred_)
      if (d.from_function) return;  // one response.create for all outputs (§13)
  }
  if (response_busy() || !deferred_.empty()) {
    if (deferred_.size() >= kMaxQueuedResponses) {
      log(LogLevel::Warning, "response queue full (" + std::to_string(kMaxQueuedResponses) +
                                 " response.create waiting): request dropped");
      return;
    }
    deferred_.push_back(Deferred{std::move(params), from_function});
    log(LogLevel::Debug, "response.create queued behind the active response");
    publish_pending();
    return;
  }
  send_response_create(params);
}

void Session::Impl::send_response_create(const std::optional<ResponseParams> &params) {
  if (!cur_) return;
  Dialect d = cur_->dialect;
  const ResponseParams *pp = params ? &*params : nullptr;
  std::string id = send_event(cur_.get(), "response.create", [&](const std::string &eid) { return build_response_create(d, pp, eid); });
  if (pp && pp->conversation_none) {
    oob_outstanding_++;
    return;
  }
  create_in_flight_ = true;
  create_event_id_ = id;
  if (ttfa_mark_us_ < 0) ttfa_mark_us_ = now_us();  // TTFA from response.create
  publish_pending();
}

void Session::Impl::pump_deferred() {
  while (state_ == SessionState::Ready && cur_ && !response_busy() && !deferred_.empty() &&
         !(next_ && next_->got_updated)) {
    Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    send_response_create(d.params);
  }
  // while a renewal connection is open, the switch happens first (at this boundary)
  publish_pending();
}

// ---------------------------------------------------------------------------------------------
// Commands (network thread, Ready unless UpdateConfig)

void Session::Impl::exec(Cmd &c) {
  Conn *conn = cur_.get();
  if (c.kind != CmdKind::UpdateConfig && c.kind != CmdKind::Clear) pump_audio(c.audio_mark);
  switch (c.kind) {
    case CmdKind::UpdateConfig: {
      // audio formats are fixed after start(): keep ours (the chunker/timeline depend on them)
      SessionConfig n = *c.cfg;
      if (n.input_format != scfg_.input_format || n.output_format != scfg_.output_format) {
        log(LogLevel::Warning, "audio formats cannot change after start(); keeping the current ones");
        n.input_format = scfg_.input_format;
        n.output_format = scfg_.output_format;
      }
      scfg_ = n;
      if (conn && conn->got_created) send_session_update(conn);
      if (next_ && next_->got_created) send_session_update(next_.get());
      break;
    }
    case CmdKind::Flush:
      break;
    case CmdKind::Commit: {
      std::string id = send_event(conn, "input_audio_buffer.commit", [](const std::string &eid) { return build_input_audio_commit(eid); });
      pending_commits_.emplace_back(id, timeline_.sent());
      if (pending_commits_.size() > 64) pending_commits_.pop_front();
      break;
    }
    case CmdKind::Clear: {
      // audio held for delivery proof or re-sending is part of the buffer being cleared
      int64_t n = 0;
      for (auto *q : {&unconfirmed_, &resend_})
        for (auto &o : *q) n += static_cast<int64_t>(o.data.size());
      unconfirmed_.clear();
      resend_.clear();
      held_bytes_ = 0;
      publish_held();
      stat([&](SessionStats &s) { s.input_samples_cleared += static_cast<uint64_t>(n / in_bps_net_); });
      drop_audio_to(c.audio_mark);
      send_event(conn, "input_audio_buffer.clear", [](const std::string &eid) { return build_input_audio_clear(eid); });
      break;
    }
    case CmdKind::CreateResponse:
      request_response(c.params, false);
      break;
    case CmdKind::Cancel: {
      // the queued ones would start talking again right after the cancel: drop them too
      size_t dropped = deferred_.size();
      deferred_.clear();
      if (dropped) log(LogLevel::Debug, "cancel: dropped " + std::to_string(dropped) + " queued response.create");
      send_event(conn, "response.cancel", [&](const std::string &eid) { return build_response_cancel(std::string(), eid); });
      publish_pending();
      break;
    }
    case CmdKind::SendText: {
      ItemCreate ic;
      ic.kind = ItemCreate::Kind::UserText;
      ic.text = c.a;
      Dialect d = conn->dialect;
      send_event(conn, "conversation.item.create", [&](const std::string &eid) { return build_item_create(d, ic, eid); });
      if (c.flag) request_response(std::nullopt, false);
      break;
    }
    case CmdKind::FunctionOutput: {
      ItemCreate ic;
      ic.kind = ItemCreate::Kind::FunctionCallOutput;
      ic.call_id = c.a;
      ic.output = c.b;
      Dialect d = conn->dialect;
      send_event(conn, "conversation.item.create", [&](const std::string &eid) { return build_item_create(d, ic, eid); });
      std::string resp;
      auto u = unanswered_calls_.find(c.a);
      if (u != unanswered_calls_.end()) {
        resp = u->second;
        unanswered_calls_.erase(u);
      }
      bool others = false;
      for (auto &kv : unanswered_calls_)
        if (!resp.empty() && kv.second == resp) others = true;
      if (others) {
        // §13: answer every call, then ONE response.create
        if (c.flag) want_response_after_.insert(resp);
        break;
      }
      bool want = c.flag || want_response_after_.erase(resp) > 0;
      if (want) request_response(std::nullopt, true);
      break;
    }
    case CmdKind::Truncate: {
      // §3.8/§10.5: audio_end_ms must not exceed the item's audio: clamp to what we received.
      auto it = items_.find(c.a);
      if (it == items_.end()) {
        log(LogLevel::Warning, "truncate: unknown item " + c.a + ", ignored");
        break;
      }
      int64_t have_ms = static_cast<int64_t>(std::floor(static_cast<double>(it->second.audio_bytes) / out_bytes_per_ms()));
      int64_t end = std::min(c.n, have_ms);
      if (end <= 0) {
        send_event(conn, "conversation.item.delete", [&](const std::string &eid) { return build_item_delete(c.a, eid); });
      } else {
        if (end < c.n) log(LogLevel::Debug, "truncate clamped " + std::to_string(c.n) + " -> " + std::to_string(end) + " ms");
        send_event(conn, "conversation.item.truncate", [&](const std::string &eid) { return build_item_truncate(c.a, 0, end, eid); });
      }
      break;
    }
    case CmdKind::Delete:
      send_event(conn, "conversation.item.delete", [&](const std::string &eid) { return build_item_delete(c.a, eid); });
      break;
    case CmdKind::CloseInput:
      // the audio before the mark went out above, including a partial chunk
      xl_close_requested_ = true;
      xl_send_close();
      break;
  }
}

void Session::Impl::push(const uint8_t *data, size_t len) {
  if (push_locked(data, len)) post_wake();
}

// push() under `mu`; returns true when the network thread must be woken (after `mu` is released).
bool Session::Impl::push_locked(const uint8_t *data, size_t len) {
  if (!data || len == 0) return false;
  Impl &s = *this;
  std::lock_guard<std::mutex> lk(s.mu);
  s.abuf.insert(s.abuf.end(), data, data + len);
  s.pushed_bytes += static_cast<int64_t>(len);
  size_t pending = s.abuf.size() - s.aoff;
  if (pending > s.limit_bytes) {
    // Bounded offline buffer: drop the OLDEST audio, whole samples, and report it.
    size_t n = pending - s.limit_bytes;
    size_t bps = static_cast<size_t>(s.in_bps);
    n = (n + bps - 1) / bps * bps;
    n = std::min(n, pending - pending % bps);
    int64_t first = s.abuf_pos / s.in_bps;
    int64_t samples = static_cast<int64_t>(n / bps);
    s.aoff += n;
    s.abuf_pos += static_cast<int64_t>(n);
    if (s.aoff > 65536 && s.aoff * 2 > s.abuf.size()) {
      s.abuf.erase(s.abuf.begin(), s.abuf.begin() + static_cast<ptrdiff_t>(s.aoff));
      s.aoff = 0;
    }
    if (!s.drops.empty() && s.drops.back().first + s.drops.back().second == first)
      s.drops.back().second += samples;
    else
      s.drops.emplace_back(first, samples);
    if (s.drops.size() > 1024) s.drops.erase(s.drops.begin());
    s.dropped_samples += samples;
    {
      std::lock_guard<std::mutex> sl(s.stats_mu);
      s.st.input_ms_dropped = static_cast<uint64_t>(s.dropped_samples * 1000 / s.in_rate);
      s.st.input_samples_dropped = static_cast<uint64_t>(s.dropped_samples);
    }
    return s.claim_wake_locked();
  }
  return s.accepting && pending >= s.chunk_bytes && s.claim_wake_locked();
}

// =============================================================================================
// Public API

Session::Session(EngineConfig cfg, SessionListener *listener) : impl_(std::make_shared<Impl>(std::move(cfg), listener)) {
  net::session_created();
  impl_->loop_ = net::acquire_loop();
}

Session::~Session() {
  stop();
  net::release_loop(impl_->loop_);
  impl_.reset();
  net::session_destroyed();
}

void Session::start() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  if (impl_->started && impl_->state_pub.load() != static_cast<int>(SessionState::Failed)) return;
  if (impl_->started) {
    // restart from Failed: what was queued while failed belongs to the failed session (the
    // configuration is kept: update_config() commands stay)
    size_t n = impl_->drop_cmds_locked(true);
    if (n > 0 && impl_->pending_logs.size() < 64)
      impl_->pending_logs.emplace_back(LogLevel::Warning,
                                       "restart after failure: dropped " + std::to_string(n) + " stale queued command(s)");
    if (impl_->creates_queued == 0 && impl_->deferred_pub == 0) impl_->resp_pending_pub.store(false);
  }
  impl_->started = true;
  impl_->net_running = true;
  impl_->life.push_back(LifeOp::Start);
  // net::context() starts the thread if needed (never waits on the network; only on a
  // concurrent shutdown_network_thread() teardown)
  impl_->wake_locked();
}

void Session::stop() {
  Impl &s = *impl_;
  if (net::current() == s.loop_) {
    // Contract violation (stop from a callback); do what we can without deadlocking.
    {
      std::lock_guard<std::mutex> lk(s.mu);
      if (!s.started) return;
      s.started = false;
    }
    s.do_stop();
    return;
  }
  std::unique_lock<std::mutex> lk(s.mu);
  if (!s.net_running) return;  // never started
  if (s.started) {
    s.started = false;
    s.stop_seq++;
    s.life.push_back(LifeOp::Stop);
    s.wake_locked();
  }
  uint64_t seq = s.stop_seq;
  s.cv.wait(lk, [&] { return s.stop_done >= seq; });
}

void Session::update_config(const SessionConfig &cfg) {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->cfg_pub.session = cfg;
  }
  Cmd c;
  c.kind = CmdKind::UpdateConfig;
  c.cfg = cfg;
  impl_->enqueue(std::move(c));
}

void Session::set_engine_config(const EngineConfig &cfg) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  SessionConfig keep = impl_->cfg_pub.session;
  impl_->cfg_pub = cfg;
  impl_->cfg_pub.session = keep;
  int cm = std::clamp(cfg.chunk_ms, 10, 1000);
  Impl &s = *impl_;
  s.chunk_bytes = static_cast<size_t>(s.in_rate) * s.in_bps * cm / 1000;
  s.limit_bytes = std::max(s.chunk_bytes, static_cast<size_t>(s.in_rate) * s.in_bps * std::max(0, cfg.offline_buffer_ms) / 1000);
}

void Session::push_audio(const uint8_t *data, size_t len) { impl_->push(data, len); }

// =============================================================================================
// Translation sessions (docs/protocol.md §15). Kept together here: they need Impl. The rest of
// the engine serves them unchanged (connect, configure, reconnect with backoff, input timeline).

void Session::Impl::xl_send_close() {
  if (!cur_ || state_ != SessionState::Ready) return;  // sent again once Ready (become_ready)
  if (xl_close_conn_ == cur_->id) return;               // once per connection
  xl_close_conn_ = cur_->id;
  send_event(cur_.get(), "session.close", [](const std::string &eid) { return build_session_close(eid); });
  // session.closed is awaited by the caller, bounded by its own timeout (close_input() contract)
  cur_->last_request_us = now_us();
}

void Session::Impl::xl_on_audio(Conn *c, const ServerEvent &ev) {
  if (c != cur_.get()) return;
  const bool pcm16 = ev.format.empty() || ev.format == "pcm16" || ev.format == "audio/pcm";
  if ((ev.sample_rate != 0 && ev.sample_rate != 24000) || ev.channels > 1 || !pcm16) {
    SessionError e;
    e.cls = ErrorClass::Warning;
    e.code = "unsupported_output_format";
    e.message = "translated audio delta in an unsupported format (" + (ev.format.empty() ? std::string("pcm16") : ev.format) +
                ", " + std::to_string(ev.sample_rate) + " Hz, " + std::to_string(ev.channels) +
                " channel(s)); only PCM16 24 kHz mono is supported: delta dropped";
    log(LogLevel::Warning, e.message);
    emit_error(e);
    return;
  }
  stat([&](SessionStats &x) {
    x.audio_bytes_received += ev.audio.size();
    x.audio_ms_received += static_cast<double>(ev.audio.size()) / 48.0;
  });
  if (ev.audio.empty()) return;
  void *h = nullptr;
  uint8_t *m = listener->alloc_audio(ev.audio.size(), &h);
  if (!m) return;
  memcpy(m, ev.audio.data(), ev.audio.size());
  AudioDeltaInfo info;
  info.receive_time_us = c->last_rx_us;
  info.elapsed_ms = ev.elapsed_ms;
  if (ev.elapsed_ms >= 0) info.input_sample = elapsed_pos(ev.elapsed_ms);
  info.input_sent_samples = timeline_.to_caller(timeline_.sent());
  info.generation = generation_;
  listener->on_audio(h, ev.audio.size(), info);
}

void Session::Impl::xl_on_closed() {
  // session.closed: every output of the closed input has been delivered; close the socket
  log(LogLevel::Info, "translation session closed by the server after session.close");
  clear_timer(backoff_timer_);
  clear_timer(renew_timer_);
  clear_timer(renew_retry_timer_);
  disarm_watchdog();
  set_state(SessionState::Idle, "session closed");
  retire(next_, false);
  retire(cur_, false);
}

bool Session::close_input() {
  Cmd c;
  c.kind = CmdKind::CloseInput;
  return impl_->enqueue(std::move(c));
}

void Session::flush_audio() {
  Cmd c;
  c.kind = CmdKind::Flush;
  impl_->enqueue(std::move(c));
}

bool Session::commit() {
  Cmd c;
  c.kind = CmdKind::Commit;
  return impl_->enqueue(std::move(c));
}

bool Session::clear() {
  Cmd c;
  c.kind = CmdKind::Clear;
  return impl_->enqueue(std::move(c));
}

bool Session::create_response(const ResponseParams *params) {
  Cmd c;
  c.kind = CmdKind::CreateResponse;
  if (params) c.params = *params;
  c.counts_create = !(params && params->conversation_none);
  return impl_->enqueue(std::move(c));
}

bool Session::cancel_response() {
  Cmd c;
  c.kind = CmdKind::Cancel;
  return impl_->enqueue(std::move(c));
}

bool Session::send_text(const std::string &text, bool create_response) {
  Cmd c;
  c.kind = CmdKind::SendText;
  c.a = text;
  c.flag = create_response;
  c.counts_create = create_response;
  return impl_->enqueue(std::move(c));
}

bool Session::function_output(const std::string &call_id, const std::string &output_json, bool create_response) {
  Cmd c;
  c.kind = CmdKind::FunctionOutput;
  c.a = call_id;
  c.b = output_json;
  c.flag = create_response;
  c.counts_create = create_response;
  return impl_->enqueue(std::move(c));
}

bool Session::truncate(const std::string &item_id, int64_t audio_end_ms) {
  Cmd c;
  c.kind = CmdKind::Truncate;
  c.a = item_id;
  c.n = audio_end_ms;
  return impl_->enqueue(std::move(c));
}

bool Session::delete_item(const std::string &item_id) {
  Cmd c;
  c.kind = CmdKind::Delete;
  c.a = item_id;
  return impl_->enqueue(std::move(c));
}

SessionStats Session::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  SessionStats s = impl_->st;
  s.state = static_cast<SessionState>(impl_->state_pub.load());
  return s;
}

SessionState Session::state() const { return static_cast<SessionState>(impl_->state_pub.load()); }

int64_t Session::input_samples_pushed() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->pushed_bytes / impl_->in_bps;
}

bool Session::response_pending() const { return impl_->resp_pending_pub.load(); }

int64_t Session::input_unsent_bytes() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return static_cast<int64_t>(impl_->abuf.size() - impl_->aoff) + impl_->held_pub;
}

uint64_t Session::update_acks() const { return impl_->update_acks_pub.load(); }

// ---------------------------------------------------------------------------------------------
namespace detail {

DispatchBench::DispatchBench(const EngineConfig &cfg, SessionListener *listener, SoupWebsocketConnection *ws)
    : impl_(std::make_shared<Session::Impl>(cfg, listener)) {
  Session::Impl &i = *impl_;
  i.ecfg_ = cfg;
  i.active_ = true;
  i.state_ = SessionState::Ready;
  i.accepting = true;
  i.cur_ = std::make_unique<Conn>();
  i.cur_->ws = ws;
  i.cur_->dialect = cfg.endpoint.dialect == DialectChoice::Preview ? Dialect::Preview : Dialect::GA;
  i.cur_->got_created = i.cur_->got_updated = true;
}

DispatchBench::~DispatchBench() {
  impl_->cur_->ws = nullptr;  // owned by the caller
  impl_->active_ = false;
}

void DispatchBench::feed(const char *frame, size_t len) { impl_->handle_frame(impl_->cur_.get(), frame, len); }

void DispatchBench::push(const uint8_t *data, size_t len) {
  impl_->push(data, len);
  impl_->pump_audio(INT64_MAX);
  // the bench's peer only drains: count what was sent as proven read (as a pong would), so the
  // send window never closes
  impl_->confirm(impl_->cur_.get(), impl_->cur_->sent_off);
}

SessionStats DispatchBench::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  return impl_->st;
}

}  // namespace detail
}  // namespace rtc
