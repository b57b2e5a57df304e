#!/usr/bin/env bash
# The one-command demo: a spoken two-turn conversation about the weather through realtimeconv.
#
#   bash pipelines/demo.sh [OUTDIR]          # default OUTDIR: ./out
#
# 1. installs the Debian packages that are missing and builds the project into build/
#    (tests/deps.sh, as tests/run.sh does);
# 2. picks the backend: without cloud credentials it starts build/server/realtime-emulator on an
#    ephemeral port with the shipped weather scenario (server/scenarios/weather.json, the seeds'
#    get_weather_for_location tool) and the espeak voice, and stops it on exit, success or failure.
#    With AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY (+ AZURE_OPENAI_DEPLOYMENT_NAME,
#    OPENAI_API_VERSION) or OPENAI_API_KEY in the environment it talks to the real service instead;
# 3. speaks the questions with espeak-ng ("What's the weather like in Seattle today?", a pause,
#    "And should I take an umbrella?"), 24 kHz mono;
# 4. runs them through a GStreamer pipeline with realtimeconv (pipelines/demo.py, PyGObject: the
#    function call is answered by a Python function connected to the `function-call` signal);
# 5. writes OUTDIR/reply.wav, conversation.wav, captions.vtt, transcript.txt and prints a summary.
#
# Environment: RTC_BUILDDIR (default build), RTC_SKIP_BUILD=1 (use an existing build, no apt/ninja),
# RTC_ENDPOINT (use this endpoint), RTC_USE_EMULATOR=1 (ignore cloud credentials),
# RTC_EMULATOR_LOG=FILE (the emulator's event log, for tests), RTC_DEMO_PACE=file|live (file,
# the default: the question file is read as a file and the replies and captions are placed on its
# timeline exactly; live: it is played in real time like a microphone, see demo.py),
# RTC_TIMEOUT (seconds, default 180), RTC_VERBOSE=1 (print every element message).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-out}
export RTC_BUILDDIR=${RTC_BUILDDIR:-$root/build}

if [ "${RTC_SKIP_BUILD:-0}" != 1 ]; then
  # shellcheck source=tests/deps.sh
  . "$root/tests/deps.sh"
  rtc_ensure_deps
  echo "building into $RTC_BUILDDIR ..."
  rtc_build "$RTC_BUILDDIR"
fi

# shellcheck source=pipelines/lib.sh
. "$root/pipelines/lib.sh"
rtc_check_plugin

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
rm -f "$outdir/reply.wav" "$outdir/conversation.wav" "$outdir/captions.vtt" "$outdir/transcript.txt"

emu_args=(--scenario "$root/server/scenarios/weather.json" --voice espeak)
if [ -n "${RTC_EMULATOR_LOG:-}" ]; then emu_args+=(--log "$RTC_EMULATOR_LOG" --log-no-audio); fi
rtc_backend "${emu_args[@]}"

tmp=$(rtc_tmpdir)
question="$tmp/question.wav"
rtc_say "$question" --pause 8 --trail 2.5 \
  "What's the weather like in Seattle today?" \
  "And should I take an umbrella?"

demo_args=("$question" "$outdir" --backend "$RTC_BACKEND" --pace "${RTC_DEMO_PACE:-file}"
           --timeout "${RTC_TIMEOUT:-180}")
if [ -n "$RTC_ENDPOINT" ]; then demo_args+=(--endpoint "$RTC_ENDPOINT"); fi
if [ "${RTC_VERBOSE:-0}" = 1 ]; then demo_args+=(--verbose); fi

echo "running the conversation through realtimeconv ..."
rtc_python "$root/pipelines/demo.py" "${demo_args[@]}"
echo
echo "Listen: gst-play-1.0 $outdir/conversation.wav"
