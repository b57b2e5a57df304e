// libFuzzer target: the client-event builders (gst/realtime/protocol_build.cc). The input is cut
// into fields: strings with arbitrary bytes (split at 0xFF 0xFE), doubles (8 raw bytes each: NaN,
// inf, subnormals, huge values), ints. Every event built from them must be
//  * valid JSON under the project's strict scanner (validate_json: what the server parsers accept)
//    and valid UTF-8;
//  * parsed back (json-glib) to the same values where representable: a string that is valid UTF-8
//    without NUL comes back identical, a finite double comes back bit-identical (as a number), a
//    non-finite one as null, an int as the same int.
// Any failure aborts (a regression case goes into corpus/client_builders/).
#include <glib.h>
#include <json-glib/json-glib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "protocol.h"

namespace {

struct Input {
  const uint8_t *d;
  size_t n, at = 0;
  std::string str() {  // up to the next 0xFF 0xFE (or the end)
    std::string s;
    while (at < n) {
      if (d[at] == 0xff && at + 1 < n && d[at + 1] == 0xfe) {
        at += 2;
        break;
      }
      s.push_back(static_cast<char>(d[at++]));
    }
    return s;
  }
  uint64_t raw(size_t bytes) {
    uint64_t v = 0;
    for (size_t k = 0; k < bytes; k++) v = (v << 8) | (at < n ? d[at++] : 0);
    return v;
  }
  double dbl() {
    uint64_t v = raw(8);
    double x;
    memcpy(&x, &v, sizeof x);
    return x;
  }
};

[[noreturn]] void die(const char *why, const std::string &text) {
  fprintf(stderr, "client builders: %s\n%.2000s\n", why, text.c_str());
  abort();
}

bool representable(const std::string &s) {
  return g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr) && s.find('\0') == std::string::npos;
}

// Parses `text` (must be valid) and returns the root object (caller unrefs the node).
JsonNode *parse_checked(const std::string &text) {
  std::string err;
  if (!rtc::validate_json(text.data(), text.size(), &err)) die(("invalid JSON: " + err).c_str(), text);
  if (!g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) die("invalid UTF-8", text);
  GError *e = nullptr;
  JsonNode *root = json_from_string(text.c_str(), &e);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) die(e ? e->message : "not an object", text);
  return root;
}

// The member at a dotted path of objects; nullptr when absent.
JsonNode *at_path(JsonNode *root, const char *path) {
  JsonNode *n = root;
  std::string p = path;
  size_t from = 0;
  while (n) {
    size_t dot = p.find('.', from);
    std::string key = p.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    if (!JSON_NODE_HOLDS_OBJECT(n)) return nullptr;
    JsonObject *o = json_node_get_object(n);
    n = json_object_has_member(o, key.c_str()) ? json_object_get_member(o, key.c_str()) : nullptr;
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  return n;
}

void expect_string(JsonNode *root, const char *path, const std::string &want, const std::string &text) {
  JsonNode *n = at_path(root, path);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) die(path, text);
  if (representable(want) && want != json_node_get_string(n)) die((std::string(path) + ": string changed").c_str(), text);
}

void expect_double(JsonNode *root, const char *path, double want, const std::string &text) {
  JsonNode *n = at_path(root, path);
  if (!n) die((std::string(path) + ": missing").c_str(), text);
  if (!std::isfinite(want)) {
    if (!JSON_NODE_HOLDS_NULL(n)) die((std::string(path) + ": non-finite not null").c_str(), text);
    return;
  }
  if (!JSON_NODE_HOLDS_VALUE(n)) die((std::string(path) + ": not a number").c_str(), text);
  GType t = json_node_get_value_type(n);
  double got;
  if (t == G_TYPE_DOUBLE)
    got = json_node_get_double(n);
  else if (t == G_TYPE_INT64)  // an integral double written without exponent: must fit int64 exactly
    got = static_cast<double>(json_node_get_int(n));
  else
    die((std::string(path) + ": not a number").c_str(), text);
  if (!(got == want) || std::signbit(got) != std::signbit(want)) {
    if (!(got == 0 && want == 0))  // -0 written as "-0" may parse as integer 0
      die((std::string(path) + ": double changed").c_str(), text);
  }
}

void expect_int(JsonNode *root, const char *path, int64_t want, const std::string &text) {
  JsonNode *n = at_path(root, path);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 || json_node_get_int(n) != want)
    die((std::string(path) + ": int changed").c_str(), text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Input in{data, size};
  const uint8_t flags = static_cast<uint8_t>(in.raw(1));
  const rtc::Dialect dialect = (flags & 1) ? rtc::Dialect::GA : rtc::Dialect::Preview;
  const std::string s1 = in.str(), s2 = in.str(), s3 = in.str(), event_id = in.str();
  const double d1 = in.dbl(), d2 = in.dbl(), d3 = in.dbl();
  const int64_t i1 = static_cast<int64_t>(in.raw(8));
  const int i2 = static_cast<int>(static_cast<int32_t>(in.raw(4)));

  // session.update
  {
    rtc::SessionConfig c;
    c.instructions = s1;
    c.voice = s2;
    c.temperature = d1;
    c.speed = d2;
    c.turn_detection.threshold = d3;
    c.max_output_tokens = i2;
    if (flags & 2) c.input_transcription = rtc::InputTranscription{s3, s2, s1, "", {s3}, {}};
    if (flags & 4) c.extra_json = s3;  // arbitrary text: refused or merged, output valid either way
    if (flags & 8) c.tools_json = s3;
    const std::string t = rtc::build_session_update(dialect, c, event_id);
    JsonNode *root = parse_checked(t);
    if (!(flags & 4)) {  // extra_json may overwrite any member
      expect_string(root, "session.instructions", s1, t);
      if (dialect == rtc::Dialect::GA) {
        expect_string(root, "session.audio.output.voice", s2, t);
        expect_double(root, "session.audio.output.speed", d2, t);
        expect_double(root, "session.audio.input.turn_detection.threshold", d3, t);
      } else {
        expect_string(root, "session.voice", s2, t);
        expect_double(root, "session.temperature", d1, t);
        expect_double(root, "session.speed", d2, t);
        expect_double(root, "session.turn_detection.threshold", d3, t);
      }
    }
    if (!event_id.empty()) expect_string(root, "event_id", event_id, t);
    json_node_unref(root);
  }
  // transcription session.update (preview and GA shapes)
  {
    rtc::SessionConfig c;
    c.input_transcription = rtc::InputTranscription{s1, s2, s3, s3, {s1, s2}, {s2}};
    c.turn_detection.threshold = d1;
    json_node_unref(parse_checked(rtc::build_transcription_session_update(dialect, c, event_id)));
  }
  // conversation.item.create, every kind
  for (int k = 0; k < 6; k++) {
    rtc::ItemCreate it;
    it.kind = static_cast<rtc::ItemCreate::Kind>(k);
    it.id = s3;
    it.text = s1;
    it.audio.assign(s2.begin(), s2.end());
    it.call_id = s3;
    it.name = s2;
    it.arguments = s1;
    it.output = s1;
    if (flags & 16) it.previous_item_id = s2;
    const std::string t = rtc::build_item_create(dialect, it, event_id);
    JsonNode *root = parse_checked(t);
    if (k == 4) expect_string(root, "item.arguments", s1, t);
    if (k == 5) expect_string(root, "item.output", s1, t);
    json_node_unref(root);
  }
  // response.create with overrides
  {
    rtc::ResponseParams p;
    p.instructions = s1;
    p.voice = s2;
    p.temperature = d1;
    p.max_output_tokens = i2;
    if (flags & 32) p.metadata_json = s3;
    if (flags & 64) p.input_json = s3;
    if (flags & 128) p.tool_choice_json = s2;
    const std::string t = rtc::build_response_create(dialect, &p, event_id);
    JsonNode *root = parse_checked(t);
    expect_string(root, "response.instructions", s1, t);
    if (dialect == rtc::Dialect::Preview) expect_double(root, "response.temperature", d1, t);
    json_node_unref(root);
  }
  // the id-only events and truncate (int64 round trip)
  {
    const std::string t = rtc::build_item_truncate(s1, i2, i1, event_id);
    JsonNode *root = parse_checked(t);
    expect_string(root, "item_id", s1, t);
    expect_int(root, "audio_end_ms", i1, t);
    expect_int(root, "content_index", i2, t);
    json_node_unref(root);
  }
  json_node_unref(parse_checked(rtc::build_item_retrieve(s1, event_id)));
  json_node_unref(parse_checked(rtc::build_item_delete(s2, event_id)));
  json_node_unref(parse_checked(rtc::build_response_cancel(s3, event_id)));
  json_node_unref(parse_checked(rtc::build_input_audio_commit(event_id)));
  json_node_unref(parse_checked(rtc::build_input_audio_clear(event_id)));
  json_node_unref(parse_checked(rtc::build_output_audio_buffer_clear(event_id)));
  json_node_unref(parse_checked(rtc::build_session_close(event_id)));
  json_node_unref(parse_checked(rtc::build_translation_session_update(rtc::SessionConfig{}, event_id)));
  json_node_unref(parse_checked(
      rtc::build_input_audio_append(reinterpret_cast<const uint8_t *>(s1.data()), s1.size(), event_id)));
  return 0;
}
