// Ledger stores for tests: SQLite in a temp dir, Postgres in a schema of its own per run (dropped after).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { SqliteLedgerStore } from '../../core/ledger/sqlite.js';
import { PostgresLedgerStore } from '../../core/ledger/postgres.js';
import { TraceRecord } from '../../core/telemetry/trace.js';
import type { LedgerStore } from '../../core/ledger/row.js';

export const PG_URL = process.env.SWITCHYARD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Null when Postgres answers at `url`, else why not. */
export async function postgresUnreachable(url = PG_URL): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await c.end().catch(() => {});
  }
}

export function uniqueSchema(): string {
  return `switchyard_test_${randomBytes(5).toString('hex')}`;
}

export interface StoreFixture {
  store: LedgerStore;
  /** Open a second connection to the same ledger (another process would). */
  reopen(): Promise<LedgerStore>;
  cleanup(): Promise<void>;
}

export async function sqliteFixture(): Promise<StoreFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-ledger-'));
  const path = join(dir, 'ledger.sqlite');
  const store = new SqliteLedgerStore(path);
  const opened: LedgerStore[] = [store];
  return {
    store,
    async reopen() {
      const s = new SqliteLedgerStore(path);
      opened.push(s);
      return s;
    },
    async cleanup() {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SQLite written from a worker thread (what a one-thread `serve` uses). Needs the build (dist/). */
export async function threadedSqliteFixture(): Promise<StoreFixture> {
  const { ThreadedSqliteLedgerStore } = await import('../../core/ledger/sqlite-thread.js');
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-ledger-'));
  const path = join(dir, 'ledger.sqlite');
  const store = await ThreadedSqliteLedgerStore.open(path);
  const opened: LedgerStore[] = [store];
  return {
    store,
    async reopen() {
      const s = new SqliteLedgerStore(path);
      opened.push(s);
      return s;
    },
    async cleanup() {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postgresFixture(): Promise<StoreFixture> {
  const schema = uniqueSchema();
  const store = new PostgresLedgerStore(PG_URL, { schema });
  await store.migrate();
  const opened: PostgresLedgerStore[] = [store];
  return {
    store,
    async reopen() {
      const s = new PostgresLedgerStore(PG_URL, { schema });
      await s.migrate();
      opened.push(s);
      return s;
    },
    async cleanup() {
      await store.dropSchema().catch(() => {});
      for (const s of opened) await s.close();
    },
  };
}

/** A settled request's trace record with every field set (values vary with `i`). */
export function sampleRecord(i: number, over: Partial<TraceRecord> = {}): TraceRecord {
  const r = new TraceRecord();
  r.request_id = `req_test_${i}`;
  r.ts = new Date(Date.UTC(2026, 10, 25, 12, 0, 0) + i * 1000).toISOString();
  r.tenant = i % 2 === 0 ? 'acme' : 'globex';
  r.key_id = `k-${i % 3}`;
  r.owner = `team-${i % 4}`;
  r.scenario_id = i % 5 === 0 ? '' : `scn-${i % 5}`;
  r.alias = i % 2 === 0 ? 'crm.summary.fast' : 'crm.summary.smart';
  r.route_lane = i % 2 === 0 ? 'direct_small' : 'direct_large';
  r.pool_id = i % 3 === 0 ? 'gpu-a' : 'maas-openai';
  r.provider = i % 3 === 0 ? 'vllm-a' : 'openai';
  r.model = 'gpt-4o-mini';
  r.prompt_version = i % 2 === 0 ? 3 : null;
  r.canary = i % 7 === 0;
  r.attempts = [
    { pool_id: r.pool_id, provider: r.provider, status: i % 4 === 0 ? 500 : 200, error_code: i % 4 === 0 ? 'upstream_error' : null, queue_time_ms: 1.5, latency_ms: 12.25, input_tokens: 100 + i, cached_input_tokens: i % 2 === 0 ? 64 : 0, output_tokens: 20 + (i % 10), cost_usd: (100 + i) * 0.15e-6 + (20 + (i % 10)) * 0.6e-6 },
  ];
  r.stop_reason = 'success';
  r.queue_time_ms = 1.5;
  r.ttft_ms = i % 3 === 0 ? null : 40.125;
  r.latency_ms = 100.5 + i;
  r.input_tokens = 100 + i;
  r.cached_input_tokens = i % 2 === 0 ? 64 : 0;
  r.output_tokens = 20 + (i % 10);
  r.tokens_estimated = i % 9 === 0;
  r.cost_usd = (100 + i) * 0.15e-6 + (20 + (i % 10)) * 0.6e-6;
  r.cache = 'bypass';
  r.policy_violations = i % 11 === 0 ? ['email:redact'] : [];
  r.status = 200;
  r.outcome = i % 6 === 0 ? 'quality_failure' : 'success';
  r.failed_check = i % 6 === 0 ? 'json_schema' : null;
  r.error_code = null;
  r.stream = i % 2 === 1;
  return Object.assign(r, over);
}
