// realtime-emulator: an offline server that speaks the OpenAI / Azure OpenAI Realtime protocol
// (both dialects) over WebSocket, with real audio. See docs/protocol.md ("§N").
//
// Single-threaded: one GMainLoop, one SoupServer, one EmulatorSession per WebSocket connection.
#include <gio/gio.h>
#include <glib-unix.h>
#include <libsoup/soup.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "emulator_session.h"
#include "translation_session.h"

namespace emu {
namespace {

const char *kDescription =
    "Paths (ref. 1): /v1/realtime?model=M (OpenAI; preview dialect with header 'OpenAI-Beta: realtime=v1'\n"
    "  or sub-protocol 'openai-beta.realtime-v1', GA otherwise), /openai/realtime?api-version=V&deployment=D\n"
    "  (Azure preview), /openai/v1/realtime?model=D (Azure GA; api-version there -> HTTP 401).\n"
    "  ?intent=transcription opens a transcription session. /v1/realtime/translations?model=M and\n"
    "  /openai/v1/realtime/translations?model=D open a translation session (server/translation_session.h).\n"
    "  Anything else -> HTTP 404.\n"
    "Auth: with --api-key K the handshake must carry 'api-key: K', ?api-key=K, 'Authorization: Bearer K'\n"
    "  or the sub-protocol 'openai-insecure-api-key.K'; otherwise HTTP 401 with a JSON error body.\n"
    "\n"
    "VAD (server_vad, ref. 2.3): 10 ms frames on the input timeline; a frame is speech when its RMS level is\n"
    "  >= -60 + 60*threshold dBFS (threshold 0 -> -60 dBFS, 0.5 -> -30 dBFS, 1 -> 0 dBFS).\n"
    "  speech_started.audio_start_ms = onset - prefix_padding_ms (>= 0); speech_stopped.audio_end_ms =\n"
    "  end of the last speech frame + silence_duration_ms. semantic_vad: threshold 0.5, prefix 300 ms,\n"
    "  silence by eagerness: high 250 ms, medium/auto 600 ms, low 1200 ms. G.711 input is decoded first.\n"
    "\n"
    "Replies: with --scenario FILE, per user turn (see server/scenarios/*.json); without one the\n"
    "  emulator repeats text input ('You said: ...') and describes audio input ('I heard N.NN seconds\n"
    "  of audio.'); instructions containing 'Say: X' or 'Say exactly: X' make it say X. With tool_choice\n"
    "  'required' (or a forced function) and no scenario it calls the tool with arguments built from\n"
    "  its JSON schema. max_output_tokens counts one token per word of output text (then status\n"
    "  'incomplete', reason 'max_output_tokens'). Input transcription without scenario: '[N.NN s of speech]'.\n"
    "\n"
    "Voices: espeak = espeak-ng speech resampled to 24 kHz pcm16 (or 8 kHz G.711); tone = 440 Hz sine,\n"
    "  60 ms per character (spaces silent), -10 dBFS. Pace: media time / factor (burst = no waiting);\n"
    "  audio deltas carry 75..560 ms of audio each.\n"
    "\n"
    "Faults apply to every connection, or to the first --fault-connections N ones. Close codes must be\n"
    "  valid WebSocket codes (1000-1003, 1007-1014, 3000-4999) or 'abrupt' (TCP dropped, no close frame).\n"
    "  --fault-error-after N:CODE may be repeated; CODE session_expired also closes with 1001 and\n"
    "  beta_api_shape_disabled with 4000.\n"
    "\n"
    "Output: the first stdout line is 'listening on ws://HOST:PORT' (wss:// with TLS).";

struct Server {
  ServerContext ctx;
  SoupServer *soup = nullptr;
  GMainLoop *loop = nullptr;
  std::set<EmulatorSession *> sessions;
  std::set<TranslationSession *> translations;  // /v1/realtime/translations (translation_session.h)
  int handshakes = 0;
  int connections = 0;
  bool tls = false;
  bool stopping = false;
  ~Server() {
    if (soup) g_object_unref(soup);
    if (loop) g_main_loop_unref(loop);
  }
};

std::string query_param(GHashTable *q, const char *k) {
  if (!q) return {};
  const char *v = static_cast<const char *>(g_hash_table_lookup(q, k));
  return v ? v : "";
}
bool has_param(GHashTable *q, const char *k) { return q && g_hash_table_contains(q, k); }

struct Resolved {
  int status = 0;          // HTTP status to refuse with (0 = accept)
  std::string body;        // JSON error body
  ConnectInfo info;
};

std::string error_body(const std::string &code, const std::string &message, const char *type = nullptr) {
  Obj e;
  if (type) e.str("type", type);
  e.str("code", code).str("message", message);
  if (type) e.null("param");
  return Obj().obj("error", std::move(e)).to_string();
}

// §1: path, dialect and auth resolution. Pure: used before and after the upgrade.
Resolved resolve(const Options &opts, SoupServerMessage *msg) {
  Resolved r;
  GUri *uri = soup_server_message_get_uri(msg);
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  const std::string path = g_uri_get_path(uri) ? g_uri_get_path(uri) : "";
  const char *qs = g_uri_get_query(uri);
  GHashTable *q = qs ? g_uri_parse_params(qs, -1, "&", G_URI_PARAMS_NONE, nullptr) : nullptr;
  r.info.path = path + (qs ? std::string("?") + qs : std::string());
  const char *protos = soup_message_headers_get_one(h, "Sec-WebSocket-Protocol");
  const std::string protocols = protos ? protos : "";
  const char *beta = soup_message_headers_get_one(h, "OpenAI-Beta");
  const bool beta_header = (beta && strstr(beta, "realtime=v1")) ||
                           protocols.find("openai-beta.realtime-v1") != std::string::npos;
  const bool openai = path == "/v1/realtime" || path == "/v1/realtime/translations";
  const bool azure_preview = path == "/openai/realtime";
  const bool azure_ga = path == "/openai/v1/realtime" || path == "/openai/v1/realtime/translations";
  r.info.translation = path == "/v1/realtime/translations" || path == "/openai/v1/realtime/translations";
  r.info.transcription = query_param(q, "intent") == "transcription";

  auto refuse = [&](int status, const std::string &body) {
    r.status = status;
    r.body = body;
  };
  if (!openai && !azure_preview && !azure_ga) {
    refuse(404, error_body("404", "Resource not found"));
  } else if (azure_ga && has_param(q, "api-version")) {
    // §1.4 (AZ-MIG): api-version on the GA path -> 401 Unauthorized.
    refuse(401, error_body("401", "Unauthorized. The api-version query parameter is not supported on the "
                                  "/openai/v1 GA endpoint."));
  } else {
    if (!opts.api_key.empty()) {
      const std::string k = opts.api_key;
      const char *apikey = soup_message_headers_get_one(h, "api-key");
      const char *auth = soup_message_headers_get_one(h, "Authorization");
      const bool ok = (apikey && k == apikey) || query_param(q, "api-key") == k ||
                      (auth && std::string(auth) == "Bearer " + k) ||
                      protocols.find("openai-insecure-api-key." + k) != std::string::npos;
      if (!ok) {
        if (openai)
          refuse(401, error_body("invalid_api_key", "Incorrect API key provided.", "invalid_request_error"));
        else
          refuse(401, error_body("401", "Access denied due to invalid subscription key or wrong API endpoint. Make "
                                        "sure to provide a valid key for an active subscription and use a correct "
                                        "regional API endpoint for your resource."));
      }
    }
    if (r.status == 0) {
      if (openai) {
        r.info.dialect = beta_header ? Dialect::Preview : Dialect::GA;
        r.info.model = query_param(q, "model");
        if (r.info.model.empty() && !r.info.transcription && !has_param(q, "call_id"))
          refuse(400, error_body("missing_model", "You must provide a model parameter.", "invalid_request_error"));
        r.info.beta_header_on_ga_model = beta_header && r.info.model.rfind("gpt-realtime", 0) == 0;
      } else if (azure_preview) {
        r.info.dialect = Dialect::Preview;
        r.info.azure = true;
        r.info.model = query_param(q, "deployment");
        if (!has_param(q, "api-version"))
          refuse(400, error_body("MissingApiVersionParameter",
                                 "The api-version query parameter (?api-version=) is required for all requests."));
        else if (r.info.model.empty() && !r.info.transcription)
          refuse(404, error_body("DeploymentNotFound", "The API deployment for this resource does not exist."));
      } else {
        r.info.dialect = Dialect::GA;
        r.info.azure = true;
        r.info.model = query_param(q, "model");
        if (r.info.model.empty() && !r.info.transcription && !has_param(q, "call_id"))
          refuse(400, error_body("MissingModel", "The model query parameter is required."));
        else if (r.info.model.find("whisper") != std::string::npos)
          // §1.4: unsupported model on the realtime endpoint (FORUM)
          refuse(400, error_body("OpperationNotSupported",
                                 "The realtime operation does not work with the specified model, " + r.info.model +
                                     ". Please choose different model and try again."));
      }
    }
  }
  if (q) g_hash_table_unref(q);
  return r;
}

// Runs before the WebSocket upgrade: refusing here sends a plain HTTP response (§1.4, §8 end).
void http_handler(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *, gpointer data) {
  auto *srv = static_cast<Server *>(data);
  const int n = srv->handshakes++;
  const Options &o = srv->ctx.opts;
  Resolved r = resolve(o, msg);
  if (r.status == 0 && o.fault_handshake_status > 0 && (o.fault_handshake_count == 0 || n < o.fault_handshake_count)) {
    r.status = o.fault_handshake_status;
    r.body = error_body(std::to_string(r.status), "Injected handshake fault.");
  }
  if (r.status != 0) {
    if (o.verbose) g_printerr("refusing %s with HTTP %d\n", r.info.path.c_str(), r.status);
    soup_server_message_set_status(msg, guint(r.status), nullptr);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, r.body.c_str(), r.body.size());
    srv->ctx.log.conn("", "\"what\":\"refused\",\"status\":" + std::to_string(r.status) +
                              ",\"path\":" + node_to_string(Obj().str("p", r.info.path).release_node()));
  }
}

void ws_handler(SoupServer *, SoupServerMessage *msg, const char *, SoupWebsocketConnection *conn, gpointer data) {
  auto *srv = static_cast<Server *>(data);
  if (srv->stopping) {
    soup_websocket_connection_close(conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "server shutting down");
    return;
  }
  Resolved r = resolve(srv->ctx.opts, msg);
  const int idx = srv->connections++;
  r.info.faults = srv->ctx.opts.fault_connections == 0 || idx < srv->ctx.opts.fault_connections;
  if (r.info.translation) {  // translation sessions: their own class (translation_session.h)
    auto *t = new TranslationSession(srv->ctx, conn, r.info, [srv](TranslationSession *gone) {
      srv->translations.erase(gone);
      g_idle_add(
          [](gpointer p) -> gboolean {
            delete static_cast<TranslationSession *>(p);
            return G_SOURCE_REMOVE;
          },
          gone);
    });
    srv->translations.insert(t);
    t->start();
    return;
  }
  auto *s = new EmulatorSession(srv->ctx, conn, soup_server_message_get_socket(msg), r.info,
                                [srv](EmulatorSession *gone) {
                                  srv->sessions.erase(gone);
                                  g_idle_add(
                                      [](gpointer p) -> gboolean {
                                        delete static_cast<EmulatorSession *>(p);
                                        return G_SOURCE_REMOVE;
                                      },
                                      gone);
                                });
  srv->sessions.insert(s);
  if (srv->ctx.opts.verbose) g_printerr("[%s] connected: %s\n", s->id().c_str(), r.info.path.c_str());
  s->start();
}

gboolean on_signal(gpointer data) {
  auto *srv = static_cast<Server *>(data);
  if (srv->stopping) {
    g_main_loop_quit(srv->loop);
    return G_SOURCE_CONTINUE;
  }
  srv->stopping = true;
  for (EmulatorSession *s : std::set<EmulatorSession *>(srv->sessions)) s->shutdown();
  for (TranslationSession *s : std::set<TranslationSession *>(srv->translations)) s->shutdown();
  // Give close frames a moment to leave, then quit.
  g_timeout_add(
      srv->sessions.empty() && srv->translations.empty() ? 0 : 300,
      [](gpointer d) -> gboolean {
        g_main_loop_quit(static_cast<Server *>(d)->loop);
        return G_SOURCE_REMOVE;
      },
      srv);
  return G_SOURCE_CONTINUE;
}

bool valid_close_code(int c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

}  // namespace
}  // namespace emu

int main(int argc, char **argv) {
  using namespace emu;
  std::signal(SIGPIPE, SIG_IGN);
  Server srv;
  Options &o = srv.ctx.opts;

  // Option storage, freed on every return path.
  struct OptStrings {
    gchar *host = nullptr, *port_file = nullptr, *tls_cert = nullptr, *tls_key = nullptr, *api_key = nullptr;
    gchar *voice = nullptr, *pace = nullptr, *scenario = nullptr, *log_path = nullptr, *close_code = nullptr;
    gchar **error_faults = nullptr;
    ~OptStrings() {
      for (gchar *p : {host, port_file, tls_cert, tls_key, api_key, voice, pace, scenario, log_path, close_code})
        g_free(p);
      g_strfreev(error_faults);
    }
  } os;
  gchar *&host = os.host, *&port_file = os.port_file, *&tls_cert = os.tls_cert, *&tls_key = os.tls_key,
        *&api_key = os.api_key, *&voice = os.voice, *&pace = os.pace, *&scenario = os.scenario,
        *&log_path = os.log_path, *&close_code = os.close_code;
  gchar **&error_faults = os.error_faults;
  gint port = 0, session_max = -1, latency = 0, tdelay = 150, close_after = -1, delay_ms = 0, hs_status = 0,
       hs_count = 0, malformed_after = -1, fault_conns = 0, xlag = 300;
  gboolean no_log_audio = FALSE, tfail = FALSE, reject_beta = FALSE, verbose = FALSE;
  GOptionEntry entries[] = {
      {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on (default 127.0.0.1)", "ADDR"},
      {"port", 0, 0, G_OPTION_ARG_INT, &port, "TCP port; 0 = ephemeral (default 0)", "PORT"},
      {"port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file, "Write the chosen port to FILE", "FILE"},
      {"tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert, "PEM certificate: serve wss:// (needs --tls-key)", "FILE"},
      {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, "PEM private key for --tls-cert", "FILE"},
      {"api-key", 0, 0, G_OPTION_ARG_STRING, &api_key,
       "Require this key (api-key header/query or Authorization: Bearer); default: accept any", "KEY"},
      {"voice", 0, 0, G_OPTION_ARG_STRING, &voice, "Assistant voice: espeak (default) or tone", "espeak|tone"},
      {"pace", 0, 0, G_OPTION_ARG_STRING, &pace,
       "Response streaming pace: burst, realtime, or a speed factor (default 4 = 4x real time, in bursts)",
       "burst|realtime|FACTOR"},
      {"latency-ms", 0, 0, G_OPTION_ARG_INT, &latency, "Delay before the first output item of a response (default 0)",
       "MS"},
      {"scenario", 0, 0, G_OPTION_ARG_FILENAME, &scenario, "Scripted conversation (JSON, see server/scenarios/)",
       "FILE"},
      {"session-max-s", 0, 0, G_OPTION_ARG_INT, &session_max,
       "Session lifetime: then error session_expired and close 1001 (default: 3600 OpenAI GA, 1800 otherwise)", "N"},
      {"log", 0, 0, G_OPTION_ARG_FILENAME, &log_path,
       "Write every event of both directions as JSON lines with timestamp and direction", "FILE"},
      {"log-no-audio", 0, 0, G_OPTION_ARG_NONE, &no_log_audio, "In --log, replace base64 audio by its length",
       nullptr},
      {"transcription-delay-ms", 0, 0, G_OPTION_ARG_INT, &tdelay,
       "Delay of input transcription events after the commit (default 150; large values make them arrive after "
       "response.done)",
       "MS"},
      {"transcription-fail", 0, 0, G_OPTION_ARG_NONE, &tfail,
       "Send conversation.item.input_audio_transcription.failed instead of transcripts", nullptr},
      {"reject-beta-on-ga-models", 0, 0, G_OPTION_ARG_NONE, &reject_beta,
       "OpenAI-Beta: realtime=v1 with a gpt-realtime* model -> error beta_api_shape_disabled + close 4000 (ref. 1.2)",
       nullptr},
      {"translation-lag-ms", 0, 0, G_OPTION_ARG_INT, &xlag,
       "Translation sessions: delay from the end of a source phrase to its first output (default 300)", "MS"},
      {"fault-close-after", 0, 0, G_OPTION_ARG_INT, &close_after, "Close the socket after N server events", "N"},
      {"fault-close-code", 0, 0, G_OPTION_ARG_STRING, &close_code,
       "Close code for --fault-close-after (default 1011), or 'abrupt' to drop TCP without a close frame",
       "CODE|abrupt"},
      {"fault-delay-ms", 0, 0, G_OPTION_ARG_INT, &delay_ms, "Delay every server event by D ms (order kept)", "D"},
      {"fault-handshake-status", 0, 0, G_OPTION_ARG_INT, &hs_status,
       "Refuse WebSocket handshakes with this HTTP status (JSON error body)", "STATUS"},
      {"fault-handshake-count", 0, 0, G_OPTION_ARG_INT, &hs_count,
       "Only refuse the first N handshakes (default 0 = all)", "N"},
      {"fault-malformed-after", 0, 0, G_OPTION_ARG_INT, &malformed_after,
       "After N server events, send a text frame that is not valid JSON", "N"},
      {"fault-error-after", 0, 0, G_OPTION_ARG_STRING_ARRAY, &error_faults,
       "After N server events, send an error event with this code (repeatable)", "N:CODE"},
      {"fault-connections", 0, 0, G_OPTION_ARG_INT, &fault_conns,
       "Apply connection faults only to the first N connections (default 0 = all)", "N"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Diagnostics on stderr", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};

  GOptionContext *oc = g_option_context_new("- OpenAI / Azure OpenAI Realtime API emulator");
  g_option_context_add_main_entries(oc, entries, nullptr);
  g_option_context_set_description(oc, kDescription);
  GError *err = nullptr;
  if (!g_option_context_parse(oc, &argc, &argv, &err)) {
    g_printerr("realtime-emulator: %s\n", err->message);
    g_error_free(err);
    g_option_context_free(oc);
    return 2;
  }
  g_option_context_free(oc);

  auto fail = [&err](const std::string &m) {
    g_clear_error(&err);
    g_printerr("realtime-emulator: %s\n", m.c_str());
    return 2;
  };
  if (host) o.host = host;
  o.port = port;
  if (port < 0 || port > 65535) return fail("invalid --port");
  if (port_file) o.port_file = port_file;
  if (tls_cert) o.tls_cert = tls_cert;
  if (tls_key) o.tls_key = tls_key;
  if (o.tls_cert.empty() != o.tls_key.empty()) return fail("--tls-cert and --tls-key go together");
  if (api_key) o.api_key = api_key;
  if (voice) {
    if (g_str_equal(voice, "espeak"))
      o.voice = VoiceKind::Espeak;
    else if (g_str_equal(voice, "tone"))
      o.voice = VoiceKind::Tone;
    else
      return fail("--voice must be espeak or tone");
  }
  if (pace) {
    if (g_str_equal(pace, "burst")) {
      o.pace = 0;
    } else if (g_str_equal(pace, "realtime")) {
      o.pace = 1;
    } else {
      char *end = nullptr;
      o.pace = g_ascii_strtod(pace, &end);
      if (!end || *end || o.pace <= 0) return fail("--pace must be burst, realtime or a positive factor");
    }
  }
  o.latency_ms = std::max(0, latency);
  if (scenario) o.scenario = scenario;
  o.session_max_s = session_max;
  if (log_path) o.log_path = log_path;
  o.log_audio = !no_log_audio;
  o.transcription_delay_ms = std::max(0, tdelay);
  o.transcription_fail = tfail;
  o.translation_lag_ms = std::max(0, xlag);
  o.reject_beta_on_ga = reject_beta;
  o.verbose = verbose;
  o.fault_close_after = close_after;
  if (close_code) {
    if (g_str_equal(close_code, "abrupt")) {
      o.fault_close_abrupt = true;
    } else {
      o.fault_close_code = atoi(close_code);
      if (!valid_close_code(o.fault_close_code)) return fail("invalid --fault-close-code");
    }
  }
  o.fault_delay_ms = std::max(0, delay_ms);
  o.fault_handshake_status = hs_status;
  if (hs_status && (hs_status < 100 || hs_status > 599)) return fail("invalid --fault-handshake-status");
  o.fault_handshake_count = std::max(0, hs_count);
  o.fault_malformed_after = malformed_after;
  o.fault_connections = std::max(0, fault_conns);
  for (gchar **p = error_faults; p && *p; p++) {
    const char *colon = strchr(*p, ':');
    if (!colon || colon == *p || !colon[1]) return fail("--fault-error-after expects N:CODE");
    o.fault_errors.push_back({g_ascii_strtoll(*p, nullptr, 10), colon + 1});
  }

  if (!o.scenario.empty()) {
    std::string e;
    if (!srv.ctx.scenario.load(o.scenario, &e)) return fail("scenario " + o.scenario + ": " + e);
    srv.ctx.has_scenario = true;
  }
  srv.ctx.voice = std::make_unique<Voice>(o.voice);
  {
    std::string e;
    if (!srv.ctx.voice->init(&e)) {
      g_printerr("realtime-emulator: %s; falling back to --voice tone\n", e.c_str());
      srv.ctx.voice = std::make_unique<Voice>(VoiceKind::Tone);
    }
  }
  if (!o.log_path.empty()) {
    std::string e;
    if (!srv.ctx.log.open(o.log_path, o.log_audio, &e)) return fail(e);
  }

  srv.soup = soup_server_new("server-header", "realtime-emulator", nullptr);
  if (!o.tls_cert.empty()) {
    GTlsCertificate *cert = g_tls_certificate_new_from_files(o.tls_cert.c_str(), o.tls_key.c_str(), &err);
    if (!cert) return fail(std::string("TLS certificate: ") + err->message);
    soup_server_set_tls_certificate(srv.soup, cert);
    g_object_unref(cert);
    srv.tls = true;
  }
  soup_server_add_handler(srv.soup, nullptr, http_handler, &srv, nullptr);
  char *protocols[] = {const_cast<char *>("realtime"), nullptr};
  soup_server_add_websocket_handler(srv.soup, nullptr, nullptr, protocols, ws_handler, &srv, nullptr);

  const std::string host_ip = o.host == "localhost" ? "127.0.0.1" : o.host;
  GInetAddress *ia = g_inet_address_new_from_string(host_ip.c_str());
  if (!ia) return fail("--host must be an IP address (or localhost)");
  GSocketAddress *sa = g_inet_socket_address_new(ia, guint16(o.port));
  g_object_unref(ia);
  if (!soup_server_listen(srv.soup, sa, srv.tls ? SOUP_SERVER_LISTEN_HTTPS : SoupServerListenOptions(0), &err)) {
    g_object_unref(sa);
    return fail(std::string("listen: ") + err->message);
  }
  g_object_unref(sa);
  int bound = o.port;
  GSList *uris = soup_server_get_uris(srv.soup);
  if (uris) bound = g_uri_get_port(static_cast<GUri *>(uris->data));
  g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));

  // The port file is written (atomically) before the first stdout line, so a reader of that line
  // can rely on the file.
  if (!o.port_file.empty()) {
    const std::string s = std::to_string(bound) + "\n";
    if (!g_file_set_contents(o.port_file.c_str(), s.c_str(), gssize(s.size()), &err))
      return fail(std::string("--port-file: ") + err->message);
  }
  printf("listening on %s://%s:%d\n", srv.tls ? "wss" : "ws", o.host.c_str(), bound);
  fflush(stdout);

  srv.loop = g_main_loop_new(nullptr, FALSE);
  g_unix_signal_add(SIGINT, on_signal, &srv);
  g_unix_signal_add(SIGTERM, on_signal, &srv);
  g_main_loop_run(srv.loop);

  for (EmulatorSession *s : std::set<EmulatorSession *>(srv.sessions)) delete s;
  srv.sessions.clear();
  soup_server_disconnect(srv.soup);
  if (verbose) g_printerr("realtime-emulator: bye\n");
  return 0;
}
