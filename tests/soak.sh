#!/usr/bin/env bash
# Soak test (not in CI): N live sessions with periodic speech against realtime-emulator, with faults
# (emulator stalled by SIGSTOP, or killed and restarted) at random intervals; RSS, fds and threads
# sampled every 30 s into a table (tests/soak.py). Builds first (./build, as tests/run.sh).
#   bash tests/soak.sh [--sessions 4] [--minutes 60] [--sample 30] [--seed 1]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/deps.sh
. "$root/tests/deps.sh"
rtc_ensure_deps
rtc_build "${RTC_BUILDDIR:-$root/build}"
py=python3; [ -x /usr/bin/python3 ] && py=/usr/bin/python3  # Debian python3-gi
exec "$py" "$root/tests/soak.py" --build "${RTC_BUILDDIR:-$root/build}" "$@"
