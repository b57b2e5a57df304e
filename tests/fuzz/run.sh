#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer (ASan + UBSan) and runs them.
#   bash tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
# Needs clang-14 (Debian: clang-14, libclang-rt-14-dev ships libFuzzer). New inputs that found
# coverage are kept in build-fuzz/corpus/<target>/; a crash writes build-fuzz/crash-*: copy it into
# tests/fuzz/corpus/<target>/ as a regression case once fixed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}; shift || true
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(server_event endpoint)
out=${RTC_FUZZ_DIR:-$root/build-fuzz}
mkdir -p "$out"
CXX=${CXX_FUZZ:-clang++-14}
flags="-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
inc="-I$root/gst/realtime $(pkg-config --cflags glib-2.0 json-glib-1.0)"
libs="$(pkg-config --libs glib-2.0 json-glib-1.0)"
srcs="$root/gst/realtime/protocol_build.cc $root/gst/realtime/protocol_parse.cc $root/gst/realtime/fastpath.cc $root/gst/realtime/base64.cc $root/gst/realtime/endpoint.cc"
for t in "${targets[@]}"; do
  [ -x "$out/fuzz_$t" ] && [ "$out/fuzz_$t" -nt "$root/tests/fuzz/fuzz_$t.cc" ] ||
    $CXX $flags $inc "$root/tests/fuzz/fuzz_$t.cc" $srcs $libs -o "$out/fuzz_$t"
  mkdir -p "$out/corpus/$t"
  (cd "$out" && "./fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 \
     "corpus/$t" "$root/tests/fuzz/corpus/$t")
done
