// The batching Ledger: windows, retries when the store fails, bounded memory, close with a dead store.
import { describe, expect, it } from 'vitest';
import { Ledger, type RowWriter } from '../../../core/ledger/ledger.js';
import { PostingRowWriter, FanoutTraceSink, type LedgerBatchMessage } from '../../../core/ledger/relay.js';
import { UsageRow } from '../../../core/ledger/row.js';
import { MemoryTraceSink } from '../../../core/telemetry/trace.js';
import { sampleRecord } from '../../helpers/ledgers.js';

class MemoryWriter implements RowWriter {
  readonly ids: string[] = [];
  failNext = 0;
  calls = 0;
  async insert(rows: readonly UsageRow[], n: number): Promise<void> {
    this.calls++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('store down');
    }
    for (let i = 0; i < n; i++) this.ids.push(rows[i]!.request_id);
  }
}

describe('Ledger', () => {
  it('writes a batch when the window ends, without a flush', async () => {
    const w = new MemoryWriter();
    const l = new Ledger(w, { intervalMs: 20 });
    l.write(sampleRecord(1));
    l.write(sampleRecord(2));
    expect(w.ids).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(w.ids).toEqual(['req_test_1', 'req_test_2']);
    expect(w.calls).toBe(1);
  });

  it('writes a full batch at once', async () => {
    const w = new MemoryWriter();
    const l = new Ledger(w, { intervalMs: 60_000, batchRows: 4 });
    for (let i = 0; i < 4; i++) l.write(sampleRecord(i));
    await Promise.resolve();
    expect(w.ids).toHaveLength(4);
  });

  it('keeps and retries a batch the store refused, in order, losing nothing', async () => {
    const w = new MemoryWriter();
    const errors: string[] = [];
    const l = new Ledger(w, { intervalMs: 60_000, batchRows: 2, onError: (e, pending) => errors.push(`${e.message}:${pending}`) });
    w.failNext = 1;
    for (let i = 0; i < 5; i++) l.write(sampleRecord(i));
    expect(l.pendingRows).toBe(5);
    await l.close(5_000); // close retries quickly
    expect(w.ids).toEqual(['req_test_0', 'req_test_1', 'req_test_2', 'req_test_3', 'req_test_4']);
    expect(errors[0]).toMatch(/^store down:\d+$/);
    expect(l.stats).toEqual({ written: 5, dropped: 0, failures: 1 });
    l.write(sampleRecord(9)); // after close: refused
    expect(l.pendingRows).toBe(0);
  });

  it('bounds memory while the store is down: rows beyond maxPendingRows are dropped and counted', async () => {
    const w = new MemoryWriter();
    w.failNext = 1_000;
    const l = new Ledger(w, { intervalMs: 60_000, batchRows: 2, maxPendingRows: 6, onError: () => {} });
    for (let i = 0; i < 10; i++) l.write(sampleRecord(i));
    expect(l.pendingRows).toBe(6);
    expect(l.stats.dropped).toBe(4);
    await l.close(300); // gives up: the store never comes back
    expect(l.stats.dropped).toBe(10);
    expect(w.ids).toEqual([]);
  });

  it('counts tokens per provider (for coverage)', () => {
    const l = new Ledger(new MemoryWriter(), { intervalMs: 60_000 });
    l.write(sampleRecord(1)); // openai
    l.write(sampleRecord(2)); // openai
    l.write(sampleRecord(3)); // vllm-a
    expect(l.byProvider.get('openai')).toEqual({ requests: 2, input_tokens: 203, cached_input_tokens: 64, output_tokens: 43 });
    expect(l.byProvider.get('vllm-a')).toEqual({ requests: 1, input_tokens: 103, cached_input_tokens: 0, output_tokens: 23 });
  });

  it('gateway threads post batches; the owner writes them as rows', async () => {
    const messages: LedgerBatchMessage[] = [];
    const threadSide = new Ledger(new PostingRowWriter((m) => messages.push(structuredClone(m))), { intervalMs: 60_000 });
    threadSide.write(sampleRecord(1));
    threadSide.write(sampleRecord(2));
    await threadSide.flush();
    expect(messages).toHaveLength(1);
    const w = new MemoryWriter();
    const owner = new Ledger(w, { intervalMs: 60_000 });
    for (const m of messages) owner.writeColumns(m.cols, m.n);
    await owner.flush();
    expect(w.ids).toEqual(['req_test_1', 'req_test_2']);
  });

  it('fans one record out to several sinks', async () => {
    const a = new MemoryTraceSink();
    const w = new MemoryWriter();
    const l = new Ledger(w, { intervalMs: 60_000 });
    const f = new FanoutTraceSink(a, l);
    f.write(sampleRecord(5));
    await f.flush();
    expect(a.records).toHaveLength(1);
    expect(w.ids).toEqual(['req_test_5']);
    await f.close();
  });
});

describe('failedAttemptsCostUsd', () => {
  it('sums what the attempts that did not produce the answer cost', async () => {
    const { failedAttemptsCostUsd } = await import('../../../core/ledger/row.js');
    const attempts = JSON.stringify([{ cost_usd: 0.001 }, { cost_usd: 0.002 }, { cost_usd: 0.004 }]);
    expect(failedAttemptsCostUsd({ attempts, status: 200 })).toBeCloseTo(0.003, 12);
    expect(failedAttemptsCostUsd({ attempts, status: 502 })).toBeCloseTo(0.007, 12);
    expect(failedAttemptsCostUsd({ attempts: '[]', status: 500 })).toBe(0);
    expect(failedAttemptsCostUsd({ attempts: 'not json', status: 200 })).toBe(0);
  });
});
