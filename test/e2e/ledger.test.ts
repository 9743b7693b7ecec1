// The usage ledger end to end: 1,000 mixed requests through the gateway (openai SDK → uWS ingress →
// gateway → MaaS simulators) — plain and streamed, with and without include_usage, shared long prefixes
// (provider prefix cache), fallbacks after failed attempts, client-aborted streams and provider-cut
// streams — then, request by request, the ledger row against the simulators' own record of what they
// served, the cost against a hand computation from the price table, the provider usage report against
// the ledger (coverage), and `switchyard usage`. The same suite on SQLite and on Postgres.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parseConfigText, compilePlan, Gateway, MemoryTraceSink, type Plan } from '../../core/index.js';
import { FanoutTraceSink } from '../../core/ledger/relay.js';
import { StoreLedger } from '../../core/ledger/ledger.js';
import { CoverageMonitor } from '../../core/ledger/coverage.js';
import { SqliteLedgerStore } from '../../core/ledger/sqlite.js';
import type { LedgerStore, UsageRow } from '../../core/ledger/row.js';
import { startUwsServer } from '../../transports/uws/server.js';
import { startConfiguredSimulators } from '../../cli/serve.js';
import type { MaasRequestLogEntry, MaasSimulator } from '../../simulators/index.js';
import { DEMO_KEY, DEMO_KEY_SHA256, routeYaml } from '../helpers/stack.js';
import { PG_URL, postgresUnreachable, uniqueSchema } from '../helpers/ledgers.js';
import { PostgresLedgerStore } from '../../core/ledger/postgres.js';

const PRICE = { input: 0.15, cached: 0.075, output: 0.6 };
const N = 1_000;

const CONFIG = `
tenants: [{ id: demo, name: Demo }]
keys:
  - { id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }
providers:
  - name: good
    kind: openai
    timeout_ms: 5000
    simulator: { seed: 11, output_tokens: { min: 4, max: 24 } }
    models:
      - { name: gpt-4o-mini, input_usd_per_mtok: ${PRICE.input}, cached_input_usd_per_mtok: ${PRICE.cached}, output_usd_per_mtok: ${PRICE.output} }
  - name: flaky
    kind: openai
    timeout_ms: 5000
    simulator: { seed: 12, error_rate: 1, errors: { server_error: 1 } }
    models:
      - { name: gpt-4o-mini, input_usd_per_mtok: ${PRICE.input}, cached_input_usd_per_mtok: ${PRICE.cached}, output_usd_per_mtok: ${PRICE.output} }
pools:
  - { id: pool-good, kind: maas, members: [{ provider: good, model: gpt-4o-mini }] }
  - { id: pool-flaky, kind: maas, members: [{ provider: flaky, model: gpt-4o-mini }] }
limits: { failure_mode: closed }
routes:${routeYaml('ledger.chat', 'pool-good', { allowedProviders: ['good'], quota: '{ requests_per_minute: 100000, tokens_per_minute: 100000000 }', tokenBudget: '{ max_input_tokens: 100000, max_output_tokens: 512 }' })}${routeYaml('ledger.flaky', 'pool-flaky', { allowedProviders: ['flaky'], fallback: ['ledger.chat'], quota: '{ requests_per_minute: 100000, tokens_per_minute: 100000000 }', tokenBudget: '{ max_input_tokens: 100000, max_output_tokens: 512 }' })}
`;

/** A long shared system prompt (> 1,024 tokens by the simulator's rule): the provider caches it. */
const LONG_SYSTEM = Array.from({ length: 700 }, (_, i) => `policy${i % 37} clause`).join(' ');

type Kind = 'plain' | 'stream_usage' | 'stream_no_usage' | 'prefix' | 'fallback' | 'aborted' | 'cut' | 'no_scenario';
const KINDS: Kind[] = ['plain', 'stream_usage', 'plain', 'stream_no_usage', 'prefix', 'fallback', 'aborted', 'cut', 'prefix', 'no_scenario'];

interface Outcome {
  i: number;
  kind: Kind;
  requestId: string;
  status: number;
  /** What the client saw as usage (when it asked for it). */
  usage: OpenAI.CompletionUsage | null;
  sawUsageChunk: boolean;
}

function costByHand(input: number, cached: number, output: number): number {
  return ((input - cached) * PRICE.input + cached * PRICE.cached + output * PRICE.output) / 1e6;
}

async function one(client: OpenAI, i: number): Promise<Outcome> {
  const kind = KINDS[i % KINDS.length]!;
  const user = `u-${i}`;
  const metadata = kind === 'no_scenario' ? undefined : { scenario_id: `scn-${i % 3}` };
  const messages: OpenAI.ChatCompletionMessageParam[] =
    kind === 'prefix' ? [{ role: 'system', content: LONG_SYSTEM }, { role: 'user', content: `question ${i}` }] : [{ role: 'user', content: `request ${i}` + (kind === 'aborted' ? ' [sim:output_tokens=60] [sim:tokens_per_s=200]' : kind === 'cut' ? ' [sim:fault=stream_cut] [sim:output_tokens=30]' : '') }];
  const model = kind === 'fallback' ? 'ledger.flaky' : 'ledger.chat';
  const stream = kind === 'stream_usage' || kind === 'stream_no_usage' || kind === 'aborted' || kind === 'cut' || (kind === 'prefix' && i % 2 === 0);
  if (!stream) {
    const { data, response } = await client.chat.completions.create({ model, messages, user, metadata }).withResponse();
    return { i, kind, requestId: response.headers.get('x-request-id')!, status: response.status, usage: data.usage ?? null, sawUsageChunk: false };
  }
  const includeUsage = kind !== 'stream_no_usage' && kind !== 'aborted';
  const { data: s, response } = await client.chat.completions
    .create({ model, messages, user, metadata, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) })
    .withResponse();
  const out: Outcome = { i, kind, requestId: response.headers.get('x-request-id')!, status: response.status, usage: null, sawUsageChunk: false };
  try {
    for await (const chunk of s) {
      if (chunk.usage) {
        out.usage = chunk.usage;
        out.sawUsageChunk = true;
      }
      if (kind === 'aborted' && (chunk.choices[0]?.delta?.content ?? '') !== '') {
        s.controller.abort();
        break;
      }
    }
  } catch (err) {
    if (kind !== 'cut') throw err; // a cut stream ends in the gateway's terminal error event
  }
  return out;
}

interface Harness {
  gateway: Gateway;
  ledger: StoreLedger;
  store: LedgerStore;
  sims: MaasSimulator[];
  simByName: Map<string, MaasSimulator>;
  url: string;
  plan: Plan;
  startedAt: number;
  close(): Promise<void>;
}

async function startHarness(store: LedgerStore): Promise<Harness> {
  const parsed = parseConfigText(CONFIG, 'ledger-test');
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const { urls, sims } = await startConfiguredSimulators(parsed.config, '127.0.0.1');
  const simByName = new Map<string, MaasSimulator>();
  parsed.config.providers.forEach((p, i) => simByName.set(p.name, sims[i]!));
  const plan = compilePlan(parsed.config, { providerBaseUrls: urls });
  const ledger = new StoreLedger(store, { intervalMs: 100 });
  const gateway = new Gateway({ plan, traces: new FanoutTraceSink(new MemoryTraceSink(), ledger) });
  const server = await startUwsServer(gateway, { port: 0 });
  return {
    gateway, ledger, store, sims, simByName, url: server.url, plan, startedAt: Date.now(),
    async close() {
      await server.close();
      await gateway.upstream.destroy();
      await gateway.close();
      await ledger.close();
      await Promise.all(sims.map((x) => x.close()));
    },
  };
}

function mixedSuite(name: string, open: () => Promise<{ store: LedgerStore; cleanup(): Promise<void>; dataDir: string | null }>): void {
  describe(`ledger under 1,000 mixed requests: ${name}`, () => {
    let h: Harness;
    let fx: Awaited<ReturnType<typeof open>>;
    const outcomes: Outcome[] = [];
    let rows: Map<string, UsageRow>;
    let simLog: Map<string, MaasRequestLogEntry[]>;
    beforeAll(async () => {
      fx = await open();
      h = await startHarness(fx.store);
      const client = new OpenAI({ apiKey: DEMO_KEY, baseURL: h.url + '/v1', maxRetries: 0 });
      let next = 0;
      const worker = async () => {
        while (next < N) {
          const i = next++;
          outcomes.push(await one(client, i));
        }
      };
      await Promise.all(Array.from({ length: 24 }, worker));
      // Every request has settled (aborted streams settle when the gateway sees the close).
      const end = Date.now() + 5000;
      while (h.gateway.inFlight > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      await h.ledger.flush();
      rows = new Map((await fx.store.events()).map((r) => [r.request_id, r]));
      simLog = new Map();
      for (const sim of h.sims) for (const e of sim.stats.requestLog) simLog.set(e.user, [...(simLog.get(e.user) ?? []), e]);
    }, 60_000);
    afterAll(async () => {
      await h?.close();
      await fx?.cleanup();
    });

    it('writes one row per request, nothing lost, nothing twice', () => {
      expect(outcomes).toHaveLength(N);
      expect(h.gateway.inFlight).toBe(0);
      expect(rows.size).toBe(N);
      for (const o of outcomes) expect(rows.has(o.requestId), o.requestId).toBe(true);
      expect(h.ledger.stats).toMatchObject({ written: N, dropped: 0, failures: 0 });
    });

    it('tokens equal the simulators\' record request by request (estimated only where usage never came)', () => {
      let estimated = 0;
      const err = { input: 0, inputTruth: 0, output: 0, outputTruth: 0 };
      for (const o of outcomes) {
        const row = rows.get(o.requestId)!;
        const served = simLog.get(`u-${o.i}`) ?? [];
        const input = served.reduce((n, e) => n + e.prompt_tokens, 0);
        const cached = served.reduce((n, e) => n + e.cached_tokens, 0);
        const output = served.reduce((n, e) => n + e.completion_tokens, 0);
        if (process.env.LEDGER_DEBUG && (o.kind === 'aborted' || o.kind === 'cut')) process.stderr.write(`${o.kind} ${row.status} est=${row.tokens_estimated} in ${row.input_tokens}/${input} out ${row.output_tokens}/${output}\n`);
        // A cut stream never carries usage; an aborted one does not when the abort beat the stream's end
        // (under load the whole stream may reach the gateway before the client's abort does).
        if (o.kind === 'cut' || (o.kind === 'aborted' && row.status === 499)) {
          expect(row.tokens_estimated, `${o.kind} ${o.i}`).toBe(true);
          expect(row.status).toBe(o.kind === 'aborted' ? 499 : 502);
          estimated++;
          err.input += Math.abs(row.input_tokens - input);
          err.inputTruth += input;
          if (o.kind === 'cut') {
            err.output += Math.abs(row.output_tokens - output);
            err.outputTruth += output;
          } else {
            // Aborted: the gateway counts what reached it before it cut the upstream; the provider also
            // generated what was still in flight (the coverage ratio shows that gap).
            expect(row.output_tokens).toBeLessThanOrEqual(Math.ceil(output * 1.2) + 2);
          }
          continue;
        }
        expect(row.tokens_estimated, `${o.kind} ${o.i}`).toBe(false);
        expect([row.input_tokens, row.cached_input_tokens, row.output_tokens], `${o.kind} ${o.i}`).toEqual([input, cached, output]);
        expect(row.status).toBe(200);
        if (o.usage !== null) {
          expect(o.usage.prompt_tokens).toBe(row.input_tokens);
          expect(o.usage.completion_tokens).toBe(row.output_tokens);
        }
      }
      expect(estimated).toBeGreaterThanOrEqual(150);
      if (process.env.LEDGER_DEBUG) process.stderr.write(`estimate error: ${JSON.stringify(err)}\n`);
      // Estimates are estimates (the gateway's o200k count against the simulator's own token rule): the
      // output of cut streams, all of which reached the gateway, within 15% in sum.
      expect(err.output / err.outputTruth).toBeLessThan(0.15);
    });

    it('the provider cached the shared prefix, and the ledger priced cached tokens at the cached rate', () => {
      const prefixRows = outcomes.filter((o) => o.kind === 'prefix').map((o) => rows.get(o.requestId)!);
      const hits = prefixRows.filter((r) => r.cached_input_tokens > 0);
      expect(hits.length).toBeGreaterThanOrEqual(prefixRows.length - 24); // all but the first wave
      for (const r of hits) {
        expect(r.cached_input_tokens).toBeGreaterThanOrEqual(1024);
        expect(r.cached_input_tokens).toBeLessThan(r.input_tokens);
      }
    });

    it('cost equals the hand computation from the price table, for every row', () => {
      let total = 0;
      let byHand = 0;
      for (const o of outcomes) {
        const row = rows.get(o.requestId)!;
        const want = costByHand(row.input_tokens, row.cached_input_tokens, row.output_tokens);
        expect(row.cost_usd).toBeCloseTo(want, 15);
        total += row.cost_usd;
        byHand += want;
      }
      expect(total).toBeGreaterThan(0);
      expect(total).toBeCloseTo(byHand, 12);
    });

    it('fallbacks record every failed attempt and bill only the attempt that served', () => {
      for (const o of outcomes.filter((x) => x.kind === 'fallback')) {
        const row = rows.get(o.requestId)!;
        const attempts = JSON.parse(row.attempts) as Array<{ pool_id: string; status: number }>;
        expect(attempts.length).toBeGreaterThanOrEqual(2);
        expect(attempts.at(-1)).toMatchObject({ pool_id: 'pool-good', status: 200 });
        for (const a of attempts.slice(0, -1)) expect(a).toMatchObject({ pool_id: 'pool-flaky', status: 500 });
        expect(row.provider).toBe('good');
        const flaky = (simLog.get(`u-${o.i}`) ?? []).filter((e) => e.status === 500);
        expect(flaky.length).toBe(attempts.length - 1);
        for (const e of flaky) expect(e.prompt_tokens + e.completion_tokens).toBe(0);
      }
    });

    it('usage is forced upstream and stripped for clients that did not ask', () => {
      for (const o of outcomes) {
        if (o.kind === 'stream_no_usage') expect(o.sawUsageChunk).toBe(false);
        if (o.kind === 'stream_usage') expect(o.sawUsageChunk).toBe(true);
      }
      // The simulator reports stream usage only when asked: reported (not estimated) tokens on streams whose
      // client did not ask mean the gateway asked for it.
      const quiet = outcomes.filter((o) => o.kind === 'stream_no_usage').map((o) => rows.get(o.requestId)!);
      expect(quiet.length).toBeGreaterThan(0);
      for (const r of quiet) expect([r.stream, r.tokens_estimated, r.output_tokens > 0]).toEqual([true, false, true]);
    });

    it('totals by alias, tenant and scenario add up to the rows', async () => {
      const byAlias = await fx.store.usage({ by: 'alias' });
      expect(byAlias.reduce((n, g) => n + g.requests, 0)).toBe(N);
      let tokens = 0;
      for (const r of rows.values()) tokens += r.input_tokens + r.output_tokens;
      expect(byAlias.reduce((n, g) => n + g.total_tokens, 0)).toBe(tokens);
      const byScenario = await fx.store.usage({ by: 'scenario' });
      expect(byScenario.find((g) => g.key === '')!.requests).toBe(outcomes.filter((o) => o.kind === 'no_scenario').length);
    });

    it('counts attribution completeness with the reason', () => {
      const m = h.gateway.metrics;
      const ok200 = outcomes.filter((o) => rows.get(o.requestId)!.status === 200);
      const noScenario = ok200.filter((o) => o.kind === 'no_scenario').length;
      expect(m.attributionIncomplete.get(['scenario_id'])).toBe(noScenario);
      expect(m.attributionComplete.get([])).toBe(ok200.length - noScenario);
    });

    it('coverage: the provider usage report against the ledger, per provider', async () => {
      const monitor = new CoverageMonitor(h.ledger.byProvider, [
        { provider: 'good', baseUrl: h.simByName.get('good')!.url, apiKey: 'sk-x' },
        { provider: 'flaky', baseUrl: h.simByName.get('flaky')!.url, apiKey: 'sk-x' },
      ], h.startedAt);
      const [good, flaky] = await monitor.check();
      const served = h.simByName.get('good')!.stats;
      expect(good!.provider_tokens).toBe(served.promptTokens + served.completionTokens);
      expect(good!.ratio).toBeGreaterThan(0.97);
      expect(good!.ratio).toBeLessThan(1.03);
      expect(flaky).toMatchObject({ provider_tokens: 0, ratio: null, error: null }); // it served nothing
      // The gauge, as /metrics shows it.
      const text = (await (await request(h.url + '/metrics')).body.text()) + '\n';
      expect(text).not.toContain('switchyard_gateway_coverage_ratio'); // this gateway was not given the monitor
      const snapText = JSON.stringify(monitor.snapshot());
      expect(snapText).toContain('switchyard_gateway_coverage_ratio');
      monitor.close();
    });

    if (name === 'sqlite') {
      it('`switchyard usage --by alias --json` prints the same totals', async () => {
        await h.ledger.flush();
        const main = join(import.meta.dirname, '../../dist/cli/main.js');
        const r = spawnSync(process.execPath, [main, 'usage', '--by', 'alias', '--json'], { env: { ...process.env, SWITCHYARD_DATA_DIR: fx.dataDir!, SWITCHYARD_DATABASE_URL: '' }, encoding: 'utf8' });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const printed = JSON.parse(r.stdout) as Array<Record<string, number | string>>;
        const want = await fx.store.usage({ by: 'alias' });
        expect(printed).toEqual(want.map((g) => ({ alias: g.key, requests: g.requests, input_tokens: g.input_tokens, cached_input_tokens: g.cached_input_tokens, output_tokens: g.output_tokens, total_tokens: g.total_tokens, cost_usd: g.cost_usd, failed_attempts_cost_usd: g.failed_attempts_cost_usd })));
        const table = spawnSync(process.execPath, [main, 'usage', '--by', 'alias'], { env: { ...process.env, SWITCHYARD_DATA_DIR: fx.dataDir!, SWITCHYARD_DATABASE_URL: '' }, encoding: 'utf8' });
        expect(table.stdout).toMatch(/^alias\s+requests\s+input_tokens/);
        expect(table.stdout).toContain('ledger.chat');
        expect(table.stdout).toMatch(/TOTAL\s+1000\s/);
      });
    }
  });
}

mixedSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-ledger-e2e-'));
  const store = new SqliteLedgerStore(join(dir, 'ledger.sqlite'));
  return { store, dataDir: dir, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

const pgDown = await postgresUnreachable();
if (pgDown === null) {
  mixedSuite('postgres', async () => {
    const store = new PostgresLedgerStore(PG_URL, { schema: uniqueSchema() });
    await store.migrate();
    return {
      store,
      dataDir: null,
      cleanup: async () => {
        const s = new PostgresLedgerStore(PG_URL, { schema: store.schema });
        await s.dropSchema();
        await s.close();
      },
    };
  });
} else if (process.env.CI === 'true') {
  describe('ledger under 1,000 mixed requests: postgres', () => {
    it(`needs Postgres at ${PG_URL}`, () => {
      throw new Error(`Postgres is not reachable at ${PG_URL} (${pgDown}) and CI=true`);
    });
  });
} else {
  process.stderr.write(`ledger.test: Postgres half skipped, not reachable at ${PG_URL} (${pgDown})\n`);
  // Reason: no Postgres on this (non-CI) machine; the brief allows a one-line skip there (CI fails above).
  describe.skip(`ledger under 1,000 mixed requests: postgres (skipped: ${pgDown})`, () => {
    it('needs Postgres', () => {});
  });
}
