// Production rtcgst::SessionPort: forwards to rtc::Session.
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rtcsessionport.h"

namespace rtcgst {
namespace {

class EngineSession final : public SessionPort {
 public:
  EngineSession(const rtc::EngineConfig &cfg, rtc::SessionListener *listener) : s_(cfg, listener) {}
  void start() override { s_.start(); }
  void stop() override { s_.stop(); }
  uint64_t update_config(const rtc::SessionConfig &cfg) override { return s_.update_config(cfg); }
  void set_engine_config(const rtc::EngineConfig &cfg) override { s_.set_engine_config(cfg); }
  void push_audio(const uint8_t *data, size_t len) override { s_.push_audio(data, len); }
  void flush_audio() override { s_.flush_audio(); }
  bool commit() override { return s_.commit(); }
  bool clear() override { return s_.clear(); }
  bool create_response(const rtc::ResponseParams *params) override { return s_.create_response(params); }
  bool cancel_response() override { return s_.cancel_response(); }
  bool send_text(const std::string &text, bool create_response) override {
    return s_.send_text(text, create_response);
  }
  bool function_output(const std::string &call_id, const std::string &output_json,
                       bool create_response) override {
    return s_.function_output(call_id, output_json, create_response);
  }
  bool truncate(const std::string &item_id, int64_t audio_end_ms) override {
    return s_.truncate(item_id, audio_end_ms);
  }
  bool delete_item(const std::string &item_id) override { return s_.delete_item(item_id); }
  rtc::SessionStats stats() const override { return s_.stats(); }
  rtc::SessionState state() const override { return s_.state(); }
  int64_t input_samples_pushed() const override { return s_.input_samples_pushed(); }
  bool response_pending() const override { return s_.response_pending(); }
  int64_t input_unsent_bytes() const override { return s_.input_unsent_bytes(); }
  uint64_t updates_answered() const override { return s_.updates_answered(); }

 private:
  rtc::Session s_;
};

}  // namespace

std::unique_ptr<SessionPort> make_engine_session(const rtc::EngineConfig &cfg, rtc::SessionListener *listener) {
  return std::make_unique<EngineSession>(cfg, listener);
}

}  // namespace rtcgst
