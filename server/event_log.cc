// realtime-emulator: JSONL event log.
#include "event_log.h"

#include <glib.h>

#include "json_util.h"

namespace emu {

namespace {
std::string json_escape(const std::string &s) {
  JsonNode *n = json_node_new(JSON_NODE_VALUE);
  json_node_set_string(n, s.c_str());
  std::string out = node_to_string(n);
  json_node_unref(n);
  return out;
}
}  // namespace

EventLog::~EventLog() {
  if (f_) fclose(f_);
}

bool EventLog::open(const std::string &path, bool log_audio, std::string *err) {
  f_ = fopen(path.c_str(), "w");
  if (!f_) {
    if (err) *err = "cannot open log file " + path;
    return false;
  }
  log_audio_ = log_audio;
  return true;
}

void EventLog::line(const std::string &body) {
  char ts[64];
  g_snprintf(ts, sizeof ts, "%.6f", double(g_get_real_time()) / 1e6);
  fprintf(f_, "{\"ts\":%s,%s}\n", ts, body.c_str());
  fflush(f_);
}

void EventLog::event(const std::string &session, const char *dir, const std::string &json) {
  if (!f_) return;
  std::string text = json;
  if (!log_audio_ && (json.find("\"input_audio_buffer.append\"") != std::string::npos ||
                      json.find("audio.delta\"") != std::string::npos)) {
    if (JsonNode *n = parse_json(json.c_str(), gssize(json.size()), nullptr)) {
      if (is_object(n)) {
        JsonObject *o = json_node_get_object(n);
        for (const char *k : {"audio", "delta"}) {
          JsonNode *m = member(o, k);
          if (is_string(m))
            json_object_set_string_member(o, k, ("<" + std::to_string(string_of(m).size()) + " base64 chars>").c_str());
        }
        text = node_to_string(n);
      }
      json_node_unref(n);
    }
  }
  line("\"dir\":\"" + std::string(dir) + "\",\"session\":" + json_escape(session) + ",\"event\":" + text);
}

void EventLog::raw(const std::string &session, const char *dir, const std::string &text) {
  if (!f_) return;
  line("\"dir\":\"" + std::string(dir) + "\",\"session\":" + json_escape(session) + ",\"raw\":" + json_escape(text));
}

void EventLog::conn(const std::string &session, const std::string &fields_json) {
  if (!f_) return;
  line("\"dir\":\"conn\",\"session\":" + json_escape(session) + "," + fields_json);
}

}  // namespace emu
