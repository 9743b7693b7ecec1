// Cache series of the contract's metric table, through the gateway's metrics (core/telemetry/metrics.ts,
// whose `cacheLookup` keeps cells pre-indexed by route):
// - `switchyard_cache_lookups_total{alias,kind="response",result}`: the response cache's lookups (hit,
//   miss, bypass) on routes that enable it;
// - `switchyard_cache_lookups_total{alias,kind="prefix",result}`: the provider's prefix cache, from the
//   cached input tokens it reports per answer (hit when any prompt token came from its cache, else miss);
// - `switchyard_prefix_cache_tokens_total{alias,result}`: those prompt tokens themselves (hit: cached,
//   miss: computed), for the token-weighted hit rate; cells built once per Plan by route index.
// Labels come from config only: the alias the client named, as configured.
import type { Cell, GatewayMetrics, MetricRoute } from '../telemetry/metrics.js';

export const RESPONSE_HIT = 0;
export const RESPONSE_MISS = 1;
export const RESPONSE_BYPASS = 2;
const RESULTS = ['hit', 'miss', 'bypass'] as const;

export class CacheMetrics {
  /** Per route index: the token counter's hit and miss cells. */
  private readonly tokenCells: ReadonlyArray<readonly [Cell, Cell]>;
  private readonly routes: ReadonlyArray<{ readonly alias: string }>;

  constructor(
    private readonly metrics: GatewayMetrics,
    routes: ReadonlyArray<MetricRoute>,
  ) {
    this.routes = routes;
    this.tokenCells = routes.map((r) => [metrics.prefixCacheTokens.cell([r.alias, 'hit']), metrics.prefixCacheTokens.cell([r.alias, 'miss'])] as const);
  }

  /** A response-cache lookup on `route` (the alias the client named): RESPONSE_HIT, RESPONSE_MISS or RESPONSE_BYPASS. */
  response(route: MetricRoute, result: number): void {
    this.metrics.cacheLookup(route, 'response', RESULTS[result]!);
  }

  /** A provider answer on `route` that reported `cachedTokens` of `promptTokens` as cached. */
  prefix(route: MetricRoute, cachedTokens: number, promptTokens = 0): void {
    this.metrics.cacheLookup(route, 'prefix', cachedTokens > 0 ? 'hit' : 'miss');
    const cells = this.routes[route.index] === route ? this.tokenCells[route.index] : undefined;
    const miss = promptTokens > cachedTokens ? promptTokens - cachedTokens : 0;
    if (cells !== undefined) {
      cells[0].value += cachedTokens;
      cells[1].value += miss;
      return;
    }
    // A request from before a config reload: find the series by its labels.
    if (cachedTokens > 0) this.metrics.prefixCacheTokens.inc([route.alias, 'hit'], cachedTokens);
    if (miss > 0) this.metrics.prefixCacheTokens.inc([route.alias, 'miss'], miss);
  }
}
