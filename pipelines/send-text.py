#!/usr/bin/env python3
"""Recipe: text in, audio out (the Azure samples' quickstart) with the `send-text` action signal.

    python3 pipelines/send-text.py "Tell me a fun fact about Seattle." [--out answer.wav]

What it shows: realtimeconv needs no speech to talk. The program waits until the session is
configured (the realtimeconv/session message), emits `send-text` (a user text item followed by a
response), plays or saves the spoken answer, prints its transcript, and ends the pipeline with an
EOS after realtimeconv/response-done. The sink pad still gets audio (a live silent source): it
fixes the input format and the clock, and turn-detection=none keeps the server from listening to
it. With --out the reply is written to a WAV (silence-fill=always: a continuous track from the
start, as a file needs); otherwise it goes to $RTC_AUDIO_SINK or autoaudiosink.

Endpoint: --endpoint, $RTC_ENDPOINT, or the environment (AZURE_OPENAI_* / OPENAI_API_KEY).
"""
import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("text", nargs="?", default="Tell me a fun fact about Seattle.")
    ap.add_argument("--out", help="write the answer to this WAV")
    ap.add_argument("--endpoint", default=os.environ.get("RTC_ENDPOINT", ""))
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    Gst.init(None)
    sink = (f'wavenc ! filesink location="{args.out}"' if args.out
            else os.environ.get("RTC_AUDIO_SINK", "autoaudiosink"))
    pipeline = Gst.parse_launch(
        "audiotestsrc is-live=true wave=silence ! audio/x-raw,format=S16LE,rate=24000,channels=1 ! "
        "realtimeconv name=c turn-detection=none "
        f"c.src ! queue ! audioconvert ! audioresample ! {sink} "
        "c.transcript_src ! queue ! fakesink "
        "c.input_transcript_src ! queue ! fakesink")
    conv = pipeline.get_by_name("c")
    if args.endpoint:
        conv.set_property("endpoint", args.endpoint)
    if args.out:
        conv.set_property("silence-fill", "always")

    loop = GLib.MainLoop()
    state = {"sent": False, "rc": 0, "eos_sent": False}

    def on_message(_bus, msg):
        t = msg.type
        if t == Gst.MessageType.ELEMENT and msg.src == conv:
            s = msg.get_structure()
            name = s.get_name()
            if name == "realtimeconv/session" and not state["sent"]:
                state["sent"] = True
                print(f"you:       {args.text}")
                conv.emit("send-text", args.text)
            elif name == "realtimeconv/transcript" and s.get_value("final"):
                print(f"assistant: {s.get_value('text')}")
            elif name == "realtimeconv/response-done" and not state["eos_sent"]:
                state["eos_sent"] = True
                pipeline.send_event(Gst.Event.new_eos())  # drains: the rest of the audio, then EOS
        elif t == Gst.MessageType.EOS:
            loop.quit()
        elif t == Gst.MessageType.ERROR:
            err, _dbg = msg.parse_error()
            print(f"error: {err.message}", file=sys.stderr)
            state["rc"] = 1
            loop.quit()

    def on_timeout():
        print(f"timeout after {args.timeout:g} s", file=sys.stderr)
        state["rc"] = 1
        loop.quit()
        return False

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    GLib.timeout_add(int(args.timeout * 1000), on_timeout)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except KeyboardInterrupt:
        state["rc"] = 130
    pipeline.set_state(Gst.State.NULL)
    if args.out and state["rc"] == 0:
        print(f"answer: {args.out}")
    return state["rc"]


if __name__ == "__main__":
    sys.exit(main())
