// Micro-benchmark: the per-request trace work: serializing a record (hand-written against
// JSON.stringify), the ISO timestamp, and a JSONL sink write (copy into the batch buffer; the batched
// writes go to /dev/null so the disk is not measured). Sub-microsecond cases run BATCH calls per
// tinybench iteration and report the per-call mean through `overriddenDuration`.
// Run directly: `node dist/bench/micro/trace.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { sampleTraceRecord } from '../support.js';
import { JsonlTraceSink, isoTime, traceToJson } from '../../core/telemetry/trace.js';


const BATCH = 100;


export async function run(): Promise<MicroResult[]> {
  const record = sampleTraceRecord();
  if (traceToJson(record) !== JSON.stringify(record)) throw new Error('bench setup: traceToJson differs from JSON.stringify');
  const sinkFile = new JsonlTraceSink('/dev/null', 200);

  let sink = 0;
  let ms = 1_717_000_000_000;
  const bench = new Bench({ name: 'trace', time: 300, warmupTime: 100 });
  const batched = (fn: () => number) => () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) sink += fn();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  bench
    .add(
      'traceToJson (real record)',
      batched(() => traceToJson(record).length),
    )
    .add(
      'JSON.stringify (same record, reference)',
      batched(() => JSON.stringify(record).length),
    )
    .add(
      'isoTime (same second)',
      batched(() => isoTime(1_717_000_000_000 + (++ms % 1000)).length),
    )
    .add(
      'isoTime (new second every call)',
      batched(() => isoTime((ms += 1001)).length),
    )
    .add(
      'new Date(ms).toISOString() (reference)',
      batched(() => new Date((ms += 1)).toISOString().length),
    )
    .add(
      'JsonlTraceSink.write (to /dev/null)',
      batched(() => {
        sinkFile.write(record);
        return 1;
      }),
    );
  await bench.run();
  await sinkFile.close();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped

  const results = collect(bench);
  return results;
}

await printIfMain(import.meta.url, run);
