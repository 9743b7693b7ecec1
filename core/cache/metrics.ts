// Cache series of the contract's metric table: `switchyard_cache_lookups_total{alias,kind,result}`.
// kind `response`: the response cache's lookups (hit, miss, bypass) on routes that enable it.
// kind `prefix`: the provider's prefix cache, from the cached input tokens it reports per request
// (hit when any prompt token was served from its cache, else miss), and
// `switchyard_prefix_cache_tokens_total{alias,result}`: the prompt tokens themselves (hit: cached,
// miss: computed), for the token-weighted hit rate. Labels come from config only (the
// alias the client named, as configured) and are built once per Plan, by route index.
import type { Counter } from '../telemetry/metrics.js';

export const RESPONSE_HIT = 0;
export const RESPONSE_MISS = 1;
export const RESPONSE_BYPASS = 2;
const PREFIX_HIT = 3;
const PREFIX_MISS = 4;
const TOKENS_HIT = 5;
const TOKENS_MISS = 6;

export class CacheMetrics {
  /** Per route index: the five label sets above, then the two of the token counter. */
  private readonly labels: ReadonlyArray<ReadonlyArray<readonly string[]>>;

  constructor(
    private readonly counter: Counter,
    routes: ReadonlyArray<{ readonly alias: string }>,
    private readonly tokens: Counter | null = null,
  ) {
    this.labels = routes.map((r) =>
      Object.freeze([
        Object.freeze([r.alias, 'response', 'hit']),
        Object.freeze([r.alias, 'response', 'miss']),
        Object.freeze([r.alias, 'response', 'bypass']),
        Object.freeze([r.alias, 'prefix', 'hit']),
        Object.freeze([r.alias, 'prefix', 'miss']),
        Object.freeze([r.alias, 'hit']),
        Object.freeze([r.alias, 'miss']),
      ]),
    );
  }

  /** A response-cache lookup on route `routeIndex`: RESPONSE_HIT, RESPONSE_MISS or RESPONSE_BYPASS. */
  response(routeIndex: number, result: number): void {
    this.counter.inc(this.labels[routeIndex]![result]!);
  }

  /** A provider answer on route `routeIndex` that reported `cachedTokens` of `promptTokens` as cached. */
  prefix(routeIndex: number, cachedTokens: number, promptTokens = 0): void {
    const l = this.labels[routeIndex]!;
    this.counter.inc(l[cachedTokens > 0 ? PREFIX_HIT : PREFIX_MISS]!);
    if (this.tokens === null) return;
    if (cachedTokens > 0) this.tokens.inc(l[TOKENS_HIT]!, cachedTokens);
    if (promptTokens > cachedTokens) this.tokens.inc(l[TOKENS_MISS]!, promptTokens - cachedTokens);
  }
}
