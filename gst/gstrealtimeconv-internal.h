// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals: the private instance (RtcPriv) shared by the element's files, its
// types, constants and small helpers. Not installed. Where things are:
//   gstrealtimeconv.cc              GObject + pad shell: init, finalize, state changes, queries,
//                                   src events, action signals, the one state reset
//   gstrealtimeconv-props.{h,cc}    enums, Settings, properties, settings -> engine config
//   gstrealtimeconv-messages.{h,cc} every realtimeconv/* bus message and the stats structure
//   rtcenginebridge.{h,cc}          engine listener, bounded inbox + control task, session lifecycle
//   rtcsrcpusher.{h,cc}             the src task (sticky events, flow combining, clock waits)
//   gstrealtimeconv-input.{h,cc}    sink chain / events, input timeline feeding, turn gate
//   gstrealtimeconv-conversation.{h,cc} engine events -> timed output, barge-in, turn waits, drain
//   rtcscheduler / rtctimeline      the pure timing rules (no GStreamer objects)
// Locks: lifecycle_mutex before session_mutex and lock; props_mutex, clock_mutex, inbox_mutex are
// leaves. Functions named *_locked expect `lock` held.
#pragma once

#include <gst/base/gstflowcombiner.h>
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gstrealtimeconv.h"
#include "gstrealtimeconv-props.h"
#include "gstrealtimeconvmeta.h"
#include "gstrealtimeconvpriv.h"
#include "rtcconnprops.h"
#include "rtcinputbudget.h"
#include "rtcprerollwatch.h"
#include "rtcscheduler.h"
#include "rtctextqueue.h"
#include "rtcsessionport.h"
#include "rtctimeline.h"

GST_DEBUG_CATEGORY_EXTERN(gst_realtimeconv_debug);
GST_DEBUG_CATEGORY_EXTERN(gst_realtimeconv_engine_debug);
#define GST_CAT_DEFAULT gst_realtimeconv_debug

#define RTC_AUDIO_CAPS                                                                      \
  "audio/x-raw, format=(string)S16LE, rate=(int)24000, channels=(int)1, "                   \
  "layout=(string)interleaved; "                                                            \
  "audio/x-mulaw, rate=(int)8000, channels=(int)1; "                                        \
  "audio/x-alaw, rate=(int)8000, channels=(int)1"
#define RTC_TEXT_CAPS "text/x-raw, format=(string)utf8"

enum { SIGNAL_COMMIT, SIGNAL_CLEAR, SIGNAL_CREATE_RESPONSE, SIGNAL_CANCEL_RESPONSE, SIGNAL_SEND_TEXT,
       SIGNAL_FUNCTION_OUTPUT, SIGNAL_FUNCTION_CALL, LAST_SIGNAL };
extern guint gst_realtimeconv_signals[LAST_SIGNAL];  // (gstrealtimeconv.cc)


constexpr GstClockTime kMaxQueuedAudio = 120 * GST_SECOND;
// Live output between responses: how often the src task wakes to push GAP events (or silence) up
// to `now - latency`: latency / 2, within [20 ms, 100 ms] (the 100 ms granularity of the cloud
// transcribers of gst-plugins-rs). Each push wakes the src task and every element downstream, so
// this is most of the CPU an idle live session costs; a GAP is only ever up to one interval later
// than `now - latency`, and never delays audio (audio is pushed as soon as it arrives).
// (rtcgst::live_fill_interval, docs/timing.md.)
constexpr GstClockTime kLiveFillMin = 20 * GST_MSECOND;
using rtcgst::live_fill_interval;
// Non-live input gate (rtcgst::TurnGate).
// It sees the input in pieces of at most this duration (shorter than any min_gap), so that a
// piece never holds a whole pause and the onset after it.
constexpr int kGatePieceMs = 50;
constexpr GstClockTime kTextGapInterval = 500 * GST_MSECOND;
constexpr GstClockTime kSilenceChunk = 100 * GST_MSECOND;
constexpr GstClockTime kCaptionPendingTimeout = 30 * GST_SECOND;
// Inbox (network thread -> control thread) bounds: response audio beyond kMaxInboxAudioSeconds is
// dropped at once (counted in stats "output-audio-dropped", warned once); other notifications
// beyond kMaxInboxOther are dropped (warned once). Only a control thread blocked for a long time
// (e.g. a function-call handler that never returns) can reach them.
constexpr int kMaxInboxAudioSeconds = 60;
constexpr size_t kMaxInboxOther = 10000;
// Text pads: the limits of each text queue are in rtctextqueue.h (kMaxTextItems, kMaxTextQueueBytes).
// Input dropped while disconnected (the engine reports every drop, exactly, as it happens): at
// most one bus warning per this interval, with the total since the previous one, so an outage
// does not flood the bus (one report per input buffer otherwise).
constexpr gint64 kDropWarnIntervalUs = 5 * G_USEC_PER_SEC;

enum PadIdx { kAudioPad = 0, kTextPad = 1, kCaptionPad = 2, kNumPads = 3 };


// Collects what must happen after the state lock is released: bus messages and engine calls.
struct Deferred {
  std::vector<GstMessage *> msgs;
  std::vector<std::function<void()>> calls;
  Deferred() = default;
  Deferred(const Deferred &) = delete;
  Deferred &operator=(const Deferred &) = delete;
  ~Deferred() {
    for (GstMessage *m : msgs) gst_message_unref(m);
  }
  bool empty() const { return msgs.empty() && calls.empty(); }
  void post(GstRealtimeConv *self) {
    for (auto &c : calls) c();
    calls.clear();
    for (GstMessage *m : msgs) gst_element_post_message(GST_ELEMENT(self), m);
    msgs.clear();
  }
};

// One notification from the engine, queued for the control thread.
struct CtlMsg {
  enum Kind { State, Event, Audio, Error, FunctionCall, Reconnecting, Reconnected, InputDropped, InboxOverflow,
              Post } kind = Event;
  uint64_t serial = 0;  // session serial: stale notifications of a replaced session are dropped
  GstClockTime arrival_rt = GST_CLOCK_TIME_NONE;
  rtc::SessionState state = rtc::SessionState::Idle;
  std::string text;
  std::unique_ptr<rtc::ServerEvent> ev;
  rtc::EventContext ctx;
  GstBuffer *audio = nullptr;
  rtc::AudioDeltaInfo ainfo;
  rtc::SessionError err;
  rtc::FunctionCall call;
  struct Reconnect {  // kinds Reconnecting / Reconnected
    int attempt = 0, delay_ms = 0, items_replayed = 0;
    bool planned_renewal = false;
  } reconnect;
  struct Dropped {  // kind InputDropped: input samples the engine dropped
    int64_t first_sample = 0, samples = 0;
  } dropped;
  bool overflow_audio = false;  // kind InboxOverflow: response audio (else other notifications)
  size_t audio_bytes = 0;  // bytes of `audio` counted in the inbox bound
  std::unique_ptr<Deferred> deferred;  // kind Post: messages / calls of audio handled inline
  ~CtlMsg() {
    if (audio) gst_buffer_unref(audio);
  }
};

struct OutItem {
  enum Kind { Buffer, Gap, Event } kind = Buffer;
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  GstClockTime dur = GST_CLOCK_TIME_NONE;
  GstBuffer *buf = nullptr;
  GstEvent *event = nullptr;  // kind Event: a serialized upstream event forwarded in order
  uint64_t resp = 0;
  std::string item_id;
  int64_t samples = 0;
  bool discont = false;
};

inline void out_item_clear(OutItem &o) {
  if (o.buf) gst_buffer_unref(o.buf);
  if (o.event) gst_event_unref(o.event);
  o.buf = nullptr;
  o.event = nullptr;
}

struct Response {
  uint64_t serial = 0;
  std::string id;
  GstClockTime anchor_rt = GST_CLOCK_TIME_NONE;  // non-live placement anchor (end of the turn)
  bool placed = false;
  GstClockTime base_rt = GST_CLOCK_TIME_NONE;
  int64_t base_samples = 0;
  int64_t samples = 0;  // audio samples queued for this response
  bool dropped = false, done = false, late_warned = false;
};

struct ItemAudio {
  uint64_t resp = 0;
  std::string response_id;
  int64_t received = 0, pushed = 0;
  std::vector<std::pair<int64_t, GstClockTime>> anchors;  // item sample -> running time
  GstClockTime end_rt = GST_CLOCK_TIME_NONE;
  bool truncated = false;
};

struct Span {
  GstClockTime start = GST_CLOCK_TIME_NONE, end = GST_CLOCK_TIME_NONE;
};

struct AudioHandle {
  GstBuffer *buf;
  GstMapInfo map;
  bool mapped = true;  // false: adopted, already decoded (rtc::SessionListener::adopt_audio)
};


// Per-stream state (under `lock`), reset as a whole (`st = StreamState{}`, reset_all_locked) at
// READY->PAUSED and PAUSED->READY. What is also reset at a flush lives in RtcPriv and is reset by
// reset_output_locked.
struct StreamState {
  // input / negotiation
  bool have_caps = false, have_segment = false;
  bool upstream_live = false, live_known = false;
  int answered_live = -1;  // what our last LATENCY answer said: -1 no answer, 0 not live, 1 live
  GstClockTime upstream_min = 0, upstream_max = GST_CLOCK_TIME_NONE;
  GstClockTime pipeline_latency = GST_CLOCK_TIME_NONE;
  guint32 last_seek_seqnum = GST_SEQNUM_INVALID;  // a seek reaches us once per src pad: forward it once
  bool fatal = false;                              // a fatal session error was posted
  // non-live input gate (docs/timing.md "Files: holding the input")
  rtcgst::TurnGate gate;
  bool gate_barrier_pending = false;
  uint64_t gate_barrier_ticket = 0;  // the gate's barrier: its update ticket (updates_answered())
  // its answer is in: the inbox_mark() then, which the control thread must have handled
  std::optional<uint64_t> gate_barrier_mark;
  // function calls: function-output emitted for a call being handed out / undecided
  std::string fc_dispatching;
  std::set<std::string> answered_calls;
  // output stream
  guint group_id = 0;
  bool out_segment_valid = false;
  bool need_stream_start[kNumPads] = {true, true, true};
  bool need_caps[kNumPads] = {true, true, true};
  bool need_tags[kNumPads] = {true, true, true};
  // responses and input items of this stream (bounded, see response_for_locked / span_for_locked)
  uint64_t next_resp_serial = 1;
  std::map<uint64_t, Response> responses;
  std::map<std::string, uint64_t> resp_by_id;
  std::map<std::string, Span> spans;
  std::deque<std::string> span_order;
  // stats and one-time warnings
  std::string session_id;
  GstClockTime max_observed_delay = 0;
  uint64_t dropped_audio_samples = 0;
  bool overflow_warned = false;
  bool text_overflow_warned[kNumPads] = {false, false, false};
  // Non-live input waiting for a session that is not connected: drain-timeout in total
  // (rtcinputbudget.h), not per buffer.
  rtcgst::DisconnectedWait disconnected_wait;
};

struct RtcPriv {
  StreamState st;  // (lock)

  // Settings (props_mutex)
  std::mutex props_mutex;
  Settings settings;
  std::map<std::string, std::string> tool_results;  // static tool results from `tools`
  std::string tools_clean;                          // `tools` without the "result" members
  rtcgst::SessionFactory factory;

  // Session lifecycle: held across start_session() / stop_session() and the CAPS check-and-restart,
  // so the state-change thread and the streaming thread never start / stop a session concurrently.
  // Order: lifecycle_mutex before session_mutex and lock; never taken with them held.
  std::mutex lifecycle_mutex;
  bool out_fmt_chosen = false;  // the output format is chosen at the first start, kept on restarts

  // Session (session_mutex)
  std::mutex session_mutex;
  std::shared_ptr<rtcgst::SessionPort> session;
  std::unique_ptr<rtc::SessionListener> listener;  // (rtcenginebridge.cc)
  uint64_t session_serial = 0;
  rtc::AudioFormat session_in_fmt = rtc::AudioFormat::PCM16;
  rtc::AudioFormat session_out_fmt = rtc::AudioFormat::PCM16;

  // Clock snapshot for the network thread (clock_mutex)
  std::mutex clock_mutex;
  GstClock *clock = nullptr;
  GstClockTime base_time = 0;
  bool playing = false;

  // Inbox (inbox_mutex) + control task
  std::mutex inbox_mutex;
  std::condition_variable inbox_cond;
  std::deque<std::unique_ptr<CtlMsg>> inbox;
  size_t inbox_audio_bytes = 0;  // response audio waiting in the inbox
  size_t inbox_other = 0;        // other notifications waiting in the inbox
  bool inbox_audio_warned = false, inbox_other_warned = false;
  std::atomic<size_t> inbox_audio_limit{(size_t)kMaxInboxAudioSeconds * 48000};  // bytes
  std::atomic<uint64_t> inbox_dropped_bytes{0};  // response audio dropped at the inbox (bytes)
  std::atomic<int> inbox_bytes_per_sec{48000};
  bool ctl_stop = false;
  std::atomic<guint> pending{0};
  // Notifications put in the inbox / handled by the control thread since the element was created
  // (monotonic; the ones dropped at stop_ctl_task count as handled): see inbox_mark().
  std::atomic<uint64_t> inbox_pushed{0}, inbox_handled{0};
  GstTask *ctl_task = nullptr;
  GRecMutex ctl_task_lock;
  // Input-dropped warnings not posted yet (control thread only; see kDropWarnIntervalUs).
  int64_t drop_warn_first = -1, drop_warn_samples = 0;
  gint64 drop_warn_last_us = 0;

  // Streaming state (lock)
  std::mutex lock;
  std::condition_variable cond;        // src task
  std::condition_variable drain_cond;  // EOS drain / non-live turn wait
  bool src_flushing = true, in_flushing = false;
  GstFlowReturn srcresult = GST_FLOW_OK;
  GstClockID clock_id = nullptr;
  // The "no queue after a src pad" deadlock (rtcprerollwatch.h): the src task marks each push,
  // a system-clock timer (PAUSED and PLAYING) warns when one blocks while the pipeline prerolls.
  rtcgst::PrerollWatch preroll_watch;
  GstClockID preroll_timer = nullptr;  // change_state only

  // input
  rtc::AudioFormat in_fmt = rtc::AudioFormat::PCM16;
  int in_rate = 24000, in_bpf = 2;
  GstSegment in_segment;
  bool time_segment = true;
  rtcgst::InputTimeline timeline;
  int64_t samples_since_commit = 0;
  bool speech_active = false, input_eos = false;
  std::string upstream_stream_id;

  // turns / drain: the turn the input (non-live) or the EOS drain waits for. A turn is answered
  // by the first response created after it started waiting; the wait ends with THAT response's
  // response.done (or failure / reconnection / deadline), never with another response's events.
  // A response that is done with completed function calls does not end the wait by itself:
  // while the control thread hands its calls to the application, `awaiting_calls` holds the call
  // ids not decided yet (awaiting_resp_id is still that response); once they are all decided, the
  // wait follows the response that answers them (awaiting_resp_id cleared: bound to the next
  // response created) if at least one was handled, otherwise it ends.
  bool awaiting_turn = false;
  gint64 awaiting_deadline = 0;
  uint64_t turn_serial = 0;
  std::string awaiting_resp_id;  // empty until the turn's response is created
  std::set<std::string> awaiting_calls;  // function calls of the awaited response still undecided
  bool awaiting_calls_handled = false;   // one of them was handled (signal, static result, function-output)
  // function-output emitted for a call that is being handed to the application (fc_dispatching)
  // or that is still undecided (awaiting_calls): counts as handled even if no handler returned TRUE.
  std::set<std::string> active_responses;
  GstClockTime last_turn_end_rt = GST_CLOCK_TIME_NONE;
  // Non-live input gate (docs/timing.md "Files: holding the input"): fed with the input given to
  // the engine and the server's speech events; decides when sink_chain holds the input.
  // What the streaming thread waits for (gst_realtimeconv_waiting_for, for the tests).
  std::atomic<const char *> waiting_for{nullptr};
  std::atomic<guint64> wait_checks{0};

  // output
  rtc::AudioFormat out_fmt = rtc::AudioFormat::PCM16;
  int out_rate = 24000, out_bpf = 2;
  GstSegment out_segment;
  bool need_segment[kNumPads] = {true, true, true};
  bool need_discont[kNumPads] = {true, true, true};
  bool need_initial_gap[kNumPads] = {true, true, true};  // GAP at the origin once per segment (preroll)
  // Held around every serialized push on a src pad (src task, preroll_gaps): pushes on one pad
  // never interleave. Taken without `lock` held.
  std::mutex push_mutex[kNumPads];
  GstSegment pad_segment[kNumPads];                      // segment last pushed on each src pad
  bool pad_segment_valid[kNumPads] = {false, false, false};
  GstClockTime origin_rt = GST_CLOCK_TIME_NONE;
  GstClockTime pushed_end[kNumPads] = {GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE};
  std::deque<OutItem> q[kNumPads];
  GstClockTime q_audio_ns = 0;  // total duration queued in q[kAudioPad] (its bound, checked per delta)
  std::deque<OutItem> evq;  // serialized upstream events for src, at the input position they came at
  GstClockTime frontier = GST_CLOCK_TIME_NONE;  // non-live: output released up to here
  bool eos_queued = false, eos_pushed = false;
  GstClockTime eos_end_rt = GST_CLOCK_TIME_NONE;
  std::map<std::string, ItemAudio> items;
  std::deque<std::string> item_order;
  std::map<std::string, std::pair<GstClockTime, gint64>> pending_captions;  // item -> (start, since)
  std::map<std::string, gint64> awaiting_transcripts;  // committed items whose transcription is due (EOS waits) -> since
  GstClockTime caption_hold_rt = GST_CLOCK_TIME_NONE;  // manual mode: input position of the last commit
  GstFlowCombiner *flow_combiner = nullptr;
};

struct _GstRealtimeConv {
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  GstPad *transcript_srcpad;
  GstPad *input_transcript_srcpad;
  RtcPriv *priv;
};

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

inline GstClockTime ms_to_ns(int ms) { return (GstClockTime)ms * GST_MSECOND; }

inline GstClockTime tmax(GstClockTime a, GstClockTime b) {
  if (!GST_CLOCK_TIME_IS_VALID(a)) return b;
  if (!GST_CLOCK_TIME_IS_VALID(b)) return a;
  return std::max(a, b);
}

inline GstClockTime tmin(GstClockTime a, GstClockTime b) {
  if (!GST_CLOCK_TIME_IS_VALID(a)) return b;
  if (!GST_CLOCK_TIME_IS_VALID(b)) return a;
  return std::min(a, b);
}

inline int fmt_rate(rtc::AudioFormat f) { return f == rtc::AudioFormat::PCM16 ? 24000 : 8000; }
inline int fmt_bpf(rtc::AudioFormat f) { return f == rtc::AudioFormat::PCM16 ? 2 : 1; }
inline guint8 fmt_silence(rtc::AudioFormat f) {
  switch (f) {
    case rtc::AudioFormat::G711_ULAW: return 0xFF;
    case rtc::AudioFormat::G711_ALAW: return 0xD5;
    default: return 0;
  }
}

inline GstCaps *fmt_caps(rtc::AudioFormat f) {
  switch (f) {
    case rtc::AudioFormat::G711_ULAW:
      return gst_caps_from_string("audio/x-mulaw, rate=(int)8000, channels=(int)1");
    case rtc::AudioFormat::G711_ALAW:
      return gst_caps_from_string("audio/x-alaw, rate=(int)8000, channels=(int)1");
    default:
      return gst_caps_from_string(
          "audio/x-raw, format=(string)S16LE, rate=(int)24000, channels=(int)1, layout=(string)interleaved");
  }
}

inline bool fmt_from_structure(const GstStructure *s, rtc::AudioFormat *out) {
  const char *name = gst_structure_get_name(s);
  if (g_str_equal(name, "audio/x-mulaw")) {
    *out = rtc::AudioFormat::G711_ULAW;
    return true;
  }
  if (g_str_equal(name, "audio/x-alaw")) {
    *out = rtc::AudioFormat::G711_ALAW;
    return true;
  }
  if (g_str_equal(name, "audio/x-raw")) {
    *out = rtc::AudioFormat::PCM16;
    return true;
  }
  return false;
}

inline const char *fmt_name(rtc::AudioFormat f) {
  switch (f) {
    case rtc::AudioFormat::G711_ULAW: return "g711_ulaw";
    case rtc::AudioFormat::G711_ALAW: return "g711_alaw";
    default: return "pcm16";
  }
}

inline bool is_live_locked(RtcPriv *p) { return p->st.live_known && p->st.upstream_live; }

// Failed is final (until a restart). Idle is also what a session reports between start() and
// the network thread picking it up, so it is not a reason to give up.
inline bool session_usable(rtc::SessionState st) { return st != rtc::SessionState::Failed; }

// The state resets (gstrealtimeconv.cc): output at FLUSH_STOP, everything at READY<->PAUSED.
void reset_output_locked(RtcPriv *p);
void reset_all_locked(RtcPriv *p);
