#!/usr/bin/env bash
# Recipe: real-time interpreter. The model is told to translate; the translation is mixed over
# the original, which is ducked (kept audible, much quieter) under it.
#
#   bash pipelines/interpreter.sh [speech.wav] [language]     # default: a generated English talk, Spanish
#
# What it shows: `instructions` turn the assistant into an interpreter. A tee splits the
# original: one branch goes straight to audiomixer pad sink_0 at volume 0.2 (the ducked
# original), the other through realtimeconv, whose translation goes to sink_1 at full volume.
# Because the input is a file (not live), realtimeconv places each translated turn where the
# speaker stopped, on the same timeline as the original, so the mixer lines them up. The original
# branch has an unbounded queue: the translation of a sentence exists only once the sentence
# ended. With a live source (autoaudiosrc) the same pipeline works live; set the mixer's latency.
#
# RTC_AUDIO_SINK replaces autoaudiosink (a gst-launch fragment), e.g.
#   RTC_AUDIO_SINK='wavenc ! filesink location=interpreted.wav'
set -euo pipefail
set -f  # RTC_AUDIO_SINK is split into words for gst-launch-1.0, never globbed
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

speech=${1:-}
language=${2:-Spanish}
if [ -z "$speech" ]; then
  speech=$(rtc_tmpdir)/talk.wav
  rtc_say "$speech" --pause 3 --trail 2 \
    "Welcome to the conference." \
    "Our first speaker will talk about weather forecasting."
fi
rtc_backend
endpoint=$(rtc_endpoint_prop)
pcm="audio/x-raw,format=S16LE,rate=24000,channels=1"
unbounded="max-size-buffers=0 max-size-bytes=0 max-size-time=0"

# shellcheck disable=SC2086  # $unbounded and RTC_AUDIO_SINK are lists of gst-launch words
gst-launch-1.0 -e -q \
  filesrc location="$speech" ! wavparse ! audioconvert ! audioresample ! "$pcm" ! tee name=orig \
  orig. ! queue $unbounded ! mix.sink_0 \
  orig. ! queue ! \
    realtimeconv name=c ${endpoint:+"$endpoint"} \
      instructions="You are a simultaneous interpreter. Translate everything the user says into $language. Say only the translation, nothing else." \
      input-transcription-model=whisper-1 \
  c.src ! "$pcm" ! queue $unbounded ! mix.sink_1 \
  audiomixer name=mix sink_0::volume=0.2 sink_1::volume=1.0 ! audioconvert ! $RTC_AUDIO_SINK \
  c.transcript_src ! queue ! fakesink \
  c.input_transcript_src ! queue ! fakesink
