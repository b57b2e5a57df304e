// Endpoint resolution (§1): user settings -> WebSocket URL + handshake headers.
//
//   OpenAI GA       wss://api.openai.com/v1/realtime?model=M                          (§1.2)
//   OpenAI preview  same + "OpenAI-Beta: realtime=v1"                                 (§1.1)
//   Azure GA        wss://<res>.openai.azure.com/openai/v1/realtime?model=<deployment> (§1.4, never api-version)
//   Azure preview   wss://<res>.openai.azure.com/openai/realtime?api-version=V&deployment=D (§1.3)
//   Transcription (EndpointParams::kind): the same paths with ?intent=transcription instead of
//   model/deployment (preview Azure keeps api-version first) (docs/protocol.md §14)
//
// Azure = the host ends with .openai.azure.com / .cognitiveservices.azure.com /
// .services.ai.azure.com, or the path starts with /openai (so the local emulator at
// ws://127.0.0.1:PORT/openai is Azure-style; ws://127.0.0.1:PORT alone is OpenAI-style).
// Explicit full paths (/v1/realtime, /openai/v1/realtime, /openai/realtime, any .../realtime)
// are used as given. Error messages never contain a credential.
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "protocol.h"

namespace rtc {
namespace {

std::string lower(std::string s) {
  for (char &c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string &s, const std::string &prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string url_encode(const std::string &s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string url_decode(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool is_loopback(const std::string &host) {
  const std::string h = lower(host);
  if (h == "localhost" || ends_with(h, ".localhost") || h == "::1" || h == "[::1]") return true;
  // 127.0.0.0/8 as a dotted quad.
  int parts = 0, value = -1;
  std::string first;
  for (size_t i = 0; i <= h.size(); i++) {
    if (i == h.size() || h[i] == '.') {
      if (value < 0 || value > 255) return false;
      if (parts == 0) first = std::to_string(value);
      parts++;
      value = -1;
    } else if (h[i] >= '0' && h[i] <= '9') {
      value = (value < 0 ? 0 : value * 10) + (h[i] - '0');
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  return parts == 4 && first == "127";
}

struct Url {
  std::string scheme;  // ws | wss
  std::string host;    // as given (IPv6 with brackets)
  std::string port;    // "" = default
  std::string path;    // without trailing slashes; "" = none
  std::vector<std::pair<std::string, std::string>> query;  // decoded
};

bool parse_url(const std::string &in, Url *u, std::string *error) {
  std::string s = in;
  // Surrounding whitespace is a common copy/paste accident.
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.pop_back();
  size_t lead = 0;
  while (lead < s.size() && (s[lead] == ' ' || s[lead] == '\t')) lead++;
  s.erase(0, lead);
  std::string rest;
  const size_t sep = s.find("://");
  if (sep == std::string::npos) {
    u->scheme = "wss";  // a bare host name: secure by default
    rest = s;
  } else {
    const std::string scheme = lower(s.substr(0, sep));
    if (scheme == "https" || scheme == "wss") {
      u->scheme = "wss";
    } else if (scheme == "http" || scheme == "ws") {
      u->scheme = "ws";
    } else {
      *error = "unsupported endpoint scheme \"" + scheme + "\" (use https://, wss://, http:// or ws://)";
      return false;
    }
    rest = s.substr(sep + 3);
  }
  const size_t frag = rest.find('#');
  if (frag != std::string::npos) rest.erase(frag);
  std::string query;
  const size_t q = rest.find('?');
  if (q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.erase(q);
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u->path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u->path.empty() && u->path.back() == '/') u->path.pop_back();
  if (authority.find('@') != std::string::npos) {
    *error = "the endpoint must not contain user credentials (use the api-key or bearer-token settings)";
    return false;
  }
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      *error = "the endpoint has an invalid IPv6 host";
      return false;
    }
    u->host = authority.substr(0, close + 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        *error = "the endpoint has an invalid host";
        return false;
      }
      u->port = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    u->host = authority.substr(0, colon);
    if (colon != std::string::npos) u->port = authority.substr(colon + 1);
  }
  if (u->host.empty()) {
    *error = "the endpoint has no host name";
    return false;
  }
  for (char c : u->host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '[' || c == ']' || c == ':' || c == '_';
    if (!ok) {
      *error = "the endpoint has an invalid host name";
      return false;
    }
  }
  if (u->port.empty() && !authority.empty() && authority.back() == ':') {
    *error = "the endpoint has an empty port";
    return false;
  }
  for (char c : u->port) {
    if (c < '0' || c > '9' || u->port.size() > 5) {
      *error = "the endpoint has an invalid port";
      return false;
    }
  }
  if (!u->port.empty() && std::atoi(u->port.c_str()) > 65535) {
    *error = "the endpoint has an invalid port";
    return false;
  }
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string kv = query.substr(pos, amp - pos);
    if (!kv.empty()) {
      const size_t eq = kv.find('=');
      u->query.emplace_back(url_decode(kv.substr(0, eq)),
                            eq == std::string::npos ? std::string() : url_decode(kv.substr(eq + 1)));
    }
    pos = amp + 1;
  }
  return true;
}

// Removes and returns a query parameter of the endpoint (last one wins).
std::string take_query(Url *u, const char *key) {
  std::string v;
  for (auto it = u->query.begin(); it != u->query.end();) {
    if (lower(it->first) == key) {
      v = it->second;
      it = u->query.erase(it);
    } else {
      ++it;
    }
  }
  return v;
}

bool is_azure_host(const std::string &host) {
  const std::string h = lower(host);
  return ends_with(h, ".openai.azure.com") || ends_with(h, ".cognitiveservices.azure.com") ||
         ends_with(h, ".services.ai.azure.com");
}

bool path_is_openai_prefixed(const std::string &path) { return path == "/openai" || starts_with(path, "/openai/"); }

std::string redact_query_value(std::string s, const std::string &key) {
  size_t pos = 0;
  while ((pos = lower(s).find(key + "=", pos)) != std::string::npos) {
    const bool boundary = pos == 0 || s[pos - 1] == '?' || s[pos - 1] == '&' || s[pos - 1] == ' ' ||
                          s[pos - 1] == '"' || s[pos - 1] == '\'' || s[pos - 1] == ',' || s[pos - 1] == ';';
    const size_t vstart = pos + key.size() + 1;
    if (!boundary) {
      pos = vstart;
      continue;
    }
    size_t vend = vstart;
    while (vend < s.size() && s[vend] != '&' && s[vend] != ' ' && s[vend] != '"' && s[vend] != '\'' &&
           s[vend] != '\n' && s[vend] != '#' && s[vend] != ',' && s[vend] != ';')
      vend++;
    if (vend > vstart) s.replace(vstart, vend - vstart, "REDACTED");
    pos = vstart + 8;
  }
  return s;
}

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

// Replaces the token that follows each occurrence of `marker` (case-insensitive).
std::string redact_after(std::string s, const std::string &marker) {
  size_t pos = 0;
  for (;;) {
    pos = lower(s).find(lower(marker), pos);
    if (pos == std::string::npos) return s;
    const size_t vstart = pos + marker.size();
    size_t vend = vstart;
    while (vend < s.size() && token_char(s[vend])) vend++;
    if (vend > vstart && s.compare(vstart, vend - vstart, "REDACTED") != 0) s.replace(vstart, vend - vstart, "REDACTED");
    pos = vstart + 1;
  }
}

// Key-looking tokens: OpenAI keys (sk-...), ephemeral keys (ek_...), at a word start.
std::string redact_prefixed(std::string s, const char *prefix) {
  const size_t plen = std::strlen(prefix);
  size_t pos = 0;
  while ((pos = s.find(prefix, pos)) != std::string::npos) {
    if (pos > 0 && token_char(s[pos - 1]) && s[pos - 1] != '=' && s[pos - 1] != '/') {
      pos += plen;
      continue;
    }
    size_t vend = pos + plen;
    while (vend < s.size() && token_char(s[vend])) vend++;
    if (vend - pos - plen >= 8) {
      s.replace(pos, vend - pos, "REDACTED");
      pos += 8;
    } else {
      pos = vend;
    }
  }
  return s;
}

}  // namespace

std::optional<std::string> process_env(const char *name) {
  const char *v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::string redact(const std::string &in, const std::vector<std::string> &secrets) {
  std::string s = in;
  for (const std::string &secret : secrets) {
    if (secret.size() < 4) continue;  // too short to be a secret; would shred the text
    size_t pos = 0;
    while ((pos = s.find(secret, pos)) != std::string::npos) {
      s.replace(pos, secret.size(), "REDACTED");
      pos += 8;
    }
  }
  s = redact_query_value(s, "api-key");
  s = redact_query_value(s, "api_key");
  s = redact_after(s, "api-key: ");
  s = redact_after(s, "Bearer ");
  s = redact_prefixed(s, "sk-");
  s = redact_prefixed(s, "ek_");
  return s;
}

namespace {

// The WebSocket path: an explicit full path as given, else the standard one for the dialect and
// the service.
std::string realtime_path(const std::string &given, bool azure, Dialect dialect, bool translation) {
  std::string path = given;
  if (translation && ends_with(path, "/realtime/translations")) {
    // as given
  } else if (ends_with(path, "/realtime")) {
    // as given
  } else if (azure) {
    std::string base = path;
    if (ends_with(base, "/openai/v1")) {
      base.erase(base.size() - 3);  // ".../openai"
    } else if (!ends_with(base, "/openai")) {
      base += "/openai";
    }
    path = base + (dialect == Dialect::GA ? "/v1/realtime" : "/realtime");
  } else {
    path += ends_with(path, "/v1") ? "/realtime" : "/v1/realtime";
  }

  // Translation (docs/protocol.md §15): OpenAI wss://api.openai.com/v1/realtime/translations?model=M;
  // Azure wss://<res>.openai.azure.com/openai/v1/realtime/translations?model=<deployment> with the
  // api-key header (the form third-party clients use; NOT confirmed by Azure documentation).
  if (translation && !ends_with(path, "/realtime/translations")) path += "/translations";
  return path;
}

}  // namespace

bool resolve_endpoint(const EndpointParams &p, ResolvedEndpoint *out, std::string *error, const EnvLookup &env) {
  std::string scratch_error;
  if (!error) error = &scratch_error;
  auto from_env = [&](const char *name) -> std::optional<std::string> {
    if (!p.use_env || !env) return std::nullopt;
    return env(name);
  };
  *out = ResolvedEndpoint();

  std::string endpoint = p.endpoint;
  if (endpoint.empty()) endpoint = from_env("AZURE_OPENAI_ENDPOINT").value_or("wss://api.openai.com");
  Url u;
  if (!parse_url(endpoint, &u, error)) return false;

  const bool azure = is_azure_host(u.host) || path_is_openai_prefixed(u.path);
  // Settings given inside the endpoint URL count as given (the explicit settings win).
  const std::string q_api_version = take_query(&u, "api-version");
  const std::string q_deployment = take_query(&u, "deployment");
  const std::string q_model = take_query(&u, "model");
  const std::string q_api_key = take_query(&u, "api-key");
  const std::string explicit_api_version = !p.api_version.empty() ? p.api_version : q_api_version;

  Dialect dialect;
  switch (p.dialect) {
    case DialectChoice::GA: dialect = Dialect::GA; break;
    case DialectChoice::Preview: dialect = Dialect::Preview; break;
    case DialectChoice::Auto:
    default:
      dialect = (!explicit_api_version.empty() || u.path == "/openai/realtime") ? Dialect::Preview : Dialect::GA;
      break;
  }
  // Translation sessions (docs/protocol.md §15) exist only in the GA shape: no api-version, no
  // OpenAI-Beta header, whatever the dialect setting says.
  const bool translation = p.kind == SessionKind::Translation;
  if (translation) dialect = Dialect::GA;

  if (u.scheme == "ws" && !is_loopback(u.host) && !p.allow_insecure) {
    *error = "refusing unencrypted ws:// to the non-loopback host " + u.host +
             " (use https:// or wss://, or allow insecure connections explicitly)";
    return false;
  }

  const std::string path = realtime_path(u.path, azure, dialect, translation);

  std::string deployment = !p.deployment.empty() ? p.deployment : (!q_deployment.empty() ? q_deployment : q_model);
  // AZURE_OPENAI_DEPLOYMENT_NAME names a conversation deployment: never used for a translation session
  if (deployment.empty() && !translation) deployment = from_env("AZURE_OPENAI_DEPLOYMENT_NAME").value_or("");
  if (deployment.empty() && translation) deployment = "gpt-realtime-translate";
  if (deployment.empty()) deployment = dialect == Dialect::GA ? "gpt-realtime" : "gpt-4o-realtime-preview";

  std::vector<std::pair<std::string, std::string>> query;
  if (p.kind == SessionKind::Transcription) {
    // Transcription sessions (docs/protocol.md §14; Part B §7): ?intent=transcription and NO
    // model/deployment in the URL (with one the server opens a conversation session); the model
    // or Azure deployment goes into the session update. Azure GA: /openai/v1/realtime, never
    // api-version; Azure preview: /openai/realtime?api-version=V&intent=transcription.
    std::vector<std::pair<std::string, std::string>> rest;
    for (const auto &kv : u.query)
      if (kv.first != "intent") rest.push_back(kv);
    u.query = rest;
    if (azure && dialect == Dialect::Preview) {
      std::string api_version = explicit_api_version;
      if (api_version.empty()) api_version = from_env("OPENAI_API_VERSION").value_or("2025-04-01-preview");
      query.emplace_back("api-version", api_version);
    }
    query.emplace_back("intent", "transcription");
  } else if (azure && dialect == Dialect::Preview) {
    std::string api_version = explicit_api_version;
    if (api_version.empty()) api_version = from_env("OPENAI_API_VERSION").value_or("2025-04-01-preview");
    query.emplace_back("api-version", api_version);
    query.emplace_back("deployment", deployment);
  } else {
    query.emplace_back("model", deployment);  // GA never sends api-version (§1.4)
  }
  for (const auto &kv : u.query) query.push_back(kv);  // e.g. intent=transcription

  // Credentials (§1.1-§1.4).
  std::string api_key = !p.api_key.empty() ? p.api_key : q_api_key;
  const std::string &bearer = p.bearer_token;
  bool key_in_query = false;
  if (!bearer.empty()) {
    out->headers.emplace_back("Authorization", "Bearer " + bearer);
  } else {
    if (api_key.empty()) api_key = from_env(azure ? "AZURE_OPENAI_API_KEY" : "OPENAI_API_KEY").value_or("");
    if (!api_key.empty()) {
      if (!azure) {
        out->headers.emplace_back("Authorization", "Bearer " + api_key);
      } else if (p.api_key_in_query || !q_api_key.empty()) {
        key_in_query = true;
      } else {
        out->headers.emplace_back("api-key", api_key);
      }
    }
  }
  if (key_in_query) query.emplace_back("api-key", api_key);
  if (!azure && dialect == Dialect::Preview) out->headers.emplace_back("OpenAI-Beta", "realtime=v1");  // §1.1

  std::string url = u.scheme + "://" + u.host + (u.port.empty() ? "" : ":" + u.port) + path;
  std::string display = url;
  for (size_t i = 0; i < query.size(); i++) {
    const std::string part = (i == 0 ? "?" : "&") + url_encode(query[i].first) + "=";
    url += part + url_encode(query[i].second);
    display += part + (query[i].first == "api-key" ? std::string("REDACTED") : url_encode(query[i].second));
  }
  out->url = url;
  out->display_url = display;
  out->dialect = dialect;
  out->azure = azure;
  out->has_credentials = !bearer.empty() || !api_key.empty();
  return true;
}

}  // namespace rtc
