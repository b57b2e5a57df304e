// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals. The bridge to the session engine: the listener (network thread, only enqueues), the bounded
// inbox (CtlMsg queue; policy below and in gstrealtimeconv-internal.h), the control task that
// drains it, and session start / stop / restart (lifecycle_mutex).
#pragma once

#include "gstrealtimeconv-internal.h"

GstClockTime clock_running_time(RtcPriv *p);

std::shared_ptr<rtcgst::SessionPort> get_session(RtcPriv *p);
// A barrier's answer (SessionPort::updates_answered()) is published after the engine delivered it
// and every event before it to the listener, i.e. into the inbox; the state those events change
// (a turn's speech_stopped, a response.created) is the control thread's to set. So a waiter that
// has seen its ticket answered takes inbox_mark() and goes on only once
// inbox_handled_up_to(mark): the control thread has then handled everything the server said
// before the answer (docs/engine.md "Barriers").
uint64_t inbox_mark(RtcPriv *p);
bool inbox_handled_up_to(RtcPriv *p, uint64_t mark);

// Sends the current session configuration; returns its update ticket (0: no session), which
// SessionPort::updates_answered() reaches once the server has answered it (so read everything
// sent before it), or once it can never be answered (docs/engine.md "Barriers").
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
