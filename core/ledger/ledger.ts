// The Ledger: a TraceSink that turns each settled request's trace record into a usage row and writes
// rows in batches off the request path. write() copies the record's fields into a preallocated row
// (the record object is not held past the call), a timer or a full batch hands the batch to the writer,
// and batches are written one at a time, in order. A failed batch is kept and retried (bounded memory);
// close() flushes everything. A crash loses at most what is buffered: one batch window (intervalMs).

import { join } from 'node:path';
import type { TraceRecord, TraceSink } from '../telemetry/trace.js';
import { copyRecord, copyRow, rowFromColumns, UsageRow, type LedgerStore, type ProviderTokens } from './row.js';

/** Where batches go: a store, or (gateway threads) the thread that owns the store. */
export interface RowWriter {
  insert(rows: readonly UsageRow[], n: number): Promise<void>;
}

export interface LedgerOptions {
  /** Longest a row waits in memory before its batch is written (the crash-loss window). Default 200 ms. */
  intervalMs?: number;
  /** Rows per batch; a full batch is written at once. Default 1024. */
  batchRows?: number;
  /** Rows kept while the store fails (retried); beyond it new rows are dropped and counted. Default 200,000. */
  maxPendingRows?: number;
  /** Where write failures are reported (default: stderr). */
  onError?: (err: Error, pendingRows: number) => void;
}

export interface LedgerStats {
  /** Rows the writer accepted. */
  written: number;
  /** Rows dropped because the store failed for too long (maxPendingRows reached). */
  dropped: number;
  /** Failed batch writes (each retried). */
  failures: number;
}

interface Batch {
  rows: UsageRow[];
  n: number;
}

export class Ledger implements TraceSink {
  readonly stats: LedgerStats = { written: 0, dropped: 0, failures: 0 };
  /** Tokens attributed per provider since this ledger started (gateway coverage compares them). */
  readonly byProvider = new Map<string, ProviderTokens>();
  private readonly intervalMs: number;
  private readonly batchRows: number;
  private readonly maxPendingRows: number;
  private readonly onError: (err: Error, pendingRows: number) => void;
  private cur: Batch;
  private readonly queue: Batch[] = [];
  private readonly spare: Batch[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = 0;
  private writing = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly writer: RowWriter,
    opts: LedgerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 200;
    this.batchRows = opts.batchRows ?? 1024;
    this.maxPendingRows = opts.maxPendingRows ?? 200_000;
    this.onError = opts.onError ?? reportToStderr;
    this.cur = this.newBatch();
  }

  private newBatch(): Batch {
    const b = this.spare.pop();
    if (b !== undefined) return b;
    const rows = new Array<UsageRow>(this.batchRows);
    for (let i = 0; i < rows.length; i++) rows[i] = new UsageRow();
    return { rows, n: 0 };
  }

  /** TraceSink: one settled request. Copies what it needs; keeps no reference to `record`. */
  write(record: TraceRecord): void {
    if (this.closed) return;
    const row = this.slot();
    if (row === null) return;
    copyRecord(record, row);
    this.count(row);
    this.afterWrite();
  }

  /** A row from another thread (a plain object of the row's fields). */
  writeRow(from: Readonly<UsageRow>): void {
    if (this.closed) return;
    const row = this.slot();
    if (row === null) return;
    copyRow(from, row);
    this.count(row);
    this.afterWrite();
  }

  /** A columnar batch from another thread (row.ts toColumns). */
  writeColumns(cols: readonly unknown[][], n: number): void {
    for (let i = 0; i < n; i++) {
      if (this.closed) return;
      const row = this.slot();
      if (row === null) continue;
      rowFromColumns(cols, i, row);
      this.count(row);
      this.afterWrite();
    }
  }

  private slot(): UsageRow | null {
    if (this.queuedRows + this.cur.n >= this.maxPendingRows) {
      this.stats.dropped++;
      return null;
    }
    return this.cur.rows[this.cur.n]!;
  }

  private count(row: UsageRow): void {
    if (row.provider === '') return;
    let t = this.byProvider.get(row.provider);
    if (t === undefined) {
      t = { requests: 0, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0 };
      this.byProvider.set(row.provider, t);
    }
    t.requests++;
    t.input_tokens += row.input_tokens;
    t.cached_input_tokens += row.cached_input_tokens;
    t.output_tokens += row.output_tokens;
  }

  private afterWrite(): void {
    if (++this.cur.n >= this.batchRows) {
      this.rotate();
      return;
    }
    if (this.timer === null) {
      this.timer = setTimeout(ledgerTick, this.intervalMs, this);
      this.timer.unref();
    }
  }

  /** Move the current batch to the write queue and start writing. */
  private rotate(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.cur.n > 0) {
      this.queue.push(this.cur);
      this.queuedRows += this.cur.n;
      this.cur = this.newBatch();
    }
    this.pump();
  }

  private pump(): void {
    if (this.writing || this.retryTimer !== null) return;
    const b = this.queue[0];
    if (b === undefined) {
      const w = this.idleWaiters;
      if (w.length > 0) {
        this.idleWaiters = [];
        for (const f of w) f();
      }
      return;
    }
    this.writing = true;
    let p: Promise<void>;
    try {
      p = this.writer.insert(b.rows, b.n);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      () => this.written(b),
      (err: unknown) => this.failed(err),
    );
  }

  private written(b: Batch): void {
    this.writing = false;
    this.retryMs = 0;
    this.queue.shift();
    this.queuedRows -= b.n;
    this.stats.written += b.n;
    // Drop the references the rows hold (strings of finished requests), then recycle the batch.
    const rows = b.rows;
    for (let i = 0; i < b.n; i++) clearRow(rows[i]!);
    b.n = 0;
    if (this.spare.length < 4) this.spare.push(b);
    this.pump();
  }

  private failed(err: unknown): void {
    this.writing = false;
    this.stats.failures++;
    this.onError(err instanceof Error ? err : new Error(String(err)), this.queuedRows + this.cur.n);
    // Retry the same batch later (1 s, doubling to 30 s); rows keep accumulating up to maxPendingRows.
    this.retryMs = Math.min(30_000, this.retryMs === 0 ? 1000 : this.retryMs * 2);
    this.retryTimer = setTimeout(ledgerRetry, this.closed ? Math.min(this.retryMs, 250) : this.retryMs, this);
    if (!this.closed) this.retryTimer.unref();
  }

  /** @internal */ retry(): void {
    this.retryTimer = null;
    this.pump();
  }

  /** Rows buffered or queued, not yet written. */
  get pendingRows(): number {
    return this.queuedRows + this.cur.n;
  }

  /** Write out what is buffered; resolves when every row so far is written (or the writer keeps failing). */
  flush(): Promise<void> {
    this.rotate();
    if (this.queue.length === 0 && !this.writing) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Refuse further writes, write out everything, stop. With a store that keeps failing, gives up after
   * `deadlineMs` and reports how many rows were lost.
   */
  async close(deadlineMs = 10_000): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | null = null;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(resolve, deadlineMs, true);
    });
    const done = await Promise.race([this.flush().then(() => false), timedOut]);
    if (timer !== null) clearTimeout(timer);
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (done) {
      const lost = this.pendingRows;
      this.stats.dropped += lost;
      process.stderr.write(`switchyard: ledger closed with ${lost} rows not written (the store kept failing)\n`);
    }
  }
}

function ledgerTick(l: Ledger): void {
  void l.flush();
}

function ledgerRetry(l: Ledger): void {
  l.retry();
}

function clearRow(r: UsageRow): void {
  r.request_id = r.ts = r.tenant = r.key_id = r.owner = r.scenario_id = r.alias = r.route_lane = r.pool_id = r.provider = r.model = '';
  r.attempts = r.policy_violations = '[]';
  r.stop_reason = r.cache = r.outcome = '';
  r.error_code = null;
  r.failed_check = null;
}

function reportToStderr(err: Error, pending: number): void {
  process.stderr.write(`switchyard: ledger write failed (${pending} rows kept, retrying): ${err.message}\n`);
}

/** A store as a RowWriter that also closes it. */
export class StoreLedger extends Ledger {
  constructor(
    readonly store: LedgerStore,
    opts: LedgerOptions = {},
  ) {
    super(store, opts);
  }

  override async close(deadlineMs = 10_000): Promise<void> {
    await super.close(deadlineMs);
    await this.store.close();
  }
}

export interface OpenLedgerOptions {
  dataDir: string;
  /** `postgres://...`: the Postgres ledger; else SQLite in `dataDir`. */
  databaseUrl?: string | null;
  /** Postgres schema (default `public`). */
  schema?: string;
  /** Open for reading only (SQLite: the file must exist). */
  readonly?: boolean;
  /** SQLite: write from a worker thread (for a process that serves requests on this thread). */
  writerThread?: boolean;
}

export const SQLITE_FILE = 'ledger.sqlite';

export function sqlitePath(dataDir: string): string {
  return join(dataDir, SQLITE_FILE);
}

/** The configured store, migrated (SQLite in the data folder, or Postgres when a URL is given). */
export async function openLedgerStore(opts: OpenLedgerOptions): Promise<LedgerStore> {
  const url = opts.databaseUrl ?? '';
  if (url !== '') {
    if (!/^postgres(ql)?:\/\//.test(url)) throw new Error('SWITCHYARD_DATABASE_URL must be a postgres:// or postgresql:// URL');
    const { PostgresLedgerStore } = await import('./postgres.js');
    const store = new PostgresLedgerStore(url, opts.schema === undefined ? {} : { schema: opts.schema });
    try {
      if (!opts.readonly) await store.migrate();
    } catch (err) {
      await store.close();
      throw new Error(`ledger: cannot open Postgres ${store.location}: ${(err as Error).message}`);
    }
    return store;
  }
  const path = sqlitePath(opts.dataDir);
  try {
    if (opts.writerThread === true && opts.readonly !== true) {
      const { ThreadedSqliteLedgerStore } = await import('./sqlite-thread.js');
      return await ThreadedSqliteLedgerStore.open(path);
    }
    const { SqliteLedgerStore } = await import('./sqlite.js');
    return new SqliteLedgerStore(path, { readonly: opts.readonly === true });
  } catch (err) {
    throw new Error(`ledger: cannot open ${path}: ${(err as Error).message}`);
  }
}
