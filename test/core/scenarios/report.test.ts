import { describe, expect, it } from 'vitest';
import { compileScenarios } from '../../../core/scenarios/scenarios.js';
import { formatScenarioReport, percentile, scenarioReport, type ScenarioRow } from '../../../core/scenarios/report.js';

const scenarios = compileScenarios([
  { id: 'summary', owner: 'team-crm', success: { finish_reason: ['stop'] } },
  { id: 'idle', owner: 'team-ops' },
]);

const row = (over: Partial<ScenarioRow>): ScenarioRow => ({
  scenario_id: 'summary',
  outcome: 'success',
  failed_check: null,
  error_code: null,
  latency_ms: 100,
  cost_usd: 0.001,
  failed_attempts_cost_usd: 0,
  ...over,
});

describe('scenario report', () => {
  const rows: ScenarioRow[] = [
    row({ latency_ms: 100 }),
    row({ latency_ms: 300 }),
    row({ latency_ms: 200, outcome: 'quality_failure', failed_check: 'finish_reason', cost_usd: 0.003, failed_attempts_cost_usd: 0.002 }),
    row({ latency_ms: 900, outcome: 'slo_miss', failed_check: 'latency_ms' }),
    row({ latency_ms: 50, outcome: 'error', error_code: 'upstream_error', cost_usd: 0 }),
    row({ scenario_id: 'adhoc', latency_ms: 10 }),
    row({ scenario_id: '', latency_ms: 20, outcome: 'error', error_code: 'upstream_timeout', cost_usd: 0 }),
  ];
  const report = scenarioReport(rows, scenarios);

  it('summarizes each scenario: success rate, percentiles, cost per success, top failed checks', () => {
    const s = report.find((r) => r.scenario_id === 'summary')!;
    expect(s).toMatchObject({ owner: 'team-crm', registered: true, requests: 5, successes: 2, success_rate: 0.4 });
    expect(s.outcomes).toEqual({ success: 2, quality_failure: 1, slo_miss: 1, error: 1 });
    expect(s.latency_ms).toEqual({ p50: 200, p99: 900 });
    expect(s.cost_usd).toBeCloseTo(0.006, 12);
    expect(s.failed_attempts_cost_usd).toBeCloseTo(0.002, 12);
    // Everything spent ÷ successes: failures make a success more expensive.
    expect(s.cost_per_success_usd).toBeCloseTo(0.003, 12);
    expect(s.top_failed_checks).toEqual([
      { check: 'error:upstream_error', count: 1 },
      { check: 'finish_reason', count: 1 },
      { check: 'latency_ms', count: 1 },
    ]);
  });

  it('lists registered scenarios without traffic, then unregistered ids and requests without one', () => {
    expect(report.map((r) => [r.scenario_id, r.registered, r.requests])).toEqual([
      ['summary', true, 5],
      ['idle', true, 0],
      ['adhoc', false, 1],
      ['', false, 1],
    ]);
    expect(report.find((r) => r.scenario_id === 'idle')).toMatchObject({ success_rate: 0, cost_per_success_usd: null, latency_ms: { p50: 0, p99: 0 } });
  });

  it('formats an aligned table', () => {
    const text = formatScenarioReport(report);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^scenario\s+owner\s+requests\s+success\s+p50 ms\s+p99 ms\s+cost \$\s+failed attempts \$\s+\$ \/ success\s+top failed checks$/);
    expect(lines[1]).toMatch(/^summary\s+team-crm\s+5\s+40\.0%\s+200\s+900\s+0\.006000\s+0\.002000\s+0\.003000\s+error:upstream_error ×1, finish_reason ×1, latency_ms ×1$/);
    expect(lines[2]).toMatch(/^idle\s+team-ops\s+0\s+-\s+-\s+-/);
    expect(lines[3]).toContain('adhoc (unregistered)');
    expect(lines[4]).toMatch(/^\(none\)/);
  });

  it('nearest-rank percentiles', () => {
    expect(percentile([], 0.5)).toBe(0);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.99)).toBe(4);
    expect(percentile([7], 0.01)).toBe(7);
  });
});
