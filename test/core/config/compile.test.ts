import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { compilePlan, parseConfigText, splitBaseUrl, validateConfig, type Config } from '../../../core/config/index.js';
import { SIMULATOR_API_KEY } from '../../../core/config/compile.js';

const DEFAULT_TEXT = readFileSync(fileURLToPath(new URL('../../../fixtures/config/reference.yaml', import.meta.url)), 'utf8');
const SIM_URL = new Map([['sim-openai', 'http://127.0.0.1:9000/v1']]);

type Any = any;
function configOf(mutate: (c: Any) => void = () => {}): Config {
  const data = YAML.parse(DEFAULT_TEXT);
  mutate(data);
  const r = validateConfig(data);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.config;
}

describe('compilePlan on fixtures/config/reference.yaml', () => {
  const parsed = parseConfigText(DEFAULT_TEXT, 'reference.yaml');
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const plan = compilePlan(parsed.config, { env: {}, providerBaseUrls: SIM_URL });

  it('builds provider contexts with the simulator URL split into origin and base path', () => {
    const p = plan.providers.get('sim-openai')!;
    expect(p.name).toBe('sim-openai');
    expect(p.kind).toBe('openai');
    expect(p.baseUrl).toBe('http://127.0.0.1:9000/v1');
    expect(p.origin).toBe('http://127.0.0.1:9000');
    expect(p.basePath).toBe('/v1');
    // No api_key_env on a simulated provider: it gets the fixed simulator key.
    expect(p.apiKey).toBe(SIMULATOR_API_KEY);
    expect(p.timeoutMs).toBe(30000);
    expect(p.connections).toBe(64);
    expect(p.models.get('gpt-4o-mini')).toEqual({
      name: 'gpt-4o-mini',
      inputUsdPerMtok: 0.15,
      cachedInputUsdPerMtok: 0.075,
      outputUsdPerMtok: 0.6,
      contextTokens: 0,
    });
    expect(p.models.get('gpt-4o')!.outputUsdPerMtok).toBe(10);
  });

  it('builds pools whose members point at the provider contexts and prices', () => {
    const pool = plan.pools.get('maas-sim')!;
    expect(pool.kind).toBe('maas');
    expect(pool.members.map((m) => [m.model, m.weight])).toEqual([
      ['gpt-4o-mini', 1],
      ['gpt-4o', 1],
    ]);
    expect(pool.members[0]!.provider).toBe(plan.providers.get('sim-openai'));
    expect(pool.members[1]!.price).toBe(plan.providers.get('sim-openai')!.models.get('gpt-4o'));
    expect(pool.replicas).toBe(0);
    expect(pool.gpuHourUsd).toBe(0);
  });

  it('builds route contexts with every template field', () => {
    const [fast, smart] = plan.routes;
    expect(fast).toMatchObject({
      index: 0,
      alias: 'demo.chat.fast',
      isPrefix: false,
      owner: 'team-demo',
      lane: 'direct_small',
      slo: { ttftMs: 800, latencyMs: 8000 },
      budgetMaxCostUsd: 0.01,
      fallback: ['demo.chat.smart'],
      fallbackIndices: [1],
      canaryShare: 0,
      canaryTarget: null,
      canaryTargetIndex: -1,
      fallbackCondition: ['timeout', '5xx', 'rate_limited', 'connection_error'],
      queuePriority: 1,
      latencyClass: 'interactive',
      allowedProviders: ['sim-openai'],
      quota: { requestsPerMinute: 600, tokensPerMinute: 200000 },
      tokenBudget: { maxInputTokens: 8000, maxOutputTokens: 512 },
      safetyPolicy: null,
      traceFields: ['scenario_id', 'owner', 'prompt_version'],
      prompt: null,
      cache: { response: null },
      requireScenario: false,
      tenants: null,
    });
    expect(fast!.pool).toBe(plan.pools.get('maas-sim'));
    expect(smart!.budgetMaxCostUsd).toBe(0); // null budget = no ceiling
    expect(smart!.fallbackIndices).toEqual([]);
  });

  it('resolves aliases through the trie and routesByAlias', () => {
    expect(plan.aliasTrie.lookup('demo.chat.fast')).toBe(0);
    expect(plan.aliasTrie.lookup('demo.chat.smart')).toBe(1);
    expect(plan.aliasTrie.lookup('gpt-4o-mini')).toBe(-1);
    expect(plan.routesByAlias.get('demo.chat.smart')).toBe(plan.routes[1]);
  });

  it('indexes keys by lowercase hex SHA-256 with the raw 32 bytes', () => {
    const hex = createHash('sha256').update('sk-switchyard-demo').digest('hex');
    const key = plan.keysByHash.get(hex)!;
    expect(key).toBeDefined();
    expect(key.id).toBe('k-demo');
    expect(key.tenant).toBe('demo');
    expect(key.owner).toBe('team-demo');
    expect(key.sha256).toBeInstanceOf(Buffer);
    expect(key.sha256.length).toBe(32);
    expect(key.sha256.toString('hex')).toBe(hex);
    expect(key.aliases).toBeNull();
    expect(key.revoked).toBe(false);
    expect(plan.tenants.get('demo')).toEqual({ id: 'demo', name: 'Demo', limits: [] });
    expect(key.limits).toEqual([]);
  });

  it('freezes the plan and its contexts', () => {
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.routes)).toBe(true);
    for (const r of plan.routes) {
      expect(Object.isFrozen(r)).toBe(true);
      expect(Object.isFrozen(r.slo)).toBe(true);
      expect(Object.isFrozen(r.fallback)).toBe(true);
    }
    expect(Object.isFrozen(plan.pools.get('maas-sim'))).toBe(true);
    expect(Object.isFrozen(plan.pools.get('maas-sim')!.members)).toBe(true);
    expect(Object.isFrozen(plan.providers.get('sim-openai'))).toBe(true);
    expect(Object.isFrozen([...plan.keysByHash.values()][0])).toBe(true);
    expect(Object.isFrozen(plan.server)).toBe(true);
    expect(() => {
      (plan.routes[0] as Any).lane = 'agentic';
    }).toThrow(TypeError);
    expect(plan.server.maxBodyBytes).toBe(1048576);
    expect(plan.config).toBe(parsed.config);
  });
});

describe('compilePlan options and edge cases', () => {
  it('throws a clear error when a provider has neither base_url nor a simulator URL', () => {
    expect(() => compilePlan(configOf(), { env: {} })).toThrow(/provider "sim-openai": no base URL/);
  });

  it('uses base_url, and a providerBaseUrls entry overrides it', () => {
    const cfg = configOf((c) => {
      c.providers[0].base_url = 'https://api.example.com/openai/v1/';
      c.providers[0].api_key_env = 'EXAMPLE_KEY';
    });
    const a = compilePlan(cfg, { env: { EXAMPLE_KEY: 'sk-upstream' } }).providers.get('sim-openai')!;
    expect([a.baseUrl, a.origin, a.basePath, a.apiKey]).toEqual([
      'https://api.example.com/openai/v1',
      'https://api.example.com',
      '/openai/v1',
      'sk-upstream',
    ]);
    const b = compilePlan(cfg, { env: {}, providerBaseUrls: new Map([['sim-openai', 'http://127.0.0.1:4321']]) }).providers.get('sim-openai')!;
    // api_key_env is stated but unset: '' (the simulator key is only for providers that name no variable).
    expect([b.baseUrl, b.origin, b.basePath, b.apiKey]).toEqual(['http://127.0.0.1:4321', 'http://127.0.0.1:4321', '', '']);
    const real = compilePlan(
      configOf((c) => {
        delete c.providers[0].simulator;
        c.providers[0].base_url = 'https://api.example.com/v1';
      }),
      { env: {} },
    ).providers.get('sim-openai')!;
    expect(real.apiKey).toBe('');
  });

  it('reads api_key_env from process.env by default', () => {
    const name = 'SWITCHYARD_TEST_COMPILE_KEY';
    process.env[name] = 'sk-from-process-env';
    try {
      const cfg = configOf((c) => (c.providers[0].api_key_env = name));
      expect(compilePlan(cfg, { providerBaseUrls: SIM_URL }).providers.get('sim-openai')!.apiKey).toBe('sk-from-process-env');
    } finally {
      delete process.env[name];
    }
  });

  it('splitBaseUrl handles ports, trailing slashes and rejects what an upstream URL must not carry', () => {
    expect(splitBaseUrl('p', 'http://127.0.0.1:9000/v1')).toEqual({ baseUrl: 'http://127.0.0.1:9000/v1', origin: 'http://127.0.0.1:9000', basePath: '/v1' });
    expect(splitBaseUrl('p', 'http://127.0.0.1:9000/')).toEqual({ baseUrl: 'http://127.0.0.1:9000', origin: 'http://127.0.0.1:9000', basePath: '' });
    expect(splitBaseUrl('p', 'https://api.openai.com/v1//')).toEqual({ baseUrl: 'https://api.openai.com/v1', origin: 'https://api.openai.com', basePath: '/v1' });
    expect(() => splitBaseUrl('p', 'not a url')).toThrow(/provider "p": base URL "not a url" is not a valid URL/);
    expect(() => splitBaseUrl('p', 'ftp://x/v1')).toThrow(/must be http/);
    expect(() => splitBaseUrl('p', 'https://user:pw@x/v1')).toThrow(/credentials/);
    expect(() => splitBaseUrl('p', 'https://x/v1?a=1')).toThrow(/query/);
  });

  it('compiles prefix routes, canary targets, route tenants, caches, prompts and key alias lists', () => {
    const cfg = configOf((c) => {
      c.tenants.push({ id: 'acme', name: 'Acme' });
      c.prompts = [{ name: 'greeting', versions: [{ version: 2 }] }];
      c.policies = [{ name: 'default-pii' }];
      c.routes[0].canary_share = 0.25;
      c.routes[0].canary_target = 'demo.chat.smart';
      c.routes[0].tenants = ['demo', 'acme'];
      c.routes[0].cache = { response: { ttl_s: 300 } };
      c.routes[0].prompt = { template: 'greeting', version: 2 };
      c.routes[0].safety_policy = 'default-pii';
      c.routes[0].require_scenario = true;
      c.routes.push({ ...structuredClone(c.routes[1]), alias: 'demo.*' });
      c.providers[0].models[0] = { name: 'gpt-4o-mini', input_usd_per_mtok: 0.2, output_usd_per_mtok: 0.8, context_tokens: 128000 };
      c.keys[0].aliases = ['demo.*'];
      c.keys[0].revoked = true;
      c.keys[0].key_sha256 = c.keys[0].key_sha256.toUpperCase();
      c.pools[0].replicas = 2;
      c.pools[0].gpu_hour_usd = 1.5;
    });
    const plan = compilePlan(cfg, { env: {}, providerBaseUrls: SIM_URL });
    const fast = plan.routes[0]!;
    expect(fast.canaryShare).toBe(0.25);
    expect(fast.canaryTargetIndex).toBe(1);
    expect(fast.tenants).toEqual(new Set(['demo', 'acme']));
    expect(fast.cache).toEqual({ response: { ttlS: 300, maxBytes: 16 * 1024 * 1024, stream: false } });
    expect(fast.prompt).toEqual({ template: 'greeting', version: 2 });
    expect(fast.safetyPolicy).toBe('default-pii');
    expect(fast.requireScenario).toBe(true);
    const wildcard = plan.routes[2]!;
    expect(wildcard.isPrefix).toBe(true);
    expect(plan.aliasTrie.lookup('demo.anything')).toBe(2);
    expect(plan.aliasTrie.lookup('demo.chat.fast')).toBe(0);
    // No cached price stated: cached input costs the same as input.
    expect(plan.providers.get('sim-openai')!.models.get('gpt-4o-mini')).toMatchObject({ cachedInputUsdPerMtok: 0.2, contextTokens: 128000 });
    const key = [...plan.keysByHash.entries()][0]!;
    expect(key[0]).toBe(key[0].toLowerCase());
    expect(key[1].aliases).toEqual(['demo.*']);
    expect(key[1].revoked).toBe(true);
    expect(plan.pools.get('maas-sim')).toMatchObject({ replicas: 2, gpuHourUsd: 1.5, maxBatch: 0 });
  });

  it('throws on a dangling reference in a hand-built config', () => {
    const cfg = configOf();
    const broken = { ...cfg, routes: [{ ...cfg.routes[0]!, pool_id: 'nope' }] };
    expect(() => compilePlan(broken, { providerBaseUrls: SIM_URL })).toThrow(/route "demo.chat.fast": unknown pool "nope"/);
  });
});

describe('compilePlan: limits', () => {
  it('gives every tenant, key and route limit its own dense slot, with its unit and error code', () => {
    const parsed = parseConfigText(
      DEFAULT_TEXT.replace('  - { id: demo, name: Demo }', '  - { id: demo, name: Demo, limits: { requests_per_minute: 100, budget_usd_per_day: 5 } }').replace(
        '    owner: team-demo\n',
        '    owner: team-demo\n    limits: { tokens_per_minute: 1000, concurrent_requests: 4, budget_usd_per_month: 0.01 }\n',
      ),
      'reference.yaml',
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const plan = compilePlan(parsed.config, { providerBaseUrls: new Map([['sim-openai', 'http://127.0.0.1:9/v1']]) });
    const tenant = plan.tenants.get('demo')!;
    expect(tenant.limits.map((l) => [l.limitName, l.unit, l.code, l.cell.kind, l.cell.capacity])).toEqual([
      ['rpm', 'requests', 'rate_limit_exceeded', 'rate', 100],
      ['budget_day', 'usd', 'budget_exceeded', 'budget', 5_000_000],
    ]);
    const key = [...plan.keysByHash.values()][0]!;
    expect(key.limits.map((l) => [l.limitName, l.cell.kind, l.cell.capacity, l.cell.period])).toEqual([
      ['tpm', 'rate', 1000, null],
      ['concurrency', 'concurrency', 4, null],
      ['budget_month', 'budget', 10_000, 'month'],
    ]);
    for (const r of plan.routes) expect(r.limits.map((l) => l.limitName)).toEqual(['rpm', 'tpm']);
    const slots = plan.limits.cells.map((c) => c.slot);
    expect(slots).toEqual(slots.map((_, i) => i));
    expect(plan.limits.cells).toHaveLength(2 + 3 + 2 * plan.routes.length);
    expect(plan.limits).toMatchObject({ store: 'shared', redisUrl: null, failureMode: 'closed', redisKeyPrefix: 'switchyard:', redisTimeoutMs: 250 });
  });
});
