// The LimitStore contract, run against every store (shared memory, Redis) through the same cases.
// Semantics under test are the ones documented in core/limits/store.ts.
//
// Time: every case starts from `t0 = Date.now()` and passes `t0 + offset` as nowMs. The shared store uses
// the nowMs it is given, so its cases are deterministic. A remote store uses its own clock (Redis TIME),
// so for it `at(offset)` waits until the wall clock has reached `t0 + offset` (a clock wait, not a wait
// for a server), and time-dependent numbers are compared within a tolerance (`near`). Cases use windows
// long enough (or short waits few enough) that the few milliseconds a round trip takes never change an
// admission count, and capacities that divide their windows, so the emission interval is a whole number
// of microseconds for every store.
//
// Usage (one file per store):
//   limitStoreContract('shared', async () => { const store = ...; let next = 0;
//     return { store, cells: (specs) => specs.map((s) => ({ ...s, slot: next++ })), cleanup: async () => {} }; });
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReserveOutcome, type LimitCell, type LimitStore } from '../../core/limits/store.js';

export type CellSpec = Omit<LimitCell, 'slot'>;

export interface LimitStoreFixture {
  store: LimitStore;
  /** Fresh cells (fresh slots, fresh Redis keys) for one case, in the order of `specs`. */
  cells: (specs: Array<CellSpec>) => LimitCell[];
  cleanup(): Promise<void>;
}

const DAY_MS = 86_400_000;

export function rateSpec(capacity: number, windowMs: number, name = `rate-${capacity}-per-${windowMs}ms`): CellSpec {
  return { kind: 'rate', capacity, windowMs, period: null, name };
}
export function concurrencySpec(capacity: number, name = `concurrency-${capacity}`): CellSpec {
  return { kind: 'concurrency', capacity, windowMs: 0, period: null, name };
}
export function budgetSpec(capacity: number, period: 'day' | 'month', name = `budget-${capacity}-per-${period}`): CellSpec {
  return { kind: 'budget', capacity, windowMs: 0, period, name };
}

/** ms from `nowMs` to the start of the next UTC day or month. */
export function msToNextPeriod(nowMs: number, period: 'day' | 'month'): number {
  const d = new Date(nowMs);
  const next = period === 'day' ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return next - nowMs;
}

export function limitStoreContract(name: string, factory: () => Promise<LimitStoreFixture>): void {
  describe(`LimitStore contract: ${name}`, () => {
    let fx: LimitStoreFixture;
    let store: LimitStore;
    /** True when the store takes time from the nowMs it is given (shared); false when it keeps its own (Redis). */
    let callerClock = true;

    beforeAll(async () => {
      fx = await factory();
      store = fx.store;
      callerClock = store.kind === 'shared';
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    /** One case's clock: `now(offset)` is t0 + offset; `at(offset)` also waits for the wall clock when the store keeps its own. */
    function clock() {
      const t0 = Date.now();
      return {
        t0,
        now: (offset = 0) => t0 + offset,
        at: async (offset: number) => {
          const target = t0 + offset;
          if (!callerClock) while (Date.now() < target) await new Promise((r) => setTimeout(r, Math.max(1, target - Date.now())));
          return target;
        },
      };
    }

    /** A time-dependent value: exact for a caller-clock store; for a store with its own clock, up to `slackMs` less (time passed). */
    function near(actual: number, expected: number, slackMs = 250): void {
      if (callerClock) expect(actual).toBe(expected);
      else {
        expect(actual).toBeGreaterThanOrEqual(expected - slackMs);
        expect(actual).toBeLessThanOrEqual(expected + 1);
      }
    }

    async function reserve(cells: readonly LimitCell[], costs: readonly number[], nowMs: number, out = new ReserveOutcome()): Promise<ReserveOutcome> {
      const ok = await store.reserve(cells, costs, nowMs, out);
      expect(ok).toBe(out.ok);
      return out;
    }
    async function reserveOne(cell: LimitCell, cost: number, nowMs: number): Promise<ReserveOutcome> {
      return reserve([cell], [cost], nowMs);
    }
    /** How many single reservations of `cost` are admitted in a row (stops at the first refusal or at `max`). */
    async function burst(cell: LimitCell, cost: number, nowMs: number, max: number): Promise<number> {
      let n = 0;
      while (n < max && (await reserveOne(cell, cost, nowMs)).ok) n++;
      return n;
    }

    describe('peek', () => {
      it('reports a fresh cell: rate → capacity available, concurrency → 0 in flight, budget → 0 spent', async () => {
        const c = clock();
        const [rate, conc, budget] = fx.cells([rateSpec(10, 60_000), concurrencySpec(5), budgetSpec(1_000, 'day')]);
        expect(await store.peek(rate!, c.now())).toBe(10);
        expect(await store.peek(conc!, c.now())).toBe(0);
        expect(await store.peek(budget!, c.now())).toBe(0);
      });

      it('follows reservations: rate → units left, concurrency → in flight, budget → spent', async () => {
        const c = clock();
        const [rate, conc, budget] = fx.cells([rateSpec(10, 60_000), concurrencySpec(5), budgetSpec(1_000, 'month')]);
        expect((await reserve([rate!, conc!, budget!], [3, 2, 250], c.now())).ok).toBe(true);
        expect(await store.peek(rate!, c.now())).toBe(7);
        expect(await store.peek(conc!, c.now())).toBe(2);
        expect(await store.peek(budget!, c.now())).toBe(250);
      });
    });

    describe('rate (GCRA)', () => {
      it('admits exactly capacity in a burst, then refuses with retryAfterMs ≈ T', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(10, 60_000)]); // T = 6 s
        expect(await burst(cell!, 1, c.now(), 100)).toBe(10);
        const out = await reserveOne(cell!, 1, c.now());
        expect(out.ok).toBe(false);
        expect(out.refusedIndex).toBe(0);
        expect(out.remaining).toBe(0);
        near(out.retryAfterMs, 6_000);
        expect(await store.peek(cell!, c.now())).toBe(0);
      });

      it('admits again after one emission interval T, one unit per T', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(2, 400)]); // T = 200 ms
        expect(await burst(cell!, 1, c.now(), 10)).toBe(2);
        const refused = await reserveOne(cell!, 1, c.now());
        expect(refused.ok).toBe(false);
        near(refused.retryAfterMs, 200, 150);
        const later = await c.at(220);
        expect((await reserveOne(cell!, 1, later)).ok).toBe(true);
        expect((await reserveOne(cell!, 1, later)).ok).toBe(false);
        const muchLater = await c.at(220 + 400);
        expect(await store.peek(cell!, muchLater)).toBe(2);
        expect(await burst(cell!, 1, muchLater, 10)).toBe(2);
      });

      it('charges a cost n > 1 as n units', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(100, 60_000)]); // T = 600 ms
        const a = await reserveOne(cell!, 40, c.now());
        expect(a.ok).toBe(true);
        expect(a.remaining).toBe(60);
        expect((await reserveOne(cell!, 50, c.now())).ok).toBe(true);
        const refused = await reserveOne(cell!, 11, c.now());
        expect(refused.ok).toBe(false);
        expect(refused.remaining).toBe(10);
        near(refused.retryAfterMs, 600); // one more unit must drain
        const fits = await reserveOne(cell!, 10, c.now());
        expect(fits.ok).toBe(true);
        expect(fits.remaining).toBe(0);
      });

      it('refuses a cost larger than capacity even on a fresh cell, and changes nothing', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(5, 60_000)]);
        const out = await reserveOne(cell!, 6, c.now());
        expect(out.ok).toBe(false);
        expect(out.refusedIndex).toBe(0);
        expect(out.remaining).toBe(5);
        expect(await store.peek(cell!, c.now())).toBe(5);
        expect(await burst(cell!, 1, c.now(), 100)).toBe(5);
      });

      it('restores capacity on a refund (positive release)', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(10, 60_000)]);
        expect((await reserveOne(cell!, 10, c.now())).ok).toBe(true);
        expect((await reserveOne(cell!, 1, c.now())).ok).toBe(false);
        await store.release([cell!], [4], c.now());
        expect(await store.peek(cell!, c.now())).toBe(4);
        expect(await burst(cell!, 1, c.now(), 100)).toBe(4);
      });

      it('never refunds below empty: a refund larger than what was reserved leaves exactly capacity', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(10, 60_000)]);
        expect((await reserveOne(cell!, 2, c.now())).ok).toBe(true);
        await store.release([cell!], [50], c.now());
        expect(await store.peek(cell!, c.now())).toBe(10);
        expect(await burst(cell!, 1, c.now(), 100)).toBe(10);
      });

      it('charges more on a negative release (settlement above the estimate), pushing TAT past the window', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(10, 60_000)]); // T = 6 s
        expect((await reserveOne(cell!, 1, c.now())).ok).toBe(true);
        await store.release([cell!], [-3], c.now());
        expect(await store.peek(cell!, c.now())).toBe(6);
        await store.release([cell!], [3], c.now());
        expect(await store.peek(cell!, c.now())).toBe(9);
        // Use everything, then charge 5 more: 15 units are owed, so one more unit waits for 6 to drain.
        expect((await reserveOne(cell!, 9, c.now())).ok).toBe(true);
        await store.release([cell!], [-5], c.now());
        expect(await store.peek(cell!, c.now())).toBe(0);
        const out = await reserveOne(cell!, 1, c.now());
        expect(out.ok).toBe(false);
        expect(out.remaining).toBe(0);
        near(out.retryAfterMs, 36_000);
      });

      it('admits exactly capacity when many reservations are issued at once', async () => {
        const c = clock();
        const [cell] = fx.cells([rateSpec(20, 60_000)]);
        const outs = await Promise.all(Array.from({ length: 60 }, () => reserveOne(cell!, 1, c.now())));
        expect(outs.filter((o) => o.ok).length).toBe(20);
      });
    });

    describe('concurrency', () => {
      it('acquires to capacity, refuses, and acquires again after a release', async () => {
        const c = clock();
        const [cell] = fx.cells([concurrencySpec(3)]);
        const first = await reserveOne(cell!, 1, c.now());
        expect(first.ok).toBe(true);
        expect(first.remaining).toBe(2);
        expect(first.refusedIndex).toBe(-1);
        expect(await burst(cell!, 1, c.now(), 100)).toBe(2);
        const refused = await reserveOne(cell!, 1, c.now());
        expect(refused.ok).toBe(false);
        expect(refused.refusedIndex).toBe(0);
        expect(refused.remaining).toBe(0);
        expect(refused.retryAfterMs).toBe(0);
        expect(await store.peek(cell!, c.now())).toBe(3);
        await store.release([cell!], [1], c.now());
        expect(await store.peek(cell!, c.now())).toBe(2);
        expect((await reserveOne(cell!, 1, c.now())).ok).toBe(true);
        expect((await reserveOne(cell!, 1, c.now())).ok).toBe(false);
        await store.release([cell!], [3], c.now());
        expect(await store.peek(cell!, c.now())).toBe(0);
      });

      it('does not depend on time (no refill)', async () => {
        const c = clock();
        const [cell] = fx.cells([concurrencySpec(2)]);
        expect(await burst(cell!, 1, c.now(), 10)).toBe(2);
        const later = callerClock ? c.now(3_600_000) : await c.at(50);
        expect((await reserveOne(cell!, 1, later)).ok).toBe(false);
        expect(await store.peek(cell!, later)).toBe(2);
      });

      it('takes a cost n > 1 and refuses one larger than capacity', async () => {
        const c = clock();
        const [cell] = fx.cells([concurrencySpec(4)]);
        expect((await reserveOne(cell!, 5, c.now())).ok).toBe(false);
        expect(await store.peek(cell!, c.now())).toBe(0);
        const a = await reserveOne(cell!, 3, c.now());
        expect(a.ok).toBe(true);
        expect(a.remaining).toBe(1);
        const b = await reserveOne(cell!, 2, c.now());
        expect(b.ok).toBe(false);
        expect(b.remaining).toBe(1);
        expect((await reserveOne(cell!, 1, c.now())).ok).toBe(true);
      });

      it('never counts below zero: an extra release does not create capacity', async () => {
        const c = clock();
        const [cell] = fx.cells([concurrencySpec(2)]);
        expect((await reserveOne(cell!, 1, c.now())).ok).toBe(true);
        await store.release([cell!], [5], c.now());
        expect(await store.peek(cell!, c.now())).toBe(0);
        expect(await burst(cell!, 1, c.now(), 10)).toBe(2);
      });

      it('admits exactly capacity when many acquisitions are issued at once', async () => {
        const c = clock();
        const [cell] = fx.cells([concurrencySpec(7)]);
        const outs = await Promise.all(Array.from({ length: 40 }, () => reserveOne(cell!, 1, c.now())));
        expect(outs.filter((o) => o.ok).length).toBe(7);
        expect(await store.peek(cell!, c.now())).toBe(7);
      });
    });

    describe('budget', () => {
      it('spends to capacity, refuses until the next UTC day, and resets there', async () => {
        const c = clock();
        const [cell] = fx.cells([budgetSpec(10_000, 'day')]);
        const a = await reserveOne(cell!, 6_000, c.now());
        expect(a.ok).toBe(true);
        expect(a.remaining).toBe(4_000);
        const b = await reserveOne(cell!, 4_000, c.now());
        expect(b.ok).toBe(true);
        expect(b.remaining).toBe(0);
        const refused = await reserveOne(cell!, 1, c.now());
        expect(refused.ok).toBe(false);
        expect(refused.refusedIndex).toBe(0);
        expect(refused.remaining).toBe(0);
        near(refused.retryAfterMs, msToNextPeriod(c.now(), 'day'), 1_000);
        expect(await store.peek(cell!, c.now())).toBe(10_000);
        // The next window: the shared store is told a time one day later. A store with its own clock
        // (Redis) cannot be moved a day ahead, so this one assertion is skipped for it.
        if (callerClock) {
          const tomorrow = c.now(DAY_MS);
          expect(await store.peek(cell!, tomorrow)).toBe(0);
          const fresh = await reserveOne(cell!, 10_000, tomorrow);
          expect(fresh.ok).toBe(true);
          expect(fresh.remaining).toBe(0);
          expect((await reserveOne(cell!, 1, tomorrow)).ok).toBe(false);
        }
      });

      it('resets at the start of the next UTC month for a monthly budget', async () => {
        const c = clock();
        const [cell] = fx.cells([budgetSpec(500, 'month')]);
        expect((await reserveOne(cell!, 500, c.now())).ok).toBe(true);
        const refused = await reserveOne(cell!, 1, c.now());
        expect(refused.ok).toBe(false);
        near(refused.retryAfterMs, msToNextPeriod(c.now(), 'month'), 1_000);
        // Same day next month is skipped for a store with its own clock (see above).
        if (callerClock) {
          const sameMonthLater = c.now(msToNextPeriod(c.now(), 'month') - 1);
          expect((await reserveOne(cell!, 1, sameMonthLater)).ok).toBe(false);
          const nextMonth = c.now(msToNextPeriod(c.now(), 'month'));
          expect(await store.peek(cell!, nextMonth)).toBe(0);
          expect((await reserveOne(cell!, 500, nextMonth)).ok).toBe(true);
        }
      });

      it('refunds, never below zero, and charges more on a negative release', async () => {
        const c = clock();
        const [cell] = fx.cells([budgetSpec(1_000, 'day')]);
        expect((await reserveOne(cell!, 800, c.now())).ok).toBe(true);
        await store.release([cell!], [300], c.now());
        expect(await store.peek(cell!, c.now())).toBe(500);
        await store.release([cell!], [-200], c.now());
        expect(await store.peek(cell!, c.now())).toBe(700);
        expect((await reserveOne(cell!, 301, c.now())).ok).toBe(false);
        expect((await reserveOne(cell!, 300, c.now())).ok).toBe(true);
        await store.release([cell!], [5_000], c.now());
        expect(await store.peek(cell!, c.now())).toBe(0);
      });

      it('refuses a cost larger than capacity and changes nothing', async () => {
        const c = clock();
        const [cell] = fx.cells([budgetSpec(1_000, 'month')]);
        const out = await reserveOne(cell!, 1_001, c.now());
        expect(out.ok).toBe(false);
        expect(out.remaining).toBe(1_000);
        expect(await store.peek(cell!, c.now())).toBe(0);
      });

      it('admits at most capacity when many reservations are issued at once', async () => {
        const c = clock();
        const [cell] = fx.cells([budgetSpec(10_000, 'day')]);
        const outs = await Promise.all(Array.from({ length: 20 }, () => reserveOne(cell!, 5_000, c.now())));
        expect(outs.filter((o) => o.ok).length).toBe(2);
        expect(await store.peek(cell!, c.now())).toBe(10_000);
      });
    });

    describe('reserve over several cells', () => {
      it('is all-or-nothing: when the last of 3 cells refuses, the first two are unchanged', async () => {
        const c = clock();
        const [rate, conc, budget] = fx.cells([rateSpec(10, 60_000, 'tenant:rpm'), concurrencySpec(5, 'key:inflight'), budgetSpec(1_000, 'day', 'tenant:budget')]);
        // Some prior use, so "unchanged" is not just "empty".
        expect((await reserve([rate!, conc!, budget!], [3, 1, 900], c.now())).ok).toBe(true);
        const before = [await store.peek(rate!, c.now()), await store.peek(conc!, c.now()), await store.peek(budget!, c.now())];
        expect(before).toEqual([7, 1, 900]);
        const out = await reserve([rate!, conc!, budget!], [2, 2, 200], c.now());
        expect(out.ok).toBe(false);
        expect(out.refusedIndex).toBe(2);
        expect(out.remaining).toBe(100);
        near(out.retryAfterMs, msToNextPeriod(c.now(), 'day'), 1_000);
        const after = [await store.peek(rate!, c.now()), await store.peek(conc!, c.now()), await store.peek(budget!, c.now())];
        expect(after).toEqual(before);
        // And what remains is still all usable.
        expect((await reserve([rate!, conc!, budget!], [7, 4, 100], c.now())).ok).toBe(true);
      });

      it('reports the first refusing cell when a middle cell refuses, and rolls back the first', async () => {
        const c = clock();
        const [a, b, d] = fx.cells([rateSpec(100, 60_000, 'key:tpm'), rateSpec(2, 60_000, 'key:rpm'), concurrencySpec(10)]);
        expect((await reserve([a!, b!, d!], [10, 1, 1], c.now())).ok).toBe(true);
        expect((await reserve([a!, b!, d!], [10, 1, 1], c.now())).ok).toBe(true);
        const out = await reserve([a!, b!, d!], [10, 1, 1], c.now());
        expect(out.ok).toBe(false);
        expect(out.refusedIndex).toBe(1);
        expect(out.remaining).toBe(0);
        near(out.retryAfterMs, 30_000);
        expect(await store.peek(a!, c.now())).toBe(80);
        expect(await store.peek(d!, c.now())).toBe(2);
      });

      it('on success reports ok, refusedIndex -1, retryAfterMs 0 and the first cell’s remaining', async () => {
        const c = clock();
        const [a, b] = fx.cells([rateSpec(60, 60_000), concurrencySpec(4)]);
        const out = new ReserveOutcome();
        out.refusedIndex = 5;
        out.retryAfterMs = 99;
        await reserve([a!, b!], [15, 1], c.now(), out);
        expect(out.ok).toBe(true);
        expect(out.refusedIndex).toBe(-1);
        expect(out.retryAfterMs).toBe(0);
        expect(out.remaining).toBe(45);
      });

      it('reuses one ReserveOutcome across calls (a refusal after a success, a success after a refusal)', async () => {
        const c = clock();
        const [cell] = fx.cells([concurrencySpec(1)]);
        const out = new ReserveOutcome();
        await reserve([cell!], [1], c.now(), out);
        expect(out.ok).toBe(true);
        await reserve([cell!], [1], c.now(), out);
        expect(out.ok).toBe(false);
        expect(out.refusedIndex).toBe(0);
        await store.release([cell!], [1], c.now());
        await reserve([cell!], [1], c.now(), out);
        expect(out.ok).toBe(true);
        expect(out.refusedIndex).toBe(-1);
        expect(out.remaining).toBe(0);
      });

      it('releases several cells in one call', async () => {
        const c = clock();
        const [rate, conc, budget] = fx.cells([rateSpec(10, 60_000), concurrencySpec(3), budgetSpec(100, 'day')]);
        expect((await reserve([rate!, conc!, budget!], [5, 2, 60], c.now())).ok).toBe(true);
        await store.release([rate!, conc!, budget!], [5, 2, 60], c.now());
        expect(await store.peek(rate!, c.now())).toBe(10);
        expect(await store.peek(conc!, c.now())).toBe(0);
        expect(await store.peek(budget!, c.now())).toBe(0);
      });
    });
  });
}
