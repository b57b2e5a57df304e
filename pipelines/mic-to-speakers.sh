#!/usr/bin/env bash
# Recipe: microphone to speakers, a live voice conversation.
#
#   bash pipelines/mic-to-speakers.sh          # talk; Ctrl-C to stop
#
# What it shows: the live case. autoaudiosrc is live, so realtimeconv answers the LATENCY query
# with its `latency` budget added and stamps the reply with the running time at which it arrives;
# between replies it pushes GAP events so the sink never waits. Barge-in is on: start speaking
# while the assistant talks and its audio stops at once (the element truncates the item on the
# server at the point you actually heard). The short queue before the sink keeps barge-in crisp.
#
# USE HEADPHONES. With loudspeakers the microphone hears the assistant, the server's voice
# detection takes that for the user speaking, and the assistant interrupts itself (there is no
# echo cancellation in this pipeline; add webrtcdsp/webrtcechoprobe from gst-plugins-bad, or use
# a headset, if you must use speakers).
#
# The transcripts of both sides are printed from the element messages (gst-launch-1.0 -m), and
# one line per barge-in from `realtimeconv/truncated`: "barge-in: reply cut at N ms heard", N being
# the audio_end_ms the server's copy of the reply was truncated at (what was pushed to the sink,
# which plays it; see README "How timing works" and docs/timing.md "Live: lead and barge-in").
# RTC_AUDIO_SRC / RTC_AUDIO_SINK replace autoaudiosrc / autoaudiosink (gst-launch fragments):
# the tests use a live test source as the "microphone" and write what the sink renders to a file.
# RTC_PROTOCOL=ga|preview sets realtimeconv's protocol (default auto: decided by the endpoint);
# RTC_EMULATOR_ARGS are extra flags for the local emulator (e.g. "--voice tone --log FILE").
set -euo pipefail
set -f  # RTC_AUDIO_SRC / RTC_AUDIO_SINK are split into words for gst-launch-1.0, never globbed
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin
# shellcheck disable=SC2086  # RTC_EMULATOR_ARGS is a list of flags
rtc_backend ${RTC_EMULATOR_ARGS:-}
endpoint=$(rtc_endpoint_prop)
protocol=${RTC_PROTOCOL:+protocol=$RTC_PROTOCOL}

# Only the final transcripts and the barge-ins of the element messages (gst-launch-1.0 -m prints
# each structure as text: name, field=(type)value, ...; strings with spaces are quoted and
# escaped), one line each.
show_transcripts() {
  sed -un \
    -e 's/.*realtimeconv\/input-transcript, .*text=(string)\(.*\), final=(boolean)true.*/you:       \1/p' \
    -e 's/.*realtimeconv\/transcript, .*text=(string)\(.*\), final=(boolean)true.*/assistant: \1/p' \
    -e 's/.*realtimeconv\/truncated, .*audio-end-ms=(gint64)\([0-9]*\).*/barge-in: reply cut at \1 ms heard/p' |
    sed -u -e 's/^\([a-z]*: *\)"\(.*\)"$/\1\2/' -e 's/\\\(.\)/\1/g'
}

# shellcheck disable=SC2086  # RTC_AUDIO_SRC / RTC_AUDIO_SINK are gst-launch fragments
gst-launch-1.0 -e -m \
  $RTC_AUDIO_SRC ! audioconvert ! audioresample ! \
  realtimeconv name=c ${endpoint:+"$endpoint"} ${protocol:+"$protocol"} instructions="You are a friendly voice assistant. Keep answers short." \
  c.src ! queue max-size-time=200000000 ! audioconvert ! audioresample ! $RTC_AUDIO_SINK \
  c.transcript_src ! queue ! fakesink \
  c.input_transcript_src ! queue ! fakesink | show_transcripts
