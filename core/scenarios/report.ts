// The scenarios report (`switchyard scenarios`): per scenario, over a window of recorded requests, the
// success rate, latency percentiles, the cost per successful request (everything the scenario spent,
// failures and re-asks included, divided by its successes: what a success really costs) and the checks
// that failed most. Pure: rows in, a report out; the CLI reads the rows from the ledger.

import type { Scenario } from './scenarios.js';

/** One recorded request: the ledger's columns the report reads. */
export interface ScenarioRow {
  readonly scenario_id: string;
  readonly outcome: string;
  readonly failed_check: string | null;
  readonly error_code: string | null;
  readonly latency_ms: number;
  readonly cost_usd: number;
  /** Of `cost_usd`, what attempts that did not produce the answer cost (failed, re-asked). */
  readonly failed_attempts_cost_usd: number;
}

export interface ScenarioSummary {
  scenario_id: string;
  owner: string;
  /** False for ids seen in traffic that the config does not list (or '' for requests without one). */
  registered: boolean;
  requests: number;
  successes: number;
  success_rate: number;
  outcomes: Record<string, number>;
  latency_ms: { p50: number; p99: number };
  cost_usd: number;
  failed_attempts_cost_usd: number;
  /** Total cost ÷ successes (null when nothing succeeded). */
  cost_per_success_usd: number | null;
  /** Most frequent failed checks (errors by their error code), most frequent first, at most 3. */
  top_failed_checks: Array<{ check: string; count: number }>;
}

export function scenarioReport(rows: Iterable<ScenarioRow>, scenarios: ReadonlyMap<string, Scenario>): ScenarioSummary[] {
  interface Acc {
    latencies: number[];
    outcomes: Map<string, number>;
    checks: Map<string, number>;
    cost: number;
    failedCost: number;
  }
  const by = new Map<string, Acc>();
  for (const id of scenarios.keys()) by.set(id, { latencies: [], outcomes: new Map(), checks: new Map(), cost: 0, failedCost: 0 });
  for (const r of rows) {
    let a = by.get(r.scenario_id);
    if (a === undefined) {
      a = { latencies: [], outcomes: new Map(), checks: new Map(), cost: 0, failedCost: 0 };
      by.set(r.scenario_id, a);
    }
    a.latencies.push(r.latency_ms);
    a.outcomes.set(r.outcome, (a.outcomes.get(r.outcome) ?? 0) + 1);
    const check = r.failed_check ?? (r.outcome === 'error' ? `error:${r.error_code ?? 'unknown'}` : null);
    if (check !== null) a.checks.set(check, (a.checks.get(check) ?? 0) + 1);
    a.cost += r.cost_usd;
    a.failedCost += r.failed_attempts_cost_usd;
  }
  const out: ScenarioSummary[] = [];
  for (const [id, a] of by) {
    const requests = a.latencies.length;
    const successes = a.outcomes.get('success') ?? 0;
    a.latencies.sort((x, y) => x - y);
    const sc = scenarios.get(id);
    out.push({
      scenario_id: id,
      owner: sc?.owner ?? '',
      registered: sc !== undefined,
      requests,
      successes,
      success_rate: requests === 0 ? 0 : successes / requests,
      outcomes: Object.fromEntries([...a.outcomes].sort((x, y) => y[1] - x[1])),
      latency_ms: { p50: percentile(a.latencies, 0.5), p99: percentile(a.latencies, 0.99) },
      cost_usd: a.cost,
      failed_attempts_cost_usd: a.failedCost,
      cost_per_success_usd: successes === 0 ? null : a.cost / successes,
      top_failed_checks: [...a.checks]
        .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
        .slice(0, 3)
        .map(([check, count]) => ({ check, count })),
    });
  }
  // Registered scenarios first (config order), then what traffic named (busiest first), then requests
  // that named none.
  const order = new Map([...scenarios.keys()].map((k, i) => [k, i]));
  const rank = (id: string): number => order.get(id) ?? (id === '' ? Number.MAX_SAFE_INTEGER : order.size);
  out.sort((x, y) => rank(x.scenario_id) - rank(y.scenario_id) || y.requests - x.requests || x.scenario_id.localeCompare(y.scenario_id));
  return out;
}

/** Nearest-rank percentile of sorted values (0 when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** The report as an aligned text table. */
export function formatScenarioReport(rows: readonly ScenarioSummary[]): string {
  const head = ['scenario', 'owner', 'requests', 'success', 'p50 ms', 'p99 ms', 'cost $', 'failed attempts $', '$ / success', 'top failed checks'];
  const body = rows.map((r) => [
    r.scenario_id === '' ? '(none)' : r.registered ? r.scenario_id : `${r.scenario_id} (unregistered)`,
    r.owner === '' ? '-' : r.owner,
    String(r.requests),
    r.requests === 0 ? '-' : `${(r.success_rate * 100).toFixed(1)}%`,
    r.requests === 0 ? '-' : r.latency_ms.p50.toFixed(0),
    r.requests === 0 ? '-' : r.latency_ms.p99.toFixed(0),
    r.cost_usd.toFixed(6),
    r.failed_attempts_cost_usd.toFixed(6),
    r.cost_per_success_usd === null ? '-' : r.cost_per_success_usd.toFixed(6),
    r.top_failed_checks.length === 0 ? '-' : r.top_failed_checks.map((c) => `${c.check} ×${c.count}`).join(', '),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7, 8]);
  const line = (cells: string[]): string => cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...body.map(line)].join('\n') + '\n';
}
