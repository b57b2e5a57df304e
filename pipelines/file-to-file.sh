#!/usr/bin/env bash
# Recipe: file in, files out (the Azure samples' low_level_sample, as one gst-launch-1.0 line).
#
#   bash pipelines/file-to-file.sh [question.wav] [outdir]
#
# What it shows: a WAV file goes through `audioconvert ! audioresample` into realtimeconv (any
# rate/format in; the element's sink takes 24 kHz S16LE mono, or 8 kHz G.711); the reply is saved
# with wavenc and, because the input is a file (not live), realtimeconv places the reply on the
# input timeline (at the end of the question) and fills the rest with silence: reply.wav lines up
# sample for sample with question.wav. The assistant transcript (transcript_src) and the
# transcription of the question (input_transcript_src) are written with filesink and printed.
# `gst-launch-1.0 -e` turns Ctrl-C into an EOS, so the files are finalized. The text sinks need no
# async=false: a text pad carries nothing until the first utterance, but realtimeconv starts every
# src pad with a GAP event, so their sinks preroll at once (as behind a demuxer).
#
# Without a question.wav it speaks one with espeak-ng. Backend: see pipelines/lib.sh (local emulator
# unless AZURE_OPENAI_* / OPENAI_API_KEY are set).
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

question=${1:-}
outdir=${2:-out/file-to-file}
mkdir -p "$outdir"
if [ -z "$question" ]; then
  question="$outdir/question.wav"
  rtc_say "$question" "What is the capital of France?"
fi
rtc_backend
endpoint=$(rtc_endpoint_prop)

gst-launch-1.0 -e -q \
  filesrc location="$question" ! wavparse ! audioconvert ! audioresample ! \
  realtimeconv name=c ${endpoint:+"$endpoint"} instructions="Answer in one short sentence." \
    input-transcription-model=whisper-1 \
  c.src ! queue ! audioconvert ! wavenc ! filesink location="$outdir/reply.wav" \
  c.transcript_src ! queue ! filesink location="$outdir/reply.txt" \
  c.input_transcript_src ! queue ! filesink location="$outdir/question.txt"

echo "question: $(cat "$outdir/question.txt")"
echo "reply:    $(cat "$outdir/reply.txt")"
echo "files:    $outdir/reply.wav $outdir/reply.txt $outdir/question.txt"
