import { describe, expect, it } from 'vitest';
import { GatewayMetrics, MetricsRegistry, histogramQuantile, mergeSnapshots, renderPrometheus } from '../../../core/telemetry/metrics.js';

describe('metrics registry and Prometheus text', () => {
  it('renders counters and cumulative histogram buckets, summing several snapshots', () => {
    const a = new MetricsRegistry();
    const ca = a.counter('x_total', 'X things.', ['alias', 'outcome']);
    const ha = a.histogram('d_seconds', 'Durations.', ['alias'], [0.1, 1]);
    ca.inc(['a.b', 'success']);
    ca.inc(['a.b', 'success'], 2);
    ca.inc(['q"uote\\d\nx', 'error']);
    ha.observe(['a.b'], 0.05);
    ha.observe(['a.b'], 0.5);
    ha.observe(['a.b'], 3);
    const b = new MetricsRegistry();
    b.counter('x_total', 'X things.', ['alias', 'outcome']).inc(['a.b', 'success'], 4);
    b.histogram('d_seconds', 'Durations.', ['alias'], [0.1, 1]).observe(['a.b'], 0.2);
    const text = renderPrometheus([a.snapshot(), b.snapshot()]);
    expect(text).toContain('# TYPE x_total counter');
    expect(text).toContain('x_total{alias="a.b",outcome="success"} 7\n');
    expect(text).toContain('x_total{alias="q\\"uote\\\\d\\nx",outcome="error"} 1\n');
    expect(text).toContain('# TYPE d_seconds histogram');
    expect(text).toContain('d_seconds_bucket{alias="a.b",le="0.1"} 1\n');
    expect(text).toContain('d_seconds_bucket{alias="a.b",le="1"} 3\n');
    expect(text).toContain('d_seconds_bucket{alias="a.b",le="+Inf"} 4\n');
    expect(text).toContain('d_seconds_sum{alias="a.b"} 3.75\n');
    expect(text).toContain('d_seconds_count{alias="a.b"} 4\n');
  });

  it('a snapshot is plain data that survives structured cloning', () => {
    const r = new MetricsRegistry();
    r.counter('c_total', 'C.', []).inc([]);
    const snap = structuredClone(r.snapshot());
    expect(renderPrometheus([snap])).toContain('c_total 1\n');
  });
});

describe('HDR histograms, gauges and ratios', () => {
  it('histograms from several threads add up exactly; quantiles read the merged counts', () => {
    const a = new MetricsRegistry();
    const b = new MetricsRegistry();
    const ha = a.histogram('lat_seconds', 'L.', ['alias'], [0.01, 0.1, 1]);
    const hb = b.histogram('lat_seconds', 'L.', ['alias'], [0.01, 0.1, 1]);
    for (let i = 0; i < 90; i++) ha.observe(['x'], 0.005); // 5 ms
    for (let i = 0; i < 9; i++) hb.observe(['x'], 0.05); // 50 ms
    hb.observe(['x'], 2); // 2 s, above every bound
    hb.observe(['y'], 0.2);
    const snaps = [structuredClone(a.snapshot()), structuredClone(b.snapshot())];
    const text = renderPrometheus(snaps);
    expect(text).toContain('lat_seconds_bucket{alias="x",le="0.01"} 90\n');
    expect(text).toContain('lat_seconds_bucket{alias="x",le="0.1"} 99\n');
    expect(text).toContain('lat_seconds_bucket{alias="x",le="1"} 99\n');
    expect(text).toContain('lat_seconds_bucket{alias="x",le="+Inf"} 100\n');
    expect(text).toContain('lat_seconds_count{alias="x"} 100\n');
    expect(text).toContain('lat_seconds_sum{alias="x"} 2.9\n');
    expect(text).toContain('lat_seconds_bucket{alias="y",le="0.1"} 0\n');
    expect(text).toContain('lat_seconds_bucket{alias="y",le="1"} 1\n');
    const x = mergeSnapshots(snaps).get('lat_seconds')!.series.get('x')!;
    // Within HDR's 2-significant-digit resolution (1%).
    expect(histogramQuantile(x, 0.5)).toBeCloseTo(0.005, 4);
    expect(histogramQuantile(x, 0.95)).toBeGreaterThanOrEqual(0.05);
    expect(histogramQuantile(x, 0.95)).toBeLessThan(0.0505);
    expect(histogramQuantile(x, 1)).toBeGreaterThanOrEqual(2);
    expect(histogramQuantile(x, 1)).toBeLessThan(2.02);
    expect(histogramQuantile([0, 0], 0.5)).toBeNaN();
  });

  it('bucket bounds are inclusive; negative and huge values are clamped, not thrown', () => {
    const r = new MetricsRegistry();
    const h = r.histogram('d_seconds', 'D.', [], [0.1, 1]);
    h.observe([], 0.1);
    h.observe([], 1);
    h.observe([], -5);
    h.observe([], Number.NaN);
    h.observe([], 1e9);
    const text = renderPrometheus([r.snapshot()]);
    expect(text).toContain('d_seconds_bucket{le="0.1"} 3\n');
    expect(text).toContain('d_seconds_bucket{le="1"} 4\n');
    expect(text).toContain('d_seconds_bucket{le="+Inf"} 5\n');
  });

  it('gauges merge by sum or by max; ratios divide merged counters; empty ratios are left out', () => {
    const mk = (heap: number, delay: number, num: number, den: number) => {
      const r = new MetricsRegistry();
      r.gauge('heap_bytes', 'H.', []).set([], heap);
      r.gauge('delay_seconds', 'D.', [], 'max').set([], delay);
      r.counter('n_total', 'N.', ['p']).inc(['a'], num);
      r.counter('d_total', 'D.', ['p']).inc(['a'], den);
      r.counter('d_total', 'D.', ['p']);
      r.ratio('cov_ratio', 'C.', ['p'], 'n_total', 'd_total');
      r.ratio('none_ratio', 'Nothing.', ['p'], 'n_total', 'missing_total');
      return r.snapshot();
    };
    const text = renderPrometheus([mk(100, 0.002, 30, 40), mk(50, 0.009, 60, 60)]);
    expect(text).toContain('# TYPE heap_bytes gauge\nheap_bytes 150\n');
    expect(text).toContain('delay_seconds 0.009\n');
    expect(text).toContain('# TYPE cov_ratio gauge\ncov_ratio{p="a"} 0.9\n');
    expect(text).not.toContain('none_ratio');
  });

  it('a ratio also shows series set directly under its name by another registry (a poller\'s gauge)', () => {
    const m = new GatewayMetrics();
    m.coverage('openai', 80, 100);
    m.close();
    const poller = new MetricsRegistry();
    const g = poller.gauge('switchyard_gateway_coverage_ratio', 'Coverage.', ['provider']);
    g.set(['anthropic'], 0.97);
    g.set(['openai'], 0.5); // the counters of the same provider win
    for (const snaps of [[m.registry.snapshot(), poller.snapshot()], [poller.snapshot(), m.registry.snapshot()]]) {
      const text = renderPrometheus(snaps);
      expect(text.match(/# TYPE switchyard_gateway_coverage_ratio/g)).toHaveLength(1);
      expect(text).toContain('switchyard_gateway_coverage_ratio{provider="anthropic"} 0.97\n');
      expect(text).toContain('switchyard_gateway_coverage_ratio{provider="openai"} 0.8\n');
    }
  });
});

describe('GatewayMetrics: the contract series and their recording methods', () => {
  const route = (index: number, alias: string, pool: string) => ({ index, alias, pool: { id: pool } });
  const a = route(0, 'crm.fast', 'maas-a');
  const b = route(1, 'crm.backup', 'maas-b');

  it('counts requests by pre-indexed cells, and the same series when a route comes from an older plan', () => {
    const m = new GatewayMetrics();
    m.bind([a, b]);
    m.requestDone(a, a, 'direct_small', 'success', 120, 40, 0.001);
    m.requestDone(a, b, 'direct_small', 'success', 300, 100, 0.002);
    m.requestDone(a, a, 'direct_small', 'error', 5, null, 0);
    // After a reload, a request that started under the old plan (index now names another alias).
    m.bind([b, a]);
    m.requestDone(a, a, 'direct_small', 'success', 100, 10, 0.001);
    const text = renderPrometheus([m.registry.snapshot()]);
    m.close();
    expect(text).toContain('switchyard_requests_total{alias="crm.fast",lane="direct_small",pool="maas-a",outcome="success"} 2\n');
    expect(text).toContain('switchyard_requests_total{alias="crm.fast",lane="direct_small",pool="maas-b",outcome="success"} 1\n');
    expect(text).toContain('switchyard_requests_total{alias="crm.fast",lane="direct_small",pool="maas-a",outcome="error"} 1\n');
    expect(text).toContain('switchyard_request_duration_seconds_count{alias="crm.fast",lane="direct_small"} 4\n');
    expect(text).toContain('switchyard_request_duration_seconds_sum{alias="crm.fast",lane="direct_small"} 0.525\n');
    expect(text).toContain('switchyard_request_duration_seconds_bucket{alias="crm.fast",lane="direct_small",le="0.25"} 3\n');
    expect(text).toContain('switchyard_ttft_seconds_count{alias="crm.fast",lane="direct_small"} 3\n');
    expect(text).toContain('switchyard_cost_usd_total{alias="crm.fast",lane="direct_small"} 0.004\n');
  });

  it('cache lookups, policy violations and coverage, through the methods their features call', () => {
    const m = new GatewayMetrics();
    m.bind([a, b]);
    m.cacheLookup(a, 'response', 'hit');
    m.cacheLookup(a, 'response', 'hit');
    m.cacheLookup(a, 'response', 'miss');
    m.cacheLookup(b, 'prefix', 'bypass');
    m.cacheLookup(route(7, 'gone.alias', 'p'), 'response', 'hit'); // not in the bound plan
    m.policyViolation(a, 'default-pii', 'redact');
    m.policyViolation(a, 'default-pii', 'redact');
    m.policyViolation(b, 'default-pii', 'block');
    m.coverage('openai', 900, 1000);
    m.coverage('openai', 100, 100);
    m.coverage('vllm-a', 0, 0);
    const text = renderPrometheus([m.registry.snapshot()]);
    m.close();
    expect(text).toContain('switchyard_cache_lookups_total{alias="crm.fast",kind="response",result="hit"} 2\n');
    expect(text).toContain('switchyard_cache_lookups_total{alias="crm.fast",kind="response",result="miss"} 1\n');
    expect(text).toContain('switchyard_cache_lookups_total{alias="crm.backup",kind="prefix",result="bypass"} 1\n');
    expect(text).toContain('switchyard_cache_lookups_total{alias="gone.alias",kind="response",result="hit"} 1\n');
    expect(text).toContain('switchyard_policy_violations_total{alias="crm.fast",policy="default-pii",action="redact"} 2\n');
    expect(text).toContain('switchyard_policy_violations_total{alias="crm.backup",policy="default-pii",action="block"} 1\n');
    expect(text).toContain('switchyard_gateway_coverage_ratio{provider="openai"} 0.909090909\n');
    // No provider-reported tokens: no ratio (not a division by zero).
    expect(text).not.toContain('switchyard_gateway_coverage_ratio{provider="vllm-a"}');
  });

  it('pool in-flight attempts and queue times; process gauges are filled at scrape time', () => {
    const m = new GatewayMetrics();
    m.bind([a, b]);
    let inflight = 3;
    m.watch(() => inflight, () => 7);
    m.poolAttempt(a, 1);
    m.poolAttempt(a, 1);
    m.poolAttempt(b, 1);
    m.poolAttempt(a, -1);
    m.queued(a, 0);
    m.queued(a, 250);
    inflight = 2;
    const text = renderPrometheus([m.registry.snapshot()]);
    m.close();
    expect(text).toContain('switchyard_pool_inflight_requests{pool="maas-a"} 1\n');
    expect(text).toContain('switchyard_pool_inflight_requests{pool="maas-b"} 1\n');
    expect(text).toContain('switchyard_queue_time_seconds_count{pool="maas-a"} 2\n');
    expect(text).toContain('switchyard_queue_time_seconds_bucket{pool="maas-a",le="0.001"} 1\n');
    expect(text).toContain('switchyard_queue_time_seconds_bucket{pool="maas-a",le="0.25"} 2\n');
    expect(text).toContain('switchyard_inflight_requests 2\n');
    expect(text).toContain('switchyard_open_connections 7\n');
    expect(text).toMatch(/switchyard_process_heap_used_bytes [1-9]\d+\n/);
    expect(text).toMatch(/switchyard_process_resident_memory_bytes [1-9]\d+\n/);
    expect(text).toMatch(/switchyard_event_loop_delay_seconds\{quantile="0.99"\} [\d.e-]+\n/);
  });
});
