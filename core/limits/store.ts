// The LimitStore seam: where admission reserves and settlement refunds. Two implementations share one
// contract suite (test/conformance/limit-store.case.ts): shared memory (threads of one process; exact
// with Atomics) and Redis (many processes and hosts; one Lua script per call).
//
// Limit kinds (each is one cell, addressed by its slot number, assigned when the Plan is compiled):
// - rate:        GCRA. `capacity` units per `windowMs`; emission interval T = windowMs / capacity, the
//                tolerance is the whole window (a full window's quota may arrive at once). Admitting n
//                units: TAT' = max(TAT, now) + n·T, stored only if TAT' − now ≤ windowMs. Refunding n:
//                TAT −= n·T (never below now). Requests per minute use cost 1; tokens per minute use the
//                estimated token count, and settlement refunds or charges the difference.
// - concurrency: a counter of requests in flight, admitted while counter + n ≤ capacity; released by −n.
// - budget:      spend (in micro-USD) in the current calendar window (UTC day or month); admitted while
//                spent + n ≤ capacity; the window rolls over by itself; refunds never go below 0.
//
// reserve() is all-or-nothing over its cells: if any cell refuses, nothing stays reserved.

export type LimitKind = 'rate' | 'concurrency' | 'budget';

export interface LimitCell {
  /** Dense index 0..n-1 (the SharedArrayBuffer offset; Redis keys use the stable `name`). */
  readonly slot: number;
  readonly kind: LimitKind;
  /** Units per window (rate), in flight (concurrency), or micro-USD per period (budget). > 0. */
  readonly capacity: number;
  /** rate only: the window, ms (60_000 for per-minute limits). */
  readonly windowMs: number;
  /** budget only: the calendar window. */
  readonly period: 'day' | 'month' | null;
  /** For messages, metrics and Redis key names, e.g. `tenant:acme:rpm`. */
  readonly name: string;
}

/** What a refused reservation says, for 429 answers (`Retry-After`, `x-ratelimit-*`). */
export class ReserveOutcome {
  /** True when every cell admitted. */
  ok = false;
  /** Index (into the cells passed to reserve) of the first cell that refused; -1 when ok; -2 when the
   *  store could not be asked (then `ok` follows the failure mode: false for closed, true for open, and
   *  nothing is held either way). */
  refusedIndex = -1;
  /** When a retry could succeed, ms from now (rate: until enough TAT has drained; budget: until the
   *  next period; concurrency: 0, unknown). */
  retryAfterMs = 0;
  /** Units left in the refusing cell (or, when ok, in the first cell), floor, ≥ 0. */
  remaining = 0;

  reset(): void {
    this.ok = false;
    this.refusedIndex = -1;
    this.retryAfterMs = 0;
    this.remaining = 0;
  }
}

export interface LimitStore {
  readonly kind: 'shared' | 'redis';
  /**
   * Reserve `costs[i]` units on `cells[i]` for every i, all or nothing, at time `nowMs` (the shared
   * store uses it; the Redis store uses the server's clock so hosts agree). Fills `out`. Synchronous
   * stores return a boolean; remote stores a promise of one.
   */
  reserve(cells: readonly LimitCell[], costs: readonly number[], nowMs: number, out: ReserveOutcome): boolean | Promise<boolean>;
  /** Give back `costs[i]` units on `cells[i]` (negative charges more, for settlement). Never throws. */
  release(cells: readonly LimitCell[], costs: readonly number[], nowMs: number): void | Promise<void>;
  /** Current state of one cell, for tests and metrics: rate → units available now; others → used. */
  peek(cell: LimitCell, nowMs: number): number | Promise<number>;
  close(): Promise<void>;
}
