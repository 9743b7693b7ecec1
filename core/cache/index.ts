// The gateway's caches for one Plan: the per-route response caches and the cache metrics' label sets.
// Rebuilt when the Plan changes (a reload starts the response caches empty).
import type { GatewayMetrics, MetricRoute } from '../telemetry/metrics.js';
import { CacheMetrics } from './metrics.js';
import { ResponseCaches, type CacheClock, type ResponseCacheSettings } from './response-cache.js';

export { CacheMetrics, RESPONSE_BYPASS, RESPONSE_HIT, RESPONSE_MISS } from './metrics.js';
export { ResponseCaches, responseCacheKey, type CacheClock } from './response-cache.js';
export { completionAsSse } from './replay.js';
export { NO_CACHE, NO_STORE, cacheDirectives } from './directives.js';
export { StreamCapture } from './capture.js';
export { ResponseLookup, lookupResponse } from './lookup.js';

export class GatewayCaches {
  readonly responses: ResponseCaches;
  readonly metrics: CacheMetrics;
  constructor(
    routes: ReadonlyArray<MetricRoute & { readonly cache: { readonly response: ResponseCacheSettings | null } }>,
    metrics: GatewayMetrics,
    clock: CacheClock | null = null,
  ) {
    this.responses = new ResponseCaches(routes, clock);
    this.metrics = new CacheMetrics(metrics, routes);
  }
}
