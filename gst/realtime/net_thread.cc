// The process-wide network thread. See net_thread.h.
#include "net_thread.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "session.h"

namespace rtc {
namespace net {
namespace {

struct NetState {
  std::mutex mu;
  std::condition_variable cv;
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  GThread *thread = nullptr;
  GThread *self = nullptr;  // written by the thread itself before it signals "running"
  bool running = false;
  // shutdown_network_thread() is tearing the thread down: context() waits for it to finish and
  // then starts a new thread (never posts into the dying context).
  bool shutting_down = false;
  int sessions_alive = 0;
  // network thread only
  std::map<std::string, SoupSession *> soups;
  std::vector<void (*)()> hooks;  // under mu
};

NetState &state() {
  // Deliberately leaked: sessions may be destroyed from static destructors.
  static NetState *s = new NetState;
  return *s;
}

gboolean signal_running(gpointer) {
  NetState &s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.running = true;
  s.cv.notify_all();
  return G_SOURCE_REMOVE;
}

gpointer thread_main(gpointer data) {
  NetState &s = state();
  auto *ctx = static_cast<GMainContext *>(data);
  GMainLoop *loop = nullptr;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    s.self = g_thread_self();
    loop = s.loop;
  }
  g_main_context_push_thread_default(ctx);
  GSource *src = g_idle_source_new();
  g_source_set_callback(src, signal_running, nullptr, nullptr);
  g_source_attach(src, ctx);
  g_source_unref(src);

  g_main_loop_run(loop);

  // Shutdown: abort whatever is pending, drop the sessions and run what is still queued.
  std::vector<void (*)()> hooks;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    hooks = s.hooks;
  }
  for (auto h : hooks) h();
  for (auto &kv : s.soups) {
    soup_session_abort(kv.second);
    g_object_unref(kv.second);
  }
  s.soups.clear();
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  g_main_context_pop_thread_default(ctx);
  return nullptr;
}

}  // namespace

GMainContext *context() {
  NetState &s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  // The network thread itself (e.g. a handler running during shutdown) keeps using its context.
  if (s.thread && s.self == g_thread_self()) return s.ctx;
  s.cv.wait(lk, [&] { return !s.shutting_down; });
  if (!s.thread) {
    s.running = false;
    s.ctx = g_main_context_new();
    s.loop = g_main_loop_new(s.ctx, FALSE);
    s.thread = g_thread_new("rtc-net", thread_main, s.ctx);
  }
  s.cv.wait(lk, [&] { return s.running; });
  return s.ctx;
}

bool on_thread() {
  NetState &s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.thread && s.self == g_thread_self();
}

void post(GSourceFunc fn, gpointer data, GDestroyNotify destroy) {
  GSource *src = g_idle_source_new();
  g_source_set_priority(src, G_PRIORITY_DEFAULT);
  g_source_set_callback(src, fn, data, destroy);
  g_source_attach(src, context());
  g_source_unref(src);
}

GSource *add_timeout(unsigned ms, GSourceFunc fn, gpointer data, GDestroyNotify destroy) {
  GSource *src = g_timeout_source_new(ms);
  g_source_set_callback(src, fn, data, destroy);
  g_source_attach(src, context());
  return src;
}

SoupSession *soup_session_for(const std::string &proxy, const std::string &ca_file, std::string *error) {
  NetState &s = state();
  std::string key = proxy + '\n' + ca_file;
  auto it = s.soups.find(key);
  if (it != s.soups.end()) return it->second;

  // WebSocket connections are stolen from the connection pool after the upgrade, but concurrent
  // handshakes count: hundreds of sessions to one host must not be serialized 2 by 2.
  SoupSession *ss = soup_session_new_with_options("max-conns", G_MAXINT, "max-conns-per-host", G_MAXINT,
                                                  "user-agent", "gst-realtimeconv/0.1", nullptr);
  if (!proxy.empty()) {
    // as souphttpsrc: a simple resolver that sends everything through the given proxy
    GProxyResolver *res = g_simple_proxy_resolver_new(proxy.c_str(), nullptr);
    soup_session_set_proxy_resolver(ss, res);
    g_object_unref(res);
  }
  if (!ca_file.empty()) {
    GError *err = nullptr;
    GTlsDatabase *db = g_tls_file_database_new(ca_file.c_str(), &err);
    if (!db) {
      if (error) *error = std::string("cannot load ssl-ca-file: ") + (err ? err->message : "unknown error");
      g_clear_error(&err);
      g_object_unref(ss);
      return nullptr;
    }
    soup_session_set_tls_database(ss, db);
    g_object_unref(db);
  }
  s.soups.emplace(key, ss);
  return ss;
}

void add_shutdown_hook(void (*hook)()) {
  NetState &s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  for (auto h : s.hooks)
    if (h == hook) return;
  s.hooks.push_back(hook);
}

void session_created() {
  NetState &s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.sessions_alive++;
}

void session_destroyed() {
  NetState &s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.sessions_alive--;
}

}  // namespace net

void shutdown_network_thread() {
  net::NetState &s = net::state();
  GThread *th = nullptr;
  GMainLoop *loop = nullptr;
  GMainContext *ctx = nullptr;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (!s.thread || s.sessions_alive > 0 || s.shutting_down) return;
    if (s.self == g_thread_self()) return;  // never from the network thread itself
    // From here on context() waits until the teardown is complete: a Session created now
    // gets a new thread instead of posting into the dying context.
    s.shutting_down = true;
    th = s.thread;
    loop = s.loop;
    ctx = s.ctx;
    g_main_loop_quit(loop);
  }
  g_thread_join(th);
  g_main_loop_unref(loop);
  g_main_context_unref(ctx);
  {
    std::lock_guard<std::mutex> lk(s.mu);
    s.thread = nullptr;
    s.self = nullptr;
    s.loop = nullptr;
    s.ctx = nullptr;
    s.running = false;
    s.shutting_down = false;
  }
  s.cv.notify_all();
}

}  // namespace rtc
