// piscina task: count o200k tokens of some texts. Pure: no shared state, nothing kept between tasks
// but the tokenizer's own tables.
import { countTokens } from 'gpt-tokenizer';

export interface TokenizeTask {
  texts: string[];
}

export default function tokenize(task: TokenizeTask): number {
  let n = 0;
  for (const t of task.texts) n += countTokens(t);
  return n;
}
