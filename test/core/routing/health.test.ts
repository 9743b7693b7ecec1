import { describe, expect, it } from 'vitest';
import { MemberHealth } from '../../../core/routing/health.js';
import type { PoolContext, PoolMember } from '../../../core/routing/types.js';

const member = (name: string): PoolMember => ({ provider: { name } as PoolMember['provider'], model: 'm', weight: 1, price: null });
const pool = (members: PoolMember[]): PoolContext => ({ id: 'p', kind: 'maas', members, replicas: 0, maxBatch: 0, prefillTokensPerS: 0, decodeTokensPerS: 0, gpuHourUsd: 0 });

describe('MemberHealth (outlier ejection)', () => {
  it('ejects after N consecutive failures, for a time that grows with each ejection, and lets it back', () => {
    const [a, b] = [member('a'), member('b')];
    const p = pool([a, b]);
    const h = new MemberHealth(3, 1000, 10_000, 0.5);
    h.failure(p, a, 0);
    h.failure(p, a, 0);
    expect(h.isEjected(a, 0)).toBe(false);
    h.failure(p, a, 0);
    expect(h.isEjected(a, 999)).toBe(true);
    expect(h.isEjected(a, 1000)).toBe(false); // recovered
    for (let i = 0; i < 3; i++) h.failure(p, a, 2000);
    expect(h.isEjected(a, 2000 + 1999)).toBe(true); // second ejection: twice as long
    expect(h.isEjected(a, 2000 + 2000)).toBe(false);
  });

  it('a success resets the count', () => {
    const a = member('a');
    const p = pool([a, member('b')]);
    const h = new MemberHealth(2, 1000, 10_000, 0.5);
    h.failure(p, a, 0);
    h.success(a);
    h.failure(p, a, 0);
    expect(h.isEjected(a, 1)).toBe(false);
  });

  it('never ejects more than the bounded share of a pool', () => {
    const ms = [member('a'), member('b'), member('c'), member('d')];
    const p = pool(ms);
    const h = new MemberHealth(1, 1000, 10_000, 0.5);
    for (const m of ms) h.failure(p, m, 0);
    expect(ms.filter((m) => h.isEjected(m, 1)).length).toBe(2);
  });
});
