// Simulator profile: what a simulated provider looks like (latency, speed, output size, faults).
// Snake_case as written in YAML/JSON profile files. Imports nothing of the gateway.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export type FaultKind = 'rate_limited' | 'server_error' | 'unavailable' | 'timeout' | 'reset' | 'stream_cut';

export const FAULT_KINDS: readonly FaultKind[] = Object.freeze([
  'rate_limited',
  'server_error',
  'unavailable',
  'timeout',
  'reset',
  'stream_cut',
] as const);

export interface SimProfile {
  /** PRNG seed (integer). Default 1. */
  seed?: number;
  /** Delay before the first byte, in ms. Default 0. */
  ttft_ms?: number;
  /** Decode speed; 0 = every token at once. Default 0. */
  tokens_per_s?: number;
  /** Output length in tokens, fixed or drawn per request from [min, max]. Default 16. */
  output_tokens?: number | { min: number; max: number };
  /** Probability that a request fails with a fault. Default 0. */
  error_rate?: number;
  /** Relative weights of the fault kinds. Default: equal weights over all kinds. */
  errors?: Partial<Record<FaultKind, number>>;
  /** Retry-After (seconds) sent with 429. Default 1. */
  retry_after_s?: number;
  /** Model ids listed by GET /v1/models (any model name is accepted). Default ['gpt-4o-mini']. */
  models?: string[];
}

export interface ResolvedProfile {
  readonly seed: number;
  readonly ttft_ms: number;
  readonly tokens_per_s: number;
  readonly output_tokens: { readonly min: number; readonly max: number };
  readonly error_rate: number;
  /** Weights normalised to sum 1, in FAULT_KINDS order (all zero when no kind has weight). */
  readonly errors: Readonly<Record<FaultKind, number>>;
  readonly retry_after_s: number;
  readonly models: readonly string[];
}

export const DEFAULT_PROFILE: ResolvedProfile = Object.freeze({
  seed: 1,
  ttft_ms: 0,
  tokens_per_s: 0,
  output_tokens: Object.freeze({ min: 16, max: 16 }),
  error_rate: 0,
  errors: Object.freeze({
    rate_limited: 1 / 6,
    server_error: 1 / 6,
    unavailable: 1 / 6,
    timeout: 1 / 6,
    reset: 1 / 6,
    stream_cut: 1 / 6,
  }),
  retry_after_s: 1,
  models: Object.freeze(['gpt-4o-mini']),
});

const KNOWN_KEYS = new Set(['seed', 'ttft_ms', 'tokens_per_s', 'output_tokens', 'error_rate', 'errors', 'retry_after_s', 'models']);

function fail(path: string, msg: string): never {
  throw new Error(`invalid simulator profile: ${path}: ${msg}`);
}

function num(v: unknown, path: string, min: number, max = Infinity, int = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a finite number');
  if (int && !Number.isInteger(v)) fail(path, 'must be an integer');
  if (v < min || v > max) fail(path, max === Infinity ? `must be >= ${min}` : `must be between ${min} and ${max}`);
  return v;
}

/** Validate a (partial) profile and fill in defaults. Throws `invalid simulator profile: path: message`. */
export function resolveProfile(partial: Partial<SimProfile> | null | undefined = {}): ResolvedProfile {
  const p = (partial ?? {}) as Record<string, unknown>;
  if (typeof p !== 'object' || Array.isArray(p)) fail('(root)', 'must be an object');
  for (const k of Object.keys(p)) if (!KNOWN_KEYS.has(k)) fail(k, 'unknown field');

  const seed = p.seed === undefined ? DEFAULT_PROFILE.seed : num(p.seed, 'seed', -(2 ** 53), 2 ** 53, true);
  const ttft_ms = p.ttft_ms === undefined ? DEFAULT_PROFILE.ttft_ms : num(p.ttft_ms, 'ttft_ms', 0);
  const tokens_per_s = p.tokens_per_s === undefined ? DEFAULT_PROFILE.tokens_per_s : num(p.tokens_per_s, 'tokens_per_s', 0);
  const error_rate = p.error_rate === undefined ? DEFAULT_PROFILE.error_rate : num(p.error_rate, 'error_rate', 0, 1);
  const retry_after_s = p.retry_after_s === undefined ? DEFAULT_PROFILE.retry_after_s : num(p.retry_after_s, 'retry_after_s', 0);

  let output_tokens = DEFAULT_PROFILE.output_tokens;
  const ot = p.output_tokens;
  if (typeof ot === 'number') {
    const n = num(ot, 'output_tokens', 0, Infinity, true);
    output_tokens = Object.freeze({ min: n, max: n });
  } else if (ot !== undefined) {
    if (ot === null || typeof ot !== 'object' || Array.isArray(ot)) fail('output_tokens', 'must be an integer or {min, max}');
    const r = ot as Record<string, unknown>;
    const min = num(r.min, 'output_tokens.min', 0, Infinity, true);
    const max = num(r.max, 'output_tokens.max', 0, Infinity, true);
    if (max < min) fail('output_tokens.max', 'must be >= output_tokens.min');
    output_tokens = Object.freeze({ min, max });
  }

  let errors = DEFAULT_PROFILE.errors;
  if (p.errors !== undefined) {
    const e = p.errors;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) fail('errors', 'must be an object of weights');
    const raw = e as Record<string, unknown>;
    for (const k of Object.keys(raw)) {
      if (!(FAULT_KINDS as readonly string[]).includes(k)) fail(`errors.${k}`, `unknown fault kind (one of ${FAULT_KINDS.join(', ')})`);
    }
    let total = 0;
    const w = {} as Record<FaultKind, number>;
    for (const k of FAULT_KINDS) {
      w[k] = raw[k] === undefined ? 0 : num(raw[k], `errors.${k}`, 0);
      total += w[k];
    }
    if (total === 0 && error_rate > 0) fail('errors', 'at least one weight must be > 0 when error_rate > 0');
    for (const k of FAULT_KINDS) w[k] = total > 0 ? w[k] / total : 0;
    errors = Object.freeze(w);
  }

  let models = DEFAULT_PROFILE.models;
  if (p.models !== undefined) {
    if (!Array.isArray(p.models) || p.models.length === 0 || !p.models.every((m) => typeof m === 'string' && m.length > 0)) {
      fail('models', 'must be a non-empty array of non-empty strings');
    }
    models = Object.freeze([...(p.models as string[])]);
  }

  return Object.freeze({ seed, ttft_ms, tokens_per_s, output_tokens, error_rate, errors, retry_after_s, models });
}

/** Read a profile from a JSON or YAML file (by extension; anything but .json is parsed as YAML). Not resolved. */
export function loadProfileFile(path: string): Partial<SimProfile> {
  const text = readFileSync(path, 'utf8');
  let data: unknown;
  try {
    data = path.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`invalid simulator profile ${path}: ${(err as Error).message}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new Error(`invalid simulator profile ${path}: must be a mapping`);
  try {
    resolveProfile(data as Partial<SimProfile>); // validate early, with the file's name in the error
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  return data as Partial<SimProfile>;
}
