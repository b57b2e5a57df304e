// peer_sdk.mjs: the peer row of tests/benchmarks/run.sh (issue 15). The official OpenAI Node SDK
// (npm `openai`, its realtime WebSocket client OpenAIRealtimeWS) doing the job that
// `bench_element session --n N` gives the element, against the same realtime-emulator (wss://):
//   * N sessions in this one process, GA dialect, server VAD, the same instructions ("Say: ...",
//     2 s spoken answers), pcm16 24 kHz in and out;
//   * each session sends input_audio_buffer.append every chunk (40 ms: the element's default) in
//     real time: silence with 1.5 s of a -10 dBFS ~444 Hz square every 6 s, phase-shifted per
//     session as the element's benchmark does;
//   * every response audio delta is decoded (base64 -> Buffer), as the element decodes it into a
//     GstBuffer.
// --baseline: the same timers producing the same chunks, no SDK, no socket, no base64 (what the
// live source costs the element's benchmark): CPU(SDK) = CPU(run) - CPU(baseline).
// Not a test: it reports one JSON line (appended to $BENCH_OUT, else stdout) and never fails on timing.
//
//   node peer_sdk.mjs --sdk-dir DIR --url https://127.0.0.1:PORT/v1 [--n 10] [--seconds 30]
//                     [--chunk 40] [--say-s 2] [--speech-ms 1500] [--cycle-ms 6000] [--id NAME] [--baseline]
// The CA of the emulator's self-signed certificate comes through NODE_EXTRA_CA_CERTS.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) continue;
  const next = process.argv[i + 1];
  if (next !== undefined && !next.startsWith('--')) { args[a.slice(2)] = next; i++; } else args[a.slice(2)] = true;
}
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const n = num('n', 10), seconds = num('seconds', 30), chunkMs = num('chunk', 40), sayS = num('say-s', 2);
const speechMs = num('speech-ms', 1500), cycleMs = num('cycle-ms', 6000);
const baseline = !!args.baseline;
const id = args.id || (baseline ? `sdk_baseline_${n}` : `sdk_${n}`);
const RATE = 24000;
const chunkSamples = (RATE * chunkMs) / 1000;

function sayText(secs) {  // what the tone voice speaks for about `secs` (60 ms per character), as bench_common.h
  const chars = Math.max(1, Math.round((secs * 1000) / 60));
  let s = '';
  while (s.length < chars) s += (s ? ' ' : '') + 'benchmark';
  s = s.slice(0, chars);
  return s.endsWith(' ') ? s.slice(0, -1) + 'x' : s;
}

function emit(rec) {
  const line = JSON.stringify({ bench: 'sdk', id, ...rec }) + '\n';
  if (process.env.BENCH_OUT) appendFileSync(process.env.BENCH_OUT, line);
  else process.stdout.write(line);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

let OpenAI, OpenAIRealtimeWS;
if (!baseline) {
  const dir = args['sdk-dir'];
  ({ OpenAI } = await import(pathToFileURL(join(dir, 'node_modules/openai/index.mjs')).href));
  ({ OpenAIRealtimeWS } = await import(pathToFileURL(join(dir, 'node_modules/openai/realtime/ws.mjs')).href));
}

const stats = { ready: 0, responses: 0, deltas: 0, audioBytes: 0, errors: 0, lastError: '', closed: 0 };
const sessions = [];
const t0 = nowMs();

function makeChunk(sess, tMs) {
  // Each 10 ms of the chunk is speech or silence on the session's own speech cycle.
  const buf = Buffer.alloc(chunkSamples * 2);
  for (let k = 0; k < chunkSamples; k += 240) {
    const t = tMs + (k / RATE) * 1000 + sess.phase;
    if (((t % cycleMs) + cycleMs) % cycleMs < speechMs) {
      for (let i = k; i < Math.min(k + 240, chunkSamples); i++) buf.writeInt16LE((Math.floor(i / 27) % 2) ? 10000 : -10000, i * 2);
    }
  }
  return buf;
}

function startSending(sess) {
  // A live source: one chunk every chunkMs on the wall clock (drift-free), as a real-time capture.
  const start = nowMs();
  let k = 0;
  const tick = () => {
    if (sess.stop) return;
    const buf = makeChunk(sess, k * chunkMs);
    if (sess.rt && sess.rt.socket.readyState === 1)
      sess.rt.send({ type: 'input_audio_buffer.append', audio: buf.toString('base64') });
    k++;
    sess.timer = setTimeout(tick, Math.max(0, start + k * chunkMs - nowMs()));
  };
  tick();
}

let client;
if (!baseline) client = new OpenAI({ apiKey: 'sk-bench', baseURL: args.url });
for (let i = 0; i < n; i++) {
  const sess = { phase: (i * cycleMs) / n + 1000, stop: false, rt: null, timer: null };
  sessions.push(sess);
  if (baseline) continue;
  const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client);
  sess.rt = rt;
  rt.on('error', (e) => { stats.errors++; stats.lastError = String(e.message || e).slice(0, 200); });
  rt.on('session.updated', () => { stats.ready++; });
  rt.on('response.output_audio.delta', (ev) => {
    const pcm = Buffer.from(ev.delta, 'base64');
    stats.deltas++;
    stats.audioBytes += pcm.length;
  });
  rt.on('response.done', () => { stats.responses++; });
  rt.socket.on('close', () => { stats.closed++; });
  rt.socket.on('open', () => {
    rt.send({
      type: 'session.update',
      session: {
        type: 'realtime',
        instructions: `Say: ${sayText(sayS)}`,
        output_modalities: ['audio'],
        audio: {
          input: {
            format: { type: 'audio/pcm', rate: RATE },
            turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500,
                              create_response: true, interrupt_response: true },
          },
          output: { format: { type: 'audio/pcm', rate: RATE } },
        },
      },
    });
  });
}
for (const s of sessions) startSending(s);

// Ready (bounded wait), then one speech cycle of warm-up, then the measured window.
const readyBy = nowMs() + 30000 + 200 * n;
while (!baseline && stats.ready < n && stats.errors === 0 && nowMs() < readyBy) await sleep(50);
const readyS = (nowMs() - t0) / 1000;
await sleep(Math.min(cycleMs, seconds * 1000));
const c0 = process.cpuUsage(), r0 = process.resourceUsage(), w0 = nowMs();
const resp0 = stats.responses, bytes0 = stats.audioBytes;
await sleep(seconds * 1000);
const c1 = process.cpuUsage(), r1 = process.resourceUsage(), wallS = (nowMs() - w0) / 1000;
const resp = stats.responses - resp0, bytes = stats.audioBytes - bytes0;
for (const s of sessions) {
  s.stop = true;
  clearTimeout(s.timer);
  if (s.rt) s.rt.close();
}
const cpuMs = (c1.user - c0.user + c1.system - c0.system) / 1000;
emit({
  n, baseline, chunk_ms: chunkMs, wall_s: wallS, ready_s: readyS, all_ready: baseline || stats.ready >= n,
  ready: stats.ready, cpu_ms: cpuMs, cpu_ms_per_session_s: cpuMs / wallS / n,
  user_ms_per_session_s: (c1.user - c0.user) / 1000 / wallS / n,
  sys_ms_per_session_s: (c1.system - c0.system) / 1000 / wallS / n,
  ctxsw_per_s: Math.round((r1.voluntaryContextSwitches + r1.involuntaryContextSwitches -
                           r0.voluntaryContextSwitches - r0.involuntaryContextSwitches) / wallS),
  rss_kb_end: Math.round(process.memoryUsage().rss / 1024), responses: resp,
  expected_responses: baseline ? 0 : Math.floor((n * wallS * 1000) / cycleMs), audio_s: bytes / 2 / RATE,
  errors: stats.errors, last_error: stats.lastError, node: process.version,
  sdk_version: baseline ? '' : (await import(pathToFileURL(join(args['sdk-dir'], 'node_modules/openai/version.mjs')).href)).VERSION,
});
await sleep(200);
process.exit(0);
