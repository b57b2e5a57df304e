#!/usr/bin/env bash
# Runs a command against the backend the recipes use: the real service when AZURE_OPENAI_* /
# OPENAI_API_KEY are set, otherwise a local realtime-emulator on an ephemeral port (stopped when
# the command ends). The command finds the endpoint in $RTC_ENDPOINT ("" = from the environment)
# and the plugin through GST_PLUGIN_PATH. A first argument ending in .py runs with a Python that
# has PyGObject/GStreamer.
#
#   bash pipelines/with-backend.sh pipelines/embed.py question.wav --out reply.wav
#   RTC_EMULATOR_ARGS="--scenario server/scenarios/weather.json" bash pipelines/with-backend.sh \
#       sh -c 'gst-launch-1.0 ... realtimeconv endpoint=$RTC_ENDPOINT ...'
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || rtc_die "usage: with-backend.sh COMMAND [ARGS...]"
rtc_check_plugin
# shellcheck disable=SC2086  # RTC_EMULATOR_ARGS is a list of flags
rtc_backend ${RTC_EMULATOR_ARGS:-}
export RTC_ENDPOINT
case "$1" in
  *.py) rtc_python "$@" ;;
  *) "$@" ;;
esac
