// Statistics the replay keeps per group (lane, alias, pool): a log-bucketed histogram per measure (1%
// relative precision from 0.01 ms to beyond a day; percentiles from it, the mean exact from the sum),
// counters, and time series in fixed bins of virtual time.

const MIN_MS = 0.01;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 2400; // 0.01 ms · 1.01^2400 ≈ 2.3e8 ms

export class Histogram {
  readonly counts = new Float64Array(BUCKETS + 1);
  n = 0;
  sum = 0;
  max = 0;

  add(v: number): void {
    const b = v < MIN_MS ? 0 : Math.min(BUCKETS, 1 + Math.floor(Math.log(v / MIN_MS) / LOG_GROWTH));
    this.counts[b]!++;
    this.n++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  get mean(): number {
    return this.n === 0 ? 0 : this.sum / this.n;
  }

  /** Upper edge of bucket b (value below which the bucket's samples lie). */
  static upper(b: number): number {
    return b === 0 ? MIN_MS : MIN_MS * GROWTH ** b;
  }

  /** The q-quantile (0..1): the geometric middle of the bucket holding it (capped at the max seen). */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const target = Math.max(1, Math.ceil(q * this.n));
    let acc = 0;
    for (let b = 0; b <= BUCKETS; b++) {
      acc += this.counts[b]!;
      if (acc >= target) {
        if (b === 0) return 0;
        const mid = MIN_MS * GROWTH ** (b - 0.5);
        return mid > this.max ? this.max : mid;
      }
    }
    return this.max;
  }

  /** Points (value ms, cumulative share) of the CDF, one per non-empty bucket. */
  cdf(): Array<[number, number]> {
    const pts: Array<[number, number]> = [];
    let acc = 0;
    for (let b = 0; b <= BUCKETS; b++) {
      const c = this.counts[b]!;
      if (c === 0) continue;
      acc += c;
      pts.push([Math.min(Histogram.upper(b), this.max), acc / this.n]);
    }
    return pts;
  }

  summary(): { mean: number; p50: number; p90: number; p99: number } {
    return { mean: r3(this.mean), p50: r3(this.quantile(0.5)), p90: r3(this.quantile(0.9)), p99: r3(this.quantile(0.99)) };
  }
}

export function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Sums per time bin (value and count), for a mean per bin. */
export class Series {
  readonly sum: Float64Array;
  readonly count: Float64Array;
  constructor(
    readonly bins: number,
    readonly binMs: number,
  ) {
    this.sum = new Float64Array(bins);
    this.count = new Float64Array(bins);
  }
  add(tMs: number, v: number): void {
    let b = Math.floor(tMs / this.binMs);
    if (b >= this.bins) b = this.bins - 1;
    if (b < 0) b = 0;
    this.sum[b]! += v;
    this.count[b]!++;
  }
  means(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.bins; i++) out.push(this.count[i]! > 0 ? r3(this.sum[i]! / this.count[i]!) : 0);
    return out;
  }
}

/** Everything counted for one lane, alias or pool. */
export class GroupStats {
  requests = 0;
  completed = 0;
  errors = 0;
  rejected = 0;
  /** Requests that needed more than one attempt (a retry or a fallback). */
  fellBack = 0;
  sloMet = 0;
  canary = 0;
  costUsd = 0;
  inputTokens = 0;
  cachedTokens = 0;
  outputTokens = 0;
  readonly queue = new Histogram();
  readonly latency = new Histogram();
  readonly ttft = new Histogram();
  /** Self-hosted occupancy, sequence·ms (to share GPU cost by use). */
  occupancyMs = 0;
  /** Queue time per bin of arrival time (kept for pools only: the charts plot it per pool). */
  readonly queueSeries: Series | null;
  constructor(bins: number, binMs: number, series = false) {
    this.queueSeries = series ? new Series(bins, binMs) : null;
  }
}
