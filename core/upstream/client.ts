// HTTP client to providers: one undici Pool per provider origin (keep-alive), per-attempt deadline,
// abort propagated upstream. It knows nothing of APIs: translators build bodies, the pipeline decides.

import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { ProviderContext } from './provider.js';

/** The request's own object receives the response (undici's handler API: no promise or stream per call). */
export type UpstreamHandler = Dispatcher.DispatchHandler;
export type UpstreamController = Dispatcher.DispatchController;

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
   * POST `body` to `provider.basePath + path`; the response is delivered to `handler` chunk by chunk.
   * `headers` is a prebuilt, reused header object (the provider's auth). undici's header and body
   * timeouts bound each wait to the provider's timeout; the caller's own timer bounds the attempt.
   */
  dispatch(provider: ProviderContext, path: string, headers: Record<string, string>, body: string, handler: UpstreamHandler): void {
    if (this.closed) throw new Error('upstream client closed');
    this.pool(provider).dispatch(
      {
        method: 'POST',
        path: provider.basePath + path,
        headers,
        body,
        headersTimeout: provider.timeoutMs,
        bodyTimeout: provider.timeoutMs,
      },
      handler,
    );
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
