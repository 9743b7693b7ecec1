// Metrics: counters, gauges and latency histograms with bounded labels (values come from config — aliases,
// lanes, pools, tenants, providers, policy names — or from small enums, never from raw input), kept per
// gateway thread and merged at scrape time (a snapshot is plain data, so threads can send theirs).
// Rendered in the Prometheus text format.
//
// Histograms are HDR histograms (hdr-histogram-js, values in µs, 2 significant digits: ~1% resolution,
// ~12 KB a series); a snapshot carries their non-zero counts by HDR index, so several threads' histograms
// add up exactly, and the Prometheus buckets (and the dashboard's quantiles) are read off the merged counts.
// A value within 1% above a bucket bound shares its HDR slot and is counted in that bucket.
//
// Hot path: a series is a cell object (`Cell`, `HdrCell`) found once by its label values and then kept
// by the caller (GatewayMetrics pre-indexes them by route index, lane and outcome), so counting a request
// is an integer-keyed lookup and an add, with no string built.

import hdr from 'hdr-histogram-js';
import type { JsHistogram } from 'hdr-histogram-js';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

export type Labels = readonly string[];

/** One counter or gauge series. */
export class Cell {
  value = 0;
}

/** Highest value an HDR histogram tracks (µs): one hour. Larger values are recorded as this. */
const HDR_MAX_US = 3_600_000_000;
const HDR_DIGITS = 2;

function newHdr(): JsHistogram {
  const h = new hdr.Int32Histogram(1, HDR_MAX_US, HDR_DIGITS);
  h.autoResize = false;
  return h;
}
/** For index arithmetic only (bucket bounds → HDR slots, slots → values). */
const REF = newHdr();

/** One histogram series: an HDR histogram of µs, plus the exact sum (seconds) and count. */
export class HdrCell {
  readonly hdr: JsHistogram = newHdr();
  sum = 0;
  count = 0;
  /** Record a value in seconds. */
  record(seconds: number): void {
    let us = Math.round(seconds * 1e6);
    if (!(us >= 0)) us = 0;
    else if (us > HDR_MAX_US) us = HDR_MAX_US;
    this.hdr.recordValue(us);
    this.sum += seconds;
    this.count++;
  }
}

type Agg = 'sum' | 'max';

interface CounterFamily {
  readonly kind: 'counter';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly series: Map<string, Cell>;
}

interface GaugeFamily {
  readonly kind: 'gauge';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** How threads' values combine. */
  readonly agg: Agg;
  readonly series: Map<string, Cell>;
}

interface HistogramFamily {
  readonly kind: 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  readonly series: Map<string, HdrCell>;
}

/** A gauge computed at render time: the merged value of one counter series ÷ another's, by the same labels. */
interface RatioFamily {
  readonly kind: 'ratio';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly numerator: string;
  readonly denominator: string;
}

type Family = CounterFamily | GaugeFamily | HistogramFamily | RatioFamily;

/**
 * What one registry held at one moment: plain data (structured-cloneable). Series values: counters and
 * gauges `[value]`; histograms `[sum, count, hdrIndex, n, hdrIndex, n, ...]` (non-zero HDR slots).
 */
export interface SnapshotFamily {
  kind: 'counter' | 'gauge' | 'histogram' | 'ratio';
  name: string;
  help: string;
  labelNames: string[];
  buckets: number[];
  /** gauge: how threads combine; ratio: `numerator/denominator` family names. */
  agg: string;
  series: Array<[string, number[]]>;
}
export interface MetricsSnapshot {
  families: SnapshotFamily[];
}

const SEP = '\u0001';

/** Latency buckets in seconds: 5 ms … 60 s. */
export const LATENCY_BUCKETS_S: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);
/** Queue-time buckets in seconds: 1 ms … 30 s. */
export const QUEUE_BUCKETS_S: readonly number[] = Object.freeze([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

export class Counter {
  constructor(private readonly family: CounterFamily | GaugeFamily) {}
  /** The series of these label values (created at zero). Keep it: `cell.value += n` is the hot path. */
  cell(labels: Labels): Cell {
    const key = labels.join(SEP);
    const s = this.family.series;
    let c = s.get(key);
    if (c === undefined) {
      c = new Cell();
      s.set(key, c);
    }
    return c;
  }
  inc(labels: Labels, n = 1): void {
    this.cell(labels).value += n;
  }
  /** Gauges: set the value. */
  set(labels: Labels, v: number): void {
    this.cell(labels).value = v;
  }
  get(labels: Labels): number {
    return this.family.series.get(labels.join(SEP))?.value ?? 0;
  }
}
export type Gauge = Counter;

export class Histogram {
  constructor(private readonly family: HistogramFamily) {}
  cell(labels: Labels): HdrCell {
    const key = labels.join(SEP);
    const s = this.family.series;
    let c = s.get(key);
    if (c === undefined) {
      c = new HdrCell();
      s.set(key, c);
    }
    return c;
  }
  /** Record `value` (seconds). */
  observe(labels: Labels, value: number): void {
    this.cell(labels).record(value);
  }
  count(labels: Labels): number {
    return this.family.series.get(labels.join(SEP))?.count ?? 0;
  }
}

export class MetricsRegistry {
  private readonly families: Family[] = [];
  private readonly collectors: Array<() => void> = [];

  counter(name: string, help: string, labelNames: readonly string[]): Counter {
    const f: CounterFamily = { kind: 'counter', name, help, labelNames, series: new Map() };
    this.families.push(f);
    return new Counter(f);
  }

  gauge(name: string, help: string, labelNames: readonly string[], agg: Agg = 'sum'): Gauge {
    const f: GaugeFamily = { kind: 'gauge', name, help, labelNames, agg, series: new Map() };
    this.families.push(f);
    return new Counter(f);
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[] = LATENCY_BUCKETS_S): Histogram {
    const f: HistogramFamily = { kind: 'histogram', name, help, labelNames, buckets, series: new Map() };
    this.families.push(f);
    return new Histogram(f);
  }

  /** A gauge rendered as counter `numerator` ÷ counter `denominator` (merged over threads), series by series. */
  ratio(name: string, help: string, labelNames: readonly string[], numerator: string, denominator: string): void {
    this.families.push({ kind: 'ratio', name, help, labelNames, numerator, denominator });
  }

  /** Run `fn` before every snapshot (gauges read from the process: heap, event-loop delay, in flight). */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  snapshot(): MetricsSnapshot {
    for (const c of this.collectors) c();
    return {
      families: this.families.map((f): SnapshotFamily => {
        const base = { kind: f.kind, name: f.name, help: f.help, labelNames: [...f.labelNames], buckets: [] as number[], agg: '', series: [] as Array<[string, number[]]> };
        if (f.kind === 'ratio') base.agg = f.numerator + '/' + f.denominator;
        else if (f.kind === 'histogram') {
          base.buckets = [...f.buckets];
          for (const [k, c] of f.series) base.series.push([k, hdrData(c)]);
        } else {
          if (f.kind === 'gauge') base.agg = f.agg;
          for (const [k, c] of f.series) base.series.push([k, [c.value]]);
        }
        return base;
      }),
    };
  }
}

/** `[sum, count, index, n, index, n, ...]` of a histogram cell's non-zero HDR slots. */
function hdrData(c: HdrCell): number[] {
  const out = [c.sum, c.count];
  const h = c.hdr;
  if (c.count === 0) return out;
  // Only the slots between the smallest and the largest value recorded can be non-zero.
  const first = h.countsArrayIndex(h.minNonZeroValue === Number.MAX_SAFE_INTEGER ? 0 : h.minNonZeroValue);
  const last = h.countsArrayIndex(h.maxValue);
  if (h.countsArrayIndex(0) !== first && h.getCountAtIndex(0) !== 0) out.push(0, h.getCountAtIndex(0));
  const counts = (h as unknown as { _counts: ArrayLike<number> })._counts;
  for (let i = first; i <= last; i++) {
    const n = counts[i]!;
    if (n !== 0) out.push(i, n);
  }
  return out;
}

/** Several threads' snapshots, merged: counters and histograms summed, gauges by their rule. */
export interface MergedFamily {
  f: SnapshotFamily;
  series: Map<string, number[]>;
}

export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): Map<string, MergedFamily> {
  const merged = new Map<string, MergedFamily>();
  for (const snap of snapshots) {
    for (const f of snap.families) {
      let m = merged.get(f.name);
      if (m === undefined) {
        m = { f, series: new Map() };
        merged.set(f.name, m);
      } else if (f.kind === 'ratio' && m.f.kind !== 'ratio') m.f = f; // a ratio and a gauge of its name: render as the ratio
      for (const [key, values] of f.series) {
        const cur = m.series.get(key);
        if (cur === undefined) m.series.set(key, [...values]);
        else if (f.kind === 'histogram') mergeHdr(cur, values);
        else if (f.kind === 'gauge' && f.agg === 'max') cur[0] = Math.max(cur[0]!, values[0]!);
        else cur[0]! += values[0]!;
      }
    }
  }
  return merged;
}

/** Add `b`'s histogram data into `a` (both `[sum, count, index, n, ...]`, indexes ascending). */
function mergeHdr(a: number[], b: readonly number[]): void {
  a[0]! += b[0]!;
  a[1]! += b[1]!;
  const slots = new Map<number, number>();
  for (let i = 2; i < a.length; i += 2) slots.set(a[i]!, a[i + 1]!);
  for (let i = 2; i < b.length; i += 2) slots.set(b[i]!, (slots.get(b[i]!) ?? 0) + b[i + 1]!);
  const idx = [...slots.keys()].sort((x, y) => x - y);
  a.length = 2;
  for (const i of idx) a.push(i, slots.get(i)!);
}

/** The value (seconds) at quantile `q` (0..1) of merged histogram data; NaN when empty. */
export function histogramQuantile(data: readonly number[], q: number): number {
  const count = data[1]!;
  if (count === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (let i = 2; i < data.length; i += 2) {
    seen += data[i + 1]!;
    if (seen >= rank) return REF.highestEquivalentValue(REF.valueFromIndex(data[i]!)) / 1e6;
  }
  return REF.highestEquivalentValue(REF.valueFromIndex(data[data.length - 2]!)) / 1e6;
}

/** Cumulative counts at each bound (seconds) of `buckets`, from merged histogram data. */
export function histogramBuckets(data: readonly number[], buckets: readonly number[]): number[] {
  const out = new Array<number>(buckets.length).fill(0);
  let b = 0;
  let cumulative = 0;
  let limit = buckets.length > 0 ? REF.countsArrayIndex(Math.round(buckets[0]! * 1e6)) : Infinity;
  for (let i = 2; i < data.length; i += 2) {
    const idx = data[i]!;
    while (b < buckets.length && idx > limit) {
      out[b] = cumulative;
      b++;
      limit = b < buckets.length ? REF.countsArrayIndex(Math.round(buckets[b]! * 1e6)) : Infinity;
    }
    cumulative += data[i + 1]!;
  }
  for (; b < buckets.length; b++) out[b] = cumulative;
  return out;
}

function escapeLabel(v: string): string {
  // Most values need no escaping: skip the three replaces then.
  if (!/[\\\n"]/.test(v)) return v;
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** `a="x",b="y"` for a series key ('' without labels); built once per series and reused for its lines. */
function labelPairs(names: readonly string[], key: string): string {
  if (names.length === 0) return '';
  const values = key.split(SEP);
  let out = '';
  for (let i = 0; i < names.length; i++) out += (i > 0 ? ',' : '') + names[i] + '="' + escapeLabel(values[i] ?? '') + '"';
  return out;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e9) / 1e9);
}

/**
 * A ratio family's values by series key: numerator ÷ denominator counters (summed over threads), where the
 * denominator is non-zero; a series set directly under the ratio's name (a gauge of the same name in
 * another snapshot, e.g. a poller's) is kept where the counters say nothing.
 */
export function ratioValues(merged: ReadonlyMap<string, MergedFamily>, f: SnapshotFamily, direct: ReadonlyMap<string, number[]>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, v] of direct) out.set(key, v[0]!);
  const [numName, denName] = f.agg.split('/');
  const n = merged.get(numName!)?.series;
  const d = merged.get(denName!)?.series;
  if (n !== undefined && d !== undefined) {
    for (const [key, dv] of d) if (dv[0]! !== 0) out.set(key, (n.get(key)?.[0] ?? 0) / dv[0]!);
  }
  return out;
}

/** Several threads' snapshots, summed series by series, as Prometheus text. */
export function renderPrometheus(snapshots: readonly MetricsSnapshot[]): string {
  const merged = mergeSnapshots(snapshots);
  const parts: string[] = [];
  for (const { f, series } of merged.values()) {
    if (f.kind === 'ratio') {
      const values = ratioValues(merged, f, series);
      if (values.size === 0) continue;
      parts.push(`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} gauge\n`);
      for (const key of [...values.keys()].sort()) {
        const lp = labelPairs(f.labelNames, key);
        parts.push(`${f.name}${lp === '' ? '' : '{' + lp + '}'} ${num(values.get(key)!)}\n`);
      }
      continue;
    }
    parts.push(`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.kind}\n`);
    const keys = [...series.keys()].sort();
    const name = f.name;
    for (const key of keys) {
      const v = series.get(key)!;
      const lp = labelPairs(f.labelNames, key);
      const braced = lp === '' ? '' : '{' + lp + '}';
      if (f.kind !== 'histogram') {
        parts.push(name + braced + ' ' + num(v[0]!) + '\n');
        continue;
      }
      const counts = histogramBuckets(v, f.buckets);
      const open = name + '_bucket{' + (lp === '' ? '' : lp + ',') + 'le="';
      let out = '';
      for (let i = 0; i < f.buckets.length; i++) out += open + f.buckets[i] + '"} ' + counts[i] + '\n';
      out += open + '+Inf"} ' + v[1] + '\n';
      out += name + '_sum' + braced + ' ' + num(v[0]!) + '\n';
      out += name + '_count' + braced + ' ' + v[1] + '\n';
      parts.push(out);
    }
  }
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------
// The gateway's series

/** What metrics need of a route (RouteContext has it; telemetry does not import config/). */
export interface MetricRoute {
  readonly index: number;
  readonly alias: string;
  readonly pool: { readonly id: string };
}

export const LANE_NAMES = ['direct_small', 'direct_large', 'agentic', 'auto'] as const;
export const OUTCOME_NAMES = ['success', 'quality_failure', 'slo_miss', 'budget_miss', 'error'] as const;

function laneIndex(lane: string): number {
  switch (lane) {
    case 'direct_small': return 0;
    case 'direct_large': return 1;
    case 'agentic': return 2;
    default: return 3;
  }
}
function outcomeIndex(o: string): number {
  switch (o) {
    case 'success': return 0;
    case 'quality_failure': return 1;
    case 'slo_miss': return 2;
    case 'budget_miss': return 3;
    default: return 4;
  }
}

/** The cells of one route (by its index in the current Plan), created as requests need them. */
class RouteCells {
  /** requests_total by (lane, serving route, outcome) → cell. */
  readonly requests = new Map<number, Cell>();
  readonly duration: Array<HdrCell | undefined> = [undefined, undefined, undefined, undefined];
  readonly ttft: Array<HdrCell | undefined> = [undefined, undefined, undefined, undefined];
  readonly cost: Array<Cell | undefined> = [undefined, undefined, undefined, undefined];
  /** cache lookups by kind (0 response, 1 prefix) × result (0 hit, 1 miss, 2 bypass). */
  readonly cache: Array<Cell | undefined> = [undefined, undefined, undefined, undefined, undefined, undefined];
  /** When this route serves an attempt: its pool's queue-time histogram and in-flight gauge. */
  queue: HdrCell | null = null;
  inflight: Cell | null = null;
  constructor(readonly alias: string) {}
}

const CACHE_KINDS = ['response', 'prefix'] as const;
const CACHE_RESULTS = ['hit', 'miss', 'bypass'] as const;

/**
 * The gateway's series: the contract's metric table plus process metrics. The request path calls the
 * methods below; features being built elsewhere call theirs:
 *   - response / prefix cache:  `metrics.cacheLookup(route, 'response' | 'prefix', 'hit' | 'miss' | 'bypass')`
 *   - policy enforcement:       `metrics.policyViolation(route, policyName, action)` (policy name from config;
 *                               action `block | redact | flag | ...` from the policy's rule)
 *   - ledger reconciliation:    `metrics.coverage(providerName, gatewayTokens, providerReportedTokens)` →
 *                               `switchyard_gateway_coverage_ratio{provider}` (the ratio of the two sums)
 */
export class GatewayMetrics {
  readonly registry = new MetricsRegistry();
  readonly requests = this.registry.counter('switchyard_requests_total', 'Requests by alias, lane, pool and outcome.', ['alias', 'lane', 'pool', 'outcome']);
  readonly fallbacks = this.registry.counter('switchyard_fallbacks_total', 'Further attempts after a failure, by the pool left, the pool tried next and why.', ['alias', 'from_pool', 'to_pool', 'reason']);
  readonly quotaRejections = this.registry.counter('switchyard_quota_rejections_total', 'Requests refused by a limit before the provider was called.', ['tenant', 'alias', 'limit']);
  readonly attributionComplete = this.registry.counter('switchyard_cost_attribution_complete_total', 'Requests with tenant, owner, scenario and a known price.', []);
  readonly attributionIncomplete = this.registry.counter('switchyard_cost_attribution_incomplete_total', 'Requests missing part of their attribution, by what is missing.', ['missing']);
  readonly cacheLookups = this.registry.counter('switchyard_cache_lookups_total', 'Cache lookups by alias, kind (response or prefix) and result (hit, miss, bypass).', ['alias', 'kind', 'result']);
  /** Prompt tokens the provider served from its prefix cache (hit) or computed (miss), by alias: the token-weighted prefix-cache hit rate (core/cache/metrics.ts). */
  readonly prefixCacheTokens = this.registry.counter('switchyard_prefix_cache_tokens_total', 'Prompt tokens by alias: served from the provider prefix cache (hit) or not (miss), as the provider reported them.', ['alias', 'result']);
  readonly policyViolations = this.registry.counter('switchyard_policy_violations_total', 'Policy violations by alias, policy and the action taken.', ['alias', 'policy', 'action']);
  readonly gatewayTokens = this.registry.counter('switchyard_gateway_attributed_tokens_total', 'Tokens the gateway attributed (to tenant, owner, scenario), by provider.', ['provider']);
  readonly providerTokens = this.registry.counter('switchyard_provider_reported_tokens_total', 'Tokens the provider reported (usage or invoice), by provider.', ['provider']);
  readonly duration = this.registry.histogram('switchyard_request_duration_seconds', 'Request duration by alias and lane.', ['alias', 'lane']);
  readonly ttft = this.registry.histogram('switchyard_ttft_seconds', 'Time to first token by alias and lane.', ['alias', 'lane']);
  readonly queueTime = this.registry.histogram('switchyard_queue_time_seconds', 'Time a request waited for a slot in a pool (self-hosted replicas report it).', ['pool'], QUEUE_BUCKETS_S);
  readonly cost = this.registry.counter('switchyard_cost_usd_total', 'Cost of requests in USD by alias and lane.', ['alias', 'lane']);
  readonly poolInflight = this.registry.gauge('switchyard_pool_inflight_requests', 'Attempts in flight by pool.', ['pool']);
  readonly inflight = this.registry.gauge('switchyard_inflight_requests', 'Chat requests in flight (all threads).', []);
  readonly openConnections = this.registry.gauge('switchyard_open_connections', 'Client connections open (all threads of the process).', [], 'max');
  readonly heapUsed = this.registry.gauge('switchyard_process_heap_used_bytes', 'V8 heap in use, summed over gateway threads.', []);
  readonly heapTotal = this.registry.gauge('switchyard_process_heap_total_bytes', 'V8 heap allocated, summed over gateway threads.', []);
  readonly rss = this.registry.gauge('switchyard_process_resident_memory_bytes', 'Resident memory of the process.', [], 'max');
  readonly loopDelay = this.registry.gauge('switchyard_event_loop_delay_seconds', 'Event-loop delay since the last scrape (worst gateway thread), by quantile.', ['quantile'], 'max');

  /** False: requests are not counted (SWITCHYARD_METRICS=off, for measuring what counting costs). */
  enabled = true;
  private routes: RouteCells[] = [];
  private readonly loop: IntervalHistogram;
  private readonly heapUsedCell = this.heapUsed.cell([]);
  private readonly heapTotalCell = this.heapTotal.cell([]);
  private readonly rssCell = this.rss.cell([]);
  private readonly loopCells = [this.loopDelay.cell(['0.5']), this.loopDelay.cell(['0.99']), this.loopDelay.cell(['1'])];
  private readonly inflightCell = this.inflight.cell([]);
  private readonly connectionsCell = this.openConnections.cell([]);
  private inflightOf: () => number = zero;
  private connectionsOf: () => number = zero;

  constructor() {
    // The coverage ratio: attributed ÷ reported tokens, summed over threads first.
    this.registry.ratio('switchyard_gateway_coverage_ratio', 'Gateway-attributed tokens ÷ provider-reported tokens, by provider.', ['provider'], 'switchyard_gateway_attributed_tokens_total', 'switchyard_provider_reported_tokens_total');
    this.loop = monitorEventLoopDelay({ resolution: 10 });
    this.loop.enable();
    this.registry.onCollect(() => this.collectProcess());
  }

  /** Stop the event-loop monitor. */
  close(): void {
    this.loop.disable();
  }

  /** Where the gauges of the gateway's and the transport's state are read (at scrape time). */
  watch(inflight: () => number, connections?: () => number): void {
    this.inflightOf = inflight;
    if (connections !== undefined) this.connectionsOf = connections;
  }

  /** Connections count: a transport that counts its sockets says so here. */
  watchConnections(connections: () => number): void {
    this.connectionsOf = connections;
  }

  private collectProcess(): void {
    const h = getHeapStatistics();
    this.heapUsedCell.value = h.used_heap_size;
    this.heapTotalCell.value = h.total_heap_size;
    this.rssCell.value = process.memoryUsage.rss();
    const l = this.loop;
    this.loopCells[0]!.value = l.count > 0 ? l.percentile(50) / 1e9 : 0;
    this.loopCells[1]!.value = l.count > 0 ? l.percentile(99) / 1e9 : 0;
    this.loopCells[2]!.value = l.count > 0 ? l.max / 1e9 : 0;
    l.reset();
    this.inflightCell.value = this.inflightOf();
    this.connectionsCell.value = this.connectionsOf();
  }

  /** A new Plan: cells are found again by route index (series and counts stay, keyed by label values). */
  bind(routes: readonly MetricRoute[]): void {
    this.routes = routes.map((r) => new RouteCells(r.alias));
  }

  /** This route's cells, when `route` is the current Plan's route at its index (a request from before a reload is not). */
  private cells(route: MetricRoute): RouteCells | null {
    const c = this.routes[route.index];
    return c !== undefined && c.alias === route.alias ? c : null;
  }

  /**
   * A routed request settled. `named` is the alias the client named (its labels), `served` the route whose
   * pool answered last (it names the pool).
   */
  requestDone(named: MetricRoute, served: MetricRoute, lane: string, outcome: string, latencyMs: number, ttftMs: number | null, costUsd: number): void {
    if (!this.enabled) return;
    const rc = this.cells(named);
    const li = laneIndex(lane);
    if (rc === null) {
      const laneName = LANE_NAMES[li]!;
      this.requests.inc([named.alias, laneName, served.pool.id, OUTCOME_NAMES[outcomeIndex(outcome)]!]);
      this.duration.observe([named.alias, laneName], latencyMs / 1000);
      if (ttftMs !== null) this.ttft.observe([named.alias, laneName], ttftMs / 1000);
      if (costUsd > 0) this.cost.inc([named.alias, laneName], costUsd);
      return;
    }
    const oi = outcomeIndex(outcome);
    const k = (li * 65536 + served.index) * 8 + oi;
    let cell = rc.requests.get(k);
    if (cell === undefined) {
      cell = this.requests.cell([named.alias, LANE_NAMES[li]!, served.pool.id, OUTCOME_NAMES[oi]!]);
      rc.requests.set(k, cell);
    }
    cell.value++;
    let d = rc.duration[li];
    if (d === undefined) d = rc.duration[li] = this.duration.cell([named.alias, LANE_NAMES[li]!]);
    d.record(latencyMs / 1000);
    if (ttftMs !== null) {
      let t = rc.ttft[li];
      if (t === undefined) t = rc.ttft[li] = this.ttft.cell([named.alias, LANE_NAMES[li]!]);
      t.record(ttftMs / 1000);
    }
    if (costUsd > 0) {
      let c = rc.cost[li];
      if (c === undefined) c = rc.cost[li] = this.cost.cell([named.alias, LANE_NAMES[li]!]);
      c.value += costUsd;
    }
  }

  /** An attempt on `served`'s pool started (+1) or ended (-1). */
  poolAttempt(served: MetricRoute, delta: 1 | -1): void {
    if (!this.enabled) return;
    const rc = this.cells(served);
    let cell: Cell;
    if (rc === null) cell = this.poolInflight.cell([served.pool.id]);
    else {
      if (rc.inflight === null) rc.inflight = this.poolInflight.cell([served.pool.id]);
      cell = rc.inflight;
    }
    cell.value += delta;
  }

  /** The time a request waited for a slot in `served`'s pool (what the replica reported). */
  queued(served: MetricRoute, queueMs: number): void {
    if (!this.enabled) return;
    const rc = this.cells(served);
    let cell: HdrCell;
    if (rc === null) cell = this.queueTime.cell([served.pool.id]);
    else {
      if (rc.queue === null) rc.queue = this.queueTime.cell([served.pool.id]);
      cell = rc.queue;
    }
    cell.record(queueMs / 1000);
  }

  /** A cache lookup on `route` (the alias the client named). */
  cacheLookup(route: MetricRoute, kind: 'response' | 'prefix', result: 'hit' | 'miss' | 'bypass'): void {
    const rc = this.cells(route);
    const ki = kind === 'response' ? 0 : 1;
    const ri = result === 'hit' ? 0 : result === 'miss' ? 1 : 2;
    if (rc === null) return this.cacheLookups.inc([route.alias, CACHE_KINDS[ki]!, CACHE_RESULTS[ri]!]);
    let cell = rc.cache[ki * 3 + ri];
    if (cell === undefined) cell = rc.cache[ki * 3 + ri] = this.cacheLookups.cell([route.alias, CACHE_KINDS[ki]!, CACHE_RESULTS[ri]!]);
    cell.value++;
  }

  /** A policy rule fired on `route`: `policy` is the policy's configured name, `action` its rule's action. */
  policyViolation(route: MetricRoute, policy: string, action: string): void {
    this.policyViolations.inc([route.alias, policy, action]);
  }

  /** Tokens reconciled for `provider`: what the gateway attributed vs what the provider reported. */
  coverage(provider: string, gatewayTokens: number, providerReportedTokens: number): void {
    this.gatewayTokens.inc([provider], gatewayTokens);
    this.providerTokens.inc([provider], providerReportedTokens);
  }
}

function zero(): number {
  return 0;
}
