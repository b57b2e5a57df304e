// A scripted rtcgst::SessionPort for the element's unit tests: records the calls the element makes
// and lets the test play the engine's network thread through the element's SessionListener.
#pragma once

#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gstrealtimeconvpriv.h"
#include "rtcsessionport.h"

class FakeSession final : public rtcgst::SessionPort {
 public:
  FakeSession(const rtc::EngineConfig &cfg, rtc::SessionListener *l) : cfg(cfg), listener(l) {}

  void start() override { record("start"); }
  void stop() override { record("stop"); }
  uint64_t update_config(const rtc::SessionConfig &c) override {
    const uint64_t ticket = ++issued;
    {
      std::lock_guard<std::mutex> g(m);
      cfg.session = c;
      calls.push_back("update_config");
    }
    // Like the engine, the answer is published after it has been delivered.
    if (auto_ack) {  // like the server: session.update is answered with session.updated
      rtc::ServerEvent ev;
      ev.type = rtc::ServerEventType::SessionUpdated;
      listener->on_server_event(ev, {});
      answer(ticket);
    } else if (reject_updates) {  // the server rejects it: an error naming the update (an answer too)
      rtc::SessionError err;
      err.cls = rtc::ErrorClass::Warning;
      err.code = "invalid_value";
      err.message = "rejected";
      err.client_event_type = "session.update";
      listener->on_error(err);
      answer(ticket);
    }
    return ticket;
  }
  void set_engine_config(const rtc::EngineConfig &) override { record("set_engine_config"); }
  void push_audio(const uint8_t *data, size_t len) override {
    std::lock_guard<std::mutex> g(m);
    pushed.insert(pushed.end(), data, data + len);
  }
  void flush_audio() override { record("flush_audio"); }
  bool commit() override { return record("commit"); }
  bool clear() override { return record("clear"); }
  bool create_response(const rtc::ResponseParams *p) override {
    return record(std::string("create_response:") + (p && p->instructions ? *p->instructions : ""));
  }
  bool cancel_response() override { return record("cancel_response"); }
  bool send_text(const std::string &text, bool cr) override {
    return record("send_text:" + text + (cr ? ":1" : ":0"));
  }
  bool function_output(const std::string &call_id, const std::string &out, bool) override {
    return record("function_output:" + call_id + ":" + out);
  }
  bool truncate(const std::string &item_id, int64_t ms) override {
    return record("truncate:" + item_id + ":" + std::to_string(ms));
  }
  bool delete_item(const std::string &item_id) override { return record("delete:" + item_id); }
  rtc::SessionStats stats() const override {
    rtc::SessionStats s;
    s.state = st.load();
    s.ttfa.last_us = 1234;
    std::lock_guard<std::mutex> g(m);
    s.audio_bytes_sent = pushed.size();  // everything is "sent" at once
    s.audio_ms_sent = (double)pushed.size() / bytes_per_ms;
    return s;
  }
  rtc::SessionState state() const override { return st.load(); }
  int64_t input_samples_pushed() const override {
    std::lock_guard<std::mutex> g(m);
    return (int64_t)((double)pushed.size() / bytes_per_ms * (bytes_per_ms == 48.0 ? 24 : 8));
  }
  bool response_pending() const override { return pending.load(); }
  int64_t input_unsent_bytes() const override { return unsent.load(); }
  uint64_t updates_answered() const override { return answered.load(); }

  void answer(uint64_t ticket) {  // the highest answered, like the engine
    uint64_t cur = answered.load();
    while (cur < ticket && !answered.compare_exchange_weak(cur, ticket)) {
    }
  }
  bool record(const std::string &c) {
    std::lock_guard<std::mutex> g(m);
    calls.push_back(c);
    return true;
  }
  std::vector<std::string> get_calls() const {
    std::lock_guard<std::mutex> g(m);
    return calls;
  }
  bool called(const std::string &prefix) const {
    for (const auto &c : get_calls())
      if (c.rfind(prefix, 0) == 0) return true;
    return false;
  }
  size_t pushed_bytes() const {
    std::lock_guard<std::mutex> g(m);
    return pushed.size();
  }

  // --- the engine side -------------------------------------------------------------------------
  void event(rtc::ServerEventType t, const std::string &item = "", const std::string &resp = "",
             int64_t start_sample = -1, int64_t end_sample = -1, const std::string &text = "") {
    rtc::ServerEvent ev;
    ev.type = t;
    ev.item_id = item;
    ev.response_id = resp;
    ev.response.id = resp;
    ev.text = text;
    if (t == rtc::ServerEventType::ResponseDone) ev.response.status = "completed";
    rtc::EventContext ctx;
    ctx.input_start_sample = start_sample;
    ctx.input_end_sample = end_sample;
    if (start_sample >= 0) ev.audio_start_ms = start_sample / 24;
    if (end_sample >= 0) ev.audio_end_ms = end_sample / 24;
    listener->on_server_event(ev, ctx);
  }
  // response.done of `resp` as the engine delivers it: the event (status, output items: one
  // completed function_call per call id, `ttfa_us` in the context), then, for a completed
  // response, on_function_call() for each call, right after the event.
  void response_done(const std::string &resp, const std::vector<std::string> &call_ids = {},
                     int64_t ttfa_us = -1, const std::string &status = "completed",
                     const std::string &call_name = "get_weather_for_location") {
    rtc::ServerEvent ev;
    ev.type = rtc::ServerEventType::ResponseDone;
    ev.response_id = resp;
    ev.response.id = resp;
    ev.response.status = status;
    for (const auto &id : call_ids) {
      rtc::ItemInfo it;
      it.id = "item_" + id;
      it.type = "function_call";
      it.status = "completed";
      it.call_id = id;
      it.name = call_name;
      it.arguments = "{\"location\":\"Seattle, WA\",\"unit\":\"f\"}";
      ev.response.output.push_back(it);
    }
    rtc::EventContext ctx;
    ctx.ttfa_us = ttfa_us;
    listener->on_server_event(ev, ctx);
    if (status != "completed") return;
    for (const auto &o : ev.response.output) {
      rtc::FunctionCall fc;
      fc.response_id = resp;
      fc.item_id = o.id;
      fc.call_id = o.call_id;
      fc.name = o.name;
      fc.arguments = o.arguments;
      listener->on_function_call(fc);
    }
  }
  // Raw bytes of audio for (resp, item) (e.g. an odd number of bytes).
  void audio_bytes(const std::string &resp, const std::string &item, size_t bytes) {
    void *h = nullptr;
    uint8_t *mem = listener->alloc_audio(bytes, &h);
    if (!mem) return;
    memset(mem, 0x11, bytes);
    rtc::AudioDeltaInfo info;
    info.response_id = resp;
    info.item_id = item;
    listener->on_audio(h, bytes, info);
  }
  // `samples` of pcm16 audio for (resp, item); sample k of the item has value (offset + k) & 0x7fff.
  void audio(const std::string &resp, const std::string &item, int64_t samples, int64_t offset = 0) {
    void *h = nullptr;
    size_t bytes = (size_t)samples * 2;
    uint8_t *mem = listener->alloc_audio(bytes, &h);
    if (!mem) return;
    for (int64_t k = 0; k < samples; k++) {
      int16_t v = (int16_t)((offset + k) & 0x7fff);
      memcpy(mem + 2 * k, &v, 2);
    }
    rtc::AudioDeltaInfo info;
    info.response_id = resp;
    info.item_id = item;
    listener->on_audio(h, bytes, info);
  }

  rtc::EngineConfig cfg;
  rtc::SessionListener *listener;
  std::atomic<rtc::SessionState> st{rtc::SessionState::Ready};
  std::atomic<bool> pending{false};
  std::atomic<bool> auto_ack{true};
  std::atomic<bool> reject_updates{false};
  std::atomic<uint64_t> issued{0}, answered{0};
  std::atomic<int64_t> unsent{0};  // what input_unsent_bytes() reports (the fake "sends" at once)
  double bytes_per_ms = 48.0;  // pcm16 24 kHz; 8.0 for G.711

 private:
  mutable std::mutex m;
  std::vector<std::string> calls;
  std::vector<uint8_t> pushed;
};

// Installs a factory on `element` and returns where the created fake will be stored.
struct FakeHolder {
  std::mutex m;
  FakeSession *fake = nullptr;
  int created = 0;
  FakeSession *get() {
    std::lock_guard<std::mutex> g(m);
    return fake;
  }
};

inline std::shared_ptr<FakeHolder> install_fake(GstElement *element) {
  auto holder = std::make_shared<FakeHolder>();
  gst_realtimeconv_set_session_factory(element, [holder](const rtc::EngineConfig &cfg, rtc::SessionListener *l) {
    auto f = std::make_unique<FakeSession>(cfg, l);
    std::lock_guard<std::mutex> g(holder->m);
    holder->fake = f.get();
    holder->created++;
    return std::unique_ptr<rtcgst::SessionPort>(std::move(f));
  });
  return holder;
}
