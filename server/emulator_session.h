// realtime-emulator: one Realtime session per WebSocket connection (§3 client events, §4 server
// events, §5 ordering, §6 timeline, §8 errors, §9 rate limits, §10 sequences).
#pragma once

#include <libsoup/soup.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audio.h"
#include "event_log.h"
#include "json_util.h"
#include "options.h"
#include "scenario.h"
#include "session_config.h"
#include "transcription_session.h"
#include "vad.h"
#include "voice.h"

namespace emu {

// Shared by all sessions (owned by main).
struct ServerContext {
  Options opts;
  Scenario scenario;
  bool has_scenario = false;
  std::unique_ptr<Voice> voice;
  EventLog log;
};

// What the handshake resolved (§1).
struct ConnectInfo {
  Dialect dialect = Dialect::GA;
  bool azure = false;
  bool transcription = false;  // ?intent=transcription
  bool translation = false;    // /v1/realtime/translations, /openai/v1/realtime/translations
  bool beta_header_on_ga_model = false;
  std::string model;
  std::string path;  // path + query, for the log
  bool faults = true;  // connection-level faults apply to this connection
};

// §2.4 conversation item (internal representation, rendered per dialect).
struct Part {
  enum class Kind { InputText, InputAudio, InputImage, Text, Audio };
  Kind kind = Kind::InputText;
  std::string text;
  std::optional<std::string> transcript;  // InputAudio: null until transcribed; Audio: the transcript
  std::vector<uint8_t> audio;
  Fmt fmt = Fmt::PCM16;
  std::string image_url, detail;
};

struct Item {
  std::string id;
  std::string type;  // message | function_call | function_call_output
  std::string role;  // message
  std::string status = "completed";
  std::vector<Part> content;
  std::string call_id, name, arguments, output;
  int turn = -1;  // scenario turn bound to this user item / function call
};
using ItemPtr = std::shared_ptr<Item>;

class EmulatorSession {
 public:
  EmulatorSession(ServerContext &ctx, SoupWebsocketConnection *conn, GSocket *socket, const ConnectInfo &info,
                  std::function<void(EmulatorSession *)> on_gone);
  ~EmulatorSession();
  EmulatorSession(const EmulatorSession &) = delete;
  EmulatorSession &operator=(const EmulatorSession &) = delete;

  void start();
  // Server shutdown: close with 1001.
  void shutdown();
  const std::string &id() const { return id_; }

 private:
  struct ResponseParams;
  struct OutItem;
  struct Step;
  struct Response;

  // --- plumbing ---
  static void on_message_cb(SoupWebsocketConnection *, gint type, GBytes *msg, gpointer self);
  static void on_closed_cb(SoupWebsocketConnection *, gpointer self);
  void on_message(const char *data, size_t len);
  void on_closed();
  Obj ev(const char *type);
  void send(Obj &&o);
  void send_text(const std::string &text);
  void transmit(const std::string &text);
  void after_transmit();
  void flush_delayed();
  void fault_close();
  void send_error(const ApiError &e, const std::optional<std::string> &client_event_id);
  guint schedule(int ms, std::function<void()> fn);
  void cancel_source(guint &id);
  std::string new_id(const char *prefix, int n = 20);

  // --- client events ---
  void handle_session_update(JsonObject *o, const std::optional<std::string> &eid, bool transcription_event);
  void handle_append(JsonObject *o, const std::optional<std::string> &eid);
  void handle_commit(const std::optional<std::string> &eid);
  void handle_clear(const std::optional<std::string> &eid);
  void handle_item_create(JsonObject *o, const std::optional<std::string> &eid);
  void handle_item_retrieve(JsonObject *o, const std::optional<std::string> &eid);
  void handle_item_truncate(JsonObject *o, const std::optional<std::string> &eid);
  void handle_item_delete(JsonObject *o, const std::optional<std::string> &eid);
  void handle_response_create(JsonObject *o, const std::optional<std::string> &eid);
  void handle_response_cancel(JsonObject *o, const std::optional<std::string> &eid);

  // --- input audio (§3.3-3.5, §6) ---
  void configure_vad();
  void commit_audio(const std::string &item_id, std::vector<uint8_t> audio);
  void schedule_transcription(const ItemPtr &item);
  void arm_idle_timeout(int64_t playback_left_ms);
  void on_idle_timeout();
  std::string transcript_for(const Item &item) const;

  // --- conversation ---
  std::optional<ApiError> parse_item(JsonNode *n, const std::string &param, bool allow_reference, ItemPtr *out,
                                     std::string *reference_id);
  JsonNode *render_item(const Item &it, bool with_audio) const;
  int find_item(const std::string &id) const;
  std::optional<std::string> prev_id_of(int index) const;
  void emit_item_added(const ItemPtr &it, const std::optional<std::string> &prev, bool done_too);
  void bind_turn_for_text(Item &it);

  // --- responses (§5, §10) ---
  std::optional<ApiError> parse_response_params(JsonNode *n, ResponseParams &p);
  void start_response(ResponseParams p, const std::optional<std::string> &eid);
  void plan_response(Response &r, const ResponseParams &p);
  void pump(Response *r);
  void run_step(Response &r, const Step &s);
  void close_item(Response &r, size_t idx, bool complete);
  void finish_response(Response *r, const std::string &status, const std::string &reason);
  void cancel_response(Response *r, const std::string &reason);
  JsonNode *render_response(const Response &r, bool final) const;
  Response *default_active() const;

  ServerContext &ctx_;
  const Options &opts_;
  SoupWebsocketConnection *conn_;
  GSocket *socket_;
  ConnectInfo info_;
  std::function<void(EmulatorSession *)> on_gone_;
  gulong msg_handler_ = 0, closed_handler_ = 0;
  bool closed_ = false;
  std::string id_, conversation_id_;
  int64_t created_at_ = 0, expires_at_ = 0;
  uint64_t rng_;  // ids
  // Audio delta sizes: a fixed seed, so a given reply is always cut the same way (reproducible
  // tests); the sizes still vary from delta to delta (75..560 ms).
  uint64_t chunk_rng_ = 0x9E3779B97F4A7C15ull;

  SessionConfig cfg_;
  bool audio_produced_ = false;

  // fault bookkeeping
  int64_t sent_ = 0;
  bool in_fault_ = false;
  struct Delayed {
    int64_t due_us;
    std::string text;
  };
  std::deque<Delayed> delayed_;
  guint delay_timer_ = 0;
  std::set<guint> sources_;

  // input audio (§6): timeline in 1/48000 s ticks
  std::vector<uint8_t> in_buf_;
  int64_t buf_start_ticks_ = 0;
  int64_t timeline_ticks_ = 0;
  Vad vad_;
  std::string speech_item_id_;
  int64_t speech_start_ticks_ = 0;
  guint idle_timer_ = 0;  // GA server_vad idle_timeout_ms (§2.3, §4.2 timeout_triggered)
  // transcription sessions with a streaming model (transcription_session.h): the uncommitted
  // buffer's live transcriber, the item id its deltas carry, the words left at the commit
  LiveTranscriber live_;
  bool live_begun_ = false;
  std::string live_item_id_;
  std::vector<std::string> live_rest_;
  bool live_model() const {
    return cfg_.transcription_session && cfg_.transcription && transcription_model_streams_live(cfg_.transcription->model);
  }
  void live_feed(const std::vector<uint8_t> &bytes);

  // conversation
  std::vector<ItemPtr> items_;
  size_t next_turn_ = 0;

  // responses
  std::vector<std::unique_ptr<Response>> responses_;
  int64_t rate_tokens_used_ = 0;
};

}  // namespace emu
