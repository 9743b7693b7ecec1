// Validated Config → frozen Plan. Runs once at boot (and on each reload); nothing here runs per request.
// The config is assumed to have passed parseConfigText/validateConfig; a reference that still does not
// resolve (a config built by hand) throws a clear Error rather than producing a half-built Plan.

import { loadPriceCatalog } from '../accounting/catalog.js';
import { AliasTrie, type AliasEntry } from '../routing/alias-trie.js';
import { CellAllocator } from '../limits/cells.js';
import { compilePolicy, RouteSafety, type CompiledPolicy } from '../policy/policy.js';
import { compileScenarios } from '../scenarios/scenarios.js';
import type { Config, RouteConfig } from './schema.js';
import { compileTemplate, type PromptTemplate, type TemplateParts } from '../prompt/templates.js';
import type {
  KeyRecord,
  ModelPrice,
  Plan,
  PoolContext,
  PoolMember,
  ProviderContext,
  RouteContext,
  TenantRecord,
} from './plan.js';

/** The key sent to an in-process simulator when its provider names no `api_key_env` (simulators accept any). */
export const SIMULATOR_API_KEY = 'sk-switchyard-simulator';

export interface CompileOptions {
  /** Where `api_key_env` is read from; default `process.env`. */
  readonly env?: Record<string, string | undefined>;
  /** Provider name → base URL, overriding `base_url` (the CLI passes its in-process simulators' URLs). */
  readonly providerBaseUrls?: ReadonlyMap<string, string>;
}

export function compilePlan(config: Config, opts: CompileOptions = {}): Plan {
  const env = opts.env ?? process.env;
  const redisUrl = config.limits.redis_url ?? env.SWITCHYARD_REDIS_URL ?? null;

  const catalog = config.pricing?.catalog === undefined ? null : loadPriceCatalog(config.pricing.catalog);
  const cells = new CellAllocator();
  const tenants = new Map<string, TenantRecord>();
  for (const t of config.tenants) tenants.set(t.id, Object.freeze({ id: t.id, name: t.name, limits: cells.limitSet('tenant', t.id, t.limits) }));

  const providers = new Map<string, ProviderContext>();
  for (const p of config.providers) {
    const raw = opts.providerBaseUrls?.get(p.name) ?? p.base_url;
    if (raw === undefined || raw === '') {
      throw new Error(
        `provider "${p.name}": no base URL (set base_url, or start its simulator and pass its URL in providerBaseUrls)`,
      );
    }
    const { baseUrl, origin, basePath } = splitBaseUrl(p.name, raw);
    const models = new Map<string, ModelPrice>();
    for (const m of p.models) {
      // Prices from the config, else from the price catalog; a model priced nowhere has no price (its
      // requests count as incompletely attributed: `price`).
      const listed = catalog?.models[m.name];
      const input = m.input_usd_per_mtok ?? listed?.input_usd_per_mtok;
      const output = m.output_usd_per_mtok ?? listed?.output_usd_per_mtok;
      if (input === undefined || output === undefined) continue;
      models.set(
        m.name,
        Object.freeze({
          name: m.name,
          inputUsdPerMtok: input,
          // No cached price stated: cached input tokens cost the same as other input tokens.
          cachedInputUsdPerMtok: m.cached_input_usd_per_mtok ?? (m.input_usd_per_mtok === undefined ? listed?.cached_input_usd_per_mtok : undefined) ?? input,
          outputUsdPerMtok: output,
          contextTokens: m.context_tokens ?? 0,
        }),
      );
    }
    providers.set(
      p.name,
      Object.freeze({
        name: p.name,
        kind: p.kind,
        api: p.api ?? (p.kind === 'anthropic' ? 'anthropic' : 'openai'),
        baseUrl,
        origin,
        basePath,
        apiKey: p.api_key_env !== undefined ? (env[p.api_key_env] ?? '') : p.simulator != null ? SIMULATOR_API_KEY : '',
        models,
        timeoutMs: p.timeout_ms,
        connections: p.connections,
      }),
    );
  }

  const pools = new Map<string, PoolContext>();
  for (const pool of config.pools) {
    const members: PoolMember[] = pool.members.map((m) => {
      const provider = providers.get(m.provider);
      if (provider === undefined) throw new Error(`pool "${pool.id}": unknown provider "${m.provider}"`);
      return Object.freeze({ provider, model: m.model, weight: m.weight, price: provider.models.get(m.model) ?? null });
    });
    pools.set(
      pool.id,
      Object.freeze({
        id: pool.id,
        kind: pool.kind,
        members: Object.freeze(members),
        replicas: pool.replicas ?? 0,
        maxBatch: pool.max_batch ?? 0,
        prefillTokensPerS: pool.prefill_tokens_per_s ?? 0,
        decodeTokensPerS: pool.decode_tokens_per_s ?? 0,
        gpuHourUsd: pool.gpu_hour_usd ?? 0,
        prefixAffinity: pool.prefix_affinity ?? true,
        batchDiscount: pool.batch_discount ?? config.pricing?.batch_discount ?? catalog?.batch_discount ?? 0,
      }),
    );
  }

  const policies = new Map<string, CompiledPolicy>();
  for (const p of config.policies) policies.set(p.name, compilePolicy(p));
  // Prompt templates, each version compiled once (load.ts has inlined template files).
  const templates = new Map<string, PromptTemplate>();
  for (const p of config.prompts) {
    for (const v of p.versions ?? []) templates.set(p.name + '\u0000' + v.version, compileTemplate(p.name, v.version, v as TemplateParts));
  }

  // Route indexes by alias first, so fallback and canary references resolve to indexes in one pass.
  const indexByAlias = new Map<string, number>();
  config.routes.forEach((r, i) => indexByAlias.set(r.alias, i));
  const resolve = (route: RouteConfig, alias: string, field: string): number => {
    const idx = indexByAlias.get(alias);
    if (idx === undefined) throw new Error(`route "${route.alias}": ${field} names unknown alias "${alias}"`);
    return idx;
  };

  const routes: RouteContext[] = config.routes.map((r, index) => {
    const pool = pools.get(r.pool_id);
    if (pool === undefined) throw new Error(`route "${r.alias}": unknown pool "${r.pool_id}"`);
    const rp = r.route_policy;
    const isPrefix = r.alias.endsWith('.*');
    return Object.freeze({
      index,
      alias: r.alias,
      isPrefix,
      useCase: r.use_case,
      owner: r.owner,
      lane: rp.lane,
      slo: Object.freeze({ ttftMs: rp.slo.ttft_ms, latencyMs: rp.slo.latency_ms }),
      budgetMaxCostUsd: rp.budget.max_cost_usd ?? 0,
      fallback: Object.freeze([...rp.fallback]),
      fallbackIndices: Object.freeze(rp.fallback.map((a) => resolve(r, a, 'route_policy.fallback'))),
      canaryShare: r.canary_share,
      canaryTarget: r.canary_target,
      canaryTargetIndex: r.canary_target === null ? -1 : resolve(r, r.canary_target, 'canary_target'),
      fallbackCondition: Object.freeze([...r.fallback_condition]),
      pool,
      queuePriority: r.queue_priority,
      latencyClass: r.latency_class,
      allowedProviders: Object.freeze([...r.allowed_providers]),
      quota: Object.freeze({
        requestsPerMinute: r.quota.requests_per_minute,
        tokensPerMinute: r.quota.tokens_per_minute,
      }),
      tokenBudget: Object.freeze({
        maxInputTokens: r.token_budget.max_input_tokens,
        maxOutputTokens: r.token_budget.max_output_tokens,
      }),
      safetyPolicy: r.safety_policy,
      safety: r.safety_policy === null ? null : new RouteSafety(policyFor(policies, r), r.alias),
      traceFields: Object.freeze([...r.trace_fields]),
      prompt: r.prompt === null ? null : Object.freeze({ template: r.prompt.template, version: r.prompt.version }),
      template: r.prompt === null ? null : templateOf(templates, r),
      cache: Object.freeze({
        response: r.cache?.response
          ? Object.freeze({ ttlS: r.cache.response.ttl_s, maxBytes: r.cache.response.max_bytes ?? 16 * 1024 * 1024, stream: r.cache.response.stream ?? false })
          : null,
      }),
      requireScenario: r.require_scenario,
      retryOnQuality: r.retry_on.includes('quality_failure'),
      tenants: r.tenants === undefined ? null : new Set(r.tenants),
      limits: cells.routeQuota(r.alias, r.quota.requests_per_minute, r.quota.tokens_per_minute),
    });
  });

  const routesByAlias = new Map<string, RouteContext>();
  const entries: AliasEntry[] = [];
  for (const r of routes) {
    routesByAlias.set(r.alias, r);
    entries.push({ pattern: r.alias, value: r.index });
  }
  const aliasTrie = AliasTrie.build(entries);

  const keysByHash = new Map<string, KeyRecord>();
  for (const k of config.keys) {
    const hex = k.key_sha256.toLowerCase();
    keysByHash.set(
      hex,
      Object.freeze({
        id: k.id,
        tenant: k.tenant,
        owner: k.owner,
        sha256: Buffer.from(hex, 'hex'),
        aliases: k.aliases === undefined ? null : Object.freeze([...k.aliases]),
        revoked: k.revoked,
        limits: cells.limitSet('key', k.id, k.limits),
      }),
    );
  }

  return Object.freeze({
    routes: Object.freeze(routes),
    routesByAlias,
    aliasTrie,
    keysByHash,
    tenants,
    providers,
    pools,
    policies,
    server: Object.freeze({
      maxBodyBytes: config.server.max_body_bytes,
      unknownScenario: config.server.unknown_scenario,
      adminKeys: new Map(config.server.admin_keys.map((k) => [k.key_sha256.toLowerCase(), k.id])),
    }),
    scenarios: compileScenarios(config.scenarios),
    limits: Object.freeze({
      cells: Object.freeze([...cells.cells]),
      store: config.limits.store ?? (redisUrl !== null ? 'redis' : 'shared'),
      redisUrl,
      redisKeyPrefix: config.limits.redis_key_prefix,
      redisTimeoutMs: config.limits.redis_timeout_ms,
      failureMode: config.limits.failure_mode,
    }),
    config,
  });
}

function policyFor(policies: ReadonlyMap<string, CompiledPolicy>, r: RouteConfig): CompiledPolicy {
  const p = policies.get(r.safety_policy!);
  if (p === undefined) throw new Error(`route "${r.alias}": unknown safety_policy "${r.safety_policy}"`);
  return p;
}

/** The compiled template a route names; a route naming a template with no version list gets an empty one. */
function templateOf(templates: ReadonlyMap<string, PromptTemplate>, r: RouteConfig): PromptTemplate {
  const p = r.prompt!;
  const t = templates.get(p.template + '\u0000' + p.version);
  if (t !== undefined) return t;
  throw new Error(`route "${r.alias}": prompt "${p.template}" has no version ${p.version}`);
}

/** `http://127.0.0.1:9000/v1/` → baseUrl `http://127.0.0.1:9000/v1`, origin `http://127.0.0.1:9000`, basePath `/v1`. */
export function splitBaseUrl(
  providerName: string,
  raw: string,
): { baseUrl: string; origin: string; basePath: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`provider "${providerName}": base URL "${raw}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`provider "${providerName}": base URL "${raw}" must be http:// or https://`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new Error(`provider "${providerName}": base URL "${raw}" must not carry credentials, a query or a fragment`);
  }
  const basePath = url.pathname.replace(/\/+$/, '');
  return { baseUrl: url.origin + basePath, origin: url.origin, basePath };
}
