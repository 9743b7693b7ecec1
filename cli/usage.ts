// `switchyard usage [--by tenant|owner|scenario|alias|lane|pool|provider] [--since ISO] [--config FILE] [--json]`
// Cost attribution from the ledger: requests, tokens and cost per group, as a table or one JSON array.
// The ledger is the one `serve` writes: Postgres when SWITCHYARD_DATABASE_URL is set, else
// $SWITCHYARD_DATA_DIR/ledger.sqlite (default ./data).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { GROUP_COLUMNS, isGroupBy, normalizeSince, openLedgerStore, sqlitePath, type UsageTotals } from '../core/index.js';
import { parseArgs } from './args.js';

export const USAGE_HELP = `usage: switchyard usage [--by ${Object.keys(GROUP_COLUMNS).join('|')}] [--since ISO] [--config FILE] [--json]\n`;

export async function runUsage(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let by: string;
  let since: string | null;
  let json: boolean;
  try {
    const a = parseArgs(argv, ['by', 'since', 'config'], ['json', 'help']);
    if (a.has('help')) {
      process.stdout.write(USAGE_HELP);
      return 0;
    }
    if (a.positionals.length > 0) throw new Error(`unexpected argument '${a.positionals[0]}'`);
    by = a.get('by') ?? 'tenant';
    if (!isGroupBy(by)) throw new Error(`--by must be one of ${Object.keys(GROUP_COLUMNS).join(', ')} (got '${by.slice(0, 40)}')`);
    since = normalizeSince(a.get('since'));
    json = a.has('json');
    const config = a.get('config');
    // The ledger's location comes from the environment, as for `serve`; a named config must exist.
    if (config !== undefined && !existsSync(config)) throw new Error(`--config: no such file ${config}`);
  } catch (err) {
    process.stderr.write(`switchyard usage: ${(err as Error).message}\n${USAGE_HELP}`);
    return 2;
  }
  const dataDir = resolve(env.SWITCHYARD_DATA_DIR ?? './data');
  const databaseUrl = env.SWITCHYARD_DATABASE_URL ?? '';
  if (databaseUrl === '' && !existsSync(sqlitePath(dataDir))) {
    process.stderr.write(`switchyard usage: no ledger at ${sqlitePath(dataDir)} (nothing recorded yet: \`switchyard serve\` writes it; set SWITCHYARD_DATA_DIR or SWITCHYARD_DATABASE_URL to read another)\n`);
    return 1;
  }
  let rows: UsageTotals[];
  try {
    const store = await openLedgerStore({ dataDir, databaseUrl });
    try {
      rows = await store.usage({ by, since });
    } finally {
      await store.close();
    }
  } catch (err) {
    process.stderr.write(`switchyard usage: ${(err as Error).message}\n`);
    return 1;
  }
  if (json) {
    process.stdout.write(JSON.stringify(rows.map((r) => ({ [by]: r.key, requests: r.requests, input_tokens: r.input_tokens, cached_input_tokens: r.cached_input_tokens, output_tokens: r.output_tokens, total_tokens: r.total_tokens, cost_usd: r.cost_usd, failed_attempts_cost_usd: r.failed_attempts_cost_usd }))) + '\n');
    return 0;
  }
  process.stdout.write(usageTable(by, rows));
  return 0;
}

/** The table: one line per group, most expensive first, and a total line. */
export function usageTable(by: string, rows: readonly UsageTotals[]): string {
  const head = [by, 'requests', 'input_tokens', 'cached_input', 'output_tokens', 'total_tokens', 'cost_usd', 'failed_attempts_usd'];
  const fmt = (r: UsageTotals): string[] => [
    r.key === '' ? '(none)' : r.key, String(r.requests), String(r.input_tokens), String(r.cached_input_tokens), String(r.output_tokens),
    String(r.total_tokens), r.cost_usd.toFixed(6), r.failed_attempts_cost_usd.toFixed(6),
  ];
  const total: UsageTotals = { key: 'TOTAL', requests: 0, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, total_tokens: 0, cost_usd: 0, failed_attempts_cost_usd: 0 };
  for (const r of rows) {
    total.requests += r.requests;
    total.input_tokens += r.input_tokens;
    total.cached_input_tokens += r.cached_input_tokens;
    total.output_tokens += r.output_tokens;
    total.total_tokens += r.total_tokens;
    total.cost_usd += r.cost_usd;
    total.failed_attempts_cost_usd += r.failed_attempts_cost_usd;
  }
  const lines = [head, ...rows.map(fmt), fmt(total)];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const line = (l: string[]) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + '\n';
  return line(head) + widths.map((w) => '-'.repeat(w)).join('  ') + '\n' + rows.map((r) => line(fmt(r))).join('') + line(fmt(total));
}
