// Benchmark (not a test): ns per audio delta event, fast path vs the generic parser, on
// realistic deltas (4 800 .. 36 000 base64 bytes) of both dialects.
//   ninja -C <build> tests/protocol/bench_fastpath && <build>/tests/protocol/bench_fastpath
// Columns: fast = parse_audio_delta_fast() decoding into a reused buffer; generic =
// parse_server_event(); json-glib = a bare json-glib parse + g_base64_decode (the baseline the
// issue measured, ~125 us for 36 000 bytes).
#include <glib.h>
#include <json-glib/json-glib.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "protocol.h"

namespace {

std::string make_frame(bool ga, size_t b64_len, std::mt19937 &rng) {
  std::vector<uint8_t> pcm(b64_len / 4 * 3);
  for (auto &b : pcm) b = static_cast<uint8_t>(rng());
  std::string f = std::string("{\"type\":\"") + (ga ? "response.output_audio.delta" : "response.audio.delta") +
                  "\",\"event_id\":\"event_CDpa7mG3Gp4xP6b1Jc8wS\",\"response_id\":\"resp_CDpa6cH8HeeMRkdTCtVUV\","
                  "\"item_id\":\"item_CDpa6AKuXfnLkOuvmKMbB\",\"output_index\":0,\"content_index\":0,\"delta\":\"";
  rtc::base64_encode_append(f, pcm.data(), pcm.size());
  f += "\"";
  if (ga) f += ",\"obfuscation\":\"x7Yq\"";
  return f + "}";
}

template <typename F>
double ns_per_call(F &&f) {
  // Warm up, then time enough iterations for ~0.2 s.
  for (int i = 0; i < 20; i++) f();
  int iters = 50;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; i++) f();
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    if (ns > 2e8 || iters > (1 << 22)) return ns / iters;
    iters *= 4;
  }
}

}  // namespace

int main() {
  std::mt19937 rng(1);
  std::vector<uint8_t> buffer(64 * 1024);
  std::printf("%-8s %8s %12s %12s %12s %9s\n", "dialect", "b64", "fast ns", "generic ns", "json-glib ns", "speedup");
  for (bool ga : {true, false}) {
    for (size_t len : {4800, 9600, 19200, 36000}) {
      const std::string frame = make_frame(ga, len, rng);
      rtc::AudioDeltaHeader hdr;
      std::string err;
      const rtc::AudioAlloc alloc = [&](size_t n) {
        if (buffer.size() < n) buffer.resize(n);
        return buffer.data();
      };
      if (rtc::parse_audio_delta_fast(frame.data(), frame.size(), &hdr, alloc, &err) != rtc::FastParseStatus::Ok) {
        std::fprintf(stderr, "fast path failed: %s\n", err.c_str());
        return 1;
      }
      const double fast = ns_per_call([&] { rtc::parse_audio_delta_fast(frame.data(), frame.size(), &hdr, alloc, &err); });
      const double generic = ns_per_call([&] {
        rtc::ParsedServerEvent p = rtc::parse_server_event(frame);
        if (!p.ok) std::abort();
      });
      const double glib = ns_per_call([&] {
        JsonParser *parser = json_parser_new_immutable();
        json_parser_load_from_data(parser, frame.data(), static_cast<gssize>(frame.size()), nullptr);
        JsonObject *o = json_node_get_object(json_parser_get_root(parser));
        gsize n = 0;
        guchar *audio = g_base64_decode(json_object_get_string_member(o, "delta"), &n);
        g_free(audio);
        g_object_unref(parser);
      });
      std::printf("%-8s %8zu %12.0f %12.0f %12.0f %8.1fx\n", ga ? "ga" : "preview", len, fast, generic, glib,
                  glib / fast);
    }
  }
  return 0;
}
