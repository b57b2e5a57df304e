// Strict RFC 4648 base64 (standard alphabet, '=' padding, no whitespace, no line breaks).
// Hot path of both directions (§3.3 appends, §4 audio deltas): table driven, 4 chars per step.
#include <cstring>

#include "protocol.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define RTC_HAVE_AVX2_DECODER 1
#endif

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

#if defined(RTC_HAVE_AVX2_DECODER)
// AVX2 decoder for the bulk of the input (W. Mula, D. Lemire, "Faster Base64 Encoding and
// Decoding using AVX2 Instructions", 2018): 32 characters -> 24 bytes per step. A block holding
// any character outside the alphabet (including '=') stops the loop; the scalar code below
// then decodes the rest and reports the error, so semantics stay exactly the scalar ones.
// Returns the number of characters consumed (a multiple of 32); writes 3/4 of that to out.
__attribute__((target("avx2"))) size_t decode_avx2(const uint8_t *in, size_t len, uint8_t *out) {
  const __m256i lut_lo = _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
                                          0x1B, 0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                          0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i lut_hi = _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
                                          0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
                                          0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  const __m256i lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4,
                                            -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i mask_2f = _mm256_set1_epi8(0x2f);
  const __m256i shuffle = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4,
                                           10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i permute = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
  size_t i = 0;
  // Each store writes 32 bytes of which 24 are valid: keep >= 48 characters in front so the
  // extra 8 bytes always land inside the decoded size (even with "==" padding at the end).
  while (len - i >= 48) {
    __m256i str = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(in + i));
    const __m256i hi_nibbles = _mm256_and_si256(_mm256_srli_epi32(str, 4), mask_2f);
    const __m256i lo_nibbles = _mm256_and_si256(str, mask_2f);
    const __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nibbles);
    const __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nibbles);
    if (!_mm256_testz_si256(lo, hi)) break;
    const __m256i eq_2f = _mm256_cmpeq_epi8(str, mask_2f);
    const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nibbles));
    str = _mm256_add_epi8(str, roll);
    const __m256i merged = _mm256_maddubs_epi16(str, _mm256_set1_epi32(0x01400140));
    __m256i packed = _mm256_madd_epi16(merged, _mm256_set1_epi32(0x00011000));
    packed = _mm256_shuffle_epi8(packed, shuffle);
    packed = _mm256_permutevar8x32_epi32(packed, permute);
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(out), packed);
    i += 32;
    out += 24;
  }
  return i;
}

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

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
  size_t start = 0;
#if defined(RTC_HAVE_AVX2_DECODER)
  if (len >= 48 && cpu_has_avx2()) {
    start = decode_avx2(p, len, o);
    o += start / 4 * 3;
  }
#endif
  for (size_t i = start; i < full; i += 4) {
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
