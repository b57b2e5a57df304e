// Test helpers for the session engine: a realtime-emulator process per test, its --log reader,
// a recording SessionListener, and test audio.
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <algorithm>
#include <map>
#include <set>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "session.h"

namespace rtctest {

using namespace std::chrono_literals;

inline std::string env_or(const char *name, const std::string &def) {
  const char *v = g_getenv(name);
  return v && *v ? v : def;
}

inline std::string make_temp_dir() {
  char *d = g_dir_make_tmp("rtc-engine-XXXXXX", nullptr);
  std::string s = d ? d : "/tmp";
  g_free(d);
  return s;
}

// One event of the emulator's --log (one JSON object per line).
struct LogEntry {
  std::string dir;      // in | out | conn
  std::string session;  // sess_...
  std::string type;     // event type (in/out), or "what" (conn)
  std::string json;     // the event object as text
  JsonNode *node = nullptr;  // owned copy of the event object (or the whole line for conn)
};

class EmulatorLog {
 public:
  ~EmulatorLog() { clear(); }
  void clear() {
    for (auto &e : entries) json_node_unref(e.node);
    entries.clear();
  }
  bool load(const std::string &path) {
    clear();
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      JsonParser *p = json_parser_new();
      if (json_parser_load_from_data(p, line.c_str(), -1, nullptr)) {
        JsonNode *root = json_parser_get_root(p);
        if (JSON_NODE_HOLDS_OBJECT(root)) {
          JsonObject *o = json_node_get_object(root);
          LogEntry e;
          e.dir = json_object_get_string_member_with_default(o, "dir", "");
          e.session = json_object_get_string_member_with_default(o, "session", "");
          if (json_object_has_member(o, "event") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "event"))) {
            JsonNode *ev = json_object_get_member(o, "event");
            e.node = json_node_copy(ev);
            e.type = json_object_get_string_member_with_default(json_node_get_object(ev), "type", "");
            char *s = json_to_string(ev, FALSE);
            e.json = s;
            g_free(s);
          } else {
            e.node = json_node_copy(root);
            e.type = json_object_get_string_member_with_default(o, "what", "");
            e.json = line;
          }
          entries.push_back(e);
        }
      }
      g_object_unref(p);
    }
    return true;
  }
  std::vector<const LogEntry *> find(const std::string &dir, const std::string &type) const {
    std::vector<const LogEntry *> r;
    for (auto &e : entries)
      if (e.dir == dir && (type.empty() || e.type == type)) r.push_back(&e);
    return r;
  }
  std::vector<std::string> sessions() const {  // in order of first appearance
    std::vector<std::string> r;
    for (auto &e : entries)
      if (!e.session.empty() && std::find(r.begin(), r.end(), e.session) == r.end()) r.push_back(e.session);
    return r;
  }
  std::vector<LogEntry> entries;
};

// Member access helpers on a JsonNode object
inline JsonObject *obj(JsonNode *n) { return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr; }
inline std::string str_member(JsonNode *n, const char *k) {
  JsonObject *o = obj(n);
  if (!o || !json_object_has_member(o, k)) return {};
  JsonNode *m = json_object_get_member(o, k);
  if (!JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_STRING) return {};
  return json_node_get_string(m);
}
inline int64_t int_member(JsonNode *n, const char *k, int64_t def = -1) {
  JsonObject *o = obj(n);
  if (!o || !json_object_has_member(o, k)) return def;
  JsonNode *m = json_object_get_member(o, k);
  if (!JSON_NODE_HOLDS_VALUE(m)) return def;
  return json_node_get_int(m);
}

class Emulator {
 public:
  ~Emulator() { stop(); }
  // Starts RTC_EMULATOR --port 0 --log <tmp>/events.jsonl + args. False when unavailable.
  bool start(const std::vector<std::string> &args, std::string *err = nullptr) {
    std::string exe = env_or("RTC_EMULATOR", "");
    if (exe.empty()) {
      if (err) *err = "RTC_EMULATOR not set";
      return false;
    }
    dir_ = make_temp_dir();
    log_path = dir_ + "/events.jsonl";
    std::vector<std::string> argv_s = {exe, "--port", "0", "--log", log_path};
    for (auto &a : args) argv_s.push_back(a);
    std::vector<char *> argv;
    for (auto &a : argv_s) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    GError *e = nullptr;
    gint out_fd = -1;
    if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD, nullptr, nullptr, &pid_,
                                  nullptr, &out_fd, nullptr, &e)) {
      if (err) *err = e ? e->message : "spawn failed";
      g_clear_error(&e);
      return false;
    }
    out_fd_ = out_fd;
    // first stdout line: "listening on ws://127.0.0.1:PORT"
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      fd_set fds;
      FD_ZERO(&fds);
      FD_SET(out_fd_, &fds);
      timeval tv{0, 100000};
      if (select(out_fd_ + 1, &fds, nullptr, nullptr, &tv) <= 0) continue;
      char c;
      ssize_t n = read(out_fd_, &c, 1);
      if (n <= 0) break;
      if (c == '\n') break;
      line.push_back(c);
    }
    auto p = line.find("wss://");
    if (p == std::string::npos) p = line.find("ws://");
    if (p == std::string::npos) {
      if (err) *err = "emulator did not start: '" + line + "'";
      stop();
      return false;
    }
    url = line.substr(p);
    while (!url.empty() && (url.back() == '\r' || url.back() == ' ')) url.pop_back();
    // drain further stdout in the background so the emulator never blocks on a full pipe
    drain_ = std::thread([fd = out_fd_] {
      char buf[4096];
      while (read(fd, buf, sizeof buf) > 0) {
      }
    });
    return true;
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50; i++) {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = 0;
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
      if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      g_spawn_close_pid(pid_);
      pid_ = 0;
    }
    if (drain_.joinable()) drain_.join();
    if (out_fd_ >= 0) {
      close(out_fd_);
      out_fd_ = -1;
    }
  }
  EmulatorLog log() const {
    EmulatorLog l;
    l.load(log_path);
    return l;
  }
  std::string url, log_path;
  std::string dir() const { return dir_; }

 private:
  GPid pid_ = 0;
  int out_fd_ = -1;
  std::thread drain_;
  std::string dir_;
};

// Records everything; wait_until() with deadlines.
class Recorder : public rtc::SessionListener {
 public:
  struct Ev {
    rtc::ServerEvent ev;
    rtc::EventContext ctx;
  };
  uint8_t *alloc_audio(size_t max_bytes, void **handle) override {
    check_alive();
    auto *v = new std::vector<uint8_t>(max_bytes);
    *handle = v;
    return v->data();
  }
  void on_audio(void *handle, size_t bytes, const rtc::AudioDeltaInfo &info) override {
    check_alive();
    auto *v = static_cast<std::vector<uint8_t> *>(handle);
    {
      std::lock_guard<std::mutex> lk(mu);
      audio_bytes += bytes;
      audio_by_item[info.item_id] += static_cast<int64_t>(bytes);
      audio_deltas++;
      if (info.item_offset_bytes != audio_by_item[info.item_id] - static_cast<int64_t>(bytes)) offset_mismatch++;
      last_audio_item = info.item_id;
      last_audio_response = info.response_id;
    }
    delete v;
    cv.notify_all();
    if (audio_hook) audio_hook(info);
  }
  void free_audio(void *handle) override { delete static_cast<std::vector<uint8_t> *>(handle); }
  void on_state(rtc::SessionState s, const std::string &) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      states.push_back(s);
    }
    cv.notify_all();
  }
  void on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      events.push_back(Ev{ev, ctx});
      thread_ids.insert(std::this_thread::get_id());
    }
    cv.notify_all();
    if (event_hook) event_hook(ev);
  }
  void on_error(const rtc::SessionError &e) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      errors.push_back(e);
    }
    cv.notify_all();
  }
  void on_function_call(const rtc::FunctionCall &c) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      calls.push_back(c);
    }
    cv.notify_all();
    if (call_hook) call_hook(c);
  }
  void on_reconnecting(int attempt, int delay_ms, const std::string &reason) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      reconnecting.push_back({attempt, delay_ms, reason});
    }
    cv.notify_all();
  }
  void on_commits_lost(int n) override {
    check_alive();
    commits_lost += n;
  }
  void on_reconnected(int n, bool planned) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      reconnected.push_back({n, planned});
    }
    cv.notify_all();
  }
  void on_input_dropped(int64_t first, int64_t samples) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      drops.push_back({first, samples});
    }
    cv.notify_all();
  }
  void on_log(rtc::LogLevel lvl, const std::string &msg) override {
    check_alive();
    {
      std::lock_guard<std::mutex> lk(mu);
      logs.push_back(msg);
      if (g_getenv("RTC_TEST_VERBOSE")) fprintf(stderr, "[engine %d] %s\n", static_cast<int>(lvl), msg.c_str());
    }
    if (log_hook) log_hook(msg);
  }
  bool has_log(const std::string &needle) {
    std::lock_guard<std::mutex> lk(mu);
    for (auto &l : logs)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }

  // Wait (bounded) until pred() holds; pred runs under the recorder lock.
  bool wait_until(const std::function<bool()> &pred, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, timeout, pred);
  }
  size_t count(rtc::ServerEventType t) const {  // call under lock or via wait_until
    size_t n = 0;
    for (auto &e : events)
      if (e.ev.type == t) n++;
    return n;
  }
  size_t count_locked(rtc::ServerEventType t) {
    std::lock_guard<std::mutex> lk(mu);
    return count(t);
  }
  std::vector<Ev> events_of(rtc::ServerEventType t) {
    std::lock_guard<std::mutex> lk(mu);
    std::vector<Ev> r;
    for (auto &e : events)
      if (e.ev.type == t) r.push_back(e);
    return r;
  }
  bool has_state(rtc::SessionState s) const {
    for (auto x : states)
      if (x == s) return true;
    return false;
  }
  // After stop(): any further callback is a contract violation.
  void mark_stopped() { stopped.store(true); }
  void check_alive() {
    if (stopped.load()) callbacks_after_stop++;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Ev> events;
  std::vector<rtc::SessionState> states;
  std::vector<rtc::SessionError> errors;
  std::vector<rtc::FunctionCall> calls;
  struct Reconnecting {
    int attempt, delay_ms;
    std::string reason;
  };
  std::vector<Reconnecting> reconnecting;
  std::vector<std::pair<int, bool>> reconnected;
  std::atomic<int> commits_lost{0};  // on_commits_lost, summed
  std::vector<std::pair<int64_t, int64_t>> drops;
  std::vector<std::string> logs;
  std::set<std::thread::id> thread_ids;
  std::map<std::string, int64_t> audio_by_item;
  std::string last_audio_item, last_audio_response;
  size_t audio_bytes = 0, audio_deltas = 0, offset_mismatch = 0;
  std::atomic<bool> stopped{false};
  std::atomic<int> callbacks_after_stop{0};
  std::function<void(const rtc::ServerEvent &)> event_hook;
  std::function<void(const rtc::FunctionCall &)> call_hook;
  std::function<void(const rtc::AudioDeltaInfo &)> audio_hook;
  std::function<void(const std::string &)> log_hook;  // network thread, outside the lock
};

// pcm16 24 kHz mono: a tone burst (speech for the emulator's energy VAD) or silence.
inline void append_tone(std::vector<uint8_t> &out, int ms, double freq = 440.0, double amp = 0.5, int rate = 24000) {
  int n = rate * ms / 1000;
  for (int i = 0; i < n; i++) {
    double v = amp * std::sin(2 * M_PI * freq * i / rate);
    int16_t s = static_cast<int16_t>(std::lround(v * 32767));
    out.push_back(static_cast<uint8_t>(s & 0xff));
    out.push_back(static_cast<uint8_t>((s >> 8) & 0xff));
  }
}
inline void append_silence(std::vector<uint8_t> &out, int ms, int rate = 24000) {
  out.insert(out.end(), static_cast<size_t>(rate * ms / 1000) * 2, 0);
}

// Pushes `audio` in odd-sized pieces (the engine must re-chunk arbitrary sizes).
inline void push_in_pieces(rtc::Session &s, const std::vector<uint8_t> &audio, size_t piece = 1237) {
  for (size_t off = 0; off < audio.size(); off += piece) s.push_audio(audio.data() + off, std::min(piece, audio.size() - off));
}

// Polls a condition of the session (not of the recorder, which notifies: use wait_until) with a
// deadline; the result says whether it became true, so a hang becomes a failure.
template <class F>
bool poll_until(F f, std::chrono::milliseconds t = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

inline rtc::EngineConfig engine_config(const std::string &url, rtc::DialectChoice dialect, const std::string &path = "") {
  rtc::EngineConfig c;
  c.endpoint.endpoint = url + path;
  c.endpoint.dialect = dialect;
  c.endpoint.api_key = "test-key";
  c.endpoint.use_env = false;
  c.session.voice = "alloy";
  c.session.instructions = "You are a test.";
  c.reconnect_base_ms = 100;
  c.reconnect_max_ms = 1000;
  c.connect_timeout_ms = 5000;
  c.ping_interval_ms = 1000;
  c.ping_timeout_ms = 4000;
  return c;
}

}  // namespace rtctest
