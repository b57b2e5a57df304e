#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs what is missing, configures,
# builds, runs every GoogleTest suite through `meson test`, and prints as its last line
# "N passed, N failed" counted from the individual test cases (not binaries).
#
#   bash tests/run.sh                 # everything
#   bash tests/run.sh --asan          # same, in a separate AddressSanitizer/UBSan build
#   bash tests/run.sh -- --suite protocol   # extra arguments after -- go to `meson test`
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/deps.sh
. "$root/tests/deps.sh"

builddir=${RTC_BUILDDIR:-$root/build}
setup_args=()
meson_test_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) builddir=${RTC_BUILDDIR:-$root/build-asan}
            setup_args+=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug) ;;
    --) shift; meson_test_args+=("$@"); break ;;
    *) meson_test_args+=("$1") ;;
  esac
  shift
done

fail() { echo "$1"; echo "0 passed, 1 failed"; exit 1; }

rtc_ensure_deps || fail "dependencies missing"
rtc_build "$builddir" "${setup_args[@]}" || fail "build failed"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

rm -f "$builddir/meson-logs/testlog.junit.xml" "$builddir/meson-logs/testlog.json"
meson test -C "$builddir" --print-errorlogs --num-processes 2 "${meson_test_args[@]}"
status=$?

python3 "$root/tests/count_results.py" "$builddir/meson-logs" || status=1
exit $status
