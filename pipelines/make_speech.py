#!/usr/bin/env python3
"""Makes spoken test input with espeak-ng: one or more utterances, each a user turn.

    make_speech.py -o question.wav "What's the weather like in Seattle today?" \
        "And should I take an umbrella?"

writes a mono 16-bit WAV (24 kHz by default, the rate of the Realtime API's pcm16): --lead
seconds of silence, the first utterance, --pause seconds of silence, the next utterance, ...,
then --trail seconds of silence (so that a server VAD hears the end of the last turn). With
--segments FILE it also writes where each utterance starts and ends (JSON, seconds), which tests
compare with the server's speech events.

espeak-ng speaks at 22050 Hz; gst-launch-1.0 (audioresample) converts each utterance.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave


def speak(text: str, voice: str, speed: int, rate: int, tmp: str, index: int) -> bytes:
    raw = os.path.join(tmp, f"u{index}.wav")
    conv = os.path.join(tmp, f"u{index}-{rate}.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
    subprocess.run(
        ["gst-launch-1.0", "-q", "filesrc", f"location={raw}", "!", "wavparse", "!", "audioconvert", "!",
         "audioresample", "!", f"audio/x-raw,format=S16LE,rate={rate},channels=1", "!", "wavenc", "!",
         "filesink", f"location={conv}"],
        check=True, stdout=subprocess.DEVNULL)
    with wave.open(conv, "rb") as w:
        return w.readframes(w.getnframes())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("texts", nargs="+", help="utterances, one per user turn")
    ap.add_argument("-o", "--output", required=True, help="output WAV")
    ap.add_argument("--rate", type=int, default=24000, help="sample rate (default 24000)")
    ap.add_argument("--voice", default="en-us", help="espeak-ng voice (default en-us)")
    ap.add_argument("--speed", type=int, default=165, help="espeak-ng words per minute (default 165)")
    ap.add_argument("--lead", type=float, default=0.5, help="silence before the first utterance, s")
    ap.add_argument("--pause", type=float, default=4.0, help="silence between utterances, s")
    ap.add_argument("--trail", type=float, default=2.0, help="silence after the last utterance, s")
    ap.add_argument("--segments", help="write the utterance positions (JSON) here")
    args = ap.parse_args()

    for tool in ("espeak-ng", "gst-launch-1.0"):
        if not shutil.which(tool):
            print(f"make_speech.py: {tool} not found (apt-get install espeak-ng gstreamer1.0-tools)", file=sys.stderr)
            return 1

    def silence(seconds: float) -> bytes:
        return b"\0\0" * int(round(seconds * args.rate))

    pcm = bytearray(silence(args.lead))
    segments = []
    with tempfile.TemporaryDirectory(prefix="rtc-speech-") as tmp:
        for i, text in enumerate(args.texts):
            if i > 0:
                pcm += silence(args.pause)
            start = len(pcm) // 2
            pcm += speak(text, args.voice, args.speed, args.rate, tmp, i)
            segments.append({"text": text, "start": start / args.rate, "end": len(pcm) // 2 / args.rate})
    pcm += silence(args.trail)

    with wave.open(args.output, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(args.rate)
        w.writeframes(bytes(pcm))
    if args.segments:
        with open(args.segments, "w") as f:
            json.dump({"rate": args.rate, "duration": len(pcm) // 2 / args.rate, "segments": segments}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
