// Micro-benchmark: the per-request observability work (issue 9): counting a settled request in the
// metrics (pre-indexed cells: requests counter, duration and TTFT HDR histograms, cost), a pool attempt
// and its queue time, the same through label arrays (the slow path, for reference), an OTLP span built
// from a trace record, and the trace context (ids and the upstream `traceparent`).
// Sub-microsecond cases run BATCH calls per tinybench iteration (per-call mean via `overriddenDuration`).
// Run directly: `node dist/bench/micro/telemetry.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { sampleTraceRecord } from '../support.js';
import { GatewayMetrics } from '../../core/telemetry/metrics.js';
import { spanJson } from '../../core/telemetry/otlp.js';
import { SpanContext } from '../../core/telemetry/trace.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../../core/telemetry/traceparent.js';

const BATCH = 100;

export async function run(): Promise<MicroResult[]> {
  const m = new GatewayMetrics();
  const routes = Array.from({ length: 100 }, (_, i) => ({ index: i, alias: `team.alias-${i}`, pool: { id: `pool-${i % 4}` } }));
  m.bind(routes);
  const record = sampleTraceRecord();
  const span = new SpanContext();
  span.traceId = newTraceId();
  span.spanId = newSpanId();
  span.parentSpanId = newSpanId();
  span.startUnixMs = 1_717_000_000_000.25;
  const header = formatTraceparent(span.traceId, span.parentSpanId, '01');
  let sink = 0;
  let i = 0;
  const bench = new Bench({ name: 'telemetry', time: 300, warmupTime: 100 });
  const batched = (fn: () => number) => () => {
    const start = bench.now();
    for (let k = 0; k < BATCH; k++) sink += fn();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  bench
    .add(
      'metrics.requestDone (pre-indexed cells, 100 routes)',
      batched(() => {
        const r = routes[i++ % 100]!;
        m.requestDone(r, r, 'direct_small', 'success', 120 + (i % 500), 40 + (i % 100), 0.0001);
        return 1;
      }),
    )
    .add(
      'metrics.poolAttempt +1/-1 and queued',
      batched(() => {
        const r = routes[i++ % 100]!;
        m.poolAttempt(r, 1);
        m.queued(r, i % 50);
        m.poolAttempt(r, -1);
        return 1;
      }),
    )
    .add(
      'the same request through label arrays (reference: a string key per series)',
      batched(() => {
        const r = routes[i++ % 100]!;
        m.requests.inc([r.alias, 'direct_small', r.pool.id, 'success']);
        m.duration.observe([r.alias, 'direct_small'], 0.12);
        m.ttft.observe([r.alias, 'direct_small'], 0.04);
        m.cost.inc([r.alias, 'direct_small'], 0.0001);
        return 1;
      }),
    )
    .add(
      'spanJson (OTLP span of a real record)',
      batched(() => spanJson(record, span).length),
    )
    .add(
      'trace context: parse the client traceparent, new span id, upstream header',
      batched(() => {
        const ctx = parseTraceparent(header)!;
        return formatTraceparent(ctx.traceId, newSpanId(), ctx.flags).length;
      }),
    )
    .add(
      'trace context: new trace id and span id',
      batched(() => newTraceId().length + newSpanId().length),
    );
  await bench.run();
  m.close();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped
  return collect(bench);
}

await printIfMain(import.meta.url, run);
