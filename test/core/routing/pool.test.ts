import { describe, expect, it } from 'vitest';
import type { PoolContext, PoolMember, ProviderContext } from '../../../core/config/plan.js';
import { pickMember } from '../../../core/routing/pool.js';

function provider(name: string): ProviderContext {
  return {
    name,
    kind: 'openai',
    api: 'openai',
    baseUrl: `http://${name}.test/v1`,
    origin: `http://${name}.test`,
    basePath: '/v1',
    apiKey: '',
    models: new Map(),
    timeoutMs: 1000,
    connections: 1,
  };
}

const PA = provider('a');
const PB = provider('b');
const PC = provider('c');

function member(p: ProviderContext, model: string, weight: number): PoolMember {
  return { provider: p, model, weight, price: null };
}

function pool(members: PoolMember[]): PoolContext {
  return { id: 'p', kind: 'maas', members, replicas: 0, maxBatch: 0, prefillTokensPerS: 0, decodeTokensPerS: 0, gpuHourUsd: 0 };
}

const N = 10_000;

/** Share of picks per member over seq 0..n-1. */
function shares(p: PoolContext, allowed: readonly string[], n = N, from = 0): Map<PoolMember, number> {
  const counts = new Map<PoolMember, number>();
  for (let s = from; s < from + n; s++) {
    const m = pickMember(p, allowed, s);
    if (m === null) throw new Error('unexpected null');
    counts.set(m, (counts.get(m) ?? 0) + 1);
  }
  for (const [m, c] of counts) counts.set(m, c / n);
  return counts;
}

describe('pickMember', () => {
  it('a single member is always chosen', () => {
    const only = member(PA, 'm', 1);
    const p = pool([only]);
    for (let s = 0; s < 100; s++) expect(pickMember(p, [], s)).toBe(only);
  });

  it('respects weights over 10,000 sequence numbers within 2%', () => {
    const ms = [member(PA, 'm1', 1), member(PB, 'm2', 3), member(PC, 'm3', 6)];
    const p = pool(ms);
    for (const from of [0, 1_000_000, 987_654_321]) {
      const sh = shares(p, [], N, from);
      expect(Math.abs((sh.get(ms[0]!) ?? 0) - 0.1)).toBeLessThan(0.02);
      expect(Math.abs((sh.get(ms[1]!) ?? 0) - 0.3)).toBeLessThan(0.02);
      expect(Math.abs((sh.get(ms[2]!) ?? 0) - 0.6)).toBeLessThan(0.02);
    }
  });

  it('respects fractional and uneven weights', () => {
    const ms = [member(PA, 'm1', 0.25), member(PB, 'm2', 0.75), member(PA, 'm3', 2)];
    const sh = shares(pool(ms), []);
    expect(Math.abs((sh.get(ms[0]!) ?? 0) - 0.25 / 3)).toBeLessThan(0.02);
    expect(Math.abs((sh.get(ms[1]!) ?? 0) - 0.75 / 3)).toBeLessThan(0.02);
    expect(Math.abs((sh.get(ms[2]!) ?? 0) - 2 / 3)).toBeLessThan(0.02);
  });

  it('equal weights split evenly, and consecutive requests spread across members', () => {
    const ms = [member(PA, 'm1', 1), member(PB, 'm2', 1)];
    const p = pool(ms);
    const sh = shares(p, []);
    expect(Math.abs((sh.get(ms[0]!) ?? 0) - 0.5)).toBeLessThan(0.02);
    // No long runs on one member: in every window of 10 consecutive requests both appear.
    for (let s = 0; s < 1000; s += 10) {
      const seen = new Set<PoolMember | null>();
      for (let k = 0; k < 10; k++) seen.add(pickMember(p, [], s + k));
      expect(seen.size).toBe(2);
    }
  });

  it('only members of allowed providers are chosen, with weights renormalized among them', () => {
    const ms = [member(PA, 'm1', 1), member(PB, 'm2', 3), member(PC, 'm3', 6)];
    const p = pool(ms);
    const sh = shares(p, ['a', 'b']);
    expect(sh.has(ms[2]!)).toBe(false);
    expect(Math.abs((sh.get(ms[0]!) ?? 0) - 0.25)).toBeLessThan(0.02);
    expect(Math.abs((sh.get(ms[1]!) ?? 0) - 0.75)).toBeLessThan(0.02);
    const onlyC = shares(p, ['c', 'unknown']);
    expect([...onlyC.keys()]).toEqual([ms[2]]);
  });

  it('an empty allowed list allows every provider', () => {
    const ms = [member(PA, 'm1', 1), member(PB, 'm2', 1)];
    expect(shares(pool(ms), []).size).toBe(2);
  });

  it('returns null when the route allows none of the pool providers', () => {
    const p = pool([member(PA, 'm1', 1), member(PB, 'm2', 1)]);
    for (let s = 0; s < 50; s++) expect(pickMember(p, ['c'], s)).toBeNull();
    expect(pickMember(p, ['A'], 0)).toBeNull(); // provider names are case-sensitive
    expect(pickMember(pool([]), [], 0)).toBeNull();
  });

  it('is deterministic: the same seq gives the same member', () => {
    const ms = [member(PA, 'm1', 1), member(PB, 'm2', 2), member(PC, 'm3', 3)];
    const p = pool(ms);
    const first = Array.from({ length: 1000 }, (_, s) => pickMember(p, [], s));
    const again = Array.from({ length: 1000 }, (_, s) => pickMember(p, [], s));
    expect(again).toEqual(first);
    // A copy of the pool (same members, new array) decides identically.
    const copy = pool([...ms]);
    for (let s = 0; s < 1000; s++) expect(pickMember(copy, [], s)).toBe(first[s]);
  });

  it('always returns a member for large sequence numbers', () => {
    const p = pool([member(PA, 'm1', 1), member(PB, 'm2', 1)]);
    for (const s of [2 ** 31 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER]) expect(pickMember(p, [], s)).not.toBeNull();
  });
});
