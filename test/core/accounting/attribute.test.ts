import { describe, expect, it } from 'vitest';
import type { ModelPrice, PoolContext } from '../../../core/config/plan.js';
import { costKnown, gpuMs, requestCostUsd, unescapeJsonText } from '../../../core/accounting/attribute.js';

const MINI: ModelPrice = { name: 'gpt-4o-mini', inputUsdPerMtok: 0.15, cachedInputUsdPerMtok: 0.075, outputUsdPerMtok: 0.6, contextTokens: 0 };

function pool(kind: PoolContext['kind'], over: Partial<PoolContext> = {}): PoolContext {
  return { id: 'p', kind, members: [], replicas: 4, maxBatch: 8, prefillTokensPerS: 0, decodeTokensPerS: 0, gpuHourUsd: 0, batchDiscount: 0, ...over };
}

describe('requestCostUsd', () => {
  it('maas: tokens × prices, cached input at the cached rate', () => {
    // (1000 - 512) × 0.15 + 512 × 0.075 + 100 × 0.6 = 73.2 + 38.4 + 60 = 171.6 per 1e6
    expect(requestCostUsd(pool('maas'), MINI, 1000, 512, 100, 50, 0)).toBeCloseTo(171.6e-6, 15);
  });

  it('batch: less the pool batch discount', () => {
    expect(requestCostUsd(pool('batch', { batchDiscount: 0.5 }), MINI, 1000, 0, 100, 0, 0)).toBeCloseTo(((1000 * 0.15 + 100 * 0.6) / 1e6) * 0.5, 15);
    expect(requestCostUsd(pool('batch'), MINI, 1000, 0, 100, 0, 0)).toBeCloseTo((1000 * 0.15 + 100 * 0.6) / 1e6, 15);
  });

  it('self-hosted with gpu_hour_usd: the batch-slot time (time at the replica less queue time) ÷ max_batch, at the GPU-hour price', () => {
    const gpu = pool('self_hosted', { gpuHourUsd: 2.5, maxBatch: 8 });
    // 900 ms at the replica, 100 of them queued: 800 ms in a slot, 100 GPU-ms; 2.5 $/h × 100 ms / 3.6e6 ms
    expect(gpuMs(gpu, 900, 100)).toBe(100);
    expect(requestCostUsd(gpu, MINI, 1000, 0, 100, 900, 100)).toBeCloseTo((2.5 * 100) / 3_600_000, 15);
    // Tokens do not matter for GPU-time pricing; time does, linearly.
    expect(requestCostUsd(gpu, null, 5, 0, 5, 1700, 100)).toBeCloseTo(2 * requestCostUsd(gpu, null, 1000, 0, 100, 900, 100), 15);
    expect(gpuMs(gpu, 50, 80)).toBe(0); // clock skew never makes a negative cost
  });

  it('self-hosted without gpu_hour_usd falls back to token prices', () => {
    expect(requestCostUsd(pool('self_hosted'), MINI, 1000, 0, 0, 900, 0)).toBeCloseTo(150e-6, 15);
  });

  it('costKnown: a price, or a GPU-hour price on a self-hosted pool', () => {
    expect(costKnown(pool('maas'), MINI)).toBe(true);
    expect(costKnown(pool('maas'), null)).toBe(false);
    expect(costKnown(pool('self_hosted', { gpuHourUsd: 1 }), null)).toBe(true);
    expect(costKnown(pool('batch'), null)).toBe(false);
  });
});

describe('unescapeJsonText', () => {
  it('decodes JSON string content collected from stream chunks, and leaves broken escapes as they are', () => {
    expect(unescapeJsonText('plain')).toBe('plain');
    expect(unescapeJsonText('a\\nb \\"q\\" \\u00e9')).toBe('a\nb "q" é');
    expect(unescapeJsonText('cut \\u00')).toBe('cut \\u00');
  });
});

describe('encodingFor and TokenCounter', () => {
  it('picks cl100k for the GPT-4 / 3.5 generation, o200k otherwise', async () => {
    const { encodingFor } = await import('../../../core/accounting/tokens.js');
    expect(['gpt-4', 'gpt-4-turbo', 'gpt-3.5-turbo', 'text-embedding-3-small'].map(encodingFor)).toEqual(['cl100k_base', 'cl100k_base', 'cl100k_base', 'cl100k_base']);
    expect(['gpt-4o', 'gpt-4o-mini', 'gpt-4.1-mini', 'o4-mini', 'llama-3.1-8b'].map(encodingFor)).toEqual(['o200k_base', 'o200k_base', 'o200k_base', 'o200k_base', 'o200k_base']);
  });

  it('counts in the encoding asked for, inline and in a worker alike', async () => {
    const { TokenCounter } = await import('../../../core/accounting/tokens.js');
    const t = new TokenCounter(100);
    const short = ['Привет, мир! Сколько токенов?'];
    const long = [short[0]!.repeat(10)];
    try {
      const o = t.count(short, short[0]!.length) as number;
      const c = t.count(short, short[0]!.length, 'cl100k_base') as number;
      expect(typeof o).toBe('number');
      expect(c).not.toBe(o); // Cyrillic: cl100k needs more tokens than o200k
      expect(await t.count(long, long[0]!.length, 'cl100k_base')).toBe(t.count(long, 0, 'cl100k_base'));
      expect(await t.count(long, long[0]!.length)).toBe(t.count(long, 0));
    } finally {
      await t.close();
    }
  });
});
