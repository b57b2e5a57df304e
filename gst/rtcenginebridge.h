// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals. The bridge to the session engine: the listener (network thread, only enqueues), the bounded
// inbox (CtlMsg queue; policy below and in gstrealtimeconv-internal.h), the control task that
// drains it, and session start / stop / restart (lifecycle_mutex).
#pragma once

#include "gstrealtimeconv-internal.h"

GstClockTime clock_running_time(RtcPriv *p);

std::shared_ptr<rtcgst::SessionPort> get_session(RtcPriv *p);

// Sends the current session configuration; returns its update ticket (0: no session), which
// SessionPort::updates_answered() reaches once the server has read everything sent before it.
uint64_t apply_session_config(GstRealtimeConv *self);

void apply_engine_config(GstRealtimeConv *self);

void stop_session_locked(GstRealtimeConv *self);

void start_session_locked(GstRealtimeConv *self);

void stop_session(GstRealtimeConv *self);

void start_session(GstRealtimeConv *self);

void post_input_dropped_warning(GstRealtimeConv *self);

void ctl_loop(gpointer data);

void start_ctl_task(GstRealtimeConv *self);

void stop_ctl_task(GstRealtimeConv *self);
