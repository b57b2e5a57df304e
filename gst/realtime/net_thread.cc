// The network threads of the engine. See net_thread.h.
#include "net_thread.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
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

}  // namespace

struct Loop {
  size_t index = 0;
  // Lifecycle, under Global::mu.
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  GThread *thread = nullptr;
  bool running = false;
  int bound = 0;  // Sessions bound to this loop (acquire_loop / release_loop)
  // This thread only.
  std::map<std::string, SoupSession *> soups;
  // post() queue: drained in FIFO order by ONE persistent source attached to ctx (instead of one
  // idle GSource per post: per-source attach/ref/prepare/check bookkeeping grows with the number
  // of sessions). The source is woken (ready time 0) only when the queue goes empty -> non-empty.
  std::mutex qmu;
  std::vector<PostItem> queue;  // under qmu
  GSource *post_src = nullptr;  // under qmu; null while no thread runs
  std::vector<PostItem> spare;  // this thread only (recycled batch storage)
  // Shared 1 s tick (this thread only).
  std::vector<Tick *> ticks;
  GSource *tick_src = nullptr;
  bool ticking = false;  // inside tick_dispatch: removals only mark, compacted afterwards
};

namespace {

struct Global {
  std::mutex mu;
  std::condition_variable cv;
  // shutdown_network_thread() is tearing the threads down: context() waits for it to finish and
  // then starts a new thread (never posts into a dying context).
  bool shutting_down = false;
  int sessions_alive = 0;
  std::vector<void (*)()> hooks;
  std::vector<Loop *> loops;  // fixed size once created; the Loops are never freed
};

Global &global() {
  // Deliberately leaked: sessions may be destroyed from static destructors.
  static Global *g = new Global;
  return *g;
}

thread_local Loop *tls_loop = nullptr;  // set on each network thread

size_t wanted_loops() {
  if (const char *e = g_getenv("RTC_NET_THREADS")) {
    long n = std::strtol(e, nullptr, 10);
    if (n >= 1 && n <= 16) return static_cast<size_t>(n);
  }
  // One per two cores: at scale the network threads do about half of the element's work, the
  // streaming threads (sources, src pad tasks) the other half. On 2 cores one thread measured
  // better than two (tests/benchmarks: same CPU, fewer late buffers at 300-400 sessions).
  return static_cast<size_t>(std::clamp(static_cast<int>(g_get_num_processors()) / 2, 1, 4));
}

// Under Global::mu.
void ensure_loops_locked(Global &g) {
  if (!g.loops.empty()) return;
  const size_t n = wanted_loops();
  for (size_t i = 0; i < n; i++) {
    auto *l = new Loop;
    l->index = i;
    g.loops.push_back(l);
  }
}

struct PostSource {
  GSource base;
  Loop *loop;
};

// Dispatch of the persistent post source: runs the batch queued so far (items posted meanwhile
// wait for the next loop pass, as an idle attached during a dispatch would).
gboolean post_dispatch(GSource *src, GSourceFunc, gpointer) {
  Loop &l = *reinterpret_cast<PostSource *>(src)->loop;
  std::vector<PostItem> batch = std::move(l.spare);
  batch.clear();
  {
    std::lock_guard<std::mutex> lk(l.qmu);
    batch.swap(l.queue);
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
    std::lock_guard<std::mutex> lk(l.qmu);
    if (l.queue.empty()) g_source_set_ready_time(src, 0);
    l.queue.insert(l.queue.end(), again.begin(), again.end());
  }
  batch.clear();
  l.spare = std::move(batch);
  return G_SOURCE_CONTINUE;
}

GSourceFuncs post_source_funcs = {nullptr, nullptr, post_dispatch, nullptr, nullptr, nullptr};

// On the loop's thread, at shutdown: destroys (without running) whatever is still queued.
void post_teardown(Loop &l) {
  std::vector<PostItem> rest;
  GSource *src = nullptr;
  {
    std::lock_guard<std::mutex> lk(l.qmu);
    rest.swap(l.queue);
    src = l.post_src;
    l.post_src = nullptr;
  }
  if (src) {
    g_source_destroy(src);
    g_source_unref(src);
  }
  for (const PostItem &it : rest)
    if (it.destroy) it.destroy(it.data);
  l.spare.clear();
  l.spare.shrink_to_fit();
}

void tick_free(Tick *t) {
  if (t->destroy) t->destroy(t->data);
  delete t;
}

void tick_stop_source(Loop &l) {
  if (!l.tick_src) return;
  g_source_destroy(l.tick_src);
  g_source_unref(l.tick_src);
  l.tick_src = nullptr;
}

gboolean tick_dispatch(gpointer data) {
  Loop &l = *static_cast<Loop *>(data);
  l.ticking = true;
  const size_t n = l.ticks.size();  // registered during this pass: first tick on the next one
  for (size_t i = 0; i < n; i++) {
    Tick *t = l.ticks[i];
    if (t->alive && !t->fn(t->data)) t->alive = false;
  }
  l.ticking = false;
  std::vector<Tick *> dead;
  auto keep = std::stable_partition(l.ticks.begin(), l.ticks.end(), [](Tick *t) { return t->alive; });
  dead.assign(keep, l.ticks.end());
  l.ticks.erase(keep, l.ticks.end());
  for (Tick *t : dead) tick_free(t);
  if (l.ticks.empty()) tick_stop_source(l);
  return G_SOURCE_CONTINUE;  // tick_stop_source() destroyed it if nobody is left
}

gboolean signal_running(gpointer data) {
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  static_cast<Loop *>(data)->running = true;
  g.cv.notify_all();
  return G_SOURCE_REMOVE;
}

gpointer thread_main(gpointer data) {
  Global &g = global();
  Loop &l = *static_cast<Loop *>(data);
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  {
    std::lock_guard<std::mutex> lk(g.mu);
    ctx = l.ctx;
    loop = l.loop;
  }
  tls_loop = &l;
  g_main_context_push_thread_default(ctx);
  GSource *src = g_idle_source_new();
  g_source_set_callback(src, signal_running, &l, nullptr);
  g_source_attach(src, ctx);
  g_source_unref(src);

  g_main_loop_run(loop);

  // Shutdown: abort whatever is pending, drop the sessions and run what is still queued.
  std::vector<void (*)()> hooks;
  {
    std::lock_guard<std::mutex> lk(g.mu);
    hooks = g.hooks;
  }
  for (auto h : hooks) h();
  for (auto &kv : l.soups) {
    soup_session_abort(kv.second);
    g_object_unref(kv.second);
  }
  l.soups.clear();
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  post_teardown(l);
  tick_stop_source(l);
  for (Tick *t : l.ticks) tick_free(t);
  l.ticks.clear();
  g_main_context_pop_thread_default(ctx);
  tls_loop = nullptr;
  return nullptr;
}

Loop &current_or_die(const char *what) {
  Loop *l = tls_loop;
  if (!l) g_error("rtc::net::%s called outside a network thread", what);
  return *l;
}

}  // namespace

size_t loop_count() {
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  ensure_loops_locked(g);
  return g.loops.size();
}

Loop *loop_at(size_t i) {
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  ensure_loops_locked(g);
  return g.loops[std::min(i, g.loops.size() - 1)];
}

Loop *acquire_loop() {
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  ensure_loops_locked(g);
  Loop *best = g.loops[0];
  for (Loop *l : g.loops)
    if (l->bound < best->bound) best = l;
  best->bound++;
  return best;
}

void release_loop(Loop *loop) {
  if (!loop) return;
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  if (loop->bound > 0) loop->bound--;
}

GMainContext *context(Loop *l) {
  Global &g = global();
  // The loop's own thread (e.g. a handler running during shutdown) keeps using its context.
  if (tls_loop == l) return l->ctx;
  std::unique_lock<std::mutex> lk(g.mu);
  g.cv.wait(lk, [&] { return !g.shutting_down; });
  if (!l->thread) {
    l->running = false;
    l->ctx = g_main_context_new();
    l->loop = g_main_loop_new(l->ctx, FALSE);
    {
      GSource *src = g_source_new(&post_source_funcs, sizeof(PostSource));
      reinterpret_cast<PostSource *>(src)->loop = l;
      g_source_set_priority(src, G_PRIORITY_DEFAULT);
      g_source_set_name(src, "rtc-net post queue");
      g_source_attach(src, l->ctx);
      std::lock_guard<std::mutex> qlk(l->qmu);
      l->post_src = src;  // one reference kept, released by post_teardown()
      if (!l->queue.empty()) g_source_set_ready_time(src, 0);
    }
    l->thread = g_thread_new("rtc-net", thread_main, l);
  }
  g.cv.wait(lk, [&] { return l->running; });
  return l->ctx;
}

Loop *current() { return tls_loop; }

void post(Loop *l, GSourceFunc fn, gpointer data, GDestroyNotify destroy) {
  context(l);  // starts the thread if needed (waits for a teardown in progress)
  {
    std::lock_guard<std::mutex> lk(l->qmu);
    if (l->post_src) {
      // wake only on empty -> non-empty (g_source_set_ready_time wakes the context)
      const bool was_empty = l->queue.empty();
      l->queue.push_back(PostItem{fn, data, destroy});
      if (was_empty) g_source_set_ready_time(l->post_src, 0);
      return;
    }
  }
  // The thread was torn down between context() and here: fn never runs.
  if (destroy) destroy(data);
}

gpointer add_tick(TickFn fn, gpointer data, GDestroyNotify destroy) {
  Loop &l = current_or_die("add_tick");
  auto *t = new Tick{fn, data, destroy, true};
  l.ticks.push_back(t);
  if (!l.tick_src) {
    l.tick_src = g_timeout_source_new(1000);
    g_source_set_name(l.tick_src, "rtc-net 1 s tick");
    g_source_set_callback(l.tick_src, tick_dispatch, &l, nullptr);
    g_source_attach(l.tick_src, l.ctx);
  }
  return t;
}

void remove_tick(gpointer handle) {
  Loop &l = current_or_die("remove_tick");
  auto *t = static_cast<Tick *>(handle);
  if (!t || !t->alive) return;
  t->alive = false;
  if (l.ticking) return;  // tick_dispatch() frees it after its pass
  auto it = std::find(l.ticks.begin(), l.ticks.end(), t);
  if (it == l.ticks.end()) return;  // not this thread's (contract violation): leave it to its owner
  l.ticks.erase(it);
  tick_free(t);
  if (l.ticks.empty()) tick_stop_source(l);
}

GSource *add_timeout(unsigned ms, GSourceFunc fn, gpointer data, GDestroyNotify destroy) {
  Loop &l = current_or_die("add_timeout");
  GSource *src = g_timeout_source_new(ms);
  g_source_set_callback(src, fn, data, destroy);
  g_source_attach(src, l.ctx);
  return src;
}

SoupSession *soup_session_for(const std::string &proxy, const std::string &ca_file, std::string *error) {
  Loop &l = current_or_die("soup_session_for");
  std::string key = proxy + '\n' + ca_file;
  auto it = l.soups.find(key);
  if (it != l.soups.end()) return it->second;

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
  l.soups.emplace(key, ss);
  return ss;
}

void add_shutdown_hook(void (*hook)()) {
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  for (auto h : g.hooks)
    if (h == hook) return;
  g.hooks.push_back(hook);
}

void session_created() {
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  g.sessions_alive++;
}

void session_destroyed() {
  Global &g = global();
  std::lock_guard<std::mutex> lk(g.mu);
  g.sessions_alive--;
}

}  // namespace net

void shutdown_network_thread() {
  net::Global &g = net::global();
  std::vector<net::Loop *> stopping;
  {
    std::lock_guard<std::mutex> lk(g.mu);
    if (g.sessions_alive > 0 || g.shutting_down) return;
    if (net::tls_loop) return;  // never from a network thread itself
    for (net::Loop *l : g.loops)
      if (l->thread) stopping.push_back(l);
    if (stopping.empty()) return;
    // From here on context() waits until the teardown is complete: a Session started now gets a
    // new thread instead of posting into a dying context.
    g.shutting_down = true;
    for (net::Loop *l : stopping) g_main_loop_quit(l->loop);
  }
  for (net::Loop *l : stopping) g_thread_join(l->thread);
  {
    std::lock_guard<std::mutex> lk(g.mu);
    for (net::Loop *l : stopping) {
      g_main_loop_unref(l->loop);
      g_main_context_unref(l->ctx);
      l->thread = nullptr;
      l->loop = nullptr;
      l->ctx = nullptr;
      l->running = false;
    }
    g.shutting_down = false;
  }
  g.cv.notify_all();
}

}  // namespace rtc
