#!/usr/bin/env bash
# Recipe: captions as a subtitle track. realtimetranscriber's text goes into Matroska next to the
# video and the audio (text/x-raw,format=utf8 is a native Matroska subtitle format, S_TEXT/UTF8).
#
#   bash pipelines/captions-mkv.sh [video.mkv] [out.mkv]
#
# The input is a Matroska file with one video and one audio track (without one, the talk of
# live-captions.sh is made). The video is copied as it is; the audio is kept as PCM; the subtitle
# track holds one entry per word, on the audio's timeline (docs/transcriber.md).
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

video=${1:-}
out=${2:-out/captions-mkv/captioned.mkv}
mkdir -p "$(dirname "$out")"
if [ -z "$video" ]; then
  video="$(dirname "$out")/talk.mkv"
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

gst-launch-1.0 -e -q \
  filesrc location="$video" ! matroskademux name=d \
  d.video_0 ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! mux. \
  d.audio_0 ! queue ! decodebin ! audioconvert ! audioresample ! \
    audio/x-raw,format=S16LE,rate=24000,channels=1 ! tee name=a \
  a. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! mux. \
  a. ! queue ! realtimetranscriber ${endpoint:+"$endpoint"} language-code=en ! queue ! mux.subtitle_0 \
  matroskamux name=mux ! filesink location="$out"

echo "captioned: $out"
