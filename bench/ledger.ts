// `switchyard bench ledger [--rows N] [--seconds S] [--json]`: the usage ledger's numbers.
//   insert   events/s written through the batching Ledger into SQLite (temp file) and Postgres (a schema
//            of its own, dropped after; SWITCHYARD_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
//   loop     event-loop delay (p50/p99 of monitorEventLoopDelay) of an in-process gateway under load whose
//            requests need token counting (long prompts over a route's input budget bound) and whose
//            every request is recorded in a SQLite ledger: `offload` = the tokenizer in piscina workers for
//            long texts and SQLite written from a worker thread (what one-thread `serve` runs); `inline` =
//            both on the event loop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { Ledger, StoreLedger } from '../core/ledger/ledger.js';
import { SqliteLedgerStore } from '../core/ledger/sqlite.js';
import { ThreadedSqliteLedgerStore } from '../core/ledger/sqlite-thread.js';
import { PostgresLedgerStore } from '../core/ledger/postgres.js';
import type { LedgerStore } from '../core/ledger/row.js';
import { TokenCounter, INLINE_MAX_CHARS } from '../core/accounting/tokens.js';
import { Gateway, compilePlan, parseConfigText } from '../core/index.js';
import { startUwsServer } from '../transports/uws/server.js';
import { startConfiguredSimulators } from '../cli/serve.js';
import { sampleTraceRecord } from './support.js';
import { parseArgs } from '../cli/args.js';

export const LEDGER_USAGE = `usage: switchyard bench ledger [--rows N] [--seconds S] [--json]
  --rows N      rows per insert run (default 100000)
  --seconds S   seconds of load per event-loop run (default 5)
`;

const PG_URL = process.env.SWITCHYARD_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface InsertResult {
  store: string;
  rows: number;
  seconds: number;
  events_per_s: number;
  /** Time write() took on the caller's loop, per row (copy into the batch, and the insert when it is synchronous), ns. */
  write_ns: number;
}

async function insertRun(name: string, store: LedgerStore, rows: number): Promise<InsertResult> {
  const records = Array.from({ length: 256 }, (_, i) => sampleTraceRecord(i));
  const ledger = new Ledger(store, { intervalMs: 200, batchRows: 1024 });
  const t0 = performance.now();
  let writeMs = 0;
  for (let i = 0; i < rows; i++) {
    const r = records[i & 255]!;
    r.request_id = `req_bench_${name}_${i}`;
    const w0 = performance.now();
    ledger.write(r);
    writeMs += performance.now() - w0;
    // Let batches go out as they fill, as they would between requests.
    if ((i & 1023) === 1023) await new Promise((res) => setImmediate(res));
  }
  await ledger.flush();
  const seconds = (performance.now() - t0) / 1000;
  const counted = await store.count();
  if (counted !== rows) throw new Error(`${name}: ${counted} rows in the store, ${rows} written`);
  return { store: name, rows, seconds, events_per_s: rows / seconds, write_ns: (writeMs * 1e6) / rows };
}

const CONFIG = `
tenants: [{ id: demo, name: Demo }]
keys:
  - { id: k-demo, tenant: demo, owner: team-demo, key_sha256: 37cbfc183c342e976476530bb738059047143238dbbee2003f91b27a3d546483 }
providers:
  - name: sim
    kind: openai
    simulator: { seed: 3, output_tokens: 8 }
    models: [{ name: gpt-4o-mini, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 }]
pools:
  - { id: p, kind: maas, members: [{ provider: sim, model: gpt-4o-mini }] }
routes:
  - alias: long.prompts
    use_case: bench
    owner: team-demo
    route_policy: { lane: direct_large, slo: { ttft_ms: 5000, latency_ms: 30000 }, budget: { max_cost_usd: null }, fallback: [] }
    canary_share: 0
    canary_target: null
    fallback_condition: []
    pool_id: p
    queue_priority: 1
    latency_class: standard
    allowed_providers: [sim]
    quota: { requests_per_minute: 10000000, tokens_per_minute: 1000000000 }
    # The cheap bound (bytes ÷ 3) of a 24,000-character prompt exceeds 7,000 tokens: every request is counted.
    token_budget: { max_input_tokens: 7000, max_output_tokens: 64 }
    safety_policy: null
    trace_fields: [scenario_id]
    prompt: null
`;

interface LoopResult {
  mode: string;
  requests: number;
  rps: number;
  loop_p50_ms: number;
  loop_p99_ms: number;
  loop_max_ms: number;
}

function longPrompt(i: number): string {
  const words = ['account', 'renewal', 'invoice', 'quarter', 'region', 'contract', 'pipeline', 'forecast', 'customer', 'support'];
  let s = `case ${i}: `;
  let k = i;
  while (s.length < 24_000) {
    k = (k * 1103515245 + 12345) & 0x7fffffff;
    s += words[k % words.length] + (k % 7 === 0 ? '. ' : ' ');
  }
  return s;
}

async function loopRun(mode: 'offload' | 'inline', seconds: number, dataDir: string): Promise<LoopResult> {
  const parsed = parseConfigText(CONFIG, 'bench');
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const { urls, sims } = await startConfiguredSimulators(parsed.config, '127.0.0.1');
  const plan = compilePlan(parsed.config, { providerBaseUrls: urls });
  const path = join(dataDir, `loop-${mode}-${randomBytes(3).toString('hex')}.sqlite`);
  const ledger = new StoreLedger(mode === 'offload' ? await ThreadedSqliteLedgerStore.open(path) : new SqliteLedgerStore(path));
  const tokens = new TokenCounter(mode === 'offload' ? INLINE_MAX_CHARS : Number.POSITIVE_INFINITY);
  const gateway = new Gateway({ plan, traces: ledger, tokens, limits: null });
  const server = await startUwsServer(gateway, { port: 0 });
  const prompts = Array.from({ length: 32 }, (_, i) => JSON.stringify({ model: 'long.prompts', messages: [{ role: 'user', content: longPrompt(i) }] }));
  const agent = new Agent({ connections: 16 });
  const send = (i: number) =>
    request(server.url + '/v1/chat/completions', { method: 'POST', headers: { authorization: 'Bearer sk-switchyard-demo', 'content-type': 'application/json' }, body: prompts[i & 31], dispatcher: agent }).then((r) => r.body.text().then(() => r.statusCode));
  // Warm up (tokenizer tables, worker start, JIT), then measure.
  const warmup = Math.max(8, Math.min(64, Math.round(seconds * 16)));
  for (let i = 0; i < warmup; i++) await send(i);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let n = 0;
  let bad = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 16 }, async (_, c) => {
      for (let i = c; performance.now() < end; i += 16) {
        if ((await send(i)) !== 200) bad++;
        n++;
      }
    }),
  );
  h.disable();
  await agent.close();
  server.close();
  await gateway.upstream.destroy();
  await gateway.close();
  await ledger.close();
  await Promise.all(sims.map((s) => s.close()));
  if (bad > 0) throw new Error(`${mode}: ${bad} requests did not answer 200`);
  return { mode, requests: n, rps: n / seconds, loop_p50_ms: h.percentile(50) / 1e6, loop_p99_ms: h.percentile(99) / 1e6, loop_max_ms: h.max / 1e6 };
}

export async function runLedgerBench(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ['rows', 'seconds'], ['json', 'help']);
  if (a.has('help')) {
    process.stdout.write(LEDGER_USAGE);
    return 0;
  }
  const rows = Number(a.get('rows') ?? 100_000);
  const seconds = Number(a.get('seconds') ?? 5);
  const json = a.has('json');
  const log = (s: string) => process.stderr.write(s);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-ledger-'));
  const inserts: InsertResult[] = [];
  const loops: LoopResult[] = [];
  try {
    log('[bench ledger] insert: sqlite\n');
    const sqlite = new SqliteLedgerStore(join(dir, 'ledger.sqlite'));
    inserts.push(await insertRun('sqlite', sqlite, rows));
    await sqlite.close();
    log('[bench ledger] insert: sqlite, writes in a worker thread\n');
    const threaded = await ThreadedSqliteLedgerStore.open(join(dir, 'ledger-threaded.sqlite'));
    inserts.push(await insertRun('sqlite-thread', threaded, rows));
    await threaded.close();
    const schema = `switchyard_bench_${randomBytes(4).toString('hex')}`;
    const pg = new PostgresLedgerStore(PG_URL, { schema });
    try {
      await pg.migrate();
      log('[bench ledger] insert: postgres\n');
      inserts.push(await insertRun('postgres', pg, rows));
    } catch (err) {
      log(`[bench ledger] postgres skipped: ${(err as Error).message}\n`);
    } finally {
      await pg.dropSchema().catch(() => {});
      await pg.close();
    }
    // Alternate the two modes so machine noise lands on both.
    for (let round = 0; round < 2; round++) {
      for (const mode of ['offload', 'inline'] as const) {
        log(`[bench ledger] event loop under load: ${mode} (round ${round + 1})\n`);
        loops.push(await loopRun(mode, seconds, dir));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (json) {
    process.stdout.write(JSON.stringify({ suite: 'ledger', inserts, loops }) + '\n');
    return 0;
  }
  const out: string[] = [];
  out.push('store            rows   seconds   events/s  write() ns/row (on the caller\'s loop)');
  for (const r of inserts) out.push(`${r.store.padEnd(13)} ${String(r.rows).padStart(8)} ${r.seconds.toFixed(2).padStart(9)} ${Math.round(r.events_per_s).toLocaleString('en-US').padStart(10)} ${r.write_ns.toFixed(0).padStart(12)}`);
  out.push('');
  out.push('mode       requests   req/s   loop p50 ms  loop p99 ms  loop max ms');
  for (const l of loops) out.push(`${l.mode.padEnd(9)} ${String(l.requests).padStart(9)} ${l.rps.toFixed(0).padStart(7)} ${l.loop_p50_ms.toFixed(2).padStart(12)} ${l.loop_p99_ms.toFixed(2).padStart(12)} ${l.loop_max_ms.toFixed(2).padStart(12)}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
