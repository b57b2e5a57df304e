// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals. The control side: engine events, response audio and text turned into timed output, barge-in,
// turn waits, function calls, errors, and the EOS drain.
#pragma once

#include "gstrealtimeconv-internal.h"

GstClockTime response_write_pos(RtcPriv *p, const Response &r);

void end_turn_wait_locked(RtcPriv *p);

void handle_audio(GstRealtimeConv *self, CtlMsg &m, Deferred &d);

void process_msg(GstRealtimeConv *self, CtlMsg &m);

void drain(GstRealtimeConv *self);
