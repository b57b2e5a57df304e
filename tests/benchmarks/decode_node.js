// V8 baseline for bench_decode: JSON.parse + Buffer.from(delta, 'base64') on the frames that
// bench_decode wrote (same bytes, same machine, same run).
//   node decode_node.js DIR [seconds-per-case]
// "parse_b64" starts from a JS string (what a WebSocket library hands over for a text frame);
// "utf8_parse_b64" also includes decoding the frame's bytes to a string (Buffer.toString).
'use strict';
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const budget = Number(process.argv[3] || 1.0);

function nsPerCall(f) {
  for (let i = 0; i < 200; i++) f();
  let iters = 64;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) f();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s > budget / 5 / 4 || iters > (1 << 24)) {
      iters = Math.max(16, Math.floor(iters * (budget / 5) / Math.max(s, 1e-9)));
      break;
    }
    iters *= 4;
  }
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) f();
    runs.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  runs.sort((a, b) => a - b);
  return runs[2];
}

let sink = 0;
for (const len of [4800, 9600, 19200, 36000]) {
  const bytes = fs.readFileSync(path.join(dir, `frame_${len}.json`));
  const text = bytes.toString('utf8');
  const check = Buffer.from(JSON.parse(text).delta, 'base64');
  if (check.length !== len / 4 * 3) throw new Error('bad frame ' + len);
  const parseB64 = nsPerCall(() => {
    const ev = JSON.parse(text);
    const pcm = Buffer.from(ev.delta, 'base64');
    sink += pcm.length;
  });
  const utf8ParseB64 = nsPerCall(() => {
    const ev = JSON.parse(bytes.toString('utf8'));
    const pcm = Buffer.from(ev.delta, 'base64');
    sink += pcm.length;
  });
  const rec = {
    b64_bytes: len, frame_bytes: bytes.length, node_parse_b64_ns: parseB64,
    node_utf8_parse_b64_ns: utf8ParseB64, node_version: process.version,
    bench: 'decode', id: `decode_node_${len}`,
  };
  const line = JSON.stringify(rec);
  if (process.env.BENCH_OUT) fs.appendFileSync(process.env.BENCH_OUT, line + '\n');
  console.log('RESULT ' + line);
}
if (sink < 0) console.log(sink);
