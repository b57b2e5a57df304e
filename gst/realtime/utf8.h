// The one UTF-8 validator of the protocol code (RFC 3629), used by the JSON scanner (fastpath.cc:
// validate_json() and the audio delta fast path) and the JSON writer (protocol_build.cc, which
// replaces each invalid byte with U+FFFD). Header-only: it runs per byte on the hot path.
#pragma once

#include <cstddef>

namespace rtc {

// Length (1 to 4) of the valid UTF-8 sequence that starts at `p`, or 0 when the bytes at `p` are
// not valid UTF-8 (or p == end):
//   - a continuation byte (80-BF) where a sequence must start, or a byte that never occurs
//     (C0, C1: always overlong; F5-FF: beyond U+10FFFF);
//   - an overlong form (E0 followed by 80-9F, F0 followed by 80-8F);
//   - an encoded UTF-16 surrogate U+D800-U+DFFF (ED followed by A0-BF);
//   - a code point above U+10FFFF (F4 followed by 90-BF);
//   - a missing or wrong continuation byte, including a sequence cut short by `end`.
// ASCII (00-7F, NUL included) is a sequence of length 1: callers decide what a control byte means.
inline size_t utf8_sequence_length(const unsigned char *p, const unsigned char *end) {
  if (p >= end) return 0;
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong below U+0800
    if (c == 0xed) hi = 0x9f;  // UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong below U+10000
    if (c == 0xf4) hi = 0x8f;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < n || p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < n; k++)
    if (p[k] < 0x80 || p[k] > 0xbf) return 0;
  return n;
}

// Whether all of [data, data + len) is valid UTF-8 (see utf8_sequence_length()).
inline bool utf8_valid(const char *data, size_t len) {
  const unsigned char *p = reinterpret_cast<const unsigned char *>(data);
  const unsigned char *end = p + len;
  while (p < end) {
    const size_t n = utf8_sequence_length(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

}  // namespace rtc
