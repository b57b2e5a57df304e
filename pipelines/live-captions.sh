#!/usr/bin/env bash
# Recipe: live captioning with realtimetranscriber (a transcription-only Realtime session, the
# cheapest session kind for captions, docs/transcriber.md). The words are burnt into the video
# with textoverlay as they are recognised and written as a WebVTT sidecar with webvttenc.
#
#   bash pipelines/live-captions.sh [video.mkv] [outdir]
#
# realtimetranscriber pushes one text buffer per word, timed on the input timeline: from a live
# source each delta's words are pushed at once (gpt-realtime-whisper sends them while the person
# is still speaking); from a file (this recipe) each utterance's words are placed over the speech
# it heard once the utterance's transcript is final. It pushes GAP events between captions, so
# textoverlay and webvttenc never wait for text that is not coming. Each completed utterance ends
# with the rstranscribe/final-transcript event (what gst-plugins-rs caption elements expect).
#
# Without a video it makes one: videotestsrc + an espeak-ng voice, muxed as MJPEG + PCM in
# Matroska (outdir/talk.mkv). The emulator is started with server/scenarios/news.json, which holds
# the same sentences (the emulator's transcripts come from the scenario).
#
# RTC_VIDEO_SINK / RTC_AUDIO_SINK replace autovideosink / autoaudiosink (gst-launch fragments).
# For a camera: set realtimetranscriber latency= to the caption delay you accept (the pipeline's
# latency grows by it) and the video waits that long for its words.
set -euo pipefail
set -f  # the *_SINK fragments are split into words for gst-launch-1.0, never globbed
RTC_VIDEO_SINK=${RTC_VIDEO_SINK:-autovideosink async-handling=true}
RTC_AUDIO_SINK=${RTC_AUDIO_SINK:-autoaudiosink}
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

video=${1:-}
outdir=${2:-out/live-captions}
mkdir -p "$outdir"
if [ -z "$video" ]; then
  video="$outdir/talk.mkv"
  speech=$(rtc_tmpdir)/talk.wav
  rtc_say "$speech" --pause 1.5 --trail 1.5 \
    "Good evening. Here is the news." \
    "Heavy rain is expected in Seattle tonight."
  seconds=$(rtc_python -c 'import sys, wave; w = wave.open(sys.argv[1]); print(w.getnframes() / w.getframerate())' "$speech")
  frames=$(rtc_python -c "import math; print(math.ceil($seconds * 25))")
  gst-launch-1.0 -q \
    videotestsrc num-buffers="$frames" pattern=smpte ! video/x-raw,width=640,height=360,framerate=25/1 ! \
      jpegenc ! queue ! mux. \
    filesrc location="$speech" ! wavparse ! audioconvert ! queue ! mux. \
    matroskamux name=mux ! filesink location="$video"
fi
rtc_backend --scenario "$RTC_ROOT/server/scenarios/news.json"
endpoint=$(rtc_endpoint_prop)

# shellcheck disable=SC2086  # RTC_*_SINK are gst-launch fragments
gst-launch-1.0 -e -q \
  filesrc location="$video" ! matroskademux name=d \
  d.video_0 ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! decodebin ! videoconvert ! ov.video_sink \
  d.audio_0 ! queue ! decodebin ! audioconvert ! audioresample ! \
    audio/x-raw,format=S16LE,rate=24000,channels=1 ! tee name=a \
  a. ! queue ! realtimetranscriber name=c ${endpoint:+"$endpoint"} language-code=en ! queue ! tee name=cap \
  cap. ! queue ! ov.text_sink \
  cap. ! queue ! webvttenc ! filesink location="$outdir/captions.vtt" \
  textoverlay name=ov valignment=bottom halignment=center font-desc="Sans 20" shaded-background=true ! \
    videoconvert ! $RTC_VIDEO_SINK \
  a. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! $RTC_AUDIO_SINK

echo "captions: $outdir/captions.vtt"
cat "$outdir/captions.vtt"
