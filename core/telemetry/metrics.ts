// Metrics: counters and fixed-bucket histograms with bounded labels (values come from config — aliases,
// lanes, pools, tenants — or from small enums, never from raw input), kept per gateway thread and
// merged at scrape time (a snapshot is plain data, so threads can send theirs). Rendered in the
// Prometheus text format.

export type Labels = readonly string[];

interface CounterFamily {
  readonly kind: 'counter';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly series: Map<string, number>;
}

interface HistogramFamily {
  readonly kind: 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  /** Per series: bucket counts (non-cumulative, one per bucket, then +Inf), then sum, then count. */
  readonly series: Map<string, number[]>;
}

type Family = CounterFamily | HistogramFamily;

/** What one registry held at one moment: plain data (structured-cloneable). */
export interface MetricsSnapshot {
  families: Array<{ kind: 'counter' | 'histogram'; name: string; help: string; labelNames: string[]; buckets: number[]; series: Array<[string, number[]]> }>;
}

const SEP = '\u0001';

/** Latency buckets in seconds: 5 ms … 60 s. */
export const LATENCY_BUCKETS_S: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

export class Counter {
  constructor(private readonly family: CounterFamily) {}
  inc(labels: Labels, n = 1): void {
    const key = labels.join(SEP);
    const s = this.family.series;
    s.set(key, (s.get(key) ?? 0) + n);
  }
  get(labels: Labels): number {
    return this.family.series.get(labels.join(SEP)) ?? 0;
  }
}

export class Histogram {
  constructor(private readonly family: HistogramFamily) {}
  observe(labels: Labels, value: number): void {
    const key = labels.join(SEP);
    const f = this.family;
    let v = f.series.get(key);
    if (v === undefined) {
      v = new Array<number>(f.buckets.length + 3).fill(0);
      f.series.set(key, v);
    }
    let i = 0;
    while (i < f.buckets.length && value > f.buckets[i]!) i++;
    v[i]!++;
    v[f.buckets.length + 1]! += value;
    v[f.buckets.length + 2]!++;
  }
  count(labels: Labels): number {
    const v = this.family.series.get(labels.join(SEP));
    return v === undefined ? 0 : v[this.family.buckets.length + 2]!;
  }
}

export class MetricsRegistry {
  private readonly families: Family[] = [];

  counter(name: string, help: string, labelNames: readonly string[]): Counter {
    const f: CounterFamily = { kind: 'counter', name, help, labelNames, series: new Map() };
    this.families.push(f);
    return new Counter(f);
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[] = LATENCY_BUCKETS_S): Histogram {
    const f: HistogramFamily = { kind: 'histogram', name, help, labelNames, buckets, series: new Map() };
    this.families.push(f);
    return new Histogram(f);
  }

  snapshot(): MetricsSnapshot {
    return {
      families: this.families.map((f) => ({
        kind: f.kind,
        name: f.name,
        help: f.help,
        labelNames: [...f.labelNames],
        buckets: f.kind === 'histogram' ? [...f.buckets] : [],
        series: [...f.series].map(([k, v]): [string, number[]] => [k, typeof v === 'number' ? [v] : [...v]]),
      })),
    };
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(names: readonly string[], key: string, extra = ''): string {
  const values = key === '' && names.length === 0 ? [] : key.split(SEP);
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra !== '') parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e9) / 1e9);
}

/** Several threads' snapshots, summed series by series, as Prometheus text. */
export function renderPrometheus(snapshots: readonly MetricsSnapshot[]): string {
  const merged = new Map<string, { f: MetricsSnapshot['families'][number]; series: Map<string, number[]> }>();
  for (const snap of snapshots) {
    for (const f of snap.families) {
      let m = merged.get(f.name);
      if (m === undefined) {
        m = { f, series: new Map() };
        merged.set(f.name, m);
      }
      for (const [key, values] of f.series) {
        const cur = m.series.get(key);
        if (cur === undefined) m.series.set(key, [...values]);
        else for (let i = 0; i < values.length; i++) cur[i]! += values[i]!;
      }
    }
  }
  let out = '';
  for (const { f, series } of merged.values()) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.kind}\n`;
    const keys = [...series.keys()].sort();
    for (const key of keys) {
      const v = series.get(key)!;
      if (f.kind === 'counter') {
        out += `${f.name}${labelText(f.labelNames, key)} ${num(v[0]!)}\n`;
        continue;
      }
      let cumulative = 0;
      for (let i = 0; i < f.buckets.length; i++) {
        cumulative += v[i]!;
        out += `${f.name}_bucket${labelText(f.labelNames, key, `le="${f.buckets[i]}"`)} ${cumulative}\n`;
      }
      cumulative += v[f.buckets.length]!;
      out += `${f.name}_bucket${labelText(f.labelNames, key, 'le="+Inf"')} ${cumulative}\n`;
      out += `${f.name}_sum${labelText(f.labelNames, key)} ${num(v[f.buckets.length + 1]!)}\n`;
      out += `${f.name}_count${labelText(f.labelNames, key)} ${v[f.buckets.length + 2]!}\n`;
    }
  }
  return out;
}

/** The gateway's series (the contract's metric table, those the gateway can measure today). */
export class GatewayMetrics {
  readonly registry = new MetricsRegistry();
  readonly requests = this.registry.counter('switchyard_requests_total', 'Requests by alias, lane, pool and outcome.', ['alias', 'lane', 'pool', 'outcome']);
  readonly fallbacks = this.registry.counter('switchyard_fallbacks_total', 'Further attempts after a failure, by the pool left, the pool tried next and why.', ['alias', 'from_pool', 'to_pool', 'reason']);
  readonly quotaRejections = this.registry.counter('switchyard_quota_rejections_total', 'Requests refused by a limit before the provider was called.', ['tenant', 'alias', 'limit']);
  readonly attributionComplete = this.registry.counter('switchyard_cost_attribution_complete_total', 'Requests with tenant, owner, scenario and a known price.', []);
  readonly attributionIncomplete = this.registry.counter('switchyard_cost_attribution_incomplete_total', 'Requests missing part of their attribution, by what is missing.', ['missing']);
  readonly duration = this.registry.histogram('switchyard_request_duration_seconds', 'Request duration by alias and lane.', ['alias', 'lane']);
  readonly ttft = this.registry.histogram('switchyard_ttft_seconds', 'Time to first token by alias and lane.', ['alias', 'lane']);
  /** Response-cache and provider prefix-cache lookups (core/cache/metrics.ts fills it, labels pre-built per route). */
  readonly cacheLookups = this.registry.counter('switchyard_cache_lookups_total', 'Cache lookups by alias, kind (response, prefix) and result (hit, miss, bypass).', ['alias', 'kind', 'result']);
  /** Prompt tokens the provider served from its prefix cache (hit) or computed (miss), by alias: the token-weighted prefix-cache hit rate. */
  readonly prefixCacheTokens = this.registry.counter('switchyard_prefix_cache_tokens_total', 'Prompt tokens by alias: served from the provider prefix cache (hit) or not (miss), as the provider reported them.', ['alias', 'result']);
}
