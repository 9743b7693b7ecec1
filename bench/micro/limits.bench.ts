// Micro-benchmark: the shared-memory limit store, uncontended (one thread): reserve + release on one rate
// cell, on the three cells a chat request checks (tenant rpm, key rpm, route tpm), on a concurrency cell
// and on a budget cell; plus a refused reservation. One pair is tens of nanoseconds, below what one timer
// read resolves, so each tinybench iteration runs BATCH pairs and reports the per-pair mean through
// `overriddenDuration`. Issue 3's target: shared-memory admission ≤ 100 ns uncontended.
// Run directly: `node dist/bench/micro/limits.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { SharedLimitStore } from '../../core/limits/shared-store.js';
import { ReserveOutcome, type LimitCell } from '../../core/limits/store.js';

const BATCH = 1000;

function cell(slot: number, kind: LimitCell['kind'], capacity: number, windowMs: number, period: LimitCell['period'], name: string): LimitCell {
  return { slot, kind, capacity, windowMs, period, name };
}

export async function run(): Promise<MicroResult[]> {
  const store = SharedLimitStore.create(8);
  const out = new ReserveOutcome();
  // Built once, as the Plan would: the cell arrays and cost arrays a route context holds.
  const tenantRpm = cell(0, 'rate', 600_000, 60_000, null, 'tenant:acme:rpm');
  const keyRpm = cell(1, 'rate', 60_000, 60_000, null, 'key:k-crm:rpm');
  const routeTpm = cell(2, 'rate', 20_000_000, 60_000, null, 'route:crm.summary.fast:tpm');
  const inflight = cell(3, 'concurrency', 1_000_000, 0, null, 'key:k-crm:inflight');
  const budget = cell(4, 'budget', 1e12, 0, 'month', 'tenant:acme:budget');
  const full = cell(5, 'rate', 10, 3_600_000, null, 'key:full:rph'); // T = 6 min: stays full for the whole run
  const one = [tenantRpm];
  const oneCost = [1];
  const three = [tenantRpm, keyRpm, routeTpm];
  const threeCost = [1, 1, 1200];
  const conc = [inflight];
  const bud = [budget];
  const budCost = [2_500];
  const refused = [full];

  // Fixed instants (one per batch), so no reservation is ever refused for lack of capacity and the bench
  // measures the store, not Date.now().
  let now = Date.now();
  store.reserve(refused, [10], now, out);
  for (const [cells, costs] of [[one, oneCost], [three, threeCost], [conc, oneCost], [bud, budCost]] as const) {
    if (!store.reserve(cells, costs, now, out)) throw new Error('bench setup: reservation should be admitted');
    store.release(cells, costs, now);
  }
  if (store.reserve(refused, oneCost, now, out)) throw new Error('bench setup: the full cell should refuse');

  let sink = 0;
  const bench = new Bench({ name: 'limits (shared memory, uncontended)', time: 300, warmupTime: 100 });
  const batched = (cells: readonly LimitCell[], costs: readonly number[]) => () => {
    now = Date.now();
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) {
      if (store.reserve(cells, costs, now, out)) store.release(cells, costs, now);
      sink += out.remaining;
    }
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  bench
    .add('reserve+release 1 rate cell', batched(one, oneCost))
    .add('reserve+release 3 rate cells (tenant rpm, key rpm, route tpm)', batched(three, threeCost))
    .add('reserve+release 1 concurrency cell', batched(conc, oneCost))
    .add('reserve+release 1 budget cell (month)', batched(bud, budCost))
    .add('reserve refused (1 full rate cell)', () => {
      const start = bench.now();
      for (let i = 0; i < BATCH; i++) {
        if (store.reserve(refused, oneCost, now, out)) throw new Error('unreachable');
        sink += out.retryAfterMs;
      }
      const elapsed = bench.now() - start;
      return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
    });
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped

  return collect(bench);
}

await printIfMain(import.meta.url, run);
