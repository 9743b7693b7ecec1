// Which LimitStore a Plan asks for: Redis when configured (many processes and hosts), else shared
// memory (the threads of this process). The caller owns the store and closes it.
import type { LimitSettings } from './cells.js';
import type { LimitStore } from './store.js';
import { SharedLimitStore } from './shared-store.js';
import { RedisLimitStore } from './redis-store.js';

export interface LimitStoreOptions {
  /** A shared store's buffer made by another thread (`--threads`): attach to it instead of creating one. */
  sharedBuffer?: SharedArrayBuffer | null;
  /** Told (at most once a second) when a Redis store fails and the failure mode decides. */
  onFailure?: (err: Error) => void;
}

export function createLimitStore(settings: LimitSettings, opts: LimitStoreOptions = {}): LimitStore | null {
  if (settings.cells.length === 0) return null;
  if (settings.store === 'redis') {
    if (settings.redisUrl === null) throw new Error('limits.store is redis but no Redis URL is set (limits.redis_url or SWITCHYARD_REDIS_URL)');
    return new RedisLimitStore({
      url: settings.redisUrl,
      keyPrefix: settings.redisKeyPrefix,
      failureMode: settings.failureMode,
      commandTimeoutMs: settings.redisTimeoutMs,
      onFailure: opts.onFailure,
    });
  }
  // Spare cells let a reload add keys or tenants with limits without a new buffer.
  return opts.sharedBuffer != null ? SharedLimitStore.attach(opts.sharedBuffer) : SharedLimitStore.create(settings.cells.length + SPARE_CELLS);
}

export const SPARE_CELLS = 1024;

/**
 * Whether a reloaded Plan can keep using the store the running one uses: every existing cell keeps its
 * slot and meaning (new cells only at the end), and they all fit. Null when it can, else why not.
 */
export function reloadProblem(current: LimitSettings, next: LimitSettings, store: LimitStore | null): string | null {
  if (next.store !== current.store || next.redisUrl !== current.redisUrl || next.redisKeyPrefix !== current.redisKeyPrefix) {
    return 'the limits store settings changed';
  }
  if (store === null) return next.cells.length === 0 ? null : 'limits were added to a gateway started without any';
  for (let i = 0; i < current.cells.length; i++) {
    const a = current.cells[i]!;
    const b = next.cells[i];
    if (b === undefined || b.name !== a.name || b.kind !== a.kind) return `limit ${a.name} was removed or moved`;
  }
  if (store instanceof SharedLimitStore && next.cells.length > store.capacity) return 'more limits than the shared store was sized for';
  return null;
}

/** The stderr line a store failure writes (the store calls it at most once a second). */
export function limitFailureReporter(mode: 'open' | 'closed'): (err: Error) => void {
  return (err) => {
    const action = mode === 'open' ? 'admitting requests unchecked (failure_mode open)' : 'refusing requests with 503 (failure_mode closed)';
    process.stderr.write(`switchyard: limit store unavailable: ${err.message}; ${action}\n`);
  };
}
