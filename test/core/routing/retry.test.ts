import { describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS, RETRY_CAP_MS, RetryBudget, conditionOf, decideNext, fullJitter, type AttemptState, type RoutePolicyView } from '../../../core/routing/retry.js';
import { canaryArm, fnv1a } from '../../../core/routing/canary.js';

const policy = (over: Partial<RoutePolicyView> = {}): RoutePolicyView => ({
  fallbackCondition: ['timeout', '5xx', 'rate_limited', 'connection_error'],
  fallbackIndices: [3, 7],
  slo: { latencyMs: 10_000 },
  budgetMaxCostUsd: 0,
  ...over,
});
const state = (over: Partial<AttemptState> = {}): AttemptState => ({ attempts: 1, retriesOnRoute: 0, fallbackPos: -1, elapsedMs: 10, spentUsd: 0, retryAfterMs: 0, ...over });

describe('decideNext', () => {
  it('retries once on the named route, then walks the fallback chain one attempt each, then stops', () => {
    expect(decideNext('5xx', policy(), state(), true, 0.5)).toMatchObject({ action: 'retry' });
    expect(decideNext('5xx', policy(), state({ attempts: 2, retriesOnRoute: 1 }), true, 0.5)).toEqual({ action: 'fallback', routeIndex: 3, delayMs: 0 });
    expect(decideNext('timeout', policy(), state({ attempts: 3, fallbackPos: 0 }), true, 0.5)).toEqual({ action: 'fallback', routeIndex: 7, delayMs: 0 });
    expect(decideNext('timeout', policy(), state({ attempts: 4, fallbackPos: 1 }), true, 0.5)).toEqual({ action: 'stop', reason: 'fallbacks_exhausted' });
  });

  it('never retries client errors, and not conditions the route does not list', () => {
    expect(decideNext('client_error', policy(), state(), true, 0.5)).toEqual({ action: 'stop', reason: 'client_error' });
    expect(decideNext('rate_limited', policy({ fallbackCondition: ['5xx'] }), state(), true, 0.5)).toEqual({ action: 'stop', reason: 'rate_limited_not_retryable' });
    expect(conditionOf('client_error')).toBeNull();
    expect(conditionOf('context_length')).toBeNull();
  });

  it('context-length errors go to the next fallback route, content-policy refusals skip the same provider', () => {
    expect(decideNext('context_length', policy({ fallbackCondition: [] }), state(), true, 0.5)).toEqual({ action: 'fallback', routeIndex: 3, delayMs: 0 });
    expect(decideNext('content_policy', policy(), state(), true, 0.5)).toEqual({ action: 'fallback', routeIndex: 3, delayMs: 0 });
    expect(decideNext('content_policy', policy({ fallbackIndices: [] }), state(), true, 0.5)).toEqual({ action: 'stop', reason: 'fallbacks_exhausted' });
  });

  it('stops on max attempts, on the SLO deadline and on the cost ceiling', () => {
    expect(decideNext('5xx', policy(), state({ attempts: MAX_ATTEMPTS }), true, 0.5)).toEqual({ action: 'stop', reason: 'max_attempts' });
    expect(decideNext('5xx', policy({ budgetMaxCostUsd: 0.01 }), state({ spentUsd: 0.01 }), true, 0.5)).toEqual({ action: 'stop', reason: 'cost_ceiling' });
    // Past the deadline: no retry (its backoff would end too late) and no fallback.
    expect(decideNext('5xx', policy({ slo: { latencyMs: 100 } }), state({ elapsedMs: 150 }), true, 0.5)).toEqual({ action: 'stop', reason: 'deadline' });
  });

  it('honours Retry-After when it is longer than the backoff, and skips the retry when it ends past the deadline', () => {
    expect(decideNext('rate_limited', policy(), state({ retryAfterMs: 2000 }), true, 0.5)).toEqual({ action: 'retry', delayMs: 2000 });
    expect(decideNext('rate_limited', policy({ slo: { latencyMs: 1000 } }), state({ retryAfterMs: 2000 }), true, 0.5)).toEqual({ action: 'fallback', routeIndex: 3, delayMs: 0 });
  });

  it('without retry budget it falls back at once', () => {
    expect(decideNext('5xx', policy(), state(), false, 0.5)).toEqual({ action: 'fallback', routeIndex: 3, delayMs: 0 });
  });
});

describe('fullJitter and RetryBudget', () => {
  it('full jitter stays in [0, min(cap, base·2^n))', () => {
    expect(fullJitter(0, 0)).toBe(0);
    expect(fullJitter(0, 0.999)).toBeLessThan(50);
    expect(fullJitter(3, 0.999)).toBeLessThan(400);
    expect(fullJitter(20, 0.999)).toBeLessThan(RETRY_CAP_MS);
  });

  it('allows retries while they stay within 20% of requests in flight, at least 3', () => {
    const b = new RetryBudget();
    for (let i = 0; i < 3; i++) {
      expect(b.canRetry(1)).toBe(true);
      b.begin();
    }
    expect(b.canRetry(1)).toBe(false);
    expect(b.canRetry(20)).toBe(true); // 20% of 20 = 4 > 3
    b.begin();
    expect(b.canRetry(20)).toBe(false);
    b.end();
    expect(b.inFlight).toBe(3);
  });
});

describe('canary split', () => {
  it('sends 10% ± 2% of 5,000 requests to the canary, identically on every run', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `req_5d0c2f9a1b0_${i.toString(36)}`);
    const arms = ids.map((id) => canaryArm(id, 0.1));
    const share = arms.filter(Boolean).length / ids.length;
    expect(share).toBeGreaterThanOrEqual(0.08);
    expect(share).toBeLessThanOrEqual(0.12);
    expect(ids.map((id) => canaryArm(id, 0.1))).toEqual(arms);
  });

  it('0 and 1 are never and always; the hash is FNV-1a', () => {
    expect(canaryArm('x', 0)).toBe(false);
    expect(canaryArm('x', 1)).toBe(true);
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
  });
});
