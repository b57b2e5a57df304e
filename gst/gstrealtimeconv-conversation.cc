// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv: The control side: engine events, response audio and text turned into timed output, barge-in,
// turn waits, function calls, errors, and the EOS drain.
#include "gstrealtimeconv-conversation.h"

#include "gstrealtimeconv-internal.h"
#include "gstrealtimeconv-input.h"
#include "gstrealtimeconv-messages.h"
#include "gstrealtimeconv-props.h"
#include "rtcenginebridge.h"
#include "rtcsrcpusher.h"

#include <optional>

static Response *response_for_locked(RtcPriv *p, const std::string &id) {
  auto it = p->st.resp_by_id.find(id);
  if (it != p->st.resp_by_id.end()) {
    auto r = p->st.responses.find(it->second);
    if (r != p->st.responses.end()) return &r->second;
  }
  Response r;
  r.serial = p->st.next_resp_serial++;
  r.id = id;
  r.anchor_rt = tmax(p->last_turn_end_rt, GST_CLOCK_TIME_NONE);
  p->st.resp_by_id[id] = r.serial;
  auto ins = p->st.responses.emplace(r.serial, r);
  // Bound the bookkeeping: forget the oldest finished responses.
  while (p->st.responses.size() > 64) {
    auto old = p->st.responses.begin();
    p->st.resp_by_id.erase(old->second.id);
    p->st.responses.erase(old);
  }
  return &ins.first->second;
}

GstClockTime response_write_pos(RtcPriv *p, const Response &r) {
  if (!r.placed) return GST_CLOCK_TIME_NONE;
  return r.base_rt + gst_util_uint64_scale_int_round((guint64)(r.samples - r.base_samples), GST_SECOND, p->out_rate);
}

static ItemAudio &item_for_locked(RtcPriv *p, const std::string &item_id) {
  auto it = p->items.find(item_id);
  if (it != p->items.end()) return it->second;
  p->item_order.push_back(item_id);
  while (p->item_order.size() > 64) {
    p->items.erase(p->item_order.front());
    p->item_order.pop_front();
  }
  return p->items[item_id];
}

static Span &span_for_locked(RtcPriv *p, const std::string &item_id) {
  auto it = p->st.spans.find(item_id);
  if (it != p->st.spans.end()) return it->second;
  p->st.span_order.push_back(item_id);
  while (p->st.span_order.size() > 256) {
    p->st.spans.erase(p->st.span_order.front());
    p->st.span_order.pop_front();
  }
  return p->st.spans[item_id];
}

static void drop_queued_locked(RtcPriv *p, int pad, const std::function<bool(OutItem &)> &pred) {
  auto &q = p->q[pad];
  for (auto it = q.begin(); it != q.end();) {
    if (it->kind != OutItem::Event && pred(*it)) {
      out_item_clear(*it);
      it = q.erase(it);
    } else {
      ++it;
    }
  }
  if (pad == kAudioPad) {  // the predicate may also trim items: recount (barge-in only, not per delta)
    p->q_audio_ns = 0;
    for (const OutItem &o : q) p->q_audio_ns += GST_CLOCK_TIME_IS_VALID(o.dur) ? o.dur : 0;
  }
}

// Samples of an item whose running time is before `pos` (item anchors: sample -> rt).
static int64_t item_samples_before(RtcPriv *p, const ItemAudio &it, GstClockTime pos) {
  if (it.anchors.empty() || !GST_CLOCK_TIME_IS_VALID(pos)) return 0;
  int64_t played = 0;
  for (size_t i = 0; i < it.anchors.size(); i++) {
    const auto &a = it.anchors[i];
    if (pos <= a.second) break;
    int64_t piece_end = (i + 1 < it.anchors.size()) ? it.anchors[i + 1].first : it.received;
    int64_t s = a.first + (int64_t)gst_util_uint64_scale_int(pos - a.second, p->out_rate, GST_SECOND);
    played = std::min(s, piece_end);
  }
  return std::max<int64_t>(played, 0);
}

// Running time of sample `k` of an item (its anchors: item sample -> running time).
static GstClockTime item_rt_of(RtcPriv *p, const ItemAudio &it, int64_t k) {
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  for (const auto &a : it.anchors) {
    if (a.first > k) break;
    rt = a.second + gst_util_uint64_scale_int_round((guint64)(k - a.first), GST_SECOND, p->out_rate);
  }
  return rt;
}

// The latency after which output stamped rt plays at a sync=true sink (the pipeline latency).
static GstClockTime render_latency_locked(RtcPriv *p) {
  return GST_CLOCK_TIME_IS_VALID(p->st.pipeline_latency) ? p->st.pipeline_latency : p->st.upstream_min + latency_ns(p);
}

// Barge-in: speech_started arrived at `arrival_rt` (pipeline clock). Live only
// (rtcgst::barge_in_applies: a file never cuts its own answers). The unpushed remainder of each
// item still playing is dropped and the item is truncated at what counts as heard
// (rtcgst::heard_samples: what was pushed; live pushing is bounded by the lead, so this is at most
// the lead plus one piece beyond what the clock says was played, reported as `ahead-ms`).
// docs/timing.md "Live: lead and barge-in".
static void barge_in_locked(GstRealtimeConv *self, GstClockTime arrival_rt, Deferred &d) {
  RtcPriv *p = self->priv;
  bool barge_in, interrupt, vad;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    barge_in = p->settings.barge_in;
    interrupt = p->settings.interrupt_response;
    vad = p->settings.turn_detection != TURN_DETECTION_NONE;
  }
  if (!rtcgst::barge_in_applies(is_live_locked(p), barge_in)) return;
  GstClockTime clock_pos = p->pushed_end[kAudioPad];  // clock not running: what was pushed
  if (GST_CLOCK_TIME_IS_VALID(arrival_rt)) {
    const GstClockTime lat = render_latency_locked(p);
    clock_pos = arrival_rt > lat ? arrival_rt - lat : 0;
  }

  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  for (const std::string &item_id : p->item_order) {
    auto iit = p->items.find(item_id);
    if (iit == p->items.end()) continue;
    ItemAudio &it = iit->second;
    if (it.truncated || it.received == 0 || !GST_CLOCK_TIME_IS_VALID(it.end_rt)) continue;
    const uint64_t resp = it.resp;
    auto rit = p->st.responses.find(resp);
    Response *r = rit != p->st.responses.end() ? &rit->second : nullptr;
    const int64_t clock_samples = std::min(item_samples_before(p, it, clock_pos), it.received);
    const int64_t heard = rtcgst::heard_samples(clock_samples, it.pushed, it.received);
    if (heard >= it.received && (!r || r->done)) continue;  // all of it is out: nothing to cut
    const GstClockTime cut_rt = item_rt_of(p, it, heard);
    GstClockTime dropped = 0;
    drop_queued_locked(p, kAudioPad, [&](OutItem &o) {
      if (o.resp != resp) return false;
      dropped += o.dur;
      return true;
    });
    drop_queued_locked(p, kTextPad, [&](OutItem &o) { return o.resp == resp && o.rt >= cut_rt; });
    it.truncated = true;
    it.end_rt = tmin(it.end_rt, cut_rt);
    if (r) r->dropped = true;
    const int64_t ms = heard * 1000 / p->out_rate;
    const int64_t ahead_ms = (heard - clock_samples) * 1000 / p->out_rate;
    std::string resp_id = it.response_id;
    GST_INFO_OBJECT(self, "barge-in: truncating item %s of %s at %" G_GINT64_FORMAT " ms (%" G_GINT64_FORMAT
                    " ms ahead of the clock; dropped %" GST_TIME_FORMAT ")",
                    item_id.c_str(), resp_id.c_str(), ms, ahead_ms, GST_TIME_ARGS(dropped));
    bool cancel = r && !r->done && (!interrupt || !vad);
    if (sess) {
      std::string iid = item_id;
      d.calls.push_back([sess, iid, ms, cancel]() {
        if (cancel) sess->cancel_response();
        sess->truncate(iid, ms);
      });
    }
    d.msgs.push_back(msg_truncated(self, resp_id.c_str(), item_id.c_str(), ms, rt_field(cut_rt), ahead_ms, (guint64)dropped));
  }
  // The output continues from what was actually pushed.
  wake_src_locked(p);
}

// The input (non-live) or the EOS drain waits for the answer of a turn until `deadline`.
static void begin_turn_wait_locked(RtcPriv *p, gint64 deadline) {
  p->awaiting_turn = true;
  p->awaiting_deadline = deadline;
  p->awaiting_resp_id.clear();
  p->awaiting_calls.clear();
  p->awaiting_calls_handled = false;
  p->turn_serial++;
  p->drain_cond.notify_all();
}

void end_turn_wait_locked(RtcPriv *p) {
  p->awaiting_turn = false;
  p->awaiting_resp_id.clear();
  p->awaiting_calls.clear();
  p->awaiting_calls_handled = false;
  p->drain_cond.notify_all();
}

// The awaited response `ri` is done: the wait ends, unless it completed with function calls that
// the application may answer (the engine delivers them right after this event, see
// handle_function_call): then it waits for their decision.
static void awaited_response_done_locked(GstRealtimeConv *self, const rtc::ResponseInfo &ri) {
  RtcPriv *p = self->priv;
  std::set<std::string> calls;
  if (ri.status == "completed")  // the engine never delivers calls of other responses (§10.6)
    for (const rtc::ItemInfo &o : ri.output)
      if (o.type == "function_call" && !o.call_id.empty() && (o.status.empty() || o.status == "completed"))
        calls.insert(o.call_id);
  if (calls.empty()) {
    end_turn_wait_locked(p);
    return;
  }
  GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT ": %s is done with %u function call(s): waiting for them",
                   p->turn_serial, p->awaiting_resp_id.c_str(), (guint)calls.size());
  p->awaiting_calls = std::move(calls);
  p->awaiting_calls_handled = false;
  p->drain_cond.notify_all();
}

// A function call of the awaited response was handed to the application (`handled`: a handler
// returned TRUE, a static result was sent, or function-output was emitted for it). When the last
// one is decided, the wait follows the response that answers them (with a fresh drain-timeout
// from now) if any was handled, and ends otherwise.
static void turn_call_decided_locked(GstRealtimeConv *self, const std::string &call_id, bool handled) {
  RtcPriv *p = self->priv;
  if (!p->awaiting_turn || p->awaiting_calls.erase(call_id) == 0) return;
  if (handled) p->awaiting_calls_handled = true;
  if (!p->awaiting_calls.empty()) return;
  if (!p->awaiting_calls_handled) {
    GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT ": function calls not answered, the wait ends", p->turn_serial);
    end_turn_wait_locked(p);
    return;
  }
  gint64 timeout_ms;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    timeout_ms = p->settings.drain_timeout_ms;
  }
  GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT ": function calls answered, waiting for the follow-up response",
                   p->turn_serial);
  p->awaiting_resp_id.clear();  // bound to the next response created
  p->awaiting_calls_handled = false;
  p->awaiting_deadline = g_get_monotonic_time() + timeout_ms * 1000;
  p->drain_cond.notify_all();
}


static bool handle_audio_locked(GstRealtimeConv *self, CtlMsg &m, Deferred &d);

// The src task is woken once the state lock is released: woken under the lock, it would at once
// block on that lock (a context switch there and back per delta).
void handle_audio(GstRealtimeConv *self, CtlMsg &m, Deferred &d) {
  RtcPriv *p = self->priv;
  bool queued;
  {
    std::lock_guard<std::mutex> g(p->lock);
    queued = handle_audio_locked(self, m, d);
    if (queued && p->clock_id) gst_clock_id_unschedule(p->clock_id);
  }
  if (queued) p->cond.notify_all();
}

// Queues one delta for src; true when it was queued (the src task must be woken).
static bool handle_audio_locked(GstRealtimeConv *self, CtlMsg &m, Deferred &d) {
  RtcPriv *p = self->priv;
  if (p->in_flushing || p->eos_queued || !m.audio || p->srcresult != GST_FLOW_OK) return false;
  const rtc::AudioDeltaInfo &info = m.ainfo;
  Response *r = response_for_locked(p, info.response_id);
  if (r->dropped) return false;
  ItemAudio &it = item_for_locked(p, info.item_id);
  if (it.truncated) return false;
  it.resp = r->serial;
  it.response_id = info.response_id;
  const int64_t n = (int64_t)gst_buffer_get_size(m.audio) / p->out_bpf;
  if (n <= 0) return false;
  // Whole frames only (a delta of an odd number of bytes in pcm16 would shift every later sample).
  if ((gsize)n * p->out_bpf != gst_buffer_get_size(m.audio)) gst_buffer_resize(m.audio, 0, (gssize)(n * p->out_bpf));

  // Bounded queue: the engine thread never waits; audio beyond kMaxQueuedAudio is dropped.
  const GstClockTime queued = p->q_audio_ns;
  if (queued > kMaxQueuedAudio) {
    p->st.dropped_audio_samples += n;
    if (!p->st.overflow_warned) {
      p->st.overflow_warned = true;
      GST_WARNING_OBJECT(self, "output queue full (%" GST_TIME_FORMAT "): dropping response audio", GST_TIME_ARGS(queued));
      // Posted once the state lock is released (Deferred::post; by the control task when this
      // runs on the network thread).
      d.calls.push_back([self]() {
        GST_ELEMENT_WARNING(self, STREAM, FAILED,
                            ("More than %u s of response audio wait for the output: dropping the rest (see stats "
                             "output-audio-dropped).",
                             (guint)(kMaxQueuedAudio / GST_SECOND)),
                            ("downstream does not consume, or the input position is not reported"));
      });
    }
    return false;
  }

  const bool live = is_live_locked(p);
  const GstClockTime lat = latency_ns(p);
  bool discont = false;
  if (!r->placed) {
    const GstClockTime pos =
        rtcgst::place_response(live, r->anchor_rt, p->origin_rt, audio_tail_locked(p), m.arrival_rt);
    r->placed = true;
    r->base_rt = pos;
    r->base_samples = r->samples;
    discont = true;
    set_origin_locked(p, pos);
    GST_DEBUG_OBJECT(self, "response %s placed at %" GST_TIME_FORMAT " (arrival %" GST_TIME_FORMAT ")",
                     r->id.c_str(), GST_TIME_ARGS(pos), GST_TIME_ARGS(m.arrival_rt));
  }
  GstClockTime pts = response_write_pos(p, *r);
  if (live && GST_CLOCK_TIME_IS_VALID(m.arrival_rt) && m.arrival_rt > pts) {
    GstClockTime delay = m.arrival_rt - pts;
    p->st.max_observed_delay = std::max(p->st.max_observed_delay, delay);
    if (delay > lat) {
      if (!r->late_warned) {
        r->late_warned = true;
        const guint64 delay_ms = delay / GST_MSECOND, lat_ms = lat / GST_MSECOND;
        const std::string rid = r->id;
        // Posted once the state lock is released (Deferred::post), with a real GError.
        d.calls.push_back([self, delay_ms, lat_ms, rid]() {
          GST_ELEMENT_WARNING(self, STREAM, FAILED,
                              ("Response audio arrived %" G_GUINT64_FORMAT " ms later than the latency budget of "
                               "%" G_GUINT64_FORMAT " ms: increase the latency property.",
                               delay_ms, lat_ms),
                              ("response %s", rid.c_str()));
        });
        d.msgs.push_back(msg_late(self, r->id.c_str(), (guint64)delay));
      }
      // Re-anchor the rest of the response at its arrival time.
      r->base_rt = std::max(m.arrival_rt, audio_tail_locked(p));
      r->base_samples = r->samples;
      pts = r->base_rt;
      discont = true;
    }
  }
  if (it.anchors.empty() || discont) it.anchors.emplace_back(it.received, pts);
  r->samples += n;
  GstClockTime end = response_write_pos(p, *r);
  it.received += n;
  it.end_rt = end;

  GstBuffer *buf = m.audio;
  m.audio = nullptr;
  gst_buffer_add_realtime_conv_meta(buf, info.response_id.c_str(), info.item_id.c_str());
  OutItem o;
  o.kind = OutItem::Buffer;
  o.rt = pts;
  o.dur = end - pts;
  o.buf = buf;
  o.resp = r->serial;
  o.item_id = info.item_id;
  o.samples = n;
  o.discont = discont;
  p->q_audio_ns += o.dur;
  p->q[kAudioPad].push_back(std::move(o));
  return true;
}

static void queue_text_locked(GstRealtimeConv *self, int pad, GstClockTime rt, GstClockTime dur,
                              const std::string &text, uint64_t resp, const std::string &response_id,
                              const std::string &item_id) {
  RtcPriv *p = self->priv;
  if (text.empty() || !GST_CLOCK_TIME_IS_VALID(rt) || p->srcresult != GST_FLOW_OK) return;
  auto &tq = p->q[pad];
  // Text limits (rtctextqueue.h): one text at most kMaxTextBytes, the queue at most kMaxTextItems
  // texts and kMaxTextQueueBytes; when full (nobody consumes, e.g. a blocked downstream) the
  // oldest texts are dropped.
  const size_t len = rtcgst::utf8_prefix_len(text.data(), text.size(), rtcgst::kMaxTextBytes);
  if (len < text.size())
    GST_WARNING_OBJECT(self, "%s: a text of %" G_GSIZE_FORMAT " bytes cut to %" G_GSIZE_FORMAT,
                       pad == kTextPad ? "transcript_src" : "input_transcript_src", text.size(), len);
  size_t queued_bytes = 0;
  for (const OutItem &o : tq)
    if (o.kind == OutItem::Buffer && o.buf) queued_bytes += gst_buffer_get_size(o.buf);
  while (rtcgst::text_queue_must_drop(tq.size(), queued_bytes, len)) {
    if (tq.front().kind == OutItem::Buffer && tq.front().buf) queued_bytes -= gst_buffer_get_size(tq.front().buf);
    out_item_clear(tq.front());
    tq.pop_front();
    if (!p->st.text_overflow_warned[pad]) {
      p->st.text_overflow_warned[pad] = true;
      GST_WARNING_OBJECT(self, "%s queue full (%u buffers or %u bytes): dropping the oldest",
                         pad == kTextPad ? "transcript_src" : "input_transcript_src", (guint)rtcgst::kMaxTextItems,
                         (guint)rtcgst::kMaxTextQueueBytes);
    }
  }
  GstBuffer *buf = gst_buffer_new_memdup(text.data(), len);
  if (pad == kTextPad) gst_buffer_add_realtime_conv_meta(buf, response_id.c_str(), item_id.c_str());
  OutItem o;
  o.kind = OutItem::Buffer;
  o.rt = rt;
  o.dur = dur;
  o.buf = buf;
  o.resp = resp;
  o.item_id = item_id;
  // Keep the pad monotonic.
  auto &q = p->q[pad];
  if (!q.empty() && q.back().rt > o.rt) o.rt = q.back().rt;
  if (GST_CLOCK_TIME_IS_VALID(p->pushed_end[pad]) && p->pushed_end[pad] > o.rt) o.rt = p->pushed_end[pad];
  q.push_back(std::move(o));
  wake_src_locked(p);
}

// handle_event, state lock held.
static void speech_started_locked(GstRealtimeConv *self, const rtc::ServerEvent &ev, CtlMsg &m, Deferred &d, bool live,
                                  bool transcription) {
  RtcPriv *p = self->priv;
  GstClockTime s = input_rt_locked(p, m.ctx.input_start_sample, ev.audio_start_ms);
  p->speech_active = true;
  p->st.gate.on_speech_started();
  Span &sp = span_for_locked(p, ev.item_id);
  sp.start = s;
  if (transcription && GST_CLOCK_TIME_IS_VALID(s))
    p->pending_captions[ev.item_id] = {s, g_get_monotonic_time()};
  d.msgs.push_back(msg_speech_started(self, ev.item_id.c_str(), (gint64)ev.audio_start_ms, rt_field(s)));
  barge_in_locked(self, m.arrival_rt, d);
  if (!live) advance_frontier_locked(p, s);
}

// handle_event, state lock held.
static void speech_stopped_locked(GstRealtimeConv *self, const rtc::ServerEvent &ev, CtlMsg &m, Deferred &d, bool live,
                                  bool vad, bool create_response) {
  RtcPriv *p = self->priv;
  GstClockTime e = input_rt_locked(p, m.ctx.input_end_sample, ev.audio_end_ms);
  p->speech_active = false;
  p->st.gate.on_speech_stopped(m.ctx.input_end_sample);
  p->samples_since_commit = 0;
  Span &sp = span_for_locked(p, ev.item_id);
  sp.end = e;
  if (GST_CLOCK_TIME_IS_VALID(e)) p->last_turn_end_rt = e;
  {  // the caption of a long utterance is due from the end of the speech, not its start
    auto pc = p->pending_captions.find(ev.item_id);
    if (pc != p->pending_captions.end()) pc->second.second = g_get_monotonic_time();
  }
  if (vad && create_response) {
    gint64 timeout_ms;
    {
      std::lock_guard<std::mutex> pg(p->props_mutex);
      timeout_ms = p->settings.drain_timeout_ms;
    }
    begin_turn_wait_locked(p, g_get_monotonic_time() + timeout_ms * 1000);
  }
  d.msgs.push_back(msg_speech_stopped(self, ev.item_id.c_str(), (gint64)ev.audio_end_ms, rt_field(e)));
  if (!live) advance_frontier_locked(p, e);
}

// handle_event, state lock held.
static void input_committed_locked(GstRealtimeConv *self, const rtc::ServerEvent &ev, CtlMsg &m, bool live,
                                   bool transcription, bool vad) {
  RtcPriv *p = self->priv;
  GstClockTime s = input_rt_locked(p, m.ctx.input_start_sample, -1);
  GstClockTime e = input_rt_locked(p, m.ctx.input_end_sample, -1);
  Span &sp = span_for_locked(p, ev.item_id);
  if (GST_CLOCK_TIME_IS_VALID(s)) sp.start = s;
  if (GST_CLOCK_TIME_IS_VALID(e)) sp.end = e;
  if (transcription && GST_CLOCK_TIME_IS_VALID(sp.start)) {
    auto pc = p->pending_captions.find(ev.item_id);
    if (pc == p->pending_captions.end())
      p->pending_captions[ev.item_id] = {sp.start, g_get_monotonic_time()};
    else
      pc->second.second = g_get_monotonic_time();  // refreshed: the transcription starts now
  }
  if (transcription) p->awaiting_transcripts[ev.item_id] = g_get_monotonic_time();
  if (!vad && GST_CLOCK_TIME_IS_VALID(e)) {
    p->last_turn_end_rt = e;
    // Manual mode: the next caption starts where this commit ended.
    p->caption_hold_rt = tmax(p->caption_hold_rt, e);
    wake_src_locked(p);
  }
  if (!live) advance_frontier_locked(p, e);
}

static void handle_event(GstRealtimeConv *self, CtlMsg &m, Deferred &d) {
  RtcPriv *p = self->priv;
  const rtc::ServerEvent &ev = *m.ev;
  using T = rtc::ServerEventType;
  bool transcription, vad, create_response;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    transcription = !p->settings.transcription_model.empty();
    vad = p->settings.turn_detection != TURN_DETECTION_NONE;
    create_response = p->settings.create_response;
  }
  std::lock_guard<std::mutex> g(p->lock);
  const bool live = is_live_locked(p);
  switch (ev.type) {
    case T::SessionCreated:
    case T::SessionUpdated: {
      if (!ev.session.id.empty()) p->st.session_id = ev.session.id;
      d.msgs.push_back(msg_session(self, ev.type == T::SessionCreated, ev.session));
      break;
    }
    case T::SpeechStarted:
      speech_started_locked(self, ev, m, d, live, transcription);
      break;
    case T::SpeechStopped:
      speech_stopped_locked(self, ev, m, d, live, vad, create_response);
      break;
    case T::InputBufferCommitted:
      input_committed_locked(self, ev, m, live, transcription, vad);
      break;
    case T::ResponseCreated: {
      const std::string &id = ev.response.id.empty() ? ev.response_id : ev.response.id;
      Response *r = response_for_locked(p, id);
      if (!live) {
        GstClockTime a = GST_CLOCK_TIME_IS_VALID(p->last_turn_end_rt) ? p->last_turn_end_rt
                                                                     : p->timeline.end_running_time();
        if (!r->placed) r->anchor_rt = a;
      }
      p->active_responses.insert(id);
      if (p->awaiting_turn && p->awaiting_resp_id.empty()) {
        // The first response created while a turn waits answers it: the wait ends with its done.
        p->awaiting_resp_id = id;
        GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT " answered by %s", p->turn_serial, id.c_str());
      }
      p->drain_cond.notify_all();
      break;
    }
    case T::AudioTranscriptDelta:
    case T::TextDelta: {
      Response *r = response_for_locked(p, ev.response_id);
      if (!r->dropped) {
        GstClockTime pos = response_write_pos(p, *r);
        if (!GST_CLOCK_TIME_IS_VALID(pos))
          pos = rtcgst::place_response(live, r->anchor_rt, p->origin_rt, audio_tail_locked(p), m.arrival_rt);
        queue_text_locked(self, kTextPad, pos, GST_CLOCK_TIME_NONE, ev.text, r->serial, ev.response_id, ev.item_id);
      }
      d.msgs.push_back(msg_transcript(self, ev.response_id.c_str(), ev.item_id.c_str(), rtcgst::capped_text(ev.text).c_str(), FALSE));
      break;
    }
    case T::AudioTranscriptDone:
    case T::TextDone:
      d.msgs.push_back(msg_transcript(self, ev.response_id.c_str(), ev.item_id.c_str(), rtcgst::capped_text(ev.text).c_str(), TRUE));
      break;
    case T::InputTranscriptionDelta:
    case T::InputTranscriptionCompleted: {
      const bool final = ev.type == T::InputTranscriptionCompleted;
      Span sp;
      auto sit = p->st.spans.find(ev.item_id);
      if (sit != p->st.spans.end()) sp = sit->second;
      GstClockTime s = input_rt_locked(p, m.ctx.input_start_sample, -1);
      GstClockTime e = input_rt_locked(p, m.ctx.input_end_sample, -1);
      if (GST_CLOCK_TIME_IS_VALID(s)) sp.start = s;
      if (GST_CLOCK_TIME_IS_VALID(e)) sp.end = e;
      GstClockTime dur = (GST_CLOCK_TIME_IS_VALID(sp.start) && GST_CLOCK_TIME_IS_VALID(sp.end) && sp.end > sp.start)
                             ? sp.end - sp.start
                             : GST_CLOCK_TIME_NONE;
      if (final) {
        p->pending_captions.erase(ev.item_id);
        p->awaiting_transcripts.erase(ev.item_id);
        p->drain_cond.notify_all();
        queue_text_locked(self, kCaptionPad, sp.start, dur, ev.text, 0, {}, ev.item_id);
        wake_src_locked(p);
      }
      d.msgs.push_back(msg_input_transcript(self, ev.item_id.c_str(), rtcgst::capped_text(ev.text).c_str(), final, rt_field(sp.start), rt_field(dur)));
      break;
    }
    case T::InputTranscriptionFailed:
      p->pending_captions.erase(ev.item_id);
      p->awaiting_transcripts.erase(ev.item_id);
      p->drain_cond.notify_all();
      wake_src_locked(p);
      d.msgs.push_back(msg_server_error(self, ev.error.code.empty() ? "transcription_failed" : ev.error.code.c_str(), ev.error.message.c_str(), ev.item_id.c_str(), ""));
      break;
    case T::ResponseDone: {
      const rtc::ResponseInfo &ri = ev.response;
      const std::string &id = ri.id.empty() ? ev.response_id : ri.id;
      Response *r = response_for_locked(p, id);
      r->done = true;
      p->active_responses.erase(id);
      if (p->awaiting_turn && p->awaiting_resp_id == id && p->awaiting_calls.empty())
        awaited_response_done_locked(self, ri);
      p->drain_cond.notify_all();
      // This response's own time to first audio (not the engine's last one: a response without
      // audio, e.g. a function call, has none).
      const gint64 ttfa = m.ctx.ttfa_us >= 0 ? (gint64)m.ctx.ttfa_us * 1000 : -1;
      d.msgs.push_back(msg_response_done(self, id.c_str(), ri, ttfa));
      break;
    }
    case T::RateLimitsUpdated: {
      d.msgs.push_back(msg_rate_limits(self, ev.rate_limits));
      break;
    }
    default:
      GST_LOG_OBJECT(self, "server event %s", ev.type_name.c_str());
      break;
  }
}


static void post_fatal_error(GstRealtimeConv *self, const rtc::SessionError &e);

static 

void handle_error(GstRealtimeConv *self, const rtc::SessionError &e) {
  RtcPriv *p = self->priv;
  switch (e.cls) {
    case rtc::ErrorClass::Benign:
      GST_DEBUG_OBJECT(self, "benign server error %s: %s", e.code.c_str(), e.message.c_str());
      return;
    case rtc::ErrorClass::Warning: {
      GST_WARNING_OBJECT(self, "server error %s: %s (caused by %s)", e.code.c_str(), e.message.c_str(),
                         e.client_event_type.c_str());
      gst_element_post_message(
          GST_ELEMENT(self),
          msg_server_error(self, e.code.c_str(), e.message.c_str(), e.param.c_str(), e.client_event_type.c_str()));
      return;
    }
    case rtc::ErrorClass::Fatal:
      break;
  }
  // The actionable message first (no lock held), then streaming stops: upstream's "Internal data
  // stream error" (caused by our GST_FLOW_ERROR) can only come after it.
  post_fatal_error(self, e);
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->st.fatal = true;
    p->drain_cond.notify_all();
    wake_src_locked(p);
  }
}

static void post_fatal_error(GstRealtimeConv *self, const rtc::SessionError &e) {
  const std::string &c = e.code;
  const char *detail = e.message.c_str();
  if (e.http_status == 401 || e.http_status == 403 || c == "invalid_api_key" || c == "authentication_error" ||
      c == "unauthorized" || c == "forbidden") {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_AUTHORIZED,
                      ("Authentication failed (HTTP %d): check api-key / bearer-token or AZURE_OPENAI_API_KEY / "
                       "OPENAI_API_KEY.",
                       e.http_status ? e.http_status : 401),
                      ("%s: %s", c.c_str(), detail));
  } else if (e.http_status == 404 || c == "model_not_found" || c == "DeploymentNotFound") {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Realtime endpoint or deployment not found (HTTP 404): check endpoint, deployment/model and "
                       "api-version."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "insufficient_quota" || c == "quota_exceeded" || c == "billing_hard_limit_reached") {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED,
                      ("The Realtime service refused the session for quota or billing reasons: check the account's "
                       "quota."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "endpoint") {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Invalid Realtime endpoint: check endpoint, deployment/model and api-version."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "tls") {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Could not set up TLS or the proxy for the Realtime endpoint: check ssl-ca-file and proxy."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "beta_api_shape_disabled") {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("The service no longer accepts the preview protocol: set protocol=ga."),
                      ("%s: %s", c.c_str(), detail));
  } else if (e.http_status >= 400 && e.http_status < 500) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("The Realtime endpoint rejected the connection (HTTP %d): check endpoint, deployment and "
                       "api-version.",
                       e.http_status),
                      ("%s: %s", c.c_str(), detail));
  } else {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE,
                      ("Could not keep a connection to the Realtime endpoint: check endpoint, proxy and network."),
                      ("%s (HTTP %d): %s", c.c_str(), e.http_status, detail));
  }
}

static void handle_function_call(GstRealtimeConv *self, const rtc::FunctionCall &call) {
  RtcPriv *p = self->priv;
  gst_element_post_message(
      GST_ELEMENT(self),
      msg_function_call(self, call.response_id.c_str(), call.item_id.c_str(), call.call_id.c_str(), call.name.c_str(), call.arguments.c_str()));
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->st.fc_dispatching = call.call_id;
  }
  gboolean handled = FALSE;
  g_signal_emit(self, gst_realtimeconv_signals[SIGNAL_FUNCTION_CALL], 0, call.name.c_str(), call.call_id.c_str(),
                call.arguments.c_str(), &handled);
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->st.fc_dispatching.clear();
    // A handler (or another thread) may have emitted function-output without returning TRUE.
    if (p->st.answered_calls.erase(call.call_id)) handled = TRUE;
  }
  if (!handled) {
    std::string result;
    bool have = false;
    {
      std::lock_guard<std::mutex> g(p->props_mutex);
      auto it = p->tool_results.find(call.name);
      if (it != p->tool_results.end()) {
        result = it->second;
        have = true;
      }
    }
    if (have) {
      GST_INFO_OBJECT(self, "answering function call %s with the static result from tools", call.name.c_str());
      if (auto sess = get_session(p)) sess->function_output(call.call_id, result, true);
      handled = TRUE;
    }
  }
  {
    std::lock_guard<std::mutex> g(p->lock);
    turn_call_decided_locked(self, call.call_id, handled);
  }
  if (handled) return;
  GST_ELEMENT_WARNING(self, LIBRARY, FAILED,
                      ("Function call \"%s\" (call id %s) was not answered: connect to the function-call signal, "
                       "return TRUE and emit function-output.",
                       call.name.c_str(), call.call_id.c_str()),
                      (NULL));
}

void process_msg(GstRealtimeConv *self, CtlMsg &m) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    if (m.serial != p->session_serial) return;
  }
  Deferred d;
  switch (m.kind) {
    case CtlMsg::State: {
      GST_INFO_OBJECT(self, "session state %s (%s)", state_name(m.state), m.text.c_str());
      GstProgressType t = GST_PROGRESS_TYPE_CONTINUE;
      const char *txt = nullptr;
      switch (m.state) {
        case rtc::SessionState::Connecting: txt = "Connecting to the Realtime endpoint"; break;
        case rtc::SessionState::Configuring: txt = "Configuring the Realtime session"; break;
        case rtc::SessionState::Ready:
          t = GST_PROGRESS_TYPE_COMPLETE;
          txt = "Realtime session ready";
          break;
        case rtc::SessionState::Failed:
          t = GST_PROGRESS_TYPE_ERROR;
          txt = "Realtime session failed";
          break;
        default: break;
      }
      if (txt) d.msgs.push_back(gst_message_new_progress(GST_OBJECT(self), t, "connect", txt));
      {
        std::lock_guard<std::mutex> g(p->lock);
        if (m.state == rtc::SessionState::Failed) {
          d.calls.push_back([self] { post_input_dropped_warning(self); });  // no reconnection will tell them
          end_turn_wait_locked(p);
          p->active_responses.clear();
          p->awaiting_transcripts.clear();  // nothing will be transcribed any more
        }
        p->drain_cond.notify_all();
      }
      break;
    }
    case CtlMsg::Event:
      handle_event(self, m, d);
      break;
    case CtlMsg::Audio:
      handle_audio(self, m, d);
      break;
    case CtlMsg::Error:
      handle_error(self, m.err);
      break;
    case CtlMsg::FunctionCall:
      handle_function_call(self, m.call);
      break;
    case CtlMsg::Reconnecting: {
      {
        // The responses of the lost session will never complete.
        std::lock_guard<std::mutex> g(p->lock);
        p->active_responses.clear();
        end_turn_wait_locked(p);
        p->speech_active = false;
        p->st.gate.release();  // the new session's VAD starts afresh: nothing is held for the old one
        // Transcriptions of the lost session will not come (the new session has other items).
        p->awaiting_transcripts.clear();
        p->drain_cond.notify_all();
      }
      d.msgs.push_back(msg_reconnecting(self, (gint)m.reconnect.attempt, (gint)m.reconnect.delay_ms, m.text.c_str()));
      break;
    }
    case CtlMsg::Reconnected:
      {
        std::lock_guard<std::mutex> g(p->lock);
        p->awaiting_transcripts.clear();
        p->drain_cond.notify_all();
      }
      post_input_dropped_warning(self);  // the rest of the outage's drops, if any
      d.msgs.push_back(msg_reconnected(self, (gint)m.reconnect.items_replayed, m.reconnect.planned_renewal));
      break;
    case CtlMsg::InputDropped: {
      if (p->drop_warn_first < 0) p->drop_warn_first = m.dropped.first_sample;
      p->drop_warn_samples += m.dropped.samples;
      const gint64 now = g_get_monotonic_time();
      if (p->drop_warn_last_us == 0 || now - p->drop_warn_last_us >= kDropWarnIntervalUs)
        post_input_dropped_warning(self);
      break;
    }
    case CtlMsg::Post:
      if (m.deferred) m.deferred->post(self);
      break;
    case CtlMsg::InboxOverflow:
      if (m.overflow_audio)
        GST_ELEMENT_WARNING(self, STREAM, FAILED,
                            ("The element's control thread fell more than %d s behind the server: response audio "
                             "was dropped (see stats output-audio-dropped).",
                             kMaxInboxAudioSeconds),
                            ("a function-call handler or the application blocks the control thread"));
      else
        GST_ELEMENT_WARNING(self, STREAM, FAILED,
                            ("The element's control thread fell %u notifications behind the server: "
                             "notifications were dropped.",
                             (guint)kMaxInboxOther),
                            ("a function-call handler or the application blocks the control thread"));
      break;
  }
  d.post(self);
}

// At EOS (drain, `lk` held on entry and on return): input the session never sent (not connected,
// or not proven read) is reported in a RESOURCE/WRITE warning, never silent; while the session is
// still connecting, the "connect" progress ends here (applications such as gst-launch-1.0 wait
// for it before PLAYING, and would hold the EOS until the engine gives up). Messages are posted
// with the lock released.
static void report_unsent_at_eos(GstRealtimeConv *self, rtcgst::SessionPort &sess, std::unique_lock<std::mutex> &lk) {
  RtcPriv *p = self->priv;
  const int64_t bytes_per_second = (int64_t)p->in_rate * p->in_bpf;
  lk.unlock();
  const int64_t unsent = sess.input_unsent_bytes();
  const rtc::SessionState st = sess.state();
  const std::string w = rtcgst::eos_unsent_warning_text(unsent, bytes_per_second, state_name(st));
  const bool connecting = st == rtc::SessionState::Connecting || st == rtc::SessionState::Configuring ||
                          st == rtc::SessionState::Reconnecting;
  if (!w.empty())
    GST_ELEMENT_WARNING(self, RESOURCE, WRITE, ("%s", w.c_str()), ("input_unsent_bytes %" G_GINT64_FORMAT " at EOS", unsent));
  if (connecting)
    gst_element_post_message(GST_ELEMENT(self),
                             gst_message_new_progress(GST_OBJECT(self), GST_PROGRESS_TYPE_CANCELED, "connect",
                                                      "Input ended before the session connected"));
  lk.lock();
}

// The end of drain: everything is answered (or given up); the src task pushes the rest and EOS.
static void queue_eos_locked(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  end_turn_wait_locked(p);
  p->eos_queued = true;
  p->eos_end_rt = tmax(p->timeline.end_running_time(), p->origin_rt);
  if (!GST_CLOCK_TIME_IS_VALID(p->origin_rt) && GST_CLOCK_TIME_IS_VALID(p->eos_end_rt))
    set_origin_locked(p, p->eos_end_rt);
  if (!GST_CLOCK_TIME_IS_VALID(p->origin_rt)) set_origin_locked(p, 0);
  if (!p->st.out_segment_valid) {
    gst_segment_init(&p->out_segment, GST_FORMAT_TIME);
    p->st.out_segment_valid = true;
  }
  GST_DEBUG_OBJECT(self, "EOS: output ends at %" GST_TIME_FORMAT, GST_TIME_ARGS(p->eos_end_rt));
  wake_src_locked(p);
}

// The drain's last wait is over: no turn waits for its answer, no response is in progress or
// requested (`engine_pending`: SessionPort::response_pending()), no input transcription is due
// (those that never come are forgotten after kCaptionPendingTimeout). State lock held.
static bool conversation_settled_locked(RtcPriv *p, bool engine_pending) {
  gint64 now = g_get_monotonic_time();
  for (auto it = p->awaiting_transcripts.begin(); it != p->awaiting_transcripts.end();) {
    if (now - it->second > (gint64)(kCaptionPendingTimeout / GST_USECOND))
      it = p->awaiting_transcripts.erase(it);
    else
      ++it;
  }
  return !p->awaiting_turn && p->active_responses.empty() && !engine_pending && p->awaiting_transcripts.empty();
}

void drain(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  bool manual, create_response;
  int timeout_ms;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    manual = p->settings.turn_detection == TURN_DETECTION_NONE;
    create_response = p->settings.create_response;
    timeout_ms = p->settings.drain_timeout_ms;
  }
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  std::unique_lock<std::mutex> lk(p->lock);
  p->input_eos = true;
  const int rate = p->timeline.rate();
  // Waits until `done` or the deadline, re-checking every 10 ms besides the notifications through
  // drain_cond (each processed engine notification, flushes, state changes): the conditions read
  // engine counters (unsent bytes, updates_answered(), response_pending()) that the engine publishes
  // AFTER it has delivered the event that changes them, so the control thread's notification for
  // that event can come before the counter moves; waiting for a notification only then stalled
  // the drain for the whole drain-timeout (issue 11, "EOS drain stalls").
  // False when it gave up (timeout, flushing, fatal error, failed session).
  struct Clear {
    RtcPriv *p;
    ~Clear() { p->waiting_for = nullptr; }
  } clear{p};
  auto wait_until_done = [&](const char *what, const std::function<bool()> &done) {
    p->waiting_for = what;
    while (!p->in_flushing && !p->st.fatal && sess) {
      p->wait_checks++;
      lk.unlock();
      bool usable = session_usable(sess->state());
      lk.lock();
      if (!usable) return false;
      if (done()) {
        p->waiting_for = nullptr;
        return true;
      }
      gint64 now = g_get_monotonic_time();
      if (now >= deadline) {
        GST_WARNING_OBJECT(self, "EOS: %s not finished after drain-timeout (%d ms)", what, timeout_ms);
        return false;
      }
      const gint64 left = std::min<gint64>(deadline - now, 10000);
      p->drain_cond.wait_for(lk, std::chrono::microseconds(left));
    }
    return false;
  };
  auto engine_call = [&](const std::function<bool()> &f) {
    lk.unlock();
    bool r = f();
    lk.lock();
    return r;
  };
  GST_DEBUG_OBJECT(self, "EOS: draining (flushing %d, fatal %d)", p->in_flushing, p->st.fatal);
  if (sess) {
    engine_call([&] {
      sess->flush_audio();
      return true;
    });
    // 1. Everything we gave the session is on the wire.
    bool ok = wait_until_done("sending the input", [&] {
      return engine_call([&] {
        return sess->input_unsent_bytes() == 0 && sess->state() == rtc::SessionState::Ready;
      });
    });
    // 2. The server has processed it: session.update is answered in order, after the appends
    //    (a rejected update is answered too: the error naming it). Its own ticket: an update sent
    //    before (the input gate's barrier, a property change) may still be in flight, and its
    //    answer says nothing about the appends sent after it.
    //    And the control thread has handled what the server said before that answer (the last
    //    turn's speech_stopped sets the turn wait that step 4 checks).
    if (ok) {
      lk.unlock();
      const uint64_t ticket = apply_session_config(self);
      lk.lock();
      std::optional<uint64_t> mark;
      wait_until_done("the server's acknowledgement", [&] {
        if (!mark && engine_call([&] { return sess->updates_answered() >= ticket; })) mark = inbox_mark(p);
        return mark && inbox_handled_up_to(p, *mark);
      });
    }
  }
  // 3. A turn the server has not closed: commit it (and ask for the answer), even after a timeout
  //    above (the server may simply be slow; a commit of a dead session is harmless).
  const int64_t min_commit = rate / 10;  // the server refuses commits < 100 ms
  bool need_commit = sess && !p->in_flushing && !p->st.fatal &&
                     ((manual && p->samples_since_commit >= min_commit) || p->speech_active);
  // 4. ... with its own budget: drain-timeout again from here.
  deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  if (need_commit) {
    p->samples_since_commit = 0;
    p->last_turn_end_rt = p->timeline.end_running_time();
    if (create_response) begin_turn_wait_locked(p, deadline);
    lk.unlock();
    GST_INFO_OBJECT(self, "EOS: committing pending input%s", create_response ? " and requesting a response" : "");
    sess->commit();
    if (create_response) sess->create_response(nullptr);
    lk.lock();
  }
  // 4. The responses in progress (and the one requested above) complete.
  if (sess) {
    wait_until_done("the responses", [&] {
      bool pending = engine_call([&] { return sess->response_pending(); });
      return conversation_settled_locked(p, pending);
    });
  }
  if (p->in_flushing) return;
  if (sess && !p->st.fatal) {
    report_unsent_at_eos(self, *sess, lk);
    if (p->in_flushing) return;
  }
  queue_eos_locked(self);
}
