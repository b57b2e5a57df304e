#include "rtcconnprops.h"

namespace rtcgst {

GType rtc_protocol_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {
      {RTC_PROTOCOL_AUTO, "Decide from the endpoint (GA unless an Azure api-version selects preview)", "auto"},
      {RTC_PROTOCOL_GA, "GA protocol", "ga"},
      {RTC_PROTOCOL_PREVIEW, "2024 beta / preview protocol", "preview"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&t)) g_once_init_leave(&t, g_enum_register_static("GstRealtimeProtocol", values));
  return t;
}

#define CONN_FLAGS (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)

void conn_props_install(GObjectClass *klass, guint first_id, const ConnPropsInfo &info) {
  auto id = [first_id](ConnProp p) { return first_id + (guint)p; };
  // Connection (used from the next connect on; set them in READY).
  g_object_class_install_property(klass, id(CONN_PROP_ENDPOINT),
      g_param_spec_string("endpoint", "Endpoint",
          info.endpoint_blurb ? info.endpoint_blurb
                              : "Realtime endpoint: https://RESOURCE.openai.azure.com, wss://api.openai.com/v1/realtime, "
                                "a full wss:// URL, or ws:// for a local server. Empty: AZURE_OPENAI_ENDPOINT, else OpenAI",
          NULL, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_DEPLOYMENT),
      g_param_spec_string("deployment", "Deployment",
          info.deployment_blurb ? info.deployment_blurb
                                : "Azure deployment name or OpenAI model (alias: model). Empty: "
                                  "AZURE_OPENAI_DEPLOYMENT_NAME or the default model",
          NULL, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_MODEL),
      g_param_spec_string("model", "Model", "Alias of deployment", NULL, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_API_VERSION),
      g_param_spec_string("api-version", "API version",
          "Azure api-version of the preview protocol (e.g. 2024-10-01-preview). Empty: OPENAI_API_VERSION or none",
          NULL, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_PROTOCOL),
      g_param_spec_enum("protocol", "Protocol", "Realtime protocol dialect", rtc_protocol_get_type(),
          RTC_PROTOCOL_AUTO, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_API_KEY),
      g_param_spec_string("api-key", "API key",
          "API key (Azure api-key header, or OpenAI key). Reads back as \"***\"; never logged. Empty: "
          "AZURE_OPENAI_API_KEY / OPENAI_API_KEY",
          NULL, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_BEARER_TOKEN),
      g_param_spec_string("bearer-token", "Bearer token",
          "Token sent as Authorization: Bearer (Entra ID token, ephemeral key). Reads back as \"***\"; never logged",
          NULL, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_API_KEY_IN_QUERY),
      g_param_spec_boolean("api-key-in-query", "API key in query",
          "Azure: send the api-key as a query parameter instead of a header", FALSE, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_ALLOW_INSECURE),
      g_param_spec_boolean("allow-insecure", "Allow insecure",
          "Allow unencrypted ws:// / http:// endpoints on non-loopback hosts", FALSE, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_SSL_CA_FILE),
      g_param_spec_string("ssl-ca-file", "SSL CA file", "Location of a CA file to use (empty: system CAs)", NULL,
          CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_SSL_STRICT),
      g_param_spec_boolean("ssl-strict", "SSL Strict", "Strict SSL certificate checking", TRUE, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_PROXY),
      g_param_spec_string("proxy", "Proxy",
          "HTTP proxy server URI (empty: the system default, e.g. the http_proxy environment variable)", NULL,
          CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_RECONNECT_ATTEMPTS),
      g_param_spec_int("reconnect-attempts", "Reconnect attempts",
          "Reconnection attempts after an unexpected disconnection (0 = never reconnect)", 0, 100, 5, CONN_FLAGS));
  g_object_class_install_property(klass, id(CONN_PROP_CONNECT_TIMEOUT),
      g_param_spec_int("connect-timeout", "Connect timeout",
          "Milliseconds each connection attempt (TCP, TLS and WebSocket upgrade) may take before it is abandoned "
          "and retried; with the defaults a server that never answers is given up within 60 s",
          500, 120000, 8000, CONN_FLAGS));
  if (info.has_renew_margin)
    g_object_class_install_property(klass, id(CONN_PROP_RENEW_MARGIN),
        g_param_spec_int("renew-margin", "Renew margin",
            "Renew the session this many seconds before it expires, at a response boundary (0 = never)", 0, 3600,
            120, CONN_FLAGS));
}

static const char *str_or_empty(const GValue *v) {
  const char *s = g_value_get_string(v);
  return s ? s : "";
}

bool conn_props_set(ConnSettings *s, guint first_id, guint prop_id, const GValue *value) {
  if (prop_id < first_id || prop_id >= first_id + kConnPropCount) return false;
  switch ((ConnProp)(prop_id - first_id)) {
    case CONN_PROP_ENDPOINT: s->endpoint = str_or_empty(value); break;
    case CONN_PROP_DEPLOYMENT:
    case CONN_PROP_MODEL: s->deployment = str_or_empty(value); break;
    case CONN_PROP_API_VERSION: s->api_version = str_or_empty(value); break;
    case CONN_PROP_PROTOCOL: s->protocol = (RtcProtocol)g_value_get_enum(value); break;
    case CONN_PROP_API_KEY: s->api_key = str_or_empty(value); break;
    case CONN_PROP_BEARER_TOKEN: s->bearer_token = str_or_empty(value); break;
    case CONN_PROP_API_KEY_IN_QUERY: s->api_key_in_query = g_value_get_boolean(value); break;
    case CONN_PROP_ALLOW_INSECURE: s->allow_insecure = g_value_get_boolean(value); break;
    case CONN_PROP_SSL_CA_FILE: s->ssl_ca_file = str_or_empty(value); break;
    case CONN_PROP_SSL_STRICT: s->ssl_strict = g_value_get_boolean(value); break;
    case CONN_PROP_PROXY: s->proxy = str_or_empty(value); break;
    case CONN_PROP_RECONNECT_ATTEMPTS: s->reconnect_attempts = g_value_get_int(value); break;
    case CONN_PROP_RENEW_MARGIN: s->renew_margin = g_value_get_int(value); break;
    case CONN_PROP_CONNECT_TIMEOUT: s->connect_timeout = g_value_get_int(value); break;
    case CONN_PROP_COUNT: return false;
  }
  return true;
}

bool conn_props_get(const ConnSettings &s, guint first_id, guint prop_id, GValue *value) {
  if (prop_id < first_id || prop_id >= first_id + kConnPropCount) return false;
  switch ((ConnProp)(prop_id - first_id)) {
    case CONN_PROP_ENDPOINT: g_value_set_string(value, s.endpoint.c_str()); break;
    case CONN_PROP_DEPLOYMENT:
    case CONN_PROP_MODEL: g_value_set_string(value, s.deployment.c_str()); break;
    case CONN_PROP_API_VERSION: g_value_set_string(value, s.api_version.c_str()); break;
    case CONN_PROP_PROTOCOL: g_value_set_enum(value, s.protocol); break;
    case CONN_PROP_API_KEY: g_value_set_string(value, s.api_key.empty() ? "" : "***"); break;
    case CONN_PROP_BEARER_TOKEN: g_value_set_string(value, s.bearer_token.empty() ? "" : "***"); break;
    case CONN_PROP_API_KEY_IN_QUERY: g_value_set_boolean(value, s.api_key_in_query); break;
    case CONN_PROP_ALLOW_INSECURE: g_value_set_boolean(value, s.allow_insecure); break;
    case CONN_PROP_SSL_CA_FILE: g_value_set_string(value, s.ssl_ca_file.c_str()); break;
    case CONN_PROP_SSL_STRICT: g_value_set_boolean(value, s.ssl_strict); break;
    case CONN_PROP_PROXY: g_value_set_string(value, s.proxy.c_str()); break;
    case CONN_PROP_RECONNECT_ATTEMPTS: g_value_set_int(value, s.reconnect_attempts); break;
    case CONN_PROP_RENEW_MARGIN: g_value_set_int(value, s.renew_margin); break;
    case CONN_PROP_CONNECT_TIMEOUT: g_value_set_int(value, s.connect_timeout); break;
    case CONN_PROP_COUNT: return false;
  }
  return true;
}

void conn_props_to_engine(const ConnSettings &s, rtc::EngineConfig *cfg) {
  cfg->endpoint.endpoint = s.endpoint;
  cfg->endpoint.deployment = s.deployment;
  cfg->endpoint.api_version = s.api_version;
  cfg->endpoint.dialect = s.protocol == RTC_PROTOCOL_GA        ? rtc::DialectChoice::GA
                          : s.protocol == RTC_PROTOCOL_PREVIEW ? rtc::DialectChoice::Preview
                                                               : rtc::DialectChoice::Auto;
  cfg->endpoint.api_key = s.api_key;
  cfg->endpoint.bearer_token = s.bearer_token;
  cfg->endpoint.api_key_in_query = s.api_key_in_query;
  cfg->endpoint.allow_insecure = s.allow_insecure;
  cfg->endpoint.use_env = true;
  cfg->ssl_ca_file = s.ssl_ca_file;
  cfg->ssl_strict = s.ssl_strict;
  cfg->proxy = s.proxy;
  cfg->reconnect_attempts = s.reconnect_attempts;
  cfg->renew_margin_s = s.renew_margin;
  cfg->connect_timeout_ms = s.connect_timeout;
}

}  // namespace rtcgst
