#!/usr/bin/env bash
# Recipe: one source, two target languages. A tee feeds two realtimetranslator elements (one
# translation session per target language, as the service requires); each writes its translated
# speech to a WAV file and its captions to a text file.
#
#   bash pipelines/two-languages.sh [speech.wav] [outdir] [lang1] [lang2]   # default: generated talk, ., es, fr
#
# Outputs: OUTDIR/LANG.wav (translated speech on the input's timeline) and OUTDIR/LANG.txt
# (the translated text). Both translators share the endpoint and credentials properties.
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin

speech=${1:-}
outdir=${2:-.}
l1=$(rtc_language_code "${3:-es}")
l2=$(rtc_language_code "${4:-fr}")
if [ -z "$speech" ]; then
  speech=$(rtc_tmpdir)/talk.wav
  rtc_say "$speech" --pause 3 --trail 2 "Good evening and welcome to the news."
fi
mkdir -p "$outdir"
rtc_backend
endpoint=$(rtc_endpoint_prop)
pcm="audio/x-raw,format=S16LE,rate=24000,channels=1"

gst-launch-1.0 -e -q \
  filesrc location="$speech" ! wavparse ! audioconvert ! audioresample ! "$pcm" ! tee name=src \
  src. ! queue ! realtimetranslator name=a ${endpoint:+"$endpoint"} language-code="$l1" \
  a.src ! queue ! wavenc ! filesink location="$outdir/$l1.wav" \
  a.transcript_src ! queue ! filesink location="$outdir/$l1.txt" \
  a.source_transcript_src ! queue ! fakesink async=false \
  src. ! queue ! realtimetranslator name=b ${endpoint:+"$endpoint"} language-code="$l2" \
  b.src ! queue ! wavenc ! filesink location="$outdir/$l2.wav" \
  b.transcript_src ! queue ! filesink location="$outdir/$l2.txt" \
  b.source_transcript_src ! queue ! fakesink async=false
rtc_log "wrote $outdir/$l1.wav $outdir/$l1.txt $outdir/$l2.wav $outdir/$l2.txt"
