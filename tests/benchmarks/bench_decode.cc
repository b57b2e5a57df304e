// bench_decode: decoding one response.output_audio.delta event (JSON parse + base64 into the
// outgoing buffer), C++ fast path vs the generic parser, on the sizes the service sends
// (4 800 .. 36 000 base64 bytes). Writes the exact frames to --frames-dir so that
// decode_node.js measures V8's JSON.parse + Buffer.from(b64, 'base64') on the same bytes.
//   bench_decode [--frames-dir DIR] [--seconds-per-case S]
// Variants:
//   fast/reused   parse_audio_delta_fast() into a reused buffer (decode cost alone)
//   fast/gstbuf   the same into a fresh GstBuffer (gst_buffer_new_allocate + map, unmap, unref):
//                 what the element does per delta
//   generic       parse_server_event() (json-glib path, for reference)
#include <gst/gst.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "bench_common.h"
#include "protocol.h"

namespace {

std::string make_frame(size_t b64_len, std::mt19937 &rng) {
  std::vector<uint8_t> pcm(b64_len / 4 * 3);
  // Speech-like pcm16: a low-amplitude random walk (so the base64 is not periodic).
  int v = 0;
  for (size_t i = 0; i + 1 < pcm.size(); i += 2) {
    v += static_cast<int>(rng() % 2001) - 1000;
    v = std::max(-12000, std::min(12000, v));
    pcm[i] = static_cast<uint8_t>(v & 0xff);
    pcm[i + 1] = static_cast<uint8_t>((v >> 8) & 0xff);
  }
  std::string f =
      "{\"type\":\"response.output_audio.delta\",\"event_id\":\"event_CDpa7mG3Gp4xP6b1Jc8wS\","
      "\"response_id\":\"resp_CDpa6cH8HeeMRkdTCtVUV\",\"item_id\":\"item_CDpa6AKuXfnLkOuvmKMbB\","
      "\"output_index\":0,\"content_index\":0,\"delta\":\"";
  rtc::base64_encode_append(f, pcm.data(), pcm.size());
  f += "\",\"obfuscation\":\"x7Yq\"}";
  return f;
}

// Median of `reps` timing runs of ~`budget_s` / reps each, ns per call.
template <typename F>
double ns_per_call(F &&f, double budget_s) {
  for (int i = 0; i < 50; i++) f();
  std::vector<double> runs;
  const int reps = 5;
  int iters = 64;
  // calibrate
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; i++) f();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > budget_s / reps / 4 || iters > (1 << 24)) {
      iters = std::max(16, static_cast<int>(iters * (budget_s / reps) / std::max(s, 1e-9)));
      break;
    }
    iters *= 4;
  }
  for (int r = 0; r < reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; i++) f();
    runs.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / iters);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  std::string dir;
  double budget = 1.0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--frames-dir" && i + 1 < argc) dir = argv[++i];
    if (a == "--seconds-per-case" && i + 1 < argc) budget = std::atof(argv[++i]);
  }
  std::mt19937 rng(7);
  std::vector<uint8_t> reused(64 * 1024);
  for (size_t len : {4800, 9600, 19200, 36000}) {
    const std::string frame = make_frame(len, rng);
    if (!dir.empty()) {
      std::string path = dir + "/frame_" + std::to_string(len) + ".json";
      if (!g_file_set_contents(path.c_str(), frame.data(), static_cast<gssize>(frame.size()), nullptr)) {
        std::fprintf(stderr, "cannot write %s\n", path.c_str());
        return 1;
      }
    }
    rtc::AudioDeltaHeader hdr;
    std::string err;
    const rtc::AudioAlloc alloc_reused = [&](size_t n) {
      if (reused.size() < n) reused.resize(n);
      return reused.data();
    };
    if (rtc::parse_audio_delta_fast(frame.data(), frame.size(), &hdr, alloc_reused, &err) != rtc::FastParseStatus::Ok ||
        hdr.audio_len != len / 4 * 3) {
      std::fprintf(stderr, "fast path failed: %s\n", err.c_str());
      return 1;
    }
    const double fast = ns_per_call(
        [&] { rtc::parse_audio_delta_fast(frame.data(), frame.size(), &hdr, alloc_reused, &err); }, budget);
    const double fast_gst = ns_per_call(
        [&] {
          GstBuffer *buf = nullptr;
          GstMapInfo map;
          const rtc::AudioAlloc alloc = [&](size_t n) -> uint8_t * {
            buf = gst_buffer_new_allocate(nullptr, n, nullptr);
            gst_buffer_map(buf, &map, GST_MAP_WRITE);
            return map.data;
          };
          rtc::parse_audio_delta_fast(frame.data(), frame.size(), &hdr, alloc, &err);
          gst_buffer_unmap(buf, &map);
          gst_buffer_set_size(buf, static_cast<gssize>(hdr.audio_len));
          gst_buffer_unref(buf);
        },
        budget);
    const double generic = ns_per_call(
        [&] {
          rtc::ParsedServerEvent p = rtc::parse_server_event(frame);
          if (!p.ok) std::abort();
        },
        budget / 2);
    bench::Json j;
    j.integer("b64_bytes", static_cast<long long>(len))
        .integer("pcm_bytes", static_cast<long long>(hdr.audio_len))
        .integer("frame_bytes", static_cast<long long>(frame.size()))
        .num("fast_reused_ns", fast)
        .num("fast_gstbuffer_ns", fast_gst)
        .num("generic_ns", generic)
        .num("fast_reused_MBps", static_cast<double>(len) / fast * 1000.0);
    bench::emit("decode", "decode_cpp_" + std::to_string(len), j);
  }
  return 0;
}
