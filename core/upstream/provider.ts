// What the upstream client and translators know of a provider, compiled once from config.
import type { ModelPrice } from '../accounting/price.js';

export type ProviderKind = 'openai' | 'anthropic' | 'vllm' | 'batch';
export type ProviderApi = 'openai' | 'anthropic';

export interface ProviderContext {
  readonly name: string;
  readonly kind: ProviderKind;
  /** The API it speaks: picks the translator of each attempt (core/providers/registry.ts). */
  readonly api: ProviderApi;
  /** e.g. `http://127.0.0.1:9000/v1`; resolved at boot (in-process simulators get their loopback URL). */
  readonly baseUrl: string;
  /** `new URL(baseUrl).origin` and its path prefix, split once for the upstream client. */
  readonly origin: string;
  readonly basePath: string;
  /** The provider's key, read from `api_key_env` at boot; '' when none. Never sent anywhere but this provider. */
  readonly apiKey: string;
  readonly models: ReadonlyMap<string, ModelPrice>;
  /** Per-attempt deadline for one upstream call, ms. */
  readonly timeoutMs: number;
  /** Max keep-alive connections to this provider per gateway thread. */
  readonly connections: number;
}
