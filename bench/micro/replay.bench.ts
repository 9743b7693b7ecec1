// Micro-benchmark: the replay's per-request building blocks — the event heap (schedule + pop with 10,000
// events pending), the latency histogram, and the trace line scanner. Batched like alias-trie.bench.ts.
// Run directly: `node dist/bench/micro/replay.bench.js` (after `npm run build`).
import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { EventQueue } from '../../replay/des.js';
import { Histogram } from '../../replay/stats.js';
import { fastParse, formatTraceLine, type TraceRequest } from '../../replay/trace-format.js';
import { Rng } from '../../replay/rng.js';

const BATCH = 1000;

export async function run(): Promise<MicroResult[]> {
  const rng = new Rng(1);
  const q = new EventQueue(1 << 15);
  for (let i = 0; i < 10_000; i++) q.schedule(rng.next() * 1000, 0, i);
  const h = new Histogram();
  const line = formatTraceLine({ t: 1234.567891, alias: 'crm.summary.fast', tenant: 'acme', scenario_id: 'crm-summary', input_tokens: 812, output_tokens: 133, stream: true, prefix_group: 'crm@v3' });
  const scratch: TraceRequest = { t: 0, alias: '', tenant: '', scenario_id: '', input_tokens: 0, output_tokens: 0, stream: false };
  let sink = 0;
  const bench = new Bench({ name: 'replay', time: 300, warmupTime: 100 });
  const batched = (f: (i: number) => void) => () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) f(i);
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  bench
    .add('event queue: pop + schedule (10k pending)', batched(() => {
      q.pop();
      q.schedule(q.now + rng.next() * 1000, 0, q.arg);
    }))
    .add('histogram add', batched((i) => h.add((i * 7.3) % 5000)))
    .add('trace line scan (fast path)', batched(() => {
      if (fastParse(line, scratch)) sink += scratch.input_tokens;
    }))
    .add('trace line JSON.parse (reference)', batched(() => {
      sink += (JSON.parse(line) as TraceRequest).input_tokens;
    }));
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable');
  return collect(bench);
}

await printIfMain(import.meta.url, run);
