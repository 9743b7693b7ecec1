// piscina task: count tokens of some texts in one encoding (o200k by default). Pure: no shared state,
// nothing kept between tasks but the tokenizers' own tables.
import { createRequire } from 'node:module';
import { countTokens } from 'gpt-tokenizer';

export interface TokenizeTask {
  texts: string[];
  encoding?: 'o200k_base' | 'cl100k_base';
}

let cl100k: ((text: string) => number) | null = null;

export default function tokenize(task: TokenizeTask): number {
  let count: (text: string) => number = countTokens;
  if (task.encoding === 'cl100k_base') {
    cl100k ??= (createRequire(import.meta.url)('gpt-tokenizer/encoding/cl100k_base') as { countTokens: (text: string) => number }).countTokens;
    count = cl100k;
  }
  let n = 0;
  for (const t of task.texts) n += count(t);
  return n;
}
