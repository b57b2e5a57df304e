// libFuzzer target: the pure timing core (gst/rtctimeline.h, gst/rtcscheduler.h,
// gst/rtctranscripttiming.h) fed with fuzzed event traces. Each input is a sequence of 1-byte
// opcodes with little operands; values are bounded to what a real stream can reach (running times
// below 2^48 ns = 78 h, positions below 2^40 samples, buffers below 2^20 samples), so that every
// check is a promise of the headers, not of 64-bit wrap-around. Checked after every step:
//  * InputTimeline: samples() = sum of the buffers + the silence it asked for; a fill is never
//    negative nor longer than kMaxFill (twice for a GAP: its start and its end); at most
//    kMaxAnchors pieces; the start of a buffer flagged DISCONT (or after mark_discont) maps to its
//    timestamp within `tolerance`; contiguous input maps within `tolerance` of its timestamps
//    while unflagged jitter is absorbed; to_sample() inverts to_running_time() in the newest piece.
//  * Placement: responses placed one after the other (tail = end of the previous one) are in
//    order and never overlap; a placement is never unknown and never before its arrival (live) /
//    its anchor and origin (non-live).
//  * Pacing: fill interval in [20, 100] ms, lead in [20, 50] ms, push time <= play time,
//    heard samples in [0, min(pushed, received)].
//  * TurnGate: position() = input + silence given; disabled -> always Send; a turn wait -> WaitTurn.
//  * Transcript timing: a span is non-empty and starts at or after the previous text end and the
//    item's start; its words are contiguous, in order, exactly cover the span and spell the text.
// Any violation aborts (a regression case goes into corpus/timing/).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rtcscheduler.h"
#include "rtctimeline.h"
#include "rtctranscripttiming.h"

namespace {

struct Input {
  const uint8_t *d;
  size_t n, at = 0;
  bool more() const { return at < n; }
  uint64_t raw(size_t bytes) {
    uint64_t v = 0;
    for (size_t k = 0; k < bytes; k++) v = (v << 8) | (at < n ? d[at++] : 0);
    return v;
  }
  bool flag() { return raw(1) & 1; }
};

[[noreturn]] void die(const char *why, long long a = 0, long long b = 0) {
  fprintf(stderr, "timing core: %s (%lld, %lld)\n", why, a, b);
  abort();
}
// CHECK(cond[, a[, b]]): aborts naming the condition (and the values a, b) when it fails.
template <typename... V>
void check_args(const char *what, bool ok, V... v) {
  if (!ok) die(what, static_cast<long long>(v)...);
}
#define CHECK(...) check_args(#__VA_ARGS__, __VA_ARGS__)

constexpr uint64_t kMaxRt = 1ull << 48;

GstClockTime absdiff(GstClockTime a, GstClockTime b) { return a > b ? a - b : b - a; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Input in{data, size};
  static const int kRates[] = {8000, 16000, 24000, 44100, 48000, 1};
  const int rate = kRates[in.raw(1) % 6];
  rtcgst::InputTimeline tl;
  tl.reset(rate);
  const GstClockTime sample_ns = GST_SECOND / (GstClockTime)rate + 1;  // rounding of one sample
  const int64_t max_fill = (int64_t)gst_util_uint64_scale(rtcgst::InputTimeline::kMaxFill, rate, GST_SECOND);
  int64_t total = 0;
  GstClockTime last_rt = 0;        // the timestamp the next contiguous buffer would have
  bool pending_resync = false;

  rtcgst::TurnGate gate;
  rtcgst::TurnGate::Config gc;
  gc.rate = rate;
  gc.enabled = in.flag();
  gc.min_gap = (int64_t)(in.raw(2) % 2000) * rate / 1000;
  gate.reset(gc);
  int64_t gate_pos = 0;

  rtcgst::Ns tail = rtcgst::kNone, prev_end = rtcgst::kNone;
  int64_t text_end = 0;
  const bool live = in.flag();

  for (int step = 0; in.more() && step < 4096; step++) {
    switch (in.raw(1) % 8) {
      case 0:
      case 1: {  // a buffer: contiguous, jittered, jumped, or untimed
        const int64_t n = (int64_t)(in.raw(3) % (1u << 20));
        const uint8_t kind = (uint8_t)in.raw(1);
        const bool discont = kind & 1;
        GstClockTime rt;
        switch ((kind >> 1) % 4) {
          case 0: rt = last_rt; break;
          case 1: rt = last_rt + (in.raw(1) % 40) * GST_MSECOND; break;  // jitter within tolerance
          case 2: rt = in.raw(6) % kMaxRt; break;                       // anywhere
          default: rt = GST_CLOCK_TIME_NONE; break;                    // untimed
        }
        const bool forced = discont || pending_resync;
        const bool was_empty = tl.empty();
        const int64_t before = tl.samples();
        const int64_t fill = tl.on_buffer(rt, n, discont);
        CHECK(fill >= 0 && fill <= max_fill, fill, max_fill);
        total += fill + n;
        CHECK(tl.samples() == total, tl.samples(), total);
        CHECK(!tl.empty());
        CHECK(tl.anchors() <= rtcgst::InputTimeline::kMaxAnchors, (long long)tl.anchors());
        if (GST_CLOCK_TIME_IS_VALID(rt)) {
          pending_resync = false;
          const GstClockTime got = tl.to_running_time(before + fill);
          // taken as it is (first buffer, DISCONT, resync), or within tolerance of where it is
          // expected: either way the start maps to the timestamp within the tolerance, unless
          // an unflagged discrepancy is still being doubted (then it is taken as contiguous).
          if (was_empty || forced) CHECK(absdiff(got, rt) <= tl.tolerance + sample_ns, (long long)got, (long long)rt);
          if (absdiff(rt, last_rt) <= tl.tolerance && !was_empty)
            CHECK(absdiff(got, rt) <= 2 * tl.tolerance + sample_ns, (long long)got, (long long)rt);
        }
        last_rt = tl.end_running_time();
        CHECK(GST_CLOCK_TIME_IS_VALID(last_rt));
        // to_sample inverts to_running_time in the newest piece (the end of the input)
        const int64_t back = tl.to_sample(tl.end_running_time());
        CHECK(back >= total - 1 && back <= total + 1, back, total);
        // the gate sees the same input (as silence: the level is tested in the unit tests)
        gate.on_silence(fill + std::min<int64_t>(n, 4800));
        gate_pos += fill + std::min<int64_t>(n, 4800);
        break;
      }
      case 2: {  // a GAP event
        GstClockTime rt = in.flag() ? GST_CLOCK_TIME_NONE : in.raw(6) % kMaxRt;
        GstClockTime dur = in.raw(5) % (20 * GST_SECOND);
        const int64_t fill = tl.on_gap(rt, dur);
        CHECK(fill >= 0 && fill <= 2 * max_fill, fill, max_fill);
        total += fill;
        CHECK(tl.samples() == total, tl.samples(), total);
        if (!tl.empty()) last_rt = tl.end_running_time();
        break;
      }
      case 3:  // new segment / flush
        tl.mark_discont();
        pending_resync = true;
        break;
      case 4: {  // a response placed after the previous one
        const rtcgst::Ns anchor = in.flag() ? rtcgst::kNone : in.raw(6) % kMaxRt;
        const rtcgst::Ns origin = in.flag() ? rtcgst::kNone : in.raw(6) % kMaxRt;
        const rtcgst::Ns arrival = in.flag() ? rtcgst::kNone : in.raw(6) % kMaxRt;
        const rtcgst::Ns dur = in.raw(4) % (600 * rtcgst::kSec);
        const rtcgst::Ns pos = rtcgst::place_response(live, anchor, origin, tail, arrival);
        CHECK(rtcgst::valid(pos));
        if (rtcgst::valid(prev_end)) CHECK(pos >= prev_end, (long long)pos, (long long)prev_end);  // ordered, no overlap
        if (live && rtcgst::valid(arrival)) CHECK(pos >= arrival);
        if (!live && rtcgst::valid(anchor)) CHECK(pos >= anchor);
        if (!live && rtcgst::valid(origin)) CHECK(pos >= origin);
        prev_end = tail = pos + dur;
        break;
      }
      case 5: {  // pacing rules
        const rtcgst::Ns lat = in.raw(5) % (10 * rtcgst::kSec);
        const rtcgst::Ns f = rtcgst::live_fill_interval(lat), l = rtcgst::live_push_lead(lat);
        CHECK(f >= 20 * rtcgst::kMs && f <= 100 * rtcgst::kMs);
        CHECK(l >= 20 * rtcgst::kMs && l <= 50 * rtcgst::kMs);
        {  // push-ahead: the lead and the piece add up to the bound (the automatic one at 0)
          const rtcgst::Ns b = (in.raw(2) % 1001) * rtcgst::kMs;
          const rtcgst::LivePacing lp = rtcgst::live_pacing(lat, b);
          CHECK(lp.lead >= rtcgst::kMinLivePacing && lp.piece >= rtcgst::kMinLivePacing);
          if (b == 0) CHECK(lp.lead == l && lp.piece == rtcgst::kLivePushChunk);
          else if (b >= 2 * rtcgst::kMinLivePacing) CHECK(lp.lead + lp.piece == b, (long long)(lp.lead + lp.piece), (long long)b);
        }
        const rtcgst::Ns rt = in.flag() ? rtcgst::kNone : in.raw(6) % kMaxRt;
        const rtcgst::Ns rl = in.flag() ? rtcgst::kNone : in.raw(5) % (10 * rtcgst::kSec);
        const rtcgst::Ns pt = rtcgst::live_push_time(rt, rl, l);
        if (rtcgst::valid(rt)) CHECK(pt <= rt + (rtcgst::valid(rl) ? rl : 0));
        const int64_t c = (int64_t)(in.raw(5) % (1ull << 40)) - (1ll << 20), p = (int64_t)in.raw(5) % (1ll << 40) - (1ll << 20),
                      r = (int64_t)in.raw(5) % (1ll << 40) - (1ll << 20);
        const int64_t h = rtcgst::heard_samples(c, p, r);
        CHECK(h >= 0 && h <= std::max<int64_t>(0, std::min(p, r)), h, std::min(p, r));
        break;
      }
      case 6: {  // the gate: server facts and a decision
        const uint8_t what = (uint8_t)in.raw(1);
        switch (what % 5) {
          case 0: gate.on_speech_started(); break;
          case 1: gate.on_speech_stopped(in.flag() ? -1 : (int64_t)(in.raw(5) % (1ull << 40))); break;
          case 2: gate.on_barrier_sent(); break;
          case 3: gate.on_barrier_answered(); break;
          default: gate.release(); break;
        }
        std::vector<int16_t> next((size_t)(in.raw(2) % 2400));
        for (auto &s : next) s = (int16_t)in.raw(2);
        const bool turn_wait = in.flag(), all_sent = in.flag();
        const auto dec = gate.decide(next.data(), (int64_t)next.size(), turn_wait, all_sent);
        if (!gc.enabled) CHECK(dec == rtcgst::TurnGate::Decision::Send);
        if (gc.enabled && turn_wait) CHECK(dec == rtcgst::TurnGate::Decision::WaitTurn);
        if (dec == rtcgst::TurnGate::Decision::Send) {
          gate.on_input(next.data(), (int64_t)next.size());
          gate_pos += (int64_t)next.size();
        }
        CHECK(gate.position() == gate_pos, gate.position(), gate_pos);
        break;
      }
      default: {  // transcript text timing
        const int64_t span_start = (int64_t)(in.raw(5) % (1ull << 40)), span_end = (int64_t)(in.raw(5) % (1ull << 40));
        const bool committed = in.flag();
        const int64_t lag = (int64_t)(in.raw(3) % (10u * (unsigned)rate + 1));
        std::string text;
        for (size_t k = in.raw(1) % 64; k > 0 && in.more(); k--) text.push_back((char)in.raw(1));
        const rtcgst::TextSpan s =
            rtcgst::estimate_text_span(text_end, span_start, span_end, committed, lag, text.size(), rate);
        CHECK(s.end > s.start, s.start, s.end);
        CHECK(s.start >= text_end && s.start >= span_start, s.start, text_end);
        const auto words = rtcgst::split_words(text, s);
        std::string spelled;
        int64_t at = s.start;
        for (const auto &w : words) {
          CHECK(w.span.start == at && w.span.end >= w.span.start, w.span.start, at);
          at = w.span.end;
          spelled += w.text;
        }
        if (!words.empty()) CHECK(at == s.end, at, s.end);
        CHECK(spelled == text);
        text_end = s.end;
        break;
      }
    }
  }
  return 0;
}
