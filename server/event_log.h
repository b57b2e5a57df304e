// realtime-emulator: --log events.jsonl — every event of every session, both directions.
//
// One JSON object per line, flushed after each line:
//   {"ts":1735689600.123456,"dir":"in"|"out","session":"sess_…","event":{…the event…}}
//   {"ts":…,"dir":"out","session":"sess_…","raw":"…"}          (a frame that is not JSON: fault injection)
//   {"ts":…,"dir":"conn","session":"sess_…","what":"open","path":"/v1/realtime?model=…","dialect":"ga"}
//   {"ts":…,"dir":"conn","session":"sess_…","what":"closed","code":1000}
// With --log-no-audio, base64 audio payloads (append.audio, *.audio.delta) are replaced by
// "<N base64 chars>".
#pragma once

#include <cstdio>
#include <string>

namespace emu {

class EventLog {
 public:
  ~EventLog();
  bool open(const std::string &path, bool log_audio, std::string *err);
  bool enabled() const { return f_ != nullptr; }
  // `json` must be the compact (single-line) event text as sent/received.
  void event(const std::string &session, const char *dir, const std::string &json);
  void raw(const std::string &session, const char *dir, const std::string &text);
  // `fields_json` = extra members without braces, e.g. "\"what\":\"open\"".
  void conn(const std::string &session, const std::string &fields_json);

 private:
  void line(const std::string &body);
  FILE *f_ = nullptr;
  bool log_audio_ = true;
};

}  // namespace emu
