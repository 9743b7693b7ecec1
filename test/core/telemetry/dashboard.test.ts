import { describe, expect, it } from 'vitest';
import { DASHBOARD_HTML, dashboardData } from '../../../core/telemetry/dashboard.js';
import { GatewayMetrics } from '../../../core/telemetry/metrics.js';

describe('dashboard', () => {
  it('the page is self-contained and its script parses', () => {
    const script = DASHBOARD_HTML.split('<script>')[1]!.split('</script>')[0]!;
    expect(() => new Function(script)).not.toThrow();
    expect(DASHBOARD_HTML).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
  });

  it('rows per alias and lane from several threads, alias-level counters on each row, pools and coverage', () => {
    const a = { index: 0, alias: 'crm.fast', pool: { id: 'maas-a' } };
    const b = { index: 1, alias: 'crm.limited', pool: { id: 'gpu-b' } };
    const thread = (n: number) => {
      const m = new GatewayMetrics();
      m.bind([a, b]);
      for (let i = 0; i < n; i++) m.requestDone(a, a, 'direct_small', 'success', 10 * (i + 1), 5, 0.001);
      m.requestDone(a, a, 'agentic', 'error', 1000, null, 0);
      m.fallbacks.inc(['crm.fast', 'maas-a', 'maas-a', '5xx']);
      m.quotaRejections.inc(['acme', 'crm.limited', 'route:rpm'], 2);
      m.cacheLookup(a, 'response', 'hit');
      m.cacheLookup(a, 'response', 'bypass');
      m.queued(b, 40);
      m.poolAttempt(b, 1);
      m.coverage('openai', 95, 100);
      m.close();
      return m.registry.snapshot();
    };
    const d = dashboardData([structuredClone(thread(99)), structuredClone(thread(1))], 1234);
    expect(d.ts).toBe(1234);
    expect(d.aliases.map((r) => [r.alias, r.lane, r.requests, r.success, r.errors])).toEqual([
      ['crm.fast', 'agentic', 2, 0, 2],
      ['crm.fast', 'direct_small', 100, 100, 0],
      ['crm.limited', '', 0, 0, 0],
    ]);
    const fast = d.aliases[1]!;
    expect(fast).toMatchObject({ fallbacks: 2, cache_hits: 2, cache_lookups: 2, quota_rejections: 0, cost_usd: 0.1 });
    // 10, 20, ..., 990 ms on one thread and 10 ms on the other: merged quantiles, within HDR's 1%.
    expect(fast.latency_p50_ms).toBeGreaterThanOrEqual(490);
    expect(fast.latency_p50_ms).toBeLessThan(500);
    expect(fast.latency_p99_ms).toBeGreaterThanOrEqual(980);
    expect(fast.latency_p99_ms).toBeLessThan(1000);
    expect(fast.ttft_p50_ms).toBeCloseTo(5, 0);
    expect(d.aliases[0]!.ttft_p50_ms).toBeNull();
    expect(d.aliases[2]!.quota_rejections).toBe(4);
    expect(d.pools).toEqual([{ pool: 'gpu-b', inflight: 2, queued: 2, queue_p50_ms: expect.any(Number), queue_p99_ms: expect.any(Number) }]);
    expect(d.pools[0]!.queue_p50_ms).toBeCloseTo(40, 0);
    expect(d.coverage).toEqual([{ provider: 'openai', ratio: 0.95 }]);
    expect(d.process.heap_used_bytes).toBeGreaterThan(0);
  });
});
