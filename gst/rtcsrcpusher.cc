// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv: The src task: pushes the three src pads in timestamp order (sticky events, live pacing on the
// pipeline clock, GAP / silence fill, flow combining, EOS).
#include "rtcsrcpusher.h"

#include "gstrealtimeconv-internal.h"
#include "gstrealtimeconv-conversation.h"
#include "gstrealtimeconv-input.h"
#include "gstrealtimeconv-messages.h"
#include "gstrealtimeconv-props.h"
#include "rtcenginebridge.h"

void wake_src_locked(RtcPriv *p) {
  if (p->clock_id) gst_clock_id_unschedule(p->clock_id);
  p->cond.notify_all();
}

void set_origin_locked(RtcPriv *p, GstClockTime rt) {
  if (GST_CLOCK_TIME_IS_VALID(p->origin_rt) || !GST_CLOCK_TIME_IS_VALID(rt)) return;
  p->origin_rt = rt;
  for (int i = 0; i < kNumPads; i++) p->pushed_end[i] = rt;
  if (!GST_CLOCK_TIME_IS_VALID(p->frontier)) p->frontier = rt;
  wake_src_locked(p);
}

void advance_frontier_locked(RtcPriv *p, GstClockTime rt) {
  if (!GST_CLOCK_TIME_IS_VALID(rt)) return;
  if (!GST_CLOCK_TIME_IS_VALID(p->frontier) || rt > p->frontier) {
    p->frontier = rt;
    wake_src_locked(p);
  }
}

// End of everything queued or pushed on src (where the next response may start).
GstClockTime audio_tail_locked(RtcPriv *p) {
  if (!p->q[kAudioPad].empty()) {
    const OutItem &b = p->q[kAudioPad].back();
    return b.rt + (GST_CLOCK_TIME_IS_VALID(b.dur) ? b.dur : 0);
  }
  return p->pushed_end[kAudioPad];
}

GstPad *pad_of(GstRealtimeConv *self, int i) {
  return i == kAudioPad ? self->srcpad : i == kTextPad ? self->transcript_srcpad : self->input_transcript_srcpad;
}

static bool use_silence_locked(RtcPriv *p) {
  int mode;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    mode = p->settings.silence_fill;
  }
  if (mode == SILENCE_FILL_ALWAYS) return true;
  if (mode == SILENCE_FILL_NEVER) return false;
  return !is_live_locked(p);
}

// A filler for the audio pad covering [start, end) (silence buffer chunk or GAP).
static OutItem make_fill_locked(RtcPriv *p, GstClockTime start, GstClockTime end) {
  OutItem o;
  o.rt = start;
  if (use_silence_locked(p)) {
    GstClockTime chunk_end = std::min(end, start + kSilenceChunk);
    int64_t n = (int64_t)gst_util_uint64_scale_int_round(chunk_end - start, p->out_rate, GST_SECOND);
    if (n > 0) {
      gsize size = (gsize)(n * p->out_bpf);
      GstBuffer *b = gst_buffer_new_allocate(NULL, size, NULL);
      gst_buffer_memset(b, 0, fmt_silence(p->out_fmt), size);
      GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_GAP);
      o.kind = OutItem::Buffer;
      o.buf = b;
      o.samples = n;
      o.dur = chunk_end - start;
      return o;
    }
  }
  o.kind = OutItem::Gap;
  o.dur = end - start;
  return o;
}

static GstClockTime earliest_pending_caption_locked(RtcPriv *p) {
  GstClockTime t = GST_CLOCK_TIME_NONE;
  gint64 now = g_get_monotonic_time();
  for (auto it = p->pending_captions.begin(); it != p->pending_captions.end();) {
    if (now - it->second.second > (gint64)(kCaptionPendingTimeout / GST_USECOND)) {
      it = p->pending_captions.erase(it);  // transcription never came: stop holding the pad
      continue;
    }
    t = tmin(t, it->second.first);
    ++it;
  }
  return t;
}

// Earliest monotonic time (us) at which a pending caption times out (0: none pending).
static gint64 next_caption_expiry_locked(RtcPriv *p) {
  gint64 t = 0;
  for (const auto &pc : p->pending_captions) {
    gint64 e = pc.second.second + (gint64)(kCaptionPendingTimeout / GST_USECOND);
    if (t == 0 || e < t) t = e;
  }
  return t;
}

// What the output side needs from the settings (read once per iteration, outside the lock order).
struct OutSettings {
  GstClockTime lat = 0, caption_lat = 0;
  GstClockTime fill_interval = kLiveFillMin;  // live_fill_interval(lat)
  GstClockTime lead = 0, piece = 0;           // rtcgst::live_pacing(lat, push-ahead)
  bool manual_captions = false;  // manual turn detection with input transcription
};

// next_item_locked, the text pads: their items, or GAP events following the audio pad.
static void consider_text_pads_locked(RtcPriv *p, const OutSettings &os,
                                      const std::function<bool(const OutItem &)> &ready,
                                      const std::function<void(int, GstClockTime, bool, GstClockTime)> &consider) {
  for (int i = kTextPad; i < kNumPads; i++) {
    auto &q = p->q[i];
    const GstClockTime pe = p->pushed_end[i];
    if (!q.empty() && ready(q.front())) {
      consider(i, std::max(q.front().rt, pe), false, GST_CLOCK_TIME_NONE);
      continue;
    }
    GstClockTime limit = p->pushed_end[kAudioPad];
    if (!q.empty()) limit = tmin(limit, q.front().rt);
    if (i == kCaptionPad) {
      limit = tmin(limit, earliest_pending_caption_locked(p));
      if (!p->eos_queued) {
        // Captions are pushed when transcribed: keep the pad caption-latency behind the audio.
        if (GST_CLOCK_TIME_IS_VALID(limit) && os.caption_lat > 0)
          limit = limit > os.caption_lat ? limit - os.caption_lat : 0;
        // Manual turn detection: the next caption starts where the last commit ended.
        // (Bounded like a pending caption: never more than 30 s behind the input.)
        if (os.manual_captions) {
          GstClockTime hold = GST_CLOCK_TIME_IS_VALID(p->caption_hold_rt) ? p->caption_hold_rt
                                                                           : p->timeline.to_running_time(0);
          const GstClockTime in_end = p->timeline.end_running_time();
          if (GST_CLOCK_TIME_IS_VALID(in_end) && in_end > kCaptionPendingTimeout)
            hold = tmax(hold, in_end - kCaptionPendingTimeout);
          limit = tmin(limit, hold);
        }
      }
    }
    GstClockTime interval = p->eos_queued ? 1 : kTextGapInterval;
    if (GST_CLOCK_TIME_IS_VALID(limit) && limit > pe && limit - pe >= interval) consider(i, pe, true, limit);
  }
}

// Live: the next piece of at most `piece` samples from the front of the audio queue. A delta's
// tail shorter than a piece is completed from the deltas of the same item that follow it without a
// gap (when they are queued already), so that a sink gets whole pieces: a sink that renders one
// buffer at a time then always has one piece in hand (after a 3 ms tail it would have 3 ms).
static void take_live_piece_locked(RtcPriv *p, int64_t piece, OutItem *out) {
  auto &q = p->q[kAudioPad];
  const GstClockTime half_sample = GST_SECOND / (2 * (GstClockTime)p->out_rate);
  const OutItem &first = q.front();
  out->kind = OutItem::Buffer;
  out->rt = first.rt;
  out->dur = 0;
  out->buf = nullptr;
  out->resp = first.resp;
  out->item_id = first.item_id;
  out->samples = 0;
  out->discont = first.discont;
  while (!q.empty() && out->samples < piece) {
    OutItem &h = q.front();
    if (!h.buf) break;
    if (out->samples > 0) {  // only the same item, contiguous, no discontinuity
      const GstClockTime end = out->rt + out->dur;
      const bool contiguous = h.rt + half_sample >= end && h.rt <= end + half_sample;
      if (h.item_id != out->item_id || h.resp != out->resp || h.discont || !contiguous) break;
    }
    const int64_t take = std::min(h.samples, piece - out->samples);
    GstBuffer *part;
    GstClockTime part_dur;
    if (take >= h.samples) {
      part = h.buf;
      part_dur = h.dur;
      h.buf = nullptr;
      q.pop_front();
    } else {
      part_dur = gst_util_uint64_scale_int_round((guint64)take, GST_SECOND, p->out_rate);
      part = gst_buffer_copy_region(h.buf, GST_BUFFER_COPY_ALL, 0, (gsize)(take * p->out_bpf));
      GstBuffer *rest = gst_buffer_copy_region(h.buf, GST_BUFFER_COPY_ALL, (gsize)(take * p->out_bpf), -1);
      gst_buffer_unref(h.buf);
      h.buf = rest;
      h.rt += part_dur;
      h.dur -= std::min(h.dur, part_dur);
      h.samples -= take;
      h.discont = false;
    }
    out->buf = out->buf ? gst_buffer_append(out->buf, part) : part;
    out->dur += part_dur;
    out->samples += take;
  }
}

// next_item_locked: takes the next queued item of `pad` (live audio in pieces of at most `piece`
// when `pace_audio`, rtcgst::live_pacing); text items are stamped at `rt`.
static void take_queued_locked(RtcPriv *p, int pad, GstClockTime rt, bool pace_audio, GstClockTime piece,
                               OutItem *out) {
  struct {
    int pad;
    GstClockTime rt;
  } best{pad, rt};
  auto &q = p->q[best.pad];
  if (best.pad == kAudioPad && pace_audio && q.front().buf) {
    take_live_piece_locked(p, std::max<int64_t>(1, (int64_t)gst_util_uint64_scale_int(piece, p->out_rate, GST_SECOND)), out);
  } else {
    *out = std::move(q.front());
    q.pop_front();
  }
  if (best.pad == kAudioPad && GST_CLOCK_TIME_IS_VALID(out->dur))
    p->q_audio_ns -= std::min(p->q_audio_ns, out->dur);
  if (best.pad != kAudioPad) {
    out->rt = best.rt;
    if (!GST_CLOCK_TIME_IS_VALID(out->dur) && best.pad == kTextPad) {
      // Assistant text lasts until the next delta of the response, or the end of its audio.
      GstClockTime next = GST_CLOCK_TIME_NONE;
      if (!q.empty() && q.front().resp == out->resp) next = q.front().rt;
      if (!GST_CLOCK_TIME_IS_VALID(next)) {
        auto r = p->st.responses.find(out->resp);
        if (r != p->st.responses.end()) next = response_write_pos(p, r->second);
      }
      if (GST_CLOCK_TIME_IS_VALID(next) && next > out->rt) out->dur = next - out->rt;
    }
  } else {
    auto it = p->items.find(out->item_id);
    if (it != p->items.end()) it->second.pushed += out->samples;
  }
}

// Chooses the next thing to push. Returns false when there is nothing to do now; *wake_rt is then
// the running time at which the live fill should run again (NONE: wait for a notification).
static bool next_item_locked(RtcPriv *p, bool live, GstClockTime now, const OutSettings &os, int *pad_out,
                             OutItem *out, GstClockTime *wake_rt) {
  *wake_rt = GST_CLOCK_TIME_NONE;
  const GstClockTime lat = os.lat;
  // 1. Once per segment (after a start or a flush), a GAP at the origin on every src pad, so that
  //    every sink downstream prerolls whatever the other pads do (as demuxers do for sparse
  //    streams): a sink on a text pad must not wait for the first transcript to preroll. Again
  //    after PLAYING -> PAUSED (sinks preroll again), at the end of what each pad pushed.
  for (int i = 0; i < kNumPads; i++) {
    if (!p->need_initial_gap[i]) continue;
    p->need_initial_gap[i] = false;
    *pad_out = i;
    out->kind = OutItem::Gap;
    out->rt = GST_CLOCK_TIME_IS_VALID(p->pushed_end[i]) ? p->pushed_end[i] : p->origin_rt;
    out->dur = 0;
    return true;
  }
  // 2. Serialized upstream events, in order with the audio (at the input position they came at).
  auto &evq = p->evq;
  if (!evq.empty() && (!GST_CLOCK_TIME_IS_VALID(evq.front().rt) || evq.front().rt <= p->pushed_end[kAudioPad])) {
    *pad_out = kAudioPad;
    *out = std::move(evq.front());
    evq.pop_front();
    return true;
  }

  const bool unlimited = live || p->eos_queued;
  auto ready = [&](const OutItem &o) {
    return unlimited || (GST_CLOCK_TIME_IS_VALID(p->frontier) && o.rt < p->frontier);
  };
  const GstClockTime half_sample = GST_SECOND / (2 * (GstClockTime)p->out_rate);
  // Live audio is pushed no further ahead of its play time than the lead (docs/timing.md).
  const bool pace_audio = live && !p->eos_queued;
  const GstClockTime render_lat =
      GST_CLOCK_TIME_IS_VALID(p->st.pipeline_latency) ? p->st.pipeline_latency : p->st.upstream_min + lat;
  auto audio_ready = [&](const OutItem &o) {
    return pace_audio ? rtcgst::live_may_push(o.rt, now, render_lat, os.lead) : ready(o);
  };

  struct Cand {
    int pad = -1;
    GstClockTime rt = GST_CLOCK_TIME_NONE;
    bool fill = false;
    GstClockTime fill_end = GST_CLOCK_TIME_NONE;
  } best;
  auto consider = [&](int pad, GstClockTime rt, bool fill, GstClockTime fill_end) {
    if (best.pad < 0 || rt < best.rt) {
      best.pad = pad;
      best.rt = rt;
      best.fill = fill;
      best.fill_end = fill_end;
    }
  };

  // Audio pad.
  const GstClockTime aend = p->pushed_end[kAudioPad];
  auto &aq = p->q[kAudioPad];
  if (!aq.empty() && audio_ready(aq.front())) {
    if (aq.front().rt > aend + half_sample)
      consider(kAudioPad, aend, true, aq.front().rt);
    else
      consider(kAudioPad, aq.front().rt, false, GST_CLOCK_TIME_NONE);
  } else {
    GstClockTime target = GST_CLOCK_TIME_NONE;
    if (p->eos_queued && aq.empty()) {
      target = p->eos_end_rt;
    } else if (live) {
      if (GST_CLOCK_TIME_IS_VALID(now) && now > lat) {
        GstClockTime t = now - lat;
        if (t >= aend + os.fill_interval) target = t;
      }
      if (GST_CLOCK_TIME_IS_VALID(now)) *wake_rt = aend + os.fill_interval + lat;
      if (!aq.empty()) {  // audio waiting for its push time (the lead): fill only up to it
        if (GST_CLOCK_TIME_IS_VALID(target)) target = tmin(target, aq.front().rt);
        if (GST_CLOCK_TIME_IS_VALID(now))
          *wake_rt = tmin(*wake_rt, rtcgst::live_push_time(aq.front().rt, render_lat, os.lead));
      }
    } else {
      target = p->frontier;
      if (!aq.empty()) target = tmin(target, aq.front().rt);
    }
    if (GST_CLOCK_TIME_IS_VALID(target) && target > aend + half_sample) consider(kAudioPad, aend, true, target);
  }

  consider_text_pads_locked(p, os, ready, consider);

  if (best.pad < 0) {
    if (p->eos_queued && !evq.empty()) {  // the last events, before EOS
      *pad_out = kAudioPad;
      *out = std::move(evq.front());
      evq.pop_front();
      return true;
    }
    return false;
  }
  *pad_out = best.pad;
  if (best.fill) {
    if (best.pad == kAudioPad) {
      *out = make_fill_locked(p, best.rt, best.fill_end);
    } else {
      out->kind = OutItem::Gap;
      out->rt = best.rt;
      out->dur = best.fill_end - best.rt;
    }
  } else {
    take_queued_locked(p, best.pad, best.rt, pace_audio, os.piece, out);
  }
  GstClockTime end = out->rt + (GST_CLOCK_TIME_IS_VALID(out->dur) ? out->dur : 0);
  p->pushed_end[best.pad] = tmax(p->pushed_end[best.pad], end);
  return true;
}

// Sticky events due on pad i before an item at running time `rt`. A new segment is pushed only
// once the data reaches its base: what was queued before it keeps the previous segment.
static std::vector<GstEvent *> sticky_events_locked(GstRealtimeConv *self, int i, GstClockTime rt) {
  RtcPriv *p = self->priv;
  std::vector<GstEvent *> evs;
  GstPad *pad = pad_of(self, i);
  if (p->st.need_stream_start[i]) {
    static const char *names[] = {"audio", "transcript", "input-transcript"};
    gchar *sid = gst_pad_create_stream_id(pad, GST_ELEMENT(self), names[i]);
    GstEvent *e = gst_event_new_stream_start(sid);
    g_free(sid);
    if (p->st.group_id == 0) p->st.group_id = gst_util_group_id_next();
    gst_event_set_group_id(e, p->st.group_id);
    gst_event_set_stream_flags(e, i == kAudioPad ? GST_STREAM_FLAG_NONE : GST_STREAM_FLAG_SPARSE);
    evs.push_back(e);
    p->st.need_stream_start[i] = false;
  }
  if (p->st.need_caps[i]) {
    GstCaps *caps = i == kAudioPad ? fmt_caps(p->out_fmt) : gst_caps_from_string(RTC_TEXT_CAPS);
    evs.push_back(gst_event_new_caps(caps));
    gst_caps_unref(caps);
    p->st.need_caps[i] = false;
  }
  if (p->need_segment[i] &&
      (!p->pad_segment_valid[i] || !GST_CLOCK_TIME_IS_VALID(rt) || rt >= p->out_segment.base)) {
    evs.push_back(gst_event_new_segment(&p->out_segment));
    p->pad_segment[i] = p->out_segment;
    p->pad_segment_valid[i] = true;
    p->need_segment[i] = false;
  }
  if (p->st.need_tags[i]) {
    p->st.need_tags[i] = false;
    std::string lang;
    {
      std::lock_guard<std::mutex> g(p->props_mutex);
      lang = p->settings.transcription_language;
    }
    if (i == kCaptionPad && !lang.empty()) {
      GstTagList *tl = gst_tag_list_new(GST_TAG_LANGUAGE_CODE, lang.c_str(), NULL);
      gst_tag_list_set_scope(tl, GST_TAG_SCOPE_STREAM);
      evs.push_back(gst_event_new_tag(tl));
    }
  }
  return evs;
}

// Stream time of running time rt in seg; false when rt is before the segment (negative position).
static bool out_position(const GstSegment *seg, GstClockTime rt, GstClockTime *pos) {
  guint64 v = 0;
  if (gst_segment_position_from_running_time_full(seg, GST_FORMAT_TIME, rt, &v) != 1) return false;
  *pos = v;
  return true;
}

static OutSettings out_settings(RtcPriv *p) {
  OutSettings os;
  std::lock_guard<std::mutex> g(p->props_mutex);
  os.lat = ms_to_ns(p->settings.latency_ms);
  os.caption_lat = ms_to_ns(p->settings.caption_latency_ms);
  os.fill_interval = live_fill_interval(os.lat);
  const rtcgst::LivePacing pacing = rtcgst::live_pacing(os.lat, ms_to_ns(p->settings.push_ahead_ms));
  os.lead = pacing.lead;
  os.piece = pacing.piece;
  os.manual_captions = p->settings.turn_detection == TURN_DETECTION_NONE && !p->settings.transcription_model.empty();
  return os;
}

// Waits on p->cond until notified, or until a pending caption times out (a real deadline).
static void wait_src_locked(RtcPriv *p, std::unique_lock<std::mutex> &lk) {
  gint64 expiry = next_caption_expiry_locked(p);
  if (expiry == 0) {
    p->cond.wait(lk);
    return;
  }
  gint64 now = g_get_monotonic_time();
  if (expiry > now) p->cond.wait_for(lk, std::chrono::microseconds(expiry - now + 1000));
}

// Pushes one item (and the sticky events before it) on src pad `pad_idx`, lock not held; the
// pad's push_mutex keeps it from interleaving with preroll_gaps(). The preroll watch sees every
// push that may block in a sink's preroll (rtcprerollwatch.h).
static GstFlowReturn push_item(GstRealtimeConv *self, int pad_idx, OutItem &item, const std::vector<GstEvent *> &sticky,
                               bool discont, const GstSegment &seg) {
  GstPad *pad = pad_of(self, pad_idx);
  std::lock_guard<std::mutex> push_guard(self->priv->push_mutex[pad_idx]);
  for (GstEvent *e : sticky) gst_pad_push_event(pad, e);
  GstFlowReturn ret = GST_FLOW_OK;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  const bool positioned = item.kind == OutItem::Event || out_position(&seg, item.rt, &pts);
  if (!positioned) {
    GST_WARNING_OBJECT(pad, "dropping %s at running time %" GST_TIME_FORMAT ": before the output segment",
                       item.kind == OutItem::Buffer ? "buffer" : "gap", GST_TIME_ARGS(item.rt));
    out_item_clear(item);
  } else if (item.kind == OutItem::Event) {
    GST_LOG_OBJECT(pad, "forwarding %s event", GST_EVENT_TYPE_NAME(item.event));
    GstEvent *ev = item.event;
    item.event = nullptr;
    gst_pad_push_event(pad, ev);
  } else if (item.kind == OutItem::Buffer) {
    GstBuffer *buf = item.buf;
    item.buf = nullptr;
    buf = gst_buffer_make_writable(buf);
    GST_BUFFER_PTS(buf) = pts;
    GST_BUFFER_DTS(buf) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION(buf) = item.dur;
    if (discont || item.discont) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    GST_LOG_OBJECT(pad, "pushing buffer %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT, GST_TIME_ARGS(pts),
                   GST_TIME_ARGS(item.dur));
    self->priv->preroll_watch.push_begin(pad_idx, g_get_monotonic_time());
    ret = gst_pad_push(pad, buf);
    self->priv->preroll_watch.push_end();
  } else {
    GST_LOG_OBJECT(pad, "pushing gap %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT, GST_TIME_ARGS(pts),
                   GST_TIME_ARGS(item.dur));
    self->priv->preroll_watch.push_begin(pad_idx, g_get_monotonic_time());
    gst_pad_push_event(pad, gst_event_new_gap(pts, item.dur));
    self->priv->preroll_watch.push_end();
  }
  return ret;
}

void src_loop(gpointer data) {
  GstRealtimeConv *self = GST_REALTIMECONV(data);
  RtcPriv *p = self->priv;
  const OutSettings os = out_settings(p);
  std::unique_lock<std::mutex> lk(p->lock);
  if (p->src_flushing) {
    lk.unlock();
    gst_pad_pause_task(self->srcpad);
    return;
  }
  if (p->eos_pushed || !p->st.out_segment_valid) {
    wait_src_locked(p, lk);
    return;
  }
  const bool live = is_live_locked(p);
  const GstClockTime lat = os.lat;
  const GstClockTime now = live ? clock_running_time(p) : GST_CLOCK_TIME_NONE;
  if (!GST_CLOCK_TIME_IS_VALID(p->origin_rt)) {
    if (live && GST_CLOCK_TIME_IS_VALID(now)) {
      set_origin_locked(p, now > lat ? now - lat : 0);
    } else {
      wait_src_locked(p, lk);
      return;
    }
  }

  int pad_idx = -1;
  OutItem item;
  GstClockTime wake_rt;
  if (!next_item_locked(p, live, now, os, &pad_idx, &item, &wake_rt)) {
    if (p->eos_queued) {
      // Everything is out: EOS on every src pad.
      std::vector<std::vector<GstEvent *>> sticky;
      for (int i = 0; i < kNumPads; i++) sticky.push_back(sticky_events_locked(self, i, GST_CLOCK_TIME_NONE));
      p->eos_pushed = true;
      lk.unlock();
      GST_DEBUG_OBJECT(self, "pushing EOS on all src pads");
      for (int i = 0; i < kNumPads; i++) {
        std::lock_guard<std::mutex> pg(p->push_mutex[i]);
        for (GstEvent *e : sticky[i]) gst_pad_push_event(pad_of(self, i), e);
        gst_pad_push_event(pad_of(self, i), gst_event_new_eos());
      }
      return;
    }
    GstClock *clock = nullptr;
    GstClockTime base = 0;
    if (live && GST_CLOCK_TIME_IS_VALID(wake_rt)) {
      std::lock_guard<std::mutex> g(p->clock_mutex);
      if (p->clock && p->playing) {
        clock = GST_CLOCK(gst_object_ref(p->clock));
        base = p->base_time;
      }
    }
    if (clock) {
      GstClockID id = gst_clock_new_single_shot_id(clock, base + wake_rt);
      p->clock_id = id;
      lk.unlock();
      gst_clock_id_wait(id, NULL);
      lk.lock();
      p->clock_id = nullptr;
      gst_clock_id_unref(id);
      gst_object_unref(clock);
    } else {
      wait_src_locked(p, lk);
    }
    return;
  }

  std::vector<GstEvent *> sticky = sticky_events_locked(self, pad_idx, item.rt);
  const bool discont = p->need_discont[pad_idx];
  if (item.kind == OutItem::Buffer) p->need_discont[pad_idx] = false;
  GstSegment seg = p->pad_segment[pad_idx];
  lk.unlock();

  GstPad *pad = pad_of(self, pad_idx);
  const GstFlowReturn ret = push_item(self, pad_idx, item, sticky, discont, seg);

  lk.lock();
  GstFlowReturn combined = gst_flow_combiner_update_pad_flow(p->flow_combiner, pad, ret);
  if (combined == GST_FLOW_NOT_LINKED) combined = GST_FLOW_OK;  // nobody listens: keep running for messages
  if (combined == GST_FLOW_OK) return;
  p->srcresult = combined;
  lk.unlock();
  GST_DEBUG_OBJECT(self, "pausing task: %s", gst_flow_get_name(combined));
  gst_pad_pause_task(self->srcpad);
  if (combined == GST_FLOW_NOT_NEGOTIATED || combined < GST_FLOW_EOS) {
    GST_ELEMENT_FLOW_ERROR(self, combined);
    for (int i = 0; i < kNumPads; i++) gst_pad_push_event(pad_of(self, i), gst_event_new_eos());
  }
}

// After PLAYING -> PAUSED (from a pool thread, gst_element_call_async): the zero-length preroll
// GAP on every pad the src task is not pushing on right now. The src task pushes on one pad at a
// time and may be blocked there (a full queue before a prerolled sink, which stays full in
// PAUSED): the sinks of the other pads would then never preroll and the pipeline would stay ASYNC
// (issue 12, defect 8). A pad the src task is on keeps its flag: the task pushes the GAP itself.
void preroll_gaps(GstElement *element, gpointer) {
  GstRealtimeConv *self = GST_REALTIMECONV(element);
  RtcPriv *p = self->priv;
  for (int i = 0; i < kNumPads; i++) {
    std::unique_lock<std::mutex> pg(p->push_mutex[i], std::try_to_lock);
    if (!pg.owns_lock()) continue;
    std::vector<GstEvent *> sticky;
    GstSegment seg;
    GstClockTime rt;
    {
      std::lock_guard<std::mutex> g(p->lock);
      if (!p->need_initial_gap[i] || p->src_flushing || p->eos_pushed || !p->st.out_segment_valid ||
          !GST_CLOCK_TIME_IS_VALID(p->origin_rt))
        continue;
      p->need_initial_gap[i] = false;
      rt = GST_CLOCK_TIME_IS_VALID(p->pushed_end[i]) ? p->pushed_end[i] : p->origin_rt;
      sticky = sticky_events_locked(self, i, rt);
      seg = p->pad_segment[i];
    }
    GstPad *pad = pad_of(self, i);
    for (GstEvent *e : sticky) gst_pad_push_event(pad, e);
    GstClockTime pts;
    if (out_position(&seg, rt, &pts)) {
      GST_DEBUG_OBJECT(pad, "preroll gap at %" GST_TIME_FORMAT, GST_TIME_ARGS(pts));
      gst_pad_push_event(pad, gst_event_new_gap(pts, 0));
    }
  }
}

gboolean src_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active) {
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    {
      std::lock_guard<std::mutex> g(p->lock);
      p->src_flushing = false;
      p->srcresult = GST_FLOW_OK;
    }
    return gst_pad_start_task(pad, src_loop, self, NULL);
  }
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->src_flushing = true;
    p->srcresult = GST_FLOW_FLUSHING;
    wake_src_locked(p);
  }
  return gst_pad_stop_task(pad);
}
