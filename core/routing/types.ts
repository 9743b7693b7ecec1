// The routing tables' types: lanes and pools, compiled once from config.
import type { ModelPrice } from '../accounting/price.js';
import type { ProviderContext } from '../upstream/provider.js';

export type Lane = 'direct_small' | 'direct_large' | 'agentic' | 'auto';
export type PoolKind = 'maas' | 'self_hosted' | 'batch';
export type FallbackCondition = 'timeout' | '5xx' | 'rate_limited' | 'queue_time_over_slo' | 'connection_error';

export interface PoolMember {
  readonly provider: ProviderContext;
  readonly model: string;
  readonly weight: number;
  readonly price: ModelPrice | null;
}

export interface PoolContext {
  readonly id: string;
  readonly kind: PoolKind;
  readonly members: readonly PoolMember[];
  /** Capacity model (self-hosted pools; used by simulators and replay). 0 when not stated. */
  readonly replicas: number;
  readonly maxBatch: number;
  readonly prefillTokensPerS: number;
  readonly decodeTokensPerS: number;
  readonly gpuHourUsd: number;
  /** Self-hosted pools: choose replicas by the request's prefix hash (selector.ts); false: least loaded only. Absent = true. */
  readonly prefixAffinity?: boolean;
  /** Batch pools: share taken off token prices (0..1; 0 when not stated). */
  readonly batchDiscount?: number;
}
