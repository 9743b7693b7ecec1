// The response-cache decision for one request, before its first attempt (the pipeline answers a hit and
// stores the answer of a miss; this decides which, and counts the lookup):
// - the route has no response cache → nothing (the trace's `cache` stays `bypass`, nothing is counted);
// - a streaming request on a route that does not replay streams, or `Cache-Control: no-store` → bypass;
// - `Cache-Control: no-cache` → bypass the lookup, store the fresh answer;
// - else the stored answer for (tenant, route, alias, canonical request without `stream`) → hit, or miss.
import type { ChatCompletionRequest } from '../schema/openai.js';
import type { Translator } from '../providers/translator.js';
import { STREAM_SUFFIX } from '../providers/openai/chat.js';
import { RESPONSE_BYPASS, RESPONSE_HIT, RESPONSE_MISS } from './metrics.js';
import { completionAsSse } from './replay.js';
import { responseCacheKey, type ResponseCacheSettings } from './response-cache.js';
import { NO_CACHE, NO_STORE, cacheDirectives } from './directives.js';
import type { GatewayCaches } from './index.js';
import type { MetricRoute } from '../telemetry/metrics.js';

/** What a lookup decided; one per request that reaches a route with a response cache. */
export class ResponseLookup {
  result: 'hit' | 'miss' | 'bypass' = 'bypass';
  /** Store the answer under this key ('' = do not store). */
  key = '';
  /** On a hit: the stored body, and for a streaming request its SSE replay. */
  body: Buffer | null = null;
  sse: string | null = null;
}

export interface LookupRoute {
  readonly index: number;
  readonly cache: { readonly response: ResponseCacheSettings | null };
}

/** Decide for `req` on `route` (see the header); true on a hit (`out.body`, and `out.sse` for a stream). */
export function lookupResponse(
  caches: GatewayCaches,
  route: LookupRoute,
  named: MetricRoute,
  tenant: string,
  alias: string,
  req: ChatCompletionRequest,
  translator: Translator,
  messagesJson: string,
  toolsJson: string | null,
  cacheControl: string,
  out: ResponseLookup,
): boolean {
  const settings = route.cache.response;
  if (settings === null) return false;
  const stream = req.stream === true;
  const directives = cacheDirectives(cacheControl);
  if ((stream && !settings.stream) || (directives & NO_STORE) !== 0) {
    caches.metrics.response(named, RESPONSE_BYPASS);
    out.result = 'bypass';
    return false;
  }
  let canonical = translator.buildBody(req, '', messagesJson, undefined, toolsJson);
  if (stream) canonical = canonical.slice(0, canonical.length - STREAM_SUFFIX.length - 1) + '}';
  out.key = responseCacheKey(tenant, route.index, alias, canonical);
  if ((directives & NO_CACHE) !== 0) {
    caches.metrics.response(named, RESPONSE_BYPASS);
    out.result = 'bypass';
    return false;
  }
  const body = caches.responses.get(route.index, out.key, tenant);
  const sse = body !== null && stream ? completionAsSse(body, req.stream_options?.include_usage === true) : null;
  if (body === null || (stream && sse === null)) {
    caches.metrics.response(named, RESPONSE_MISS);
    out.result = 'miss';
    return false;
  }
  caches.metrics.response(named, RESPONSE_HIT);
  out.result = 'hit';
  out.key = '';
  out.body = body;
  out.sse = sse;
  return true;
}
