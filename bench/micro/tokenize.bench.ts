// Where token counting should leave the event loop: o200k counting inline at several prompt sizes
// against one piscina round trip (a tiny task, so the number is the hop itself).
import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { TokenCounter } from '../../core/accounting/tokens.js';

const WORDS = 'account renewal summary quota budget region latency customer contract invoice policy update note request model token stream cache'.split(' ');

/** Text of about `chars` characters from a seeded word sequence (no repetition a BPE cache would favour). */
function text(chars: number, seed: number): string {
  let s = '';
  let x = seed;
  while (s.length < chars) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += WORDS[x % WORDS.length] + (x % 7 === 0 ? '. ' : ' ') + (x % 13 === 0 ? String(x % 1000) + ' ' : '');
  }
  return s.slice(0, chars);
}

export async function run(): Promise<MicroResult[]> {
  const inline = new TokenCounter(Number.MAX_SAFE_INTEGER);
  const pooled = new TokenCounter(0, 1);
  const sizes = [100, 500, 2_000, 8_000, 24_000];
  const samples = new Map(sizes.map((n) => [n, Array.from({ length: 16 }, (_, i) => text(n, i + 1))]));
  let k = 0;
  let sink = 0;
  const bench = new Bench({ time: 300, warmupTime: 100 });
  for (const n of sizes) {
    const texts = samples.get(n)!;
    bench.add(`inline count, ${n} chars`, () => {
      sink += inline.count([texts[k++ & 15]!], n) as number;
    });
  }
  bench.add('worker round trip (piscina), 10 chars', async () => {
    sink += await pooled.count(['hello there'], 11);
  });
  await bench.run();
  await pooled.close();
  if (sink === 0.5) throw new Error('unreachable');
  return collect(bench);
}

await printIfMain(import.meta.url, run);
