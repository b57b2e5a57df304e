#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer (ASan + UBSan) and runs them.
#   bash tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
# Needs clang-14 (Debian: clang-14, libclang-rt-14-dev ships libFuzzer). New inputs that found
# coverage are kept in build-fuzz/corpus/<target>/; a crash writes build-fuzz/crash-*: copy it into
# tests/fuzz/corpus/<target>/ as a regression case once fixed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}; shift || true
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(server_event endpoint client_builders timing)
out=${RTC_FUZZ_DIR:-$root/build-fuzz}
mkdir -p "$out"
CXX=${CXX_FUZZ:-clang++-14}
flags="-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
inc="-I$root/gst/realtime $(pkg-config --cflags glib-2.0 json-glib-1.0)"
libs="$(pkg-config --libs glib-2.0 json-glib-1.0)"
proto_srcs="$root/gst/realtime/protocol_build.cc $root/gst/realtime/protocol_parse.cc $root/gst/realtime/fastpath.cc $root/gst/realtime/base64.cc $root/gst/realtime/endpoint.cc"
# the timing core (fuzz_timing): its pure sources and GStreamer core (GstClockTime helpers)
timing_srcs="$root/gst/rtcscheduler.cc $root/gst/rtctimeline.cc $root/gst/rtctranscripttiming.cc"
timing_inc="-I$root/gst $(pkg-config --cflags gstreamer-1.0)"
timing_libs="$(pkg-config --libs gstreamer-1.0)"
for t in "${targets[@]}"; do
  if [ "$t" = timing ]; then srcs=$timing_srcs; tinc=$timing_inc; tlibs=$timing_libs; else srcs=$proto_srcs; tinc=$inc; tlibs=$libs; fi
  newest=$(ls -t "$root/tests/fuzz/fuzz_$t.cc" $srcs | head -1)
  [ -x "$out/fuzz_$t" ] && [ "$out/fuzz_$t" -nt "$newest" ] ||
    $CXX $flags $tinc "$root/tests/fuzz/fuzz_$t.cc" $srcs $tlibs -o "$out/fuzz_$t"
  mkdir -p "$out/corpus/$t"
  (cd "$out" && "./fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 \
     "corpus/$t" "$root/tests/fuzz/corpus/$t")
done
