// Pure reliability rules of realtimeconv (issue 12; docs/reliability.md): the preroll watch
// (gst/rtcprerollwatch.h), the input's wait for a disconnected session (gst/rtcinputbudget.h) and
// the text limits (gst/rtctextqueue.h). No pads, no threads, no clock: times are given.
#include <gtest/gtest.h>

#include "rtcinputbudget.h"
#include "rtcprerollwatch.h"
#include "rtctextqueue.h"

using rtcgst::PrerollWatch;

TEST(PrerollWatch, ReportsABlockedPushOnceWhilePrerollingToPlaying) {
  PrerollWatch w;
  int pad = -1;
  int64_t blocked = 0;
  w.push_begin(1, 1000);
  EXPECT_FALSE(w.check(1000 + PrerollWatch::kBlockedUs - 1, true, &pad, &blocked));
  EXPECT_TRUE(w.check(1000 + PrerollWatch::kBlockedUs, true, &pad, &blocked));
  EXPECT_EQ(pad, 1);
  EXPECT_EQ(blocked, PrerollWatch::kBlockedUs);
  EXPECT_FALSE(w.check(1000 + 10 * PrerollWatch::kBlockedUs, true, &pad, &blocked));  // once per push
  w.push_end();
  w.push_begin(2, 50000000);  // a new push that blocks again is reported again
  EXPECT_TRUE(w.check(50000000 + PrerollWatch::kBlockedUs, true, &pad, &blocked));
  EXPECT_EQ(pad, 2);
}

TEST(PrerollWatch, SilentWhenPausedPlayingOrNotBlocked) {
  PrerollWatch w;
  int pad = -1;
  w.push_begin(0, 0);
  // PAUSED (target PAUSED) or PLAYING (back-pressure of a full queue): not a preroll deadlock
  EXPECT_FALSE(w.check(100 * PrerollWatch::kBlockedUs, false, &pad, nullptr));
  w.push_end();
  EXPECT_FALSE(w.check(200 * PrerollWatch::kBlockedUs, true, &pad, nullptr));  // nothing in progress
  // short pushes never add up
  for (int64_t t = 0; t < 10 * PrerollWatch::kBlockedUs; t += 1000) {
    w.push_begin(0, t);
    w.push_end();
    EXPECT_FALSE(w.check(t + 500, true, &pad, nullptr));
  }
}

TEST(DisconnectedWait, DrainTimeoutInTotalNotPerBuffer) {
  rtcgst::DisconnectedWait w;
  const int64_t timeout = 2000000;
  // buffer 1 waits from t=0 ... until the budget is spent
  EXPECT_TRUE(w.may_wait(0, timeout));
  EXPECT_TRUE(w.may_wait(timeout - 1, timeout));
  EXPECT_FALSE(w.may_wait(timeout, timeout));
  EXPECT_TRUE(w.spent(timeout));
  // buffers 2..n do not wait at all (before: drain-timeout each)
  EXPECT_FALSE(w.may_wait(timeout + 10, timeout));
  EXPECT_FALSE(w.may_wait(timeout + 100000, timeout));
  // connected again: the next disconnection gets a fresh budget
  w.on_connected();
  EXPECT_TRUE(w.may_wait(10 * timeout, timeout));
  EXPECT_FALSE(w.may_wait(11 * timeout, timeout));
}

TEST(DisconnectedWait, EosWarningSaysHowMuchInputWasNeverSent) {
  EXPECT_EQ(rtcgst::eos_unsent_warning_text(0, 48000, "connecting"), "");
  const std::string t = rtcgst::eos_unsent_warning_text(96000, 48000, "connecting");
  EXPECT_NE(t.find("2.00 s of input was never sent"), std::string::npos) << t;
  EXPECT_NE(t.find("connecting"), std::string::npos) << t;
}

TEST(TextLimits, Utf8PrefixNeverCutsASequence) {
  const std::string s = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\xb5";  // a b é € 🎵
  EXPECT_EQ(rtcgst::utf8_prefix_len(s.data(), s.size(), 100), s.size());
  EXPECT_EQ(rtcgst::utf8_prefix_len(s.data(), s.size(), 3), 2u);   // inside é
  EXPECT_EQ(rtcgst::utf8_prefix_len(s.data(), s.size(), 4), 4u);   // after é
  EXPECT_EQ(rtcgst::utf8_prefix_len(s.data(), s.size(), 6), 4u);   // inside €
  EXPECT_EQ(rtcgst::utf8_prefix_len(s.data(), s.size(), 10), 7u);  // inside 🎵
  std::string t = s;
  EXPECT_TRUE(rtcgst::cap_text(&t, 5));
  EXPECT_EQ(t, "ab\xc3\xa9");
  EXPECT_EQ(rtcgst::capped_text(std::string(rtcgst::kMaxTextBytes + 10, 'x')).size(), rtcgst::kMaxTextBytes);
}

TEST(TextLimits, QueueDropsTheOldestBeyondItemsOrBytes) {
  EXPECT_FALSE(rtcgst::text_queue_must_drop(0, 0, 100 * rtcgst::kMaxTextQueueBytes));  // an empty queue takes one
  EXPECT_FALSE(rtcgst::text_queue_must_drop(10, 1000, 1000));
  EXPECT_TRUE(rtcgst::text_queue_must_drop(rtcgst::kMaxTextItems, 1000, 1));
  EXPECT_TRUE(rtcgst::text_queue_must_drop(2, rtcgst::kMaxTextQueueBytes - 10, 11));
  EXPECT_FALSE(rtcgst::text_queue_must_drop(2, rtcgst::kMaxTextQueueBytes - 10, 10));
  // one text is at most kMaxTextBytes, so two always fit in the queue
  EXPECT_LE(2 * rtcgst::kMaxTextBytes, rtcgst::kMaxTextQueueBytes);
}
