// Micro-benchmark: canonical ↔ wire for every (ingress API, provider API) pair: Anthropic ingress
// decoding of a 4k-token request, upstream body assembly for a 4k-token request per pair, one stream
// chunk per pair (steady state: inside a text block), and a 1 KB non-streamed answer per pair. The
// OpenAI→OpenAI rows are the hot-path reference, measured in the same run. Sub-microsecond cases run
// BATCH calls per tinybench iteration and report the per-call mean through `overriddenDuration`.
// Run directly: `node dist/bench/micro/translate-pairs.bench.js` (after `npm run build`).

import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { TRANSLATORS } from '../../core/providers/registry.js';
import { ResponseInfo } from '../../core/providers/translator.js';
import { decodeMessagesRequest, validateMessagesRequest } from '../../core/schema/anthropic-decode.js';
import { memberText } from '../../core/schema/json-span.js';
import type { CanonicalRequest } from '../../core/schema/canonical.js';

const BATCH = 100;
const ALIAS = 'crm.summary.fast';
const WORDS = 'account note customer renewal quarter pipeline signal context summary risk owner follow up meeting budget'.split(' ');

function note(): string {
  let s = '';
  for (let i = 0; s.length < 15_500; i++) s += WORDS[i % 15] + (i % 17 === 16 ? '.\n' : ' ');
  return s;
}

/** ~4k tokens (~16 KB) as an OpenAI chat body. */
function openAIText(): string {
  return JSON.stringify({
    model: ALIAS,
    messages: [
      { role: 'system', content: 'You summarize CRM notes for account managers. Be brief and factual; cite dates.' },
      { role: 'user', content: 'Summarize this note:\n' + note() },
    ],
    max_tokens: 512,
    temperature: 0.2,
    metadata: { scenario_id: 'crm-summary-v3', owner: 'team-crm' },
  });
}

/** The same ~4k tokens as an Anthropic Messages body, the system prompt marked for caching. */
function anthropicText(): string {
  return JSON.stringify({
    model: ALIAS,
    max_tokens: 512,
    system: [{ type: 'text', text: 'You summarize CRM notes for account managers. Be brief and factual; cite dates.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: 'Summarize this note:\n' + note() }],
    temperature: 0.2,
    metadata: { user_id: 'am-17' },
  });
}

const OPENAI_CHUNK = Buffer.from(
  'data: {"id":"chatcmpl-BkX9a8b7c6d5e4f3","object":"chat.completion.chunk","created":1717000000,"model":"gpt-4o-mini-2024-07-18",' +
    '"service_tier":"default","system_fingerprint":"fp_sim01","choices":[{"index":0,"delta":{"content":" renewal"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
);
const ANTHROPIC_START = Buffer.from(
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":812,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n' +
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
);
const ANTHROPIC_CHUNK = Buffer.from('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" renewal"}}\n\n');

const CONTENT = 'The account manager met the customer on Tuesday to review the renewal. '.repeat(9).trim();
const OPENAI_ANSWER = Buffer.from(
  '{"id":"chatcmpl-BkX9a8b7c6d5e4f3","object":"chat.completion","created":1717000000,"model":"gpt-4o-mini-2024-07-18",' +
    '"choices":[{"index":0,"message":{"role":"assistant","content":' + JSON.stringify(CONTENT) + ',"refusal":null,"annotations":[]},' +
    '"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":812,"completion_tokens":128,"total_tokens":940,' +
    '"prompt_tokens_details":{"cached_tokens":512,"audio_tokens":0}},"service_tier":"default","system_fingerprint":"fp_sim01"}',
);
const ANTHROPIC_ANSWER = Buffer.from(
  '{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":' + JSON.stringify(CONTENT) +
    '}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":300,"cache_creation_input_tokens":0,"cache_read_input_tokens":512,"output_tokens":128}}',
);

export async function run(): Promise<MicroResult[]> {
  const T = TRANSLATORS;
  const oText = openAIText();
  const oReq = JSON.parse(oText) as CanonicalRequest;
  const oRaw = memberText(oText, 'messages');
  const aText = anthropicText();
  const aParsed = JSON.parse(aText) as Record<string, unknown>;
  if (validateMessagesRequest(aParsed) !== null) throw new Error('bench setup: invalid Anthropic request');
  const aReq = decodeMessagesRequest(aParsed);
  const aRaw = memberText(aText, 'messages');
  for (const b of [T.openai.openai.buildBody(oReq, 'gpt-4o-mini', oRaw), T.openai.anthropic.buildBody(oReq, 'claude-haiku-4-5'), T.anthropic.anthropic.buildBody(aReq, 'claude-haiku-4-5', aRaw), T.anthropic.openai.buildBody(aReq, 'gpt-4o-mini')]) {
    if (b.length < 15_000) throw new Error('bench setup: body is not ~16 KB');
  }

  let sink = 0;
  const bench = new Bench({ name: 'translator pairs', time: 300, warmupTime: 100 });
  const batched = (fn: () => number) => () => {
    const start = bench.now();
    for (let i = 0; i < BATCH; i++) sink += fn();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
  };
  const info = new ResponseInfo();
  // Streams in steady state (inside a text block).
  const oo = T.openai.openai.createStream(ALIAS, true, new ResponseInfo());
  const oa = T.openai.anthropic.createStream(ALIAS, true, new ResponseInfo());
  oa.push(ANTHROPIC_START);
  const aa = T.anthropic.anthropic.createStream(ALIAS, true, new ResponseInfo());
  aa.push(ANTHROPIC_START);
  const ao = T.anthropic.openai.createStream(ALIAS, true, new ResponseInfo());
  ao.push(OPENAI_CHUNK);

  bench
    .add('anthropic ingress: validate + decode 4k-token request', () => {
      const p = JSON.parse(aText) as Record<string, unknown>;
      if (validateMessagesRequest(p) === null) sink += decodeMessagesRequest(p).messages.length;
    })
    .add('openai→openai buildBody 4k (client bytes, reference)', () => {
      sink += T.openai.openai.buildBody(oReq, 'gpt-4o-mini', oRaw).length;
    })
    .add('openai→anthropic buildBody 4k', () => {
      sink += T.openai.anthropic.buildBody(oReq, 'claude-haiku-4-5').length;
    })
    .add('anthropic→anthropic buildBody 4k (client bytes)', () => {
      sink += T.anthropic.anthropic.buildBody(aReq, 'claude-haiku-4-5', aRaw).length;
    })
    .add('anthropic→openai buildBody 4k', () => {
      sink += T.anthropic.openai.buildBody(aReq, 'gpt-4o-mini').length;
    })
    .add('openai→openai one stream chunk (reference)', batched(() => oo.push(OPENAI_CHUNK).length))
    .add('openai→anthropic one stream chunk', batched(() => oa.push(ANTHROPIC_CHUNK).length))
    .add('anthropic→anthropic one stream chunk', batched(() => aa.push(ANTHROPIC_CHUNK).length))
    .add('anthropic→openai one stream chunk', batched(() => ao.push(OPENAI_CHUNK).length))
    .add('openai→openai answer 1 KB (reference)', batched(() => T.openai.openai.translateResponse(OPENAI_ANSWER, ALIAS, info).length))
    .add('openai→anthropic answer 1 KB', batched(() => T.openai.anthropic.translateResponse(ANTHROPIC_ANSWER, ALIAS, info).length))
    .add('anthropic→anthropic answer 1 KB', batched(() => T.anthropic.anthropic.translateResponse(ANTHROPIC_ANSWER, ALIAS, info).length))
    .add('anthropic→openai answer 1 KB', batched(() => T.anthropic.openai.translateResponse(OPENAI_ANSWER, ALIAS, info).length));
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped
  return collect(bench);
}

await printIfMain(import.meta.url, run);
