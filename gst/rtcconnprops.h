// Connection and credential properties shared by every element of the plugin (realtimeconv,
// realtimetranscriber, realtimetranslator): defined once here, installed on each class with its
// own property-id offset, and mapped onto rtc::EngineConfig in one place.
//
// Usage in an element:
//   enum { PROP_0, PROP_CONN_FIRST, PROP_MY_FIRST = PROP_CONN_FIRST + rtcgst::kConnPropCount, ... };
//   class_init:   rtcgst::conn_props_install(gobject_class, PROP_CONN_FIRST, &defaults);
//   set_property: if (rtcgst::conn_props_set(&settings.conn, PROP_CONN_FIRST, prop_id, value)) ...;
//   get_property: if (rtcgst::conn_props_get(settings.conn, PROP_CONN_FIRST, prop_id, value)) return;
//   start:        rtcgst::conn_props_to_engine(settings.conn, &engine_config);
// The caller owns the locking of its ConnSettings (the functions touch only what they are given).
#pragma once

#include <gst/gst.h>

#include <string>

#include "realtime/session.h"

namespace rtcgst {

// Named enum of the `protocol` property (GType "GstRealtimeProtocol").
typedef enum {
  RTC_PROTOCOL_AUTO = 0,
  RTC_PROTOCOL_GA = 1,
  RTC_PROTOCOL_PREVIEW = 2,
} RtcProtocol;
GType rtc_protocol_get_type(void);

struct ConnSettings {
  std::string endpoint, deployment, api_version, api_key, bearer_token, ssl_ca_file, proxy;
  RtcProtocol protocol = RTC_PROTOCOL_AUTO;
  bool api_key_in_query = false, allow_insecure = false, ssl_strict = true;
  int reconnect_attempts = 5, renew_margin = 120;
  int connect_timeout = 8000;  // ms, per connection attempt (rtc::EngineConfig::connect_timeout_ms)
};

// Per-element differences in the property texts and defaults.
struct ConnPropsInfo {
  const char *deployment_blurb = nullptr;  // nullptr: the generic text
  const char *endpoint_blurb = nullptr;    // nullptr: the generic text
  bool has_renew_margin = true;            // planned renewal before expiry (conversation sessions)
};

// Offsets of the properties from the element's first connection property id.
enum ConnProp {
  CONN_PROP_ENDPOINT = 0,
  CONN_PROP_DEPLOYMENT,
  CONN_PROP_MODEL,
  CONN_PROP_API_VERSION,
  CONN_PROP_PROTOCOL,
  CONN_PROP_API_KEY,
  CONN_PROP_BEARER_TOKEN,
  CONN_PROP_API_KEY_IN_QUERY,
  CONN_PROP_ALLOW_INSECURE,
  CONN_PROP_SSL_CA_FILE,
  CONN_PROP_SSL_STRICT,
  CONN_PROP_PROXY,
  CONN_PROP_RECONNECT_ATTEMPTS,
  CONN_PROP_RENEW_MARGIN,
  CONN_PROP_CONNECT_TIMEOUT,
  CONN_PROP_COUNT
};
constexpr guint kConnPropCount = CONN_PROP_COUNT;

void conn_props_install(GObjectClass *klass, guint first_id, const ConnPropsInfo &info = ConnPropsInfo());
// True when prop_id is a connection property (then it has been stored in *s).
bool conn_props_set(ConnSettings *s, guint first_id, guint prop_id, const GValue *value);
// True when prop_id is a connection property (then value is set; secrets read back as "***").
bool conn_props_get(const ConnSettings &s, guint first_id, guint prop_id, GValue *value);
// Fills cfg->endpoint, TLS, proxy and reconnection settings (nothing else of cfg).
void conn_props_to_engine(const ConnSettings &s, rtc::EngineConfig *cfg);

}  // namespace rtcgst
