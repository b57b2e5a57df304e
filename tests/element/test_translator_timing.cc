// realtimetranslator placement rule (gst/rtctranslatortiming.h): pure unit tests.
#include <gtest/gtest.h>

#include "rtctranslatortiming.h"

using rtcgst::xl_place;

TEST(TranslatorTiming, MappedPositionWins) {
  auto p = xl_place(14400, 100000, 0, 0);
  EXPECT_EQ(p.position, 14400);
  EXPECT_TRUE(p.used_mapping);
  EXPECT_FALSE(p.late);
}

TEST(TranslatorTiming, ArrivalWhenNoElapsed) {
  auto p = xl_place(-1, 48000, 0, 0);
  EXPECT_EQ(p.position, 48000);
  EXPECT_FALSE(p.used_mapping);
}

TEST(TranslatorTiming, MappingBeyondWhatWasSentIsNotAnInputPosition) {
  // elapsed_ms meaning something else (e.g. output time ahead of the input sent): arrival time
  auto p = xl_place(96000, 48000, 0, 0);
  EXPECT_EQ(p.position, 48000);
  EXPECT_FALSE(p.used_mapping);
}

TEST(TranslatorTiming, NeverOverlapsWhatWasPlaced) {
  // several deltas share one elapsed_ms: they follow each other back to back
  auto a = xl_place(14400, 100000, 0, 0);
  auto b = xl_place(14400, 100000, a.position + 4800, 0);
  EXPECT_EQ(b.position, 14400 + 4800);
}

TEST(TranslatorTiming, LiveFloorMakesItLateButPlayable) {
  auto p = xl_place(14400, 100000, 0, 24000);
  EXPECT_EQ(p.position, 24000);
  EXPECT_TRUE(p.late);
  EXPECT_EQ(p.late_by, 24000 - 14400);
  auto q = xl_place(30000, 100000, 0, 24000);
  EXPECT_FALSE(q.late);
  EXPECT_EQ(q.position, 30000);
}
