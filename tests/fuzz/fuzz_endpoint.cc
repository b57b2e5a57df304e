// libFuzzer target: endpoint resolution and redaction. The input is split at NUL bytes into
// endpoint, deployment, api_version, api_key, bearer_token (+ one flag byte). Whatever the
// outcome, no secret may appear in the error text, the display URL, or in redact() of the URL.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocol.h"

static bool leaks(const std::string &text, const std::string &secret) {
  // secrets shorter than 6 characters may occur by chance in any URL ("wss", "api"): skip them
  if (secret.size() < 6) return false;
  // the redaction marker itself is no leak (a "secret" like "/REDAC" matches "/REDACTED"): look
  // for the secret in each piece between markers
  size_t from = 0;
  for (;;) {
    size_t p = text.find("REDACTED", from);
    std::string piece = text.substr(from, p == std::string::npos ? std::string::npos : p - from);
    if (piece.find(secret) != std::string::npos) return true;
    if (p == std::string::npos) return false;
    from = p + 8;
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<std::string> f(6);
  size_t k = 0;
  for (size_t i = 0; i < size && k < f.size(); i++) {
    if (data[i] == 0)
      k++;
    else
      f[k].push_back(static_cast<char>(data[i]));
  }
  rtc::EndpointParams p;
  p.endpoint = f[0];
  p.deployment = f[1];
  p.api_version = f[2];
  p.api_key = f[3];
  p.bearer_token = f[4];
  uint8_t flags = f[5].empty() ? 0 : static_cast<uint8_t>(f[5][0]);
  p.api_key_in_query = flags & 1;
  p.allow_insecure = flags & 2;
  p.dialect = (flags & 4) ? rtc::DialectChoice::GA : (flags & 8) ? rtc::DialectChoice::Preview : rtc::DialectChoice::Auto;
  p.use_env = false;
  rtc::ResolvedEndpoint ep;
  std::string err;
  bool ok = rtc::resolve_endpoint(p, &ep, &err, [](const char *) { return std::optional<std::string>(); });
  std::vector<std::string> secrets;
  if (!p.api_key.empty()) secrets.push_back(p.api_key);
  if (!p.bearer_token.empty()) secrets.push_back(p.bearer_token);
  // A secret that is also part of the public settings (endpoint, deployment, version) is not secret
  // in those places: only check secrets that the user did not also write elsewhere.
  // Nor is a secret that the public output holds anyway: the same settings with placeholder
  // credentials give the baseline (e.g. a token "v1/realtime?model=gpt" is in the default URL).
  rtc::EndpointParams q = p;
  if (!q.api_key.empty()) q.api_key = "placeholder-key-0";
  if (!q.bearer_token.empty()) q.bearer_token = "placeholder-token-0";
  rtc::ResolvedEndpoint base;
  std::string base_err;
  rtc::resolve_endpoint(q, &base, &base_err, [](const char *) { return std::optional<std::string>(); });
  std::vector<std::string> checked;
  for (auto &s : secrets)
    if (f[0].find(s) == std::string::npos && f[1].find(s) == std::string::npos && f[2].find(s) == std::string::npos &&
        base.display_url.find(s) == std::string::npos && base_err.find(s) == std::string::npos)
      checked.push_back(s);
  for (auto &s : checked) {
    if (leaks(err, s)) {
      fprintf(stderr, "secret in the error text\n");
      abort();
    }
    if (ok && leaks(ep.display_url, s)) {
      fprintf(stderr, "secret in display_url\n");
      abort();
    }
    if (ok && leaks(rtc::redact(ep.url, secrets), s)) {
      fprintf(stderr, "secret in redact(url)\n");
      abort();
    }
  }
  return 0;
}
