// The process-wide network thread of the session engine (see the contract in session.h).
//
// One thread ("rtc-net") owns one GMainContext + GMainLoop and the SoupSession(s). libsoup-3 is
// not thread-safe, so every libsoup call of every Session runs on this thread. Other threads only
// attach GSources to the context (g_source_attach is thread-safe and wakes the loop), the same
// marshalling idea as gst-plugins-good's souphttpsrc (its session thread + idle sources).
//
// The thread is created lazily by the first user (Session::start()) and lives until process exit
// or until rtc::shutdown_network_thread() is called while no Session exists.
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <string>

namespace rtc {
namespace net {

// Starts the thread if needed and returns its context (never null).
GMainContext *context();
// True when called on the network thread.
bool on_thread();
// Schedules fn(data) on the network thread (never runs inline, even from the network thread).
// destroy(data) is called after fn, or at shutdown if fn never ran.
void post(GSourceFunc fn, gpointer data, GDestroyNotify destroy);
// A timer on the network thread; returns the attached source (caller owns one reference and must
// g_source_destroy + g_source_unref it, on the network thread).
GSource *add_timeout(unsigned ms, GSourceFunc fn, gpointer data, GDestroyNotify destroy);

// A shared ~1 s tick on the network thread: ONE timer for every registrant instead of one timer
// source per Session (the main context scans every attached source on each loop pass).
// Network thread only. fn(data) runs about once per second until it returns false or
// remove_tick(handle) is called; destroy(data) is called then (or at shutdown). Returns a handle.
using TickFn = bool (*)(gpointer data);
gpointer add_tick(TickFn fn, gpointer data, GDestroyNotify destroy);
void remove_tick(gpointer handle);

// Network thread only. The shared SoupSession for (proxy, ca_file): "" / "" is THE default
// session shared by all Sessions; a distinct proxy or CA file needs its own SoupSession (both are
// SoupSession-wide settings in libsoup-3), cached and reused, still on this one thread.
// Returns nullptr with *error set when the CA file cannot be loaded.
SoupSession *soup_session_for(const std::string &proxy, const std::string &ca_file, std::string *error);

// Called on the network thread when it shuts down, before the SoupSessions are released
// (e.g. to release connections still closing). Register once.
void add_shutdown_hook(void (*hook)());

// Alive-Session accounting, for shutdown_network_thread().
void session_created();
void session_destroyed();

}  // namespace net
}  // namespace rtc
