#!/usr/bin/env python3
"""Draws the benchmark plots (issue 15) from the JSON lines of tests/benchmarks/run.sh with gnuplot
(Debian gnuplot-nox, a benchmark dependency), as SVG next to latest.md:
  density.svg         CPU per session-second and worst lateness at the sinks against N
  output_latency.svg  output path latency distribution (frame -> src pad), one curve per run
  peer_cpu.svg        CPU per session-second of the element and of the OpenAI Node SDK, same job
A plot whose records are missing is skipped; a failure is reported, never fatal to run.sh."""
import argparse
import json
import os
import subprocess
import tempfile


def load(path):
    by = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        by[r.get("id")] = r
    return by


def gnuplot(script, out):
    try:
        p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"   plot {out}: {e}")
        return
    if p.returncode != 0 or not os.path.exists(out):
        print(f"   plot {out} failed: {p.stderr.strip()[:300]}")
    else:
        print(f"   written: {out}")


HEAD = 'set terminal svg size 800,480 dynamic enhanced font "sans,12" background rgb "white"\n'


def density(by, out, tmp):
    dens = sorted((r for k, r in by.items() if str(k).startswith("density_") and not str(k).startswith("density_base_")
                   and r.get("bench") == "element" and not r.get("baseline")), key=lambda r: r["n"])
    if len(dens) < 2:
        return
    bases = {r["n"]: r for k, r in by.items() if str(k).startswith("density_base_") and r.get("baseline")}
    # the source's own cost per session, interpolated from the baseline runs (constant beyond them)
    bn = sorted(bases)

    def base_at(n):
        if not bn:
            return None
        if n < bn[0]:
            return None  # the source's per-session cost is not flat at small N: no extrapolation
        if n == bn[0]:
            return bases[n]["cpu_ms_per_session_s"]
        for a, b in zip(bn, bn[1:]):
            if a <= n <= b:
                fa, fb = bases[a]["cpu_ms_per_session_s"], bases[b]["cpu_ms_per_session_s"]
                return fa + (fb - fa) * (n - a) / (b - a)
        return bases[bn[-1]]["cpu_ms_per_session_s"]

    dat = os.path.join(tmp, "density.dat")
    with open(dat, "w") as fh:
        for r in dens:
            b = base_at(r["n"])
            el = r["cpu_ms_per_session_s"] - b if b is not None else float("nan")
            fh.write(f"{r['n']} {r['cpu_ms_per_session_s']:.3f} {el:.3f} {r['max_lateness_ms']:.3f} "
                     f"{(r.get('loop_lag_us_p99') or float('nan')) / 1000:.3f}\n")
    gnuplot(HEAD + f'''set output "{out}"
set title "Density: N real-time sessions in one process"
set xlabel "concurrent sessions N"
set ylabel "CPU ms per session-second"
set y2label "ms"
set y2tics
set ytics nomirror
set key top right
set grid
plot "{dat}" using 1:2 with linespoints lw 2 title "CPU per session (with its live source)", \\
     "{dat}" using 1:3 with linespoints lw 2 title "CPU per session (element only)", \\
     "{dat}" using 1:4 axes x1y2 with linespoints lw 2 dt 2 title "worst lateness at the sinks (ms, > 0 = late)", \\
     "{dat}" using 1:5 axes x1y2 with linespoints lw 2 dt 3 title "engine loop lag p99 (ms)", \\
     0 axes x1y2 with lines lc rgb "gray" notitle
''', out)


def latency(by, out, tmp):
    runs = []
    for key, label in (("output_paced", "paced 100x"), ("output_burst", "burst (stress)")):
        r = by.get(key)
        if r and r.get("lat_us_pcts"):
            runs.append((label, r["lat_us_pcts"]))
    dens = sorted((r for k, r in by.items() if str(k).startswith("density_") and r.get("out_lat_us_pcts")
                   and not r.get("baseline")), key=lambda r: r["n"])
    for r in dens[-2:]:
        runs.append((f"density N={r['n']}", r["out_lat_us_pcts"]))
    if not runs:
        return
    plots = []
    for i, (label, p) in enumerate(runs):
        dat = os.path.join(tmp, f"lat{i}.dat")
        pts = [(p[k], k) for k in range(101)] + [(p[101], 99.5), (p[102], 99.9)]
        pts = sorted((v, q) for v, q in pts if v is not None)
        with open(dat, "w") as fh:
            for v, q in pts:
                fh.write(f"{max(v, 1.0):.1f} {q}\n")
        plots.append(f'"{dat}" using 1:2 with lines lw 2 title "{label}"')
    gnuplot(HEAD + f'''set output "{out}"
set title "Output path latency: complete WebSocket frame to the element's src pad"
set xlabel "latency (µs, log scale)"
set ylabel "percentile"
set logscale x
set yrange [0:100]
set key bottom right
set grid
set arrow from 1000, graph 0 to 1000, graph 1 nohead dt 2 lc rgb "red"
set label "1 ms" at 1000, graph 0.05 offset 0.5,0
plot {", ".join(plots)}
''', out)


def peer(by, out, tmp):
    pe, peb, ps, psb = by.get("peer_element"), by.get("peer_element_base"), by.get("peer_sdk"), by.get("peer_sdk_base")
    if not (pe and peb and ps and psb):
        return
    dat = os.path.join(tmp, "peer.dat")
    el = pe["cpu_ms_per_session_s"] - peb["cpu_ms_per_session_s"]
    sdk = ps["cpu_ms_per_session_s"] - psb["cpu_ms_per_session_s"]
    with open(dat, "w") as fh:
        fh.write(f'"realtimeconv" {max(el, 0):.3f} {peb["cpu_ms_per_session_s"]:.3f}\n')
        fh.write(f'"OpenAI Node SDK {ps.get("sdk_version", "")}" {max(sdk, 0):.3f} {psb["cpu_ms_per_session_s"]:.3f}\n')
    gnuplot(HEAD + f'''set output "{out}"
set title "CPU per session-second over wss://, N={pe['n']} sessions, same job, same emulator"
set ylabel "CPU ms per session-second"
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.5
set yrange [0:*]
set key outside bottom center horizontal
set grid ytics
plot "{dat}" using 2:xtic(1) title "the session (element / SDK)", "" using 3 title "its live source alone (subtracted)"
''', out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    by = load(a.raw)
    with tempfile.TemporaryDirectory() as tmp:
        density(by, os.path.join(a.out, "density.svg"), tmp)
        latency(by, os.path.join(a.out, "output_latency.svg"), tmp)
        peer(by, os.path.join(a.out, "peer_cpu.svg"), tmp)


if __name__ == "__main__":
    main()
