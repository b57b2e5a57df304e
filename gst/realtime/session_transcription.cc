// Transcription-only sessions in the engine: see session_transcription.h.
#include "session_transcription.h"

namespace rtc {
namespace detail {

std::string build_session_update_for(SessionKind k, Dialect d, const SessionConfig &cfg, const std::string &event_id) {
  switch (k) {
    case SessionKind::Transcription: return build_transcription_session_update(d, cfg, event_id);
    case SessionKind::Translation: return build_translation_session_update(cfg, event_id);
    case SessionKind::Conversation: break;
  }
  return build_session_update(d, cfg, event_id);
}

const char *session_update_type_for(SessionKind k, Dialect d) {
  if (k == SessionKind::Transcription && d == Dialect::Preview) return "transcription_session.update";
  return "session.update";
}

Span uncommitted_span(int64_t buffer_start_caller, int64_t sent_end_caller) {
  Span s;
  s.start = buffer_start_caller;
  s.end = sent_end_caller;
  if (s.start >= 0 && s.end >= 0 && s.end < s.start) s.end = s.start;
  return s;
}

}  // namespace detail
}  // namespace rtc
