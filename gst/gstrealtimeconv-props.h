// SPDX-License-Identifier: LGPL-2.1-or-later
// realtimeconv internals: properties. Named enums (GEnum types: compare with the names, never with
// integers), property ids and defaults, the settings struct (props_mutex), and the functions
// that install, read and write the properties and map the settings to the engine configuration.
#pragma once

#include <gst/gst.h>

#include <map>
#include <string>

#include "realtime/session.h"
#include "rtcconnprops.h"

// The enum properties' values, named (no `== 2` comparisons in the code).
typedef enum { MODALITY_AUDIO = 0, MODALITY_TEXT = 1 } GstRealtimeConvModality;
typedef enum {
  TURN_DETECTION_SERVER_VAD = 0,
  TURN_DETECTION_SEMANTIC_VAD = 1,
  TURN_DETECTION_NONE = 2
} GstRealtimeConvTurnDetection;
typedef enum { EAGERNESS_AUTO = 0, EAGERNESS_LOW = 1, EAGERNESS_MEDIUM = 2, EAGERNESS_HIGH = 3 } GstRealtimeConvEagerness;
typedef enum {
  NOISE_REDUCTION_OFF = 0,
  NOISE_REDUCTION_NEAR_FIELD = 1,
  NOISE_REDUCTION_FAR_FIELD = 2
} GstRealtimeConvNoiseReduction;
typedef enum { SILENCE_FILL_AUTO = 0, SILENCE_FILL_ALWAYS = 1, SILENCE_FILL_NEVER = 2 } GstRealtimeConvSilenceFill;

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

enum {
  PROP_0,
  PROP_CONN_FIRST,  // the shared connection properties (rtcconnprops.h) take kConnPropCount ids
  PROP_INSTRUCTIONS = PROP_CONN_FIRST + rtcgst::kConnPropCount,
  PROP_VOICE,
  PROP_OUTPUT_MODALITIES,
  PROP_TURN_DETECTION,
  PROP_VAD_THRESHOLD,
  PROP_PREFIX_PADDING_MS,
  PROP_SILENCE_DURATION_MS,
  PROP_VAD_EAGERNESS,
  PROP_CREATE_RESPONSE,
  PROP_INTERRUPT_RESPONSE,
  PROP_INPUT_TRANSCRIPTION_MODEL,
  PROP_TRANSCRIPTION_LANGUAGE,
  PROP_TRANSCRIPTION_PROMPT,
  PROP_NOISE_REDUCTION,
  PROP_TOOLS,
  PROP_TOOL_CHOICE,
  PROP_TEMPERATURE,
  PROP_MAX_OUTPUT_TOKENS,
  PROP_SPEED,
  PROP_SESSION_CONFIG,
  PROP_CHUNK_DURATION,
  PROP_LATENCY,
  PROP_SILENCE_FILL,
  PROP_BARGE_IN,
  PROP_DRAIN_TIMEOUT,
  PROP_SESSION_ID,
  PROP_STATS,
  PROP_MAX_OBSERVED_DELAY,
  PROP_CAPTION_LATENCY,
  PROP_PUSH_AHEAD,
};

#define DEFAULT_VAD_THRESHOLD 0.5
#define DEFAULT_PREFIX_PADDING_MS 300
#define DEFAULT_SILENCE_DURATION_MS 500
#define DEFAULT_TRANSCRIPTION_MODEL "whisper-1"
#define DEFAULT_TEMPERATURE 0.8
#define DEFAULT_SPEED 1.0
#define DEFAULT_CHUNK_DURATION 100
#define DEFAULT_LATENCY 200
#define DEFAULT_DRAIN_TIMEOUT 10000
#define DEFAULT_CAPTION_LATENCY 0
#define DEFAULT_PUSH_AHEAD 0

#define GST_TYPE_REALTIMECONV_MODALITY (gst_realtimeconv_modality_get_type())
#define GST_TYPE_REALTIMECONV_TURN_DETECTION (gst_realtimeconv_turn_detection_get_type())
#define GST_TYPE_REALTIMECONV_EAGERNESS (gst_realtimeconv_eagerness_get_type())
#define GST_TYPE_REALTIMECONV_NOISE_REDUCTION (gst_realtimeconv_noise_reduction_get_type())
#define GST_TYPE_REALTIMECONV_SILENCE_FILL (gst_realtimeconv_silence_fill_get_type())
GType gst_realtimeconv_modality_get_type(void);
GType gst_realtimeconv_turn_detection_get_type(void);
GType gst_realtimeconv_eagerness_get_type(void);
GType gst_realtimeconv_noise_reduction_get_type(void);
GType gst_realtimeconv_silence_fill_get_type(void);

struct Settings {
  rtcgst::ConnSettings conn;  // endpoint, credentials, TLS, reconnection
  std::string instructions, voice;
  GstRealtimeConvModality modality = MODALITY_AUDIO;
  GstRealtimeConvTurnDetection turn_detection = TURN_DETECTION_SERVER_VAD;
  GstRealtimeConvEagerness eagerness = EAGERNESS_AUTO;
  GstRealtimeConvNoiseReduction noise_reduction = NOISE_REDUCTION_OFF;
  double vad_threshold = DEFAULT_VAD_THRESHOLD;
  int prefix_padding_ms = DEFAULT_PREFIX_PADDING_MS, silence_duration_ms = DEFAULT_SILENCE_DURATION_MS;
  bool create_response = true, interrupt_response = true;
  std::string transcription_model = DEFAULT_TRANSCRIPTION_MODEL, transcription_language, transcription_prompt;
  std::string tools, tool_choice, session_config;
  double temperature = DEFAULT_TEMPERATURE, speed = DEFAULT_SPEED;
  int max_output_tokens = 0;
  int chunk_ms = DEFAULT_CHUNK_DURATION, latency_ms = DEFAULT_LATENCY, drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT;
  int caption_latency_ms = DEFAULT_CAPTION_LATENCY;
  int push_ahead_ms = DEFAULT_PUSH_AHEAD;  // 0: automatic (rtcgst::live_pacing)
  GstRealtimeConvSilenceFill silence_fill = SILENCE_FILL_AUTO;
  bool barge_in = true;
};

struct RtcPriv;

// Installs every property of the element (connection, session, behaviour, read-only).
void gst_realtimeconv_install_properties(GObjectClass *gobject_class);
void gst_realtimeconv_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
void gst_realtimeconv_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);

// The session / engine configuration of the settings (build_engine_config takes props_mutex).
rtc::SessionConfig build_session_config(const Settings &s, const std::string &tools_clean, rtc::AudioFormat in,
                                        rtc::AudioFormat out);
rtc::EngineConfig build_engine_config(RtcPriv *p, rtc::AudioFormat in, rtc::AudioFormat out);
