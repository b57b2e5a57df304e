// rtcgst::PrerollWatch (see rtcprerollwatch.h).
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rtcprerollwatch.h"

#include <gst/base/gstbasesink.h>

#include <string>
#include <vector>

namespace rtcgst {

void PrerollWatch::push_begin(int pad, int64_t now_us) {
  std::lock_guard<std::mutex> g(mu_);
  pad_ = pad;
  since_ = now_us;
  reported_ = false;
}

void PrerollWatch::push_end() {
  std::lock_guard<std::mutex> g(mu_);
  pad_ = -1;
}

void PrerollWatch::reset() {
  std::lock_guard<std::mutex> g(mu_);
  pad_ = -1;
  reported_ = false;
}

bool PrerollWatch::check(int64_t now_us, bool to_playing, int *pad, int64_t *blocked_us) {
  std::lock_guard<std::mutex> g(mu_);
  if (pad_ < 0 || reported_ || !to_playing || now_us - since_ < kBlockedUs) return false;
  reported_ = true;
  if (pad) *pad = pad_;
  if (blocked_us) *blocked_us = now_us - since_;
  return true;
}

bool pipeline_prerolling_to_playing(GstElement *element) {
  GstObject *top = GST_OBJECT(gst_object_ref(element));
  for (GstObject *parent; (parent = gst_object_get_parent(top)) != nullptr;) {
    gst_object_unref(top);
    top = parent;
  }
  GST_OBJECT_LOCK(top);
  const bool target_playing = GST_STATE_TARGET(top) == GST_STATE_PLAYING;
  GST_OBJECT_UNLOCK(top);
  gst_object_unref(top);
  GST_OBJECT_LOCK(element);
  const bool playing = GST_STATE(element) == GST_STATE_PLAYING;
  GST_OBJECT_UNLOCK(element);
  return target_playing && !playing;
}

namespace {

struct Ctx {
  GstElement *element;
  PrerollWatch *watch;  // owned by the element (alive while the element is)
  std::vector<GstPad *> pads;
};

void ctx_free(gpointer data) {
  Ctx *c = static_cast<Ctx *>(data);
  for (GstPad *p : c->pads) gst_object_unref(p);
  gst_object_unref(c->element);
  delete c;
}

// A src pad whose peer is a sink: no queue (no thread of its own) in between.
bool feeds_sink_directly(GstPad *pad) {
  GstPad *peer = gst_pad_get_peer(pad);
  if (!peer) return false;
  GstObject *parent = gst_pad_get_parent(peer);
  const bool sink = parent && GST_IS_BASE_SINK(parent);
  if (parent) gst_object_unref(parent);
  gst_object_unref(peer);
  return sink;
}

gboolean on_tick(GstClock *, GstClockTime, GstClockID, gpointer data) {
  Ctx *c = static_cast<Ctx *>(data);
  int pad = -1;
  int64_t blocked = 0;
  if (!c->watch->check(g_get_monotonic_time(), pipeline_prerolling_to_playing(c->element), &pad, &blocked))
    return TRUE;
  if (pad < 0 || pad >= (int)c->pads.size()) return TRUE;
  std::string direct;
  for (GstPad *p : c->pads)
    if (feeds_sink_directly(p)) direct += std::string(direct.empty() ? "" : ", ") + GST_PAD_NAME(p);
  const char *blocked_name = GST_PAD_NAME(c->pads[(size_t)pad]);
  // No lock of the element is held here (system clock thread).
  GST_ELEMENT_WARNING(c->element, CORE, PAD,
      ("Pushing on pad '%s' has been blocked for %.1f s while the pipeline prerolls: the sinks of the "
       "other src pads cannot preroll (all src pads share one streaming thread). Add a queue after each "
       "src pad (e.g. name.%s ! queue ! sink).",
       blocked_name, (double)blocked / 1e6, blocked_name),
      ("blocked pad: %s; src pads linked straight to a sink (no queue): %s", blocked_name,
       direct.empty() ? "none" : direct.c_str()));
  return TRUE;
}

}  // namespace

GstClockID preroll_watch_start(GstElement *element, PrerollWatch *watch, GstPad *const *pads, int n_pads,
                               bool reset) {
  if (reset) watch->reset();
  GstClock *clock = gst_system_clock_obtain();
  GstClockID id = gst_clock_new_periodic_id(clock, gst_clock_get_time(clock) + PrerollWatch::kCheckIntervalUs * GST_USECOND,
                                            PrerollWatch::kCheckIntervalUs * GST_USECOND);
  gst_object_unref(clock);
  if (!id) return nullptr;
  Ctx *c = new Ctx{GST_ELEMENT(gst_object_ref(element)), watch, {}};
  for (int i = 0; i < n_pads; i++) c->pads.push_back(GST_PAD(gst_object_ref(pads[i])));
  if (gst_clock_id_wait_async(id, on_tick, c, ctx_free) != GST_CLOCK_OK) {
    gst_clock_id_unref(id);  // frees the context (destroy notify)
    return nullptr;
  }
  return id;
}

void preroll_watch_stop(GstClockID *timer) {
  if (!*timer) return;
  gst_clock_id_unschedule(*timer);
  gst_clock_id_unref(*timer);
  *timer = nullptr;
}

}  // namespace rtcgst
