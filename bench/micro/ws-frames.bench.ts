// Micro-benchmark: the WebSocket ingress's per-request frame work, JSON text frames against msgpack
// (plain maps and msgpackr records), on both sides: the gateway reading a request frame (what it hands
// the pipeline: the body's JSON bytes) and writing a non-streamed answer (from the provider's JSON bytes),
// and a client decoding that answer. Sub-microsecond cases run BATCH calls per tinybench iteration.
// Run directly: `node dist/bench/micro/ws-frames.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { Packr, Unpackr } from 'msgpackr';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { scanFrame, spans, spliceFrame } from '../../transports/uws/ws.js';

const BATCH = 100;

const BODY = { model: 'bench.fast', messages: [{ role: 'user', content: 'Say hello in five words.' }], max_tokens: 16 };
const COMPLETION = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-sim1x42',
    object: 'chat.completion',
    created: 1_795_628_059,
    model: 'bench.fast',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there, nice to meet you today.' }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 14, completion_tokens: 9, total_tokens: 23, prompt_tokens_details: { cached_tokens: 0 } },
  }),
);

export async function run(): Promise<MicroResult[]> {
  const reqJson = Buffer.from(JSON.stringify({ id: 'r12345', op: 'chat.completions', body: BODY }));
  const plain = new Packr({ useRecords: false });
  const reqPlain = plain.pack({ id: 'r12345', op: 'chat.completions', body: BODY });
  // Records: the first frame of a socket defines the structures, later ones refer to them.
  const clientRecords = new Packr({ sequential: true });
  const serverRecordsIn = new Unpackr({ sequential: true, mapsAsObjects: true });
  serverRecordsIn.unpack(clientRecords.pack({ id: 'r0', op: 'chat.completions', body: BODY }));
  const reqRecords = clientRecords.pack({ id: 'r12345', op: 'chat.completions', body: BODY });
  const serverIn = new Unpackr({ mapsAsObjects: true });
  const serverRecordsOut = new Packr({ sequential: true });
  const clientRecordsIn = new Unpackr({ sequential: true, mapsAsObjects: true });
  clientRecordsIn.unpack(serverRecordsOut.pack({ id: 'r0', type: 'response', data: JSON.parse(COMPLETION.toString()) }));
  const respJson = spliceFrame('{"id":"r12345","type":"response","data":', COMPLETION);
  const respPlain = plain.pack({ id: 'r12345', type: 'response', data: JSON.parse(COMPLETION.toString()) });
  const respRecords = serverRecordsOut.pack({ id: 'r12345', type: 'response', data: JSON.parse(COMPLETION.toString()) });
  const clientPlainIn = new Unpackr({ mapsAsObjects: true });

  let sink = 0;
  const bench = new Bench({ name: 'ws-frames', time: 300, warmupTime: 100 });
  const batched = (fn: () => number) => () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) sink += fn();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  bench
    .add(
      `server reads a request: JSON frame (${reqJson.length} B; scan + copy the body bytes)`,
      batched(() => {
        if (!scanFrame(reqJson)) throw new Error('bad frame');
        return Buffer.from(reqJson.subarray(spans.bodyStart, spans.bodyEnd)).length;
      }),
    )
    .add(
      `server reads a request: msgpack frame (${reqPlain.length} B; decode + body to JSON)`,
      batched(() => Buffer.from(JSON.stringify((serverIn.unpack(reqPlain) as { body: unknown }).body)).length),
    )
    .add(
      `server reads a request: msgpack records frame (${reqRecords.length} B; decode + body to JSON)`,
      batched(() => Buffer.from(JSON.stringify((serverRecordsIn.unpack(reqRecords) as { body: unknown }).body)).length),
    )
    .add(
      `server writes an answer: JSON frame (${respJson.length} B; provider bytes spliced in)`,
      batched(() => spliceFrame('{"id":"r12345","type":"response","data":', COMPLETION).length),
    )
    .add(
      `server writes an answer: msgpack frame (${respPlain.length} B; parse + pack)`,
      batched(() => plain.pack({ id: 'r12345', type: 'response', data: JSON.parse(COMPLETION.toString()) }).length),
    )
    .add(
      `server writes an answer: msgpack records frame (${respRecords.length} B; parse + pack)`,
      batched(() => serverRecordsOut.pack({ id: 'r12345', type: 'response', data: JSON.parse(COMPLETION.toString()) }).length),
    )
    .add(
      'client reads the answer: JSON frame (JSON.parse)',
      batched(() => (JSON.parse(respJson.toString()) as { id: string }).id.length),
    )
    .add(
      'client reads the answer: msgpack frame (unpack)',
      batched(() => (clientPlainIn.unpack(respPlain) as { id: string }).id.length),
    )
    .add(
      'client reads the answer: msgpack records frame (unpack)',
      batched(() => (clientRecordsIn.unpack(respRecords) as { id: string }).id.length),
    );
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped
  return collect(bench);
}

await printIfMain(import.meta.url, run);
