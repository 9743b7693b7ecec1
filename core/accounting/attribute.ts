// What one request cost, by the kind of pool that served it:
//   maas          tokens × the model's prices (cached input at the cached rate: cost.ts)
//   batch         the same, less the pool's batch discount (e.g. 0.5: the provider's batch API at half price)
//   self_hosted   with `gpu_hour_usd`: the GPU time the request used. A replica decodes up to `max_batch`
//                 sequences at once, so a request that held a batch slot for T ms used T ÷ max_batch of the
//                 GPU's time; T is the attempt's time at the replica minus its queue time (the replica's
//                 `x-queue-time-ms`). Idle capacity is the pool's overhead, not any request's.
//                 Without `gpu_hour_usd`: token prices, as for maas.
import type { PoolContext } from '../routing/types.js';
import type { ModelPrice } from './price.js';
import { costUsd } from './cost.js';

const MS_PER_HOUR = 3_600_000;

/** GPU milliseconds one request is charged for: its batch-slot time over the batch size. */
export function gpuMs(pool: PoolContext, attemptMs: number, queueMs: number): number {
  const slot = attemptMs - queueMs;
  return slot <= 0 ? 0 : slot / (pool.maxBatch > 0 ? pool.maxBatch : 1);
}

export function requestCostUsd(pool: PoolContext, price: ModelPrice | null, inputTokens: number, cachedInputTokens: number, outputTokens: number, attemptMs: number, queueMs: number): number {
  if (pool.kind === 'self_hosted' && pool.gpuHourUsd > 0) return (pool.gpuHourUsd * gpuMs(pool, attemptMs, queueMs)) / MS_PER_HOUR;
  const c = costUsd(price, inputTokens, cachedInputTokens, outputTokens);
  const d = pool.batchDiscount ?? 0;
  return pool.kind === 'batch' && d > 0 ? c * (1 - d) : c;
}

/** False when the gateway cannot price what the pool served (attribution is then incomplete: `price`). */
export function costKnown(pool: PoolContext, price: ModelPrice | null): boolean {
  return price !== null || (pool.kind === 'self_hosted' && pool.gpuHourUsd > 0);
}

/** JSON string content (escaped) back to text; the escaped text itself if it is not valid. */
export function unescapeJsonText(escaped: string): string {
  if (escaped.indexOf('\\') < 0) return escaped;
  try {
    return JSON.parse('"' + escaped + '"') as string;
  } catch {
    return escaped;
  }
}
