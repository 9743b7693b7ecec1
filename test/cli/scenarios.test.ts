// `switchyard scenarios` and `switchyard usage --by outcome` over a ledger: the report a platform team
// reads (issue 12), from rows as the gateway writes them.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteLedgerStore } from '../../core/ledger/sqlite.js';
import { copyRecord, UsageRow } from '../../core/ledger/row.js';
import { sqlitePath } from '../../core/ledger/ledger.js';
import { TraceRecord, type AttemptRecord } from '../../core/telemetry/trace.js';
import { testConfigYaml } from '../helpers/stack.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function attempt(status: number, error: string | null, cost: number): AttemptRecord {
  return { pool_id: 'maas-sim', provider: 'sim', status, error_code: error, queue_time_ms: 0, latency_ms: 50, input_tokens: cost > 0 ? 100 : 0, cached_input_tokens: 0, output_tokens: cost > 0 ? 10 : 0, cost_usd: cost };
}

let seq = 0;
function record(scenario: string, outcome: TraceRecord['outcome'], latency: number, attempts: AttemptRecord[], over: Partial<TraceRecord> = {}): TraceRecord {
  const r = new TraceRecord();
  r.request_id = `req_${++seq}`;
  r.ts = new Date(Date.UTC(2026, 10, 25, 12, 0, seq)).toISOString();
  r.tenant = 'demo';
  r.owner = 'team-crm';
  r.scenario_id = scenario;
  r.alias = 'demo.chat';
  r.route_lane = 'direct_small';
  r.pool_id = 'maas-sim';
  r.provider = 'sim';
  r.attempts = attempts;
  r.latency_ms = latency;
  r.cost_usd = attempts.reduce((n, a) => n + a.cost_usd, 0);
  r.status = outcome === 'error' ? 502 : 200;
  r.outcome = outcome;
  Object.assign(r, over);
  return r;
}

describe('switchyard scenarios and usage --by outcome', () => {
  let dir: string;
  let config: string;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, SWITCHYARD_DATA_DIR: dir, SWITCHYARD_DATABASE_URL: '' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-scenarios-'));
    config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      testConfigYaml() +
        `scenarios:
  - { id: crm-summary, owner: team-crm, success: { finish_reason: [stop], within_slo: true } }
  - { id: quiet, owner: team-ops }
`,
    );
    const records = [
      record('crm-summary', 'success', 100, [attempt(200, null, 0.001)]),
      // A re-ask: the first answer failed its quality check and cost money, the second succeeded.
      record('crm-summary', 'success', 300, [attempt(200, 'quality_failure', 0.001), attempt(200, null, 0.001)]),
      record('crm-summary', 'quality_failure', 200, [attempt(200, 'quality_failure', 0.001), attempt(200, 'quality_failure', 0.001)], { failed_check: 'finish_reason' }),
      record('crm-summary', 'slo_miss', 900, [attempt(200, null, 0.001)], { failed_check: 'latency_ms' }),
      record('crm-summary', 'error', 40, [attempt(502, 'upstream_error', 0)], { error_code: 'upstream_error' }),
      record('adhoc', 'success', 80, [attempt(200, null, 0.002)]),
    ];
    const store = new SqliteLedgerStore(sqlitePath(dir));
    await store.migrate();
    const rows = records.map((r) => {
      const row = new UsageRow();
      copyRecord(r, row);
      return row;
    });
    await store.insert(rows, rows.length);
    await store.close();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports success rate, percentiles, cost per success, failed-attempt spend and top failed checks per scenario', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'scenarios', '--config', config, '--json'], { env: env() });
    const report = JSON.parse(stdout) as Array<Record<string, unknown>>;
    expect(report.map((r) => r.scenario_id)).toEqual(['crm-summary', 'quiet', 'adhoc']);
    const s = report[0]!;
    expect(s).toMatchObject({ owner: 'team-crm', registered: true, requests: 5, successes: 2, success_rate: 0.4, latency_ms: { p50: 200, p99: 900 } });
    expect(s.outcomes).toEqual({ success: 2, quality_failure: 1, slo_miss: 1, error: 1 });
    expect(s.cost_usd as number).toBeCloseTo(0.006, 12);
    // The re-asked request's first attempt and both attempts of the failed one.
    expect(s.failed_attempts_cost_usd as number).toBeCloseTo(0.002, 12);
    expect(s.cost_per_success_usd as number).toBeCloseTo(0.003, 12);
    expect(s.top_failed_checks).toEqual([
      { check: 'error:upstream_error', count: 1 },
      { check: 'finish_reason', count: 1 },
      { check: 'latency_ms', count: 1 },
    ]);
    expect(report[2]).toMatchObject({ registered: false, requests: 1, success_rate: 1 });
  });

  it('prints the table; --since narrows the window', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'scenarios', '--config', config], { env: env() });
    expect(stdout.split('\n')[0]).toMatch(/^scenario\s+owner\s+requests\s+success/);
    expect(stdout).toMatch(/crm-summary\s+team-crm\s+5\s+40\.0%\s+200\s+900/);
    expect(stdout).toContain('adhoc (unregistered)');
    const since = await run(process.execPath, [CLI, 'scenarios', '--config', config, '--json', '--since', '2026-11-25T12:00:05Z'], { env: env() });
    const narrowed = JSON.parse(since.stdout) as Array<{ scenario_id: string; requests: number }>;
    expect(narrowed.find((r) => r.scenario_id === 'crm-summary')!.requests).toBe(1);
  });

  it('usage --by outcome shows what each outcome cost, failed attempts included', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'usage', '--by', 'outcome', '--json'], { env: env() });
    const rows = JSON.parse(stdout) as Array<{ outcome: string; requests: number; cost_usd: number; failed_attempts_cost_usd: number }>;
    const by = Object.fromEntries(rows.map((r) => [r.outcome, r]));
    expect(by.success).toMatchObject({ requests: 3 });
    expect(by.success!.cost_usd).toBeCloseTo(0.005, 12);
    expect(by.success!.failed_attempts_cost_usd).toBeCloseTo(0.001, 12);
    expect(by.quality_failure!.failed_attempts_cost_usd).toBeCloseTo(0.001, 12);
    expect(by.error).toMatchObject({ requests: 1, cost_usd: 0 });
    const table = await run(process.execPath, [CLI, 'usage', '--by', 'outcome'], { env: env() });
    expect(table.stdout.split('\n')[0]).toMatch(/^outcome\s+requests.*cost_usd\s+failed_attempts_usd$/);
  });

  it('trace record --ledger turns the ledger into a traffic trace for replay', async () => {
    const out = join(dir, 'recorded.jsonl');
    const { stdout } = await run(process.execPath, [CLI, 'trace', 'record', '--ledger', '--out', out], { env: env() });
    expect(stdout).toContain('6 requests recorded');
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatchObject({ t: 0, alias: 'demo.chat', tenant: 'demo', scenario_id: 'crm-summary', stream: false });
    expect(lines[5]).toMatchObject({ t: 5, scenario_id: 'adhoc' });
    const since = await run(process.execPath, [CLI, 'trace', 'record', '--ledger', '--since', '2026-11-25T12:00:05Z', '--out', out], { env: env() });
    expect(since.stdout).toContain('2 requests recorded');
    const usage = await run(process.execPath, [CLI, 'trace', 'record', '--ledger', 'extra.jsonl', '--out', out], { env: env() }).then(() => 0, (e: { code: number }) => e.code);
    expect(usage).toBe(2);
  });

  it('bad input: clear errors, exit 2 for arguments, 1 for a missing ledger or a bad config', async () => {
    const fail = (args: string[], e: NodeJS.ProcessEnv = env()) => run(process.execPath, [CLI, ...args], { env: e }).then(() => null, (err: { code: number; stderr: string }) => err);
    const bad = await fail(['scenarios', '--since', 'yesterday']);
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toContain("--since: not an ISO date or date-time: 'yesterday'");
    const extra = await fail(['scenarios', 'what']);
    expect(extra?.code).toBe(2);
    const none = await fail(['scenarios', '--config', config], { ...env(), SWITCHYARD_DATA_DIR: join(dir, 'nowhere') });
    expect(none?.code).toBe(1);
    expect(none?.stderr).toContain('no ledger at');
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(badConfig, 'routes: 3\n');
    const invalid = await fail(['scenarios', '--config', badConfig]);
    expect(invalid?.code).toBe(1);
    expect(invalid?.stderr).toContain('is not a valid config');
  });
});
