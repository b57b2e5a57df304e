#!/usr/bin/env python3
"""Soak test (not in CI; started by tests/soak.sh): N live realtimeconv sessions in ONE process
with periodic speech, against realtime-emulator, with faults at random intervals (the emulator
stopped with SIGSTOP for a few seconds: a stall; or killed and restarted on the same port: a lost
connection). Every SAMPLE seconds it prints a table row: RSS, fds and threads of this process,
reconnections and input accounting summed over the sessions. At the end: growth of RSS after the
warm-up, faults survived, errors on the bus, input dropped.

   python3 tests/soak.py --build build --sessions 4 --minutes 60 [--sample 30] [--seed 1]
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def proc_status():
    rss = threads = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024.0
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir("/proc/self/fd"))
    return rss, fds, threads


class Emu:
    def __init__(self, exe, port):
        self.exe, self.port, self.p = exe, port, None

    def start(self):
        self.p = subprocess.Popen([self.exe, "--port", str(self.port), "--voice", "tone"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        if "ws://" not in line:
            raise RuntimeError("emulator did not start: %r" % line)
        self.url = line.strip().split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self):
        if self.p:
            self.p.send_signal(signal.SIGCONT)
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
            self.p = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--sample", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault-min", type=int, default=60, help="shortest interval between faults (s)")
    ap.add_argument("--fault-max", type=int, default=180)
    a = ap.parse_args()
    random.seed(a.seed)
    build = os.path.abspath(a.build)
    os.environ["GST_PLUGIN_PATH"] = os.path.join(build, "plugin") + ":" + os.environ.get("GST_PLUGIN_PATH", "")
    Gst.init(None)
    emu = Emu(os.path.join(build, "server", "realtime-emulator"), 0)
    emu.start()
    branches = []
    for i in range(a.sessions):
        branches.append(
            "audiotestsrc is-live=true freq=%d samplesperbuffer=480 ! volume name=v%d volume=0 ! "
            "audio/x-raw,format=S16LE,rate=24000,channels=1 ! "
            "realtimeconv name=c%d endpoint=%s api-key=soak-key reconnect-attempts=100 ! queue ! fakesink sync=false "
            "c%d.transcript_src ! queue ! fakesink c%d.input_transcript_src ! queue ! fakesink"
            % (300 + 40 * i, i, i, emu.url, i, i))
    pipe = Gst.parse_launch(" ".join(branches))
    errors, warnings = [], []

    def on_msg(bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            errors.append(msg.parse_error()[0].message)
        elif msg.type == Gst.MessageType.WARNING:
            warnings.append(msg.parse_warning()[0].message)
        return True

    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_msg)
    pipe.set_state(Gst.State.PLAYING)
    loop = GLib.MainLoop()
    t0 = time.monotonic()
    end = t0 + a.minutes * 60
    rows, faults = [], []
    next_fault = [t0 + random.randint(a.fault_min, a.fault_max)]

    def stats_sum():
        tot = {}
        for i in range(a.sessions):
            st = pipe.get_by_name("c%d" % i).get_property("stats")
            if st is None:
                continue
            for k in ("reconnects", "input-ms-dropped", "audio-ms-sent", "audio-ms-received"):
                ok, v = (st.get_uint64(k) if k in ("reconnects", "input-ms-dropped") else st.get_double(k))
                if ok:
                    tot[k] = tot.get(k, 0) + v
        return tot

    def speech():
        # 1.5 s of tone every 6 s on every session (staggered): the emulator's VAD answers each turn
        now = time.monotonic() - t0
        for i in range(a.sessions):
            phase = (now + i * 1.3) % 6.0
            pipe.get_by_name("v%d" % i).set_property("volume", 0.5 if phase < 1.5 else 0.0)
        return True

    def fault():
        now = time.monotonic()
        if now >= next_fault[0] and now < end - 30:
            kind = random.choice(["stall", "restart"])
            if kind == "stall":
                emu.p.send_signal(signal.SIGSTOP)
                time.sleep(random.uniform(2, 6))
                emu.p.send_signal(signal.SIGCONT)
            else:
                port = emu.port
                emu.stop()
                time.sleep(1)
                emu.port = port
                emu.start()
            faults.append((round(now - t0), kind))
            next_fault[0] = now + random.randint(a.fault_min, a.fault_max)
        return True

    def sample():
        rss, fds, thr = proc_status()
        st = stats_sum()
        row = (round(time.monotonic() - t0), rss, fds, thr, int(st.get("reconnects", 0)),
               int(st.get("input-ms-dropped", 0)), st.get("audio-ms-sent", 0) / 1000.0,
               st.get("audio-ms-received", 0) / 1000.0, len(faults), len(errors))
        rows.append(row)
        print("%6d s  rss %7.1f MB  fds %4d  threads %3d  reconnects %4d  dropped %6d ms  sent %8.1f s  "
              "received %8.1f s  faults %3d  errors %d" % row, flush=True)
        if time.monotonic() >= end or errors:
            loop.quit()
        return True

    GLib.timeout_add(100, speech)
    GLib.timeout_add(500, fault)
    GLib.timeout_add_seconds(a.sample, sample)
    sample()
    loop.run()
    pipe.set_state(Gst.State.NULL)
    emu.stop()
    warm = [r for r in rows if r[0] >= 120] or rows
    growth = rows[-1][1] - warm[0][1]
    print("\nsessions %d, %.1f min, faults %d (%s)" % (a.sessions, (time.monotonic() - t0) / 60, len(faults),
                                                       ", ".join("%ds %s" % f for f in faults)))
    print("RSS after warm-up %.1f MB -> %.1f MB (growth %.1f MB); fds %d -> %d; threads %d -> %d" %
          (warm[0][1], rows[-1][1], growth, warm[0][2], rows[-1][2], warm[0][3], rows[-1][3]))
    print("bus errors: %d %s; warnings: %d" % (len(errors), errors[:3], len(warnings)))
    print("input dropped: %d ms" % rows[-1][5])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
