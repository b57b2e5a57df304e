// libFuzzer target: server-event parsing. For every input the hot path (parse_audio_delta_fast)
// and the generic parser (parse_server_event) must agree (protocol.h contract):
//   Ok    <=> generic ok with type AudioDelta, same ids/indexes, same decoded bytes;
//   Error  => generic !ok.
// Any disagreement or crash aborts (a regression case goes into corpus/server_event/).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *d = reinterpret_cast<const char *>(data);
  rtc::AudioDeltaHeader hdr;
  std::vector<uint8_t> mem;
  std::string err;
  rtc::FastParseStatus fs = rtc::parse_audio_delta_fast(
      d, size, &hdr,
      [&](size_t max_len) -> uint8_t * {
        mem.assign(max_len + 1, 0);
        return mem.data();
      },
      &err);
  rtc::ParsedServerEvent p = rtc::parse_server_event(d, size);
  auto die = [&](const char *why) {
    fprintf(stderr, "fast/generic disagreement: %s (fast=%d generic ok=%d type=%d err='%s' / '%s')\n", why,
            static_cast<int>(fs), p.ok, static_cast<int>(p.event.type), err.c_str(), p.error.c_str());
    abort();
  };
  if (fs == rtc::FastParseStatus::Ok) {
    if (!p.ok || p.event.type != rtc::ServerEventType::AudioDelta) die("fast Ok, generic not an audio delta");
    if (p.event.response_id != hdr.response_id || p.event.item_id != hdr.item_id) die("ids differ");
    if (p.event.output_index != hdr.output_index || p.event.content_index != hdr.content_index) die("indexes differ");
    if (p.event.audio.size() != hdr.audio_len) die("audio length differs");
    if (hdr.audio_len && memcmp(p.event.audio.data(), mem.data(), hdr.audio_len) != 0) die("audio bytes differ");
  } else if (fs == rtc::FastParseStatus::Error) {
    if (p.ok) die("fast Error, generic ok");
  } else {
    if (p.ok && p.event.type == rtc::ServerEventType::AudioDelta) die("fast NotAudioDelta, generic audio delta");
  }
  return 0;
}
