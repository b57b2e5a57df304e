// realtimetranslator (issue 14) in real pipelines against realtime-emulator (translation
// sessions, --voice tone: 60 ms of 440 Hz per character of the translated text, so placement
// can be checked sample by sample). Every wait is bounded and fails with a message.
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

std::string env(const char *k, const char *d = "") {
  const char *v = g_getenv(k);
  return v ? v : d;
}

class Emu {
 public:
  explicit Emu(std::vector<std::string> extra) {
    const std::string exe = env("RTC_EMULATOR");
    if (exe.empty()) return;
    gchar *dir = g_dir_make_tmp("xlemu-XXXXXX", nullptr);
    log_ = std::string(dir) + "/events.jsonl";
    g_free(dir);
    std::vector<std::string> args = {exe, "--port", "0", "--log", log_, "--voice", "tone", "--scenario",
                                     env("RTC_SOURCE_ROOT", ".") + "/server/scenarios/translation.json",
                                     "--translation-lag-ms", "50"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    gint out_fd = -1;
    if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD, nullptr, nullptr, &pid_,
                                  nullptr, &out_fd, nullptr, nullptr))
      return;
    FILE *f = fdopen(out_fd, "r");
    char line[256] = {0};
    if (f && fgets(line, sizeof line, f)) {
      const char *p = strstr(line, "ws://");
      if (p) url_ = std::string(p, strcspn(p, " \r\n"));
    }
    if (f) fclose(f);
  }
  ~Emu() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      waitpid(pid_, &st, 0);
      g_spawn_close_pid(pid_);
    }
  }
  bool ok() const { return !url_.empty(); }
  const std::string &url() const { return url_; }
  // (type, json) of the client events in the log
  std::vector<std::pair<std::string, std::string>> client_events() const {
    std::vector<std::pair<std::string, std::string>> r;
    std::ifstream in(log_);
    std::string line;
    while (std::getline(in, line)) {
      JsonNode *root = json_from_string(line.c_str(), nullptr);
      if (!root) continue;
      JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : nullptr;
      if (o && g_strcmp0(json_object_get_string_member_with_default(o, "dir", ""), "in") == 0 &&
          json_object_has_member(o, "event")) {
        JsonNode *ev = json_object_get_member(o, "event");
        if (JSON_NODE_HOLDS_OBJECT(ev)) {
          gchar *s = json_to_string(ev, FALSE);
          r.emplace_back(json_object_get_string_member_with_default(json_node_get_object(ev), "type", ""), s);
          g_free(s);
        }
      }
      json_node_unref(root);
    }
    return r;
  }
  size_t appended_bytes() const {
    size_t n = 0;
    for (auto &e : client_events()) {
      if (e.first != "session.input_audio_buffer.append") continue;
      JsonNode *root = json_from_string(e.second.c_str(), nullptr);
      const char *b = json_object_get_string_member_with_default(json_node_get_object(root), "audio", "");
      size_t l = strlen(b);
      n += l / 4 * 3 - (l > 0 && b[l - 1] == '=') - (l > 1 && b[l - 2] == '=');
      json_node_unref(root);
    }
    return n;
  }

 private:
  GPid pid_ = 0;
  std::string url_, log_;
};

void append_tone(std::vector<int16_t> &v, int ms) {
  size_t n = static_cast<size_t>(ms) * 24;
  for (size_t i = 0; i < n; i++) v.push_back(static_cast<int16_t>(std::lround(10362.0 * std::sin(2 * M_PI * 440.0 * double(i) / 24000.0))));
}
void append_silence(std::vector<int16_t> &v, int ms) { v.insert(v.end(), static_cast<size_t>(ms) * 24, 0); }

struct XlRun {
  GstElement *pipe = nullptr, *src = nullptr, *xl = nullptr, *audio = nullptr, *text = nullptr, *srctext = nullptr;
  ~XlRun() {
    if (pipe) {
      gst_element_set_state(pipe, GST_STATE_NULL);
      gst_object_unref(pipe);
    }
  }
  bool build(const std::string &url, const std::string &props) {
    std::string d =
        "appsrc name=in format=time caps=audio/x-raw,format=S16LE,rate=24000,channels=1,layout=interleaved ! "
        "realtimetranslator name=xl endpoint=" + url + " api-key=test source-transcription=gpt-realtime-whisper " + props +
        " ! queue ! appsink name=audio sync=false wait-on-eos=false "
        "xl.transcript_src ! queue ! appsink name=text sync=false wait-on-eos=false "
        "xl.source_transcript_src ! queue ! appsink name=srctext sync=false wait-on-eos=false";
    GError *e = nullptr;
    pipe = gst_parse_launch(d.c_str(), &e);
    if (!pipe) {
      ADD_FAILURE() << (e ? e->message : "parse failed");
      g_clear_error(&e);
      return false;
    }
    src = gst_bin_get_by_name(GST_BIN(pipe), "in");
    xl = gst_bin_get_by_name(GST_BIN(pipe), "xl");
    audio = gst_bin_get_by_name(GST_BIN(pipe), "audio");
    text = gst_bin_get_by_name(GST_BIN(pipe), "text");
    srctext = gst_bin_get_by_name(GST_BIN(pipe), "srctext");
    for (GstElement *x : {src, xl, audio, text, srctext}) gst_object_unref(x);  // the bin keeps them
    return true;
  }
  int64_t pushed = 0;
  void push(const std::vector<int16_t> &v, size_t from, size_t n) {
    GstBuffer *b = gst_buffer_new_memdup(v.data() + from, n * 2);
    GST_BUFFER_PTS(b) = gst_util_uint64_scale_int(static_cast<guint64>(pushed), GST_SECOND, 24000);
    GST_BUFFER_DURATION(b) = gst_util_uint64_scale_int(n, GST_SECOND, 24000);
    pushed += static_cast<int64_t>(n);
    gst_app_src_push_buffer(GST_APP_SRC(src), b);
  }
  void push_all(const std::vector<int16_t> &v) {
    for (size_t off = 0; off < v.size(); off += 2400) push(v, off, std::min<size_t>(2400, v.size() - off));
  }
  // Pops bus messages until EOS / error / timeout; returns "eos", "error: ..." or "timeout".
  std::string wait_end(int timeout_s, std::vector<std::string> *element_msgs = nullptr) {
    GstBus *bus = gst_element_get_bus(pipe);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::string r = "timeout";
    while (std::chrono::steady_clock::now() < deadline) {
      GstMessage *m = gst_bus_timed_pop(bus, 100 * GST_MSECOND);
      if (!m) continue;
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) r = "eos";
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
        GError *e = nullptr;
        gst_message_parse_error(m, &e, nullptr);
        r = std::string("error: ") + (e ? e->message : "?");
        g_clear_error(&e);
      }
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT && element_msgs) {
        gchar *s = gst_structure_to_string(gst_message_get_structure(m));
        element_msgs->push_back(s);
        g_free(s);
      }
      gst_message_unref(m);
      if (r != "timeout") break;
    }
    gst_object_unref(bus);
    return r;
  }
};

struct Pulled {
  std::vector<int16_t> audio;
  std::vector<std::pair<GstClockTime, std::string>> text;
};
std::vector<int16_t> pull_audio(GstElement *sink) {
  std::vector<int16_t> out;
  while (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0)) {
    GstBuffer *b = gst_sample_get_buffer(s);
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_READ);
    const int16_t *p = reinterpret_cast<const int16_t *>(m.data);
    out.insert(out.end(), p, p + m.size / 2);
    gst_buffer_unmap(b, &m);
    gst_sample_unref(s);
  }
  return out;
}
std::vector<std::pair<GstClockTime, std::string>> pull_text(GstElement *sink) {
  std::vector<std::pair<GstClockTime, std::string>> out;
  while (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0)) {
    GstBuffer *b = gst_sample_get_buffer(s);
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_READ);
    out.emplace_back(GST_BUFFER_PTS(b), std::string(reinterpret_cast<const char *>(m.data), m.size));
    gst_buffer_unmap(b, &m);
    gst_sample_unref(s);
  }
  return out;
}
std::string concat(const std::vector<std::pair<GstClockTime, std::string>> &v) {
  std::string r;
  for (auto &x : v) r += x.second;
  return r;
}

#define NEED_EMU(e)                                          \
  if (!(e).ok()) {                                           \
    if (env("RTC_EMULATOR").empty()) GTEST_SKIP() << "no emulator"; \
    FAIL() << "emulator did not start";                      \
  }

}  // namespace

TEST(TranslatorE2E, NonLivePlacementIsSampleExactAndEosDrains) {
  Emu emu({});
  NEED_EMU(emu);
  XlRun r;
  ASSERT_TRUE(r.build(emu.url(), ""));
  ASSERT_NE(gst_element_set_state(r.pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  // phrase 1 at 600 ms, phrase 2 at 4000 ms (after phrase 1's 2580 ms translation has ended;
  // the emulator's elapsed_ms is the start of a phrase's first 200 ms frame)
  std::vector<int16_t> in;
  append_silence(in, 600);
  append_tone(in, 1000);
  append_silence(in, 2400);
  append_tone(in, 800);
  append_silence(in, 1000);
  r.push_all(in);
  gst_app_src_end_of_stream(GST_APP_SRC(r.src));
  std::vector<std::string> msgs;
  ASSERT_EQ(r.wait_end(30, &msgs), "eos");
  auto audio = pull_audio(r.audio);
  auto text = pull_text(r.text);
  auto srctext = pull_text(r.srctext);
  // the output lasts as long as the input or the last translation (phrase 2's 35 characters of
  // tone voice end at 4000 + 2100 ms), silence between phrases
  EXPECT_EQ(audio.size(), size_t(6100 * 24));
  auto first_nonzero = [&](size_t from) {
    for (size_t i = from; i < audio.size(); i++)
      if (audio[i] != 0) return i;
    return audio.size();
  };
  const size_t p1 = 600 * 24, p1_end = p1 + 2580 * 24, p2 = 4000 * 24;
  for (size_t i = 0; i < p1; i++) ASSERT_EQ(audio[i], 0) << "sound before the first phrase at " << i;
  size_t f1 = first_nonzero(0);
  EXPECT_GE(f1, p1);
  EXPECT_LE(f1, p1 + 24) << "phrase 1 not at elapsed_ms 600";
  for (size_t i = p1_end; i < p2 && i < audio.size(); i++) ASSERT_EQ(audio[i], 0) << "sound between phrases at " << i;
  size_t f2 = first_nonzero(p1_end);
  EXPECT_GE(f2, p2);
  EXPECT_LE(f2, p2 + 24) << "phrase 2 not at elapsed_ms 4000";
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.front().first, 600 * GST_MSECOND);
  EXPECT_EQ(concat(text), "Buenas noches y bienvenidos a las noticias. Esta noche el tiempo será templado.");
  EXPECT_EQ(concat(srctext), "Good evening and welcome to the news. Tonight the weather will be mild.");
  bool second_at_4000 = false;
  for (auto &t : text) second_at_4000 |= (t.first == 4000 * GST_MSECOND && t.second == " Esta");
  EXPECT_TRUE(second_at_4000);
  // every input sample appended (silence included), then session.close
  EXPECT_EQ(emu.appended_bytes(), in.size() * 2);
  auto ev = emu.client_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().first, "session.close");
  bool stats = false, transcript = false;
  for (auto &m : msgs) {
    stats |= m.rfind("realtimetranslator/stats", 0) == 0;
    transcript |= m.rfind("realtimetranslator/transcript", 0) == 0;
  }
  EXPECT_TRUE(stats);
  EXPECT_TRUE(transcript);
}

TEST(TranslatorE2E, BadLanguageCodeIsAClearError) {
  Emu emu({});
  NEED_EMU(emu);
  XlRun r;
  ASSERT_TRUE(r.build(emu.url(), "language-code=xx"));
  ASSERT_NE(gst_element_set_state(r.pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::vector<int16_t> in;
  append_silence(in, 400);
  r.push_all(in);
  std::string end = r.wait_end(15);
  EXPECT_NE(end.find("error: The translation service rejected the session configuration "
                     "(session.audio.output.language)"),
            std::string::npos)
      << end;
}

TEST(TranslatorE2E, LanguageChangeMidStream) {
  Emu emu({});
  NEED_EMU(emu);
  XlRun r;
  ASSERT_TRUE(r.build(emu.url(), ""));
  ASSERT_NE(gst_element_set_state(r.pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::vector<int16_t> a;
  append_tone(a, 1000);
  append_silence(a, 800);
  r.push_all(a);
  // wait for the first translated text, then switch to French
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(r.text), 100 * GST_MSECOND);
    if (!s) continue;
    GstMapInfo m;
    gst_buffer_map(gst_sample_get_buffer(s), &m, GST_MAP_READ);
    got.assign(reinterpret_cast<const char *>(m.data), m.size);
    gst_buffer_unmap(gst_sample_get_buffer(s), &m);
    gst_sample_unref(s);
  }
  ASSERT_EQ(got, "Buenas");
  g_object_set(r.xl, "language-code", "fr", nullptr);
  // the session.update reaches the server before the next audio (the engine keeps the order)
  std::vector<int16_t> b;
  append_tone(b, 1000);
  append_silence(b, 800);
  r.push_all(b);
  gst_app_src_end_of_stream(GST_APP_SRC(r.src));
  ASSERT_EQ(r.wait_end(30), "eos");
  EXPECT_EQ(got + concat(pull_text(r.text)), "Buenas noches y bienvenidos a las noticias. Ce soir le temps sera doux.");
  int updates = 0;
  for (auto &e : emu.client_events())
    if (e.first == "session.update") updates++;
  EXPECT_EQ(updates, 2);
}

TEST(TranslatorE2E, ReconnectsAndKeepsTranslating) {
  // the first connection is closed (1011) right after its first output event; what was sent to
  // it is lost with it (the service's state), what comes after goes to the new session, whose
  // elapsed_ms restarts at 0: the element keeps the input timeline continuous
  Emu emu({"--fault-close-after", "3", "--fault-connections", "1"});
  NEED_EMU(emu);
  XlRun r;
  ASSERT_TRUE(r.build(emu.url(), ""));
  ASSERT_NE(gst_element_set_state(r.pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::vector<int16_t> a;
  append_tone(a, 1000);
  append_silence(a, 800);
  r.push_all(a);
  // wait (bounded) for the reconnection to be over
  std::vector<std::string> msgs;
  GstBus *bus = gst_element_get_bus(r.pipe);
  int sessions = 0;
  bool reconnecting = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sessions < 2 && std::chrono::steady_clock::now() < deadline) {
    GstMessage *m = gst_bus_timed_pop_filtered(bus, 100 * GST_MSECOND, GST_MESSAGE_ELEMENT);
    if (!m) continue;
    const GstStructure *st = gst_message_get_structure(m);
    sessions += gst_structure_has_name(st, "realtimetranslator/session");
    reconnecting |= gst_structure_has_name(st, "realtimetranslator/reconnecting");
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  ASSERT_TRUE(reconnecting);
  ASSERT_EQ(sessions, 2) << "no new session after the connection was closed";
  std::vector<int16_t> b;
  append_silence(b, 400);
  append_tone(b, 1000);
  append_silence(b, 1000);
  r.push_all(b);
  gst_app_src_end_of_stream(GST_APP_SRC(r.src));
  ASSERT_EQ(r.wait_end(30), "eos");
  // What the new session receives depends on the server: input sent to the lost connection but
  // not proven read (no pong yet) is re-sent first, so the new session may translate the tail of
  // the first tone again. Whatever was re-sent, the new session's elapsed_ms restarts at 0 and the
  // element maps it back onto the input timeline, so the phrase of the second tone (input
  // 2200 ms) lands within one emulator frame (200 ms) before it, or, when the re-sent first tone's
  // translation is still playing there, right where that translation's audio ends (never overlap).
  std::vector<std::pair<GstClockTime, GstClockTime>> voiced;  // [start, end) of non-silent audio buffers
  size_t audio_samples = 0;
  while (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(r.audio), 0)) {
    GstBuffer *buf = gst_sample_get_buffer(s);
    GstMapInfo m;
    gst_buffer_map(buf, &m, GST_MAP_READ);
    bool silent = true;
    for (gsize i = 0; i < m.size && silent; i++) silent = m.data[i] == 0;
    audio_samples += m.size / 2;
    if (!silent) voiced.emplace_back(GST_BUFFER_PTS(buf), GST_BUFFER_PTS(buf) + GST_BUFFER_DURATION(buf));
    gst_buffer_unmap(buf, &m);
    gst_sample_unref(s);
  }
  auto text = pull_text(r.text);
  std::string seen;
  GstClockTime last_phrase = GST_CLOCK_TIME_NONE;
  for (auto &t : text) {
    last_phrase = t.first;  // the deltas of a phrase share its position: the last one is the last phrase's
    seen += " [" + std::to_string(t.first / GST_MSECOND) + " ms '" + t.second + "']";
  }
  ASSERT_TRUE(GST_CLOCK_TIME_IS_VALID(last_phrase)) << "no translated text; text:" << seen;
  bool in_frame = last_phrase >= 2000 * GST_MSECOND && last_phrase <= 2200 * GST_MSECOND;
  bool after_previous = false;
  // (the previous translation was still playing at 2200 ms, and the phrase starts after it)
  bool overlap = false;
  for (auto &v : voiced) {
    after_previous |= last_phrase > 2200 * GST_MSECOND && v.first < last_phrase && v.second > 2200 * GST_MSECOND;
    overlap |= v.first < last_phrase && v.second > last_phrase;
  }
  after_previous &= !overlap;
  EXPECT_TRUE(in_frame || after_previous)
      << "the second tone's phrase (input 2200 ms) is placed at " << last_phrase / GST_MSECOND << " ms; text:" << seen;
  EXPECT_GE(audio_samples, a.size() + b.size()) << "output shorter than the input";
}

TEST(TranslatorE2E, LiveAnswersLatency) {
  Emu emu({});
  NEED_EMU(emu);
  std::string d = "audiotestsrc is-live=true wave=silence ! audio/x-raw,format=S16LE,rate=24000,channels=1 ! "
                  "realtimetranslator name=xl latency=2500 endpoint=" + emu.url() + " api-key=t ! fakesink sync=true";
  GstElement *pipe = gst_parse_launch(d.c_str(), nullptr);
  ASSERT_NE(pipe, nullptr);
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  // live: the element GAPs its output up to (input - latency), so the sink prerolls and the
  // pipeline reaches PLAYING without any translated output
  GstState cur = GST_STATE_NULL;
  GstStateChangeReturn sr = gst_element_get_state(pipe, &cur, nullptr, 10 * GST_SECOND);
  EXPECT_EQ(sr, GST_STATE_CHANGE_SUCCESS);
  EXPECT_EQ(cur, GST_STATE_PLAYING);
  GstElement *xl = gst_bin_get_by_name(GST_BIN(pipe), "xl");
  GstPad *src = gst_element_get_static_pad(xl, "src");
  GstQuery *q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_query(src, q));
  gboolean live = FALSE;
  GstClockTime min = 0, max = 0;
  gst_query_parse_latency(q, &live, &min, &max);
  EXPECT_TRUE(live);
  EXPECT_GE(min, 2500 * GST_MSECOND);
  gst_query_unref(q);
  gst_object_unref(src);
  gst_object_unref(xl);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(pipe);
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
