// The replay report: report.json (CONTRACT.md: `lanes`, `aliases`, `pools` keyed by name, each with
// requests, queue_time_ms/latency_ms/ttft_ms {mean, p50, p90, p99}, slo_attainment, utilization,
// fallback_rate, rejection_rate, cost_usd), report.md (a readable summary), report.html (self-contained,
// charts inline) and plots/*.svg. What-if runs appear side by side with the baseline.
// Nothing here reads a clock: the same replay gives the same files, byte for byte.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplayResult } from './engine.js';
import { r3, type GroupStats } from './stats.js';
import { barChart, esc, lineChart, type LineSeries } from './svg.js';

export interface GroupReport {
  requests: number;
  completed: number;
  errors: number;
  rejected: number;
  queue_time_ms: { mean: number; p50: number; p90: number; p99: number };
  latency_ms: { mean: number; p50: number; p90: number; p99: number };
  ttft_ms: { mean: number; p50: number; p90: number; p99: number };
  slo_attainment: number;
  utilization: number | null;
  fallback_rate: number;
  rejection_rate: number;
  error_rate: number;
  canary_share: number;
  cost_usd: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
}

export interface RunReport {
  name: string;
  requests: number;
  end_s: number;
  events: number;
  lanes: Record<string, GroupReport>;
  aliases: Record<string, GroupReport>;
  pools: Record<string, GroupReport & { attempts: number; attempt_errors: number; replicas: number | null; pool_cost_usd: number }>;
  rejections: Record<string, number>;
  errors: Record<string, number>;
  series: { bin_s: number; pools: Record<string, { queue_time_ms: number[]; utilization: number[] | null; cost_usd: number[] }> };
}

export interface Report extends RunReport {
  meta: { trace: string; config: string; pools_file: string | null; seed: number; duration_s: number; start: string };
  what_if: RunReport[];
}

function rate(n: number, d: number): number {
  return d > 0 ? Math.round((n / d) * 1e6) / 1e6 : 0;
}

function group(g: GroupStats, utilization: number | null): GroupReport {
  return {
    requests: g.requests,
    completed: g.completed,
    errors: g.errors,
    rejected: g.rejected,
    queue_time_ms: g.queue.summary(),
    latency_ms: g.latency.summary(),
    ttft_ms: g.ttft.summary(),
    slo_attainment: rate(g.sloMet, g.requests),
    utilization: utilization === null ? null : Math.round(utilization * 1e6) / 1e6,
    fallback_rate: rate(g.fellBack, g.requests),
    rejection_rate: rate(g.rejected, g.requests),
    error_rate: rate(g.errors, g.requests),
    canary_share: rate(g.canary, g.requests),
    cost_usd: Math.round(g.costUsd * 1e6) / 1e6,
    input_tokens: g.inputTokens,
    cached_input_tokens: g.cachedTokens,
    output_tokens: g.outputTokens,
  };
}

function sorted<T>(m: Map<string, T>): Array<[string, T]> {
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export function runReport(name: string, r: ReplayResult): RunReport {
  const lanes: RunReport['lanes'] = {};
  for (const [k, g] of r.lanes) lanes[k] = group(g, null);
  const aliases: RunReport['aliases'] = {};
  for (const [k, g] of sorted(r.aliases)) aliases[k] = group(g, null);
  const pools: RunReport['pools'] = {};
  const series: RunReport['series'] = { bin_s: r.binMs / 1000, pools: {} };
  for (const sp of r.pools) {
    pools[sp.id] = {
      ...group(sp.stats, sp.utilization),
      attempts: sp.attempts,
      attempt_errors: sp.attemptErrors,
      replicas: sp.kind === 'self_hosted' ? sp.replicas : null,
      pool_cost_usd: Math.round((r.poolCost.get(sp.id) ?? 0) * 1e6) / 1e6,
    };
    const cost: number[] = [];
    for (let b = 0; b < r.bins; b++) cost.push(Math.round(sp.costSeries.sum[b]! * 1e6) / 1e6);
    series.pools[sp.id] = {
      queue_time_ms: sp.stats.queueSeries!.means(),
      utilization: sp.kind === 'self_hosted' ? Array.from(sp.utilSeries, (u) => Math.round(u * 1e4) / 1e4) : null,
      cost_usd: cost,
    };
  }
  return {
    name,
    requests: r.requests,
    end_s: r3(r.endMs / 1000),
    events: r.events,
    lanes,
    aliases,
    pools,
    rejections: Object.fromEntries(sorted(r.rejections)),
    errors: Object.fromEntries(sorted(r.errors)),
    series,
  };
}

// ---- charts -----------------------------------------------------------------------------------------

export interface Charts {
  /** file name (plots/NAME.svg) → svg text */
  [file: string]: string;
}

export function charts(base: ReplayResult, runs: RunReport[]): Charts {
  const out: Charts = {};
  const main = runs[0]!;
  const binS = main.series.bin_s;
  const qs: LineSeries[] = Object.entries(main.series.pools).map(([id, s]) => ({ name: id, points: s.queue_time_ms.map((v, i) => [(i + 0.5) * binS, v] as [number, number]) }));
  out['queue-time'] = lineChart(qs, { title: 'Queue time over time, per pool (mean per bin)', xLabel: 'virtual time (s)', yLabel: 'queue time (ms)', xMin: 0 });
  const us: LineSeries[] = Object.entries(main.series.pools)
    .filter(([, s]) => s.utilization !== null)
    .map(([id, s]) => ({ name: id, points: s.utilization!.map((v, i) => [(i + 0.5) * binS, v * 100] as [number, number]) }));
  if (us.length > 0) out['utilization'] = lineChart(us, { title: 'Utilization over time (busy batch slots)', xLabel: 'virtual time (s)', yLabel: 'utilization (%)', yMax: 100, xMin: 0 });
  const cdf: LineSeries[] = [];
  for (const [lane, g] of base.lanes) if (g.latency.n > 0) cdf.push({ name: lane, points: g.latency.cdf().map(([x, y]) => [x, y * 100] as [number, number]) });
  out['latency-cdf'] = lineChart(cdf, { title: 'Latency distribution per lane (CDF)', xLabel: 'latency (ms, log scale)', yLabel: 'requests (%)', logX: true, yMax: 100 });
  // Cumulative cost over time, per pool.
  const cs: LineSeries[] = Object.entries(main.series.pools).map(([id, s]) => {
    let acc = 0;
    return { name: id, points: s.cost_usd.map((v, i) => [(i + 1) * binS, (acc += v)] as [number, number]) };
  });
  out['cost'] = lineChart(cs, { title: 'Token cost over time, per pool (cumulative; GPU hours not included)', xLabel: 'virtual time (s)', yLabel: 'USD', xMin: 0 });
  if (runs.length > 1) {
    const names = runs.map((r) => r.name);
    const poolIds = Object.keys(main.pools);
    out['what-if-queue-p99'] = barChart(
      poolIds.map((id) => ({ label: id, values: runs.map((r) => r.pools[id]?.queue_time_ms.p99 ?? 0) })),
      names,
      { title: 'What-if: p99 queue time per pool', xLabel: 'pool', yLabel: 'ms' },
    );
    const laneIds = [...new Set(runs.flatMap((r) => Object.keys(r.lanes)))];
    out['what-if-slo'] = barChart(
      laneIds.map((id) => ({ label: id, values: runs.map((r) => Math.round((r.lanes[id]?.slo_attainment ?? 0) * 1000) / 10) })),
      names,
      { title: 'What-if: SLO attainment per lane', xLabel: 'lane', yLabel: '%' },
    );
    out['what-if-cost'] = barChart(
      poolIds.map((id) => ({ label: id, values: runs.map((r) => r.pools[id]?.pool_cost_usd ?? 0) })),
      names,
      { title: 'What-if: pool cost (tokens + GPU hours)', xLabel: 'pool', yLabel: 'USD' },
    );
  }
  return out;
}

// ---- markdown and html ----------------------------------------------------------------------------

function pct(x: number | null): string {
  return x === null ? '–' : `${(x * 100).toFixed(1)}%`;
}
function ms(x: number): string {
  return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x >= 100 ? 0 : 1)} ms`;
}
function usd(x: number): string {
  return `$${x >= 100 ? x.toFixed(0) : x.toFixed(x >= 1 ? 2 : 4)}`;
}

function table(title: string, rows: Record<string, GroupReport>, extra = false): string[] {
  const head = ['name', 'requests', 'queue p50 / p99', 'latency p50 / p99', 'ttft p50 / p99', 'SLO met', 'fallback', 'rejected', 'errors', 'utilization', 'cost'];
  const lines = [`### ${title}`, '', `| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const [k, g] of Object.entries(rows)) {
    lines.push(
      `| ${k} | ${g.requests.toLocaleString('en-US')} | ${ms(g.queue_time_ms.p50)} / ${ms(g.queue_time_ms.p99)} | ${ms(g.latency_ms.p50)} / ${ms(g.latency_ms.p99)} | ${ms(g.ttft_ms.p50)} / ${ms(g.ttft_ms.p99)} | ${pct(g.slo_attainment)} | ${pct(g.fallback_rate)} | ${pct(g.rejection_rate)} | ${pct(g.error_rate)} | ${extra ? pct(g.utilization) : '–'} | ${usd(g.cost_usd)} |`,
    );
  }
  lines.push('');
  return lines;
}

export function markdown(rep: Report): string {
  const L: string[] = [];
  L.push(`# Capacity replay: ${rep.meta.trace}`, '');
  L.push(`${rep.requests.toLocaleString('en-US')} requests over ${rep.meta.duration_s.toFixed(1)} s of traffic (last event at ${rep.end_s.toFixed(1)} s), config \`${rep.meta.config}\`, pools \`${rep.meta.pools_file ?? '(from the config)'}\`, seed ${rep.meta.seed}. ${rep.events.toLocaleString('en-US')} events.`, '');
  const rej = Object.entries(rep.rejections).map(([k, v]) => `${k} ${v}`).join(', ');
  const err = Object.entries(rep.errors).map(([k, v]) => `${k} ${v}`).join(', ');
  L.push(`Rejected: ${rej === '' ? 'none' : rej}. Failed: ${err === '' ? 'none' : err}.`, '');
  L.push(...table('Lanes', rep.lanes), ...table('Aliases', rep.aliases), ...table('Pools', rep.pools, true));
  if (rep.what_if.length > 0) {
    L.push('## What-if runs', '');
    const runs = [rep as RunReport, ...rep.what_if];
    const head = ['run', ...Object.keys(rep.pools).flatMap((p) => [`${p} queue p99`, `${p} util`]), ...Object.keys(rep.lanes).map((l) => `${l} SLO met`), 'rejected', 'cost'];
    L.push(`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const r of runs) {
      const cells = [r.name];
      for (const p of Object.keys(rep.pools)) cells.push(ms(r.pools[p]?.queue_time_ms.p99 ?? 0), pct(r.pools[p]?.utilization ?? null));
      for (const l of Object.keys(rep.lanes)) cells.push(pct(r.lanes[l]?.slo_attainment ?? 0));
      const rejected = Object.values(r.rejections).reduce((a, b) => a + b, 0);
      const cost = Object.values(r.pools).reduce((a, p) => a + p.pool_cost_usd, 0);
      cells.push(rejected.toLocaleString('en-US'), usd(cost));
      L.push(`| ${cells.join(' | ')} |`);
    }
    L.push('');
  }
  L.push('Percentiles come from log-scaled histograms (1% buckets); means are exact. Pool cost = tokens at the config\'s prices + GPU hours (self_hosted: replicas × gpu_hour_usd × run time), shared out to lanes and aliases by the batch-slot time their requests held.', '');
  return L.join('\n');
}

export function html(rep: Report, svgs: Charts): string {
  const md = markdown(rep);
  // A small markdown-table → HTML conversion (the summary's own shapes only).
  const body: string[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('# ')) body.push(`<h1>${esc(l.slice(2))}</h1>`);
    else if (l.startsWith('## ')) body.push(`<h2>${esc(l.slice(3))}</h2>`);
    else if (l.startsWith('### ')) body.push(`<h3>${esc(l.slice(4))}</h3>`);
    else if (l.startsWith('|')) {
      const rows: string[][] = [];
      for (; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!.slice(1, -1).split('|').map((c) => c.trim()));
      i--;
      const [h, , ...rest] = rows;
      body.push('<table><thead><tr>' + h!.map((c) => `<th>${esc(c)}</th>`).join('') + '</tr></thead><tbody>');
      for (const r of rest) body.push('<tr>' + r.map((c, k) => `<td${k > 0 ? ' class="n"' : ''}>${esc(c)}</td>`).join('') + '</tr>');
      body.push('</tbody></table>');
    } else if (l.trim() !== '') body.push(`<p>${esc(l).replace(/`([^`]*)`/g, '<code>$1</code>')}</p>`);
  }
  const figs = Object.values(svgs).map((s) => `<figure>${s}</figure>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard replay report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}code{background:#f4f4f4;padding:0 3px}
</style></head><body>
${body.join('\n')}
<h2>Charts</h2>
${figs}
<details><summary>report.json</summary><pre>${esc(JSON.stringify(rep, null, 1).slice(0, 200_000))}</pre></details>
</body></html>
`;
}

/** Write report.json, report.md, report.html and plots/*.svg into `dir`. Returns the files written. */
export function writeReport(dir: string, rep: Report, svgs: Charts): string[] {
  mkdirSync(join(dir, 'plots'), { recursive: true });
  const files: string[] = [];
  const put = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  put('report.json', JSON.stringify(rep, null, 2) + '\n');
  put('report.md', markdown(rep));
  put('report.html', html(rep, svgs));
  for (const [name, svg] of Object.entries(svgs)) put(join('plots', `${name}.svg`), svg + '\n');
  return files;
}
