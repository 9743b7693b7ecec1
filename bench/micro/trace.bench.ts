// Micro-benchmark: the per-request trace work: serializing a record (hand-written against
// JSON.stringify), the ISO timestamp, and a JSONL sink write (copy into the batch buffer; the batched
// writes go to /dev/null so the disk is not measured). Sub-microsecond cases run BATCH calls per
// tinybench iteration and report the per-call mean through `overriddenDuration`.
// Run directly: `node dist/bench/micro/trace.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { JsonlTraceSink, TraceRecord, isoTime, traceToJson } from '../../core/telemetry/trace.js';


const BATCH = 100;

/** A record like the gateway writes for a streamed request that fell back once. */
function realRecord(): TraceRecord {
  const r = new TraceRecord();
  r.request_id = 'req_01HZX3K5Q8R2M7N4P6T9V1W0YA';
  r.ts = isoTime(1_717_000_000_123);
  r.tenant = 'acme';
  r.key_id = 'k-acme-crm';
  r.owner = 'team-crm';
  r.scenario_id = 'crm-summary-v3';
  r.alias = 'crm.summary.fast';
  r.route_lane = 'direct_small';
  r.pool_id = 'maas-openai';
  r.provider = 'openai';
  r.model = 'gpt-4o-mini';
  r.prompt_version = 3;
  r.canary = false;
  r.attempts = [
    { pool_id: 'maas-azure', provider: 'azure', status: 503, error_code: 'upstream_unavailable', queue_time_ms: 0.31, latency_ms: 41.2 },
    { pool_id: 'maas-openai', provider: 'openai', status: 200, error_code: null, queue_time_ms: 0.11, latency_ms: 1163.4 },
  ];
  r.stop_reason = 'stop';
  r.queue_time_ms = 0.42;
  r.ttft_ms = 231.7;
  r.latency_ms = 1204.9;
  r.input_tokens = 812;
  r.cached_input_tokens = 512;
  r.output_tokens = 64;
  r.tokens_estimated = false;
  r.cost_usd = 0.00010305;
  r.cache = 'miss';
  r.policy_violations = [];
  r.status = 200;
  r.outcome = 'success';
  r.error_code = null;
  r.stream = true;
  return r;
}

export async function run(): Promise<MicroResult[]> {
  const record = realRecord();
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
