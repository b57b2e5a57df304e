// Unit tests of the pure timing rules in gst/rtcscheduler.h (docs/timing.md): no pads, no
// threads, no clock.
#include <gtest/gtest.h>

#include <vector>

#include "rtcscheduler.h"

using namespace rtcgst;
using D = TurnGate::Decision;

TEST(Scheduler, PlacementNonLiveIsMaxOfTurnEndAndPreviousReply) {
  // Reply k starts at max(end of its turn, end of reply k-1).
  EXPECT_EQ(place_response(false, 2 * kSec, 0, 1 * kSec, 9 * kSec), 2 * kSec);
  EXPECT_EQ(place_response(false, 2 * kSec, 0, 3 * kSec, 9 * kSec), 3 * kSec);
  // Never before the start of the output.
  EXPECT_EQ(place_response(false, 1 * kSec, 5 * kSec, kNone, kNone), 5 * kSec);
  // Nothing known: the arrival time, else 0.
  EXPECT_EQ(place_response(false, kNone, kNone, kNone, 7 * kSec), 7 * kSec);
  EXPECT_EQ(place_response(false, kNone, kNone, kNone, kNone), 0u);
}

TEST(Scheduler, PlacementLiveIsArrivalAfterTheTail) {
  EXPECT_EQ(place_response(true, 1 * kSec, 0, 2 * kSec, 4 * kSec), 4 * kSec);
  EXPECT_EQ(place_response(true, 1 * kSec, 0, 5 * kSec, 4 * kSec), 5 * kSec);
}

TEST(Scheduler, LiveFillIntervalIsHalfTheLatencyClamped) {
  EXPECT_EQ(live_fill_interval(200 * kMs), 100 * kMs);
  EXPECT_EQ(live_fill_interval(100 * kMs), 50 * kMs);
  EXPECT_EQ(live_fill_interval(10 * kMs), 20 * kMs);
  EXPECT_EQ(live_fill_interval(2 * kSec), 100 * kMs);
}

TEST(Scheduler, LiveLeadIsBounded) {
  EXPECT_EQ(live_push_lead(200 * kMs), 50 * kMs);
  EXPECT_EQ(live_push_lead(100 * kMs), 25 * kMs);
  EXPECT_EQ(live_push_lead(0), 20 * kMs);
  EXPECT_EQ(live_push_lead(5 * kSec), 50 * kMs);
}

TEST(Scheduler, LiveAudioIsPushedLeadBeforeItsPlayTime) {
  const Ns lat = 200 * kMs, lead = 50 * kMs;
  // Stamped 1 s, plays at 1.2 s, pushed from 1.15 s.
  EXPECT_EQ(live_push_time(1 * kSec, lat, lead), 1150 * kMs);
  EXPECT_FALSE(live_may_push(1 * kSec, 1149 * kMs, lat, lead));
  EXPECT_TRUE(live_may_push(1 * kSec, 1150 * kMs, lat, lead));
  // No clock (not playing): nothing to pace against.
  EXPECT_TRUE(live_may_push(1 * kSec, kNone, lat, lead));
  EXPECT_EQ(live_push_time(10 * kMs, 0, lead), 0u);
}

TEST(Scheduler, HeardIsWhatWasPushed) {
  // The clock says 0.40 s played; 0.44 s was pushed (it plays); 1.5 s arrived.
  EXPECT_EQ(heard_samples(9600, 10560, 36000), 10560);
  // Never more than arrived, never negative.
  EXPECT_EQ(heard_samples(0, 500, 400), 400);
  EXPECT_EQ(heard_samples(0, -3, 400), 0);
}

TEST(Scheduler, BargeInOnlyLive) {
  EXPECT_TRUE(barge_in_applies(true, true));
  EXPECT_FALSE(barge_in_applies(true, false));
  EXPECT_FALSE(barge_in_applies(false, true));  // a file never cuts its own answers
}

namespace {

// 24 kHz; window 650 ms; step 250 ms.
TurnGate make_gate() {
  TurnGate g;
  TurnGate::Config c;
  c.rate = 24000;
  c.window = 24000 * 650 / 1000;
  c.step = 24000 / 4;
  g.reset(c);
  return g;
}

void feed(TurnGate &g, int ms, int16_t level) {
  std::vector<int16_t> v((size_t)(24 * ms), level);
  g.on_input(v.data(), (int64_t)v.size());
}

}  // namespace

TEST(Scheduler, GateDoesNotHoldWithoutSpeech) {
  TurnGate g = make_gate();
  feed(g, 3000, 0);
  EXPECT_EQ(g.hold_at(), TurnGate::kNoHold);
  EXPECT_EQ(g.decide(g.position(), false, true), D::Send);
  feed(g, 1000, 50);  // -56 dBFS: noise floor, not speech
  EXPECT_EQ(g.hold_at(), TurnGate::kNoHold);
}

TEST(Scheduler, GateHoldsAtEndOfSpeechPlusWindowUntilTheTurnIsAnswered) {
  TurnGate g = make_gate();
  feed(g, 500, 0);
  feed(g, 1000, 8000);  // speech 0.5 .. 1.5 s
  EXPECT_EQ(g.hold_at(), 36000 + 15600);
  feed(g, 600, 0);
  EXPECT_EQ(g.decide(g.position(), false, true), D::Send);  // 2.1 s < 2.15 s
  feed(g, 100, 0);
  // 2.2 s: held. Input still in the engine: wait for it to be sent, then a barrier.
  EXPECT_EQ(g.decide(g.position(), false, false), D::WaitSent);
  // The server's VAD ended the turn (end of speech + its 500 ms): the element waits for the answer.
  g.on_speech_started();
  g.on_speech_stopped(48000);
  EXPECT_EQ(g.decide(g.position(), true, true), D::WaitTurn);
  // Answered (the turn wait ended): released.
  EXPECT_EQ(g.decide(g.position(), false, true), D::Send);
  EXPECT_EQ(g.hold_at(), TurnGate::kNoHold);
  // The next question is held again at its own end.
  feed(g, 800, 8000);
  EXPECT_NE(g.hold_at(), TurnGate::kNoHold);
  EXPECT_GT(g.hold_at(), g.position());
}

TEST(Scheduler, GateBarrierReleasesWhenTheServerHeardNoTurn) {
  TurnGate g = make_gate();
  feed(g, 300, 8000);  // a click the server does not take as speech
  feed(g, 700, 0);
  EXPECT_EQ(g.decide(g.position(), false, true), D::SendBarrier);
  g.on_barrier_sent();
  EXPECT_EQ(g.decide(g.position(), false, true), D::WaitBarrier);
  g.on_barrier_answered();
  EXPECT_EQ(g.decide(g.position(), false, true), D::Send);
  EXPECT_EQ(g.hold_at(), TurnGate::kNoHold);
}

TEST(Scheduler, GateStepsOnWhileTheServerStillHearsSpeech) {
  TurnGate g = make_gate();
  feed(g, 1000, 8000);
  feed(g, 700, 0);
  g.on_speech_started();
  EXPECT_EQ(g.decide(g.position(), false, true), D::SendBarrier);
  g.on_barrier_sent();
  g.on_barrier_answered();
  const int64_t at = g.position();
  EXPECT_EQ(g.decide(at, false, true), D::Send);
  EXPECT_EQ(g.hold_at(), at + 6000);  // one step further
  feed(g, 250, 0);
  EXPECT_EQ(g.decide(g.position(), false, true), D::SendBarrier);
  g.on_barrier_sent();
  g.on_speech_stopped(-1);  // stopped before the barrier's answer (server order)
  g.on_barrier_answered();
  EXPECT_EQ(g.decide(g.position(), true, true), D::WaitTurn);
  EXPECT_EQ(g.decide(g.position(), false, true), D::Send);
  EXPECT_EQ(g.hold_at(), TurnGate::kNoHold);
}

TEST(Scheduler, GateFollowsResumedSpeech) {
  TurnGate g = make_gate();
  feed(g, 1000, 8000);
  feed(g, 400, 0);  // a pause shorter than the window: the same turn for the server
  feed(g, 500, 8000);
  EXPECT_EQ(g.hold_at(), 24000 * 19 / 10 + 15600);
}

TEST(Scheduler, GateDisabledNeverHolds) {
  TurnGate g;
  TurnGate::Config c;
  c.enabled = false;
  c.window = 100;
  g.reset(c);
  feed(g, 1000, 8000);
  feed(g, 1000, 0);
  EXPECT_EQ(g.hold_at(), TurnGate::kNoHold);
  EXPECT_EQ(g.decide(g.position(), true, false), D::Send);
}

TEST(Scheduler, GateSilenceFillCountsAsSilence) {
  TurnGate g = make_gate();
  feed(g, 1000, 8000);
  g.on_silence(24000);
  EXPECT_EQ(g.position(), 48000);
  EXPECT_EQ(g.hold_at(), 24000 + 15600);
}

TEST(Scheduler, G711Decoding) {
  EXPECT_EQ(mulaw_to_linear(0xFF), 0);
  EXPECT_EQ(mulaw_to_linear(0x7F), 0);
  EXPECT_EQ(mulaw_to_linear(0x80), 32124);
  EXPECT_EQ(mulaw_to_linear(0x00), -32124);
  EXPECT_EQ(alaw_to_linear(0xD5), 8);
  EXPECT_EQ(alaw_to_linear(0x55), -8);
  EXPECT_EQ(alaw_to_linear(0xAA), 32256);
}
