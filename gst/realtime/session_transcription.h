// Transcription-only sessions in the engine (docs/protocol.md §14).
// GStreamer-free, libsoup-free: the small rules the engine (session_*.cc) applies when
// EndpointParams::kind == SessionKind::Transcription. Unit-tested in tests/engine.
#pragma once

#include <cstdint>
#include <string>

#include "protocol.h"

namespace rtc {
namespace detail {

// The configuration update of a session of kind `k`: transcription sessions send
// transcription_session.update (preview) or session.update with session.type "transcription"
// (GA); the other kinds the conversation session.update.
std::string build_session_update_for(SessionKind k, Dialect d, const SessionConfig &cfg, const std::string &event_id);
// Client event type name of that update (for error.event_id matching).
const char *session_update_type_for(SessionKind k, Dialect d);

// Transcription sessions have no conversation: nothing is replayed after a reconnect.
inline bool kind_replays_conversation(SessionKind k) { return k == SessionKind::Conversation; }

// Where a transcription event's text lies on the caller's input timeline when its item has
// not been committed yet (a streaming model's deltas before input_audio_buffer.commit,
// Part B §8-§9): from the start of the uncommitted input buffer to the end of the audio sent so
// far (both caller samples, -1 when unknown). Committed items keep their committed span.
struct Span {
  int64_t start = -1, end = -1;
};
Span uncommitted_span(int64_t buffer_start_caller, int64_t sent_end_caller);

}  // namespace detail
}  // namespace rtc
