// Micro-benchmark: cache-preserving prompt assembly (core/prompt/assemble.ts) and the response-cache key,
// per request, against what they replace: the previous path forwarded the client's own bytes of
// `messages` (memberText, no re-serialization) and hashed every message but the last (stablePrefixHash).
// Sub-microsecond cases run BATCH calls per tinybench iteration and report the per-call mean.
// Run directly: `node dist/bench/micro/prompt.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { PromptAssembly, assemblePrompt } from '../../core/prompt/assemble.js';
import { compileTemplate, readTemplateFile } from '../../core/prompt/templates.js';
import { stablePrefixHash } from '../../core/prompt/prefix.js';
import { memberText } from '../../core/schema/json-span.js';
import { OpenAIChatTranslator } from '../../core/providers/openai/chat.js';
import { responseCacheKey } from '../../core/cache/response-cache.js';
import type { ChatCompletionRequest, ChatMessage } from '../../core/schema/openai.js';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const BATCH = 100;
/** The checkout's root (the nearest directory with a package.json): the same from bench/ and dist/bench/. */
const ROOT = ((): string => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d + '/';
})();

/** A short chat: a 70-character system prompt and one question (the common case). */
function shortRequest(): ChatCompletionRequest {
  return {
    model: 'demo.chat',
    messages: [
      { role: 'system', content: 'You summarize CRM notes for account managers. Be brief and factual.' },
      { role: 'user', content: 'Summarize: the customer renewed for two years at the list price.' },
    ],
    metadata: { scenario_id: 'crm-summary', owner: 'team-crm' },
  };
}

/** Step 8 of an agent loop: the task, then 7 rounds of tool call + ~1 KB tool result (~8 KB of messages). */
function agentRequest(): ChatCompletionRequest {
  const messages: ChatMessage[] = [{ role: 'user', content: 'Ticket T-2001: customer CUS-6871 says order ORD-844818 (backpack) arrived damaged. Resolve the ticket.' }];
  for (let j = 0; j < 7; j++) {
    const id = `call_${j}`;
    const events = Array.from({ length: 8 }, (_, e) => ({ at: `2024-05-0${e + 1}T10:15:00Z`, what: 'scanned at hub', where: 'Denver CO' }));
    messages.push({ role: 'assistant', content: `Step ${j + 1}: checking with get_order.`, tool_calls: [{ id, type: 'function', function: { name: 'get_order', arguments: '{"order_id":"ORD-844818"}' } }] });
    messages.push({ role: 'tool', tool_call_id: id, content: JSON.stringify({ ok: true, order: 'ORD-844818', status: 'delivered', events }) });
  }
  return { model: 'ops.agent', messages, stream: true };
}

export async function run(): Promise<MicroResult[]> {
  const tmpl = readTemplateFile(ROOT + 'fixtures/prompts/ops-agent.v1.yaml');
  if (!tmpl.ok) throw new Error(tmpl.message);
  const template = compileTemplate('ops-agent', 1, tmpl.parts);
  const short = shortRequest();
  const shortText = JSON.stringify(short);
  const agent = agentRequest();
  const agentText = JSON.stringify(agent);
  const tr = new OpenAIChatTranslator();
  const out = new PromptAssembly();
  if (!assemblePrompt(agent, template, out) || out.messagesJson.length < 6000) throw new Error('bench setup: agent prompt should be ~8 KB');
  const canonical = tr.buildBody(agent, '', out.messagesJson, undefined, out.toolsJson);
  // The cases this module started with (bench suites, issue 10): the previous prefix hash on two shapes.
  const system = 'You summarize CRM notes for account managers. Be brief, factual, and name the next step. '.repeat(20); // ~1.8 KB
  const small = { model: 'crm.summary.fast', messages: [{ role: 'system', content: system }, { role: 'user', content: 'Note: called the customer, renewal next week.' }] } as unknown as ChatCompletionRequest;
  const turns = [];
  for (let i = 0; i < 10; i++) turns.push({ role: 'user', content: `Question ${i}: ${'details '.repeat(30)}` }, { role: 'assistant', content: `Answer ${i}: ${'reply '.repeat(40)}` });
  const convo = { model: 'crm.chat', messages: [{ role: 'system', content: system }, ...turns, { role: 'user', content: 'And now?' }] } as unknown as ChatCompletionRequest;

  let sink = 0;
  const bench = new Bench({ name: 'prompt assembly', time: 300, warmupTime: 100 });
  const batched = (fn: () => number) => () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) sink += fn();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  bench
    .add('short chat: memberText (previous path: client bytes of messages)', batched(() => memberText(shortText, 'messages')!.length))
    .add('short chat: JSON.stringify(messages)', batched(() => JSON.stringify(short.messages).length))
    .add('short chat: assemblePrompt (canonical messages + prefix hash)', batched(() => (assemblePrompt(short, null, out) ? out.messagesJson.length : 0)))
    .add('short chat: stablePrefixHash (previous prefix hash)', batched(() => stablePrefixHash(short)))
    .add('agent step 8 (~8 KB): memberText (previous path)', batched(() => memberText(agentText, 'messages')!.length))
    .add('agent step 8 (~8 KB): JSON.stringify(messages)', batched(() => JSON.stringify(agent.messages).length))
    .add('agent step 8 (~8 KB): assemblePrompt with ops-agent template (5 tools)', batched(() => (assemblePrompt(agent, template, out) ? out.messagesJson.length : 0)))
    .add('agent step 8 (~8 KB): stablePrefixHash (previous prefix hash)', batched(() => stablePrefixHash(agent)))
    .add('agent step 8: buildBody from the assembled prompt (~16 KB)', batched(() => tr.buildBody(agent, 'llama', out.messagesJson, undefined, out.toolsJson).length))
    .add('stablePrefixHash, 1.8 KB system prompt', () => {
      sink ^= stablePrefixHash(small);
    })
    .add('stablePrefixHash, system + 20 turns (~8 KB)', () => {
      sink ^= stablePrefixHash(convo);
    })
    .add('assemblePrompt, 1.8 KB system prompt', batched(() => (assemblePrompt(small, null, out) ? out.prefixHash : 0)))
    .add('assemblePrompt, system + 20 turns (~8 KB)', () => {
      sink ^= assemblePrompt(convo, null, out) ? out.prefixHash : 0;
    })
    .add('responseCacheKey: SHA-256 of the ~16 KB canonical request', () => {
      sink += responseCacheKey('acme', 3, 'ops.agent', canonical).length;
    });
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped
  return collect(bench);
}

await printIfMain(import.meta.url, run);
