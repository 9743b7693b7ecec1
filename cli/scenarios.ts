// `switchyard scenarios [--since ISO] [--config FILE] [--json]`: per scenario, from the ledger, the success
// rate (outcomes judged against the scenario's criterion), p50/p99 latency, cost per successful request
// (everything spent, failures and re-asks included, ÷ successes), the spend on failed attempts and the
// checks that failed most. Scenarios come from the config (those without traffic are listed too); ids
// seen in traffic that the config does not list are marked unregistered.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { compileScenarios, formatScenarioReport, loadConfigFile, normalizeSince, openLedgerStore, scenarioReport, sqlitePath, type ScenarioRow } from '../core/index.js';
import { parseArgs } from './args.js';
import { DEFAULT_CONFIG } from './serve.js';

export const SCENARIOS_HELP = 'usage: switchyard scenarios [--since ISO] [--config FILE] [--json]\n';

/** At most this many ledger rows are read for one report (newest windows: use --since). */
const MAX_ROWS = 2_000_000;

export async function runScenarios(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let since: string | null;
  let json: boolean;
  let configPath: string;
  try {
    const a = parseArgs(argv, ['since', 'config'], ['json', 'help']);
    if (a.has('help')) {
      process.stdout.write(SCENARIOS_HELP);
      return 0;
    }
    if (a.positionals.length > 0) throw new Error(`unexpected argument '${a.positionals[0]}'`);
    since = normalizeSince(a.get('since'));
    json = a.has('json');
    configPath = resolve(a.get('config') ?? env.SWITCHYARD_CONFIG ?? DEFAULT_CONFIG);
  } catch (err) {
    process.stderr.write(`switchyard scenarios: ${(err as Error).message}\n${SCENARIOS_HELP}`);
    return 2;
  }
  const loaded = await loadConfigFile(configPath);
  if (!loaded.ok) {
    process.stderr.write(`switchyard scenarios: ${configPath} is not a valid config:\n  ${loaded.problems.join('\n  ')}\n`);
    return 1;
  }
  const dataDir = resolve(env.SWITCHYARD_DATA_DIR ?? './data');
  const databaseUrl = env.SWITCHYARD_DATABASE_URL ?? '';
  if (databaseUrl === '' && !existsSync(sqlitePath(dataDir))) {
    process.stderr.write(`switchyard scenarios: no ledger at ${sqlitePath(dataDir)} (nothing recorded yet: \`switchyard serve\` writes it; set SWITCHYARD_DATA_DIR or SWITCHYARD_DATABASE_URL to read another)\n`);
    return 1;
  }
  let rows: ScenarioRow[];
  try {
    const store = await openLedgerStore({ dataDir, databaseUrl });
    try {
      rows = await store.events({ since, limit: MAX_ROWS });
    } finally {
      await store.close();
    }
  } catch (err) {
    process.stderr.write(`switchyard scenarios: ${(err as Error).message}\n`);
    return 1;
  }
  if (rows.length >= MAX_ROWS) process.stderr.write(`switchyard scenarios: the first ${MAX_ROWS} requests of the window only; narrow it with --since\n`);
  const report = scenarioReport(rows, compileScenarios(loaded.config.scenarios));
  process.stdout.write(json ? JSON.stringify(report) + '\n' : formatScenarioReport(report));
  return 0;
}
