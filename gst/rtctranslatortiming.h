// realtimetranslator timing (issue 14, docs/translator.md): where a translated delta goes on the
// output timeline. Pure, unit-tested without pads or threads (tests/element/test_translator.cc).
//
// Positions are samples at 24 kHz on the element's INPUT timeline (sample 0 = the first input
// sample; the engine keeps it continuous across reconnects). The output timeline is the same
// timeline (output running time = input running time of the same sample), so a translation
// placed at its source phrase's position is "in sync" with the original.
//
// mapped:  elapsed_ms of the delta mapped onto the input timeline (-1 when the delta had none).
//          elapsed_ms's meaning is unconfirmed (docs/protocol.md §15): it can only refer to audio
//          the server has received, so a mapped position beyond `arrival` cannot be an input
//          position; it is then ignored and arrival time is used (robust to either meaning).
// arrival: input samples handed to the session when the delta arrived (the arrival-time fallback).
// prev_end: end of what was already placed on this output stream (never overlap, never cut).
// floor:   earliest position that can still be played in time (live: now - latency; else 0).
#pragma once

#include <algorithm>
#include <cstdint>

namespace rtcgst {

struct XlPlacement {
  int64_t position = 0;   // where the delta starts
  bool used_mapping = false;
  bool late = false;      // pushed later than its anchor because of `floor` (live budget exceeded)
  int64_t late_by = 0;    // samples
};

inline XlPlacement xl_place(int64_t mapped, int64_t arrival, int64_t prev_end, int64_t floor) {
  XlPlacement p;
  int64_t anchor = arrival;
  if (mapped >= 0 && mapped <= arrival) {
    anchor = mapped;
    p.used_mapping = true;
  }
  int64_t pos = std::max(anchor, prev_end);
  if (floor > pos) {
    p.late = true;
    p.late_by = floor - pos;
    pos = floor;
  }
  p.position = std::max<int64_t>(0, pos);
  return p;
}

}  // namespace rtcgst
