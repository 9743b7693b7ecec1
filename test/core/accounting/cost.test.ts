import { describe, expect, it } from 'vitest';
import type { ModelPrice } from '../../../core/config/plan.js';
import { costUsd, estimateTokensFromChars } from '../../../core/accounting/cost.js';

const price = (input: number, cached: number, output: number): ModelPrice => ({
  name: 'm',
  inputUsdPerMtok: input,
  cachedInputUsdPerMtok: cached,
  outputUsdPerMtok: output,
  contextTokens: 0,
});

// gpt-4o-mini prices: $0.15 in, $0.075 cached in, $0.60 out per million tokens.
const MINI = price(0.15, 0.075, 0.6);
// gpt-4o prices.
const FOUR_O = price(2.5, 1.25, 10);

describe('costUsd', () => {
  it('prices input and output tokens per million', () => {
    // 1000 × 0.15/1e6 + 500 × 0.6/1e6 = 0.00015 + 0.0003
    expect(costUsd(MINI, 1000, 0, 500)).toBeCloseTo(0.00045, 12);
    // 1e6 × 2.5/1e6 + 1e6 × 10/1e6
    expect(costUsd(FOUR_O, 1_000_000, 0, 1_000_000)).toBeCloseTo(12.5, 9);
    expect(costUsd(FOUR_O, 0, 0, 0)).toBe(0);
  });

  it('prices cached input tokens at the cached rate, as part of the input count (never twice)', () => {
    // 812 input of which 512 cached, 64 output, gpt-4o:
    // (300 × 2.5 + 512 × 1.25 + 64 × 10) / 1e6 = (750 + 640 + 640) / 1e6 = 0.00203
    expect(costUsd(FOUR_O, 812, 512, 64)).toBeCloseTo(0.00203, 12);
    // All cached: 1000 × 0.075 / 1e6
    expect(costUsd(MINI, 1000, 1000, 0)).toBeCloseTo(0.000075, 12);
  });

  it('clamps cached tokens to the input count', () => {
    // A provider reporting more cached than input tokens: at most all input is cached.
    expect(costUsd(FOUR_O, 100, 500, 0)).toBeCloseTo((100 * 1.25) / 1e6, 12);
    expect(costUsd(FOUR_O, 100, 500, 10)).toBe(costUsd(FOUR_O, 100, 100, 10));
  });

  it('a cached token never costs more than an uncached one when the cached price is the input price', () => {
    const same = price(3, 3, 15);
    expect(costUsd(same, 1000, 400, 0)).toBeCloseTo(costUsd(same, 1000, 0, 0), 15);
  });

  it('cost grows with every token kind and cached tokens lower it', () => {
    const base = costUsd(FOUR_O, 1000, 200, 100);
    expect(costUsd(FOUR_O, 1001, 200, 100)).toBeGreaterThan(base);
    expect(costUsd(FOUR_O, 1000, 200, 101)).toBeGreaterThan(base);
    expect(costUsd(FOUR_O, 1000, 201, 100)).toBeLessThan(base);
  });

  it('free models cost 0', () => {
    expect(costUsd(price(0, 0, 0), 1e6, 1e5, 1e6)).toBe(0);
  });

  it('an unknown price (null) costs 0', () => {
    expect(costUsd(null, 1_000_000, 0, 1_000_000)).toBe(0);
    expect(costUsd(null, 0, 0, 0)).toBe(0);
  });
});

describe('estimateTokensFromChars', () => {
  it('is ceil(chars / 4), and 0 for nothing', () => {
    expect(estimateTokensFromChars(0)).toBe(0);
    expect(estimateTokensFromChars(-5)).toBe(0);
    expect(estimateTokensFromChars(1)).toBe(1);
    expect(estimateTokensFromChars(3)).toBe(1);
    expect(estimateTokensFromChars(4)).toBe(1);
    expect(estimateTokensFromChars(5)).toBe(2);
    expect(estimateTokensFromChars(8)).toBe(2);
    expect(estimateTokensFromChars(9)).toBe(3);
    expect(estimateTokensFromChars(16_000)).toBe(4_000);
    expect(estimateTokensFromChars(16_001)).toBe(4_001);
  });

  it('always returns a non-negative integer', () => {
    for (let c = -3; c < 200; c++) {
      const t = estimateTokensFromChars(c);
      expect(Number.isInteger(t)).toBe(true);
      expect(t).toBeGreaterThanOrEqual(0);
      if (c > 0) expect(t * 4).toBeGreaterThanOrEqual(c);
    }
  });
});
