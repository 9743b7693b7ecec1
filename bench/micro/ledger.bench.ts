// Micro-benchmark: what the ledger costs a request on the event loop — Ledger.write (copy a settled
// record's fields into a preallocated row, attempts as JSON text), and the fan-out beside the JSONL trace
// sink. The writer discards batches here: the insert itself runs off the request path (bench/ledger.ts).
// Run directly: `node dist/bench/micro/ledger.bench.js` (after `npm run build`).
import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { sampleTraceRecord } from '../support.js';
import { Ledger, type RowWriter } from '../../core/ledger/ledger.js';
import type { UsageRow } from '../../core/ledger/row.js';

const BATCH = 100;

class DiscardWriter implements RowWriter {
  rows = 0;
  insert(_rows: readonly UsageRow[], n: number): Promise<void> {
    this.rows += n;
    return Promise.resolve();
  }
}

export async function run(): Promise<MicroResult[]> {
  const records = Array.from({ length: 64 }, (_, i) => sampleTraceRecord(i));
  const ledger = new Ledger(new DiscardWriter(), { intervalMs: 200, batchRows: 1024 });
  let k = 0;
  const bench = new Bench({ name: 'ledger', time: 300, warmupTime: 100 });
  bench.add('Ledger.write (copy a record into a batch row)', async () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) ledger.write(records[k++ & 63]!);
    const elapsed = bench.now() - start;
    await Promise.resolve();
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  });
  await bench.run();
  await ledger.close();
  return collect(bench);
}

await printIfMain(import.meta.url, run);
