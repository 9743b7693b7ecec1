import { describe, expect, it } from 'vitest';
import { checkSpec, DEFAULT_SPEC, generateColumns, generateTrace, type GenerateSpec } from '../../replay/generate.js';
import { formatTraceLine, type TraceRequest } from '../../replay/trace-format.js';

function gen(over: Partial<GenerateSpec>): TraceRequest[] {
  const out: TraceRequest[] = [];
  generateTrace({ ...DEFAULT_SPEC, ...over }, (r) => out.push(r));
  return out;
}

function countIn(rs: TraceRequest[], lo: number, hi: number): number {
  return rs.filter((r) => r.t >= lo && r.t < hi).length;
}

describe('traffic generator', () => {
  it('is deterministic for a seed, and another seed gives another trace', () => {
    const spec: Partial<GenerateSpec> = { pattern: 'poisson', rate: 50, duration_s: 20, seed: 42, aliases: { a: 1, b: 2 }, prefix_groups: 3, output_tokens: { dist: 'exponential', mean: 50 } };
    const a = gen(spec).map(formatTraceLine).join('\n');
    const b = gen(spec).map(formatTraceLine).join('\n');
    const c = gen({ ...spec, seed: 43 }).map(formatTraceLine).join('\n');
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('steady: evenly spaced, exactly rate × duration requests', () => {
    const rs = gen({ pattern: 'steady', rate: 4, duration_s: 10 });
    expect(rs.length).toBe(40);
    expect(rs.slice(0, 3).map((r) => r.t)).toEqual([0, 0.25, 0.5]);
    expect(rs[39]!.t).toBe(9.75);
  });

  it('poisson: the mean rate holds and gaps are exponential (coefficient of variation ≈ 1)', () => {
    const rs = gen({ pattern: 'poisson', rate: 200, duration_s: 200, seed: 5 });
    expect(Math.abs(rs.length - 40_000)).toBeLessThan(4 * Math.sqrt(40_000)); // within 4 sigma
    const gaps = rs.slice(1).map((r, i) => r.t - rs[i]!.t);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length);
    expect(mean).toBeCloseTo(1 / 200, 4);
    expect(sd / mean).toBeGreaterThan(0.95);
    expect(sd / mean).toBeLessThan(1.05);
    // Memoryless: about e^-1 of the gaps are longer than the mean.
    expect(gaps.filter((g) => g > mean).length / gaps.length).toBeCloseTo(Math.exp(-1), 1);
  });

  it('diurnal: busy at the peak, quiet at the trough, mean rate over a whole period', () => {
    const rs = gen({ pattern: 'diurnal', rate: 100, duration_s: 1000, period_s: 1000, amplitude: 0.8, peak_at_s: 500, seed: 9 });
    expect(Math.abs(rs.length - 100_000)).toBeLessThan(2000);
    const peak = countIn(rs, 450, 550) / 100; // rate ≈ 100·(1 + 0.8·cos(small)) ≈ 176
    const trough = countIn(rs, 0, 50) / 50; // ≈ 100·(1 − 0.8·…) ≈ 21
    expect(peak).toBeGreaterThan(165);
    expect(peak).toBeLessThan(185);
    expect(trough).toBeGreaterThan(15);
    expect(trough).toBeLessThan(30);
  });

  it('bursts: the multiplier inside bursts, the base rate between them', () => {
    const rs = gen({ pattern: 'bursts', rate: 50, duration_s: 600, burst_every_s: 60, burst_length_s: 6, burst_multiplier: 10, seed: 2 });
    let inBurst = 0;
    let outside = 0;
    for (const r of rs) (r.t % 60 < 6 ? inBurst++ : outside++);
    const burstRate = inBurst / (10 * 6);
    const baseRate = outside / (10 * 54);
    expect(burstRate / baseRate).toBeGreaterThan(9);
    expect(burstRate / baseRate).toBeLessThan(11);
    expect(baseRate).toBeGreaterThan(47);
    expect(baseRate).toBeLessThan(53);
  });

  it('draws the mix by weight and token sizes by distribution', () => {
    const rs = gen({ pattern: 'steady', rate: 1000, duration_s: 20, aliases: { a: 3, b: 1 }, tenants: { x: 1 }, input_tokens: { dist: 'uniform', min: 10, max: 20 }, output_tokens: { dist: 'exponential', mean: 100, min: 1 }, stream_share: 0.25, prefix_groups: 4, prefix_share: 0.5, seed: 11 });
    const a = rs.filter((r) => r.alias === 'a').length / rs.length;
    expect(a).toBeGreaterThan(0.73);
    expect(a).toBeLessThan(0.77);
    expect(Math.min(...rs.map((r) => r.input_tokens))).toBe(10);
    expect(Math.max(...rs.map((r) => r.input_tokens))).toBe(20);
    const meanOut = rs.reduce((s, r) => s + r.output_tokens, 0) / rs.length;
    expect(meanOut).toBeGreaterThan(97);
    expect(meanOut).toBeLessThan(103);
    expect(Math.min(...rs.map((r) => r.output_tokens))).toBe(1);
    expect(rs.filter((r) => r.stream).length / rs.length).toBeCloseTo(0.25, 1);
    expect(rs.filter((r) => r.prefix_group !== undefined).length / rs.length).toBeCloseTo(0.5, 1);
    expect(new Set(rs.map((r) => r.prefix_group).filter((g) => g !== undefined))).toEqual(new Set(['g0', 'g1', 'g2', 'g3']));
  });

  it('arrival times do not move when only the request mix changes', () => {
    const a = gen({ pattern: 'poisson', rate: 20, duration_s: 30, seed: 4 }).map((r) => r.t);
    const b = gen({ pattern: 'poisson', rate: 20, duration_s: 30, seed: 4, aliases: { x: 1, y: 1 }, prefix_groups: 2 }).map((r) => r.t);
    expect(a).toEqual(b);
  });

  it('columns equal the emitted requests', () => {
    const spec = { ...DEFAULT_SPEC, rate: 30, duration_s: 10, seed: 8, prefix_groups: 2 };
    const cols = generateColumns(spec);
    const rs = gen(spec);
    expect(cols.length).toBe(rs.length);
    for (let i = 0; i < rs.length; i++) expect(cols.get(i)).toEqual(rs[i]);
  });

  it('lists every problem of a bad spec', () => {
    const bad = { ...DEFAULT_SPEC, pattern: 'wavy', rate: 0, aliases: {}, input_tokens: { dist: 'uniform', min: 5, max: 1 }, stream_share: 2 } as unknown as GenerateSpec;
    expect(checkSpec(bad)).toEqual([
      'pattern: must be one of steady, poisson, diurnal, bursts',
      'rate: must be a number > 0',
      'aliases: must name at least one, with a weight',
      'input_tokens: uniform needs integers 0 <= min <= max',
      'stream_share: must be between 0 and 1',
    ]);
    expect(() => generateTrace(bad, () => {})).toThrow(/invalid trace spec:\n {2}pattern: must be one of/);
  });
});
