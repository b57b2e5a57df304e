// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv: The bridge to the session engine: the listener (network thread, only enqueues), the bounded
// inbox (CtlMsg queue; policy below and in gstrealtimeconv-internal.h), the control task that
// drains it, and session start / stop / restart (lifecycle_mutex).
#include "rtcenginebridge.h"

#include "gstrealtimeconv-internal.h"
#include "gstrealtimeconv-conversation.h"
#include "gstrealtimeconv-input.h"
#include "gstrealtimeconv-messages.h"
#include "gstrealtimeconv-props.h"
#include "rtcsrcpusher.h"

GstClockTime clock_running_time(RtcPriv *p) {
  std::lock_guard<std::mutex> g(p->clock_mutex);
  if (!p->clock || !p->playing) return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time(p->clock);
  if (!GST_CLOCK_TIME_IS_VALID(now)) return GST_CLOCK_TIME_NONE;
  return now > p->base_time ? now - p->base_time : 0;
}


static void enqueue_ctl(GstRealtimeConv *self, std::unique_ptr<CtlMsg> m);
static bool handle_audio_inline(GstRealtimeConv *self, CtlMsg &m);

// ---------------------------------------------------------------------------------------------
// Engine listener: runs on the engine's network thread, only enqueues.
// ---------------------------------------------------------------------------------------------

namespace {

class Listener final : public rtc::SessionListener {
 public:
  Listener(GstRealtimeConv *self, uint64_t serial) : self_(self), serial_(serial) {}

  void on_state(rtc::SessionState state, const std::string &detail) override {
    auto m = make(CtlMsg::State);
    m->state = state;
    m->text = detail;
    enqueue_ctl(self_, std::move(m));
  }
  void on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) override {
    switch (ev.type) {
      case rtc::ServerEventType::AudioDelta:
      case rtc::ServerEventType::Error:  // delivered classified through on_error()
        return;
      default:
        break;
    }
    auto m = make(CtlMsg::Event);
    m->ev = rtcgst::inbox_copy(ev);  // text capped (rtctextqueue.h)
    if (m->ev->text.size() < ev.text.size())
      GST_WARNING_OBJECT(self_, "%s: text of %" G_GSIZE_FORMAT " bytes cut to %" G_GSIZE_FORMAT, ev.type_name.c_str(),
                         ev.text.size(), m->ev->text.size());
    m->ctx = ctx;
    enqueue_ctl(self_, std::move(m));
  }
  uint8_t *alloc_audio(size_t max_bytes, void **handle) override {
    auto *h = new AudioHandle;
    h->buf = gst_buffer_new_allocate(NULL, std::max<size_t>(max_bytes, 1), NULL);
    if (!h->buf || !gst_buffer_map(h->buf, &h->map, GST_MAP_WRITE)) {
      if (h->buf) gst_buffer_unref(h->buf);
      delete h;
      *handle = nullptr;
      return nullptr;
    }
    *handle = h;
    return h->map.data;
  }
  // A large frame's audio, decoded in place by the engine: the buffer wraps it (no copy).
  void *adopt_audio(uint8_t *block, size_t bytes) override {
    auto *h = new AudioHandle;
    h->buf = gst_buffer_new_wrapped(block, std::max<size_t>(bytes, 1));  // g_free()d with the buffer
    h->mapped = false;
    return h;
  }
  void on_audio(void *handle, size_t bytes, const rtc::AudioDeltaInfo &info) override {
    auto *h = static_cast<AudioHandle *>(handle);
    if (!h) return;
    if (h->mapped) gst_buffer_unmap(h->buf, &h->map);
    gst_buffer_set_size(h->buf, (gssize)bytes);
    auto m = make(CtlMsg::Audio);
    m->audio = h->buf;
    m->audio_bytes = bytes;
    m->ainfo = info;
    delete h;
    if (handle_audio_inline(self_, *m)) return;
    enqueue_ctl(self_, std::move(m));
  }
  void free_audio(void *handle) override {
    auto *h = static_cast<AudioHandle *>(handle);
    if (!h) return;
    if (h->mapped) gst_buffer_unmap(h->buf, &h->map);
    gst_buffer_unref(h->buf);
    delete h;
  }
  void on_error(const rtc::SessionError &err) override {
    auto m = make(CtlMsg::Error);
    m->err = err;
    enqueue_ctl(self_, std::move(m));
  }
  void on_function_call(const rtc::FunctionCall &call) override {
    auto m = make(CtlMsg::FunctionCall);
    m->call = call;
    enqueue_ctl(self_, std::move(m));
  }
  void on_reconnecting(int attempt, int delay_ms, const std::string &reason) override {
    auto m = make(CtlMsg::Reconnecting);
    m->reconnect.attempt = attempt;
    m->reconnect.delay_ms = delay_ms;
    m->text = reason;
    enqueue_ctl(self_, std::move(m));
  }
  void on_reconnected(int items_replayed, bool planned_renewal) override {
    auto m = make(CtlMsg::Reconnected);
    m->reconnect.items_replayed = items_replayed;
    m->reconnect.planned_renewal = planned_renewal;
    enqueue_ctl(self_, std::move(m));
  }
  void on_input_dropped(int64_t first_sample, int64_t samples) override {
    auto m = make(CtlMsg::InputDropped);
    m->dropped.first_sample = first_sample;
    m->dropped.samples = samples;
    enqueue_ctl(self_, std::move(m));
  }
  void on_log(rtc::LogLevel level, const std::string &msg) override {
#ifndef GST_DISABLE_GST_DEBUG
    GstDebugLevel l = GST_LEVEL_DEBUG;
    switch (level) {
      case rtc::LogLevel::Error: l = GST_LEVEL_ERROR; break;
      case rtc::LogLevel::Warning: l = GST_LEVEL_WARNING; break;
      case rtc::LogLevel::Info: l = GST_LEVEL_INFO; break;
      case rtc::LogLevel::Debug: l = GST_LEVEL_DEBUG; break;
      case rtc::LogLevel::Trace: l = GST_LEVEL_TRACE; break;
    }
    GST_CAT_LEVEL_LOG(gst_realtimeconv_engine_debug, l, self_, "%s", msg.c_str());
#else
    (void)level;
    (void)msg;
#endif
  }

 private:
  std::unique_ptr<CtlMsg> make(CtlMsg::Kind k) {
    auto m = std::make_unique<CtlMsg>();
    m->kind = k;
    m->serial = serial_;
    m->arrival_rt = clock_running_time(self_->priv);
    return m;
  }
  GstRealtimeConv *self_;
  uint64_t serial_;
};

}  // namespace

// Bounded (see kMaxInboxAudioSeconds / kMaxInboxOther): the network thread never blocks here.
static void enqueue_ctl(GstRealtimeConv *self, std::unique_ptr<CtlMsg> m) {
  RtcPriv *p = self->priv;
  bool warn_audio = false, warn_other = false;
  const uint64_t serial = m->serial;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    if (m->kind == CtlMsg::Audio) {
      if (p->inbox_audio_bytes + m->audio_bytes > p->inbox_audio_limit.load()) {
        p->inbox_dropped_bytes += m->audio_bytes;
        warn_audio = !p->inbox_audio_warned;
        p->inbox_audio_warned = true;
        m.reset();
      } else {
        p->inbox_audio_bytes += m->audio_bytes;
      }
    } else if (p->inbox_other >= kMaxInboxOther) {
      warn_other = !p->inbox_other_warned;
      p->inbox_other_warned = true;
      m.reset();
    } else {
      p->inbox_other++;
    }
    if (m) {
      p->inbox.push_back(std::move(m));
      p->pending++;
      p->inbox_pushed++;
    }
  }
  if (warn_audio)
    GST_WARNING_OBJECT(self, "control thread is %d s behind: dropping response audio (output-audio-dropped)",
                       kMaxInboxAudioSeconds);
  if (warn_other)
    GST_WARNING_OBJECT(self, "control thread is %u notifications behind: dropping notifications",
                       (guint)kMaxInboxOther);
  if (warn_audio || warn_other) {
    // Told to the application by the control thread (once), when it runs again.
    auto w = std::make_unique<CtlMsg>();
    w->kind = CtlMsg::InboxOverflow;
    w->serial = serial;
    w->overflow_audio = warn_audio;
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    p->inbox.push_back(std::move(w));
    p->pending++;
    p->inbox_pushed++;
  }
  p->inbox_cond.notify_one();
}

uint64_t inbox_mark(RtcPriv *p) { return p->inbox_pushed.load(); }

bool inbox_handled_up_to(RtcPriv *p, uint64_t mark) { return p->inbox_handled.load() >= mark; }

std::shared_ptr<rtcgst::SessionPort> get_session(RtcPriv *p) {
  std::lock_guard<std::mutex> g(p->session_mutex);
  return p->session;
}

// The running session and the audio formats it was started with (session_mutex).
static std::shared_ptr<rtcgst::SessionPort> session_and_formats(RtcPriv *p, rtc::AudioFormat *in,
                                                                rtc::AudioFormat *out) {
  std::lock_guard<std::mutex> g(p->session_mutex);
  *in = p->session_in_fmt;
  *out = p->session_out_fmt;
  return p->session;
}

// Pushes the current session configuration (session props changed while running).
uint64_t apply_session_config(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::AudioFormat in, out;
  std::shared_ptr<rtcgst::SessionPort> sess = session_and_formats(p, &in, &out);
  if (!sess) return 0;
  rtc::SessionConfig c;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    c = build_session_config(p->settings, p->tools_clean, in, out);
  }
  GST_DEBUG_OBJECT(self, "session properties changed: sending session.update");
  return sess->update_config(c);
}

void apply_engine_config(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::AudioFormat in, out;
  std::shared_ptr<rtcgst::SessionPort> sess = session_and_formats(p, &in, &out);
  if (sess) sess->set_engine_config(build_engine_config(p, in, out));
}

// Preferred format of a peer (first structure of its caps within our template), or `fallback`.
static rtc::AudioFormat peer_format(GstPad *pad, rtc::AudioFormat fallback) {
  GstCaps *templ = gst_pad_get_pad_template_caps(pad);
  GstCaps *caps = gst_pad_peer_query_caps(pad, templ);
  gst_caps_unref(templ);
  rtc::AudioFormat f = fallback;
  if (caps && !gst_caps_is_empty(caps) && !gst_caps_is_any(caps)) {
    GstCaps *tmp = gst_caps_copy(caps);
    tmp = gst_caps_truncate(tmp);
    if (!fmt_from_structure(gst_caps_get_structure(tmp, 0), &f)) f = fallback;
    gst_caps_unref(tmp);
  }
  if (caps) gst_caps_unref(caps);
  return f;
}

// Both with lifecycle_mutex held.
void stop_session_locked(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  std::shared_ptr<rtcgst::SessionPort> s;
  std::unique_ptr<rtc::SessionListener> l;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    s = std::move(p->session);
    l = std::move(p->listener);
    p->session_serial++;  // notifications still queued for the old session are dropped
  }
  if (s) {
    GST_DEBUG_OBJECT(self, "stopping session");
    s->stop();  // returns when no callback runs and none will run again
  }
  s.reset();
  l.reset();
}

void start_session_locked(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::AudioFormat in, out;
  bool have_caps;
  {
    std::lock_guard<std::mutex> g(p->lock);
    have_caps = p->st.have_caps;
    in = p->in_fmt;
  }
  if (!have_caps) in = peer_format(self->sinkpad, rtc::AudioFormat::PCM16);
  // The output format is chosen once (downstream may have been told already): a restart for a new
  // input format keeps it.
  if (p->out_fmt_chosen) {
    std::lock_guard<std::mutex> g(p->lock);
    out = p->out_fmt;
  } else {
    out = peer_format(self->srcpad, rtc::AudioFormat::PCM16);
    p->out_fmt_chosen = true;
  }
  rtc::EngineConfig cfg = build_engine_config(p, in, out);
  rtcgst::SessionFactory factory;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    factory = p->factory;
  }
  uint64_t serial;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    serial = ++p->session_serial;
  }
  auto listener = std::make_unique<Listener>(self, serial);
  std::unique_ptr<rtcgst::SessionPort> sess =
      factory ? factory(cfg, listener.get()) : rtcgst::make_engine_session(cfg, listener.get());
  std::shared_ptr<rtcgst::SessionPort> shared(std::move(sess));
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->out_fmt = out;
    p->out_rate = fmt_rate(out);
    p->out_bpf = fmt_bpf(out);
    p->timeline.reset(fmt_rate(in));
  }
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    p->session = shared;
    p->listener = std::move(listener);
    p->session_in_fmt = in;
    p->session_out_fmt = out;
  }
  p->inbox_bytes_per_sec = fmt_rate(out) * fmt_bpf(out);
  p->inbox_audio_limit = (size_t)kMaxInboxAudioSeconds * (size_t)(fmt_rate(out) * fmt_bpf(out));
  GST_INFO_OBJECT(self, "starting session: input %s, output %s", fmt_name(in), fmt_name(out));
  shared->start();
}

void stop_session(GstRealtimeConv *self) {
  std::lock_guard<std::mutex> g(self->priv->lifecycle_mutex);
  stop_session_locked(self);
}

void start_session(GstRealtimeConv *self) {
  std::lock_guard<std::mutex> g(self->priv->lifecycle_mutex);
  stop_session_locked(self);  // (a session can only exist here after a failed state change)
  start_session_locked(self);
}

// Control thread. Posts the input dropped since the last such warning (nothing if none).
void post_input_dropped_warning(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  if (p->drop_warn_samples <= 0) return;
  int rate;
  {
    std::lock_guard<std::mutex> g(p->lock);
    rate = p->timeline.rate();
  }
  const int64_t first = p->drop_warn_first, n = p->drop_warn_samples;
  p->drop_warn_first = -1;
  p->drop_warn_samples = 0;
  p->drop_warn_last_us = g_get_monotonic_time();
  GST_ELEMENT_WARNING(self, STREAM, FAILED,
                      ("%.1f s of input audio were dropped while the session was disconnected.", (double)n / rate),
                      ("from sample %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " samples in all (stats "
                       "input-ms-dropped has the total)", first, n));
}

// Response audio is turned into timed output on the engine's thread itself when the control
// thread has nothing pending: one thread hand-off less per delta (the src task is woken directly).
// Order is kept: every notification of a session comes from the one network thread it is bound
// to, so when nothing is pending no earlier notification can still be in flight. Nothing here blocks: the state lock
// is only ever held for bookkeeping (never across a push or a wait), and what must be posted
// (a late-audio warning) goes to the control thread, so no bus handler runs on the network thread.
static bool handle_audio_inline(GstRealtimeConv *self, CtlMsg &m) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    if (p->ctl_stop || p->pending.load() != 0) return false;
  }
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    if (m.serial != p->session_serial) return true;  // a replaced session's audio: dropped
  }
  auto d = std::make_unique<Deferred>();
  handle_audio(self, m, *d);
  if (!d->empty()) {
    auto post = std::make_unique<CtlMsg>();
    post->kind = CtlMsg::Post;
    post->serial = m.serial;
    post->deferred = std::move(d);
    enqueue_ctl(self, std::move(post));
  }
  return true;
}

void ctl_loop(gpointer data) {
  GstRealtimeConv *self = GST_REALTIMECONV(data);
  RtcPriv *p = self->priv;
  std::unique_ptr<CtlMsg> m;
  {
    std::unique_lock<std::mutex> lk(p->inbox_mutex);
    auto ready = [p] { return p->ctl_stop || !p->inbox.empty(); };
    if (p->drop_warn_samples > 0) {
      // Input drops not told yet: told when the interval since the last warning has passed,
      // even if no other notification comes (the end of an outage).
      const gint64 wait_us =
          std::max<gint64>(0, p->drop_warn_last_us + kDropWarnIntervalUs - g_get_monotonic_time());
      if (!p->inbox_cond.wait_for(lk, std::chrono::microseconds(wait_us), ready)) {
        lk.unlock();
        post_input_dropped_warning(self);
        return;
      }
    } else {
      p->inbox_cond.wait(lk, ready);
    }
    if (p->ctl_stop) return;
    m = std::move(p->inbox.front());
    p->inbox.pop_front();
    if (m->kind == CtlMsg::Audio)
      p->inbox_audio_bytes -= std::min(p->inbox_audio_bytes, m->audio_bytes);
    else if (m->kind != CtlMsg::InboxOverflow && p->inbox_other > 0)
      p->inbox_other--;
  }
  process_msg(self, *m);
  m.reset();
  p->pending--;
  p->inbox_handled++;
  // Whatever the message was, a drain / turn wait may now be able to go on (the engine counters
  // they check change with the events that are delivered here).
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->drain_cond.notify_all();
  }
}

void start_ctl_task(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    p->ctl_stop = false;
  }
  gst_task_start(p->ctl_task);
}

void stop_ctl_task(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    p->ctl_stop = true;
  }
  p->inbox_cond.notify_all();
  gst_task_stop(p->ctl_task);
  gst_task_join(p->ctl_task);
  std::deque<std::unique_ptr<CtlMsg>> left;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    left.swap(p->inbox);
    p->pending = 0;
    p->inbox_handled = p->inbox_pushed.load();  // never to be handled: nobody waits for them
    p->inbox_audio_bytes = 0;
    p->inbox_other = 0;
    p->inbox_audio_warned = p->inbox_other_warned = false;
  }
  // The control thread is joined: its own state is ours now. Drops not told yet are told.
  post_input_dropped_warning(self);
  p->drop_warn_last_us = 0;
}
