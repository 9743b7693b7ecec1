// A usage event: the ledger's row. The trace record's contract fields, flattened (attempts and policy
// violations as JSON text), copied out of the record when it is written so the record object never
// outlives its request.

import type { TraceRecord } from '../telemetry/trace.js';

/** Every field set in the constructor so all rows share one hidden class (V8); rows are reused. */
export class UsageRow {
  request_id = '';
  ts = '';
  tenant = '';
  key_id = '';
  owner = '';
  scenario_id = '';
  alias = '';
  route_lane = '';
  pool_id = '';
  provider = '';
  model = '';
  prompt_version: number | null = null;
  canary = false;
  /** JSON text of the attempts array. */
  attempts = '[]';
  stop_reason = '';
  queue_time_ms = 0;
  ttft_ms: number | null = null;
  latency_ms = 0;
  input_tokens = 0;
  cached_input_tokens = 0;
  output_tokens = 0;
  tokens_estimated = false;
  cost_usd = 0;
  cache = '';
  /** JSON text of the policy violations array. */
  policy_violations = '[]';
  status = 0;
  outcome = '';
  /** The scenario check that failed (null on success or error). */
  failed_check: string | null = null;
  error_code: string | null = null;
  stream = false;
  /** Of `cost_usd`, what the attempts that did not produce the answer cost (failed, re-asked). */
  failed_attempts_cost_usd = 0;
}

/** Column order of the table (and of the values of one row), the contract's field order. */
export const COLUMNS = [
  'request_id', 'ts', 'tenant', 'key_id', 'owner', 'scenario_id', 'alias', 'route_lane', 'pool_id', 'provider', 'model',
  'prompt_version', 'canary', 'attempts', 'stop_reason', 'queue_time_ms', 'ttft_ms', 'latency_ms', 'input_tokens',
  'cached_input_tokens', 'output_tokens', 'tokens_estimated', 'cost_usd', 'cache', 'policy_violations', 'status', 'outcome',
  'failed_check', 'error_code', 'stream', 'failed_attempts_cost_usd',
] as const satisfies ReadonlyArray<keyof UsageRow>;

const q = JSON.stringify;

function attemptsJson(r: TraceRecord): string {
  const a = r.attempts;
  if (a.length === 0) return '[]';
  let s = '[';
  for (let i = 0; i < a.length; i++) {
    const t = a[i]!;
    if (i > 0) s += ',';
    s +=
      '{"pool_id":' + q(t.pool_id) + ',"provider":' + q(t.provider) + ',"status":' + t.status + ',"error_code":' + q(t.error_code) +
      ',"queue_time_ms":' + t.queue_time_ms + ',"latency_ms":' + t.latency_ms + ',"input_tokens":' + t.input_tokens +
      ',"cached_input_tokens":' + t.cached_input_tokens + ',"output_tokens":' + t.output_tokens + ',"cost_usd":' + t.cost_usd + '}';
  }
  return s + ']';
}

/** Copy a trace record's fields into `row` (strings are shared, arrays become JSON text). */
export function copyRecord(r: TraceRecord, row: UsageRow): void {
  row.request_id = r.request_id;
  row.ts = r.ts;
  row.tenant = r.tenant;
  row.key_id = r.key_id;
  row.owner = r.owner;
  row.scenario_id = r.scenario_id;
  row.alias = r.alias;
  row.route_lane = r.route_lane;
  row.pool_id = r.pool_id;
  row.provider = r.provider;
  row.model = r.model;
  row.prompt_version = r.prompt_version;
  row.canary = r.canary;
  row.attempts = attemptsJson(r);
  row.stop_reason = r.stop_reason;
  row.queue_time_ms = r.queue_time_ms;
  row.ttft_ms = r.ttft_ms;
  row.latency_ms = r.latency_ms;
  row.input_tokens = r.input_tokens;
  row.cached_input_tokens = r.cached_input_tokens;
  row.output_tokens = r.output_tokens;
  row.tokens_estimated = r.tokens_estimated;
  row.cost_usd = r.cost_usd;
  row.cache = r.cache;
  row.policy_violations = r.policy_violations.length === 0 ? '[]' : q(r.policy_violations);
  row.status = r.status;
  row.outcome = r.outcome;
  row.failed_check = r.failed_check;
  row.error_code = r.error_code;
  row.stream = r.stream;
  // Every attempt but the one that answered (the last, when the request was answered) is spend that did
  // not produce the answer.
  const a = r.attempts;
  const failed = r.status === 200 ? a.length - 1 : a.length;
  let f = 0;
  for (let i = 0; i < failed; i++) f += a[i]!.cost_usd;
  row.failed_attempts_cost_usd = f;
}

/** Copy a row (or a plain object of the same fields, e.g. one posted by another thread) into `row`. */
export function copyRow(from: Readonly<UsageRow>, row: UsageRow): void {
  for (let i = 0; i < COLUMNS.length; i++) {
    const c = COLUMNS[i]!;
    (row as unknown as Record<string, unknown>)[c] = (from as unknown as Record<string, unknown>)[c];
  }
}

/**
 * Rows `[0, n)` as one array per column (COLUMNS order): what crosses between threads. Cloning a few
 * arrays of primitives costs 2-3× less than cloning as many objects (measured: ~2-5 µs against ~5-9 µs a row).
 */
export function toColumns(rows: readonly UsageRow[], n: number): unknown[][] {
  const cols = new Array<unknown[]>(COLUMNS.length);
  for (let c = 0; c < COLUMNS.length; c++) {
    const name = COLUMNS[c]!;
    const col = new Array<unknown>(n);
    for (let i = 0; i < n; i++) col[i] = rows[i]![name];
    cols[c] = col;
  }
  return cols;
}

/** Row `i` of a columnar batch into `row`. */
export function rowFromColumns(cols: readonly unknown[][], i: number, row: UsageRow): void {
  const r = row as unknown as Record<string, unknown>;
  for (let c = 0; c < COLUMNS.length; c++) r[COLUMNS[c]!] = cols[c]![i];
}

/**
 * Of a row's cost, what the attempts that did not produce the answer cost (failed or re-asked): every
 * attempt but the last when the request was answered (status 200), all of them otherwise. What the
 * scenarios report (core/scenarios/report.ts) calls `failed_attempts_cost_usd`.
 */
export function failedAttemptsCostUsd(row: Pick<UsageRow, 'attempts' | 'status'>): number {
  let attempts: Array<{ cost_usd?: unknown }>;
  try {
    attempts = JSON.parse(row.attempts) as Array<{ cost_usd?: unknown }>;
  } catch {
    return 0;
  }
  if (!Array.isArray(attempts)) return 0;
  const n = row.status === 200 ? attempts.length - 1 : attempts.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const c = attempts[i]?.cost_usd;
    if (typeof c === 'number') sum += c;
  }
  return sum;
}

/** `--by` names and the columns they group on. */
export const GROUP_COLUMNS = {
  tenant: 'tenant',
  owner: 'owner',
  scenario: 'scenario_id',
  alias: 'alias',
  lane: 'route_lane',
  pool: 'pool_id',
  provider: 'provider',
  outcome: 'outcome',
} as const;
export type GroupBy = keyof typeof GROUP_COLUMNS;

export function isGroupBy(s: string): s is GroupBy {
  return Object.prototype.hasOwnProperty.call(GROUP_COLUMNS, s);
}

/** One line of `switchyard usage`: totals of one group (the key is under the `--by` name). */
export interface UsageTotals {
  key: string;
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cost_usd: number;
  /** Of `cost_usd`, what failed or re-asked attempts cost. */
  failed_attempts_cost_usd: number;
}

export interface UsageQuery {
  by: GroupBy;
  /** ISO 8601 timestamp: only events at or after it. */
  since?: string | null;
}

/** Tokens a provider served for the gateway, as the gateway attributed them (coverage). */
export interface ProviderTokens {
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
}

/** Where rows are kept: SQLite (embedded) or Postgres. One contract suite covers both. */
export interface LedgerStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is (a file path, or the database with its schema), for messages. */
  readonly location: string;
  /** Apply the migrations not yet applied; resolves with the schema version. */
  migrate(): Promise<number>;
  /** Insert `rows[0..n)` in one transaction; a request id already present is skipped (idempotent). */
  insert(rows: readonly UsageRow[], n: number): Promise<void>;
  usage(q: UsageQuery): Promise<UsageTotals[]>;
  /** Events in time order (tests, exports); `limit` caps the count. */
  events(opts?: { since?: string | null; limit?: number }): Promise<UsageRow[]>;
  count(): Promise<number>;
  close(): Promise<void>;
}

/** An ISO time for `--since`: a date or date-time; throws with a clear message otherwise. */
export function normalizeSince(since: string | null | undefined): string | null {
  if (since == null || since === '') return null;
  const t = Date.parse(since);
  if (!Number.isFinite(t)) throw new Error(`--since: not an ISO date or date-time: '${since.slice(0, 60)}'`);
  return new Date(t).toISOString();
}

/** Sum of a group's row, numbers made numbers (Postgres returns bigint sums as strings). */
export function totalsOf(key: unknown, requests: unknown, input: unknown, cached: unknown, output: unknown, cost: unknown, failed: unknown = 0): UsageTotals {
  const i = Number(input ?? 0);
  const o = Number(output ?? 0);
  return {
    key: String(key ?? ''),
    requests: Number(requests ?? 0),
    input_tokens: i,
    cached_input_tokens: Number(cached ?? 0),
    output_tokens: o,
    total_tokens: i + o,
    cost_usd: Number(cost ?? 0),
    failed_attempts_cost_usd: Number(failed ?? 0),
  };
}
