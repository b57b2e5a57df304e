// Test harness for realtime-emulator: runs the binary as a subprocess (env RTC_EMULATOR), talks
// to it through a minimal libsoup WebSocket client on the default GMainContext, and compares wire
// JSON with hand-written golden examples (never with the project's own builders/parsers).
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace emutest {

using NodeRef = std::shared_ptr<JsonNode>;

inline NodeRef parse(const std::string &text) {
  JsonParser *p = json_parser_new();
  NodeRef out;
  if (json_parser_load_from_data(p, text.c_str(), gssize(text.size()), nullptr) && json_parser_get_root(p))
    out = NodeRef(json_node_copy(json_parser_get_root(p)), json_node_unref);
  g_object_unref(p);
  return out;
}

inline std::string to_json(JsonNode *n) {
  gchar *s = json_to_string(n, FALSE);
  std::string r(s);
  g_free(s);
  return r;
}

// Spins the default main context until cond() or timeout. Returns cond().
inline bool spin_until(const std::function<bool()> &cond, int timeout_ms) {
  const gint64 deadline = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
  while (!cond()) {
    if (g_get_monotonic_time() >= deadline) return cond();
    // Wake up at least every 5 ms so the deadline is honoured.
    guint t = g_timeout_add(5, [](gpointer) -> gboolean { return G_SOURCE_REMOVE; }, nullptr);
    g_main_context_iteration(nullptr, TRUE);
    GSource *s = g_main_context_find_source_by_id(nullptr, t);
    if (s && !g_source_is_destroyed(s)) g_source_remove(t);
  }
  return true;
}

inline void spin_for(int ms) {
  spin_until([] { return false; }, ms);
}

// ------------------------------------------------------------------------------------------
// The emulator subprocess
// ------------------------------------------------------------------------------------------
class Emulator {
 public:
  explicit Emulator(std::vector<std::string> args = {}, bool add_port = true) {
    const char *bin = g_getenv("RTC_EMULATOR");
    if (!bin) {
      error = "RTC_EMULATOR is not set";
      return;
    }
    std::vector<std::string> argv_s = {bin};
    if (add_port) argv_s.push_back("--port=0");
    if (std::find_if(args.begin(), args.end(), [](const std::string &a) { return a.rfind("--voice", 0) == 0; }) ==
        args.end())
      argv_s.push_back("--voice=tone");
    for (auto &a : args) argv_s.push_back(a);
    std::vector<char *> argv;
    for (auto &a : argv_s) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    GError *e = nullptr;
    if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD, nullptr, nullptr, &pid_,
                                  nullptr, &out_fd_, nullptr, &e)) {
      error = e->message;
      g_error_free(e);
      return;
    }
    first_line = read_line(10000);
    const std::string prefix_ws = "listening on ws://", prefix_wss = "listening on wss://";
    std::string rest;
    if (first_line.rfind(prefix_ws, 0) == 0) rest = first_line.substr(prefix_ws.size());
    if (first_line.rfind(prefix_wss, 0) == 0) {
      rest = first_line.substr(prefix_wss.size());
      tls = true;
    }
    const size_t colon = rest.rfind(':');
    if (colon != std::string::npos) port = atoi(rest.c_str() + colon + 1);
    if (port <= 0) error = "bad first line: '" + first_line + "'";
  }
  ~Emulator() { stop(); }
  Emulator(const Emulator &) = delete;
  Emulator &operator=(const Emulator &) = delete;

  bool ok() const { return error.empty(); }
  std::string url(const std::string &path) const {
    return std::string(tls ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port) + path;
  }
  std::string http_url(const std::string &path) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path;
  }

  // Sends SIGTERM; returns the exit status (or -1 on timeout, then SIGKILL).
  int stop(int sig = SIGTERM, int timeout_ms = 5000) {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, sig);
    const gint64 deadline = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
    int status = 0;
    while (true) {
      // Keep the client side alive while the server closes its sockets.
      g_main_context_iteration(nullptr, FALSE);
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (g_get_monotonic_time() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        exit_status_ = -1;
        break;
      }
      g_usleep(2000);
    }
    g_spawn_close_pid(pid_);
    pid_ = 0;
    if (out_fd_ >= 0) close(out_fd_);
    out_fd_ = -1;
    return exit_status_;
  }

  std::string first_line, error;
  int port = 0;
  bool tls = false;

 private:
  std::string read_line(int timeout_ms) {
    std::string line;
    const gint64 deadline = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
    while (g_get_monotonic_time() < deadline) {
      GPollFD pfd = {out_fd_, G_IO_IN | G_IO_HUP, 0};
      if (g_poll(&pfd, 1, 100) <= 0) continue;
      char c;
      const ssize_t n = read(out_fd_, &c, 1);
      if (n <= 0) break;
      if (c == '\n') break;
      line.push_back(c);
    }
    return line;
  }
  GPid pid_ = 0;
  int out_fd_ = -1;
  int exit_status_ = -1;
};

// ------------------------------------------------------------------------------------------
// Plain HTTP request carrying WebSocket upgrade headers (to observe refusals before upgrade)
// ------------------------------------------------------------------------------------------
struct HttpResult {
  int status = 0;
  std::string body;
};

inline HttpResult http_upgrade_request(const std::string &url,
                                       const std::vector<std::pair<std::string, std::string>> &headers = {}) {
  HttpResult r;
  SoupSession *s = soup_session_new_with_options("timeout", 5, nullptr);
  SoupMessage *m = soup_message_new("GET", url.c_str());
  if (!m) {
    g_object_unref(s);
    return r;
  }
  SoupMessageHeaders *h = soup_message_get_request_headers(m);
  for (auto &kv : headers) soup_message_headers_append(h, kv.first.c_str(), kv.second.c_str());
  g_signal_connect(m, "accept-certificate",
                   G_CALLBACK(+[](SoupMessage *, GTlsCertificate *, GTlsCertificateFlags, gpointer) -> gboolean {
                     return TRUE;
                   }),
                   nullptr);
  GError *e = nullptr;
  GBytes *b = soup_session_send_and_read(s, m, nullptr, &e);
  r.status = int(soup_message_get_status(m));
  if (b) {
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(b, &n));
    r.body.assign(d ? d : "", n);
    g_bytes_unref(b);
  }
  g_clear_error(&e);
  g_object_unref(m);
  g_object_unref(s);
  return r;
}

// ------------------------------------------------------------------------------------------
// WebSocket client
// ------------------------------------------------------------------------------------------
struct Event {
  std::string type;
  std::string raw;
  NodeRef node;
  JsonObject *obj() const { return node && JSON_NODE_HOLDS_OBJECT(node.get()) ? json_node_get_object(node.get()) : nullptr; }
  std::string str(const char *path) const;  // dotted path, e.g. "error.code"
  int64_t num(const char *path) const;
  JsonNode *at(const char *path) const;
};

inline JsonNode *node_at(JsonNode *n, const std::string &path) {
  size_t pos = 0;
  while (n && pos <= path.size()) {
    const size_t dot = path.find('.', pos);
    const std::string key = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (key.empty()) break;
    if (JSON_NODE_HOLDS_OBJECT(n)) {
      JsonObject *o = json_node_get_object(n);
      n = json_object_has_member(o, key.c_str()) ? json_object_get_member(o, key.c_str()) : nullptr;
    } else if (JSON_NODE_HOLDS_ARRAY(n) && g_ascii_isdigit(key[0])) {
      JsonArray *a = json_node_get_array(n);
      const guint i = guint(atoi(key.c_str()));
      n = i < json_array_get_length(a) ? json_array_get_element(a, i) : nullptr;
    } else {
      n = nullptr;
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return n;
}

inline JsonNode *Event::at(const char *path) const { return node ? node_at(node.get(), path) : nullptr; }
inline std::string Event::str(const char *path) const {
  JsonNode *n = at(path);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return "<none>";
  return json_node_get_string(n);
}
inline int64_t Event::num(const char *path) const {
  JsonNode *n = at(path);
  if (!n || !JSON_NODE_HOLDS_VALUE(n)) return INT64_MIN;
  if (json_node_get_value_type(n) == G_TYPE_INT64) return json_node_get_int(n);
  if (json_node_get_value_type(n) == G_TYPE_DOUBLE) return int64_t(json_node_get_double(n));
  return INT64_MIN;
}

class Client {
 public:
  Client() { session_ = soup_session_new(); }
  ~Client() {
    if (conn_) {
      g_signal_handlers_disconnect_by_data(conn_, this);
      if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN) {
        soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
        spin_until([this] { return soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_CLOSED; }, 500);
      }
      g_object_unref(conn_);
    }
    g_object_unref(session_);
  }
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  // Returns true when the WebSocket is open. http_status = status of the handshake response.
  bool connect(const std::string &url, const std::vector<std::pair<std::string, std::string>> &headers = {},
               const std::vector<std::string> &protocols = {}, int timeout_ms = 5000) {
    SoupMessage *m = soup_message_new("GET", url.c_str());
    if (!m) return false;
    for (auto &kv : headers)
      soup_message_headers_append(soup_message_get_request_headers(m), kv.first.c_str(), kv.second.c_str());
    g_signal_connect(m, "accept-certificate",
                     G_CALLBACK(+[](SoupMessage *, GTlsCertificate *, GTlsCertificateFlags, gpointer) -> gboolean {
                       return TRUE;
                     }),
                     nullptr);
    std::vector<char *> protos;
    for (auto &p : protocols) protos.push_back(const_cast<char *>(p.c_str()));
    protos.push_back(nullptr);
    bool done = false;
    struct Ctx {
      Client *self;
      bool *done;
    } c{this, &done};
    soup_session_websocket_connect_async(
        session_, m, nullptr, protocols.empty() ? nullptr : protos.data(), G_PRIORITY_DEFAULT, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer d) {
          auto *cx = static_cast<Ctx *>(d);
          GError *e = nullptr;
          cx->self->conn_ = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &e);
          if (e) {
            cx->self->connect_error = e->message;
            g_error_free(e);
          }
          *cx->done = true;
        },
        &c);
    spin_until([&] { return done; }, timeout_ms);
    http_status = int(soup_message_get_status(m));
    g_object_unref(m);
    if (!done) {
      connect_error = "timeout";
      // The callback may still run later: leak-proof by spinning until done.
      spin_until([&] { return done; }, 5000);
    }
    if (!conn_) return false;
    soup_websocket_connection_set_max_incoming_payload_size(conn_, 64 * 1024 * 1024);
    soup_websocket_connection_set_keepalive_interval(conn_, 0);
    g_signal_connect(conn_, "message", G_CALLBACK(on_message), this);
    g_signal_connect(conn_, "closed", G_CALLBACK(on_closed), this);
    return true;
  }

  void send(const std::string &json) {
    if (conn_ && soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_send_text(conn_, json.c_str());
  }

  // Next event (in arrival order), or nullopt on timeout.
  std::optional<Event> next(int timeout_ms = 5000) {
    spin_until([this] { return !inbox_.empty() || closed; }, timeout_ms);
    if (inbox_.empty()) return std::nullopt;
    Event e = std::move(inbox_.front());
    inbox_.pop_front();
    return e;
  }

  // Collects events until one of type `type` (included) arrives. Fails the test on timeout.
  std::vector<Event> until(const std::string &type, int timeout_ms = 10000) {
    std::vector<Event> out;
    const gint64 deadline = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
    while (true) {
      const int left = int((deadline - g_get_monotonic_time()) / 1000);
      if (left <= 0) break;
      auto e = next(left);
      if (!e) break;
      out.push_back(*e);
      if (e->type == type) return out;
    }
    ADD_FAILURE() << "timed out waiting for " << type << " (got " << out.size() << " events"
                  << (out.empty() ? "" : ", last " + out.back().type) << ")";
    return out;
  }

  // Waits for an event of this type, skipping others (kept in `skipped` if given).
  std::optional<Event> wait_for(const std::string &type, int timeout_ms = 10000) {
    auto evs = until(type, timeout_ms);
    if (evs.empty() || evs.back().type != type) return std::nullopt;
    return evs.back();
  }

  // Everything that arrives within `ms`.
  std::vector<Event> drain(int ms) {
    std::vector<Event> out;
    spin_for(ms);
    while (!inbox_.empty()) {
      out.push_back(std::move(inbox_.front()));
      inbox_.pop_front();
    }
    return out;
  }

  bool wait_closed(int timeout_ms = 5000) {
    return spin_until([this] { return closed; }, timeout_ms);
  }

  SoupWebsocketConnection *conn() const { return conn_; }
  int http_status = 0;
  std::string connect_error;
  bool closed = false;
  int close_code = 0;
  std::vector<std::string> unparsable;  // text frames that are not JSON

 private:
  static void on_message(SoupWebsocketConnection *, gint type, GBytes *msg, gpointer d) {
    auto *self = static_cast<Client *>(d);
    gsize n = 0;
    const char *p = static_cast<const char *>(g_bytes_get_data(msg, &n));
    std::string text(p ? p : "", n);
    if (type != SOUP_WEBSOCKET_DATA_TEXT) return;
    Event e;
    e.raw = text;
    e.node = parse(text);
    if (!e.node) {
      self->unparsable.push_back(text);
      e.type = "<unparsable>";
    } else if (JsonObject *o = e.obj()) {
      if (json_object_has_member(o, "type")) e.type = json_object_get_string_member(o, "type");
    }
    self->inbox_.push_back(std::move(e));
  }
  static void on_closed(SoupWebsocketConnection *c, gpointer d) {
    auto *self = static_cast<Client *>(d);
    self->closed = true;
    self->close_code = soup_websocket_connection_get_close_code(c);
  }

  SoupSession *session_;
  SoupWebsocketConnection *conn_ = nullptr;
  std::deque<Event> inbox_;
};

// ------------------------------------------------------------------------------------------
// Golden matching
// ------------------------------------------------------------------------------------------
// Golden JSON is written by hand from the reference. Special string values:
//   "$any"           any value (member must exist)
//   "$string"        any string          "$prefix:abc"  string starting with "abc"
//   "$int"           any integer         "$number"      any number
//   "$bool"          any boolean         "$string|null" string or null
//   "$absent"        member must NOT exist
// Objects must have exactly the golden key set unless the golden object has "$partial": true.
inline std::string match(JsonNode *actual, JsonNode *golden, const std::string &path) {
  auto kind = [](JsonNode *n) -> std::string {
    if (!n) return "missing";
    if (JSON_NODE_HOLDS_NULL(n)) return "null";
    if (JSON_NODE_HOLDS_OBJECT(n)) return "object";
    if (JSON_NODE_HOLDS_ARRAY(n)) return "array";
    switch (json_node_get_value_type(n)) {
      case G_TYPE_STRING: return "string";
      case G_TYPE_INT64: return "int";
      case G_TYPE_DOUBLE: return "double";
      case G_TYPE_BOOLEAN: return "bool";
      default: return "value";
    }
  };
  const std::string gk = kind(golden), ak = kind(actual);
  if (gk == "string") {
    const std::string g = json_node_get_string(golden);
    if (g == "$absent") return actual ? path + ": expected absent" : "";
    if (!actual) return path + ": missing";
    if (g == "$any") return "";
    if (g == "$string") return ak == "string" ? "" : path + ": expected string, got " + ak;
    if (g == "$int") return ak == "int" ? "" : path + ": expected int, got " + ak;
    if (g == "$number") return (ak == "int" || ak == "double") ? "" : path + ": expected number, got " + ak;
    if (g == "$bool") return ak == "bool" ? "" : path + ": expected bool, got " + ak;
    if (g == "$string|null") return (ak == "string" || ak == "null") ? "" : path + ": expected string|null, got " + ak;
    if (g.rfind("$prefix:", 0) == 0) {
      if (ak != "string") return path + ": expected string, got " + ak;
      const std::string a = json_node_get_string(actual);
      return a.rfind(g.substr(8), 0) == 0 ? "" : path + ": '" + a + "' does not start with '" + g.substr(8) + "'";
    }
    if (ak != "string") return path + ": expected '" + g + "', got " + ak;
    const std::string a = json_node_get_string(actual);
    return a == g ? "" : path + ": expected '" + g + "', got '" + a + "'";
  }
  if (!actual) return path + ": missing";
  if (gk == "null") return ak == "null" ? "" : path + ": expected null, got " + ak;
  if (gk == "int" || gk == "double") {
    if (ak != "int" && ak != "double") return path + ": expected number, got " + ak;
    const double g = gk == "int" ? double(json_node_get_int(golden)) : json_node_get_double(golden);
    const double a = ak == "int" ? double(json_node_get_int(actual)) : json_node_get_double(actual);
    return std::fabs(g - a) < 1e-9 ? "" : path + ": expected " + std::to_string(g) + ", got " + std::to_string(a);
  }
  if (gk == "bool") {
    if (ak != "bool") return path + ": expected bool, got " + ak;
    return json_node_get_boolean(golden) == json_node_get_boolean(actual) ? "" : path + ": boolean differs";
  }
  if (gk == "array") {
    if (ak != "array") return path + ": expected array, got " + ak;
    JsonArray *g = json_node_get_array(golden), *a = json_node_get_array(actual);
    if (json_array_get_length(g) != json_array_get_length(a))
      return path + ": expected " + std::to_string(json_array_get_length(g)) + " elements, got " +
             std::to_string(json_array_get_length(a));
    for (guint i = 0; i < json_array_get_length(g); i++) {
      std::string r = match(json_array_get_element(a, i), json_array_get_element(g, i), path + "[" + std::to_string(i) + "]");
      if (!r.empty()) return r;
    }
    return "";
  }
  if (gk == "object") {
    if (ak != "object") return path + ": expected object, got " + ak;
    JsonObject *g = json_node_get_object(golden), *a = json_node_get_object(actual);
    const bool partial = json_object_has_member(g, "$partial");
    GList *gm = json_object_get_members(g);
    std::string r;
    for (GList *l = gm; l && r.empty(); l = l->next) {
      const char *k = static_cast<const char *>(l->data);
      if (!strcmp(k, "$partial")) continue;
      r = match(json_object_has_member(a, k) ? json_object_get_member(a, k) : nullptr, json_object_get_member(g, k),
                path + "." + k);
    }
    g_list_free(gm);
    if (!r.empty() || partial) return r;
    GList *am = json_object_get_members(a);
    for (GList *l = am; l && r.empty(); l = l->next) {
      const char *k = static_cast<const char *>(l->data);
      if (!json_object_has_member(g, k)) r = path + ": unexpected member '" + k + "'";
    }
    g_list_free(am);
    return r;
  }
  return path + ": unsupported golden";
}

#define EXPECT_GOLDEN(event, golden_text)                                                          \
  do {                                                                                             \
    auto _g = ::emutest::parse(golden_text);                                                       \
    ASSERT_TRUE(_g) << "bad golden JSON: " << golden_text;                                         \
    const std::string _r = ::emutest::match((event).node.get(), _g.get(), "$");                    \
    EXPECT_EQ(_r, "") << "event: " << (event).raw.substr(0, 2000);                                 \
  } while (0)

inline std::vector<std::string> types_of(const std::vector<Event> &evs) {
  std::vector<std::string> t;
  for (auto &e : evs) t.push_back(e.type);
  return t;
}

// ------------------------------------------------------------------------------------------
// Audio helpers (independent of the emulator's code)
// ------------------------------------------------------------------------------------------
// pcm16 24 kHz: `ms` of a sine of amplitude `amp` (0..1) or silence (amp 0).
inline std::vector<uint8_t> pcm16_tone(int samples, double amp, double freq = 440.0, int rate = 24000) {
  std::vector<uint8_t> out(size_t(samples) * 2);
  for (int i = 0; i < samples; i++) {
    const int16_t v = int16_t(std::lround(amp * 32767.0 * std::sin(2 * M_PI * freq * i / rate)));
    out[2 * size_t(i)] = uint8_t(uint16_t(v) & 0xFF);
    out[2 * size_t(i) + 1] = uint8_t(uint16_t(v) >> 8);
  }
  return out;
}

inline std::string b64(const std::vector<uint8_t> &d) {
  gchar *s = g_base64_encode(d.data(), d.size());
  std::string r(s);
  g_free(s);
  return r;
}

inline std::vector<uint8_t> unb64(const std::string &s) {
  gsize n = 0;
  guchar *d = g_base64_decode(s.c_str(), &n);
  std::vector<uint8_t> r(d, d + n);
  g_free(d);
  return r;
}

// Sends audio as appends of `chunk` bytes.
inline void append_audio(Client &c, const std::vector<uint8_t> &audio, size_t chunk = 4800) {
  for (size_t off = 0; off < audio.size(); off += chunk) {
    std::vector<uint8_t> part(audio.begin() + long(off), audio.begin() + long(std::min(audio.size(), off + chunk)));
    c.send("{\"type\":\"input_audio_buffer.append\",\"audio\":\"" + b64(part) + "\"}");
  }
}

}  // namespace emutest

namespace emutest {

// Connects to the GA or preview OpenAI path and consumes the session start events (§10.1).
inline bool open_session(Client &c, const Emulator &emu, bool preview, Event *created = nullptr,
                         const std::string &model = "") {
  const std::string m = model.empty() ? (preview ? "gpt-4o-realtime-preview" : "gpt-realtime") : model;
  std::vector<std::pair<std::string, std::string>> h = {{"Authorization", "Bearer sk-test"}};
  if (preview) h.push_back({"OpenAI-Beta", "realtime=v1"});
  if (!c.connect(emu.url("/v1/realtime?model=" + m), h)) return false;
  auto e = c.next();
  if (!e || e->type != "session.created") return false;
  if (created) *created = *e;
  if (preview) {
    auto conv = c.next();
    if (!conv || conv->type != "conversation.created") return false;
  }
  return true;
}

// session.update and wait for session.updated (returns it) — fails the test on error.
inline Event update_session(Client &c, const std::string &session_json) {
  c.send("{\"type\":\"session.update\",\"event_id\":\"evt_upd\",\"session\":" + session_json + "}");
  auto e = c.next();
  EXPECT_TRUE(e && e->type == "session.updated") << (e ? e->raw : "timeout");
  return e ? *e : Event{};
}

// Collapses runs of the given delta types into one entry "X*" to compare orders.
inline std::vector<std::string> collapse(const std::vector<Event> &evs) {
  std::vector<std::string> out;
  for (auto &e : evs) {
    std::string t = e.type;
    const bool delta = t.size() > 6 && t.compare(t.size() - 6, 6, ".delta") == 0;
    if (delta) {
      // transcript/audio deltas interleave: both collapse into one marker
      if (t.find("audio") != std::string::npos) t = "<audio+transcript deltas>";
      if (!out.empty() && out.back() == t) continue;
    }
    out.push_back(t);
  }
  return out;
}

inline std::vector<Event> without(const std::vector<Event> &evs, const std::string &prefix) {
  std::vector<Event> out;
  for (auto &e : evs)
    if (e.type.rfind(prefix, 0) != 0) out.push_back(e);
  return out;
}

}  // namespace emutest
