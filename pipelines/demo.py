#!/usr/bin/env python3
"""demo.py: the GStreamer part of pipelines/demo.sh (run that script, not this one).

Runs one spoken conversation (a WAV with one or more questions) through realtimeconv and writes:
  reply.wav         the assistant's voice, on the input timeline (24 kHz mono S16LE, wavenc);
  conversation.wav  the input and the reply mixed with audiomixer;
  captions.vtt      the transcription of the input speech (input_transcript_src -> webvttenc);
  transcript.txt    both sides with their times (from the element messages and transcript_src);
then prints a summary (turns, durations, time to first audio of each reply, token usage, files).

The weather tool is answered by a local Python function through the function-call signal
(embed.py's ConversationMonitor), as an application embedding GStreamer would do it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import wave
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from embed import (DEFAULT_INSTRUCTIONS, WEATHER_TOOL, ConversationMonitor, GLib, Gst,  # noqa: E402
                   run_pipeline)

PCM24K = "audio/x-raw,format=S16LE,rate=24000,channels=1,layout=interleaved"
UNBOUNDED = "max-size-buffers=0 max-size-bytes=0 max-size-time=0"


@dataclass
class Segment:
    start: float
    end: float
    text: str
    response_id: str = ""


def clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:05.2f}"


def wav_seconds(path: str) -> float:
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (OSError, EOFError, wave.Error):
        return 0.0


def build_pipeline(args: argparse.Namespace) -> Gst.Pipeline:
    out = args.outdir
    if args.pace == "live":
        # --pace live: the file is played as a live source, as a microphone would deliver it (a
        # silent live audiotestsrc, 20 ms buffers as long as the file, paces an audiomixer that
        # mixes the file in). realtimeconv then works in live mode: each reply is stamped with the
        # running time at which it arrived, and silence-fill=always writes silence instead of GAP
        # events between the replies, because wavenc ignores GAP events and reply.wav must still
        # line up with the input. The timing then depends on the machine keeping up in real time.
        with wave.open(args.input, "rb") as w:
            frames = w.getnframes() * 24000 // w.getframerate()
        source = (f'filesrc location="{args.input}" ! wavparse ! audioconvert ! audioresample ! {PCM24K} ! live. '
                  f"audiotestsrc is-live=true wave=silence samplesperbuffer=480 num-buffers={frames // 480 + 1} ! "
                  f"{PCM24K} ! audiomixer name=live ! {PCM24K} ! ")
    else:
        # --pace file (default): the file is read as a file (not live), as fast as the session
        # takes it. realtimeconv places each reply on the input timeline where the question ended
        # (or right after the previous reply) and, with silence-fill=auto, fills the rest with
        # silence, so reply.wav lines up with the input sample for sample and the captions carry
        # the server's own speech positions, whatever the machine's load. After each end of turn
        # the element holds the input until the turn's answer is done, including an answer that
        # follows a function call (the function call's response, then the reply requested with
        # function-output), so the next question cannot interrupt it.
        source = f'filesrc location="{args.input}" ! wavparse ! audioconvert ! audioresample ! {PCM24K} ! '
    # No async=false on the sinks: realtimeconv starts every src pad with a GAP event, so the sinks
    # of the sparse text pads preroll before the first transcript.
    desc = (
        f"{source} tee name=input "
        "input. ! queue ! realtimeconv name=conv "
        # the reply: 24 kHz pcm16 (this caps filter also chooses the session's output format)
        f"conv.src ! {PCM24K} ! tee name=reply "
        f'reply. ! queue ! wavenc ! filesink location="{out}/reply.wav" '
        # input + reply mixed. The input branch queue is unbounded: the reply of a turn exists only
        # once the server has heard the end of that turn, so the mixer must be able to wait for it.
        f"input. ! queue {UNBOUNDED} ! mix.sink_0 "
        f"reply. ! queue {UNBOUNDED} ! mix.sink_1 "
        f'audiomixer name=mix ! audioconvert ! wavenc ! filesink location="{out}/conversation.wav" '
        # the assistant transcript, timed to its audio, read by the application (pulled from the
        # main loop, so that no Python code runs in the streaming threads)
        "conv.transcript_src ! queue ! appsink name=assistant sync=false max-buffers=0 drop=false "
        # captions of the input speech
        f'conv.input_transcript_src ! queue ! webvttenc ! filesink location="{out}/captions.vtt"'
    )
    pipeline = Gst.parse_launch(desc)
    if args.pace == "live":
        pipeline.get_by_name("conv").set_property("silence-fill", "always")
    return pipeline


def assign_segments(buffers: list[tuple[float, float, str]], monitor: ConversationMonitor) -> list[Segment]:
    """Groups the transcript_src buffers (deltas, in order) into one segment per response.

    The final transcript of each response comes from the realtimeconv/transcript messages; the
    buffers give the times (each delta is timed at the audio it arrived with).
    """
    finals = [(rid, monitor.responses[rid].text) for rid in monitor.response_order if monitor.responses[rid].text]
    segs: list[Segment] = []
    i = 0
    for rid, text in finals:
        if i >= len(buffers):
            break
        acc, start, end = "", buffers[i][0], buffers[i][1]
        while i < len(buffers) and (not acc or len(acc.strip()) < len(text.strip())):
            acc += buffers[i][2]
            end = max(end, buffers[i][1])
            i += 1
        segs.append(Segment(start, end, text.strip(), rid))
    if i < len(buffers):  # deltas without a final transcript (e.g. a cancelled response)
        rest = buffers[i:]
        segs.append(Segment(rest[0][0], max(b[1] for b in rest), "".join(b[2] for b in rest).strip()))
    return segs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="WAV with the spoken questions")
    ap.add_argument("outdir")
    ap.add_argument("--endpoint", default="", help="Realtime endpoint ('' = from the environment)")
    ap.add_argument("--backend", default="", help="description of the backend for the summary")
    ap.add_argument("--pace", choices=["file", "live"], default="file",
                    help="feed the input as a file (default: replies and captions on the input timeline) "
                         "or as a live source, like a microphone (see build_pipeline)")
    ap.add_argument("--instructions", default=DEFAULT_INSTRUCTIONS)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--verbose", action="store_true", help="print the element messages as they come")
    args = ap.parse_args()

    Gst.init(None)
    if Gst.ElementFactory.find("realtimeconv") is None:
        print("realtimeconv not found (GST_PLUGIN_PATH?)", file=sys.stderr)
        return 1
    os.makedirs(args.outdir, exist_ok=True)
    pipeline = build_pipeline(args)
    conv = pipeline.get_by_name("conv")
    if args.endpoint:
        conv.set_property("endpoint", args.endpoint)
    conv.set_property("instructions", args.instructions)
    conv.set_property("tools", json.dumps([WEATHER_TOOL]))
    conv.set_property("input-transcription-model", "whisper-1")
    conv.set_property("transcription-language", "en")

    monitor = ConversationMonitor(conv, verbose=args.verbose)
    buffers: list[tuple[float, float, str]] = []

    appsink = pipeline.get_by_name("assistant")

    def pull_text() -> bool:
        while True:
            sample = appsink.emit("try-pull-sample", 0)
            if sample is None:
                return True
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            text = bytes(info.data).decode("utf-8", "replace") if ok else ""
            if ok:
                buf.unmap(info)
            seg = sample.get_segment()
            pts = seg.to_running_time(Gst.Format.TIME, buf.pts) if buf.pts != Gst.CLOCK_TIME_NONE else 0
            dur = buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0
            buffers.append((pts / Gst.SECOND, (pts + dur) / Gst.SECOND, text))

    GLib.timeout_add(50, pull_text)

    # Arrival order of the messages: a function call belongs to the last user turn that ended.
    call_times: list[tuple[float, dict]] = []
    last_end = [0.0]

    def on_message(msg: Gst.Message) -> None:
        s = msg.get_structure() if msg.type == Gst.MessageType.ELEMENT else None
        if s is None:
            return
        if s.get_name() == "realtimeconv/speech-stopped":
            rt = s.get_value("running-time")
            if rt is not None and rt >= 0:
                last_end[0] = rt / Gst.SECOND
        elif s.get_name() == "realtimeconv/function-call":
            call_times.append((last_end[0], {"name": s.get_value("name"), "arguments": s.get_value("arguments"),
                                             "call-id": s.get_value("call-id")}))

    rc = run_pipeline(pipeline, monitor, args.timeout, on_message)
    if rc != 0:
        print("demo: the pipeline failed (run with GST_DEBUG=realtimeconv:6 for details)", file=sys.stderr)
        return rc

    # transcript.txt: both sides, on the input timeline.
    turns = [t for t in monitor.turns() if t.start_ns >= 0]
    turns.sort(key=lambda t: t.start_ns)
    pull_text()
    segs = assign_segments(sorted(buffers, key=lambda b: b[0]), monitor)
    outputs = {c["call_id"]: c["output"] for c in monitor.calls}
    lines: list[tuple[float, int, str]] = []
    for t in turns:
        st, en = t.start_ns / Gst.SECOND, (t.end_ns / Gst.SECOND if t.end_ns >= 0 else t.start_ns / Gst.SECOND)
        lines.append((st, 0, f"[{clock(st)} - {clock(en)}] user: {t.text or '(not transcribed)'}"))
    for at, c in call_times:
        out = outputs.get(c["call-id"], "(not answered)")
        lines.append((at, 1, f"[{clock(at)}]{' ' * 11}tool: {c['name']}({c['arguments']}) -> {out}"))
    for sg in segs:
        lines.append((sg.start, 2, f"[{clock(sg.start)} - {clock(sg.end)}] assistant: {sg.text}"))
    lines.sort(key=lambda x: (x[0], x[1]))
    with open(os.path.join(args.outdir, "transcript.txt"), "w", encoding="utf-8") as f:
        f.write("# realtimeconv demo: both sides of the conversation, times on the input timeline (mm:ss.ss)\n")
        for _, _, line in lines:
            f.write(line + "\n")

    # Summary.
    in_s = wav_seconds(args.input)
    reply_s = wav_seconds(os.path.join(args.outdir, "reply.wav"))
    print()
    print(f"realtimeconv demo against {args.backend or args.endpoint or 'the endpoint from the environment'}")
    print(f"  input:  {in_s:.2f} s, {len(turns)} user turn(s); reply track {reply_s:.2f} s")
    for n, t in enumerate(turns, 1):
        st = t.start_ns / Gst.SECOND
        en = t.end_ns / Gst.SECOND if t.end_ns >= 0 else st
        nxt = turns[n].start_ns / Gst.SECOND if n < len(turns) else float("inf")
        print(f"  turn {n}: {st:6.2f}-{en:6.2f} s ({en - st:.2f} s) user: {t.text or '(not transcribed)'}")
        for at, c in call_times:
            if st <= at < nxt:
                print(f"          tool {c['name']}({c['arguments']}) answered by a local function")
        for sg in segs:
            if st <= sg.start < nxt:
                r = monitor.responses.get(sg.response_id)
                ttfa = f"{r.ttfa_ns / 1e6:.0f} ms" if r and r.ttfa_ns >= 0 else "n/a"
                print(f"          reply {sg.start:6.2f}-{sg.end:6.2f} s ({sg.end - sg.start:.2f} s, "
                      f"{max(sg.start - en, 0):.2f} s after the question ended), time to first audio {ttfa}")
                print(f"          assistant: {sg.text}")
    total, tin, tout = monitor.usage()
    print(f"  tokens: {total} total ({tin} input, {tout} output) over {len(monitor.responses)} response(s)")
    if monitor.server_errors:
        print(f"  server errors: {len(monitor.server_errors)} (first: {monitor.server_errors[0].get('code')})")
    print("  files:")
    for name in ("reply.wav", "conversation.wav", "captions.vtt", "transcript.txt"):
        p = os.path.join(args.outdir, name)
        size = os.path.getsize(p) if os.path.exists(p) else 0
        print(f"    {p} ({size} bytes)")
    if not turns or not segs:
        print("demo: no complete turn (no speech heard or no reply)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
