// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv: The sink side: chain (input timeline, non-live turn gate and back-pressure) and sink events.
#include "gstrealtimeconv-input.h"

#include "gstrealtimeconv-internal.h"
#include "gstrealtimeconv-conversation.h"
#include "gstrealtimeconv-messages.h"
#include "gstrealtimeconv-props.h"
#include "rtcenginebridge.h"
#include "rtcsrcpusher.h"

// Input sample -> running time (the engine's positions). The server's milliseconds are not used
// when the engine gives no position: they count from the start of the current server session,
// not of our input (they restart after a reconnect), so there is no exact answer: NONE.
GstClockTime input_rt_locked(RtcPriv *p, int64_t sample, int64_t ms) {
  (void)ms;
  if (sample < 0) return GST_CLOCK_TIME_NONE;
  return p->timeline.to_running_time(sample);
}


GstClockTime latency_ns(RtcPriv *p) {
  std::lock_guard<std::mutex> g(p->props_mutex);
  return ms_to_ns(p->settings.latency_ms);
}

static void query_upstream_latency(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  GstQuery *q = gst_query_new_latency();
  if (gst_pad_peer_query(self->sinkpad, q)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(q, &live, &min, &max);
    bool repost = false;
    {
      std::lock_guard<std::mutex> g(p->lock);
      if (!p->st.live_known || p->st.upstream_live != (bool)live)
        GST_INFO_OBJECT(self, "upstream is %s", live ? "live" : "not live");
      p->st.live_known = true;
      p->st.upstream_live = live;
      p->st.upstream_min = min;
      p->st.upstream_max = max;
      // A live source often answers LATENCY only once it has negotiated, i.e. after the pipeline
      // configured its latency while going to PLAYING: then our earlier answer (failed, or not
      // live) is stale and the sinks would render our output without our latency budget.
      repost = live && p->st.answered_live != 1;
      if (repost) p->st.answered_live = 1;  // once: the pipeline's next query gets the live answer
      wake_src_locked(p);
    }
    if (repost) {
      GST_INFO_OBJECT(self, "upstream turned out live: asking the pipeline to recompute its latency");
      gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
    }
  }
  gst_query_unref(q);
}

static void push_silence_to_session(RtcPriv *p, const std::shared_ptr<rtcgst::SessionPort> &sess, int64_t samples,
                                    rtc::AudioFormat fmt) {
  if (!sess || samples <= 0) return;
  const int bpf = fmt_bpf(fmt);
  std::vector<uint8_t> chunk((size_t)fmt_rate(fmt) * bpf / 10, fmt_silence(fmt));  // 100 ms
  int64_t left = samples * bpf;
  while (left > 0) {
    size_t n = (size_t)std::min<int64_t>(left, (int64_t)chunk.size());
    sess->push_audio(chunk.data(), n);
    left -= (int64_t)n;
  }
  (void)p;
}

void clear_session_input(RtcPriv *p, const std::shared_ptr<rtcgst::SessionPort> &sess) {
  (void)p;
  sess->clear();  // the engine discards its unsent input too (input_unsent_bytes() returns to 0)
}

// Failed is final (until a restart). Idle is also what a session reports between start() and
// the network thread picking it up, so it is not a reason to give up.

// The non-live input gate's configuration (docs/timing.md "Files: holding the input"): on for a
// non-live upstream with server / semantic VAD and automatic responses; min_gap from the
// server's silence window. The gate is re-synchronised (at the current input
// position) when it changes, e.g. once liveness or the caps are known.
static void sync_gate_locked(RtcPriv *p) {
  rtcgst::TurnGate::Config c;
  c.rate = p->timeline.rate();
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    const Settings &s = p->settings;
    const int gap_ms =
        rtcgst::TurnGate::min_gap_ms(s.turn_detection == TURN_DETECTION_SEMANTIC_VAD, s.silence_duration_ms);
    c.min_gap = (int64_t)c.rate * gap_ms / 1000;
    c.enabled = !is_live_locked(p) && s.turn_detection != TURN_DETECTION_NONE && s.create_response;
  }
  const rtcgst::TurnGate::Config &o = p->st.gate.config();
  if (o.rate == c.rate && o.min_gap == c.min_gap && o.enabled == c.enabled) return;
  p->st.gate.reset(c, p->timeline.samples());
  p->st.gate_barrier_pending = false;
}

// The buffer's samples as linear PCM16 (G.711 decoded), for the gate's level measurement.
static std::vector<int16_t> linear_samples(rtc::AudioFormat fmt, GstBuffer *buf, int64_t n) {
  std::vector<int16_t> out((size_t)std::max<int64_t>(n, 0), 0);
  GstMapInfo map;
  if (n <= 0 || !gst_buffer_map(buf, &map, GST_MAP_READ)) return out;
  if (fmt == rtc::AudioFormat::PCM16) {
    memcpy(out.data(), map.data, std::min<size_t>(map.size, out.size() * 2));
  } else {
    for (int64_t i = 0; i < n && (gsize)i < map.size; i++)
      out[(size_t)i] = fmt == rtc::AudioFormat::G711_ULAW ? rtcgst::mulaw_to_linear(map.data[i])
                                                         : rtcgst::alaw_to_linear(map.data[i]);
  }
  gst_buffer_unmap(buf, &map);
  return out;
}

// Non-live: waits until the next input may be sent (sink_chain, state lock held):
//  * while a turn's answer is awaited (speech_stopped until its response.done);
//  * while the gate holds the input past a locally detected end of speech (TurnGate::decide),
//    sending it a barrier (session.update) when the server must say whether it heard a turn;
//  * while more than 1 s of input has not left the engine (back-pressure).
// Each wait is bounded by drain-timeout. The engine counters (unsent bytes, acknowledgements)
// change without a notification, so they are re-checked every 10 ms.
static void wait_input_slot_locked(GstRealtimeConv *self, std::unique_lock<std::mutex> &lk,
                                   const std::vector<int16_t> &next) {
  RtcPriv *p = self->priv;
  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  const int64_t max_unsent = (int64_t)p->in_rate * p->in_bpf;  // 1 s of input
  gint64 timeout_us;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    timeout_us = (gint64)p->settings.drain_timeout_ms * 1000;
  }
  sync_gate_locked(p);
  gint64 bp_deadline = 0, hold_deadline = 0;
  bool flushed = false;
  struct Clear {
    RtcPriv *p;
    ~Clear() { p->waiting_for = nullptr; }
  } clear{p};
  while (!p->in_flushing && !p->st.fatal && sess && !is_live_locked(p)) {
    gint64 now = g_get_monotonic_time();
    p->wait_checks++;
    if (p->awaiting_turn) {
      // Released by the answer's response.done, failure, reconnection (notified) or the deadline.
      p->waiting_for = "turn";
      if (now >= p->awaiting_deadline) {
        GST_WARNING_OBJECT(self, "no response to the last turn within drain-timeout: continuing");
        end_turn_wait_locked(p);
        continue;
      }
      p->drain_cond.wait_for(lk, std::chrono::microseconds(std::min<gint64>(p->awaiting_deadline - now, 10000)));
      continue;
    }
    lk.unlock();
    const rtc::SessionState st = sess->state();
    const int64_t unsent = sess->input_unsent_bytes();
    const uint64_t answered = sess->updates_answered();
    lk.lock();
    if (!session_usable(st)) break;
    if (p->awaiting_turn) continue;
    if (p->st.gate_barrier_pending && answered >= p->st.gate_barrier_ticket && !p->st.gate_barrier_mark)
      p->st.gate_barrier_mark = inbox_mark(p);  // answered; what the server said before is handled when...
    if (p->st.gate_barrier_pending && p->st.gate_barrier_mark && inbox_handled_up_to(p, *p->st.gate_barrier_mark)) {
      // ...the control thread is there (it set the turn wait of a speech_stopped before the answer;
      // the state lock is held from the awaiting_turn check above to here, so none of those
      // events is handled in between).
      p->st.gate_barrier_pending = false;
      p->st.gate.on_barrier_answered();
    }
    using D = rtcgst::TurnGate::Decision;
    const D dec = p->st.gate.decide(next.data(), (int64_t)next.size(), false,
                                 st == rtc::SessionState::Ready && unsent == 0);
    if (dec != D::Send) {
      p->waiting_for = "gate";
      if (hold_deadline == 0) hold_deadline = now + timeout_us;
      if (now >= hold_deadline) {
        GST_WARNING_OBJECT(self, "the server did not answer the turn before input sample %" G_GINT64_FORMAT
                                 " within drain-timeout: continuing", p->timeline.samples());
        p->st.gate.release();  // (a barrier on its way is still counted when answered)
        continue;
      }
      if (dec == D::WaitSent && !flushed) {
        // Everything before the hold goes on the wire now, and is proven read at once (the
        // engine probes where sending stops: docs/engine.md "Delivery probes").
        flushed = true;
        lk.unlock();
        sess->flush_audio();
        lk.lock();
        continue;
      }
      if (dec == D::SendBarrier) {
        GST_DEBUG_OBJECT(self, "input held at sample %" G_GINT64_FORMAT ": asking the server (session.update)",
                         p->timeline.samples());
        p->st.gate.on_barrier_sent();
        p->st.gate_barrier_pending = true;
        p->st.gate_barrier_mark.reset();
        lk.unlock();
        const uint64_t ticket = apply_session_config(self);
        lk.lock();
        p->st.gate_barrier_ticket = ticket;  // read on this thread only
        continue;
      }
      p->drain_cond.wait_for(lk, std::chrono::milliseconds(10));
      continue;
    }
    // Connected again: the disconnected budget is restored (also while the offline backlog is
    // still being sent, so that a second outage gets its own drain-timeout).
    if (st == rtc::SessionState::Ready) p->st.disconnected_wait.on_connected();
    if (st == rtc::SessionState::Ready && unsent <= max_unsent) break;
    // Not connected: drain-timeout in total, not per buffer (rtcinputbudget.h); then the input
    // goes to the engine's offline buffer (bounded, overflow reported).
    if (st != rtc::SessionState::Ready && !p->st.disconnected_wait.may_wait(now, timeout_us)) break;
    p->waiting_for = "back-pressure";
    if (bp_deadline == 0) bp_deadline = now + timeout_us;
    if (now >= bp_deadline) {
      GST_WARNING_OBJECT(self, "the session took no input for drain-timeout (state %d, %" G_GINT64_FORMAT
                               " bytes unsent): continuing", (int)st, unsent);
      break;
    }
    // State changes are notified; bytes leaving the engine's buffer are not: re-check them.
    p->drain_cond.wait_for(lk, std::chrono::milliseconds(10));
  }
}


static GstFlowReturn sink_chain_piece(GstRealtimeConv *self, GstBuffer *buf);

GstFlowReturn sink_chain(GstPad *pad, GstObject *parent, GstBuffer *buf) {
  (void)pad;
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  bool gated;
  int bpf, rate;
  {
    std::unique_lock<std::mutex> lk(p->lock);
    if (!p->st.live_known) {
      lk.unlock();
      query_upstream_latency(self);
      lk.lock();
    }
    if (!is_live_locked(p)) sync_gate_locked(p);
    gated = !is_live_locked(p) && p->st.gate.config().enabled;
    bpf = p->in_bpf;
    rate = p->in_rate;
  }
  const gsize piece = (gsize)(rate * kGatePieceMs / 1000) * (gsize)bpf;
  const gsize size = gst_buffer_get_size(buf);
  if (!gated || piece == 0 || size <= piece) return sink_chain_piece(self, buf);
  // The gate sees the input in short pieces (kGatePieceMs), each a sub-buffer timed from the buffer.
  GstFlowReturn ret = GST_FLOW_OK;
  for (gsize off = 0; off < size && ret == GST_FLOW_OK; off += piece) {
    GstBuffer *sub = gst_buffer_copy_region(buf, GST_BUFFER_COPY_ALL, off, std::min(piece, size - off));
    if (off > 0) {
      GST_BUFFER_FLAG_UNSET(sub, GST_BUFFER_FLAG_DISCONT);
      GST_BUFFER_PTS(sub) = GST_BUFFER_PTS_IS_VALID(buf)
                                ? GST_BUFFER_PTS(buf) + gst_util_uint64_scale_int(off / bpf, GST_SECOND, rate)
                                : GST_CLOCK_TIME_NONE;
    }
    ret = sink_chain_piece(self, sub);
  }
  gst_buffer_unref(buf);
  return ret;
}

static GstFlowReturn sink_chain_piece(GstRealtimeConv *self, GstBuffer *buf) {
  RtcPriv *p = self->priv;
  std::unique_lock<std::mutex> lk(p->lock);
  // Non-live (files are read much faster than real time): back-pressure, and the turn gate
  // (the server answers a turn before it hears the next one).
  std::vector<int16_t> lin;
  if (!is_live_locked(p)) {
    if (p->st.gate.config().enabled) lin = linear_samples(p->in_fmt, buf, (int64_t)(gst_buffer_get_size(buf) / p->in_bpf));
    wait_input_slot_locked(self, lk, lin);
  }
  if (p->in_flushing) {
    gst_buffer_unref(buf);
    return GST_FLOW_FLUSHING;
  }
  if (p->st.fatal) {
    gst_buffer_unref(buf);
    return GST_FLOW_ERROR;
  }
  if (!p->st.have_caps) {
    lk.unlock();
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No caps on the sink pad before data."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstFlowReturn sr = p->srcresult;
  if (sr == GST_FLOW_EOS || sr == GST_FLOW_NOT_NEGOTIATED || sr < GST_FLOW_EOS) {
    gst_buffer_unref(buf);
    return sr;
  }
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  if (p->time_segment && GST_BUFFER_PTS_IS_VALID(buf)) {
    guint64 r = gst_segment_to_running_time(&p->in_segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    if (r != (guint64)-1) rt = r;
  }
  const gsize size = gst_buffer_get_size(buf);
  const int64_t n = (int64_t)(size / (gsize)p->in_bpf);
  int64_t fill = p->timeline.on_buffer(rt, n, GST_BUFFER_IS_DISCONT(buf));
  if (fill > 0)
    GST_DEBUG_OBJECT(self, "input hole before %" GST_TIME_FORMAT ": %" G_GINT64_FORMAT " samples of silence",
                     GST_TIME_ARGS(rt), fill);
  set_origin_locked(p, p->timeline.to_running_time(p->timeline.samples() - n - fill));
  if (p->st.gate.config().enabled) {
    p->st.gate.on_silence(fill);
    if (lin.size() == (size_t)n)
      p->st.gate.on_input(lin.data(), n);
    else
      p->st.gate.on_input(linear_samples(p->in_fmt, buf, n).data(), n);
  }
  p->samples_since_commit += n + fill;
  const rtc::AudioFormat fmt = p->in_fmt;
  lk.unlock();

  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  if (sess) {
    push_silence_to_session(p, sess, fill, fmt);
    GstMapInfo map;
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      sess->push_audio(map.data, (size_t)n * fmt_bpf(fmt));
      gst_buffer_unmap(buf, &map);
    }
  }
  gst_buffer_unref(buf);
  return GST_FLOW_OK;
}

static gboolean sink_caps(GstRealtimeConv *self, GstEvent *event) {
  RtcPriv *p = self->priv;
  GstCaps *caps;
  gst_event_parse_caps(event, &caps);
  rtc::AudioFormat f;
  if (!gst_caps_is_fixed(caps) || !fmt_from_structure(gst_caps_get_structure(caps, 0), &f)) {
    gst_event_unref(event);
    return FALSE;
  }
  gst_event_unref(event);
  {
    // Check-and-restart under the lifecycle mutex: the state-change thread may be starting
    // the session right now (it reads have_caps / in_fmt under the same mutex).
    std::lock_guard<std::mutex> lg(p->lifecycle_mutex);
    {
      std::lock_guard<std::mutex> g(p->lock);
      p->st.have_caps = true;
      p->in_fmt = f;
      p->in_rate = fmt_rate(f);
      p->in_bpf = fmt_bpf(f);
    }
    bool restart;
    {
      std::lock_guard<std::mutex> g(p->session_mutex);
      restart = p->session && p->session_in_fmt != f;
    }
    if (restart) {
      GST_INFO_OBJECT(self, "input format is %s: restarting the session with it", fmt_name(f));
      stop_session_locked(self);
      start_session_locked(self);
    }
  }
  query_upstream_latency(self);
  return TRUE;
}

static gboolean sink_segment(GstRealtimeConv *self, GstEvent *event) {
  RtcPriv *p = self->priv;
  const GstSegment *seg;
  gst_event_parse_segment(event, &seg);
  {
    std::lock_guard<std::mutex> g(p->lock);
    if (seg->format == GST_FORMAT_TIME) {
      gst_segment_copy_into(seg, &p->in_segment);
      p->time_segment = true;
    } else {
      gst_segment_init(&p->in_segment, GST_FORMAT_TIME);
      p->time_segment = false;
    }
    p->st.have_segment = true;
    p->out_segment = p->in_segment;
    p->out_segment.stop = GST_CLOCK_TIME_NONE;  // responses may outlast the input
    p->out_segment.duration = GST_CLOCK_TIME_NONE;
    p->out_segment.position = p->out_segment.start;
    p->out_segment.rate = 1.0;
    p->st.out_segment_valid = true;
    for (int i = 0; i < kNumPads; i++) p->need_segment[i] = true;
    p->timeline.mark_discont();  // the next buffer may jump: take its timestamp as it is
    wake_src_locked(p);
  }
  gst_event_unref(event);
  query_upstream_latency(self);
  return TRUE;
}

static gboolean sink_gap(GstRealtimeConv *self, GstEvent *event) {
  RtcPriv *p = self->priv;
  GstClockTime ts, dur;
  gst_event_parse_gap(event, &ts, &dur);
  gst_event_unref(event);
  int64_t n;
  rtc::AudioFormat fmt;
  {
    std::lock_guard<std::mutex> g(p->lock);
    if (!p->st.have_caps) return TRUE;
    GstClockTime rt = GST_CLOCK_TIME_NONE;
    if (p->time_segment && GST_CLOCK_TIME_IS_VALID(ts)) {
      guint64 r = gst_segment_to_running_time(&p->in_segment, GST_FORMAT_TIME, ts);
      if (r != (guint64)-1) rt = r;
    }
    n = p->timeline.on_gap(rt, dur);
    if (p->st.gate.config().enabled) p->st.gate.on_silence(n);
    set_origin_locked(p, p->timeline.to_running_time(p->timeline.samples() - n));
    fmt = p->in_fmt;
  }
  GST_DEBUG_OBJECT(self, "GAP: %" G_GINT64_FORMAT " samples of silence to the session", n);
  push_silence_to_session(p, get_session(p), n, fmt);
  return TRUE;
}

static gboolean sink_flush_start(GstRealtimeConv *self, GstEvent *event) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->in_flushing = true;
    p->src_flushing = true;
    wake_src_locked(p);
    p->drain_cond.notify_all();
  }
  for (int i = 0; i < kNumPads; i++) gst_pad_push_event(pad_of(self, i), gst_event_ref(event));
  gst_event_unref(event);
  gst_pad_pause_task(self->srcpad);
  if (auto sess = get_session(p)) {
    // Always cancel: a response may be starting that neither we nor the engine have seen yet
    // (the server answers response_cancel_not_active otherwise, a benign error).
    sess->cancel_response();
    clear_session_input(p, sess);
  }
  return TRUE;
}

static gboolean sink_flush_stop(GstRealtimeConv *self, GstEvent *event) {
  RtcPriv *p = self->priv;
  for (int i = 0; i < kNumPads; i++) gst_pad_push_event(pad_of(self, i), gst_event_ref(event));
  gst_event_unref(event);
  {
    std::lock_guard<std::mutex> g(p->lock);
    reset_output_locked(p);
    gst_flow_combiner_reset(p->flow_combiner);
    p->timeline.mark_discont();
    p->in_flushing = false;
    p->src_flushing = false;
  }
  gst_pad_start_task(self->srcpad, src_loop, self, NULL);
  return TRUE;
}

gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  GST_LOG_OBJECT(pad, "event %s", GST_EVENT_TYPE_NAME(event));
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_STREAM_START: {
      guint gid;
      std::lock_guard<std::mutex> g(p->lock);
      if (gst_event_parse_group_id(event, &gid) && p->st.group_id == 0) p->st.group_id = gid;
      gst_event_unref(event);
      return TRUE;
    }
    case GST_EVENT_CAPS:
      return sink_caps(self, event);
    case GST_EVENT_SEGMENT:
      return sink_segment(self, event);
    case GST_EVENT_GAP:
      return sink_gap(self, event);
    case GST_EVENT_EOS:
      gst_event_unref(event);
      drain(self);
      return TRUE;
    case GST_EVENT_FLUSH_START:
      return sink_flush_start(self, event);
    case GST_EVENT_FLUSH_STOP:
      return sink_flush_stop(self, event);
    case GST_EVENT_TAG:
    case GST_EVENT_SEGMENT_DONE:
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:
    case GST_EVENT_CUSTOM_BOTH: {
      // Forwarded on src by the streaming task, in order with the audio: at the input position
      // they arrived at (the response audio placed before it goes out first).
      std::lock_guard<std::mutex> g(p->lock);
      if (p->in_flushing) {
        gst_event_unref(event);
        return FALSE;
      }
      OutItem o;
      o.kind = OutItem::Event;
      o.event = event;
      o.rt = p->timeline.end_running_time();
      p->evq.push_back(std::move(o));
      wake_src_locked(p);
      return TRUE;
    }
    default:
      if (GST_EVENT_IS_SERIALIZED(event)) {
        GST_DEBUG_OBJECT(pad, "dropping serialized event %s", GST_EVENT_TYPE_NAME(event));
        gst_event_unref(event);
        return TRUE;
      }
      return gst_pad_event_default(pad, parent, event);
  }
}
