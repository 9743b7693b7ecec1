import { describe, expect, it } from 'vitest';
import { MetricsRegistry, renderPrometheus } from '../../../core/telemetry/metrics.js';

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
