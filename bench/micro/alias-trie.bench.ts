// Micro-benchmark: alias trie lookup with 100,000 aliases (90,000 exact, 10,000 `prefix.*` patterns).
// One lookup is a few tens of nanoseconds, below what one timer read resolves, so each tinybench
// iteration runs BATCH lookups and reports the per-lookup mean through `overriddenDuration`.
// Run directly: `node dist/bench/micro/alias-trie.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { AliasTrie, type AliasEntry } from '../../core/routing/alias-trie.js';


const BATCH = 1000;

function buildEntries(): AliasEntry[] {
  const entries: AliasEntry[] = [];
  for (let i = 0; i < 90_000; i++) {
    entries.push({ pattern: `tenant${i % 1000}.svc${Math.floor(i / 1000)}.model-${i}`, value: entries.length });
  }
  for (let i = 0; i < 10_000; i++) entries.push({ pattern: `team${i}.*`, value: entries.length });
  return entries;
}

export async function run(): Promise<MicroResult[]> {
  const entries = buildEntries();
  const t0 = performance.now();
  const trie = AliasTrie.build(entries);
  const buildMs = performance.now() - t0;

  // Several names per case so branch prediction does not learn a single path.
  const exact = ['tenant7.svc3.model-3007', 'tenant999.svc89.model-89999', 'tenant0.svc0.model-0', 'tenant512.svc40.model-40512'];
  const prefix = ['team42.summary.fast', 'team9999.chat', 'team1234.a.b.c', 'team7.x'];
  const miss = ['tenant7.svc3.model-3008', 'nope.nothing.here', 'team42', 'gpt-4o-mini'];
  const exactBytes = exact.map((s) => Buffer.from(s, 'latin1'));
  for (const n of exact) if (trie.lookup(n) < 0) throw new Error(`bench setup: ${n} should hit`);
  for (const n of prefix) if (trie.lookup(n) < 0) throw new Error(`bench setup: ${n} should hit`);
  for (const n of miss) if (trie.lookup(n) >= 0) throw new Error(`bench setup: ${n} should miss`);

  let sink = 0;
  const bench = new Bench({ name: 'alias-trie (100k aliases)', time: 300, warmupTime: 100 });
  const batched = (names: readonly string[]) => () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) sink += trie.lookup(names[i & 3]!);
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  bench
    .add('lookup exact hit', batched(exact))
    .add('lookup prefix hit', batched(prefix))
    .add('lookup miss', batched(miss))
    .add('lookupBytes exact hit', () => {
      const start = bench.now();
      for (let i = 0; i < BATCH; i++) {
        const b = exactBytes[i & 3]!;
        sink += trie.lookupBytes(b, 0, b.length);
      }
      const elapsed = bench.now() - start;
      return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
    })
    .add('build 100k aliases', () => {
      sink += AliasTrie.build(entries).nodeCount;
    });
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so lookups are not dropped

  const results = collect(bench);
  results.push({ name: 'build 100k aliases (first, cold)', ops_per_s: 1000 / buildMs, mean_ns: buildMs * 1e6 });
  return results;
}

await printIfMain(import.meta.url, run);
