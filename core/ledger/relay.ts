// Gateway threads (`serve --threads N`) do not open the ledger: SQLite wants one writer, and a thread
// serving requests should not block on a disk write. Each thread batches rows like any Ledger and posts
// every batch to the main thread (one structured clone per batch), which owns the store.

import type { TraceRecord, TraceSink } from '../telemetry/trace.js';
import type { RowWriter } from './ledger.js';
import { toColumns, type UsageRow } from './row.js';

export interface LedgerBatchMessage {
  type: 'ledger';
  /** One array per column (row.ts COLUMNS order), `n` values each. */
  cols: unknown[][];
  n: number;
}

/** Posts each batch as a columnar `{type: 'ledger', cols, n}` message (cloned synchronously, so rows can be reused). */
export class PostingRowWriter implements RowWriter {
  constructor(private readonly post: (message: LedgerBatchMessage) => void) {}

  insert(rows: readonly UsageRow[], n: number): Promise<void> {
    this.post({ type: 'ledger', cols: toColumns(rows, n), n });
    return Promise.resolve();
  }
}

/** One record to several sinks (the JSON-lines trace file and the ledger). */
export class FanoutTraceSink implements TraceSink {
  private readonly sinks: readonly TraceSink[];
  constructor(...sinks: TraceSink[]) {
    this.sinks = sinks;
  }
  write(record: TraceRecord): void {
    const s = this.sinks;
    for (let i = 0; i < s.length; i++) s[i]!.write(record);
  }
  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush()));
  }
  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}
