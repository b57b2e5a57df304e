// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv: bus messages.
#include "gstrealtimeconv-messages.h"

#include "gstrealtimeconv-internal.h"
#include "rtcenginebridge.h"

GstMessage *elem_msg(GstRealtimeConv *self, GstStructure *s) { return gst_message_new_element(GST_OBJECT(self), s); }

gint64 rt_field(GstClockTime t) { return GST_CLOCK_TIME_IS_VALID(t) ? (gint64)t : -1; }

const char *state_name(rtc::SessionState s) {
  switch (s) {
    case rtc::SessionState::Idle: return "idle";
    case rtc::SessionState::Connecting: return "connecting";
    case rtc::SessionState::Configuring: return "configuring";
    case rtc::SessionState::Ready: return "ready";
    case rtc::SessionState::Reconnecting: return "reconnecting";
    case rtc::SessionState::Failed: return "failed";
  }
  return "unknown";
}

GstStructure *stats_structure(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::SessionStats st;
  if (auto sess = get_session(p)) st = sess->stats();
  GstClockTime max_delay;
  guint64 dropped;
  int out_rate;
  {
    std::lock_guard<std::mutex> g(p->lock);
    max_delay = p->st.max_observed_delay;
    dropped = p->st.dropped_audio_samples;
    out_rate = p->out_rate;
  }
  // Plus what the inbox dropped (bytes -> samples).
  const int bps = std::max(1, p->inbox_bytes_per_sec.load());
  dropped += gst_util_uint64_scale_int(p->inbox_dropped_bytes.load(), out_rate, bps);
  GstStructure *s = gst_structure_new(
      "realtimeconv/stats", "state", G_TYPE_STRING, state_name(st.state), "session-id", G_TYPE_STRING,
      st.session_id.c_str(), "model", G_TYPE_STRING, st.model.c_str(), "expires-at", G_TYPE_INT64,
      (gint64)st.expires_at, "connects", G_TYPE_UINT64, (guint64)st.connects, "reconnects", G_TYPE_UINT64,
      (guint64)st.reconnects, "renewals", G_TYPE_UINT64, (guint64)st.renewals, "events-in", G_TYPE_UINT64,
      (guint64)st.events_in, "events-out", G_TYPE_UINT64, (guint64)st.events_out, "audio-bytes-sent",
      G_TYPE_UINT64, (guint64)st.audio_bytes_sent, "audio-bytes-received", G_TYPE_UINT64,
      (guint64)st.audio_bytes_received, "audio-ms-sent", G_TYPE_DOUBLE, st.audio_ms_sent, "audio-ms-received",
      G_TYPE_DOUBLE, st.audio_ms_received, "input-ms-dropped", G_TYPE_UINT64, (guint64)st.input_ms_dropped,
      "responses-completed", G_TYPE_UINT64, (guint64)st.responses_completed, "responses-cancelled", G_TYPE_UINT64,
      (guint64)st.responses_cancelled, "responses-failed", G_TYPE_UINT64, (guint64)st.responses_failed,
      "responses-incomplete", G_TYPE_UINT64, (guint64)st.responses_incomplete, "total-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.total_tokens, "input-tokens", G_TYPE_INT64, (gint64)st.usage_total.input_tokens,
      "output-tokens", G_TYPE_INT64, (gint64)st.usage_total.output_tokens, "input-audio-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.input_audio_tokens, "output-audio-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.output_audio_tokens, "input-cached-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.input_cached_tokens, "time-to-first-audio-last", G_TYPE_INT64,
      (gint64)(st.ttfa.last_us >= 0 ? st.ttfa.last_us * 1000 : -1), "time-to-first-audio-mean", G_TYPE_INT64,
      (gint64)(st.ttfa.count ? (gint64)(st.ttfa.mean_us * 1000) : -1), "time-to-first-audio-max", G_TYPE_INT64,
      (gint64)(st.ttfa.max_us >= 0 ? st.ttfa.max_us * 1000 : -1), "responses-timed", G_TYPE_UINT64,
      (guint64)st.ttfa.count, "parse-errors", G_TYPE_UINT64, (guint64)st.parse_errors, "server-errors",
      G_TYPE_UINT64, (guint64)st.server_errors, "max-observed-delay", G_TYPE_UINT64, (guint64)max_delay,
      "output-audio-dropped", G_TYPE_UINT64,
      (guint64)gst_util_uint64_scale_int(dropped, GST_SECOND, out_rate), NULL);
  for (const rtc::RateLimit &rl : st.rate_limits) {
    std::string n = "rate-limit-" + (rl.name.empty() ? std::string("unknown") : rl.name);
    gst_structure_set(s, (n + "-remaining").c_str(), G_TYPE_DOUBLE, rl.remaining, (n + "-limit").c_str(),
                      G_TYPE_DOUBLE, rl.limit, NULL);
  }
  return s;
}

GstMessage *msg_session(GstRealtimeConv *self, bool created, const rtc::SessionInfo &session) {
  return elem_msg(self, gst_structure_new("realtimeconv/session", "event", G_TYPE_STRING, created ? "created" : "updated",
                                          "id", G_TYPE_STRING, session.id.c_str(), "model", G_TYPE_STRING,
                                          session.model.c_str(), "expires-at", G_TYPE_INT64,
                                          (gint64)session.expires_at, NULL));
}

GstMessage *msg_response_done(GstRealtimeConv *self, const char *response_id, const rtc::ResponseInfo &ri,
                              gint64 time_to_first_audio) {
  return elem_msg(
      self, gst_structure_new("realtimeconv/response-done", "response-id", G_TYPE_STRING, response_id, "status",
                              G_TYPE_STRING, ri.status.c_str(), "reason", G_TYPE_STRING, ri.reason.c_str(),
                              "total-tokens", G_TYPE_INT64, (gint64)ri.usage.total_tokens, "input-tokens",
                              G_TYPE_INT64, (gint64)ri.usage.input_tokens, "output-tokens", G_TYPE_INT64,
                              (gint64)ri.usage.output_tokens, "time-to-first-audio", G_TYPE_INT64,
                              time_to_first_audio, NULL));
}

GstMessage *msg_rate_limits(GstRealtimeConv *self, const std::vector<rtc::RateLimit> &limits) {
  GstStructure *s = gst_structure_new_empty("realtimeconv/rate-limits");
  for (const rtc::RateLimit &rl : limits) {
    std::string n = rl.name.empty() ? "unknown" : rl.name;
    gst_structure_set(s, (n + "-limit").c_str(), G_TYPE_DOUBLE, rl.limit, (n + "-remaining").c_str(), G_TYPE_DOUBLE,
                      rl.remaining, (n + "-reset-seconds").c_str(), G_TYPE_DOUBLE, rl.reset_seconds, NULL);
  }
  return elem_msg(self, s);
}

GstMessage *msg_truncated(GstRealtimeConv *self, const char *response_id, const char *item_id, gint64 audio_end_ms, gint64 running_time, gint64 ahead_ms, guint64 dropped) {
  return elem_msg(self, gst_structure_new("realtimeconv/truncated", "response-id", G_TYPE_STRING, response_id, "item-id", G_TYPE_STRING, item_id, "audio-end-ms", G_TYPE_INT64, audio_end_ms, "running-time", G_TYPE_INT64, running_time, "ahead-ms", G_TYPE_INT64, ahead_ms, "dropped", G_TYPE_UINT64, dropped, NULL));
}

GstMessage *msg_late(GstRealtimeConv *self, const char *response_id, guint64 delay) {
  return elem_msg(self, gst_structure_new("realtimeconv/late", "response-id", G_TYPE_STRING, response_id, "delay", G_TYPE_UINT64, delay, NULL));
}

GstMessage *msg_speech_started(GstRealtimeConv *self, const char *item_id, gint64 audio_start_ms, gint64 running_time) {
  return elem_msg(self, gst_structure_new("realtimeconv/speech-started", "item-id", G_TYPE_STRING, item_id, "audio-start-ms", G_TYPE_INT64, audio_start_ms, "running-time", G_TYPE_INT64, running_time, NULL));
}

GstMessage *msg_speech_stopped(GstRealtimeConv *self, const char *item_id, gint64 audio_end_ms, gint64 running_time) {
  return elem_msg(self, gst_structure_new("realtimeconv/speech-stopped", "item-id", G_TYPE_STRING, item_id, "audio-end-ms", G_TYPE_INT64, audio_end_ms, "running-time", G_TYPE_INT64, running_time, NULL));
}

GstMessage *msg_transcript(GstRealtimeConv *self, const char *response_id, const char *item_id, const char *text, gboolean final) {
  return elem_msg(self, gst_structure_new("realtimeconv/transcript", "response-id", G_TYPE_STRING, response_id, "item-id", G_TYPE_STRING, item_id, "text", G_TYPE_STRING, text, "final", G_TYPE_BOOLEAN, final, NULL));
}

GstMessage *msg_input_transcript(GstRealtimeConv *self, const char *item_id, const char *text, gboolean final, gint64 running_time, gint64 duration) {
  return elem_msg(self, gst_structure_new("realtimeconv/input-transcript", "item-id", G_TYPE_STRING, item_id, "text", G_TYPE_STRING, text, "final", G_TYPE_BOOLEAN, final, "running-time", G_TYPE_INT64, running_time, "duration", G_TYPE_INT64, duration, NULL));
}

GstMessage *msg_server_error(GstRealtimeConv *self, const char *code, const char *message, const char *param, const char *event_type) {
  return elem_msg(self, gst_structure_new("realtimeconv/server-error", "code", G_TYPE_STRING, code, "message", G_TYPE_STRING, message, "param", G_TYPE_STRING, param, "event-type", G_TYPE_STRING, event_type, NULL));
}

GstMessage *msg_function_call(GstRealtimeConv *self, const char *response_id, const char *item_id, const char *call_id, const char *name, const char *arguments) {
  return elem_msg(self, gst_structure_new("realtimeconv/function-call", "response-id", G_TYPE_STRING, response_id, "item-id", G_TYPE_STRING, item_id, "call-id", G_TYPE_STRING, call_id, "name", G_TYPE_STRING, name, "arguments", G_TYPE_STRING, arguments, NULL));
}

GstMessage *msg_reconnecting(GstRealtimeConv *self, gint attempt, gint delay_ms, const char *reason) {
  return elem_msg(self, gst_structure_new("realtimeconv/reconnecting", "attempt", G_TYPE_INT, attempt, "delay-ms", G_TYPE_INT, delay_ms, "reason", G_TYPE_STRING, reason, NULL));
}

GstMessage *msg_reconnected(GstRealtimeConv *self, gint items_replayed, gboolean planned_renewal) {
  return elem_msg(self, gst_structure_new("realtimeconv/reconnected", "items-replayed", G_TYPE_INT, items_replayed, "planned-renewal", G_TYPE_BOOLEAN, planned_renewal, NULL));
}
