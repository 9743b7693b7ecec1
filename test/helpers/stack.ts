// A gateway + simulator stack on loopback for tests: the config is YAML text (as users write it),
// its `simulator:` providers are started the way `switchyard serve` starts them.
import { parseConfigText, compilePlan, createLimitStore, Gateway, MemoryTraceSink, type Config, type LimitStore, type Plan, type TraceSink } from '../../core/index.js';
import { startUwsServer } from '../../transports/uws/server.js';
import { startNodeHttpServer } from '../../transports/node-http/server.js';
import { startConfiguredSimulators } from '../../cli/serve.js';
import type { MaasSimulator } from '../../simulators/index.js';

export const DEMO_KEY = 'sk-switchyard-demo';
export const DEMO_KEY_SHA256 = '37cbfc183c342e976476530bb738059047143238dbbee2003f91b27a3d546483';
export const OTHER_KEY = 'sk-other-tenant';
/** The admin key of the test config (`server.admin_keys`): /dashboard. */
export const ADMIN_KEY = 'sk-switchyard-test-admin';

export type TransportName = 'uws' | 'node';

export interface Stack {
  url: string;
  gateway: Gateway;
  plan: Plan;
  limits: LimitStore | null;
  sim: MaasSimulator;
  traces: MemoryTraceSink;
  config: Config;
  close(): Promise<void>;
}

export interface RouteYamlOptions {
  fallback?: string[];
  allowedProviders?: string[];
  quota?: string;
  tokenBudget?: string;
  latencyMs?: number;
  /** Extra YAML lines appended to the route (each starting with a newline and 4 spaces). */
  extra?: string;
}

/** One route of a test config, every decision-template field stated. */
export function routeYaml(alias: string, pool: string, o: RouteYamlOptions = {}): string {
  return `
  - alias: ${alias}
    use_case: test route ${alias}
    owner: team-test
    route_policy:
      lane: direct_small
      slo: { ttft_ms: 800, latency_ms: ${o.latencyMs ?? 4000} }
      budget: { max_cost_usd: null }
      fallback: [${(o.fallback ?? []).join(', ')}]
    canary_share: 0
    canary_target: null
    fallback_condition: [timeout, "5xx"]
    pool_id: ${pool}
    queue_priority: 1
    latency_class: interactive
    allowed_providers: [${(o.allowedProviders ?? ['sim']).join(', ')}]
    quota: ${o.quota ?? '{ requests_per_minute: 600, tokens_per_minute: 200000 }'}
    token_budget: ${o.tokenBudget ?? '{ max_input_tokens: 8000, max_output_tokens: 512 }'}
    safety_policy: null
    trace_fields: [scenario_id, owner]
    prompt: null${o.extra ?? ''}`;
}

export interface TestConfigOptions {
  simulator?: string;
  timeoutMs?: number;
  maxBodyBytes?: number;
  /** YAML flow maps, e.g. `{ requests_per_minute: 100 }`. */
  tenantLimits?: string;
  keyLimits?: string;
  /** The demo.chat route's quota (default 600 rpm, 200000 tpm) and token budget. */
  quota?: string;
  tokenBudget?: string;
  /** Prices of the simulated model (USD per million tokens). */
  prices?: { input: number; output: number };
  /** The limits section, e.g. `{ store: redis, redis_url: ..., redis_key_prefix: ... }`. */
  limits?: string;
}

export function testConfigYaml(opts: TestConfigOptions = {}): string {
  return `
server: { max_body_bytes: ${opts.maxBodyBytes ?? 65536}, admin_keys: [{ id: admin, key_sha256: ${sha256Hex(ADMIN_KEY)} }] }
tenants:
  - { id: demo, name: Demo${opts.tenantLimits ? `, limits: ${opts.tenantLimits}` : ''} }
  - { id: other, name: Other }
keys:
  - { id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256}${opts.keyLimits ? `, limits: ${opts.keyLimits}` : ''} }
  - { id: k-other, tenant: other, owner: team-other, key_sha256: ${sha256Hex(OTHER_KEY)} }
providers:
  - name: sim
    kind: openai
    api_key_env: SWITCHYARD_TEST_PROVIDER_KEY
    timeout_ms: ${opts.timeoutMs ?? 2000}
    simulator: ${opts.simulator ?? '{ seed: 7 }'}
    models:
      - { name: gpt-4o-mini, input_usd_per_mtok: ${opts.prices?.input ?? 0.15}, cached_input_usd_per_mtok: ${(opts.prices?.input ?? 0.15) / 2}, output_usd_per_mtok: ${opts.prices?.output ?? 0.6} }
pools:
  - id: maas-sim
    kind: maas
    members: [{ provider: sim, model: gpt-4o-mini }]
limits: ${opts.limits ?? '{ failure_mode: closed }'}
routes:${routeYaml('demo.chat', 'maas-sim', { quota: opts.quota, tokenBudget: opts.tokenBudget })}${routeYaml('team.*', 'maas-sim')}${routeYaml('demo.strict', 'maas-sim', { extra: '\n    require_scenario: true' })}${routeYaml('other.only', 'maas-sim', { extra: '\n    tenants: [other]' })}
`;
}

import { createHash } from 'node:crypto';
export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export const PROVIDER_KEY = 'sk-provider-secret-for-tests';

export interface StackOptions {
  /** Wrap the in-memory trace sink (e.g. in an OTLP exporter); closed with the stack. */
  wrapTraces?: (memory: MemoryTraceSink) => TraceSink;
}

export async function startStack(transport: TransportName, yaml = testConfigYaml(), opts: StackOptions = {}): Promise<Stack> {
  const parsed = parseConfigText(yaml, 'test');
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const config = parsed.config;
  const { urls, sims } = await startConfiguredSimulators(config, '127.0.0.1');
  const traces = new MemoryTraceSink();
  const plan = compilePlan(config, { providerBaseUrls: urls, env: { SWITCHYARD_TEST_PROVIDER_KEY: PROVIDER_KEY } });
  const limits = createLimitStore(plan.limits);
  const sink = opts.wrapTraces?.(traces) ?? traces;
  const gateway = new Gateway({ plan, traces: sink, limits });
  let url: string;
  let stop: () => Promise<void> | void;
  if (transport === 'uws') {
    const s = await startUwsServer(gateway, { port: 0 });
    url = s.url;
    stop = () => s.close();
  } else {
    const s = await startNodeHttpServer(gateway, { port: 0 });
    url = s.url;
    stop = () => s.close();
  }
  return {
    url,
    gateway,
    plan,
    limits,
    sim: sims[0]!,
    traces,
    config,
    async close() {
      await stop();
      await gateway.upstream.destroy();
      await limits?.close();
      await gateway.close();
      if (sink !== traces) await sink.close();
      await Promise.all(sims.map((s) => s.close()));
    },
  };
}

/** Wait until `pred` holds (polling the event loop, bounded); for effects that land just after a response. */
export async function eventually(pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A config with one batch pool (provider `batcher` at `url`, key from BATCH_PROVIDER_KEY) and the batch route `reports.nightly`. */
export function batchConfigYaml(url: string): string {
  return `
tenants: [{ id: demo, name: Demo }, { id: other, name: Other }]
keys:
  - { id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }
  - { id: k-other, tenant: other, owner: team-other, key_sha256: ${sha256Hex(OTHER_KEY)} }
providers:
  - name: batcher
    kind: batch
    base_url: ${url}
    api_key_env: BATCH_PROVIDER_KEY
    models: [{ name: gpt-4o-mini, input_usd_per_mtok: 0.075, output_usd_per_mtok: 0.3 }]
pools:
  - { id: batch-pool, kind: batch, members: [{ provider: batcher, model: gpt-4o-mini }] }
routes:
  - alias: reports.nightly
    use_case: nightly report summaries
    owner: team-reports
    route_policy: { lane: direct_large, slo: { ttft_ms: 60000, latency_ms: 86400000 }, budget: { max_cost_usd: null }, fallback: [] }
    canary_share: 0
    canary_target: null
    fallback_condition: []
    pool_id: batch-pool
    queue_priority: 5
    latency_class: batch
    allowed_providers: [batcher]
    quota: { requests_per_minute: 1000, tokens_per_minute: 1000000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: null
    trace_fields: [scenario_id]
    prompt: null
`;
}
