// The process-wide network thread. See net_thread.h.
#include "net_thread.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "session.h"

namespace rtc {
namespace net {
namespace {

struct PostItem {
  GSourceFunc fn;
  gpointer data;
  GDestroyNotify destroy;
};

struct Tick {
  TickFn fn;
  gpointer data;
  GDestroyNotify destroy;
  bool alive;
};

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
  // post() queue: drained in FIFO order by ONE persistent source attached to ctx (instead of one
  // idle GSource per post: per-source attach/ref/prepare/check bookkeeping grew with the number
  // of sessions). The source is woken (ready time 0) only when the queue goes empty -> non-empty.
  std::mutex qmu;
  std::vector<PostItem> queue;  // under qmu
  GSource *post_src = nullptr;  // under qmu; null while no thread runs
  std::vector<PostItem> spare;  // network thread only (recycled batch storage)
  // shared 1 s tick (network thread only)
  std::vector<Tick *> ticks;
  GSource *tick_src = nullptr;
  bool ticking = false;  // inside tick_dispatch: removals only mark, compacted afterwards
};

NetState &state() {
  // Deliberately leaked: sessions may be destroyed from static destructors.
  static NetState *s = new NetState;
  return *s;
}

// Dispatch of the persistent post source: runs the batch queued so far (items posted meanwhile
// wait for the next loop pass, as an idle attached during a dispatch would).
gboolean post_dispatch(GSource *src, GSourceFunc, gpointer) {
  NetState &s = state();
  std::vector<PostItem> batch = std::move(s.spare);
  batch.clear();
  {
    std::lock_guard<std::mutex> lk(s.qmu);
    batch.swap(s.queue);
    g_source_set_ready_time(src, -1);  // the next post() into the now empty queue re-arms it
  }
  std::vector<PostItem> again;
  for (const PostItem &it : batch) {
    if (it.fn(it.data) != G_SOURCE_REMOVE) {
      again.push_back(it);  // G_SOURCE_CONTINUE: runs again on a later pass, as an idle would
      continue;
    }
    if (it.destroy) it.destroy(it.data);
  }
  if (!again.empty()) {
    std::lock_guard<std::mutex> lk(s.qmu);
    if (s.queue.empty()) g_source_set_ready_time(src, 0);
    s.queue.insert(s.queue.end(), again.begin(), again.end());
  }
  batch.clear();
  s.spare = std::move(batch);
  return G_SOURCE_CONTINUE;
}

GSourceFuncs post_source_funcs = {nullptr, nullptr, post_dispatch, nullptr, nullptr, nullptr};

// Network thread, at shutdown: destroys (without running) whatever is still queued.
void post_teardown() {
  NetState &s = state();
  std::vector<PostItem> rest;
  GSource *src = nullptr;
  {
    std::lock_guard<std::mutex> lk(s.qmu);
    rest.swap(s.queue);
    src = s.post_src;
    s.post_src = nullptr;
  }
  if (src) {
    g_source_destroy(src);
    g_source_unref(src);
  }
  for (const PostItem &it : rest)
    if (it.destroy) it.destroy(it.data);
  s.spare.clear();
  s.spare.shrink_to_fit();
}

void tick_free(Tick *t) {
  if (t->destroy) t->destroy(t->data);
  delete t;
}

void tick_stop_source() {
  NetState &s = state();
  if (!s.tick_src) return;
  g_source_destroy(s.tick_src);
  g_source_unref(s.tick_src);
  s.tick_src = nullptr;
}

gboolean tick_dispatch(gpointer) {
  NetState &s = state();
  s.ticking = true;
  const size_t n = s.ticks.size();  // registered during this pass: first tick on the next one
  for (size_t i = 0; i < n; i++) {
    Tick *t = s.ticks[i];
    if (t->alive && !t->fn(t->data)) t->alive = false;
  }
  s.ticking = false;
  std::vector<Tick *> dead;
  auto keep = std::stable_partition(s.ticks.begin(), s.ticks.end(), [](Tick *t) { return t->alive; });
  dead.assign(keep, s.ticks.end());
  s.ticks.erase(keep, s.ticks.end());
  for (Tick *t : dead) tick_free(t);
  if (s.ticks.empty()) tick_stop_source();
  return G_SOURCE_CONTINUE;  // tick_stop_source() destroyed it if nobody is left
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
  post_teardown();
  tick_stop_source();
  for (Tick *t : s.ticks) tick_free(t);
  s.ticks.clear();
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
    {
      GSource *src = g_source_new(&post_source_funcs, sizeof(GSource));
      g_source_set_priority(src, G_PRIORITY_DEFAULT);
      g_source_set_name(src, "rtc-net post queue");
      g_source_attach(src, s.ctx);
      std::lock_guard<std::mutex> qlk(s.qmu);
      s.post_src = src;  // one reference kept, released by post_teardown()
      if (!s.queue.empty()) g_source_set_ready_time(src, 0);
    }
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
  NetState &s = state();
  context();  // starts the thread if needed (waits for a teardown in progress)
  {
    std::lock_guard<std::mutex> lk(s.qmu);
    if (s.post_src) {
      // wake only on empty -> non-empty (g_source_set_ready_time wakes the context)
      if (s.queue.empty()) g_source_set_ready_time(s.post_src, 0);
      s.queue.push_back(PostItem{fn, data, destroy});
      return;
    }
  }
  // The thread was torn down between context() and here: fn never runs.
  if (destroy) destroy(data);
}

gpointer add_tick(TickFn fn, gpointer data, GDestroyNotify destroy) {
  NetState &s = state();
  auto *t = new Tick{fn, data, destroy, true};
  s.ticks.push_back(t);
  if (!s.tick_src) {
    s.tick_src = g_timeout_source_new(1000);
    g_source_set_name(s.tick_src, "rtc-net 1 s tick");
    g_source_set_callback(s.tick_src, tick_dispatch, nullptr, nullptr);
    g_source_attach(s.tick_src, context());
  }
  return t;
}

void remove_tick(gpointer handle) {
  NetState &s = state();
  auto *t = static_cast<Tick *>(handle);
  if (!t || !t->alive) return;
  t->alive = false;
  if (s.ticking) return;  // tick_dispatch() frees it after its pass
  s.ticks.erase(std::find(s.ticks.begin(), s.ticks.end(), t));
  tick_free(t);
  if (s.ticks.empty()) tick_stop_source();
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
