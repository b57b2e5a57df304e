// realtime-emulator: translation sessions (/v1/realtime/translations, Azure
// /openai/v1/realtime/translations; docs/protocol.md §15, reference Part A §1-§6).
//
// What it does (and which answer it takes for each unconfirmed fact of the reference):
//   * client events: session.update, session.input_audio_buffer.append, session.close; anything
//     else (conversation events included) gets error invalid_value on "type" (the real service's
//     reaction is not documented) and the session stays open;
//   * input audio is consumed in 200 ms frames (9,600 bytes); a shorter tail waits for more audio
//     (or for session.close, which consumes it padded with silence);
//   * the clock advances only with appended audio: a phrase is speech frames (RMS above -35 dBFS)
//     ended by 3 silent frames (600 ms of appended silence) or by session.close;
//   * each phrase takes the next entry of the scenario's "translations" table (source text ->
//     target text per language); beyond the table a deterministic placeholder
//     "<lang> phrase N"; the translated speech is espeak-ng in the target language's voice;
//   * output starts --translation-lag-ms (wall clock, default 300) after the phrase ended;
//   * elapsed_ms (unconfirmed meaning): on every delta of a phrase, the input-timeline position
//     (frames consumed x 200 ms) of the phrase's first speech frame;
//   * pauses are NOT filled with silence in the output (the other unconfirmed answer is handled
//     by the client anyway);
//   * session.close -> remaining phrases -> session.closed (the socket stays open: the client
//     closes it).
// Scenario format (same file as --scenario; the conversation part is ignored here):
//   {"translations": [ {"source": "Good morning everyone.", "es": "Buenos días a todos.",
//                       "fr": "Bonjour à tous."}, ... ]}
#pragma once

#include <libsoup/soup.h>

#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "emulator_session.h"

namespace emu {

class TranslationSession {
 public:
  TranslationSession(ServerContext &ctx, SoupWebsocketConnection *conn, const ConnectInfo &info,
                     std::function<void(TranslationSession *)> on_gone);
  ~TranslationSession();
  TranslationSession(const TranslationSession &) = delete;
  TranslationSession &operator=(const TranslationSession &) = delete;

  void start();
  void shutdown();
  const std::string &id() const { return id_; }

  // The 13 output languages of the reference (§1.4), ISO-639-1.
  static bool language_supported(const std::string &code);

 private:
  struct Phrase {
    int64_t start_ms = 0;  // input timeline position of the first speech frame
    int index = 0;         // phrase number in this session (table row)
  };

  static void on_message_cb(SoupWebsocketConnection *, gint type, GBytes *msg, gpointer self);
  static void on_closed_cb(SoupWebsocketConnection *, gpointer self);
  void on_message(const char *data, size_t len);
  void on_closed();
  void send(Obj &&o);
  Obj ev(const char *type);
  void send_error(const std::string &code, const std::string &message, const std::optional<std::string> &param,
                  const std::optional<std::string> &eid);
  JsonNode *render_session() const;
  std::string new_id(const char *prefix, int n);

  void handle_update(JsonObject *o, const std::optional<std::string> &eid);
  void handle_append(JsonObject *o, const std::optional<std::string> &eid);
  void handle_close();
  void consume_frames(bool final);
  void frame(const int16_t *s, size_t n);
  void end_phrase();
  void emit_phrase(const Phrase &p, const std::string &lang, bool with_source);
  void maybe_closed();

  ServerContext &ctx_;
  const Options &opts_;
  SoupWebsocketConnection *conn_;
  ConnectInfo info_;
  std::function<void(TranslationSession *)> on_gone_;
  gulong msg_handler_ = 0, closed_handler_ = 0;
  bool closed_ = false;
  std::string id_;
  uint64_t rng_ = 0x2545F4914F6CDD1Dull;
  int64_t expires_at_ = 0;
  int64_t sent_ = 0;

  // configuration (reference §2)
  std::string language_ = "en";
  std::optional<std::string> transcription_model_;
  std::optional<std::string> noise_reduction_;

  // input (200 ms frames)
  std::vector<uint8_t> pending_;
  int64_t frames_ = 0;
  bool in_phrase_ = false;
  int silent_frames_ = 0;
  Phrase cur_;
  int phrases_ = 0;
  bool said_in_ = false, said_out_ = false;  // a later phrase's text starts with a space
  int outstanding_ = 0;  // phrases scheduled, not emitted yet
  bool closing_ = false, closed_sent_ = false;
  std::set<guint> sources_;
};

}  // namespace emu
