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
 * running time at which its first delta arrived, then contiguously, and pushed in 40 ms pieces no
 * further ahead of its play time (timestamp + pipeline latency) than a lead of `latency / 4`
 * (20 to 50 ms; 50 ms at the default 200 ms), or in pieces of half #GstRealtimeConv:push-ahead,
 * each half of it ahead, when that is set: the src task waits on the pipeline clock for each
 * piece, so at a barge-in the unplayed rest is still in the element (docs/timing.md). A delta
 * that arrives more than #GstRealtimeConv:latency after its timestamp is late:
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
 * pushed at most the lead (plus one piece) ahead of its play time, so everything pushed is
 * rendered and the model is told what the listener hears; it exceeds what the pipeline clock says
 * was played when speech_started arrived by at most #GstRealtimeConv:push-ahead (`ahead-ms`; 90 ms
 * at the defaults: a 50 ms lead and 40 ms pieces). A larger push-ahead trades that bound for a
 * margin on busy machines: see docs/timing.md. `response.cancel` is sent
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
 * realtimeconv/session, speech-started, speech-stopped, input-transcript, transcript,
 * response-done, function-call, rate-limits, truncated, reconnecting, reconnected, server-error,
 * late: their fields are listed in one place, gst/gstrealtimeconv-messages.h.
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

#include "gstrealtimeconv-conversation.h"
#include "gstrealtimeconv-input.h"
#include "gstrealtimeconv-internal.h"
#include "gstrealtimeconv-messages.h"
#include "gstrealtimeconv-props.h"
#include "rtcenginebridge.h"
#include "rtcsrcpusher.h"

GST_DEBUG_CATEGORY(gst_realtimeconv_debug);
GST_DEBUG_CATEGORY(gst_realtimeconv_engine_debug);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_AUDIO_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_AUDIO_CAPS));
static GstStaticPadTemplate transcript_src_template = GST_STATIC_PAD_TEMPLATE(
    "transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_TEXT_CAPS));
static GstStaticPadTemplate input_transcript_src_template =
    GST_STATIC_PAD_TEMPLATE("input_transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_TEXT_CAPS));

guint gst_realtimeconv_signals[LAST_SIGNAL];

G_DEFINE_TYPE(GstRealtimeConv, gst_realtimeconv, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(realtimeconv, "realtimeconv", GST_RANK_NONE, GST_TYPE_REALTIMECONV)

// ---------------------------------------------------------------------------------------------
// State reset
// ---------------------------------------------------------------------------------------------

void reset_output_locked(RtcPriv *p) {
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
  for (auto &r : p->st.responses) r.second.dropped = true;  // late audio of old responses is not wanted
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

// The one full reset (READY->PAUSED, PAUSED->READY, finalize): the output (as at a flush), the
// per-stream state as a whole, and the few fields owned elsewhere (inbox counter, output format
// choice, input timeline).
void reset_all_locked(RtcPriv *p) {
  reset_output_locked(p);
  p->st = StreamState{};
  p->st.gate.reset(rtcgst::TurnGate::Config{});  // (as the gate was reset before: frame length of the default rate)
  p->inbox_dropped_bytes = 0;
  p->out_fmt_chosen = false;
  p->timeline.reset(p->timeline.rate());
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
          p->st.live_known = true;
          p->st.upstream_live = live;
          p->st.upstream_min = min;
          p->st.upstream_max = max;
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
        p->st.answered_live = ok ? (live ? 1 : 0) : -1;
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
        p->st.pipeline_latency = lat;
      }
      GST_DEBUG_OBJECT(pad, "pipeline latency %" GST_TIME_FORMAT, GST_TIME_ARGS(lat));
      return gst_pad_push_event(self->sinkpad, event);
    }
    case GST_EVENT_SEEK: {
      guint32 seqnum = gst_event_get_seqnum(event);
      {
        std::lock_guard<std::mutex> g(p->lock);
        if (seqnum == p->st.last_seek_seqnum) {
          GST_DEBUG_OBJECT(pad, "seek %u already forwarded", seqnum);
          gst_event_unref(event);
          return TRUE;
        }
        p->st.last_seek_seqnum = seqnum;
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

// The preroll watch (docs/reliability.md "Preroll watch") runs while the element is READY->PAUSED
// or PLAYING->PAUSED, until PLAYING: `fresh` forgets the push in progress (a new start), otherwise a
// push already blocked in a sink's preroll is still measured from its start.
static void arm_preroll_watch(GstRealtimeConv *self, bool fresh) {
  RtcPriv *p = self->priv;
  rtcgst::preroll_watch_stop(&p->preroll_timer);
  GstPad *pads[kNumPads] = {pad_of(self, 0), pad_of(self, 1), pad_of(self, 2)};
  p->preroll_timer = rtcgst::preroll_watch_start(GST_ELEMENT(self), &p->preroll_watch, pads, kNumPads, fresh);
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
      arm_preroll_watch(self, true);
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
      arm_preroll_watch(self, false);  // prerolling again: a blocked push is reported again
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
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      // PLAYING: no preroll to watch (the watch only reports on the way to PLAYING), so no timer
      // wakes the system clock thread twice a second per element for nothing.
      rtcgst::preroll_watch_stop(&p->preroll_timer);
      break;
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
    if ((p->st.fc_dispatching == call_id || p->awaiting_calls.count(call_id)) && p->st.answered_calls.size() < 64)
      p->st.answered_calls.insert(call_id);
    // The answer to a call of the turn being waited for belongs to that turn: it stays anchored
    // where the user stopped speaking (non-live), not where the input is now.
    follow_up = p->awaiting_turn;
  }
  if (!follow_up) mark_turn_end(self);
  sess->function_output(call_id, output ? output : "", true);
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

  gst_realtimeconv_install_properties(gobject_class);


  gst_realtimeconv_signals[SIGNAL_COMMIT] = g_signal_new_class_handler("commit", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_commit), NULL, NULL, NULL, G_TYPE_NONE, 0);
  gst_realtimeconv_signals[SIGNAL_CLEAR] = g_signal_new_class_handler("clear", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_clear), NULL, NULL, NULL, G_TYPE_NONE, 0);
  gst_realtimeconv_signals[SIGNAL_CREATE_RESPONSE] = g_signal_new_class_handler("create-response", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_create_response), NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  gst_realtimeconv_signals[SIGNAL_CANCEL_RESPONSE] = g_signal_new_class_handler("cancel-response", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_cancel_response), NULL, NULL, NULL,
      G_TYPE_NONE, 0);
  gst_realtimeconv_signals[SIGNAL_SEND_TEXT] = g_signal_new_class_handler("send-text", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_send_text), NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  gst_realtimeconv_signals[SIGNAL_FUNCTION_OUTPUT] = g_signal_new_class_handler("function-output", G_TYPE_FROM_CLASS(klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK(action_function_output), NULL, NULL, NULL,
      G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  gst_realtimeconv_signals[SIGNAL_FUNCTION_CALL] = g_signal_new("function-call", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
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
