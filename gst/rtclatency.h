// The LATENCY answer shared by every element of the plugin: upstream's latency (none when
// upstream does not answer) plus the element's own budget when upstream is live (a non-live
// pipeline has no latency to distribute). One rule, one place.
#pragma once

#include <gst/gst.h>

namespace rtcgst {

inline gboolean answer_latency_query(GstPad *sinkpad, GstQuery *query, GstClockTime ours) {
  GstQuery *up = gst_query_new_latency();
  gboolean live = FALSE;
  GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
  if (gst_pad_peer_query(sinkpad, up)) gst_query_parse_latency(up, &live, &min, &max);
  gst_query_unref(up);
  if (live) {
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
  }
  gst_query_set_latency(query, live, min, max);
  return TRUE;
}

}  // namespace rtcgst
