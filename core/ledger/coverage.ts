// Gateway coverage: the tokens the gateway attributed to each provider (the ledger's per-provider totals
// since it started) against what the provider itself reports having served in the same period (a
// provider usage API: OpenAI's `GET /v1/organization/usage/completions` shape, which the MaaS simulator
// implements). Exported as `switchyard_gateway_coverage_ratio{provider}` = gateway ÷ provider tokens:
// 1 when every token the provider served was attributed; below 1 means traffic the gateway missed or
// under-estimated, above 1 over-attribution. Polled off the request path.

import { request } from 'undici';
import { MetricsRegistry, type Gauge, type MetricsSnapshot } from '../telemetry/metrics.js';
import type { ProviderTokens } from './row.js';

export interface UsageReportSource {
  provider: string;
  /** The provider's API base URL (…/v1); the report is at `${baseUrl}/organization/usage/completions`. */
  baseUrl: string;
  /** The key the report endpoint wants (an admin key for a real provider). */
  apiKey: string;
}

export interface ProviderCoverage {
  provider: string;
  gateway_tokens: number;
  provider_tokens: number;
  /** gateway ÷ provider tokens; null while the provider reports nothing (or could not be asked). */
  ratio: number | null;
  error: string | null;
}

/** Input + output tokens in a usage report page (every bucket, every result). */
export function reportTokens(page: unknown): number {
  const data = (page as { data?: unknown })?.data;
  if (!Array.isArray(data)) throw new Error('usage report: no data array');
  let n = 0;
  for (const b of data) {
    const results = (b as { results?: unknown })?.results;
    if (!Array.isArray(results)) continue;
    for (const r of results) {
      const x = r as { input_tokens?: unknown; output_tokens?: unknown };
      n += (typeof x.input_tokens === 'number' ? x.input_tokens : 0) + (typeof x.output_tokens === 'number' ? x.output_tokens : 0);
    }
  }
  return n;
}

export class CoverageMonitor {
  private readonly registry = new MetricsRegistry();
  private readonly gauge: Gauge = this.registry.gauge(
    'switchyard_gateway_coverage_ratio',
    'Tokens the gateway attributed to a provider divided by the tokens the provider reports serving (same period).',
    ['provider'],
  );
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ProviderCoverage[]> | null = null;
  /** The last comparison per provider. */
  readonly last = new Map<string, ProviderCoverage>();

  constructor(
    private readonly attributed: ReadonlyMap<string, ProviderTokens>,
    private readonly sources: readonly UsageReportSource[],
    /** When attribution started (ms since the epoch): the provider is asked from then on. */
    private readonly sinceMs: number,
  ) {}

  /** Poll every `intervalMs` (unref'd: never keeps the process alive). */
  start(intervalMs = 60_000): void {
    if (this.timer !== null || this.sources.length === 0) return;
    this.timer = setInterval(() => void this.check().catch(() => {}), intervalMs);
    this.timer.unref();
  }

  /** Ask every provider now and update the gauge. */
  check(): Promise<ProviderCoverage[]> {
    if (this.running !== null) return this.running;
    this.running = Promise.all(this.sources.map((s) => this.checkOne(s))).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async checkOne(s: UsageReportSource): Promise<ProviderCoverage> {
    const a = this.attributed.get(s.provider);
    const gatewayTokens = a === undefined ? 0 : a.input_tokens + a.output_tokens;
    let out: ProviderCoverage;
    try {
      const url = `${s.baseUrl.replace(/\/+$/, '')}/organization/usage/completions?start_time=${Math.floor(this.sinceMs / 1000)}`;
      const res = await request(url, { method: 'GET', headers: s.apiKey === '' ? {} : { authorization: `Bearer ${s.apiKey}` }, headersTimeout: 5000, bodyTimeout: 5000 });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
      const providerTokens = reportTokens(JSON.parse(text));
      out = { provider: s.provider, gateway_tokens: gatewayTokens, provider_tokens: providerTokens, ratio: providerTokens > 0 ? gatewayTokens / providerTokens : null, error: null };
    } catch (err) {
      out = { provider: s.provider, gateway_tokens: gatewayTokens, provider_tokens: 0, ratio: null, error: (err as Error).message };
    }
    this.last.set(s.provider, out);
    if (out.ratio !== null) this.gauge.set([s.provider], out.ratio);
    return out;
  }

  /** The gauge's series, for /metrics. */
  snapshot(): MetricsSnapshot {
    return this.registry.snapshot();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
