// bench_engine: the engine's own cost (not a test).
//   * per received event: decode + state update + dispatch to the listener
//     (audio deltas through the fast path into listener memory; other events through the parser)
//   * per 40 ms input chunk (pcm16 24 kHz = 1920 bytes): chunking + base64/JSON encode + the
//     libsoup send (a real SoupWebsocketConnection over a socketpair, drained by a thread)
// Usage: bench_engine [iterations]
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "session.h"
#include "dispatch_bench.h"

namespace {

class NullListener : public rtc::SessionListener {
 public:
  uint8_t *alloc_audio(size_t max_bytes, void **handle) override {
    if (buf.size() < max_bytes) buf.resize(max_bytes);
    *handle = &buf;
    return buf.data();
  }
  void on_audio(void *, size_t bytes, const rtc::AudioDeltaInfo &) override { audio += bytes; }
  void free_audio(void *) override {}
  void on_server_event(const rtc::ServerEvent &, const rtc::EventContext &) override { events++; }
  std::vector<uint8_t> buf;
  size_t audio = 0, events = 0;
};

std::string audio_delta_json(size_t bytes, bool ga) {
  std::vector<uint8_t> pcm(bytes);
  for (size_t i = 0; i < bytes; i++) pcm[i] = static_cast<uint8_t>(i * 7);
  std::string s = std::string("{\"type\":\"") + (ga ? "response.output_audio.delta" : "response.audio.delta") +
                  "\",\"event_id\":\"event_123\",\"response_id\":\"resp_1\",\"item_id\":\"item_1\","
                  "\"output_index\":0,\"content_index\":0,\"delta\":\"";
  rtc::base64_encode_append(s, pcm.data(), pcm.size());
  s += "\"}";
  return s;
}

double bench_feed(rtctest::DispatchBench &b, const std::string &frame, int n) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; i++) b.feed(frame.data(), frame.size());
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
}

}  // namespace

int main(int argc, char **argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  rtc::EngineConfig cfg;
  cfg.endpoint.dialect = rtc::DialectChoice::GA;
  NullListener l;

  // ---- receive side (no socket) ----
  {
    rtctest::DispatchBench b(cfg, &l, nullptr);
    struct Case {
      const char *name;
      std::string frame;
    };
    std::vector<Case> cases = {
        {"audio delta 40 ms (1920 B pcm)", audio_delta_json(1920, true)},
        {"audio delta 200 ms (9600 B pcm)", audio_delta_json(9600, true)},
        {"transcript delta", R"({"type":"response.output_audio_transcript.delta","event_id":"event_9","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"Hello there, "})"},
        {"speech_started", R"({"type":"input_audio_buffer.speech_started","event_id":"event_9","audio_start_ms":1000,"item_id":"item_2"})"},
        {"output_item.done (function_call)", R"({"type":"response.output_item.done","event_id":"event_9","response_id":"resp_1","output_index":0,"item":{"id":"item_3","type":"function_call","status":"completed","name":"get_weather_for_location","call_id":"call_1","arguments":"{\"location\":\"Seattle, WA\",\"unit\":\"f\"}"}})"},
    };
    printf("per received event (decode + state + dispatch), %d iterations each:\n", n);
    for (auto &c : cases) {
      bench_feed(b, c.frame, n / 10);  // warm-up
      double ns = bench_feed(b, c.frame, n);
      printf("  %-36s %9.0f ns/event  (%zu B frame)\n", c.name, ns, c.frame.size());
    }
  }

  // ---- send side: a real SoupWebsocketConnection over a socketpair ----
  {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 1;
    std::atomic<bool> run{true};
    std::thread drain([&] {
      std::vector<char> buf(1 << 16);
      while (run) {
        ssize_t r = read(fds[1], buf.data(), buf.size());
        if (r <= 0) break;
      }
    });
    GSocket *sock = g_socket_new_from_fd(fds[0], nullptr);
    GSocketConnection *conn = g_socket_connection_factory_create_connection(sock);
    GUri *uri = g_uri_parse("ws://127.0.0.1/v1/realtime", G_URI_FLAGS_NONE, nullptr);
    SoupWebsocketConnection *ws =
        soup_websocket_connection_new(G_IO_STREAM(conn), uri, SOUP_WEBSOCKET_CONNECTION_CLIENT, nullptr, nullptr, nullptr);
    rtctest::DispatchBench b(cfg, &l, ws);
    std::vector<uint8_t> chunk(1920);
    for (size_t i = 0; i < chunk.size(); i++) chunk[i] = static_cast<uint8_t>(i);
    auto run_n = [&](int k) {
      for (int i = 0; i < k; i++) {
        b.push(chunk.data(), chunk.size());
        while (g_main_context_iteration(nullptr, FALSE)) {
        }
      }
    };
    run_n(n / 10);
    auto t0 = std::chrono::steady_clock::now();
    run_n(n);
    auto t1 = std::chrono::steady_clock::now();
    double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
    printf("per 40 ms input chunk (push + chunk + encode + soup send, 1920 B -> %zu B frame): %9.0f ns/chunk\n",
           rtc::build_input_audio_append(chunk.data(), chunk.size()).size(), ns);
    printf("  sent %llu chunks, %.1f s of audio\n", static_cast<unsigned long long>(b.stats().audio_bytes_sent / 1920),
           b.stats().audio_ms_sent / 1000.0);
    run = false;
    soup_websocket_connection_close(ws, 1000, nullptr);
    while (g_main_context_iteration(nullptr, FALSE)) {
    }
    shutdown(fds[0], SHUT_RDWR);
    drain.join();
    g_object_unref(ws);
    g_uri_unref(uri);
    g_object_unref(conn);
    g_object_unref(sock);
  }
  return 0;
}
