// HTTP client to providers: one undici Pool per provider origin (keep-alive), per-attempt deadline,
// abort propagated upstream. It knows nothing of APIs: translators build bodies, the pipeline decides.

import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { ProviderContext } from '../config/plan.js';

export type UpstreamResponse = Dispatcher.ResponseData;

/** Why an upstream call failed before a status line arrived (or while its body was read). */
export type UpstreamFailure = 'timeout' | 'connection' | 'aborted';

export class UpstreamClient {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  private pool(provider: ProviderContext): Pool {
    let pool = this.pools.get(provider.origin);
    if (pool === undefined) {
      pool = new Pool(provider.origin, {
        connections: provider.connections,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: Math.min(provider.timeoutMs, 10_000) },
      });
      this.pools.set(provider.origin, pool);
    }
    return pool;
  }

  /**
   * POST `body` to `provider.basePath + path`. `headers` is a prebuilt, reused header object (the
   * provider's auth); `signal` aborts the call (client gone, deadline). Timeouts: the caller's signal
   * carries the attempt deadline; undici's own header/body timeouts are set to the same bound.
   */
  post(provider: ProviderContext, path: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<UpstreamResponse> {
    if (this.closed) return Promise.reject(new Error('upstream client closed'));
    return this.pool(provider).request({
      method: 'POST',
      path: provider.basePath + path,
      headers,
      body,
      signal,
      headersTimeout: provider.timeoutMs,
      bodyTimeout: provider.timeoutMs,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }

  /** Close at once, cutting in-flight calls (shutdown after the drain deadline). */
  async destroy(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.destroy()));
  }
}

/** Classify a thrown upstream error. `deadlineHit` is set by the caller when its own timer fired. */
export function classifyUpstreamError(err: unknown, deadlineHit: boolean, clientGone: boolean): UpstreamFailure {
  if (clientGone) return 'aborted';
  if (deadlineHit) return 'timeout';
  const code = (err as { code?: string } | null)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  return 'connection';
}
