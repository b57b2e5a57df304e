// bench_element: what the realtimeconv element adds, in real pipelines against realtime-emulator
// (tone voice, so the server is cheap). Not a test: it reports, it never fails on timing.
//
//   bench_element output  [--pace burst|F] [--response-s S] [--deltas N] [--responses N] [--id NAME]
//       Output path latency: from the moment the engine thread had the complete WebSocket frame of
//       an audio delta (AudioDeltaInfo::receive_time_us) to the moment the decoded buffer leaves
//       the element's src pad (pad probe), split into decode+dispatch (frame -> on_audio) and the
//       element (on_audio -> src pad). Also CPU per second of response audio (idle cost removed).
//   bench_element turns   [--turns N] [--pace burst|F]
//       Conversation length: N send-text turns in one session; latency and CPU per turn of the
//       first and the last 100 turns, RSS growth.
//   bench_element input   [--chunk MS] [--seconds S]
//       Input path latency: from a buffer entering the sink pad (pad probe) to the last byte of the
//       input_audio_buffer.append carrying it handed to the socket (send() interposed).
//   bench_element session [--n N] [--seconds S] [--baseline] [--speech-ms A --cycle-ms B --say-s C]
//       N concurrent real-time pipelines in this process (live source with speech-like bursts,
//       server VAD, responses at real-time pace, fakesink sync=true): CPU, RSS per session, late
//       buffers at the sinks, engine event-loop lag. --baseline: the same pipelines without
//       realtimeconv (source cost), to isolate the element's CPU. [--url wss://... --ssl-ca-file F]:
//       an emulator run.sh started (the TLS peer row). [--wakeups]: scheduler switches per thread,
//       split into "a response streaming" and "no response" intervals. [--chunk MS] chunk-duration.
//       [--push-ahead MS] the element's push-ahead (0: its automatic live pacing).
//
// The element is compiled into this binary (its own registration) so that the benchmark can wrap
// the engine listener through the element's session factory hook: that is how receive_time_us of
// each delta reaches the src pad probe (FIFO per element, matched by item id and size).
// Environment: RTC_EMULATOR (path of realtime-emulator), BENCH_OUT (JSON lines are appended).
#include <gst/base/gstbasesink.h>
#include <gst/gst.h>
#include <pthread.h>
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "gstrealtimeconv.h"
#include "gstrealtimeconvmeta.h"
#include "gstrealtimeconvpriv.h"
#include "net_thread.h"
#include "protocol.h"
#include "rtcscheduler.h"
#include "sendhook.h"

using bench::Dist;
using bench::Json;
using bench::now_us;

namespace {

// ---------------------------------------------------------------------------------------------
// Options
struct Opts {
  std::map<std::string, std::string> kv;
  std::string get(const std::string &k, const std::string &def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  double num(const std::string &k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::atof(it->second.c_str());
  }
  bool flag(const std::string &k) const { return kv.count(k) > 0; }
};

// ---------------------------------------------------------------------------------------------
// Output timing: listener wrapper (engine thread) -> FIFO -> src pad probe (streaming thread)
struct Pending {
  int64_t rx_us, cb_us;
  size_t bytes;
  std::string item_id;
};
struct Sample {
  int turn;
  float total_us, decode_us, held_us;  // total: processing only; held: frame -> src pad (hold included)
};

struct Track {
  std::mutex mu;
  std::condition_variable drained;  // fifo became empty
  std::deque<Pending> fifo;
  std::vector<Sample> samples;
  std::atomic<bool> recording{false};
  std::atomic<int> turn{0};
  uint64_t skipped = 0, unmatched = 0, audio_bytes = 0;
  uint64_t out_bytes = 0;  // every byte of response audio out of the src pad
  size_t consumed = 0;     // bytes of fifo.front() already out
  // End of turn: wall-clock time the live source produced its last speech buffer, and per answer
  // the time from it to the answer's first byte at the src pad (ms).
  std::atomic<int64_t> speech_end_us{0};
  std::string last_item;
  std::vector<float> eot_ms;
  std::vector<std::unique_ptr<rtc::SessionListener>> wrappers;
  // Live output is held until its push time (docs/timing.md "Live: lead and barge-in"): running
  // time + render latency - lead. The probe needs the render latency the element uses (the
  // LATENCY event it receives, else its own latency query answer) and its lead.
  GstElement *conv = nullptr;
  std::atomic<int64_t> render_lat_ns{-1};
  int64_t lead_ns = 0;
};

class TimingListener final : public rtc::SessionListener {
 public:
  TimingListener(rtc::SessionListener *inner, Track *t) : in_(inner), t_(t) {}
  void on_state(rtc::SessionState s, const std::string &d) override { in_->on_state(s, d); }
  void on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) override {
    in_->on_server_event(ev, ctx);
  }
  uint8_t *alloc_audio(size_t max_bytes, void **handle) override { return in_->alloc_audio(max_bytes, handle); }
  void on_audio(void *handle, size_t bytes, const rtc::AudioDeltaInfo &info) override {
    const int64_t cb = now_us();
    {
      std::lock_guard<std::mutex> g(t_->mu);
      t_->fifo.push_back({info.receive_time_us, cb, bytes, info.item_id});
    }
    in_->on_audio(handle, bytes, info);
  }
  void free_audio(void *handle) override { in_->free_audio(handle); }
  void on_error(const rtc::SessionError &e) override { in_->on_error(e); }
  void on_function_call(const rtc::FunctionCall &c) override { in_->on_function_call(c); }
  void on_reconnecting(int a, int d, const std::string &r) override { in_->on_reconnecting(a, d, r); }
  void on_reconnected(int n, bool p) override { in_->on_reconnected(n, p); }
  void on_input_dropped(int64_t f, int64_t s) override { in_->on_input_dropped(f, s); }
  void on_log(rtc::LogLevel l, const std::string &m) override { in_->on_log(l, m); }

 private:
  rtc::SessionListener *in_;
  Track *t_;
};

// Microseconds since the element was allowed to push `buf` (its push time: running time + render
// latency - lead, on the pipeline clock), clamped at 0. A delta's processing latency is the
// smaller of this and frame -> src pad: a frame that came after its push time is measured from
// its arrival, one that came before from its push time (the hold is the timing rule, not cost).
float since_push_time(GstPad *pad, Track *tr, GstBuffer *buf) {
  const int64_t lat = tr->render_lat_ns.load(std::memory_order_relaxed);
  if (lat < 0 || !GST_BUFFER_PTS_IS_VALID(buf)) return 1e9f;  // not live: no hold
  GstEvent *ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  GstClock *clock = gst_element_get_clock(tr->conv);
  float us = 1e9f;
  if (ev && clock) {
    const GstSegment *seg;
    gst_event_parse_segment(ev, &seg);
    const guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    const int64_t now_rt = static_cast<int64_t>(gst_clock_get_time(clock) - gst_element_get_base_time(tr->conv));
    if (rt != GST_CLOCK_TIME_NONE) {
      const auto push = static_cast<int64_t>(rtcgst::live_push_time(rt, static_cast<rtcgst::Ns>(lat), static_cast<rtcgst::Ns>(tr->lead_ns)));
      us = static_cast<float>(std::max<int64_t>(0, now_rt - push)) / 1000.0f;
    }
  }
  if (ev) gst_event_unref(ev);
  if (clock) gst_object_unref(clock);
  return us;
}

// The LATENCY event on its way up to the element: the render latency its src task uses.
GstPadProbeReturn latency_probe(GstPad *, GstPadProbeInfo *info, gpointer data) {
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (ev && GST_EVENT_TYPE(ev) == GST_EVENT_LATENCY) {
    GstClockTime lat;
    gst_event_parse_latency(ev, &lat);
    static_cast<Track *>(data)->render_lat_ns = static_cast<int64_t>(lat);
  }
  return GST_PAD_PROBE_OK;
}

// The element may push a delta whole or in pieces (live output is paced in 20 ms pieces that can
// straddle two deltas): the FIFO is consumed byte by byte, within one item id; a delta's latency is
// taken when its first byte leaves the src pad. Entries of another item (audio the element dropped:
// barge-in, flush) are skipped.
GstPadProbeReturn src_probe(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  const int64_t t = now_us();
  auto *tr = static_cast<Track *>(data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!buf) return GST_PAD_PROBE_OK;
  GstRealtimeConvMeta *m = gst_buffer_get_realtime_conv_meta(buf);
  if (!m) return GST_PAD_PROBE_OK;  // silence fill
  const float since_release = since_push_time(pad, tr, buf);
  size_t left = gst_buffer_get_size(buf);
  std::lock_guard<std::mutex> g(tr->mu);
  tr->out_bytes += left;
  if (tr->last_item != m->item_id) {  // an answer's first audio
    tr->last_item = m->item_id;
    const int64_t se = tr->speech_end_us.load(std::memory_order_relaxed);
    if (se && tr->recording.load(std::memory_order_relaxed)) tr->eot_ms.push_back(static_cast<float>(t - se) / 1000.0f);
  }
  while (left > 0 && !tr->fifo.empty()) {
    Pending &p = tr->fifo.front();
    if (p.item_id != m->item_id) {
      tr->fifo.pop_front();
      tr->consumed = 0;
      tr->skipped++;  // dropped by the element (barge-in, flush): not measured
      continue;
    }
    if (tr->consumed == 0 && tr->recording.load(std::memory_order_relaxed)) {
      const auto held = static_cast<float>(t - p.rx_us);
      static const bool dbg = g_getenv("BENCH_DEBUG_OUT") != nullptr;
      if (dbg)
        std::fprintf(stderr, "delta turn %d item %s pts %.3f ms: frame->pad %.0f us, since push time %.0f us, decode %lld us\n",
                     tr->turn.load(), p.item_id.c_str(), GST_BUFFER_PTS(buf) / 1e6, held, since_release,
                     static_cast<long long>(p.cb_us - p.rx_us));
      tr->samples.push_back({tr->turn.load(std::memory_order_relaxed), std::min(held, since_release),
                             static_cast<float>(p.cb_us - p.rx_us), held});
    }
    const size_t take = std::min(left, p.bytes - tr->consumed);
    tr->consumed += take;
    left -= take;
    if (tr->consumed >= p.bytes) {
      tr->audio_bytes += p.bytes;
      tr->fifo.pop_front();
      tr->consumed = 0;
    }
  }
  if (left > 0) tr->unmatched++;
  if (tr->fifo.empty()) tr->drained.notify_all();
  return GST_PAD_PROBE_OK;
}

// ---------------------------------------------------------------------------------------------
// Sink lateness (running time of a buffer + configured latency vs the clock when it arrives)
struct Lateness {
  GstSegment seg;
  bool have_seg = false;
  GstElement *sink = nullptr;
  GstClock *clock = nullptr;
  GstClockTime base = 0;
  std::atomic<bool> recording{false};
  std::mutex mu;
  uint64_t buffers = 0, late = 0, late20 = 0;
  double max_late_ms = -1e9;
};

GstPadProbeReturn sink_probe(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *l = static_cast<Lateness *>(data);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_SEGMENT) {
      const GstSegment *s;
      gst_event_parse_segment(ev, &s);
      std::lock_guard<std::mutex> g(l->mu);
      gst_segment_copy_into(s, &l->seg);
      l->have_seg = true;
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!buf || !l->recording.load(std::memory_order_relaxed) || !l->clock || !GST_BUFFER_PTS_IS_VALID(buf))
    return GST_PAD_PROBE_OK;
  const GstClockTime now = gst_clock_get_time(l->clock);
  const GstClockTime lat = gst_base_sink_get_latency(GST_BASE_SINK(l->sink));
  std::lock_guard<std::mutex> g(l->mu);
  if (!l->have_seg) return GST_PAD_PROBE_OK;
  guint64 rt = gst_segment_to_running_time(&l->seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  if (rt == (guint64)-1) return GST_PAD_PROBE_OK;
  const double late_ms = (static_cast<double>(now) - static_cast<double>(l->base) - static_cast<double>(rt + lat)) / 1e6;
  l->buffers++;
  static const bool dbg = g_getenv("BENCH_DEBUG_LATE") != nullptr;
  if (dbg)
    std::fprintf(stderr, "sink buffer rt %.3f ms dur %.3f ms lat %.1f ms lateness %.3f ms\n", rt / 1e6,
                 GST_BUFFER_DURATION_IS_VALID(buf) ? GST_BUFFER_DURATION(buf) / 1e6 : -1.0, lat / 1e6, late_ms);
  if (late_ms > 0) l->late++;
  if (late_ms > 20) l->late20++;
  if (late_ms > l->max_late_ms) l->max_late_ms = late_ms;
  return GST_PAD_PROBE_OK;
}

// ---------------------------------------------------------------------------------------------
// Speech-like input: the live source produces silence; the probe writes a loud square wave (the
// emulator's VAD hears speech at >= -30 dBFS) during `speech_ms` of every `cycle_ms`.
struct Track;
struct Speech {
  int64_t speech_ns, cycle_ns, phase_ns;
  bool in_speech;
  Track *track;  // told the wall-clock time of each end of speech (end-of-turn latency)
};
std::vector<int16_t> g_square;

GstPadProbeReturn speech_probe(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *sp = static_cast<Speech *>(data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!buf || !GST_BUFFER_PTS_IS_VALID(buf)) return GST_PAD_PROBE_OK;
  const int64_t t = static_cast<int64_t>(GST_BUFFER_PTS(buf)) + sp->phase_ns;
  const bool speaking = t % sp->cycle_ns < sp->speech_ns;
  if (!speaking && sp->in_speech && sp->track) sp->track->speech_end_us.store(now_us(), std::memory_order_relaxed);
  sp->in_speech = speaking;
  if (!speaking) return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable(buf);
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  GstMapInfo map;
  if (gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
    std::memcpy(map.data, g_square.data(), std::min(map.size, g_square.size() * 2));
    gst_buffer_unmap(buf, &map);
  }
  return GST_PAD_PROBE_OK;
}

// ---------------------------------------------------------------------------------------------
// Bus: a sync handler counts what matters and drops everything (N pipelines, no main loop).
struct BusStats {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t updated = 0, response_done = 0, errors = 0, warnings = 0, late_msgs = 0, reconnecting = 0;
  std::string last_error;
  // distinct warning texts and reconnection reasons (at most 8, up to their first digit) -> count
  std::map<std::string, uint64_t> warning_texts;
};

// Counts a warning text / reconnection reason (under b->mu), keyed up to its first digit (the
// numbers in them vary), at most 8 distinct keys.
void note_text(BusStats *b, std::string t) {
  t = t.substr(0, t.find_first_of("0123456789"));
  auto it = b->warning_texts.find(t);
  if (it != b->warning_texts.end())
    it->second++;
  else if (b->warning_texts.size() < 8)
    b->warning_texts[t] = 1;
}

GstBusSyncReply bus_sync(GstBus *, GstMessage *msg, gpointer data) {
  auto *b = static_cast<BusStats *>(data);
  const GstStructure *s = gst_message_get_structure(msg);
  bool notify = false;
  {
    std::lock_guard<std::mutex> g(b->mu);
    switch (GST_MESSAGE_TYPE(msg)) {
      case GST_MESSAGE_ERROR: {
        GError *e = nullptr;
        gst_message_parse_error(msg, &e, nullptr);
        b->errors++;
        b->last_error = e ? e->message : "?";
        g_clear_error(&e);
        notify = true;
        break;
      }
      case GST_MESSAGE_WARNING: {
        b->warnings++;
        GError *e = nullptr;
        gst_message_parse_warning(msg, &e, nullptr);
        note_text(b, e ? e->message : "?");
        g_clear_error(&e);
        break;
      }
      case GST_MESSAGE_ELEMENT:
        if (s && gst_structure_has_name(s, "realtimeconv/session")) {
          const char *ev = gst_structure_get_string(s, "event");
          if (ev && std::strcmp(ev, "updated") == 0) {
            b->updated++;
            notify = true;
          }
        } else if (s && gst_structure_has_name(s, "realtimeconv/response-done")) {
          b->response_done++;
          notify = true;
        } else if (s && gst_structure_has_name(s, "realtimeconv/late")) {
          b->late_msgs++;
        } else if (s && gst_structure_has_name(s, "realtimeconv/reconnecting")) {
          b->reconnecting++;
          const char *why = gst_structure_get_string(s, "reason");
          note_text(b, std::string("reconnecting: ") + (why ? why : "?"));
        }
        break;
      default: break;
    }
  }
  if (notify) b->cv.notify_all();
  gst_message_unref(msg);
  return GST_BUS_DROP;
}

// ---------------------------------------------------------------------------------------------
struct Pipe {
  GstElement *pipeline = nullptr, *conv = nullptr, *sink = nullptr;
  Track track;
  Lateness lat;
  Speech speech{};
};

const char *kCaps = "audio/x-raw,format=S16LE,rate=24000,channels=1,layout=interleaved";

std::unique_ptr<Pipe> make_pipe(const std::string &url, const std::string &src_props, const std::string &conv_props,
                                bool sync, BusStats *bus, bool element = true) {
  auto p = std::make_unique<Pipe>();
  std::string desc = "audiotestsrc name=src is-live=true samplesperbuffer=240 " + src_props + " ! " + kCaps + " ! ";
  if (element)
    desc += "realtimeconv name=c endpoint=" + url + " api-key=sk-bench " + conv_props + " ! " + kCaps + " ! ";
  if (sync) desc += "queue name=q ! ";  // as the documentation recommends after each src pad
  desc += std::string("fakesink name=sink async=false sync=") + (sync ? "true" : "false");
  GError *err = nullptr;
  p->pipeline = gst_parse_launch(desc.c_str(), &err);
  if (!p->pipeline) {
    std::fprintf(stderr, "pipeline: %s\n", err ? err->message : "?");
    std::exit(2);
  }
  p->sink = gst_bin_get_by_name(GST_BIN(p->pipeline), "sink");
  p->lat.sink = p->sink;
  if (element) {
    p->conv = gst_bin_get_by_name(GST_BIN(p->pipeline), "c");
    Track *tr = &p->track;
    gst_realtimeconv_set_session_factory(p->conv, [tr](const rtc::EngineConfig &cfg, rtc::SessionListener *l) {
      auto w = std::make_unique<TimingListener>(l, tr);
      auto s = rtcgst::make_engine_session(cfg, w.get());
      std::lock_guard<std::mutex> g(tr->mu);
      tr->wrappers.push_back(std::move(w));
      return s;
    });
    GstPad *sp = gst_element_get_static_pad(p->conv, "src");
    gst_pad_add_probe(sp, GST_PAD_PROBE_TYPE_BUFFER, src_probe, &p->track, nullptr);
    gst_pad_add_probe(sp, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, latency_probe, &p->track, nullptr);
    gint latency_ms = 0, push_ahead_ms = 0;
    g_object_get(p->conv, "latency", &latency_ms, "push-ahead", &push_ahead_ms, nullptr);
    tr->conv = p->conv;
    tr->lead_ns = static_cast<int64_t>(rtcgst::live_pacing(static_cast<rtcgst::Ns>(latency_ms) * GST_MSECOND,
                                                           static_cast<rtcgst::Ns>(push_ahead_ms) * GST_MSECOND)
                                           .lead);
    gst_object_unref(sp);
  }
  GstPad *kp = gst_element_get_static_pad(p->sink, "sink");
  gst_pad_add_probe(kp, (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM), sink_probe,
                    &p->lat, nullptr);
  gst_object_unref(kp);
  GstBus *b = gst_element_get_bus(p->pipeline);
  gst_bus_set_sync_handler(b, bus_sync, bus, nullptr);
  gst_object_unref(b);
  return p;
}

void add_speech(Pipe *p, int64_t speech_ms, int64_t cycle_ms, int64_t phase_ms) {
  p->speech = {speech_ms * GST_MSECOND, cycle_ms * GST_MSECOND, phase_ms * GST_MSECOND, false, &p->track};
  GstElement *src = gst_bin_get_by_name(GST_BIN(p->pipeline), "src");
  GstPad *pad = gst_element_get_static_pad(src, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, speech_probe, &p->speech, nullptr);
  gst_object_unref(pad);
  gst_object_unref(src);
}

void play(Pipe *p) {
  gst_element_set_state(p->pipeline, GST_STATE_PLAYING);
}

void arm_lateness(Pipe *p) {
  // A live source answers the LATENCY query only once negotiated, which can be after the pipeline
  // computed its latency on PLAYING: recompute it now that data flows, as applications do.
  gst_bin_recalculate_latency(GST_BIN(p->pipeline));
  p->lat.clock = gst_pipeline_get_clock(GST_PIPELINE(p->pipeline));
  p->lat.base = gst_element_get_base_time(p->pipeline);
  {
    std::lock_guard<std::mutex> g(p->lat.mu);
    p->lat.buffers = p->lat.late = p->lat.late20 = 0;
    p->lat.max_late_ms = -1e9;
  }
  p->lat.recording = true;
}

void teardown(std::vector<std::unique_ptr<Pipe>> &pipes) {
  for (auto &p : pipes) {
    p->lat.recording = false;
    gst_element_set_state(p->pipeline, GST_STATE_NULL);
  }
  for (auto &p : pipes) {
    if (p->lat.clock) gst_object_unref(p->lat.clock);
    if (p->conv) gst_object_unref(p->conv);
    gst_object_unref(p->sink);
    gst_object_unref(p->pipeline);
  }
  pipes.clear();
}

bool wait_for(BusStats &b, const std::function<bool()> &pred, int timeout_ms) {
  std::unique_lock<std::mutex> lk(b.mu);
  return b.cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return pred() || b.errors > 0; }) &&
         b.errors == 0;
}

std::vector<std::string> emulator_args(const std::string &pace) {
  return {"--voice", "tone", "--pace", pace};
}

// ---------------------------------------------------------------------------------------------
// Engine event-loop lag: a timestamped source posted every `period_ms`, to each network thread in
// turn.
class LoopLag {
 public:
  void start(int period_ms) {
    run_ = true;
    th_ = std::thread([this, period_ms] {
      pthread_setname_np(pthread_self(), "bench-lag");
      const size_t loops = rtc::net::loop_count();
      for (size_t k = 0; run_; k++) {
        auto *pd = new std::pair<LoopLag *, int64_t>(this, now_us());
        rtc::net::post(
            rtc::net::loop_at(k % loops),
            [](gpointer d) -> gboolean {
              auto *x = static_cast<std::pair<LoopLag *, int64_t> *>(d);
              const int64_t lag = now_us() - x->second;
              std::lock_guard<std::mutex> g(x->first->mu_);
              x->first->d_.add(static_cast<double>(lag));
              return G_SOURCE_REMOVE;
            },
            pd, [](gpointer d) { delete static_cast<std::pair<LoopLag *, int64_t> *>(d); });
        g_usleep(static_cast<gulong>(period_ms) * 1000);
      }
    });
  }
  Dist stop() {
    run_ = false;
    if (th_.joinable()) th_.join();
    g_usleep(200000);
    std::lock_guard<std::mutex> g(mu_);
    return d_;
  }

 private:
  std::atomic<bool> run_{false};
  std::thread th_;
  std::mutex mu_;
  Dist d_;
};

// The default of an int property of realtimeconv (what a run without the option measured).
int element_default_int(const char *prop) {
  GstElement *e = gst_element_factory_make("realtimeconv", nullptr);
  if (!e) return -1;
  GParamSpec *ps = g_object_class_find_property(G_OBJECT_GET_CLASS(e), prop);
  const int v = ps && G_IS_PARAM_SPEC_INT(ps) ? G_PARAM_SPEC_INT(ps)->default_value : -1;
  gst_object_unref(e);
  return v;
}

// ---------------------------------------------------------------------------------------------
// output / turns

// How late the system clock (the pipeline's) wakes a thread from a single-shot wait on this
// machine, with nothing else running: what any element pays that waits for a running time, as the
// element's src task does for each live piece's push time. A reference for the output rows.
Dist clock_wait_lateness(int n) {
  Dist d;
  GstClock *clock = gst_system_clock_obtain();
  for (int i = 0; i < n; i++) {
    const GstClockTime target = gst_clock_get_time(clock) + static_cast<GstClockTime>(5 + (i * 7) % 40) * GST_MSECOND;
    GstClockID id = gst_clock_new_single_shot_id(clock, target);
    gst_clock_id_wait(id, nullptr);
    const GstClockTime t = gst_clock_get_time(clock);
    gst_clock_id_unref(id);
    d.add(t > target ? static_cast<double>(t - target) / 1000.0 : 0.0);
  }
  gst_object_unref(clock);
  return d;
}

int run_output(const Opts &o, bool turns_mode) {
  const std::string pace = o.get("pace", "burst");
  const double resp_s = o.num("response-s", turns_mode ? 0.9 : 30);
  const long target_deltas = static_cast<long>(o.num("deltas", turns_mode ? 0 : 10000));
  const long max_responses = static_cast<long>(o.num("responses", turns_mode ? o.num("turns", 1000) : 100000));
  const std::string id = o.get("id", turns_mode ? "turns" : "output_" + pace);
  bench::Emulator emu;
  if (!emu.start(emulator_args(pace))) return 1;
  BusStats bus;
  const std::string say = "Say: " + bench::say_text(resp_s);
  std::string props = "turn-detection=none input-transcription-model=\"\"";
  if (turns_mode) props += " instructions=\"" + say + "\"";
  auto p = make_pipe(emu.url(), "wave=silence", props, false, &bus);
  play(p.get());
  if (!wait_for(bus, [&] { return bus.updated >= 1; }, 20000)) {
    std::fprintf(stderr, "session not ready: %s\n", bus.last_error.c_str());
    return 1;
  }
  // Idle cost (live input streaming, no response) to separate the per-audio-second cost.
  g_usleep(500000);
  if (p->track.render_lat_ns < 0) {  // no LATENCY event (yet): the element's own answer
    GstQuery *q = gst_query_new_latency();
    GstPad *sp = gst_element_get_static_pad(p->conv, "src");
    GstClockTime mn = 0;
    if (gst_pad_query(sp, q)) gst_query_parse_latency(q, nullptr, &mn, nullptr);
    gst_object_unref(sp);
    gst_query_unref(q);
    int64_t expect = -1;
    p->track.render_lat_ns.compare_exchange_strong(expect, static_cast<int64_t>(mn));
  }
  std::fprintf(stderr, "render latency %.1f ms, lead %.1f ms\n", static_cast<double>(p->track.render_lat_ns) / 1e6,
               static_cast<double>(p->track.lead_ns) / 1e6);
  int64_t c0 = bench::cpu_us(), w0 = now_us();
  g_usleep(2000000);
  const double idle_cpu_per_s = static_cast<double>(bench::cpu_us() - c0) / (static_cast<double>(now_us() - w0) / 1e6);

  struct Turn {
    int64_t wall_us, cpu_us;
  };
  std::vector<Turn> per_turn;
  std::vector<long> rss_at;
  p->track.recording = true;
  const int64_t cpu_start = bench::cpu_us(), wall_start = now_us();
  const long rss_start = bench::proc_status("VmRSS");
  long rss_100 = -1;
  long n = 0;
  uint64_t done0;
  {
    std::lock_guard<std::mutex> g(bus.mu);
    done0 = bus.response_done;
  }
  for (; n < max_responses; n++) {
    {
      std::lock_guard<std::mutex> g(p->track.mu);
      if (target_deltas > 0 && static_cast<long>(p->track.samples.size()) >= target_deltas) break;
    }
    p->track.turn = static_cast<int>(n);
    const int64_t t0 = now_us(), cc0 = bench::cpu_us();
    if (turns_mode)
      g_signal_emit_by_name(p->conv, "send-text", ("turn " + std::to_string(n)).c_str());
    else
      g_signal_emit_by_name(p->conv, "create-response", say.c_str());
    const uint64_t want = done0 + static_cast<uint64_t>(n) + 1;
    if (!wait_for(bus, [&] { return bus.response_done >= want; }, 180000)) {
      std::fprintf(stderr, "response %ld did not complete: %s\n", n, bus.last_error.c_str());
      break;
    }
    // Let the last deltas of this response reach the src pad before the next turn starts: live
    // output leaves at its playout pace, so this is about the response's length.
    {
      std::unique_lock<std::mutex> lk(p->track.mu);
      const auto limit = std::chrono::milliseconds(static_cast<int64_t>(resp_s * 1000) + 10000);
      if (!p->track.drained.wait_for(lk, limit, [&] { return p->track.fifo.empty(); }))
        std::fprintf(stderr, "response %ld: %zu deltas still not out after %lld ms\n", n, p->track.fifo.size(),
                     static_cast<long long>(limit.count()));
    }
    per_turn.push_back({now_us() - t0, bench::cpu_us() - cc0});
    if (n + 1 == 100) rss_100 = bench::proc_status("VmRSS");
  }
  const double wall_s = static_cast<double>(now_us() - wall_start) / 1e6;
  const double cpu_ms = static_cast<double>(bench::cpu_us() - cpu_start) / 1000.0;
  p->track.recording = false;
  const long rss_end = bench::proc_status("VmRSS");
  std::vector<std::unique_ptr<Pipe>> v;
  Track &tr = p->track;
  std::vector<Sample> samples;
  uint64_t skipped, unmatched, audio_bytes;
  {
    std::lock_guard<std::mutex> g(tr.mu);
    samples = tr.samples;
    skipped = tr.skipped;
    unmatched = tr.unmatched;
    audio_bytes = tr.audio_bytes;
  }
  uint64_t errors = bus.errors;
  v.push_back(std::move(p));
  teardown(v);

  const double audio_s = static_cast<double>(audio_bytes) / 48000.0;
  auto window = [&](long from, long to, Dist *tot, Dist *dec) {
    for (auto &s : samples)
      if (s.turn >= from && s.turn < to) {
        tot->add(s.total_us);
        if (dec) dec->add(s.decode_us);
      }
  };
  Json j;
  j.str("pace", pace).num("response_s", resp_s).integer("responses", n).num("wall_s", wall_s).num("audio_s", audio_s);
  j.integer("skipped", static_cast<long long>(skipped)).integer("unmatched", static_cast<long long>(unmatched));
  j.integer("errors", static_cast<long long>(errors));
  j.num("idle_cpu_ms_per_s", idle_cpu_per_s / 1000.0);
  const double active_cpu_ms = cpu_ms - idle_cpu_per_s / 1000.0 * wall_s;
  j.num("cpu_ms", cpu_ms).num("cpu_ms_per_audio_s", audio_s > 0 ? active_cpu_ms / audio_s : NAN);
  Dist tot, dec;
  window(0, 1 << 30, &tot, &dec);
  Dist held;
  for (auto &s : samples) held.add(s.held_us);
  j.dist("lat_us", tot).dist("decode_us", dec).pcts("lat_us", tot).dist("held_us", held);
  if (!turns_mode) j.dist("clock_wait_late_us", clock_wait_lateness(200));
  if (turns_mode && n >= 200) {
    Dist a, b, ta, tb, ca, cb;
    window(0, 100, &a, nullptr);
    window(n - 100, n, &b, nullptr);
    for (long i = 0; i < 100; i++) {
      ta.add(static_cast<double>(per_turn[i].wall_us) / 1000.0);
      ca.add(static_cast<double>(per_turn[i].cpu_us) / 1000.0);
    }
    for (long i = n - 100; i < n; i++) {
      tb.add(static_cast<double>(per_turn[i].wall_us) / 1000.0);
      cb.add(static_cast<double>(per_turn[i].cpu_us) / 1000.0);
    }
    j.dist("first100_lat_us", a).dist("last100_lat_us", b);
    j.num("first100_turn_ms_p50", ta.pct(50)).num("last100_turn_ms_p50", tb.pct(50));
    j.num("first100_cpu_ms_per_turn", ca.mean()).num("last100_cpu_ms_per_turn", cb.mean());
    j.integer("rss_kb_start", rss_start).integer("rss_kb_turn100", rss_100).integer("rss_kb_end", rss_end);
  }
  bench::emit("element", id, j);
  emu.stop();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// input
struct InTrack {
  std::mutex mu;
  int64_t cum = 0;
  std::vector<std::pair<int64_t, int64_t>> bufs;  // (t_us, cumulative end byte)
};

GstPadProbeReturn in_probe(GstPad *, GstPadProbeInfo *info, gpointer data) {
  const int64_t t = now_us();
  auto *it = static_cast<InTrack *>(data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!buf) return GST_PAD_PROBE_OK;
  std::lock_guard<std::mutex> g(it->mu);
  it->cum += static_cast<int64_t>(gst_buffer_get_size(buf));
  it->bufs.emplace_back(t, it->cum);
  return GST_PAD_PROBE_OK;
}

int run_input(const Opts &o) {
  const int chunk_ms = static_cast<int>(o.num("chunk", 40));
  const double seconds = o.num("seconds", 10);
  bench::Emulator emu;
  if (!emu.start(emulator_args("burst"))) return 1;
  BusStats bus;
  InTrack in;
  bench::sendhook_start();
  auto p = make_pipe(emu.url(), "wave=sine volume=0.3",
                     "turn-detection=none input-transcription-model=\"\" chunk-duration=" + std::to_string(chunk_ms),
                     false, &bus);
  GstPad *sp = gst_element_get_static_pad(p->conv, "sink");
  gst_pad_add_probe(sp, GST_PAD_PROBE_TYPE_BUFFER, in_probe, &in, nullptr);
  gst_object_unref(sp);
  play(p.get());
  if (!wait_for(bus, [&] { return bus.updated >= 1; }, 20000)) {
    std::fprintf(stderr, "session not ready: %s\n", bus.last_error.c_str());
    return 1;
  }
  const int64_t t_ready = now_us();
  const int64_t c0 = bench::cpu_us();
  g_usleep(static_cast<gulong>((seconds + 1.0) * 1e6));
  const double cpu_ms_per_s = static_cast<double>(bench::cpu_us() - c0) / 1000.0 / (seconds + 1.0);
  std::vector<bench::SendRecord> sends = bench::sendhook_stop();
  std::vector<std::unique_ptr<Pipe>> v;
  v.push_back(std::move(p));
  teardown(v);
  emu.stop();

  const size_t cb = static_cast<size_t>(chunk_ms) * 48;
  std::vector<uint8_t> zeros(cb);
  const size_t payload = rtc::build_input_audio_append(zeros.data(), zeros.size()).size();
  const int64_t frame = static_cast<int64_t>(payload + 2 + (payload >= 126 ? (payload > 65535 ? 8 : 2) : 0) + 4);
  std::vector<int64_t> appends;
  for (auto &s : sends)
    if (s.bytes == frame) appends.push_back(s.t_us);
  Dist lat, over;
  std::vector<std::pair<int64_t, int64_t>> bufs;
  {
    std::lock_guard<std::mutex> g(in.mu);
    bufs = in.bufs;
  }
  int64_t prev_end = 0;
  for (auto &b : bufs) {
    const int64_t t = b.first, end = b.second;
    const int64_t k = (end - 1) / static_cast<int64_t>(cb);
    const bool completes = (end / static_cast<int64_t>(cb)) > (prev_end / static_cast<int64_t>(cb));
    prev_end = end;
    if (t < t_ready + 1000000 || k >= static_cast<int64_t>(appends.size())) continue;
    if (appends[static_cast<size_t>(k)] < t) continue;  // misaligned (partial write or lost frame)
    lat.add(static_cast<double>(appends[static_cast<size_t>(k)] - t));
    if (completes && end % static_cast<int64_t>(cb) == 0) over.add(static_cast<double>(appends[static_cast<size_t>(k)] - t));
  }
  Json j;
  j.integer("chunk_ms", chunk_ms).num("seconds", seconds).integer("append_frames", static_cast<long long>(appends.size()));
  j.integer("frame_bytes", frame).integer("input_buffers", static_cast<long long>(bufs.size()));
  j.integer("expected_frames", static_cast<long long>(bufs.empty() ? 0 : bufs.back().second / static_cast<int64_t>(cb)));
  j.num("cpu_ms_per_s", cpu_ms_per_s);
  j.dist("lat_us", lat).dist("overhead_us", over);
  bench::emit("element", "input_" + std::to_string(chunk_ms), j);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// session (CPU per session-second, density)
int run_session(const Opts &o) {
  const int n = static_cast<int>(o.num("n", 1));
  const double seconds = o.num("seconds", 30);
  const bool baseline = o.flag("baseline");
  const int speech_ms = static_cast<int>(o.num("speech-ms", 1500));
  const int cycle_ms = static_cast<int>(o.num("cycle-ms", 6000));
  const double say_s = o.num("say-s", 2.0);
  const std::string id = o.get("id", baseline ? "baseline_" + std::to_string(n) : "session_" + std::to_string(n));
  {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  g_square.resize(480);
  for (size_t i = 0; i < g_square.size(); i++) g_square[i] = (i / 27) % 2 ? 10000 : -10000;  // ~444 Hz, -10 dBFS

  // --url: an emulator started by run.sh (e.g. wss:// for the peer row, shared with the SDK run);
  // --ssl-ca-file: the CA of its self-signed certificate.
  const std::string ext_url = o.get("url", "");
  bench::Emulator emu;
  if (!baseline && ext_url.empty() && !emu.start(emulator_args("realtime"))) return 1;
  const std::string url = ext_url.empty() ? emu.url() : ext_url;
  std::string props = "instructions=\"Say: " + bench::say_text(say_s) + "\"";
  const std::string ca = o.get("ssl-ca-file", "");
  if (!ca.empty()) props += " ssl-ca-file=\"" + ca + "\"";
  const int chunk_ms = static_cast<int>(o.num("chunk", 0));  // 0: the element's default
  if (chunk_ms > 0) props += " chunk-duration=" + std::to_string(chunk_ms);
  const int push_ahead_ms = static_cast<int>(o.num("push-ahead", 0));  // 0: the element's automatic pacing
  if (push_ahead_ms > 0) props += " push-ahead=" + std::to_string(push_ahead_ms);
  // Touch the network thread first so that the RSS baseline includes it.
  if (!baseline)
    for (size_t i = 0; i < rtc::net::loop_count(); i++) (void)rtc::net::context(rtc::net::loop_at(i));
  g_usleep(100000);
  const long rss0 = bench::proc_status("VmRSS");
  BusStats bus;
  std::vector<std::unique_ptr<Pipe>> pipes;
  const int64_t t_create = now_us();
  for (int i = 0; i < n; i++) {
    // Baseline: the live source alone (its streaming thread + a fakesink that does nothing).
    pipes.push_back(make_pipe(url, "wave=silence", props, !baseline, &bus, !baseline));
    add_speech(pipes.back().get(), speech_ms, cycle_ms, static_cast<int64_t>(i) * cycle_ms / n + 1000);
  }
  for (auto &p : pipes) play(p.get());
  bool ready = true;
  if (!baseline)
    ready = wait_for(bus, [&] { return bus.updated >= static_cast<uint64_t>(n); }, 30000 + 200 * n);
  const double ready_s = static_cast<double>(now_us() - t_create) / 1e6;
  uint64_t updated;
  {
    std::lock_guard<std::mutex> g(bus.mu);
    updated = bus.updated;
  }
  // Warm up: let every session have one speech cycle so that buffers / pools reach steady state.
  g_usleep(static_cast<gulong>(std::min<double>(cycle_ms, seconds * 1000) * 1000));
  for (auto &p : pipes) {
    arm_lateness(p.get());
    std::lock_guard<std::mutex> g(p->track.mu);
    p->track.recording = true;
  }
  // The loop-lag probe wakes the network thread 20 times a second: off (--lag-ms 0) where the
  // CPU of one session is measured, so that it does not count as the element's.
  const int lag_ms = static_cast<int>(o.num("lag-ms", 50));
  LoopLag lag;
  if (!baseline && lag_ms > 0) lag.start(lag_ms);
  const long rss1 = bench::proc_status("VmRSS");
  uint64_t done0 = bus.response_done;
  const bool own_emu = !baseline && ext_url.empty();
  const int64_t c0 = bench::cpu_us(), w0 = now_us(), e0 = own_emu ? bench::child_cpu_us(emu.pid()) : 0;
  const long cs0 = bench::rusage_ctxsw();
  int64_t u0, s0, u1, s1;
  bench::cpu_split_us(&u0, &s0);
  const auto th0 = bench::thread_cpu();
  // --wakeups: sample every thread's scheduler switches every 100 ms and split the intervals into
  // "a response streaming" (response audio left the src pad during the last 600 ms: deltas carry
  // at most 560 ms of audio) and "no response"; off by default (reading /proc per thread perturbs
  // large N).
  const bool wakeups = o.flag("wakeups");
  std::map<std::string, double> sw_stream, sw_idle, sw_all;
  double stream_s = 0, idle_s = 0;
  if (wakeups) {
    auto prev = bench::thread_switches();
    const auto first = prev;
    uint64_t prev_bytes = 0;
    int64_t last_audio_us = 0, t_prev = now_us();
    for (auto &p : pipes) {
      std::lock_guard<std::mutex> g(p->track.mu);
      prev_bytes += p->track.out_bytes;
    }
    const int64_t t_end = w0 + static_cast<int64_t>(seconds * 1e6);
    while (now_us() < t_end) {
      g_usleep(100000);
      const int64_t t = now_us();
      auto cur = bench::thread_switches();
      uint64_t bytes = 0;
      for (auto &p : pipes) {
        std::lock_guard<std::mutex> g(p->track.mu);
        bytes += p->track.out_bytes;
      }
      if (bytes != prev_bytes) last_audio_us = t;
      prev_bytes = bytes;
      const bool streaming = last_audio_us && t - last_audio_us <= 600000;
      for (auto &kv : bench::thread_switches_delta(prev, cur)) (streaming ? sw_stream : sw_idle)[kv.first] += kv.second;
      (streaming ? stream_s : idle_s) += static_cast<double>(t - t_prev) / 1e6;
      t_prev = t;
      prev = std::move(cur);
    }
    sw_all = bench::thread_switches_delta(first, prev);
  } else {
    g_usleep(static_cast<gulong>(seconds * 1e6));
  }
  const auto th1 = bench::thread_cpu();
  bench::cpu_split_us(&u1, &s1);
  const double wall_s = static_cast<double>(now_us() - w0) / 1e6;
  const double cpu_ms = static_cast<double>(bench::cpu_us() - c0) / 1000.0;
  const double emu_cpu_ms = own_emu ? static_cast<double>(bench::child_cpu_us(emu.pid()) - e0) / 1000.0 : 0;
  const long ctxsw = bench::rusage_ctxsw() - cs0;
  Dist lagd = baseline || lag_ms <= 0 ? Dist() : lag.stop();
  const long rss2 = bench::proc_status("VmRSS");
  const long threads = bench::proc_status("Threads");
  uint64_t buffers = 0, late = 0, late20 = 0, skipped = 0;
  double max_late = -1e9;
  Dist out_lat, eot;
  for (auto &p : pipes) {
    p->lat.recording = false;
    {
      std::lock_guard<std::mutex> g(p->lat.mu);
      buffers += p->lat.buffers;
      late += p->lat.late;
      late20 += p->lat.late20;
      max_late = std::max(max_late, p->lat.max_late_ms);
    }
    std::lock_guard<std::mutex> g(p->track.mu);
    p->track.recording = false;
    for (auto &s : p->track.samples) out_lat.add(s.total_us);
    for (float e : p->track.eot_ms) eot.add(e);
    skipped += p->track.skipped;
  }
  BusStats snapshot;
  {
    std::lock_guard<std::mutex> g(bus.mu);
    snapshot.response_done = bus.response_done - done0;
    snapshot.errors = bus.errors;
    snapshot.warnings = bus.warnings;
    snapshot.late_msgs = bus.late_msgs;
    snapshot.reconnecting = bus.reconnecting;
    snapshot.last_error = bus.last_error;
    snapshot.warning_texts = bus.warning_texts;
  }
  teardown(pipes);
  emu.stop();

  Json j;
  j.integer("chunk_ms", chunk_ms > 0 ? chunk_ms : element_default_int("chunk-duration"));
  j.integer("n", n).boolean("baseline", baseline).boolean("all_ready", ready).integer("ready", static_cast<long long>(updated));
  j.integer("push_ahead_ms", push_ahead_ms);
  {  // the live pacing in force (the element's rule, rtcgst::live_pacing)
    const rtcgst::LivePacing lp = rtcgst::live_pacing(static_cast<rtcgst::Ns>(element_default_int("latency")) * GST_MSECOND,
                                                      static_cast<rtcgst::Ns>(push_ahead_ms) * GST_MSECOND);
    j.num("lead_ms", static_cast<double>(lp.lead) / GST_MSECOND).num("piece_ms", static_cast<double>(lp.piece) / GST_MSECOND);
  }
  j.num("ready_s", ready_s).num("wall_s", wall_s).num("cpu_ms", cpu_ms);
  j.num("cpu_ms_per_session_s", cpu_ms / wall_s / n).num("cpu_cores", cpu_ms / 1000.0 / wall_s);
  j.num("user_ms_per_session_s", static_cast<double>(u1 - u0) / 1000.0 / wall_s / n);
  j.num("sys_ms_per_session_s", static_cast<double>(s1 - s0) / 1000.0 / wall_s / n);
  j.num("emulator_cpu_cores", emu_cpu_ms / 1000.0 / wall_s);
  j.integer("ctxsw_per_s", static_cast<long long>(static_cast<double>(ctxsw) / wall_s));
  j.integer("rss_kb_base", rss0).integer("rss_kb_ready", rss1).integer("rss_kb_end", rss2).integer("threads", threads);
  j.num("rss_kb_per_session", static_cast<double>(rss2 - rss0) / n);
  j.integer("sink_buffers", static_cast<long long>(buffers)).integer("late_buffers", static_cast<long long>(late));
  j.integer("late20_buffers", static_cast<long long>(late20)).num("max_lateness_ms", max_late);
  j.integer("responses", static_cast<long long>(snapshot.response_done));
  j.integer("expected_responses", baseline ? 0 : static_cast<long long>(n * wall_s * 1000.0 / cycle_ms));
  j.integer("late_msgs", static_cast<long long>(snapshot.late_msgs)).integer("errors", static_cast<long long>(snapshot.errors));
  j.integer("warnings", static_cast<long long>(snapshot.warnings)).integer("reconnecting", static_cast<long long>(snapshot.reconnecting));
  j.str("last_error", snapshot.last_error).integer("skipped_deltas", static_cast<long long>(skipped));
  {
    Json w;
    for (auto &kv : snapshot.warning_texts) w.integer(kv.first, static_cast<long long>(kv.second));
    j.raw("warning_texts", w.done());
  }
  j.dist("out_lat_us", out_lat).dist("loop_lag_us", lagd).pcts("out_lat_us", out_lat);
  j.dist("eot_ms", eot);
  {
    Json t;
    for (auto &kv : bench::thread_cpu_delta(th0, th1)) t.num(kv.first, kv.second / wall_s / n);
    j.raw("thread_cpu_ms_per_session_s", t.done());
  }
  if (wakeups) {
    // Wake-ups per second and per session, by thread name (the network thread is shared by every
    // session on it: divided by N like every other figure).
    auto per_s = [&](const std::map<std::string, double> &m, double secs) {
      Json t;
      for (auto &kv : m) t.num(kv.first, secs > 0 ? kv.second / secs / n : NAN);
      return t.done();
    };
    j.num("streaming_s", stream_s).num("no_response_s", idle_s);
    j.raw("wakeups_per_session_s", per_s(sw_all, wall_s));
    j.raw("wakeups_streaming_per_session_s", per_s(sw_stream, stream_s));
    j.raw("wakeups_idle_per_session_s", per_s(sw_idle, idle_s));
  }
  bench::emit("element", id, j);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (!GST_ELEMENT_REGISTER(realtimeconv, nullptr)) {
    std::fprintf(stderr, "cannot register realtimeconv\n");
    return 1;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s output|turns|input|session [--key value ...]\n", argv[0]);
    return 2;
  }
  Opts o;
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    if (a.compare(0, 2, "--") != 0) continue;
    a = a.substr(2);
    if (i + 1 < argc && std::string(argv[i + 1]).compare(0, 2, "--") != 0)
      o.kv[a] = argv[++i];
    else
      o.kv[a] = "1";
  }
  const std::string mode = argv[1];
  if (mode == "output") return run_output(o, false);
  if (mode == "turns") return run_output(o, true);
  if (mode == "input") return run_input(o);
  if (mode == "session") return run_session(o);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
