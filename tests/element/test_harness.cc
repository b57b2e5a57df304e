// realtimeconv unit tests: GstHarness on all four pads, a GstTestClock, and a scripted session
// (FakeSession) playing the engine's network thread. No network.
#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>
#include <gtest/gtest.h>

#include <cstring>

#include <atomic>
#include <chrono>
#include <mutex>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../common/watchdog.h"
#include "fake_session.h"
#include "gstrealtimeconv.h"
#include "gstrealtimeconvmeta.h"

using T = rtc::ServerEventType;
using namespace std::chrono_literals;
static constexpr GstClockTime MS = GST_MSECOND;
static constexpr const char *kPcmCaps = "audio/x-raw,format=S16LE,rate=24000,channels=1,layout=interleaved";

static bool wait_until(const std::function<bool()> &pred, int timeout_ms = 10000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// One realtimeconv with a harness on each pad and a fake session.
struct Fixture {
  GstElement *e = nullptr;
  GstHarness *h = nullptr, *ht = nullptr, *hc = nullptr;
  GstClock *clock = nullptr;
  GstBus *bus = nullptr;
  std::shared_ptr<FakeHolder> holder;

  explicit Fixture(bool live, std::function<void(GstElement *)> configure = {}, bool text_pads = true,
                   const char *caps = kPcmCaps) {
    e = gst_element_factory_make("realtimeconv", NULL);
    EXPECT_NE(e, nullptr);
    holder = install_fake(e);
    if (configure) configure(e);
    clock = gst_test_clock_new();
    gst_element_set_clock(e, clock);
    bus = gst_bus_new();
    gst_element_set_bus(e, bus);
    h = gst_harness_new_with_element(e, "sink", "src");
    gst_harness_set_live(h, live);
    gst_harness_set_upstream_latency(h, 10 * MS);
    if (text_pads) {
      ht = gst_harness_new_with_element(e, NULL, "transcript_src");
      hc = gst_harness_new_with_element(e, NULL, "input_transcript_src");
    }
    gst_harness_set_src_caps_str(h, caps);
  }
  ~Fixture() {
    if (hc) gst_harness_teardown(hc);
    if (ht) gst_harness_teardown(ht);
    gst_harness_teardown(h);
    gst_element_set_bus(e, NULL);
    gst_object_unref(bus);
    gst_object_unref(e);
    gst_object_unref(clock);
  }
  FakeSession *fake() { return holder->get(); }
  void settle() {
    rtctest::Waiting w("the control thread to process the injected notifications");
    ASSERT_TRUE(wait_until([&] { return gst_realtimeconv_pending_notifications(e) == 0; }));
  }
  void set_time(GstClockTime t) { gst_test_clock_set_time(GST_TEST_CLOCK(clock), t); }
  // Moves the test clock to t and releases the element's clock waits that are due (a GstTestClock
  // only releases waits it is told to process).
  void advance_to(GstClockTime t) {
    GstTestClock *tc = GST_TEST_CLOCK(clock);
    set_time(t);
    for (int i = 0; i < 100; i++) {
      GstClockID id = nullptr;
      if (!wait_until([&] { return gst_test_clock_peek_next_pending_id(tc, &id); }, 2000)) return;
      GstClockTime when = gst_clock_id_get_time(id);
      gst_clock_id_unref(id);
      if (when > t) return;
      GstClockID done = gst_test_clock_process_next_clock_id(tc);
      if (done) gst_clock_id_unref(done);
    }
  }
  // Pushes `ms` of pcm16 input (value v) starting at running time `start`.
  void push_input(GstClockTime start, int ms, int16_t v = 0, int chunk_ms = 100, bool discont = false) {
    for (int done = 0; done < ms; done += chunk_ms) {
      int n = 24 * std::min(chunk_ms, ms - done);
      GstBuffer *b = gst_buffer_new_allocate(NULL, (gsize)n * 2, NULL);
      GstMapInfo map;
      gst_buffer_map(b, &map, GST_MAP_WRITE);
      for (int i = 0; i < n; i++) memcpy(map.data + 2 * i, &v, 2);
      gst_buffer_unmap(b, &map);
      GST_BUFFER_PTS(b) = start + (GstClockTime)done * MS;
      GST_BUFFER_DURATION(b) = (GstClockTime)std::min(chunk_ms, ms - done) * MS;
      if (discont && done == 0) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
      ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
    }
  }
  GstMessage *pop_message(GstMessageType types, const char *structure_name = nullptr, int timeout_ms = 5000) {
    rtctest::Waiting w(std::string("a bus message ") + (structure_name ? structure_name : gst_message_type_get_name(types)));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      GstMessage *m = gst_bus_timed_pop_filtered(bus, 20 * GST_MSECOND, types);
      if (!m) continue;
      if (!structure_name) return m;
      const GstStructure *s = gst_message_get_structure(m);
      if (s && gst_structure_has_name(s, structure_name)) return m;
      gst_message_unref(m);
    }
    return nullptr;
  }
};

// Everything that arrives on one harness sink pad, in order.
struct Item {
  GstBuffer *buf = nullptr;  // owned
  GstEvent *ev = nullptr;    // owned
  ~Item() {
    if (buf) gst_buffer_unref(buf);
    if (ev) gst_event_unref(ev);
  }
};

// Drains a harness until EOS (or timeout). Buffers and serialized events, in arrival order.
static std::vector<std::unique_ptr<Item>> collect_until_eos(GstHarness *h, int timeout_ms = 10000) {
  std::vector<std::unique_ptr<Item>> out;
  rtctest::Waiting w("EOS on a harness pad");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool eos = false;
  // Events and buffers go to separate queues; they are interleaved by timestamps below.
  while (!eos && std::chrono::steady_clock::now() < deadline) {
    GstEvent *ev;
    while ((ev = gst_harness_try_pull_event(h))) {
      auto it = std::make_unique<Item>();
      it->ev = ev;
      if (GST_EVENT_TYPE(ev) == GST_EVENT_EOS) eos = true;
      out.push_back(std::move(it));
    }
    GstBuffer *b;
    while ((b = gst_harness_try_pull(h))) {
      auto it = std::make_unique<Item>();
      it->buf = b;
      out.push_back(std::move(it));
    }
    if (!eos) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return out;
}

static std::vector<GstBuffer *> buffers_of(const std::vector<std::unique_ptr<Item>> &items) {
  std::vector<GstBuffer *> v;
  for (auto &i : items)
    if (i->buf) v.push_back(i->buf);
  return v;
}

static bool has_eos(const std::vector<std::unique_ptr<Item>> &items) {
  for (auto &i : items)
    if (i->ev && GST_EVENT_TYPE(i->ev) == GST_EVENT_EOS) return true;
  return false;
}

static std::vector<int16_t> samples_of(const std::vector<GstBuffer *> &bufs) {
  std::vector<int16_t> s;
  for (GstBuffer *b : bufs) {
    GstMapInfo map;
    gst_buffer_map(b, &map, GST_MAP_READ);
    const int16_t *p = reinterpret_cast<const int16_t *>(map.data);
    s.insert(s.end(), p, p + map.size / 2);
    gst_buffer_unmap(b, &map);
  }
  return s;
}

static std::string text_of(GstBuffer *b) {
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_READ);
  std::string s(reinterpret_cast<const char *>(map.data), map.size);
  gst_buffer_unmap(b, &map);
  return s;
}

// Pulls events of a type from a harness until one matches `pred`.
static GstEvent *wait_event(GstHarness *h, GstEventType type, const std::function<bool(GstEvent *)> &pred,
                            int timeout_ms = 5000) {
  rtctest::Waiting w(std::string("a ") + gst_event_type_get_name(type) + " event on a harness pad");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    GstEvent *ev = gst_harness_try_pull_event(h);
    if (!ev) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    if (GST_EVENT_TYPE(ev) == type && pred(ev)) return ev;
    gst_event_unref(ev);
  }
  return nullptr;
}

static GstBuffer *wait_buffer(GstHarness *h, int timeout_ms = 5000) {
  rtctest::Waiting w("a buffer on a harness pad");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    GstBuffer *b = gst_harness_try_pull(h);
    if (b) return b;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return nullptr;
}

// Waits (bounded) until the element waits on the test clock for running time `t` (base time 0).
static bool wait_for_clock_wait(Fixture &f, GstClockTime t) {
  return wait_until([&] {
    GstClockID id = nullptr;
    if (!gst_test_clock_peek_next_pending_id(GST_TEST_CLOCK(f.clock), &id)) return false;
    const GstClockTime when = gst_clock_id_get_time(id);
    gst_clock_id_unref(id);
    return when == t;
  });
}

// True once the element's streaming thread has evaluated its wait `what` after this call (so
// after every event processed before it) and still waits for it: the event-based form of "it
// did not go on" (bounded).
static bool still_waiting(Fixture &f, const char *what, int timeout_ms = 5000) {
  rtctest::Waiting w(std::string("the streaming thread to re-check its wait for ") + what);
  guint64 c0 = 0;
  gst_realtimeconv_waiting_for(f.e, &c0);
  return wait_until(
      [&] {
        guint64 c = 0;
        const char *w = gst_realtimeconv_waiting_for(f.e, &c);
        return c > c0 && w && strcmp(w, what) == 0;
      },
      timeout_ms);
}

// Runs `f` on a thread; true if it finished within timeout_ms (the thread is joined either way).
struct Bg {
  std::thread t;
  std::atomic<bool> done{false};
  explicit Bg(std::function<void()> f) {
    t = std::thread([this, f] {
      f();
      done = true;
    });
  }
  bool wait(int timeout_ms) { return wait_until([&] { return done.load(); }, timeout_ms); }
  // A thread that never returns cannot be joined: the watchdog turns that into a failure.
  ~Bg() {
    if (!t.joinable()) return;
    if (!done.load()) {
      rtctest::Waiting w("a background call (push / EOS) of this test to return");
      if (!wait_until([&] { return done.load(); }, 30000))
        rtctest::watchdog_fire("a background call of the test did not return within 30 s");
    }
    t.join();
  }
};

// Holds realtimeconv's control thread in a "function-call" handler from block() until release()
// or destruction. Declare it after the Bg threads that need the control thread to finish: it is
// destroyed (and lets go) before they are joined.
struct CtlBlocker {
  GstElement *e;
  FakeSession *s;
  std::mutex m;
  std::condition_variable cv;
  bool released = false;
  gulong id = 0;
  explicit CtlBlocker(Fixture &f) : e(f.e), s(f.fake()) {
    id = g_signal_connect(e, "function-call",
                          G_CALLBACK(+[](GstElement *, const gchar *, const gchar *, const gchar *, gpointer ud) -> gboolean {
                            auto *b = static_cast<CtlBlocker *>(ud);
                            std::unique_lock<std::mutex> lk(b->m);
                            b->cv.wait(lk, [b] { return b->released; });
                            return TRUE;
                          }),
                          this);
  }
  void block() {  // the control thread is busy from the moment it takes this call
    rtc::FunctionCall call;
    call.name = "block";
    call.call_id = "call_1";
    s->listener->on_function_call(call);
  }
  void release() {
    {
      std::lock_guard<std::mutex> lk(m);
      released = true;
    }
    cv.notify_all();
  }
  ~CtlBlocker() {
    release();
    g_signal_handler_disconnect(e, id);
  }
  CtlBlocker(const CtlBlocker &) = delete;
  CtlBlocker &operator=(const CtlBlocker &) = delete;
};

// ---------------------------------------------------------------------------------------------

TEST(Harness, PropertiesAndSecrets) {
  GstElement *e = gst_element_factory_make("realtimeconv", NULL);
  ASSERT_NE(e, nullptr);
  gchar *key = nullptr, *tok = nullptr, *model = nullptr;
  g_object_get(e, "api-key", &key, NULL);
  EXPECT_STREQ(key, "");
  g_free(key);
  g_object_set(e, "api-key", "sk-secret-123", "bearer-token", "tok-456", "model", "gpt-realtime", NULL);
  g_object_get(e, "api-key", &key, "bearer-token", &tok, "deployment", &model, NULL);
  EXPECT_STREQ(key, "***");
  EXPECT_STREQ(tok, "***");
  EXPECT_STREQ(model, "gpt-realtime");
  g_free(key);
  g_free(tok);
  g_free(model);
  GstStructure *stats = nullptr;
  g_object_get(e, "stats", &stats, NULL);
  ASSERT_NE(stats, nullptr);
  EXPECT_TRUE(gst_structure_has_field(stats, "time-to-first-audio-last"));
  EXPECT_TRUE(gst_structure_has_field(stats, "total-tokens"));
  gst_structure_free(stats);
  GParamSpec *ps = g_object_class_find_property(G_OBJECT_GET_CLASS(e), "latency");
  ASSERT_NE(ps, nullptr);
  EXPECT_TRUE(ps->flags & GST_PARAM_MUTABLE_READY);
  ps = g_object_class_find_property(G_OBJECT_GET_CLASS(e), "instructions");
  EXPECT_TRUE(ps->flags & GST_PARAM_MUTABLE_PLAYING);
  gst_object_unref(e);
}

TEST(Harness, SessionConfigFromPropertiesAndLiveUpdate) {
  Fixture f(true, [](GstElement *e) {
    g_object_set(e, "instructions", "Be brief.", "voice", "marin", "turn-detection", 2, "tools",
                 "[{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":{},\"result\":{\"temp\":20}}]",
                 "tool-choice", "required", NULL);
  });
  ASSERT_NE(f.fake(), nullptr);
  EXPECT_TRUE(f.fake()->called("start"));
  const rtc::SessionConfig &c = f.fake()->cfg.session;
  EXPECT_EQ(*c.instructions, "Be brief.");
  EXPECT_EQ(*c.voice, "marin");
  EXPECT_EQ(c.turn_detection.type, rtc::TurnDetection::Type::None);
  EXPECT_EQ(c.tools_json.find("result"), std::string::npos);  // the static result is ours, not the server's
  EXPECT_NE(c.tools_json.find("get_weather"), std::string::npos);
  EXPECT_EQ(c.tool_choice_json, "\"required\"");
  EXPECT_EQ(c.input_format, rtc::AudioFormat::PCM16);
  g_object_set(f.e, "instructions", "Be verbose.", NULL);  // applied live
  EXPECT_TRUE(f.fake()->called("update_config"));
  EXPECT_EQ(*f.fake()->cfg.session.instructions, "Be verbose.");
}

TEST(Harness, LatencyQueryLive) {
  Fixture f(true);
  GstQuery *q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_peer_query(f.h->sinkpad, q));
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency(q, &live, &min, &max);
  EXPECT_TRUE(live);
  EXPECT_EQ(min, 10 * MS + 200 * MS);
  EXPECT_EQ(max, GST_CLOCK_TIME_NONE);
  gst_query_unref(q);
  // The text pads answer the same.
  q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_peer_query(f.ht->sinkpad, q));
  gst_query_parse_latency(q, &live, &min, &max);
  EXPECT_EQ(min, 210 * MS);
  gst_query_unref(q);
}

TEST(Harness, LatencyQueryNonLive) {
  Fixture f(false);
  GstQuery *q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_peer_query(f.h->sinkpad, q));
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency(q, &live, &min, &max);
  EXPECT_FALSE(live);
  gst_query_unref(q);
}

// A live source often answers LATENCY only once negotiated, after the pipeline configured its
// latency: when the element then finds upstream live, it asks for a new latency computation.
TEST(Harness, LatencyMessageWhenUpstreamTurnsOutLive) {
  Fixture f(true);
  f.push_input(0, 100);
  GstMessage *m = f.pop_message(GST_MESSAGE_LATENCY, nullptr, 2000);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(GST_MESSAGE_SRC(m), GST_OBJECT(f.e));
  gst_message_unref(m);
  // The pipeline's new query is answered live: no further message.
  GstQuery *q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_peer_query(f.h->sinkpad, q));
  gst_query_unref(q);
  f.push_input(100 * MS, 100);
  // The element asks upstream and posts LATENCY from its streaming thread, inside the push: once
  // gst_harness_push() returned, a message would already be on the bus (no need to wait).
  m = gst_bus_pop_filtered(f.bus, GST_MESSAGE_LATENCY);
  EXPECT_EQ(m, nullptr) << (m ? GST_OBJECT_NAME(GST_MESSAGE_SRC(m)) : "");
  if (m) gst_message_unref(m);
}

TEST(Harness, NoLatencyMessageWhenUpstreamIsNotLive) {
  Fixture f(false);
  f.push_input(0, 100);
  // Posted (or not) from the streaming thread inside the push: no wait needed once it returned.
  GstMessage *m = gst_bus_pop_filtered(f.bus, GST_MESSAGE_LATENCY);
  EXPECT_EQ(m, nullptr);
  if (m) gst_message_unref(m);
}

// An outage: the engine reports every drop of input as it happens (one per input buffer); the
// bus gets one warning per 5 s with the total, and the rest when the session is back.
TEST(Harness, InputDroppedWarningsAreAggregated) {
  Fixture f(true);
  FakeSession *s = f.fake();
  f.push_input(0, 100);
  f.settle();
  for (int i = 0; i < 50; i++) s->listener->on_input_dropped(2400 + 240 * i, 240);
  f.settle();
  // Called after settle(): the control thread posts a notification's messages before it counts
  // the notification as processed, so everything due is on the bus already (no wait).
  auto count_warnings = [&](std::string *debug) {
    int n = 0;
    while (GstMessage *m = gst_bus_pop_filtered(f.bus, GST_MESSAGE_WARNING)) {
      GError *e = nullptr;
      gchar *dbg = nullptr;
      gst_message_parse_warning(m, &e, &dbg);
      if (e && strstr(e->message, "were dropped while the session was disconnected")) {
        n++;
        if (debug) *debug = dbg ? dbg : "";
      }
      g_clear_error(&e);
      g_free(dbg);
      gst_message_unref(m);
    }
    return n;
  };
  std::string dbg;
  EXPECT_EQ(count_warnings(&dbg), 1);  // the first drop, at once
  EXPECT_NE(dbg.find("from sample 2400, 240 samples"), std::string::npos) << dbg;
  s->listener->on_reconnected(0, false);
  f.settle();
  EXPECT_EQ(count_warnings(&dbg), 1);  // the other 49 drops, in one
  EXPECT_NE(dbg.find("from sample 2640, 11760 samples"), std::string::npos) << dbg;
  s->listener->on_reconnected(0, false);
  f.settle();
  EXPECT_EQ(count_warnings(nullptr), 0);  // nothing left to report
}

// Drops after the last warning are told once the interval has passed, even if no other
// notification comes (no reconnection, no further drop).
TEST(Harness, InputDroppedWarningTellsTheRestAfterTheInterval) {
  Fixture f(true);
  FakeSession *s = f.fake();
  f.push_input(0, 100);
  f.settle();
  s->listener->on_input_dropped(2400, 240);  // told at once
  GstMessage *m = f.pop_message(GST_MESSAGE_WARNING, nullptr, 2000);
  ASSERT_NE(m, nullptr);
  gst_message_unref(m);
  auto t0 = std::chrono::steady_clock::now();
  s->listener->on_input_dropped(2640, 480);  // within the interval: held
  m = f.pop_message(GST_MESSAGE_WARNING, nullptr, 8000);
  ASSERT_NE(m, nullptr) << "the held drop was never told";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4000));
  gchar *dbg = nullptr;
  gst_message_parse_warning(m, nullptr, &dbg);
  EXPECT_NE(std::string(dbg ? dbg : "").find("from sample 2640, 480 samples"), std::string::npos) << dbg;
  g_free(dbg);
  gst_message_unref(m);
}

// Response audio waiting for the output is bounded at 120 s: beyond, deltas are dropped and
// counted (non-live: nothing is released before the server reports the input position).
TEST(Harness, QueuedOutputAudioIsBoundedAt120Seconds) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::ResponseCreated, "", "resp_1");
  // 125 x 1 s, one at a time: the control thread's inbox (60 s) must not be what bounds them.
  for (int i = 0; i < 125; i++) {
    f.settle();
    s->audio("resp_1", "item_a", 24000, (int64_t)i * 24000);
  }
  f.settle();
  GstStructure *st = nullptr;
  g_object_get(f.e, "stats", &st, NULL);
  ASSERT_NE(st, nullptr);
  guint64 dropped = 0;
  EXPECT_TRUE(gst_structure_get_uint64(st, "output-audio-dropped", &dropped));
  EXPECT_EQ(dropped, 4 * GST_SECOND);  // queued 121 s when the 122nd came: 122..125 dropped
  gst_structure_free(st);
  GstMessage *w = f.pop_message(GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr);
  gst_message_unref(w);
}

TEST(Harness, StickyEventsOnEverySrcPad) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "transcription-language", "fr", NULL); });
  f.push_input(0, 500);
  gst_harness_push_event(f.h, gst_event_new_eos());
  for (GstHarness *h : {f.h, f.ht, f.hc}) {
    auto items = collect_until_eos(h);
    ASSERT_TRUE(has_eos(items));
    GstPad *pad = GST_PAD_PEER(h->sinkpad);
    GstEvent *ss = gst_pad_get_sticky_event(pad, GST_EVENT_STREAM_START, 0);
    ASSERT_NE(ss, nullptr);
    guint gid = 0;
    EXPECT_TRUE(gst_event_parse_group_id(ss, &gid));
    gst_event_unref(ss);
    GstEvent *caps = gst_pad_get_sticky_event(pad, GST_EVENT_CAPS, 0);
    ASSERT_NE(caps, nullptr);
    gst_event_unref(caps);
    GstEvent *seg = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
    ASSERT_NE(seg, nullptr);
    const GstSegment *s;
    gst_event_parse_segment(seg, &s);
    EXPECT_EQ(s->format, GST_FORMAT_TIME);
    gst_event_unref(seg);
  }
  GstEvent *tag = gst_pad_get_sticky_event(GST_PAD_PEER(f.hc->sinkpad), GST_EVENT_TAG, 0);
  ASSERT_NE(tag, nullptr);
  GstTagList *tl;
  gst_event_parse_tag(tag, &tl);
  gchar *lang = nullptr;
  EXPECT_TRUE(gst_tag_list_get_string(tl, GST_TAG_LANGUAGE_CODE, &lang));
  EXPECT_STREQ(lang, "fr");
  g_free(lang);
  gst_event_unref(tag);
}

// Non-live: the response goes where the turn ended; the output covers the input, sample-exact.
TEST(Harness, NonLivePlacementSampleExact) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 3000);
  EXPECT_EQ(s->pushed_bytes(), 3u * 24000 * 2);
  s->event(T::SpeechStarted, "item_u", "", 12000);
  s->event(T::SpeechStopped, "item_u", "", -1, 36000);  // turn ends at 1.5 s
  s->event(T::ResponseCreated, "", "resp_1");
  s->event(T::AudioTranscriptDelta, "item_a", "resp_1", -1, -1, "Hello");
  s->audio("resp_1", "item_a", 6000, 0);
  s->event(T::AudioTranscriptDelta, "item_a", "resp_1", -1, -1, " there");
  s->audio("resp_1", "item_a", 6000, 6000);
  s->event(T::ResponseDone, "", "resp_1");
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_eos());

  auto items = collect_until_eos(f.h);
  ASSERT_TRUE(has_eos(items));
  auto bufs = buffers_of(items);
  ASSERT_FALSE(bufs.empty());
  EXPECT_EQ(GST_BUFFER_PTS(bufs.front()), 0u);
  GstClockTime expect = 0;
  for (GstBuffer *b : bufs) {  // contiguous, no gap
    EXPECT_EQ(GST_BUFFER_PTS(b), expect);
    expect = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
  }
  auto samples = samples_of(bufs);
  ASSERT_EQ(samples.size(), 72000u);  // exactly the input's duration
  for (size_t i = 0; i < samples.size(); i++) {
    int16_t want = (i >= 36000 && i < 48000) ? (int16_t)((i - 36000) & 0x7fff) : 0;
    if (samples[i] != want) {
      ADD_FAILURE() << "sample " << i << " is " << samples[i] << ", want " << want;
      break;
    }
  }
  // The response's buffers carry the meta.
  bool found_meta = false;
  for (GstBuffer *b : bufs) {
    GstRealtimeConvMeta *m = gst_buffer_get_realtime_conv_meta(b);
    if (m) {
      found_meta = true;
      EXPECT_STREQ(m->response_id, "resp_1");
      EXPECT_STREQ(m->item_id, "item_a");
      EXPECT_GE(GST_BUFFER_PTS(b), 1500 * MS);
    }
  }
  EXPECT_TRUE(found_meta);
  // Transcript deltas timed to their audio.
  auto titems = collect_until_eos(f.ht);
  auto tbufs = buffers_of(titems);
  ASSERT_EQ(tbufs.size(), 2u);
  EXPECT_EQ(text_of(tbufs[0]), "Hello");
  EXPECT_EQ(GST_BUFFER_PTS(tbufs[0]), 1500 * MS);
  EXPECT_EQ(GST_BUFFER_DURATION(tbufs[0]), 250 * MS);
  EXPECT_EQ(text_of(tbufs[1]), " there");
  EXPECT_EQ(GST_BUFFER_PTS(tbufs[1]), 1750 * MS);
  EXPECT_EQ(GST_BUFFER_DURATION(tbufs[1]), 250 * MS);
}

TEST(Harness, NonLiveSegmentStartAndCaptions) {
  Fixture f(false);
  FakeSession *s = f.fake();
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  seg.start = 10 * GST_SECOND;
  seg.time = 10 * GST_SECOND;
  gst_harness_push_event(f.h, gst_event_new_segment(&seg));
  f.push_input(10 * GST_SECOND, 2000);  // running time 0 .. 2 s, position 10 .. 12 s
  s->event(T::SpeechStarted, "item_u", "", 4801);
  s->event(T::SpeechStopped, "item_u", "", -1, 28799);
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 2400);
  s->event(T::ResponseDone, "", "resp_1");
  s->event(T::InputTranscriptionCompleted, "item_u", "", 4801, 28799, "hello world");
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto items = collect_until_eos(f.h);
  auto bufs = buffers_of(items);
  ASSERT_FALSE(bufs.empty());
  EXPECT_EQ(GST_BUFFER_PTS(bufs.front()), 10 * GST_SECOND);
  GstClockTime resp_pts = GST_CLOCK_TIME_NONE;
  for (GstBuffer *b : bufs)
    if (gst_buffer_get_realtime_conv_meta(b)) {
      resp_pts = GST_BUFFER_PTS(b);
      break;
    }
  // The turn ended at input sample 28799: running time 1.1999583 s, position 11.1999583 s.
  EXPECT_EQ(resp_pts, 10 * GST_SECOND + gst_util_uint64_scale_round(28799, GST_SECOND, 24000));
  auto citems = collect_until_eos(f.hc);
  auto cbufs = buffers_of(citems);
  ASSERT_EQ(cbufs.size(), 1u);
  EXPECT_EQ(text_of(cbufs[0]), "hello world");
  GstClockTime start = gst_util_uint64_scale_round(4801, GST_SECOND, 24000);
  GstClockTime end = gst_util_uint64_scale_round(28799, GST_SECOND, 24000);
  EXPECT_EQ(GST_BUFFER_PTS(cbufs[0]), 10 * GST_SECOND + start);
  EXPECT_EQ(GST_BUFFER_DURATION(cbufs[0]), end - start);
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/input-transcript");
  ASSERT_NE(m, nullptr);
  gint64 rt = 0;
  gst_structure_get_int64(gst_message_get_structure(m), "running-time", &rt);
  EXPECT_EQ((GstClockTime)rt, start);
  gst_message_unref(m);
}

// Non-live (docs/timing.md "Files"): a later question never truncates an earlier reply, even when
// it starts before the reply's end on the input timeline (the output is a track, not a playout).
TEST(Harness, NonLiveLaterSpeechNeverCutsAnEarlierReply) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 300, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 4000);
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 24000);  // turn ends at 1 s
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 48000);  // 2 s of answer: 1 s .. 3 s
  s->event(T::ResponseDone, "", "resp_1");
  s->event(T::SpeechStarted, "item_u2", "", 36000);  // the user talks again at 1.5 s
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto samples = samples_of(buffers_of(collect_until_eos(f.h)));
  EXPECT_FALSE(s->called("truncate"));
  EXPECT_FALSE(s->called("cancel_response"));
  ASSERT_EQ(samples.size(), 96000u);
  for (size_t k = 0; k < 48000; k++)  // the whole answer, 1 s .. 3 s, bit-exact
    ASSERT_EQ(samples[24000 + k], (int16_t)(k & 0x7fff)) << k;
  EXPECT_EQ(samples[23999], 0);
  EXPECT_EQ(samples[72000], 0);
}

// Between responses, live: GAP events every latency / 2 (100 ms at the default 200 ms), each
// contiguous with the previous one, not one per 20 ms.
TEST(Harness, LiveGapIntervalIsHalfTheLatency) {
  Fixture f(true);
  f.push_input(0, 1000);
  f.advance_to(1 * GST_SECOND);
  GstEvent *gap = wait_event(f.h, GST_EVENT_GAP, [](GstEvent *ev) {
    GstClockTime ts, dur;
    gst_event_parse_gap(ev, &ts, &dur);
    return ts + dur == 800 * MS;
  });
  ASSERT_NE(gap, nullptr);
  gst_event_unref(gap);
  for (GstClockTime t = 1010 * MS; t <= 1500 * MS; t += 10 * MS) f.advance_to(t);
  std::vector<std::pair<GstClockTime, GstClockTime>> gaps;  // (start, duration)
  while (GstEvent *ev = wait_event(f.h, GST_EVENT_GAP, [](GstEvent *) { return true; }, 300)) {
    GstClockTime ts, dur;
    gst_event_parse_gap(ev, &ts, &dur);
    gaps.emplace_back(ts, dur);
    gst_event_unref(ev);
  }
  ASSERT_GE(gaps.size(), 4u);  // 800 ms .. 1300 ms (now - latency) in 100 ms steps
  GstClockTime end = 800 * MS;
  for (auto &g : gaps) {
    EXPECT_EQ(g.first, end) << "contiguous";
    EXPECT_GE(g.second, 100 * MS);
    end = g.first + g.second;
  }
  EXPECT_EQ(end, 1300 * MS);
}

TEST(Harness, LiveGapFillPlacementPacingAndLateness) {
  Fixture f(true);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  f.advance_to(1 * GST_SECOND);
  // Between responses: GAP events up to now - latency (1 s - 200 ms).
  GstEvent *gap = wait_event(f.h, GST_EVENT_GAP, [](GstEvent *ev) {
    GstClockTime ts, dur;
    gst_event_parse_gap(ev, &ts, &dur);
    return ts + dur == 800 * MS;
  });
  ASSERT_NE(gap, nullptr);
  gst_event_unref(gap);
  // Text pads follow with GAPs too.
  GstEvent *tgap = wait_event(f.ht, GST_EVENT_GAP, [](GstEvent *) { return true; });
  ASSERT_NE(tgap, nullptr);
  gst_event_unref(tgap);
  // A response arriving at running time 1 s is stamped 1 s, then contiguous.
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 12000);
  s->audio("resp_1", "item_a", 12000, 12000);
  f.settle();
  // Paced (docs/timing.md, lead): stamped 1 s, it plays at 1 s + 210 ms (upstream 10 ms + latency
  // 200 ms), so it is pushed from 1.16 s (lead 50 ms): the src task waits on the clock for that.
  f.advance_to(1150 * MS);
  ASSERT_TRUE(wait_for_clock_wait(f, 1160 * MS));
  f.advance_to(2160 * MS);
  GstClockTime end = 1 * GST_SECOND;
  int n = 0;
  int64_t ramp = 0;
  while (end < 2 * GST_SECOND) {
    GstBuffer *b = wait_buffer(f.h);
    ASSERT_NE(b, nullptr) << "audio pushed up to " << end;
    EXPECT_EQ(GST_BUFFER_PTS(b), end) << "contiguous";
    // In 40 ms pieces (kLivePushChunk), across the two 500 ms deltas of the item: the first
    // delta's last 20 ms go out with the second's first 20 ms (a sink is never left with a short
    // buffer in hand), 25 pieces in all.
    EXPECT_EQ(GST_BUFFER_DURATION(b), 40 * MS);
    {  // every sample, in order (the fake's deltas are one ramp)
      GstMapInfo mi;
      ASSERT_TRUE(gst_buffer_map(b, &mi, GST_MAP_READ));
      for (gsize k = 0; k + 1 < mi.size; k += 2) {
        int16_t v;
        memcpy(&v, mi.data + k, 2);
        ASSERT_EQ(v, (int16_t)(ramp & 0x7fff)) << "sample " << ramp;
        ramp++;
      }
      gst_buffer_unmap(b, &mi);
    }
    end = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
    gst_buffer_unref(b);
    n++;
  }
  EXPECT_EQ(n, 25);
  guint delay = 99;
  g_object_get(f.e, "max-observed-delay", &delay, NULL);
  EXPECT_EQ(delay, 0u);
  // A delta arriving 500 ms after its timestamp (budget 200 ms) is late: warning, re-anchored.
  f.advance_to(2500 * MS);
  s->audio("resp_1", "item_a", 2400, 24000);
  f.settle();
  f.advance_to(2660 * MS);
  GstBuffer *b3 = wait_buffer(f.h);
  ASSERT_NE(b3, nullptr);
  EXPECT_EQ(GST_BUFFER_PTS(b3), 2500 * MS);
  EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(b3, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref(b3);
  g_object_get(f.e, "max-observed-delay", &delay, NULL);
  EXPECT_EQ(delay, 500u);
  GstMessage *w = f.pop_message(GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr);
  // A real GError (gst-launch-1.0 dereferences it): STREAM/FAILED with the observed delay.
  GError *werr = nullptr;
  gchar *wdbg = nullptr;
  gst_message_parse_warning(w, &werr, &wdbg);
  ASSERT_NE(werr, nullptr);
  EXPECT_TRUE(g_error_matches(werr, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED));
  EXPECT_NE(std::string(werr->message).find("500 ms later"), std::string::npos) << werr->message;
  g_error_free(werr);
  g_free(wdbg);
  gst_message_unref(w);
  s->event(T::ResponseDone, "", "resp_1");
  f.settle();
}

TEST(Harness, LiveSilenceFillAlways) {
  Fixture f(true, [](GstElement *e) { g_object_set(e, "silence-fill", 1, NULL); });
  f.push_input(0, 500);
  f.advance_to(1 * GST_SECOND);
  GstClockTime covered = 0;
  ASSERT_TRUE(wait_until([&] {
    while (GstBuffer *b = gst_harness_try_pull(f.h)) {
      EXPECT_EQ(GST_BUFFER_PTS(b), covered);
      EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_GAP));
      covered = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
      gst_buffer_unref(b);
    }
    return covered == 800 * MS;
  }));
}

// push-ahead sets the live pacing (rtcgst::live_pacing): 200 ms = pieces of 100 ms, each pushed
// 100 ms before it plays; a barge-in then tells the server up to 200 ms more than the clock says
// was played (all of it rendered).
TEST(Harness, PushAheadSetsLivePiecesLeadAndBargeInBound) {
  Fixture f(true, [](GstElement *e) { g_object_set(e, "interrupt-response", FALSE, "push-ahead", 200, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  gst_harness_push_upstream_event(f.h, gst_event_new_latency(300 * MS));  // pipeline latency
  f.set_time(1 * GST_SECOND);
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 24000);  // 1 s .. 2 s, plays from 1.3 s, pushed 100 ms before
  f.settle();
  f.advance_to(1500 * MS);
  // Pushed by 1.5 s: the pieces due by then (stamped up to 1.3 s), 1.0 .. 1.4 s, 100 ms each.
  GstClockTime end = 1 * GST_SECOND;
  int n = 0;
  while (end < 1400 * MS) {
    GstBuffer *b = wait_buffer(f.h);
    ASSERT_NE(b, nullptr) << "audio pushed up to " << end;
    EXPECT_EQ(GST_BUFFER_PTS(b), end);
    EXPECT_EQ(GST_BUFFER_DURATION(b), 100 * MS);
    end = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
    gst_buffer_unref(b);
    n++;
  }
  EXPECT_EQ(n, 4);
  s->event(T::SpeechStarted, "item_u2", "", 30000);
  f.settle();
  // Played by the clock: 1.5 s - 300 ms - 1 s = 200 ms; pushed, and so heard in full: 400 ms.
  EXPECT_TRUE(s->called("truncate:item_a:400"));
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/truncated");
  ASSERT_NE(m, nullptr);
  gint64 ms = 0, ahead = 0;
  gst_structure_get_int64(gst_message_get_structure(m), "audio-end-ms", &ms);
  gst_structure_get_int64(gst_message_get_structure(m), "ahead-ms", &ahead);
  gst_message_unref(m);
  EXPECT_EQ(ms, 400);
  EXPECT_EQ(ahead, 200);
}

TEST(Harness, LiveBargeInTruncatesAtPlayedPosition) {
  Fixture f(true, [](GstElement *e) { g_object_set(e, "interrupt-response", FALSE, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  gst_harness_push_upstream_event(f.h, gst_event_new_latency(300 * MS));  // pipeline latency
  f.set_time(1 * GST_SECOND);
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 24000);  // 1 s .. 2 s, pushed 250 ms before it plays
  f.settle();
  f.advance_to(1500 * MS);
  // Pushed by 1.5 s: the 40 ms pieces due by then (stamped up to 1.25 s), 1.00 .. 1.28 s.
  GstClockTime end = 1 * GST_SECOND;
  while (end < 1280 * MS) {
    GstBuffer *b = wait_buffer(f.h);
    ASSERT_NE(b, nullptr) << "audio pushed up to " << end;
    end = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
    gst_buffer_unref(b);
  }
  s->event(T::SpeechStarted, "item_u2", "", 30000);
  f.settle();
  // Played by the clock: 1.5 s - 300 ms latency - 1 s first PTS = 200 ms; pushed (and so heard
  // in full): 280 ms. The model is told 280 ms, 80 ms ahead of the clock (lead 50 ms + at most a
  // 40 ms piece).
  EXPECT_TRUE(s->called("truncate:item_a:280"));
  EXPECT_TRUE(s->called("cancel_response"));  // the server will not interrupt by itself
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/truncated");
  ASSERT_NE(m, nullptr);
  gint64 ms = 0, ahead = 0, rt = 0;
  gst_structure_get_int64(gst_message_get_structure(m), "audio-end-ms", &ms);
  gst_structure_get_int64(gst_message_get_structure(m), "ahead-ms", &ahead);
  gst_structure_get_int64(gst_message_get_structure(m), "running-time", &rt);
  gst_message_unref(m);
  EXPECT_EQ(ms, 280);
  EXPECT_EQ(ahead, 80);
  EXPECT_EQ(rt, (gint64)(1280 * MS));
  // Later deltas of the interrupted response are dropped: once the GAP fill has gone on to
  // 2.8 s (now - latency), no audio was pushed after the truncation point.
  s->audio("resp_1", "item_a", 2400, 24000);
  f.settle();
  f.advance_to(3 * GST_SECOND);
  GstEvent *gap = wait_event(f.h, GST_EVENT_GAP, [](GstEvent *ev) {
    GstClockTime ts, dur;
    gst_event_parse_gap(ev, &ts, &dur);
    return ts + dur >= 2800 * MS;
  });
  ASSERT_NE(gap, nullptr);
  gst_event_unref(gap);
  while (GstBuffer *b = gst_harness_try_pull(f.h)) {
    EXPECT_LT(GST_BUFFER_PTS(b), 1280 * MS);
    gst_buffer_unref(b);
  }
}

TEST(Harness, LiveBargeInAfterPlaybackDoesNothing) {
  Fixture f(true);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  f.set_time(1 * GST_SECOND);
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 2400);  // 100 ms
  s->event(T::ResponseDone, "", "resp_1");
  f.settle();
  f.advance_to(3 * GST_SECOND);
  for (GstClockTime end = 0; end < 1100 * MS;) {  // all of it pushed
    GstBuffer *b = wait_buffer(f.h);
    ASSERT_NE(b, nullptr);
    end = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
    gst_buffer_unref(b);
  }
  s->event(T::SpeechStarted, "item_u2", "", 60000);
  f.settle();
  EXPECT_FALSE(s->called("truncate"));
}

TEST(Harness, FunctionCallSignalRoundTrip) {
  Fixture f(true, [](GstElement *e) {
    g_object_set(e, "tools",
                 "[{\"type\":\"function\",\"name\":\"static_tool\",\"parameters\":{},\"result\":{\"temp\":20}},"
                 "{\"type\":\"function\",\"name\":\"get_weather_for_location\",\"parameters\":{}}]",
                 NULL);
  });
  FakeSession *s = f.fake();
  struct Seen {
    std::string name, call_id, args;
    GThread *thread = nullptr;
  } seen;
  gulong id = g_signal_connect(
      f.e, "function-call",
      G_CALLBACK(+[](GstElement *e, const gchar *name, const gchar *call_id, const gchar *args, gpointer ud) -> gboolean {
        auto *sn = static_cast<Seen *>(ud);
        if (g_strcmp0(name, "get_weather_for_location") != 0) return FALSE;
        sn->name = name;
        sn->call_id = call_id;
        sn->args = args;
        sn->thread = g_thread_self();
        g_signal_emit_by_name(e, "function-output", call_id, "{\"temperature\":21}");
        return TRUE;
      }),
      &seen);
  rtc::FunctionCall call;
  call.name = "get_weather_for_location";
  call.call_id = "call_1";
  call.arguments = "{\"location\":\"Paris\",\"unit\":\"c\"}";
  s->listener->on_function_call(call);
  f.settle();
  EXPECT_EQ(seen.name, "get_weather_for_location");
  EXPECT_EQ(seen.args, "{\"location\":\"Paris\",\"unit\":\"c\"}");
  EXPECT_NE(seen.thread, g_thread_self());  // emitted from the element's control thread
  EXPECT_TRUE(s->called("function_output:call_1:{\"temperature\":21}"));
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/function-call");
  ASSERT_NE(m, nullptr);
  gst_message_unref(m);
  // No handler answers: the static result from `tools`.
  call.name = "static_tool";
  call.call_id = "call_2";
  s->listener->on_function_call(call);
  f.settle();
  EXPECT_TRUE(s->called("function_output:call_2:{\"temp\":20}"));
  // Nobody answers and no static result: nothing sent, a warning.
  call.name = "unknown_tool";
  call.call_id = "call_3";
  s->listener->on_function_call(call);
  f.settle();
  EXPECT_FALSE(s->called("function_output:call_3"));
  GstMessage *w = f.pop_message(GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr);
  gst_message_unref(w);
  g_signal_handler_disconnect(f.e, id);
}

TEST(Harness, ActionSignals) {
  Fixture f(true);
  FakeSession *s = f.fake();
  g_signal_emit_by_name(f.e, "commit");
  g_signal_emit_by_name(f.e, "clear");
  g_signal_emit_by_name(f.e, "create-response", "Say: hi");
  g_signal_emit_by_name(f.e, "create-response", NULL);
  g_signal_emit_by_name(f.e, "cancel-response");
  g_signal_emit_by_name(f.e, "send-text", "Hello");
  auto calls = s->get_calls();
  for (const char *want : {"commit", "clear", "create_response:Say: hi", "create_response:", "cancel_response",
                           "send_text:Hello:1"})
    EXPECT_NE(std::find(calls.begin(), calls.end(), std::string(want)), calls.end()) << want;
}

TEST(Harness, EosDrainWaitsForResponseInFlight) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);
  s->event(T::ResponseCreated, "", "resp_1");
  f.settle();
  std::thread eos([&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  ASSERT_TRUE(still_waiting(f, "the responses"));
  auto before = collect_until_eos(f.h, 10);
  EXPECT_FALSE(has_eos(before));  // still draining
  s->audio("resp_1", "item_a", 24000);
  s->event(T::ResponseDone, "", "resp_1");
  eos.join();
  auto items = collect_until_eos(f.h);
  ASSERT_TRUE(has_eos(items));
  auto samples = samples_of(buffers_of(before));
  auto after = samples_of(buffers_of(items));
  samples.insert(samples.end(), after.begin(), after.end());
  EXPECT_EQ(samples.size(), 12000u + 24000u);  // answer placed at 0.5 s, output extends past the input
}

TEST(Harness, EosWithDeadServerDoesNotWaitForDrainTimeout) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 600000, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 500);
  s->event(T::ResponseCreated, "", "resp_1");
  f.settle();
  s->st = rtc::SessionState::Failed;
  s->pending = true;
  gst_harness_push_event(f.h, gst_event_new_eos());  // returns although the response never completes
  EXPECT_TRUE(has_eos(collect_until_eos(f.h)));
}

TEST(Harness, EosDrainTimeout) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 200, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 500);
  s->event(T::ResponseCreated, "", "resp_1");
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_eos());
  EXPECT_TRUE(has_eos(collect_until_eos(f.h)));
}

TEST(Harness, EosCommitsPendingInputInManualMode) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "turn-detection", 2, "drain-timeout", 300, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto calls = s->get_calls();
  auto pos = [&](const std::string &c) { return std::find(calls.begin(), calls.end(), c) - calls.begin(); };
  ASSERT_LT(pos("commit"), (long)calls.size());
  EXPECT_LT(pos("flush_audio"), pos("commit"));
  EXPECT_LT(pos("commit"), pos("create_response:"));
}

TEST(Harness, InputHolesAndGapsAreFilledForTheSession) {
  Fixture f(true);
  FakeSession *s = f.fake();
  f.push_input(0, 500);
  f.push_input(1000 * MS, 500, 0, 100, true);  // 500 ms hole (DISCONT)
  EXPECT_EQ(s->pushed_bytes(), 1500u * 48);
  gst_harness_push_event(f.h, gst_event_new_gap(1500 * MS, 250 * MS));
  EXPECT_EQ(s->pushed_bytes(), 1750u * 48);
  // Events are positioned through the map: input sample 36000 is running time 1.5 s.
  s->event(T::SpeechStopped, "item_u", "", -1, 36000);
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/speech-stopped");
  ASSERT_NE(m, nullptr);
  gint64 rt = 0;
  gst_structure_get_int64(gst_message_get_structure(m), "running-time", &rt);
  EXPECT_EQ(rt, (gint64)(1500 * MS));
  gst_message_unref(m);
}

TEST(Harness, FlushClearsAndResumes) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 24000);  // held: beyond what the server reported on
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_flush_start());
  gst_harness_push_event(f.h, gst_event_new_flush_stop(TRUE));
  EXPECT_TRUE(s->called("cancel_response"));
  EXPECT_TRUE(s->called("clear"));
  // Late audio of the flushed response is dropped; new data flows after a new segment.
  s->audio("resp_1", "item_a", 2400, 24000);
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_harness_push_event(f.h, gst_event_new_segment(&seg));
  f.push_input(0, 500);
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto items = collect_until_eos(f.h);
  ASSERT_TRUE(has_eos(items));
  bool flush_seen = false;
  for (auto &i : items)
    if (i->ev && GST_EVENT_TYPE(i->ev) == GST_EVENT_FLUSH_STOP) flush_seen = true;
  EXPECT_TRUE(flush_seen);
  auto samples = samples_of(buffers_of(items));
  for (int16_t v : samples) ASSERT_EQ(v, 0);  // only silence: the flushed answer is gone
}

TEST(Harness, UnlinkedTextPadsDoNotStopAudio) {
  Fixture f(false, {}, /*text_pads=*/false);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);
  s->event(T::ResponseCreated, "", "resp_1");
  s->event(T::AudioTranscriptDelta, "item_a", "resp_1", -1, -1, "Hi");
  s->audio("resp_1", "item_a", 2400);
  s->event(T::ResponseDone, "", "resp_1");
  s->event(T::InputTranscriptionCompleted, "item_u", "", 0, 12000, "hello");
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto items = collect_until_eos(f.h);
  ASSERT_TRUE(has_eos(items));
  EXPECT_EQ(samples_of(buffers_of(items)).size(), 24000u);
}

TEST(Harness, FatalAuthErrorPostsNotAuthorized) {
  Fixture f(true);
  rtc::SessionError err;
  err.cls = rtc::ErrorClass::Fatal;
  err.http_status = 401;
  err.code = "invalid_api_key";
  err.message = "Incorrect API key provided.";
  f.fake()->listener->on_error(err);
  GstMessage *m = f.pop_message(GST_MESSAGE_ERROR);
  ASSERT_NE(m, nullptr);
  GError *gerr = nullptr;
  gst_message_parse_error(m, &gerr, NULL);
  EXPECT_TRUE(g_error_matches(gerr, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED));
  EXPECT_NE(std::string(gerr->message).find("401"), std::string::npos);
  g_error_free(gerr);
  gst_message_unref(m);
  // Streaming stops with an error flow (once the notification is processed: the message first).
  f.settle();
  GstBuffer *b = gst_buffer_new_allocate(NULL, 480, NULL);
  EXPECT_EQ(gst_harness_push(f.h, b), GST_FLOW_ERROR);
}

TEST(Harness, ServerWarningIsAMessage) {
  Fixture f(true);
  rtc::SessionError err;
  err.cls = rtc::ErrorClass::Warning;
  err.code = "invalid_value";
  err.message = "bad voice";
  err.client_event_type = "session.update";
  f.fake()->listener->on_error(err);
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/server-error");
  ASSERT_NE(m, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(m), "event-type"), "session.update");
  gst_message_unref(m);
  f.push_input(0, 100);  // streaming continues
}

TEST(Harness, MessagesForSessionResponseAndReconnect) {
  Fixture f(true);
  FakeSession *s = f.fake();
  rtc::ServerEvent ev;
  ev.type = T::SessionCreated;
  ev.session.id = "sess_1";
  ev.session.model = "gpt-realtime";
  s->listener->on_server_event(ev, {});
  s->event(T::ResponseCreated, "", "resp_9");
  s->response_done("resp_9", {}, 1234);  // the engine's per-response TTFA (µs) in the context
  s->listener->on_reconnecting(1, 250, "close 1011");
  s->listener->on_reconnected(3, false);
  f.settle();
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/session");
  ASSERT_NE(m, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(m), "id"), "sess_1");
  gst_message_unref(m);
  gchar *sid = nullptr;
  g_object_get(f.e, "session-id", &sid, NULL);
  EXPECT_STREQ(sid, "sess_1");
  g_free(sid);
  m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/response-done");
  ASSERT_NE(m, nullptr);
  gint64 ttfa = 0;
  gst_structure_get_int64(gst_message_get_structure(m), "time-to-first-audio", &ttfa);
  EXPECT_EQ(ttfa, 1234000);
  gst_message_unref(m);
  m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/reconnecting");
  ASSERT_NE(m, nullptr);
  gst_message_unref(m);
  m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/reconnected");
  ASSERT_NE(m, nullptr);
  gint items = 0;
  gst_structure_get_int(gst_message_get_structure(m), "items-replayed", &items);
  EXPECT_EQ(items, 3);
  gst_message_unref(m);
}

TEST(Harness, CapsChooseSessionFormats) {
  Fixture f(true, {}, true, "audio/x-mulaw,rate=8000,channels=1");
  // The session was restarted with the negotiated input format.
  ASSERT_TRUE(wait_until([&] { return f.holder->created >= 2; }));
  EXPECT_EQ(f.fake()->cfg.session.input_format, rtc::AudioFormat::G711_ULAW);
  f.push_input(0, 100);  // (pcm-sized buffers are fine: only the byte count matters here)
}

TEST(Harness, StateChangesDuringClockWaitDoNotHang) {
  for (int i = 0; i < 5; i++) {
    Fixture f(true);
    f.push_input(0, 500);
    f.set_time(GST_SECOND);
    // Each state change on a helper thread, bounded: a hang fails with its name (watchdog).
    for (GstState to : {GST_STATE_PAUSED, GST_STATE_PLAYING, GST_STATE_READY, GST_STATE_PLAYING}) {
      GstStateChangeReturn r = GST_STATE_CHANGE_FAILURE;
      rtctest::must_return_within(10s, std::string("set_state(") + gst_element_state_get_name(to) + ")",
                                  [&] { r = gst_element_set_state(f.e, to); });
      EXPECT_EQ(r, GST_STATE_CHANGE_SUCCESS) << gst_element_state_get_name(to);
    }
  }
}

TEST(Harness, StateChangeDuringNonLiveTurnWaitDoesNotHang) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 500);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);  // the element now waits for the answer
  f.settle();
  std::atomic<bool> pushed{false};
  std::thread pusher([&] {
    GstBuffer *b = gst_buffer_new_allocate(NULL, 4800, NULL);
    GST_BUFFER_PTS(b) = 500 * MS;
    gst_harness_push(f.h, b);  // blocks until the answer, a flush or a state change
    pushed = true;
  });
  ASSERT_TRUE(still_waiting(f, "turn")) << "the input did not wait for the turn's answer";
  // The state change on a helper thread, bounded: if it hangs (it would wait for the blocked
  // streaming thread), the watchdog fails the test with this name instead of a meson timeout.
  GstStateChangeReturn r = GST_STATE_CHANGE_FAILURE;
  rtctest::must_return_within(10s, "set_state(READY) during the non-live turn wait",
                              [&] { r = gst_element_set_state(f.e, GST_STATE_READY); });
  EXPECT_EQ(r, GST_STATE_CHANGE_SUCCESS);
  const bool released = wait_until([&] { return pushed.load(); }, 5000);
  if (!released) s->event(T::ResponseDone, "", "");  // unblock it, so the failure is not a hang
  EXPECT_TRUE(released) << "the state change did not release the blocked input";
  pusher.join();
}


// ---------------------------------------------------------------------------------------------
// Src pads: preroll, segments, serialized events
// ---------------------------------------------------------------------------------------------

// Every src pad gets a GAP at the start of the output as soon as it is known, before any data:
// a sink on a text pad prerolls without waiting for the first transcript.
TEST(SrcPads, InitialGapOnEverySrcPad) {
  Fixture f(false);
  f.push_input(0, 200);
  for (GstHarness *h : {f.h, f.ht, f.hc}) {
    GstEvent *gap = wait_event(h, GST_EVENT_GAP, [](GstEvent *ev) {
      GstClockTime ts, dur;
      gst_event_parse_gap(ev, &ts, &dur);
      return ts == 0 && dur == 0;
    });
    ASSERT_NE(gap, nullptr);
    gst_event_unref(gap);
  }
}

// Items queued before a new segment keep the previous segment: every buffer on src has a valid
// running time in the segment it is pushed in, and the new segment comes after them.
TEST(SrcPads, NewSegmentIsPushedWhenTheDataReachesIt) {
  struct Seen {
    std::mutex m;
    GstSegment seg;
    std::vector<std::tuple<GstClockTime, guint64, GstClockTime>> bufs;  // running time, pts, duration
    int segments = 0;
  } seen;
  gst_segment_init(&seen.seg, GST_FORMAT_TIME);
  // The probe goes in before the element starts: its initial SEGMENT must not be missed.
  Fixture f(false, [&seen](GstElement *e) {
    GstPad *src = gst_element_get_static_pad(e, "src");
    gst_pad_add_probe(
        src, (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        [](GstPad *, GstPadProbeInfo *info, gpointer ud) -> GstPadProbeReturn {
          auto *sn = static_cast<Seen *>(ud);
          std::lock_guard<std::mutex> g(sn->m);
          if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
            GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
            sn->bufs.emplace_back(gst_segment_to_running_time(&sn->seg, GST_FORMAT_TIME, GST_BUFFER_PTS(b)),
                                  GST_BUFFER_PTS(b), GST_BUFFER_DURATION(b));
          } else if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_SEGMENT) {
            const GstSegment *sg;
            gst_event_parse_segment(GST_PAD_PROBE_INFO_EVENT(info), &sg);
            gst_segment_copy_into(sg, &sn->seg);
            sn->segments++;
          }
          return GST_PAD_PROBE_OK;
        },
        &seen, NULL);
    gst_object_unref(src);
  });
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);  // 0.5 s
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 12000);  // 0.5 .. 1.0 s, held (non-live frontier at 0.5 s)
  s->event(T::ResponseDone, "", "resp_1");
  f.settle();
  // A new segment: position 10 s from running time 1 s on.
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  seg.start = 10 * GST_SECOND;
  seg.time = 10 * GST_SECOND;
  seg.base = 1 * GST_SECOND;
  gst_harness_push_event(f.h, gst_event_new_segment(&seg));
  f.push_input(10 * GST_SECOND, 1000);
  gst_harness_push_event(f.h, gst_event_new_eos());
  ASSERT_TRUE(has_eos(collect_until_eos(f.h)));
  std::lock_guard<std::mutex> g(seen.m);
  EXPECT_EQ(seen.segments, 2);
  GstClockTime expect = 0;
  for (auto &b : seen.bufs) {
    const GstClockTime rt = std::get<0>(b), pts = std::get<1>(b);
    ASSERT_NE(rt, GST_CLOCK_TIME_NONE) << "pts " << pts;
    EXPECT_EQ(rt, expect);
    expect = rt + std::get<2>(b);
    if (rt >= 1 * GST_SECOND) {
      EXPECT_GE(pts, 10 * GST_SECOND);
    }
  }
  EXPECT_EQ(expect, 2 * GST_SECOND);
}

// Serialized upstream events are forwarded on src, in order with the audio.
TEST(SrcPads, SerializedEventsForwardedInOrder) {
  Fixture f(false);
  struct Seen {
    std::mutex m;
    GstClockTime end_before_custom = GST_CLOCK_TIME_NONE;
    GstClockTime end = 0;
    bool tag = false;
  } seen;
  GstPad *src = gst_element_get_static_pad(f.e, "src");
  gst_pad_add_probe(
      src, (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      [](GstPad *, GstPadProbeInfo *info, gpointer ud) -> GstPadProbeReturn {
        auto *sn = static_cast<Seen *>(ud);
        std::lock_guard<std::mutex> g(sn->m);
        if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
          GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
          sn->end = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
        } else {
          GstEvent *e = GST_PAD_PROBE_INFO_EVENT(info);
          if (GST_EVENT_TYPE(e) == GST_EVENT_CUSTOM_DOWNSTREAM) sn->end_before_custom = sn->end;
          if (GST_EVENT_TYPE(e) == GST_EVENT_TAG) sn->tag = true;
        }
        return GST_PAD_PROBE_OK;
      },
      &seen, NULL);
  gst_object_unref(src);
  f.push_input(0, 1000);
  gst_harness_push_event(f.h, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM,
                                                   gst_structure_new_empty("test/marker")));
  gst_harness_push_event(f.h, gst_event_new_tag(gst_tag_list_new(GST_TAG_TITLE, "t", NULL)));
  f.push_input(1000 * MS, 1000);
  gst_harness_push_event(f.h, gst_event_new_eos());
  ASSERT_TRUE(has_eos(collect_until_eos(f.h)));
  std::lock_guard<std::mutex> g(seen.m);
  EXPECT_EQ(seen.end_before_custom, 1 * GST_SECOND);
  EXPECT_TRUE(seen.tag);
}

// ---------------------------------------------------------------------------------------------
// Errors: the element's ERROR is the first one, in the right domain
// ---------------------------------------------------------------------------------------------

// The first ERROR on the bus is the element's actionable one, not upstream's "Internal data
// stream error" caused by the GST_FLOW_ERROR it returns.
TEST(Errors, FatalErrorIsTheFirstErrorOnTheBus) {
  for (int round = 0; round < 5; round++) {
    GstElement *pipe = gst_pipeline_new(NULL);
    GstElement *src = gst_element_factory_make("audiotestsrc", NULL);
    GstElement *cf = gst_element_factory_make("capsfilter", NULL);
    GstElement *conv = gst_element_factory_make("realtimeconv", NULL);
    GstElement *sink = gst_element_factory_make("fakesink", NULL);
    auto holder = install_fake(conv);
    g_object_set(src, "samplesperbuffer", 480, NULL);
    GstCaps *caps = gst_caps_from_string(kPcmCaps);
    g_object_set(cf, "caps", caps, NULL);
    gst_caps_unref(caps);
    g_object_set(sink, "sync", FALSE, NULL);
    gst_bin_add_many(GST_BIN(pipe), src, cf, conv, sink, NULL);
    ASSERT_TRUE(gst_element_link_many(src, cf, conv, sink, NULL));
    gst_element_set_state(pipe, GST_STATE_PLAYING);
    ASSERT_TRUE(wait_until([&] { return holder->get() != nullptr; }));
    FakeSession *s = holder->get();
    s->st = rtc::SessionState::Connecting;  // the (non-live) input now waits for the session
    ASSERT_TRUE(wait_until([&] { return gst_realtimeconv_waiting_for(conv, nullptr) != nullptr; }))
        << "the input never waited for the session";
    rtc::SessionError err;
    err.cls = rtc::ErrorClass::Fatal;
    err.http_status = 401;
    err.code = "invalid_api_key";
    err.message = "Incorrect API key provided.";
    s->listener->on_error(err);
    GstBus *bus = gst_element_get_bus(pipe);
    GstMessage *m = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_ERROR);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(GST_MESSAGE_SRC(m), GST_OBJECT(conv));
    GError *gerr = nullptr;
    gst_message_parse_error(m, &gerr, NULL);
    EXPECT_TRUE(g_error_matches(gerr, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED)) << gerr->message;
    g_error_free(gerr);
    gst_message_unref(m);
    gst_object_unref(bus);
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(pipe);
  }
}

TEST(Errors, TlsAndEndpointErrorsAreSettings) {
  for (const char *code : {"tls", "endpoint"}) {
    Fixture f(true);
    rtc::SessionError err;
    err.cls = rtc::ErrorClass::Fatal;
    err.code = code;
    err.message = "x";
    f.fake()->listener->on_error(err);
    GstMessage *m = f.pop_message(GST_MESSAGE_ERROR);
    ASSERT_NE(m, nullptr);
    GError *gerr = nullptr;
    gst_message_parse_error(m, &gerr, NULL);
    EXPECT_TRUE(g_error_matches(gerr, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS)) << code;
    g_error_free(gerr);
    gst_message_unref(m);
  }
}

// ---------------------------------------------------------------------------------------------
// Caps: session formats across restarts
// ---------------------------------------------------------------------------------------------

// A restart for a new input format keeps the output format chosen at the first start.
TEST(Caps, OutputFormatKeptOnRestart) {
  Fixture f(true);
  ASSERT_NE(f.fake(), nullptr);
  EXPECT_EQ(f.fake()->cfg.session.output_format, rtc::AudioFormat::PCM16);
  gst_harness_set_sink_caps_str(f.h, "audio/x-mulaw,rate=8000,channels=1");  // downstream changes its mind
  int before = f.holder->created;
  gst_harness_set_src_caps_str(f.h, "audio/x-alaw,rate=8000,channels=1");
  ASSERT_TRUE(wait_until([&] { return f.holder->created > before; }));
  EXPECT_EQ(f.fake()->cfg.session.input_format, rtc::AudioFormat::G711_ALAW);
  EXPECT_EQ(f.fake()->cfg.session.output_format, rtc::AudioFormat::PCM16);
}

// ---------------------------------------------------------------------------------------------
// Back-pressure (non-live): the engine's unsent bytes, bounded by drain-timeout
// ---------------------------------------------------------------------------------------------

// Non-live back-pressure uses the engine's unsent bytes, bounded by drain-timeout.
TEST(BackPressure, NonLiveBackPressureOnUnsentBytes) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 100);
  s->unsent = 2 * 48000;  // 2 s not sent yet
  Bg push([&] { f.push_input(100 * MS, 100); });
  ASSERT_TRUE(still_waiting(f, "back-pressure"));
  EXPECT_FALSE(push.done.load());
  s->unsent = 48000;  // 1 s: enough room
  EXPECT_TRUE(push.wait(2000));
}

TEST(BackPressure, NonLiveBackPressureHasADeadline) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 300, NULL); });
  FakeSession *s = f.fake();
  s->unsent = 10 * 48000;  // never sent
  Bg push([&] { f.push_input(0, 100); });
  EXPECT_TRUE(push.wait(3000));
}

// ---------------------------------------------------------------------------------------------
// Turn wait (non-live): the input waits for the answer of its turn
// ---------------------------------------------------------------------------------------------

// Non-live: the input waits for the answer of the turn until THAT response is done (not its
// creation, not another response's done), so the next utterance cannot cancel it.
TEST(TurnWait, NonLiveTurnWaitEndsWithItsResponseDone) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);
  f.settle();
  Bg push([&] { f.push_input(1000 * MS, 100); });
  s->event(T::ResponseCreated, "", "resp_1");
  f.settle();
  ASSERT_TRUE(still_waiting(f, "turn"));
  EXPECT_FALSE(push.done.load());  // created is not done
  s->event(T::ResponseCreated, "", "resp_other");
  s->event(T::ResponseDone, "", "resp_other");
  f.settle();
  ASSERT_TRUE(still_waiting(f, "turn"));
  EXPECT_FALSE(push.done.load());  // another response's done
  s->event(T::ResponseDone, "", "resp_1");
  EXPECT_TRUE(push.wait(2000));
}

// Non-live input gate: the barrier's answer releases the next question only once the control
// thread has handled what the server said before it. Here the control thread is busy (a
// function-call handler) while the server's speech_stopped of turn 1 and the barrier's answer come
// in: taking the answer alone, the gate saw no turn and let question 2 out while the server was
// about to answer turn 1 (a file's later question would then cut its earlier reply).
TEST(TurnWait, GateBarrierHandlesWhatCameBeforeItsAnswer) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "silence-duration-ms", 500, "drain-timeout", 600000, NULL); });
  FakeSession *s = f.fake();
  s->auto_ack = false;
  f.push_input(0, 500, 10000);        // question 1
  f.push_input(500 * MS, 600);        // a pause longer than the server's silence window
  Bg push([&] { f.push_input(1100 * MS, 100, 10000); });  // question 2's onset: held
  CtlBlocker ctl(f);  // destroyed before `push` is joined
  ASSERT_TRUE(wait_until([&] { return s->issued.load() == 1u; }, 3000)) << "the gate sent no barrier";
  ctl.block();  // the control thread is busy from now on
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 1000);
  s->answered = 1;  // the barrier is answered after them
  ASSERT_TRUE(still_waiting(f, "gate"));
  EXPECT_FALSE(push.done.load()) << "question 2 went out before turn 1's speech_stopped was handled";
  ctl.release();
  ASSERT_TRUE(still_waiting(f, "turn"));
  EXPECT_FALSE(push.done.load());
  s->event(T::ResponseCreated, "", "resp_1");
  s->event(T::ResponseDone, "", "resp_1");
  EXPECT_TRUE(push.wait(3000));
}

// ---------------------------------------------------------------------------------------------
// EOS drain: send the input, commit, wait for the responses asked for
// ---------------------------------------------------------------------------------------------

// EOS: "all input sent" is input_unsent_bytes() == 0, then the commit.
TEST(EosDrain, EosWaitsUntilTheInputIsSent) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "turn-detection", 2, "drain-timeout", 5000, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->unsent = 100;
  Bg eos([&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  ASSERT_TRUE(still_waiting(f, "sending the input"));
  EXPECT_FALSE(s->called("commit"));
  s->unsent = 0;
  ASSERT_TRUE(wait_until([&] { return s->called("commit"); }, 2000));
  s->event(T::ResponseCreated, "", "resp_1");
  s->event(T::ResponseDone, "", "resp_1");
  EXPECT_TRUE(eos.wait(3000));
}

// EOS: a rejected session.update is an acknowledgement too: no wait for drain-timeout, and the
// pending input is committed.
TEST(EosDrain, EosDrainRejectedUpdateStillCommitsAtOnce) {
  // drain-timeout at its maximum: a commit only after the acknowledgement's timeout would come
  // 10 minutes later, so the bounded wait below fails instead of measuring a duration.
  Fixture f(false, [](GstElement *e) { g_object_set(e, "turn-detection", 2, "drain-timeout", 600000, NULL); });
  FakeSession *s = f.fake();
  s->auto_ack = false;
  s->reject_updates = true;
  f.push_input(0, 1000);
  Bg eos([&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  ASSERT_TRUE(wait_until([&] { return s->called("commit"); }, 10000)) << "the commit waited for the ack timeout";
  EXPECT_TRUE(s->called("create_response:"));
  s->event(T::ResponseCreated, "", "resp_1");
  s->event(T::ResponseDone, "", "resp_1");
  EXPECT_TRUE(eos.wait(3000));
}

// EOS: even when the acknowledgement never comes (timeout), the pending input is committed.
TEST(EosDrain, EosDrainCommitsAfterAckTimeout) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "turn-detection", 2, "drain-timeout", 300, NULL); });
  FakeSession *s = f.fake();
  s->auto_ack = false;
  f.push_input(0, 1000);
  gst_harness_push_event(f.h, gst_event_new_eos());
  EXPECT_TRUE(s->called("commit"));
  EXPECT_TRUE(s->called("create_response:"));
  EXPECT_TRUE(has_eos(collect_until_eos(f.h)));
}

// EOS: the drain waits for the answer of ITS session.update (its ticket), not for the answer of
// an update sent before it and still in flight (here a property change; in a file, the input
// gate's barrier): that answer says nothing about the appends sent after it, and ending the drain
// on it dropped the reply to the file's last turn (issue 11, E2E/FileTurns, seen in CI).
TEST(EosDrain, EosDrainWaitsForItsOwnUpdateNotAnEarlierOne) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "turn-detection", 2, "drain-timeout", 600000, NULL); });
  FakeSession *s = f.fake();
  s->auto_ack = false;
  f.push_input(0, 1000);
  g_object_set(f.e, "instructions", "Be brief.", NULL);  // an update in flight: ticket 1
  ASSERT_EQ(s->issued.load(), 1u);
  Bg eos([&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  ASSERT_TRUE(wait_until([&] { return s->issued.load() == 2u; }, 3000)) << "the drain sent no session.update";
  s->answered = 1;  // the earlier update is answered, the drain's own is not
  ASSERT_TRUE(still_waiting(f, "the server's acknowledgement"));
  EXPECT_FALSE(s->called("commit")) << "the drain took an earlier update's answer for its own";
  s->answered = 2;
  ASSERT_TRUE(wait_until([&] { return s->called("commit"); }, 3000));
  s->event(T::ResponseCreated, "", "resp_1");
  s->event(T::ResponseDone, "", "resp_1");
  EXPECT_TRUE(eos.wait(3000));
}

// EOS: the drain goes on from its barrier's answer only once the control thread has handled what
// the server said before that answer. Here the control thread is busy (a function-call handler)
// while the last turn's speech_stopped and the answer come in: taking the answer alone, the drain
// saw no turn to wait for and ended the stream before the reply to that turn.
TEST(EosDrain, EosDrainHandlesWhatCameBeforeItsAnswer) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 600000, NULL); });
  FakeSession *s = f.fake();
  s->auto_ack = false;
  f.push_input(0, 1000);
  Bg eos([&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  CtlBlocker ctl(f);  // destroyed before `eos` is joined
  ASSERT_TRUE(wait_until([&] { return s->issued.load() == 1u; }, 3000)) << "the drain sent no session.update";
  ctl.block();  // the control thread is busy from now on
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);
  s->answered = 1;  // the drain's update is answered after them
  ASSERT_TRUE(still_waiting(f, "the server's acknowledgement"));
  EXPECT_FALSE(eos.done.load());
  ctl.release();
  ASSERT_TRUE(still_waiting(f, "the responses")) << "the drain did not wait for the turn's answer";
  EXPECT_FALSE(eos.done.load());
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 2400);
  s->event(T::ResponseDone, "", "resp_1");
  ASSERT_TRUE(eos.wait(3000));
  bool found = false;
  auto items = collect_until_eos(f.h);
  for (GstBuffer *b : buffers_of(items)) {
    GstRealtimeConvMeta *m = gst_buffer_get_realtime_conv_meta(b);
    if (m && g_strcmp0(m->response_id, "resp_1") == 0) found = true;
  }
  EXPECT_TRUE(found) << "the reply to the last turn is missing";
}

// EOS drain: another response's done does not end the wait for the response EOS asked for.
TEST(EosDrain, EosDrainWaitsForTheResponseItRequested) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "turn-detection", 2, "drain-timeout", 5000, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::ResponseCreated, "", "resp_old");  // in progress before EOS
  f.settle();
  Bg eos([&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  ASSERT_TRUE(wait_until([&] { return s->called("create_response:"); }, 3000));
  s->event(T::ResponseDone, "", "resp_old");
  f.settle();
  ASSERT_TRUE(still_waiting(f, "the responses"));
  EXPECT_FALSE(eos.done.load());
  s->event(T::ResponseCreated, "", "resp_eos");
  s->audio("resp_eos", "item_a", 2400);
  s->event(T::ResponseDone, "", "resp_eos");
  ASSERT_TRUE(eos.wait(3000));
  bool found = false;
  auto items = collect_until_eos(f.h);
  for (GstBuffer *b : buffers_of(items)) {
    GstRealtimeConvMeta *m = gst_buffer_get_realtime_conv_meta(b);
    if (m && g_strcmp0(m->response_id, "resp_eos") == 0) found = true;
  }
  EXPECT_TRUE(found);
}

// ---------------------------------------------------------------------------------------------
// Bounded queues: inbox and text
// ---------------------------------------------------------------------------------------------

// The inbox is bounded: with the control thread blocked, response audio beyond 60 s is dropped,
// counted in the stats and warned about.
TEST(Queues, InboxAudioIsBounded) {
  Fixture f(true);
  FakeSession *s = f.fake();
  CtlBlocker ctl(f);
  ctl.block();
  s->event(T::ResponseCreated, "", "resp_1");
  for (int i = 0; i < 62; i++) s->audio("resp_1", "item_a", 24000, (int64_t)i * 24000);  // 62 s
  // (the call, the created, 60 s of audio and one overflow notice)
  EXPECT_LE(gst_realtimeconv_pending_notifications(f.e), 63u);
  ctl.release();
  f.settle();
  GstStructure *st = nullptr;
  g_object_get(f.e, "stats", &st, NULL);
  ASSERT_NE(st, nullptr);
  guint64 dropped = 0;
  EXPECT_TRUE(gst_structure_get_uint64(st, "output-audio-dropped", &dropped));
  EXPECT_EQ(dropped, 2 * GST_SECOND);
  gst_structure_free(st);
  GstMessage *w = f.pop_message(GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr);
  gst_message_unref(w);
}

// The text queues are bounded (oldest dropped).
TEST(Queues, TextQueueIsBounded) {
  Fixture f(false);
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::ResponseCreated, "", "resp_1");
  for (int i = 0; i < 1100; i++)
    s->event(T::AudioTranscriptDelta, "item_a", "resp_1", -1, -1, "w" + std::to_string(i) + " ");
  s->event(T::ResponseDone, "", "resp_1");
  f.settle();
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto titems = collect_until_eos(f.ht);
  auto tb = buffers_of(titems);
  ASSERT_EQ(tb.size(), 1000u);
  EXPECT_EQ(text_of(tb.front()), "w100 ");  // the oldest were dropped
}

// ---------------------------------------------------------------------------------------------
// Output audio: whole frames, no empty buffers
// ---------------------------------------------------------------------------------------------

// A delta with an odd number of bytes is cut to whole frames.
TEST(OutputAudio, OddSizedDeltaIsCutToWholeFrames) {
  Fixture f(true);
  FakeSession *s = f.fake();
  f.push_input(0, 500);
  f.set_time(1 * GST_SECOND);
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio_bytes("resp_1", "item_a", 1001);
  f.settle();
  f.advance_to(1500 * MS);
  size_t bytes = 0;
  GstClockTime dur = 0;
  while (bytes < 1000) {  // pushed in 20 ms pieces (live)
    GstBuffer *b = wait_buffer(f.h);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(gst_buffer_get_size(b) % 2, 0u);
    bytes += gst_buffer_get_size(b);
    dur += GST_BUFFER_DURATION(b);
    gst_buffer_unref(b);
  }
  EXPECT_EQ(bytes, 1000u);
  EXPECT_NEAR((double)dur, (double)gst_util_uint64_scale_int_round(500, GST_SECOND, 24000), 2.0);
}

// ---------------------------------------------------------------------------------------------
// Barge-in
// ---------------------------------------------------------------------------------------------

// Non-live: speech starting just after a buffer's start of the reply cuts nothing, and no empty
// buffer is ever pushed.
TEST(BargeIn, BargeInNeverPushesEmptyBuffers) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 1000, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 2000);
  // The input jumps back to 1.50001 s (DISCONT): input sample 48000 is running time 1.50001 s.
  f.push_input(1500 * MS + 10 * GST_USECOND, 1000, 0, 100, true);
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 24000);  // 1 s
  s->event(T::ResponseCreated, "", "resp_1");
  s->audio("resp_1", "item_a", 12000, 0);      // 1.0 .. 1.5 s
  s->audio("resp_1", "item_a", 12000, 12000);  // 1.5 .. 2.0 s
  s->event(T::ResponseDone, "", "resp_1");
  s->event(T::SpeechStarted, "item_u2", "", 48000);  // 10 us after the second buffer's start
  f.settle();
  EXPECT_FALSE(s->called("truncate"));  // non-live: later speech never cuts a reply
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto items = collect_until_eos(f.h);
  ASSERT_TRUE(has_eos(items));
  for (GstBuffer *b : buffers_of(items)) EXPECT_GT(gst_buffer_get_size(b), 0u) << GST_BUFFER_PTS(b);
}

// ---------------------------------------------------------------------------------------------
// Reconnect
// ---------------------------------------------------------------------------------------------

// Transcriptions awaited by the EOS drain are forgotten when the session reconnects.
TEST(Reconnect, ReconnectForgetsAwaitedTranscripts) {
  // drain-timeout at its maximum: waiting for the forgotten transcript would hold EOS for 10
  // minutes, so the bounded wait fails (through the watchdog) instead of measuring a duration.
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 600000, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::InputBufferCommitted, "item_u", "", 0, 12000);
  s->listener->on_reconnecting(1, 100, "close 1011");
  f.settle();
  rtctest::must_return_within(20s, "EOS drain (it waits for a transcript the reconnect forgot)",
                              [&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  EXPECT_TRUE(has_eos(collect_until_eos(f.h)));
}

// ---------------------------------------------------------------------------------------------
// Captions: positions on the input timeline
// ---------------------------------------------------------------------------------------------

// Manual turn detection: the caption pad is held at the input position of the last commit, so
// the caption of the committed audio keeps its timestamp.
TEST(Captions, ManualModeCaptionPadHeldAtLastCommit) {
  Fixture f(true, [](GstElement *e) { g_object_set(e, "turn-detection", 2, NULL); });
  FakeSession *s = f.fake();
  f.push_input(0, 2000);
  f.advance_to(2 * GST_SECOND);
  GstEvent *gap = wait_event(f.h, GST_EVENT_GAP, [](GstEvent *ev) {
    GstClockTime ts, dur;
    gst_event_parse_gap(ev, &ts, &dur);
    return ts + dur == 1800 * MS;
  });
  ASSERT_NE(gap, nullptr);
  gst_event_unref(gap);
  // The src task serves its pads in running-time order: once the transcript pad has its GAP up to
  // 1.8 s too, the caption pad has been considered up to there. It must not have moved past 0.
  GstEvent *tgap = wait_event(f.ht, GST_EVENT_GAP, [](GstEvent *ev) {
    GstClockTime ts, dur;
    gst_event_parse_gap(ev, &ts, &dur);
    return ts + dur == 1800 * MS;
  });
  ASSERT_NE(tgap, nullptr);
  gst_event_unref(tgap);
  while (GstEvent *ev = gst_harness_try_pull_event(f.hc)) {
    if (GST_EVENT_TYPE(ev) == GST_EVENT_GAP) {
      GstClockTime ts, dur;
      gst_event_parse_gap(ev, &ts, &dur);
      EXPECT_EQ(ts + dur, 0u) << "the caption pad went on before the commit";
    }
    gst_event_unref(ev);
  }
  s->event(T::InputBufferCommitted, "item_u", "", 0, 48000);
  s->event(T::InputTranscriptionCompleted, "item_u", "", 0, 48000, "hello");
  f.settle();
  GstBuffer *c = wait_buffer(f.hc);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(GST_BUFFER_PTS(c), 0u);
  EXPECT_EQ(GST_BUFFER_DURATION(c), 2 * GST_SECOND);
  gst_buffer_unref(c);
}

// Server milliseconds without an engine position are not mapped (they restart per session).
TEST(Captions, ServerMillisecondsWithoutPositionHaveNoRunningTime) {
  Fixture f(true);
  f.push_input(0, 2000);
  rtc::ServerEvent ev;
  ev.type = T::SpeechStopped;
  ev.item_id = "item_u";
  ev.audio_end_ms = 1000;
  f.fake()->listener->on_server_event(ev, {});
  GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/speech-stopped");
  ASSERT_NE(m, nullptr);
  gint64 rt = 0;
  gst_structure_get_int64(gst_message_get_structure(m), "running-time", &rt);
  EXPECT_EQ(rt, -1);
  gst_message_unref(m);
}

// ---------------------------------------------------------------------------------------------
// Latency query
// ---------------------------------------------------------------------------------------------

TEST(Latency, CaptionLatencyInLatencyQuery) {
  Fixture f(true, [](GstElement *e) { g_object_set(e, "caption-latency", 500, NULL); });
  GstQuery *q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_peer_query(f.h->sinkpad, q));
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency(q, &live, &min, &max);
  EXPECT_TRUE(live);
  EXPECT_EQ(min, 10 * MS + 200 * MS + 500 * MS);
  gst_query_unref(q);
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

// Issue 12 #4: invalid JSON in session-config / tools / tool-choice is refused when set, with a
// g_warning naming the property; the previous value is kept.
static void count_warning(const gchar *, GLogLevelFlags, const gchar *message, gpointer ud) {
  static_cast<std::vector<std::string> *>(ud)->push_back(message);
}

TEST(Harness, InvalidJsonPropertiesAreRefusedWhenSet) {
  GstElement *e = gst_element_factory_make("realtimeconv", NULL);
  ASSERT_NE(e, nullptr);
  std::vector<std::string> warnings;
  guint id = g_log_set_handler("realtimeconv", G_LOG_LEVEL_WARNING, count_warning, &warnings);
  g_object_set(e, "session-config", "{\"max_response_output_tokens\":5}", "tool-choice", "auto", "tools", "[]", NULL);
  ASSERT_TRUE(warnings.empty());
  g_object_set(e, "session-config", "{bad", NULL);
  g_object_set(e, "session-config", "[1,2]", NULL);
  g_object_set(e, "tool-choice", "{bad", NULL);
  g_object_set(e, "tools", "notjson", NULL);
  g_log_remove_handler("realtimeconv", id);
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_NE(warnings[0].find("'session-config'"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("'session-config'"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[2].find("'tool-choice'"), std::string::npos) << warnings[2];
  EXPECT_NE(warnings[3].find("'tools'"), std::string::npos) << warnings[3];
  gchar *sc = nullptr, *tc = nullptr, *tools = nullptr;
  g_object_get(e, "session-config", &sc, "tool-choice", &tc, "tools", &tools, NULL);
  EXPECT_STREQ(sc, "{\"max_response_output_tokens\":5}");
  EXPECT_STREQ(tc, "auto");
  EXPECT_STREQ(tools, "[]");
  g_free(sc);
  g_free(tc);
  g_free(tools);
  gst_object_unref(e);
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  // Use this binary's copy of the element (the test hooks live in it).
  GST_ELEMENT_REGISTER(realtimeconv, NULL);
  ::testing::InitGoogleTest(&argc, argv);
  // A hang becomes a failure that names the test and what it waited for (tests/common/watchdog.h).
  rtctest::install_test_watchdog(std::chrono::seconds(120));
  int ret = RUN_ALL_TESTS();
  return ret;
}

// ---------------------------------------------------------------------------------------------
// Function calls in non-live mode: the turn's answer comes in a follow-up response
// ---------------------------------------------------------------------------------------------

// The `function-call` handler of these tests: answers get_weather_for_location (function-output
// from the handler, then TRUE), leaves the other tools to the element.
static gboolean answer_weather(GstElement *e, const gchar *name, const gchar *call_id, const gchar *, gpointer) {
  if (g_strcmp0(name, "get_weather_for_location") != 0) return FALSE;
  g_signal_emit_by_name(e, "function-output", call_id, "{\"temperature\":55}");
  return TRUE;
}

// Starts a non-live turn and returns once the element waits for its answer (resp_fc created).
static void start_turn(Fixture &f) {
  FakeSession *s = f.fake();
  f.push_input(0, 1000);
  s->event(T::SpeechStarted, "item_u", "", 0);
  s->event(T::SpeechStopped, "item_u", "", -1, 12000);
  s->event(T::ResponseCreated, "", "resp_fc");
  f.settle();
}

static gint64 response_done_ttfa(Fixture &f, const char *resp) {
  for (;;) {
    GstMessage *m = f.pop_message(GST_MESSAGE_ELEMENT, "realtimeconv/response-done", 3000);
    if (!m) return G_MININT64;
    const GstStructure *st = gst_message_get_structure(m);
    gint64 v = G_MININT64;
    bool mine = g_strcmp0(gst_structure_get_string(st, "response-id"), resp) == 0;
    if (mine) gst_structure_get_int64(st, "time-to-first-audio", &v);
    gst_message_unref(m);
    if (mine) return v;
  }
}

// The awaited response contains only a function call that the application answers: its
// response.done does not release the input; the wait follows the response created after the
// function output and ends with THAT response's done (not its creation).
TEST(FunctionCallTurn, NonLiveWaitFollowsTheAnswerToAHandledCall) {
  Fixture f(false);
  FakeSession *s = f.fake();
  g_signal_connect(f.e, "function-call", G_CALLBACK(answer_weather), NULL);
  start_turn(f);
  Bg push([&] { f.push_input(1000 * MS, 100); });
  ASSERT_TRUE(still_waiting(f, "turn"));
  EXPECT_FALSE(push.done.load());
  s->response_done("resp_fc", {"call_1"});  // the function call only
  f.settle();
  EXPECT_TRUE(s->called("function_output:call_1:{\"temperature\":55}"));
  ASSERT_TRUE(still_waiting(f, "turn"));
  EXPECT_FALSE(push.done.load()) << "the function call's response.done released the input";
  s->event(T::ResponseCreated, "", "resp_answer");  // requested by the engine after the output
  s->audio("resp_answer", "item_a", 4800);
  f.settle();
  ASSERT_TRUE(still_waiting(f, "turn"));
  EXPECT_FALSE(push.done.load()) << "the follow-up's creation released the input";
  s->response_done("resp_answer", {}, 420000);
  EXPECT_TRUE(push.wait(3000));
  // Each response reports its own time to first audio: none for the call, 420 ms for the answer
  // (the fake's stats say 1.234 ms: not used).
  EXPECT_EQ(response_done_ttfa(f, "resp_fc"), -1);
  EXPECT_EQ(response_done_ttfa(f, "resp_answer"), 420 * (gint64)GST_MSECOND);
  // The answer is placed where the user stopped speaking (500 ms), not where the input was when
  // the function output was sent.
  gst_harness_push_event(f.h, gst_event_new_eos());
  auto items = collect_until_eos(f.h);
  GstClockTime first = GST_CLOCK_TIME_NONE;
  for (GstBuffer *b : buffers_of(items)) {
    GstRealtimeConvMeta *m = gst_buffer_get_realtime_conv_meta(b);
    if (m && g_strcmp0(m->response_id, "resp_answer") == 0) {
      first = GST_BUFFER_PTS(b);
      break;
    }
  }
  EXPECT_EQ(first, 500 * MS);
}

// The same with the static result from `tools` (no handler), and with a handler that emits
// function-output but forgets to return TRUE: both count as handled.
TEST(FunctionCallTurn, StaticResultAndFunctionOutputCountAsHandled) {
  for (int variant = 0; variant < 2; variant++) {
    SCOPED_TRACE(variant == 0 ? "static result" : "function-output without TRUE");
    Fixture f(false, [&](GstElement *e) {
      if (variant == 0)
        g_object_set(e, "tools",
                     "[{\"type\":\"function\",\"name\":\"get_weather_for_location\",\"parameters\":{},"
                     "\"result\":{\"temperature\":50}}]",
                     NULL);
    });
    FakeSession *s = f.fake();
    if (variant == 1)
      g_signal_connect(f.e, "function-call",
                       G_CALLBACK(+[](GstElement *e, const gchar *, const gchar *call_id, const gchar *, gpointer) {
                         g_signal_emit_by_name(e, "function-output", call_id, "{\"temperature\":51}");
                         return FALSE;
                       }),
                       NULL);
    start_turn(f);
    Bg push([&] { f.push_input(1000 * MS, 100); });
    s->response_done("resp_fc", {"call_1"});
    f.settle();
    EXPECT_TRUE(s->called("function_output:call_1:"));
    ASSERT_TRUE(still_waiting(f, "turn"));
    EXPECT_FALSE(push.done.load());
    s->event(T::ResponseCreated, "", "resp_answer");
    s->response_done("resp_answer", {}, 1000);
    EXPECT_TRUE(push.wait(3000));
    // After settle() every message of the processed notifications is on the bus: no wait.
    f.settle();
    GstMessage *w = gst_bus_pop_filtered(f.bus, GST_MESSAGE_WARNING);
    EXPECT_EQ(w, nullptr) << "handled call warned about";
    if (w) gst_message_unref(w);
  }
}

// Nobody answers the call (no handler returns TRUE, no static result): the wait ends with the
// response, as for an answer without calls, and a warning says the call was not answered.
TEST(FunctionCallTurn, UnhandledCallReleasesTheInput) {
  Fixture f(false);
  FakeSession *s = f.fake();
  start_turn(f);
  Bg push([&] { f.push_input(1000 * MS, 100); });
  s->response_done("resp_fc", {"call_1"}, -1, "completed", "unknown_tool");
  EXPECT_TRUE(push.wait(3000));
  EXPECT_FALSE(s->called("function_output:"));
  GstMessage *w = f.pop_message(GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr);
  gst_message_unref(w);
}

// A cancelled response delivers no calls: its done ends the wait at once.
TEST(FunctionCallTurn, CancelledResponseWithCallReleasesTheInput) {
  Fixture f(false);
  FakeSession *s = f.fake();
  g_signal_connect(f.e, "function-call", G_CALLBACK(answer_weather), NULL);
  start_turn(f);
  Bg push([&] { f.push_input(1000 * MS, 100); });
  s->response_done("resp_fc", {"call_1"}, -1, "cancelled");
  EXPECT_TRUE(push.wait(3000));
  EXPECT_FALSE(s->called("function_output:"));
}

// The follow-up wait is bounded: a handler that returns TRUE and never answers holds the input
// for drain-timeout (counted from the hand-over of the calls), not forever.
TEST(FunctionCallTurn, FollowUpWaitHasItsOwnDrainTimeout) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 600, NULL); });
  FakeSession *s = f.fake();
  g_signal_connect(f.e, "function-call",
                   G_CALLBACK(+[](GstElement *, const gchar *, const gchar *, const gchar *, gpointer) {
                     return TRUE;  // "will answer later" ... and never does
                   }),
                   NULL);
  start_turn(f);
  Bg push([&] { f.push_input(1000 * MS, 100); });
  // The fixed waits here are the input of the test, not its check: drain-timeout is a budget of
  // real (monotonic) time, so real time has to pass. 400 ms of the first budget are spent ...
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto handed = std::chrono::steady_clock::now();
  s->response_done("resp_fc", {"call_1"});
  f.settle();
  // ... and 300 ms later the first budget (600 ms from the turn) is over: the check is that the
  // streaming thread, having re-evaluated its wait after that, still waits on the new one.
  ASSERT_TRUE(wait_until([&] { return std::chrono::steady_clock::now() - handed >= std::chrono::milliseconds(300); }));
  ASSERT_TRUE(still_waiting(f, "turn")) << "the follow-up did not get a fresh budget";
  EXPECT_FALSE(push.done.load()) << "the follow-up did not get a fresh budget";
  EXPECT_TRUE(push.wait(5000));
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - handed);
  EXPECT_GE(waited.count(), 550);
}

// EOS drain: a call answered by the application keeps EOS waiting for the spoken answer.
TEST(FunctionCallTurn, EosDrainWaitsForTheAnswerToTheCall) {
  Fixture f(false, [](GstElement *e) { g_object_set(e, "drain-timeout", 5000, NULL); });
  FakeSession *s = f.fake();
  g_signal_connect(f.e, "function-call", G_CALLBACK(answer_weather), NULL);
  start_turn(f);
  s->response_done("resp_fc", {"call_1"});
  f.settle();
  Bg eos([&] { gst_harness_push_event(f.h, gst_event_new_eos()); });
  ASSERT_TRUE(still_waiting(f, "the responses"));
  EXPECT_FALSE(eos.done.load());
  s->event(T::ResponseCreated, "", "resp_answer");
  s->audio("resp_answer", "item_a", 2400);
  s->response_done("resp_answer", {}, 1000);
  ASSERT_TRUE(eos.wait(3000));
  bool found = false;
  auto items = collect_until_eos(f.h);
  for (GstBuffer *b : buffers_of(items)) {
    GstRealtimeConvMeta *m = gst_buffer_get_realtime_conv_meta(b);
    if (m && g_strcmp0(m->response_id, "resp_answer") == 0) found = true;
  }
  EXPECT_TRUE(found);
}

// The per-stream state is reset as a whole at READY->PAUSED (reset_all_locked): a seek
// forwarded in one run (its seqnum is remembered so that the seek reaching the element once per
// src pad is forwarded once) is forwarded again in the next run.
TEST(Harness, SeekSeqnumIsForgottenAcrossReadyToPlaying) {
  Fixture f(false);
  auto seek = [] {
    GstEvent *ev = gst_event_new_seek(1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, 0,
                                      GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE);
    gst_event_set_seqnum(ev, 4242);
    return ev;
  };
  const guint before = gst_harness_upstream_events_received(f.h);
  gst_harness_push_upstream_event(f.h, seek());
  ASSERT_TRUE(wait_until([&] { return gst_harness_upstream_events_received(f.h) == before + 1; }))
      << "the first seek was not forwarded upstream";
  // The same seek again (e.g. through another src pad): not forwarded twice.
  gst_harness_push_upstream_event(f.h, seek());
  EXPECT_EQ(gst_harness_upstream_events_received(f.h), before + 1);

  ASSERT_EQ(gst_element_set_state(f.e, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  ASSERT_NE(gst_element_set_state(f.e, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  gst_harness_push_upstream_event(f.h, seek());
  EXPECT_TRUE(wait_until([&] { return gst_harness_upstream_events_received(f.h) == before + 2; }))
      << "a seek of the new run was swallowed as already forwarded: the stream state was not reset";
}
