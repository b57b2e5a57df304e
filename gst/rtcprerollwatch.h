// rtcgst::PrerollWatch: detects the "no queue after a src pad" deadlock of realtimeconv (issue 12
// defect 7; docs/reliability.md "Preroll watch").
//
// realtimeconv pushes its three src pads (src, transcript_src, input_transcript_src) from ONE
// streaming thread. A sink linked directly to one of them blocks that thread in its preroll
// (gst_base_sink_wait_preroll) until the pipeline reaches PLAYING; the pipeline only gets there
// once every sink has prerolled, and the sinks on the other pads never get data: a silent hang.
// A queue after each src pad gives each sink its own thread and removes the deadlock.
//
// Rule (pure, unit-tested in tests/element/test_reliability.cc): a push that has been blocked for
// kBlockedUs while the pipeline is on its way to PLAYING (its target state is PLAYING and this
// element is not PLAYING yet) is reported once (per push). A paused pipeline (target PAUSED) is
// never reported: blocking in preroll is what PAUSED means. A push blocked in a full queue while
// PLAYING is back-pressure, not preroll, and is not reported either.
//
// Thread-safe: push_begin()/push_end() come from the src task, check() from a timer thread.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <mutex>

namespace rtcgst {

class PrerollWatch {
 public:
  static constexpr int64_t kBlockedUs = 2000000;  // 2 s blocked: reported within ~2.5 s
  static constexpr int64_t kCheckIntervalUs = 500000;

  void push_begin(int pad, int64_t now_us);
  void push_end();
  void reset();
  // True (once per blocked push) when the push in progress on *pad has been blocked for
  // kBlockedUs and `to_playing` (the pipeline waits for its sinks to preroll on the way to
  // PLAYING). *blocked_us: for how long.
  bool check(int64_t now_us, bool to_playing, int *pad, int64_t *blocked_us);

 private:
  std::mutex mu_;
  int pad_ = -1;
  int64_t since_ = 0;
  bool reported_ = false;
};

// GStreamer glue: a periodic timer on the system clock (its own thread; nothing is polled on the
// streaming threads) that runs check() for `element` and posts a CORE/PAD WARNING naming the
// blocked pad, the src pads linked straight to a sink, and the fix. `pads`: the src pads by index
// (as given to push_begin()). The timer holds a reference on the element; stop it with
// preroll_watch_stop() (e.g. PAUSED -> PLAYING: only a pipeline on its way to PLAYING is watched).
// `reset`: forget the push in progress (a new start); false when resuming the watch (PLAYING ->
// PAUSED), so that a push already blocked counts from its start. Returns the timer id (nullptr on
// failure).
GstClockID preroll_watch_start(GstElement *element, PrerollWatch *watch, GstPad *const *pads, int n_pads,
                               bool reset = true);
void preroll_watch_stop(GstClockID *timer);

// Whether the pipeline containing `element` is prerolling on its way to PLAYING: the top-level
// bin's target state is PLAYING and `element` is not PLAYING yet.
bool pipeline_prerolling_to_playing(GstElement *element);

}  // namespace rtcgst
