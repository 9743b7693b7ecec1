import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfigFile, loadConfigFileSync, parseConfigText, validateConfig } from '../../../core/config/load.js';
import { patternsOverlap } from '../../../core/config/load.js';
import { SimulatorProfileSchema, type SimulatorProfileConfig } from '../../../core/config/schema.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../../fixtures/config/${name}`, import.meta.url));
const DEFAULT_PATH = fixture('reference.yaml');
const BAD_PATH = fixture('test-bad.yaml');
const DEFAULT_TEXT = readFileSync(DEFAULT_PATH, 'utf8');

/** A fresh, mutable copy of the default config as plain data. */
type Any = any;
const base = (): Any => YAML.parse(DEFAULT_TEXT);

/** Problems for a config object; fails the test if it validates. */
function problemsOf(data: unknown): string[] {
  const r = validateConfig(data);
  if (r.ok) throw new Error('expected problems, config validated');
  return r.problems;
}

/** The one config in the contract (CONTRACT.md), completed with what its references need. */
const CONTRACT_EXAMPLE = `
routes:
  - alias: crm.summary.fast
    use_case: Summarize a CRM note for an account manager
    owner: team-crm
    route_policy:
      lane: direct_small
      slo: { ttft_ms: 800, latency_ms: 4000 }
      budget: { max_cost_usd: 0.002 }
      fallback: [crm.summary.backup]
    canary_share: 0.05
    canary_target: crm.summary.next
    fallback_condition: [timeout, "5xx", rate_limited, queue_time_over_slo]
    pool_id: maas-openai
    queue_priority: 2
    latency_class: interactive
    allowed_providers: [openai, vllm-a]
    quota: { requests_per_minute: 600, tokens_per_minute: 200000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: default-pii
    trace_fields: [scenario_id, owner, prompt_version]
    prompt: { template: crm-summary, version: 3 }
    cache: { response: { ttl_s: 300 } }
  - &backup
    alias: crm.summary.backup
    use_case: Backup for crm.summary.fast
    owner: team-crm
    route_policy:
      lane: direct_large
      slo: { ttft_ms: 1500, latency_ms: 8000 }
      budget: { max_cost_usd: null }
      fallback: []
    canary_share: 0
    canary_target: null
    fallback_condition: []
    pool_id: gpu-a
    queue_priority: 1
    latency_class: standard
    allowed_providers: [vllm-a]
    quota: { requests_per_minute: 600, tokens_per_minute: 200000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: null
    trace_fields: []
    prompt: null
    require_scenario: true
    tenants: [acme]
  - <<: *backup
    alias: crm.summary.next
  - <<: *backup
    alias: crm.*

tenants:
  - { id: acme, name: Acme }
keys:
  - { id: k-acme-crm, tenant: acme, owner: team-crm, key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, aliases: [crm.*] }
providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY
    models:
      - { name: gpt-4o-mini, input_usd_per_mtok: 0.15, cached_input_usd_per_mtok: 0.075, output_usd_per_mtok: 0.6 }
  - name: vllm-a
    kind: vllm
    base_url: http://10.0.0.5:8000/v1
    models:
      - { name: llama-3.1-8b, input_usd_per_mtok: 0, output_usd_per_mtok: 0, context_tokens: 131072 }
pools:
  - id: maas-openai
    kind: maas
    members: [{ provider: openai, model: gpt-4o-mini, weight: 1 }]
  - id: gpu-a
    kind: self_hosted
    members: [{ provider: vllm-a, model: llama-3.1-8b }]
    replicas: 4
    max_batch: 64
    prefill_tokens_per_s: 20000
    decode_tokens_per_s: 60
    gpu_hour_usd: 2.5
policies:
  - name: default-pii
    input:  [{ detector: email, action: redact }, { detector: payment_card, action: block }]
    output: [{ detector: secret, action: block }]
    tools:  { allowed: [lookup_account, search_docs], side_effecting: [send_email], max_calls: 8 }
scenarios:
  - id: crm-summary
    owner: team-crm
    success: { within_slo: true, finish_reason: [stop], json_schema_valid: true, max_cost_usd: 0.002 }
prompts:
  - name: crm-summary
    versions: [{ version: 1 }, { version: 3 }]
limits: { store: shared, failure_mode: closed }
`;

describe('parseConfigText: valid configs', () => {
  it('accepts fixtures/config/reference.yaml and applies defaults', () => {
    const r = parseConfigText(DEFAULT_TEXT, 'reference.yaml');
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const c = r.config;
    expect(c.providers[0]!.timeout_ms).toBe(30000);
    expect(c.providers[0]!.connections).toBe(64);
    expect(c.providers[0]!.simulator).toEqual({ seed: 1 });
    expect(c.providers[0]!.base_url).toBeUndefined();
    expect(c.pools[0]!.members.map((m) => m.weight)).toEqual([1, 1]);
    expect(c.routes.map((x) => x.alias)).toEqual(['demo.chat.fast', 'demo.chat.smart']);
    expect(c.routes[0]!.require_scenario).toBe(false);
    expect(c.routes[0]!.tenants).toBeUndefined();
    expect(c.routes[0]!.canary_target).toBeNull();
    expect(c.routes[1]!.route_policy.budget.max_cost_usd).toBeNull();
    expect(c.keys[0]!.revoked).toBe(false);
    expect(c.server.max_body_bytes).toBe(1048576);
    expect(c.limits).toEqual({ failure_mode: 'closed', redis_key_prefix: 'switchyard:', redis_timeout_ms: 250 });
  });

  it('accepts the contract example, with anchors, merge keys and prefix aliases', () => {
    const r = parseConfigText(CONTRACT_EXAMPLE);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const routes = r.config.routes;
    expect(routes.map((x) => x.alias)).toEqual(['crm.summary.fast', 'crm.summary.backup', 'crm.summary.next', 'crm.*']);
    expect(routes[0]!.cache).toEqual({ response: { ttl_s: 300, max_bytes: 16 * 1024 * 1024, stream: false } });
    expect(routes[2]!.require_scenario).toBe(true);
    expect(routes[3]!.tenants).toEqual(['acme']);
    expect(r.config.limits).toEqual({ store: 'shared', failure_mode: 'closed', redis_key_prefix: 'switchyard:', redis_timeout_ms: 250 });
    expect(r.config.policies[0]!.tools?.max_calls).toBe(8);
  });

  it('loadConfigFile and loadConfigFileSync read the default config', async () => {
    const a = await loadConfigFile(DEFAULT_PATH);
    const b = loadConfigFileSync(DEFAULT_PATH);
    expect(a.ok).toBe(true);
    expect(b).toEqual(a);
  });

  it('server defaults when absent; tenants, keys and other optional sections default to empty', () => {
    const c = base();
    delete c.server;
    delete c.scenarios;
    delete c.prompts;
    delete c.policies;
    delete c.keys;
    delete c.tenants;
    const r = validateConfig(c);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.server.max_body_bytes).toBe(1048576);
    expect(r.config.server.unknown_scenario).toBe('accept');
    expect(r.config.routes[0]!.retry_on).toEqual([]);
    expect(r.config.keys).toEqual([]);
    expect(r.config.tenants).toEqual([]);
  });
});

describe('parseConfigText: YAML syntax', () => {
  it('reports a syntax error with its line and column', () => {
    const r = parseConfigText('routes:\n  - alias: x\n    bad: [1, 2\n', 'broken.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.length).toBeGreaterThan(0);
    expect(r.problems[0]).toMatch(/^broken\.yaml: YAML syntax error: .+ \(line \d+, column \d+\)$/);
  });

  it('reports a duplicate mapping key instead of silently keeping the last one', () => {
    const r = parseConfigText('server: { max_body_bytes: 1 }\nserver: { max_body_bytes: 2 }\n', 'dup.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual(['dup.yaml: YAML syntax error: Map keys must be unique (line 2, column 1)']);
  });

  it('refuses an empty document and a non-mapping root', () => {
    const empty = parseConfigText('', 'e.yaml');
    expect(empty.ok === false && empty.problems[0]).toMatch(/^\(root\): config must be a YAML mapping.*got empty$/);
    const list = parseConfigText('- a\n- b\n');
    expect(list.ok === false && list.problems[0]).toMatch(/^\(root\): .*got a list$/);
  });

  it('appends the source line of each schema and cross-reference problem', () => {
    const text = DEFAULT_TEXT.replace('lane: direct_small', 'lane: fastest').replace('pool_id: maas-sim\n    queue_priority: 2', 'pool_id: nope\n    queue_priority: 2');
    const lines = text.split('\n');
    const laneLine = lines.findIndex((l) => l.includes('lane: fastest')) + 1;
    const poolLine = lines.findIndex((l) => l.includes('pool_id: nope')) + 1;
    const r = parseConfigText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      `routes.0.route_policy.lane: Invalid option: expected one of "direct_small"|"direct_large"|"agentic"|"auto" (line ${laneLine})`,
      `routes.1.pool_id: unknown pool "nope" (pools: maas-sim) (line ${poolLine})`,
    ]);
  });
});

describe('schema problems carry the field path', () => {
  const cases: Array<[string, (c: Any) => void, string]> = [
    ['bad lane', (c) => (c.routes[0].route_policy.lane = 'fastest'), 'routes.0.route_policy.lane: Invalid option: expected one of "direct_small"|"direct_large"|"agentic"|"auto"'],
    ['bad latency class', (c) => (c.routes[1].latency_class = 'slow'), 'routes.1.latency_class: Invalid option: expected one of "interactive"|"standard"|"batch"'],
    ['bad fallback condition', (c) => c.routes[0].fallback_condition.push('4xx'), 'routes.0.fallback_condition.4: Invalid option: expected one of "timeout"|"5xx"|"rate_limited"|"queue_time_over_slo"|"connection_error"'],
    ['canary_share above 1', (c) => (c.routes[0].canary_share = 1.5), 'routes.0.canary_share: Too big: expected number to be <=1'],
    ['canary_share negative', (c) => (c.routes[0].canary_share = -0.1), 'routes.0.canary_share: Too small: expected number to be >=0'],
    ['missing template field', (c) => delete c.routes[1].queue_priority, 'routes.1.queue_priority: required field is missing'],
    ['missing nested field', (c) => delete c.routes[0].route_policy.slo.ttft_ms, 'routes.0.route_policy.slo.ttft_ms: required field is missing'],
    ['canary_target must be stated (null is fine, absent is not)', (c) => delete c.routes[0].canary_target, 'routes.0.canary_target: required field is missing'],
    ['prompt must be stated', (c) => delete c.routes[0].prompt, 'routes.0.prompt: required field is missing'],
    ['non-integer priority', (c) => (c.routes[0].queue_priority = 1.5), 'routes.0.queue_priority: must be an integer'],
    ['string where a number is expected', (c) => (c.routes[0].quota.requests_per_minute = 'many'), 'routes.0.quota.requests_per_minute: Invalid input: expected number, received string'],
    ['null where not allowed', (c) => (c.routes[0].owner = null), 'routes.0.owner: Invalid input: expected string, received null'],
    ['alias with a space', (c) => (c.routes[0].alias = 'demo chat'), 'routes.0.alias: must be ASCII [A-Za-z0-9._:/-]+, optionally ending in .* (prefix pattern)'],
    ['non-ASCII alias', (c) => (c.routes[0].alias = 'démo.chat'), 'routes.0.alias: must be ASCII'],
    ['pattern in fallback', (c) => (c.routes[0].route_policy.fallback = ['demo.*']), 'routes.0.route_policy.fallback.0: must be an exact alias'],
    ['pattern as canary target', (c) => (c.routes[0].canary_target = 'demo.*'), 'routes.0.canary_target: must be an exact alias'],
    ['bad key hash', (c) => (c.keys[0].key_sha256 = '9f86d08'), 'keys.0.key_sha256: must be 64 hex characters (SHA-256 of the key)'],
    ['bad provider kind', (c) => (c.providers[0].kind = 'gemini'), 'providers.0.kind: Invalid option: expected one of "openai"|"anthropic"|"vllm"|"batch"'],
    ['bad base_url', (c) => (c.providers[0].base_url = 'ftp://example.com'), 'providers.0.base_url: must be an http:// or https:// URL'],
    ['bad api_key_env', (c) => (c.providers[0].api_key_env = 'OPENAI-KEY'), 'providers.0.api_key_env: must be an environment variable name'],
    ['empty models', (c) => (c.providers[0].models = []), 'providers.0.models: must list at least one model'],
    ['negative price', (c) => (c.providers[0].models[0].output_usd_per_mtok = -1), 'providers.0.models.0.output_usd_per_mtok: Too small: expected number to be >=0'],
    ['bad pool kind', (c) => (c.pools[0].kind = 'cloud'), 'pools.0.kind: Invalid option: expected one of "maas"|"self_hosted"|"batch"'],
    ['zero weight', (c) => (c.pools[0].members[0].weight = 0), 'pools.0.members.0.weight: Too small: expected number to be >0'],
    ['empty allowed_providers', (c) => (c.routes[0].allowed_providers = []), 'routes.0.allowed_providers: must list at least one provider'],
    ['bad require_scenario', (c) => (c.routes[0].require_scenario = 'yes'), 'routes.0.require_scenario: Invalid input: expected boolean, received string'],
    ['bad cache ttl', (c) => (c.routes[0].cache = { response: { ttl_s: 0 } }), 'routes.0.cache.response.ttl_s: Too small: expected number to be >0'],
    ['bad server', (c) => (c.server.max_body_bytes = 'big'), 'server.max_body_bytes: Invalid input: expected number, received string'],
    ['garbage scenario', (c) => (c.scenarios = [{ owner: 'x' }]), 'scenarios.0.id: required field is missing'],
    ['misspelled success check', (c) => (c.scenarios = [{ id: 's', success: { within_sla: true } }]), 'scenarios.0.success.within_sla: unknown field (did you mean "within_slo"?)'],
    ['bad finish_reason list', (c) => (c.scenarios = [{ id: 's', success: { finish_reason: 'stop' } }]), 'scenarios.0.success.finish_reason: Invalid input: expected array, received string'],
    ['negative cost ceiling', (c) => (c.scenarios = [{ id: 's', success: { max_cost_usd: -1 } }]), 'scenarios.0.success.max_cost_usd: Too small: expected number to be >=0'],
    ['duplicate scenario', (c) => (c.scenarios = [{ id: 's' }, { id: 's' }]), 'scenarios.1.id: duplicate scenario id'],
    ['bad unknown_scenario rule', (c) => (c.server.unknown_scenario = 'ignore'), 'server.unknown_scenario: Invalid option: expected one of "accept"|"refuse"'],
    ['bad retry_on', (c) => (c.routes[0].retry_on = ['timeout']), 'routes.0.retry_on.0: Invalid input: expected "quality_failure"'],
    ['garbage policy', (c) => (c.policies = [{ name: 'p', input: 'email' }]), 'policies.0.input: Invalid input: expected array, received string'],
    ['garbage prompt', (c) => (c.prompts = ['crm']), 'prompts.0: Invalid input: expected object, received string'],
    ['garbage limits', (c) => (c.limits = { failure_mode: 'sometimes' }), 'limits.failure_mode: Invalid option: expected one of "open"|"closed"'],
    ['section of the wrong type', (c) => (c.routes = { alias: 'x' }), 'routes: Invalid input: expected array, received object'],
  ];
  for (const [name, mutate, expected] of cases) {
    it(name, () => {
      const c = base();
      mutate(c);
      const problems = problemsOf(c);
      expect(problems.some((p) => p.startsWith(expected)), `${expected}\n in:\n${problems.join('\n')}`).toBe(true);
    });
  }

  it('reports an unknown field, with a suggestion for a near miss', () => {
    const c = base();
    c.routes[0].use_cse = c.routes[0].use_case;
    delete c.routes[0].use_case;
    c.routes[1].route_policy.fallbacks = [];
    c.zzz = 1;
    const problems = problemsOf(c);
    expect(problems).toContain('routes.0.use_cse: unknown field (did you mean "use_case"?)');
    expect(problems).toContain('routes.0.use_case: required field is missing');
    expect(problems).toContain('routes.1.route_policy.fallbacks: unknown field (did you mean "fallback"?)');
    expect(problems.find((p) => p.startsWith('zzz: unknown field'))).toMatch(/allowed: tenants, keys, providers, pools, routes/);
  });

  it('accepts the nullable template fields as null', () => {
    const c = base();
    c.routes[0].safety_policy = null;
    c.routes[0].prompt = null;
    c.routes[0].canary_target = null;
    c.routes[0].route_policy.budget.max_cost_usd = null;
    expect(validateConfig(c).ok).toBe(true);
  });
});

describe('simulator profile', () => {
  it('validates the full shape and exports its type', () => {
    const profile: SimulatorProfileConfig = {
      seed: 7,
      ttft_ms: 50,
      tokens_per_s: 80,
      output_tokens: { min: 10, max: 200 },
      error_rate: 0.1,
      errors: { rate_limited: 3, server_error: 1, unavailable: 1, timeout: 0.5, reset: 0.5, stream_cut: 1 },
      retry_after_s: 2,
    };
    expect(SimulatorProfileSchema.parse(profile)).toEqual(profile);
    expect(SimulatorProfileSchema.parse({ output_tokens: 42 })).toEqual({ output_tokens: 42 });
    const c = base();
    c.providers[0].simulator = profile;
    expect(validateConfig(c).ok).toBe(true);
  });

  it('rejects bad simulator values with paths', () => {
    const c = base();
    c.providers[0].simulator = { seed: 1.5, error_rate: 2, errors: { meltdown: 1 }, output_tokens: 'lots' };
    const problems = problemsOf(c);
    expect(problems).toContain('providers.0.simulator.seed: must be an integer');
    expect(problems).toContain('providers.0.simulator.error_rate: Too big: expected number to be <=1');
    expect(problems.some((p) => p.startsWith('providers.0.simulator.errors.meltdown: unknown field'))).toBe(true);
    expect(problems.some((p) => p.startsWith('providers.0.simulator.output_tokens: '))).toBe(true);
  });

  it('requires output_tokens.min <= max', () => {
    const c = base();
    c.providers[0].simulator = { output_tokens: { min: 50, max: 10 } };
    expect(problemsOf(c)).toEqual(['providers.0.simulator.output_tokens.max: must be >= min (50)']);
  });
});

describe('cross-reference problems', () => {
  const cases: Array<[string, (c: Any) => void, string]> = [
    ['route.pool_id names no pool', (c) => (c.routes[0].pool_id = 'maas-simm'), 'routes.0.pool_id: unknown pool "maas-simm" (did you mean "maas-sim"?)'],
    ['pool member names no provider', (c) => (c.pools[0].members[0].provider = 'openai'), 'pools.0.members.0.provider: unknown provider "openai" (providers: sim-openai)'],
    ['pool member model not listed by its provider', (c) => (c.pools[0].members[1].model = 'gpt-5'), 'pools.0.members.1.model: model "gpt-5" is not listed in provider "sim-openai"'],
    ['duplicate pool member', (c) => c.pools[0].members.push({ provider: 'sim-openai', model: 'gpt-4o' }), 'pools.0.members.2: duplicate member sim-openai/gpt-4o (first at pools.0.members.1)'],
    ['fallback names no alias', (c) => (c.routes[0].route_policy.fallback = ['demo.chat.smrt']), 'routes.0.route_policy.fallback.0: unknown alias "demo.chat.smrt" (did you mean "demo.chat.smart"?)'],
    ['fallback to itself', (c) => (c.routes[1].route_policy.fallback = ['demo.chat.smart']), 'routes.1.route_policy.fallback.0: a route cannot fall back to itself ("demo.chat.smart")'],
    ['canary_target names no alias', (c) => Object.assign(c.routes[0], { canary_share: 0.1, canary_target: 'demo.chat.next' }), 'routes.0.canary_target: unknown alias "demo.chat.next"'],
    ['canary_target is itself', (c) => Object.assign(c.routes[0], { canary_share: 0.1, canary_target: 'demo.chat.fast' }), 'routes.0.canary_target: a route cannot be its own canary ("demo.chat.fast")'],
    ['canary_share > 0 without canary_target', (c) => (c.routes[0].canary_share = 0.05), 'routes.0.canary_target: required when canary_share > 0 (canary_share is 0.05)'],
    ['allowed_providers names no provider', (c) => (c.routes[0].allowed_providers = ['sim-openai', 'anthropic']), 'routes.0.allowed_providers.1: unknown provider "anthropic" (providers: sim-openai)'],
    ['key.tenant names no tenant', (c) => (c.keys[0].tenant = 'acme'), 'keys.0.tenant: unknown tenant "acme" (tenants: demo)'],
    ['key alias pattern reaches no route', (c) => (c.keys[0].aliases = ['demo.chat.fast', 'crm.*']), 'keys.0.aliases.1: "crm.*" matches no configured route alias'],
    ['route tenant names no tenant', (c) => (c.routes[0].tenants = ['demo', 'acme']), 'routes.0.tenants.1: unknown tenant "acme" (tenants: demo)'],
    ['safety_policy names no policy', (c) => (c.routes[0].safety_policy = 'default-pii'), 'routes.0.safety_policy: unknown policy "default-pii" (no policies configured)'],
    ['prompt.template names no prompt', (c) => (c.routes[0].prompt = { template: 'greeting', version: 1 }), 'routes.0.prompt.template: unknown prompt "greeting" (no prompts configured)'],
    ['prompt version not listed', (c) => { c.prompts = [{ name: 'greeting', versions: [{ version: 1 }, { version: 2 }] }]; c.routes[0].prompt = { template: 'greeting', version: 3 }; }, 'routes.0.prompt.version: prompt "greeting" has no version 3 (versions: 1, 2)'],
    ['provider without base_url or simulator', (c) => delete c.providers[0].simulator, 'providers.0.base_url: required unless simulator is given'],
    ['ttft SLO above latency SLO', (c) => (c.routes[0].route_policy.slo = { ttft_ms: 9000, latency_ms: 8000 }), 'routes.0.route_policy.slo.ttft_ms: must not exceed latency_ms (8000)'],
    ['pool with no allowed provider', (c) => { c.providers.push({ name: 'other', kind: 'vllm', base_url: 'http://127.0.0.1:1/v1', models: [{ name: 'm', input_usd_per_mtok: 0, output_usd_per_mtok: 0 }] }); c.routes[0].allowed_providers = ['other']; }, 'routes.0.allowed_providers: no member of pool "maas-sim" is from an allowed provider (pool providers: sim-openai)'],
    ['duplicate alias', (c) => (c.routes[1].alias = 'demo.chat.fast'), 'routes.1.alias: duplicate alias "demo.chat.fast" (first at routes.0)'],
    ['duplicate tenant id', (c) => c.tenants.push({ id: 'demo', name: 'Again' }), 'tenants.1.id: duplicate tenant id "demo" (first at tenants.0)'],
    ['duplicate key id', (c) => c.keys.push({ ...c.keys[0], key_sha256: 'a'.repeat(64) }), 'keys.1.id: duplicate key id "k-demo" (first at keys.0)'],
    ['duplicate key hash (any case)', (c) => c.keys.push({ ...c.keys[0], id: 'k2', key_sha256: c.keys[0].key_sha256.toUpperCase() }), 'keys.1.key_sha256: duplicate key_sha256'],
    ['duplicate provider name', (c) => c.providers.push({ ...c.providers[0] }), 'providers.1.name: duplicate provider name "sim-openai" (first at providers.0)'],
    ['duplicate model name', (c) => c.providers[0].models.push({ ...c.providers[0].models[0] }), 'providers.0.models.2.name: duplicate model name "gpt-4o-mini" (first at providers.0.models.0)'],
    ['duplicate pool id', (c) => c.pools.push({ ...c.pools[0] }), 'pools.1.id: duplicate pool id "maas-sim" (first at pools.0)'],
    ['duplicate scenario id', (c) => (c.scenarios = [{ id: 's' }, { id: 's' }]), 'scenarios.1.id: duplicate scenario id "s" (first at scenarios.0)'],
    ['duplicate prompt name', (c) => (c.prompts = [{ name: 'p' }, { name: 'p' }]), 'prompts.1.name: duplicate prompt name "p" (first at prompts.0)'],
    ['duplicate policy name', (c) => (c.policies = [{ name: 'p' }, { name: 'p' }]), 'policies.1.name: duplicate policy name "p" (first at policies.0)'],
  ];
  for (const [name, mutate, expected] of cases) {
    it(name, () => {
      const c = base();
      mutate(c);
      const problems = problemsOf(c);
      expect(problems.some((p) => p.startsWith(expected)), `${expected}\n in:\n${problems.join('\n')}`).toBe(true);
    });
  }

  it('resolves references that exist: policy, prompt version, canary, route tenants, key aliases', () => {
    const c = base();
    c.policies = [{ name: 'default-pii', input: [{ detector: 'email', action: 'redact' }] }];
    c.prompts = [{ name: 'greeting', versions: [{ version: 1 }, { version: 2 }] }];
    c.routes[0].safety_policy = 'default-pii';
    c.routes[0].prompt = { template: 'greeting', version: 2 };
    c.routes[0].canary_share = 0.1;
    c.routes[0].canary_target = 'demo.chat.smart';
    c.routes[0].tenants = ['demo'];
    c.keys[0].aliases = ['demo.*', 'demo.chat.fast'];
    const r = validateConfig(c);
    expect(r.ok ? [] : r.problems).toEqual([]);
  });

  it('runs the cross-reference pass even when the schema pass failed elsewhere', () => {
    const c = base();
    c.routes[0].route_policy.lane = 'fastest'; // schema
    c.routes[1].pool_id = 'nope'; // cross-reference
    c.keys[0].tenant = 'nobody'; // cross-reference
    const problems = problemsOf(c);
    expect(problems).toHaveLength(3);
  });

  it('does not report a cross-reference for a value the schema already rejected', () => {
    const c = base();
    c.routes[0].pool_id = 42;
    expect(problemsOf(c)).toEqual(['routes.0.pool_id: Invalid input: expected string, received number']);
  });
});

describe('fixtures/config/test-bad.yaml', () => {
  it('reports every distinct mistake at once', async () => {
    const r = await loadConfigFile(BAD_PATH);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const withoutLines = r.problems.map((p) => p.replace(/ \(line \d+\)$/, ''));
    expect(withoutLines).toEqual([
      'tenants.1.id: duplicate tenant id "acme" (first at tenants.0)',
      'keys.0.tenant: unknown tenant "acmee" (did you mean "acme"?)',
      'keys.0.key_sha256: must be 64 hex characters (SHA-256 of the key)',
      'providers.0.base_url: required unless simulator is given',
      'pools.0.members.0.model: model "gpt-4o" is not listed in provider "openai" (its models: gpt-4o-mini)',
      'pools.1.members.0.provider: unknown provider "vllm-b" (did you mean "vllm-a"?)',
      'routes.0.route_policy.lane: Invalid option: expected one of "direct_small"|"direct_large"|"agentic"|"auto"',
      'routes.0.route_policy.fallback.0: unknown alias "crm.summary.backup" (aliases: crm.summary.fast)',
      'routes.0.canary_target: required when canary_share > 0 (canary_share is 0.05)',
      'routes.0.fallback_condition.1: Invalid option: expected one of "timeout"|"5xx"|"rate_limited"|"queue_time_over_slo"|"connection_error"',
      'routes.0.pool_id: unknown pool "maas-opnai" (did you mean "maas-openai"?)',
      'routes.0.allowed_providers.1: unknown provider "anthropic" (providers: openai, vllm-a)',
      'routes.0.safety_policy: unknown policy "default-pii" (no policies configured)',
      'routes.0.prompt.template: unknown prompt "crm-summary" (no prompts configured)',
      'routes.1.use_case: required field is missing',
      'routes.1.alias: duplicate alias "crm.summary.fast" (first at routes.0)',
      'routes.1.use_cse: unknown field (did you mean "use_case"?)',
      'routes.1.canary_share: Too big: expected number to be <=1',
    ]);
    // Every problem points at a line of the file, and the problems are in file order.
    const lines = r.problems.map((p) => Number(/\(line (\d+)\)$/.exec(p)?.[1]));
    expect(lines.every((n) => n > 0)).toBe(true);
    expect([...lines].sort((a, b) => a - b)).toEqual(lines);
  });

  it('a file that cannot be read is a problem, not an exception', async () => {
    const r = await loadConfigFile(fixture('does-not-exist.yaml'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/does-not-exist\.yaml: cannot read file: .*ENOENT/);
  });
});

describe('patternsOverlap', () => {
  it('follows the alias matching rules', () => {
    expect(patternsOverlap('a.b', 'a.b')).toBe(true);
    expect(patternsOverlap('a.b', 'a.c')).toBe(false);
    expect(patternsOverlap('a.*', 'a.b')).toBe(true);
    expect(patternsOverlap('a.b', 'a.*')).toBe(true);
    expect(patternsOverlap('a.*', 'a')).toBe(false);
    expect(patternsOverlap('a.*', 'ab.c')).toBe(false);
    expect(patternsOverlap('a.*', 'a.b.*')).toBe(true);
    expect(patternsOverlap('a.b.*', 'a.*')).toBe(true);
    expect(patternsOverlap('a.b.*', 'a.c.*')).toBe(false);
  });
});

describe('the demo config users run', () => {
  it('fixtures/config/default.yaml validates and compiles', () => {
    const r = parseConfigText(readFileSync(fixture('default.yaml'), 'utf8'), 'default.yaml');
    expect(r.ok ? [] : r.problems).toEqual([]);
  });
});

describe('batch pools and latency class', () => {
  it('a batch pool needs latency_class batch, and latency_class batch needs a batch pool', () => {
    const text = readFileSync(fixture('reference.yaml'), 'utf8').replace('latency_class: interactive', 'latency_class: batch');
    const r = parseConfigText(text, 'reference.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.some((p) => p.startsWith('routes.0.latency_class: batch needs a batch pool'))).toBe(true);
  });
});
