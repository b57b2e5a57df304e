// The one UTF-8 validator (gst/realtime/utf8.h) and its two users: the strict JSON scanner
// (validate_json, the audio delta fast path) rejects what it rejects, and the JSON writer
// (protocol_build.cc) replaces each byte it rejects with U+FFFD.
#include "test_util.h"
#include "utf8.h"

using namespace rtc;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

size_t seq_len(const std::string &s) {
  const unsigned char *p = reinterpret_cast<const unsigned char *>(s.data());
  return utf8_sequence_length(p, p + s.size());
}

struct Case {
  const char *what;
  std::string text;
  bool valid;
};

// Every class of the validator's contract, at its boundaries.
std::vector<Case> cases() {
  return {
      {"ASCII", "hello", true},
      {"NUL is ASCII", bytes({'a', 0, 'b'}), true},
      {"U+0080 (first 2-byte)", bytes({0xc2, 0x80}), true},
      {"U+07FF (last 2-byte)", bytes({0xdf, 0xbf}), true},
      {"U+0800 (first 3-byte)", bytes({0xe0, 0xa0, 0x80}), true},
      {"U+D7FF (below the surrogates)", bytes({0xed, 0x9f, 0xbf}), true},
      {"U+E000 (above the surrogates)", bytes({0xee, 0x80, 0x80}), true},
      {"U+FFFF", bytes({0xef, 0xbf, 0xbf}), true},
      {"U+10000 (first 4-byte)", bytes({0xf0, 0x90, 0x80, 0x80}), true},
      {"U+1F600", bytes({0xf0, 0x9f, 0x98, 0x80}), true},
      {"U+10FFFF (last code point)", bytes({0xf4, 0x8f, 0xbf, 0xbf}), true},
      {"mixed text", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", true},
      {"overlong C0 80 (NUL)", bytes({0xc0, 0x80}), false},
      {"overlong C1 BF", bytes({0xc1, 0xbf}), false},
      {"overlong E0 80 80", bytes({0xe0, 0x80, 0x80}), false},
      {"overlong E0 9F BF (U+07FF)", bytes({0xe0, 0x9f, 0xbf}), false},
      {"overlong F0 80 80 80", bytes({0xf0, 0x80, 0x80, 0x80}), false},
      {"overlong F0 8F BF BF (U+FFFF)", bytes({0xf0, 0x8f, 0xbf, 0xbf}), false},
      {"surrogate U+D800", bytes({0xed, 0xa0, 0x80}), false},
      {"surrogate U+DBFF", bytes({0xed, 0xaf, 0xbf}), false},
      {"surrogate U+DC00", bytes({0xed, 0xb0, 0x80}), false},
      {"surrogate U+DFFF", bytes({0xed, 0xbf, 0xbf}), false},
      {"U+110000 (F4 90 80 80)", bytes({0xf4, 0x90, 0x80, 0x80}), false},
      {"F5 lead byte", bytes({0xf5, 0x80, 0x80, 0x80}), false},
      {"F7 BF BF BF (U+1FFFFF)", bytes({0xf7, 0xbf, 0xbf, 0xbf}), false},
      {"F8 lead byte (5-byte form)", bytes({0xf8, 0x88, 0x80, 0x80, 0x80}), false},
      {"FE byte", bytes({0xfe}), false},
      {"FF byte", bytes({0xff}), false},
      {"stray continuation 80", bytes({0x80}), false},
      {"stray continuation BF after ASCII", bytes({'a', 0xbf}), false},
      {"truncated 2-byte at the end", bytes({'a', 0xc3}), false},
      {"truncated 3-byte at the end", bytes({0xe2, 0x82}), false},
      {"truncated 4-byte at the end", bytes({0xf0, 0x9f, 0x98}), false},
      {"truncated 2-byte before ASCII", bytes({0xc3, 'A'}), false},
      {"truncated 3-byte before ASCII", bytes({0xe2, 0x82, 'A'}), false},
      {"truncated 4-byte before a new lead", bytes({0xf0, 0x9f, 0x98, 0xc3, 0xa9}), false},
  };
}

}  // namespace

TEST(Utf8, SequenceLengths) {
  EXPECT_EQ(seq_len(""), 0u);  // p == end
  EXPECT_EQ(seq_len("A"), 1u);
  EXPECT_EQ(seq_len(bytes({0})), 1u);
  EXPECT_EQ(seq_len(bytes({0xc3, 0xa9})), 2u);
  EXPECT_EQ(seq_len(bytes({0xe2, 0x82, 0xac})), 3u);
  EXPECT_EQ(seq_len(bytes({0xf0, 0x9f, 0x98, 0x80})), 4u);
  EXPECT_EQ(seq_len(bytes({0xc3, 0xa9, 'x'})), 2u);  // only the first sequence
  EXPECT_EQ(seq_len(bytes({0xc3})), 0u);             // cut short by end
  EXPECT_EQ(seq_len(bytes({0x80})), 0u);
}

TEST(Utf8, EveryClassAtItsBoundaries) {
  for (const Case &c : cases()) EXPECT_EQ(utf8_valid(c.text.data(), c.text.size()), c.valid) << c.what;
}

TEST(Utf8, EveryLeadByteAgainstEveryContinuation) {
  // Exhaustive over the first two bytes, padded with valid continuations: the second byte's
  // allowed range depends on the lead byte only.
  for (int lead = 0x80; lead <= 0xff; lead++) {
    for (int second = 0x00; second <= 0xff; second++) {
      std::string s = bytes({lead, second, 0x80, 0x80});
      size_t want_n = 0;
      int lo = 0x80, hi = 0xbf;
      if (lead >= 0xc2 && lead <= 0xdf) want_n = 2;
      if (lead >= 0xe0 && lead <= 0xef) want_n = 3;
      if (lead >= 0xf0 && lead <= 0xf4) want_n = 4;
      if (lead == 0xe0) lo = 0xa0;
      if (lead == 0xed) hi = 0x9f;
      if (lead == 0xf0) lo = 0x90;
      if (lead == 0xf4) hi = 0x8f;
      if (second < lo || second > hi) want_n = 0;
      EXPECT_EQ(seq_len(s), want_n) << std::hex << lead << " " << second;
    }
  }
}

TEST(Utf8, TheJsonScannerRejectsExactlyTheInvalidText) {
  for (const Case &c : cases()) {
    if (c.text.find('\0') != std::string::npos) continue;  // a raw control byte is refused anyway
    const std::string json = "{\"type\":\"x\",\"text\":\"" + c.text + "\"}";
    std::string err;
    EXPECT_EQ(validate_json(json.data(), json.size(), &err), c.valid) << c.what << ": " << err;
    if (!c.valid) {
      EXPECT_NE(err.find("UTF-8"), std::string::npos) << c.what << ": " << err;
    }
  }
}

TEST(Utf8, TheWriterReplacesInvalidBytesAndKeepsValidText) {
  for (const Case &c : cases()) {
    ItemCreate ic;
    ic.kind = ItemCreate::Kind::UserText;
    ic.text = c.text;
    const std::string json = build_item_create(Dialect::GA, ic, "evt_1");
    std::string err;
    EXPECT_TRUE(validate_json(json.data(), json.size(), &err)) << c.what << ": " << err;
    const bool replaced = json.find("\xEF\xBF\xBD") != std::string::npos;
    const bool has_nul = c.text.find('\0') != std::string::npos;  // NUL becomes U+FFFD too
    EXPECT_EQ(replaced, !c.valid || has_nul) << c.what;
    if (c.valid && !has_nul) {
      EXPECT_NE(json.find(c.text), std::string::npos) << c.what << ": kept as is";
    }
  }
}
