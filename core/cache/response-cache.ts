// The optional per-route response cache (`cache: { response: { ttl_s, max_bytes, stream } }`): an exact
// match on the canonical request, never shared across tenants.
//
// - Key: SHA-256 over the tenant, the route, the alias the client named and the canonical request the
//   gateway would send upstream (core/prompt: template parts, canonical messages and tools, forwarded
//   parameters in a fixed order) with `stream` left out, so a streamed and a plain request for the same
//   content meet. The tenant is in the key and in the entry (checked on a hit): a request of one tenant
//   can never be answered with another tenant's entry.
// - Value: the client body of a successful answer (the alias already in `model`; a streamed answer on a
//   route that replays streams is folded into one completion: capture.ts). A hit
//   returns those bytes unchanged — the same completion `id` too: it is the same completion, served
//   again; `x-request-id` and `x-switchyard-cache: hit` tell the requests apart.
// - Bounds: least recently used entries leave first when the route's `max_bytes` is reached; an entry
//   is never served after its `ttl_s`; an entry larger than `max_bytes` is not stored.
// - Per gateway thread: with `--threads N`, each thread has its own cache (a hit needs the same thread).
// Imports no other module of ours.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** What a route's cache settings look like (RouteContext.cache.response). */
export interface ResponseCacheSettings {
  readonly ttlS: number;
  readonly maxBytes: number;
  readonly stream: boolean;
}

export class CachedResponse {
  constructor(
    readonly tenant: string,
    readonly body: Buffer,
  ) {}
}

const SEP = '\u0000';

/** The cache key of a request: hex SHA-256 of tenant, route, alias and canonical request text. */
export function responseCacheKey(tenant: string, routeIndex: number, alias: string, canonicalRequest: string): string {
  return createHash('sha256').update(tenant + SEP + routeIndex + SEP + alias + SEP).update(canonicalRequest).digest('hex');
}

/** Clock for TTLs (tests pass their own). */
export interface CacheClock {
  now(): number;
}

/** One LRU per route that enables the response cache, by route index; built per Plan. */
export class ResponseCaches {
  private readonly byRoute: Array<LRUCache<string, CachedResponse> | null>;

  constructor(routes: ReadonlyArray<{ readonly cache: { readonly response: ResponseCacheSettings | null } }>, clock: CacheClock | null = null) {
    this.byRoute = routes.map((r) => {
      const s = r.cache.response;
      if (s === null) return null;
      return new LRUCache<string, CachedResponse>({
        maxSize: s.maxBytes,
        maxEntrySize: s.maxBytes,
        sizeCalculation: entrySize,
        ttl: Math.max(1, Math.round(s.ttlS * 1000)),
        ttlAutopurge: false,
        allowStale: false,
        updateAgeOnGet: false,
        ...(clock !== null ? { perf: clock, ttlResolution: 0 } : {}),
      });
    });
  }

  /** Whether route `routeIndex` has a response cache. */
  enabled(routeIndex: number): boolean {
    return this.byRoute[routeIndex] != null;
  }

  /** The cached body for `key`, or null (miss, expired, or — never expected — another tenant's entry). */
  get(routeIndex: number, key: string, tenant: string): Buffer | null {
    const c = this.byRoute[routeIndex];
    if (c == null) return null;
    const e = c.get(key);
    if (e === undefined || e.tenant !== tenant) return null;
    return e.body;
  }

  set(routeIndex: number, key: string, tenant: string, body: Buffer | string): void {
    const c = this.byRoute[routeIndex];
    if (c == null) return;
    c.set(key, new CachedResponse(tenant, typeof body === 'string' ? Buffer.from(body) : body));
  }

  /** Entries and bytes held by a route's cache (tests, debugging). */
  stats(routeIndex: number): { entries: number; bytes: number } {
    const c = this.byRoute[routeIndex];
    return c == null ? { entries: 0, bytes: 0 } : { entries: c.size, bytes: c.calculatedSize };
  }
}

function entrySize(v: CachedResponse, k: string): number {
  return v.body.length + k.length + v.tenant.length;
}
