// rtcgst scheduler: the timing rules of realtimeconv as pure functions and small state machines,
// free of GStreamer objects and of threads, so that each rule is unit-tested on its own
// (tests/element/test_scheduler.cc). docs/timing.md states the rules; this file is where they live.
//
// Times are running times in nanoseconds (the same values as GstClockTime; kNone = "unknown"),
// input positions are samples of the engine's input timeline (rtcgst::InputTimeline).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rtcgst {

using Ns = uint64_t;
constexpr Ns kNone = ~(Ns)0;  // == GST_CLOCK_TIME_NONE
constexpr Ns kMs = 1000000;
constexpr Ns kSec = 1000 * kMs;

inline bool valid(Ns t) { return t != kNone; }
// max / min where kNone means "unknown" (the known one wins).
inline Ns tmax(Ns a, Ns b) { return !valid(a) ? b : !valid(b) ? a : (a > b ? a : b); }
inline Ns tmin(Ns a, Ns b) { return !valid(a) ? b : !valid(b) ? a : (a < b ? a : b); }

// ---------------------------------------------------------------------------------------------
// Placement of a response's first audio (docs/timing.md "Placement").
// ---------------------------------------------------------------------------------------------

// Live: at its arrival, never before the end of what is queued / pushed (`tail`).
// Non-live: at max(end of its turn on the input timeline (`anchor`), end of the previous reply
// (`tail`)), never before the start of the output (`origin`).
// When nothing is known: the arrival time, else 0.
Ns place_response(bool live, Ns anchor, Ns origin, Ns tail, Ns arrival);

// ---------------------------------------------------------------------------------------------
// Live output pacing (docs/timing.md "Live: lead and barge-in").
// ---------------------------------------------------------------------------------------------

// Between responses the src task pushes GAP (or silence) up to `now - latency` every
// latency / 2, clamped to [20 ms, 100 ms].
Ns live_fill_interval(Ns latency);

// How far ahead of its play time audio may be pushed downstream, live: latency / 4 clamped to
// [20 ms, 50 ms]. Enough for a sink's queue to stay fed (the src task wakes at least every fill
// interval), small enough that a barge-in leaves at most this much pushed-but-unplayed audio.
Ns live_push_lead(Ns latency);

// Audio is cut into pieces of at most this duration when it is pushed live, so that what is
// pushed ahead is bounded by the lead plus one piece.
constexpr Ns kLivePushChunk = 40 * kMs;

// The live pacing in force: pieces of at most `piece`, each pushed `lead` before it plays, so at
// most lead + piece of pushed audio is unplayed at any moment (what a barge-in cannot take back).
struct LivePacing {
  Ns lead;
  Ns piece;
};
// `push_ahead` is the element's push-ahead setting. 0 (automatic): live_push_lead(latency) and
// kLivePushChunk, 90 ms at the default 200 ms latency. Otherwise that bound itself: half of it is
// the lead, the rest the piece, each at least kMinLivePacing. A larger bound leaves a busy
// machine more time to wake the src task (the lead) and a sink that renders one buffer at a time
// more margin (the piece), with fewer wake-ups; a smaller one makes barge-in tighter.
constexpr Ns kMinLivePacing = 10 * kMs;
LivePacing live_pacing(Ns latency, Ns push_ahead);

// The running time at which output audio stamped `rt` may be pushed, live: it plays (at a
// sync=true sink) at rt + render_latency (the pipeline latency), so it is pushed `lead` before.
Ns live_push_time(Ns rt, Ns render_latency, Ns lead);
inline bool live_may_push(Ns rt, Ns now, Ns render_latency, Ns lead) {
  return !valid(now) || now >= live_push_time(rt, render_latency, lead);
}

// What counts as heard of an item at a barge-in (live), in samples of that item:
//  * `clock_samples`: the samples whose play time (pts + render latency) is before `now`
//    (the pipeline clock when speech_started arrived);
//  * `pushed_samples`: what was pushed downstream: it plays whatever happens next (a queue is not
//    flushed), so the listener hears it;
//  * `received_samples`: what arrived.
// Heard = pushed (clamped to received): the remainder is dropped unpushed, so what the model is
// told is what the sink renders; it exceeds the clock figure by at most the lead plus one piece
// (reported in realtimeconv/truncated as `ahead-ms`).
int64_t heard_samples(int64_t clock_samples, int64_t pushed_samples, int64_t received_samples);

// Whether the element itself truncates / cancels on speech_started. Only live: a file's later
// question never cuts an earlier reply (the output is a track, not a playout).
inline bool barge_in_applies(bool live, bool barge_in_setting) { return live && barge_in_setting; }

// ---------------------------------------------------------------------------------------------
// Non-live input gate (docs/timing.md "Files: holding the input").
//
// A file is read far faster than real time: if it is sent as fast as the socket takes it, the
// server has already heard the next question when it answers the previous one, and interrupts
// its own answer. The gate measures the input locally (10 ms frames, speech = RMS >= -45 dBFS)
// and holds the input before a speech onset that follows a pause long enough for the server to
// end a turn (`min_gap`: server VAD: its silence duration - 100 ms; semantic VAD: 250 ms), until
// the server has answered the previous turn (its speech_stopped came and the turn's response is
// done) or said there is none: a barrier (session.update, answered in order after the input)
// answered while the server's VAD is still in speech (the onset joins that turn) or without a
// speech_stopped (no turn). The server only changes its VAD state on input it receives, so
// nothing can end a turn between the barrier's answer and the onset.
// ---------------------------------------------------------------------------------------------

class TurnGate {
 public:
  struct Config {
    int rate = 24000;
    int64_t min_gap = 0;  // samples: the shortest pause after which the server may end a turn
    double threshold_dbfs = -45.0;
    bool enabled = false;  // on: server / semantic VAD with automatic responses, non-live
  };
  enum class Decision {
    Send,          // the next input may be sent
    WaitTurn,      // the server is answering a turn: wait for the turn wait to end
    WaitSent,      // wait until all the input is on the wire (then a barrier makes sense)
    SendBarrier,   // send a barrier (session.update) now
    WaitBarrier,   // wait for the barrier's answer
  };

  // The pause after which a server may end a turn: server VAD: silence_ms - 100 (at least
  // 100 ms); semantic VAD: 250 ms (the shortest, high eagerness).
  static int min_gap_ms(bool semantic, int silence_ms);

  // Forget everything; the next input sample given is `position` of the input timeline.
  void reset(const Config &c, int64_t position = 0);
  const Config &config() const { return cfg_; }

  // The input given to the engine, in order (decoded to linear PCM16; `n` samples).
  void on_input(const int16_t *s, int64_t n);
  // Silence given to the engine (hole filling).
  void on_silence(int64_t n);
  int64_t position() const { return pos_; }

  // Whether `next` (the n samples about to be sent) starts speech after a pause of at least
  // min_gap that follows speech sent since the last release. The caller sends input in pieces
  // shorter than min_gap (the element: at most 100 ms), so a piece never holds a whole pause.
  bool onset_ahead(const int16_t *next, int64_t n) const;

  // Server facts.
  void on_speech_started();
  void on_speech_stopped(int64_t end_sample);  // -1: position unknown
  void on_barrier_sent();
  void on_barrier_answered();
  void release();  // the input goes on (answered, no turn, or a deadline)

  // What to do before sending `next`. `turn_wait`: the element waits for the answer of a turn;
  // `all_sent`: the engine has sent everything given to it.
  Decision decide(const int16_t *next, int64_t n, bool turn_wait, bool all_sent);

  bool server_in_speech() const { return server_in_speech_; }

 private:
  void frame_done();

  Config cfg_;
  int64_t frame_len_ = 240, frame_fill_ = 0;
  double frame_energy_ = 0;
  int64_t pos_ = 0;            // samples seen
  int64_t speech_end_ = -1;    // end of the last voiced frame (-1: none)
  int64_t onset_ = -1;         // start of the last voiced frame that followed a pause >= min_gap
  int64_t onset_prev_end_ = -1;  // end of the speech before that pause
  int64_t released_upto_ = 0;  // the server is done with everything before here
  int64_t last_stop_ = -1;     // input_end of the last speech_stopped
  bool server_in_speech_ = false;
  // Stale: sent for an earlier hold, its answer is still to come.
  enum class Barrier { None, Sent, Answered, Stale } barrier_ = Barrier::None;
};

// Decodes G.711 to linear PCM16 (for the gate's level measurement).
int16_t mulaw_to_linear(uint8_t u);
int16_t alaw_to_linear(uint8_t a);

}  // namespace rtcgst
