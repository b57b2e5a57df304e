// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals. The src task: pushes the three src pads in timestamp order (sticky events, live pacing on the
// pipeline clock, GAP / silence fill, flow combining, EOS).
#pragma once

#include "gstrealtimeconv-internal.h"

void wake_src_locked(RtcPriv *p);

void set_origin_locked(RtcPriv *p, GstClockTime rt);

void advance_frontier_locked(RtcPriv *p, GstClockTime rt);

GstClockTime audio_tail_locked(RtcPriv *p);

GstPad *pad_of(GstRealtimeConv *self, int i);

void src_loop(gpointer data);

gboolean src_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active);
// PLAYING -> PAUSED: the preroll GAP on every pad the src task is not blocked on (a pool thread).
void preroll_gaps(GstElement *element, gpointer user_data);
