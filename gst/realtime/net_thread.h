// The network threads of the session engine (see the contract in session.h).
//
// The engine runs a small fixed pool of network threads ("rtc-net"): one per two CPU cores, at
// least 1 and at most 4 (RTC_NET_THREADS=1..16 overrides). Each owns one GMainContext + GMainLoop and its own
// SoupSession(s). A Session is bound to one of them (the least loaded, when it is created) for its
// whole life, and every libsoup call of that Session runs on that thread: libsoup-3 is not
// thread-safe, and no libsoup object is ever shared between two threads. Other threads only queue
// work for a thread (post()), the same marshalling idea as gst-plugins-good's souphttpsrc (its
// session thread + idle sources).
//
// Why several: each pass of a GMainContext scans every source attached to it and polls every
// socket, so with one thread the cost of a wake-up grows with the number of sessions (hundreds of
// sessions per process); splitting them also lets two cores receive and send at once.
//
// A thread is created lazily by the first user (Session::start()) and lives until process exit or
// until rtc::shutdown_network_thread() is called while no Session exists.
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <cstddef>
#include <string>

namespace rtc {
namespace net {

struct Loop;  // one network thread

// Number of network threads of this process (fixed at first use).
size_t loop_count();
// The i-th network thread (i < loop_count()); its thread starts on first use.
Loop *loop_at(size_t i);

// Binds a new Session: the loop with the fewest bound Sessions. release_loop() when it is gone.
Loop *acquire_loop();
void release_loop(Loop *loop);

// Starts the loop's thread if needed and returns its context (never null).
GMainContext *context(Loop *loop);
// The loop of the calling network thread (nullptr on any other thread).
Loop *current();
// Schedules fn(data) on the loop's thread (never runs inline, even from that thread).
// destroy(data) is called after fn, or at shutdown if fn never ran.
void post(Loop *loop, GSourceFunc fn, gpointer data, GDestroyNotify destroy);

// The functions below are for the network threads only: they act on the calling thread's loop.

// A timer; returns the attached source (caller owns one reference and must g_source_destroy +
// g_source_unref it, on the same thread).
GSource *add_timeout(unsigned ms, GSourceFunc fn, gpointer data, GDestroyNotify destroy);

// A shared ~1 s tick: ONE timer for every registrant of the thread instead of one timer source
// per Session (the main context scans every attached source on each loop pass). fn(data) runs
// about once per second until it returns false or remove_tick(handle) is called; destroy(data) is
// called then (or at shutdown). Returns a handle.
using TickFn = bool (*)(gpointer data);
gpointer add_tick(TickFn fn, gpointer data, GDestroyNotify destroy);
void remove_tick(gpointer handle);

// The thread's SoupSession for (proxy, ca_file): "" / "" is the default one shared by all
// Sessions of the thread; a distinct proxy or CA file needs its own SoupSession (both are
// SoupSession-wide settings in libsoup-3), cached and reused. Returns nullptr with *error set
// when the CA file cannot be loaded.
SoupSession *soup_session_for(const std::string &proxy, const std::string &ca_file, std::string *error);

// Called on EACH network thread when it shuts down, before its SoupSessions are released (e.g. to
// release that thread's connections still closing). Register once; any thread.
void add_shutdown_hook(void (*hook)());

// Alive-Session accounting, for shutdown_network_thread().
void session_created();
void session_destroyed();

}  // namespace net
}  // namespace rtc
