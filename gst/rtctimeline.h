// rtcgst::InputTimeline: the exact map between the samples realtimeconv gives the session engine
// (its "input stream timeline", counted from the first sample ever pushed, across reconnects,
// see rtc::EventContext) and the running time of the element's sink pad.
//
// Policy (documented in the element doc block):
//  * Contiguous input (next buffer starts where the previous one ended, within `tolerance`, 40 ms
//    as in audiobasesink / GstAudioStreamAlign) just extends the current piece: sample s maps to
//    anchor.rt + (s - anchor.sample) / rate. Live sources jitter by more than a millisecond.
//  * A larger discrepancy is only believed when the buffer is flagged DISCONT (or after a new
//    segment / flush, see mark_discont()), or when it has persisted for `discont_wait` (1 s) of
//    input: until then the input is taken as contiguous (the jitter of a live source does not
//    insert silence or start pieces).
//  * A hole (timestamp jump forward, DISCONT with a later timestamp, GAP event) is filled with
//    silence given to the engine, so the server's VAD hears the pause and the engine timeline
//    stays a sample-exact image of running time. At most kMaxFill is filled per hole; a longer
//    hole starts a new piece (anchor) after the filled part, so the map stays exact anyway.
//  * Overlap (timestamp jump backwards, e.g. after a flushing seek resets running time) starts a
//    new piece; the audio is never dropped.
//  * Small timestamp jitter (<= tolerance) is absorbed: the error stays bounded by `tolerance`
//    because every check is against the absolute anchor, so drift never accumulates.
//
// Not thread-safe: the element protects it with its state lock.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <vector>

namespace rtcgst {

class InputTimeline {
 public:
  static constexpr GstClockTime kMaxFill = 10 * GST_SECOND;
  static constexpr size_t kMaxAnchors = 4096;

  // Forget everything; samples start again at 0 with this rate (Hz).
  void reset(int rate);
  int rate() const { return rate_; }
  bool empty() const { return anchors_.empty(); }

  // A buffer of n samples whose first sample is at running time rt (GST_CLOCK_TIME_NONE: no
  // timestamp, contiguous with the previous one); `discont`: the buffer's DISCONT flag. Returns
  // the number of silence samples the caller must push to the engine BEFORE the buffer's samples
  // (hole filling).
  int64_t on_buffer(GstClockTime rt, int64_t n, bool discont = false);
  // The next buffer's timestamp is taken as it is (new segment, flush).
  void mark_discont() { resync_ = true; }
  // A GAP event covering [rt, rt + duration) (rt NONE = at the current end). Returns the number
  // of silence samples to push now.
  int64_t on_gap(GstClockTime rt, GstClockTime duration);

  // Total samples given to the engine (buffers + silence).
  int64_t samples() const { return samples_; }
  // Running time of input sample `sample` (may be == samples(): the end). NONE when empty.
  GstClockTime to_running_time(int64_t sample) const;
  // Running time just after the last sample pushed. NONE when empty.
  GstClockTime end_running_time() const { return to_running_time(samples_); }
  // Inverse map (the piece containing rt); -1 when empty.
  int64_t to_sample(GstClockTime rt) const;
  size_t anchors() const { return anchors_.size(); }

  GstClockTime tolerance = 40 * GST_MSECOND;
  GstClockTime discont_wait = GST_SECOND;

 private:
  struct Anchor {
    int64_t sample;
    GstClockTime rt;
  };
  int64_t fill_to(GstClockTime rt, bool force);
  void add_anchor(GstClockTime rt);

  std::vector<Anchor> anchors_;  // sorted by sample
  int rate_ = 24000;
  int64_t samples_ = 0;
  bool resync_ = false;
  GstClockTime discont_start_ = GST_CLOCK_TIME_NONE;  // running time at which a discrepancy began
};

}  // namespace rtcgst
