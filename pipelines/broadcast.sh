#!/usr/bin/env bash
# Recipe: broadcast interpretation. A video file with speech goes in; a Matroska file comes out
# with the video, the original audio, the translated speech as a second audio track and the
# translated text as a subtitle track (its cues fall on the translated speech).
#
#   bash pipelines/broadcast.sh [in.mkv] [out.mkv] [language]
#       default in: a generated programme (test video + English speech), out: ./broadcast.mkv, es
#
# The input must have one video and one audio stream that matroskademux can read (the generated
# one is MJPEG + PCM). The video is passed through untouched (no re-encoding). realtimetranslator
# gets the audio at 24 kHz mono; its translated speech and captions are placed on the input's
# timeline (elapsed_ms mapping, docs/translator.md), so they line up with the picture. Every
# branch into the muxer has its own queue: the translator feeds three pads from one thread.
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

in=${1:-}
out=${2:-broadcast.mkv}
language=$(rtc_language_code "${3:-es}")
if [ -z "$in" ]; then
  dir=$(rtc_tmpdir)
  rtc_say "$dir/talk.wav" --pause 3 --trail 2 \
    "Good evening and welcome to the news." \
    "Tonight the weather will be mild."
  bytes=$(stat -c %s "$dir/talk.wav")
  frames=$(( (bytes - 44) * 25 / 48000 ))
  in=$dir/programme.mkv
  gst-launch-1.0 -e -q \
    videotestsrc num-buffers="$frames" pattern=smpte ! video/x-raw,width=320,height=240,framerate=25/1 ! \
      jpegenc ! queue ! mux. \
    filesrc location="$dir/talk.wav" ! wavparse ! audioconvert ! queue ! mux. \
    matroskamux name=mux ! filesink location="$in"
fi
rtc_backend
endpoint=$(rtc_endpoint_prop)
pcm="audio/x-raw,format=S16LE,rate=24000,channels=1"
unbounded="max-size-buffers=0 max-size-bytes=0 max-size-time=0"

# shellcheck disable=SC2086  # $unbounded is a list of gst-launch words
gst-launch-1.0 -e -q \
  filesrc location="$in" ! matroskademux name=d \
  d.video_0 ! queue $unbounded ! mux.video_0 \
  d.audio_0 ! queue ! audioconvert ! audioresample ! "$pcm" ! tee name=orig \
  orig. ! queue $unbounded ! mux.audio_0 \
  orig. ! queue ! realtimetranslator name=t ${endpoint:+"$endpoint"} language-code="$language" \
  t.src ! queue $unbounded ! mux.audio_1 \
  t.transcript_src ! queue $unbounded ! mux.subtitle_0 \
  t.source_transcript_src ! queue ! fakesink async=false \
  matroskamux name=mux ! filesink location="$out"
rtc_log "wrote $out (video, original audio, $language audio, $language subtitles)"
