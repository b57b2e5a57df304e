// Strict RFC 4648 base64 (standard alphabet, '=' padding, no whitespace, no line breaks).
// Hot path of both directions (§3.3 appends, §4 audio deltas): table driven, 4 chars per step.
#include <cstring>

#include "protocol.h"

namespace rtc {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct DecodeTable {
  uint8_t v[256];
  constexpr DecodeTable() : v() {
    for (int i = 0; i < 256; i++) v[i] = 0xff;
    for (int i = 0; i < 64; i++) v[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
};
constexpr DecodeTable kDecode;

}  // namespace

size_t base64_encoded_len(size_t n) { return ((n + 2) / 3) * 4; }

size_t base64_decoded_max(size_t len) { return (len / 4) * 3; }

void base64_encode_append(std::string &out, const uint8_t *data, size_t n) {
  const size_t start = out.size();
  out.resize(start + base64_encoded_len(n));
  char *o = &out[start];
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t w = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8) | data[i + 2];
    o[0] = kAlphabet[(w >> 18) & 63];
    o[1] = kAlphabet[(w >> 12) & 63];
    o[2] = kAlphabet[(w >> 6) & 63];
    o[3] = kAlphabet[w & 63];
    o += 4;
  }
  const size_t rest = n - i;
  if (rest == 1) {
    const uint32_t w = uint32_t(data[i]) << 16;
    o[0] = kAlphabet[(w >> 18) & 63];
    o[1] = kAlphabet[(w >> 12) & 63];
    o[2] = '=';
    o[3] = '=';
  } else if (rest == 2) {
    const uint32_t w = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8);
    o[0] = kAlphabet[(w >> 18) & 63];
    o[1] = kAlphabet[(w >> 12) & 63];
    o[2] = kAlphabet[(w >> 6) & 63];
    o[3] = '=';
  }
}

bool base64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len) {
  *out_len = 0;
  if (len % 4 != 0) return false;
  if (len == 0) return true;
  const uint8_t *p = reinterpret_cast<const uint8_t *>(in);
  const size_t full = len - 4;  // the last quantum may carry padding
  uint8_t *o = out;
  for (size_t i = 0; i < full; i += 4) {
    const uint32_t a = kDecode.v[p[i]], b = kDecode.v[p[i + 1]], c = kDecode.v[p[i + 2]], d = kDecode.v[p[i + 3]];
    if ((a | b | c | d) & 0x80) return false;
    const uint32_t w = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<uint8_t>(w >> 16);
    o[1] = static_cast<uint8_t>(w >> 8);
    o[2] = static_cast<uint8_t>(w);
    o += 3;
  }
  const uint8_t *q = p + full;
  const uint32_t a = kDecode.v[q[0]], b = kDecode.v[q[1]];
  if ((a | b) & 0x80) return false;
  if (q[2] == '=') {
    // "xx==": one byte; the unused low bits of b must be zero (canonical encoding).
    if (q[3] != '=' || (b & 0x0f)) return false;
    o[0] = static_cast<uint8_t>((a << 2) | (b >> 4));
    o += 1;
  } else if (q[3] == '=') {
    const uint32_t c = kDecode.v[q[2]];
    if ((c & 0x80) || (c & 0x03)) return false;
    const uint32_t w = (a << 18) | (b << 12) | (c << 6);
    o[0] = static_cast<uint8_t>(w >> 16);
    o[1] = static_cast<uint8_t>(w >> 8);
    o += 2;
  } else {
    const uint32_t c = kDecode.v[q[2]], d = kDecode.v[q[3]];
    if ((c | d) & 0x80) return false;
    const uint32_t w = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<uint8_t>(w >> 16);
    o[1] = static_cast<uint8_t>(w >> 8);
    o[2] = static_cast<uint8_t>(w);
    o += 3;
  }
  *out_len = static_cast<size_t>(o - out);
  return true;
}

}  // namespace rtc
