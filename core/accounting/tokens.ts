// Token counting with the o200k tokenizer: short texts inline (a worker hop costs more than the work),
// long ones in piscina workers so the event loop never stalls on a long prompt. The threshold comes
// from bench/micro/tokenize.bench.ts (inline cost vs a worker round trip; see BENCHMARKS.md).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/** Characters above which counting goes to a worker (measured: see BENCHMARKS.md, "tokenize"). */
export const INLINE_MAX_CHARS = 2_000;

type CountFn = (text: string) => number;

/** The compiled worker file (tests run from sources, workers always from dist/). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.includes('/dist/') ? here : here.replace(/\/core\/accounting\/tokens\.ts$/, '/dist/core/accounting/tokens.js');
  return compiled.replace(/accounting\/tokens\.js$/, 'workers/tokenize.js');
}

export class TokenCounter {
  private inline: CountFn | null = null;
  private pool: Piscina | null = null;

  constructor(
    private readonly inlineMaxChars = INLINE_MAX_CHARS,
    private readonly maxThreads = 2,
  ) {}

  /** Tokens in `texts` (whose lengths add up to `chars`): a number when counted inline, else a promise. */
  count(texts: string[], chars: number): number | Promise<number> {
    if (chars <= this.inlineMaxChars) {
      // Loaded on first use (~250 ms once): most gateways never need it on the request path.
      if (this.inline === null) this.inline = (createRequire(import.meta.url)('gpt-tokenizer') as { countTokens: CountFn }).countTokens;
      let n = 0;
      for (const t of texts) n += this.inline(t);
      return n;
    }
    if (this.pool === null) this.pool = new Piscina({ filename: workerFile(), minThreads: 0, maxThreads: this.maxThreads, idleTimeout: 30_000 });
    return this.pool.run({ texts }) as Promise<number>;
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    if (p !== null) await p.destroy();
  }
}
