// realtimetranscriber: live captions from a transcription-only Realtime session (issue 13,
// docs/transcriber.md, docs/protocol.md §14).
//
// Threads and ownership
//  * sink streaming thread: audio in, local commit decision (LocalCommit), pushes audio into the
//    engine (never blocks on the network), queues markers (segment, EOS) for the src task.
//  * engine network thread (TxListener): copies transcription events into the bounded queue
//    `q` and returns.
//  * src pad task: the ONLY thread that pushes on the src pad (text buffers, GAP events,
//    rstranscribe/final-transcript, EOS) and that owns the output timeline (out_pos, prev_end).
//  Queue `q`: at most kMaxQueued entries; when full, the oldest partial (delta) entry is dropped
//  and counted (finals, errors and markers are never dropped).
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstrealtimetranscriber.h"

#include <gst/audio/audio.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rtclatency.h"
#include "rtcconnprops.h"
#include "rtcsessionport.h"
#include "rtctranscripttiming.h"

GST_DEBUG_CATEGORY_STATIC(gst_realtimetranscriber_debug);
#define GST_CAT_DEFAULT gst_realtimetranscriber_debug

namespace {

constexpr size_t kMaxQueued = 4096;
constexpr const char *kDefaultModel = "gpt-realtime-whisper";

enum {
  PROP_0,
  PROP_CONN_FIRST,
  PROP_LANGUAGE_CODE = PROP_CONN_FIRST + rtcgst::kConnPropCount,
  PROP_LATENCY,
  PROP_LATENESS,
  PROP_DELAY,
  PROP_PROMPT,
  PROP_KEYWORDS,
  PROP_NOISE_REDUCTION,
  PROP_COMMIT_POLICY,
  PROP_END_OF_SPEECH,
  PROP_MAX_SEGMENT,
  PROP_SPEECH_THRESHOLD,
  PROP_CONFIDENCE,
  PROP_EOS_TIMEOUT,
  PROP_LATE_TEXT,
};

constexpr guint kDefaultLatency = 3000, kDefaultLateness = 0;
constexpr guint kDefaultEndOfSpeech = 600, kDefaultMaxSegment = 15000, kDefaultEosTimeout = 10000;
constexpr double kDefaultThreshold = -40.0;

struct TxEvent {
  enum Kind { Delta, Completed, Failed, Segment, Committed, Error, SegmentMarker, Eos, Reconnected } kind = Delta;
  std::string text, item_id, speaker;
  int64_t start = -1, end = -1;  // input samples
  bool committed = false;
  double confidence = -1;        // exp(mean logprob), -1 = unknown
  int lost_commits = 0;          // Reconnected: commits the old server session never answered
  uint64_t ticket = 0;           // Eos: the barrier's update ticket (0: no session)
  GstSegment segment;
};

double confidence_of(const std::vector<double> &lp) {
  if (lp.empty()) return -1;
  double s = 0;
  for (double v : lp) s += v;
  return std::exp(s / static_cast<double>(lp.size()));
}

bool is_streaming_model(const std::string &m) { return m == "gpt-realtime-whisper" || m == "gpt-live-transcribe"; }

}  // namespace

struct Settings {
  rtcgst::ConnSettings conn;
  std::string language_code, prompt, keywords;
  guint latency = kDefaultLatency, lateness = kDefaultLateness;
  GstRealtimeTranscriberDelay delay = GST_REALTIMETRANSCRIBER_DELAY_LOW;
  GstRealtimeTranscriberNoiseReduction noise = GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_OFF;
  GstRealtimeTranscriberCommit commit = GST_REALTIMETRANSCRIBER_COMMIT_AUTO;
  guint end_of_speech = kDefaultEndOfSpeech, max_segment = kDefaultMaxSegment, eos_timeout = kDefaultEosTimeout;
  double threshold = kDefaultThreshold;
  bool confidence = false;
};

struct TxState;

class TxListener : public rtc::SessionListener {
 public:
  explicit TxListener(TxState *st) : st_(st) {}
  uint8_t *alloc_audio(size_t, void **handle) override {
    *handle = nullptr;
    return nullptr;  // transcription sessions send no audio
  }
  void on_audio(void *, size_t, const rtc::AudioDeltaInfo &) override {}
  void free_audio(void *) override {}
  void on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) override;
  void on_error(const rtc::SessionError &err) override;
  void on_state(rtc::SessionState s, const std::string &detail) override;
  void on_log(rtc::LogLevel level, const std::string &msg) override;
  void on_input_dropped(int64_t first, int64_t samples) override;
  void on_reconnected(int, bool) override;
  void on_commits_lost(int n) override { lost_pending_ += n; }

 private:
  TxState *st_;
  int lost_pending_ = 0;  // network thread: lost commits told by on_commits_lost, settled at on_reconnected
};

struct TxState {
  // queue (any thread -> src task)
  std::mutex mu;
  std::condition_variable cv;
  std::deque<TxEvent> q;
  uint64_t dropped_partials = 0;
  bool flushing = false;
  void push(TxEvent &&e) {
    push_with(std::move(e), [](TxEvent &) {});
  }
  // `under_lock` runs in the same critical section as the enqueue, so a count it changes
  // (commits_seen) is never seen by the src task without the event that goes with it
  template <typename F>
  void push_with(TxEvent &&e, F &&under_lock) {
    {
      std::lock_guard<std::mutex> lk(mu);
      under_lock(e);
      if (q.size() >= kMaxQueued) {
        // full (downstream blocks the src task): drop the oldest partial; with none queued, the
        // oldest entry that is not an error, EOS, committed or reconnected. Those are kept (the
        // commit counts depend on them) and come at most one per commit or reconnect, so the
        // queue stays within kMaxQueued + 1 plus the commits and reconnects still unhandled
        auto victim = std::find_if(q.begin(), q.end(), [](const TxEvent &x) { return x.kind == TxEvent::Delta; });
        if (victim == q.end())
          victim = std::find_if(q.begin(), q.end(),
                                [](const TxEvent &x) {
                                  // never the events a count depends on (commits_seen, outstanding)
                                  return x.kind != TxEvent::Error && x.kind != TxEvent::Eos &&
                                         x.kind != TxEvent::Committed && x.kind != TxEvent::Reconnected;
                                });
        if (victim != q.end()) {
          q.erase(victim);
          dropped_partials++;
        }
      }
      q.push_back(std::move(e));
    }
    cv.notify_all();
  }
  GstElement *element = nullptr;
  std::atomic<int64_t> samples_in{0};          // input samples received (sink thread writes)
  std::atomic<int64_t> buffer_start{0};        // first sample of the uncommitted buffer
  std::atomic<int> commits_sent{0};            // local commits (sink thread)
  std::atomic<int> commits_seen{0};            // committed events + failed commits (listener)
  std::atomic<bool> live{false};
  std::atomic<guint64> first_pts{GST_CLOCK_TIME_NONE};  // PTS of input sample 0
  std::atomic<uint64_t> late_texts{0};
  std::atomic<int64_t> committed_end{0};  // end of the last committed item (listener)
  // local commits: speech span (absolute input samples) of each commit, in commit order; bounded
  // (kMaxSpans, oldest dropped: its utterance is then placed over its committed span). Under mu.
  std::deque<rtcgst::TextSpan> speech_spans;
  // The session's configuration, sent again at EOS as a barrier (sink thread; docs/transcriber.md).
  rtc::SessionConfig barrier_cfg;
  // The EOS barrier was sent on a configured session: a rejection of an update from then on is
  // that barrier's (the configuration itself was accepted), a warning and not an error.
  std::atomic<bool> eos_barrier_sent{false};
};
constexpr size_t kMaxSpans = 256;

struct _GstRealtimeTranscriber {
  GstElement parent;
  GstPad *sinkpad, *srcpad;
  GMutex lock;  // settings
  Settings s;
  // created at the first caps (sink thread), destroyed at stop
  std::unique_ptr<TxState> st;
  std::unique_ptr<TxListener> listener;
  std::unique_ptr<rtcgst::SessionPort> session;
  // sink thread only
  int rate = 24000;
  int bps = 2;  // bytes per sample
  rtc::AudioFormat fmt = rtc::AudioFormat::PCM16;
  bool local_commit = true;
  rtcgst::LocalCommit vad;
  double threshold = kDefaultThreshold;
  int64_t frame_pos = 0;         // input sample at the end of the current analysis frame
  int64_t last_speech_end = -1;  // input sample at the end of the last speech frame
  std::vector<int16_t> frame;  // current 10 ms analysis frame (decoded)
  // src task only
  bool sent_header = false;
  GstSegment segment;
  bool have_segment = false;
  int64_t out_pos = 0, prev_end = 0, last_completed_end = 0, last_committed_end = 0;
  int outstanding = 0;  // committed, not completed/failed yet
  bool eos_pending = false;
  gint64 eos_deadline = 0;
  uint64_t eos_ticket = 0;    // the EOS barrier's update ticket
  bool eos_answered = false;  // it is answered, and every event before the answer handled
  int lag_samples = 0;
  bool warned_late = false;
  std::deque<std::pair<std::string, rtcgst::TextSpan>> item_speech;  // item id -> speech span (bounded)
};

G_DEFINE_TYPE(GstRealtimeTranscriber, gst_realtimetranscriber, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(realtimetranscriber, "realtimetranscriber", GST_RANK_NONE, GST_TYPE_REALTIMETRANSCRIBER);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("audio/x-raw, format=S16LE, rate=24000, channels=1, layout=interleaved; "
                    "audio/x-mulaw, rate=8000, channels=1; audio/x-alaw, rate=8000, channels=1"));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("text/x-raw, format=utf8"));

// ------------------------------------------------------------------------------------------
// enums

GType gst_realtimetranscriber_delay_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {
      {GST_REALTIMETRANSCRIBER_DELAY_MINIMAL, "Least audio context, fastest text", "minimal"},
      {GST_REALTIMETRANSCRIBER_DELAY_LOW, "Low delay (default)", "low"},
      {GST_REALTIMETRANSCRIBER_DELAY_MEDIUM, "Medium delay", "medium"},
      {GST_REALTIMETRANSCRIBER_DELAY_HIGH, "High delay, more accurate", "high"},
      {GST_REALTIMETRANSCRIBER_DELAY_XHIGH, "Most audio context, slowest text", "xhigh"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&t)) g_once_init_leave(&t, g_enum_register_static("GstRealtimeTranscriberDelay", values));
  return t;
}

GType gst_realtimetranscriber_commit_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {
      {GST_REALTIMETRANSCRIBER_COMMIT_AUTO, "Local for streaming models (they reject server VAD), server VAD otherwise",
       "auto"},
      {GST_REALTIMETRANSCRIBER_COMMIT_LOCAL, "Local end of speech and maximum segment length", "local"},
      {GST_REALTIMETRANSCRIBER_COMMIT_SERVER_VAD, "The server's voice activity detection commits", "server-vad"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&t)) g_once_init_leave(&t, g_enum_register_static("GstRealtimeTranscriberCommit", values));
  return t;
}

GType gst_realtimetranscriber_noise_reduction_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {
      {GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_OFF, "Off", "off"},
      {GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_NEAR_FIELD, "Near field (headset, close microphone)", "near-field"},
      {GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_FAR_FIELD, "Far field (laptop, room microphone)", "far-field"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&t))
    g_once_init_leave(&t, g_enum_register_static("GstRealtimeTranscriberNoiseReduction", values));
  return t;
}

// ------------------------------------------------------------------------------------------
// listener (network thread): copy and return

void TxListener::on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) {
  TxEvent e;
  e.item_id = ev.item_id;
  e.start = ctx.input_start_sample;
  e.end = ctx.input_end_sample;
  switch (ev.type) {
    case rtc::ServerEventType::InputTranscriptionDelta:
      e.kind = TxEvent::Delta;
      e.text = ev.text;
      e.confidence = confidence_of(ev.logprobs);
      break;
    case rtc::ServerEventType::InputTranscriptionCompleted:
      e.kind = TxEvent::Completed;
      e.text = ev.text;
      e.confidence = confidence_of(ev.logprobs);
      break;
    case rtc::ServerEventType::InputTranscriptionFailed:
      e.kind = TxEvent::Failed;
      e.text = ev.error.message;
      break;
    case rtc::ServerEventType::InputTranscriptionSegment:
      e.kind = TxEvent::Segment;
      e.text = ev.text;
      e.speaker = ev.speaker;
      break;
    case rtc::ServerEventType::InputBufferCommitted:
      e.kind = TxEvent::Committed;
      if (e.end > st_->committed_end.load()) st_->committed_end = e.end;
      st_->push_with(std::move(e), [this](TxEvent &) { st_->commits_seen++; });
      return;
    default:
      return;
  }
  st_->push(std::move(e));
}

void TxListener::on_error(const rtc::SessionError &err) {
  const bool rejected_config = err.client_event_type == "session.update" ||
                               err.client_event_type == "transcription_session.update";
  if (err.client_event_type == "input_audio_buffer.commit") {
    {
      std::lock_guard<std::mutex> lk(st_->mu);
      st_->commits_seen++;  // a commit that will not be answered by committed (e.g. commit_empty)
    }
    st_->cv.notify_all();
  }
  if (rejected_config && err.cls != rtc::ErrorClass::Fatal && st_->eos_barrier_sent.load()) {
    // still an answer: the barrier is over (docs/transcriber.md)
    GST_WARNING_OBJECT(st_->element, "the service rejected the EOS barrier (%s: %s)", err.code.c_str(),
                       err.message.c_str());
    return;
  }
  if (err.cls == rtc::ErrorClass::Fatal || rejected_config) {
    TxEvent e;
    e.kind = TxEvent::Error;
    e.text = rejected_config ? "The service rejected the transcription configuration: " + err.message : err.message;
    st_->push(std::move(e));
  } else {
    GST_WARNING_OBJECT(st_->element, "service error %s: %s", err.code.c_str(), err.message.c_str());
  }
}

void TxListener::on_state(rtc::SessionState s, const std::string &detail) {
  GST_INFO_OBJECT(st_->element, "session %s %s", rtc::session_state_name(s), detail.c_str());
  if (s == rtc::SessionState::Failed) {
    TxEvent e;
    e.kind = TxEvent::Error;
    e.text = "The transcription session failed: " + detail;
    st_->push(std::move(e));
  }
}

void TxListener::on_input_dropped(int64_t first, int64_t samples) {
  GST_WARNING_OBJECT(st_->element, "%" G_GINT64_FORMAT " input samples from %" G_GINT64_FORMAT
                     " were dropped while the service was unreachable", samples, first);
}

void TxListener::on_reconnected(int, bool) {
  // The old server session's unanswered commits can never be answered: the engine says how many
  // (on_commits_lost, just before). Settled here, on the network thread that also counts the
  // answers, so no increment is lost. A commit made while disconnected was queued and is sent on
  // the new session (the engine sends the input again first): it stays pending. (Counting every
  // commit not answered yet as lost took those for lost too: their transcripts were then pushed
  // as late text, after the GAPs had passed them.)
  TxEvent e;
  e.kind = TxEvent::Reconnected;
  st_->push_with(std::move(e), [this](TxEvent &queued) {
    queued.lost_commits = lost_pending_;
    st_->commits_seen += lost_pending_;
    lost_pending_ = 0;
  });
}

void TxListener::on_log(rtc::LogLevel level, const std::string &msg) {
  if (level <= rtc::LogLevel::Warning)
    GST_WARNING_OBJECT(st_->element, "%s", msg.c_str());
  else
    GST_DEBUG_OBJECT(st_->element, "%s", msg.c_str());
}

// ------------------------------------------------------------------------------------------
// src task (the only pusher on the src pad)

static GstClockTime samples_to_time(GstRealtimeTranscriber *self, int64_t samples) {
  GstClockTime base = self->st->first_pts.load();
  if (!GST_CLOCK_TIME_IS_VALID(base))
    base = self->have_segment && GST_CLOCK_TIME_IS_VALID(self->segment.start) ? self->segment.start : 0;
  return base + gst_util_uint64_scale_int(static_cast<guint64>(std::max<int64_t>(0, samples)), GST_SECOND, self->rate);
}

static void ensure_header(GstRealtimeTranscriber *self) {
  if (self->sent_header) return;
  self->sent_header = true;
  gchar *sid = gst_pad_create_stream_id(self->srcpad, GST_ELEMENT(self), "text");
  gst_pad_push_event(self->srcpad, gst_event_new_stream_start(sid));
  g_free(sid);
  gst_pad_push_event(self->srcpad, gst_event_new_caps(gst_static_pad_template_get_caps(&src_template)));
  GstSegment seg;
  if (self->have_segment)
    seg = self->segment;
  else
    gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_pad_push_event(self->srcpad, gst_event_new_segment(&seg));
}

static void post_transcript(GstRealtimeTranscriber *self, const std::string &text, bool final, int64_t start,
                            int64_t end, double confidence, const std::string &item_id) {
  GstClockTime pts = samples_to_time(self, start);
  GstClockTime rt = self->have_segment ? gst_segment_to_running_time(&self->segment, GST_FORMAT_TIME, pts) : pts;
  GstStructure *s = gst_structure_new("realtimetranscriber/transcript", "text", G_TYPE_STRING, text.c_str(),
                                      "final", G_TYPE_BOOLEAN, final, "running-time", G_TYPE_UINT64, rt,
                                      "duration", G_TYPE_UINT64, samples_to_time(self, end) - pts, "confidence",
                                      G_TYPE_DOUBLE, confidence, "item-id", G_TYPE_STRING, item_id.c_str(), NULL);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

static GstFlowReturn push_text(GstRealtimeTranscriber *self, const rtcgst::TimedWord &w) {
  int64_t start = w.span.start, end = w.span.end;
  if (start < self->out_pos) {  // already covered by a GAP or earlier text: late
    const int64_t late = self->out_pos - start;
    guint lateness;
    g_mutex_lock(&self->lock);
    lateness = self->s.lateness;
    g_mutex_unlock(&self->lock);
    if (late * 1000 > static_cast<int64_t>(lateness) * self->rate) {
      self->st->late_texts++;
      if (!self->warned_late) {
        self->warned_late = true;
        GST_ELEMENT_WARNING(self, STREAM, FAILED, ("Transcript text arrived later than latency + lateness."),
                            ("\"%s\" was %" G_GINT64_FORMAT " ms late; pushed at the current position (see the "
                             "late-texts property)",
                             w.text.c_str(), late * 1000 / self->rate));
      }
    }
    end = std::max(end, self->out_pos) + (end - start);
    start = self->out_pos;
    end = std::max(end, start + self->rate / 100);
  }
  GstBuffer *buf = gst_buffer_new_memdup(w.text.data(), w.text.size());
  GST_BUFFER_PTS(buf) = samples_to_time(self, start);
  GST_BUFFER_DURATION(buf) = samples_to_time(self, end) - GST_BUFFER_PTS(buf);
  self->out_pos = end;
  GST_LOG_OBJECT(self, "text \"%s\" at %" GST_TIME_FORMAT, w.text.c_str(), GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  return gst_pad_push(self->srcpad, buf);
}

static void push_gap_to(GstRealtimeTranscriber *self, int64_t horizon) {
  if (horizon <= self->out_pos) return;
  ensure_header(self);
  GstClockTime a = samples_to_time(self, self->out_pos), b = samples_to_time(self, horizon);
  gst_pad_push_event(self->srcpad, gst_event_new_gap(a, b - a));
  self->out_pos = horizon;
}

static void handle_event(GstRealtimeTranscriber *self, TxEvent &e) {
  GST_DEBUG_OBJECT(self, "event %d item %s span %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT " \"%s\"",
                   static_cast<int>(e.kind), e.item_id.c_str(), e.start, e.end, e.text.c_str());
  switch (e.kind) {
    case TxEvent::SegmentMarker:
      self->segment = e.segment;
      self->have_segment = true;
      if (self->sent_header) gst_pad_push_event(self->srcpad, gst_event_new_segment(&self->segment));
      return;
    case TxEvent::Committed: {
      self->outstanding++;
      if (e.end >= 0) self->last_committed_end = e.end;
      rtcgst::TextSpan sp{-1, -1};
      {
        std::lock_guard<std::mutex> lk(self->st->mu);
        if (self->local_commit && !self->st->speech_spans.empty()) {
          sp = self->st->speech_spans.front();
          self->st->speech_spans.pop_front();
        }
      }
      if (sp.start >= 0) {
        self->item_speech.emplace_back(e.item_id, sp);
        if (self->item_speech.size() > kMaxSpans) self->item_speech.pop_front();
      }
      return;
    }
    case TxEvent::Delta: {
      if (e.text.empty()) return;
      ensure_header(self);
      const int64_t s0 = e.start >= 0 ? e.start : self->prev_end;
      const int64_t s1 = e.end >= 0 ? e.end : self->st->samples_in.load();
      const bool committed = e.start >= 0 && e.end >= 0 && e.end <= self->last_committed_end && self->outstanding > 0;
      rtcgst::TextSpan sp = rtcgst::estimate_text_span(self->prev_end, s0, s1, committed, self->lag_samples,
                                                       e.text.size(), self->rate);
      // live: push now (estimate); non-live: placed exactly at `completed` (docs/transcriber.md)
      if (self->st->live.load()) {
        self->prev_end = sp.end;
        for (const auto &w : rtcgst::split_words(e.text, sp)) push_text(self, w);
      }
      post_transcript(self, e.text, false, sp.start, sp.end, e.confidence, e.item_id);
      return;
    }
    case TxEvent::Completed:
    case TxEvent::Failed: {
      if (self->outstanding > 0) self->outstanding--;
      ensure_header(self);
      if (e.kind == TxEvent::Failed) {
        GST_ELEMENT_WARNING(self, STREAM, DECODE, ("The service could not transcribe an utterance."),
                            ("%s", e.text.c_str()));
      } else {
        // the correction: the final text over the utterance's speech (local commit: the speech
        // the element heard in that buffer) or else over the committed span
        rtcgst::TextSpan sp{std::max<int64_t>(0, e.start), std::max<int64_t>(0, e.end)};
        for (auto it = self->item_speech.begin(); it != self->item_speech.end(); ++it)
          if (it->first == e.item_id) {
            sp = it->second;
            self->item_speech.erase(it);
            break;
          }
        if (sp.end <= sp.start) sp.end = sp.start + self->rate / 100;
        if (!self->st->live.load() && !e.text.empty()) {
          for (const auto &w : rtcgst::split_words(e.text, sp)) push_text(self, w);
        }
        post_transcript(self, e.text, true, sp.start, sp.end, e.confidence, e.item_id);
        if (!e.text.empty())  // an utterance without words closes no caption line
          gst_pad_push_event(self->srcpad, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM,
                                                              gst_structure_new_empty("rstranscribe/final-transcript")));
      }
      if (e.end >= 0) {
        self->last_completed_end = std::max(self->last_completed_end, e.end);
        self->prev_end = std::max(self->prev_end, e.end);
      }
      return;
    }
    case TxEvent::Segment: {
      GstStructure *s = gst_structure_new("realtimetranscriber/speaker", "speaker", G_TYPE_STRING, e.speaker.c_str(),
                                          "text", G_TYPE_STRING, e.text.c_str(), "item-id", G_TYPE_STRING,
                                          e.item_id.c_str(), NULL);
      gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
      return;
    }
    case TxEvent::Reconnected: {
      // A new server session: the audio of the old one's uncommitted buffer and its unanswered
      // commits / transcriptions are gone (the service keeps nothing across connections; the
      // input timeline goes on, docs/transcriber.md). Count them as lost instead of waiting.
      const int lost = e.lost_commits + self->outstanding;
      self->outstanding = 0;
      self->item_speech.clear();
      {
        // the spans of the lost commits are the oldest not committed yet; those of commits
        // queued while disconnected (sent on the new session) stay for their `committed`. At
        // most one span per commit still pending is kept (a span left by a commit that failed
        // goes here, so that the spans line up with their commits again).
        std::lock_guard<std::mutex> lk(self->st->mu);
        for (int i = 0; i < e.lost_commits && !self->st->speech_spans.empty(); i++) self->st->speech_spans.pop_front();
        const int pending = std::max(0, self->st->commits_sent.load() - self->st->commits_seen.load());
        while (static_cast<int>(self->st->speech_spans.size()) > pending) self->st->speech_spans.pop_front();
      }
      if (lost > 0)
        GST_ELEMENT_WARNING(self, RESOURCE, READ, ("The connection was replaced; %d utterance(s) were not transcribed.", lost),
                            ("reconnected to a new transcription session"));
      return;
    }
    case TxEvent::Error:
      GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("%s", e.text.c_str()), (NULL));
      return;
    case TxEvent::Eos: {
      guint timeout;
      g_mutex_lock(&self->lock);
      timeout = self->s.eos_timeout;
      g_mutex_unlock(&self->lock);
      self->eos_pending = true;
      self->eos_deadline = g_get_monotonic_time() + static_cast<gint64>(timeout) * 1000;
      self->eos_ticket = e.ticket;
      self->eos_answered = false;
      return;
    }
  }
}

static void src_task(gpointer data) {
  auto *self = static_cast<GstRealtimeTranscriber *>(data);
  TxState *st = self->st.get();
  std::deque<TxEvent> batch;
  int seen;
  bool barrier_answered;
  {
    std::unique_lock<std::mutex> lk(st->mu);
    st->cv.wait_for(lk, std::chrono::milliseconds(20), [&] { return !st->q.empty() || st->flushing; });
    if (st->flushing) {
      lk.unlock();
      gst_pad_pause_task(self->srcpad);
      return;
    }
    // The EOS barrier: answered before the swap means the answer, and every event the server sent
    // before it, is in `batch` or was handled already (the engine publishes after delivery).
    // (self->session was set before the Eos event that set eos_pending was queued.)
    barrier_answered = self->eos_pending && !self->eos_answered &&
                       (!self->session || self->session->updates_answered() >= self->eos_ticket ||
                        self->session->state() == rtc::SessionState::Failed);  // nothing more comes
    batch.swap(st->q);
    // the commits answered by the events in `batch` (and before): read with the swap, so a
    // `committed` queued after it is not counted before its event raises `outstanding`
    seen = st->commits_seen.load();
  }
  for (auto &e : batch) handle_event(self, e);
  if (barrier_answered) self->eos_answered = true;

  guint latency;
  g_mutex_lock(&self->lock);
  latency = self->s.latency;
  g_mutex_unlock(&self->lock);
  const int64_t in = st->samples_in.load();
  if (self->have_segment) {
    // GAPs: live: everything older than `latency` is settled (text later than that is late);
    // non-live: up to where no text can come any more (docs/transcriber.md).
    int64_t horizon;
    if (st->live.load()) {
      horizon = in - static_cast<int64_t>(latency) * self->rate / 1000;
    } else if (self->outstanding > 0 || seen < st->commits_sent.load()) {
      horizon = self->last_completed_end;  // an utterance is being transcribed
    } else {
      horizon = self->local_commit ? st->buffer_start.load() : self->last_committed_end;
    }
    push_gap_to(self, horizon);
  }
  if (self->eos_pending) {
    // Done: the server has answered the barrier sent after the input and the last commit (so
    // every commit it will make, ours or its VAD's, is handled), and all of them are transcribed.
    // Counting commits alone took the server VAD's commits for answers to ours.
    const bool done = self->eos_answered && self->outstanding == 0 && seen >= st->commits_sent.load();
    if (done || g_get_monotonic_time() >= self->eos_deadline) {
      if (!done)
        GST_ELEMENT_WARNING(self, STREAM, FAILED, ("The last utterance's transcript did not arrive before EOS."),
                            ("waited the eos-timeout"));
      ensure_header(self);
      push_gap_to(self, std::max(in, self->prev_end));
      gst_pad_push_event(self->srcpad, gst_event_new_eos());
      self->eos_pending = false;
      gst_pad_pause_task(self->srcpad);
    }
  }
}

// ------------------------------------------------------------------------------------------
// session lifecycle (sink thread / state changes)

static bool start_session(GstRealtimeTranscriber *self) {
  rtc::EngineConfig cfg;
  rtc::SessionConfig sc;
  rtc::InputTranscription t;
  g_mutex_lock(&self->lock);
  rtcgst::conn_props_to_engine(self->s.conn, &cfg);
  t.model = self->s.conn.deployment.empty() ? kDefaultModel : self->s.conn.deployment;
  const bool streaming = is_streaming_model(t.model);
  t.language = self->s.language_code;
  if (!streaming || t.model == "gpt-live-transcribe") t.prompt = self->s.prompt;
  static const char *kDelay[] = {"minimal", "low", "medium", "high", "xhigh"};
  if (t.model == "gpt-realtime-whisper") t.delay = kDelay[self->s.delay];
  if (!self->s.keywords.empty() && (t.model == "gpt-transcribe" || t.model == "gpt-live-transcribe")) {
    gchar **parts = g_strsplit(self->s.keywords.c_str(), ",", -1);
    for (gchar **p = parts; p && *p; p++) {
      gchar *k = g_strstrip(*p);
      if (*k) t.keywords.push_back(k);
    }
    g_strfreev(parts);
  }
  sc.input_transcription = t;
  sc.input_format = self->fmt;
  sc.noise_reduction = self->s.noise == GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_NEAR_FIELD ? rtc::NoiseReduction::NearField
                       : self->s.noise == GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_FAR_FIELD
                           ? rtc::NoiseReduction::FarField
                           : rtc::NoiseReduction::Off;
  self->local_commit = self->s.commit == GST_REALTIMETRANSCRIBER_COMMIT_LOCAL ||
                       (self->s.commit == GST_REALTIMETRANSCRIBER_COMMIT_AUTO && streaming);
  sc.turn_detection.type = self->local_commit ? rtc::TurnDetection::Type::None : rtc::TurnDetection::Type::ServerVad;
  sc.include_logprobs = self->s.confidence;
  rtcgst::LocalCommit::Params vp;
  vp.threshold_dbfs = self->s.threshold;
  self->threshold = self->s.threshold;
  vp.silence_ms = static_cast<int>(self->s.end_of_speech);
  vp.max_segment_ms = static_cast<int>(self->s.max_segment);
  self->lag_samples = rtcgst::nominal_lag_ms(self->s.delay, streaming) * self->rate / 1000;
  g_mutex_unlock(&self->lock);
  cfg.endpoint.kind = rtc::SessionKind::Transcription;
  cfg.session = sc;
  self->st->barrier_cfg = sc;
  self->vad.configure(vp, self->rate);
  self->session = rtcgst::make_engine_session(cfg, self->listener.get());
  self->session->start();
  GST_INFO_OBJECT(self, "transcription session started (model %s, %s commit)", t.model.c_str(),
                  self->local_commit ? "local" : "server VAD");
  return true;
}

static void stop_all(GstRealtimeTranscriber *self) {
  if (self->st) {
    {
      std::lock_guard<std::mutex> lk(self->st->mu);
      self->st->flushing = true;
    }
    self->st->cv.notify_all();
  }
  gst_pad_stop_task(self->srcpad);
  // stop() is thread-safe; the Session itself is released after the parent's change_state has
  // deactivated the pads (a sink_chain may still be using it until then)
  if (self->session) self->session->stop();
}

// ------------------------------------------------------------------------------------------
// sink pad

static void commit_now(GstRealtimeTranscriber *self, const rtcgst::TextSpan &rel) {
  if (!self->session) return;
  if (self->local_commit) {
    const int64_t b = self->st->buffer_start.load();
    std::lock_guard<std::mutex> lk(self->st->mu);
    self->st->speech_spans.push_back(rel.start >= 0 ? rtcgst::TextSpan{b + rel.start, b + rel.end}
                                                    : rtcgst::TextSpan{-1, -1});
    if (self->st->speech_spans.size() > kMaxSpans) self->st->speech_spans.pop_front();
  }
  GST_DEBUG_OBJECT(self, "commit at sample %" G_GINT64_FORMAT, self->st->samples_in.load());
  // counted before it is sent: a reconnection settling the spans meanwhile must count it pending
  self->st->commits_sent++;
  if (!self->session->commit()) {  // refused (warned by the engine): nothing will answer it
    self->st->commits_sent--;
    if (self->local_commit) {
      std::lock_guard<std::mutex> lk(self->st->mu);
      if (!self->st->speech_spans.empty()) self->st->speech_spans.pop_back();
    }
  }
  self->st->buffer_start = self->st->samples_in.load();
}

static GstFlowReturn sink_chain(GstPad *, GstObject *parent, GstBuffer *buf) {
  auto *self = GST_REALTIMETRANSCRIBER(parent);
  if (!self->session) {
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No caps before the first audio buffer."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstMapInfo m;
  if (!gst_buffer_map(buf, &m, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not read an input buffer."), (NULL));
    return GST_FLOW_ERROR;
  }
  if (!self->st->live.load()) {
    // non-live input arrives faster than real time: keep at most ~5 s of it unsent in the
    // engine (whose offline buffer would otherwise drop the oldest audio while connecting)
    const int64_t max_unsent = static_cast<int64_t>(self->rate) * self->bps * 5;
    const gint64 deadline = g_get_monotonic_time() + 30 * G_TIME_SPAN_SECOND;
    // st->mu (taken by the listener callbacks) is held only around the wait, never while
    // calling into the Session
    auto flushing = [self] {
      std::lock_guard<std::mutex> g(self->st->mu);
      return self->st->flushing;
    };
    while (self->session->input_unsent_bytes() > max_unsent && !flushing() &&
           self->session->state() != rtc::SessionState::Failed) {
      if (g_get_monotonic_time() >= deadline) {
        gst_buffer_unmap(buf, &m);
        gst_buffer_unref(buf);
        GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("The transcription service does not take the audio."),
                          ("no progress for 30 s"));
        return GST_FLOW_ERROR;
      }
      std::unique_lock<std::mutex> lk(self->st->mu);
      if (!self->st->flushing) self->st->cv.wait_for(lk, std::chrono::milliseconds(10));
    }
    if (flushing()) {
      gst_buffer_unmap(buf, &m);
      gst_buffer_unref(buf);
      return GST_FLOW_FLUSHING;
    }
  }
  if (!GST_CLOCK_TIME_IS_VALID(self->st->first_pts.load()) && GST_BUFFER_PTS_IS_VALID(buf))
    self->st->first_pts = GST_BUFFER_PTS(buf);
  const size_t n = m.size / static_cast<size_t>(self->bps);
  if (m.size % static_cast<size_t>(self->bps))
    GST_WARNING_OBJECT(self, "input buffer of %" G_GSIZE_FORMAT " bytes is not whole samples", m.size);
  const int frame_len = self->rate / 100;
  const size_t bps = static_cast<size_t>(self->bps);
  size_t pushed = 0;  // samples of this buffer given to the engine
  for (size_t i = 0; i < n; i++) {
    int16_t v;
    if (self->fmt == rtc::AudioFormat::PCM16) {
      v = static_cast<int16_t>(GST_READ_UINT16_LE(m.data + 2 * i));
    } else {
      // G.711: the magnitude is enough for the energy detector
      const uint8_t b = m.data[i];
      v = static_cast<int16_t>(self->fmt == rtc::AudioFormat::G711_ULAW ? (0x7f - (b & 0x7f)) * 256
                                                                           : ((b ^ 0x55) & 0x7f) * 256);
    }
    self->frame.push_back(v);
    if (static_cast<int>(self->frame.size()) == frame_len) {
      const double lvl = rtcgst::level_dbfs(self->frame.data(), self->frame.size());
      self->frame.clear();
      self->frame_pos += frame_len;
      if (lvl >= self->threshold) self->last_speech_end = self->frame_pos;
      if (self->local_commit && self->vad.frame(lvl, frame_len)) {
        // the commit ends exactly at this frame: audio up to here, commit, then the rest
        self->session->push_audio(m.data + pushed * bps, (i + 1 - pushed) * bps);
        self->st->samples_in += static_cast<int64_t>(i + 1 - pushed);
        pushed = i + 1;
        commit_now(self, self->vad.committed_speech());
      }
    }
  }
  if (pushed < n) {
    self->session->push_audio(m.data + pushed * bps, (n - pushed) * bps);
    self->st->samples_in += static_cast<int64_t>(n - pushed);
  }
  gst_buffer_unmap(buf, &m);
  gst_buffer_unref(buf);
  self->st->cv.notify_all();
  return GST_FLOW_OK;
}

static gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  auto *self = GST_REALTIMETRANSCRIBER(parent);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gst_event_parse_caps(event, &caps);
      GstStructure *s = gst_caps_get_structure(caps, 0);
      rtc::AudioFormat f = rtc::AudioFormat::PCM16;
      if (gst_structure_has_name(s, "audio/x-mulaw"))
        f = rtc::AudioFormat::G711_ULAW;
      else if (gst_structure_has_name(s, "audio/x-alaw"))
        f = rtc::AudioFormat::G711_ALAW;
      if (self->session && f != self->fmt) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("The input format cannot change during a session."), (NULL));
        gst_event_unref(event);
        return FALSE;
      }
      if (!self->session) {
        self->fmt = f;
        self->rate = rtc::audio_format_rate(f);
        self->bps = rtc::audio_format_bytes_per_sample(f);
        start_session(self);
        GstQuery *q = gst_query_new_latency();
        if (gst_pad_peer_query(self->sinkpad, q)) {
          gboolean live;
          gst_query_parse_latency(q, &live, nullptr, nullptr);
          self->st->live = live;
        }
        gst_query_unref(q);
        {
          std::lock_guard<std::mutex> lk(self->st->mu);
          self->st->flushing = false;
        }
        gst_pad_start_task(self->srcpad, src_task, self, nullptr);
      }
      gst_event_unref(event);
      return TRUE;
    }
    case GST_EVENT_SEGMENT: {
      TxEvent e;
      e.kind = TxEvent::SegmentMarker;
      gst_event_copy_segment(event, &e.segment);
      if (e.segment.format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("The input segment must be in time format."), (NULL));
        gst_event_unref(event);
        return FALSE;
      }
      gst_event_unref(event);
      if (self->st) self->st->push(std::move(e));
      return TRUE;
    }
    case GST_EVENT_STREAM_START:
    case GST_EVENT_TAG:  // the src task sends its own stream-start; audio tags do not describe the text
      gst_event_unref(event);
      return TRUE;
    case GST_EVENT_EOS: {
      if (!self->st) return gst_pad_event_default(pad, parent, event);
      gst_event_unref(event);
      // commit what is pending (>= 100 ms, the service minimum) and let the task wait for it
      // local commit: what was buffered since the last commit, if it held speech; server VAD:
      // only when speech was heard after the server's last commit
      const int64_t from = self->local_commit ? self->st->buffer_start.load() : self->st->committed_end.load();
      const int64_t pending = self->st->samples_in.load() - from;
      const bool speech = self->local_commit ? self->vad.heard_speech() : self->last_speech_end > from;
      if (self->session && pending * 10 >= self->rate && speech) commit_now(self, self->vad.take_span());
      TxEvent e;
      e.kind = TxEvent::Eos;
      // A barrier: the server answers it after everything pushed before (the engine sends that
      // audio ahead of the update; docs/engine.md "Barriers").
      if (self->session) {
        if (self->session->state() == rtc::SessionState::Ready) self->st->eos_barrier_sent = true;
        e.ticket = self->session->update_config(self->st->barrier_cfg);
      }
      self->st->push(std::move(e));
      return TRUE;
    }
    case GST_EVENT_FLUSH_START: {
      if (self->st) {
        std::lock_guard<std::mutex> lk(self->st->mu);
        self->st->flushing = true;
      }
      if (self->st) self->st->cv.notify_all();
      gboolean r = gst_pad_push_event(self->srcpad, event);
      gst_pad_pause_task(self->srcpad);
      return r;
    }
    case GST_EVENT_FLUSH_STOP: {
      gboolean r = gst_pad_push_event(self->srcpad, event);
      if (self->st) {
        {
          std::lock_guard<std::mutex> lk(self->st->mu);
          self->st->q.clear();
          self->st->flushing = false;
        }
        self->out_pos = self->prev_end = self->st->samples_in.load();
        // a flush clears an EOS still waiting (the task is paused: its state is ours here)
        self->eos_pending = self->eos_answered = false;
        self->eos_ticket = 0;
        self->st->eos_barrier_sent = false;
        gst_pad_start_task(self->srcpad, src_task, self, nullptr);
      }
      return r;
    }
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

// ------------------------------------------------------------------------------------------
// src pad

static gboolean src_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  auto *self = GST_REALTIMETRANSCRIBER(parent);
  if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    g_mutex_lock(&self->lock);
    const GstClockTime ours = static_cast<GstClockTime>(self->s.latency + self->s.lateness) * GST_MSECOND;
    g_mutex_unlock(&self->lock);
    return rtcgst::answer_latency_query(self->sinkpad, query, ours);
  }
  return gst_pad_query_default(pad, parent, query);
}

// ------------------------------------------------------------------------------------------
// GObject

static void set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_REALTIMETRANSCRIBER(object);
  g_mutex_lock(&self->lock);
  Settings &s = self->s;
  if (!rtcgst::conn_props_set(&s.conn, PROP_CONN_FIRST, id, value)) {
    switch (id) {
      case PROP_LANGUAGE_CODE: s.language_code = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
      case PROP_LATENCY: s.latency = g_value_get_uint(value); break;
      case PROP_LATENESS: s.lateness = g_value_get_uint(value); break;
      case PROP_DELAY: s.delay = static_cast<GstRealtimeTranscriberDelay>(g_value_get_enum(value)); break;
      case PROP_PROMPT: s.prompt = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
      case PROP_KEYWORDS: s.keywords = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
      case PROP_NOISE_REDUCTION:
        s.noise = static_cast<GstRealtimeTranscriberNoiseReduction>(g_value_get_enum(value));
        break;
      case PROP_COMMIT_POLICY: s.commit = static_cast<GstRealtimeTranscriberCommit>(g_value_get_enum(value)); break;
      case PROP_END_OF_SPEECH: s.end_of_speech = g_value_get_uint(value); break;
      case PROP_MAX_SEGMENT: s.max_segment = g_value_get_uint(value); break;
      case PROP_SPEECH_THRESHOLD: s.threshold = g_value_get_double(value); break;
      case PROP_CONFIDENCE: s.confidence = g_value_get_boolean(value); break;
      case PROP_EOS_TIMEOUT: s.eos_timeout = g_value_get_uint(value); break;
      default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
    }
  }
  g_mutex_unlock(&self->lock);
}

static void get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_REALTIMETRANSCRIBER(object);
  g_mutex_lock(&self->lock);
  const Settings &s = self->s;
  if (!rtcgst::conn_props_get(s.conn, PROP_CONN_FIRST, id, value)) {
    switch (id) {
      case PROP_LANGUAGE_CODE: g_value_set_string(value, s.language_code.empty() ? nullptr : s.language_code.c_str()); break;
      case PROP_LATENCY: g_value_set_uint(value, s.latency); break;
      case PROP_LATENESS: g_value_set_uint(value, s.lateness); break;
      case PROP_DELAY: g_value_set_enum(value, s.delay); break;
      case PROP_PROMPT: g_value_set_string(value, s.prompt.c_str()); break;
      case PROP_KEYWORDS: g_value_set_string(value, s.keywords.c_str()); break;
      case PROP_NOISE_REDUCTION: g_value_set_enum(value, s.noise); break;
      case PROP_COMMIT_POLICY: g_value_set_enum(value, s.commit); break;
      case PROP_END_OF_SPEECH: g_value_set_uint(value, s.end_of_speech); break;
      case PROP_MAX_SEGMENT: g_value_set_uint(value, s.max_segment); break;
      case PROP_SPEECH_THRESHOLD: g_value_set_double(value, s.threshold); break;
      case PROP_CONFIDENCE: g_value_set_boolean(value, s.confidence); break;
      case PROP_EOS_TIMEOUT: g_value_set_uint(value, s.eos_timeout); break;
      case PROP_LATE_TEXT: g_value_set_uint64(value, self->st ? self->st->late_texts.load() : 0); break;
      default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
    }
  }
  g_mutex_unlock(&self->lock);
}

static GstStateChangeReturn change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_REALTIMETRANSCRIBER(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    self->st = std::make_unique<TxState>();
    self->st->element = element;
    self->listener = std::make_unique<TxListener>(self->st.get());
    self->sent_header = self->have_segment = self->eos_pending = self->eos_answered = self->warned_late = false;
    self->eos_ticket = 0;
    self->out_pos = self->prev_end = self->last_completed_end = self->last_committed_end = 0;
    self->outstanding = 0;
    self->frame.clear();
    self->item_speech.clear();
    self->vad.reset();
    self->frame_pos = 0;
    self->last_speech_end = -1;
  }
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) stop_all(self);
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_realtimetranscriber_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    self->session.reset();
    self->listener.reset();
    self->st.reset();
  }
  return ret;
}

static void finalize(GObject *object) {
  auto *self = GST_REALTIMETRANSCRIBER(object);
  self->session.reset();
  self->listener.reset();
  self->st.reset();
  self->s.~Settings();
  self->st.~unique_ptr();
  self->listener.~unique_ptr();
  self->session.~unique_ptr();
  self->frame.~vector();
  self->item_speech.~deque();
  g_mutex_clear(&self->lock);
  G_OBJECT_CLASS(gst_realtimetranscriber_parent_class)->finalize(object);
}

static void gst_realtimetranscriber_class_init(GstRealtimeTranscriberClass *klass) {
  GObjectClass *gc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  gc->set_property = set_property;
  gc->get_property = get_property;
  gc->finalize = finalize;
  ec->change_state = change_state;
  GST_DEBUG_CATEGORY_INIT(gst_realtimetranscriber_debug, "realtimetranscriber", 0,
                          "Transcription through an OpenAI / Azure OpenAI Realtime transcription session");

  rtcgst::ConnPropsInfo info;
  info.deployment_blurb =
      "Transcription model (OpenAI) or Azure deployment of one, sent in the session update (never in the URL). "
      "Empty = gpt-realtime-whisper (streams text while the person speaks). gpt-live-transcribe also streams; "
      "gpt-4o-transcribe / gpt-4o-mini-transcribe / gpt-transcribe send text after each commit; whisper-1 one piece "
      "per utterance";
  info.has_renew_margin = false;
  rtcgst::conn_props_install(gc, PROP_CONN_FIRST, info);
  const GParamFlags F = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                 GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gc, PROP_LANGUAGE_CODE,
      g_param_spec_string("language-code", "Language code",
                          "Language of the speech as ISO-639-1 (e.g. \"en\"); NULL = let the model detect it", nullptr,
                          F));
  g_object_class_install_property(
      gc, PROP_LATENCY,
      g_param_spec_uint("latency", "Latency",
                        "Live: how far behind the input the text may be placed (ms); added to the pipeline latency. "
                        "Text the service delivers later is pushed late (see lateness)",
                        0, 60000, kDefaultLatency, F));
  g_object_class_install_property(
      gc, PROP_LATENESS,
      g_param_spec_uint("lateness", "Lateness",
                        "Extra tolerance on top of latency (ms), also added to the reported latency; text later than "
                        "latency + lateness is pushed at the current position with a warning and counted",
                        0, 60000, kDefaultLateness, F));
  g_object_class_install_property(
      gc, PROP_DELAY,
      g_param_spec_enum("delay", "Delay",
                        "gpt-realtime-whisper only: audio context before text (more = more accurate, later)",
                        gst_realtimetranscriber_delay_get_type(), GST_REALTIMETRANSCRIBER_DELAY_LOW, F));
  g_object_class_install_property(
      gc, PROP_PROMPT,
      g_param_spec_string("prompt", "Prompt",
                          "Text guiding the transcription (whisper-1: keyword list; gpt-4o transcribe models: free "
                          "text); not sent to gpt-realtime-whisper, which does not accept it",
                          "", F));
  g_object_class_install_property(
      gc, PROP_KEYWORDS,
      g_param_spec_string("keywords", "Keywords",
                          "Comma-separated words to favour (gpt-transcribe and gpt-live-transcribe only)", "", F));
  g_object_class_install_property(
      gc, PROP_NOISE_REDUCTION,
      g_param_spec_enum("noise-reduction", "Noise reduction", "Server-side input noise reduction",
                        gst_realtimetranscriber_noise_reduction_get_type(),
                        GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_OFF, F));
  g_object_class_install_property(
      gc, PROP_COMMIT_POLICY,
      g_param_spec_enum("commit-policy", "Commit policy",
                        "Who ends an utterance: the element (local end of speech or max-segment; required by "
                        "streaming models, which reject server turn detection) or the server's VAD",
                        gst_realtimetranscriber_commit_get_type(), GST_REALTIMETRANSCRIBER_COMMIT_AUTO, F));
  g_object_class_install_property(
      gc, PROP_END_OF_SPEECH,
      g_param_spec_uint("end-of-speech", "End of speech",
                        "Local commit: silence after speech that ends an utterance (ms)", 100, 10000,
                        kDefaultEndOfSpeech, F));
  g_object_class_install_property(
      gc, PROP_MAX_SEGMENT,
      g_param_spec_uint("max-segment", "Maximum segment",
                        "Local commit: an utterance is committed at this length even while speech goes on (ms); "
                        "0 = no limit",
                        0, 600000, kDefaultMaxSegment, F));
  g_object_class_install_property(
      gc, PROP_SPEECH_THRESHOLD,
      g_param_spec_double("speech-threshold", "Speech threshold",
                          "Local commit: level of a 10 ms frame counted as speech (dBFS, 0 = full-scale sine)",
                          -90.0, 0.0, kDefaultThreshold, F));
  g_object_class_install_property(
      gc, PROP_CONFIDENCE,
      g_param_spec_boolean("confidence", "Confidence",
                           "Ask for token log-probabilities; the transcript messages then carry a confidence "
                           "(exp of the mean log-probability, 0..1; -1 = unknown)",
                           FALSE, F));
  g_object_class_install_property(
      gc, PROP_EOS_TIMEOUT,
      g_param_spec_uint("eos-timeout", "EOS timeout",
                        "At EOS, how long to wait for the last utterance's transcript before forwarding EOS (ms)", 0,
                        120000, kDefaultEosTimeout, F));
  g_object_class_install_property(
      gc, PROP_LATE_TEXT,
      g_param_spec_uint64("late-texts", "Late texts",
                          "Number of text pieces that arrived later than latency + lateness", 0, G_MAXUINT64, 0,
                          static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(ec, &sink_template);
  gst_element_class_add_static_pad_template(ec, &src_template);
  gst_element_class_set_static_metadata(
      ec, "Realtime API transcriber", "Audio/Text/Filter",
      "Live captions from an OpenAI / Azure OpenAI Realtime transcription session: text as it is recognised, "
      "timed on the input timeline",
      "gst-realtimeconv");
  gst_type_mark_as_plugin_api(gst_realtimetranscriber_delay_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_realtimetranscriber_commit_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_realtimetranscriber_noise_reduction_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_realtimetranscriber_init(GstRealtimeTranscriber *self) {
  new (&self->s) Settings();
  new (&self->st) std::unique_ptr<TxState>();
  new (&self->listener) std::unique_ptr<TxListener>();
  new (&self->session) std::unique_ptr<rtcgst::SessionPort>();
  new (&self->frame) std::vector<int16_t>();
  new (&self->vad) rtcgst::LocalCommit();
  new (&self->item_speech) std::deque<std::pair<std::string, rtcgst::TextSpan>>();
  self->rate = 24000;
  self->bps = 2;
  self->fmt = rtc::AudioFormat::PCM16;
  self->local_commit = true;
  gst_segment_init(&self->segment, GST_FORMAT_TIME);
  g_mutex_init(&self->lock);
  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, sink_chain);
  gst_pad_set_event_function(self->sinkpad, sink_event);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_pad_set_query_function(self->srcpad, src_query);
  gst_pad_use_fixed_caps(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}
