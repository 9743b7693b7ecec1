// The compiled, frozen Plan: everything the request path looks up, built once from a validated config.
// A config reload builds a new Plan and swaps one reference; nothing here is rebuilt per request.

import type { AliasTrie } from '../routing/alias-trie.js';
import type { Limit, LimitSettings } from '../limits/cells.js';
import type { FallbackCondition, Lane, PoolContext } from '../routing/types.js';
import type { ProviderContext } from '../upstream/provider.js';
import type { Config } from './schema.js';
import type { CompiledPolicy, RouteSafety } from '../policy/policy.js';
import type { PromptTemplate } from '../prompt/templates.js';
import type { Scenario } from '../scenarios/scenarios.js';

export type LatencyClass = 'interactive' | 'standard' | 'batch';

// The compiled tables' parts are defined by the modules that use them (config/ builds them; they never
// import config/) and re-exported here, so the Plan reads as one type.
export type { ModelPrice } from '../accounting/price.js';
export type { ProviderContext, ProviderKind } from '../upstream/provider.js';
export type { FallbackCondition, Lane, PoolContext, PoolKind, PoolMember } from '../routing/types.js';
export type { LimitSettings } from '../limits/cells.js';
export type { PromptTemplate } from '../prompt/templates.js';

export interface RouteContext {
  /** Position in `Plan.routes`; what the alias trie returns. */
  readonly index: number;
  /** The alias as configured: exact (`crm.summary.fast`) or a prefix pattern (`team.*`). */
  readonly alias: string;
  readonly isPrefix: boolean;
  readonly useCase: string;
  readonly owner: string;
  readonly lane: Lane;
  readonly slo: { readonly ttftMs: number; readonly latencyMs: number };
  /** Per-request cost ceiling in USD; 0 = none. */
  readonly budgetMaxCostUsd: number;
  readonly fallback: readonly string[];
  /** `fallback` resolved once at compile time: indexes into `Plan.routes`, same order. */
  readonly fallbackIndices: readonly number[];
  readonly canaryShare: number;
  readonly canaryTarget: string | null;
  /** `canaryTarget` resolved at compile time: index into `Plan.routes`, or -1. */
  readonly canaryTargetIndex: number;
  readonly fallbackCondition: readonly FallbackCondition[];
  readonly pool: PoolContext;
  readonly queuePriority: number;
  readonly latencyClass: LatencyClass;
  readonly allowedProviders: readonly string[];
  readonly quota: { readonly requestsPerMinute: number; readonly tokensPerMinute: number };
  readonly tokenBudget: { readonly maxInputTokens: number; readonly maxOutputTokens: number };
  readonly safetyPolicy: string | null;
  /** `safetyPolicy` compiled (core/policy), with the route's metric labels; null = no policy (one check on the hot path). */
  readonly safety: RouteSafety | null;
  readonly traceFields: readonly string[];
  readonly prompt: { readonly template: string; readonly version: number } | null;
  /** `prompt` compiled (core/prompt/templates.ts); null when the route names none. */
  readonly template: PromptTemplate | null;
  readonly cache: { readonly response: { readonly ttlS: number; readonly maxBytes: number; readonly stream: boolean } | null };
  /** 400 missing_scenario_id when a request names none. */
  readonly requireScenario: boolean;
  /** `retry_on: [quality_failure]`: re-ask when a whole answer fails its scenario's quality checks. */
  readonly retryOnQuality: boolean;
  /** Tenants that may use this route; null = every tenant. */
  readonly tenants: ReadonlySet<string> | null;
  /** The route's quota as limit cells (requests and tokens per minute). */
  readonly limits: readonly Limit[];
}

export interface KeyRecord {
  readonly id: string;
  readonly tenant: string;
  readonly owner: string;
  /** 32 raw bytes of SHA-256(key). */
  readonly sha256: Buffer;
  /** Alias patterns this key may use (exact or `prefix.*`); null = every alias its tenant may use. */
  readonly aliases: readonly string[] | null;
  readonly revoked: boolean;
  /** The key's own limits (empty when it states none). */
  readonly limits: readonly Limit[];
}

export interface TenantRecord {
  readonly id: string;
  readonly name: string;
  readonly limits: readonly Limit[];
}

export interface ServerSettings {
  /** Largest request body accepted, bytes (413 above). */
  readonly maxBodyBytes: number;
  /** What a scenario id the config does not list gets: judged by status alone, or 400 unknown_scenario. */
  readonly unknownScenario: 'accept' | 'refuse';
  /** Hex SHA-256 of an admin key → its id (`/dashboard`). */
  readonly adminKeys: ReadonlyMap<string, string>;
}

export interface Plan {
  readonly routes: readonly RouteContext[];
  /** Exact aliases and prefix patterns as configured → route (what the trie resolves to by index). */
  readonly routesByAlias: ReadonlyMap<string, RouteContext>;
  readonly aliasTrie: AliasTrie;
  /** Hex SHA-256 of a key → its record. */
  readonly keysByHash: ReadonlyMap<string, KeyRecord>;
  readonly tenants: ReadonlyMap<string, TenantRecord>;
  readonly providers: ReadonlyMap<string, ProviderContext>;
  readonly pools: ReadonlyMap<string, PoolContext>;
  readonly server: ServerSettings;
  readonly limits: LimitSettings;
  /** Safety policies by name, compiled once (core/policy). */
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  /** Scenarios by id, with their compiled success criteria. */
  readonly scenarios: ReadonlyMap<string, Scenario>;
  /** The validated config this plan was compiled from (scenarios, prompts, policies, limits are read from it by their modules' builders). */
  readonly config: Config;
}
