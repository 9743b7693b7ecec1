// `switchyard bench compare REV_A REV_B [--suite micro|macro] [--module NAME[,NAME]] [--rounds N]
//                           [--threshold PCT] [--npm-ci] [--keep] [--json] [macro options]`
//
// Builds two git revisions, each in its own temporary worktree (`git worktree add --detach`), and runs
// the same suite against both side by side: micro modules alternate A, B, A, B ... for `--rounds`
// rounds and each case keeps its median; the macro suite runs once per revision, A then B. A change
// larger than the threshold (default 5%) is flagged: slower (↑ time, ↓ throughput) or faster.
//
// Dependencies: each worktree gets a symlink to this checkout's node_modules (fast; right when the two
// revisions' package-lock.json agree), or its own `npm ci` with --npm-ci. The same commit named twice is
// built once. Worktrees are removed afterwards unless --keep.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, parseArgs } from '../cli/args.js';

export const COMPARE_USAGE = `usage: switchyard bench compare REV_A REV_B [--suite micro|macro] [--module NAME[,NAME]] [--rounds N]
                                  [--threshold PCT] [--npm-ci] [--keep] [--json] [-- macro options]
`;

interface Side {
  rev: string;
  commit: string;
  dir: string;
}

export interface CompareRow {
  suite: 'micro' | 'macro';
  module: string;
  name: string;
  /** What is compared: ns per op (lower is better) or requests/s (higher is better). */
  unit: 'ns' | 'rps' | 'us';
  a: number;
  b: number;
  /** (b − a) / a */
  change: number;
  /** 'slower' | 'faster' when |change| > threshold, else ''. */
  flag: '' | 'slower' | 'faster';
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function log(msg: string): void {
  process.stderr.write(`[bench compare] ${msg}\n`);
}

/** Check out and build `rev` in a temporary worktree. */
function prepare(rev: string, commit: string, npmCi: boolean): Side {
  const dir = mkdtempSync(join(tmpdir(), `switchyard-${commit.slice(0, 8)}-`));
  rmSync(dir, { recursive: true, force: true });
  log(`${rev} (${commit.slice(0, 10)}): worktree ${dir}`);
  git(['worktree', 'add', '--detach', dir, commit], packageRoot);
  if (npmCi) {
    log(`${rev}: npm ci`);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`npm ci failed in ${dir}`);
  } else symlinkSync(join(packageRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  log(`${rev}: build`);
  const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  const b = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (b.status !== 0) throw new Error(`build of ${rev} failed (in ${dir})`);
  return { rev, commit, dir };
}

function cleanup(side: Side): void {
  try {
    git(['worktree', 'remove', '--force', side.dir], packageRoot);
  } catch {
    rmSync(side.dir, { recursive: true, force: true });
    try {
      git(['worktree', 'prune'], packageRoot);
    } catch {
      /* nothing more to do */
    }
  }
}

/** Run one micro module of a built revision in a fresh process; its rows. */
function runMicroModule(side: Side, module: string): Array<{ name: string; mean_ns: number }> {
  const file = join(side.dir, 'dist', 'bench', 'micro', `${module}.bench.js`);
  const code = `import(${JSON.stringify('file://' + file)}).then((m) => m.run()).then((rows) => process.stdout.write(JSON.stringify(rows)))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: side.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${side.rev}: micro module ${module} failed (exit ${r.status})`);
  return JSON.parse(r.stdout) as Array<{ name: string; mean_ns: number }>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function flagOf(change: number, lowerIsBetter: boolean, threshold: number): CompareRow['flag'] {
  if (Math.abs(change) <= threshold) return '';
  const worse = lowerIsBetter ? change > 0 : change < 0;
  return worse ? 'slower' : 'faster';
}

function microModules(side: Side): string[] {
  return readdirSync(join(side.dir, 'dist', 'bench', 'micro'))
    .filter((n) => n.endsWith('.bench.js'))
    .map((n) => n.slice(0, -'.bench.js'.length))
    .sort();
}

export async function runCompare(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(COMPARE_USAGE);
    return 0;
  }
  const dd = argv.indexOf('--');
  const own = dd < 0 ? argv : argv.slice(0, dd);
  const macroArgs = dd < 0 ? [] : argv.slice(dd + 1);
  const a = parseArgs(own, ['suite', 'module', 'rounds', 'threshold'], ['npm-ci', 'keep', 'json']);
  if (a.positionals.length !== 2) {
    process.stderr.write(COMPARE_USAGE);
    return 2;
  }
  const suite = a.get('suite') ?? 'micro';
  if (suite !== 'micro' && suite !== 'macro') throw new Error(`--suite must be micro or macro, got '${suite}'`);
  const rounds = Number(a.get('rounds') ?? 3);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 50)) throw new Error('--rounds must be an integer between 1 and 50');
  const threshold = Number(a.get('threshold') ?? 5) / 100;
  if (!(threshold > 0)) throw new Error('--threshold must be a percentage > 0');
  const json = a.has('json');

  const [revA, revB] = a.positionals as [string, string];
  const resolve = (rev: string): string => {
    try {
      return git(['rev-parse', '--verify', `${rev}^{commit}`], packageRoot);
    } catch {
      throw new Error(`not a git revision here: '${rev}'`);
    }
  };
  const commitA = resolve(revA);
  const commitB = resolve(revB);
  const sides: Side[] = [];
  let rows: CompareRow[] = [];
  try {
    const sideA = prepare(revA, commitA, a.has('npm-ci'));
    sides.push(sideA);
    let sideB: Side;
    if (commitB === commitA) {
      log(`${revB} is the same commit: reusing its build`);
      sideB = { rev: revB, commit: commitB, dir: sideA.dir };
    } else {
      sideB = prepare(revB, commitB, a.has('npm-ci'));
      sides.push(sideB);
    }
    rows = suite === 'micro' ? compareMicro(sideA, sideB, a.get('module'), rounds, threshold) : compareMacro(sideA, sideB, macroArgs, threshold);
  } finally {
    if (!a.has('keep')) for (const s of sides) cleanup(s);
  }

  const out = json ? process.stderr : process.stdout;
  if (json) for (const r of rows) process.stdout.write(JSON.stringify({ ...r, suite: 'compare', compared: r.suite, a_rev: revA, b_rev: revB }) + '\n');
  const w1 = Math.max(6, ...rows.map((r) => r.module.length));
  const w2 = Math.max(4, ...rows.map((r) => r.name.length));
  out.write(`${'module'.padEnd(w1)}  ${'case'.padEnd(w2)}  ${('A ' + revA).slice(0, 14).padStart(14)}  ${('B ' + revB).slice(0, 14).padStart(14)}  ${'change'.padStart(8)}\n`);
  for (const r of rows) {
    const f = (x: number): string => (r.unit === 'rps' ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)) + ' ' + r.unit;
    out.write(`${r.module.padEnd(w1)}  ${r.name.padEnd(w2)}  ${f(r.a).padStart(14)}  ${f(r.b).padStart(14)}  ${((r.change >= 0 ? '+' : '') + (r.change * 100).toFixed(1) + '%').padStart(8)}${r.flag === '' ? '' : `  ← ${r.flag} (over ${(threshold * 100).toFixed(0)}%)`}\n`);
  }
  const flagged = rows.filter((r) => r.flag !== '').length;
  out.write(`${rows.length} cases, ${flagged} changed by more than ${(threshold * 100).toFixed(0)}%\n`);
  return 0;
}

function compareMicro(A: Side, B: Side, moduleOpt: string | undefined, rounds: number, threshold: number): CompareRow[] {
  const common = microModules(A).filter((m) => microModules(B).includes(m));
  const wanted = moduleOpt === undefined ? common : moduleOpt.split(',');
  for (const m of wanted) if (!common.includes(m)) throw new Error(`micro module '${m}' is not in both revisions (both have: ${common.join(', ')})`);
  const rows: CompareRow[] = [];
  for (const module of wanted) {
    const samples = new Map<string, { a: number[]; b: number[] }>();
    for (let r = 0; r < rounds; r++) {
      log(`${module}: round ${r + 1}/${rounds}`);
      for (const [side, key] of [
        [A, 'a'],
        [B, 'b'],
      ] as const) {
        for (const row of runMicroModule(side, module)) {
          let s = samples.get(row.name);
          if (s === undefined) samples.set(row.name, (s = { a: [], b: [] }));
          s[key].push(row.mean_ns);
        }
      }
    }
    for (const [name, s] of samples) {
      if (s.a.length === 0 || s.b.length === 0) continue; // a case only one side has
      const av = median(s.a);
      const bv = median(s.b);
      const change = av > 0 ? (bv - av) / av : 0;
      rows.push({ suite: 'micro', module, name, unit: 'ns', a: av, b: bv, change, flag: flagOf(change, true, threshold) });
    }
  }
  return rows;
}

function compareMacro(A: Side, B: Side, macroArgs: string[], threshold: number): CompareRow[] {
  const run = (side: Side): Record<string, unknown>[] => {
    log(`${side.rev}: macro`);
    const r = spawnSync(process.execPath, [join(side.dir, 'dist', 'cli', 'main.js'), 'bench', 'macro', '--json', ...macroArgs], { cwd: side.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${side.rev}: macro suite failed (exit ${r.status})`);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const ra = run(A);
  const rb = run(B);
  const rows: CompareRow[] = [];
  // Every numeric field of every macro JSON line that both sides have; rates are better higher.
  const flat = (lines: Record<string, unknown>[]): Map<string, number> => {
    const m = new Map<string, number>();
    const walk = (prefix: string, v: unknown): void => {
      if (typeof v === 'number') m.set(prefix, v);
      else if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix === '' ? k : `${prefix}.${k}`, x);
    };
    lines.forEach((l, i) => walk(String(l.case ?? l.name ?? i), l));
    return m;
  };
  const fa = flat(ra);
  const fb = flat(rb);
  for (const [k, av] of fa) {
    const bv = fb.get(k);
    if (bv === undefined || av === 0) continue;
    const higherBetter = /rps|per_s|ratio|throughput/.test(k);
    const change = (bv - av) / av;
    rows.push({ suite: 'macro', module: 'macro', name: k, unit: higherBetter ? 'rps' : 'us', a: av, b: bv, change, flag: flagOf(change, !higherBetter, threshold) });
  }
  if (existsSync(A.dir) && rows.length === 0) log('no comparable numbers in the macro output');
  return rows;
}
