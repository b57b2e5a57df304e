/* realtimeconv: speech-to-speech through the OpenAI / Azure OpenAI Realtime API.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-realtimeconv
 * @title: realtimeconv
 *
 * realtimeconv sends the audio it receives to an OpenAI or Azure OpenAI Realtime session
 * (speech-to-speech over WebSocket) and outputs, correctly timed, the synthesized answer, the
 * assistant's transcript and the captions of the incoming speech.
 *
 * ## Pads
 *
 * * `sink` (always): `audio/x-raw, format=S16LE, rate=24000, channels=1`, `audio/x-mulaw,
 *   rate=8000, channels=1` or `audio/x-alaw, rate=8000, channels=1`. The negotiated caps choose
 *   the session's input format; put `audioconvert ! audioresample` in front for anything else.
 * * `src` (always): the synthesized speech in one of the same three formats; the format
 *   downstream accepts (checked when the element goes to PAUSED) chooses the session's output
 *   format. Every buffer carries a #GstRealtimeConvMeta naming its response id and item id.
 * * `transcript_src` (always): `text/x-raw, format=utf8`, the assistant's transcript (and the
 *   text of text-only responses), each delta timed at the audio it arrived with and lasting until
 *   the next delta (or the end of the response audio).
 * * `input_transcript_src` (always): `text/x-raw, format=utf8`, the captions of the incoming
 *   speech (needs #GstRealtimeConv:input-transcription-model): one buffer per transcribed
 *   utterance, PTS = the input running time of the server's `audio_start_ms`, duration up to
 *   `audio_end_ms`, so captions line up with the speech they transcribe. Captions are pushed when
 *   the transcription arrives: for a live consumer they are late by the transcription time unless
 *   #GstRealtimeConv:caption-latency covers it (it is then added to the LATENCY answer and the pad
 *   is kept that far behind `src`). The pad waits (no GAP beyond) for a caption that is due: from
 *   the speech start until the transcription arrives (at most 30 s after the speech stopped or was
 *   committed); with manual turn detection, at the input position of the last commit (at most
 *   30 s behind the input).
 *
 * One streaming thread (the task of `src`) pushes all three src pads in timestamp order, as
 * demuxers do: put a `queue` after each src pad. An unlinked text pad never stops the audio
 * (flow returns are combined: NOT_LINKED on a pad is not an error while another pad is linked;
 * if all three are unlinked the element keeps running for its messages and signals). Every src
 * pad gets stream-start (one group id), caps, a TIME segment (the input segment: output running
 * time = input running time; a new input segment is pushed on a pad once its data reaches the new
 * segment's base) and, on `input_transcript_src` when
 * #GstRealtimeConv:transcription-language is set, a tag event with the language. As soon as the
 * segment and the start of the output are known, every src pad also gets a GAP event of duration
 * 0 at that start (once per segment / flush), so that sinks on the text pads preroll without
 * waiting for the first transcript, as demuxers do for sparse streams: `async=false` is not
 * needed on their sinks. Serialized upstream events (TAG, SEGMENT_DONE, custom downstream events)
 * are forwarded on `src` only, in order with the audio, at the input position they arrived at.
 *
 * ## Timing
 *
 * Input: the element keeps the exact map between the samples it gives the session (the engine
 * reports `audio_start_ms` / `audio_end_ms` as positions on that count, across reconnects) and
 * the sink running time: segment start != 0, rate from caps, DISCONT, timestamp jumps. Holes
 * (GAP events, timestamps jumping forward) are filled with silence sent to the session (at most
 * 10 s per hole; longer holes start a new piece of the map) so the server's voice detection hears
 * the pause and the map stays sample-exact. Backward jumps start a new piece, nothing is dropped.
 * Timestamp jitter up to 40 ms is absorbed (as audiobasesink does); a larger jump is believed at
 * once on a DISCONT buffer, a new segment or a flush, otherwise only once it has lasted 1 s.
 * Server positions the engine cannot map to the input (no sample position) have no running time.
 *
 * Live upstream (decided from the upstream LATENCY query): the LATENCY query is answered
 * `(live, upstream_min + latency, upstream_max + latency)`. Response audio is stamped with the
 * running time at which its first delta arrived, then contiguously, and pushed in 20 ms pieces no
 * further ahead of its play time (timestamp + pipeline latency) than a lead of `latency / 4`
 * (20 to 50 ms; 50 ms at the default 200 ms): the src task waits on the pipeline clock for each
 * piece, so at a barge-in the unplayed rest is still in the element (docs/timing.md). A delta that arrives more than #GstRealtimeConv:latency after its timestamp is late:
 * a warning with the observed delay is posted (once per response), #GstRealtimeConv:max-observed-delay
 * is updated and the rest of the response is re-anchored at its arrival time (DISCONT). Between
 * responses the streaming thread waits on the pipeline clock (a #GstClockID, unscheduled by
 * flushes, state changes and new data) and pushes GAP events (or silence, see
 * #GstRealtimeConv:silence-fill) up to `now - latency` every `latency / 2` (at least 20 ms, at
 * most 100 ms), so a live `audiomixer` downstream does not wait for its timeout; the text pads
 * get GAP events up to the same point every 500 ms.
 *
 * Non-live upstream (files): a response is placed at the input running time where the user
 * stopped speaking (`audio_end_ms` of the turn, or the input position when a response was
 * requested with a signal), or right after the previous response if that ends later; the space
 * in between is filled (silence by default) and the output is extended with silence to the end
 * of the input at EOS, so `file -> realtimeconv -> wavenc -> file` lines up sample for sample with
 * the input. Every reply is complete: a later question in the file never truncates or cancels an
 * earlier reply (the element's barge-in is live only). Output is released only up to the input
 * position the server has reported on (speech started / stopped / committed) or everything at EOS.
 * Because a file is read much faster than real time, the element measures the input's level
 * (10 ms frames, speech at or above -45 dBFS, in pieces of at most 50 ms) and holds it before a
 * speech onset that follows a pause long enough for the server to end a turn
 * (#GstRealtimeConv:silence-duration-ms - 100 ms, or 250 ms for semantic VAD), until the server
 * has answered the previous turn (its speech_stopped, then the wait below) or said there is none
 * (a session.update sent as a barrier is answered, in order after the audio, without a
 * speech_stopped); at most drain-timeout per hold. So the server never hears the next question
 * while it answers (docs/timing.md). It also waits after each server-detected end of turn (up to
 * #GstRealtimeConv:drain-timeout) for that turn's response before it sends more input: the wait
 * ends with the `response.done` of the response created for that turn (not with another
 * response's events), a failure or reconnection, or the timeout. When that response completes
 * with function calls and at least one of them is handled (a `function-call` handler returned
 * %TRUE, the static result from #GstRealtimeConv:tools was sent, or `function-output` was emitted
 * for it while it was being handed out), the answer is still to come: the wait continues and
 * follows the next response created (the one requested after the function output), again until
 * its `response.done` (or failure, reconnection); it gets a fresh drain-timeout, counted from the
 * moment the calls were handed to the application, so a slow tool does not eat the answer's
 * budget (chained calls repeat this; each step is bounded). That answer is placed at the end of
 * the turn like the first response. When no call is handled, the wait ends with the response as
 * before. Input is also held while more than 1 s of it has not left the engine yet (at most
 * drain-timeout per buffer).
 *
 * Output queue policy: the engine's network thread never blocks. Everything it delivers goes to
 * an inbox that a control thread turns into timed items in one output queue. The inbox is bounded:
 * at most 60 s of response audio (beyond, audio is dropped at once, counted in the stats'
 * `output-audio-dropped` and warned once) and 10000 other notifications (beyond, dropped, warned
 * once); only a control thread blocked for long (a `function-call` handler that does not return)
 * reaches these bounds. At most 120 s of response audio can wait in the output queue (beyond,
 * dropped and counted, warning) and at most 1000 buffers in each text queue (the oldest are
 * dropped, warning). While the session is disconnected, input is kept for the engine's offline
 * buffer (10 s) and the oldest is dropped beyond: a warning with the total dropped is posted at
 * most every 5 s and once more when the session is back (stats `input-ms-dropped`).
 *
 * ## Barge-in
 *
 * Live only. On `speech_started` while assistant audio is still being output
 * (#GstRealtimeConv:barge-in, on by default), the not-yet-pushed audio of that response is dropped at
 * once and `conversation.item.truncate` is sent with what was pushed of the item: live audio is
 * pushed at most the lead (plus one 20 ms piece) ahead of its play time, so everything pushed is
 * rendered and the model is told what the listener hears; it exceeds what the pipeline clock says
 * was played when speech_started arrived by at most 70 ms (`ahead-ms`). `response.cancel` is sent
 * only when the server does not interrupt by itself (#GstRealtimeConv:interrupt-response off). A
 * `realtimeconv/truncated` message reports the truncation point (audio-end-ms, running-time of the
 * cut, ahead-ms). Non-live, a later question never cuts an earlier reply.
 *
 * ## EOS, flushing, state changes
 *
 * On EOS the element waits (up to #GstRealtimeConv:drain-timeout) until all its input has left
 * the engine and the server has answered a session.update sent behind it (accepted or rejected),
 * then commits what is pending (manual turn detection with uncommitted audio, or speech heard by
 * the server VAD but not ended; also after a timeout of the first step) and asks for a response
 * if #GstRealtimeConv:create-response is set, then waits up to drain-timeout again for the
 * responses in progress, including the one it asked for, to complete (returning early if the
 * session failed), pushes everything and then EOS on all src pads: at most twice drain-timeout. FLUSH_START/STOP stop the output, clear the queues, cancel the
 * active response and clear the server's input buffer. READY->PAUSED starts connecting in the
 * background (progress messages) and audio arriving before the session is ready is queued by the
 * engine. PAUSED->READY stops everything without waiting for the network.
 *
 * Fatal session errors are posted with GST_ELEMENT_ERROR (authentication: RESOURCE/NOT_AUTHORIZED,
 * endpoint or deployment not found: RESOURCE/NOT_FOUND, network: RESOURCE/OPEN_READ_WRITE,
 * settings, invalid endpoint, TLS / proxy setup: RESOURCE/SETTINGS; posted before streaming stops
 * so it is the first error on the bus); recoverable server errors as `realtimeconv/server-error` messages.
 *
 * ## Signals
 *
 * Action signals: `commit`, `clear`, `create-response` (instructions or %NULL), `cancel-response`,
 * `send-text` (text: a user text item followed by a response), `function-output` (call id,
 * output JSON; a response is requested once the active one is done).
 *
 * `function-call` (name, call id, arguments JSON) -> gboolean is emitted for each completed call
 * of a completed response. It is emitted from the element's control thread, never from the
 * network thread, so a handler may run code (keep it short: it delays the other notifications)
 * and may emit `function-output` directly or later from any thread; it returns %TRUE when it
 * handles the call. When no handler returns %TRUE the element answers with the static result of
 * that tool if #GstRealtimeConv:tools gives one (non-standard member "result", removed before the
 * tools are sent); otherwise nothing is sent and a warning says so (unless the handler emitted
 * `function-output` for that call id without returning %TRUE). In non-live mode a handled call
 * keeps the input waiting for the answer that follows it (see Timing).
 *
 * ## Messages (element messages, structure names)
 *
 * * `realtimeconv/session`: event ("created" / "updated"), id, model, expires-at (unix s).
 * * `realtimeconv/speech-started`: item-id, audio-start-ms, running-time.
 * * `realtimeconv/speech-stopped`: item-id, audio-end-ms, running-time.
 * * `realtimeconv/input-transcript`: item-id, text, final, running-time, duration.
 * * `realtimeconv/transcript`: response-id, item-id, text, final.
 * * `realtimeconv/response-done`: response-id, status, reason, total-tokens, input-tokens,
 *   output-tokens, time-to-first-audio (ns: this response's own, from the end of speech or the
 *   response request to its first audio; -1 when it had no audio, e.g. a function call only).
 * * `realtimeconv/function-call`: response-id, item-id, call-id, name, arguments.
 * * `realtimeconv/rate-limits`: for each limit NAME: NAME-limit, NAME-remaining, NAME-reset-seconds.
 * * `realtimeconv/truncated`: response-id, item-id, audio-end-ms, running-time, ahead-ms (how far the
 *   truncation point is ahead of what the clock says was played), dropped (ns not pushed).
 * * `realtimeconv/reconnecting`: attempt, delay-ms, reason.
 * * `realtimeconv/reconnected`: items-replayed, planned-renewal.
 * * `realtimeconv/server-error`: code, message, param, event-type (non-fatal errors).
 * * `realtimeconv/late`: response-id, delay (ns) when response audio arrives later than the budget
 *   (posted with a GST_ELEMENT_WARNING).
 *
 * ## Credentials
 *
 * #GstRealtimeConv:api-key and #GstRealtimeConv:bearer-token read back as "***" when set and are
 * never logged. When they are not set, the environment variables of the samples are used
 * (AZURE_OPENAI_API_KEY for Azure endpoints, OPENAI_API_KEY for OpenAI; AZURE_OPENAI_ENDPOINT,
 * AZURE_OPENAI_DEPLOYMENT_NAME, OPENAI_API_VERSION for the endpoint): prefer them on the command line,
 * since gst-launch-1.0 itself logs the properties it parses at debug level.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=question.wav ! wavparse ! audioconvert ! audioresample ! realtimeconv name=c \
 *     c.src ! queue ! wavenc ! filesink location=answer.wav \
 *     c.transcript_src ! queue ! filesink location=answer.txt \
 *     c.input_transcript_src ! queue ! fakesink
 * ]| File to file: the answer is placed where the question ends and answer.wav lines up with question.wav.
 * |[
 * gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! realtimeconv instructions="Be brief." name=c \
 *     c.src ! queue max-size-time=200000000 ! audioconvert ! autoaudiosink \
 *     c.transcript_src ! queue ! fakesink c.input_transcript_src ! queue ! fakesink
 * ]| Microphone to speakers (barge-in on: speak to interrupt the answer).
 * |[
 * gst-launch-1.0 filesrc location=talk.wav ! wavparse ! audioconvert ! audioresample ! \
 *     realtimeconv input-transcription-model=whisper-1 transcription-language=en name=c \
 *     c.input_transcript_src ! queue ! webvttenc ! filesink location=captions.vtt \
 *     c.src ! queue ! fakesink c.transcript_src ! queue ! fakesink
 * ]| Captions of the incoming speech into `webvttenc`.
 * |[
 * AZURE_OPENAI_API_KEY=... gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! \
 *     realtimeconv endpoint=https://myres.openai.azure.com deployment=gpt-realtime name=c \
 *     c.src ! queue ! autoaudiosink c.transcript_src ! queue ! fakesink c.input_transcript_src ! queue ! fakesink
 * OPENAI_API_KEY=... gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! \
 *     realtimeconv endpoint=wss://api.openai.com/v1/realtime model=gpt-realtime voice=marin name=c \
 *     c.src ! queue ! autoaudiosink c.transcript_src ! queue ! fakesink c.input_transcript_src ! queue ! fakesink
 * ]| Azure OpenAI endpoint (deployment name, key from AZURE_OPENAI_API_KEY) vs OpenAI endpoint
 * (model name, key from OPENAI_API_KEY).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstrealtimeconv.h"

#include <gst/base/gstflowcombiner.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "gstrealtimeconvmeta.h"
#include "gstrealtimeconvpriv.h"
#include "rtcconnprops.h"
#include "rtcinputbudget.h"
#include "rtcprerollwatch.h"
#include "rtcscheduler.h"
#include "rtctextqueue.h"
#include "rtcsessionport.h"
#include "rtctimeline.h"

GST_DEBUG_CATEGORY_STATIC(gst_realtimeconv_debug);
GST_DEBUG_CATEGORY_STATIC(gst_realtimeconv_engine_debug);
#define GST_CAT_DEFAULT gst_realtimeconv_debug

#define RTC_AUDIO_CAPS                                                                      \
  "audio/x-raw, format=(string)S16LE, rate=(int)24000, channels=(int)1, "                   \
  "layout=(string)interleaved; "                                                            \
  "audio/x-mulaw, rate=(int)8000, channels=(int)1; "                                        \
  "audio/x-alaw, rate=(int)8000, channels=(int)1"
#define RTC_TEXT_CAPS "text/x-raw, format=(string)utf8"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_AUDIO_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_AUDIO_CAPS));
static GstStaticPadTemplate transcript_src_template = GST_STATIC_PAD_TEMPLATE(
    "transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_TEXT_CAPS));
static GstStaticPadTemplate input_transcript_src_template =
    GST_STATIC_PAD_TEMPLATE("input_transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_TEXT_CAPS));

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

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

// Registers a static enum type once (thread-safe), for the enum properties below.
static GType register_enum_once(GType *type, const char *name, const GEnumValue *values) {
  if (g_once_init_enter(type)) g_once_init_leave(type, g_enum_register_static(name, values));
  return *type;
}

#define GST_TYPE_REALTIMECONV_MODALITY (gst_realtimeconv_modality_get_type())
static GType gst_realtimeconv_modality_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{MODALITY_AUDIO, "Audio (with its transcript)", "audio"},
                                      {MODALITY_TEXT, "Text only", "text"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvModality", values);
}

#define GST_TYPE_REALTIMECONV_TURN_DETECTION (gst_realtimeconv_turn_detection_get_type())
static GType gst_realtimeconv_turn_detection_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{TURN_DETECTION_SERVER_VAD, "Server voice activity detection", "server-vad"},
                                      {TURN_DETECTION_SEMANTIC_VAD, "Semantic voice activity detection", "semantic-vad"},
                                      {TURN_DETECTION_NONE, "None (manual: commit / create-response signals)", "none"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvTurnDetection", values);
}

#define GST_TYPE_REALTIMECONV_EAGERNESS (gst_realtimeconv_eagerness_get_type())
static GType gst_realtimeconv_eagerness_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{EAGERNESS_AUTO, "Auto (medium)", "auto"},
                                      {EAGERNESS_LOW, "Low", "low"},
                                      {EAGERNESS_MEDIUM, "Medium", "medium"},
                                      {EAGERNESS_HIGH, "High", "high"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvEagerness", values);
}

#define GST_TYPE_REALTIMECONV_NOISE_REDUCTION (gst_realtimeconv_noise_reduction_get_type())
static GType gst_realtimeconv_noise_reduction_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {{NOISE_REDUCTION_OFF, "Off", "off"},
                                      {NOISE_REDUCTION_NEAR_FIELD, "Near field (headset)", "near-field"},
                                      {NOISE_REDUCTION_FAR_FIELD, "Far field (room microphone)", "far-field"},
                                      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvNoiseReduction", values);
}

#define GST_TYPE_REALTIMECONV_SILENCE_FILL (gst_realtimeconv_silence_fill_get_type())
static GType gst_realtimeconv_silence_fill_get_type(void) {
  static GType t = 0;
  static const GEnumValue values[] = {
      {SILENCE_FILL_AUTO, "Silence buffers when upstream is not live, GAP events when live", "auto"},
      {SILENCE_FILL_ALWAYS, "Always silence buffers", "always"},
      {SILENCE_FILL_NEVER, "Always GAP events", "never"},
      {0, NULL, NULL}};
  return register_enum_once(&t, "GstRealtimeConvSilenceFill", values);
}

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
};

#define DEFAULT_VAD_THRESHOLD 0.5
#define DEFAULT_PREFIX_PADDING_MS 300
#define DEFAULT_SILENCE_DURATION_MS 500
#define DEFAULT_TRANSCRIPTION_MODEL "whisper-1"
#define DEFAULT_TEMPERATURE 0.8
#define DEFAULT_SPEED 1.0
#define DEFAULT_CHUNK_DURATION 40
#define DEFAULT_LATENCY 200
#define DEFAULT_DRAIN_TIMEOUT 10000
#define DEFAULT_CAPTION_LATENCY 0

enum { SIGNAL_COMMIT, SIGNAL_CLEAR, SIGNAL_CREATE_RESPONSE, SIGNAL_CANCEL_RESPONSE, SIGNAL_SEND_TEXT,
       SIGNAL_FUNCTION_OUTPUT, SIGNAL_FUNCTION_CALL, LAST_SIGNAL };
static guint signals[LAST_SIGNAL];

namespace {

constexpr GstClockTime kMaxQueuedAudio = 120 * GST_SECOND;
// Live output between responses: how often the src task wakes to push GAP events (or silence) up
// to `now - latency`: latency / 2, within [20 ms, 100 ms] (the 100 ms granularity of the cloud
// transcribers of gst-plugins-rs). Each push wakes the src task and every element downstream, so
// this is most of the CPU an idle live session costs; a GAP is only ever up to one interval later
// than `now - latency`, and never delays audio (audio is pushed as soon as it arrives).
// (rtcgst::live_fill_interval, docs/timing.md.)
constexpr GstClockTime kLiveFillMin = 20 * GST_MSECOND;
using rtcgst::live_fill_interval;
// Non-live input gate (rtcgst::TurnGate).
// It sees the input in pieces of at most this duration (shorter than any min_gap), so that a
// piece never holds a whole pause and the onset after it.
constexpr int kGatePieceMs = 50;
constexpr GstClockTime kTextGapInterval = 500 * GST_MSECOND;
constexpr GstClockTime kSilenceChunk = 100 * GST_MSECOND;
constexpr GstClockTime kCaptionPendingTimeout = 30 * GST_SECOND;
// Inbox (network thread -> control thread) bounds: response audio beyond kMaxInboxAudioSeconds is
// dropped at once (counted in stats "output-audio-dropped", warned once); other notifications
// beyond kMaxInboxOther are dropped (warned once). Only a control thread blocked for a long time
// (e.g. a function-call handler that never returns) can reach them.
constexpr int kMaxInboxAudioSeconds = 60;
constexpr size_t kMaxInboxOther = 10000;
// Text pads: the limits of each text queue are in rtctextqueue.h (kMaxTextItems, kMaxTextQueueBytes).
// Input dropped while disconnected (the engine reports every drop, exactly, as it happens): at
// most one bus warning per this interval, with the total since the previous one, so an outage
// does not flood the bus (one report per input buffer otherwise).
constexpr gint64 kDropWarnIntervalUs = 5 * G_USEC_PER_SEC;

enum PadIdx { kAudioPad = 0, kTextPad = 1, kCaptionPad = 2, kNumPads = 3 };

struct Settings {
  rtcgst::ConnSettings conn;  // endpoint, credentials, TLS, reconnection
  std::string instructions, voice;
  int modality = 0, turn_detection = 0, eagerness = 0, noise_reduction = 0;
  double vad_threshold = DEFAULT_VAD_THRESHOLD;
  int prefix_padding_ms = DEFAULT_PREFIX_PADDING_MS, silence_duration_ms = DEFAULT_SILENCE_DURATION_MS;
  bool create_response = true, interrupt_response = true;
  std::string transcription_model = DEFAULT_TRANSCRIPTION_MODEL, transcription_language, transcription_prompt;
  std::string tools, tool_choice, session_config;
  double temperature = DEFAULT_TEMPERATURE, speed = DEFAULT_SPEED;
  int max_output_tokens = 0;
  int chunk_ms = DEFAULT_CHUNK_DURATION, latency_ms = DEFAULT_LATENCY, drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT;
  int caption_latency_ms = DEFAULT_CAPTION_LATENCY;
  int silence_fill = 0;
  bool barge_in = true;
};

// Collects what must happen after the state lock is released: bus messages and engine calls.
struct Deferred {
  std::vector<GstMessage *> msgs;
  std::vector<std::function<void()>> calls;
  Deferred() = default;
  Deferred(const Deferred &) = delete;
  Deferred &operator=(const Deferred &) = delete;
  ~Deferred() {
    for (GstMessage *m : msgs) gst_message_unref(m);
  }
  bool empty() const { return msgs.empty() && calls.empty(); }
  void post(GstRealtimeConv *self) {
    for (auto &c : calls) c();
    calls.clear();
    for (GstMessage *m : msgs) gst_element_post_message(GST_ELEMENT(self), m);
    msgs.clear();
  }
};

// One notification from the engine, queued for the control thread.
struct CtlMsg {
  enum Kind { State, Event, Audio, Error, FunctionCall, Reconnecting, Reconnected, InputDropped, InboxOverflow,
              Post } kind = Event;
  uint64_t serial = 0;  // session serial: stale notifications of a replaced session are dropped
  GstClockTime arrival_rt = GST_CLOCK_TIME_NONE;
  rtc::SessionState state = rtc::SessionState::Idle;
  std::string text;
  std::unique_ptr<rtc::ServerEvent> ev;
  rtc::EventContext ctx;
  GstBuffer *audio = nullptr;
  rtc::AudioDeltaInfo ainfo;
  rtc::SessionError err;
  rtc::FunctionCall call;
  struct Reconnect {  // kinds Reconnecting / Reconnected
    int attempt = 0, delay_ms = 0, items_replayed = 0;
    bool planned_renewal = false;
  } reconnect;
  struct Dropped {  // kind InputDropped: input samples the engine dropped
    int64_t first_sample = 0, samples = 0;
  } dropped;
  bool overflow_audio = false;  // kind InboxOverflow: response audio (else other notifications)
  size_t audio_bytes = 0;  // bytes of `audio` counted in the inbox bound
  std::unique_ptr<Deferred> deferred;  // kind Post: messages / calls of audio handled inline
  ~CtlMsg() {
    if (audio) gst_buffer_unref(audio);
  }
};

struct OutItem {
  enum Kind { Buffer, Gap, Event } kind = Buffer;
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  GstClockTime dur = GST_CLOCK_TIME_NONE;
  GstBuffer *buf = nullptr;
  GstEvent *event = nullptr;  // kind Event: a serialized upstream event forwarded in order
  uint64_t resp = 0;
  std::string item_id;
  int64_t samples = 0;
  bool discont = false;
};

void out_item_clear(OutItem &o) {
  if (o.buf) gst_buffer_unref(o.buf);
  if (o.event) gst_event_unref(o.event);
  o.buf = nullptr;
  o.event = nullptr;
}

struct Response {
  uint64_t serial = 0;
  std::string id;
  GstClockTime anchor_rt = GST_CLOCK_TIME_NONE;  // non-live placement anchor (end of the turn)
  bool placed = false;
  GstClockTime base_rt = GST_CLOCK_TIME_NONE;
  int64_t base_samples = 0;
  int64_t samples = 0;  // audio samples queued for this response
  bool dropped = false, done = false, late_warned = false;
};

struct ItemAudio {
  uint64_t resp = 0;
  std::string response_id;
  int64_t received = 0, pushed = 0;
  std::vector<std::pair<int64_t, GstClockTime>> anchors;  // item sample -> running time
  GstClockTime end_rt = GST_CLOCK_TIME_NONE;
  bool truncated = false;
};

struct Span {
  GstClockTime start = GST_CLOCK_TIME_NONE, end = GST_CLOCK_TIME_NONE;
};

struct AudioHandle {
  GstBuffer *buf;
  GstMapInfo map;
};

class Listener;

}  // namespace

struct RtcPriv {
  // Settings (props_mutex)
  std::mutex props_mutex;
  Settings settings;
  std::map<std::string, std::string> tool_results;  // static tool results from `tools`
  std::string tools_clean;                          // `tools` without the "result" members
  rtcgst::SessionFactory factory;

  // Session lifecycle: held across start_session() / stop_session() and the CAPS check-and-restart,
  // so the state-change thread and the streaming thread never start / stop a session concurrently.
  // Order: lifecycle_mutex before session_mutex and lock; never taken with them held.
  std::mutex lifecycle_mutex;
  bool out_fmt_chosen = false;  // the output format is chosen at the first start, kept on restarts

  // Session (session_mutex)
  std::mutex session_mutex;
  std::shared_ptr<rtcgst::SessionPort> session;
  std::unique_ptr<Listener> listener;
  uint64_t session_serial = 0;
  rtc::AudioFormat session_in_fmt = rtc::AudioFormat::PCM16;
  rtc::AudioFormat session_out_fmt = rtc::AudioFormat::PCM16;

  // Clock snapshot for the network thread (clock_mutex)
  std::mutex clock_mutex;
  GstClock *clock = nullptr;
  GstClockTime base_time = 0;
  bool playing = false;

  // Inbox (inbox_mutex) + control task
  std::mutex inbox_mutex;
  std::condition_variable inbox_cond;
  std::deque<std::unique_ptr<CtlMsg>> inbox;
  size_t inbox_audio_bytes = 0;  // response audio waiting in the inbox
  size_t inbox_other = 0;        // other notifications waiting in the inbox
  bool inbox_audio_warned = false, inbox_other_warned = false;
  std::atomic<size_t> inbox_audio_limit{(size_t)kMaxInboxAudioSeconds * 48000};  // bytes
  std::atomic<uint64_t> inbox_dropped_bytes{0};  // response audio dropped at the inbox (bytes)
  std::atomic<int> inbox_bytes_per_sec{48000};
  bool ctl_stop = false;
  std::atomic<guint> pending{0};
  GstTask *ctl_task = nullptr;
  GRecMutex ctl_task_lock;
  // Input-dropped warnings not posted yet (control thread only; see kDropWarnIntervalUs).
  int64_t drop_warn_first = -1, drop_warn_samples = 0;
  gint64 drop_warn_last_us = 0;

  // Streaming state (lock)
  std::mutex lock;
  std::condition_variable cond;        // src task
  std::condition_variable drain_cond;  // EOS drain / non-live turn wait
  bool src_flushing = true, in_flushing = false, fatal = false;
  GstFlowReturn srcresult = GST_FLOW_OK;
  GstClockID clock_id = nullptr;
  // The "no queue after a src pad" deadlock (rtcprerollwatch.h): the src task marks each push,
  // a system-clock timer (PAUSED and PLAYING) warns when one blocks while the pipeline prerolls.
  rtcgst::PrerollWatch preroll_watch;
  GstClockID preroll_timer = nullptr;  // change_state only
  // Non-live input waiting for a session that is not connected: drain-timeout in total (lock).
  rtcgst::DisconnectedWait disconnected_wait;

  // input
  bool have_caps = false;
  rtc::AudioFormat in_fmt = rtc::AudioFormat::PCM16;
  int in_rate = 24000, in_bpf = 2;
  GstSegment in_segment;
  bool have_segment = false, time_segment = true;
  rtcgst::InputTimeline timeline;
  bool upstream_live = false, live_known = false;
  int answered_live = -1;  // what our last LATENCY answer said: -1 no answer, 0 not live, 1 live
  GstClockTime upstream_min = 0, upstream_max = GST_CLOCK_TIME_NONE;
  GstClockTime pipeline_latency = GST_CLOCK_TIME_NONE;
  int64_t samples_since_commit = 0;
  bool speech_active = false, input_eos = false;
  std::string upstream_stream_id;
  guint group_id = 0;

  // turns / drain: the turn the input (non-live) or the EOS drain waits for. A turn is answered
  // by the first response created after it started waiting; the wait ends with THAT response's
  // response.done (or failure / reconnection / deadline), never with another response's events.
  // A response that is done with completed function calls does not end the wait by itself:
  // while the control thread hands its calls to the application, `awaiting_calls` holds the call
  // ids not decided yet (awaiting_resp_id is still that response); once they are all decided, the
  // wait follows the response that answers them (awaiting_resp_id cleared: bound to the next
  // response created) if at least one was handled, otherwise it ends.
  bool awaiting_turn = false;
  gint64 awaiting_deadline = 0;
  uint64_t turn_serial = 0;
  std::string awaiting_resp_id;  // empty until the turn's response is created
  std::set<std::string> awaiting_calls;  // function calls of the awaited response still undecided
  bool awaiting_calls_handled = false;   // one of them was handled (signal, static result, function-output)
  // function-output emitted for a call that is being handed to the application (fc_dispatching)
  // or that is still undecided (awaiting_calls): counts as handled even if no handler returned TRUE.
  std::string fc_dispatching;
  std::set<std::string> answered_calls;
  std::set<std::string> active_responses;
  GstClockTime last_turn_end_rt = GST_CLOCK_TIME_NONE;
  // Non-live input gate (docs/timing.md "Files: holding the input"): fed with the input given to
  // the engine and the server's speech events; decides when sink_chain holds the input.
  rtcgst::TurnGate gate;
  bool gate_barrier_pending = false;
  // What the streaming thread waits for (gst_realtimeconv_waiting_for, for the tests).
  std::atomic<const char *> waiting_for{nullptr};
  std::atomic<guint64> wait_checks{0};
  uint64_t gate_barrier_acks = 0;  // update_acks() when the gate's barrier was sent

  // output
  rtc::AudioFormat out_fmt = rtc::AudioFormat::PCM16;
  int out_rate = 24000, out_bpf = 2;
  GstSegment out_segment;
  bool out_segment_valid = false;
  bool need_stream_start[kNumPads] = {true, true, true};
  bool need_caps[kNumPads] = {true, true, true};
  bool need_segment[kNumPads] = {true, true, true};
  bool need_tags[kNumPads] = {true, true, true};
  bool need_discont[kNumPads] = {true, true, true};
  bool need_initial_gap[kNumPads] = {true, true, true};  // GAP at the origin once per segment (preroll)
  // Held around every serialized push on a src pad (src task, preroll_gaps): pushes on one pad
  // never interleave. Taken without `lock` held.
  std::mutex push_mutex[kNumPads];
  GstSegment pad_segment[kNumPads];                      // segment last pushed on each src pad
  bool pad_segment_valid[kNumPads] = {false, false, false};
  GstClockTime origin_rt = GST_CLOCK_TIME_NONE;
  GstClockTime pushed_end[kNumPads] = {GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE};
  std::deque<OutItem> q[kNumPads];
  GstClockTime q_audio_ns = 0;  // total duration queued in q[kAudioPad] (its bound, checked per delta)
  std::deque<OutItem> evq;  // serialized upstream events for src, at the input position they came at
  GstClockTime frontier = GST_CLOCK_TIME_NONE;  // non-live: output released up to here
  bool eos_queued = false, eos_pushed = false;
  GstClockTime eos_end_rt = GST_CLOCK_TIME_NONE;
  uint64_t next_resp_serial = 1;
  std::map<uint64_t, Response> responses;
  std::map<std::string, uint64_t> resp_by_id;
  std::map<std::string, ItemAudio> items;
  std::deque<std::string> item_order;
  std::map<std::string, Span> spans;
  std::deque<std::string> span_order;
  std::map<std::string, std::pair<GstClockTime, gint64>> pending_captions;  // item -> (start, since)
  std::map<std::string, gint64> awaiting_transcripts;  // committed items whose transcription is due (EOS waits) -> since
  GstClockTime caption_hold_rt = GST_CLOCK_TIME_NONE;  // manual mode: input position of the last commit
  GstClockTime max_observed_delay = 0;
  uint64_t dropped_audio_samples = 0;
  bool overflow_warned = false;
  GstFlowCombiner *flow_combiner = nullptr;
  std::string session_id;
  bool text_overflow_warned[kNumPads] = {false, false, false};
  guint32 last_seek_seqnum = GST_SEQNUM_INVALID;  // a seek reaches us once per src pad: forward it once
};

struct _GstRealtimeConv {
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  GstPad *transcript_srcpad;
  GstPad *input_transcript_srcpad;
  RtcPriv *priv;
};

G_DEFINE_TYPE(GstRealtimeConv, gst_realtimeconv, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(realtimeconv, "realtimeconv", GST_RANK_NONE, GST_TYPE_REALTIMECONV)

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

namespace {

GstClockTime ms_to_ns(int ms) { return (GstClockTime)ms * GST_MSECOND; }

GstClockTime tmax(GstClockTime a, GstClockTime b) {
  if (!GST_CLOCK_TIME_IS_VALID(a)) return b;
  if (!GST_CLOCK_TIME_IS_VALID(b)) return a;
  return std::max(a, b);
}

GstClockTime tmin(GstClockTime a, GstClockTime b) {
  if (!GST_CLOCK_TIME_IS_VALID(a)) return b;
  if (!GST_CLOCK_TIME_IS_VALID(b)) return a;
  return std::min(a, b);
}

int fmt_rate(rtc::AudioFormat f) { return f == rtc::AudioFormat::PCM16 ? 24000 : 8000; }
int fmt_bpf(rtc::AudioFormat f) { return f == rtc::AudioFormat::PCM16 ? 2 : 1; }
guint8 fmt_silence(rtc::AudioFormat f) {
  switch (f) {
    case rtc::AudioFormat::G711_ULAW: return 0xFF;
    case rtc::AudioFormat::G711_ALAW: return 0xD5;
    default: return 0;
  }
}

GstCaps *fmt_caps(rtc::AudioFormat f) {
  switch (f) {
    case rtc::AudioFormat::G711_ULAW:
      return gst_caps_from_string("audio/x-mulaw, rate=(int)8000, channels=(int)1");
    case rtc::AudioFormat::G711_ALAW:
      return gst_caps_from_string("audio/x-alaw, rate=(int)8000, channels=(int)1");
    default:
      return gst_caps_from_string(
          "audio/x-raw, format=(string)S16LE, rate=(int)24000, channels=(int)1, layout=(string)interleaved");
  }
}

bool fmt_from_structure(const GstStructure *s, rtc::AudioFormat *out) {
  const char *name = gst_structure_get_name(s);
  if (g_str_equal(name, "audio/x-mulaw")) {
    *out = rtc::AudioFormat::G711_ULAW;
    return true;
  }
  if (g_str_equal(name, "audio/x-alaw")) {
    *out = rtc::AudioFormat::G711_ALAW;
    return true;
  }
  if (g_str_equal(name, "audio/x-raw")) {
    *out = rtc::AudioFormat::PCM16;
    return true;
  }
  return false;
}

const char *fmt_name(rtc::AudioFormat f) {
  switch (f) {
    case rtc::AudioFormat::G711_ULAW: return "g711_ulaw";
    case rtc::AudioFormat::G711_ALAW: return "g711_alaw";
    default: return "pcm16";
  }
}

// Splits the non-standard "result" members out of a tools JSON array.
bool split_tools(const std::string &tools, std::string *clean, std::map<std::string, std::string> *results,
                 std::string *error) {
  clean->clear();
  results->clear();
  if (tools.empty()) return true;
  GError *err = nullptr;
  JsonNode *root = json_from_string(tools.c_str(), &err);
  if (!root) {
    *error = err ? err->message : "invalid JSON";
    g_clear_error(&err);
    return false;
  }
  if (!JSON_NODE_HOLDS_ARRAY(root)) {
    json_node_unref(root);
    *error = "tools must be a JSON array";
    return false;
  }
  JsonArray *arr = json_node_get_array(root);
  for (guint i = 0; i < json_array_get_length(arr); i++) {
    JsonNode *n = json_array_get_element(arr, i);
    if (!JSON_NODE_HOLDS_OBJECT(n)) continue;
    JsonObject *o = json_node_get_object(n);
    if (!json_object_has_member(o, "result")) continue;
    JsonNode *r = json_object_get_member(o, "result");
    std::string value;
    if (JSON_NODE_HOLDS_VALUE(r) && json_node_get_value_type(r) == G_TYPE_STRING) {
      value = json_node_get_string(r);
    } else {
      gchar *txt = json_to_string(r, FALSE);
      value = txt;
      g_free(txt);
    }
    const char *name = json_object_has_member(o, "name") ? json_object_get_string_member(o, "name") : nullptr;
    if (name) (*results)[name] = value;
    json_object_remove_member(o, "result");
  }
  gchar *txt = json_to_string(root, FALSE);
  *clean = txt;
  g_free(txt);
  json_node_unref(root);
  return true;
}

// Checks a JSON property value: empty is allowed (unset); otherwise it must parse and its root
// must be of type `want` (or, for `alt`, of that type). `err` gets the parse error / the type.
bool json_value_ok(const std::string &v, JsonNodeType want, JsonNodeType alt, std::string *err) {
  if (v.empty()) return true;
  JsonParser *parser = json_parser_new();
  GError *e = nullptr;
  bool ok = json_parser_load_from_data(parser, v.c_str(), (gssize)v.size(), &e);
  if (!ok) {
    *err = e ? e->message : "invalid JSON";
    g_clear_error(&e);
  } else {
    JsonNode *root = json_parser_get_root(parser);
    const JsonNodeType t = root ? json_node_get_node_type(root) : JSON_NODE_NULL;
    ok = t == want || t == alt;
    if (!ok) *err = std::string("not a JSON ") + (want == JSON_NODE_OBJECT ? "object" : "array");
  }
  g_object_unref(parser);
  return ok;
}

std::string tool_choice_json(const std::string &tc) {
  if (tc.empty()) return {};
  if (tc[0] == '{' || tc[0] == '"') return tc;
  if (tc == "auto" || tc == "none" || tc == "required") return "\"" + tc + "\"";
  // A function name: force that tool (GA form; the engine adapts it to the preview dialect).
  gchar *esc = g_strescape(tc.c_str(), NULL);
  std::string r = std::string("{\"type\":\"function\",\"name\":\"") + esc + "\"}";
  g_free(esc);
  return r;
}

}  // namespace

static GstClockTime clock_running_time(RtcPriv *p) {
  std::lock_guard<std::mutex> g(p->clock_mutex);
  if (!p->clock || !p->playing) return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time(p->clock);
  if (!GST_CLOCK_TIME_IS_VALID(now)) return GST_CLOCK_TIME_NONE;
  return now > p->base_time ? now - p->base_time : 0;
}

static void enqueue_ctl(GstRealtimeConv *self, std::unique_ptr<CtlMsg> m);
static bool handle_audio_inline(GstRealtimeConv *self, CtlMsg &m);

// ---------------------------------------------------------------------------------------------
// Engine listener: runs on the engine's network thread, only enqueues.
// ---------------------------------------------------------------------------------------------

namespace {

class Listener final : public rtc::SessionListener {
 public:
  Listener(GstRealtimeConv *self, uint64_t serial) : self_(self), serial_(serial) {}

  void on_state(rtc::SessionState state, const std::string &detail) override {
    auto m = make(CtlMsg::State);
    m->state = state;
    m->text = detail;
    enqueue_ctl(self_, std::move(m));
  }
  void on_server_event(const rtc::ServerEvent &ev, const rtc::EventContext &ctx) override {
    switch (ev.type) {
      case rtc::ServerEventType::AudioDelta:
      case rtc::ServerEventType::Error:  // delivered classified through on_error()
        return;
      default:
        break;
    }
    auto m = make(CtlMsg::Event);
    m->ev = rtcgst::inbox_copy(ev);  // text capped (rtctextqueue.h)
    if (m->ev->text.size() < ev.text.size())
      GST_WARNING_OBJECT(self_, "%s: text of %" G_GSIZE_FORMAT " bytes cut to %" G_GSIZE_FORMAT, ev.type_name.c_str(),
                         ev.text.size(), m->ev->text.size());
    m->ctx = ctx;
    enqueue_ctl(self_, std::move(m));
  }
  uint8_t *alloc_audio(size_t max_bytes, void **handle) override {
    auto *h = new AudioHandle;
    h->buf = gst_buffer_new_allocate(NULL, std::max<size_t>(max_bytes, 1), NULL);
    if (!h->buf || !gst_buffer_map(h->buf, &h->map, GST_MAP_WRITE)) {
      if (h->buf) gst_buffer_unref(h->buf);
      delete h;
      *handle = nullptr;
      return nullptr;
    }
    *handle = h;
    return h->map.data;
  }
  void on_audio(void *handle, size_t bytes, const rtc::AudioDeltaInfo &info) override {
    auto *h = static_cast<AudioHandle *>(handle);
    if (!h) return;
    gst_buffer_unmap(h->buf, &h->map);
    gst_buffer_set_size(h->buf, (gssize)bytes);
    auto m = make(CtlMsg::Audio);
    m->audio = h->buf;
    m->audio_bytes = bytes;
    m->ainfo = info;
    delete h;
    if (handle_audio_inline(self_, *m)) return;
    enqueue_ctl(self_, std::move(m));
  }
  void free_audio(void *handle) override {
    auto *h = static_cast<AudioHandle *>(handle);
    if (!h) return;
    gst_buffer_unmap(h->buf, &h->map);
    gst_buffer_unref(h->buf);
    delete h;
  }
  void on_error(const rtc::SessionError &err) override {
    auto m = make(CtlMsg::Error);
    m->err = err;
    enqueue_ctl(self_, std::move(m));
  }
  void on_function_call(const rtc::FunctionCall &call) override {
    auto m = make(CtlMsg::FunctionCall);
    m->call = call;
    enqueue_ctl(self_, std::move(m));
  }
  void on_reconnecting(int attempt, int delay_ms, const std::string &reason) override {
    auto m = make(CtlMsg::Reconnecting);
    m->reconnect.attempt = attempt;
    m->reconnect.delay_ms = delay_ms;
    m->text = reason;
    enqueue_ctl(self_, std::move(m));
  }
  void on_reconnected(int items_replayed, bool planned_renewal) override {
    auto m = make(CtlMsg::Reconnected);
    m->reconnect.items_replayed = items_replayed;
    m->reconnect.planned_renewal = planned_renewal;
    enqueue_ctl(self_, std::move(m));
  }
  void on_input_dropped(int64_t first_sample, int64_t samples) override {
    auto m = make(CtlMsg::InputDropped);
    m->dropped.first_sample = first_sample;
    m->dropped.samples = samples;
    enqueue_ctl(self_, std::move(m));
  }
  void on_log(rtc::LogLevel level, const std::string &msg) override {
#ifndef GST_DISABLE_GST_DEBUG
    GstDebugLevel l = GST_LEVEL_DEBUG;
    switch (level) {
      case rtc::LogLevel::Error: l = GST_LEVEL_ERROR; break;
      case rtc::LogLevel::Warning: l = GST_LEVEL_WARNING; break;
      case rtc::LogLevel::Info: l = GST_LEVEL_INFO; break;
      case rtc::LogLevel::Debug: l = GST_LEVEL_DEBUG; break;
      case rtc::LogLevel::Trace: l = GST_LEVEL_TRACE; break;
    }
    GST_CAT_LEVEL_LOG(gst_realtimeconv_engine_debug, l, self_, "%s", msg.c_str());
#else
    (void)level;
    (void)msg;
#endif
  }

 private:
  std::unique_ptr<CtlMsg> make(CtlMsg::Kind k) {
    auto m = std::make_unique<CtlMsg>();
    m->kind = k;
    m->serial = serial_;
    m->arrival_rt = clock_running_time(self_->priv);
    return m;
  }
  GstRealtimeConv *self_;
  uint64_t serial_;
};

}  // namespace

// Bounded (see kMaxInboxAudioSeconds / kMaxInboxOther): the network thread never blocks here.
static void enqueue_ctl(GstRealtimeConv *self, std::unique_ptr<CtlMsg> m) {
  RtcPriv *p = self->priv;
  bool warn_audio = false, warn_other = false;
  const uint64_t serial = m->serial;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    if (m->kind == CtlMsg::Audio) {
      if (p->inbox_audio_bytes + m->audio_bytes > p->inbox_audio_limit.load()) {
        p->inbox_dropped_bytes += m->audio_bytes;
        warn_audio = !p->inbox_audio_warned;
        p->inbox_audio_warned = true;
        m.reset();
      } else {
        p->inbox_audio_bytes += m->audio_bytes;
      }
    } else if (p->inbox_other >= kMaxInboxOther) {
      warn_other = !p->inbox_other_warned;
      p->inbox_other_warned = true;
      m.reset();
    } else {
      p->inbox_other++;
    }
    if (m) {
      p->inbox.push_back(std::move(m));
      p->pending++;
    }
  }
  if (warn_audio)
    GST_WARNING_OBJECT(self, "control thread is %d s behind: dropping response audio (output-audio-dropped)",
                       kMaxInboxAudioSeconds);
  if (warn_other)
    GST_WARNING_OBJECT(self, "control thread is %u notifications behind: dropping notifications",
                       (guint)kMaxInboxOther);
  if (warn_audio || warn_other) {
    // Told to the application by the control thread (once), when it runs again.
    auto w = std::make_unique<CtlMsg>();
    w->kind = CtlMsg::InboxOverflow;
    w->serial = serial;
    w->overflow_audio = warn_audio;
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    p->inbox.push_back(std::move(w));
    p->pending++;
  }
  p->inbox_cond.notify_one();
}

// ---------------------------------------------------------------------------------------------
// Configuration and session lifecycle
// ---------------------------------------------------------------------------------------------

static rtc::SessionConfig build_session_config(const Settings &s, const std::string &tools_clean,
                                               rtc::AudioFormat in, rtc::AudioFormat out) {
  rtc::SessionConfig c;
  if (!s.instructions.empty()) c.instructions = s.instructions;
  if (!s.voice.empty()) c.voice = s.voice;
  c.output_modality = s.modality == MODALITY_TEXT ? rtc::Modality::Text : rtc::Modality::Audio;
  c.input_format = in;
  c.output_format = out;
  if (!s.transcription_model.empty()) {
    rtc::InputTranscription t;
    t.model = s.transcription_model;
    t.language = s.transcription_language;
    t.prompt = s.transcription_prompt;
    c.input_transcription = t;
  }
  c.noise_reduction = s.noise_reduction == NOISE_REDUCTION_NEAR_FIELD  ? rtc::NoiseReduction::NearField
                      : s.noise_reduction == NOISE_REDUCTION_FAR_FIELD ? rtc::NoiseReduction::FarField
                                               : rtc::NoiseReduction::Off;
  rtc::TurnDetection &td = c.turn_detection;
  td.type = s.turn_detection == TURN_DETECTION_SEMANTIC_VAD ? rtc::TurnDetection::Type::SemanticVad
            : s.turn_detection == TURN_DETECTION_NONE       ? rtc::TurnDetection::Type::None
                                    : rtc::TurnDetection::Type::ServerVad;
  td.threshold = s.vad_threshold;
  td.prefix_padding_ms = s.prefix_padding_ms;
  td.silence_duration_ms = s.silence_duration_ms;
  td.create_response = s.create_response;
  td.interrupt_response = s.interrupt_response;
  static const char *eagerness[] = {"auto", "low", "medium", "high"};
  td.eagerness = eagerness[CLAMP(s.eagerness, 0, 3)];
  c.tools_json = tools_clean;
  c.tool_choice_json = tool_choice_json(s.tool_choice);
  c.temperature = s.temperature;  // never sent in GA (the engine drops it)
  if (s.max_output_tokens > 0) c.max_output_tokens = s.max_output_tokens;
  if (s.speed != DEFAULT_SPEED) c.speed = s.speed;
  c.extra_json = s.session_config;
  return c;
}

static rtc::EngineConfig build_engine_config(RtcPriv *p, rtc::AudioFormat in, rtc::AudioFormat out) {
  std::lock_guard<std::mutex> g(p->props_mutex);
  const Settings &s = p->settings;
  rtc::EngineConfig cfg;
  rtcgst::conn_props_to_engine(s.conn, &cfg);
  cfg.session = build_session_config(s, p->tools_clean, in, out);
  cfg.chunk_ms = s.chunk_ms;
  return cfg;
}

static std::shared_ptr<rtcgst::SessionPort> get_session(RtcPriv *p) {
  std::lock_guard<std::mutex> g(p->session_mutex);
  return p->session;
}

// Pushes the current session configuration (session props changed while running).
static void apply_session_config(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::AudioFormat in, out;
  std::shared_ptr<rtcgst::SessionPort> sess;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    sess = p->session;
    in = p->session_in_fmt;
    out = p->session_out_fmt;
  }
  if (!sess) return;
  rtc::SessionConfig c;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    c = build_session_config(p->settings, p->tools_clean, in, out);
  }
  GST_DEBUG_OBJECT(self, "session properties changed: sending session.update");
  sess->update_config(c);
}

static void apply_engine_config(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::AudioFormat in, out;
  std::shared_ptr<rtcgst::SessionPort> sess;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    sess = p->session;
    in = p->session_in_fmt;
    out = p->session_out_fmt;
  }
  if (sess) sess->set_engine_config(build_engine_config(p, in, out));
}

// Preferred format of a peer (first structure of its caps within our template), or `fallback`.
static rtc::AudioFormat peer_format(GstPad *pad, rtc::AudioFormat fallback) {
  GstCaps *templ = gst_pad_get_pad_template_caps(pad);
  GstCaps *caps = gst_pad_peer_query_caps(pad, templ);
  gst_caps_unref(templ);
  rtc::AudioFormat f = fallback;
  if (caps && !gst_caps_is_empty(caps) && !gst_caps_is_any(caps)) {
    GstCaps *tmp = gst_caps_copy(caps);
    tmp = gst_caps_truncate(tmp);
    if (!fmt_from_structure(gst_caps_get_structure(tmp, 0), &f)) f = fallback;
    gst_caps_unref(tmp);
  }
  if (caps) gst_caps_unref(caps);
  return f;
}

// Both with lifecycle_mutex held.
static void stop_session_locked(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  std::shared_ptr<rtcgst::SessionPort> s;
  std::unique_ptr<Listener> l;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    s = std::move(p->session);
    l = std::move(p->listener);
    p->session_serial++;  // notifications still queued for the old session are dropped
  }
  if (s) {
    GST_DEBUG_OBJECT(self, "stopping session");
    s->stop();  // returns when no callback runs and none will run again
  }
  s.reset();
  l.reset();
}

static void start_session_locked(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::AudioFormat in, out;
  bool have_caps;
  {
    std::lock_guard<std::mutex> g(p->lock);
    have_caps = p->have_caps;
    in = p->in_fmt;
  }
  if (!have_caps) in = peer_format(self->sinkpad, rtc::AudioFormat::PCM16);
  // The output format is chosen once (downstream may have been told already): a restart for a new
  // input format keeps it.
  if (p->out_fmt_chosen) {
    std::lock_guard<std::mutex> g(p->lock);
    out = p->out_fmt;
  } else {
    out = peer_format(self->srcpad, rtc::AudioFormat::PCM16);
    p->out_fmt_chosen = true;
  }
  rtc::EngineConfig cfg = build_engine_config(p, in, out);
  rtcgst::SessionFactory factory;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    factory = p->factory;
  }
  uint64_t serial;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    serial = ++p->session_serial;
  }
  auto listener = std::make_unique<Listener>(self, serial);
  std::unique_ptr<rtcgst::SessionPort> sess =
      factory ? factory(cfg, listener.get()) : rtcgst::make_engine_session(cfg, listener.get());
  std::shared_ptr<rtcgst::SessionPort> shared(std::move(sess));
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->out_fmt = out;
    p->out_rate = fmt_rate(out);
    p->out_bpf = fmt_bpf(out);
    p->timeline.reset(fmt_rate(in));
  }
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    p->session = shared;
    p->listener = std::move(listener);
    p->session_in_fmt = in;
    p->session_out_fmt = out;
  }
  p->inbox_bytes_per_sec = fmt_rate(out) * fmt_bpf(out);
  p->inbox_audio_limit = (size_t)kMaxInboxAudioSeconds * (size_t)(fmt_rate(out) * fmt_bpf(out));
  GST_INFO_OBJECT(self, "starting session: input %s, output %s", fmt_name(in), fmt_name(out));
  shared->start();
}

static void stop_session(GstRealtimeConv *self) {
  std::lock_guard<std::mutex> g(self->priv->lifecycle_mutex);
  stop_session_locked(self);
}

static void start_session(GstRealtimeConv *self) {
  std::lock_guard<std::mutex> g(self->priv->lifecycle_mutex);
  stop_session_locked(self);  // (a session can only exist here after a failed state change)
  start_session_locked(self);
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

namespace {

GstMessage *elem_msg(GstRealtimeConv *self, GstStructure *s) { return gst_message_new_element(GST_OBJECT(self), s); }

gint64 rt_field(GstClockTime t) { return GST_CLOCK_TIME_IS_VALID(t) ? (gint64)t : -1; }

}  // namespace

static void wake_src_locked(RtcPriv *p) {
  if (p->clock_id) gst_clock_id_unschedule(p->clock_id);
  p->cond.notify_all();
}

// Input sample -> running time (the engine's positions). The server's milliseconds are not used
// when the engine gives no position: they count from the start of the current server session,
// not of our input (they restart after a reconnect), so there is no exact answer: NONE.
static GstClockTime input_rt_locked(RtcPriv *p, int64_t sample, int64_t ms) {
  (void)ms;
  if (sample < 0) return GST_CLOCK_TIME_NONE;
  return p->timeline.to_running_time(sample);
}

static bool is_live_locked(RtcPriv *p) { return p->live_known && p->upstream_live; }

static GstClockTime latency_ns(RtcPriv *p) {
  std::lock_guard<std::mutex> g(p->props_mutex);
  return ms_to_ns(p->settings.latency_ms);
}

static void set_origin_locked(RtcPriv *p, GstClockTime rt) {
  if (GST_CLOCK_TIME_IS_VALID(p->origin_rt) || !GST_CLOCK_TIME_IS_VALID(rt)) return;
  p->origin_rt = rt;
  for (int i = 0; i < kNumPads; i++) p->pushed_end[i] = rt;
  if (!GST_CLOCK_TIME_IS_VALID(p->frontier)) p->frontier = rt;
  wake_src_locked(p);
}

static void advance_frontier_locked(RtcPriv *p, GstClockTime rt) {
  if (!GST_CLOCK_TIME_IS_VALID(rt)) return;
  if (!GST_CLOCK_TIME_IS_VALID(p->frontier) || rt > p->frontier) {
    p->frontier = rt;
    wake_src_locked(p);
  }
}

// End of everything queued or pushed on src (where the next response may start).
static GstClockTime audio_tail_locked(RtcPriv *p) {
  if (!p->q[kAudioPad].empty()) {
    const OutItem &b = p->q[kAudioPad].back();
    return b.rt + (GST_CLOCK_TIME_IS_VALID(b.dur) ? b.dur : 0);
  }
  return p->pushed_end[kAudioPad];
}

static Response *response_for_locked(RtcPriv *p, const std::string &id) {
  auto it = p->resp_by_id.find(id);
  if (it != p->resp_by_id.end()) {
    auto r = p->responses.find(it->second);
    if (r != p->responses.end()) return &r->second;
  }
  Response r;
  r.serial = p->next_resp_serial++;
  r.id = id;
  r.anchor_rt = tmax(p->last_turn_end_rt, GST_CLOCK_TIME_NONE);
  p->resp_by_id[id] = r.serial;
  auto ins = p->responses.emplace(r.serial, r);
  // Bound the bookkeeping: forget the oldest finished responses.
  while (p->responses.size() > 64) {
    auto old = p->responses.begin();
    p->resp_by_id.erase(old->second.id);
    p->responses.erase(old);
  }
  return &ins.first->second;
}

static GstClockTime response_write_pos(RtcPriv *p, const Response &r) {
  if (!r.placed) return GST_CLOCK_TIME_NONE;
  return r.base_rt + gst_util_uint64_scale_int_round((guint64)(r.samples - r.base_samples), GST_SECOND, p->out_rate);
}

static ItemAudio &item_for_locked(RtcPriv *p, const std::string &item_id) {
  auto it = p->items.find(item_id);
  if (it != p->items.end()) return it->second;
  p->item_order.push_back(item_id);
  while (p->item_order.size() > 64) {
    p->items.erase(p->item_order.front());
    p->item_order.pop_front();
  }
  return p->items[item_id];
}

static Span &span_for_locked(RtcPriv *p, const std::string &item_id) {
  auto it = p->spans.find(item_id);
  if (it != p->spans.end()) return it->second;
  p->span_order.push_back(item_id);
  while (p->span_order.size() > 256) {
    p->spans.erase(p->span_order.front());
    p->span_order.pop_front();
  }
  return p->spans[item_id];
}

static void drop_queued_locked(RtcPriv *p, int pad, const std::function<bool(OutItem &)> &pred) {
  auto &q = p->q[pad];
  for (auto it = q.begin(); it != q.end();) {
    if (it->kind != OutItem::Event && pred(*it)) {
      out_item_clear(*it);
      it = q.erase(it);
    } else {
      ++it;
    }
  }
  if (pad == kAudioPad) {  // the predicate may also trim items: recount (barge-in only, not per delta)
    p->q_audio_ns = 0;
    for (const OutItem &o : q) p->q_audio_ns += GST_CLOCK_TIME_IS_VALID(o.dur) ? o.dur : 0;
  }
}

// Samples of an item whose running time is before `pos` (item anchors: sample -> rt).
static int64_t item_samples_before(RtcPriv *p, const ItemAudio &it, GstClockTime pos) {
  if (it.anchors.empty() || !GST_CLOCK_TIME_IS_VALID(pos)) return 0;
  int64_t played = 0;
  for (size_t i = 0; i < it.anchors.size(); i++) {
    const auto &a = it.anchors[i];
    if (pos <= a.second) break;
    int64_t piece_end = (i + 1 < it.anchors.size()) ? it.anchors[i + 1].first : it.received;
    int64_t s = a.first + (int64_t)gst_util_uint64_scale_int(pos - a.second, p->out_rate, GST_SECOND);
    played = std::min(s, piece_end);
  }
  return std::max<int64_t>(played, 0);
}

// Running time of sample `k` of an item (its anchors: item sample -> running time).
static GstClockTime item_rt_of(RtcPriv *p, const ItemAudio &it, int64_t k) {
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  for (const auto &a : it.anchors) {
    if (a.first > k) break;
    rt = a.second + gst_util_uint64_scale_int_round((guint64)(k - a.first), GST_SECOND, p->out_rate);
  }
  return rt;
}

// The latency after which output stamped rt plays at a sync=true sink (the pipeline latency).
static GstClockTime render_latency_locked(RtcPriv *p) {
  return GST_CLOCK_TIME_IS_VALID(p->pipeline_latency) ? p->pipeline_latency : p->upstream_min + latency_ns(p);
}

// Barge-in: speech_started arrived at `arrival_rt` (pipeline clock). Live only
// (rtcgst::barge_in_applies: a file never cuts its own answers). The unpushed remainder of each
// item still playing is dropped and the item is truncated at what counts as heard
// (rtcgst::heard_samples: what was pushed; live pushing is bounded by the lead, so this is at most
// the lead plus one piece beyond what the clock says was played, reported as `ahead-ms`).
// docs/timing.md "Live: lead and barge-in".
static void barge_in_locked(GstRealtimeConv *self, GstClockTime arrival_rt, Deferred &d) {
  RtcPriv *p = self->priv;
  bool barge_in, interrupt, vad;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    barge_in = p->settings.barge_in;
    interrupt = p->settings.interrupt_response;
    vad = p->settings.turn_detection != TURN_DETECTION_NONE;
  }
  if (!rtcgst::barge_in_applies(is_live_locked(p), barge_in)) return;
  GstClockTime clock_pos = p->pushed_end[kAudioPad];  // clock not running: what was pushed
  if (GST_CLOCK_TIME_IS_VALID(arrival_rt)) {
    const GstClockTime lat = render_latency_locked(p);
    clock_pos = arrival_rt > lat ? arrival_rt - lat : 0;
  }

  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  for (const std::string &item_id : p->item_order) {
    auto iit = p->items.find(item_id);
    if (iit == p->items.end()) continue;
    ItemAudio &it = iit->second;
    if (it.truncated || it.received == 0 || !GST_CLOCK_TIME_IS_VALID(it.end_rt)) continue;
    const uint64_t resp = it.resp;
    auto rit = p->responses.find(resp);
    Response *r = rit != p->responses.end() ? &rit->second : nullptr;
    const int64_t clock_samples = std::min(item_samples_before(p, it, clock_pos), it.received);
    const int64_t heard = rtcgst::heard_samples(clock_samples, it.pushed, it.received);
    if (heard >= it.received && (!r || r->done)) continue;  // all of it is out: nothing to cut
    const GstClockTime cut_rt = item_rt_of(p, it, heard);
    GstClockTime dropped = 0;
    drop_queued_locked(p, kAudioPad, [&](OutItem &o) {
      if (o.resp != resp) return false;
      dropped += o.dur;
      return true;
    });
    drop_queued_locked(p, kTextPad, [&](OutItem &o) { return o.resp == resp && o.rt >= cut_rt; });
    it.truncated = true;
    it.end_rt = tmin(it.end_rt, cut_rt);
    if (r) r->dropped = true;
    const int64_t ms = heard * 1000 / p->out_rate;
    const int64_t ahead_ms = (heard - clock_samples) * 1000 / p->out_rate;
    std::string resp_id = it.response_id;
    GST_INFO_OBJECT(self, "barge-in: truncating item %s of %s at %" G_GINT64_FORMAT " ms (%" G_GINT64_FORMAT
                    " ms ahead of the clock; dropped %" GST_TIME_FORMAT ")",
                    item_id.c_str(), resp_id.c_str(), ms, ahead_ms, GST_TIME_ARGS(dropped));
    bool cancel = r && !r->done && (!interrupt || !vad);
    if (sess) {
      std::string iid = item_id;
      d.calls.push_back([sess, iid, ms, cancel]() {
        if (cancel) sess->cancel_response();
        sess->truncate(iid, ms);
      });
    }
    d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/truncated", "response-id", G_TYPE_STRING,
                                                      resp_id.c_str(), "item-id", G_TYPE_STRING, item_id.c_str(),
                                                      "audio-end-ms", G_TYPE_INT64, ms, "running-time",
                                                      G_TYPE_INT64, rt_field(cut_rt), "ahead-ms", G_TYPE_INT64,
                                                      ahead_ms, "dropped", G_TYPE_UINT64, (guint64)dropped, NULL)));
  }
  // The output continues from what was actually pushed.
  wake_src_locked(p);
}

// The input (non-live) or the EOS drain waits for the answer of a turn until `deadline`.
static void begin_turn_wait_locked(RtcPriv *p, gint64 deadline) {
  p->awaiting_turn = true;
  p->awaiting_deadline = deadline;
  p->awaiting_resp_id.clear();
  p->awaiting_calls.clear();
  p->awaiting_calls_handled = false;
  p->turn_serial++;
  p->drain_cond.notify_all();
}

static void end_turn_wait_locked(RtcPriv *p) {
  p->awaiting_turn = false;
  p->awaiting_resp_id.clear();
  p->awaiting_calls.clear();
  p->awaiting_calls_handled = false;
  p->drain_cond.notify_all();
}

// The awaited response `ri` is done: the wait ends, unless it completed with function calls that
// the application may answer (the engine delivers them right after this event, see
// handle_function_call): then it waits for their decision.
static void awaited_response_done_locked(GstRealtimeConv *self, const rtc::ResponseInfo &ri) {
  RtcPriv *p = self->priv;
  std::set<std::string> calls;
  if (ri.status == "completed")  // the engine never delivers calls of other responses (§10.6)
    for (const rtc::ItemInfo &o : ri.output)
      if (o.type == "function_call" && !o.call_id.empty() && (o.status.empty() || o.status == "completed"))
        calls.insert(o.call_id);
  if (calls.empty()) {
    end_turn_wait_locked(p);
    return;
  }
  GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT ": %s is done with %u function call(s): waiting for them",
                   p->turn_serial, p->awaiting_resp_id.c_str(), (guint)calls.size());
  p->awaiting_calls = std::move(calls);
  p->awaiting_calls_handled = false;
  p->drain_cond.notify_all();
}

// A function call of the awaited response was handed to the application (`handled`: a handler
// returned TRUE, a static result was sent, or function-output was emitted for it). When the last
// one is decided, the wait follows the response that answers them (with a fresh drain-timeout
// from now) if any was handled, and ends otherwise.
static void turn_call_decided_locked(GstRealtimeConv *self, const std::string &call_id, bool handled) {
  RtcPriv *p = self->priv;
  if (!p->awaiting_turn || p->awaiting_calls.erase(call_id) == 0) return;
  if (handled) p->awaiting_calls_handled = true;
  if (!p->awaiting_calls.empty()) return;
  if (!p->awaiting_calls_handled) {
    GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT ": function calls not answered, the wait ends", p->turn_serial);
    end_turn_wait_locked(p);
    return;
  }
  gint64 timeout_ms;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    timeout_ms = p->settings.drain_timeout_ms;
  }
  GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT ": function calls answered, waiting for the follow-up response",
                   p->turn_serial);
  p->awaiting_resp_id.clear();  // bound to the next response created
  p->awaiting_calls_handled = false;
  p->awaiting_deadline = g_get_monotonic_time() + timeout_ms * 1000;
  p->drain_cond.notify_all();
}

static bool handle_audio_locked(GstRealtimeConv *self, CtlMsg &m, Deferred &d);

// The src task is woken once the state lock is released: woken under the lock, it would at once
// block on that lock (a context switch there and back per delta).
static void handle_audio(GstRealtimeConv *self, CtlMsg &m, Deferred &d) {
  RtcPriv *p = self->priv;
  bool queued;
  {
    std::lock_guard<std::mutex> g(p->lock);
    queued = handle_audio_locked(self, m, d);
    if (queued && p->clock_id) gst_clock_id_unschedule(p->clock_id);
  }
  if (queued) p->cond.notify_all();
}

// Queues one delta for src; true when it was queued (the src task must be woken).
static bool handle_audio_locked(GstRealtimeConv *self, CtlMsg &m, Deferred &d) {
  RtcPriv *p = self->priv;
  if (p->in_flushing || p->eos_queued || !m.audio || p->srcresult != GST_FLOW_OK) return false;
  const rtc::AudioDeltaInfo &info = m.ainfo;
  Response *r = response_for_locked(p, info.response_id);
  if (r->dropped) return false;
  ItemAudio &it = item_for_locked(p, info.item_id);
  if (it.truncated) return false;
  it.resp = r->serial;
  it.response_id = info.response_id;
  const int64_t n = (int64_t)gst_buffer_get_size(m.audio) / p->out_bpf;
  if (n <= 0) return false;
  // Whole frames only (a delta of an odd number of bytes in pcm16 would shift every later sample).
  if ((gsize)n * p->out_bpf != gst_buffer_get_size(m.audio)) gst_buffer_resize(m.audio, 0, (gssize)(n * p->out_bpf));

  // Bounded queue: the engine thread never waits; audio beyond kMaxQueuedAudio is dropped.
  const GstClockTime queued = p->q_audio_ns;
  if (queued > kMaxQueuedAudio) {
    p->dropped_audio_samples += n;
    if (!p->overflow_warned) {
      p->overflow_warned = true;
      GST_WARNING_OBJECT(self, "output queue full (%" GST_TIME_FORMAT "): dropping response audio", GST_TIME_ARGS(queued));
      // Posted once the state lock is released (Deferred::post; by the control task when this
      // runs on the network thread).
      d.calls.push_back([self]() {
        GST_ELEMENT_WARNING(self, STREAM, FAILED,
                            ("More than %u s of response audio wait for the output: dropping the rest (see stats "
                             "output-audio-dropped).",
                             (guint)(kMaxQueuedAudio / GST_SECOND)),
                            ("downstream does not consume, or the input position is not reported"));
      });
    }
    return false;
  }

  const bool live = is_live_locked(p);
  const GstClockTime lat = latency_ns(p);
  bool discont = false;
  if (!r->placed) {
    const GstClockTime pos =
        rtcgst::place_response(live, r->anchor_rt, p->origin_rt, audio_tail_locked(p), m.arrival_rt);
    r->placed = true;
    r->base_rt = pos;
    r->base_samples = r->samples;
    discont = true;
    set_origin_locked(p, pos);
    GST_DEBUG_OBJECT(self, "response %s placed at %" GST_TIME_FORMAT " (arrival %" GST_TIME_FORMAT ")",
                     r->id.c_str(), GST_TIME_ARGS(pos), GST_TIME_ARGS(m.arrival_rt));
  }
  GstClockTime pts = response_write_pos(p, *r);
  if (live && GST_CLOCK_TIME_IS_VALID(m.arrival_rt) && m.arrival_rt > pts) {
    GstClockTime delay = m.arrival_rt - pts;
    p->max_observed_delay = std::max(p->max_observed_delay, delay);
    if (delay > lat) {
      if (!r->late_warned) {
        r->late_warned = true;
        const guint64 delay_ms = delay / GST_MSECOND, lat_ms = lat / GST_MSECOND;
        const std::string rid = r->id;
        // Posted once the state lock is released (Deferred::post), with a real GError.
        d.calls.push_back([self, delay_ms, lat_ms, rid]() {
          GST_ELEMENT_WARNING(self, STREAM, FAILED,
                              ("Response audio arrived %" G_GUINT64_FORMAT " ms later than the latency budget of "
                               "%" G_GUINT64_FORMAT " ms: increase the latency property.",
                               delay_ms, lat_ms),
                              ("response %s", rid.c_str()));
        });
        d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/late", "response-id", G_TYPE_STRING,
                                                          r->id.c_str(), "delay", G_TYPE_UINT64, (guint64)delay, NULL)));
      }
      // Re-anchor the rest of the response at its arrival time.
      r->base_rt = std::max(m.arrival_rt, audio_tail_locked(p));
      r->base_samples = r->samples;
      pts = r->base_rt;
      discont = true;
    }
  }
  if (it.anchors.empty() || discont) it.anchors.emplace_back(it.received, pts);
  r->samples += n;
  GstClockTime end = response_write_pos(p, *r);
  it.received += n;
  it.end_rt = end;

  GstBuffer *buf = m.audio;
  m.audio = nullptr;
  gst_buffer_add_realtime_conv_meta(buf, info.response_id.c_str(), info.item_id.c_str());
  OutItem o;
  o.kind = OutItem::Buffer;
  o.rt = pts;
  o.dur = end - pts;
  o.buf = buf;
  o.resp = r->serial;
  o.item_id = info.item_id;
  o.samples = n;
  o.discont = discont;
  p->q_audio_ns += o.dur;
  p->q[kAudioPad].push_back(std::move(o));
  return true;
}

static void queue_text_locked(GstRealtimeConv *self, int pad, GstClockTime rt, GstClockTime dur,
                              const std::string &text, uint64_t resp, const std::string &response_id,
                              const std::string &item_id) {
  RtcPriv *p = self->priv;
  if (text.empty() || !GST_CLOCK_TIME_IS_VALID(rt) || p->srcresult != GST_FLOW_OK) return;
  auto &tq = p->q[pad];
  // Text limits (rtctextqueue.h): one text at most kMaxTextBytes, the queue at most kMaxTextItems
  // texts and kMaxTextQueueBytes; when full (nobody consumes, e.g. a blocked downstream) the
  // oldest texts are dropped.
  const size_t len = rtcgst::utf8_prefix_len(text.data(), text.size(), rtcgst::kMaxTextBytes);
  if (len < text.size())
    GST_WARNING_OBJECT(self, "%s: a text of %" G_GSIZE_FORMAT " bytes cut to %" G_GSIZE_FORMAT,
                       pad == kTextPad ? "transcript_src" : "input_transcript_src", text.size(), len);
  size_t queued_bytes = 0;
  for (const OutItem &o : tq)
    if (o.kind == OutItem::Buffer && o.buf) queued_bytes += gst_buffer_get_size(o.buf);
  while (rtcgst::text_queue_must_drop(tq.size(), queued_bytes, len)) {
    if (tq.front().kind == OutItem::Buffer && tq.front().buf) queued_bytes -= gst_buffer_get_size(tq.front().buf);
    out_item_clear(tq.front());
    tq.pop_front();
    if (!p->text_overflow_warned[pad]) {
      p->text_overflow_warned[pad] = true;
      GST_WARNING_OBJECT(self, "%s queue full (%u buffers or %u bytes): dropping the oldest",
                         pad == kTextPad ? "transcript_src" : "input_transcript_src", (guint)rtcgst::kMaxTextItems,
                         (guint)rtcgst::kMaxTextQueueBytes);
    }
  }
  GstBuffer *buf = gst_buffer_new_memdup(text.data(), len);
  if (pad == kTextPad) gst_buffer_add_realtime_conv_meta(buf, response_id.c_str(), item_id.c_str());
  OutItem o;
  o.kind = OutItem::Buffer;
  o.rt = rt;
  o.dur = dur;
  o.buf = buf;
  o.resp = resp;
  o.item_id = item_id;
  // Keep the pad monotonic.
  auto &q = p->q[pad];
  if (!q.empty() && q.back().rt > o.rt) o.rt = q.back().rt;
  if (GST_CLOCK_TIME_IS_VALID(p->pushed_end[pad]) && p->pushed_end[pad] > o.rt) o.rt = p->pushed_end[pad];
  q.push_back(std::move(o));
  wake_src_locked(p);
}

static void handle_event(GstRealtimeConv *self, CtlMsg &m, Deferred &d) {
  RtcPriv *p = self->priv;
  const rtc::ServerEvent &ev = *m.ev;
  using T = rtc::ServerEventType;
  bool transcription, vad, create_response;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    transcription = !p->settings.transcription_model.empty();
    vad = p->settings.turn_detection != TURN_DETECTION_NONE;
    create_response = p->settings.create_response;
  }
  std::lock_guard<std::mutex> g(p->lock);
  const bool live = is_live_locked(p);
  switch (ev.type) {
    case T::SessionCreated:
    case T::SessionUpdated: {
      if (!ev.session.id.empty()) p->session_id = ev.session.id;
      d.msgs.push_back(elem_msg(
          self, gst_structure_new("realtimeconv/session", "event", G_TYPE_STRING,
                                  ev.type == T::SessionCreated ? "created" : "updated", "id", G_TYPE_STRING,
                                  ev.session.id.c_str(), "model", G_TYPE_STRING, ev.session.model.c_str(),
                                  "expires-at", G_TYPE_INT64, (gint64)ev.session.expires_at, NULL)));
      break;
    }
    case T::SpeechStarted: {
      GstClockTime s = input_rt_locked(p, m.ctx.input_start_sample, ev.audio_start_ms);
      p->speech_active = true;
      p->gate.on_speech_started();
      Span &sp = span_for_locked(p, ev.item_id);
      sp.start = s;
      if (transcription && GST_CLOCK_TIME_IS_VALID(s))
        p->pending_captions[ev.item_id] = {s, g_get_monotonic_time()};
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/speech-started", "item-id", G_TYPE_STRING,
                                                        ev.item_id.c_str(), "audio-start-ms", G_TYPE_INT64,
                                                        (gint64)ev.audio_start_ms, "running-time", G_TYPE_INT64,
                                                        rt_field(s), NULL)));
      barge_in_locked(self, m.arrival_rt, d);
      if (!live) advance_frontier_locked(p, s);
      break;
    }
    case T::SpeechStopped: {
      GstClockTime e = input_rt_locked(p, m.ctx.input_end_sample, ev.audio_end_ms);
      p->speech_active = false;
      p->gate.on_speech_stopped(m.ctx.input_end_sample);
      p->samples_since_commit = 0;
      Span &sp = span_for_locked(p, ev.item_id);
      sp.end = e;
      if (GST_CLOCK_TIME_IS_VALID(e)) p->last_turn_end_rt = e;
      {  // the caption of a long utterance is due from the end of the speech, not its start
        auto pc = p->pending_captions.find(ev.item_id);
        if (pc != p->pending_captions.end()) pc->second.second = g_get_monotonic_time();
      }
      if (vad && create_response) {
        gint64 timeout_ms;
        {
          std::lock_guard<std::mutex> pg(p->props_mutex);
          timeout_ms = p->settings.drain_timeout_ms;
        }
        begin_turn_wait_locked(p, g_get_monotonic_time() + timeout_ms * 1000);
      }
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/speech-stopped", "item-id", G_TYPE_STRING,
                                                        ev.item_id.c_str(), "audio-end-ms", G_TYPE_INT64,
                                                        (gint64)ev.audio_end_ms, "running-time", G_TYPE_INT64,
                                                        rt_field(e), NULL)));
      if (!live) advance_frontier_locked(p, e);
      break;
    }
    case T::InputBufferCommitted: {
      GstClockTime s = input_rt_locked(p, m.ctx.input_start_sample, -1);
      GstClockTime e = input_rt_locked(p, m.ctx.input_end_sample, -1);
      Span &sp = span_for_locked(p, ev.item_id);
      if (GST_CLOCK_TIME_IS_VALID(s)) sp.start = s;
      if (GST_CLOCK_TIME_IS_VALID(e)) sp.end = e;
      if (transcription && GST_CLOCK_TIME_IS_VALID(sp.start)) {
        auto pc = p->pending_captions.find(ev.item_id);
        if (pc == p->pending_captions.end())
          p->pending_captions[ev.item_id] = {sp.start, g_get_monotonic_time()};
        else
          pc->second.second = g_get_monotonic_time();  // refreshed: the transcription starts now
      }
      if (transcription) p->awaiting_transcripts[ev.item_id] = g_get_monotonic_time();
      if (!vad && GST_CLOCK_TIME_IS_VALID(e)) {
        p->last_turn_end_rt = e;
        // Manual mode: the next caption starts where this commit ended.
        p->caption_hold_rt = tmax(p->caption_hold_rt, e);
        wake_src_locked(p);
      }
      if (!live) advance_frontier_locked(p, e);
      break;
    }
    case T::ResponseCreated: {
      const std::string &id = ev.response.id.empty() ? ev.response_id : ev.response.id;
      Response *r = response_for_locked(p, id);
      if (!live) {
        GstClockTime a = GST_CLOCK_TIME_IS_VALID(p->last_turn_end_rt) ? p->last_turn_end_rt
                                                                     : p->timeline.end_running_time();
        if (!r->placed) r->anchor_rt = a;
      }
      p->active_responses.insert(id);
      if (p->awaiting_turn && p->awaiting_resp_id.empty()) {
        // The first response created while a turn waits answers it: the wait ends with its done.
        p->awaiting_resp_id = id;
        GST_DEBUG_OBJECT(self, "turn %" G_GUINT64_FORMAT " answered by %s", p->turn_serial, id.c_str());
      }
      p->drain_cond.notify_all();
      break;
    }
    case T::AudioTranscriptDelta:
    case T::TextDelta: {
      Response *r = response_for_locked(p, ev.response_id);
      if (!r->dropped) {
        GstClockTime pos = response_write_pos(p, *r);
        if (!GST_CLOCK_TIME_IS_VALID(pos))
          pos = rtcgst::place_response(live, r->anchor_rt, p->origin_rt, audio_tail_locked(p), m.arrival_rt);
        queue_text_locked(self, kTextPad, pos, GST_CLOCK_TIME_NONE, ev.text, r->serial, ev.response_id, ev.item_id);
      }
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/transcript", "response-id", G_TYPE_STRING,
                                                        ev.response_id.c_str(), "item-id", G_TYPE_STRING,
                                                        ev.item_id.c_str(), "text", G_TYPE_STRING, rtcgst::capped_text(ev.text).c_str(),
                                                        "final", G_TYPE_BOOLEAN, FALSE, NULL)));
      break;
    }
    case T::AudioTranscriptDone:
    case T::TextDone:
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/transcript", "response-id", G_TYPE_STRING,
                                                        ev.response_id.c_str(), "item-id", G_TYPE_STRING,
                                                        ev.item_id.c_str(), "text", G_TYPE_STRING, rtcgst::capped_text(ev.text).c_str(),
                                                        "final", G_TYPE_BOOLEAN, TRUE, NULL)));
      break;
    case T::InputTranscriptionDelta:
    case T::InputTranscriptionCompleted: {
      const bool final = ev.type == T::InputTranscriptionCompleted;
      Span sp;
      auto sit = p->spans.find(ev.item_id);
      if (sit != p->spans.end()) sp = sit->second;
      GstClockTime s = input_rt_locked(p, m.ctx.input_start_sample, -1);
      GstClockTime e = input_rt_locked(p, m.ctx.input_end_sample, -1);
      if (GST_CLOCK_TIME_IS_VALID(s)) sp.start = s;
      if (GST_CLOCK_TIME_IS_VALID(e)) sp.end = e;
      GstClockTime dur = (GST_CLOCK_TIME_IS_VALID(sp.start) && GST_CLOCK_TIME_IS_VALID(sp.end) && sp.end > sp.start)
                             ? sp.end - sp.start
                             : GST_CLOCK_TIME_NONE;
      if (final) {
        p->pending_captions.erase(ev.item_id);
        p->awaiting_transcripts.erase(ev.item_id);
        p->drain_cond.notify_all();
        queue_text_locked(self, kCaptionPad, sp.start, dur, ev.text, 0, {}, ev.item_id);
        wake_src_locked(p);
      }
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/input-transcript", "item-id", G_TYPE_STRING,
                                                        ev.item_id.c_str(), "text", G_TYPE_STRING, rtcgst::capped_text(ev.text).c_str(),
                                                        "final", G_TYPE_BOOLEAN, final, "running-time",
                                                        G_TYPE_INT64, rt_field(sp.start), "duration", G_TYPE_INT64,
                                                        rt_field(dur), NULL)));
      break;
    }
    case T::InputTranscriptionFailed:
      p->pending_captions.erase(ev.item_id);
      p->awaiting_transcripts.erase(ev.item_id);
      p->drain_cond.notify_all();
      wake_src_locked(p);
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/server-error", "code", G_TYPE_STRING,
                                                        ev.error.code.empty() ? "transcription_failed" : ev.error.code.c_str(),
                                                        "message", G_TYPE_STRING, ev.error.message.c_str(), "param",
                                                        G_TYPE_STRING, ev.item_id.c_str(), "event-type", G_TYPE_STRING,
                                                        "", NULL)));
      break;
    case T::ResponseDone: {
      const rtc::ResponseInfo &ri = ev.response;
      const std::string &id = ri.id.empty() ? ev.response_id : ri.id;
      Response *r = response_for_locked(p, id);
      r->done = true;
      p->active_responses.erase(id);
      if (p->awaiting_turn && p->awaiting_resp_id == id && p->awaiting_calls.empty())
        awaited_response_done_locked(self, ri);
      p->drain_cond.notify_all();
      // This response's own time to first audio (not the engine's last one: a response without
      // audio, e.g. a function call, has none).
      const gint64 ttfa = m.ctx.ttfa_us >= 0 ? (gint64)m.ctx.ttfa_us * 1000 : -1;
      d.msgs.push_back(elem_msg(
          self, gst_structure_new("realtimeconv/response-done", "response-id", G_TYPE_STRING, id.c_str(), "status",
                                  G_TYPE_STRING, ri.status.c_str(), "reason", G_TYPE_STRING, ri.reason.c_str(),
                                  "total-tokens", G_TYPE_INT64, (gint64)ri.usage.total_tokens, "input-tokens",
                                  G_TYPE_INT64, (gint64)ri.usage.input_tokens, "output-tokens", G_TYPE_INT64,
                                  (gint64)ri.usage.output_tokens, "time-to-first-audio", G_TYPE_INT64, ttfa, NULL)));
      break;
    }
    case T::RateLimitsUpdated: {
      GstStructure *s = gst_structure_new_empty("realtimeconv/rate-limits");
      for (const rtc::RateLimit &rl : ev.rate_limits) {
        std::string n = rl.name.empty() ? "unknown" : rl.name;
        gst_structure_set(s, (n + "-limit").c_str(), G_TYPE_DOUBLE, rl.limit, (n + "-remaining").c_str(),
                          G_TYPE_DOUBLE, rl.remaining, (n + "-reset-seconds").c_str(), G_TYPE_DOUBLE,
                          rl.reset_seconds, NULL);
      }
      d.msgs.push_back(elem_msg(self, s));
      break;
    }
    default:
      GST_LOG_OBJECT(self, "server event %s", ev.type_name.c_str());
      break;
  }
}

static void post_fatal_error(GstRealtimeConv *self, const rtc::SessionError &e);

static void handle_error(GstRealtimeConv *self, const rtc::SessionError &e) {
  RtcPriv *p = self->priv;
  switch (e.cls) {
    case rtc::ErrorClass::Benign:
      GST_DEBUG_OBJECT(self, "benign server error %s: %s", e.code.c_str(), e.message.c_str());
      return;
    case rtc::ErrorClass::Warning: {
      GST_WARNING_OBJECT(self, "server error %s: %s (caused by %s)", e.code.c_str(), e.message.c_str(),
                         e.client_event_type.c_str());
      gst_element_post_message(
          GST_ELEMENT(self),
          elem_msg(self, gst_structure_new("realtimeconv/server-error", "code", G_TYPE_STRING, e.code.c_str(),
                                           "message", G_TYPE_STRING, e.message.c_str(), "param", G_TYPE_STRING,
                                           e.param.c_str(), "event-type", G_TYPE_STRING, e.client_event_type.c_str(),
                                           NULL)));
      return;
    }
    case rtc::ErrorClass::Fatal:
      break;
  }
  // The actionable message first (no lock held), then streaming stops: upstream's "Internal data
  // stream error" (caused by our GST_FLOW_ERROR) can only come after it.
  post_fatal_error(self, e);
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->fatal = true;
    p->drain_cond.notify_all();
    wake_src_locked(p);
  }
}

static void post_fatal_error(GstRealtimeConv *self, const rtc::SessionError &e) {
  const std::string &c = e.code;
  const char *detail = e.message.c_str();
  if (e.http_status == 401 || e.http_status == 403 || c == "invalid_api_key" || c == "authentication_error" ||
      c == "unauthorized" || c == "forbidden") {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_AUTHORIZED,
                      ("Authentication failed (HTTP %d): check api-key / bearer-token or AZURE_OPENAI_API_KEY / "
                       "OPENAI_API_KEY.",
                       e.http_status ? e.http_status : 401),
                      ("%s: %s", c.c_str(), detail));
  } else if (e.http_status == 404 || c == "model_not_found" || c == "DeploymentNotFound") {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Realtime endpoint or deployment not found (HTTP 404): check endpoint, deployment/model and "
                       "api-version."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "insufficient_quota" || c == "quota_exceeded" || c == "billing_hard_limit_reached") {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED,
                      ("The Realtime service refused the session for quota or billing reasons: check the account's "
                       "quota."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "endpoint") {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Invalid Realtime endpoint: check endpoint, deployment/model and api-version."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "tls") {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Could not set up TLS or the proxy for the Realtime endpoint: check ssl-ca-file and proxy."),
                      ("%s: %s", c.c_str(), detail));
  } else if (c == "beta_api_shape_disabled") {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("The service no longer accepts the preview protocol: set protocol=ga."),
                      ("%s: %s", c.c_str(), detail));
  } else if (e.http_status >= 400 && e.http_status < 500) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("The Realtime endpoint rejected the connection (HTTP %d): check endpoint, deployment and "
                       "api-version.",
                       e.http_status),
                      ("%s: %s", c.c_str(), detail));
  } else {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE,
                      ("Could not keep a connection to the Realtime endpoint: check endpoint, proxy and network."),
                      ("%s (HTTP %d): %s", c.c_str(), e.http_status, detail));
  }
}

static void handle_function_call(GstRealtimeConv *self, const rtc::FunctionCall &call) {
  RtcPriv *p = self->priv;
  gst_element_post_message(
      GST_ELEMENT(self),
      elem_msg(self, gst_structure_new("realtimeconv/function-call", "response-id", G_TYPE_STRING,
                                       call.response_id.c_str(), "item-id", G_TYPE_STRING, call.item_id.c_str(),
                                       "call-id", G_TYPE_STRING, call.call_id.c_str(), "name", G_TYPE_STRING,
                                       call.name.c_str(), "arguments", G_TYPE_STRING, call.arguments.c_str(), NULL)));
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->fc_dispatching = call.call_id;
  }
  gboolean handled = FALSE;
  g_signal_emit(self, signals[SIGNAL_FUNCTION_CALL], 0, call.name.c_str(), call.call_id.c_str(),
                call.arguments.c_str(), &handled);
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->fc_dispatching.clear();
    // A handler (or another thread) may have emitted function-output without returning TRUE.
    if (p->answered_calls.erase(call.call_id)) handled = TRUE;
  }
  if (!handled) {
    std::string result;
    bool have = false;
    {
      std::lock_guard<std::mutex> g(p->props_mutex);
      auto it = p->tool_results.find(call.name);
      if (it != p->tool_results.end()) {
        result = it->second;
        have = true;
      }
    }
    if (have) {
      GST_INFO_OBJECT(self, "answering function call %s with the static result from tools", call.name.c_str());
      if (auto sess = get_session(p)) sess->function_output(call.call_id, result, true);
      handled = TRUE;
    }
  }
  {
    std::lock_guard<std::mutex> g(p->lock);
    turn_call_decided_locked(self, call.call_id, handled);
  }
  if (handled) return;
  GST_ELEMENT_WARNING(self, LIBRARY, FAILED,
                      ("Function call \"%s\" (call id %s) was not answered: connect to the function-call signal, "
                       "return TRUE and emit function-output.",
                       call.name.c_str(), call.call_id.c_str()),
                      (NULL));
}

static const char *state_name(rtc::SessionState s) {
  switch (s) {
    case rtc::SessionState::Idle: return "idle";
    case rtc::SessionState::Connecting: return "connecting";
    case rtc::SessionState::Configuring: return "configuring";
    case rtc::SessionState::Ready: return "ready";
    case rtc::SessionState::Reconnecting: return "reconnecting";
    case rtc::SessionState::Failed: return "failed";
  }
  return "unknown";
}

// Control thread. Posts the input dropped since the last such warning (nothing if none).
static void post_input_dropped_warning(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  if (p->drop_warn_samples <= 0) return;
  int rate;
  {
    std::lock_guard<std::mutex> g(p->lock);
    rate = p->timeline.rate();
  }
  const int64_t first = p->drop_warn_first, n = p->drop_warn_samples;
  p->drop_warn_first = -1;
  p->drop_warn_samples = 0;
  p->drop_warn_last_us = g_get_monotonic_time();
  GST_ELEMENT_WARNING(self, STREAM, FAILED,
                      ("%.1f s of input audio were dropped while the session was disconnected.", (double)n / rate),
                      ("from sample %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " samples in all (stats "
                       "input-ms-dropped has the total)", first, n));
}

static void process_msg(GstRealtimeConv *self, CtlMsg &m) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    if (m.serial != p->session_serial) return;
  }
  Deferred d;
  switch (m.kind) {
    case CtlMsg::State: {
      GST_INFO_OBJECT(self, "session state %s (%s)", state_name(m.state), m.text.c_str());
      GstProgressType t = GST_PROGRESS_TYPE_CONTINUE;
      const char *txt = nullptr;
      switch (m.state) {
        case rtc::SessionState::Connecting: txt = "Connecting to the Realtime endpoint"; break;
        case rtc::SessionState::Configuring: txt = "Configuring the Realtime session"; break;
        case rtc::SessionState::Ready:
          t = GST_PROGRESS_TYPE_COMPLETE;
          txt = "Realtime session ready";
          break;
        case rtc::SessionState::Failed:
          t = GST_PROGRESS_TYPE_ERROR;
          txt = "Realtime session failed";
          break;
        default: break;
      }
      if (txt) d.msgs.push_back(gst_message_new_progress(GST_OBJECT(self), t, "connect", txt));
      {
        std::lock_guard<std::mutex> g(p->lock);
        if (m.state == rtc::SessionState::Failed) {
          d.calls.push_back([self] { post_input_dropped_warning(self); });  // no reconnection will tell them
          end_turn_wait_locked(p);
          p->active_responses.clear();
          p->awaiting_transcripts.clear();  // nothing will be transcribed any more
        }
        p->drain_cond.notify_all();
      }
      break;
    }
    case CtlMsg::Event:
      handle_event(self, m, d);
      break;
    case CtlMsg::Audio:
      handle_audio(self, m, d);
      break;
    case CtlMsg::Error:
      handle_error(self, m.err);
      break;
    case CtlMsg::FunctionCall:
      handle_function_call(self, m.call);
      break;
    case CtlMsg::Reconnecting: {
      {
        // The responses of the lost session will never complete.
        std::lock_guard<std::mutex> g(p->lock);
        p->active_responses.clear();
        end_turn_wait_locked(p);
        p->speech_active = false;
        p->gate.release();  // the new session's VAD starts afresh: nothing is held for the old one
        // Transcriptions of the lost session will not come (the new session has other items).
        p->awaiting_transcripts.clear();
        p->drain_cond.notify_all();
      }
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/reconnecting", "attempt", G_TYPE_INT,
                                                        (gint)m.reconnect.attempt, "delay-ms", G_TYPE_INT,
                                                        (gint)m.reconnect.delay_ms, "reason", G_TYPE_STRING,
                                                        m.text.c_str(), NULL)));
      break;
    }
    case CtlMsg::Reconnected:
      {
        std::lock_guard<std::mutex> g(p->lock);
        p->awaiting_transcripts.clear();
        p->drain_cond.notify_all();
      }
      post_input_dropped_warning(self);  // the rest of the outage's drops, if any
      d.msgs.push_back(elem_msg(self, gst_structure_new("realtimeconv/reconnected", "items-replayed", G_TYPE_INT,
                                                        (gint)m.reconnect.items_replayed, "planned-renewal",
                                                        G_TYPE_BOOLEAN, m.reconnect.planned_renewal, NULL)));
      break;
    case CtlMsg::InputDropped: {
      if (p->drop_warn_first < 0) p->drop_warn_first = m.dropped.first_sample;
      p->drop_warn_samples += m.dropped.samples;
      const gint64 now = g_get_monotonic_time();
      if (p->drop_warn_last_us == 0 || now - p->drop_warn_last_us >= kDropWarnIntervalUs)
        post_input_dropped_warning(self);
      break;
    }
    case CtlMsg::Post:
      if (m.deferred) m.deferred->post(self);
      break;
    case CtlMsg::InboxOverflow:
      if (m.overflow_audio)
        GST_ELEMENT_WARNING(self, STREAM, FAILED,
                            ("The element's control thread fell more than %d s behind the server: response audio "
                             "was dropped (see stats output-audio-dropped).",
                             kMaxInboxAudioSeconds),
                            ("a function-call handler or the application blocks the control thread"));
      else
        GST_ELEMENT_WARNING(self, STREAM, FAILED,
                            ("The element's control thread fell %u notifications behind the server: "
                             "notifications were dropped.",
                             (guint)kMaxInboxOther),
                            ("a function-call handler or the application blocks the control thread"));
      break;
  }
  d.post(self);
}

// Response audio is turned into timed output on the engine's thread itself when the control
// thread has nothing pending: one thread hand-off less per delta (the src task is woken directly).
// Order is kept: every notification of a session comes from the one network thread it is bound
// to, so when nothing is pending no earlier notification can still be in flight. Nothing here blocks: the state lock
// is only ever held for bookkeeping (never across a push or a wait), and what must be posted
// (a late-audio warning) goes to the control thread, so no bus handler runs on the network thread.
static bool handle_audio_inline(GstRealtimeConv *self, CtlMsg &m) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    if (p->ctl_stop || p->pending.load() != 0) return false;
  }
  {
    std::lock_guard<std::mutex> g(p->session_mutex);
    if (m.serial != p->session_serial) return true;  // a replaced session's audio: dropped
  }
  auto d = std::make_unique<Deferred>();
  handle_audio(self, m, *d);
  if (!d->empty()) {
    auto post = std::make_unique<CtlMsg>();
    post->kind = CtlMsg::Post;
    post->serial = m.serial;
    post->deferred = std::move(d);
    enqueue_ctl(self, std::move(post));
  }
  return true;
}

static void ctl_loop(gpointer data) {
  GstRealtimeConv *self = GST_REALTIMECONV(data);
  RtcPriv *p = self->priv;
  std::unique_ptr<CtlMsg> m;
  {
    std::unique_lock<std::mutex> lk(p->inbox_mutex);
    auto ready = [p] { return p->ctl_stop || !p->inbox.empty(); };
    if (p->drop_warn_samples > 0) {
      // Input drops not told yet: told when the interval since the last warning has passed,
      // even if no other notification comes (the end of an outage).
      const gint64 wait_us =
          std::max<gint64>(0, p->drop_warn_last_us + kDropWarnIntervalUs - g_get_monotonic_time());
      if (!p->inbox_cond.wait_for(lk, std::chrono::microseconds(wait_us), ready)) {
        lk.unlock();
        post_input_dropped_warning(self);
        return;
      }
    } else {
      p->inbox_cond.wait(lk, ready);
    }
    if (p->ctl_stop) return;
    m = std::move(p->inbox.front());
    p->inbox.pop_front();
    if (m->kind == CtlMsg::Audio)
      p->inbox_audio_bytes -= std::min(p->inbox_audio_bytes, m->audio_bytes);
    else if (m->kind != CtlMsg::InboxOverflow && p->inbox_other > 0)
      p->inbox_other--;
  }
  process_msg(self, *m);
  m.reset();
  p->pending--;
  // Whatever the message was, a drain / turn wait may now be able to go on (the engine counters
  // they check change with the events that are delivered here).
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->drain_cond.notify_all();
  }
}

static void start_ctl_task(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    p->ctl_stop = false;
  }
  gst_task_start(p->ctl_task);
}

static void stop_ctl_task(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    p->ctl_stop = true;
  }
  p->inbox_cond.notify_all();
  gst_task_stop(p->ctl_task);
  gst_task_join(p->ctl_task);
  std::deque<std::unique_ptr<CtlMsg>> left;
  {
    std::lock_guard<std::mutex> g(p->inbox_mutex);
    left.swap(p->inbox);
    p->pending = 0;
    p->inbox_audio_bytes = 0;
    p->inbox_other = 0;
    p->inbox_audio_warned = p->inbox_other_warned = false;
  }
  // The control thread is joined: its own state is ours now. Drops not told yet are told.
  post_input_dropped_warning(self);
  p->drop_warn_last_us = 0;
}

// ---------------------------------------------------------------------------------------------
// Output: the src pad task pushes all three src pads in timestamp order.
// ---------------------------------------------------------------------------------------------

static GstPad *pad_of(GstRealtimeConv *self, int i) {
  return i == kAudioPad ? self->srcpad : i == kTextPad ? self->transcript_srcpad : self->input_transcript_srcpad;
}

static bool use_silence_locked(RtcPriv *p) {
  int mode;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    mode = p->settings.silence_fill;
  }
  if (mode == SILENCE_FILL_ALWAYS) return true;
  if (mode == SILENCE_FILL_NEVER) return false;
  return !is_live_locked(p);
}

// A filler for the audio pad covering [start, end) (silence buffer chunk or GAP).
static OutItem make_fill_locked(RtcPriv *p, GstClockTime start, GstClockTime end) {
  OutItem o;
  o.rt = start;
  if (use_silence_locked(p)) {
    GstClockTime chunk_end = std::min(end, start + kSilenceChunk);
    int64_t n = (int64_t)gst_util_uint64_scale_int_round(chunk_end - start, p->out_rate, GST_SECOND);
    if (n > 0) {
      gsize size = (gsize)(n * p->out_bpf);
      GstBuffer *b = gst_buffer_new_allocate(NULL, size, NULL);
      gst_buffer_memset(b, 0, fmt_silence(p->out_fmt), size);
      GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_GAP);
      o.kind = OutItem::Buffer;
      o.buf = b;
      o.samples = n;
      o.dur = chunk_end - start;
      return o;
    }
  }
  o.kind = OutItem::Gap;
  o.dur = end - start;
  return o;
}

static GstClockTime earliest_pending_caption_locked(RtcPriv *p) {
  GstClockTime t = GST_CLOCK_TIME_NONE;
  gint64 now = g_get_monotonic_time();
  for (auto it = p->pending_captions.begin(); it != p->pending_captions.end();) {
    if (now - it->second.second > (gint64)(kCaptionPendingTimeout / GST_USECOND)) {
      it = p->pending_captions.erase(it);  // transcription never came: stop holding the pad
      continue;
    }
    t = tmin(t, it->second.first);
    ++it;
  }
  return t;
}

// Earliest monotonic time (us) at which a pending caption times out (0: none pending).
static gint64 next_caption_expiry_locked(RtcPriv *p) {
  gint64 t = 0;
  for (const auto &pc : p->pending_captions) {
    gint64 e = pc.second.second + (gint64)(kCaptionPendingTimeout / GST_USECOND);
    if (t == 0 || e < t) t = e;
  }
  return t;
}

// What the output side needs from the settings (read once per iteration, outside the lock order).
struct OutSettings {
  GstClockTime lat = 0, caption_lat = 0;
  GstClockTime fill_interval = kLiveFillMin;  // live_fill_interval(lat)
  GstClockTime lead = 0;                      // rtcgst::live_push_lead(lat)
  bool manual_captions = false;  // manual turn detection with input transcription
};

// Chooses the next thing to push. Returns false when there is nothing to do now; *wake_rt is then
// the running time at which the live fill should run again (NONE: wait for a notification).
static bool next_item_locked(RtcPriv *p, bool live, GstClockTime now, const OutSettings &os, int *pad_out,
                             OutItem *out, GstClockTime *wake_rt) {
  *wake_rt = GST_CLOCK_TIME_NONE;
  const GstClockTime lat = os.lat;
  // 1. Once per segment (after a start or a flush), a GAP at the origin on every src pad, so that
  //    every sink downstream prerolls whatever the other pads do (as demuxers do for sparse
  //    streams): a sink on a text pad must not wait for the first transcript to preroll. Again
  //    after PLAYING -> PAUSED (sinks preroll again), at the end of what each pad pushed.
  for (int i = 0; i < kNumPads; i++) {
    if (!p->need_initial_gap[i]) continue;
    p->need_initial_gap[i] = false;
    *pad_out = i;
    out->kind = OutItem::Gap;
    out->rt = GST_CLOCK_TIME_IS_VALID(p->pushed_end[i]) ? p->pushed_end[i] : p->origin_rt;
    out->dur = 0;
    return true;
  }
  // 2. Serialized upstream events, in order with the audio (at the input position they came at).
  auto &evq = p->evq;
  if (!evq.empty() && (!GST_CLOCK_TIME_IS_VALID(evq.front().rt) || evq.front().rt <= p->pushed_end[kAudioPad])) {
    *pad_out = kAudioPad;
    *out = std::move(evq.front());
    evq.pop_front();
    return true;
  }

  const bool unlimited = live || p->eos_queued;
  auto ready = [&](const OutItem &o) {
    return unlimited || (GST_CLOCK_TIME_IS_VALID(p->frontier) && o.rt < p->frontier);
  };
  const GstClockTime half_sample = GST_SECOND / (2 * (GstClockTime)p->out_rate);
  // Live audio is pushed no further ahead of its play time than the lead (docs/timing.md).
  const bool pace_audio = live && !p->eos_queued;
  const GstClockTime render_lat =
      GST_CLOCK_TIME_IS_VALID(p->pipeline_latency) ? p->pipeline_latency : p->upstream_min + lat;
  auto audio_ready = [&](const OutItem &o) {
    return pace_audio ? rtcgst::live_may_push(o.rt, now, render_lat, os.lead) : ready(o);
  };

  struct Cand {
    int pad = -1;
    GstClockTime rt = GST_CLOCK_TIME_NONE;
    bool fill = false;
    GstClockTime fill_end = GST_CLOCK_TIME_NONE;
  } best;
  auto consider = [&](int pad, GstClockTime rt, bool fill, GstClockTime fill_end) {
    if (best.pad < 0 || rt < best.rt) {
      best.pad = pad;
      best.rt = rt;
      best.fill = fill;
      best.fill_end = fill_end;
    }
  };

  // Audio pad.
  const GstClockTime aend = p->pushed_end[kAudioPad];
  auto &aq = p->q[kAudioPad];
  if (!aq.empty() && audio_ready(aq.front())) {
    if (aq.front().rt > aend + half_sample)
      consider(kAudioPad, aend, true, aq.front().rt);
    else
      consider(kAudioPad, aq.front().rt, false, GST_CLOCK_TIME_NONE);
  } else {
    GstClockTime target = GST_CLOCK_TIME_NONE;
    if (p->eos_queued && aq.empty()) {
      target = p->eos_end_rt;
    } else if (live) {
      if (GST_CLOCK_TIME_IS_VALID(now) && now > lat) {
        GstClockTime t = now - lat;
        if (t >= aend + os.fill_interval) target = t;
      }
      if (GST_CLOCK_TIME_IS_VALID(now)) *wake_rt = aend + os.fill_interval + lat;
      if (!aq.empty()) {  // audio waiting for its push time (the lead): fill only up to it
        if (GST_CLOCK_TIME_IS_VALID(target)) target = tmin(target, aq.front().rt);
        if (GST_CLOCK_TIME_IS_VALID(now))
          *wake_rt = tmin(*wake_rt, rtcgst::live_push_time(aq.front().rt, render_lat, os.lead));
      }
    } else {
      target = p->frontier;
      if (!aq.empty()) target = tmin(target, aq.front().rt);
    }
    if (GST_CLOCK_TIME_IS_VALID(target) && target > aend + half_sample) consider(kAudioPad, aend, true, target);
  }

  // Text pads: their items, or GAP events following the audio pad.
  for (int i = kTextPad; i < kNumPads; i++) {
    auto &q = p->q[i];
    const GstClockTime pe = p->pushed_end[i];
    if (!q.empty() && ready(q.front())) {
      consider(i, std::max(q.front().rt, pe), false, GST_CLOCK_TIME_NONE);
      continue;
    }
    GstClockTime limit = p->pushed_end[kAudioPad];
    if (!q.empty()) limit = tmin(limit, q.front().rt);
    if (i == kCaptionPad) {
      limit = tmin(limit, earliest_pending_caption_locked(p));
      if (!p->eos_queued) {
        // Captions are pushed when transcribed: keep the pad caption-latency behind the audio.
        if (GST_CLOCK_TIME_IS_VALID(limit) && os.caption_lat > 0)
          limit = limit > os.caption_lat ? limit - os.caption_lat : 0;
        // Manual turn detection: the next caption starts where the last commit ended.
        // (Bounded like a pending caption: never more than 30 s behind the input.)
        if (os.manual_captions) {
          GstClockTime hold = GST_CLOCK_TIME_IS_VALID(p->caption_hold_rt) ? p->caption_hold_rt
                                                                           : p->timeline.to_running_time(0);
          const GstClockTime in_end = p->timeline.end_running_time();
          if (GST_CLOCK_TIME_IS_VALID(in_end) && in_end > kCaptionPendingTimeout)
            hold = tmax(hold, in_end - kCaptionPendingTimeout);
          limit = tmin(limit, hold);
        }
      }
    }
    GstClockTime interval = p->eos_queued ? 1 : kTextGapInterval;
    if (GST_CLOCK_TIME_IS_VALID(limit) && limit > pe && limit - pe >= interval) consider(i, pe, true, limit);
  }

  if (best.pad < 0) {
    if (p->eos_queued && !evq.empty()) {  // the last events, before EOS
      *pad_out = kAudioPad;
      *out = std::move(evq.front());
      evq.pop_front();
      return true;
    }
    return false;
  }
  *pad_out = best.pad;
  if (best.fill) {
    if (best.pad == kAudioPad) {
      *out = make_fill_locked(p, best.rt, best.fill_end);
    } else {
      out->kind = OutItem::Gap;
      out->rt = best.rt;
      out->dur = best.fill_end - best.rt;
    }
  } else {
    auto &q = p->q[best.pad];
    const int64_t piece = (int64_t)gst_util_uint64_scale_int(rtcgst::kLivePushChunk, p->out_rate, GST_SECOND);
    if (best.pad == kAudioPad && pace_audio && q.front().samples > piece) {
      // Live: pushed in pieces, so what is pushed ahead stays within the lead plus one piece.
      OutItem &f = q.front();
      out->kind = OutItem::Buffer;
      out->rt = f.rt;
      out->dur = gst_util_uint64_scale_int_round((guint64)piece, GST_SECOND, p->out_rate);
      out->buf = gst_buffer_copy_region(f.buf, GST_BUFFER_COPY_ALL, 0, (gsize)(piece * p->out_bpf));
      out->resp = f.resp;
      out->item_id = f.item_id;
      out->samples = piece;
      out->discont = f.discont;
      GstBuffer *rest = gst_buffer_copy_region(f.buf, GST_BUFFER_COPY_ALL, (gsize)(piece * p->out_bpf), -1);
      gst_buffer_unref(f.buf);
      f.buf = rest;
      f.rt += out->dur;
      f.dur -= std::min(f.dur, out->dur);
      f.samples -= piece;
      f.discont = false;
    } else {
      *out = std::move(q.front());
      q.pop_front();
    }
    if (best.pad == kAudioPad && GST_CLOCK_TIME_IS_VALID(out->dur))
      p->q_audio_ns -= std::min(p->q_audio_ns, out->dur);
    if (best.pad != kAudioPad) {
      out->rt = best.rt;
      if (!GST_CLOCK_TIME_IS_VALID(out->dur) && best.pad == kTextPad) {
        // Assistant text lasts until the next delta of the response, or the end of its audio.
        GstClockTime next = GST_CLOCK_TIME_NONE;
        if (!q.empty() && q.front().resp == out->resp) next = q.front().rt;
        if (!GST_CLOCK_TIME_IS_VALID(next)) {
          auto r = p->responses.find(out->resp);
          if (r != p->responses.end()) next = response_write_pos(p, r->second);
        }
        if (GST_CLOCK_TIME_IS_VALID(next) && next > out->rt) out->dur = next - out->rt;
      }
    } else {
      auto it = p->items.find(out->item_id);
      if (it != p->items.end()) it->second.pushed += out->samples;
    }
  }
  GstClockTime end = out->rt + (GST_CLOCK_TIME_IS_VALID(out->dur) ? out->dur : 0);
  p->pushed_end[best.pad] = tmax(p->pushed_end[best.pad], end);
  return true;
}

// Sticky events due on pad i before an item at running time `rt`. A new segment is pushed only
// once the data reaches its base: what was queued before it keeps the previous segment.
static std::vector<GstEvent *> sticky_events_locked(GstRealtimeConv *self, int i, GstClockTime rt) {
  RtcPriv *p = self->priv;
  std::vector<GstEvent *> evs;
  GstPad *pad = pad_of(self, i);
  if (p->need_stream_start[i]) {
    static const char *names[] = {"audio", "transcript", "input-transcript"};
    gchar *sid = gst_pad_create_stream_id(pad, GST_ELEMENT(self), names[i]);
    GstEvent *e = gst_event_new_stream_start(sid);
    g_free(sid);
    if (p->group_id == 0) p->group_id = gst_util_group_id_next();
    gst_event_set_group_id(e, p->group_id);
    gst_event_set_stream_flags(e, i == kAudioPad ? GST_STREAM_FLAG_NONE : GST_STREAM_FLAG_SPARSE);
    evs.push_back(e);
    p->need_stream_start[i] = false;
  }
  if (p->need_caps[i]) {
    GstCaps *caps = i == kAudioPad ? fmt_caps(p->out_fmt) : gst_caps_from_string(RTC_TEXT_CAPS);
    evs.push_back(gst_event_new_caps(caps));
    gst_caps_unref(caps);
    p->need_caps[i] = false;
  }
  if (p->need_segment[i] &&
      (!p->pad_segment_valid[i] || !GST_CLOCK_TIME_IS_VALID(rt) || rt >= p->out_segment.base)) {
    evs.push_back(gst_event_new_segment(&p->out_segment));
    p->pad_segment[i] = p->out_segment;
    p->pad_segment_valid[i] = true;
    p->need_segment[i] = false;
  }
  if (p->need_tags[i]) {
    p->need_tags[i] = false;
    std::string lang;
    {
      std::lock_guard<std::mutex> g(p->props_mutex);
      lang = p->settings.transcription_language;
    }
    if (i == kCaptionPad && !lang.empty()) {
      GstTagList *tl = gst_tag_list_new(GST_TAG_LANGUAGE_CODE, lang.c_str(), NULL);
      gst_tag_list_set_scope(tl, GST_TAG_SCOPE_STREAM);
      evs.push_back(gst_event_new_tag(tl));
    }
  }
  return evs;
}

// Stream time of running time rt in seg; false when rt is before the segment (negative position).
static bool out_position(const GstSegment *seg, GstClockTime rt, GstClockTime *pos) {
  guint64 v = 0;
  if (gst_segment_position_from_running_time_full(seg, GST_FORMAT_TIME, rt, &v) != 1) return false;
  *pos = v;
  return true;
}

static OutSettings out_settings(RtcPriv *p) {
  OutSettings os;
  std::lock_guard<std::mutex> g(p->props_mutex);
  os.lat = ms_to_ns(p->settings.latency_ms);
  os.caption_lat = ms_to_ns(p->settings.caption_latency_ms);
  os.fill_interval = live_fill_interval(os.lat);
  os.lead = rtcgst::live_push_lead(os.lat);
  os.manual_captions = p->settings.turn_detection == TURN_DETECTION_NONE && !p->settings.transcription_model.empty();
  return os;
}

// Waits on p->cond until notified, or until a pending caption times out (a real deadline).
static void wait_src_locked(RtcPriv *p, std::unique_lock<std::mutex> &lk) {
  gint64 expiry = next_caption_expiry_locked(p);
  if (expiry == 0) {
    p->cond.wait(lk);
    return;
  }
  gint64 now = g_get_monotonic_time();
  if (expiry > now) p->cond.wait_for(lk, std::chrono::microseconds(expiry - now + 1000));
}

static void src_loop(gpointer data) {
  GstRealtimeConv *self = GST_REALTIMECONV(data);
  RtcPriv *p = self->priv;
  const OutSettings os = out_settings(p);
  std::unique_lock<std::mutex> lk(p->lock);
  if (p->src_flushing) {
    lk.unlock();
    gst_pad_pause_task(self->srcpad);
    return;
  }
  if (p->eos_pushed || !p->out_segment_valid) {
    wait_src_locked(p, lk);
    return;
  }
  const bool live = is_live_locked(p);
  const GstClockTime lat = os.lat;
  const GstClockTime now = live ? clock_running_time(p) : GST_CLOCK_TIME_NONE;
  if (!GST_CLOCK_TIME_IS_VALID(p->origin_rt)) {
    if (live && GST_CLOCK_TIME_IS_VALID(now)) {
      set_origin_locked(p, now > lat ? now - lat : 0);
    } else {
      wait_src_locked(p, lk);
      return;
    }
  }

  int pad_idx = -1;
  OutItem item;
  GstClockTime wake_rt;
  if (!next_item_locked(p, live, now, os, &pad_idx, &item, &wake_rt)) {
    if (p->eos_queued) {
      // Everything is out: EOS on every src pad.
      std::vector<std::vector<GstEvent *>> sticky;
      for (int i = 0; i < kNumPads; i++) sticky.push_back(sticky_events_locked(self, i, GST_CLOCK_TIME_NONE));
      p->eos_pushed = true;
      lk.unlock();
      GST_DEBUG_OBJECT(self, "pushing EOS on all src pads");
      for (int i = 0; i < kNumPads; i++) {
        std::lock_guard<std::mutex> pg(p->push_mutex[i]);
        for (GstEvent *e : sticky[i]) gst_pad_push_event(pad_of(self, i), e);
        gst_pad_push_event(pad_of(self, i), gst_event_new_eos());
      }
      return;
    }
    GstClock *clock = nullptr;
    GstClockTime base = 0;
    if (live && GST_CLOCK_TIME_IS_VALID(wake_rt)) {
      std::lock_guard<std::mutex> g(p->clock_mutex);
      if (p->clock && p->playing) {
        clock = GST_CLOCK(gst_object_ref(p->clock));
        base = p->base_time;
      }
    }
    if (clock) {
      GstClockID id = gst_clock_new_single_shot_id(clock, base + wake_rt);
      p->clock_id = id;
      lk.unlock();
      gst_clock_id_wait(id, NULL);
      lk.lock();
      p->clock_id = nullptr;
      gst_clock_id_unref(id);
      gst_object_unref(clock);
    } else {
      wait_src_locked(p, lk);
    }
    return;
  }

  std::vector<GstEvent *> sticky = sticky_events_locked(self, pad_idx, item.rt);
  const bool discont = p->need_discont[pad_idx];
  if (item.kind == OutItem::Buffer) p->need_discont[pad_idx] = false;
  GstSegment seg = p->pad_segment[pad_idx];
  lk.unlock();

  GstPad *pad = pad_of(self, pad_idx);
  std::unique_lock<std::mutex> push_guard(p->push_mutex[pad_idx]);
  for (GstEvent *e : sticky) gst_pad_push_event(pad, e);
  GstFlowReturn ret = GST_FLOW_OK;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  const bool positioned = item.kind == OutItem::Event || out_position(&seg, item.rt, &pts);
  if (!positioned) {
    GST_WARNING_OBJECT(pad, "dropping %s at running time %" GST_TIME_FORMAT ": before the output segment",
                       item.kind == OutItem::Buffer ? "buffer" : "gap", GST_TIME_ARGS(item.rt));
    out_item_clear(item);
  } else if (item.kind == OutItem::Event) {
    GST_LOG_OBJECT(pad, "forwarding %s event", GST_EVENT_TYPE_NAME(item.event));
    GstEvent *ev = item.event;
    item.event = nullptr;
    gst_pad_push_event(pad, ev);
  } else if (item.kind == OutItem::Buffer) {
    GstBuffer *buf = item.buf;
    item.buf = nullptr;
    buf = gst_buffer_make_writable(buf);
    GST_BUFFER_PTS(buf) = pts;
    GST_BUFFER_DTS(buf) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION(buf) = item.dur;
    if (discont || item.discont) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    GST_LOG_OBJECT(pad, "pushing buffer %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT, GST_TIME_ARGS(pts),
                   GST_TIME_ARGS(item.dur));
    p->preroll_watch.push_begin(pad_idx, g_get_monotonic_time());
    ret = gst_pad_push(pad, buf);
    p->preroll_watch.push_end();
  } else {
    GST_LOG_OBJECT(pad, "pushing gap %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT, GST_TIME_ARGS(pts),
                   GST_TIME_ARGS(item.dur));
    p->preroll_watch.push_begin(pad_idx, g_get_monotonic_time());
    gst_pad_push_event(pad, gst_event_new_gap(pts, item.dur));
    p->preroll_watch.push_end();
  }
  push_guard.unlock();

  lk.lock();
  GstFlowReturn combined = gst_flow_combiner_update_pad_flow(p->flow_combiner, pad, ret);
  if (combined == GST_FLOW_NOT_LINKED) combined = GST_FLOW_OK;  // nobody listens: keep running for messages
  if (combined == GST_FLOW_OK) return;
  p->srcresult = combined;
  lk.unlock();
  GST_DEBUG_OBJECT(self, "pausing task: %s", gst_flow_get_name(combined));
  gst_pad_pause_task(self->srcpad);
  if (combined == GST_FLOW_NOT_NEGOTIATED || combined < GST_FLOW_EOS) {
    GST_ELEMENT_FLOW_ERROR(self, combined);
    for (int i = 0; i < kNumPads; i++) gst_pad_push_event(pad_of(self, i), gst_event_new_eos());
  }
}

// After PLAYING -> PAUSED (from a pool thread, gst_element_call_async): the zero-length preroll
// GAP on every pad the src task is not pushing on right now. The src task pushes on one pad at a
// time and may be blocked there (a full queue before a prerolled sink, which stays full in
// PAUSED): the sinks of the other pads would then never preroll and the pipeline would stay ASYNC
// (issue 12, defect 8). A pad the src task is on keeps its flag: the task pushes the GAP itself.
static void preroll_gaps(GstElement *element, gpointer) {
  GstRealtimeConv *self = GST_REALTIMECONV(element);
  RtcPriv *p = self->priv;
  for (int i = 0; i < kNumPads; i++) {
    std::unique_lock<std::mutex> pg(p->push_mutex[i], std::try_to_lock);
    if (!pg.owns_lock()) continue;
    std::vector<GstEvent *> sticky;
    GstSegment seg;
    GstClockTime rt;
    {
      std::lock_guard<std::mutex> g(p->lock);
      if (!p->need_initial_gap[i] || p->src_flushing || p->eos_pushed || !p->out_segment_valid ||
          !GST_CLOCK_TIME_IS_VALID(p->origin_rt))
        continue;
      p->need_initial_gap[i] = false;
      rt = GST_CLOCK_TIME_IS_VALID(p->pushed_end[i]) ? p->pushed_end[i] : p->origin_rt;
      sticky = sticky_events_locked(self, i, rt);
      seg = p->pad_segment[i];
    }
    GstPad *pad = pad_of(self, i);
    for (GstEvent *e : sticky) gst_pad_push_event(pad, e);
    GstClockTime pts;
    if (out_position(&seg, rt, &pts)) {
      GST_DEBUG_OBJECT(pad, "preroll gap at %" GST_TIME_FORMAT, GST_TIME_ARGS(pts));
      gst_pad_push_event(pad, gst_event_new_gap(pts, 0));
    }
  }
}

static gboolean src_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active) {
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    {
      std::lock_guard<std::mutex> g(p->lock);
      p->src_flushing = false;
      p->srcresult = GST_FLOW_OK;
    }
    return gst_pad_start_task(pad, src_loop, self, NULL);
  }
  {
    std::lock_guard<std::mutex> g(p->lock);
    p->src_flushing = true;
    p->srcresult = GST_FLOW_FLUSHING;
    wake_src_locked(p);
  }
  return gst_pad_stop_task(pad);
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

static void query_upstream_latency(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  GstQuery *q = gst_query_new_latency();
  if (gst_pad_peer_query(self->sinkpad, q)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(q, &live, &min, &max);
    bool repost = false;
    {
      std::lock_guard<std::mutex> g(p->lock);
      if (!p->live_known || p->upstream_live != (bool)live)
        GST_INFO_OBJECT(self, "upstream is %s", live ? "live" : "not live");
      p->live_known = true;
      p->upstream_live = live;
      p->upstream_min = min;
      p->upstream_max = max;
      // A live source often answers LATENCY only once it has negotiated, i.e. after the pipeline
      // configured its latency while going to PLAYING: then our earlier answer (failed, or not
      // live) is stale and the sinks would render our output without our latency budget.
      repost = live && p->answered_live != 1;
      if (repost) p->answered_live = 1;  // once: the pipeline's next query gets the live answer
      wake_src_locked(p);
    }
    if (repost) {
      GST_INFO_OBJECT(self, "upstream turned out live: asking the pipeline to recompute its latency");
      gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
    }
  }
  gst_query_unref(q);
}

static void push_silence_to_session(RtcPriv *p, const std::shared_ptr<rtcgst::SessionPort> &sess, int64_t samples,
                                    rtc::AudioFormat fmt) {
  if (!sess || samples <= 0) return;
  const int bpf = fmt_bpf(fmt);
  std::vector<uint8_t> chunk((size_t)fmt_rate(fmt) * bpf / 10, fmt_silence(fmt));  // 100 ms
  int64_t left = samples * bpf;
  while (left > 0) {
    size_t n = (size_t)std::min<int64_t>(left, (int64_t)chunk.size());
    sess->push_audio(chunk.data(), n);
    left -= (int64_t)n;
  }
  (void)p;
}

static void clear_session_input(RtcPriv *p, const std::shared_ptr<rtcgst::SessionPort> &sess) {
  (void)p;
  sess->clear();  // the engine discards its unsent input too (input_unsent_bytes() returns to 0)
}

// Failed is final (until a restart). Idle is also what a session reports between start() and
// the network thread picking it up, so it is not a reason to give up.
static bool session_usable(rtc::SessionState st) { return st != rtc::SessionState::Failed; }

// The non-live input gate's configuration (docs/timing.md "Files: holding the input"): on for a
// non-live upstream with server / semantic VAD and automatic responses; min_gap from the
// server's silence window. The gate is re-synchronised (at the current input
// position) when it changes, e.g. once liveness or the caps are known.
static void sync_gate_locked(RtcPriv *p) {
  rtcgst::TurnGate::Config c;
  c.rate = p->timeline.rate();
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    const Settings &s = p->settings;
    const int gap_ms =
        rtcgst::TurnGate::min_gap_ms(s.turn_detection == TURN_DETECTION_SEMANTIC_VAD, s.silence_duration_ms);
    c.min_gap = (int64_t)c.rate * gap_ms / 1000;
    c.enabled = !is_live_locked(p) && s.turn_detection != TURN_DETECTION_NONE && s.create_response;
  }
  const rtcgst::TurnGate::Config &o = p->gate.config();
  if (o.rate == c.rate && o.min_gap == c.min_gap && o.enabled == c.enabled) return;
  p->gate.reset(c, p->timeline.samples());
  p->gate_barrier_pending = false;
}

// The buffer's samples as linear PCM16 (G.711 decoded), for the gate's level measurement.
static std::vector<int16_t> linear_samples(rtc::AudioFormat fmt, GstBuffer *buf, int64_t n) {
  std::vector<int16_t> out((size_t)std::max<int64_t>(n, 0), 0);
  GstMapInfo map;
  if (n <= 0 || !gst_buffer_map(buf, &map, GST_MAP_READ)) return out;
  if (fmt == rtc::AudioFormat::PCM16) {
    memcpy(out.data(), map.data, std::min<size_t>(map.size, out.size() * 2));
  } else {
    for (int64_t i = 0; i < n && (gsize)i < map.size; i++)
      out[(size_t)i] = fmt == rtc::AudioFormat::G711_ULAW ? rtcgst::mulaw_to_linear(map.data[i])
                                                         : rtcgst::alaw_to_linear(map.data[i]);
  }
  gst_buffer_unmap(buf, &map);
  return out;
}

// Non-live: waits until the next input may be sent (sink_chain, state lock held):
//  * while a turn's answer is awaited (speech_stopped until its response.done);
//  * while the gate holds the input past a locally detected end of speech (TurnGate::decide),
//    sending it a barrier (session.update) when the server must say whether it heard a turn;
//  * while more than 1 s of input has not left the engine (back-pressure).
// Each wait is bounded by drain-timeout. The engine counters (unsent bytes, acknowledgements)
// change without a notification, so they are re-checked every 10 ms.
static void wait_input_slot_locked(GstRealtimeConv *self, std::unique_lock<std::mutex> &lk,
                                   const std::vector<int16_t> &next) {
  RtcPriv *p = self->priv;
  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  const int64_t max_unsent = (int64_t)p->in_rate * p->in_bpf;  // 1 s of input
  gint64 timeout_us;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    timeout_us = (gint64)p->settings.drain_timeout_ms * 1000;
  }
  sync_gate_locked(p);
  gint64 bp_deadline = 0, hold_deadline = 0;
  struct Clear {
    RtcPriv *p;
    ~Clear() { p->waiting_for = nullptr; }
  } clear{p};
  while (!p->in_flushing && !p->fatal && sess && !is_live_locked(p)) {
    gint64 now = g_get_monotonic_time();
    p->wait_checks++;
    if (p->awaiting_turn) {
      // Released by the answer's response.done, failure, reconnection (notified) or the deadline.
      p->waiting_for = "turn";
      if (now >= p->awaiting_deadline) {
        GST_WARNING_OBJECT(self, "no response to the last turn within drain-timeout: continuing");
        end_turn_wait_locked(p);
        continue;
      }
      p->drain_cond.wait_for(lk, std::chrono::microseconds(std::min<gint64>(p->awaiting_deadline - now, 10000)));
      continue;
    }
    lk.unlock();
    const rtc::SessionState st = sess->state();
    const int64_t unsent = sess->input_unsent_bytes();
    const uint64_t acks = sess->update_acks();
    lk.lock();
    if (!session_usable(st)) break;
    if (p->awaiting_turn) continue;
    if (p->gate_barrier_pending && acks > p->gate_barrier_acks) {
      p->gate_barrier_pending = false;
      p->gate.on_barrier_answered();
    }
    using D = rtcgst::TurnGate::Decision;
    const D dec = p->gate.decide(next.data(), (int64_t)next.size(), false,
                                 st == rtc::SessionState::Ready && unsent == 0);
    if (dec != D::Send) {
      p->waiting_for = "gate";
      if (hold_deadline == 0) hold_deadline = now + timeout_us;
      if (now >= hold_deadline) {
        GST_WARNING_OBJECT(self, "the server did not answer the turn before input sample %" G_GINT64_FORMAT
                                 " within drain-timeout: continuing", p->timeline.samples());
        p->gate.release();  // (a barrier on its way is still counted when answered)
        continue;
      }
      if (dec == D::SendBarrier) {
        GST_DEBUG_OBJECT(self, "input held at sample %" G_GINT64_FORMAT ": asking the server (session.update)",
                         p->timeline.samples());
        p->gate.on_barrier_sent();
        p->gate_barrier_pending = true;
        p->gate_barrier_acks = acks;
        lk.unlock();
        apply_session_config(self);
        lk.lock();
        continue;
      }
      p->drain_cond.wait_for(lk, std::chrono::milliseconds(10));
      continue;
    }
    if (st == rtc::SessionState::Ready && unsent <= max_unsent) {
      p->disconnected_wait.on_connected();
      break;
    }
    // Not connected: drain-timeout in total, not per buffer (rtcinputbudget.h); then the input
    // goes to the engine's offline buffer (bounded, overflow reported).
    if (st != rtc::SessionState::Ready && !p->disconnected_wait.may_wait(now, timeout_us)) break;
    p->waiting_for = "back-pressure";
    if (bp_deadline == 0) bp_deadline = now + timeout_us;
    if (now >= bp_deadline) {
      GST_WARNING_OBJECT(self, "the session took no input for drain-timeout (state %d, %" G_GINT64_FORMAT
                               " bytes unsent): continuing", (int)st, unsent);
      break;
    }
    // State changes are notified; bytes leaving the engine's buffer are not: re-check them.
    p->drain_cond.wait_for(lk, std::chrono::milliseconds(10));
  }
}

static GstFlowReturn sink_chain_piece(GstRealtimeConv *self, GstBuffer *buf);

static GstFlowReturn sink_chain(GstPad *pad, GstObject *parent, GstBuffer *buf) {
  (void)pad;
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  bool gated;
  int bpf, rate;
  {
    std::unique_lock<std::mutex> lk(p->lock);
    if (!p->live_known) {
      lk.unlock();
      query_upstream_latency(self);
      lk.lock();
    }
    if (!is_live_locked(p)) sync_gate_locked(p);
    gated = !is_live_locked(p) && p->gate.config().enabled;
    bpf = p->in_bpf;
    rate = p->in_rate;
  }
  const gsize piece = (gsize)(rate * kGatePieceMs / 1000) * (gsize)bpf;
  const gsize size = gst_buffer_get_size(buf);
  if (!gated || piece == 0 || size <= piece) return sink_chain_piece(self, buf);
  // The gate sees the input in short pieces (kGatePieceMs), each a sub-buffer timed from the buffer.
  GstFlowReturn ret = GST_FLOW_OK;
  for (gsize off = 0; off < size && ret == GST_FLOW_OK; off += piece) {
    GstBuffer *sub = gst_buffer_copy_region(buf, GST_BUFFER_COPY_ALL, off, std::min(piece, size - off));
    if (off > 0) {
      GST_BUFFER_FLAG_UNSET(sub, GST_BUFFER_FLAG_DISCONT);
      GST_BUFFER_PTS(sub) = GST_BUFFER_PTS_IS_VALID(buf)
                                ? GST_BUFFER_PTS(buf) + gst_util_uint64_scale_int(off / bpf, GST_SECOND, rate)
                                : GST_CLOCK_TIME_NONE;
    }
    ret = sink_chain_piece(self, sub);
  }
  gst_buffer_unref(buf);
  return ret;
}

static GstFlowReturn sink_chain_piece(GstRealtimeConv *self, GstBuffer *buf) {
  RtcPriv *p = self->priv;
  std::unique_lock<std::mutex> lk(p->lock);
  // Non-live (files are read much faster than real time): back-pressure, and the turn gate
  // (the server answers a turn before it hears the next one).
  std::vector<int16_t> lin;
  if (!is_live_locked(p)) {
    if (p->gate.config().enabled) lin = linear_samples(p->in_fmt, buf, (int64_t)(gst_buffer_get_size(buf) / p->in_bpf));
    wait_input_slot_locked(self, lk, lin);
  }
  if (p->in_flushing) {
    gst_buffer_unref(buf);
    return GST_FLOW_FLUSHING;
  }
  if (p->fatal) {
    gst_buffer_unref(buf);
    return GST_FLOW_ERROR;
  }
  if (!p->have_caps) {
    lk.unlock();
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No caps on the sink pad before data."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstFlowReturn sr = p->srcresult;
  if (sr == GST_FLOW_EOS || sr == GST_FLOW_NOT_NEGOTIATED || sr < GST_FLOW_EOS) {
    gst_buffer_unref(buf);
    return sr;
  }
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  if (p->time_segment && GST_BUFFER_PTS_IS_VALID(buf)) {
    guint64 r = gst_segment_to_running_time(&p->in_segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    if (r != (guint64)-1) rt = r;
  }
  const gsize size = gst_buffer_get_size(buf);
  const int64_t n = (int64_t)(size / (gsize)p->in_bpf);
  int64_t fill = p->timeline.on_buffer(rt, n, GST_BUFFER_IS_DISCONT(buf));
  if (fill > 0)
    GST_DEBUG_OBJECT(self, "input hole before %" GST_TIME_FORMAT ": %" G_GINT64_FORMAT " samples of silence",
                     GST_TIME_ARGS(rt), fill);
  set_origin_locked(p, p->timeline.to_running_time(p->timeline.samples() - n - fill));
  if (p->gate.config().enabled) {
    p->gate.on_silence(fill);
    if (lin.size() == (size_t)n)
      p->gate.on_input(lin.data(), n);
    else
      p->gate.on_input(linear_samples(p->in_fmt, buf, n).data(), n);
  }
  p->samples_since_commit += n + fill;
  const rtc::AudioFormat fmt = p->in_fmt;
  lk.unlock();

  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  if (sess) {
    push_silence_to_session(p, sess, fill, fmt);
    GstMapInfo map;
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      sess->push_audio(map.data, (size_t)n * fmt_bpf(fmt));
      gst_buffer_unmap(buf, &map);
    }
  }
  gst_buffer_unref(buf);
  return GST_FLOW_OK;
}

static void drain(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  bool manual, create_response;
  int timeout_ms;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    manual = p->settings.turn_detection == TURN_DETECTION_NONE;
    create_response = p->settings.create_response;
    timeout_ms = p->settings.drain_timeout_ms;
  }
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  std::shared_ptr<rtcgst::SessionPort> sess = get_session(p);
  std::unique_lock<std::mutex> lk(p->lock);
  p->input_eos = true;
  const int rate = p->timeline.rate();
  // Waits until `done` or the deadline, re-checking every 10 ms besides the notifications through
  // drain_cond (each processed engine notification, flushes, state changes): the conditions read
  // engine counters (unsent bytes, update_acks(), response_pending()) that the engine publishes
  // AFTER it has delivered the event that changes them, so the control thread's notification for
  // that event can come before the counter moves; waiting for a notification only then stalled
  // the drain for the whole drain-timeout (issue 11, "EOS drain stalls").
  // False when it gave up (timeout, flushing, fatal error, failed session).
  struct Clear {
    RtcPriv *p;
    ~Clear() { p->waiting_for = nullptr; }
  } clear{p};
  auto wait_until_done = [&](const char *what, const std::function<bool()> &done) {
    p->waiting_for = what;
    while (!p->in_flushing && !p->fatal && sess) {
      p->wait_checks++;
      lk.unlock();
      bool usable = session_usable(sess->state());
      lk.lock();
      if (!usable) return false;
      if (done()) {
        p->waiting_for = nullptr;
        return true;
      }
      gint64 now = g_get_monotonic_time();
      if (now >= deadline) {
        GST_WARNING_OBJECT(self, "EOS: %s not finished after drain-timeout (%d ms)", what, timeout_ms);
        return false;
      }
      const gint64 left = std::min<gint64>(deadline - now, 10000);
      p->drain_cond.wait_for(lk, std::chrono::microseconds(left));
    }
    return false;
  };
  auto engine_call = [&](const std::function<bool()> &f) {
    lk.unlock();
    bool r = f();
    lk.lock();
    return r;
  };
  GST_DEBUG_OBJECT(self, "EOS: draining (flushing %d, fatal %d)", p->in_flushing, p->fatal);
  if (sess) {
    engine_call([&] {
      sess->flush_audio();
      return true;
    });
    // 1. Everything we gave the session is on the wire.
    bool ok = wait_until_done("sending the input", [&] {
      return engine_call([&] {
        return sess->input_unsent_bytes() == 0 && sess->state() == rtc::SessionState::Ready;
      });
    });
    // 2. The server has processed it: session.update is answered in order, after the appends
    //    (a rejected update is answered too: update_acks() counts the error naming it).
    if (ok) {
      uint64_t acks = 0;
      engine_call([&] {
        acks = sess->update_acks();
        return true;
      });
      lk.unlock();
      apply_session_config(self);
      lk.lock();
      wait_until_done("the server's acknowledgement",
                      [&] { return engine_call([&] { return sess->update_acks() > acks; }); });
    }
  }
  // 3. A turn the server has not closed: commit it (and ask for the answer), even after a timeout
  //    above (the server may simply be slow; a commit of a dead session is harmless).
  const int64_t min_commit = rate / 10;  // the server refuses commits < 100 ms
  bool need_commit = sess && !p->in_flushing && !p->fatal &&
                     ((manual && p->samples_since_commit >= min_commit) || p->speech_active);
  // 4. ... with its own budget: drain-timeout again from here.
  deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  if (need_commit) {
    p->samples_since_commit = 0;
    p->last_turn_end_rt = p->timeline.end_running_time();
    if (create_response) begin_turn_wait_locked(p, deadline);
    lk.unlock();
    GST_INFO_OBJECT(self, "EOS: committing pending input%s", create_response ? " and requesting a response" : "");
    sess->commit();
    if (create_response) sess->create_response(nullptr);
    lk.lock();
  }
  // 4. The responses in progress (and the one requested above) complete.
  if (sess) {
    wait_until_done("the responses", [&] {
      bool pending = engine_call([&] { return sess->response_pending(); });
      // Transcriptions that never come are not waited for forever.
      gint64 now = g_get_monotonic_time();
      for (auto it = p->awaiting_transcripts.begin(); it != p->awaiting_transcripts.end();) {
        if (now - it->second > (gint64)(kCaptionPendingTimeout / GST_USECOND))
          it = p->awaiting_transcripts.erase(it);
        else
          ++it;
      }
      return !p->awaiting_turn && p->active_responses.empty() && !pending && p->awaiting_transcripts.empty();
    });
  }
  if (p->in_flushing) return;
  // Input the session never sent (not connected, or not proven read) is reported, never silent.
  if (sess && !p->fatal) {
    const int64_t bytes_per_second = (int64_t)p->in_rate * p->in_bpf;
    int64_t unsent = 0;
    rtc::SessionState st = rtc::SessionState::Idle;
    engine_call([&] {
      unsent = sess->input_unsent_bytes();
      st = sess->state();
      return true;
    });
    const std::string w = rtcgst::eos_unsent_warning_text(unsent, bytes_per_second, state_name(st));
    // Still connecting: the "connect" progress ends here (applications such as gst-launch-1.0 wait
    // for it before PLAYING, and would hold the EOS until the engine gives up).
    const bool connecting = st == rtc::SessionState::Connecting || st == rtc::SessionState::Configuring ||
                            st == rtc::SessionState::Reconnecting;
    if (!w.empty() || connecting) {
      lk.unlock();
      if (!w.empty())
        GST_ELEMENT_WARNING(self, RESOURCE, WRITE, ("%s", w.c_str()),
                            ("input_unsent_bytes %" G_GINT64_FORMAT " at EOS", unsent));
      if (connecting)
        gst_element_post_message(GST_ELEMENT(self),
                                 gst_message_new_progress(GST_OBJECT(self), GST_PROGRESS_TYPE_CANCELED, "connect",
                                                          "Input ended before the session connected"));
      lk.lock();
      if (p->in_flushing) return;
    }
  }
  end_turn_wait_locked(p);
  p->eos_queued = true;
  p->eos_end_rt = tmax(p->timeline.end_running_time(), p->origin_rt);
  if (!GST_CLOCK_TIME_IS_VALID(p->origin_rt) && GST_CLOCK_TIME_IS_VALID(p->eos_end_rt))
    set_origin_locked(p, p->eos_end_rt);
  if (!GST_CLOCK_TIME_IS_VALID(p->origin_rt)) set_origin_locked(p, 0);
  if (!p->out_segment_valid) {
    gst_segment_init(&p->out_segment, GST_FORMAT_TIME);
    p->out_segment_valid = true;
  }
  GST_DEBUG_OBJECT(self, "EOS: output ends at %" GST_TIME_FORMAT, GST_TIME_ARGS(p->eos_end_rt));
  wake_src_locked(p);
}

static void reset_output_locked(RtcPriv *p) {
  for (int i = 0; i < kNumPads; i++) {
    for (OutItem &o : p->q[i]) out_item_clear(o);
    p->q[i].clear();
    p->q_audio_ns = 0;
    p->pushed_end[i] = GST_CLOCK_TIME_NONE;
    p->need_segment[i] = true;
    p->need_discont[i] = true;
    p->need_initial_gap[i] = true;
    p->pad_segment_valid[i] = false;
  }
  for (OutItem &o : p->evq) out_item_clear(o);
  p->evq.clear();
  p->caption_hold_rt = GST_CLOCK_TIME_NONE;
  p->awaiting_resp_id.clear();
  p->origin_rt = GST_CLOCK_TIME_NONE;
  p->frontier = GST_CLOCK_TIME_NONE;
  p->eos_queued = p->eos_pushed = false;
  p->eos_end_rt = GST_CLOCK_TIME_NONE;
  for (auto &r : p->responses) r.second.dropped = true;  // late audio of old responses is not wanted
  p->items.clear();
  p->item_order.clear();
  p->pending_captions.clear();
  p->awaiting_transcripts.clear();
  p->active_responses.clear();
  p->awaiting_turn = false;
  p->speech_active = false;
  p->input_eos = false;
  p->samples_since_commit = 0;
  p->last_turn_end_rt = GST_CLOCK_TIME_NONE;
  p->srcresult = GST_FLOW_OK;
}

static void reset_all_locked(RtcPriv *p) {
  reset_output_locked(p);
  p->disconnected_wait = rtcgst::DisconnectedWait();
  p->responses.clear();
  p->resp_by_id.clear();
  p->spans.clear();
  p->span_order.clear();
  for (int i = 0; i < kNumPads; i++) {
    p->need_stream_start[i] = p->need_caps[i] = p->need_tags[i] = true;
  }
  p->have_caps = false;
  p->have_segment = false;
  p->out_segment_valid = false;
  p->live_known = false;
  p->upstream_live = false;
  p->answered_live = -1;
  p->pipeline_latency = GST_CLOCK_TIME_NONE;
  p->upstream_min = 0;
  p->upstream_max = GST_CLOCK_TIME_NONE;
  p->answered_calls.clear();
  p->fc_dispatching.clear();
  p->last_seek_seqnum = GST_SEQNUM_INVALID;
  p->gate.reset(rtcgst::TurnGate::Config{});
  p->gate_barrier_pending = false;
  p->fatal = false;
  p->group_id = 0;
  p->session_id.clear();
  p->max_observed_delay = 0;
  p->dropped_audio_samples = 0;
  p->inbox_dropped_bytes = 0;
  p->out_fmt_chosen = false;
  p->overflow_warned = false;
  for (int i = 0; i < kNumPads; i++) p->text_overflow_warned[i] = false;
  p->timeline.reset(p->timeline.rate());
}

static gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  GST_LOG_OBJECT(pad, "event %s", GST_EVENT_TYPE_NAME(event));
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_STREAM_START: {
      guint gid;
      std::lock_guard<std::mutex> g(p->lock);
      if (gst_event_parse_group_id(event, &gid) && p->group_id == 0) p->group_id = gid;
      gst_event_unref(event);
      return TRUE;
    }
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gst_event_parse_caps(event, &caps);
      rtc::AudioFormat f;
      if (!gst_caps_is_fixed(caps) || !fmt_from_structure(gst_caps_get_structure(caps, 0), &f)) {
        gst_event_unref(event);
        return FALSE;
      }
      gst_event_unref(event);
      {
        // Check-and-restart under the lifecycle mutex: the state-change thread may be starting
        // the session right now (it reads have_caps / in_fmt under the same mutex).
        std::lock_guard<std::mutex> lg(p->lifecycle_mutex);
        {
          std::lock_guard<std::mutex> g(p->lock);
          p->have_caps = true;
          p->in_fmt = f;
          p->in_rate = fmt_rate(f);
          p->in_bpf = fmt_bpf(f);
        }
        bool restart;
        {
          std::lock_guard<std::mutex> g(p->session_mutex);
          restart = p->session && p->session_in_fmt != f;
        }
        if (restart) {
          GST_INFO_OBJECT(self, "input format is %s: restarting the session with it", fmt_name(f));
          stop_session_locked(self);
          start_session_locked(self);
        }
      }
      query_upstream_latency(self);
      return TRUE;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment *seg;
      gst_event_parse_segment(event, &seg);
      {
        std::lock_guard<std::mutex> g(p->lock);
        if (seg->format == GST_FORMAT_TIME) {
          gst_segment_copy_into(seg, &p->in_segment);
          p->time_segment = true;
        } else {
          gst_segment_init(&p->in_segment, GST_FORMAT_TIME);
          p->time_segment = false;
        }
        p->have_segment = true;
        p->out_segment = p->in_segment;
        p->out_segment.stop = GST_CLOCK_TIME_NONE;  // responses may outlast the input
        p->out_segment.duration = GST_CLOCK_TIME_NONE;
        p->out_segment.position = p->out_segment.start;
        p->out_segment.rate = 1.0;
        p->out_segment_valid = true;
        for (int i = 0; i < kNumPads; i++) p->need_segment[i] = true;
        p->timeline.mark_discont();  // the next buffer may jump: take its timestamp as it is
        wake_src_locked(p);
      }
      gst_event_unref(event);
      query_upstream_latency(self);
      return TRUE;
    }
    case GST_EVENT_GAP: {
      GstClockTime ts, dur;
      gst_event_parse_gap(event, &ts, &dur);
      gst_event_unref(event);
      int64_t n;
      rtc::AudioFormat fmt;
      {
        std::lock_guard<std::mutex> g(p->lock);
        if (!p->have_caps) return TRUE;
        GstClockTime rt = GST_CLOCK_TIME_NONE;
        if (p->time_segment && GST_CLOCK_TIME_IS_VALID(ts)) {
          guint64 r = gst_segment_to_running_time(&p->in_segment, GST_FORMAT_TIME, ts);
          if (r != (guint64)-1) rt = r;
        }
        n = p->timeline.on_gap(rt, dur);
        if (p->gate.config().enabled) p->gate.on_silence(n);
        set_origin_locked(p, p->timeline.to_running_time(p->timeline.samples() - n));
        fmt = p->in_fmt;
      }
      GST_DEBUG_OBJECT(self, "GAP: %" G_GINT64_FORMAT " samples of silence to the session", n);
      push_silence_to_session(p, get_session(p), n, fmt);
      return TRUE;
    }
    case GST_EVENT_EOS:
      gst_event_unref(event);
      drain(self);
      return TRUE;
    case GST_EVENT_FLUSH_START: {
      {
        std::lock_guard<std::mutex> g(p->lock);
        p->in_flushing = true;
        p->src_flushing = true;
        wake_src_locked(p);
        p->drain_cond.notify_all();
      }
      for (int i = 0; i < kNumPads; i++) gst_pad_push_event(pad_of(self, i), gst_event_ref(event));
      gst_event_unref(event);
      gst_pad_pause_task(self->srcpad);
      if (auto sess = get_session(p)) {
        // Always cancel: a response may be starting that neither we nor the engine have seen yet
        // (the server answers response_cancel_not_active otherwise, a benign error).
        sess->cancel_response();
        clear_session_input(p, sess);
      }
      return TRUE;
    }
    case GST_EVENT_FLUSH_STOP: {
      for (int i = 0; i < kNumPads; i++) gst_pad_push_event(pad_of(self, i), gst_event_ref(event));
      gst_event_unref(event);
      {
        std::lock_guard<std::mutex> g(p->lock);
        reset_output_locked(p);
        gst_flow_combiner_reset(p->flow_combiner);
        p->timeline.mark_discont();
        p->in_flushing = false;
        p->src_flushing = false;
      }
      gst_pad_start_task(self->srcpad, src_loop, self, NULL);
      return TRUE;
    }
    case GST_EVENT_TAG:
    case GST_EVENT_SEGMENT_DONE:
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:
    case GST_EVENT_CUSTOM_BOTH: {
      // Forwarded on src by the streaming task, in order with the audio: at the input position
      // they arrived at (the response audio placed before it goes out first).
      std::lock_guard<std::mutex> g(p->lock);
      if (p->in_flushing) {
        gst_event_unref(event);
        return FALSE;
      }
      OutItem o;
      o.kind = OutItem::Event;
      o.event = event;
      o.rt = p->timeline.end_running_time();
      p->evq.push_back(std::move(o));
      wake_src_locked(p);
      return TRUE;
    }
    default:
      if (GST_EVENT_IS_SERIALIZED(event)) {
        GST_DEBUG_OBJECT(pad, "dropping serialized event %s", GST_EVENT_TYPE_NAME(event));
        gst_event_unref(event);
        return TRUE;
      }
      return gst_pad_event_default(pad, parent, event);
  }
}

// ---------------------------------------------------------------------------------------------
// Src pads: queries and upstream events
// ---------------------------------------------------------------------------------------------

static gboolean src_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_LATENCY: {
      GstQuery *up = gst_query_new_latency();
      gboolean ok = gst_pad_peer_query(self->sinkpad, up);
      gboolean live = FALSE;
      if (ok) {
        GstClockTime min, max;
        gst_query_parse_latency(up, &live, &min, &max);
        {
          std::lock_guard<std::mutex> g(p->lock);
          p->live_known = true;
          p->upstream_live = live;
          p->upstream_min = min;
          p->upstream_max = max;
        }
        if (live) {
          GstClockTime lat = latency_ns(p);
          {
            // Captions are pushed when transcribed; caption-latency (0 by default) declares the
            // time they may take so that live consumers wait for them.
            std::lock_guard<std::mutex> g(p->props_mutex);
            if (p->settings.caption_latency_ms > 0) lat += ms_to_ns(p->settings.caption_latency_ms);
          }
          min += lat;
          if (GST_CLOCK_TIME_IS_VALID(max)) max += lat;
        }
        GST_DEBUG_OBJECT(pad, "latency: live %d min %" GST_TIME_FORMAT " max %" GST_TIME_FORMAT, live,
                         GST_TIME_ARGS(min), GST_TIME_ARGS(max));
        gst_query_set_latency(query, live, min, max);
      }
      {
        std::lock_guard<std::mutex> g(p->lock);
        p->answered_live = ok ? (live ? 1 : 0) : -1;
      }
      gst_query_unref(up);
      return ok;
    }
    case GST_QUERY_CAPS: {
      GstCaps *filter, *caps;
      gst_query_parse_caps(query, &filter);
      if (pad == self->srcpad) {
        bool fixed;
        rtc::AudioFormat f;
        {
          std::lock_guard<std::mutex> g(p->session_mutex);
          fixed = p->session != nullptr;
          f = p->session_out_fmt;
        }
        caps = fixed ? fmt_caps(f) : gst_pad_get_pad_template_caps(pad);
      } else {
        caps = gst_pad_get_pad_template_caps(pad);
      }
      if (filter) {
        GstCaps *tmp = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(caps);
        caps = tmp;
      }
      gst_query_set_caps_result(query, caps);
      gst_caps_unref(caps);
      return TRUE;
    }
    default:
      return gst_pad_query_default(pad, parent, query);
  }
}

static gboolean src_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  GstRealtimeConv *self = GST_REALTIMECONV(parent);
  RtcPriv *p = self->priv;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_LATENCY: {
      GstClockTime lat;
      gst_event_parse_latency(event, &lat);
      {
        std::lock_guard<std::mutex> g(p->lock);
        p->pipeline_latency = lat;
      }
      GST_DEBUG_OBJECT(pad, "pipeline latency %" GST_TIME_FORMAT, GST_TIME_ARGS(lat));
      return gst_pad_push_event(self->sinkpad, event);
    }
    case GST_EVENT_SEEK: {
      guint32 seqnum = gst_event_get_seqnum(event);
      {
        std::lock_guard<std::mutex> g(p->lock);
        if (seqnum == p->last_seek_seqnum) {
          GST_DEBUG_OBJECT(pad, "seek %u already forwarded", seqnum);
          gst_event_unref(event);
          return TRUE;
        }
        p->last_seek_seqnum = seqnum;
      }
      return gst_pad_push_event(self->sinkpad, event);
    }
    case GST_EVENT_RECONFIGURE:
    case GST_EVENT_QOS:
    case GST_EVENT_NAVIGATION:
      gst_event_unref(event);
      return TRUE;
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

// ---------------------------------------------------------------------------------------------
// State changes
// ---------------------------------------------------------------------------------------------

static bool validate_settings(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::EngineConfig cfg;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    if (p->factory) return true;  // scripted session (unit tests)
  }
  cfg = build_engine_config(p, rtc::AudioFormat::PCM16, rtc::AudioFormat::PCM16);
  rtc::ResolvedEndpoint ep;
  std::string err;
  if (!rtc::resolve_endpoint(cfg.endpoint, &ep, &err)) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", err.c_str()), (NULL));
    return false;
  }
  GST_INFO_OBJECT(self, "endpoint %s (%s dialect%s)", ep.display_url.c_str(), rtc::dialect_name(ep.dialect),
                  ep.azure ? ", Azure" : "");
  if (!ep.has_credentials)
    GST_WARNING_OBJECT(self, "no credentials configured (api-key, bearer-token or the environment variables)");
  return true;
}

static gboolean gst_realtimeconv_set_clock(GstElement *element, GstClock *clock) {
  RtcPriv *p = GST_REALTIMECONV(element)->priv;
  {
    std::lock_guard<std::mutex> g(p->clock_mutex);
    if (p->clock) gst_object_unref(p->clock);
    p->clock = clock ? GST_CLOCK(gst_object_ref(clock)) : nullptr;
  }
  return GST_ELEMENT_CLASS(gst_realtimeconv_parent_class)->set_clock(element, clock);
}

static GstStateChangeReturn gst_realtimeconv_change_state(GstElement *element, GstStateChange transition) {
  GstRealtimeConv *self = GST_REALTIMECONV(element);
  RtcPriv *p = self->priv;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED: {
      if (!validate_settings(self)) return GST_STATE_CHANGE_FAILURE;
      {
        std::lock_guard<std::mutex> g(p->lock);
        reset_all_locked(p);
        p->in_flushing = false;
        gst_flow_combiner_reset(p->flow_combiner);
      }
      start_ctl_task(self);
      {
        GstPad *pads[kNumPads] = {pad_of(self, 0), pad_of(self, 1), pad_of(self, 2)};
        p->preroll_timer = rtcgst::preroll_watch_start(element, &p->preroll_watch, pads, kNumPads);
      }
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING: {
      GstClock *clock = gst_element_get_clock(element);
      GstClockTime base = gst_element_get_base_time(element);
      {
        std::lock_guard<std::mutex> g(p->clock_mutex);
        if (clock) {
          if (p->clock) gst_object_unref(p->clock);
          p->clock = clock;
        }
        p->base_time = base;
        p->playing = true;
      }
      std::lock_guard<std::mutex> g(p->lock);
      wake_src_locked(p);
      break;
    }
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED: {
      {
        std::lock_guard<std::mutex> g(p->clock_mutex);
        p->playing = false;
      }
      std::lock_guard<std::mutex> g(p->lock);
      // The sinks downstream have gone to PAUSED (ASYNC) and preroll on their next buffer or GAP:
      // a sparse pad (captions held, no transcript) may have none for seconds, so each pad gets
      // a zero-length GAP at the end of what it pushed (preroll_gaps, or the src task).
      for (int i = 0; i < kNumPads; i++) p->need_initial_gap[i] = true;
      wake_src_locked(p);
      gst_element_call_async(element, preroll_gaps, NULL, NULL);
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_READY: {
      rtcgst::preroll_watch_stop(&p->preroll_timer);
      std::lock_guard<std::mutex> g(p->lock);
      p->in_flushing = true;
      p->src_flushing = true;
      wake_src_locked(p);
      p->drain_cond.notify_all();
      break;
    }
    default:
      break;
  }

  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_realtimeconv_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
      stop_ctl_task(self);
      rtcgst::preroll_watch_stop(&p->preroll_timer);
    }
    return ret;
  }

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      gst_element_post_message(element, gst_message_new_progress(GST_OBJECT(self), GST_PROGRESS_TYPE_START,
                                                                 "connect", "Connecting to the Realtime endpoint"));
      start_session(self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY: {
      bool was_connecting = false;
      if (auto sess = get_session(p)) {
        rtc::SessionState st = sess->state();
        was_connecting = st == rtc::SessionState::Connecting || st == rtc::SessionState::Configuring ||
                         st == rtc::SessionState::Reconnecting;
      }
      stop_session(self);
      stop_ctl_task(self);
      if (was_connecting)
        gst_element_post_message(element, gst_message_new_progress(GST_OBJECT(self), GST_PROGRESS_TYPE_CANCELED,
                                                                   "connect", "Connection canceled"));
      {
        std::lock_guard<std::mutex> g(p->clock_mutex);
        p->playing = false;
      }
      std::lock_guard<std::mutex> g(p->lock);
      reset_all_locked(p);
      break;
    }
    default:
      break;
  }
  return ret;
}

// ---------------------------------------------------------------------------------------------
// Action signals
// ---------------------------------------------------------------------------------------------

static std::shared_ptr<rtcgst::SessionPort> session_for_action(GstRealtimeConv *self, const char *what) {
  auto sess = get_session(self->priv);
  if (!sess) GST_WARNING_OBJECT(self, "%s: no session (the element is not in PAUSED or PLAYING)", what);
  return sess;
}

// The next response is placed (non-live) at the current input position.
static void mark_turn_end(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  std::lock_guard<std::mutex> g(p->lock);
  GstClockTime e = p->timeline.end_running_time();
  if (GST_CLOCK_TIME_IS_VALID(e)) p->last_turn_end_rt = e;
}

static void action_commit(GstRealtimeConv *self) {
  auto sess = session_for_action(self, "commit");
  if (!sess) return;
  {
    std::lock_guard<std::mutex> g(self->priv->lock);
    self->priv->samples_since_commit = 0;
  }
  mark_turn_end(self);
  sess->commit();
}

static void action_clear(GstRealtimeConv *self) {
  auto sess = session_for_action(self, "clear");
  if (!sess) return;
  {
    std::lock_guard<std::mutex> g(self->priv->lock);
    self->priv->samples_since_commit = 0;
  }
  clear_session_input(self->priv, sess);
}

static void action_create_response(GstRealtimeConv *self, const gchar *instructions) {
  auto sess = session_for_action(self, "create-response");
  if (!sess) return;
  mark_turn_end(self);
  if (instructions && *instructions) {
    rtc::ResponseParams params;
    params.instructions = std::string(instructions);
    sess->create_response(&params);
  } else {
    sess->create_response(nullptr);
  }
}

static void action_cancel_response(GstRealtimeConv *self) {
  auto sess = session_for_action(self, "cancel-response");
  if (sess) sess->cancel_response();
}

static void action_send_text(GstRealtimeConv *self, const gchar *text) {
  if (!text || !*text) return;
  auto sess = session_for_action(self, "send-text");
  if (!sess) return;
  mark_turn_end(self);
  sess->send_text(text, true);
}

static void action_function_output(GstRealtimeConv *self, const gchar *call_id, const gchar *output) {
  if (!call_id || !*call_id) {
    GST_WARNING_OBJECT(self, "function-output without a call id: ignored");
    return;
  }
  auto sess = session_for_action(self, "function-output");
  if (!sess) return;
  bool follow_up;
  {
    RtcPriv *p = self->priv;
    std::lock_guard<std::mutex> g(p->lock);
    if ((p->fc_dispatching == call_id || p->awaiting_calls.count(call_id)) && p->answered_calls.size() < 64)
      p->answered_calls.insert(call_id);
    // The answer to a call of the turn being waited for belongs to that turn: it stays anchored
    // where the user stopped speaking (non-live), not where the input is now.
    follow_up = p->awaiting_turn;
  }
  if (!follow_up) mark_turn_end(self);
  sess->function_output(call_id, output ? output : "", true);
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

static GstStructure *stats_structure(GstRealtimeConv *self) {
  RtcPriv *p = self->priv;
  rtc::SessionStats st;
  if (auto sess = get_session(p)) st = sess->stats();
  GstClockTime max_delay;
  guint64 dropped;
  int out_rate;
  {
    std::lock_guard<std::mutex> g(p->lock);
    max_delay = p->max_observed_delay;
    dropped = p->dropped_audio_samples;
    out_rate = p->out_rate;
  }
  // Plus what the inbox dropped (bytes -> samples).
  const int bps = std::max(1, p->inbox_bytes_per_sec.load());
  dropped += gst_util_uint64_scale_int(p->inbox_dropped_bytes.load(), out_rate, bps);
  GstStructure *s = gst_structure_new(
      "realtimeconv/stats", "state", G_TYPE_STRING, state_name(st.state), "session-id", G_TYPE_STRING,
      st.session_id.c_str(), "model", G_TYPE_STRING, st.model.c_str(), "expires-at", G_TYPE_INT64,
      (gint64)st.expires_at, "connects", G_TYPE_UINT64, (guint64)st.connects, "reconnects", G_TYPE_UINT64,
      (guint64)st.reconnects, "renewals", G_TYPE_UINT64, (guint64)st.renewals, "events-in", G_TYPE_UINT64,
      (guint64)st.events_in, "events-out", G_TYPE_UINT64, (guint64)st.events_out, "audio-bytes-sent",
      G_TYPE_UINT64, (guint64)st.audio_bytes_sent, "audio-bytes-received", G_TYPE_UINT64,
      (guint64)st.audio_bytes_received, "audio-ms-sent", G_TYPE_DOUBLE, st.audio_ms_sent, "audio-ms-received",
      G_TYPE_DOUBLE, st.audio_ms_received, "input-ms-dropped", G_TYPE_UINT64, (guint64)st.input_ms_dropped,
      "responses-completed", G_TYPE_UINT64, (guint64)st.responses_completed, "responses-cancelled", G_TYPE_UINT64,
      (guint64)st.responses_cancelled, "responses-failed", G_TYPE_UINT64, (guint64)st.responses_failed,
      "responses-incomplete", G_TYPE_UINT64, (guint64)st.responses_incomplete, "total-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.total_tokens, "input-tokens", G_TYPE_INT64, (gint64)st.usage_total.input_tokens,
      "output-tokens", G_TYPE_INT64, (gint64)st.usage_total.output_tokens, "input-audio-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.input_audio_tokens, "output-audio-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.output_audio_tokens, "input-cached-tokens", G_TYPE_INT64,
      (gint64)st.usage_total.input_cached_tokens, "time-to-first-audio-last", G_TYPE_INT64,
      (gint64)(st.ttfa.last_us >= 0 ? st.ttfa.last_us * 1000 : -1), "time-to-first-audio-mean", G_TYPE_INT64,
      (gint64)(st.ttfa.count ? (gint64)(st.ttfa.mean_us * 1000) : -1), "time-to-first-audio-max", G_TYPE_INT64,
      (gint64)(st.ttfa.max_us >= 0 ? st.ttfa.max_us * 1000 : -1), "responses-timed", G_TYPE_UINT64,
      (guint64)st.ttfa.count, "parse-errors", G_TYPE_UINT64, (guint64)st.parse_errors, "server-errors",
      G_TYPE_UINT64, (guint64)st.server_errors, "max-observed-delay", G_TYPE_UINT64, (guint64)max_delay,
      "output-audio-dropped", G_TYPE_UINT64,
      (guint64)gst_util_uint64_scale_int(dropped, GST_SECOND, out_rate), NULL);
  for (const rtc::RateLimit &rl : st.rate_limits) {
    std::string n = "rate-limit-" + (rl.name.empty() ? std::string("unknown") : rl.name);
    gst_structure_set(s, (n + "-remaining").c_str(), G_TYPE_DOUBLE, rl.remaining, (n + "-limit").c_str(),
                      G_TYPE_DOUBLE, rl.limit, NULL);
  }
  return s;
}

static const char *str_or_empty(const GValue *v) {
  const char *s = g_value_get_string(v);
  return s ? s : "";
}

static void gst_realtimeconv_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec) {
  GstRealtimeConv *self = GST_REALTIMECONV(object);
  RtcPriv *p = self->priv;
  enum { None, Session, Engine } apply = None;
  {
    std::lock_guard<std::mutex> g(p->props_mutex);
    Settings &s = p->settings;
    if (rtcgst::conn_props_set(&s.conn, PROP_CONN_FIRST, prop_id, value)) apply = Engine;
    else switch (prop_id) {
      case PROP_INSTRUCTIONS: s.instructions = str_or_empty(value); apply = Session; break;
      case PROP_VOICE: s.voice = str_or_empty(value); apply = Session; break;
      case PROP_OUTPUT_MODALITIES: s.modality = g_value_get_enum(value); apply = Session; break;
      case PROP_TURN_DETECTION: s.turn_detection = g_value_get_enum(value); apply = Session; break;
      case PROP_VAD_THRESHOLD: s.vad_threshold = g_value_get_double(value); apply = Session; break;
      case PROP_PREFIX_PADDING_MS: s.prefix_padding_ms = g_value_get_int(value); apply = Session; break;
      case PROP_SILENCE_DURATION_MS: s.silence_duration_ms = g_value_get_int(value); apply = Session; break;
      case PROP_VAD_EAGERNESS: s.eagerness = g_value_get_enum(value); apply = Session; break;
      case PROP_CREATE_RESPONSE: s.create_response = g_value_get_boolean(value); apply = Session; break;
      case PROP_INTERRUPT_RESPONSE: s.interrupt_response = g_value_get_boolean(value); apply = Session; break;
      case PROP_INPUT_TRANSCRIPTION_MODEL: s.transcription_model = str_or_empty(value); apply = Session; break;
      case PROP_TRANSCRIPTION_LANGUAGE: s.transcription_language = str_or_empty(value); apply = Session; break;
      case PROP_TRANSCRIPTION_PROMPT: s.transcription_prompt = str_or_empty(value); apply = Session; break;
      case PROP_NOISE_REDUCTION: s.noise_reduction = g_value_get_enum(value); apply = Session; break;
      case PROP_TOOLS: {
        // Invalid JSON is refused at set time: the old value is kept (issue 12 #4).
        const std::string v = str_or_empty(value);
        std::string err, clean;
        std::map<std::string, std::string> results;
        if (!v.empty() && !split_tools(v, &clean, &results, &err)) {
          g_warning("property 'tools' refused, it is not a valid JSON array of tools (%s); the previous "
                    "value is kept", err.c_str());
          return;
        }
        s.tools = v;
        p->tools_clean = clean;
        p->tool_results = std::move(results);
        apply = Session;
        break;
      }
      case PROP_TOOL_CHOICE: {
        const std::string v = str_or_empty(value);
        std::string err;
        if (!v.empty() && (v[0] == '{' || v[0] == '"') &&
            !json_value_ok(v, JSON_NODE_OBJECT, JSON_NODE_VALUE, &err)) {
          g_warning("property 'tool-choice' refused (%s); the previous value is kept", err.c_str());
          return;
        }
        s.tool_choice = v;
        apply = Session;
        break;
      }
      case PROP_TEMPERATURE: s.temperature = g_value_get_double(value); apply = Session; break;
      case PROP_MAX_OUTPUT_TOKENS: s.max_output_tokens = g_value_get_int(value); apply = Session; break;
      case PROP_SPEED: s.speed = g_value_get_double(value); apply = Session; break;
      case PROP_SESSION_CONFIG: {
        const std::string v = str_or_empty(value);
        std::string err;
        if (!json_value_ok(v, JSON_NODE_OBJECT, JSON_NODE_OBJECT, &err)) {
          g_warning("property 'session-config' refused, it must be a JSON object (%s); the previous "
                    "value is kept", err.c_str());
          return;
        }
        s.session_config = v;
        apply = Session;
        break;
      }
      case PROP_CHUNK_DURATION: s.chunk_ms = g_value_get_int(value); apply = Engine; break;
      case PROP_LATENCY: s.latency_ms = g_value_get_int(value); break;
      case PROP_SILENCE_FILL: s.silence_fill = g_value_get_enum(value); break;
      case PROP_BARGE_IN: s.barge_in = g_value_get_boolean(value); break;
      case PROP_DRAIN_TIMEOUT: s.drain_timeout_ms = g_value_get_int(value); break;
      case PROP_CAPTION_LATENCY: s.caption_latency_ms = g_value_get_int(value); break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        return;
    }
  }
  if (prop_id == PROP_LATENCY || prop_id == PROP_CAPTION_LATENCY)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
  if (apply == Session)
    apply_session_config(self);
  else if (apply == Engine)
    apply_engine_config(self);
}

static void gst_realtimeconv_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec) {
  GstRealtimeConv *self = GST_REALTIMECONV(object);
  RtcPriv *p = self->priv;
  switch (prop_id) {
    case PROP_STATS:
      g_value_take_boxed(value, stats_structure(self));
      return;
    case PROP_SESSION_ID: {
      std::lock_guard<std::mutex> g(p->lock);
      g_value_set_string(value, p->session_id.c_str());
      return;
    }
    case PROP_MAX_OBSERVED_DELAY: {
      std::lock_guard<std::mutex> g(p->lock);
      g_value_set_uint(value, (guint)(p->max_observed_delay / GST_MSECOND));
      return;
    }
    default:
      break;
  }
  std::lock_guard<std::mutex> g(p->props_mutex);
  const Settings &s = p->settings;
  if (rtcgst::conn_props_get(s.conn, PROP_CONN_FIRST, prop_id, value)) return;
  switch (prop_id) {
    case PROP_INSTRUCTIONS: g_value_set_string(value, s.instructions.c_str()); break;
    case PROP_VOICE: g_value_set_string(value, s.voice.c_str()); break;
    case PROP_OUTPUT_MODALITIES: g_value_set_enum(value, s.modality); break;
    case PROP_TURN_DETECTION: g_value_set_enum(value, s.turn_detection); break;
    case PROP_VAD_THRESHOLD: g_value_set_double(value, s.vad_threshold); break;
    case PROP_PREFIX_PADDING_MS: g_value_set_int(value, s.prefix_padding_ms); break;
    case PROP_SILENCE_DURATION_MS: g_value_set_int(value, s.silence_duration_ms); break;
    case PROP_VAD_EAGERNESS: g_value_set_enum(value, s.eagerness); break;
    case PROP_CREATE_RESPONSE: g_value_set_boolean(value, s.create_response); break;
    case PROP_INTERRUPT_RESPONSE: g_value_set_boolean(value, s.interrupt_response); break;
    case PROP_INPUT_TRANSCRIPTION_MODEL: g_value_set_string(value, s.transcription_model.c_str()); break;
    case PROP_TRANSCRIPTION_LANGUAGE: g_value_set_string(value, s.transcription_language.c_str()); break;
    case PROP_TRANSCRIPTION_PROMPT: g_value_set_string(value, s.transcription_prompt.c_str()); break;
    case PROP_NOISE_REDUCTION: g_value_set_enum(value, s.noise_reduction); break;
    case PROP_TOOLS: g_value_set_string(value, s.tools.c_str()); break;
    case PROP_TOOL_CHOICE: g_value_set_string(value, s.tool_choice.c_str()); break;
    case PROP_TEMPERATURE: g_value_set_double(value, s.temperature); break;
    case PROP_MAX_OUTPUT_TOKENS: g_value_set_int(value, s.max_output_tokens); break;
    case PROP_SPEED: g_value_set_double(value, s.speed); break;
    case PROP_SESSION_CONFIG: g_value_set_string(value, s.session_config.c_str()); break;
    case PROP_CHUNK_DURATION: g_value_set_int(value, s.chunk_ms); break;
    case PROP_LATENCY: g_value_set_int(value, s.latency_ms); break;
    case PROP_SILENCE_FILL: g_value_set_enum(value, s.silence_fill); break;
    case PROP_BARGE_IN: g_value_set_boolean(value, s.barge_in); break;
    case PROP_DRAIN_TIMEOUT: g_value_set_int(value, s.drain_timeout_ms); break;
    case PROP_CAPTION_LATENCY: g_value_set_int(value, s.caption_latency_ms); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// GObject boilerplate
// ---------------------------------------------------------------------------------------------

static void gst_realtimeconv_finalize(GObject *object) {
  GstRealtimeConv *self = GST_REALTIMECONV(object);
  RtcPriv *p = self->priv;
  stop_session(self);
  if (p->ctl_task) {
    stop_ctl_task(self);
    gst_object_unref(p->ctl_task);
  }
  g_rec_mutex_clear(&p->ctl_task_lock);
  {
    std::lock_guard<std::mutex> g(p->lock);
    reset_all_locked(p);
  }
  if (p->flow_combiner) gst_flow_combiner_free(p->flow_combiner);
  if (p->clock) gst_object_unref(p->clock);
  delete p;
  self->priv = nullptr;
  G_OBJECT_CLASS(gst_realtimeconv_parent_class)->finalize(object);
}

#define SESS_FLAGS (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)
#define RO_FLAGS (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)

static void gst_realtimeconv_class_init(GstRealtimeConvClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(gst_realtimeconv_debug, "realtimeconv", 0, "Realtime API speech-to-speech");
  GST_DEBUG_CATEGORY_INIT(gst_realtimeconv_engine_debug, "realtimeconv-engine", 0,
                          "Realtime session engine (WebSocket, reconnection)");

  gobject_class->set_property = gst_realtimeconv_set_property;
  gobject_class->get_property = gst_realtimeconv_get_property;
  gobject_class->finalize = gst_realtimeconv_finalize;
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_realtimeconv_change_state);
  element_class->set_clock = GST_DEBUG_FUNCPTR(gst_realtimeconv_set_clock);

  // Connection (used from the next connect on; set them in READY): shared by every element.
  rtcgst::conn_props_install(gobject_class, PROP_CONN_FIRST);

  // Session (sent with session.update, also while playing).
  g_object_class_install_property(gobject_class, PROP_INSTRUCTIONS,
      g_param_spec_string("instructions", "Instructions", "System instructions (empty: the server default)", NULL,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_VOICE,
      g_param_spec_string("voice", "Voice",
          "Voice: alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar (empty: server default; "
          "fixed once audio was produced)",
          NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_OUTPUT_MODALITIES,
      g_param_spec_enum("output-modalities", "Output modalities", "What the responses contain",
          GST_TYPE_REALTIMECONV_MODALITY, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TURN_DETECTION,
      g_param_spec_enum("turn-detection", "Turn detection", "How the end of the user's turn is detected",
          GST_TYPE_REALTIMECONV_TURN_DETECTION, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_VAD_THRESHOLD,
      g_param_spec_double("vad-threshold", "VAD threshold", "server-vad activation threshold (higher: louder speech)",
          0.0, 1.0, DEFAULT_VAD_THRESHOLD, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_PREFIX_PADDING_MS,
      g_param_spec_int("prefix-padding-ms", "Prefix padding", "server-vad: audio kept before detected speech (ms)",
          0, 10000, DEFAULT_PREFIX_PADDING_MS, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_SILENCE_DURATION_MS,
      g_param_spec_int("silence-duration-ms", "Silence duration", "server-vad: silence that ends a turn (ms)", 0,
          10000, DEFAULT_SILENCE_DURATION_MS, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_VAD_EAGERNESS,
      g_param_spec_enum("vad-eagerness", "VAD eagerness", "semantic-vad: how eagerly the model ends a turn",
          GST_TYPE_REALTIMECONV_EAGERNESS, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_CREATE_RESPONSE,
      g_param_spec_boolean("create-response", "Create response",
          "Respond automatically at the end of each detected turn (and at EOS after committing pending input)", TRUE,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_INTERRUPT_RESPONSE,
      g_param_spec_boolean("interrupt-response", "Interrupt response",
          "The server cancels the active response when the user starts speaking", TRUE, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_INPUT_TRANSCRIPTION_MODEL,
      g_param_spec_string("input-transcription-model", "Input transcription model",
          "Model transcribing the incoming speech for input_transcript_src (whisper-1, gpt-4o-transcribe, ...; "
          "empty = off)",
          DEFAULT_TRANSCRIPTION_MODEL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TRANSCRIPTION_LANGUAGE,
      g_param_spec_string("transcription-language", "Transcription language",
          "ISO-639-1 language of the incoming speech (empty: detect); also tagged on input_transcript_src", NULL,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TRANSCRIPTION_PROMPT,
      g_param_spec_string("transcription-prompt", "Transcription prompt",
          "Prompt / keywords for the input transcription (empty: none)", NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_NOISE_REDUCTION,
      g_param_spec_enum("noise-reduction", "Noise reduction", "Input noise reduction",
          GST_TYPE_REALTIMECONV_NOISE_REDUCTION, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TOOLS,
      g_param_spec_string("tools", "Tools",
          "JSON array of function tools {type, name, description, parameters}; a non-standard \"result\" member "
          "gives a static answer used when no function-call handler answers (empty: none)",
          NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TOOL_CHOICE,
      g_param_spec_string("tool-choice", "Tool choice",
          "auto, none, required, a function name, or a JSON object (empty: server default)", NULL, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_TEMPERATURE,
      g_param_spec_double("temperature", "Temperature", "Sampling temperature (preview protocol only)", 0.6, 1.2,
          DEFAULT_TEMPERATURE, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_MAX_OUTPUT_TOKENS,
      g_param_spec_int("max-output-tokens", "Max output tokens", "Maximum tokens per response (0 = unlimited)", 0,
          4096, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_SPEED,
      g_param_spec_double("speed", "Speed", "Speaking speed (changes apply between turns)", 0.25, 1.5, DEFAULT_SPEED,
          SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_SESSION_CONFIG,
      g_param_spec_string("session-config", "Session config",
          "JSON object merged last into the session of session.update (fields not modelled by properties)", NULL,
          SESS_FLAGS));

  // Behaviour.
  g_object_class_install_property(gobject_class, PROP_CHUNK_DURATION,
      g_param_spec_int("chunk-duration", "Chunk duration",
          "Duration of the input audio sent per input_audio_buffer.append (ms)", 10, 1000, DEFAULT_CHUNK_DURATION,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(gobject_class, PROP_LATENCY,
      g_param_spec_int("latency", "Latency",
          "Output latency budget when upstream is live (ms): added to the LATENCY query; response audio arriving "
          "later than this is late",
          0, 10000, DEFAULT_LATENCY, (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(gobject_class, PROP_CAPTION_LATENCY,
      g_param_spec_int("caption-latency", "Caption latency",
          "Live upstream: time allowed for the transcription of the incoming speech (ms). Added to the LATENCY "
          "query when > 0, and input_transcript_src is kept this far behind src, so captions are on time for "
          "live consumers; 0: captions are pushed when transcribed (late by the transcription time)",
          0, 60000, DEFAULT_CAPTION_LATENCY,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(gobject_class, PROP_SILENCE_FILL,
      g_param_spec_enum("silence-fill", "Silence fill", "What fills src between responses",
          GST_TYPE_REALTIMECONV_SILENCE_FILL, 0, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_BARGE_IN,
      g_param_spec_boolean("barge-in", "Barge-in",
          "Live input: when the user starts speaking, drop the assistant's unplayed audio and truncate the "
          "server's copy at what was pushed (at most 70 ms beyond what was played). Files never cut a reply",
          TRUE, SESS_FLAGS));
  g_object_class_install_property(gobject_class, PROP_DRAIN_TIMEOUT,
      g_param_spec_int("drain-timeout", "Drain timeout",
          "At EOS (and after each turn when not live), how long to wait for responses in progress (ms)", 0, 600000,
          DEFAULT_DRAIN_TIMEOUT, SESS_FLAGS));

  // Read-only.
  g_object_class_install_property(gobject_class, PROP_SESSION_ID,
      g_param_spec_string("session-id", "Session id", "Id of the current server session (empty: none)", NULL,
          RO_FLAGS));
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
          "Session statistics: connects, audio sent/received, responses, token usage, time-to-first-audio (ns), "
          "rate limits, max-observed-delay",
          GST_TYPE_STRUCTURE, RO_FLAGS));
  g_object_class_install_property(gobject_class, PROP_MAX_OBSERVED_DELAY,
      g_param_spec_uint("max-observed-delay", "Max observed delay",
          "Largest lateness of response audio seen when live (ms); above latency means late output", 0, G_MAXUINT, 0,
          RO_FLAGS));

  signals[SIGNAL_COMMIT] = g_signal_new_class_handler("commit", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_commit), NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_CLEAR] = g_signal_new_class_handler("clear", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_clear), NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_CREATE_RESPONSE] = g_signal_new_class_handler("create-response", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_create_response), NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_CANCEL_RESPONSE] = g_signal_new_class_handler("cancel-response", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_cancel_response), NULL, NULL, NULL,
      G_TYPE_NONE, 0);
  signals[SIGNAL_SEND_TEXT] = g_signal_new_class_handler("send-text", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_send_text), NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_FUNCTION_OUTPUT] = g_signal_new_class_handler("function-output", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_function_output), NULL, NULL, NULL,
      G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_FUNCTION_CALL] = g_signal_new("function-call", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
      g_signal_accumulator_true_handled, NULL, NULL, G_TYPE_BOOLEAN, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_add_static_pad_template(element_class, &transcript_src_template);
  gst_element_class_add_static_pad_template(element_class, &input_transcript_src_template);
  gst_element_class_set_static_metadata(
      element_class, "Realtime API speech-to-speech", "Filter/Audio/Network",
      "Sends audio to an OpenAI / Azure OpenAI Realtime session and outputs the synthesized speech "
      "(src) and the transcripts of both sides (transcript_src, input_transcript_src). Element messages: "
      "realtimeconv/session, speech-started, speech-stopped, input-transcript, transcript, response-done, "
      "function-call, rate-limits, truncated, reconnecting, reconnected, server-error, late",
      "gst-realtimeconv developers <dev@gst-realtimeconv.invalid>");

  gst_type_mark_as_plugin_api(rtcgst::rtc_protocol_get_type(), (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_REALTIMECONV_MODALITY, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_REALTIMECONV_TURN_DETECTION, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_REALTIMECONV_EAGERNESS, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_REALTIMECONV_NOISE_REDUCTION, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_REALTIMECONV_SILENCE_FILL, (GstPluginAPIFlags)0);
  (void)gst_realtime_conv_meta_get_info();
}

static void gst_realtimeconv_init(GstRealtimeConv *self) {
  RtcPriv *p = new RtcPriv();
  self->priv = p;
  gst_segment_init(&p->in_segment, GST_FORMAT_TIME);
  gst_segment_init(&p->out_segment, GST_FORMAT_TIME);
  g_rec_mutex_init(&p->ctl_task_lock);
  p->ctl_task = gst_task_new(ctl_loop, self, NULL);
  gst_object_set_name(GST_OBJECT(p->ctl_task), "rtc-ctl");
  gst_task_set_lock(p->ctl_task, &p->ctl_task_lock);

  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, GST_DEBUG_FUNCPTR(sink_chain));
  gst_pad_set_event_function(self->sinkpad, GST_DEBUG_FUNCPTR(sink_event));
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  self->transcript_srcpad = gst_pad_new_from_static_template(&transcript_src_template, "transcript_src");
  self->input_transcript_srcpad =
      gst_pad_new_from_static_template(&input_transcript_src_template, "input_transcript_src");
  p->flow_combiner = gst_flow_combiner_new();
  for (GstPad *pad : {self->srcpad, self->transcript_srcpad, self->input_transcript_srcpad}) {
    gst_pad_set_query_function(pad, GST_DEBUG_FUNCPTR(src_query));
    gst_pad_set_event_function(pad, GST_DEBUG_FUNCPTR(src_event));
    gst_pad_use_fixed_caps(pad);
    gst_element_add_pad(GST_ELEMENT(self), pad);
    gst_flow_combiner_add_pad(p->flow_combiner, pad);
  }
  gst_pad_set_activatemode_function(self->srcpad, GST_DEBUG_FUNCPTR(src_activate_mode));
}

// ---------------------------------------------------------------------------------------------
// Internal API (tests)
// ---------------------------------------------------------------------------------------------

void gst_realtimeconv_set_session_factory(GstElement *element, rtcgst::SessionFactory factory) {
  g_return_if_fail(GST_IS_REALTIMECONV(element));
  RtcPriv *p = GST_REALTIMECONV(element)->priv;
  std::lock_guard<std::mutex> g(p->props_mutex);
  p->factory = std::move(factory);
}

const char *gst_realtimeconv_waiting_for(GstElement *element, guint64 *checks) {
  g_return_val_if_fail(GST_IS_REALTIMECONV(element), nullptr);
  RtcPriv *p = GST_REALTIMECONV(element)->priv;
  if (checks) *checks = p->wait_checks.load();
  return p->waiting_for.load();
}

guint gst_realtimeconv_pending_notifications(GstElement *element) {
  g_return_val_if_fail(GST_IS_REALTIMECONV(element), 0);
  return GST_REALTIMECONV(element)->priv->pending.load();
}
