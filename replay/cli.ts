// `switchyard replay TRACE [--config FILE] [--pools FILE] [--out DIR] [--seed N] [--bins N] [--quiet]`
// `switchyard trace generate --out FILE [--spec FILE] [--pattern P] [--rate R] [--duration S] [--seed N] ...`
// `switchyard trace record GATEWAY_TRACE --out FILE` | `switchyard trace record --ledger [--since ISO] --out FILE`
// `switchyard trace check FILE`
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { packageRoot, parseArgs } from '../cli/args.js';
import { DEFAULT_SPEC, generateTrace, type GenerateSpec, type Pattern, type TokenDist } from './generate.js';
import { loadPoolsFile } from './pools.js';
import { recordFile, recordRows } from './record.js';
import { writeReport } from './report.js';
import { EMPTY_POOLS, loadReplayConfig, runReplayAll } from './run.js';
import { readTraceFile, TraceWriter } from './trace-format.js';

export const REPLAY_USAGE = `usage: switchyard replay TRACE [--config FILE] [--pools FILE] [--out DIR] [--seed N] [--bins N] [--quiet]
  TRACE     traffic trace, JSON lines (switchyard trace generate | record)
  --config  gateway config (default: $SWITCHYARD_CONFIG or fixtures/config/default.yaml)
  --pools   pool capacity, latency and faults, and what-if runs (YAML or JSON)
  --out     report directory (default ./replay-report): report.json, report.md, report.html, plots/*.svg
`;

export const TRACE_USAGE = `usage:
  switchyard trace generate --out FILE [--spec FILE] [--pattern steady|poisson|diurnal|bursts] [--rate R]
                            [--duration S] [--seed N] [--alias A=W,B=W] [--tenant T=W] [--scenario S=W]
                            [--input N|MIN-MAX|exp:MEAN] [--output N|MIN-MAX|exp:MEAN] [--stream-share X]
                            [--prefix-groups N] [--period S] [--amplitude X] [--burst-every S]
                            [--burst-length S] [--burst-multiplier X]
  switchyard trace record GATEWAY_TRACE_JSONL --out FILE
  switchyard trace record --ledger [--since ISO] --out FILE   (the usage ledger serve writes:
                            SWITCHYARD_DATABASE_URL, else $SWITCHYARD_DATA_DIR/ledger.sqlite)
  switchyard trace check FILE
`;

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

export async function runReplayCli(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(REPLAY_USAGE);
    return 0;
  }
  const a = parseArgs(argv, ['config', 'pools', 'out', 'seed', 'bins'], ['quiet']);
  if (a.positionals.length !== 1) {
    process.stderr.write(REPLAY_USAGE);
    return 2;
  }
  const tracePath = a.positionals[0]!;
  const configPath = a.get('config') ?? process.env.SWITCHYARD_CONFIG ?? join(packageRoot, 'fixtures', 'config', 'default.yaml');
  const poolsPath = a.get('pools') ?? null;
  const outDir = a.get('out') ?? 'replay-report';
  const seedText = a.get('seed');
  const seed = seedText === undefined ? undefined : Number(seedText);
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error('--seed must be an integer');
  const binsText = a.get('bins');
  const bins = binsText === undefined ? undefined : Number(binsText);
  if (bins !== undefined && !(Number.isInteger(bins) && bins >= 1 && bins <= 10_000)) throw new Error('--bins must be an integer between 1 and 10000');
  const quiet = a.has('quiet');

  const config = loadReplayConfig(configPath);
  const pools = poolsPath === null ? EMPTY_POOLS : loadPoolsFile(poolsPath);
  const t0 = performance.now();
  const trace = readTraceFile(tracePath);
  const readMs = performance.now() - t0;
  if (!quiet) process.stderr.write(`[replay] read ${fmt(trace.length)} requests (${trace.durationS.toFixed(1)} s of traffic) in ${(readMs / 1000).toFixed(2)} s\n`);

  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  let lastDraw = 0;
  const progress = (run: string, arrived: number, total: number, virtualMs: number): void => {
    if (quiet) return;
    const share = total === 0 ? 1 : arrived / total;
    if (tty) {
      const now = performance.now();
      if (arrived < total && now - lastDraw < 100) return;
      lastDraw = now;
      const width = 30;
      const full = Math.round(share * width);
      process.stderr.write(`\r[replay ${run}] [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(share * 100).toFixed(0).padStart(3)}%  ${fmt(arrived)}/${fmt(total)} requests  virtual ${(virtualMs / 1000).toFixed(0)} s${arrived === total ? '\n' : ''}`);
    } else {
      const d = Math.floor(share * 10);
      if (d === lastDecile) return;
      lastDecile = d;
      process.stderr.write(`[replay ${run}] ${(share * 100).toFixed(0)}% ${fmt(arrived)}/${fmt(total)} requests, virtual ${(virtualMs / 1000).toFixed(0)} s\n`);
    }
    if (arrived === total) lastDecile = -1;
  };

  const out = runReplayAll(trace, {
    config,
    configName: configPath,
    pools,
    poolsName: poolsPath,
    traceName: tracePath,
    ...(seed !== undefined ? { seed } : {}),
    ...(bins !== undefined ? { bins } : {}),
    onProgress: progress,
  });
  const files = writeReport(outDir, out.report, out.charts);
  if (!quiet) {
    const runs = ['baseline', ...pools.whatIf.map((w) => w.name)];
    process.stderr.write(`[replay] simulated ${runs.map((r, i) => `${r} in ${(out.wallMs[i]! / 1000).toFixed(2)} s`).join(', ')}\n`);
  }
  const r = out.report;
  const rejected = Object.values(r.rejections).reduce((x, y) => x + y, 0);
  const failed = Object.values(r.errors).reduce((x, y) => x + y, 0);
  process.stdout.write(`replay: ${fmt(r.requests)} requests, ${fmt(rejected)} rejected, ${fmt(failed)} failed; report in ${outDir}/report.html (${files.length} files)\n`);
  return 0;
}

// ---- trace -------------------------------------------------------------------------------------------

function weights(text: string, what: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.lastIndexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const w = eq < 0 ? 1 : Number(part.slice(eq + 1));
    if (name === '' || !(w > 0)) throw new Error(`--${what}: expected NAME=WEIGHT[,NAME=WEIGHT...], got '${part}'`);
    out[name] = w;
  }
  return out;
}

function dist(text: string, what: string): TokenDist {
  let m = /^(\d+)$/.exec(text);
  if (m !== null) return Number(m[1]);
  m = /^(\d+)-(\d+)$/.exec(text);
  if (m !== null) return { dist: 'uniform', min: Number(m[1]), max: Number(m[2]) };
  m = /^exp:(\d+(?:\.\d+)?)$/.exec(text);
  if (m !== null) return { dist: 'exponential', mean: Number(m[1]), min: 1 };
  throw new Error(`--${what}: expected N, MIN-MAX or exp:MEAN, got '${text}'`);
}

function num(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new Error(`--${what}: expected a number, got '${text}'`);
  return n;
}

export async function runTraceCli(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(TRACE_USAGE);
    return sub === undefined ? 2 : 0;
  }
  switch (sub) {
    case 'generate': {
      const a = parseArgs(rest, ['out', 'spec', 'pattern', 'rate', 'duration', 'seed', 'alias', 'tenant', 'scenario', 'input', 'output', 'stream-share', 'prefix-groups', 'period', 'amplitude', 'burst-every', 'burst-length', 'burst-multiplier']);
      const outPath = a.get('out');
      if (outPath === undefined) throw new Error('trace generate: --out FILE is required');
      let spec: GenerateSpec = { ...DEFAULT_SPEC };
      const specPath = a.get('spec');
      if (specPath !== undefined) {
        const text = readFileSync(specPath, 'utf8');
        const data = (specPath.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Partial<GenerateSpec>;
        spec = { ...spec, ...data };
      }
      const set = <K extends keyof GenerateSpec>(k: K, v: GenerateSpec[K] | undefined): void => {
        if (v !== undefined) spec[k] = v;
      };
      set('pattern', a.get('pattern') as Pattern | undefined);
      set('rate', num(a.get('rate'), 'rate'));
      set('duration_s', num(a.get('duration'), 'duration'));
      set('seed', num(a.get('seed'), 'seed'));
      set('period_s', num(a.get('period'), 'period'));
      set('amplitude', num(a.get('amplitude'), 'amplitude'));
      set('burst_every_s', num(a.get('burst-every'), 'burst-every'));
      set('burst_length_s', num(a.get('burst-length'), 'burst-length'));
      set('burst_multiplier', num(a.get('burst-multiplier'), 'burst-multiplier'));
      set('stream_share', num(a.get('stream-share'), 'stream-share'));
      set('prefix_groups', num(a.get('prefix-groups'), 'prefix-groups'));
      const al = a.get('alias');
      if (al !== undefined) spec.aliases = weights(al, 'alias');
      const te = a.get('tenant');
      if (te !== undefined) spec.tenants = weights(te, 'tenant');
      const sc = a.get('scenario');
      if (sc !== undefined) spec.scenarios = weights(sc, 'scenario');
      const inp = a.get('input');
      if (inp !== undefined) spec.input_tokens = dist(inp, 'input');
      const outp = a.get('output');
      if (outp !== undefined) spec.output_tokens = dist(outp, 'output');
      const w = new TraceWriter(outPath);
      try {
        generateTrace(spec, (r) => w.write(r));
      } finally {
        w.close();
      }
      process.stdout.write(`trace: ${fmt(w.count)} requests (${spec.pattern}, ${spec.duration_s} s) written to ${outPath}\n`);
      return 0;
    }
    case 'record': {
      const a = parseArgs(rest, ['out', 'since'], ['ledger']);
      const outPath = a.get('out');
      const fromLedger = a.has('ledger');
      if (a.positionals.length !== (fromLedger ? 0 : 1) || outPath === undefined || (!fromLedger && a.get('since') !== undefined)) {
        process.stderr.write(TRACE_USAGE);
        return 2;
      }
      const r = fromLedger ? await recordFromLedger(a.get('since') ?? null, outPath) : recordFile(a.positionals[0]!, outPath);
      if (r === null) return 1;
      process.stdout.write(`trace: ${fmt(r.written)} requests recorded to ${outPath}${r.skipped > 0 ? ` (${fmt(r.skipped)} refused before routing, skipped)` : ''}\n`);
      return 0;
    }
    case 'check': {
      const a = parseArgs(rest, []);
      if (a.positionals.length !== 1) {
        process.stderr.write(TRACE_USAGE);
        return 2;
      }
      const t = readTraceFile(a.positionals[0]!);
      process.stdout.write(`ok: ${a.positionals[0]} (${fmt(t.length)} requests, ${t.durationS.toFixed(1)} s, ${t.aliases.size} aliases)\n`);
      return 0;
    }
    default:
      process.stderr.write(`switchyard trace: unknown subcommand '${sub}'\n${TRACE_USAGE}`);
      return 2;
  }
}

/** Record the requests the usage ledger holds (optionally from `since` on) into a traffic trace. */
async function recordFromLedger(since: string | null, outPath: string): Promise<{ written: number; skipped: number } | null> {
  const { openLedgerStore, sqlitePath, normalizeSince } = await import('../core/ledger/index.js');
  const { existsSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  const dataDir = resolve(process.env.SWITCHYARD_DATA_DIR ?? './data');
  const databaseUrl = process.env.SWITCHYARD_DATABASE_URL ?? '';
  if (databaseUrl === '' && !existsSync(sqlitePath(dataDir))) {
    process.stderr.write(`switchyard trace record: no ledger at ${sqlitePath(dataDir)} (set SWITCHYARD_DATA_DIR or SWITCHYARD_DATABASE_URL)\n`);
    return null;
  }
  const store = await openLedgerStore({ dataDir, databaseUrl });
  let rows;
  try {
    rows = await store.events({ since: normalizeSince(since) });
  } finally {
    await store.close();
  }
  const { requests, skipped } = recordRows(rows);
  const w = new TraceWriter(outPath);
  for (const r of requests) w.write(r);
  w.close();
  return { written: requests.length, skipped };
}
