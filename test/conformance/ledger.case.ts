// The LedgerStore contract, run against every store (SQLite, Postgres) through the same cases, always
// through the batching Ledger the gateway uses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../core/ledger/ledger.js';
import { LATEST_VERSION } from '../../core/ledger/migrations.js';
import { UsageRow, type LedgerStore } from '../../core/ledger/row.js';
import { sampleRecord, type StoreFixture } from '../helpers/ledgers.js';
import type { TraceRecord } from '../../core/telemetry/trace.js';

function expectRowMatches(row: UsageRow, r: TraceRecord): void {
  const { attempts, policy_violations, failed_attempts_cost_usd, ...rest } = row;
  // Every attempt but the answering one (the last, when answered) is failed spend.
  const failed = r.status === 200 ? r.attempts.slice(0, -1) : r.attempts;
  expect(failed_attempts_cost_usd).toBeCloseTo(failed.reduce((n, a) => n + a.cost_usd, 0), 12);
  expect(rest).toEqual({
    request_id: r.request_id, ts: r.ts, tenant: r.tenant, key_id: r.key_id, owner: r.owner, scenario_id: r.scenario_id, alias: r.alias,
    route_lane: r.route_lane, pool_id: r.pool_id, provider: r.provider, model: r.model, prompt_version: r.prompt_version, canary: r.canary,
    stop_reason: r.stop_reason, queue_time_ms: r.queue_time_ms, ttft_ms: r.ttft_ms, latency_ms: r.latency_ms, input_tokens: r.input_tokens,
    cached_input_tokens: r.cached_input_tokens, output_tokens: r.output_tokens, tokens_estimated: r.tokens_estimated, cost_usd: r.cost_usd,
    cache: r.cache, status: r.status, outcome: r.outcome, failed_check: r.failed_check, error_code: r.error_code, stream: r.stream,
  });
  expect(JSON.parse(attempts)).toEqual(r.attempts);
  expect(JSON.parse(policy_violations)).toEqual(r.policy_violations);
}

export function ledgerStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`LedgerStore contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: LedgerStore;
    beforeAll(async () => {
      fx = await open();
      store = fx.store;
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    it('records its schema version in schema_migrations; migrating again changes nothing', async () => {
      expect(await store.migrate()).toBe(LATEST_VERSION);
      const again = await fx.reopen();
      expect(await again.migrate()).toBe(LATEST_VERSION);
    });

    it('round-trips every field of a trace record through the batching Ledger', async () => {
      const ledger = new Ledger(store, { intervalMs: 10_000 });
      const records = Array.from({ length: 12 }, (_, i) => sampleRecord(i));
      for (const r of records) ledger.write(r);
      expect(await store.count()).toBe(0); // batched: nothing written until the window ends or a flush
      await ledger.flush();
      const rows = await store.events();
      expect(rows).toHaveLength(12);
      const byId = new Map(rows.map((r) => [r.request_id, r]));
      for (const r of records) expectRowMatches(byId.get(r.request_id)!, r);
      expect(ledger.stats.written).toBe(12);
      // Idempotent: the same request ids again add nothing.
      for (const r of records) ledger.write(r);
      await ledger.flush();
      expect(await store.count()).toBe(12);
    });

    it('copies the record on write: changing it afterwards does not change the row', async () => {
      const ledger = new Ledger(store, { intervalMs: 10_000 });
      const r = sampleRecord(1000);
      ledger.write(r);
      r.input_tokens = 999_999;
      r.attempts.push({ pool_id: 'x', provider: 'x', status: 1, error_code: null, queue_time_ms: 0, latency_ms: 0, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, cost_usd: 0 });
      await ledger.flush();
      const rows = await store.events({ since: r.ts });
      const row = rows.find((x) => x.request_id === 'req_test_1000')!;
      expect(row.input_tokens).toBe(1100);
      expect(JSON.parse(row.attempts)).toHaveLength(1);
    });

    it('writes more rows than a batch holds, in several batches, losing none', async () => {
      const ledger = new Ledger(store, { intervalMs: 10_000, batchRows: 256 });
      const before = await store.count();
      for (let i = 0; i < 2_500; i++) ledger.write(sampleRecord(10_000 + i));
      await ledger.flush();
      expect(await store.count()).toBe(before + 2_500);
      expect(ledger.stats).toEqual({ written: 2_500, dropped: 0, failures: 0 });
    });

    it('totals by every --by dimension, and from --since on', async () => {
      const fresh = await open();
      try {
        const s = fresh.store;
        const ledger = new Ledger(s);
        const records = Array.from({ length: 40 }, (_, i) => sampleRecord(i));
        for (const r of records) ledger.write(r);
        await ledger.flush();
        const dims = { tenant: 'tenant', owner: 'owner', scenario: 'scenario_id', alias: 'alias', lane: 'route_lane', pool: 'pool_id', provider: 'provider' } as const;
        for (const [by, field] of Object.entries(dims)) {
          const got = await s.usage({ by: by as keyof typeof dims });
          const want = new Map<string, { requests: number; input: number; cached: number; output: number; cost: number }>();
          for (const r of records) {
            const k = String(r[field]);
            const w = want.get(k) ?? { requests: 0, input: 0, cached: 0, output: 0, cost: 0 };
            w.requests++;
            w.input += r.input_tokens;
            w.cached += r.cached_input_tokens;
            w.output += r.output_tokens;
            w.cost += r.cost_usd;
            want.set(k, w);
          }
          expect(got.map((g) => g.key).sort()).toEqual([...want.keys()].sort());
          for (const g of got) {
            const w = want.get(g.key)!;
            expect(g).toMatchObject({ requests: w.requests, input_tokens: w.input, cached_input_tokens: w.cached, output_tokens: w.output, total_tokens: w.input + w.output });
            expect(g.cost_usd).toBeCloseTo(w.cost, 12);
          }
          // Most expensive first.
          for (let i = 1; i < got.length; i++) expect(got[i - 1]!.cost_usd).toBeGreaterThanOrEqual(got[i]!.cost_usd);
        }
        const since = records[30]!.ts;
        const late = await s.usage({ by: 'tenant', since });
        expect(late.reduce((n, g) => n + g.requests, 0)).toBe(10);
        // A date alone is accepted; a bad one is refused with a clear message.
        expect((await s.usage({ by: 'tenant', since: '2026-11-25' })).reduce((n, g) => n + g.requests, 0)).toBe(40);
        await expect(s.usage({ by: 'tenant', since: 'yesterday-ish' })).rejects.toThrow(/--since: not an ISO date/);
      } finally {
        await fresh.cleanup();
      }
    });

    it('a second connection (another process) sees what the first wrote', async () => {
      const other = await fx.reopen();
      expect(await other.count()).toBe(await store.count());
    });
  });
}
