// Token counting with the o200k tokenizer: short texts inline (a worker hop costs more than the work),
// long ones in piscina workers so the event loop never stalls on a long prompt. The threshold comes
// from bench/micro/tokenize.bench.ts (inline cost vs a worker round trip; see BENCHMARKS.md).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/** Characters above which counting goes to a worker (measured: see BENCHMARKS.md, "tokenize"). */
export const INLINE_MAX_CHARS = 2_000;

type CountFn = (text: string) => number;

/** The BPE encodings the counter knows (gpt-tokenizer's). */
export type Encoding = 'o200k_base' | 'cl100k_base';

/**
 * The encoding of a provider model: cl100k for the GPT-4 / GPT-3.5 generation (and OpenAI embeddings),
 * o200k for the rest of OpenAI's models — and, as the nearest public approximation, for models whose own
 * tokenizer is not available here (Llama, Claude, ...): their counts are estimates either way.
 */
export function encodingFor(model: string): Encoding {
  return /^(gpt-4(?![o.]|-?o)|gpt-3\.5|text-embedding-(ada|3))/.test(model) ? 'cl100k_base' : 'o200k_base';
}

/** The compiled worker file (tests run from sources, workers always from dist/). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.includes('/dist/') ? here : here.replace(/\/core\/accounting\/tokens\.ts$/, '/dist/core/accounting/tokens.js');
  return compiled.replace(/accounting\/tokens\.js$/, 'workers/tokenize.js');
}

export class TokenCounter {
  private inline: CountFn | null = null;
  private inlineCl100k: CountFn | null = null;
  private pool: Piscina | null = null;

  constructor(
    private readonly inlineMaxChars = INLINE_MAX_CHARS,
    private readonly maxThreads = 2,
  ) {}

  /** Tokens in `texts` (whose lengths add up to `chars`): a number when counted inline, else a promise. */
  count(texts: string[], chars: number, encoding: Encoding = 'o200k_base'): number | Promise<number> {
    if (chars <= this.inlineMaxChars) {
      const count = encoding === 'cl100k_base' ? this.cl100k() : this.o200k();
      let n = 0;
      for (const t of texts) n += count(t);
      return n;
    }
    if (this.pool === null) this.pool = new Piscina({ filename: workerFile(), minThreads: 0, maxThreads: this.maxThreads, idleTimeout: 30_000 });
    return this.pool.run({ texts, encoding }) as Promise<number>;
  }

  // Loaded on first use (~250 ms once): most gateways never need a tokenizer on the request path.
  private o200k(): CountFn {
    if (this.inline === null) this.inline = (createRequire(import.meta.url)('gpt-tokenizer') as { countTokens: CountFn }).countTokens;
    return this.inline;
  }

  private cl100k(): CountFn {
    if (this.inlineCl100k === null) this.inlineCl100k = (createRequire(import.meta.url)('gpt-tokenizer/encoding/cl100k_base') as { countTokens: CountFn }).countTokens;
    return this.inlineCl100k;
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    if (p !== null) await p.destroy();
  }
}
