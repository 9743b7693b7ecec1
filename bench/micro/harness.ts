// What every micro-benchmark module shares: the result row, collecting rows from a tinybench run, and
// printing a table when the module is run directly (`node dist/bench/micro/NAME.bench.js`).
import type { Bench } from 'tinybench';

export interface MicroResult {
  name: string;
  ops_per_s: number;
  mean_ns: number;
}

/** One row per task that produced latency samples. */
export function collect(bench: Bench): MicroResult[] {
  const results: MicroResult[] = [];
  for (const task of bench.tasks) {
    const r = task.result;
    if (!r || !('latency' in r)) continue;
    const meanMs = r.latency.mean;
    results.push({ name: task.name, ops_per_s: meanMs > 0 ? 1000 / meanMs : 0, mean_ns: meanMs * 1e6 });
  }
  return results;
}

/** Run `run` and print its rows when `moduleUrl` is the script node was started with. */
export async function printIfMain(moduleUrl: string, run: () => Promise<MicroResult[]>): Promise<void> {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  const rows = await run();
  console.table(rows.map((r) => ({ name: r.name, 'ops/s': Math.round(r.ops_per_s).toLocaleString('en-US'), 'mean ns': r.mean_ns.toFixed(1) })));
}
