// rtcgst text limits: how much transcript text realtimeconv keeps (issue 12 defect 9; documented
// in docs/reliability.md "Memory bounds"). A server may send one transcript delta or done of up to
// 16 MiB (the frame limit); without bounds every copy of it (pad queue, bus message) stays alive
// as long as nobody consumes it.
//
// Policy (pure, unit-tested in tests/element/test_reliability.cc):
//  * one text (a transcript delta / done, a caption) is cut to kMaxTextBytes at a UTF-8 boundary
//    when the event enters the element's inbox, before it is queued on a pad or posted on the bus
//    (the cut is logged);
//  * each text pad's queue holds at most kMaxTextItems buffers and kMaxTextQueueBytes bytes: when
//    a new text would exceed either, the OLDEST queued texts are dropped (the pad's consumer is
//    blocked or too slow; the newest text is the most useful one), with a warning once per pad.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace rtcgst {

constexpr size_t kMaxTextItems = 1000;                   // per text pad
constexpr size_t kMaxTextQueueBytes = 8u * 1024 * 1024;  // per text pad
constexpr size_t kMaxTextBytes = 256u * 1024;             // one text

// The longest prefix of s[0, len) of at most `max` bytes that does not cut a UTF-8 sequence.
size_t utf8_prefix_len(const char *s, size_t len, size_t max);

// `text` cut to kMaxTextBytes (at a UTF-8 boundary); true when it was cut.
bool cap_text(std::string *text, size_t max = kMaxTextBytes);

// A copy of at most `max` bytes of s (cut at a UTF-8 boundary), e.g. for a bus message field.
inline std::string capped_text(const std::string &s, size_t max = kMaxTextBytes) {
  return s.size() <= max ? s : s.substr(0, utf8_prefix_len(s.data(), s.size(), max));
}

// A copy of a server event for the element's inbox, its `text` cut to kMaxTextBytes (the copy
// would otherwise keep a 16 MiB transcript alive until the control thread gets to it).
template <class Event>
std::unique_ptr<Event> inbox_copy(const Event &ev) {
  auto c = std::make_unique<Event>(ev);
  if (cap_text(&c->text)) c->text.shrink_to_fit();
  return c;
}

// Whether the oldest queued text must be dropped before one of `incoming` bytes is queued behind
// `items` texts of `bytes` bytes in total.
inline bool text_queue_must_drop(size_t items, size_t bytes, size_t incoming) {
  if (items == 0) return false;
  return items >= kMaxTextItems || bytes + incoming > kMaxTextQueueBytes;
}

}  // namespace rtcgst
