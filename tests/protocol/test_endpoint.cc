// Endpoint resolution (§1): one test per row of the table, plus forms, security,
// credentials, environment fallbacks and redaction.
#include <cctype>
#include <map>

#include "test_util.h"

using namespace rtc;

namespace {

using Env = std::map<std::string, std::string>;

EnvLookup env_of(Env env) {
  return [env](const char *name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

ResolvedEndpoint resolve_ok(const EndpointParams &p, const Env &env = {}) {
  ResolvedEndpoint r;
  std::string err;
  EXPECT_TRUE(resolve_endpoint(p, &r, &err, env_of(env))) << err;
  return r;
}

std::string resolve_err(const EndpointParams &p, const Env &env = {}) {
  ResolvedEndpoint r;
  std::string err;
  EXPECT_FALSE(resolve_endpoint(p, &r, &err, env_of(env))) << r.url;
  EXPECT_FALSE(err.empty());
  return err;
}

std::string lower_copy(std::string s) {
  for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string header(const ResolvedEndpoint &r, const std::string &name) {
  for (const auto &h : r.headers)
    if (h.first == name) return h.second;
  return "<none>";
}

}  // namespace

// --- the four rows --------------------------------------------------------------------------
TEST(Endpoint, OpenAiGA) {
  EndpointParams p;
  p.api_key = "sk-test-1234567890";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_EQ(r.url, "wss://api.openai.com/v1/realtime?model=gpt-realtime");
  EXPECT_EQ(r.dialect, Dialect::GA);
  EXPECT_FALSE(r.azure);
  EXPECT_TRUE(r.has_credentials);
  EXPECT_EQ(header(r, "Authorization"), "Bearer sk-test-1234567890");
  EXPECT_EQ(header(r, "OpenAI-Beta"), "<none>");
  EXPECT_EQ(r.headers.size(), 1u);
}
TEST(Endpoint, OpenAiPreview) {
  EndpointParams p;
  p.dialect = DialectChoice::Preview;
  p.deployment = "gpt-4o-realtime-preview-2024-12-17";
  p.api_key = "sk-test-1234567890";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_EQ(r.url, "wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview-2024-12-17");
  EXPECT_EQ(r.dialect, Dialect::Preview);
  EXPECT_EQ(header(r, "Authorization"), "Bearer sk-test-1234567890");
  EXPECT_EQ(header(r, "OpenAI-Beta"), "realtime=v1");
}
TEST(Endpoint, AzureGA) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com";
  p.deployment = "my-realtime";
  p.api_key = "azkey0123456789";
  const ResolvedEndpoint r = resolve_ok(p, {{"OPENAI_API_VERSION", "2025-04-01-preview"}});  // never used by GA
  EXPECT_EQ(r.url, "wss://myres.openai.azure.com/openai/v1/realtime?model=my-realtime");
  EXPECT_EQ(r.dialect, Dialect::GA);
  EXPECT_TRUE(r.azure);
  EXPECT_EQ(header(r, "api-key"), "azkey0123456789");
  EXPECT_EQ(header(r, "OpenAI-Beta"), "<none>");
  EXPECT_EQ(r.url.find("api-version"), std::string::npos);
}
TEST(Endpoint, AzurePreview) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com/";
  p.deployment = "gpt-4o-realtime-preview";
  p.api_version = "2024-10-01-preview";
  p.api_key = "azkey0123456789";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_EQ(r.url, "wss://myres.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-realtime-preview");
  EXPECT_EQ(r.dialect, Dialect::Preview);  // auto: an api-version was given
  EXPECT_EQ(header(r, "api-key"), "azkey0123456789");
  EXPECT_EQ(header(r, "OpenAI-Beta"), "<none>");
}

// --- endpoint forms ---------------------------------------------------------------------------
TEST(Endpoint, FormsOfTheSameAzureResource) {
  for (const char *e : {"https://myres.openai.azure.com", "wss://myres.openai.azure.com/", "myres.openai.azure.com",
                        "https://myres.openai.azure.com/openai", "https://myres.openai.azure.com/openai/",
                        "https://myres.openai.azure.com/openai/v1", "https://myres.openai.azure.com/openai/v1/",
                        "wss://myres.openai.azure.com/openai/v1/realtime", "HTTPS://MyRes.openai.azure.com//"}) {
    EndpointParams p;
    p.endpoint = e;
    p.deployment = "dep";
    const ResolvedEndpoint r = resolve_ok(p);
    EXPECT_EQ(lower_copy(r.url), "wss://myres.openai.azure.com/openai/v1/realtime?model=dep") << e;
    EXPECT_TRUE(r.azure) << e;
  }
}
TEST(Endpoint, ExplicitPreviewPathSelectsPreview) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com/openai/realtime";
  p.deployment = "dep";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_EQ(r.dialect, Dialect::Preview);
  EXPECT_EQ(r.url, "wss://myres.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=dep");
}
TEST(Endpoint, FullPreviewUrlWithQuery) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-rt";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_EQ(r.dialect, Dialect::Preview);
  EXPECT_EQ(r.url, "wss://myres.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-rt");
}
TEST(Endpoint, OtherAzureHosts) {
  for (const char *e : {"https://x.cognitiveservices.azure.com", "https://x.services.ai.azure.com/"}) {
    EndpointParams p;
    p.endpoint = e;
    const ResolvedEndpoint r = resolve_ok(p);
    EXPECT_TRUE(r.azure) << e;
    EXPECT_NE(r.url.find("/openai/v1/realtime?model=gpt-realtime"), std::string::npos) << r.url;
  }
}
TEST(Endpoint, OpenAiExplicitPathAndTrailingSlash) {
  for (const char *e : {"https://api.openai.com/v1/realtime", "wss://api.openai.com/v1/", "https://api.openai.com/"}) {
    EndpointParams p;
    p.endpoint = e;
    p.deployment = "gpt-realtime-mini";
    EXPECT_EQ(resolve_ok(p).url, "wss://api.openai.com/v1/realtime?model=gpt-realtime-mini") << e;
  }
}
TEST(Endpoint, ExplicitGAWithApiVersionNeverSendsIt) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com";
  p.api_version = "2025-04-01-preview";
  p.dialect = DialectChoice::GA;
  EXPECT_EQ(resolve_ok(p).url, "wss://myres.openai.azure.com/openai/v1/realtime?model=gpt-realtime");
}
TEST(Endpoint, ExtraQueryParametersKeptAndValuesEncoded) {
  EndpointParams p;
  p.endpoint = "wss://api.openai.com/v1/realtime?intent=transcription";
  p.deployment = "my model&x";
  EXPECT_EQ(resolve_ok(p).url, "wss://api.openai.com/v1/realtime?model=my%20model%26x&intent=transcription");
}

// --- local emulator and plain ws:// -------------------------------------------------------------
TEST(Endpoint, LocalEmulatorAzureStyle) {
  EndpointParams p;
  p.endpoint = "ws://127.0.0.1:8765/openai";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_TRUE(r.azure);
  EXPECT_EQ(r.url, "ws://127.0.0.1:8765/openai/v1/realtime?model=gpt-realtime");
  EXPECT_FALSE(r.has_credentials);  // not an error
  EXPECT_TRUE(r.headers.empty());
}
TEST(Endpoint, LocalEmulatorAzurePreview) {
  EndpointParams p;
  p.endpoint = "http://127.0.0.1:8765/openai/";
  p.api_version = "2025-04-01-preview";
  p.deployment = "d";
  EXPECT_EQ(resolve_ok(p).url, "ws://127.0.0.1:8765/openai/realtime?api-version=2025-04-01-preview&deployment=d");
}
TEST(Endpoint, LocalEmulatorOpenAiStyle) {
  EndpointParams p;
  p.endpoint = "ws://127.0.0.1:8765";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_FALSE(r.azure);
  EXPECT_EQ(r.url, "ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime");
}
TEST(Endpoint, LoopbackHostsAllowPlainWs) {
  for (const char *e : {"ws://localhost:9000", "http://127.8.9.10", "ws://[::1]:9000/openai"}) {
    EndpointParams p;
    p.endpoint = e;
    EXPECT_EQ(resolve_ok(p).url.rfind("ws://", 0), 0u) << e;
  }
}
TEST(Endpoint, PlainWsToRemoteHostRefused) {
  for (const char *e : {"ws://example.com", "http://10.0.0.1:8080/openai", "ws://127.0.0.1.evil.com",
                        "ws://1270.0.0.1", "ws://128.0.0.1"}) {
    EndpointParams p;
    p.endpoint = e;
    EXPECT_NE(resolve_err(p).find("ws://"), std::string::npos) << e;
  }
  EndpointParams p;
  p.endpoint = "ws://example.com/openai";
  p.allow_insecure = true;
  EXPECT_EQ(resolve_ok(p).url, "ws://example.com/openai/v1/realtime?model=gpt-realtime");
}
TEST(Endpoint, InvalidEndpoints) {
  for (const char *e : {"ftp://api.openai.com", "https://", "https://:443", "https://host:99999", "https://host:12x",
                        "https://ho st"}) {
    EndpointParams p;
    p.endpoint = e;
    resolve_err(p);
  }
}

// --- credentials ------------------------------------------------------------------------------
TEST(Endpoint, AzureApiKeyInQuery) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com";
  p.api_key = "s3cr3t-key-value";
  p.api_key_in_query = true;
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_EQ(r.url, "wss://myres.openai.azure.com/openai/v1/realtime?model=gpt-realtime&api-key=s3cr3t-key-value");
  EXPECT_EQ(r.display_url, "wss://myres.openai.azure.com/openai/v1/realtime?model=gpt-realtime&api-key=REDACTED");
  EXPECT_EQ(header(r, "api-key"), "<none>");
  EXPECT_TRUE(r.has_credentials);
}
TEST(Endpoint, BearerTokenAlwaysAuthorization) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com";
  p.bearer_token = "eyJ0eXAiOiJKV1Qi.entra";
  const ResolvedEndpoint r = resolve_ok(p, {{"AZURE_OPENAI_API_KEY", "envkey123456"}});
  EXPECT_EQ(header(r, "Authorization"), "Bearer eyJ0eXAiOiJKV1Qi.entra");
  EXPECT_EQ(header(r, "api-key"), "<none>");
  EXPECT_TRUE(r.has_credentials);
  p.endpoint = "";
  p.bearer_token = "ek_ephemeral123";
  EXPECT_EQ(header(resolve_ok(p), "Authorization"), "Bearer ek_ephemeral123");
}
TEST(Endpoint, DisplayUrlNeverHasSecrets) {
  EndpointParams p;
  p.endpoint = "https://myres.openai.azure.com/openai/v1/realtime?api-key=from-url-secret";
  const ResolvedEndpoint r = resolve_ok(p);
  EXPECT_NE(r.url.find("api-key=from-url-secret"), std::string::npos);
  EXPECT_EQ(r.display_url.find("from-url-secret"), std::string::npos);
  EXPECT_TRUE(r.has_credentials);
}
TEST(Endpoint, ErrorsContainNoSecrets) {
  EndpointParams p;
  p.api_key = "sk-verysecret-000";
  p.bearer_token = "tok-verysecret-111";
  for (const char *e : {"ftp://h", "ws://remote.example", "https://user:pw-verysecret@host", "https://h:bad"}) {
    p.endpoint = e;
    const std::string err = resolve_err(p);
    EXPECT_EQ(err.find("verysecret"), std::string::npos) << err;
  }
}

// --- environment (the seeds' variables) ---------------------------------------------------------
TEST(Endpoint, EnvAzureFallbacks) {
  EndpointParams p;
  const ResolvedEndpoint r = resolve_ok(p, {{"AZURE_OPENAI_ENDPOINT", "https://envres.openai.azure.com/"},
                                            {"AZURE_OPENAI_API_KEY", "envkey123456"},
                                            {"AZURE_OPENAI_DEPLOYMENT_NAME", "env-dep"},
                                            {"OPENAI_API_KEY", "sk-not-this-one"}});
  EXPECT_EQ(r.url, "wss://envres.openai.azure.com/openai/v1/realtime?model=env-dep");
  EXPECT_EQ(header(r, "api-key"), "envkey123456");
}
TEST(Endpoint, EnvApiVersionUsedForPreviewOnly) {
  EndpointParams p;
  p.dialect = DialectChoice::Preview;
  const Env env = {{"AZURE_OPENAI_ENDPOINT", "https://envres.openai.azure.com"}, {"OPENAI_API_VERSION", "2024-12-17"}};
  EXPECT_EQ(resolve_ok(p, env).url,
            "wss://envres.openai.azure.com/openai/realtime?api-version=2024-12-17&deployment=gpt-4o-realtime-preview");
  p.dialect = DialectChoice::Auto;  // the env api-version alone does not select preview
  EXPECT_EQ(resolve_ok(p, env).url, "wss://envres.openai.azure.com/openai/v1/realtime?model=gpt-realtime");
}
TEST(Endpoint, EnvOpenAiKey) {
  EndpointParams p;
  const ResolvedEndpoint r = resolve_ok(p, {{"OPENAI_API_KEY", "sk-env-1234567890"}, {"AZURE_OPENAI_API_KEY", "az"}});
  EXPECT_EQ(r.url, "wss://api.openai.com/v1/realtime?model=gpt-realtime");
  EXPECT_EQ(header(r, "Authorization"), "Bearer sk-env-1234567890");
}
TEST(Endpoint, EnvIgnoredWhenDisabled) {
  EndpointParams p;
  p.use_env = false;
  const ResolvedEndpoint r = resolve_ok(p, {{"AZURE_OPENAI_ENDPOINT", "https://envres.openai.azure.com"},
                                            {"OPENAI_API_KEY", "sk-env-1234567890"}});
  EXPECT_EQ(r.url, "wss://api.openai.com/v1/realtime?model=gpt-realtime");
  EXPECT_FALSE(r.has_credentials);
}
TEST(Endpoint, ExplicitSettingsWinOverEnv) {
  EndpointParams p;
  p.endpoint = "https://mine.openai.azure.com";
  p.deployment = "mine";
  p.api_key = "mykey12345";
  const ResolvedEndpoint r = resolve_ok(p, {{"AZURE_OPENAI_ENDPOINT", "https://envres.openai.azure.com"},
                                            {"AZURE_OPENAI_DEPLOYMENT_NAME", "env-dep"},
                                            {"AZURE_OPENAI_API_KEY", "envkey123456"}});
  EXPECT_EQ(r.url, "wss://mine.openai.azure.com/openai/v1/realtime?model=mine");
  EXPECT_EQ(header(r, "api-key"), "mykey12345");
}
TEST(Endpoint, ProcessEnv) {
  g_setenv("RTC_TEST_ENV_VALUE", "v1", TRUE);
  g_setenv("RTC_TEST_ENV_EMPTY", "", TRUE);
  EXPECT_EQ(process_env("RTC_TEST_ENV_VALUE"), std::optional<std::string>("v1"));
  EXPECT_EQ(process_env("RTC_TEST_ENV_EMPTY"), std::nullopt);
  EXPECT_EQ(process_env("RTC_TEST_ENV_UNSET_XYZ"), std::nullopt);
}

// --- redact -------------------------------------------------------------------------------------
TEST(Redact, SecretsInLogs) {
  EXPECT_EQ(redact("wss://h/openai/realtime?api-version=1&api-key=abc123&deployment=d"),
            "wss://h/openai/realtime?api-version=1&api-key=REDACTED&deployment=d");
  EXPECT_EQ(redact("Authorization: Bearer eyJabc.def-ghi"), "Authorization: Bearer REDACTED");
  EXPECT_EQ(redact("api-key: 0123456789abcdef"), "api-key: REDACTED");
  EXPECT_EQ(redact("key sk-proj-ABCDEFGH12345678 used"), "key REDACTED used");
  EXPECT_EQ(redact("ephemeral ek_68af296e8e408191a1120ab6383263c2"), "ephemeral REDACTED");
  EXPECT_EQ(redact("task-sk-ip is fine, so is desk-top"), "task-sk-ip is fine, so is desk-top");
  EXPECT_EQ(redact("my token is hunter2hunter2!", {"hunter2hunter2"}), "my token is REDACTED!");
  EXPECT_EQ(redact("nothing secret here"), "nothing secret here");
}
