#!/usr/bin/env bash
# Same-machine, same-hour comparison of this tree's element with an earlier commit's.
#
#   bash tests/benchmarks/compare.sh COMMIT
#
# Why: the benchmark machine is a shared VM whose speed changes from day to day (kernel, host
# load), so a figure measured weeks ago is no baseline. This builds COMMIT's benchmark binary in
# a git worktree (release, like run.sh), then runs the same session benchmark with both binaries,
# interleaved, one after the other on an otherwise idle machine:
#   * one session, 60 s (CPU per session-second, by subtraction of the live source alone and by
#     the element's own threads), twice each, in the orders old-new and new-old (with
#     COMPARE_PUSH_AHEAD other than 0: old-new-newpa and newpa-new-old, newpa = this tree with
#     that push-ahead);
#   * the density steps of COMPARE_N (default "200 250 300"): held or not (held() in report.py).
# Results: results/compare.jsonl (raw) and results/compare.md (the table), also printed;
# results/compare_chunkC.* with COMPARE_CHUNK=C, and _paB appended when COMPARE_PUSH_AHEAD=B is
# set. Logs: build-compare/logs/. The worktree build-compare/<sha> is kept as a build cache;
# remove it with `git worktree remove --force build-compare/<sha>`.
# Environment: COMPARE_N (" ": no density step), COMPARE_SECONDS (density seconds, 30),
# COMPARE_CPU_SECONDS (60), COMPARE_PUSH_AHEAD (default 200: also run this tree with this
# push-ahead, in the one-session runs and at each density step; 0 = no), COMPARE_CHUNK (ms: both
# trees with this chunk-duration; default: each commit's own default, which changed from 40 to
# 100 ms in ea3eeea).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OLD=${1:?usage: compare.sh COMMIT}
OLD_SHA=$(git -C "$ROOT" rev-parse --short "$OLD") || exit 1
NEW_SHA=$(git -C "$ROOT" describe --always --dirty)
N_LIST=${COMPARE_N:-200 250 300}
SECS=${COMPARE_SECONDS:-30}
CPU_S=${COMPARE_CPU_SECONDS:-60}
PA=${COMPARE_PUSH_AHEAD:-200}
CHUNK=${COMPARE_CHUNK:-}
CHUNK_ARGS=()
SUFFIX=
if [ -n "$CHUNK" ]; then CHUNK_ARGS=(--chunk "$CHUNK"); SUFFIX=_chunk$CHUNK; fi
[ -n "${COMPARE_PUSH_AHEAD:-}" ] && SUFFIX=${SUFFIX}_pa$PA
NEW_BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
WT=$ROOT/build-compare/$OLD_SHA
RESULTS=$HERE/results
RAW=$RESULTS/compare$SUFFIX.jsonl
LOGS=$ROOT/build-compare/logs
mkdir -p "$LOGS"

. "$ROOT/tests/deps.sh"
rtc_ensure_deps || exit 1
build() {  # build SRC DIR LABEL (rtc_bench_build, its output in build-compare/logs/build-LABEL.log)
  local log=$LOGS/build-$3.log
  if ! rtc_bench_build "$1" "$2" tests/benchmarks/bench_element server/realtime-emulator > "$log" 2>&1; then
    tail -n 30 "$log"
    return 1
  fi
}
echo "== build $NEW_SHA (this tree) in $NEW_BUILD"
build "$ROOT" "$NEW_BUILD" new || exit 1
if [ -d "$WT" ] && [ "$(git -C "$WT" rev-parse HEAD 2> /dev/null)" != "$(git -C "$ROOT" rev-parse "$OLD^{commit}")" ]; then
  git -C "$ROOT" worktree remove -f "$WT" || exit 1
fi
if [ ! -d "$WT" ]; then
  git -C "$ROOT" worktree add -f --detach "$WT" "$OLD" > /dev/null || exit 1
fi
# An option the old bench lacks would be ignored. A grep cannot tell which mode reads an option
# ("chunk" is the input mode's too), so the chunk-duration each run used is also checked in the
# table (its chunk_ms), and a mismatch fails the script.
opts=('"id"' '"lag-ms"' '"baseline"')
[ -n "$CHUNK" ] && opts+=('"chunk"')
for opt in "${opts[@]}"; do
  grep -q "o\.[a-z]*($opt" "$WT/tests/benchmarks/bench_element.cc" ||
    { echo "$OLD_SHA's bench_element lacks the option $opt: not comparable" >&2; exit 1; }
done
echo "== build $OLD_SHA in $WT/build-bench"
build "$WT" "$WT/build-bench" old || exit 1

: > "$RAW"
export BENCH_OUT=$RAW GST_PLUGIN_PATH=
unset GST_DEBUG
one() {  # one WHICH ID ARGS...: a session run with the binary and emulator of WHICH (old|new)
  local which=$1 id=$2; shift 2
  local b=$NEW_BUILD
  [ "$which" = old ] && b=$WT/build-bench
  echo "== $id"
  RTC_EMULATOR=$b/server/realtime-emulator GST_REGISTRY_1_0=$b/bench-registry.bin \
    timeout 900 "$b/tests/benchmarks/bench_element" session "$@" "${CHUNK_ARGS[@]}" --id "$id" > /dev/null 2> "$LOGS/$id.log" ||
    echo "{\"bench\":\"error\",\"id\":\"$id\"}" >> "$RAW"
}
ORDERS=("old new" "new old")
[ "$PA" != 0 ] && ORDERS=("old new newpa" "newpa new old")
for order in "${ORDERS[@]}"; do
  for w in $order; do
    pa=()
    [ "$w" = newpa ] && pa=(--push-ahead "$PA")
    one "${w%pa}" "${w}_cpu_${order// /-}" --n 1 --seconds "$CPU_S" --lag-ms 0 "${pa[@]}"
    one "${w%pa}" "${w}_base_${order// /-}" --n 1 --seconds $(( CPU_S / 2 > 5 ? CPU_S / 2 : 5 )) --baseline
  done
done
for n in $N_LIST; do
  one old "old_density_$n" --n "$n" --seconds "$SECS"
  one new "new_density_$n" --n "$n" --seconds "$SECS"
  [ "$PA" != 0 ] && one new "newpa_density_$n" --n "$n" --seconds "$SECS" --push-ahead "$PA"
done

python3 - "$RAW" "$HERE" "$OLD_SHA" "$NEW_SHA" "$PA" "$CPU_S" "${CHUNK:-the default of each commit}" \
  > "$RESULTS/compare$SUFFIX.md" << 'EOF'
import json, sys, subprocess
sys.path.insert(0, sys.argv[2])
from report import held, f
raw, _, old, new, pa, cpu_s, chunk = sys.argv[1:8]
mismatch = []  # runs whose chunk-duration is not the one asked for (COMPARE_CHUNK)
recs = {}
for l in open(raw):
    if l.strip():
        r = json.loads(l)
        recs[r["id"]] = r
el = ("c:src", "q:src", "rtc-ctl", "rtc-net")
def threads(r):
    t = r.get("thread_cpu_ms_per_session_s") or {}
    return sum(t.get(k, 0) for k in el)
date = subprocess.run(["date", "-u", "+%FT%TZ"], capture_output=True, text=True).stdout.strip()
print(f"Same-hour comparison, written {date}: {old} (old) and {new} (new), release builds, the same machine, "
      f"one run after the other (tests/benchmarks/compare.sh); chunk-duration: {chunk}.")
print()
print(f"One session, {cpu_s} s, responses flowing: element CPU ms per session-second = process - the live source "
      "alone (run next to it); the element's own threads = src task + queue after it + control task + network "
      "thread, then src task + queue (output side) and network thread apart.")
print()
print("| order | tree | chunk | process | source alone | element (subtraction) | element's threads | "
      "src task + queue | network thread |")
print("|---|---|---|---|---|---|---|---|---|")
orders = ("old new newpa", "newpa new old") if pa != "0" else ("old new", "new old")
for order in orders:
    for w in order.split():
        c, b = recs.get(f"{w}_cpu_{order.replace(' ', '-')}"), recs.get(f"{w}_base_{order.replace(' ', '-')}")
        if not c or "cpu_ms_per_session_s" not in c or not b or "cpu_ms_per_session_s" not in b:
            print(f"| {order} | {w} | | failed | | | | | |")
            continue
        t = c.get("thread_cpu_ms_per_session_s") or {}
        if chunk.isdigit() and c.get("chunk_ms") != int(chunk):
            mismatch.append(c["id"])
        tree = old if w == "old" else new + (f", push-ahead={pa}" if w == "newpa" else "")
        print(f"| {order} | {w} ({tree}) | {c.get('chunk_ms', '?')} ms | "
              f"{c['cpu_ms_per_session_s']:.2f} | {b['cpu_ms_per_session_s']:.2f} | "
              f"{c['cpu_ms_per_session_s'] - b['cpu_ms_per_session_s']:.2f} | {threads(c):.2f} | "
              f"{t.get('c:src', 0) + t.get('q:src', 0):.2f} | {t.get('rtc-net', 0):.2f} |")
cols = [("old", f"{old}"), ("new", f"{new}")] + ([("newpa", f"{new}, push-ahead={pa}")] if pa != "0" else [])
ns = sorted({int(k.split("_")[-1]) for k in recs if "_density_" in k})
if ns:  # COMPARE_N=" ": no density step
    print()
    print("Density (the run.sh pipelines; ✗ = not held, held() in report.py):")
    print()
    print("| N | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
for n in ns:
    cells = []
    for key, _ in cols:
        r = recs.get(f"{key}_density_{n}")
        if not r or "late_buffers" not in r:
            cells.append("failed")
            continue
        cells.append(f"{'held' if held(r) else '✗'}: {r['cpu_ms_per_session_s']:.2f} ms/s per session, "
                     f"late {r['late_buffers']} (max {f(r.get('max_lateness_ms'), 1)} ms), late audio {r.get('late_msgs')}, "
                     f"loop lag p99 {f(r.get('loop_lag_us_p99') and r['loop_lag_us_p99'] / 1000, 1)} ms"
                     + ("" if r.get("all_ready") else f", {r.get('ready')} of {n} sessions ready")
                     + (f", {r['errors']} errors" if r.get("errors") else "")
                     + (f", {r['reconnecting']} reconnections" if r.get("reconnecting") else ""))
        if chunk.isdigit() and r.get("chunk_ms") != int(chunk):
            mismatch.append(r["id"])
    print(f"| {n} | " + " | ".join(cells) + " |")
if mismatch:
    print()
    print(f"NOT COMPARABLE: these runs did not use chunk-duration {chunk} ms: {', '.join(mismatch)}")
    sys.exit(2)
EOF
rc=$?  # 0; 2: runs at another chunk-duration (said in the table); else the table is incomplete
cat "$RESULTS/compare$SUFFIX.md"
[ "$rc" = 0 ] || { [ "$rc" = 2 ] || echo "compare.sh: the table could not be written (python exit $rc)" >&2; exit 1; }
