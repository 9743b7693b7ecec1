// The pools file of `switchyard replay --pools FILE` (YAML or JSON): what the simulated pools are like,
// and the what-if variants to run beside the baseline. Every field is optional; a pool not named here
// takes its capacity from the gateway config (`replicas`, `max_batch`, ...) and, for managed-API pools,
// its latency and faults from the providers' `simulator` profiles in the config.
//
//   seed: 1                              # the replay's random draws (faults, backoff jitter)
//   start: "2026-01-01T00:00:00Z"        # virtual wall-clock of t = 0 (budget windows are calendar days)
//   pools:
//     gpu-a:                             # a self_hosted pool: replicas of simulators/gpu-model.ts
//       replicas: 4
//       max_batch: 16
//       prefill_tokens_per_s: 20000
//       decode_tokens_per_s: 60
//       decode_slowdown: 0.5             # α of the decode-rate formula (0: no slowdown with batch size)
//       prefix_cache_tokens: 262144
//       prefix_share: 0.5                # share of a request's input tokens that is its prefix group's prefix
//       gpu_hour_usd: 2.5
//       error_rate: 0                    # share of attempts answered 5xx at once
//     maas-openai:                       # a maas pool: each member behaves as a simulator profile
//       ttft_ms: 350
//       tokens_per_s: 80
//       error_rate: 0.01
//       errors: { rate_limited: 1, server_error: 1 }
//       retry_after_s: 1
//   what_if:
//     - name: six-replicas
//       pools: { gpu-a: { replicas: 6 } }
//       canary: { crm.summary.fast: 0.2 }  # another canary share per route alias
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FAULT_KINDS, type FaultKind } from '../simulators/profile.js';

export interface PoolOverride {
  replicas?: number;
  max_batch?: number;
  prefill_tokens_per_s?: number;
  decode_tokens_per_s?: number;
  decode_slowdown?: number;
  prefix_cache_tokens?: number;
  prefix_share?: number;
  gpu_hour_usd?: number;
  error_rate?: number;
  ttft_ms?: number;
  tokens_per_s?: number;
  errors?: Partial<Record<FaultKind, number>>;
  retry_after_s?: number;
}

export interface WhatIf {
  name: string;
  pools: Record<string, PoolOverride>;
  canary: Record<string, number>;
}

export interface PoolsFile {
  seed: number;
  startMs: number;
  pools: Record<string, PoolOverride>;
  whatIf: WhatIf[];
}

export const DEFAULT_START = '2026-01-01T00:00:00Z';

const NUM_FIELDS: Record<string, { min: number; max?: number; int?: boolean; positive?: boolean }> = {
  replicas: { min: 1, int: true },
  max_batch: { min: 1, int: true },
  prefill_tokens_per_s: { min: 0, positive: true },
  decode_tokens_per_s: { min: 0, positive: true },
  decode_slowdown: { min: 0, max: 1 },
  prefix_cache_tokens: { min: 0, int: true },
  prefix_share: { min: 0, max: 1 },
  gpu_hour_usd: { min: 0 },
  error_rate: { min: 0, max: 1 },
  ttft_ms: { min: 0 },
  tokens_per_s: { min: 0 },
  retry_after_s: { min: 0 },
};

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkPool(v: unknown, path: string, problems: string[]): PoolOverride {
  if (!isObj(v)) {
    problems.push(`${path}: must be a mapping`);
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'errors') {
      if (!isObj(x)) {
        problems.push(`${path}.errors: must be a mapping of fault kind → weight`);
        continue;
      }
      const e: Record<string, number> = {};
      for (const [fk, w] of Object.entries(x)) {
        if (!(FAULT_KINDS as readonly string[]).includes(fk)) problems.push(`${path}.errors.${fk}: unknown fault kind (one of ${FAULT_KINDS.join(', ')})`);
        else if (typeof w !== 'number' || !(w >= 0)) problems.push(`${path}.errors.${fk}: must be a number >= 0`);
        else e[fk] = w;
      }
      out.errors = e;
      continue;
    }
    const rule = NUM_FIELDS[k];
    if (rule === undefined) {
      problems.push(`${path}.${k}: unknown field`);
      continue;
    }
    if (typeof x !== 'number' || !Number.isFinite(x)) problems.push(`${path}.${k}: must be a number`);
    else if (rule.int === true && !Number.isInteger(x)) problems.push(`${path}.${k}: must be an integer`);
    else if (x < rule.min || (rule.positive === true && x <= 0) || (rule.max !== undefined && x > rule.max)) {
      problems.push(`${path}.${k}: must be ${rule.positive === true ? '> 0' : rule.max !== undefined ? `between ${rule.min} and ${rule.max}` : `>= ${rule.min}`}`);
    } else out[k] = x;
  }
  return out as PoolOverride;
}

function checkPools(v: unknown, path: string, problems: string[]): Record<string, PoolOverride> {
  if (v === undefined) return {};
  if (!isObj(v)) {
    problems.push(`${path}: must be a mapping of pool id → settings`);
    return {};
  }
  const out: Record<string, PoolOverride> = {};
  for (const [id, p] of Object.entries(v)) out[id] = checkPool(p, `${path}.${id}`, problems);
  return out;
}

/** Validate a parsed pools file. Throws with every problem listed (`path: message`). */
export function parsePoolsData(data: unknown, source = 'pools'): PoolsFile {
  const problems: string[] = [];
  if (data === null || data === undefined) data = {};
  if (!isObj(data)) throw new Error(`${source}: must be a mapping (seed, start, pools, what_if)`);
  for (const k of Object.keys(data)) if (!['seed', 'start', 'pools', 'what_if'].includes(k)) problems.push(`${k}: unknown field (seed, start, pools, what_if)`);
  let seed = 1;
  if (data.seed !== undefined) {
    if (typeof data.seed !== 'number' || !Number.isInteger(data.seed)) problems.push('seed: must be an integer');
    else seed = data.seed;
  }
  let startMs = Date.parse(DEFAULT_START);
  if (data.start !== undefined) {
    const ms = typeof data.start === 'string' ? Date.parse(data.start) : NaN;
    if (Number.isNaN(ms)) problems.push('start: must be an ISO date-time string');
    else startMs = ms;
  }
  const pools = checkPools(data.pools, 'pools', problems);
  const whatIf: WhatIf[] = [];
  if (data.what_if !== undefined) {
    if (!Array.isArray(data.what_if)) problems.push('what_if: must be a list');
    else {
      data.what_if.forEach((w: unknown, i: number) => {
        const path = `what_if[${i}]`;
        if (!isObj(w)) return problems.push(`${path}: must be a mapping (name, pools, canary)`);
        for (const k of Object.keys(w)) if (!['name', 'pools', 'canary'].includes(k)) problems.push(`${path}.${k}: unknown field (name, pools, canary)`);
        if (typeof w.name !== 'string' || w.name === '' || w.name === 'baseline') problems.push(`${path}.name: must be a non-empty string other than "baseline"`);
        else if (whatIf.some((x) => x.name === w.name)) problems.push(`${path}.name: "${w.name}" is used twice`);
        const canary: Record<string, number> = {};
        if (w.canary !== undefined) {
          if (!isObj(w.canary)) problems.push(`${path}.canary: must be a mapping of alias → share`);
          else
            for (const [a, s] of Object.entries(w.canary)) {
              if (typeof s !== 'number' || !(s >= 0 && s <= 1)) problems.push(`${path}.canary.${a}: must be a share between 0 and 1`);
              else canary[a] = s;
            }
        }
        whatIf.push({ name: String(w.name), pools: checkPools(w.pools, `${path}.pools`, problems), canary });
      });
    }
  }
  if (problems.length > 0) throw new Error(`invalid pools file ${source}:\n  ${problems.join('\n  ')}`);
  return { seed, startMs, pools, whatIf };
}

export function loadPoolsFile(path: string): PoolsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read pools file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = path.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`invalid pools file ${path}: ${(err as Error).message}`);
  }
  return parsePoolsData(data, path);
}

/** A what-if's pool settings laid over the baseline's. */
export function mergePools(base: Record<string, PoolOverride>, over: Record<string, PoolOverride>): Record<string, PoolOverride> {
  const out: Record<string, PoolOverride> = {};
  for (const [k, v] of Object.entries(base)) out[k] = { ...v };
  for (const [k, v] of Object.entries(over)) out[k] = { ...(out[k] ?? {}), ...v };
  return out;
}
