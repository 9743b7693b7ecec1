// Micro-benchmark: the cost of a default policy set (email redact, phone flag, payment card block,
// national id redact, secret redact on input; email redact, card block, secret block on output) per
// request for a 4k-token prompt, and per streamed chunk, next to reference costs of the same request
// (JSON.parse of its body) and chunk (the OpenAI stream translator).
// Run directly: `node dist/bench/micro/policy.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { ChatStreamFilter, PolicyRun, RouteSafety, checkChatRequest, compilePolicy } from '../../core/policy/index.js';
import { OpenAIChatTranslator } from '../../core/providers/openai/chat.js';
import { ResponseInfo } from '../../core/providers/translator.js';
import type { ChatCompletionRequest } from '../../core/schema/openai.js';
import { CREDENTIAL, EMAIL, NATIONAL_ID, PAYMENT_CARD, PHONE, SECRET } from '../../core/policy/detectors.js';

const POLICY = compilePolicy({
  name: 'default-pii',
  input: [
    { detector: 'email', action: 'redact' },
    { detector: 'phone', action: 'flag' },
    { detector: 'payment_card', action: 'block' },
    { detector: 'national_id', action: 'redact' },
    { detector: 'secret', action: 'redact' },
  ],
  output: [
    { detector: 'email', action: 'redact' },
    { detector: 'payment_card', action: 'block' },
    { detector: 'secret', action: 'block' },
  ],
});
const SAFETY = new RouteSafety(POLICY, 'crm.summary.fast');

const WORDS = 'the account manager asked for a summary of the renewal call notes with the customer about pricing and the support plan for next year'.split(' ');

/** About `tokens` tokens of prose (≈ 4 characters a token), with `pii` of the default detectors' matches in it. */
function prompt(tokens: number, pii: boolean): string {
  let s = '';
  let i = 0;
  while (s.length < tokens * 4) {
    s += (i === 0 ? '' : ' ') + WORDS[i % WORDS.length]!;
    i++;
    if (pii && i % 2000 === 0) s += ' reach jane.doe@example.com or +1 415-555-0100, ssn 123-45-6789, key sk-proj-abcdefghijklmnop1234.';
  }
  return s;
}

function request(text: string): string {
  return JSON.stringify({ model: 'crm.summary.fast', messages: [{ role: 'system', content: 'Summarize the note.' }, { role: 'user', content: text }] });
}

export async function run(): Promise<MicroResult[]> {
  const clean = request(prompt(4000, false));
  const dirty = request(prompt(4000, true));
  const changed = { value: false };
  const check = (json: string): number => {
    const body = JSON.parse(json) as ChatCompletionRequest;
    const r = new PolicyRun(SAFETY);
    changed.value = false;
    if (!checkChatRequest(r, body, changed)) throw new Error('bench setup: blocked');
    return r.entries.length;
  };
  if (check(clean) !== 0 || check(dirty) !== 4) throw new Error('bench setup: unexpected findings');

  // One streamed content event as the translator emits it (a word per chunk).
  const event = (w: string): string => 'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"crm.summary.fast","choices":[{"index":0,"delta":{"content":' + JSON.stringify(w) + '},"finish_reason":null}]}\n\n';
  const events = WORDS.map((w) => event(' ' + w));
  const upstream = WORDS.map((w) => Buffer.from('data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":' + JSON.stringify(' ' + w) + '},"finish_reason":null}],"usage":null}\n\n'));
  const filter = new ChatStreamFilter(new PolicyRun(SAFETY), { model: 'x', messages: [] } as unknown as ChatCompletionRequest);
  const translator = new OpenAIChatTranslator().createStream('crm.summary.fast', false, new ResponseInfo());
  const scanner = new PolicyRun(SAFETY).outputStream()!;

  let sink = 0;
  let k = 0;
  // Warm the regexes and the scan paths first (V8 tiers regexes up lazily: the first task would pay).
  for (let i = 0; i < 300; i++) sink += check(i % 2 === 0 ? clean : dirty);
  const bench = new Bench({ name: 'policy', time: 400, warmupTime: 100 });
  bench
    .add('JSON.parse of the 4k-token request (reference)', () => {
      sink += (JSON.parse(clean) as { messages: unknown[] }).messages.length;
    })
    .add('input guards, 4k-token prompt, 4 redactions (parse + scan)', () => {
      sink += check(dirty);
    })
    .add('input guards, 4k-token prompt, no match (parse + scan)', () => {
      sink += check(clean);
    })
    .add('stream chunk: OpenAI translator push (reference)', () => {
      sink += translator.push(upstream[k++ % upstream.length]!).length;
    })
    .add('stream chunk: output guards on one SSE text event', () => {
      sink += filter.push(events[k++ % events.length]!).length;
    })
    .add('stream chunk: output scanner alone (one word)', () => {
      sink += scanner.push(' ' + WORDS[k++ % WORDS.length]!)!.length;
    });
  const text16k = (JSON.parse(clean) as ChatCompletionRequest).messages[1]!.content as string;
  const starts: number[] = [];
  const ends: number[] = [];
  for (const d of [EMAIL, PHONE, PAYMENT_CARD, NATIONAL_ID, SECRET, CREDENTIAL]) {
    bench.add(`detector ${d.label}: 16 KB prompt, no match`, () => {
      starts.length = 0;
      ends.length = 0;
      d.matches(text16k, 0, starts, ends);
      sink += starts.length + 1;
    });
  }
  await bench.run();
  if (sink === 0) throw new Error('bench produced nothing');
  // On a busy machine the mean carries other processes' pauses: the median and minimum say more.
  if (import.meta.url === `file://${process.argv[1]}`) {
    const rows = bench.tasks.map((t) => {
      const l = t.result && 'latency' in t.result ? t.result.latency : null;
      return { name: t.name, 'p50 ns': l?.p50?.toFixed(6) ? Math.round(l.p50! * 1e6) : '', 'min ns': l ? Math.round(l.min * 1e6) : '' };
    });
    console.table(rows);
  }
  return collect(bench);
}

await printIfMain(import.meta.url, run);
