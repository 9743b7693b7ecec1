// `switchyard bench [SUITE] [--json]`: the benchmark suites.
//   micro  every dist/bench/micro/*.bench.js module exporting `run(): Promise<Array<{name, ops_per_s, mean_ns}>>`
//   macro  gateway vs direct-to-simulator vs the bare reference proxy (bench/macro/gateway.ts)
//   prefix prefix affinity on vs off on a multi-turn agentic trace, GPU pool simulator (bench/macro/prefix-affinity.ts)
//   ledger usage-ledger insert rate (SQLite, Postgres) and event-loop delay with/without worker offload (bench/ledger.ts)
//   stream   concurrent SSE streams: added TTFT, added gap between chunks, memory per stream (bench/macro/stream.ts)
//   compare  two git revisions side by side (bench/compare.ts)
//   observability  metrics + span export on vs off, /metrics scrape time (bench/macro/observability.ts)
//   ws     WebSocket ingress vs HTTP keep-alive, JSON vs msgpack frames (bench/macro/ws.ts)
//   (none) micro, then macro
// With --json, stdout carries only JSON lines: one per micro-benchmark case, one for the macro run.
// Options after the suite name that micro does not know are handed to macro (e.g. `--duration 5`).

import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { MACRO_USAGE, runMacro } from './macro/gateway.js';
import { runObservability } from './macro/observability.js';
import { WS_USAGE, runWsBench } from './macro/ws.js';

import type { MicroResult as MicroCase } from './micro/harness.js';

const USAGE = `usage: switchyard bench [micro|macro|observability|stream|ledger|prefix|ws] [--json] [--module NAME[,NAME]] [suite options]
       switchyard bench compare REV_A REV_B [...]   (bench compare --help)
${MACRO_USAGE}${WS_USAGE}
prefix options: --sessions N (24) --steps N (8) --replicas N (4) --max-batch N (8) --prefill TOK/S (8000) --decode TOK/S (100)
`;

const MICRO_DIR = fileURLToPath(new URL('./micro/', import.meta.url));

function microModules(): string[] {
  let names: string[];
  try {
    names = readdirSync(MICRO_DIR);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.bench.js')).sort();
}

function fmtNum(x: number, digits = 0): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export async function runMicro(json: boolean, only: string[] | null = null): Promise<number> {
  let files = microModules();
  if (only !== null) {
    const missing = only.filter((m) => !files.includes(`${m}.bench.js`));
    if (missing.length > 0) {
      process.stderr.write(`[bench micro] no module ${missing.join(', ')} (modules: ${files.map((f) => f.slice(0, -'.bench.js'.length)).join(', ')})\n`);
      return 2;
    }
    files = files.filter((f) => only.includes(f.slice(0, -'.bench.js'.length)));
  }
  if (files.length === 0) {
    process.stderr.write(`[bench micro] no *.bench.js modules in ${MICRO_DIR} (run \`npm run build\`)\n`);
    return 1;
  }
  const rows: Array<{ module: string } & MicroCase> = [];
  let failed = 0;
  for (const file of files) {
    const module = file.slice(0, -'.bench.js'.length);
    process.stderr.write(`[bench micro] ${module}\n`);
    try {
      const mod = (await import(pathToFileURL(join(MICRO_DIR, file)).href)) as { run?: () => Promise<MicroCase[]> };
      if (typeof mod.run !== 'function') {
        process.stderr.write(`[bench micro] ${file}: exports no run(); skipped\n`);
        continue;
      }
      const cases = await mod.run();
      for (const c of cases) {
        const row = { module, name: c.name, ops_per_s: c.ops_per_s, mean_ns: c.mean_ns };
        rows.push(row);
        if (json) process.stdout.write(JSON.stringify({ suite: 'micro', ...row }) + '\n');
      }
    } catch (err) {
      failed++;
      process.stderr.write(`[bench micro] ${file} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
  }
  const out = json ? process.stderr : process.stdout;
  const w1 = Math.max(6, ...rows.map((r) => r.module.length));
  const w2 = Math.max(4, ...rows.map((r) => r.name.length));
  out.write(`${'module'.padEnd(w1)}  ${'case'.padEnd(w2)}  ${'ops/s'.padStart(14)}  ${'mean ns'.padStart(12)}\n`);
  out.write(`${'-'.repeat(w1)}  ${'-'.repeat(w2)}  ${'-'.repeat(14)}  ${'-'.repeat(12)}\n`);
  for (const r of rows) {
    out.write(`${r.module.padEnd(w1)}  ${r.name.padEnd(w2)}  ${fmtNum(r.ops_per_s).padStart(14)}  ${fmtNum(r.mean_ns, 1).padStart(12)}\n`);
  }
  return failed > 0 ? 1 : 0;
}

export async function runBench(argv: string[]): Promise<number> {
  const rest = [...argv];
  let suite: string | null = null;
  if (rest.length > 0 && !rest[0]!.startsWith('-')) suite = rest.shift()!;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const json = rest.includes('--json');
  const mi = rest.indexOf('--module');
  const only = mi >= 0 && rest[mi + 1] !== undefined ? rest[mi + 1]!.split(',') : null;
  switch (suite) {
    case 'micro':
      return runMicro(json, only);
    case 'stream': {
      const { runStream } = await import('./macro/stream.js');
      return runStream(rest);
    }
    case 'compare': {
      const { runCompare } = await import('./compare.js');
      return runCompare(rest);
    }
    case 'macro':
      return runMacro(rest);
    case 'prefix': {
      const { formatPrefixTable, parsePrefixArgs, runPrefixBench } = await import('./macro/prefix-affinity.js');
      const rows = await runPrefixBench(parsePrefixArgs(rest));
      if (json) for (const r of rows) process.stdout.write(JSON.stringify({ suite: 'prefix', ...r }) + '\n');
      else process.stdout.write(formatPrefixTable(rows) + '\n');
      return rows.some((r) => r.errors > 0) ? 1 : 0;
    }
    case 'observability':
      return runObservability(rest);
    case 'ledger': {
      const { runLedgerBench } = await import('./ledger.js');
      return runLedgerBench(rest);
    }
    case 'ws':
      return runWsBench(rest);
    case null: {
      const micro = await runMicro(json, only);
      // --module NAME is micro's; the macro suite does not take it.
      const macroArgs = mi >= 0 ? [...rest.slice(0, mi), ...rest.slice(mi + 2)] : rest;
      const macro = await runMacro(macroArgs);
      return Math.max(micro, macro);
    }
    default:
      process.stderr.write(`unknown bench suite: ${suite}\n${USAGE}`);
      return 2;
  }
}
