// The shared-memory LimitStore: the LimitStore contract, its own layout and edge cases, and the exactness
// of issue 3 at the store level: worker threads attached to one SharedArrayBuffer, released at once.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { limitStoreContract, rateSpec, concurrencySpec, budgetSpec, type CellSpec } from '../../conformance/limit-store.case.js';
import { SharedLimitStore, MAX_CAS_TRIES } from '../../../core/limits/shared-store.js';
import { ReserveOutcome, type LimitCell } from '../../../core/limits/store.js';
import {
  BUDGET_SPENT_BITS,
  HEADER_CELLS_WORD,
  HEADER_MAGIC_WORD,
  HEADER_WORDS,
  LAYOUT_MAGIC_WORD,
  MS_PER_DAY,
  bufferBytes,
  cellWordIndex,
} from '../../../core/limits/layout.js';

limitStoreContract('shared memory', async () => {
  const store = SharedLimitStore.create(512);
  let next = 0;
  return {
    store,
    cells: (specs) => specs.map((s) => ({ ...s, slot: next++ })),
    cleanup: () => store.close(),
  };
});

function cellsOf(specs: CellSpec[], firstSlot = 0): LimitCell[] {
  return specs.map((s, i) => ({ ...s, slot: firstSlot + i }));
}

/** The raw word of a cell, for checking the layout. */
function word(store: SharedLimitStore, slot: number): bigint {
  return Atomics.load(new BigInt64Array(store.buffer), cellWordIndex(slot));
}

const T0 = Date.UTC(2026, 2, 14, 12, 0, 0); // a fixed instant: 2026-03-14T12:00:00Z

describe('SharedLimitStore: layout and attach', () => {
  it('creates a buffer of header + one word per cell, with magic/version and cell count', () => {
    const store = SharedLimitStore.create(10);
    expect(store.kind).toBe('shared');
    expect(store.cellCount).toBe(10);
    expect(store.capacity).toBe(10);
    expect(store.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(store.buffer.byteLength).toBe(bufferBytes(10));
    expect(store.buffer.byteLength).toBe((HEADER_WORDS + 10) * 8);
    const words = new BigInt64Array(store.buffer);
    expect(words[HEADER_MAGIC_WORD]).toBe(LAYOUT_MAGIC_WORD);
    expect(words[HEADER_CELLS_WORD]).toBe(10n);
    expect(cellWordIndex(0)).toBe(HEADER_WORDS);
    expect(cellWordIndex(3)).toBe(HEADER_WORDS + 3);
  });

  it('shares state between stores attached to the same buffer', () => {
    const a = SharedLimitStore.create(4);
    const b = SharedLimitStore.attach(a.buffer);
    expect(b.cellCount).toBe(4);
    const [cell] = cellsOf([concurrencySpec(2)]);
    const out = new ReserveOutcome();
    expect(a.reserve([cell!], [1], T0, out)).toBe(true);
    expect(b.reserve([cell!], [1], T0, out)).toBe(true);
    expect(a.reserve([cell!], [1], T0, out)).toBe(false);
    b.release([cell!], [1], T0);
    expect(a.peek(cell!, T0)).toBe(1);
  });

  it('refuses to attach a buffer that is not a limit store of this layout', () => {
    expect(() => SharedLimitStore.attach(new SharedArrayBuffer(128))).toThrow(/magic/);
    expect(() => SharedLimitStore.attach(new SharedArrayBuffer(8))).toThrow(/header/);
    const forged = new SharedArrayBuffer(bufferBytes(2));
    const w = new BigInt64Array(forged);
    w[HEADER_MAGIC_WORD] = LAYOUT_MAGIC_WORD;
    w[HEADER_CELLS_WORD] = 100n;
    expect(() => SharedLimitStore.attach(forged)).toThrow(/100 cells/);
    expect(() => SharedLimitStore.create(-1)).toThrow(RangeError);
  });

  it('throws on reserve and peek for a slot outside the buffer, rolling back earlier cells; release skips it', () => {
    const store = SharedLimitStore.create(2);
    const [ok] = cellsOf([concurrencySpec(5)]);
    const bad: LimitCell = { ...concurrencySpec(5), slot: 2 };
    expect(() => store.reserve([ok!, bad], [1, 1], T0, new ReserveOutcome())).toThrow(/slot 2/);
    expect(store.peek(ok!, T0)).toBe(0);
    expect(() => store.peek(bad, T0)).toThrow(RangeError);
    expect(() => store.release([bad, ok!], [1, 1], T0)).not.toThrow();
  });

  it('stores a rate cell as its TAT in µs: now + n·T after admitting n on an empty cell', () => {
    const store = SharedLimitStore.create(1);
    const [cell] = cellsOf([rateSpec(100, 60_000)]); // T = 600 ms
    store.reserve([cell!], [3], T0, new ReserveOutcome());
    expect(word(store, 0)).toBe(BigInt(T0 * 1000 + 3 * 600_000));
    store.release([cell!], [1], T0);
    expect(word(store, 0)).toBe(BigInt(T0 * 1000 + 2 * 600_000));
    // A refund is a plain subtraction; past empty the TAT lies below now, which reads exactly as now.
    store.release([cell!], [10], T0);
    expect(word(store, 0)).toBe(BigInt(T0 * 1000 - 8 * 600_000));
    expect(store.peek(cell!, T0)).toBe(100);
    store.reserve([cell!], [1], T0, new ReserveOutcome());
    expect(word(store, 0)).toBe(BigInt(T0 * 1000 + 600_000));
    // A refund of more than a whole window clamps at now.
    store.release([cell!], [1_000], T0);
    expect(word(store, 0)).toBe(BigInt(T0 * 1000));
  });

  it('stores a budget cell as (window index, spent) in one word: days since epoch, months since 1970-01', () => {
    const store = SharedLimitStore.create(2);
    const [day, month] = cellsOf([budgetSpec(1_000_000, 'day'), budgetSpec(1_000_000, 'month')]);
    store.reserve([day!, month!], [1234, 5678], T0, new ReserveOutcome());
    const dayIndex = BigInt(Math.floor(T0 / MS_PER_DAY));
    const monthIndex = BigInt((2026 - 1970) * 12 + 2);
    expect(word(store, 0)).toBe((dayIndex << BUDGET_SPENT_BITS) | 1234n);
    expect(word(store, 1)).toBe((monthIndex << BUDGET_SPENT_BITS) | 5678n);
  });
});

describe('SharedLimitStore: edge cases', () => {
  const out = new ReserveOutcome();

  it('admits exactly capacity in a burst when T is not a whole number of µs (7 per minute, 3 per second)', () => {
    const store = SharedLimitStore.create(2);
    const [a, b] = cellsOf([rateSpec(7, 60_000), rateSpec(3, 1_000)]);
    let n = 0;
    while (store.reserve([a!], [1], T0, out)) n++;
    expect(n).toBe(7);
    n = 0;
    while (store.reserve([b!], [1], T0, out)) n++;
    expect(n).toBe(3);
    expect(store.reserve([b!], [1], T0 + 334, out)).toBe(true); // one T (333.333 ms, floored to µs) later
  });

  it('holds a capacity above one unit per µs to one unit per µs (conservative), and never admits without bound', () => {
    const store = SharedLimitStore.create(1);
    const [cell] = cellsOf([rateSpec(1e9, 60_000)]);
    expect(store.reserve([cell!], [60_000_000], T0, out)).toBe(true);
    expect(store.reserve([cell!], [1], T0, out)).toBe(false);
  });

  it('rounds costs against the caller: reserve takes ceil, release gives back floor', () => {
    const store = SharedLimitStore.create(1);
    const [cell] = cellsOf([concurrencySpec(10)]);
    expect(store.reserve([cell!], [2.2], T0, out)).toBe(true);
    expect(store.peek(cell!, T0)).toBe(3);
    store.release([cell!], [2.9], T0);
    expect(store.peek(cell!, T0)).toBe(1);
    expect(store.reserve([cell!], [0], T0, out)).toBe(true);
    expect(store.reserve([cell!], [-4], T0, out)).toBe(true);
    expect(store.reserve([cell!], [Number.NaN], T0, out)).toBe(true);
    expect(store.peek(cell!, T0)).toBe(1);
    expect(store.reserve([cell!], [Infinity], T0, out)).toBe(false);
    expect(() => store.release([cell!], [Number.NaN, Infinity], T0)).not.toThrow();
    store.release([cell!], [-Infinity], T0);
    expect(store.peek(cell!, T0)).toBe(1);
  });

  it('does not move a budget back to an earlier window when a thread with a slower clock writes after midnight', () => {
    const store = SharedLimitStore.create(1);
    const [cell] = cellsOf([budgetSpec(100, 'day')]);
    const midnight = Date.UTC(2026, 2, 15);
    expect(store.reserve([cell!], [80], midnight - 10, out)).toBe(true); // yesterday's spend
    expect(store.reserve([cell!], [60], midnight + 5, out)).toBe(true); // today: starts at 0
    // A thread whose clock still reads yesterday counts against the newer window, not the old one.
    expect(store.reserve([cell!], [50], midnight - 3, out)).toBe(false);
    expect(store.reserve([cell!], [40], midnight - 3, out)).toBe(true);
    expect(store.peek(cell!, midnight + 10)).toBe(100);
  });

  it('reports retryAfterMs for a monthly budget as the time to the first of next month (UTC)', () => {
    const store = SharedLimitStore.create(1);
    const [cell] = cellsOf([budgetSpec(10, 'month')]);
    store.reserve([cell!], [10], T0, out);
    expect(store.reserve([cell!], [1], T0, out)).toBe(false);
    expect(out.retryAfterMs).toBe(Date.UTC(2026, 3, 1) - T0);
    // December rolls into January of the next year.
    const dec = Date.UTC(2026, 11, 31, 23, 0);
    store.reserve([cell!], [10], dec, out);
    expect(store.reserve([cell!], [1], dec, out)).toBe(false);
    expect(out.retryAfterMs).toBe(3_600_000);
  });

  it('bounds its compare-and-swap loops', () => {
    expect(MAX_CAS_TRIES).toBe(64);
  });
});

// ── exactness across threads ──────────────────────────────────────────────────────────────────────────────

const WORKER = new URL('./fixtures/limits-worker.mjs', import.meta.url);
const DIST = new URL('../../../dist/core/limits/shared-store.js', import.meta.url);
const THREADS = 8;

interface WorkerJob {
  job: 'reserve' | 'churn' | 'concurrency';
  cells: LimitCell[];
  costs?: number[];
  attempts?: number;
  nowMs?: number;
  hold?: number;
  iterations?: number;
}

interface Run {
  admitted: number;
  refused: number;
  perThread: number[];
  maxInFlight: number;
  inFlightAfter: number;
}

/** Starts one worker per job on `store.buffer`, waits until all are at the start line, releases them together. */
async function runThreads(store: SharedLimitStore, jobs: WorkerJob[]): Promise<Run> {
  if (!existsSync(fileURLToPath(DIST))) throw new Error('dist/core/limits/shared-store.js is missing: run `npm run build` first');
  const control = new SharedArrayBuffer(16);
  const ctl = new Int32Array(control);
  const workers = jobs.map((j) => new Worker(WORKER, { workerData: { buffer: store.buffer, control, ...j } }));
  const ready: Promise<void>[] = [];
  const done: Promise<{ admitted: number; refused: number }>[] = [];
  for (const w of workers) {
    let onReady!: () => void;
    ready.push(new Promise<void>((r) => (onReady = r)));
    done.push(
      new Promise((resolve, reject) => {
        w.on('message', (m: { type: string; admitted: number; refused: number }) => {
          if (m.type === 'ready') onReady();
          else if (m.type === 'done') resolve(m);
        });
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker exited with ${code}`))));
      }),
    );
  }
  try {
    await Promise.race([Promise.all(ready), Promise.all(done)]); // a worker that fails to start rejects `done`
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    const results = await Promise.all(done);
    return {
      admitted: results.reduce((s, r) => s + r.admitted, 0),
      refused: results.reduce((s, r) => s + r.refused, 0),
      perThread: results.map((r) => r.admitted),
      maxInFlight: Atomics.load(ctl, 2),
      inFlightAfter: Atomics.load(ctl, 1),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

describe('SharedLimitStore: exact across 8 worker threads', () => {
  it('admits exactly 100 of 400 reservations released together against a 100-per-minute rate cell', async () => {
    const store = SharedLimitStore.create(1);
    const cells = cellsOf([rateSpec(100, 60_000, 'tenant:rpm')]);
    const now = Date.now();
    const run = await runThreads(store, split(400, THREADS).map((attempts) => ({ job: 'reserve', cells, costs: [1], attempts, nowMs: now })));
    expect(run.admitted + run.refused).toBe(400);
    expect(run.admitted).toBe(100);
    expect(store.peek(cells[0]!, now)).toBe(0);
  });

  it('admits exactly 10,000 of 40,000 when the threads overlap for longer (the same race, more of it)', async () => {
    const store = SharedLimitStore.create(1);
    const cells = cellsOf([rateSpec(10_000, 60_000, 'key:rpm')]);
    const now = Date.now();
    const run = await runThreads(store, split(40_000, THREADS).map((attempts) => ({ job: 'reserve', cells, costs: [1], attempts, nowMs: now })));
    expect(run.admitted).toBe(10_000);
    // Each thread makes 5,000 attempts, so at least 2 threads took part whatever the scheduling.
    expect(run.perThread.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('never has more than 10 in flight on a concurrency cell of 10 under acquire/release loops, and ends at 0', async () => {
    const store = SharedLimitStore.create(1);
    const cells = cellsOf([concurrencySpec(10, 'key:inflight')]);
    // Each thread holds up to 3 at a time: 24 wanted against 10 allowed, so refusals and races are constant.
    const run = await runThreads(store, Array.from({ length: THREADS }, () => ({ job: 'concurrency', cells, hold: 3, iterations: 3_000 })));
    expect(run.maxInFlight).toBeLessThanOrEqual(10);
    expect(run.maxInFlight).toBeGreaterThan(1);
    expect(run.admitted).toBeGreaterThan(0);
    expect(run.refused).toBeGreaterThan(0);
    expect(run.inFlightAfter).toBe(0);
    expect(store.peek(cells[0]!, Date.now())).toBe(0);
  });

  it('admits exactly 2 of 20 simultaneous 5,000 µUSD reservations against a 10,000 µUSD budget', async () => {
    const store = SharedLimitStore.create(1);
    const cells = cellsOf([budgetSpec(10_000, 'day', 'tenant:budget')]);
    const now = Date.now();
    const run = await runThreads(store, split(20, THREADS).map((attempts) => ({ job: 'reserve', cells, costs: [5_000], attempts, nowMs: now })));
    expect(run.admitted).toBe(2);
    expect(store.peek(cells[0]!, now)).toBe(10_000);
  });

  it('admits exactly floor(capacity / cost) of a budget under a long race (40,000 × 7 µUSD against 100,000)', async () => {
    const store = SharedLimitStore.create(1);
    const cells = cellsOf([budgetSpec(100_000, 'month', 'tenant:budget')]);
    const now = Date.now();
    const run = await runThreads(store, split(40_000, THREADS).map((attempts) => ({ job: 'reserve', cells, costs: [7], attempts, nowMs: now })));
    expect(run.admitted).toBe(14_285);
    expect(store.peek(cells[0]!, now)).toBe(99_995);
  });

  it('stays all-or-nothing across 3 cells under races: rolled-back units come back exactly', async () => {
    const store = SharedLimitStore.create(3);
    // The route's 50 is the tighter limit; every refusal there rolls back the tenant and key cells.
    const cells = cellsOf([rateSpec(200, 60_000, 'tenant:rpm'), rateSpec(100, 60_000, 'key:rpm'), rateSpec(50, 60_000, 'route:rpm')]);
    const now = Date.now();
    const run = await runThreads(store, split(400, THREADS).map((attempts) => ({ job: 'reserve', cells, costs: [1, 1, 1], attempts, nowMs: now })));
    expect(run.admitted).toBe(50);
    expect(store.peek(cells[0]!, now)).toBe(150);
    expect(store.peek(cells[1]!, now)).toBe(50);
    expect(store.peek(cells[2]!, now)).toBe(0);
  });

  it('returns every cell to where it was after racing reserve/release pairs (rate, concurrency, budget)', async () => {
    const store = SharedLimitStore.create(3);
    const cells = cellsOf([rateSpec(1_000, 60_000), concurrencySpec(8), budgetSpec(1_000_000, 'day')]);
    const now = Date.now();
    const run = await runThreads(store, Array.from({ length: THREADS }, () => ({ job: 'churn', cells, costs: [3, 1, 700], attempts: 5_000, nowMs: now })));
    expect(run.admitted).toBeGreaterThan(0);
    expect(store.peek(cells[0]!, now)).toBe(1_000);
    expect(store.peek(cells[1]!, now)).toBe(0);
    expect(store.peek(cells[2]!, now)).toBe(0);
  });
});
