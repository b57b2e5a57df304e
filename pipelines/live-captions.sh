#!/usr/bin/env bash
# Recipe: live captioning. The transcription of the speech is burnt into the video with
# textoverlay and written as a WebVTT sidecar with webvttenc.
#
#   bash pipelines/live-captions.sh [video.mkv] [outdir]
#
# What it shows: input_transcript_src gives one text buffer per utterance, timed to the speech it
# transcribes (PTS = start of speech, duration up to its end, on the input's running time), so
# textoverlay shows each caption exactly while it is spoken and webvttenc writes cues at the same
# times. The session is used for captions only: create-response=false (no spoken answers),
# input-transcription-model=whisper-1 (gpt-4o-transcribe etc. also work), language en.
#
# Without a video it makes one: videotestsrc + an espeak-ng voice, muxed as MJPEG + PCM in
# Matroska (outdir/talk.mkv). The video branch has an unbounded queue: a caption exists only
# after the utterance ended, so textoverlay holds each frame until it knows the caption for it;
# the audio must keep flowing meanwhile. For a real live source (a camera), set
# realtimeconv latency= to the caption delay you accept and put the same delay on the video queue.
#
# RTC_VIDEO_SINK / RTC_AUDIO_SINK replace autovideosink / autoaudiosink (gst-launch fragments), e.g.
#   RTC_VIDEO_SINK="jpegenc ! avimux ! filesink async=false location=captioned.avi" RTC_AUDIO_SINK="fakesink"
#
# Preroll: realtimeconv starts every src pad with a GAP event, so the sinks of its pads (and the
# audio sink) preroll by themselves: they need no async=false. The video sink is the exception and
# keeps async-handling=true (async=false in a RTC_VIDEO_SINK fragment): textoverlay holds each
# video frame until the caption pad has reached it, and when the talk starts right away the first
# caption is due from the first frames on, so the first frame waits for the first caption. That
# caption exists only once the utterance ended, and by then realtimeconv's single output thread is
# blocked pushing the (silent) reply into the full queue of its prerolled fakesink, which waits for
# PLAYING, which waits for the video sink's preroll: a video sink that holds the state change
# would wait forever.
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
rtc_backend
endpoint=$(rtc_endpoint_prop)

# shellcheck disable=SC2086  # RTC_*_SINK are gst-launch fragments
gst-launch-1.0 -e -q \
  filesrc location="$video" ! matroskademux name=d \
  d.video_0 ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! decodebin ! videoconvert ! ov.video_sink \
  d.audio_0 ! queue ! decodebin ! audioconvert ! audioresample ! tee name=a \
  a. ! queue ! \
    realtimeconv name=c ${endpoint:+"$endpoint"} create-response=false \
      input-transcription-model=whisper-1 transcription-language=en \
  c.input_transcript_src ! queue ! tee name=cap \
  cap. ! queue ! ov.text_sink \
  cap. ! queue ! webvttenc ! filesink location="$outdir/captions.vtt" \
  textoverlay name=ov valignment=bottom halignment=center font-desc="Sans 20" shaded-background=true ! \
    videoconvert ! $RTC_VIDEO_SINK \
  a. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! $RTC_AUDIO_SINK \
  c.src ! queue ! fakesink \
  c.transcript_src ! queue ! fakesink

echo "captions: $outdir/captions.vtt"
cat "$outdir/captions.vtt"
