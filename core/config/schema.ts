// Zod schema of the whole YAML config (CONTRACT.md, "Config (YAML)"). Objects are strict so that a
// misspelt field is reported instead of silently ignored. This file checks shapes and types only;
// cross-references (a route's pool exists, a fallback names an alias, ...) are checked in load.ts.

import * as z from 'zod';

// ---- shared pieces ---------------------------------------------------------------------------------

/** Exact alias: ASCII `[A-Za-z0-9._:/-]+`. */
export const EXACT_ALIAS_RE = /^[A-Za-z0-9._:/-]+$/;
/** Alias pattern: an exact alias, or one followed by `.*` (every alias starting with `base.`). */
export const ALIAS_PATTERN_RE = /^[A-Za-z0-9._:/-]+(\.\*)?$/;

const MAX_ALIAS_LENGTH = 256;

const name = z.string().min(1, 'must not be empty');
const nonNegative = z.number().nonnegative();
const positive = z.number().positive();
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const share = z.number().min(0).max(1);

export const aliasPattern = z
  .string()
  .max(MAX_ALIAS_LENGTH)
  .regex(ALIAS_PATTERN_RE, 'must be ASCII [A-Za-z0-9._:/-]+, optionally ending in .* (prefix pattern)');

export const exactAlias = z
  .string()
  .max(MAX_ALIAS_LENGTH)
  .regex(EXACT_ALIAS_RE, 'must be an exact alias: ASCII [A-Za-z0-9._:/-]+ (no .* pattern)');

const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)');

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

// ---- enums -----------------------------------------------------------------------------------------

export const LANES = ['direct_small', 'direct_large', 'agentic', 'auto'] as const;
export const LATENCY_CLASSES = ['interactive', 'standard', 'batch'] as const;
export const PROVIDER_KINDS = ['openai', 'anthropic', 'vllm', 'batch'] as const;
export const POOL_KINDS = ['maas', 'self_hosted', 'batch'] as const;
/** The API a provider speaks (default: `anthropic` for kind anthropic, else `openai`). */
export const PROVIDER_APIS = ['openai', 'anthropic'] as const;
export const FALLBACK_CONDITIONS = ['timeout', '5xx', 'rate_limited', 'queue_time_over_slo', 'connection_error'] as const;

// ---- tenants and keys ------------------------------------------------------------------------------

/** Limits a tenant or a key may state; each is enforced before the provider is called. */
export const LimitSetSchema = z.strictObject({
  requests_per_minute: positiveInt.optional(),
  tokens_per_minute: positiveInt.optional(),
  concurrent_requests: positiveInt.optional(),
  budget_usd_per_day: z.number().positive().optional(),
  budget_usd_per_month: z.number().positive().optional(),
});

export const TenantSchema = z.strictObject({
  id: name,
  name: name,
  limits: LimitSetSchema.optional(),
});

export const KeySchema = z.strictObject({
  id: name,
  tenant: name,
  owner: name,
  key_sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (SHA-256 of the key)'),
  /** Alias patterns this key may use; absent = every alias its tenant may use. */
  aliases: z.array(aliasPattern).optional(),
  revoked: z.boolean().default(false),
  limits: LimitSetSchema.optional(),
});

// ---- providers -------------------------------------------------------------------------------------

export const ModelSchema = z.strictObject({
  name: name,
  // Optional when the config's price catalog (`pricing.catalog`) lists the model.
  input_usd_per_mtok: nonNegative.optional(),
  cached_input_usd_per_mtok: nonNegative.optional(),
  output_usd_per_mtok: nonNegative.optional(),
  context_tokens: positiveInt.optional(),
});

const errorWeight = nonNegative;

/** The in-process provider simulator a provider may ask for instead of a real base_url. */
export const SimulatorProfileSchema = z.strictObject({
  seed: z.number().int().optional(),
  ttft_ms: nonNegative.optional(),
  tokens_per_s: positive.optional(),
  output_tokens: z
    .union([nonNegativeInt, z.strictObject({ min: nonNegativeInt, max: nonNegativeInt })])
    .optional(),
  error_rate: share.optional(),
  errors: z
    .strictObject({
      rate_limited: errorWeight.optional(),
      server_error: errorWeight.optional(),
      unavailable: errorWeight.optional(),
      timeout: errorWeight.optional(),
      reset: errorWeight.optional(),
      stream_cut: errorWeight.optional(),
    })
    .optional(),
  retry_after_s: nonNegative.optional(),
});
export type SimulatorProfileConfig = z.output<typeof SimulatorProfileSchema>;

export const ProviderSchema = z.strictObject({
  name: name,
  kind: z.enum(PROVIDER_KINDS),
  api: z.enum(PROVIDER_APIS).optional(),
  /** Required unless `simulator` is given (checked in load.ts so it is reported alongside other problems). */
  base_url: httpUrl.optional(),
  api_key_env: envVarName.optional(),
  timeout_ms: positiveInt.default(30000),
  connections: positiveInt.default(64),
  models: z.array(ModelSchema).min(1, 'must list at least one model'),
  simulator: SimulatorProfileSchema.optional(),
  /** Gateway coverage: the provider's usage report (`{base_url}/organization/usage/completions`) and the key it wants. */
  usage_report: z.strictObject({ api_key_env: envVarName }).optional(),
});

// ---- pools -----------------------------------------------------------------------------------------

export const PoolMemberSchema = z.strictObject({
  provider: name,
  model: name,
  weight: positive.default(1),
});

export const PoolSchema = z.strictObject({
  id: name,
  kind: z.enum(POOL_KINDS),
  members: z.array(PoolMemberSchema).min(1, 'must list at least one member'),
  replicas: positiveInt.optional(),
  max_batch: positiveInt.optional(),
  prefill_tokens_per_s: positive.optional(),
  decode_tokens_per_s: positive.optional(),
  gpu_hour_usd: nonNegative.optional(),
  /** Self-hosted pools: prefer the replica that served the request's conversation prefix (default true). */
  prefix_affinity: z.boolean().default(true),
  batch_discount: z.number().min(0).max(1).optional(),
});

// ---- routes (the decision template) ----------------------------------------------------------------

export const RoutePolicySchema = z.strictObject({
  lane: z.enum(LANES),
  slo: z.strictObject({ ttft_ms: positive, latency_ms: positive }),
  budget: z.strictObject({ max_cost_usd: nonNegative.nullable() }),
  fallback: z.array(exactAlias),
});

export const RouteSchema = z.strictObject({
  alias: aliasPattern,
  use_case: name,
  owner: name,
  route_policy: RoutePolicySchema,
  canary_share: share,
  canary_target: exactAlias.nullable(),
  fallback_condition: z.array(z.enum(FALLBACK_CONDITIONS)),
  pool_id: name,
  queue_priority: nonNegativeInt,
  latency_class: z.enum(LATENCY_CLASSES),
  allowed_providers: z.array(name).min(1, 'must list at least one provider'),
  quota: z.strictObject({ requests_per_minute: positiveInt, tokens_per_minute: positiveInt }),
  token_budget: z.strictObject({ max_input_tokens: positiveInt, max_output_tokens: positiveInt }),
  safety_policy: name.nullable(),
  trace_fields: z.array(name),
  prompt: z.strictObject({ template: name, version: positiveInt }).nullable(),
  // optional
  cache: z
    .strictObject({
      /** Response cache: exact match on the canonical request, per tenant. */
      response: z
        .strictObject({
          ttl_s: positive,
          /** Bytes of cached bodies this route may hold (least recently used out first). */
          max_bytes: positiveInt.default(16 * 1024 * 1024),
          /** Replay a cached answer to a streaming request as SSE (otherwise streams bypass the cache). */
          stream: z.boolean().default(false),
        })
        .optional(),
    })
    .optional(),
  require_scenario: z.boolean().default(false),
  /** Re-ask (within the route's stop criteria) when a whole answer fails its scenario's quality checks. */
  retry_on: z.array(z.enum(['quality_failure'])).default([]),
  /** Tenant ids that may use the route; absent = every tenant. */
  tenants: z.array(name).optional(),
});

// ---- scenarios, prompts, policies, limits (loose for now: known fields typed, others allowed) -------

export const ScenarioSchema = z.strictObject({
  id: name,
  owner: name.optional(),
  description: z.string().optional(),
  /** The success criterion (core/scenarios/scenarios.ts); absent: judged by status alone. */
  success: z
    .strictObject({
      within_slo: z.boolean().optional(),
      finish_reason: z.array(name).optional(),
      json_schema_valid: z.boolean().optional(),
      tool_calls_valid: z.boolean().optional(),
      non_empty: z.boolean().optional(),
      max_cost_usd: nonNegative.optional(),
    })
    .optional(),
});

/** One version of a prompt template: its stable parts inline, or in a template file (`file`, relative to the config file). */
export const PromptVersionSchema = z.strictObject({
  version: positiveInt,
  description: z.string().optional(),
  file: z.string().min(1, 'must not be empty').optional(),
  system: z.string().optional(),
  tools: z
    .array(z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: name, description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }) }))
    .optional(),
  few_shot: z.array(z.looseObject({ role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']), content: z.string() })).optional(),
});

export const PromptSchema = z.looseObject({
  name: name,
  description: z.string().optional(),
  versions: z.array(PromptVersionSchema).optional(),
});

export const GUARD_DETECTORS = ['email', 'phone', 'payment_card', 'national_id', 'secret', 'credential', 'blocked_terms', 'regex'] as const;
export const GUARD_ACTIONS = ['block', 'redact', 'flag'] as const;

/** One guard: a detector and what to do when it matches (core/policy; cross-field rules in policyProblems). */
const guardRule = z.strictObject({
  detector: z.enum(GUARD_DETECTORS),
  action: z.enum(GUARD_ACTIONS),
  /** blocked_terms: the terms (case-insensitive, whole words). */
  terms: z.array(name).optional(),
  /** regex: the pattern (JavaScript syntax, `u` flag), its label in traces, its longest match. */
  pattern: z.string().optional(),
  name: z.string().optional(),
  max_length: positiveInt.max(4096).optional(),
});

export const PolicySchema = z.strictObject({
  name: name,
  input: z.array(guardRule).max(32).optional(),
  output: z.array(guardRule).max(32).optional(),
  /** Largest prompt (tokens) the policy lets through; larger is blocked with policy_violation. */
  max_input_tokens: positiveInt.optional(),
  tools: z
    .strictObject({
      /** Tools the model may call; absent = any (side_effecting ones still need approval). */
      allowed: z.array(name).optional(),
      /** Tools with side effects: called only when the request approves them (metadata.approved_tools). */
      side_effecting: z.array(name).optional(),
      max_calls: nonNegativeInt.optional(),
      /** JSON schema of each tool's arguments (else the request's own tool definition is used). */
      schemas: z.record(z.string(), z.union([z.record(z.string(), z.unknown()), z.boolean()])).optional(),
    })
    .optional(),
});

export const LimitsSchema = z.strictObject({
  /** Where limit state lives: `shared` (this process's threads) or `redis` (many processes and hosts;
   *  SWITCHYARD_REDIS_URL or `redis_url`). Default: redis when a Redis URL is set, else shared. */
  store: z.enum(['shared', 'redis']).optional(),
  redis_url: z.string().optional(),
  /** Prefix of every Redis key (gateways sharing limits use the same one). */
  redis_key_prefix: z.string().default('switchyard:'),
  /** How long a Redis call may take before the failure mode decides, ms. */
  redis_timeout_ms: positiveInt.default(250),
  /** What to do when the store is unreachable: refuse with 503 (`closed`, default) or admit and count (`open`). */
  failure_mode: z.enum(['open', 'closed']).default('closed'),
});

export const ServerSchema = z.strictObject({
  max_body_bytes: positiveInt.default(1048576),
  /** A scenario id the config does not list: judge it by status alone (`accept`) or refuse it (`refuse`: 400 unknown_scenario). */
  unknown_scenario: z.enum(['accept', 'refuse']).default('accept'),
  /** Keys for the operator's endpoints (`/dashboard` and its data): hex SHA-256 of each, like tenant keys. */
  admin_keys: z
    .array(z.strictObject({ id: name, key_sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (SHA-256 of the key)') }))
    .default([]),
});

// ---- the whole config ------------------------------------------------------------------------------

export const ConfigSchema = z.strictObject({
  tenants: z.array(TenantSchema).default([]),
  keys: z.array(KeySchema).default([]),
  providers: z.array(ProviderSchema),
  pools: z.array(PoolSchema),
  routes: z.array(RouteSchema),
  scenarios: z.array(ScenarioSchema).default([]),
  prompts: z.array(PromptSchema).default([]),
  policies: z.array(PolicySchema).default([]),
  limits: LimitsSchema.default({ failure_mode: 'closed', redis_key_prefix: 'switchyard:', redis_timeout_ms: 250 }),
  server: ServerSchema.default({ max_body_bytes: 1048576, unknown_scenario: 'accept', admin_keys: [] }),
  /** Price catalog (model list prices, batch discount), relative to the config file. */
  pricing: z.strictObject({ catalog: z.string().min(1).optional(), batch_discount: share.optional() }).optional(),
});

/** A validated config (defaults applied). */
export type Config = z.output<typeof ConfigSchema>;
/** What a config file may state (before defaults). */
export type ConfigInput = z.input<typeof ConfigSchema>;
export type TenantConfig = z.output<typeof TenantSchema>;
export type KeyConfig = z.output<typeof KeySchema>;
export type ModelConfig = z.output<typeof ModelSchema>;
export type ProviderConfig = z.output<typeof ProviderSchema>;
export type PoolMemberConfig = z.output<typeof PoolMemberSchema>;
export type PoolConfig = z.output<typeof PoolSchema>;
export type RoutePolicyConfig = z.output<typeof RoutePolicySchema>;
export type RouteConfig = z.output<typeof RouteSchema>;
export type ScenarioConfig = z.output<typeof ScenarioSchema>;
export type PromptConfig = z.output<typeof PromptSchema>;
export type PromptVersionConfig = z.output<typeof PromptVersionSchema>;
export type PolicyConfig = z.output<typeof PolicySchema>;
export type LimitsConfig = z.output<typeof LimitsSchema>;
export type ServerConfig = z.output<typeof ServerSchema>;
