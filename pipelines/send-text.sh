#!/usr/bin/env bash
# Recipe launcher: text in, audio out (pipelines/send-text.py) with the backend chosen as the
# other recipes do (local emulator unless AZURE_OPENAI_* / OPENAI_API_KEY are set).
#
#   bash pipelines/send-text.sh "Tell me a fun fact about Seattle." [--out answer.wav]
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
rtc_check_plugin
rtc_backend
rtc_python "$(dirname "$0")/send-text.py" ${RTC_ENDPOINT:+--endpoint "$RTC_ENDPOINT"} "$@"
