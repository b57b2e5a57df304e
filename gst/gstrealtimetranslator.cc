// realtimetranslator: live interpretation through the Realtime translation API (issue 14).
// Design and timing: docs/translator.md; protocol: docs/protocol.md §15.
//
// Threads and ownership
//   * sink streaming thread: forwards every input sample (silence and GAP included: the service's
//     clock only advances with appended audio) to the engine; at EOS sends session.close and waits
//     (bounded by drain-timeout) for session.closed, then queues EOS for the output task.
//   * engine network thread (rtc::SessionListener callbacks): copies each delta into the output
//     queue with its mapped input position and the input position at arrival; never pushes.
//   * output task (on the src pad): the ONLY owner of the output timeline; pops the queue, places
//     each delta with rtcgst::xl_place() (rtctranslatortiming.h) and pushes on the three pads,
//     with silence (non-live) or GAP events (live) between phrases.
//   Output queue: bounded (kMaxQueued items); when full the oldest item is dropped and a warning
//   is posted (never silently).
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstrealtimetranslator.h"

#include <gst/audio/audio.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <string>

#include "realtime/session.h"
#include "rtclatency.h"
#include "rtcconnprops.h"
#include "rtctranslatortiming.h"

GST_DEBUG_CATEGORY_STATIC(gst_realtimetranslator_debug);
#define GST_CAT_DEFAULT gst_realtimetranslator_debug

namespace {

constexpr int kRate = 24000;
constexpr int kBps = 2;
constexpr size_t kMaxQueued = 4096;
constexpr guint kDefaultLatencyMs = 3000;
constexpr guint kDefaultDrainTimeoutMs = 15000;
constexpr const char *kDefaultLanguage = "es";
#define RTC_XL_LANGUAGES_DOC                                                                             \
  "es (Spanish), pt (Portuguese), fr (French), ja (Japanese), ru (Russian), zh (Chinese), de (German), " \
  "ko (Korean), hi (Hindi), id (Indonesian), vi (Vietnamese), it (Italian), en (English)"

enum {
  PROP_0,
  PROP_CONN_FIRST,
  PROP_LANGUAGE_CODE = PROP_CONN_FIRST + rtcgst::kConnPropCount,
  PROP_SOURCE_TRANSCRIPTION,
  PROP_NOISE_REDUCTION,
  PROP_LATENCY,
  PROP_DRAIN_TIMEOUT,
};

bool language_code_valid(const char *s) {
  if (!s) return false;
  size_t n = strlen(s);
  if (n < 2 || n > 3) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 'a' || s[i] > 'z') return false;
  return true;
}

struct OutItem {
  enum Kind { Audio, Text, SourceText, Eos, Tick } kind = Audio;  // Tick: live input progress
  GstBuffer *buf = nullptr;  // Audio
  std::string text;
  int64_t mapped = -1;   // input sample of elapsed_ms, -1 when absent
  int64_t arrival = 0;   // input samples handed to the session at arrival
};

}  // namespace

struct Listener;

struct _GstRealtimeTranslator {
  GstElement parent;
  GstPad *sinkpad, *srcpad, *textpad, *srctextpad;

  // settings (under lock)
  GMutex lock;
  rtcgst::ConnSettings conn;
  std::string language;
  std::string source_transcription;  // model, "" = off
  GstRealtimeTranslatorNoiseReduction noise_reduction;
  guint latency_ms, drain_timeout_ms;

  // runtime (under lock unless noted)
  std::unique_ptr<rtc::Session> session;
  Listener *listener;
  GCond cond;
  std::deque<OutItem> queue;
  uint64_t dropped_items;
  bool flushing;
  bool closed;           // session.closed received
  bool fatal;
  std::string fatal_msg;
  bool live, live_known;
  GstClockTime t0;       // running time of input sample 0
  int64_t in_samples;    // input samples pushed (sink thread)
  bool eos_queued;
  // output task only
  int64_t out_end;       // end of the placed audio (input-timeline samples)
  int64_t text_end, srctext_end;  // covered (text or GAP) up to here
  int64_t last_tick;              // sink thread: input position of the last Tick
  bool segment_sent;
  bool late_warned;
};

struct Listener : rtc::SessionListener {
  GstRealtimeTranslator *self;
  explicit Listener(GstRealtimeTranslator *s) : self(s) {}
  void enqueue(OutItem &&it);
  uint8_t *alloc_audio(size_t max_bytes, void **handle) override {
    GstBuffer *b = gst_buffer_new_allocate(nullptr, max_bytes, nullptr);
    GstMapInfo m;
    if (!b || !gst_buffer_map(b, &m, GST_MAP_WRITE)) {
      if (b) gst_buffer_unref(b);
      return nullptr;
    }
    gst_buffer_unmap(b, &m);  // the memory stays valid while the buffer lives (system memory)
    *handle = b;
    return m.data;
  }
  void on_audio(void *handle, size_t bytes, const rtc::AudioDeltaInfo &info) override {
    GstBuffer *b = static_cast<GstBuffer *>(handle);
    gst_buffer_set_size(b, static_cast<gssize>(bytes - bytes % kBps));
    OutItem it;
    it.kind = OutItem::Audio;
    it.buf = b;
    it.mapped = info.input_sample;
    it.arrival = info.input_sent_samples >= 0 ? info.input_sent_samples : 0;
    enqueue(std::move(it));
  }
  void free_audio(void *handle) override { gst_buffer_unref(static_cast<GstBuffer *>(handle)); }
  void on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) override;
  void on_error(const rtc::SessionError &e) override;
  void on_state(rtc::SessionState s, const std::string &detail) override;
  void on_reconnecting(int attempt, int delay_ms, const std::string &reason) override {
    gst_element_post_message(GST_ELEMENT(self),
                             gst_message_new_element(GST_OBJECT(self),
                                                     gst_structure_new("realtimetranslator/reconnecting", "attempt",
                                                                       G_TYPE_INT, attempt, "delay-ms", G_TYPE_INT,
                                                                       delay_ms, "reason", G_TYPE_STRING,
                                                                       reason.c_str(), nullptr)));
  }
  void on_input_dropped(int64_t first, int64_t samples) override {
    GST_ELEMENT_WARNING(self, STREAM, FAILED, (nullptr),
                        ("%" G_GINT64_FORMAT " ms of input audio (from sample %" G_GINT64_FORMAT
                         ") could not be sent while disconnected and were dropped",
                         samples * 1000 / kRate, first));
  }
  void on_log(rtc::LogLevel lvl, const std::string &msg) override {
    switch (lvl) {
      case rtc::LogLevel::Error: GST_ERROR_OBJECT(self, "%s", msg.c_str()); break;
      case rtc::LogLevel::Warning: GST_WARNING_OBJECT(self, "%s", msg.c_str()); break;
      case rtc::LogLevel::Info: GST_INFO_OBJECT(self, "%s", msg.c_str()); break;
      default: GST_DEBUG_OBJECT(self, "%s", msg.c_str()); break;
    }
  }
};

G_DEFINE_TYPE(GstRealtimeTranslator, gst_realtimetranslator, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(realtimetranslator, "realtimetranslator", GST_RANK_NONE, GST_TYPE_REALTIMETRANSLATOR);

GType gst_realtimetranslator_noise_reduction_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {
      {GST_REALTIMETRANSLATOR_NOISE_REDUCTION_OFF, "No noise reduction (sent as null)", "off"},
      {GST_REALTIMETRANSLATOR_NOISE_REDUCTION_NEAR_FIELD, "near_field: close-talking microphone, headset",
       "near-field"},
      {GST_REALTIMETRANSLATOR_NOISE_REDUCTION_FAR_FIELD, "far_field: room / laptop / conference microphone",
       "far-field"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&t)) {
    GType nt = g_enum_register_static("GstRealtimeTranslatorNoiseReduction", values);
    g_once_init_leave(&t, nt);
  }
  return t;
}

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("audio/x-raw, format=(string)S16LE, rate=(int)24000, channels=(int)1, layout=(string)interleaved"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("audio/x-raw, format=(string)S16LE, rate=(int)24000, channels=(int)1, layout=(string)interleaved"));
static GstStaticPadTemplate text_template =
    GST_STATIC_PAD_TEMPLATE("transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("text/x-raw, format=(string)utf8"));
static GstStaticPadTemplate srctext_template = GST_STATIC_PAD_TEMPLATE(
    "source_transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("text/x-raw, format=(string)utf8"));

// ---------------------------------------------------------------------------------------------
// Listener (network thread): copy and queue, never push.

void Listener::enqueue(OutItem &&it) {
  bool warn = false;
  g_mutex_lock(&self->lock);
  if (self->flushing) {
    g_mutex_unlock(&self->lock);
    if (it.buf) gst_buffer_unref(it.buf);
    return;
  }
  if (self->queue.size() >= kMaxQueued) {
    // policy: drop the oldest (the output task is stuck downstream); reported below
    OutItem old = std::move(self->queue.front());
    self->queue.pop_front();
    if (old.buf) gst_buffer_unref(old.buf);
    warn = (self->dropped_items++ % 256) == 0;
  }
  self->queue.push_back(std::move(it));
  g_cond_broadcast(&self->cond);
  g_mutex_unlock(&self->lock);
  if (warn)
    GST_ELEMENT_WARNING(self, STREAM, FAILED, (nullptr),
                        ("output queue full (%zu items): downstream does not consume; oldest output dropped",
                         kMaxQueued));
}

void Listener::on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) {
  using T = rtc::ServerEventType;
  if (ev.type == T::TranslationOutputTranscriptDelta || ev.type == T::TranslationInputTranscriptDelta) {
    OutItem it;
    it.kind = ev.type == T::TranslationOutputTranscriptDelta ? OutItem::Text : OutItem::SourceText;
    it.text = ev.text;
    it.mapped = ctx.input_start_sample;
    // what this session had been sent (its timeline), as for audio deltas: never the caller's
    // pushed-minus-unsent count, which also subtracts audio sent but not yet proven read
    it.arrival = ctx.input_sent_samples >= 0 ? ctx.input_sent_samples : 0;
    enqueue(std::move(it));
  } else if (ev.type == T::SessionClosed) {
    g_mutex_lock(&self->lock);
    self->closed = true;
    g_cond_broadcast(&self->cond);
    g_mutex_unlock(&self->lock);
  } else if (ev.type == T::SessionCreated) {
    gst_element_post_message(
        GST_ELEMENT(self),
        gst_message_new_element(GST_OBJECT(self),
                                gst_structure_new("realtimetranslator/session", "session-id", G_TYPE_STRING,
                                                  ev.session.id.c_str(), "model", G_TYPE_STRING,
                                                  ev.session.model.c_str(), "generation", G_TYPE_UINT,
                                                  ctx.generation, nullptr)));
  }
}

void Listener::on_error(const rtc::SessionError &e) {
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              gst_structure_new("realtimetranslator/server-error", "code", G_TYPE_STRING, e.code.c_str(),
                                                "message", G_TYPE_STRING, e.message.c_str(), "param", G_TYPE_STRING,
                                                e.param.c_str(), "fatal", G_TYPE_BOOLEAN,
                                                e.cls == rtc::ErrorClass::Fatal, nullptr)));
  // A rejected configuration (e.g. a target language the service does not offer) would translate
  // into the wrong language: fatal for this element. Other warnings: the session goes on.
  const bool config_rejected = e.client_event_type == "session.update";
  if (e.cls == rtc::ErrorClass::Fatal || config_rejected) {
    g_mutex_lock(&self->lock);
    self->fatal = true;
    self->fatal_msg = config_rejected ? "The translation service rejected the session configuration (" +
                                            (e.param.empty() ? e.code : e.param) + "): " + e.message
                                      : "Translation session failed: " + e.message;
    g_cond_broadcast(&self->cond);
    g_mutex_unlock(&self->lock);
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", self->fatal_msg.c_str()), ("code %s", e.code.c_str()));
  } else {
    GST_ELEMENT_WARNING(self, RESOURCE, READ, ("Translation service: %s", e.message.c_str()), ("code %s", e.code.c_str()));
  }
}

void Listener::on_state(rtc::SessionState s, const std::string &) {
  if (s == rtc::SessionState::Failed) {
    g_mutex_lock(&self->lock);
    self->fatal = true;
    if (self->fatal_msg.empty()) self->fatal_msg = "Translation session failed";
    g_cond_broadcast(&self->cond);
    g_mutex_unlock(&self->lock);
  }
}

// ---------------------------------------------------------------------------------------------
// Session

static rtc::SessionConfig session_config_locked(GstRealtimeTranslator *self) {
  rtc::SessionConfig c;
  c.output_language = self->language;
  if (!self->source_transcription.empty()) {
    c.input_transcription = rtc::InputTranscription();
    c.input_transcription->model = self->source_transcription;
  }
  c.noise_reduction = self->noise_reduction == GST_REALTIMETRANSLATOR_NOISE_REDUCTION_NEAR_FIELD  ? rtc::NoiseReduction::NearField
                      : self->noise_reduction == GST_REALTIMETRANSLATOR_NOISE_REDUCTION_FAR_FIELD ? rtc::NoiseReduction::FarField
                                                                                                    : rtc::NoiseReduction::Off;
  return c;
}

static void post_stats(GstRealtimeTranslator *self) {
  rtc::SessionStats st;
  g_mutex_lock(&self->lock);
  bool have = self->session != nullptr;
  if (have) st = self->session->stats();
  g_mutex_unlock(&self->lock);
  if (!have) return;
  const double minutes = st.audio_ms_sent / 60000.0;
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              gst_structure_new("realtimetranslator/stats", "audio-minutes-sent", G_TYPE_DOUBLE, minutes,
                                                "audio-ms-received", G_TYPE_DOUBLE, st.audio_ms_received, "reconnects",
                                                G_TYPE_UINT64, (guint64)st.reconnects, "server-errors", G_TYPE_UINT64,
                                                (guint64)st.server_errors, nullptr)));
}

static bool start_session(GstRealtimeTranslator *self) {
  rtc::EngineConfig cfg;
  g_mutex_lock(&self->lock);
  rtcgst::conn_props_to_engine(self->conn, &cfg);
  cfg.endpoint.kind = rtc::SessionKind::Translation;
  cfg.session = session_config_locked(self);
  cfg.chunk_ms = 100;
  cfg.renew_margin_s = 0;
  cfg.offline_buffer_ms = 30000;
  std::string err;
  rtc::ResolvedEndpoint re;
  if (!rtc::resolve_endpoint(cfg.endpoint, &re, &err)) {
    g_mutex_unlock(&self->lock);
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid endpoint settings: %s", err.c_str()), (nullptr));
    return false;
  }
  GST_INFO_OBJECT(self, "translation session on %s (target %s)", re.display_url.c_str(), self->language.c_str());
  self->listener = new Listener(self);
  self->session = std::make_unique<rtc::Session>(cfg, self->listener);
  rtc::Session *s = self->session.get();
  g_mutex_unlock(&self->lock);
  s->start();
  return true;
}

static void stop_session(GstRealtimeTranslator *self) {
  g_mutex_lock(&self->lock);
  std::unique_ptr<rtc::Session> s = std::move(self->session);
  Listener *l = self->listener;
  self->listener = nullptr;
  g_mutex_unlock(&self->lock);
  if (s) s->stop();  // no callback after this
  s.reset();
  delete l;
}

// ---------------------------------------------------------------------------------------------
// Output task

static GstClockTime samples_to_time(int64_t s) { return gst_util_uint64_scale_int(static_cast<guint64>(s), GST_SECOND, kRate); }

static void push_sticky(GstRealtimeTranslator *self) {
  if (self->segment_sent) return;
  self->segment_sent = true;
  gchar *sid = gst_pad_create_stream_id(self->srcpad, GST_ELEMENT(self), "audio");
  gchar *tid = gst_pad_create_stream_id(self->textpad, GST_ELEMENT(self), "text");
  gchar *sidt = gst_pad_create_stream_id(self->srctextpad, GST_ELEMENT(self), "source-text");
  gst_pad_push_event(self->srcpad, gst_event_new_stream_start(sid));
  gst_pad_push_event(self->textpad, gst_event_new_stream_start(tid));
  gst_pad_push_event(self->srctextpad, gst_event_new_stream_start(sidt));
  g_free(sid);
  g_free(tid);
  g_free(sidt);
  GstCaps *ac = gst_caps_from_string("audio/x-raw, format=S16LE, rate=24000, channels=1, layout=interleaved");
  GstCaps *tc = gst_caps_from_string("text/x-raw, format=utf8");
  gst_pad_push_event(self->srcpad, gst_event_new_caps(ac));
  gst_pad_push_event(self->textpad, gst_event_new_caps(tc));
  gst_pad_push_event(self->srctextpad, gst_event_new_caps(tc));
  gst_caps_unref(ac);
  gst_caps_unref(tc);
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  for (GstPad *p : {self->srcpad, self->textpad, self->srctextpad}) gst_pad_push_event(p, gst_event_new_segment(&seg));
}

// Output position of input sample x: running time of the input's first sample + x.
static GstClockTime out_time(GstRealtimeTranslator *self, int64_t x) {
  return (GST_CLOCK_TIME_IS_VALID(self->t0) ? self->t0 : 0) + samples_to_time(x);
}

// GAP events on the text pads up to `to`: downstream (a muxer, a sink waiting for preroll) may not
// wait for text that is not coming. A later text is placed at or after this point.
static void cover_texts(GstRealtimeTranslator *self, int64_t to) {
  for (int i = 0; i < 2; i++) {
    int64_t &end = i == 0 ? self->text_end : self->srctext_end;
    if (to <= end) continue;
    gst_pad_push_event(i == 0 ? self->textpad : self->srctextpad,
                       gst_event_new_gap(out_time(self, end), out_time(self, to) - out_time(self, end)));
    end = to;
  }
}

// Silence (non-live) or a GAP (live) on the audio pad from out_end up to `to`.
static GstFlowReturn fill_audio(GstRealtimeTranslator *self, int64_t to, bool live) {
  cover_texts(self, to);
  if (to <= self->out_end) return GST_FLOW_OK;
  if (live) {
    gst_pad_push_event(self->srcpad, gst_event_new_gap(out_time(self, self->out_end), samples_to_time(to - self->out_end)));
    self->out_end = to;
    return GST_FLOW_OK;
  }
  while (self->out_end < to) {
    int64_t n = std::min<int64_t>(to - self->out_end, kRate);  // at most 1 s per buffer
    GstBuffer *b = gst_buffer_new_allocate(nullptr, static_cast<gsize>(n * kBps), nullptr);
    gst_buffer_memset(b, 0, 0, static_cast<gsize>(n * kBps));
    GST_BUFFER_PTS(b) = out_time(self, self->out_end);
    GST_BUFFER_DURATION(b) = samples_to_time(self->out_end + n) - samples_to_time(self->out_end);
    GST_BUFFER_OFFSET(b) = static_cast<guint64>(self->out_end);
    self->out_end += n;
    GstFlowReturn r = gst_pad_push(self->srcpad, b);
    if (r != GST_FLOW_OK) return r;
  }
  return GST_FLOW_OK;
}

static int64_t live_floor(GstRealtimeTranslator *self, guint latency_ms) {
  GstClock *clock = gst_element_get_clock(GST_ELEMENT(self));
  if (!clock) return 0;
  GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
  GstClockTime t0 = GST_CLOCK_TIME_IS_VALID(self->t0) ? self->t0 : 0;
  if (now < base) return 0;
  GstClockTime rt = now - base;  // running time now
  GstClockTime budget = static_cast<GstClockTime>(latency_ms) * GST_MSECOND;
  if (rt < t0 + budget) return 0;
  return static_cast<int64_t>(gst_util_uint64_scale_int(rt - t0 - budget, kRate, GST_SECOND));
}

static void post_transcript(GstRealtimeTranslator *self, bool source, const std::string &text, GstClockTime rt) {
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              gst_structure_new("realtimetranslator/transcript", "kind", G_TYPE_STRING,
                                                source ? "source" : "translated", "text", G_TYPE_STRING, text.c_str(),
                                                "running-time", G_TYPE_UINT64, (guint64)rt, nullptr)));
}

static void output_loop(GstRealtimeTranslator *self) {
  g_mutex_lock(&self->lock);
  while (self->queue.empty() && !self->flushing) g_cond_wait(&self->cond, &self->lock);
  if (self->flushing) {
    g_mutex_unlock(&self->lock);
    gst_pad_pause_task(self->srcpad);
    return;
  }
  OutItem it = std::move(self->queue.front());
  self->queue.pop_front();
  const bool live = self->live;
  const guint latency_ms = self->latency_ms;
  const int64_t in_total = self->in_samples;
  g_mutex_unlock(&self->lock);

  GST_LOG_OBJECT(self, "output item kind %d (mapped %" G_GINT64_FORMAT ", arrival %" G_GINT64_FORMAT ")",
                 static_cast<int>(it.kind), it.mapped, it.arrival);
  push_sticky(self);
  GstFlowReturn ret = GST_FLOW_OK;
  const int64_t floor = live ? live_floor(self, latency_ms) : 0;
  if (it.kind == OutItem::Audio) {
    const int64_t n = static_cast<int64_t>(gst_buffer_get_size(it.buf) / kBps);
    rtcgst::XlPlacement p = rtcgst::xl_place(it.mapped, it.arrival, self->out_end, floor);
    if (p.late && !self->late_warned) {
      self->late_warned = true;
      GST_ELEMENT_WARNING(self, CORE, CLOCK, (nullptr),
                          ("translated audio is %" G_GINT64_FORMAT " ms later than the latency budget of %u ms",
                           p.late_by * 1000 / kRate, latency_ms));
    }
    ret = fill_audio(self, p.position, live);
    if (ret == GST_FLOW_OK) {
      cover_texts(self, p.position);
      GST_BUFFER_PTS(it.buf) = out_time(self, p.position);
      GST_BUFFER_DURATION(it.buf) = samples_to_time(p.position + n) - samples_to_time(p.position);
      GST_BUFFER_OFFSET(it.buf) = static_cast<guint64>(p.position);
      if (p.position > self->out_end) GST_BUFFER_FLAG_SET(it.buf, GST_BUFFER_FLAG_DISCONT);
      self->out_end = p.position + n;
      ret = gst_pad_push(self->srcpad, it.buf);
    } else {
      gst_buffer_unref(it.buf);
    }
    it.buf = nullptr;
  } else if (it.kind == OutItem::Text || it.kind == OutItem::SourceText) {
    const bool src = it.kind == OutItem::SourceText;
    int64_t &end = src ? self->srctext_end : self->text_end;
    rtcgst::XlPlacement p = rtcgst::xl_place(it.mapped, it.arrival, end, floor);
    // all pads advance together (downstream queues, muxers and prerolling sinks must not wait on
    // one pad while another runs ahead): silence / GAP on the audio pad up to this text first
    if (p.position > self->out_end) ret = fill_audio(self, p.position, live);
    end = p.position;
    GstBuffer *b = gst_buffer_new_memdup(it.text.data(), it.text.size());
    GST_BUFFER_PTS(b) = out_time(self, p.position);
    GST_BUFFER_DURATION(b) = GST_CLOCK_TIME_NONE;
    post_transcript(self, src, it.text, GST_BUFFER_PTS(b));
    GstFlowReturn r = gst_pad_push(src ? self->srctextpad : self->textpad, b);
    if (ret == GST_FLOW_OK && r != GST_FLOW_OK && r != GST_FLOW_NOT_LINKED) ret = r;  // an unlinked text pad is fine
  } else if (it.kind == OutItem::Tick) {
    // live: nothing will be placed before `floor` any more: GAP up to there (sinks preroll,
    // muxers and mixers move on)
    const int64_t f = it.arrival - static_cast<int64_t>(latency_ms) * kRate / 1000;
    if (f > 0) ret = fill_audio(self, f, true);
  } else {  // Eos
    if (!live) ret = fill_audio(self, in_total, false);  // output as long as the input
    cover_texts(self, std::max(in_total, self->out_end));
    post_stats(self);
    for (GstPad *p : {self->srcpad, self->textpad, self->srctextpad}) gst_pad_push_event(p, gst_event_new_eos());
    gst_pad_pause_task(self->srcpad);
    return;
  }
  if (ret == GST_FLOW_NOT_LINKED) ret = GST_FLOW_OK;  // audio pad unlinked: keep serving the others
  if (ret != GST_FLOW_OK) {
    GST_INFO_OBJECT(self, "output task pausing: %s", gst_flow_get_name(ret));
    if (ret == GST_FLOW_EOS || ret < GST_FLOW_EOS) {
      if (ret != GST_FLOW_FLUSHING && ret != GST_FLOW_EOS)
        GST_ELEMENT_FLOW_ERROR(self, ret);
    }
    gst_pad_pause_task(self->srcpad);
  }
}

// ---------------------------------------------------------------------------------------------
// Sink

static void detect_live(GstRealtimeTranslator *self) {
  if (self->live_known) return;
  GstQuery *q = gst_query_new_latency();
  gboolean live = FALSE;
  if (gst_pad_peer_query(self->sinkpad, q)) gst_query_parse_latency(q, &live, nullptr, nullptr);
  gst_query_unref(q);
  g_mutex_lock(&self->lock);
  self->live = live;
  self->live_known = true;
  g_mutex_unlock(&self->lock);
  GST_INFO_OBJECT(self, "upstream is %s", live ? "live" : "not live");
}

static GstFlowReturn send_input(GstRealtimeTranslator *self, const uint8_t *data, size_t len) {
  g_mutex_lock(&self->lock);
  if (self->fatal) {
    g_mutex_unlock(&self->lock);
    return GST_FLOW_ERROR;
  }
  rtc::Session *s = self->session.get();
  const bool live = self->live;
  g_mutex_unlock(&self->lock);
  if (!s) return GST_FLOW_FLUSHING;
  s->push_audio(data, len);
  // in_samples is read by the output task: written under the lock
  g_mutex_lock(&self->lock);
  self->in_samples += static_cast<int64_t>(len / kBps);
  const int64_t pos = self->in_samples;
  const bool tick = live && pos - self->last_tick >= kRate / 10;  // at most 10 ticks per second
  if (tick) self->last_tick = pos;
  g_mutex_unlock(&self->lock);
  if (tick && self->listener) {
    OutItem t;
    t.kind = OutItem::Tick;
    t.arrival = pos;
    self->listener->enqueue(std::move(t));
  }
  if (!live) {
    // Non-live: do not run ahead of the network by more than 2 s (the engine's offline buffer
    // would drop the oldest input). Polls the engine's counter; bounded by flushing / failure,
    // and by kNoProgressUs without any progress (a service that never takes the audio).
    constexpr gint64 kNoProgressUs = 30 * G_TIME_SPAN_SECOND;
    int64_t unsent = s->input_unsent_bytes();
    gint64 deadline = g_get_monotonic_time() + kNoProgressUs;
    while (unsent > 2 * kRate * kBps) {
      g_mutex_lock(&self->lock);
      bool stop = self->flushing || self->fatal;
      if (!stop) g_cond_wait_until(&self->cond, &self->lock, g_get_monotonic_time() + 10 * G_TIME_SPAN_MILLISECOND);
      g_mutex_unlock(&self->lock);
      if (stop) return self->fatal ? GST_FLOW_ERROR : GST_FLOW_FLUSHING;
      const int64_t now_unsent = s->input_unsent_bytes();
      if (now_unsent < unsent) deadline = g_get_monotonic_time() + kNoProgressUs;
      unsent = now_unsent;
      if (g_get_monotonic_time() >= deadline) {
        GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("The translation service does not take the audio."),
                          ("no progress for 30 s with %" G_GINT64_FORMAT " bytes unsent", unsent));
        return GST_FLOW_ERROR;
      }
    }
  }
  return GST_FLOW_OK;
}

static void note_first_buffer(GstRealtimeTranslator *self, GstClockTime pts, const GstSegment *seg) {
  if (GST_CLOCK_TIME_IS_VALID(self->t0)) return;
  GstClockTime rt = seg && GST_CLOCK_TIME_IS_VALID(pts) ? gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts) : 0;
  g_mutex_lock(&self->lock);
  self->t0 = GST_CLOCK_TIME_IS_VALID(rt) ? rt : 0;
  g_mutex_unlock(&self->lock);
}

static GstFlowReturn sink_chain(GstPad *pad, GstObject *parent, GstBuffer *buf) {
  auto *self = GST_REALTIMETRANSLATOR(parent);
  detect_live(self);
  GstEvent *segev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  const GstSegment *seg = nullptr;
  if (segev) gst_event_parse_segment(segev, &seg);
  note_first_buffer(self, GST_BUFFER_PTS(buf), seg);
  if (segev) gst_event_unref(segev);
  GstMapInfo m;
  if (!gst_buffer_map(buf, &m, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not read an input buffer."), (nullptr));
    return GST_FLOW_ERROR;
  }
  GstFlowReturn r = send_input(self, m.data, m.size - m.size % kBps);
  gst_buffer_unmap(buf, &m);
  gst_buffer_unref(buf);
  // GST_FLOW_ERROR: the listener has posted the element error already (on_error)
  return r;
}

static void queue_eos(GstRealtimeTranslator *self) {
  g_mutex_lock(&self->lock);
  if (!self->eos_queued) {
    self->eos_queued = true;
    OutItem it;
    it.kind = OutItem::Eos;
    self->queue.push_back(std::move(it));  // EOS is never dropped (not counted against the bound)
    g_cond_broadcast(&self->cond);
  }
  g_mutex_unlock(&self->lock);
}

static void drain(GstRealtimeTranslator *self) {
  g_mutex_lock(&self->lock);
  rtc::Session *s = self->session.get();
  const guint timeout_ms = self->drain_timeout_ms;
  g_mutex_unlock(&self->lock);
  if (s) {
    s->close_input();
    const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout_ms) * G_TIME_SPAN_MILLISECOND;
    g_mutex_lock(&self->lock);
    bool timed_out = false;
    while (!self->closed && !self->flushing && !self->fatal) {
      if (!g_cond_wait_until(&self->cond, &self->lock, deadline)) {
        timed_out = !self->closed;
        break;
      }
    }
    g_mutex_unlock(&self->lock);
    if (timed_out)
      GST_ELEMENT_WARNING(self, STREAM, FAILED, (nullptr),
                          ("no session.closed within drain-timeout (%u ms): the end of the translation may be missing",
                           timeout_ms));
  }
  queue_eos(self);
}

static gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  auto *self = GST_REALTIMETRANSLATOR(parent);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS:
    case GST_EVENT_STREAM_START:
    case GST_EVENT_SEGMENT:
      // our src pads have their own stream-start / caps / segment (push_sticky)
      gst_event_unref(event);
      return TRUE;
    case GST_EVENT_GAP: {
      // the service's clock only advances with appended audio: a gap is sent as silence
      GstClockTime ts, dur;
      gst_event_parse_gap(event, &ts, &dur);
      detect_live(self);
      GstEvent *segev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
      const GstSegment *seg = nullptr;
      if (segev) gst_event_parse_segment(segev, &seg);
      note_first_buffer(self, ts, seg);
      if (segev) gst_event_unref(segev);
      gst_event_unref(event);
      if (GST_CLOCK_TIME_IS_VALID(dur) && dur > 0) {
        size_t n = static_cast<size_t>(gst_util_uint64_scale_int(dur, kRate, GST_SECOND)) * kBps;
        std::vector<uint8_t> zeros(std::min<size_t>(n, 10 * kRate * kBps), 0);
        send_input(self, zeros.data(), zeros.size());
      }
      return TRUE;
    }
    case GST_EVENT_EOS:
      gst_event_unref(event);
      drain(self);
      return TRUE;
    case GST_EVENT_FLUSH_START: {
      g_mutex_lock(&self->lock);
      self->flushing = true;
      g_cond_broadcast(&self->cond);
      g_mutex_unlock(&self->lock);
      gboolean r = TRUE;
      for (GstPad *p : {self->srcpad, self->textpad, self->srctextpad}) r &= gst_pad_push_event(p, gst_event_ref(event));
      gst_event_unref(event);
      gst_pad_pause_task(self->srcpad);
      return r;
    }
    case GST_EVENT_FLUSH_STOP: {
      g_mutex_lock(&self->lock);
      self->flushing = false;
      for (auto &it : self->queue)
        if (it.buf) gst_buffer_unref(it.buf);
      self->queue.clear();
      g_mutex_unlock(&self->lock);
      for (GstPad *p : {self->srcpad, self->textpad, self->srctextpad}) gst_pad_push_event(p, gst_event_ref(event));
      gst_event_unref(event);
      gst_pad_start_task(self->srcpad, (GstTaskFunction)output_loop, self, nullptr);
      return TRUE;
    }
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

static gboolean src_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  auto *self = GST_REALTIMETRANSLATOR(parent);
  if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    g_mutex_lock(&self->lock);
    const GstClockTime ours = static_cast<GstClockTime>(self->latency_ms) * GST_MSECOND;
    g_mutex_unlock(&self->lock);
    return rtcgst::answer_latency_query(self->sinkpad, query, ours);
  }
  return gst_pad_query_default(pad, parent, query);
}

static gboolean src_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active) {
  auto *self = GST_REALTIMETRANSLATOR(parent);
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    g_mutex_lock(&self->lock);
    self->flushing = false;
    g_mutex_unlock(&self->lock);
    return gst_pad_start_task(pad, (GstTaskFunction)output_loop, self, nullptr);
  }
  g_mutex_lock(&self->lock);
  self->flushing = true;
  g_cond_broadcast(&self->cond);
  g_mutex_unlock(&self->lock);
  return gst_pad_stop_task(pad);
}

// ---------------------------------------------------------------------------------------------
// State, properties

static void reset_runtime(GstRealtimeTranslator *self) {
  g_mutex_lock(&self->lock);
  for (auto &it : self->queue)
    if (it.buf) gst_buffer_unref(it.buf);
  self->queue.clear();
  self->dropped_items = 0;
  self->closed = self->fatal = false;
  self->fatal_msg.clear();
  self->live = self->live_known = false;
  self->t0 = GST_CLOCK_TIME_NONE;
  self->in_samples = 0;
  self->eos_queued = false;
  self->out_end = self->text_end = self->srctext_end = 0;
  self->last_tick = 0;
  self->segment_sent = false;
  self->late_warned = false;
  g_mutex_unlock(&self->lock);
}

static GstStateChangeReturn change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_REALTIMETRANSLATOR(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    reset_runtime(self);
    if (!start_session(self)) return GST_STATE_CHANGE_FAILURE;
  }
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    g_mutex_lock(&self->lock);
    self->flushing = true;
    g_cond_broadcast(&self->cond);
    g_mutex_unlock(&self->lock);
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_realtimetranslator_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    stop_session(self);
    reset_runtime(self);
  }
  return ret;
}

static void set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_REALTIMETRANSLATOR(object);
  g_mutex_lock(&self->lock);
  if (rtcgst::conn_props_set(&self->conn, PROP_CONN_FIRST, prop_id, value)) {
    g_mutex_unlock(&self->lock);
    return;
  }
  bool resend = false;
  switch (prop_id) {
    case PROP_LANGUAGE_CODE: {
      const char *v = g_value_get_string(value);
      if (!language_code_valid(v)) {
        GST_WARNING_OBJECT(self, "language-code '%s' is not an ISO-639-1 code (2 lower-case letters): keeping '%s'",
                           v ? v : "(null)", self->language.c_str());
        break;
      }
      resend = self->language != v;
      self->language = v;
      break;
    }
    case PROP_SOURCE_TRANSCRIPTION: {
      const char *v = g_value_get_string(value);
      std::string n = (!v || !*v || g_str_equal(v, "off")) ? std::string() : std::string(v);
      resend = n != self->source_transcription;
      self->source_transcription = n;
      break;
    }
    case PROP_NOISE_REDUCTION: {
      auto n = static_cast<GstRealtimeTranslatorNoiseReduction>(g_value_get_enum(value));
      resend = n != self->noise_reduction;
      self->noise_reduction = n;
      break;
    }
    case PROP_LATENCY:
      self->latency_ms = g_value_get_uint(value);
      break;
    case PROP_DRAIN_TIMEOUT:
      self->drain_timeout_ms = g_value_get_uint(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  // while a session runs, a changed configuration goes out as session.update (docs/protocol.md §15)
  rtc::Session *s = resend ? self->session.get() : nullptr;
  rtc::SessionConfig cfg = session_config_locked(self);
  if (s) s->update_config(cfg);  // non-blocking (queued to the network thread)
  g_mutex_unlock(&self->lock);
  if (prop_id == PROP_LATENCY)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
}

static void get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_REALTIMETRANSLATOR(object);
  g_mutex_lock(&self->lock);
  if (!rtcgst::conn_props_get(self->conn, PROP_CONN_FIRST, prop_id, value)) {
    switch (prop_id) {
      case PROP_LANGUAGE_CODE: g_value_set_string(value, self->language.c_str()); break;
      case PROP_SOURCE_TRANSCRIPTION:
        g_value_set_string(value, self->source_transcription.empty() ? "off" : self->source_transcription.c_str());
        break;
      case PROP_NOISE_REDUCTION: g_value_set_enum(value, self->noise_reduction); break;
      case PROP_LATENCY: g_value_set_uint(value, self->latency_ms); break;
      case PROP_DRAIN_TIMEOUT: g_value_set_uint(value, self->drain_timeout_ms); break;
      default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
  }
  g_mutex_unlock(&self->lock);
}

static void finalize(GObject *object) {
  auto *self = GST_REALTIMETRANSLATOR(object);
  stop_session(self);
  for (auto &it : self->queue)
    if (it.buf) gst_buffer_unref(it.buf);
  self->queue.~deque();
  self->conn.~ConnSettings();
  self->language.~basic_string();
  self->source_transcription.~basic_string();
  self->fatal_msg.~basic_string();
  self->session.~unique_ptr();
  g_mutex_clear(&self->lock);
  g_cond_clear(&self->cond);
  G_OBJECT_CLASS(gst_realtimetranslator_parent_class)->finalize(object);
}

static void gst_realtimetranslator_class_init(GstRealtimeTranslatorClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(gst_realtimetranslator_debug, "realtimetranslator", 0,
                          "Live interpretation through the Realtime translation API");
  oc->set_property = set_property;
  oc->get_property = get_property;
  oc->finalize = finalize;
  rtcgst::ConnPropsInfo info;
  info.deployment_blurb =
      "Translation model (OpenAI, default gpt-realtime-translate) or Azure deployment name of a "
      "gpt-realtime-translate deployment. Sent as ?model= on /v1/realtime/translations (Azure: "
      "/openai/v1/realtime/translations, a URL form not confirmed by Azure documentation)";
  info.has_renew_margin = false;
  rtcgst::conn_props_install(oc, PROP_CONN_FIRST, info);
  const GParamFlags rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rwp = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_PLAYING);
  // the blurb is static (G_PARAM_STATIC_STRINGS): one literal
  g_object_class_install_property(
      oc, PROP_LANGUAGE_CODE,
      g_param_spec_string("language-code", "Target language",
                          "Target language of the translated speech and transcript, as an ISO-639-1 code. The service "
                          "documents 13 output languages: " RTC_XL_LANGUAGES_DOC
                          " (the source language is detected automatically). Changing it while playing sends a "
                          "session.update; a code the service rejects is an element error",
                          kDefaultLanguage, rwp));
  g_object_class_install_property(
      oc, PROP_SOURCE_TRANSCRIPTION,
      g_param_spec_string("source-transcription", "Source transcription model",
                          "Transcription model for the source-language transcript on source_transcript_src (e.g. "
                          "gpt-realtime-whisper; on Azure possibly a deployment name), or \"off\". Changing it while "
                          "playing sends a session.update",
                          "off", rwp));
  g_object_class_install_property(
      oc, PROP_NOISE_REDUCTION,
      g_param_spec_enum("noise-reduction", "Noise reduction",
                        "Input noise reduction applied by the service (audio.input.noise_reduction)",
                        gst_realtimetranslator_noise_reduction_get_type(), GST_REALTIMETRANSLATOR_NOISE_REDUCTION_OFF, rwp));
  g_object_class_install_property(
      oc, PROP_LATENCY,
      g_param_spec_uint("latency", "Latency (ms)",
                        "Live: the delay this element adds (answered in the LATENCY query): translated speech is "
                        "placed at its source phrase's position on the timeline and must arrive within this budget; "
                        "later output is pushed late with a warning. No effect on non-live streams",
                        0, 120000, kDefaultLatencyMs, rw));
  g_object_class_install_property(
      oc, PROP_DRAIN_TIMEOUT,
      g_param_spec_uint("drain-timeout", "Drain timeout (ms)",
                        "At EOS: how long to wait for session.closed (the server's remaining output) after "
                        "session.close before forwarding EOS",
                        100, 600000, kDefaultDrainTimeoutMs, rw));
  gst_element_class_add_static_pad_template(ec, &sink_template);
  gst_element_class_add_static_pad_template(ec, &src_template);
  gst_element_class_add_static_pad_template(ec, &text_template);
  gst_element_class_add_static_pad_template(ec, &srctext_template);
  gst_element_class_set_static_metadata(
      ec, "Realtime API live translator", "Filter/Audio/Converter",
      "Live interpretation through the OpenAI / Azure OpenAI Realtime translation API: translated speech, translated "
      "captions and source captions placed on the input timeline",
      "gst-realtimeconv contributors");
  ec->change_state = change_state;
  gst_type_mark_as_plugin_api(gst_realtimetranslator_noise_reduction_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_realtimetranslator_init(GstRealtimeTranslator *self) {
  g_mutex_init(&self->lock);
  g_cond_init(&self->cond);
  new (&self->conn) rtcgst::ConnSettings();
  new (&self->language) std::string(kDefaultLanguage);
  new (&self->source_transcription) std::string();
  new (&self->fatal_msg) std::string();
  new (&self->session) std::unique_ptr<rtc::Session>();
  new (&self->queue) std::deque<OutItem>();
  self->listener = nullptr;
  self->noise_reduction = GST_REALTIMETRANSLATOR_NOISE_REDUCTION_OFF;
  self->latency_ms = kDefaultLatencyMs;
  self->drain_timeout_ms = kDefaultDrainTimeoutMs;
  self->flushing = true;
  self->t0 = GST_CLOCK_TIME_NONE;

  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, sink_chain);
  gst_pad_set_event_function(self->sinkpad, sink_event);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_pad_set_query_function(self->srcpad, src_query);
  gst_pad_set_activatemode_function(self->srcpad, src_activate_mode);
  gst_pad_use_fixed_caps(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
  self->textpad = gst_pad_new_from_static_template(&text_template, "transcript_src");
  gst_pad_use_fixed_caps(self->textpad);
  gst_element_add_pad(GST_ELEMENT(self), self->textpad);
  self->srctextpad = gst_pad_new_from_static_template(&srctext_template, "source_transcript_src");
  gst_pad_use_fixed_caps(self->srctextpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srctextpad);
}
