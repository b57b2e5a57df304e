// rtcgst::InputTimeline (see rtctimeline.h).
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rtctimeline.h"

#include <algorithm>

namespace rtcgst {

void InputTimeline::reset(int rate) {
  anchors_.clear();
  rate_ = rate > 0 ? rate : 24000;
  samples_ = 0;
  resync_ = false;
  discont_start_ = GST_CLOCK_TIME_NONE;
}

void InputTimeline::add_anchor(GstClockTime rt) {
  if (!anchors_.empty() && anchors_.back().sample == samples_) {
    anchors_.back().rt = rt;
    return;
  }
  if (anchors_.size() >= kMaxAnchors) {
    // Keep the newest half: events refer to recent input; very old samples then map through
    // the oldest kept piece (approximate, documented).
    anchors_.erase(anchors_.begin(), anchors_.begin() + kMaxAnchors / 2);
  }
  anchors_.push_back({samples_, rt});
}

int64_t InputTimeline::fill_to(GstClockTime rt, bool force) {
  if (anchors_.empty()) {
    add_anchor(rt);
    return 0;
  }
  GstClockTime expected = end_running_time();
  const bool off = rt > expected + tolerance || rt + tolerance < expected;
  if (!off) {
    discont_start_ = GST_CLOCK_TIME_NONE;
    return 0;
  }
  if (!force) {
    // Not flagged: believe it only once it has lasted discont_wait.
    if (!GST_CLOCK_TIME_IS_VALID(discont_start_)) discont_start_ = rt;
    if (rt < discont_start_) discont_start_ = rt;
    if (rt - discont_start_ < discont_wait) return 0;
  }
  discont_start_ = GST_CLOCK_TIME_NONE;
  if (rt > expected + tolerance) {
    GstClockTime hole = rt - expected;
    GstClockTime fill = std::min(hole, kMaxFill);
    int64_t n = (int64_t)gst_util_uint64_scale(fill, rate_, GST_SECOND);
    samples_ += n;
    GstClockTime now_end = end_running_time();
    if (now_end + tolerance < rt || now_end > rt + tolerance) add_anchor(rt);
    return n;
  }
  if (rt + tolerance < expected) add_anchor(rt);
  return 0;
}

int64_t InputTimeline::on_buffer(GstClockTime rt, int64_t n, bool discont) {
  int64_t fill = 0;
  if (GST_CLOCK_TIME_IS_VALID(rt)) {
    fill = fill_to(rt, discont || resync_);
    resync_ = false;
  } else if (anchors_.empty())
    add_anchor(0);
  samples_ += std::max<int64_t>(n, 0);
  return fill;
}

int64_t InputTimeline::on_gap(GstClockTime rt, GstClockTime duration) {
  if (!GST_CLOCK_TIME_IS_VALID(rt)) {
    if (anchors_.empty()) return 0;  // nothing to anchor an untimed gap to
    rt = end_running_time();
  }
  // A GAP event is explicit: no discont wait.
  int64_t n = fill_to(rt, true);
  if (GST_CLOCK_TIME_IS_VALID(duration) && duration > 0) n += fill_to(rt + duration, true);
  return n;
}

GstClockTime InputTimeline::to_running_time(int64_t sample) const {
  if (anchors_.empty()) return GST_CLOCK_TIME_NONE;
  // Last anchor with anchor.sample <= sample (the first one for earlier samples).
  auto it = std::upper_bound(anchors_.begin(), anchors_.end(), sample,
                             [](int64_t s, const Anchor &a) { return s < a.sample; });
  const Anchor &a = (it == anchors_.begin()) ? anchors_.front() : *(it - 1);
  int64_t d = sample - a.sample;
  if (d >= 0) return a.rt + gst_util_uint64_scale_int_round((guint64)d, GST_SECOND, rate_);
  GstClockTime back = gst_util_uint64_scale_int_round((guint64)(-d), GST_SECOND, rate_);
  return back > a.rt ? 0 : a.rt - back;
}

int64_t InputTimeline::to_sample(GstClockTime rt) const {
  if (anchors_.empty() || !GST_CLOCK_TIME_IS_VALID(rt)) return -1;
  // Pieces are searched newest first: after a backwards jump the newest mapping wins.
  for (size_t i = anchors_.size(); i-- > 0;) {
    const Anchor &a = anchors_[i];
    int64_t piece_end = (i + 1 < anchors_.size()) ? anchors_[i + 1].sample : samples_;
    if (rt >= a.rt) {
      int64_t s = a.sample + (int64_t)gst_util_uint64_scale_round(rt - a.rt, rate_, GST_SECOND);
      if (s <= piece_end || i + 1 == anchors_.size()) return s;
    }
  }
  return 0;
}

}  // namespace rtcgst
