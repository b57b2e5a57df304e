#!/usr/bin/env bash
# Recipe: telephony. G.711 u-law at 8 kHz in and out, nothing resampled to 24 kHz.
#
#   bash pipelines/telephony.sh [call-ulaw.wav] [outdir]
#
# What it shows: realtimeconv's pads also take audio/x-mulaw (and audio/x-alaw), rate 8000, mono.
# The negotiated caps choose the session's input_audio_format (g711_ulaw), and the caps filter
# after src chooses its output format: the service speaks u-law itself, so the call audio goes in
# and out untouched, with no decode/resample step and no added latency. The reply is written as a
# u-law WAV (wavenc keeps G.711 as is).
#
# On a real phone line the file ends are replaced by RTP, e.g.
#   udpsrc port=5004 caps="application/x-rtp,media=audio,encoding-name=PCMU,clock-rate=8000" !
#     rtpjitterbuffer latency=60 ! rtppcmudepay ! realtimeconv ... !
#     audio/x-mulaw,rate=8000,channels=1 ! rtppcmupay ! udpsink host=PBX port=5006
# (the element sees a live source then and times its output for the live case).
#
# Without an input it makes a u-law caller with espeak-ng. The text sinks need no async=false: the
# text pads are sparse, but realtimeconv starts each of them with a GAP event, so their sinks preroll.
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

call=${1:-}
outdir=${2:-out/telephony}
mkdir -p "$outdir"
if [ -z "$call" ]; then
  call="$outdir/call-ulaw.wav"
  speech=$(rtc_tmpdir)/caller.wav
  rtc_say "$speech" --rate 8000 "Hello, I would like to check the status of my order."
  gst-launch-1.0 -q filesrc location="$speech" ! wavparse ! audioconvert ! audioresample ! \
    audio/x-raw,rate=8000,channels=1 ! mulawenc ! wavenc ! filesink location="$call"
fi
rtc_backend
endpoint=$(rtc_endpoint_prop)
ulaw="audio/x-mulaw,rate=8000,channels=1"

gst-launch-1.0 -e -q \
  filesrc location="$call" ! wavparse ! "$ulaw" ! \
  realtimeconv name=c ${endpoint:+"$endpoint"} instructions="You answer calls for a shop. Be brief." \
    input-transcription-model=whisper-1 \
  c.src ! "$ulaw" ! queue ! wavenc ! filesink location="$outdir/reply-ulaw.wav" \
  c.transcript_src ! queue ! filesink location="$outdir/reply.txt" \
  c.input_transcript_src ! queue ! filesink location="$outdir/caller.txt"

echo "caller: $(cat "$outdir/caller.txt")"
echo "reply:  $(cat "$outdir/reply.txt")"
echo "files:  $outdir/reply-ulaw.wav (G.711 u-law, 8 kHz)"
