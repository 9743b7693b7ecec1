// Micro-benchmark: the Redis limit store against the local Redis (SWITCHYARD_REDIS_URL, default
// redis://127.0.0.1:6379): one reserve + its release (two round trips, one script each) for one cell and
// for three cells (rate, concurrency, budget), one pair at a time; and 64 pairs in flight at once on one
// connection (ioredis pipelines them), reported per pair through `overriddenDuration`. Keys live under a
// random prefix and are deleted afterwards. Without Redis, `run()` returns no rows (a note on stderr).
// Run directly: `node dist/bench/micro/redis-limits.bench.js` (after `npm run build`).

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { redisUnreachable } from '../support.js';
import { RedisLimitStore } from '../../core/limits/redis-store.js';
import { ReserveOutcome, type LimitCell } from '../../core/limits/store.js';


const IN_FLIGHT = 64;
const URL_ = process.env.SWITCHYARD_REDIS_URL ?? 'redis://127.0.0.1:6379';


async function deleteKeys(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export async function run(): Promise<MicroResult[]> {
  const why = await redisUnreachable(URL_);
  if (why !== null) {
    process.stderr.write(`redis-limits bench: skipped, Redis not reachable at ${URL_} (${why})\n`);
    return [];
  }
  const prefix = `switchyard-bench:${randomBytes(6).toString('hex')}:`;
  // A generous timeout: a timed-out call would be a failure-mode answer, not a round trip.
  const store = new RedisLimitStore({ url: URL_, keyPrefix: prefix, failureMode: 'closed', commandTimeoutMs: 2_000 });
  try {
    await store.ready();
    // Capacities no run reaches, so every reserve is admitted (the released units come straight back).
    const rate: LimitCell = { slot: 0, kind: 'rate', capacity: 1_000_000_000, windowMs: 60_000, period: null, name: 'tenant:bench:rpm' };
    const conc: LimitCell = { slot: 1, kind: 'concurrency', capacity: 1_000_000, windowMs: 0, period: null, name: 'tenant:bench:concurrency' };
    const budget: LimitCell = { slot: 2, kind: 'budget', capacity: 1e15, windowMs: 0, period: 'day', name: 'tenant:bench:budget_day' };
    const one = [rate];
    const oneCost = [1];
    const three = [rate, conc, budget];
    const threeCost = [1, 1, 2_500];
    const out = new ReserveOutcome();
    const outs = Array.from({ length: IN_FLIGHT }, () => new ReserveOutcome());
    let refused = 0;

    const pair = async (cells: LimitCell[], costs: number[], o: ReserveOutcome): Promise<void> => {
      if (!(await store.reserve(cells, costs, 0, o))) refused++;
      await store.release(cells, costs, 0);
    };

    const bench = new Bench({ name: 'redis limit store (local Redis)', time: 500, warmupTime: 100 });
    bench
      .add('reserve+release, 1 cell (sequential)', async () => {
        await pair(one, oneCost, out);
      })
      .add('reserve+release, 3 cells (sequential)', async () => {
        await pair(three, threeCost, out);
      })
      .add(`reserve+release, 1 cell, ${IN_FLIGHT} in flight (per pair)`, async () => {
        const start = bench.now();
        const all: Promise<void>[] = [];
        for (let i = 0; i < IN_FLIGHT; i++) all.push(pair(one, oneCost, outs[i]!));
        await Promise.all(all);
        const elapsed = bench.now() - start;
        return { overriddenDuration: elapsed / IN_FLIGHT, overriddenIterationCost: elapsed };
      })
      .add(`reserve+release, 3 cells, ${IN_FLIGHT} in flight (per pair)`, async () => {
        const start = bench.now();
        const all: Promise<void>[] = [];
        for (let i = 0; i < IN_FLIGHT; i++) all.push(pair(three, threeCost, outs[i]!));
        await Promise.all(all);
        const elapsed = bench.now() - start;
        return { overriddenDuration: elapsed / IN_FLIGHT, overriddenIterationCost: elapsed };
      });
    await bench.run();
    if (refused > 0 || store.failClosedCount > 0 || store.releaseFailCount > 0) {
      throw new Error(`bench: ${refused} refused (${store.failClosedCount} unavailable), ${store.releaseFailCount} releases failed; the numbers would not be round trips`);
    }
    return collect(bench);
  } finally {
    await store.close();
    await deleteKeys(URL_, prefix);
  }
}

await printIfMain(import.meta.url, run);
