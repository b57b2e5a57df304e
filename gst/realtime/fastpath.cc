// Strict JSON scanner shared by both server-event parsers, and the audio-delta fast path.
//
// Why a hand-written scanner: json-glib 1.6 is lenient in ways that would make two parsers
// disagree (it accepts comments, single quotes, hex and leading-zero numbers, a BOM, "- 1";
// it truncates strings at an escaped NUL, wraps integers beyond int64, turns 1e400 into inf and
// encodes lone surrogates as CESU-8), and it recurses without a depth limit. So every frame is
// first checked here against strict RFC 8259 plus these restrictions (both parsers, same code):
//   - the text is UTF-8 (no BOM, no overlong forms, no encoded surrogates);
//   - whitespace is space, tab, LF, CR only;
//   - integers (no fraction, no exponent) must fit in int64; other numbers must be finite;
//   - strings must not contain an escaped NUL or a lone surrogate escape;
//   - at most kJsonMaxDepth nested arrays/objects;
//   - duplicate member names are allowed and the last one wins (as in json-glib).
// After this check json-glib builds the tree of the generic parser (protocol_parse.cc), while
// parse_audio_delta_fast() below extracts the few members of an audio delta in the same pass
// and decodes the base64 straight into the caller's memory (§4.1 response.(output_)audio.delta).
#include <glib.h>

#include <cmath>
#include <cstring>

#include "protocol.h"
#include "utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rtc {
namespace {

// Bytes that may be skipped inside a string without a closer look: 0x20..0x7f except '"', '\\'.
struct PlainTable {
  bool v[256];
  constexpr PlainTable() : v() {
    for (int i = 0x20; i < 0x80; i++) v[i] = (i != '"' && i != '\\');
  }
};
constexpr PlainTable kPlain;

inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Advances over plain string bytes (see kPlain); returns the first non-plain byte or end.
inline const char *skip_plain(const char *p, const char *end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i bslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
    // Signed compare: bytes >= 0x80 are negative, so this flags control bytes and non-ASCII.
    const __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                         _mm_cmplt_epi8(v, space));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && kPlain.v[static_cast<unsigned char>(*p)]) p++;
  return p;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool hex4(const char *p, const char *end, uint32_t *out) {
  if (end - p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    const int h = hex_value(p[i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(h);
  }
  *out = v;
  return true;
}

void append_utf8(std::string *s, uint32_t cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    b[0] = static_cast<char>(0xc0 | (cp >> 6));
    b[1] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = static_cast<char>(0xe0 | (cp >> 12));
    b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[2] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = static_cast<char>(0xf0 | (cp >> 18));
    b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[3] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 4;
  }
  s->append(b, n);
}

struct Number {
  bool integral = false;  // no fraction, no exponent (json-glib: an int64 node)
  int64_t value = 0;      // when integral
};

// The strict scanner. Every failing method sets the error once (the first one wins) and
// returns false; the caller then stops.
class Scanner {
 public:
  Scanner(const char *data, size_t len) : begin_(data), p_(data), end_(data + len) {}

  const char *pos() const { return p_; }
  bool at_end() const { return p_ >= end_; }
  char peek() const { return *p_; }
  void advance() { p_++; }
  const std::string &error() const { return error_; }

  void skip_ws() {
    while (p_ < end_ && is_ws(*p_)) p_++;
  }

  bool fail(const char *at, const char *what) {
    if (error_.empty()) {
      error_ = "malformed JSON at offset " + std::to_string(at - begin_) + ": " + what;
    }
    return false;
  }

  // Expects `c` after optional whitespace.
  bool expect(char c, const char *what) {
    skip_ws();
    if (p_ >= end_) return fail(p_, "unexpected end of the text");
    if (*p_ != c) return fail(p_, what);
    p_++;
    return true;
  }

  // p_ at the opening quote. Validates the string; when `decoded` is not null, stores its value.
  // *raw_begin/*raw_end (optional) delimit the raw content between the quotes.
  bool string(std::string *decoded, bool *has_escape, const char **raw_begin = nullptr,
              const char **raw_end = nullptr) {
    const char *p = p_ + 1;
    const char *run = p;
    bool esc = false;
    if (decoded) decoded->clear();
    if (raw_begin) *raw_begin = p;
    for (;;) {
      p = skip_plain(p, end_);
      if (p >= end_) return fail(p, "unterminated string");
      const unsigned char c = static_cast<unsigned char>(*p);
      if (c == '"') {
        if (decoded) decoded->append(run, p);
        if (raw_end) *raw_end = p;
        if (has_escape) *has_escape = esc;
        p_ = p + 1;
        return true;
      }
      if (c == '\\') {
        esc = true;
        if (decoded) decoded->append(run, p);
        if (end_ - p < 2) return fail(p, "unterminated string");
        char out = 0;
        switch (p[1]) {
          case '"': out = '"'; break;
          case '\\': out = '\\'; break;
          case '/': out = '/'; break;
          case 'b': out = '\b'; break;
          case 'f': out = '\f'; break;
          case 'n': out = '\n'; break;
          case 'r': out = '\r'; break;
          case 't': out = '\t'; break;
          case 'u': {
            uint32_t cp;
            if (!hex4(p + 2, end_, &cp)) return fail(p, "invalid \\u escape");
            if (cp == 0) return fail(p, "escaped NUL characters are not supported");
            if (cp >= 0xdc00 && cp <= 0xdfff) return fail(p, "lone surrogate in a \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              uint32_t lo;
              if (end_ - p < 12 || p[6] != '\\' || p[7] != 'u' || !hex4(p + 8, end_, &lo) || lo < 0xdc00 ||
                  lo > 0xdfff) {
                return fail(p, "lone surrogate in a \\u escape");
              }
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              p += 6;
            }
            if (decoded) append_utf8(decoded, cp);
            p += 6;
            run = p;
            continue;
          }
          default:
            return fail(p, "invalid escape sequence in a string");
        }
        if (decoded) decoded->push_back(out);
        p += 2;
        run = p;
        continue;
      }
      if (c < 0x20) return fail(p, "control character in a string");
      const size_t n = utf8_sequence_length(reinterpret_cast<const unsigned char *>(p),
                                             reinterpret_cast<const unsigned char *>(end_));
      if (n == 0) return fail(p, "invalid UTF-8");
      p += n;
    }
  }

  // p_ at '-' or a digit.
  bool number(Number *num) {
    const char *start = p_;
    const char *p = p_;
    bool neg = false;
    if (*p == '-') {
      neg = true;
      p++;
    }
    if (p >= end_ || !is_digit(*p)) return fail(start, "invalid number");
    if (*p == '0') {
      p++;
    } else {
      while (p < end_ && is_digit(*p)) p++;
    }
    const char *int_end = p;
    bool integral = true;
    if (p < end_ && *p == '.') {
      p++;
      if (p >= end_ || !is_digit(*p)) return fail(start, "invalid number");
      while (p < end_ && is_digit(*p)) p++;
      integral = false;
    }
    if (p < end_ && (*p == 'e' || *p == 'E')) {
      p++;
      if (p < end_ && (*p == '+' || *p == '-')) p++;
      if (p >= end_ || !is_digit(*p)) return fail(start, "invalid number");
      while (p < end_ && is_digit(*p)) p++;
      integral = false;
    }
    if (integral) {
      // json-glib silently wraps integers beyond int64: reject them instead.
      uint64_t mag = 0;
      const uint64_t limit = neg ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
      for (const char *d = start + (neg ? 1 : 0); d < int_end; d++) {
        const uint64_t digit = static_cast<uint64_t>(*d - '0');
        if (mag > (limit - digit) / 10) return fail(start, "integer out of the int64 range");
        mag = mag * 10 + digit;
      }
      if (num) {
        num->integral = true;
        num->value = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
      }
    } else {
      // json-glib turns overflowing numbers into inf: reject them instead.
      std::string tmp(start, p);
      const double d = g_ascii_strtod(tmp.c_str(), nullptr);
      if (std::isinf(d)) return fail(start, "number out of the double range");
      if (num) num->integral = false;
    }
    p_ = p;
    return true;
  }

  // Any value, iteratively (no recursion, whatever the nesting). `depth` = containers around it.
  bool value(int depth) {
    bool is_object[kJsonMaxDepth + 1];
    int sp = 0;  // open containers started here
    enum class State { Value, Key, After } st = State::Value;
    for (;;) {
      switch (st) {
        case State::Value: {
          skip_ws();
          if (p_ >= end_) return fail(p_, "unexpected end of the text");
          const char c = *p_;
          if (c == '{' || c == '[') {
            if (depth + sp + 1 > kJsonMaxDepth) return fail(p_, "nesting is too deep");
            is_object[sp++] = (c == '{');
            p_++;
            skip_ws();
            if (p_ < end_ && *p_ == (c == '{' ? '}' : ']')) {
              p_++;
              sp--;
              st = State::After;
            } else {
              st = (c == '{') ? State::Key : State::Value;
            }
            break;
          }
          if (c == '"') {
            if (!string(nullptr, nullptr)) return false;
          } else if (c == '-' || is_digit(c)) {
            if (!number(nullptr)) return false;
          } else if (!literal()) {
            return false;
          }
          st = State::After;
          break;
        }
        case State::Key:
          skip_ws();
          if (p_ >= end_) return fail(p_, "unexpected end of the text");
          if (*p_ != '"') return fail(p_, "expected a member name");
          if (!string(nullptr, nullptr)) return false;
          if (!expect(':', "expected ':' after a member name")) return false;
          st = State::Value;
          break;
        case State::After:
          if (sp == 0) return true;
          skip_ws();
          if (p_ >= end_) return fail(p_, "unexpected end of the text");
          if (*p_ == ',') {
            p_++;
            st = is_object[sp - 1] ? State::Key : State::Value;
          } else if (*p_ == (is_object[sp - 1] ? '}' : ']')) {
            p_++;
            sp--;
          } else {
            return fail(p_, is_object[sp - 1] ? "expected ',' or '}'" : "expected ',' or ']'");
          }
          break;
      }
    }
  }

  bool literal() {
    static const char *const kWords[] = {"true", "false", "null"};
    for (const char *w : kWords) {
      const size_t n = std::strlen(w);
      if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, w, n) == 0) {
        p_ += n;
        return true;
      }
    }
    return fail(p_, "unexpected character");
  }

  // After the top-level value: only whitespace may follow.
  bool finish() {
    skip_ws();
    if (p_ != end_) return fail(p_, "unexpected data after the JSON value");
    return true;
  }

 private:
  const char *begin_;
  const char *p_;
  const char *end_;
  std::string error_;
};

bool raw_equals(const char *b, const char *e, const char *lit) {
  const size_t n = std::strlen(lit);
  return static_cast<size_t>(e - b) == n && std::memcmp(b, lit, n) == 0;
}

// Reads one member name into *name (decoded only when it has escapes; otherwise the raw span).
bool member_name(Scanner &sc, std::string *scratch, const char **nb, const char **ne) {
  sc.skip_ws();
  if (sc.at_end()) return sc.fail(sc.pos(), "unexpected end of the text");
  if (sc.peek() != '"') return sc.fail(sc.pos(), "expected a member name");
  bool esc = false;
  const char *b, *e;
  if (!sc.string(nullptr, &esc, &b, &e)) return false;
  if (esc) {
    // Rare: decode again into the scratch string (the text is known to be valid now).
    Scanner again(b - 1, static_cast<size_t>(e - b) + 2);
    again.string(scratch, nullptr);
    *nb = scratch->data();
    *ne = scratch->data() + scratch->size();
  } else {
    *nb = b;
    *ne = e;
  }
  return sc.expect(':', "expected ':' after a member name");
}

}  // namespace

bool validate_json(const char *data, size_t len, std::string *error) {
  Scanner sc(data, len);
  sc.skip_ws();
  if (sc.at_end()) {
    sc.fail(sc.pos(), "the text is empty");
  } else if (sc.value(0) && sc.finish()) {
    return true;
  }
  if (error) *error = sc.error();
  return false;
}

std::optional<std::pair<size_t, size_t>> json_top_level_member_span(const char *data, size_t len,
                                                                    const std::string &name) {
  Scanner sc(data, len);
  sc.skip_ws();
  if (sc.at_end() || sc.peek() != '{') return std::nullopt;
  sc.advance();
  sc.skip_ws();
  std::optional<std::pair<size_t, size_t>> found;
  if (!sc.at_end() && sc.peek() == '}') return found;
  std::string scratch;
  for (;;) {
    const char *nb, *ne;
    if (!member_name(sc, &scratch, &nb, &ne)) return std::nullopt;
    sc.skip_ws();
    const size_t vb = static_cast<size_t>(sc.pos() - data);
    if (!sc.value(1)) return std::nullopt;
    if (static_cast<size_t>(ne - nb) == name.size() && std::memcmp(nb, name.data(), name.size()) == 0) {
      found = std::make_pair(vb, static_cast<size_t>(sc.pos() - data));
    }
    sc.skip_ws();
    if (sc.at_end()) return std::nullopt;
    if (sc.peek() == ',') {
      sc.advance();
      continue;
    }
    if (sc.peek() == '}') return found;
    return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------
// Fast path. The checks and messages mirror parse_server_event() for the two audio delta types
// (protocol_parse.cc, "audio delta"), in the same order: event_id (optional string), response_id
// and item_id (required strings), output_index and content_index (optional non-negative int
// integers; null = absent), delta (required string), then the base64 (strict, §1.5 / RFC 4648).
// ---------------------------------------------------------------------------------------------
namespace {

enum class Kind { Absent, Str, Null, Int, Other };

struct Field {
  Kind kind = Kind::Absent;
  std::string str;  // Str
  int64_t num = 0;  // Int
};

enum Key { kKeyType, kKeyEventId, kKeyResponseId, kKeyItemId, kKeyOutputIndex, kKeyContentIndex, kKeyCount };

int key_id(const char *b, const char *e) {
  switch (e - b) {
    case 4:
      if (raw_equals(b, e, "type")) return kKeyType;
      break;
    case 5:
      if (raw_equals(b, e, "delta")) return kKeyCount;  // handled apart
      break;
    case 7:
      if (raw_equals(b, e, "item_id")) return kKeyItemId;
      break;
    case 8:
      if (raw_equals(b, e, "event_id")) return kKeyEventId;
      break;
    case 11:
      if (raw_equals(b, e, "response_id")) return kKeyResponseId;
      break;
    case 12:
      if (raw_equals(b, e, "output_index")) return kKeyOutputIndex;
      break;
    case 13:
      if (raw_equals(b, e, "content_index")) return kKeyContentIndex;
      break;
    default:
      break;
  }
  return -1;
}

bool is_audio_delta_type(const std::string &t) {
  return t == "response.output_audio.delta" || t == "response.audio.delta";  // §7.1
}

// Where the "delta" member's value lies in the frame (no copy).
struct DeltaSpan {
  bool present = false, is_string = false, escaped = false;
  const char *begin = nullptr, *end = nullptr;
};

// Scans the members of the frame's object (after its '{') up to its '}': the fields the fast path
// reads into `f`, the delta's position into `d`, everything else skipped (but validated). False on
// malformed JSON (the message in sc.error()).
bool scan_members(Scanner &sc, Field *f, DeltaSpan *d, std::string *scratch) {
  sc.skip_ws();
  if (!sc.at_end() && sc.peek() == '}') {
    sc.advance();
  } else {
    for (;;) {
      const char *nb, *ne;
      if (!member_name(sc, scratch, &nb, &ne)) return false;
      const int id = key_id(nb, ne);
      sc.skip_ws();
      if (sc.at_end()) {
        sc.fail(sc.pos(), "unexpected end of the text");
        return false;
      }
      const char c = sc.peek();
      bool ok = true;
      if (id == kKeyCount) {  // "delta"
        d->present = true;
        d->is_string = (c == '"');
        ok = d->is_string ? sc.string(nullptr, &d->escaped, &d->begin, &d->end) : sc.value(1);
      } else if (id >= 0) {
        Field &fl = f[id];
        if (c == '"') {
          fl.kind = Kind::Str;
          ok = sc.string(&fl.str, nullptr);
        } else if ((c == '-' || is_digit(c)) && (id == kKeyOutputIndex || id == kKeyContentIndex)) {
          Number n;
          ok = sc.number(&n);
          fl.kind = n.integral ? Kind::Int : Kind::Other;
          fl.num = n.value;
        } else {
          fl.kind = (c == 'n') ? Kind::Null : Kind::Other;
          ok = sc.value(1);
        }
      } else {
        ok = sc.value(1);
      }
      if (!ok) return false;
      sc.skip_ws();
      if (sc.at_end()) {
        sc.fail(sc.pos(), "unexpected end of the text");
        return false;
      }
      if (sc.peek() == ',') {
        sc.advance();
        continue;
      }
      if (sc.peek() == '}') {
        sc.advance();
        break;
      }
      sc.fail(sc.pos(), "expected ',' or '}'");
      return false;
    }
  }
  return true;
}

}  // namespace

FastParseStatus parse_audio_delta_fast(const char *data, size_t len, AudioDeltaHeader *hdr,
                                       const AudioAlloc &alloc, std::string *error) {
  if (!alloc) return parse_audio_delta_fast_at(data, len, hdr, AudioAllocAt(), error);
  return parse_audio_delta_fast_at(
      data, len, hdr, [&alloc](size_t max_len, const char *) { return alloc(max_len); }, error);
}

FastParseStatus parse_audio_delta_fast_at(const char *data, size_t len, AudioDeltaHeader *hdr,
                                          const AudioAllocAt &alloc, std::string *error) {
  auto set_error = [&](const std::string &msg) {
    if (error) *error = msg;
    return FastParseStatus::Error;
  };
  Scanner sc(data, len);
  sc.skip_ws();
  if (sc.at_end() || sc.peek() != '{') {
    std::string err;
    if (!validate_json(data, len, &err)) return set_error(err);
    return set_error("the event is not a JSON object");
  }
  sc.advance();

  Field f[kKeyCount];
  DeltaSpan d;
  std::string scratch;
  if (!scan_members(sc, f, &d, &scratch)) return set_error(sc.error());
  if (!sc.finish()) return set_error(sc.error());

  // The frame is well-formed JSON. Classify it exactly as parse_server_event() does.
  const Field &type = f[kKeyType];
  if (type.kind == Kind::Absent) return set_error("missing required field \"type\"");
  if (type.kind != Kind::Str) return set_error("field \"type\" must be a string");
  if (!is_audio_delta_type(type.str)) return FastParseStatus::NotAudioDelta;

  const std::string &tn = type.str;
  const Field &eid = f[kKeyEventId];
  if (eid.kind != Kind::Absent && eid.kind != Kind::Null && eid.kind != Kind::Str)
    return set_error(tn + ": field \"event_id\" must be a string");
  for (int k : {kKeyResponseId, kKeyItemId}) {
    const char *name = (k == kKeyResponseId) ? "response_id" : "item_id";
    if (f[k].kind == Kind::Absent) return set_error(tn + ": missing required field \"" + name + "\"");
    if (f[k].kind != Kind::Str) return set_error(tn + ": field \"" + name + "\" must be a string");
  }
  for (int k : {kKeyOutputIndex, kKeyContentIndex}) {
    const Field &x = f[k];
    if (x.kind == Kind::Absent || x.kind == Kind::Null) continue;
    if (x.kind != Kind::Int || x.num < 0 || x.num > INT32_MAX) {
      return set_error(tn + ": field \"" + (k == kKeyOutputIndex ? "output_index" : "content_index") +
                       "\" must be a non-negative integer");
    }
  }
  if (!d.present) return set_error(tn + ": missing required field \"delta\"");
  if (!d.is_string) return set_error(tn + ": field \"delta\" must be a string");

  // Escapes in base64 text are legal JSON (e.g. "\u0041" or "\/"): decode the string first.
  const char *db = d.begin, *de = d.end;
  std::string unescaped;
  if (d.escaped) {
    Scanner again(db - 1, static_cast<size_t>(de - db) + 2);
    again.string(&unescaped, nullptr);
    db = unescaped.data();
    de = db + unescaped.size();
  }
  const size_t b64_len = static_cast<size_t>(de - db);
  const size_t max_len = base64_decoded_max(b64_len);
  uint8_t *mem = alloc ? alloc(max_len, d.escaped ? nullptr : db) : nullptr;
  if (mem == nullptr && max_len > 0) return set_error(tn + ": could not allocate the audio buffer");
  size_t out_len = 0;
  if (!base64_decode(db, b64_len, mem, &out_len)) return set_error(tn + ": field \"delta\" is not valid base64");

  if (hdr) {
    hdr->type_name = tn;
    hdr->event_id = (eid.kind == Kind::Str) ? eid.str : std::string();
    hdr->response_id = f[kKeyResponseId].str;
    hdr->item_id = f[kKeyItemId].str;
    hdr->output_index = f[kKeyOutputIndex].kind == Kind::Int ? static_cast<int>(f[kKeyOutputIndex].num) : -1;
    hdr->content_index = f[kKeyContentIndex].kind == Kind::Int ? static_cast<int>(f[kKeyContentIndex].num) : -1;
    hdr->audio_len = out_len;
  }
  return FastParseStatus::Ok;
}

}  // namespace rtc
