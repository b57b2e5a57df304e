// realtime-emulator: wire and connection (§1): paths, dialect selection, auth, HTTP refusals
// before the upgrade with JSON bodies, TLS, --port-file, clean shutdown, --help.
#include <fstream>
#include <sstream>

#include "harness.h"

using namespace emutest;

namespace {

const std::vector<std::pair<std::string, std::string>> kUpgrade = {{"Connection", "Upgrade"},
                                                                   {"Upgrade", "websocket"},
                                                                   {"Sec-WebSocket-Version", "13"},
                                                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};

std::vector<std::pair<std::string, std::string>> with(std::vector<std::pair<std::string, std::string>> h,
                                                      std::vector<std::pair<std::string, std::string>> more) {
  h.insert(h.end(), more.begin(), more.end());
  return h;
}

void expect_json_error(const HttpResult &r, int status) {
  EXPECT_EQ(r.status, status);
  auto n = parse(r.body);
  ASSERT_TRUE(n) << "body is not JSON: " << r.body;
  JsonNode *code = node_at(n.get(), "error.code");
  JsonNode *msg = node_at(n.get(), "error.message");
  EXPECT_TRUE(code && JSON_NODE_HOLDS_VALUE(code)) << r.body;
  EXPECT_TRUE(msg && JSON_NODE_HOLDS_VALUE(msg)) << r.body;
}

std::string tmpdir() {
  gchar *d = g_dir_make_tmp("rtc-emu-XXXXXX", nullptr);
  std::string s(d);
  g_free(d);
  return s;
}

}  // namespace

TEST(Connection, FirstLineAndEphemeralPort) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  EXPECT_EQ(emu.first_line, "listening on ws://127.0.0.1:" + std::to_string(emu.port));
  EXPECT_GT(emu.port, 1024);
}

TEST(Connection, PortFile) {
  const std::string dir = tmpdir();
  Emulator emu({"--port-file=" + dir + "/port"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  std::ifstream f(dir + "/port");
  int p = 0;
  f >> p;
  EXPECT_EQ(p, emu.port);
  g_remove((dir + "/port").c_str());
  g_rmdir(dir.c_str());
}

// §1.1 / §1.2: /v1/realtime is GA without the beta header, preview with it (header or sub-protocol).
TEST(Connection, OpenAIPathDialects) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  {
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime"), {{"Authorization", "Bearer k"}}));
    EXPECT_EQ(c.http_status, 101);
    auto e = c.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->str("session.type"), "realtime");
  }
  {
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-4o-realtime-preview-2024-12-17"),
                          {{"Authorization", "Bearer k"}, {"OpenAI-Beta", "realtime=v1"}}));
    auto e = c.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->str("session.object"), "realtime.session");
    EXPECT_EQ(e->str("session.model"), "gpt-4o-realtime-preview-2024-12-17");
    EXPECT_TRUE(e->at("session.modalities"));
    auto conv = c.next();
    ASSERT_TRUE(conv);
    EXPECT_EQ(conv->type, "conversation.created");
  }
  {  // browser sub-protocols (§1.1)
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-4o-realtime-preview"), {},
                          {"realtime", "openai-insecure-api-key.k", "openai-beta.realtime-v1"}));
    EXPECT_STREQ(soup_websocket_connection_get_protocol(c.conn()), "realtime");
    auto e = c.next();
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->at("session.modalities")) << "sub-protocol openai-beta.realtime-v1 selects the preview dialect";
  }
}

// §1.3 / §1.4: Azure paths.
TEST(Connection, AzurePaths) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  {
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/openai/realtime?api-version=2025-04-01-preview&deployment=my-deploy"), {{"api-key", "k"}}));
    auto e = c.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->str("session.model"), "my-deploy");
    EXPECT_TRUE(e->at("session.modalities"));  // preview dialect
  }
  {
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/openai/v1/realtime?model=gpt-realtime"), {{"api-key", "k"}}));
    auto e = c.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->str("session.type"), "realtime");  // GA dialect
  }
  // api-version on the GA path -> 401 before the upgrade (AZ-MIG)
  expect_json_error(http_upgrade_request(emu.http_url("/openai/v1/realtime?model=gpt-realtime&api-version=2025-04-01-preview"),
                                         with(kUpgrade, {{"api-key", "k"}})),
                    401);
  Client c;
  EXPECT_FALSE(c.connect(emu.url("/openai/v1/realtime?model=gpt-realtime&api-version=2025-04-01-preview"), {{"api-key", "k"}}));
  EXPECT_EQ(c.http_status, 401);
  // Unsupported model (§1.4 FORUM): HTTP 400 OpperationNotSupported
  auto r = http_upgrade_request(emu.http_url("/openai/v1/realtime?model=gpt-realtime-whisper"), with(kUpgrade, {{"api-key", "k"}}));
  expect_json_error(r, 400);
  EXPECT_NE(r.body.find("OpperationNotSupported"), std::string::npos);
  // Missing api-version on the preview path
  expect_json_error(http_upgrade_request(emu.http_url("/openai/realtime?deployment=d"), kUpgrade), 400);
}

TEST(Connection, UnknownPathsAre404) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (const char *p : {"/", "/v1/realtimex?model=m", "/v2/realtime?model=m", "/openai/deployments/x/realtime"}) {
    SCOPED_TRACE(p);
    expect_json_error(http_upgrade_request(emu.http_url(p), kUpgrade), 404);
  }
  Client c;
  EXPECT_FALSE(c.connect(emu.url("/nope")));
  EXPECT_EQ(c.http_status, 404);
}

// §1.1-1.4 auth with --api-key: every accepted form per path, and 401 + JSON body otherwise.
TEST(Connection, AuthWithApiKey) {
  Emulator emu({"--api-key=sekret"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  const char *paths[] = {"/v1/realtime?model=gpt-realtime",
                         "/openai/realtime?api-version=2025-04-01-preview&deployment=d",
                         "/openai/v1/realtime?model=d"};
  for (const char *p : paths) {
    SCOPED_TRACE(p);
    const std::string path = p;
    const std::vector<std::vector<std::pair<std::string, std::string>>> good = {
        {{"Authorization", "Bearer sekret"}}, {{"api-key", "sekret"}}};
    for (auto &h : good) {
      Client c;
      EXPECT_TRUE(c.connect(emu.url(path), h)) << c.connect_error;
      EXPECT_TRUE(c.next());
    }
    {
      Client c;
      EXPECT_TRUE(c.connect(emu.url(path + "&api-key=sekret")));
    }
    for (auto &h : std::vector<std::vector<std::pair<std::string, std::string>>>{
             {}, {{"Authorization", "Bearer wrong"}}, {{"api-key", "wrong"}}, {{"Authorization", "sekret"}}}) {
      expect_json_error(http_upgrade_request(emu.http_url(path), with(kUpgrade, h)), 401);
      Client c;
      EXPECT_FALSE(c.connect(emu.url(path), h));
      EXPECT_EQ(c.http_status, 401);
    }
  }
  auto r = http_upgrade_request(emu.http_url("/v1/realtime?model=gpt-realtime"), kUpgrade);
  EXPECT_NE(r.body.find("invalid_api_key"), std::string::npos) << r.body;
}

TEST(Connection, NoApiKeyAcceptsAnyCredential) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (auto h : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"Authorization", "Bearer anything"}}, {{"api-key", "whatever"}}, {}}) {
    Client c;
    EXPECT_TRUE(c.connect(emu.url("/openai/v1/realtime?model=d"), h));
  }
}

// wss:// with --tls-cert / --tls-key (certificate generated with openssl).
TEST(Connection, Tls) {
  const std::string dir = tmpdir();
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + key +
                          " -out " + cert + " -days 1 -subj /CN=127.0.0.1";
  gint status = 0;
  gchar *err_out = nullptr;
  ASSERT_TRUE(g_spawn_command_line_sync(cmd.c_str(), nullptr, &err_out, &status, nullptr));
  g_free(err_out);
  ASSERT_EQ(status, 0) << "openssl failed";
  Emulator emu({"--tls-cert=" + cert, "--tls-key=" + key});
  ASSERT_TRUE(emu.ok()) << emu.error;
  EXPECT_EQ(emu.first_line.rfind("listening on wss://127.0.0.1:", 0), 0u);
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime"), {{"Authorization", "Bearer k"}})) << c.connect_error;
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "session.created");
  c.send(R"({"type":"response.create","response":{"instructions":"Say: ok"}})");
  c.until("rate_limits.updated");
  emu.stop();
  g_remove(cert.c_str());
  g_remove(key.c_str());
  g_rmdir(dir.c_str());
}

// Clean shutdown on SIGTERM / SIGINT: open sessions get close 1001, exit status 0.
TEST(Connection, CleanShutdown) {
  for (int sig : {SIGTERM, SIGINT}) {
    Emulator emu;
    ASSERT_TRUE(emu.ok()) << emu.error;
    Client c;
    ASSERT_TRUE(open_session(c, emu, false));
    EXPECT_EQ(emu.stop(sig), 0);
    EXPECT_TRUE(c.wait_closed(2000));
    EXPECT_EQ(c.close_code, 1001);
  }
}

// --help documents every flag.
TEST(Connection, HelpDocumentsEveryFlag) {
  const char *bin = g_getenv("RTC_EMULATOR");
  ASSERT_TRUE(bin);
  gchar *out = nullptr;
  gint status = 0;
  const std::string cmd = std::string(bin) + " --help";
  ASSERT_TRUE(g_spawn_command_line_sync(cmd.c_str(), &out, nullptr, &status, nullptr));
  const std::string help = out ? out : "";
  g_free(out);
  for (const char *flag :
       {"--host", "--port", "--port-file", "--tls-cert", "--tls-key", "--api-key", "--voice", "--pace", "--latency-ms",
        "--scenario", "--session-max-s", "--log", "--log-no-audio", "--transcription-delay-ms", "--transcription-fail",
        "--reject-beta-on-ga-models", "--fault-close-after", "--fault-close-code", "--fault-delay-ms",
        "--fault-handshake-status", "--fault-handshake-count", "--fault-malformed-after", "--fault-error-after",
        "--fault-connections", "--verbose"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  EXPECT_NE(help.find("-60 + 60*threshold dBFS"), std::string::npos);  // documented VAD level scale
}

TEST(Connection, BadFlagsFail) {
  const char *bin = g_getenv("RTC_EMULATOR");
  ASSERT_TRUE(bin);
  for (const char *args : {"--voice=robot", "--pace=0", "--fault-close-code=1006", "--fault-error-after=x",
                           "--tls-cert=/nonexistent"}) {
    gint status = 0;
    const std::string cmd = std::string(bin) + " " + args;
    ASSERT_TRUE(g_spawn_command_line_sync(cmd.c_str(), nullptr, nullptr, &status, nullptr));
    EXPECT_NE(status, 0) << args;
  }
}

// One session per connection: two connections get two distinct sessions.
TEST(Connection, OneSessionPerConnection) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client a, b;
  Event ea, eb;
  ASSERT_TRUE(open_session(a, emu, false, &ea));
  ASSERT_TRUE(open_session(b, emu, true, &eb));
  EXPECT_NE(ea.str("session.id"), eb.str("session.id"));
  a.send(R"({"type":"conversation.item.create","item":{"id":"item_x","type":"message","role":"user","content":[{"type":"input_text","text":"A"}]}})");
  a.until("conversation.item.done");
  b.send(R"({"type":"conversation.item.retrieve","event_id":"e","item_id":"item_x"})");
  auto e = b.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "error");  // conversations are per session
}

// §1.2 opt-in: beta header on a GA model -> beta_api_shape_disabled and close 4000.
TEST(Connection, BetaShapeDisabledOptIn) {
  Emulator emu({"--reject-beta-on-ga-models"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime"), {{"OpenAI-Beta", "realtime=v1"}}));
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->str("error.code"), "beta_api_shape_disabled");
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(c.close_code, 4000);
}
