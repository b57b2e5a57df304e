#!/usr/bin/env python3
"""embed.py: realtimeconv inside a Python application, as broadcast tooling embeds it.

What it shows (PyGObject with Debian's python3-gst-1.0, no other dependency):
  * building a pipeline with Gst.parse_launch and configuring realtimeconv from code
    (instructions, a `tools` JSON array, input transcription);
  * reading the element messages on the bus: session, speech-started / speech-stopped,
    input-transcript (captions), transcript (assistant), response-done (status, token usage,
    time to first audio), rate-limits, function-call, truncated, reconnecting, server-error;
  * answering the `function-call` signal with a local Python function
    (get_weather_for_location, the tool of the Azure samples) through the `function-output`
    action signal;
  * shutting down cleanly: EOS at the end of the input, errors reported with a non-zero exit.

    python3 pipelines/embed.py question.wav                   # reply to the speakers
    python3 pipelines/embed.py question.wav --out reply.wav   # reply into a WAV (on the input timeline)
    python3 pipelines/embed.py --mic                          # microphone to speakers (use headphones)

The endpoint comes from --endpoint, else from the environment (AZURE_OPENAI_ENDPOINT +
AZURE_OPENAI_API_KEY [+ AZURE_OPENAI_DEPLOYMENT_NAME, OPENAI_API_VERSION], or OPENAI_API_KEY),
which the element reads itself. To try it offline, start the emulator first:

    build/server/realtime-emulator --scenario server/scenarios/weather.json &
    python3 pipelines/embed.py question.wav --endpoint ws://127.0.0.1:PORT

The audio sink is a gst-launch fragment: --sink, else $RTC_AUDIO_SINK, else autoaudiosink.
Importable: demo.py reuses ConversationMonitor, WEATHER_TOOL and get_weather_for_location.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

# The tool, as in the Azure OpenAI Realtime samples (session.update "tools").
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather_for_location",
    "description": "gets the weather for a location",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city and state such as San Francisco, CA"},
            "unit": {"type": "string", "enum": ["c", "f"]},
        },
        "required": ["location", "unit"],
    },
}

DEFAULT_INSTRUCTIONS = ("You are a helpful weather assistant. Call the provided tools when the user asks "
                        "about the weather, and answer briefly.")


def get_weather_for_location(location: str, unit: str = "f") -> dict[str, Any]:
    """The local implementation of the tool (a broadcaster would query its own data here)."""
    fahrenheit = 55 + (sum(map(ord, location)) % 10)  # deterministic, plausible
    temperature = fahrenheit if unit == "f" else round((fahrenheit - 32) * 5 / 9)
    return {"location": location, "temperature": temperature, "unit": unit,
            "description": "cloudy with light rain"}


LOCAL_FUNCTIONS: dict[str, Callable[..., Any]] = {"get_weather_for_location": get_weather_for_location}


def seconds(ns: int | None) -> float | None:
    """Element messages carry times as gint64 nanoseconds, -1 when unknown."""
    if ns is None or ns < 0:
        return None
    return ns / Gst.SECOND


def fmt_s(ns: int | None) -> str:
    s = seconds(ns)
    return "   ?   " if s is None else f"{s:7.2f}"


def structure_to_dict(s: Gst.Structure) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(s.n_fields()):
        name = s.nth_field_name(i)
        try:
            out[name] = s.get_value(name)
        except TypeError:  # a type PyGObject cannot convert: keep its text form
            out[name] = None
    return out


@dataclass
class ResponseRecord:
    response_id: str
    status: str = ""
    reason: str = ""
    text: str = ""
    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    ttfa_ns: int = -1
    function_calls: list[dict[str, Any]] = field(default_factory=list)
    wall_done: float = 0.0


@dataclass
class UserTurn:
    item_id: str
    start_ns: int = -1
    end_ns: int = -1
    text: str = ""


class ConversationMonitor:
    """Listens to one realtimeconv: answers its function calls and records its messages."""

    def __init__(self, element: Gst.Element, functions: dict[str, Callable[..., Any]] | None = None,
                 verbose: bool = True, out=sys.stdout):
        self.element = element
        self.functions = dict(LOCAL_FUNCTIONS if functions is None else functions)
        self.verbose = verbose
        self.out = out
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.session: dict[str, Any] = {}
        self.user_turns: dict[str, UserTurn] = {}
        self.user_order: list[str] = []
        self.responses: dict[str, ResponseRecord] = {}
        self.response_order: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.rate_limits: dict[str, Any] = {}
        self.truncations: list[dict[str, Any]] = []
        self.server_errors: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.messages: list[tuple[float, str, dict[str, Any]]] = []
        element.connect("function-call", self._on_function_call)

    # -- output ------------------------------------------------------------------------------
    def say(self, line: str) -> None:
        if self.verbose:
            print(f"[{time.monotonic() - self.t0:6.2f}s] {line}", file=self.out, flush=True)

    # -- function calls ----------------------------------------------------------------------
    def _on_function_call(self, element: Gst.Element, name: str, call_id: str, arguments: str) -> bool:
        # Emitted from the element's control thread (never the network thread); answering from
        # here with function-output is allowed. Return True when the call is handled.
        fn = self.functions.get(name)
        if fn is None:
            self.say(f"function-call {name}: no local function, left to the element (tools 'result')")
            return False
        try:
            args = json.loads(arguments) if arguments else {}
            result = fn(**args)
        except Exception as e:  # the model sent arguments we cannot use: tell it
            result = {"error": f"{type(e).__name__}: {e}"}
        output = json.dumps(result)
        with self.lock:
            self.calls.append({"name": name, "call_id": call_id, "arguments": arguments, "output": output,
                               "wall": time.monotonic() - self.t0})
        self.say(f"function-call {name}({arguments}) -> {output}")
        element.emit("function-output", call_id, output)
        return True

    # -- bus messages ------------------------------------------------------------------------
    def _response(self, rid: str) -> ResponseRecord:
        if rid not in self.responses:
            self.responses[rid] = ResponseRecord(rid)
            self.response_order.append(rid)
        return self.responses[rid]

    def _turn(self, item_id: str) -> UserTurn:
        if item_id not in self.user_turns:
            self.user_turns[item_id] = UserTurn(item_id)
            self.user_order.append(item_id)
        return self.user_turns[item_id]

    def handle_message(self, msg: Gst.Message) -> bool:
        """Returns True when msg was an element message of our element (and was handled)."""
        if msg.type != Gst.MessageType.ELEMENT or msg.src != self.element:
            return False
        s = msg.get_structure()
        if s is None or not s.get_name().startswith("realtimeconv/"):
            return False
        kind = s.get_name().split("/", 1)[1]
        d = structure_to_dict(s)
        with self.lock:
            self.messages.append((time.monotonic() - self.t0, kind, d))
            self._dispatch(kind, d)
        return True

    def _dispatch(self, kind: str, d: dict[str, Any]) -> None:
        if kind == "session":
            self.session.update(d)
            self.say(f"session {d.get('event')}: id={d.get('id')} model={d.get('model')}")
        elif kind == "speech-started":
            t = self._turn(d.get("item-id", ""))
            t.start_ns = d.get("running-time", -1)
            self.say(f"speech-started   at {fmt_s(t.start_ns)} s (audio_start_ms {d.get('audio-start-ms')})")
        elif kind == "speech-stopped":
            t = self._turn(d.get("item-id", ""))
            t.end_ns = d.get("running-time", -1)
            self.say(f"speech-stopped   at {fmt_s(t.end_ns)} s (audio_end_ms {d.get('audio-end-ms')})")
        elif kind == "input-transcript":
            if d.get("final"):
                t = self._turn(d.get("item-id", ""))
                t.text = d.get("text", "")
                if d.get("running-time", -1) >= 0:
                    t.start_ns = d["running-time"]
                    if d.get("duration", -1) >= 0:
                        t.end_ns = d["running-time"] + d["duration"]
                self.say(f"input-transcript {fmt_s(t.start_ns)} s: {t.text!r}")
        elif kind == "transcript":
            r = self._response(d.get("response-id", ""))
            if d.get("final"):
                r.text = d.get("text", "")
                self.say(f"transcript       {r.response_id}: {r.text!r}")
        elif kind == "response-done":
            r = self._response(d.get("response-id", ""))
            r.status, r.reason = d.get("status", ""), d.get("reason", "")
            r.total_tokens = d.get("total-tokens", 0)
            r.input_tokens = d.get("input-tokens", 0)
            r.output_tokens = d.get("output-tokens", 0)
            r.ttfa_ns = d.get("time-to-first-audio", -1)
            r.wall_done = time.monotonic() - self.t0
            ttfa = "" if r.ttfa_ns < 0 else f", first audio after {r.ttfa_ns / 1e6:.0f} ms"
            self.say(f"response-done    {r.response_id}: {r.status}{' (' + r.reason + ')' if r.reason else ''}, "
                     f"tokens {r.total_tokens} (in {r.input_tokens}, out {r.output_tokens}){ttfa}")
        elif kind == "function-call":
            r = self._response(d.get("response-id", ""))
            r.function_calls.append(d)
        elif kind == "rate-limits":
            self.rate_limits = d
            parts = []
            for k, v in d.items():
                if k.endswith("-remaining"):
                    name = k[: -len("-remaining")]
                    parts.append(f"{name} {v:g}/{d.get(name + '-limit', 0):g}")
            self.say("rate-limits      " + ", ".join(parts))
        elif kind == "truncated":
            self.truncations.append(d)
            self.say(f"truncated        {d.get('item-id')} at {d.get('audio-end-ms')} ms (barge-in)")
        elif kind == "server-error":
            self.server_errors.append(d)
            self.say(f"server-error     {d.get('code')}: {d.get('message')}")
        elif kind in ("reconnecting", "reconnected", "late"):
            self.say(f"{kind:16} {d}")

    # -- results -----------------------------------------------------------------------------
    def turns(self) -> list[UserTurn]:
        with self.lock:
            return [self.user_turns[i] for i in self.user_order]

    def usage(self) -> tuple[int, int, int]:
        with self.lock:
            rs = list(self.responses.values())
        return (sum(r.total_tokens for r in rs), sum(r.input_tokens for r in rs), sum(r.output_tokens for r in rs))


def run_pipeline(pipeline: Gst.Pipeline, monitor: ConversationMonitor | None, timeout_s: float = 0,
                 on_message: Callable[[Gst.Message], None] | None = None) -> int:
    """Plays pipeline until EOS or error; returns 0 on EOS, 1 on error or timeout."""
    loop = GLib.MainLoop()
    status = {"rc": 0}
    bus = pipeline.get_bus()
    bus.add_signal_watch()

    def on_bus(_bus: Gst.Bus, msg: Gst.Message) -> None:
        if monitor is not None and monitor.handle_message(msg):
            pass
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"ERROR from {msg.src.get_name()}: {err.message}", file=sys.stderr)
            if dbg:
                print(f"  ({dbg})", file=sys.stderr)
            status["rc"] = 1
            loop.quit()
        elif msg.type == Gst.MessageType.WARNING:
            w, _dbg = msg.parse_warning()
            print(f"WARNING from {msg.src.get_name()}: {w.message}", file=sys.stderr)
            if monitor is not None:
                monitor.warnings.append(w.message)
        if on_message is not None:
            on_message(msg)

    bus.connect("message", on_bus)

    def on_timeout() -> bool:
        print(f"timeout: the pipeline did not finish within {timeout_s:g} s", file=sys.stderr)
        status["rc"] = 1
        loop.quit()
        return False

    if timeout_s > 0:
        GLib.timeout_add(int(timeout_s * 1000), on_timeout)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        print("the pipeline could not start (see GST_DEBUG=3)", file=sys.stderr)
        status["rc"] = 1
    else:
        try:
            loop.run()
        except KeyboardInterrupt:
            status["rc"] = 130
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return status["rc"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", nargs="?", help="a WAV file with the user's speech")
    ap.add_argument("--mic", action="store_true", help="live: microphone ($RTC_AUDIO_SRC or autoaudiosrc)")
    ap.add_argument("--out", help="write the reply to this WAV instead of playing it")
    ap.add_argument("--sink", help="gst-launch fragment for the reply (default $RTC_AUDIO_SINK or autoaudiosink)")
    ap.add_argument("--endpoint", default=os.environ.get("RTC_ENDPOINT", ""),
                    help="Realtime endpoint (default: $RTC_ENDPOINT, else the element's environment fallbacks)")
    ap.add_argument("--instructions", default=DEFAULT_INSTRUCTIONS)
    ap.add_argument("--voice", default="")
    ap.add_argument("--transcription-model", default="whisper-1", help="input transcription model ('' = off)")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("RTC_TIMEOUT", "0") or 0),
                    help="give up after this many seconds (0 = never)")
    ap.add_argument("--quiet", action="store_true", help="only the final summary")
    args = ap.parse_args()
    if not args.mic and not args.input:
        ap.error("give a WAV file or --mic")

    Gst.init(None)
    if Gst.ElementFactory.find("realtimeconv") is None:
        print("realtimeconv not found: set GST_PLUGIN_PATH to the build's plugin directory "
              "(e.g. build/plugin) or install the plugin", file=sys.stderr)
        return 1

    if args.mic:
        source = os.environ.get("RTC_AUDIO_SRC", "autoaudiosrc")
    else:
        source = f'filesrc location="{args.input}" ! wavparse'
    if args.out:
        sink = f'wavenc ! filesink location="{args.out}"'
    else:
        sink = args.sink or os.environ.get("RTC_AUDIO_SINK", "autoaudiosink")
    # One queue after each src pad of realtimeconv (it pushes all three from one thread, as a
    # demuxer does). The text pads go to fakesinks here: the application reads the messages.
    pipeline = Gst.parse_launch(
        f"{source} ! audioconvert ! audioresample ! realtimeconv name=conv "
        f"conv.src ! queue ! audioconvert ! audioresample ! {sink} "
        "conv.transcript_src ! queue ! fakesink sync=false "
        "conv.input_transcript_src ! queue ! fakesink sync=false")
    conv = pipeline.get_by_name("conv")
    if args.endpoint:
        conv.set_property("endpoint", args.endpoint)
    conv.set_property("instructions", args.instructions)
    conv.set_property("tools", json.dumps([WEATHER_TOOL]))
    conv.set_property("input-transcription-model", args.transcription_model)
    if args.voice:
        conv.set_property("voice", args.voice)

    monitor = ConversationMonitor(conv, verbose=not args.quiet)
    rc = run_pipeline(pipeline, monitor, args.timeout)

    total, tin, tout = monitor.usage()
    print(f"embed.py: {len(monitor.turns())} user turn(s), {len(monitor.responses)} response(s), "
          f"{len(monitor.calls)} function call(s) answered locally, tokens {total} (in {tin}, out {tout})"
          + (f", reply in {args.out}" if args.out else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())
