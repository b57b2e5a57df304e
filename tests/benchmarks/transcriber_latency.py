#!/usr/bin/python3
"""Measures realtimetranscriber's live word latency against realtime-emulator (not a test).

    RTC_EMULATOR=build/server/realtime-emulator GST_PLUGIN_PATH=build/plugin \
        python3 tests/benchmarks/transcriber_latency.py

A live tone (the emulator's energy detector hears speech from t=0) of 4 s goes through
realtimetranscriber; the emulator speaks the first turn of server/scenarios/weather.json, word i
ENDING at C(i)/15 s (server/transcription_session.h). For every word buffer the pipeline running
time at which appsink receives it minus the word's stated end is the word latency. The
emulator adds its stated lag for the `delay` setting; the rest is the element + engine + socket.
"""
import os
import subprocess
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

TURN = "What's the weather like in Seattle today?"


def stated_ends():
    ends, chars, cur = [], 0, ""
    words = []
    for ch in TURN:
        if ch == " " and cur and cur[-1] != " ":
            words.append(cur)
            cur = ""
        cur += ch
    words.append(cur)
    for w in words:
        chars += len(w)
        ends.append(chars / 15.0)
    return words, ends


def run(url, model, delay):
    desc = (f"audiotestsrc is-live=true wave=sine freq=440 volume=0.5 samplesperbuffer=480 num-buffers=200 ! "
            f"audio/x-raw,format=S16LE,rate=24000,channels=1 ! realtimetranscriber endpoint={url} api-key=x "
            f"model={model} {'delay=' + delay if delay else ''} latency=3000 ! appsink name=s emit-signals=true sync=false")
    p = Gst.parse_launch(desc)
    sink = p.get_by_name("s")
    got = []

    def on_sample(s):
        smp = s.emit("pull-sample")
        clock = p.get_clock()
        rt = (clock.get_time() - p.get_base_time()) / 1e9 if clock else 0
        buf = smp.get_buffer()
        got.append((buf.extract_dup(0, buf.get_size()).decode(), rt))
        return Gst.FlowReturn.OK

    sink.connect("new-sample", on_sample)
    p.set_state(Gst.State.PLAYING)
    bus = p.get_bus()
    bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    words, ends = stated_ends()
    lat = [rt - ends[i] for i, (w, rt) in enumerate(got[:len(ends)]) if w == words[i]]
    return lat


def main():
    Gst.init(None)
    emu = os.environ.get("RTC_EMULATOR", "build/server/realtime-emulator")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rows = []
    for model, delay in [("gpt-realtime-whisper", "minimal"), ("gpt-realtime-whisper", "low"),
                         ("gpt-realtime-whisper", "medium"), ("gpt-realtime-whisper", "high"),
                         ("gpt-live-transcribe", "")]:
        pf = f"/tmp/rtc-txlat-{os.getpid()}.port"
        e = subprocess.Popen([emu, "--port", "0", "--port-file", pf, "--voice", "tone", "--scenario",
                              os.path.join(root, "server/scenarios/weather.json")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(pf) and open(pf).read().strip():
                    break
                time.sleep(0.05)
            url = "ws://127.0.0.1:" + open(pf).read().strip()
            lat = run(url, model, delay)
        finally:
            e.terminate()
            e.wait()
            os.unlink(pf)
        if lat:
            rows.append((model, delay or "-", len(lat), sum(lat) / len(lat) * 1000, max(lat) * 1000))
        else:
            rows.append((model, delay or "-", 0, float("nan"), float("nan")))
    print("| model | delay | words | mean word latency ms | max ms |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
