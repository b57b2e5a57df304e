// Unit tests of rtcgst::InputTimeline: the map between the samples given to the engine and the
// sink running time.
#include <gtest/gtest.h>

#include "rtctimeline.h"

using rtcgst::InputTimeline;

TEST(Timeline, ContiguousFromNonZeroStart) {
  InputTimeline t;
  t.reset(24000);
  // First buffer at running time 5 s (e.g. segment start 10 s, base 0, pts 15 s).
  EXPECT_EQ(t.on_buffer(5 * GST_SECOND, 2400), 0);
  EXPECT_EQ(t.on_buffer(5 * GST_SECOND + 100 * GST_MSECOND, 2400), 0);
  EXPECT_EQ(t.samples(), 4800);
  EXPECT_EQ(t.to_running_time(0), 5 * GST_SECOND);
  EXPECT_EQ(t.to_running_time(2400), 5 * GST_SECOND + 100 * GST_MSECOND);
  EXPECT_EQ(t.to_running_time(1), 5 * GST_SECOND + 41667);  // rounded to the ns
  EXPECT_EQ(t.end_running_time(), 5 * GST_SECOND + 200 * GST_MSECOND);
  EXPECT_EQ(t.to_sample(5 * GST_SECOND + 150 * GST_MSECOND), 3600);
  EXPECT_EQ(t.anchors(), 1u);
}

TEST(Timeline, UntimestampedBuffersAreContiguous) {
  InputTimeline t;
  t.reset(8000);
  t.on_buffer(GST_CLOCK_TIME_NONE, 800);
  t.on_buffer(GST_CLOCK_TIME_NONE, 800);
  EXPECT_EQ(t.to_running_time(1600), 200 * GST_MSECOND);
}

TEST(Timeline, HoleIsFilledWithSilence) {
  InputTimeline t;
  t.reset(24000);
  t.on_buffer(0, 12000);                                     // 0 .. 0.5 s
  EXPECT_EQ(t.on_buffer(GST_SECOND, 12000, true), 12000);    // 0.5 s hole (DISCONT) -> 12000 samples of silence
  EXPECT_EQ(t.samples(), 36000);
  EXPECT_EQ(t.to_running_time(24000), GST_SECOND);           // exact after the hole
  EXPECT_EQ(t.anchors(), 1u);                                // still one piece: exact image of running time
}

TEST(Timeline, JitterBelowToleranceIsAbsorbedWithoutDrift) {
  InputTimeline t;
  t.reset(24000);
  t.on_buffer(0, 2400);
  // Timestamps 0.4 ms late: no silence, no new piece; the map stays on the sample count.
  EXPECT_EQ(t.on_buffer(100 * GST_MSECOND + 400 * GST_USECOND, 2400), 0);
  EXPECT_EQ(t.anchors(), 1u);
  EXPECT_EQ(t.to_running_time(4800), 200 * GST_MSECOND);
}

// A live source's timestamps jitter by tens of milliseconds: under 40 ms, no silence is inserted
// and no piece is started, whichever way it goes.
TEST(Timeline, LiveJitterUnder40msInsertsNoSilence) {
  InputTimeline t;
  t.reset(24000);
  const int jitter_ms[] = {0, 25, -15, 39, -39, 10, 30, -5};
  for (int i = 0; i < 200; i++) {
    GstClockTime rt = (GstClockTime)i * 20 * GST_MSECOND + 100 * GST_MSECOND;
    int j = jitter_ms[i % 8];
    rt = j >= 0 ? rt + (GstClockTime)j * GST_MSECOND : rt - (GstClockTime)(-j) * GST_MSECOND;
    EXPECT_EQ(t.on_buffer(rt, 480), 0) << i;
  }
  EXPECT_EQ(t.samples(), 200 * 480);
  EXPECT_EQ(t.anchors(), 1u);
  EXPECT_EQ(t.end_running_time(), 100 * GST_MSECOND + 4 * GST_SECOND);
}

// An unflagged jump is believed only once it has lasted discont_wait (1 s of input).
TEST(Timeline, UnflaggedJumpNeedsDiscontWait) {
  InputTimeline t;
  t.reset(24000);
  t.on_buffer(0, 2400);  // 0 .. 100 ms
  // From now on the timestamps are 200 ms ahead: taken as contiguous for the first second.
  int64_t fill = 0;
  int i = 0;
  for (; i < 9; i++) fill += t.on_buffer(300 * GST_MSECOND + (GstClockTime)i * 100 * GST_MSECOND, 2400);
  EXPECT_EQ(fill, 0);
  EXPECT_EQ(t.anchors(), 1u);
  // ... then, after 1 s of it, the hole is filled.
  fill = 0;
  for (; i < 12; i++) fill += t.on_buffer(300 * GST_MSECOND + (GstClockTime)i * 100 * GST_MSECOND, 2400);
  EXPECT_EQ(fill, 4800);
  EXPECT_EQ(t.to_running_time(t.samples()), 300 * GST_MSECOND + 12 * 100 * GST_MSECOND);
}

TEST(Timeline, MarkDiscontTakesTheNextTimestamp) {
  InputTimeline t;
  t.reset(24000);
  t.on_buffer(0, 2400);
  t.mark_discont();
  EXPECT_EQ(t.on_buffer(600 * GST_MSECOND, 2400), 12000);
  EXPECT_EQ(t.on_buffer(GST_SECOND, 2400), 0);  // (only the next one)
}

TEST(Timeline, LongHoleStartsANewPieceAfterMaxFill) {
  InputTimeline t;
  t.reset(8000);
  t.on_buffer(0, 8000);  // 1 s
  int64_t fill = t.on_buffer(61 * GST_SECOND, 8000, true);  // 60 s hole
  EXPECT_EQ(fill, 10 * 8000);                          // at most kMaxFill of silence
  EXPECT_EQ(t.anchors(), 2u);
  EXPECT_EQ(t.to_running_time(8000 + fill), 61 * GST_SECOND);
  EXPECT_EQ(t.to_running_time(8000 + fill + 4000), 61 * GST_SECOND + 500 * GST_MSECOND);
  EXPECT_EQ(t.to_running_time(8000 + 8000), 2 * GST_SECOND);  // inside the filled part
}

TEST(Timeline, BackwardJumpStartsNewPieceAndKeepsAudio) {
  InputTimeline t;
  t.reset(24000);
  t.on_buffer(10 * GST_SECOND, 24000);
  EXPECT_EQ(t.on_buffer(0, 24000, true), 0);  // e.g. running time restarted after a flush
  EXPECT_EQ(t.samples(), 48000);
  EXPECT_EQ(t.to_running_time(12000), 10 * GST_SECOND + GST_SECOND / 2);
  EXPECT_EQ(t.to_running_time(36000), GST_SECOND / 2);
  EXPECT_EQ(t.to_sample(GST_SECOND / 2), 36000);  // newest piece wins
}

TEST(Timeline, GapEvents) {
  InputTimeline t;
  t.reset(24000);
  t.on_buffer(0, 2400);
  EXPECT_EQ(t.on_gap(100 * GST_MSECOND, 400 * GST_MSECOND), 9600);
  EXPECT_EQ(t.end_running_time(), 500 * GST_MSECOND);
  EXPECT_EQ(t.on_gap(GST_CLOCK_TIME_NONE, 100 * GST_MSECOND), 2400);  // untimed gap at the end
  EXPECT_EQ(t.on_buffer(600 * GST_MSECOND, 2400), 0);
  EXPECT_EQ(t.anchors(), 1u);
}

TEST(Timeline, GapFirstAnchorsTheTimeline) {
  InputTimeline t;
  t.reset(24000);
  EXPECT_EQ(t.on_gap(2 * GST_SECOND, GST_SECOND), 24000);
  EXPECT_EQ(t.to_running_time(0), 2 * GST_SECOND);
  EXPECT_EQ(t.end_running_time(), 3 * GST_SECOND);
}

TEST(Timeline, EmptyAndBeforeFirstSample) {
  InputTimeline t;
  t.reset(24000);
  EXPECT_EQ(t.to_running_time(0), GST_CLOCK_TIME_NONE);
  EXPECT_EQ(t.to_sample(0), -1);
  t.on_buffer(GST_SECOND, 100);
  EXPECT_EQ(t.to_running_time(-24000), 0u);
}

TEST(Timeline, AnchorsAreBounded) {
  InputTimeline t;
  t.reset(8000);
  for (int i = 0; i < 10000; i++) t.on_buffer((GstClockTime)(10000 - i) * GST_SECOND, 80, true);
  EXPECT_LE(t.anchors(), InputTimeline::kMaxAnchors);
  EXPECT_EQ(t.to_running_time(t.samples() - 80), GST_SECOND);
}
