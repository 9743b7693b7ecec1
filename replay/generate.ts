// Synthetic traffic for capacity replay: arrival patterns (steady, Poisson, diurnal, bursts) and a mix
// of aliases, tenants, scenarios, token sizes, stream flags and prefix groups. Seeded: the same spec and
// seed give the same trace, byte for byte.
//
// Arrivals:
//   steady   evenly spaced, t_k = k / rate
//   poisson  exponential gaps with mean 1 / rate
//   diurnal  a Poisson process whose rate follows a day: rate·(1 + amplitude·cos(2π(t − peak_at_s)/period_s))
//            (drawn by thinning), so `rate` is the mean over a whole period
//   bursts   a Poisson process at `rate`, multiplied by `burst_multiplier` for `burst_length_s` at the
//            start of every `burst_every_s` (thinning); `rate` is the base rate between bursts
import { Rng } from './rng.js';
import type { TraceRequest } from './trace-format.js';
import { TraceColumns } from './trace-format.js';

export type Pattern = 'steady' | 'poisson' | 'diurnal' | 'bursts';
export const PATTERNS: readonly Pattern[] = ['steady', 'poisson', 'diurnal', 'bursts'];

/** A token count: fixed, or drawn per request. Drawn values are rounded, at least `min` (default 0). */
export type TokenDist =
  | number
  | { dist: 'uniform'; min: number; max: number }
  | { dist: 'exponential'; mean: number; min?: number }
  | { dist: 'lognormal'; median: number; sigma: number; min?: number; max?: number };

export interface GenerateSpec {
  pattern: Pattern;
  /** Requests per second (see the header for what it means per pattern). */
  rate: number;
  duration_s: number;
  seed: number;
  period_s?: number;
  amplitude?: number;
  peak_at_s?: number;
  burst_every_s?: number;
  burst_length_s?: number;
  burst_multiplier?: number;
  /** name → weight. */
  aliases: Record<string, number>;
  tenants: Record<string, number>;
  scenarios: Record<string, number>;
  input_tokens: TokenDist;
  output_tokens: TokenDist;
  /** Share of requests with stream: true. */
  stream_share: number;
  /** Number of prefix groups (0: none); a request gets one with probability `prefix_share`. */
  prefix_groups: number;
  prefix_share: number;
}

export const DEFAULT_SPEC: GenerateSpec = {
  pattern: 'poisson',
  rate: 10,
  duration_s: 60,
  seed: 1,
  aliases: { 'demo.chat.fast': 1 },
  tenants: { demo: 1 },
  scenarios: { default: 1 },
  input_tokens: 500,
  output_tokens: 100,
  stream_share: 0.5,
  prefix_groups: 0,
  prefix_share: 1,
};

/** Check a spec; returns every problem as `field: message` (empty when fine). */
export function checkSpec(s: GenerateSpec): string[] {
  const p: string[] = [];
  if (!PATTERNS.includes(s.pattern)) p.push(`pattern: must be one of ${PATTERNS.join(', ')}`);
  if (!(s.rate > 0) || !Number.isFinite(s.rate)) p.push('rate: must be a number > 0');
  if (!(s.duration_s > 0) || !Number.isFinite(s.duration_s)) p.push('duration_s: must be a number > 0');
  if (!Number.isInteger(s.seed)) p.push('seed: must be an integer');
  if (s.amplitude !== undefined && !(s.amplitude >= 0 && s.amplitude <= 1)) p.push('amplitude: must be between 0 and 1');
  if (s.period_s !== undefined && !(s.period_s > 0)) p.push('period_s: must be > 0');
  if (s.burst_every_s !== undefined && !(s.burst_every_s > 0)) p.push('burst_every_s: must be > 0');
  if (s.burst_length_s !== undefined && !(s.burst_length_s >= 0)) p.push('burst_length_s: must be >= 0');
  if (s.burst_multiplier !== undefined && !(s.burst_multiplier >= 1)) p.push('burst_multiplier: must be >= 1');
  for (const k of ['aliases', 'tenants', 'scenarios'] as const) {
    const w = s[k];
    const entries = w === null || typeof w !== 'object' ? [] : Object.entries(w);
    if (entries.length === 0) p.push(`${k}: must name at least one, with a weight`);
    for (const [n, v] of entries) if (!(typeof v === 'number' && v > 0)) p.push(`${k}.${n}: weight must be a number > 0`);
  }
  for (const k of ['input_tokens', 'output_tokens'] as const) p.push(...checkDist(s[k], k));
  if (!(s.stream_share >= 0 && s.stream_share <= 1)) p.push('stream_share: must be between 0 and 1');
  if (!(Number.isInteger(s.prefix_groups) && s.prefix_groups >= 0)) p.push('prefix_groups: must be an integer >= 0');
  if (!(s.prefix_share >= 0 && s.prefix_share <= 1)) p.push('prefix_share: must be between 0 and 1');
  return p;
}

function checkDist(d: TokenDist, path: string): string[] {
  if (typeof d === 'number') return Number.isInteger(d) && d >= 0 ? [] : [`${path}: must be an integer >= 0`];
  if (d === null || typeof d !== 'object') return [`${path}: must be an integer or {dist: uniform|exponential|lognormal, ...}`];
  switch (d.dist) {
    case 'uniform':
      return Number.isInteger(d.min) && Number.isInteger(d.max) && d.min >= 0 && d.max >= d.min ? [] : [`${path}: uniform needs integers 0 <= min <= max`];
    case 'exponential':
      return d.mean > 0 ? [] : [`${path}: exponential needs mean > 0`];
    case 'lognormal':
      return d.median > 0 && d.sigma >= 0 ? [] : [`${path}: lognormal needs median > 0 and sigma >= 0`];
    default:
      return [`${path}: unknown dist (uniform, exponential, lognormal)`];
  }
}

/** Cumulative weights for a categorical draw. */
class Choice {
  readonly names: string[];
  private readonly cum: Float64Array;
  constructor(weights: Record<string, number>) {
    this.names = Object.keys(weights);
    this.cum = new Float64Array(this.names.length);
    let s = 0;
    for (let i = 0; i < this.names.length; i++) this.cum[i] = s += weights[this.names[i]!]!;
    for (let i = 0; i < this.cum.length; i++) this.cum[i]! /= s;
  }
  pick(rng: Rng): string {
    if (this.names.length === 1) return this.names[0]!;
    const u = rng.next();
    for (let i = 0; i < this.cum.length; i++) if (u < this.cum[i]!) return this.names[i]!;
    return this.names[this.names.length - 1]!;
  }
}

function drawTokens(d: TokenDist, rng: Rng): number {
  if (typeof d === 'number') return d;
  switch (d.dist) {
    case 'uniform':
      return rng.int(d.min, d.max);
    case 'exponential':
      return Math.max(d.min ?? 0, Math.round(rng.exp(d.mean)));
    case 'lognormal': {
      const x = Math.round(d.median * Math.exp(d.sigma * rng.normal()));
      return Math.min(d.max ?? 0x7fffffff, Math.max(d.min ?? 0, x));
    }
  }
}

/**
 * Generate a trace, calling `emit` for each request in time order. Returns the number generated.
 * Throws with every spec problem listed when the spec is invalid.
 */
export function generateTrace(spec: GenerateSpec, emit: (r: TraceRequest) => void): number {
  const problems = checkSpec(spec);
  if (problems.length > 0) throw new Error(`invalid trace spec:\n  ${problems.join('\n  ')}`);
  // Two streams: arrivals, and request attributes, so changing the mix never moves the arrival times.
  const arr = new Rng(spec.seed);
  const att = new Rng((spec.seed ^ 0x5bd1e995) >>> 0);
  const aliases = new Choice(spec.aliases);
  const tenants = new Choice(spec.tenants);
  const scenarios = new Choice(spec.scenarios);
  const rate = spec.rate;
  const T = spec.duration_s;
  const period = spec.period_s ?? 86_400;
  const amp = spec.amplitude ?? 0.5;
  const peak = spec.peak_at_s ?? period / 2;
  const every = spec.burst_every_s ?? 60;
  const blen = spec.burst_length_s ?? 5;
  const mult = spec.burst_multiplier ?? 5;
  let n = 0;
  const out = (t: number): void => {
    const r: TraceRequest = {
      t,
      alias: aliases.pick(att),
      tenant: tenants.pick(att),
      scenario_id: scenarios.pick(att),
      input_tokens: drawTokens(spec.input_tokens, att),
      output_tokens: drawTokens(spec.output_tokens, att),
      stream: att.next() < spec.stream_share,
    };
    if (spec.prefix_groups > 0 && att.next() < spec.prefix_share) r.prefix_group = 'g' + att.int(0, spec.prefix_groups - 1);
    n++;
    emit(r);
  };
  switch (spec.pattern) {
    case 'steady': {
      const count = Math.floor(T * rate - 1e-9) + 1;
      for (let k = 0; k < count; k++) out(k / rate);
      break;
    }
    case 'poisson': {
      for (let t = arr.exp(1 / rate); t < T; t += arr.exp(1 / rate)) out(t);
      break;
    }
    case 'diurnal': {
      const max = rate * (1 + amp);
      for (let t = arr.exp(1 / max); t < T; t += arr.exp(1 / max)) {
        const r = rate * (1 + amp * Math.cos((2 * Math.PI * (t - peak)) / period));
        if (arr.next() * max < r) out(t);
      }
      break;
    }
    case 'bursts': {
      const max = rate * mult;
      for (let t = arr.exp(1 / max); t < T; t += arr.exp(1 / max)) {
        const r = t % every < blen ? max : rate;
        if (arr.next() * max < r) out(t);
      }
      break;
    }
  }
  return n;
}

/** Generate straight into columns (replays of synthetic traffic need no file). */
export function generateColumns(spec: GenerateSpec): TraceColumns {
  const cols = new TraceColumns(Math.min(1 << 22, Math.ceil(spec.rate * spec.duration_s * 1.1) + 16));
  generateTrace(spec, (r) => cols.push(r));
  return cols;
}
