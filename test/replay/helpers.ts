// Replay test configs: small YAML configs (every decision-template field stated) compiled for replay.
import { parseConfigText } from '../../core/config/load.js';
import type { Config } from '../../core/config/schema.js';

export interface RouteOpts {
  lane?: string;
  ttftMs?: number;
  latencyMs?: number;
  fallback?: string[];
  fallbackCondition?: string[];
  canaryShare?: number;
  canaryTarget?: string | null;
  providers?: string[];
  quota?: string;
  maxOut?: number;
  maxIn?: number;
  tenants?: string[];
  priority?: number;
}

export function route(alias: string, pool: string, o: RouteOpts = {}): string {
  return `
  - alias: ${alias}
    use_case: replay test ${alias}
    owner: team-test
    route_policy:
      lane: ${o.lane ?? 'direct_small'}
      slo: { ttft_ms: ${o.ttftMs ?? 1000}, latency_ms: ${o.latencyMs ?? 10000} }
      budget: { max_cost_usd: null }
      fallback: [${(o.fallback ?? []).join(', ')}]
    canary_share: ${o.canaryShare ?? 0}
    canary_target: ${o.canaryTarget ?? 'null'}
    fallback_condition: [${(o.fallbackCondition ?? []).map((c) => JSON.stringify(c)).join(', ')}]
    pool_id: ${pool}
    queue_priority: ${o.priority ?? 1}
    latency_class: interactive
    allowed_providers: [${(o.providers ?? ['api']).join(', ')}]
    quota: ${o.quota ?? '{ requests_per_minute: 10000000, tokens_per_minute: 1000000000 }'}
    token_budget: { max_input_tokens: ${o.maxIn ?? 100000}, max_output_tokens: ${o.maxOut ?? 100000} }
    safety_policy: null
    trace_fields: []
    prompt: null${o.tenants ? `\n    tenants: [${o.tenants.join(', ')}]` : ''}`;
}

export interface ConfigOpts {
  tenants?: string;
  apiSimulator?: string;
  gpu?: string;
  routes: string;
  gpuTimeoutMs?: number;
}

export function config(o: ConfigOpts): Config {
  const yaml = `
tenants: ${o.tenants ?? '[{ id: acme, name: Acme }]'}
providers:
  - name: api
    kind: openai
    base_url: https://api.example.com/v1
    simulator: ${o.apiSimulator ?? '{ ttft_ms: 100, tokens_per_s: 100 }'}
    timeout_ms: 60000
    models: [{ name: m, input_usd_per_mtok: 1, output_usd_per_mtok: 2 }]
  - name: gpu
    kind: vllm
    base_url: http://gpu.example:8000/v1
    timeout_ms: ${o.gpuTimeoutMs ?? 3600000}
    models: [{ name: llama, input_usd_per_mtok: 0, output_usd_per_mtok: 0 }]
pools:
  - { id: api-pool, kind: maas, members: [{ provider: api, model: m }] }
  - id: gpu-pool
    kind: self_hosted
    members: [{ provider: gpu, model: llama }]
    ${o.gpu ?? 'replicas: 1\n    max_batch: 4\n    prefill_tokens_per_s: 1000000000\n    decode_tokens_per_s: 1000\n    gpu_hour_usd: 3.6'}
routes:${o.routes}
`;
  const r = parseConfigText(yaml, 'replay-test');
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.config;
}
