// Cache series of the contract's metric table: `switchyard_cache_lookups_total{alias,kind,result}`.
// kind `response`: the response cache's lookups (hit, miss, bypass) on routes that enable it.
// kind `prefix`: the provider's prefix cache, from the cached input tokens it reports per request
// (hit when any prompt token was served from its cache, else miss). Labels come from config only (the
// alias the client named, as configured) and are built once per Plan, by route index.
import type { Counter } from '../telemetry/metrics.js';

export const RESPONSE_HIT = 0;
export const RESPONSE_MISS = 1;
export const RESPONSE_BYPASS = 2;
const PREFIX_HIT = 3;
const PREFIX_MISS = 4;

export class CacheMetrics {
  /** Per route index: the five label sets above. */
  private readonly labels: ReadonlyArray<ReadonlyArray<readonly string[]>>;

  constructor(
    private readonly counter: Counter,
    routes: ReadonlyArray<{ readonly alias: string }>,
  ) {
    this.labels = routes.map((r) =>
      Object.freeze([
        Object.freeze([r.alias, 'response', 'hit']),
        Object.freeze([r.alias, 'response', 'miss']),
        Object.freeze([r.alias, 'response', 'bypass']),
        Object.freeze([r.alias, 'prefix', 'hit']),
        Object.freeze([r.alias, 'prefix', 'miss']),
      ]),
    );
  }

  /** A response-cache lookup on route `routeIndex`: RESPONSE_HIT, RESPONSE_MISS or RESPONSE_BYPASS. */
  response(routeIndex: number, result: number): void {
    this.counter.inc(this.labels[routeIndex]![result]!);
  }

  /** A provider answer on route `routeIndex` that reported `cachedTokens` cached prompt tokens. */
  prefix(routeIndex: number, cachedTokens: number): void {
    this.counter.inc(this.labels[routeIndex]![cachedTokens > 0 ? PREFIX_HIT : PREFIX_MISS]!);
  }
}
