// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals: every bus message the element posts, built in one place.
//
// Element messages (GST_MESSAGE_ELEMENT), by structure name, with their fields:
//
//  realtimeconv/session         event (string "created" / "updated"), id (string), model (string),
//                               expires-at (int64, unix s)
//  realtimeconv/speech-started  item-id (string), audio-start-ms (int64), running-time (int64 ns, -1 unknown)
//  realtimeconv/speech-stopped  item-id (string), audio-end-ms (int64), running-time (int64 ns, -1 unknown)
//  realtimeconv/input-transcript item-id (string), text (string), final (boolean),
//                               running-time (int64 ns, -1), duration (int64 ns, -1)
//  realtimeconv/transcript      response-id, item-id, text (strings), final (boolean)
//  realtimeconv/response-done   response-id, status, reason (strings), total-tokens, input-tokens,
//                               output-tokens (int64), time-to-first-audio (int64 ns: this response's
//                               own, from the end of speech or the request to its first audio; -1
//                               when it had no audio, e.g. a function call only)
//  realtimeconv/function-call   response-id, item-id, call-id, name, arguments (strings)
//  realtimeconv/rate-limits     for each limit NAME: NAME-limit, NAME-remaining, NAME-reset-seconds (double)
//  realtimeconv/truncated       response-id, item-id (strings), audio-end-ms (int64), running-time
//                               (int64 ns of the cut), ahead-ms (int64: how far the truncation point is
//                               ahead of what the clock says was played), dropped (uint64 ns not pushed)
//  realtimeconv/reconnecting    attempt (int), delay-ms (int), reason (string)
//  realtimeconv/reconnected     items-replayed (int), planned-renewal (boolean)
//  realtimeconv/server-error    code, message, param, event-type (strings; non-fatal server errors)
//  realtimeconv/late            response-id (string), delay (uint64 ns): response audio later than
//                               the latency budget (posted with a GST_ELEMENT_WARNING)
//
// Also: progress messages "connect" (START / CONTINUE / COMPLETE / ERROR / CANCELED), LATENCY
// when the latency answer changes, and the `stats` property's structure (realtimeconv/stats,
// built by stats_structure below: state, session-id, model, expires-at, connects, reconnects,
// renewals, events-in/out, audio-bytes-sent/received, audio-ms-sent/received, input-ms-dropped,
// responses-completed/cancelled/failed/incomplete, token counts, time-to-first-audio-last/mean/max,
// responses-timed, parse-errors, server-errors, max-observed-delay, output-audio-dropped (ns), and
// rate-limit-NAME-remaining / -limit per limit).
// The builders return a new message; post it once no lock is held (Deferred::post).
#pragma once

#include <gst/gst.h>

#include <string>
#include <vector>

#include "gstrealtimeconv.h"
#include "realtime/session.h"

GstMessage *elem_msg(GstRealtimeConv *self, GstStructure *s);
// A running time as a message field: -1 when unknown.
gint64 rt_field(GstClockTime t);
const char *state_name(rtc::SessionState s);

GstMessage *msg_session(GstRealtimeConv *self, bool created, const rtc::SessionInfo &session);
GstMessage *msg_response_done(GstRealtimeConv *self, const char *response_id, const rtc::ResponseInfo &ri,
                              gint64 time_to_first_audio);
GstMessage *msg_rate_limits(GstRealtimeConv *self, const std::vector<rtc::RateLimit> &limits);
GstMessage *msg_truncated(GstRealtimeConv *self, const char *response_id, const char *item_id, gint64 audio_end_ms, gint64 running_time, gint64 ahead_ms, guint64 dropped);
GstMessage *msg_late(GstRealtimeConv *self, const char *response_id, guint64 delay);
GstMessage *msg_speech_started(GstRealtimeConv *self, const char *item_id, gint64 audio_start_ms, gint64 running_time);
GstMessage *msg_speech_stopped(GstRealtimeConv *self, const char *item_id, gint64 audio_end_ms, gint64 running_time);
GstMessage *msg_transcript(GstRealtimeConv *self, const char *response_id, const char *item_id, const char *text, gboolean final);
GstMessage *msg_input_transcript(GstRealtimeConv *self, const char *item_id, const char *text, gboolean final, gint64 running_time, gint64 duration);
GstMessage *msg_server_error(GstRealtimeConv *self, const char *code, const char *message, const char *param, const char *event_type);
GstMessage *msg_function_call(GstRealtimeConv *self, const char *response_id, const char *item_id, const char *call_id, const char *name, const char *arguments);
GstMessage *msg_reconnecting(GstRealtimeConv *self, gint attempt, gint delay_ms, const char *reason);
GstMessage *msg_reconnected(GstRealtimeConv *self, gint items_replayed, gboolean planned_renewal);

// The `stats` property (realtimeconv/stats, see above).
GstStructure *stats_structure(GstRealtimeConv *self);
