// Session engine: connections (connect, handshake errors, loss, backoff and reconnect, the
// watchdog, planned renewal), the configuration handshake (session.update / session.updated,
// Ready) and the lifecycle (start / stop / failure). docs/engine.md, docs/reliability.md.
#include "session_impl.h"

namespace rtc {

namespace detail {

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

using namespace engine;

namespace {

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

}  // namespace

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

// What a failure and a stop both end: the connection timers and both connections.
void Session::Impl::end_connections() {
  if (barrier_after_resend_) {  // never to be re-sent: counted as answered (see updates_answered())
    barrier_after_resend_ = false;
    publish_answered(cfg_ticket_);
  }
  clear_timer(backoff_timer_);
  clear_timer(renew_timer_);
  clear_timer(renew_retry_timer_);
  clear_timer(held_flush_);
  disarm_watchdog();
  retire(next_, false);
  retire(cur_, false);
}

void Session::Impl::fail(SessionError e) {
  settle_held(false, true);  // nothing of the failed session is re-sent: reported dropped
  end_connections();
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
  end_connections();
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
  // A frame still held is dropped with the connection: dispatching it here could re-enter the
  // decisions that retire connections. (Only audio deltas are held, and only until the next frame,
  // close, error or loop iteration: a connection retired in between loses at most that delta, as if
  // it had died a moment earlier.)
  if (c->held_frame) {
    g_bytes_unref(c->held_frame);
    c->held_frame = nullptr;
    log(LogLevel::Info, "a received audio delta was dropped with its connection");
  }
  // session.update events that can no longer be answered (see Session::updates_answered())
  if (!c->updates_unanswered.empty()) {
    publish_answered(c->updates_unanswered.back().second);
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
  // Its unanswered tickets are answered after the input is re-sent on the next connection, not
  // now: their answer must prove that input read (docs/engine.md "Barriers").
  for (const auto &u : cur_->updates_unanswered)
    if (u.second > 0) barrier_after_resend_ = true;
  cur_->updates_unanswered.clear();
  retire(cur_, true);
  retire(next_, true);
  if (!active_ || state_ == SessionState::Failed || (xl() && state_ == SessionState::Idle)) {  // Idle: translation closed
    if (barrier_after_resend_) {  // no next connection: counted as answered
      barrier_after_resend_ = false;
      publish_answered(cfg_ticket_);
    }
    return;
  }
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
  r->impl->on_frame(r->conn, message);
}

void on_ws_closed(SoupWebsocketConnection *ws, gpointer data) {
  auto *r = static_cast<ConnRef *>(data);
  r->impl->flush_held_frame(r->conn);  // it came before the close
  int code = soup_websocket_connection_get_close_code(ws);
  const char *cd = soup_websocket_connection_get_close_data(ws);
  detail::CloseCause cause =
      detail::describe_close(code, redact(cd ? cd : "", r->impl->secrets_), r->conn->local_error_code, r->conn->local_error_msg);
  r->impl->conn_lost(r->conn, cause.reason, cause.fatal ? 1 : -1);
}

void on_ws_error(SoupWebsocketConnection *, GError *err, gpointer data) {
  auto *r = static_cast<ConnRef *>(data);
  r->impl->flush_held_frame(r->conn);  // it came before the error
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
  if (active_) tail_probe(now);
  // Half-open: frames go out but nothing proves the server reads them (no pong to the probes).
  if (active_ && cur_ && cur_->ws && !unconfirmed_.empty() && now - unconfirmed_.front().sent_us > limit) {
    maybe_probe();
    conn_lost(cur_.get(),
              "server stopped reading: input sent " + std::to_string((now - unconfirmed_.front().sent_us) / 1000) +
                  " ms ago is not proven read (no pong)",
              -1);
  }
}

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
  input_map_.reset();
  buffer_start_sess_ = 0;
  if (pending_commits_.unanswered() > 0 && active_) listener->on_commits_lost(static_cast<int>(pending_commits_.unanswered()));
  pending_commits_.clear();
  evtypes_.clear();
}

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

void Session::Impl::send_session_update(Conn *c, bool barrier) {
  Dialect d = c->dialect;
  SessionConfig cfg = scfg_;
  const SessionKind kind = ecfg_.endpoint.kind;  // one dispatch for all kinds: session_transcription.cc
  std::string id = send_event(c, detail::session_update_type_for(kind, d), [&](const std::string &eid) {
    return detail::build_session_update_for(kind, d, cfg, eid);
  });
  c->update_event_id = id;
  // Only the connection that carries the input answers tickets: a renewal connection (next_) has
  // read none of it. Every executed ticket goes to cur_ as well, and cur_'s unanswered ones are
  // published when it is retired at the switch.
  c->updates_unanswered.emplace_back(id, c == cur_.get() && !barrier_after_resend_ ? cfg_ticket_ : 0);
  c->update_marks[id] = {c->sent_off, barrier};
  if (c->updates_unanswered.size() > 1024) {  // bound (a server that never answers): count as answered
    c->update_marks.erase(c->updates_unanswered.front().first);
    publish_answered(c->updates_unanswered.front().second);
    c->updates_unanswered.pop_front();
  }
}

void Session::Impl::ack_update(Conn *c, const std::string &event_id) {
  if (!c || c->updates_unanswered.empty()) return;
  std::string id;
  uint64_t ticket = 0;
  if (event_id.empty()) {
    // session.updated answers the oldest session.update (the server handles events in order)
    c->reported_rejection.clear();  // accepted: a later rejection is news
    id = c->updates_unanswered.front().first;
    ticket = c->updates_unanswered.front().second;
    c->updates_unanswered.pop_front();
  } else {
    auto it = std::find_if(c->updates_unanswered.begin(), c->updates_unanswered.end(),
                           [&](const std::pair<std::string, uint64_t> &u) { return u.first == event_id; });
    if (it == c->updates_unanswered.end()) return;
    id = it->first;
    ticket = it->second;
    c->updates_unanswered.erase(it);
  }
  // The answer to a session.update proves the appends sent before it were read (in order).
  auto m = c->update_marks.find(id);
  if (m != c->update_marks.end()) {
    uint64_t off = m->second.sent_off;
    c->update_marks.erase(m);
    confirm(c, off);
  }
  // Published once the answer (session.updated, or the error) has been delivered to the listener
  // (see the frame handler): a caller that saw updates_answered() reach its ticket has also seen
  // the answer.
  answered_due_ = std::max(answered_due_, ticket);
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
  if (barrier_after_resend_ && cur_) {
    // the input of the lost connection is re-sent (run_queued sends it first): now a session.update
    // answers the tickets that connection left unanswered, and those executed since
    barrier_after_resend_ = false;
    pump_audio(cfg_ticket_mark_);  // the input pushed before the newest ticket, to its last byte
    send_session_update(cur_.get(), true);
  }
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

}  // namespace rtc
