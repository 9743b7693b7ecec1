// Limits as compiled from config: every limit of a tenant, key or route becomes one LimitCell with a
// dense slot, plus what its units are, so admission knows what to charge and settlement what to refund.
// config/ calls these builders at compile time; nothing here runs per request.
import type { LimitCell, LimitKind } from './store.js';

/** What one unit of a limit is. */
export type LimitUnit = 'requests' | 'tokens' | 'concurrency' | 'usd';

/** Which contract error a refusal by this limit is. */
export type LimitCode = 'rate_limit_exceeded' | 'quota_exceeded' | 'concurrency_limit_exceeded' | 'budget_exceeded';

export interface Limit {
  readonly cell: LimitCell;
  readonly unit: LimitUnit;
  readonly code: LimitCode;
  /** `tenant`, `key` or `route`, and the limit's short name (`rpm`, `tpm`, `concurrency`, `budget_day`, `budget_month`). */
  readonly scope: 'tenant' | 'key' | 'route';
  readonly limitName: string;
}

/** The limits a tenant or key may state in config. */
export interface LimitSetConfig {
  requests_per_minute?: number | undefined;
  tokens_per_minute?: number | undefined;
  concurrent_requests?: number | undefined;
  budget_usd_per_day?: number | undefined;
  budget_usd_per_month?: number | undefined;
}

const MINUTE_MS = 60_000;

/** Hands out dense slots while a Plan is compiled. */
export class CellAllocator {
  private readonly all: LimitCell[] = [];

  get cells(): readonly LimitCell[] {
    return this.all;
  }

  private cell(kind: LimitKind, capacity: number, windowMs: number, period: 'day' | 'month' | null, name: string): LimitCell {
    const c = Object.freeze({ slot: this.all.length, kind, capacity, windowMs, period, name });
    this.all.push(c);
    return c;
  }

  /** The cells of one tenant's or key's limit set (only the limits it states). */
  limitSet(scope: 'tenant' | 'key', id: string, set: LimitSetConfig | undefined): readonly Limit[] {
    const out: Limit[] = [];
    if (set === undefined) return Object.freeze(out);
    const base = `${scope}:${id}`;
    if (set.requests_per_minute !== undefined) {
      out.push(limit(this.cell('rate', set.requests_per_minute, MINUTE_MS, null, `${base}:rpm`), 'requests', 'rate_limit_exceeded', scope, 'rpm'));
    }
    if (set.tokens_per_minute !== undefined) {
      out.push(limit(this.cell('rate', set.tokens_per_minute, MINUTE_MS, null, `${base}:tpm`), 'tokens', 'quota_exceeded', scope, 'tpm'));
    }
    if (set.concurrent_requests !== undefined) {
      out.push(limit(this.cell('concurrency', set.concurrent_requests, 0, null, `${base}:concurrency`), 'concurrency', 'concurrency_limit_exceeded', scope, 'concurrency'));
    }
    if (set.budget_usd_per_day !== undefined) {
      out.push(limit(this.cell('budget', usdToMicro(set.budget_usd_per_day), 0, 'day', `${base}:budget_day`), 'usd', 'budget_exceeded', scope, 'budget_day'));
    }
    if (set.budget_usd_per_month !== undefined) {
      out.push(limit(this.cell('budget', usdToMicro(set.budget_usd_per_month), 0, 'month', `${base}:budget_month`), 'usd', 'budget_exceeded', scope, 'budget_month'));
    }
    return Object.freeze(out);
  }

  /** A route's `quota` (requests and tokens per minute). */
  routeQuota(alias: string, requestsPerMinute: number, tokensPerMinute: number): readonly Limit[] {
    const base = `route:${alias}`;
    return Object.freeze([
      limit(this.cell('rate', requestsPerMinute, MINUTE_MS, null, `${base}:rpm`), 'requests', 'rate_limit_exceeded', 'route', 'rpm'),
      limit(this.cell('rate', tokensPerMinute, MINUTE_MS, null, `${base}:tpm`), 'tokens', 'quota_exceeded', 'route', 'tpm'),
    ]);
  }
}

function limit(cell: LimitCell, unit: LimitUnit, code: LimitCode, scope: Limit['scope'], limitName: string): Limit {
  return Object.freeze({ cell, unit, code, scope, limitName });
}

/** USD → integer micro-USD, rounded up for charges (a budget never admits more than it says). */
export function usdToMicro(usd: number): number {
  return Math.ceil(usd * 1e6 - 1e-9);
}

/** How a Plan's limits are kept (compiled from the config's `limits` section). */
export interface LimitSettings {
  /** Every cell of this Plan, by slot (the shared store is sized by this). */
  readonly cells: readonly LimitCell[];
  readonly store: 'shared' | 'redis';
  readonly redisUrl: string | null;
  readonly redisKeyPrefix: string;
  readonly redisTimeoutMs: number;
  readonly failureMode: 'open' | 'closed';
}
