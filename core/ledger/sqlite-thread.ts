// The SQLite ledger with its writes in a worker thread (core/workers/ledger-writer.ts): insert() posts
// the batch (columnar: row.ts toColumns) and resolves when the worker has committed it, so the serving
// thread pays a structured clone per batch instead of the SQLite transaction. Reads (usage, events) use a connection of this
// thread (WAL: readers never wait for the writer).
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { SqliteLedgerStore } from './sqlite.js';
import { toColumns, type LedgerStore, type UsageQuery, type UsageRow, type UsageTotals } from './row.js';

/** The compiled worker file (tests run from sources, workers always from dist/). */
function writerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.includes('/dist/') ? here : here.replace(/\/core\/ledger\/sqlite-thread\.ts$/, '/dist/core/ledger/sqlite-thread.js');
  return compiled.replace(/ledger\/sqlite-thread\.js$/, 'workers/ledger-writer.js');
}

export class ThreadedSqliteLedgerStore implements LedgerStore {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  private readonly worker: Worker;
  private readonly reader: SqliteLedgerStore;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private exited = false;

  private constructor(path: string, worker: Worker, reader: SqliteLedgerStore) {
    this.location = path;
    this.worker = worker;
    this.reader = reader;
    worker.on('message', (m: { type: string; seq?: number; message?: string }) => {
      const p = this.pending.get(m.seq!);
      if (p === undefined) return;
      this.pending.delete(m.seq!);
      if (m.type === 'done') p.resolve();
      else p.reject(new Error(m.message ?? 'ledger writer failed'));
    });
    worker.on('exit', () => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error('ledger writer thread ended'));
      this.pending.clear();
    });
  }

  /** Start the writer (it opens and migrates the file), then open this thread's read connection. */
  static async open(path: string): Promise<ThreadedSqliteLedgerStore> {
    const worker = new Worker(writerFile(), { workerData: { path } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (m: { type: string; message?: string }) => (m.type === 'ready' ? resolve() : reject(new Error(m.message))));
      worker.once('error', reject);
    });
    return new ThreadedSqliteLedgerStore(path, worker, new SqliteLedgerStore(path));
  }

  migrate(): Promise<number> {
    return this.reader.migrate();
  }

  insert(rows: readonly UsageRow[], n: number): Promise<void> {
    if (n === 0) return Promise.resolve();
    if (this.exited) return Promise.reject(new Error('ledger writer thread ended'));
    const seq = ++this.seq;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ type: 'cols', seq, cols: toColumns(rows, n), n });
    });
  }

  usage(q: UsageQuery): Promise<UsageTotals[]> {
    return this.reader.usage(q);
  }

  events(opts?: { since?: string | null; limit?: number }): Promise<UsageRow[]> {
    return this.reader.events(opts);
  }

  count(): Promise<number> {
    return this.reader.count();
  }

  async close(): Promise<void> {
    await this.reader.close();
    if (this.exited) return;
    const done = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ type: 'close' });
    await done;
  }
}
