// The embedded ledger: SQLite through better-sqlite3, one file in the data folder. better-sqlite3 is
// synchronous, so one thread owns the file (with `serve --threads N` that is the main thread, which
// serves no requests; gateway threads post their batches to it). WAL lets `switchyard usage` read while
// the gateway writes; busy_timeout covers the moment a reader and the writer meet.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { COLUMNS, GROUP_COLUMNS, normalizeSince, totalsOf, UsageRow, type LedgerStore, type UsageQuery, type UsageTotals } from './row.js';

type Database = BetterSqlite3.Database;

export interface SqliteLedgerOptions {
  /** Open read-only (the `usage` command): no migrations, no writes. */
  readonly?: boolean;
}

export class SqliteLedgerStore implements LedgerStore {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  private readonly db: Database;
  private readonly insertStmt: BetterSqlite3.Statement | null;
  private readonly insertMany: ((rows: readonly UsageRow[], n: number) => void) | null;
  private readonly insertCols: ((cols: readonly unknown[][], n: number) => void) | null;
  private readonly values: unknown[] = new Array(COLUMNS.length);

  constructor(path: string, opts: SqliteLedgerOptions = {}) {
    this.location = path;
    const Ctor = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    if (!opts.readonly) mkdirSync(dirname(path), { recursive: true });
    this.db = new Ctor(path, { readonly: opts.readonly === true, fileMustExist: opts.readonly === true });
    this.db.pragma('busy_timeout = 5000');
    if (opts.readonly) {
      this.insertStmt = null;
      this.insertMany = null;
      this.insertCols = null;
      return;
    }
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed batch survives a process crash; only an OS crash can lose the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.migrateSync();
    this.insertStmt = this.db.prepare(`INSERT OR IGNORE INTO usage_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
    const stmt = this.insertStmt;
    const values = this.values;
    this.insertMany = this.db.transaction((rows: readonly UsageRow[], n: number) => {
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        for (let c = 0; c < COLUMNS.length; c++) {
          const v = r[COLUMNS[c]!];
          values[c] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
        }
        stmt.run(values);
      }
    });
    this.insertCols = this.db.transaction((cols: readonly unknown[][], n: number) => {
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < COLUMNS.length; c++) {
          const v = cols[c]![i];
          values[c] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
        }
        stmt.run(values);
      }
    });
  }

  /** Synchronous insert of a columnar batch (row.ts toColumns): the writer thread's path. */
  insertColumnsSync(cols: readonly unknown[][], n: number): void {
    if (this.insertCols === null) throw new Error('the ledger is open read-only');
    if (n > 0) this.insertCols(cols, n);
  }

  private migrateSync(): number {
    const db = this.db;
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const current = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.transaction(() => {
        db.exec(m.sqlite);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      }).immediate();
    }
    return this.versionSync();
  }

  private versionSync(): number {
    return (this.db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
  }

  async migrate(): Promise<number> {
    return this.insertMany === null ? this.versionSync() : this.migrateSync();
  }

  /** Synchronous insert (the writer thread's own path). */
  insertSync(rows: readonly UsageRow[], n: number): void {
    if (this.insertMany === null) throw new Error('the ledger is open read-only');
    if (n > 0) this.insertMany(rows, n);
  }

  async insert(rows: readonly UsageRow[], n: number): Promise<void> {
    this.insertSync(rows, n);
  }

  async usage(q: UsageQuery): Promise<UsageTotals[]> {
    const col = GROUP_COLUMNS[q.by];
    const since = normalizeSince(q.since);
    const sql =
      `SELECT ${col} AS k, COUNT(*) AS requests, SUM(input_tokens) AS i, SUM(cached_input_tokens) AS c, SUM(output_tokens) AS o, SUM(cost_usd) AS cost, SUM(failed_attempts_cost_usd) AS f ` +
      `FROM usage_events ${since === null ? '' : 'WHERE ts >= ? '}GROUP BY ${col} ORDER BY cost DESC, k`;
    const stmt = this.db.prepare(sql);
    const rows = (since === null ? stmt.all() : stmt.all(since)) as Array<Record<string, unknown>>;
    return rows.map((r) => totalsOf(r.k, r.requests, r.i, r.c, r.o, r.cost, r.f));
  }

  async events(opts: { since?: string | null; limit?: number } = {}): Promise<UsageRow[]> {
    const since = normalizeSince(opts.since);
    const limit = opts.limit ?? 1_000_000;
    const stmt = this.db.prepare(`SELECT ${COLUMNS.join(', ')} FROM usage_events ${since === null ? '' : 'WHERE ts >= ? '}ORDER BY ts, request_id LIMIT ?`);
    const rows = (since === null ? stmt.all(limit) : stmt.all(since, limit)) as Array<Record<string, unknown>>;
    return rows.map(fromSqlite);
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM usage_events').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function fromSqlite(r: Record<string, unknown>): UsageRow {
  const row = new UsageRow();
  for (const c of COLUMNS) (row as unknown as Record<string, unknown>)[c] = r[c];
  row.canary = r.canary === 1;
  row.tokens_estimated = r.tokens_estimated === 1;
  row.stream = r.stream === 1;
  return row;
}
