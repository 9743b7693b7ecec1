// The shared-memory LimitStore: every limit is one 64-bit word in a SharedArrayBuffer (layout.ts), read and
// written only through Atomics on a BigInt64Array, so the worker threads of one process that attach the same
// buffer share exact state. No locks: each update is a compare-and-swap loop, bounded at MAX_CAS_TRIES.
//
// Semantics are those of store.ts. Time inside is integer microseconds (nowMs · 1000, rounded).
// - rate: GCRA. The emission interval t = floor(windowMs · 1000 / capacity) µs (at least 1) and the
//   tolerance τ = capacity · t, which is the window whenever t is a whole number of µs (60 s / 100 = 600 ms,
//   60 s / 200,000 tokens = 300 µs); when it is not (7 per minute), τ is a few µs under the window, so a
//   burst is still exactly `capacity`. Capacities above windowMs · 1000 (more than one unit per µs) are held
//   to one unit per µs, τ = the window (conservative).
// - concurrency: a count, admitted while count + n ≤ capacity, released by −n (never below 0).
// - budget: (window index, spent µUSD) packed in one word (layout.ts), so one CAS checks the window, restarts
//   the spend at 0 when the window has rolled over, and adds the cost.
//
// Costs: reserve() takes ceil(cost) units (a non-positive or NaN cost takes 0); release() gives back
// floor(cost) (a negative cost charges more); both round against the caller, never in its favour.
//
// Hot path (reserve/release/peek): no objects but BigInts are made. The arithmetic runs on doubles, which
// hold every value here exactly (below 2^53); BigInt appears only where Atomics needs it: per cell reserved,
// one Atomics.load, one BigInt() of the new word and the CAS; a rate refund is one Atomics.sub of a BigInt
// cached per slot. V8 allocates those BigInts on the young generation (a pointer bump) and does not inline
// Atomics on a BigInt64Array: measured here, load + Number() + BigInt() + CAS ≈ 60 ns of the ≈ 80 ns a
// one-cell reserve takes (bench/micro/limits.bench.ts).

import type { LimitCell, LimitStore } from './store.js';
import { ReserveOutcome } from './store.js';
import {
  BUDGET_SPENT_BITS,
  BUDGET_SPENT_MAX,
  BUDGET_WINDOW_MAX,
  HEADER_CELLS_WORD,
  HEADER_MAGIC_WORD,
  LAYOUT_MAGIC_WORD,
  MAX_CELLS,
  MS_PER_DAY,
  US_PER_MS,
  bufferBytes,
  cellWordIndex,
} from './layout.js';

/** Compare-and-swap attempts per cell before giving up. Uncontended, the first attempt succeeds; 64 failed
 *  attempts mean 64 other threads' updates landed on the same word meanwhile. */
export const MAX_CAS_TRIES = 64;

/** Doubles are exact integers up to here; TAT, counts and charges are clamped to it. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

export class SharedLimitStore implements LimitStore {
  readonly kind = 'shared' as const;
  readonly buffer: SharedArrayBuffer;
  readonly cellCount: number;
  private readonly words: BigInt64Array;
  // Per slot, this thread's last rate refund (µs) and the same as a BigInt, so a repeated refund (cost 1 for
  // requests per minute) makes no BigInt. Thread-local (not in the shared buffer): 16 bytes per cell.
  private readonly lastRefund: Float64Array;
  private readonly lastRefundBig: bigint[];

  // The current budget windows, recomputed when nowMs enters another UTC day (a per-store cache, so the hot
  // path neither builds a Date nor shifts a BigInt). `*Base` is the window index already shifted into place.
  private cacheDay = -1;
  private dayBase = 0n;
  private dayNextBase = 0n;
  private dayNextMs = 0;
  private monthBase = 0n;
  private monthNextBase = 0n;
  private monthNextMs = 0;

  private constructor(buffer: SharedArrayBuffer, cellCount: number) {
    this.buffer = buffer;
    this.cellCount = cellCount;
    this.words = new BigInt64Array(buffer);
    this.lastRefund = new Float64Array(cellCount);
    this.lastRefundBig = new Array<bigint>(cellCount).fill(0n); // filled: one elements kind, no holes
  }

  /** Cells the buffer holds (= cellCount): how many limits a Plan may have and keep this store. */
  get capacity(): number {
    return this.cellCount;
  }

  /** A new, zeroed buffer of `cellCount` cells (every cell empty). */
  static create(cellCount: number): SharedLimitStore {
    if (!Number.isInteger(cellCount) || cellCount < 0 || cellCount > MAX_CELLS) {
      throw new RangeError(`SharedLimitStore: cellCount must be an integer in 0..${MAX_CELLS}, got ${cellCount}`);
    }
    const buffer = new SharedArrayBuffer(bufferBytes(cellCount));
    const words = new BigInt64Array(buffer);
    Atomics.store(words, HEADER_CELLS_WORD, BigInt(cellCount));
    Atomics.store(words, HEADER_MAGIC_WORD, LAYOUT_MAGIC_WORD);
    return new SharedLimitStore(buffer, cellCount);
  }

  /** A view on a buffer made by create() (in this thread or another): state is shared, not copied. */
  static attach(buffer: SharedArrayBuffer): SharedLimitStore {
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError('SharedLimitStore.attach: not a SharedArrayBuffer');
    if (buffer.byteLength < bufferBytes(0)) throw new RangeError('SharedLimitStore.attach: buffer smaller than the header');
    const words = new BigInt64Array(buffer);
    const magic = Atomics.load(words, HEADER_MAGIC_WORD);
    if (magic !== LAYOUT_MAGIC_WORD) {
      throw new RangeError(`SharedLimitStore.attach: not a limit store buffer of this layout version (magic word 0x${magic.toString(16)})`);
    }
    const cellCount = Number(Atomics.load(words, HEADER_CELLS_WORD));
    if (cellCount < 0 || cellCount > MAX_CELLS || buffer.byteLength < bufferBytes(cellCount)) {
      throw new RangeError(`SharedLimitStore.attach: header says ${cellCount} cells, buffer holds ${buffer.byteLength} bytes`);
    }
    return new SharedLimitStore(buffer, cellCount);
  }

  reserve(cells: readonly LimitCell[], costs: readonly number[], nowMs: number, out: ReserveOutcome): boolean {
    const nowUs = Math.round(nowMs * US_PER_MS);
    let firstRemaining = 0;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i]!;
      if (!this.validSlot(cell.slot)) {
        this.rollBack(cells, costs, i, nowMs, nowUs);
        throw new RangeError(`SharedLimitStore: cell ${cell.name} has slot ${cell.slot}, the buffer holds ${this.cellCount} cells`);
      }
      if (!this.reserveCell(cell, reserveUnits(costs[i]), nowMs, nowUs, out)) {
        // All or nothing: give back what cells 0..i-1 took. Until this finishes, a concurrent request may
        // see those units taken and be refused; it is never admitted past a limit, so nothing over-admits.
        this.rollBack(cells, costs, i, nowMs, nowUs);
        out.ok = false;
        out.refusedIndex = i;
        return false;
      }
      if (i === 0) firstRemaining = out.remaining;
    }
    out.ok = true;
    out.refusedIndex = -1;
    out.retryAfterMs = 0;
    out.remaining = firstRemaining;
    return true;
  }

  release(cells: readonly LimitCell[], costs: readonly number[], nowMs: number): void {
    const nowUs = Math.round(nowMs * US_PER_MS);
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i]!;
      const units = Math.floor(costs[i]!);
      // Never throws: a slot outside the buffer or a cost that is not a number is skipped.
      if (!this.validSlot(cell.slot) || !(units >= -MAX_EXACT && units <= MAX_EXACT) || units === 0) continue;
      this.releaseCell(cell, units, nowMs, nowUs);
    }
  }

  peek(cell: LimitCell, nowMs: number): number {
    if (!this.validSlot(cell.slot)) throw new RangeError(`SharedLimitStore: cell ${cell.name} has slot ${cell.slot}, the buffer holds ${this.cellCount} cells`);
    const idx = cellWordIndex(cell.slot);
    const word = Atomics.load(this.words, idx);
    switch (cell.kind) {
      case 'rate': {
        const t = emissionUs(cell);
        const nowUs = Math.round(nowMs * US_PER_MS);
        const backlog = Number(word) - nowUs;
        return available(backlog > 0 ? backlog : 0, t, toleranceUs(cell, t));
      }
      case 'concurrency': {
        const n = Number(word);
        return n > 0 ? n : 0;
      }
      case 'budget':
        return this.spentNow(cell, word, nowMs);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  // ── one cell ────────────────────────────────────────────────────────────────────────────────────────────

  private validSlot(slot: number): boolean {
    return slot >= 0 && slot < this.cellCount && (slot | 0) === slot;
  }

  private rollBack(cells: readonly LimitCell[], costs: readonly number[], upTo: number, nowMs: number, nowUs: number): void {
    for (let j = 0; j < upTo; j++) {
      const units = reserveUnits(costs[j]);
      if (units > 0) this.releaseCell(cells[j]!, units, nowMs, nowUs);
    }
  }

  /** Takes `units` (an integer ≥ 0, or +Infinity) on one cell. Fills out.remaining; on refusal also out.retryAfterMs. */
  private reserveCell(cell: LimitCell, units: number, nowMs: number, nowUs: number, out: ReserveOutcome): boolean {
    // One small method per kind: each inlines into reserve() on its own (V8 gives up on one big one).
    const kind = cell.kind;
    if (kind === 'rate') return this.reserveRate(cell, units, nowUs, out);
    if (kind === 'concurrency') return this.reserveConcurrency(cell, units, out);
    return this.reserveBudget(cell, units, nowMs, out);
  }

  private reserveRate(cell: LimitCell, units: number, nowUs: number, out: ReserveOutcome): boolean {
    const words = this.words;
    const idx = cellWordIndex(cell.slot);
    const t = emissionUs(cell);
    const tau = toleranceUs(cell, t);
    const inc = units * t;
    let word = Atomics.load(words, idx);
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const tat = Number(word);
      const base = tat > nowUs ? tat : nowUs;
      const next = base + inc;
      if (next - nowUs > tau) {
        out.remaining = available(base - nowUs, t, tau);
        // Enough must drain that base' + inc − now ≤ τ; a cost above capacity never fits (0: unknown).
        out.retryAfterMs = inc > tau ? 0 : Math.ceil((next - tau - nowUs) / US_PER_MS);
        return false;
      }
      const seen = Atomics.compareExchange(words, idx, word, BigInt(next));
      if (seen === word) {
        out.remaining = available(next - nowUs, t, tau);
        return true;
      }
      word = seen; // lost a race: the CAS returned the current word, try again from it
    }
    return this.exhausted(out);
  }

  private reserveConcurrency(cell: LimitCell, units: number, out: ReserveOutcome): boolean {
    const words = this.words;
    const idx = cellWordIndex(cell.slot);
    const cap = cell.capacity;
    let word = Atomics.load(words, idx);
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const count = Number(word);
      const next = (count > 0 ? count : 0) + units;
      if (next > cap) {
        const left = cap - count;
        out.remaining = left > 0 ? Math.floor(left) : 0;
        out.retryAfterMs = 0; // a release could come at any moment: unknown
        return false;
      }
      const seen = Atomics.compareExchange(words, idx, word, BigInt(next));
      if (seen === word) {
        const left = cap - next;
        out.remaining = left > 0 ? Math.floor(left) : 0;
        return true;
      }
      word = seen;
    }
    return this.exhausted(out);
  }

  private reserveBudget(cell: LimitCell, units: number, nowMs: number, out: ReserveOutcome): boolean {
    const words = this.words;
    const idx = cellWordIndex(cell.slot);
    this.windowsAt(nowMs);
    const monthly = cell.period === 'month';
    const curBase = monthly ? this.monthBase : this.dayBase;
    const nextBase = monthly ? this.monthNextBase : this.dayNextBase;
    const cap = cell.capacity < BUDGET_SPENT_MAX ? cell.capacity : BUDGET_SPENT_MAX;
    let word = Atomics.load(words, idx);
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      let base = curBase;
      let spent = 0; // the word's window is older (or the cell is fresh): the spend restarts at 0
      if (word >= nextBase) {
        // A thread whose clock is ahead already moved the cell into a later window: count against that
        // window rather than move it back. Rare (a few ms around midnight), so the BigInt shifts are fine.
        base = (word >> BUDGET_SPENT_BITS) << BUDGET_SPENT_BITS;
        spent = Number(word - base);
      } else if (word >= curBase) {
        spent = Number(word - curBase);
      }
      const next = spent + units;
      if (next > cap) {
        const left = cap - spent;
        out.remaining = left > 0 ? Math.floor(left) : 0;
        out.retryAfterMs = units > cap ? 0 : Math.ceil((monthly ? this.monthNextMs : this.dayNextMs) - nowMs);
        return false;
      }
      const seen = Atomics.compareExchange(words, idx, word, base + BigInt(next));
      if (seen === word) {
        const left = cap - next;
        out.remaining = left > 0 ? Math.floor(left) : 0;
        return true;
      }
      word = seen;
    }
    return this.exhausted(out);
  }

  /** After MAX_CAS_TRIES lost races the cell refuses (conservative: never admits without a successful CAS). */
  private exhausted(out: ReserveOutcome): false {
    out.remaining = 0;
    out.retryAfterMs = 0;
    return false;
  }

  /** Gives back `units` (a non-zero integer; negative charges more) on one cell. */
  private releaseCell(cell: LimitCell, units: number, nowMs: number, nowUs: number): void {
    const kind = cell.kind;
    if (kind === 'rate') this.releaseRate(cell, units, nowUs);
    else if (kind === 'concurrency') this.releaseConcurrency(cell, units);
    else this.releaseBudget(cell, units, nowMs);
  }

  private releaseRate(cell: LimitCell, units: number, nowUs: number): void {
    const words = this.words;
    const idx = cellWordIndex(cell.slot);
    const t = emissionUs(cell);
    let delta = units * t; // > 0 refunds, < 0 charges
    if (delta > 0 && delta <= toleranceUs(cell, t)) {
      // A refund is one wait-free Atomics.sub (TAT −= n·T), with no load and, for a repeated amount, no
      // BigInt made. store.ts says "never below now": no clamp is needed for that, because every reader
      // takes max(TAT, now), so a TAT below now reads exactly as now does. Refunds above τ (more than a
      // whole window: undoing a large charge, or over-refunding) take the clamping CAS below, so the word
      // cannot wander off towards the int64 minimum.
      Atomics.sub(words, idx, this.refundBig(cell.slot, delta));
      return;
    }
    if (delta > MAX_EXACT) delta = MAX_EXACT;
    else if (delta < -MAX_EXACT) delta = -MAX_EXACT;
    let word = Atomics.load(words, idx);
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const tat = Number(word);
      let next: number;
      if (delta > 0) {
        if (tat <= nowUs) return; // nothing owed: TAT never goes below now
        next = tat - delta;
        if (next < nowUs) next = nowUs;
      } else {
        next = (tat > nowUs ? tat : nowUs) - delta;
        if (next > MAX_EXACT) next = MAX_EXACT;
      }
      const seen = Atomics.compareExchange(words, idx, word, BigInt(next));
      if (seen === word) return;
      word = seen;
    }
    // Out of tries: apply the delta without the clamp, wait-free. For a refund that is the same thing
    // (see above); a charge lands on the TAT as it is, which under contention is at or past now anyway.
    Atomics.sub(words, idx, BigInt(delta));
  }

  private releaseConcurrency(cell: LimitCell, units: number): void {
    const words = this.words;
    const idx = cellWordIndex(cell.slot);
    let word = Atomics.load(words, idx);
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const count = Number(word);
      let next = count - units;
      if (next < 0) next = 0; // an extra release never makes room that was not taken
      else if (next > MAX_EXACT) next = MAX_EXACT;
      if (next === count) return;
      const seen = Atomics.compareExchange(words, idx, word, BigInt(next));
      if (seen === word) return;
      word = seen;
    }
    // Out of tries: a release must not be lost (the slot would stay taken forever); subtract wait-free.
    Atomics.sub(words, idx, BigInt(units));
  }

  private releaseBudget(cell: LimitCell, units: number, nowMs: number): void {
    const words = this.words;
    const idx = cellWordIndex(cell.slot);
    this.windowsAt(nowMs);
    const monthly = cell.period === 'month';
    const curBase = monthly ? this.monthBase : this.dayBase;
    const nextBase = monthly ? this.monthNextBase : this.dayNextBase;
    let word = Atomics.load(words, idx);
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      let base = curBase;
      let spent = 0; // a refund for an older window gives nothing back to this one; a charge starts it
      if (word >= nextBase) {
        base = (word >> BUDGET_SPENT_BITS) << BUDGET_SPENT_BITS;
        spent = Number(word - base);
      } else if (word >= curBase) {
        spent = Number(word - curBase);
      }
      let next = spent - units;
      if (next < 0) next = 0; // refunds never go below 0
      else if (next > BUDGET_SPENT_MAX) next = BUDGET_SPENT_MAX;
      if (next === spent) return; // no change (an older window reads as 0 and stays so)
      const seen = Atomics.compareExchange(words, idx, word, base + BigInt(next));
      if (seen === word) return;
      word = seen;
    }
    // Out of tries. A lost refund only under-admits, so it is dropped; a charge is added wait-free to the
    // spend bits (the word is in the current window: 64 other updates just landed on it).
    if (units < 0) Atomics.add(words, idx, BigInt(Math.min(-units, BUDGET_SPENT_MAX)));
  }

  /** `delta` as a BigInt, made only when it differs from this slot's previous refund. */
  private refundBig(slot: number, delta: number): bigint {
    if (this.lastRefund[slot] === delta) return this.lastRefundBig[slot]!;
    const big = BigInt(delta);
    this.lastRefund[slot] = delta;
    this.lastRefundBig[slot] = big;
    return big;
  }

  /** Spent µUSD of a budget cell in the window of nowMs. */
  private spentNow(cell: LimitCell, word: bigint, nowMs: number): number {
    this.windowsAt(nowMs);
    const monthly = cell.period === 'month';
    const curBase = monthly ? this.monthBase : this.dayBase;
    const nextBase = monthly ? this.monthNextBase : this.dayNextBase;
    if (word >= nextBase) return Number(word - ((word >> BUDGET_SPENT_BITS) << BUDGET_SPENT_BITS));
    if (word >= curBase) return Number(word - curBase);
    return 0;
  }

  /** Brings the cached day and month windows to nowMs's; runs its body once per UTC day (per store). */
  private windowsAt(nowMs: number): void {
    const day = Math.floor(nowMs / MS_PER_DAY);
    if (day === this.cacheDay) return;
    const d = new Date(day * MS_PER_DAY);
    const month = (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
    const dayW = clampWindow(day);
    const monthW = clampWindow(month);
    this.dayBase = BigInt(dayW) << BUDGET_SPENT_BITS;
    this.dayNextBase = BigInt(dayW + 1) << BUDGET_SPENT_BITS;
    this.dayNextMs = (day + 1) * MS_PER_DAY;
    this.monthBase = BigInt(monthW) << BUDGET_SPENT_BITS;
    this.monthNextBase = BigInt(monthW + 1) << BUDGET_SPENT_BITS;
    this.monthNextMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    this.cacheDay = day;
  }
}

/** The GCRA emission interval of a rate cell, whole µs, at least 1. */
function emissionUs(cell: LimitCell): number {
  const t = Math.floor((cell.windowMs * US_PER_MS) / cell.capacity);
  return t > 1 ? t : 1;
}

/** The GCRA tolerance τ: capacity · t, which never exceeds the window (t is floored), except when t was held
 *  at 1 µs; then the window. */
function toleranceUs(cell: LimitCell, t: number): number {
  const tau = cell.capacity * t;
  const w = Math.round(cell.windowMs * US_PER_MS);
  return tau < w ? tau : w;
}

/** Units that fit in the tolerance given the current backlog (µs), floor, ≥ 0. */
function available(backlog: number, t: number, tau: number): number {
  const n = Math.floor((tau - backlog) / t);
  return n > 0 ? n : 0;
}

/** Units a reservation takes: ceil(cost); 0 for a non-positive or NaN cost; +Infinity stays (and refuses). */
function reserveUnits(cost: number | undefined): number {
  return cost !== undefined && cost > 0 ? Math.ceil(cost) : 0;
}

/** Window indexes live in 16 bits (days until 2149); before 1970 is 0, beyond is the last. */
function clampWindow(w: number): number {
  return w < 0 ? 0 : w > BUDGET_WINDOW_MAX - 1 ? BUDGET_WINDOW_MAX - 1 : w;
}

export { ReserveOutcome };
