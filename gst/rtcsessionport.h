// rtcgst::SessionPort: the slice of rtc::Session the element uses, behind an interface so the
// element's timing / barge-in / drain logic can be unit-tested with a scripted fake (the tests
// play the engine's network thread and call the rtc::SessionListener the element gives them).
// The production implementation forwards to rtc::Session one to one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "realtime/session.h"

namespace rtcgst {

class SessionPort {
 public:
  virtual ~SessionPort() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  // Returns the update's ticket (see rtc::Session::update_config / updates_answered).
  virtual uint64_t update_config(const rtc::SessionConfig &cfg) = 0;
  virtual void set_engine_config(const rtc::EngineConfig &cfg) = 0;
  virtual void push_audio(const uint8_t *data, size_t len) = 0;
  virtual void flush_audio() = 0;
  virtual bool commit() = 0;
  virtual bool clear() = 0;
  virtual bool create_response(const rtc::ResponseParams *params) = 0;
  virtual bool cancel_response() = 0;
  virtual bool send_text(const std::string &text, bool create_response) = 0;
  virtual bool function_output(const std::string &call_id, const std::string &output_json,
                               bool create_response) = 0;
  virtual bool truncate(const std::string &item_id, int64_t audio_end_ms) = 0;
  virtual bool delete_item(const std::string &item_id) = 0;
  virtual rtc::SessionStats stats() const = 0;
  virtual rtc::SessionState state() const = 0;
  virtual int64_t input_samples_pushed() const = 0;
  virtual bool response_pending() const = 0;
  // Bytes pushed but neither sent, dropped nor cleared (0: everything is handed to the socket).
  virtual int64_t input_unsent_bytes() const = 0;
  // The highest update_config() ticket answered (by session.updated, by an error naming that
  // update, or because it can never be answered): the in-order barrier of rtc::Session.
  virtual uint64_t updates_answered() const = 0;
};

// Creates the session for an element. The listener outlives the returned object's stop().
using SessionFactory =
    std::function<std::unique_ptr<SessionPort>(const rtc::EngineConfig &cfg, rtc::SessionListener *listener)>;

// The production factory: a real rtc::Session.
std::unique_ptr<SessionPort> make_engine_session(const rtc::EngineConfig &cfg, rtc::SessionListener *listener);

}  // namespace rtcgst
