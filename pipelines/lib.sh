# shellcheck shell=bash disable=SC2120
# pipelines/lib.sh: shared helpers for the demo and the recipes (sourced, not run).
#
# What it gives a recipe:
#   RTC_ROOT, RTC_BUILDDIR       the repository and its build directory ($RTC_BUILDDIR or ./build)
#   GST_PLUGIN_PATH              prefixed with the build's plugin directory, so realtimeconv is found
#   rtc_python                   a Python 3 that can import PyGObject + Gst (Debian's python3-gst-1.0)
#   rtc_backend [emulator flags] chooses the backend: the real service when credentials are in the
#                                environment, otherwise a realtime-emulator on an ephemeral port (stopped
#                                on exit, success or failure). Sets RTC_ENDPOINT ("" = the element resolves
#                                the endpoint from AZURE_OPENAI_* / OPENAI_* itself) and RTC_BACKEND.
#   rtc_endpoint_prop            prints "endpoint=URL" for a gst-launch line (nothing for the real service)
#   rtc_say OUT.wav TEXT...      speaks TEXT with espeak-ng into a 24 kHz mono S16LE WAV (several texts are
#                                separate turns, see make_speech.py for the pauses)
#   RTC_AUDIO_SINK / RTC_AUDIO_SRC / RTC_VIDEO_SINK
#                                gst-launch fragments for the devices (default autoaudiosink, autoaudiosrc,
#                                autovideosink); tests set them to fakesink / filesink fragments to run headless.
#
# Environment understood by every recipe:
#   RTC_ENDPOINT=URL             use this endpoint (skip the emulator and the cloud detection)
#   RTC_USE_EMULATOR=1           use the local emulator even when cloud credentials are set
#   RTC_EMULATOR=PATH            the realtime-emulator binary (default $RTC_BUILDDIR/server/realtime-emulator)
#   AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY (+ AZURE_OPENAI_DEPLOYMENT_NAME, OPENAI_API_VERSION),
#   or OPENAI_API_KEY            the real service (read by the element itself)

RTC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RTC_BUILDDIR=${RTC_BUILDDIR:-$RTC_ROOT/build}
case "$RTC_BUILDDIR" in /*) ;; *) RTC_BUILDDIR=$PWD/$RTC_BUILDDIR ;; esac
export GST_PLUGIN_PATH="$RTC_BUILDDIR/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
RTC_AUDIO_SINK=${RTC_AUDIO_SINK:-autoaudiosink}
RTC_AUDIO_SRC=${RTC_AUDIO_SRC:-autoaudiosrc}
RTC_VIDEO_SINK=${RTC_VIDEO_SINK:-autovideosink}
RTC_ENDPOINT=${RTC_ENDPOINT:-}
RTC_BACKEND=""
RTC_EMULATOR_PID=""
RTC_WATCHDOG_PID=""
RTC_TMPDIR=""

rtc_log() { printf '%s\n' "$*" >&2; }
rtc_die() { rtc_log "error: $*"; exit 1; }

# A scratch directory removed on exit.
rtc_tmpdir() {
  if [ -z "$RTC_TMPDIR" ]; then
    RTC_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/rtc.XXXXXX")
  fi
  printf '%s\n' "$RTC_TMPDIR"
}

rtc_cleanup() {
  local status=$?
  rtc_stop_emulator
  if [ -n "$RTC_TMPDIR" ] && [ -d "$RTC_TMPDIR" ]; then rm -rf "$RTC_TMPDIR"; fi
  return $status
}
trap rtc_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rtc_python() {
  local p
  for p in "${RTC_PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$p" ] || continue
    if [ "$p" = "${RTC_PYTHON_OK:-}" ] ||
       "$p" -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst' 2>/dev/null; then
      RTC_PYTHON_OK=$p
      "$p" "$@"
      return
    fi
  done
  rtc_die "no python3 with PyGObject/GStreamer found (apt-get install python3-gi python3-gst-1.0)"
}

rtc_check_plugin() {
  if ! gst-inspect-1.0 realtimeconv >/dev/null 2>&1; then
    rtc_die "the realtimeconv element is not available from $RTC_BUILDDIR/plugin (build it: bash pipelines/demo.sh, or meson setup build && ninja -C build)"
  fi
}

rtc_cloud_configured() {
  [ "${RTC_USE_EMULATOR:-0}" = 1 ] && return 1
  if [ -n "${AZURE_OPENAI_ENDPOINT:-}" ] && [ -n "${AZURE_OPENAI_API_KEY:-}" ]; then return 0; fi
  if [ -z "${AZURE_OPENAI_ENDPOINT:-}" ] && [ -n "${OPENAI_API_KEY:-}" ]; then return 0; fi
  return 1
}

# rtc_start_emulator [flags...]: starts realtime-emulator on an ephemeral port; sets RTC_ENDPOINT.
rtc_start_emulator() {
  local emu=${RTC_EMULATOR:-$RTC_BUILDDIR/server/realtime-emulator}
  [ -x "$emu" ] || rtc_die "realtime-emulator not found at $emu (build it: ninja -C $RTC_BUILDDIR)"
  local dir portfile port="" _
  dir=$(rtc_tmpdir)
  portfile="$dir/emulator.port"
  rm -f "$portfile"
  "$emu" --port 0 --port-file "$portfile" "$@" >"$dir/emulator.out" 2>"$dir/emulator.err" &
  RTC_EMULATOR_PID=$!
  # Watchdog: if this script dies without running its EXIT trap (SIGKILL), stop the emulator too.
  ( trap - EXIT INT TERM
    while kill -0 $$ 2>/dev/null; do sleep 1; done
    kill -TERM "$RTC_EMULATOR_PID" 2>/dev/null ) >/dev/null 2>&1 &
  RTC_WATCHDOG_PID=$!
  for _ in $(seq 1 100); do
    if [ -s "$portfile" ]; then
      port=$(tr -dc '0-9' <"$portfile")
      [ -n "$port" ] && break
    fi
    if ! kill -0 "$RTC_EMULATOR_PID" 2>/dev/null; then
      cat "$dir/emulator.err" >&2
      RTC_EMULATOR_PID=""
      rtc_die "realtime-emulator exited at start"
    fi
    sleep 0.1
  done
  [ -n "$port" ] || rtc_die "realtime-emulator did not report its port"
  RTC_ENDPOINT="ws://127.0.0.1:$port"
  RTC_BACKEND="the local realtime-emulator ($RTC_ENDPOINT, pid $RTC_EMULATOR_PID)"
}

rtc_stop_emulator() {
  if [ -n "$RTC_EMULATOR_PID" ]; then
    kill -TERM "$RTC_EMULATOR_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$RTC_EMULATOR_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$RTC_EMULATOR_PID" 2>/dev/null || true
    wait "$RTC_EMULATOR_PID" 2>/dev/null || true
    RTC_EMULATOR_PID=""
  fi
  if [ -n "$RTC_WATCHDOG_PID" ]; then
    kill "$RTC_WATCHDOG_PID" 2>/dev/null || true
    wait "$RTC_WATCHDOG_PID" 2>/dev/null || true
    RTC_WATCHDOG_PID=""
  fi
}

# rtc_backend [emulator flags...]
rtc_backend() {
  if [ -n "$RTC_ENDPOINT" ]; then
    RTC_BACKEND="$RTC_ENDPOINT (RTC_ENDPOINT)"
  elif rtc_cloud_configured; then
    RTC_ENDPOINT=""
    if [ -n "${AZURE_OPENAI_ENDPOINT:-}" ]; then
      RTC_BACKEND="Azure OpenAI ($AZURE_OPENAI_ENDPOINT, deployment ${AZURE_OPENAI_DEPLOYMENT_NAME:-default})"
    else
      RTC_BACKEND="OpenAI (wss://api.openai.com)"
    fi
  else
    rtc_start_emulator "$@"
  fi
  rtc_log "backend: $RTC_BACKEND"
}

rtc_endpoint_prop() {
  if [ -n "$RTC_ENDPOINT" ]; then printf 'endpoint=%s\n' "$RTC_ENDPOINT"; fi
}

rtc_say() {
  local out=$1; shift
  rtc_python "$RTC_ROOT/pipelines/make_speech.py" -o "$out" "$@"
}


# rtc_language_code NAME_OR_CODE: prints the ISO-639-1 code of a target language of the
# translation API (es, Spanish -> es); anything else is printed as given (the element decides).
rtc_language_code() {
  case "${1,,}" in
    spanish) echo es ;; portuguese) echo pt ;; french) echo fr ;; japanese) echo ja ;;
    russian) echo ru ;; chinese) echo zh ;; german) echo de ;; korean) echo ko ;;
    hindi) echo hi ;; indonesian) echo id ;; vietnamese) echo vi ;; italian) echo it ;;
    english) echo en ;; *) echo "$1" ;;
  esac
}
