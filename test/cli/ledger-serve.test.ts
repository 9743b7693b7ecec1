// `switchyard serve` and the ledger as processes: SIGTERM under load loses nothing (ledger rows = the
// requests that got an answer), with one thread and with --threads 2 (threads post rows to the main
// thread), on SQLite and on Postgres; a ledger that cannot be opened stops serve before it listens;
// `switchyard usage` errors.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, Agent } from 'undici';
import { DEMO_KEY, testConfigYaml } from '../helpers/stack.js';
import { MAIN, killServed, serve } from '../helpers/serve-process.js';
import { SqliteLedgerStore } from '../../core/ledger/sqlite.js';
import { PostgresLedgerStore } from '../../core/ledger/postgres.js';
import type { LedgerStore } from '../../core/ledger/row.js';
import { PG_URL, postgresUnreachable, uniqueSchema } from '../helpers/ledgers.js';
import { startMaasSimulator } from '../../simulators/index.js';

afterEach(killServed);

function workdir(): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-ledger-serve-'));
  const config = join(dir, 'config.yaml');
  // Answers take ~20-60 ms, so SIGTERM always lands with requests in flight.
  writeFileSync(config, testConfigYaml({ simulator: '{ seed: 7, ttft_ms: 20, tokens_per_s: 800, output_tokens: { min: 4, max: 32 } }', quota: '{ requests_per_minute: 100000, tokens_per_minute: 100000000 }' }));
  return { dir, config };
}

/**
 * Load from 16 connections until the server stops answering; SIGTERM after `killAfter` answers.
 * Returns the request ids of every request that got an HTTP answer (any status).
 */
async function loadThenTerm(url: string, child: ChildProcess, killAfter: number): Promise<{ answered: string[]; byStatus: Record<number, number> }> {
  const answered: string[] = [];
  const byStatus: Record<number, number> = {};
  let killed = false;
  const loop = async (c: number) => {
    const agent = new Agent({ connections: 1 });
    for (let i = 0; ; i++) {
      try {
        const r = await request(url + '/v1/chat/completions', {
          method: 'POST',
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', 'x-switchyard-scenario': 'shutdown' },
          body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: `load ${c}.${i}` }], stream: i % 2 === 0 }),
          dispatcher: agent,
        });
        await r.body.text();
        answered.push(String(r.headers['x-request-id']));
        byStatus[r.statusCode] = (byStatus[r.statusCode] ?? 0) + 1;
        if (!killed && answered.length >= killAfter) {
          killed = true;
          child.kill('SIGTERM');
        }
        if (killed && r.statusCode === 503) break; // draining: new requests are refused (and recorded)
      } catch {
        break; // the listen socket is closed / the connection went away: no answer, no row
      }
    }
    await agent.close().catch(() => {});
  };
  await Promise.all(Array.from({ length: 16 }, (_, c) => loop(c)));
  return { answered, byStatus };
}

async function shutdownCase(threads: number, env: Record<string, string>, open: (dir: string) => Promise<LedgerStore>): Promise<void> {
  const { dir, config } = workdir();
  const s = serve(['--config', config, '--port', '0', '--threads', String(threads)], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p', ...env });
  const url = await s.listening;
  const { answered, byStatus } = await loadThenTerm(url, s.child, 300);
  expect(await s.exit).toBe(0);
  expect(answered.length).toBeGreaterThanOrEqual(300);
  expect(byStatus[200]).toBeGreaterThanOrEqual(300);
  const store = await open(dir);
  try {
    const rows = await store.events();
    expect(rows.map((r) => r.request_id).sort()).toEqual([...answered].sort());
    expect(rows.filter((r) => r.status === 200).length).toBe(byStatus[200]);
  } finally {
    await store.close();
  }
}

const pgDown = await postgresUnreachable();

describe('switchyard serve: the ledger survives SIGTERM under load', () => {
  it('one thread, SQLite in the data folder: ledger rows = answered requests', async () => {
    await shutdownCase(1, { SWITCHYARD_DATABASE_URL: '' }, async (dir) => new SqliteLedgerStore(join(dir, 'ledger.sqlite')));
  });

  it('--threads 2, SQLite written by the main thread only: ledger rows = answered requests', async () => {
    await shutdownCase(2, { SWITCHYARD_DATABASE_URL: '' }, async (dir) => new SqliteLedgerStore(join(dir, 'ledger.sqlite')));
  });

  if (pgDown === null) {
    it('--threads 2, Postgres (SWITCHYARD_DATABASE_URL): ledger rows = answered requests', async () => {
      const schema = uniqueSchema();
      const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
      try {
        await shutdownCase(2, { SWITCHYARD_DATABASE_URL: url }, async () => new PostgresLedgerStore(url));
        // `switchyard usage` reads the same Postgres ledger.
        const store = new PostgresLedgerStore(url);
        const rows = await store.count();
        await store.close();
        const r = spawnSync(process.execPath, [MAIN, 'usage', '--by', 'tenant', '--json'], { env: { ...process.env, SWITCHYARD_DATABASE_URL: url }, encoding: 'utf8' });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const printed = JSON.parse(r.stdout) as Array<{ tenant: string; requests: number }>;
        // Requests refused while draining are refused before authentication: their tenant is ''.
        expect(printed.map((g) => g.tenant).sort()).toEqual(printed.length === 1 ? ['demo'] : ['', 'demo']);
        expect(printed.reduce((n, g) => n + g.requests, 0)).toBe(rows);
      } finally {
        const s = new PostgresLedgerStore(PG_URL, { schema });
        await s.dropSchema();
        await s.close();
      }
    });
  } else if (process.env.CI === 'true') {
    it(`Postgres: needs Postgres at ${PG_URL}`, () => {
      throw new Error(`Postgres is not reachable at ${PG_URL} (${pgDown}) and CI=true`);
    });
  } else {
    process.stderr.write(`ledger-serve.test: Postgres case skipped, not reachable at ${PG_URL} (${pgDown})\n`);
    // Reason: no Postgres on this (non-CI) machine; with CI=true the case above fails instead.
    it.skip(`Postgres (skipped: ${pgDown})`, () => {});
  }
});

describe('switchyard serve: a crash loses at most the last batch window', () => {
  it('SIGKILL after the window: every answered request is in the SQLite ledger', async () => {
    const { dir, config } = workdir();
    const s = serve(['--config', config, '--port', '0'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p', SWITCHYARD_DATABASE_URL: '' });
    const url = await s.listening;
    const agent = new Agent({ connections: 4 });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await request(url + '/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: `crash ${i}` }] }),
        dispatcher: agent,
      });
      await r.body.text();
      ids.push(String(r.headers['x-request-id']));
    }
    await agent.close();
    // The window is 200 ms; give the writer thread time to commit on a busy machine, then kill -9.
    await new Promise((r) => setTimeout(r, 1500));
    s.child.kill('SIGKILL');
    await s.exit;
    const store = new SqliteLedgerStore(join(dir, 'ledger.sqlite'));
    try {
      expect((await store.events()).map((r) => r.request_id).sort()).toEqual(ids.sort());
    } finally {
      await store.close();
    }
  });
});

describe('switchyard serve: gateway coverage', () => {
  for (const threads of [1, 2]) {
    it(`--threads ${threads}: /metrics exports switchyard_gateway_coverage_ratio for the simulator provider, 1 when all was attributed`, async () => {
      const { dir, config } = workdir();
      const s = serve(['--config', config, '--port', '0', '--threads', String(threads)], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p', SWITCHYARD_DATABASE_URL: '' });
      const url = await s.listening;
      const agent = new Agent({ connections: 4 });
      for (let i = 0; i < 20; i++) {
        const r = await request(url + '/v1/chat/completions', {
          method: 'POST',
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: `cover ${i}` }], stream: i % 2 === 0 }),
          dispatcher: agent,
        });
        await r.body.text();
        expect(r.statusCode).toBe(200);
      }
      // Each scrape shows the last comparison and starts the next (rows reach the ledger within a batch window).
      let text = '';
      const end = Date.now() + 15_000;
      while (!text.includes('switchyard_gateway_coverage_ratio{provider="sim"} 1\n') && Date.now() < end) {
        const m = await request(url + '/metrics', { dispatcher: agent });
        text = await m.body.text();
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(text).toContain('# TYPE switchyard_gateway_coverage_ratio gauge\n');
      expect(text).toContain('switchyard_gateway_coverage_ratio{provider="sim"} 1\n');
      await agent.close();
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
    });
  }
});

describe('switchyard serve: coverage of a provider by its usage_report', () => {
  it('a base_url provider with usage_report: { api_key_env } is compared with its report (the admin key from the env)', async () => {
    const sim = await startMaasSimulator({ seed: 5 });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'switchyard-ledger-serve-'));
      const config = join(dir, 'config.yaml');
      const yaml = testConfigYaml().replace('simulator: { seed: 7 }', `base_url: ${sim.url}\n    usage_report: { api_key_env: SIM_ADMIN_KEY }`);
      expect(yaml).toContain('usage_report');
      writeFileSync(config, yaml);
      const s = serve(['--config', config, '--port', '0'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p', SIM_ADMIN_KEY: 'sk-admin', SWITCHYARD_DATABASE_URL: '' });
      const url = await s.listening;
      const agent = new Agent({ connections: 2 });
      for (let i = 0; i < 6; i++) {
        const r = await request(url + '/v1/chat/completions', {
          method: 'POST',
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: `report ${i}` }] }),
          dispatcher: agent,
        });
        await r.body.text();
        expect(r.statusCode).toBe(200);
      }
      let text = '';
      const end = Date.now() + 15_000;
      while (!text.includes('switchyard_gateway_coverage_ratio{provider="sim"} 1\n') && Date.now() < end) {
        text = await (await request(url + '/metrics', { dispatcher: agent })).body.text();
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(text).toContain('switchyard_gateway_coverage_ratio{provider="sim"} 1\n');
      expect(sim.stats.lastRequest?.headers.authorization).toBe('Bearer sk-p'); // chat calls use the provider key, not the admin key
      await agent.close();
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
    } finally {
      await sim.close();
    }
  });
});

describe('switchyard serve / usage: ledger errors', () => {
  it('a Postgres ledger that cannot be reached stops serve before it listens (exit 1, the reason, no password)', async () => {
    const { dir, config } = workdir();
    const s = serve(['--config', config, '--port', '0'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_DATABASE_URL: 'postgres://u:secret-pw@127.0.0.1:1/none' });
    const never = s.listening.then(() => 'listened', () => 'refused');
    expect(await s.exit).toBe(1);
    expect(await never).toBe('refused');
    expect(s.stderr()).toMatch(/ledger: cannot open Postgres postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/none/);
    expect(s.stderr()).not.toContain('secret-pw');
  });

  it('a SWITCHYARD_DATABASE_URL that is not postgres:// is refused', () => {
    const r = spawnSync(process.execPath, [MAIN, 'usage'], { env: { ...process.env, SWITCHYARD_DATABASE_URL: 'mysql://x' }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('SWITCHYARD_DATABASE_URL must be a postgres://');
  });

  it('usage: no ledger yet, a bad --by, a bad --since, an unknown option', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-usage-'));
    const env = { ...process.env, SWITCHYARD_DATA_DIR: dir, SWITCHYARD_DATABASE_URL: '' };
    const none = spawnSync(process.execPath, [MAIN, 'usage'], { env, encoding: 'utf8' });
    expect(none.status).toBe(1);
    expect(none.stderr).toContain(`no ledger at ${join(dir, 'ledger.sqlite')}`);
    const by = spawnSync(process.execPath, [MAIN, 'usage', '--by', 'planet'], { env, encoding: 'utf8' });
    expect(by.status).toBe(2);
    expect(by.stderr).toContain("--by must be one of tenant, owner, scenario, alias, lane, pool, provider, outcome (got 'planet')");
    const since = spawnSync(process.execPath, [MAIN, 'usage', '--since', 'last tuesday'], { env, encoding: 'utf8' });
    expect(since.status).toBe(2);
    expect(since.stderr).toContain("--since: not an ISO date or date-time: 'last tuesday'");
    const unknown = spawnSync(process.execPath, [MAIN, 'usage', '--format', 'csv'], { env, encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown option --format');
  });
});
