#!/usr/bin/env bash
# One command for the benchmarks of issue 7: builds in release mode (build-bench/, -O2, no GStreamer
# debug logging), runs every benchmark against realtime-emulator (tone voice), and writes
#   tests/benchmarks/results/latest.md    the table (copied into README.md "Performance" by hand)
#   tests/benchmarks/results/latest.json  machine, date, every raw record, the summary
# Benchmarks REPORT: this script never fails because of a timing or a missed target (exit status
# is non-zero only when the build fails). Never register it as a test.
#
# Environment (defaults = full run, about 60 min on a 2-core machine; QUICK=1 = every row at small
# N, ~15 min). The output/length/turns phases run at real time, since live output is held until its
# push time (docs/timing.md); their latency counts from max(frame complete, push time), see
# bench_element.cc since_push_time():
#   QUICK=1                  small counts and short phases
#   BENCH_PHASES             comma list: decode,output,input,cpu,peer,wakeups,length,turns,density (default all)
#   BENCH_DELTAS             audio deltas per output-latency run (1000: about 5 min of audio each)
#   BENCH_PACE               emulator pace of the paced output run (100 = 100x real time)
#   BENCH_INPUT_SECONDS      seconds per input-latency run (10), for chunk 20 / 40 / 100 ms
#   BENCH_CPU_SECONDS        seconds of the one-session CPU run (60) and its baseline (30)
#   BENCH_TURNS              conversation length (300; the first and last 100 turns are compared)
#   BENCH_DENSITY_N          session counts to try, in order (1 10 50 100 200); then +50 until it breaks
#   BENCH_DENSITY_MAX        stop growing at this N (600, the target of issue 15; it breaks before)
#   BENCH_DENSITY_SECONDS    measured seconds per density step (30)
#   BENCH_BUILD_DIR          build directory (build-bench)
#   BENCH_PEER_N             sessions of the peer row (10): the element and the OpenAI Node SDK over wss://
#   BENCH_PEER_SECONDS       measured seconds of each peer run (60)
#   BENCH_WAKE_SECONDS       measured seconds of each wake-up run (60)
#   BENCH_PROFILE            1 (default): profile the first density step that breaks with perf
#                            (results/density_profile.txt); 0: skip
#   BENCH_PUSH_AHEAD         the density sweep again with this push-ahead (ms; 200; 0 = skip it)
#   BENCH_PUSH_AHEAD_N       its session counts (100 200 300; QUICK: 10 50); then +50 until it breaks
# Phases added by issue 15: peer (element vs SDK over TLS), wakeups (scheduler switches per
# thread), profile (perf on the density break); the plots (results/*.svg, gnuplot) are drawn last.
# QUICK=1 produces every row at small N in a few minutes (for a rerun on a quiet machine).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
QUICK=${QUICK:-0}
RESULTS=$HERE/results
mkdir -p "$RESULTS"

if [ "$QUICK" = 1 ]; then
  DELTAS=${BENCH_DELTAS:-200}; INPUT_S=${BENCH_INPUT_SECONDS:-3}; CPU_S=${BENCH_CPU_SECONDS:-10}
  TURNS=${BENCH_TURNS:-100}; DENSITY_N=${BENCH_DENSITY_N:-"1 10 50"}; DENSITY_MAX=${BENCH_DENSITY_MAX:-50}
  DENSITY_S=${BENCH_DENSITY_SECONDS:-6}; DECODE_S=0.3; LEN_COUNTS="4 1 1"
  PEER_S=${BENCH_PEER_SECONDS:-12}; WAKE_S=${BENCH_WAKE_SECONDS:-12}; PUSH_AHEAD_N=${BENCH_PUSH_AHEAD_N:-"10 50"}
else
  DELTAS=${BENCH_DELTAS:-1000}; INPUT_S=${BENCH_INPUT_SECONDS:-10}; CPU_S=${BENCH_CPU_SECONDS:-60}
  TURNS=${BENCH_TURNS:-300}; DENSITY_N=${BENCH_DENSITY_N:-"1 10 50 100 200"}; DENSITY_MAX=${BENCH_DENSITY_MAX:-600}
  DENSITY_S=${BENCH_DENSITY_SECONDS:-30}; DECODE_S=1.0; LEN_COUNTS="20 4 2"
  PEER_S=${BENCH_PEER_SECONDS:-60}; WAKE_S=${BENCH_WAKE_SECONDS:-60}; PUSH_AHEAD_N=${BENCH_PUSH_AHEAD_N:-"100 200 300"}
fi
PUSH_AHEAD=${BENCH_PUSH_AHEAD:-200}
PEER_N=${BENCH_PEER_N:-10}
PACE=${BENCH_PACE:-100}
PHASES=${BENCH_PHASES:-decode,output,input,cpu,peer,wakeups,length,turns,density}
has_phase() { case ",$PHASES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# shellcheck source=../deps.sh
. "$ROOT/tests/deps.sh"
rtc_ensure_bench_deps || echo "   (benchmark packages missing: the rows that need them are skipped)"

echo "== build (release) in $BUILD"
rtc_bench_build "$ROOT" "$BUILD" tests/benchmarks/bench_decode tests/benchmarks/bench_element \
  server/realtime-emulator || exit 1

RAW=$RESULTS/latest.jsonl
# BENCH_APPEND=1 keeps the records of phases not re-run (e.g. BENCH_PHASES=density BENCH_APPEND=1).
[ "${BENCH_APPEND:-0}" = 1 ] && [ -f "$RAW" ] || : > "$RAW"
export BENCH_OUT=$RAW
export RTC_EMULATOR=$BUILD/server/realtime-emulator
# The element comes from the benchmark binary itself (never a plugin copy); a private registry.
export GST_PLUGIN_PATH=
export GST_REGISTRY_1_0=$BUILD/bench-registry.bin
unset GST_DEBUG
B=$BUILD/tests/benchmarks
START=$(date +%s)

run() {  # run NAME CMD...: a failing benchmark is recorded, never fatal
  local name=$1; shift
  echo "== $name: $*"
  python3 - "$RAW" "$name" << 'EOF'
import json, sys
keep = [l for l in open(sys.argv[1]) if l.strip() and json.loads(l).get("id") != sys.argv[2]]
open(sys.argv[1], "w").writelines(keep)
EOF
  local t0; t0=$(date +%s)
  if ! timeout "${BENCH_TIMEOUT:-900}" "$@" 2> >(tail -n 20 >&2); then
    echo "{\"bench\":\"error\",\"id\":\"$name\",\"cmd\":\"$*\"}" >> "$RAW"
    echo "   (failed: recorded in the report)"
  fi
  echo "   $(( $(date +%s) - t0 )) s"
}

if has_phase decode; then
  FR=$(mktemp -d)
  run decode_cpp "$B/bench_decode" --frames-dir "$FR" --seconds-per-case "$DECODE_S"
  if command -v node > /dev/null; then
    run decode_node node "$HERE/decode_node.js" "$FR" "$DECODE_S"
  fi
  rm -rf "$FR"
fi

if has_phase output; then
  run output_paced "$B/bench_element" output --pace "$PACE" --deltas "$DELTAS" --response-s 30 --id output_paced
  run output_burst "$B/bench_element" output --pace burst --deltas "$DELTAS" --response-s 30 --id output_burst
fi

if has_phase input; then
  for c in 20 40 100; do
    run "input_$c" "$B/bench_element" input --chunk "$c" --seconds "$INPUT_S"
  done
fi

busy_start() {  # keeps every core out of idle with nice-19 spinners (they yield at once to real work)
  BUSY_PIDS=""
  for _ in $(seq "$(nproc)"); do nice -n 19 sh -c 'while :; do :; done' & BUSY_PIDS="$BUSY_PIDS $!"; done
}
busy_stop() { kill $BUSY_PIDS 2> /dev/null; wait $BUSY_PIDS 2> /dev/null; }

if has_phase cpu; then
  # One session, loop-lag probe off. The baseline is the same live source without the element.
  # Twice: on an idle machine (every wake-up of a thread also pays the VM's exit from idle), and
  # with the cores kept busy by nice-19 spinners (what a loaded server sees).
  BASE_S=$(( CPU_S / 2 > 5 ? CPU_S / 2 : 5 ))
  run cpu_session "$B/bench_element" session --n 1 --seconds "$CPU_S" --lag-ms 0 --id cpu_session
  run cpu_baseline "$B/bench_element" session --n 1 --seconds "$BASE_S" --baseline --id cpu_baseline
  # Each input chunk costs one wake-up of the network thread and one send: the same with 40 ms
  # chunks (the default is 100 ms; 40 ms gives the lowest end-of-turn latency).
  run cpu_session_chunk40 "$B/bench_element" session --n 1 --seconds "$CPU_S" --lag-ms 0 --chunk 40 --id cpu_session_chunk40
  # The same with the larger push-ahead of the second density sweep (fewer, larger live pieces).
  [ "$PUSH_AHEAD" != 0 ] && run cpu_session_pushahead "$B/bench_element" session --n 1 --seconds "$CPU_S" \
    --lag-ms 0 --push-ahead "$PUSH_AHEAD" --id cpu_session_pushahead
  busy_start
  run cpu_session_busy "$B/bench_element" session --n 1 --seconds "$CPU_S" --lag-ms 0 --id cpu_session_busy
  run cpu_baseline_busy "$B/bench_element" session --n 1 --seconds "$BASE_S" --baseline --id cpu_baseline_busy
  busy_stop
fi

if has_phase peer; then
  # The element and the official OpenAI Node SDK doing the same job (peer_sdk.mjs) at N sessions,
  # one after the other, against ONE emulator served over wss:// with a self-signed certificate
  # generated now (the element trusts it through ssl-ca-file, node through NODE_EXTRA_CA_CERTS).
  # Each side minus its own baseline (the same live source / the same node timers, no session).
  TLS=$BUILD/bench-tls SDK=$BUILD/bench-node
  mkdir -p "$TLS" "$SDK"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/key.pem" -out "$TLS/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" > /dev/null 2>&1
  if command -v npm > /dev/null && [ ! -f "$SDK/node_modules/openai/realtime/ws.mjs" ]; then
    echo "== npm install openai ws into $SDK"
    (cd "$SDK" && npm install --prefix "$SDK" --no-audit --no-fund --silent openai@6 ws@8) || echo "   (npm install failed)"
  fi
  "$RTC_EMULATOR" --port 0 --voice tone --pace realtime --tls-cert "$TLS/cert.pem" --tls-key "$TLS/key.pem" \
    > "$TLS/emulator.out" 2> "$TLS/emulator.err" &
  EPID=$!
  PORT=""
  for _ in $(seq 100); do
    PORT=$(sed -n 's|^listening on wss://.*:\([0-9]*\)$|\1|p' "$TLS/emulator.out" 2> /dev/null)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  if [ -z "$PORT" ]; then
    echo "   (the TLS emulator did not start: $(cat "$TLS/emulator.err"))"
  else
    emu_cpu() { awk '{print $14 + $15}' "/proc/$EPID/stat"; }
    e0=$(emu_cpu)
    run peer_element "$B/bench_element" session --n "$PEER_N" --seconds "$PEER_S" --lag-ms 0 \
      --url "wss://127.0.0.1:$PORT" --ssl-ca-file "$TLS/cert.pem" --id peer_element
    e1=$(emu_cpu)
    run peer_element_base "$B/bench_element" session --n "$PEER_N" --seconds "$PEER_S" --baseline --id peer_element_base
    if [ -f "$SDK/node_modules/openai/realtime/ws.mjs" ]; then
      e2=$(emu_cpu)
      run peer_sdk env NODE_EXTRA_CA_CERTS="$TLS/cert.pem" node "$HERE/peer_sdk.mjs" --sdk-dir "$SDK" \
        --url "https://127.0.0.1:$PORT/v1" --n "$PEER_N" --seconds "$PEER_S" --id peer_sdk
      e3=$(emu_cpu)
      run peer_sdk_base node "$HERE/peer_sdk.mjs" --baseline --n "$PEER_N" --seconds "$PEER_S" --id peer_sdk_base
      echo "{\"bench\":\"peer_emulator\",\"id\":\"peer_emulator\",\"element_ticks\":$((e1 - e0)),\"sdk_ticks\":$((e3 - e2)),\"clk_tck\":$(getconf CLK_TCK)}" >> "$RAW"
    else
      echo "   (no OpenAI SDK in $SDK: the SDK side of the peer row is skipped)"
    fi
  fi
  kill "$EPID" 2> /dev/null; wait "$EPID" 2> /dev/null
fi

if has_phase wakeups; then
  # Scheduler wake-ups per thread of a live session (3 s answers, so that a response streams for
  # about half of each 6 s cycle), per session: N=1 (the network thread is all this session's) and
  # N=10 (its share); the element's default chunks (100 ms) and 40 ms chunks.
  run wakeups_1 "$B/bench_element" session --n 1 --seconds "$WAKE_S" --lag-ms 0 --say-s 3 --wakeups --id wakeups_1
  run wakeups_1_chunk40 "$B/bench_element" session --n 1 --seconds "$WAKE_S" --lag-ms 0 --say-s 3 --wakeups --chunk 40 --id wakeups_1_chunk40
  run wakeups_10 "$B/bench_element" session --n 10 --seconds "$WAKE_S" --lag-ms 0 --say-s 3 --wakeups --id wakeups_10
fi

if has_phase length; then
  set -- $LEN_COUNTS
  run length_1s "$B/bench_element" output --pace 20 --response-s 1 --responses "$1" --deltas 0 --id length_1s
  run length_10s "$B/bench_element" output --pace 20 --response-s 10 --responses "$2" --deltas 0 --id length_10s
  run length_60s "$B/bench_element" output --pace 20 --response-s 60 --responses "$3" --deltas 0 --id length_60s
fi

if has_phase turns; then
  run turns "$B/bench_element" turns --turns "$TURNS" --pace burst --id turns
fi

density_ok() {  # held real time? (the rule is held() in report.py)
  python3 - "$RAW" "$1" "$HERE" << 'EOF'
import json, sys
sys.path.insert(0, sys.argv[3])
from report import held
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = [x for x in recs if x.get("id") == sys.argv[2]]
sys.exit(0 if r and held(r[-1]) else 1)
EOF
}

# sweep PREFIX "N..." ARGS...: density steps (session runs with ARGS) over the given N, then +50
# up to DENSITY_MAX while every step held, then one bisection step between the last step held and
# the first that broke. Sets good / bad (0: none broke).
density_step() {  # density_step PREFIX N ARGS...
  local prefix=$1 n=$2; shift 2
  run "${prefix}_$n" "$B/bench_element" session --n "$n" --seconds "$DENSITY_S" "$@" --id "${prefix}_$n"
}
sweep() {
  local prefix=$1 list=$2 n mid; shift 2
  good=0; bad=0
  for n in $list; do
    density_step "$prefix" "$n" "$@"
    if density_ok "${prefix}_$n"; then good=$n; else bad=$n; break; fi
  done
  if [ "$bad" = 0 ]; then  # held everywhere: grow until it breaks
    n=$(( good + 50 ))
    while [ "$n" -le "$DENSITY_MAX" ]; do
      density_step "$prefix" "$n" "$@"
      if density_ok "${prefix}_$n"; then good=$n; else bad=$n; break; fi
      n=$(( n + 50 ))
    done
  fi
  if [ "$bad" != 0 ] && [ $(( bad - good )) -gt 20 ]; then  # one bisection step
    mid=$(( (good + bad) / 20 * 10 ))
    [ "$mid" -gt "$good" ] && density_step "$prefix" "$mid" "$@"
  fi
  return 0
}

if has_phase density; then
  sweep density "$DENSITY_N"
  # Where it breaks and why: a profile of the first step that broke (perf, whole process, call graphs).
  if [ "$bad" != 0 ] && [ "${BENCH_PROFILE:-1}" = 1 ] && command -v perf > /dev/null; then
    echo "== profile of density_$bad (perf)"
    perf record -q -F 299 -g -o "$BUILD/density.perf.data" -- \
      "$B/bench_element" session --n "$bad" --seconds "$DENSITY_S" --id "profile_$bad" > /dev/null 2>&1
    {
      echo "perf profile of bench_element session --n $bad (the first density step that broke), $(date -u +%FT%TZ)"
      echo; echo "## CPU by thread"
      perf report -i "$BUILD/density.perf.data" --no-children --sort comm --stdio 2> /dev/null | grep -v '^#' | grep -v '^$' | head -20
      echo; echo "## CPU by library"
      perf report -i "$BUILD/density.perf.data" --no-children --sort dso --stdio 2> /dev/null | grep -v '^#' | grep -v '^$' | head -20
      echo; echo "## Top symbols (self)"
      perf report -i "$BUILD/density.perf.data" --no-children --sort comm,dso,sym --stdio -g none 2> /dev/null | grep -v '^#' | grep -v '^$' | head -45
    } > "$RESULTS/density_profile.txt"
    echo "   written: $RESULTS/density_profile.txt"
  fi
  # The same sweep with a larger push-ahead (docs/timing.md): what the barge-in bound costs.
  [ "$PUSH_AHEAD" != 0 ] && sweep pushahead "$PUSH_AHEAD_N" --push-ahead "$PUSH_AHEAD"
  # The live sources alone at two sizes: the element's own CPU per session at scale is
  # (CPU with the element - CPU of the sources alone) / N.
  for n in ${BENCH_DENSITY_BASE_N:-100 200}; do
    run "density_base_$n" "$B/bench_element" session --n "$n" --seconds "$DENSITY_S" --baseline --id "density_base_$n"
  done
fi

echo "== report ($(( $(date +%s) - START )) s of benchmarks)"
python3 "$HERE/report.py" --raw "$RAW" --md "$RESULTS/latest.md" --json "$RESULTS/latest.json" \
  --quick "$QUICK" --build "$BUILD"
if command -v gnuplot > /dev/null; then
  python3 "$HERE/plots.py" --raw "$RAW" --out "$RESULTS" || echo "   (plots failed)"
else
  echo "   (no gnuplot: no plots)"
fi
cat "$RESULTS/latest.md"
exit 0
