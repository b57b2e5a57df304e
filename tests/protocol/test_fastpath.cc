// The audio delta fast path (parse_audio_delta_fast) must agree with parse_server_event() on
// every input, and base64 must be strict and exact.
//
// Edge semantics (both paths, enforced by the shared strict scanner in fastpath.cc):
//   - output_index / content_index: integer tokens only. -0 is 0; 1.0, 1e2, 1E0, -1, 2^31,
//     "1", true are errors; null means absent (-1).
//   - duplicate members: the last one wins (also for "type" and "delta").
//   - escapes are decoded everywhere, also inside the base64 text ("\u0041" == "A", "\/" == "/").
//   - "\u0000" and lone surrogates are malformed JSON; so are json-glib's lenient forms.
//   - a malformed frame is Error whatever its type; a well-formed frame whose "type" is a string
//     other than the two audio delta names is NotAudioDelta (alloc is not called).
#include <cstring>
#include <random>

#include "test_util.h"

using namespace rtc;

namespace {

struct Member {
  std::string key, value;  // raw JSON
};

std::string frame_of(const std::vector<Member> &ms, const std::string &ws = "") {
  std::string s = "{";
  for (size_t i = 0; i < ms.size(); i++) {
    if (i) s += "," + ws;
    s += "\"" + ms[i].key + "\":" + ws + ms[i].value;
  }
  return s + "}";
}

std::string b64(const std::vector<uint8_t> &v) {
  std::string s;
  base64_encode_append(s, v.data(), v.size());
  return s;
}

struct Outcome {
  FastParseStatus status;
  AudioDeltaHeader hdr;
  std::vector<uint8_t> audio;
  std::string error;
  int alloc_calls = 0;
};

Outcome run_fast(const std::string &s) {
  Outcome o;
  std::vector<uint8_t> mem;
  size_t max_len = 0;
  o.status = parse_audio_delta_fast(
      s.data(), s.size(), &o.hdr,
      [&](size_t n) {
        o.alloc_calls++;
        max_len = n;
        mem.assign(n + 1, 0xAA);  // +1: never a null pointer
        return mem.data();
      },
      &o.error);
  if (o.status == FastParseStatus::Ok) {
    EXPECT_LE(o.hdr.audio_len, max_len);
    o.audio.assign(mem.begin(), mem.begin() + static_cast<long>(o.hdr.audio_len));
  }
  return o;
}

// The contract of protocol.h, checked for one input. Returns the fast status.
FastParseStatus check_agreement(const std::string &s) {
  SCOPED_TRACE(s.size() > 400 ? s.substr(0, 400) + "..." : s);
  const Outcome f = run_fast(s);
  const ParsedServerEvent g = parse_server_event(s);
  const bool g_delta = g.ok && g.event.type == ServerEventType::AudioDelta;
  switch (f.status) {
    case FastParseStatus::Ok:
      EXPECT_TRUE(g_delta) << g.error;
      EXPECT_EQ(f.alloc_calls, 1);
      if (g_delta) {
        EXPECT_EQ(f.hdr.type_name, g.event.type_name);
        EXPECT_EQ(f.hdr.event_id, g.event.event_id);
        EXPECT_EQ(f.hdr.response_id, g.event.response_id);
        EXPECT_EQ(f.hdr.item_id, g.event.item_id);
        EXPECT_EQ(f.hdr.output_index, g.event.output_index);
        EXPECT_EQ(f.hdr.content_index, g.event.content_index);
        EXPECT_EQ(f.audio, g.event.audio);
      }
      break;
    case FastParseStatus::Error:
      EXPECT_FALSE(g.ok);
      EXPECT_EQ(f.error, g.error);  // same sentence, too
      break;
    case FastParseStatus::NotAudioDelta:
      EXPECT_EQ(f.alloc_calls, 0);
      EXPECT_FALSE(g_delta);
      if (!g.ok) {
        // Only type-specific checks of another event type may fail here.
        EXPECT_EQ(g.error.rfind("malformed JSON", 0), std::string::npos) << g.error;
        EXPECT_EQ(g.error.find("type\""), std::string::npos) << g.error;
        EXPECT_EQ(g.error.rfind("response.audio.delta:", 0), std::string::npos) << g.error;
        EXPECT_EQ(g.error.rfind("response.output_audio.delta:", 0), std::string::npos) << g.error;
      }
      break;
  }
  return f.status;
}

std::vector<Member> base_members(std::mt19937 &rng, bool ga, size_t audio_len) {
  std::vector<uint8_t> audio(audio_len);
  for (auto &b : audio) b = static_cast<uint8_t>(rng());
  return {
      {"type", ga ? "\"response.output_audio.delta\"" : "\"response.audio.delta\""},
      {"event_id", "\"event_" + std::to_string(rng() % 100000) + "\""},
      {"response_id", "\"resp_CAbc12\""},
      {"item_id", "\"item_XyZ/9+\""},
      {"output_index", std::to_string(rng() % 3)},
      {"content_index", "0"},
      {"delta", "\"" + b64(audio) + "\""},
  };
}

const char *const kIndexValues[] = {"0",   "-0",   "7",    "1.0",  "1e2",       "1E0",  "-1",   "2147483647", "2147483648",
                                    "0.5", "\"1\"", "null", "true", "99999999999999999999", "01", "-", "1e400"};
const char *const kStringValues[] = {"\"\"",       "\"\\u0041b\"", "\"caf\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"",
                                     "\"\\u0000\"", "\"a\\\"b\"",   "\"a\\/b\"",       "null",               "5",
                                     "[]",          "{}",           "\"\xc3\xa9\"",    "\"\xff\"",           "\"tab\t\""};
const char *const kDeltaValues[] = {"\"AAAA\"", "\"AAA\"",      "\"AA==\"", "\"AB==\"",     "\"A===\"", "\"AA=A\"",
                                    "\"\"",     "\"AA\\u003d=\"", "\"\\/w==\"", "\"A-_A\"", "\"AA AA\"", "null",
                                    "123",      "\"QUJD\\nREVG\"", "\"QUJDREVG\""};
const char *const kExtraValues[] = {"{\"a\":[1,{\"b\":null}],\"c\":\"x\"}", "[[[[]]]]", "-12.5e-3", "\"obf\"", "true",
                                    "{}", "[1,2,", "{\"a\" 1}", "tru"};
const char *const kTypes[] = {"\"response.audio.delta\"",      "\"response.output_audio.delta\"",
                              "\"response.audio.done\"",       "\"response.output_audio.delta \"",
                              "\"response.\\u0061udio.delta\"", "5", "null", "\"error\""};

std::string mutate_bytes(std::mt19937 &rng, std::string s) {
  static const char kChars[] = "{}[]\":,\\ 0123456789eE.-+=/aAzZ\t\n";
  const int n = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < n && !s.empty(); k++) {
    const size_t pos = rng() % s.size();
    switch (rng() % 6) {
      case 0: s[pos] = kChars[rng() % (sizeof kChars - 1)]; break;                  // flip to a JSON char
      case 1: s[pos] = static_cast<char>(rng()); break;                            // any byte
      case 2: s.resize(rng() % s.size()); break;                                   // truncate
      case 3: s.insert(pos, std::string(1 + rng() % 3, " \t\n\r"[rng() % 4])); break;  // whitespace
      case 4: s.erase(pos, 1); break;
      case 5: s.insert(pos, 1, kChars[rng() % (sizeof kChars - 1)]); break;
    }
  }
  return s;
}

// Escapes one character of a string value: "A" -> "\u0041", "/" -> "\/".
std::string escape_one(std::mt19937 &rng, const std::string &value) {
  if (value.size() < 3 || value.front() != '"') return value;
  const size_t pos = 1 + rng() % (value.size() - 2);
  const char c = value[pos];
  if (c == '\\' || c == '"' || static_cast<unsigned char>(c) >= 0x80) return value;
  char buf[8];
  if (c == '/' && rng() % 2) return value.substr(0, pos) + "\\/" + value.substr(pos + 1);
  snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned char>(c));
  return value.substr(0, pos) + buf + value.substr(pos + 1);
}

std::string structured_case(std::mt19937 &rng) {
  const bool ga = rng() % 2;
  static const size_t kSizes[] = {0, 1, 2, 3, 10, 47, 48, 49, 100, 333};
  std::vector<Member> ms = base_members(rng, ga, kSizes[rng() % 10]);
  const int n = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < n; k++) {
    switch (rng() % 10) {
      case 0: std::shuffle(ms.begin(), ms.end(), rng); break;  // member order
      case 1: {                                                 // duplicate member
        Member m = ms[rng() % ms.size()];
        if (rng() % 2) {
          if (m.key == "delta") m.value = kDeltaValues[rng() % std::size(kDeltaValues)];
          else if (m.key == "type") m.value = kTypes[rng() % std::size(kTypes)];
          else if (m.key.find("index") != std::string::npos) m.value = kIndexValues[rng() % std::size(kIndexValues)];
          else m.value = kStringValues[rng() % std::size(kStringValues)];
        }
        ms.insert(ms.begin() + static_cast<long>(rng() % (ms.size() + 1)), m);
        break;
      }
      case 2: ms[4 + rng() % 2].value = kIndexValues[rng() % std::size(kIndexValues)]; break;
      case 3: ms[1 + rng() % 3].value = kStringValues[rng() % std::size(kStringValues)]; break;
      case 4: ms.back().value = kDeltaValues[rng() % std::size(kDeltaValues)]; break;
      case 5: ms.insert(ms.begin() + static_cast<long>(rng() % (ms.size() + 1)),
                        Member{rng() % 2 ? "obfuscation" : "x\\u00e9", kExtraValues[rng() % std::size(kExtraValues)]});
        break;
      case 6: {  // escape a character in a string (ids, delta, type or a key)
        Member &m = ms[rng() % ms.size()];
        if (rng() % 4 == 0) {
          m.key = escape_one(rng, "\"" + m.key + "\"");
          m.key = m.key.substr(1, m.key.size() - 2);
        } else {
          m.value = escape_one(rng, m.value);
        }
        break;
      }
      case 7: ms.erase(ms.begin() + static_cast<long>(rng() % ms.size())); break;  // drop a member
      case 8: ms[0].value = kTypes[rng() % std::size(kTypes)]; break;
      case 9: {  // one bad base64 character or bad padding inside a real delta
        std::string &v = ms.back().value;
        if (v.size() > 3 && v.front() == '"') v[1 + rng() % (v.size() - 2)] = "*-_= .~"[rng() % 7];
        break;
      }
    }
  }
  static const char *const kWs[] = {"", " ", "\n\t", "\r\n  "};
  std::string s = frame_of(ms, kWs[rng() % 4]);
  if (rng() % 4 == 0) s = mutate_bytes(rng, s);
  if (rng() % 8 == 0) s = " \n" + s + "\t ";
  return s;
}

}  // namespace

TEST(FastPath, ValidFramesBothDialects) {
  std::mt19937 rng(1);
  for (bool ga : {true, false}) {
    for (size_t len : {0, 1, 2, 3, 4800, 27000}) {
      const std::string s = frame_of(base_members(rng, ga, len));
      EXPECT_EQ(check_agreement(s), FastParseStatus::Ok);
      const Outcome f = run_fast(s);
      EXPECT_EQ(f.hdr.audio_len, len);
      EXPECT_EQ(f.hdr.type_name, ga ? "response.output_audio.delta" : "response.audio.delta");
      EXPECT_EQ(f.hdr.item_id, "item_XyZ/9+");
    }
  }
}
TEST(FastPath, NotAudioDelta) {
  for (const char *json : {R"({"type":"response.audio.done","response_id":"r","item_id":"i"})",
                           R"({"type":"response.output_audio_transcript.delta","response_id":"r","item_id":"i","delta":"hi"})",
                           R"({"type":"input_audio_buffer.speech_started","audio_start_ms":"x"})",
                           R"({"type":"something.new","delta":"!!!"})"}) {
    EXPECT_EQ(check_agreement(json), FastParseStatus::NotAudioDelta) << json;
  }
}
TEST(FastPath, Errors) {
  for (const char *json : {"", "[]", "{", R"({"delta":"AAAA"})", R"({"type":1})",
                           R"({"type":"response.audio.delta","response_id":"r","item_id":"i","delta":"AAA"})",
                           R"({"type":"response.audio.delta","response_id":"r","delta":"AAAA"})",
                           R"({"type":"response.output_audio.delta","response_id":"r","item_id":"i","output_index":1.0,"delta":"AAAA"})",
                           R"({"type":"response.error.x","a":[}"})"}) {
    EXPECT_EQ(check_agreement(json), FastParseStatus::Error) << json;
  }
}
TEST(FastPath, EdgeSemantics) {
  const std::string head = R"({"type":"response.output_audio.delta","response_id":"r","item_id":"i",)";
  EXPECT_EQ(check_agreement(head + R"("output_index":-0,"delta":"AAAA"})"), FastParseStatus::Ok);
  EXPECT_EQ(run_fast(head + R"("output_index":-0,"delta":"AAAA"})").hdr.output_index, 0);
  EXPECT_EQ(check_agreement(head + R"("output_index":1e2,"delta":"AAAA"})"), FastParseStatus::Error);
  EXPECT_EQ(check_agreement(head + R"("output_index":null,"delta":"AAAA"})"), FastParseStatus::Ok);
  EXPECT_EQ(check_agreement(head + R"("content_index":2147483648,"delta":"AAAA"})"), FastParseStatus::Error);
  // Escapes inside base64 and ids are decoded like json-glib does.
  const Outcome f = run_fast(head + R"("event_id":"e\u00e9\ud83d\ude00","delta":"\u0041\u0041E\/"})");
  ASSERT_EQ(f.status, FastParseStatus::Ok) << f.error;
  EXPECT_EQ(f.hdr.event_id, "e\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(f.audio, (std::vector<uint8_t>{0x00, 0x01, 0x3f}));
  EXPECT_EQ(check_agreement(head + R"("delta":"\u0041\u0041E\/"})"), FastParseStatus::Ok);
  // Duplicate members: the last wins, also for "type" and "delta".
  EXPECT_EQ(check_agreement(head + R"("delta":"!!!!","delta":"AAAA"})"), FastParseStatus::Ok);
  EXPECT_EQ(check_agreement(head + R"("delta":"AAAA","type":"response.audio.done"})"), FastParseStatus::NotAudioDelta);
  EXPECT_EQ(check_agreement(R"({"type":"x","type":"response.audio.delta","response_id":"r","item_id":"i","delta":""})"),
            FastParseStatus::Ok);
  // Extra members of any shape are validated and skipped.
  EXPECT_EQ(check_agreement(head + R"("obfuscation":"abc","x":{"y":[1,2.5e3,null,true,{"z":"\n"}]},"delta":"AAAA"})"),
            FastParseStatus::Ok);
  std::string deep = head + "\"x\":" + std::string(300, '[') + std::string(300, ']') + ",\"delta\":\"AAAA\"}";
  EXPECT_EQ(check_agreement(deep), FastParseStatus::Error);
  std::string very_deep = head + "\"x\":" + std::string(100000, '[');
  EXPECT_EQ(check_agreement(very_deep), FastParseStatus::Error);
}
TEST(FastPath, AllocNotCalledWhenNotAudioDelta) {
  int calls = 0;
  AudioDeltaHeader h;
  std::string err;
  const std::string s = R"({"type":"response.text.delta","delta":"AAAA"})";
  EXPECT_EQ(parse_audio_delta_fast(s.data(), s.size(), &h, [&](size_t) { calls++; return nullptr; }, &err),
            FastParseStatus::NotAudioDelta);
  EXPECT_EQ(calls, 0);
}
TEST(FastPath, AllocFailureIsAnError) {
  AudioDeltaHeader h;
  std::string err;
  const std::string s = R"({"type":"response.audio.delta","response_id":"r","item_id":"i","delta":"AAAA"})";
  EXPECT_EQ(parse_audio_delta_fast(s.data(), s.size(), &h, [](size_t) -> uint8_t * { return nullptr; }, &err),
            FastParseStatus::Error);
  EXPECT_NE(err.find("allocate"), std::string::npos);
}
TEST(FastPath, FuzzAgreementStructured) {
  std::mt19937 rng(20240917);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 6000; i++) {
    const FastParseStatus st = check_agreement(structured_case(rng));
    counts[static_cast<int>(st)]++;
    if (HasFailure()) break;
  }
  // The corpus covers all three outcomes substantially.
  EXPECT_GT(counts[static_cast<int>(FastParseStatus::Ok)], 1000);
  EXPECT_GT(counts[static_cast<int>(FastParseStatus::Error)], 1000);
  EXPECT_GT(counts[static_cast<int>(FastParseStatus::NotAudioDelta)], 100);
  std::printf("fuzz outcomes: ok=%d error=%d not_audio_delta=%d\n", counts[1], counts[2], counts[0]);
}
TEST(FastPath, FuzzAgreementByteMutations) {
  std::mt19937 rng(7);
  for (int i = 0; i < 4000 && !HasFailure(); i++) {
    const std::string s = frame_of(base_members(rng, rng() % 2, rng() % 64));
    check_agreement(mutate_bytes(rng, s));
  }
}
TEST(FastPath, EveryTruncationOfAValidFrame) {
  std::mt19937 rng(3);
  const std::string s = frame_of(base_members(rng, true, 30));
  for (size_t n = 0; n <= s.size() && !HasFailure(); n++) check_agreement(s.substr(0, n));
}

// --- base64 ----------------------------------------------------------------------------------
TEST(Base64, RoundTripAgainstGlib) {
  std::mt19937 rng(5);
  for (size_t len = 0; len < 400; len++) {
    std::vector<uint8_t> data(len);
    for (auto &b : data) b = static_cast<uint8_t>(rng());
    std::string enc;
    base64_encode_append(enc, data.data(), data.size());
    EXPECT_EQ(enc.size(), base64_encoded_len(len));
    gchar *ref = g_base64_encode(data.data(), data.size());
    EXPECT_EQ(enc, ref);
    g_free(ref);
    // Decode into a buffer with sentinels: nothing may be written past the decoded size.
    std::vector<uint8_t> out(base64_decoded_max(enc.size()) + 16, 0x5a);
    size_t n = 99;
    ASSERT_TRUE(base64_decode(enc.data(), enc.size(), out.data(), &n));
    ASSERT_EQ(n, len);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), out.begin()));
    for (size_t i = n; i < out.size(); i++) ASSERT_EQ(out[i], 0x5a) << "len " << len << " byte " << i;
  }
}
// In place (the engine decodes a large frame's audio over its own text): out == in, or out some
// bytes before in, gives the same bytes as a separate buffer, for every length (scalar and AVX2
// paths, every padding).
TEST(Base64, InPlaceDecodingMatchesASeparateBuffer) {
  std::mt19937 rng(11);
  for (size_t len = 0; len < 700; len += (len < 100 ? 1 : 7)) {
    std::vector<uint8_t> data(len);
    for (auto &b : data) b = static_cast<uint8_t>(rng());
    std::string enc;
    base64_encode_append(enc, data.data(), data.size());
    for (size_t gap : {0u, 1u, 15u, 40u}) {
      std::vector<uint8_t> buf(gap + enc.size(), 0x5a);
      std::memcpy(buf.data() + gap, enc.data(), enc.size());
      size_t n = 99;
      ASSERT_TRUE(base64_decode(reinterpret_cast<const char *>(buf.data() + gap), enc.size(), buf.data(), &n))
          << "len " << len << " gap " << gap;
      ASSERT_EQ(n, len);
      ASSERT_TRUE(std::equal(data.begin(), data.end(), buf.begin())) << "len " << len << " gap " << gap;
    }
  }
}

// The allocator is told where the base64 text is, and may decode over it.
TEST(FastPath, AllocAtGetsTheTextAndMayDecodeInPlace) {
  std::vector<uint8_t> pcm(3000);
  for (size_t i = 0; i < pcm.size(); i++) pcm[i] = static_cast<uint8_t>(i * 13);
  std::string b64;
  base64_encode_append(b64, pcm.data(), pcm.size());
  std::string frame = R"({"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":")" + b64 + "\"}";
  AudioDeltaHeader h;
  std::string err;
  const char *seen = nullptr;
  const char *text_at = frame.data() + frame.find(b64);  // (overwritten by the decode below)
  EXPECT_EQ(parse_audio_delta_fast_at(frame.data(), frame.size(), &h,
                                      [&](size_t, const char *at) {
                                        seen = at;
                                        return reinterpret_cast<uint8_t *>(const_cast<char *>(at));
                                      },
                                      &err),
            FastParseStatus::Ok)
      << err;
  ASSERT_EQ(seen, text_at);
  ASSERT_EQ(h.audio_len, pcm.size());
  EXPECT_TRUE(std::equal(pcm.begin(), pcm.end(), reinterpret_cast<const uint8_t *>(seen)));
  EXPECT_EQ(h.item_id, "i");
  // With JSON escapes the text is unescaped into a copy first: no place to decode in.
  std::string esc = R"({"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"\u0041AAA"})";
  seen = esc.data();
  std::vector<uint8_t> out(8);
  EXPECT_EQ(parse_audio_delta_fast_at(esc.data(), esc.size(), &h,
                                      [&](size_t, const char *at) {
                                        seen = at;
                                        return out.data();
                                      },
                                      &err),
            FastParseStatus::Ok);
  EXPECT_EQ(seen, nullptr);
}

TEST(Base64, InvalidCharacterAtEveryPosition) {
  std::mt19937 rng(6);
  for (size_t len : {36, 48, 96, 150, 3000}) {
    std::vector<uint8_t> data(len);
    for (auto &b : data) b = static_cast<uint8_t>(rng());
    std::string enc;
    base64_encode_append(enc, data.data(), data.size());
    std::vector<uint8_t> out(base64_decoded_max(enc.size()));
    size_t n;
    for (size_t pos = 0; pos < enc.size(); pos++) {
      for (char bad : {'*', '-', '_', ' ', '\0', '\x80', '=', '"'}) {
        std::string s = enc;
        if (s[pos] == bad) continue;
        // '=' in the last two places can form valid padding; a replaced '=' a valid quantum.
        if ((bad == '=' && pos + 2 >= s.size()) || s[pos] == '=') continue;
        s[pos] = bad;
        EXPECT_FALSE(base64_decode(s.data(), s.size(), out.data(), &n)) << len << " " << pos << " " << int(bad);
      }
    }
  }
}
TEST(Base64, StrictPadding) {
  uint8_t out[16];
  size_t n;
  EXPECT_TRUE(base64_decode("", 0, out, &n));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(base64_decode("AA==", 4, out, &n));
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(base64_decode("AAA=", 4, out, &n));
  EXPECT_EQ(n, 2u);
  for (const char *bad : {"A", "AA", "AAA", "AB==", "AAB=", "A===", "====", "AA=A", "=AAA", "AAAA=", "AA==AAAA", "AAAAA==="})
    EXPECT_FALSE(base64_decode(bad, strlen(bad), out, &n)) << bad;
}
