// realtimetranscriber (issue 13): the timing rules (pure) and pipelines against realtime-emulator.
// Every wait is bounded (a hang becomes a failure); nothing asserts wall-clock performance.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "engine_test_util.h"
#include "rtctranscripttiming.h"

using namespace std::chrono_literals;

namespace {

const char kTurn0[] = "What's the weather like in Seattle today?";  // server/scenarios/weather.json
constexpr int kRate = 24000;

// ------------------------------------------------------------------------------------------
// pure rules

TEST(TranscriberTiming, StreamingDeltaEndsAtSentMinusLag) {
  // 15 chars at 15 chars/s = 1 s; sent up to 5 s, lag 0.24 s
  rtcgst::TextSpan s = rtcgst::estimate_text_span(0, 0, 5 * kRate, false, kRate * 24 / 100, 15, kRate);
  EXPECT_EQ(s.end, 5 * kRate - kRate * 24 / 100);
  EXPECT_EQ(s.start, s.end - kRate);
}

TEST(TranscriberTiming, NeverBeforeThePreviousText) {
  rtcgst::TextSpan s = rtcgst::estimate_text_span(3 * kRate, 0, 3 * kRate, false, kRate / 2, 30, kRate);
  EXPECT_EQ(s.start, 3 * kRate);
  EXPECT_EQ(s.end, 3 * kRate + kRate / 100);  // one frame when nothing is left
}

TEST(TranscriberTiming, CommittedDeltasFollowEachOther) {
  rtcgst::TextSpan a = rtcgst::estimate_text_span(0, kRate, 4 * kRate, true, 0, 15, kRate);
  EXPECT_EQ(a.start, kRate);
  EXPECT_EQ(a.end, 2 * kRate);
  rtcgst::TextSpan b = rtcgst::estimate_text_span(a.end, kRate, 4 * kRate, true, 0, 60, kRate);
  EXPECT_EQ(b.start, 2 * kRate);
  EXPECT_EQ(b.end, 4 * kRate);  // clamped to the committed end
}

TEST(TranscriberTiming, WordsShareTheSpanByCharacters) {
  auto w = rtcgst::split_words("ab cd", rtcgst::TextSpan{0, 500});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].text, "ab");
  EXPECT_EQ(w[1].text, " cd");
  EXPECT_EQ(w[0].span.start, 0);
  EXPECT_EQ(w[0].span.end, 200);
  EXPECT_EQ(w[1].span.start, 200);
  EXPECT_EQ(w[1].span.end, 500);
}

TEST(TranscriberTiming, LocalCommitAtEndOfSpeechAndMaxSegment) {
  rtcgst::LocalCommit c;
  rtcgst::LocalCommit::Params p;
  p.silence_ms = 300;
  p.max_segment_ms = 2000;
  c.configure(p, kRate);
  const int f = kRate / 100;
  int frames = 0;
  for (int i = 0; i < 50; i++, frames++) EXPECT_FALSE(c.frame(-90, f));  // silence only: no commit
  for (int i = 0; i < 100; i++, frames++) EXPECT_FALSE(c.frame(-10, f));  // speech
  bool committed = false;
  for (int i = 0; i < 30 && !committed; i++, frames++) committed = c.frame(-90, f);
  EXPECT_TRUE(committed);
  EXPECT_EQ(c.committed_speech().start, 50 * f);
  EXPECT_EQ(c.committed_speech().end, 150 * f);
  int n = 0;
  while (!c.frame(-10, f) && n < 1000) n++;
  EXPECT_EQ(n + 1, 200);  // 2 s of continuous speech: committed at max-segment
}

// ------------------------------------------------------------------------------------------
// pipelines

struct Out {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::pair<GstClockTime, GstClockTime>>> texts;
  int finals = 0, gaps = 0;
  bool eos = false;
};

GstPadProbeReturn probe_cb(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *o = static_cast<Out *>(data);
  std::lock_guard<std::mutex> lk(o->mu);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_READ);
    o->texts.push_back({std::string(reinterpret_cast<const char *>(m.data), m.size),
                        {GST_BUFFER_PTS(b), GST_BUFFER_DURATION(b)}});
    gst_buffer_unmap(b, &m);
  } else {
    GstEvent *e = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(e) == GST_EVENT_GAP) o->gaps++;
    if (GST_EVENT_TYPE(e) == GST_EVENT_EOS) o->eos = true;
    if (GST_EVENT_TYPE(e) == GST_EVENT_CUSTOM_DOWNSTREAM &&
        gst_structure_has_name(gst_event_get_structure(e), "rstranscribe/final-transcript"))
      o->finals++;
  }
  o->cv.notify_all();
  return GST_PAD_PROBE_OK;
}

class TranscriberPipeline : public ::testing::Test {
 protected:
  virtual std::vector<std::string> emulator_faults() { return {}; }
  void SetUp() override {
    gst_init(nullptr, nullptr);
    std::string err;
    std::string scen = rtctest::env_or("RTC_SOURCE_ROOT", ".") + "/server/scenarios/weather.json";
    std::vector<std::string> args = {"--voice", "tone", "--scenario", scen};
    for (auto &a : emulator_faults()) args.push_back(a);
    if (!emu.start(args, &err)) {
      if (rtctest::env_or("RTC_EMULATOR", "").empty()) GTEST_SKIP() << err;
      FAIL() << err;
    }
  }
  void TearDown() override {
    if (pipe) {
      gst_element_set_state(pipe, GST_STATE_NULL);
      gst_object_unref(pipe);
    }
    emu.stop();
  }
  void build(bool live, const std::string &extra, const std::string &convert = "") {
    std::string desc = std::string("appsrc name=src format=time is-live=") + (live ? "true" : "false") +
                       " caps=audio/x-raw,format=S16LE,rate=24000,channels=1,layout=interleaved ! " + convert +
                       "realtimetranscriber name=tx endpoint=" +
                       emu.url + " api-key=test-key " + extra + " ! appsink name=sink sync=false";
    GError *e = nullptr;
    pipe = gst_parse_launch(desc.c_str(), &e);
    ASSERT_TRUE(pipe) << (e ? e->message : "parse failed");
    src = gst_bin_get_by_name(GST_BIN(pipe), "src");
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      probe_cb, &out, nullptr);
    gst_object_unref(pad);
    gst_object_unref(sink);
    gst_object_unref(src);  // the pipeline keeps it
    ASSERT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  // tone (speech for both energy detectors) or silence, in 20 ms buffers
  void push(int ms, bool tone) {
    std::vector<uint8_t> a;
    if (tone)
      rtctest::append_tone(a, ms);
    else
      rtctest::append_silence(a, ms);
    const size_t chunk = kRate / 50 * 2;
    for (size_t off = 0; off < a.size(); off += chunk) {
      const size_t n = std::min(chunk, a.size() - off);
      GstBuffer *b = gst_buffer_new_memdup(a.data() + off, n);
      GST_BUFFER_PTS(b) = gst_util_uint64_scale(pushed_samples, GST_SECOND, kRate);
      GST_BUFFER_DURATION(b) = gst_util_uint64_scale(n / 2, GST_SECOND, kRate);
      pushed_samples += n / 2;
      ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), b), GST_FLOW_OK);
    }
  }
  bool wait(const std::function<bool()> &pred, std::chrono::milliseconds t = 20s) {
    std::unique_lock<std::mutex> lk(out.mu);
    return out.cv.wait_for(lk, t, pred);
  }
  std::string all_text() {
    std::lock_guard<std::mutex> lk(out.mu);
    std::string s;
    for (auto &t : out.texts) s += t.first;
    return s;
  }
  void expect_ordered() {
    std::lock_guard<std::mutex> lk(out.mu);
    GstClockTime end = 0;
    for (auto &t : out.texts) {
      EXPECT_GE(t.second.first, end) << "\"" << t.first << "\" overlaps the previous text";
      end = t.second.first + t.second.second;
    }
  }
  rtctest::Emulator emu;
  GstElement *pipe = nullptr, *src = nullptr;
  Out out;
  uint64_t pushed_samples = 0;
};

// Non-live (a file): every word, in order, non-overlapping, the first one where the speech starts.
TEST_F(TranscriberPipeline, NonLiveWordsPlacedOnTheSpeech) {
  build(false, "");
  if (HasFatalFailure()) return;
  push(300, false);
  push(3200, true);
  push(1000, false);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  ASSERT_TRUE(wait([&] { return out.eos; })) << "no EOS";
  EXPECT_EQ(all_text(), kTurn0);
  EXPECT_EQ(out.finals, 1);
  expect_ordered();
  std::lock_guard<std::mutex> lk(out.mu);
  ASSERT_FALSE(out.texts.empty());
  // the emulator states the first word at the speech onset (300 ms): within one 10 ms frame
  EXPECT_LE(std::llabs(static_cast<long long>(out.texts[0].second.first) - 300LL * GST_MSECOND), 10LL * GST_MSECOND);
  EXPECT_GT(out.texts.size(), 3u) << "one buffer per word expected";
}

// Live: the first word's buffer is pushed while the utterance is still going on (nothing has
// ended it: no silence has been pushed yet); GAPs flow; EOS right after the speech flushes the
// utterance (commit at EOS) and its final-transcript event comes before EOS.
TEST_F(TranscriberPipeline, LiveFirstWordBeforeTheUtteranceEndsAndEosFlushes) {
  build(true, "latency=1000");
  if (HasFatalFailure()) return;
  push(300, false);
  push(3200, true);
  ASSERT_TRUE(wait([&] { return !out.texts.empty(); })) << "no text while the person was still speaking";
  EXPECT_EQ(out.finals, 0) << "the utterance must not have been closed yet";
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  ASSERT_TRUE(wait([&] { return out.eos; })) << "no EOS";
  EXPECT_EQ(all_text(), kTurn0);
  EXPECT_EQ(out.finals, 1);
  EXPECT_GT(out.gaps, 0);
  expect_ordered();
}

// Preview dialect, a model that transcribes after the commit, the server's VAD commits.
TEST_F(TranscriberPipeline, PreviewServerVadCommittedModel) {
  build(false, "protocol=preview model=gpt-4o-transcribe commit-policy=server-vad");
  if (HasFatalFailure()) return;
  push(300, false);
  push(2000, true);
  push(1500, false);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  ASSERT_TRUE(wait([&] { return out.eos; })) << "no EOS";
  EXPECT_EQ(all_text(), kTurn0);
  EXPECT_EQ(out.finals, 1);
  expect_ordered();
}

// Server VAD: the server has committed (and transcribed) an utterance, then EOS comes in the
// middle of the next one: the element commits the rest and waits for THAT commit's transcript.
// The server's own commits are not answers to the element's commit.
TEST_F(TranscriberPipeline, ServerVadEosWaitsForItsOwnCommit) {
  build(false, "protocol=preview model=gpt-4o-transcribe commit-policy=server-vad eos-timeout=120000");
  if (HasFatalFailure()) return;
  push(300, false);
  push(2000, true);
  push(1500, false);
  ASSERT_TRUE(wait([&] { return out.finals == 1; })) << "the server's commit of the first utterance was not transcribed";
  push(2000, true);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  ASSERT_TRUE(wait([&] { return out.eos; }, 60s)) << "no EOS";
  EXPECT_EQ(out.finals, 2) << "EOS came before the transcript of the utterance it committed";
  expect_ordered();
}

// G.711 u-law at 8 kHz (audio/pcmu): same words, same placement.
TEST_F(TranscriberPipeline, G711UlawInput) {
  build(false, "", "audioresample ! audio/x-raw,rate=8000 ! mulawenc ! ");
  if (HasFatalFailure()) return;
  push(300, false);
  push(3200, true);
  push(1000, false);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  ASSERT_TRUE(wait([&] { return out.eos; })) << "no EOS";
  EXPECT_EQ(all_text(), kTurn0);
  EXPECT_EQ(out.finals, 1);
  expect_ordered();
  std::lock_guard<std::mutex> lk(out.mu);
  ASSERT_FALSE(out.texts.empty());
  EXPECT_LE(std::llabs(static_cast<long long>(out.texts[0].second.first) - 300LL * GST_MSECOND), 10LL * GST_MSECOND);
}

// A rejected configuration (server turn detection with a streaming model) is an element error.
TEST_F(TranscriberPipeline, RejectedConfigurationIsAnError) {
  build(false, "model=gpt-realtime-whisper commit-policy=server-vad");
  if (HasFatalFailure()) return;
  push(300, false);
  GstBus *bus = gst_element_get_bus(pipe);
  GstMessage *m = gst_bus_timed_pop_filtered(bus, 20 * GST_SECOND, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  ASSERT_TRUE(m) << "no error message";
  GError *e = nullptr;
  gst_message_parse_error(m, &e, nullptr);
  EXPECT_NE(std::string(e->message).find("rejected the transcription configuration"), std::string::npos) << e->message;
  g_error_free(e);
  gst_message_unref(m);
}

// The first connection drops (close 1011) in the middle of the utterance. The audio the old
// server session held is gone (the service keeps nothing across connections): the element must
// not wait for its transcript (EOS comes without the eos-timeout), says so with a warning, and any
// text it still gives stays on the input timeline (inside the pushed audio, in order).
class TranscriberReconnect : public TranscriberPipeline {
 protected:
  std::vector<std::string> emulator_faults() override {
    return {"--fault-close-after", "4", "--fault-connections", "1"};
  }
};

TEST_F(TranscriberReconnect, MidUtteranceReconnectKeepsTheTimeline) {
  build(false, "reconnect-attempts=3 eos-timeout=120000");
  if (HasFatalFailure()) return;
  push(300, false);
  push(3200, true);
  push(1000, false);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  ASSERT_TRUE(wait([&] { return out.eos; }, 60s)) << "EOS waited for a transcript that cannot come";
  EXPECT_GE(emu.log().sessions().size(), 2u) << "the fault did not cut the first connection";
  expect_ordered();
  std::lock_guard<std::mutex> lk(out.mu);
  for (auto &t : out.texts)
    EXPECT_LE(t.second.first + t.second.second, 4500 * GST_MSECOND) << t.first << " (emulator log " << emu.log_path << ")";
}

}  // namespace
