# Sourced by tests/run.sh, pipelines/demo.sh and tests/benchmarks/run.sh.
# rtc_ensure_deps: installs the Debian packages the project needs (apt-get when root;
# otherwise prints the exact command and returns 1).
RTC_DEBIAN_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-x
  libsoup-3.0-dev glib-networking libjson-glib-dev
  libgtest-dev espeak-ng libespeak-ng-dev
  python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  openssl
)

rtc_ensure_deps() {
  local missing=() p
  for p in "${RTC_DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || { echo "apt-get update failed"; return 1; }
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      { echo "apt-get install failed for: ${missing[*]}"; return 1; }
    return 0
  fi
  echo "Missing packages. Run as root:"
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  return 1
}

# rtc_build BUILDDIR [meson setup args...]: configures (once) and builds.
rtc_build() {
  local builddir=$1; shift
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$root" "$@" >"$builddir.setup.log" 2>&1 ||
      { cat "$builddir.setup.log"; echo "meson setup failed"; return 1; }
  fi
  ninja -C "$builddir" >"$builddir.build.log" 2>&1 ||
    { tail -n 60 "$builddir.build.log"; echo "build failed (full log: $builddir.build.log)"; return 1; }
}

# Benchmark-only packages (tests/benchmarks/run.sh; the tests never need them): node runs the
# decode comparison and the peer row (the OpenAI Node SDK, installed by npm into the build tree),
# gnuplot draws the SVG plots, perf profiles the density break. npm ships with some node builds
# (nodesource): the Debian npm package is added only when the command is missing.
RTC_BENCH_PACKAGES=(nodejs gnuplot-nox linux-perf)
rtc_ensure_bench_deps() {
  local RTC_DEBIAN_PACKAGES=("${RTC_BENCH_PACKAGES[@]}")
  command -v npm > /dev/null || RTC_DEBIAN_PACKAGES+=(npm)
  rtc_ensure_deps
}

# The release build of the benchmarks (run.sh, compare.sh): BUILDDIR from SOURCE (set up, or
# reconfigured to release when it exists), then ninja TARGETS.
rtc_bench_build() {
  local src=$1 builddir=$2; shift 2
  if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$src" -Dbuildtype=release -Doptimization=2 -Dbenchmarks=enabled || return 1
  else
    meson configure "$builddir" -Dbuildtype=release -Doptimization=2 -Dbenchmarks=enabled > /dev/null || return 1
  fi
  ninja -C "$builddir" "$@"
}
