// The live dashboard: `/dashboard` serves one self-contained HTML page (inline CSS and JS, hand-drawn
// canvas charts, no external request), which polls `/dashboard/data`: the metrics of every gateway thread,
// merged, summed per alias and lane, per pool and for the process. The page turns consecutive polls into
// rates (requests/s, cost per hour). Both are admin-key protected (gateway.ts).

import { histogramQuantile, mergeSnapshots, ratioValues, type MergedFamily, type MetricsSnapshot } from './metrics.js';

const SEP = '\u0001';

export interface AliasRow {
  alias: string;
  lane: string;
  requests: number;
  success: number;
  errors: number;
  /** Alias-level counters (their series carry no lane): the same on each lane row of an alias. */
  fallbacks: number;
  quota_rejections: number;
  cache_hits: number;
  cache_lookups: number;
  policy_violations: number;
  cost_usd: number;
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  ttft_p50_ms: number | null;
  ttft_p99_ms: number | null;
}

export interface PoolRow {
  pool: string;
  inflight: number;
  queued: number;
  queue_p50_ms: number | null;
  queue_p99_ms: number | null;
}

export interface DashboardData {
  ts: number;
  aliases: AliasRow[];
  pools: PoolRow[];
  coverage: Array<{ provider: string; ratio: number }>;
  process: { inflight: number; open_connections: number; heap_used_bytes: number; rss_bytes: number; event_loop_p99_ms: number };
}

function ms(data: number[] | undefined, q: number): number | null {
  if (data === undefined || data[1] === 0) return null;
  return Math.round(histogramQuantile(data, q) * 1e6) / 1e3;
}

function sumBy(f: MergedFamily | undefined, keyOf: (labels: string[]) => string | null): Map<string, number> {
  const out = new Map<string, number>();
  if (f === undefined) return out;
  for (const [key, v] of f.series) {
    const k = keyOf(key.split(SEP));
    if (k !== null) out.set(k, (out.get(k) ?? 0) + v[0]!);
  }
  return out;
}

function scalar(m: Map<string, MergedFamily>, name: string, key = ''): number {
  return m.get(name)?.series.get(key)?.[0] ?? 0;
}

/** The dashboard's numbers from every thread's snapshot. */
export function dashboardData(snapshots: readonly MetricsSnapshot[], now = Date.now()): DashboardData {
  const m = mergeSnapshots(snapshots);
  const rows = new Map<string, AliasRow>();
  const row = (alias: string, lane: string): AliasRow => {
    const k = alias + SEP + lane;
    let r = rows.get(k);
    if (r === undefined) {
      r = { alias, lane, requests: 0, success: 0, errors: 0, fallbacks: 0, quota_rejections: 0, cache_hits: 0, cache_lookups: 0, policy_violations: 0, cost_usd: 0, latency_p50_ms: null, latency_p99_ms: null, ttft_p50_ms: null, ttft_p99_ms: null };
      rows.set(k, r);
    }
    return r;
  };
  const req = m.get('switchyard_requests_total');
  if (req !== undefined) {
    for (const [key, v] of req.series) {
      const [alias, lane, , outcome] = key.split(SEP);
      const r = row(alias!, lane!);
      r.requests += v[0]!;
      if (outcome === 'success') r.success += v[0]!;
      else r.errors += v[0]!;
    }
  }
  const dur = m.get('switchyard_request_duration_seconds');
  const ttft = m.get('switchyard_ttft_seconds');
  for (const [key, v] of dur?.series ?? []) {
    const [alias, lane] = key.split(SEP);
    const r = row(alias!, lane!);
    r.latency_p50_ms = ms(v, 0.5);
    r.latency_p99_ms = ms(v, 0.99);
    const t = ttft?.series.get(key);
    r.ttft_p50_ms = ms(t, 0.5);
    r.ttft_p99_ms = ms(t, 0.99);
  }
  for (const [key, v] of m.get('switchyard_cost_usd_total')?.series ?? []) {
    const [alias, lane] = key.split(SEP);
    row(alias!, lane!).cost_usd += v[0]!;
  }
  const fallbacks = sumBy(m.get('switchyard_fallbacks_total'), (l) => l[0]!);
  const quota = sumBy(m.get('switchyard_quota_rejections_total'), (l) => l[1]!);
  const cacheHits = sumBy(m.get('switchyard_cache_lookups_total'), (l) => (l[2] === 'hit' ? l[0]! : null));
  const cacheLookups = sumBy(m.get('switchyard_cache_lookups_total'), (l) => (l[2] === 'bypass' ? null : l[0]!));
  const policy = sumBy(m.get('switchyard_policy_violations_total'), (l) => l[0]!);
  // An alias refused before its lane was known (quota) still gets a row.
  for (const alias of [...quota.keys(), ...policy.keys()]) if (![...rows.values()].some((r) => r.alias === alias)) row(alias, '');
  for (const r of rows.values()) {
    r.fallbacks = fallbacks.get(r.alias) ?? 0;
    r.quota_rejections = quota.get(r.alias) ?? 0;
    r.cache_hits = cacheHits.get(r.alias) ?? 0;
    r.cache_lookups = cacheLookups.get(r.alias) ?? 0;
    r.policy_violations = policy.get(r.alias) ?? 0;
    r.cost_usd = Math.round(r.cost_usd * 1e9) / 1e9;
  }
  const pools = new Map<string, PoolRow>();
  const pool = (id: string): PoolRow => {
    let p = pools.get(id);
    if (p === undefined) {
      p = { pool: id, inflight: 0, queued: 0, queue_p50_ms: null, queue_p99_ms: null };
      pools.set(id, p);
    }
    return p;
  };
  for (const [key, v] of m.get('switchyard_pool_inflight_requests')?.series ?? []) pool(key).inflight += v[0]!;
  for (const [key, v] of m.get('switchyard_queue_time_seconds')?.series ?? []) {
    const p = pool(key);
    p.queued = v[1]!;
    p.queue_p50_ms = ms(v, 0.5);
    p.queue_p99_ms = ms(v, 0.99);
  }
  const coverage: DashboardData['coverage'] = [];
  const cov = m.get('switchyard_gateway_coverage_ratio');
  if (cov !== undefined && cov.f.kind === 'ratio') {
    for (const [provider, ratio] of [...ratioValues(m, cov.f, cov.series)].sort((a, b) => (a[0] < b[0] ? -1 : 1))) coverage.push({ provider, ratio });
  }
  const byName = (a: AliasRow, b: AliasRow) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0);
  return {
    ts: now,
    aliases: [...rows.values()].sort(byName),
    pools: [...pools.values()].sort((a, b) => (a.pool < b.pool ? -1 : 1)),
    coverage,
    process: {
      inflight: scalar(m, 'switchyard_inflight_requests'),
      open_connections: scalar(m, 'switchyard_open_connections'),
      heap_used_bytes: scalar(m, 'switchyard_process_heap_used_bytes'),
      rss_bytes: scalar(m, 'switchyard_process_resident_memory_bytes'),
      event_loop_p99_ms: Math.round(scalar(m, 'switchyard_event_loop_delay_seconds', '0.99') * 1e6) / 1e3,
    },
  };
}

/** The page. Everything inline; numbers go in with textContent (alias names are config, but still). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#0f1720;color:#dde6ee}
header{display:flex;gap:24px;align-items:baseline;padding:12px 20px;background:#16212d;border-bottom:1px solid #263443}
h1{font-size:16px;margin:0}h2{font-size:13px;margin:18px 0 6px;color:#9fb3c8;text-transform:uppercase;letter-spacing:.05em}
main{padding:4px 20px 20px}.stat b{font-size:15px;color:#fff}.stat{color:#9fb3c8}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;text-align:right;border-bottom:1px solid #223040;white-space:nowrap}
th{color:#9fb3c8;font-weight:600}td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:16px}
.chart{background:#16212d;border:1px solid #263443;border-radius:6px;padding:8px}.chart h3{margin:0 0 4px;font-size:12px;color:#9fb3c8}
canvas{width:100%;height:180px;display:block}.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.bad{color:#ff8a80}.ok{color:#9be28f}#status.err{color:#ff8a80}
</style></head>
<body>
<header><h1>Switchyard</h1>
<span class="stat">requests/s <b id="p-rps">–</b></span><span class="stat">in flight <b id="p-inflight">–</b></span>
<span class="stat">connections <b id="p-conn">–</b></span><span class="stat">heap <b id="p-heap">–</b></span>
<span class="stat">event-loop p99 <b id="p-loop">–</b></span><span class="stat" id="status">connecting…</span></header>
<main>
<h2>Charts</h2>
<div class="charts">
<div class="chart"><h3>Requests/s by alias</h3><canvas id="c-rps" width="760" height="360"></canvas><div class="legend" id="l-rps"></div></div>
<div class="chart"><h3>p99 latency (ms) by alias</h3><canvas id="c-p99" width="760" height="360"></canvas><div class="legend" id="l-p99"></div></div>
<div class="chart"><h3>Pool queue time p99 (ms)</h3><canvas id="c-queue" width="760" height="360"></canvas><div class="legend" id="l-queue"></div></div>
</div>
<h2>Aliases</h2>
<table id="aliases"><thead><tr><th>alias</th><th>lane</th><th>requests</th><th>req/s</th><th>success</th><th>fallback</th><th>p50 ms</th><th>p99 ms</th><th>TTFT p50</th><th>TTFT p99</th><th>cost/h $</th><th>cost $</th><th>quota rej.</th><th>cache hit</th><th>policy viol.</th></tr></thead><tbody></tbody></table>
<h2>Pools</h2>
<table id="pools"><thead><tr><th>pool</th><th></th><th>in flight</th><th>attempts</th><th>queue p50 ms</th><th>queue p99 ms</th></tr></thead><tbody></tbody></table>
<h2>Gateway coverage</h2>
<table id="coverage"><thead><tr><th>provider</th><th></th><th>attributed ÷ reported tokens</th></tr></thead><tbody></tbody></table>
</main>
<script>
(function(){
'use strict';
var params = new URLSearchParams(location.search);
var INTERVAL = Math.max(250, Number(params.get('interval')) || 1000);
var KEEP = 120;
var DATA_URL = location.pathname.replace(/[/]?$/, '/data');
var COLORS = ['#4fc3f7','#ffb74d','#81c784','#e57373','#ba68c8','#fff176','#4db6ac','#f06292','#a1887f','#90a4ae'];
var prev = null;
var series = { rps: {}, p99: {}, queue: {} };
var times = [];
var colorOf = {};
// One colour per alias (or pool) across every chart: a series "alias / lane" takes its alias's colour.
function color(name){ var k = name.split(' / ')[0]; if(!(k in colorOf)) colorOf[k] = COLORS[Object.keys(colorOf).length % COLORS.length]; return colorOf[k]; }
function fmt(v, d){ return v === null || v === undefined || !isFinite(v) ? '–' : Number(v).toFixed(d === undefined ? 1 : d); }
function pct(n, d){ return d > 0 ? (100 * n / d).toFixed(1) + '%' : '–'; }
function cell(tr, text, cls){ var td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
function push(map, name, v){ var a = map[name] || (map[name] = []); while (a.length < times.length - 1) a.push(null); a.push(v); if (a.length > KEEP) a.shift(); }
function draw(id, map, legendId){
  var c = document.getElementById(id), g = c.getContext('2d'), W = c.width, H = c.height, L = 56, B = 24, T = 10, R = 10;
  g.clearRect(0,0,W,H); g.font = '20px system-ui, sans-serif'; g.fillStyle = '#9fb3c8'; g.strokeStyle = '#263443'; g.lineWidth = 1;
  var max = 0, names = Object.keys(map);
  names.forEach(function(n){ map[n].forEach(function(v){ if (v !== null && v > max) max = v; }); });
  if (max <= 0) max = 1; max = niceMax(max);
  for (var i = 0; i <= 4; i++) { var y = T + (H - T - B) * i / 4; g.beginPath(); g.moveTo(L, y); g.lineTo(W - R, y); g.stroke(); g.fillText(fmt(max * (1 - i / 4), max < 10 ? 1 : 0), 4, y + 6); }
  // The x axis spans the history kept so far (at least 30 polls), up to KEEP polls.
  var n = Math.max(30, Math.min(KEEP, times.length)), dx = (W - L - R) / (n - 1);
  names.forEach(function(name){
    var a = map[name].slice(-n), off = n - a.length; g.strokeStyle = color(name); g.lineWidth = 3; g.beginPath(); var started = false;
    a.forEach(function(v, i){ if (v === null) { started = false; return; } var x = L + (off + i) * dx, y = T + (H - T - B) * (1 - v / max); if (!started) { g.moveTo(x, y); started = true; } else g.lineTo(x, y); });
    g.stroke();
  });
  g.fillStyle = '#9fb3c8'; g.fillText('last ' + Math.round(n * INTERVAL / 1000) + ' s', W - 120, H - 4);
  var lg = document.getElementById(legendId); lg.textContent = '';
  names.forEach(function(name){ var s = document.createElement('span'), i = document.createElement('i'); i.style.background = color(name); s.appendChild(i); s.appendChild(document.createTextNode(name)); lg.appendChild(s); });
  c.dataset.points = String(names.reduce(function(k, nm){ return k + map[nm].filter(function(v){ return v !== null; }).length; }, 0));
}
function niceMax(v){ var p = Math.pow(10, Math.floor(Math.log10(v))); var m = v / p; return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p; }
function render(d){
  var dt = prev ? (d.ts - prev.ts) / 1000 : 0, before = {};
  if (prev) prev.aliases.forEach(function(r){ before[r.alias + '\\u0001' + r.lane] = r; });
  times.push(d.ts); if (times.length > KEEP) times.shift();
  var tb = document.querySelector('#aliases tbody'); tb.textContent = '';
  var totalRps = 0, perAlias = {};
  d.aliases.forEach(function(r){
    var p = before[r.alias + '\\u0001' + r.lane];
    var rps = p && dt > 0 ? Math.max(0, r.requests - p.requests) / dt : null;
    var costH = p && dt > 0 ? Math.max(0, r.cost_usd - p.cost_usd) / dt * 3600 : null;
    if (rps !== null) { totalRps += rps; perAlias[r.alias] = (perAlias[r.alias] || 0) + rps; }
    var tr = document.createElement('tr'); tr.dataset.alias = r.alias; tr.dataset.lane = r.lane;
    cell(tr, r.alias); cell(tr, r.lane); cell(tr, String(r.requests)); cell(tr, fmt(rps));
    var sr = r.requests > 0 ? r.success / r.requests : null;
    cell(tr, pct(r.success, r.requests), sr === null ? '' : sr < 0.95 ? 'bad' : 'ok');
    cell(tr, pct(r.fallbacks, r.requests)); cell(tr, fmt(r.latency_p50_ms)); cell(tr, fmt(r.latency_p99_ms));
    cell(tr, fmt(r.ttft_p50_ms)); cell(tr, fmt(r.ttft_p99_ms)); cell(tr, fmt(costH, 4)); cell(tr, fmt(r.cost_usd, 6));
    cell(tr, String(r.quota_rejections), r.quota_rejections > 0 ? 'bad' : ''); cell(tr, pct(r.cache_hits, r.cache_lookups));
    cell(tr, String(r.policy_violations), r.policy_violations > 0 ? 'bad' : '');
    tb.appendChild(tr);
    if (r.latency_p99_ms !== null) push(series.p99, r.alias + (r.lane ? ' / ' + r.lane : ''), r.latency_p99_ms);
  });
  Object.keys(perAlias).forEach(function(a){ push(series.rps, a, perAlias[a]); });
  var pb = document.querySelector('#pools tbody'); pb.textContent = '';
  d.pools.forEach(function(p){ var tr = document.createElement('tr'); tr.dataset.pool = p.pool; cell(tr, p.pool); cell(tr, ''); cell(tr, String(p.inflight)); cell(tr, String(p.queued)); cell(tr, fmt(p.queue_p50_ms)); cell(tr, fmt(p.queue_p99_ms)); pb.appendChild(tr); if (p.queue_p99_ms !== null) push(series.queue, p.pool, p.queue_p99_ms); });
  var cb = document.querySelector('#coverage tbody'); cb.textContent = '';
  d.coverage.forEach(function(c){ var tr = document.createElement('tr'); cell(tr, c.provider); cell(tr, ''); cell(tr, fmt(c.ratio * 100, 2) + '%'); cb.appendChild(tr); });
  if (d.coverage.length === 0) { var none = document.createElement('tr'); cell(none, 'no provider usage reports yet'); cell(none, ''); cell(none, '–'); cb.appendChild(none); }
  document.getElementById('p-rps').textContent = prev ? fmt(totalRps) : '–';
  document.getElementById('p-inflight').textContent = String(d.process.inflight);
  document.getElementById('p-conn').textContent = String(d.process.open_connections);
  document.getElementById('p-heap').textContent = fmt(d.process.heap_used_bytes / 1048576) + ' MiB';
  document.getElementById('p-loop').textContent = fmt(d.process.event_loop_p99_ms, 2) + ' ms';
  draw('c-rps', series.rps, 'l-rps'); draw('c-p99', series.p99, 'l-p99'); draw('c-queue', series.queue, 'l-queue');
  var st = document.getElementById('status'); st.className = ''; st.textContent = 'updated ' + new Date(d.ts).toLocaleTimeString();
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  prev = d;
}
function poll(){
  fetch(DATA_URL, { credentials: 'same-origin', cache: 'no-store' }).then(function(r){
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  }).then(render).catch(function(e){ var st = document.getElementById('status'); st.className = 'err'; st.textContent = 'error: ' + e.message; })
    .then(function(){ setTimeout(poll, INTERVAL); });
}
poll();
})();
</script>
</body></html>
`;
