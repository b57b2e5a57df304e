#!/usr/bin/env bash
# Recipe: live interpreter on the Realtime translation API (realtimetranslator). The translation
# is mixed over the original, which is ducked (kept audible, much quieter) under it.
#
#   bash pipelines/interpreter.sh [speech.wav] [language]   # default: a generated English talk, es
#
# language: an ISO-639-1 code (es, fr, de, ...) or an English language name (Spanish, French...).
# What it shows: a tee splits the original: one branch goes straight to audiomixer pad sink_0 at
# volume 0.2 (the ducked original), the other through realtimetranslator, whose translated speech
# goes to sink_1 at full volume. The input is a file (not live), so the translator places each
# translated phrase where its source phrase starts (elapsed_ms mapped onto the input timeline,
# docs/translator.md) with silence in between: the mixer lines them up with the original. The
# original branch has an unbounded queue: a translation exists only some time after its phrase.
# With a live source (autoaudiosrc) the same pipeline works live (set the translator's latency).
#
# RTC_AUDIO_SINK replaces autoaudiosink (a gst-launch fragment), e.g.
#   RTC_AUDIO_SINK='wavenc ! filesink location=interpreted.wav'
set -euo pipefail
set -f  # RTC_AUDIO_SINK is split into words for gst-launch-1.0, never globbed
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

speech=${1:-}
language=$(rtc_language_code "${2:-es}")
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
    realtimetranslator name=t ${endpoint:+"$endpoint"} language-code="$language" \
      source-transcription=gpt-realtime-whisper \
  t.src ! "$pcm" ! queue $unbounded ! mix.sink_1 \
  audiomixer name=mix sink_0::volume=0.2 sink_1::volume=1.0 ! audioconvert ! $RTC_AUDIO_SINK \
  t.transcript_src ! queue $unbounded ! fakesink \
  t.source_transcript_src ! queue $unbounded ! fakesink
