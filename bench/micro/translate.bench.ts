// Micro-benchmark: the OpenAI chat translator on the hot path: upstream body assembly for a 4k-token
// request, non-streamed response translation (compact fast path and the whole-parse slow path), and
// stream decoding. Sub-microsecond cases run BATCH calls per tinybench iteration and report the
// per-call mean through `overriddenDuration`.
// Run directly: `node dist/bench/micro/translate.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { OpenAIChatTranslator } from '../../core/providers/openai/chat.js';
import { ResponseInfo } from '../../core/providers/translator.js';
import type { ChatCompletionRequest } from '../../core/schema/openai.js';


const BATCH = 100;
const ALIAS = 'crm.summary.fast';

const WORDS = 'account note customer renewal quarter pipeline signal context summary risk owner follow up meeting budget';

/** ~4k tokens (~16 KB) of message text over a system prompt and a user turn, plus gateway metadata. */
function bigRequest(stream: boolean): ChatCompletionRequest {
  let note = '';
  for (let i = 0; note.length < 15_500; i++) note += WORDS.split(' ')[i % 15] + (i % 17 === 16 ? '.\n' : ' ');
  return {
    model: ALIAS,
    messages: [
      { role: 'system', content: 'You summarize CRM notes for account managers. Be brief and factual; cite dates.' },
      { role: 'user', content: 'Summarize this note:\n' + note },
    ],
    max_tokens: 512,
    temperature: 0.2,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    metadata: { scenario_id: 'crm-summary-v3', owner: 'team-crm' },
  };
}

/** A compact chat completion of ~1 KB in the simulator's shape. */
function completionBody(): string {
  const content = 'The account manager met the customer on Tuesday to review the renewal. '.repeat(9).trim();
  return (
    '{"id":"chatcmpl-BkX9a8b7c6d5e4f3","object":"chat.completion","created":1717000000,"model":"gpt-4o-mini-2024-07-18",' +
    '"choices":[{"index":0,"message":{"role":"assistant","content":' + JSON.stringify(content) + ',"refusal":null,"annotations":[]},' +
    '"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":812,"completion_tokens":128,"total_tokens":940,' +
    '"prompt_tokens_details":{"cached_tokens":512,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,' +
    '"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_sim01"}'
  );
}

/** One content chunk event as the simulator streams it (with usage requested). */
function chunkEvent(piece: string): string {
  return (
    'data: {"id":"chatcmpl-BkX9a8b7c6d5e4f3","object":"chat.completion.chunk","created":1717000000,"model":"gpt-4o-mini-2024-07-18",' +
    '"service_tier":"default","system_fingerprint":"fp_sim01","choices":[{"index":0,"delta":{"content":' + JSON.stringify(piece) +
    '},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
  );
}

/** A whole 64-token stream: role chunk, 64 content chunks, finish chunk, usage chunk, [DONE]. */
function wholeStream(): Buffer {
  let s = chunkEvent('');
  for (let i = 0; i < 64; i++) s += chunkEvent(' ' + WORDS.split(' ')[i % 15]);
  s +=
    'data: {"id":"chatcmpl-BkX9a8b7c6d5e4f3","object":"chat.completion.chunk","created":1717000000,"model":"gpt-4o-mini-2024-07-18",' +
    '"service_tier":"default","system_fingerprint":"fp_sim01","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n';
  s +=
    'data: {"id":"chatcmpl-BkX9a8b7c6d5e4f3","object":"chat.completion.chunk","created":1717000000,"model":"gpt-4o-mini-2024-07-18",' +
    '"service_tier":"default","system_fingerprint":"fp_sim01","choices":[],"usage":{"prompt_tokens":812,"completion_tokens":64,"total_tokens":876,' +
    '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}}}\n\n';
  return Buffer.from(s + 'data: [DONE]\n\n');
}

export async function run(): Promise<MicroResult[]> {
  const tr = new OpenAIChatTranslator();
  const req = bigRequest(false);
  const streamReq = bigRequest(true);
  const compact = Buffer.from(completionBody());
  const pretty = Buffer.from(JSON.stringify(JSON.parse(completionBody()), null, 2));
  const oneChunk = Buffer.from(chunkEvent(' renewal'));
  const stream = wholeStream();
  // 1 KB reads of the stream, as a socket would hand them over.
  const streamReads: Buffer[] = [];
  for (let i = 0; i < stream.length; i += 1024) streamReads.push(stream.subarray(i, Math.min(stream.length, i + 1024)));

  const info = new ResponseInfo();
  const check = tr.translateResponse(compact, ALIAS, info);
  if (!Buffer.isBuffer(check) || info.inputTokens !== 812) throw new Error('bench setup: compact body should take the fast path');
  if (typeof tr.translateResponse(pretty, ALIAS, new ResponseInfo()) !== 'string') throw new Error('bench setup: pretty body should take the slow path');
  const body = tr.buildBody(req, 'gpt-4o-mini');
  if (body.length < 15_000 || body.includes('metadata')) throw new Error('bench setup: buildBody input is not ~16 KB');

  let sink = 0;
  const bench = new Bench({ name: 'openai chat translator', time: 300, warmupTime: 100 });
  const batched = (fn: () => number) => () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) sink += fn();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  const streamInfo = new ResponseInfo();
  const chunkStream = tr.createStream(ALIAS, true, streamInfo);
  bench
    .add('buildBody 4k-token request (16 KB)', () => {
      sink += tr.buildBody(req, 'gpt-4o-mini').length;
    })
    .add('buildBody 4k-token request, stream', () => {
      sink += tr.buildBody(streamReq, 'gpt-4o-mini').length;
    })
    .add(
      'translateResponse 1 KB compact (fast path)',
      batched(() => tr.translateResponse(compact, ALIAS, info).length),
    )
    .add(
      'translateResponse 1 KB pretty (slow path)',
      batched(() => tr.translateResponse(pretty, ALIAS, info).length),
    )
    .add(
      'stream push one chunk event',
      batched(() => chunkStream.push(oneChunk).length),
    )
    .add('stream 64 tokens, 1 KB reads, + finish', () => {
      const s = tr.createStream(ALIAS, false, new ResponseInfo());
      for (let i = 0; i < streamReads.length; i++) sink += s.push(streamReads[i]!).length;
      sink += s.finish().length;
    });
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped

  const results = collect(bench);
  return results;
}

await printIfMain(import.meta.url, run);
