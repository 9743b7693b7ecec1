// Putting a replay together: config → Plan (per what-if), pools file, trace → engine runs → report.
import type { Config } from '../core/config/schema.js';
import { compilePlan } from '../core/config/compile.js';
import { loadConfigFileSync } from '../core/config/load.js';
import type { Plan } from '../core/config/plan.js';
import { replay, type ReplayResult } from './engine.js';
import { mergePools, parsePoolsData, type PoolsFile } from './pools.js';
import { charts, runReport, type Charts, type Report } from './report.js';
import type { TraceColumns } from './trace-format.js';

/** Load and validate a config file (every problem listed on failure). */
export function loadReplayConfig(path: string): Config {
  const r = loadConfigFileSync(path);
  if (!r.ok) throw new Error(`invalid config ${path}:\n  ${r.problems.join('\n  ')}`);
  return r.config;
}

/** Compile a Plan for replay: no provider is called, so providers without a base URL get a placeholder. */
export function replayPlan(config: Config, canary: Record<string, number> = {}): Plan {
  let cfg = config;
  const names = Object.keys(canary);
  if (names.length > 0) {
    cfg = structuredClone(config);
    for (const alias of names) {
      const route = cfg.routes.find((r) => r.alias === alias);
      if (route === undefined) throw new Error(`what-if canary: no route '${alias}' in the config`);
      if (route.canary_target === null) throw new Error(`what-if canary: route '${alias}' has no canary_target`);
      route.canary_share = canary[alias]!;
    }
  }
  const urls = new Map<string, string>();
  for (const p of cfg.providers) if (p.base_url === undefined) urls.set(p.name, 'http://replay.invalid/v1');
  return compilePlan(cfg, { env: {}, providerBaseUrls: urls });
}

export interface ReplayRunOptions {
  config: Config;
  configName: string;
  pools: PoolsFile;
  poolsName: string | null;
  traceName: string;
  seed?: number;
  bins?: number;
  onProgress?: (run: string, arrived: number, total: number, virtualMs: number) => void;
}

export interface ReplayOutput {
  report: Report;
  charts: Charts;
  baseline: ReplayResult;
  wallMs: number[];
}

export function runReplayAll(trace: TraceColumns, o: ReplayRunOptions): ReplayOutput {
  const seed = o.seed ?? o.pools.seed;
  const runs = [{ name: 'baseline', pools: o.pools.pools, canary: {} as Record<string, number> }];
  for (const w of o.pools.whatIf) runs.push({ name: w.name, pools: mergePools(o.pools.pools, w.pools), canary: w.canary });
  const reports = [];
  const wallMs: number[] = [];
  let baseline: ReplayResult | null = null;
  for (const run of runs) {
    const plan = replayPlan(o.config, run.canary);
    const res = replay(trace, {
      plan,
      pools: run.pools,
      seed,
      startMs: o.pools.startMs,
      ...(o.bins !== undefined ? { bins: o.bins } : {}),
      ...(o.onProgress !== undefined ? { onProgress: (a: number, n: number, v: number) => o.onProgress!(run.name, a, n, v) } : {}),
    });
    wallMs.push(res.wallMs);
    if (baseline === null) baseline = res;
    reports.push(runReport(run.name, res));
  }
  const [base, ...whatIf] = reports;
  const report: Report = {
    meta: {
      trace: o.traceName,
      config: o.configName,
      pools_file: o.poolsName,
      seed,
      duration_s: trace.durationS,
      start: new Date(o.pools.startMs).toISOString(),
    },
    ...base!,
    what_if: whatIf,
  };
  return { report, charts: charts(baseline!, reports), baseline: baseline!, wallMs };
}

export const EMPTY_POOLS: PoolsFile = parsePoolsData({});
