// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals. The sink side: chain (input timeline, non-live turn gate and back-pressure) and sink events.
#pragma once

#include "gstrealtimeconv-internal.h"

GstClockTime input_rt_locked(RtcPriv *p, int64_t sample, int64_t ms);

GstClockTime latency_ns(RtcPriv *p);

void clear_session_input(RtcPriv *p, const std::shared_ptr<rtcgst::SessionPort> &sess);

GstFlowReturn sink_chain(GstPad *pad, GstObject *parent, GstBuffer *buf);

gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event);
