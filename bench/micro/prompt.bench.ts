// Micro-benchmark: prompt assembly as it exists today — the stable-prefix hash of a chat request (what
// prefix affinity and prefix-cache metrics run per self-hosted request). Template assembly is its own
// issue; its cases belong here when it lands.
// Run directly: `node dist/bench/micro/prompt.bench.js` (after `npm run build`).
import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { stablePrefixHash } from '../../core/prompt/prefix.js';
import type { ChatCompletionRequest } from '../../core/schema/openai.js';

export async function run(): Promise<MicroResult[]> {
  const system = 'You summarize CRM notes for account managers. Be brief, factual, and name the next step. '.repeat(20); // ~1.8 KB
  const small = { model: 'crm.summary.fast', messages: [{ role: 'system', content: system }, { role: 'user', content: 'Note: called the customer, renewal next week.' }] } as unknown as ChatCompletionRequest;
  const turns = [];
  for (let i = 0; i < 10; i++) turns.push({ role: 'user', content: `Question ${i}: ${'details '.repeat(30)}` }, { role: 'assistant', content: `Answer ${i}: ${'reply '.repeat(40)}` });
  const convo = { model: 'crm.chat', messages: [{ role: 'system', content: system }, ...turns, { role: 'user', content: 'And now?' }] } as unknown as ChatCompletionRequest;
  let sink = 0;
  const bench = new Bench({ name: 'prompt', time: 300, warmupTime: 100 });
  bench
    .add('stablePrefixHash, 1.8 KB system prompt', () => {
      sink ^= stablePrefixHash(small);
    })
    .add('stablePrefixHash, system + 20 turns (~8 KB)', () => {
      sink ^= stablePrefixHash(convo);
    });
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable');
  return collect(bench);
}

await printIfMain(import.meta.url, run);
