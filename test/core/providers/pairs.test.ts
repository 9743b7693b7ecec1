// The translators of each (ingress API, provider API) pair: bodies, answers, streams (whatever the chunk
// boundaries), usage with cached input tokens, what a provider API cannot express, garbage.
import { describe, expect, it } from 'vitest';
import { ResponseInfo, type StreamTranslator, type Translator } from '../../../core/providers/translator.js';
import { OutputCollector } from '../../../core/scenarios/scenarios.js';
import { TRANSLATORS, translatorFor } from '../../../core/providers/registry.js';
import { JSON_TOOL, anthropicUnsupported, buildAnthropicBody, DEFAULT_MAX_TOKENS } from '../../../core/providers/anthropic/wire.js';
import type { CanonicalRequest } from '../../../core/schema/canonical.js';

const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify({ type, ...(data as object) })}\n\n`;

/** A stream fed whole, and fed in pieces cut at every position: the client bytes must be the same. */
function runStream(make: (info: ResponseInfo) => StreamTranslator, upstream: string): { out: string; info: ResponseInfo } {
  const info = new ResponseInfo();
  const t = make(info);
  const out = t.push(Buffer.from(upstream)) + t.finish();
  const bytes = Buffer.from(upstream);
  for (const step of [1, 3, 7, 64]) {
    const i2 = new ResponseInfo();
    const t2 = make(i2);
    let o2 = '';
    for (let i = 0; i < bytes.length; i += step) o2 += t2.push(bytes.subarray(i, i + step));
    o2 += t2.finish();
    expect(o2.replace(/"created":\d+/g, '"created":0'), `split every ${step} bytes`).toBe(out.replace(/"created":\d+/g, '"created":0'));
    expect(i2).toEqual(info);
  }
  return { out, info };
}

function sseData(out: string): unknown[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)));
}

const ANTHROPIC_TOOL_STREAM =
  ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, cache_read_input_tokens: 90, cache_creation_input_tokens: 0, output_tokens: 1 } } }) +
  ev('ping', {}) +
  ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Checking é ✓.' } }) +
  ev('content_block_stop', { index: 0 }) +
  ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_a', name: 'lookup', input: {} } }) +
  ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '' } }) +
  ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"id":' } }) +
  ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '42}' } }) +
  ev('content_block_stop', { index: 1 }) +
  ev('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_b', name: 'search', input: {} } }) +
  ev('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"q":"x"}' } }) +
  ev('content_block_stop', { index: 2 }) +
  ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 17 } }) +
  ev('message_stop', {});

describe('openai → anthropic (AnthropicChatTranslator)', () => {
  const t = TRANSLATORS.openai.anthropic;

  it('builds an Anthropic body: system lifted, tool results merged into one user turn, images, choice, defaults', () => {
    const req: CanonicalRequest = {
      model: 'alias',
      messages: [
        { role: 'system', content: 'A' },
        { role: 'developer', content: 'B' },
        { role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,QUJD' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }, { id: 'c2', type: 'function', function: { name: 'g', arguments: 'not json' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'r1' },
        { role: 'tool', tool_call_id: 'c2', content: [{ type: 'text', text: 'r2' }] },
        { role: 'user', content: 'next' },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }, { type: 'function', function: { name: 'g', description: 'G' } }],
      tool_choice: 'auto',
      parallel_tool_calls: false,
      stop: 'END',
      seed: 5,
      metadata: { owner: 'never upstream' },
    };
    expect(t.unsupported(req)).toBeNull();
    expect(JSON.parse(t.buildBody(req, 'claude-x'))).toEqual({
      model: 'claude-x',
      max_tokens: DEFAULT_MAX_TOKENS,
      system: 'A\n\nB',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'QUJD' } }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'f', input: { a: 1 } }, { type: 'tool_use', id: 'c2', name: 'g', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content: 'r1' }, { type: 'tool_result', tool_use_id: 'c2', content: [{ type: 'text', text: 'r2' }] }, { type: 'text', text: 'next' }] },
      ],
      tools: [
        { name: 'f', input_schema: { type: 'object' } },
        { name: 'g', description: 'G', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
    });
  });

  it("sends an assistant's earlier refusal part as text", () => {
    const body = JSON.parse(t.buildBody({ model: 'x', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'refusal', refusal: 'No.' }] }, { role: 'user', content: 'ok' }] }, 'm'));
    expect(body.messages[1]).toEqual({ role: 'assistant', content: 'No.' });
  });

  it('asks for JSON through a forced tool (response_format json_schema / json_object)', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
    const body = JSON.parse(t.buildBody({ model: 'x', messages: [{ role: 'user', content: 'q' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema } }, max_tokens: 9 }, 'm'));
    expect(body.tools).toEqual([{ name: JSON_TOOL, description: 'Give the answer as JSON input to this tool.', input_schema: schema }]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: JSON_TOOL });
    const obj = JSON.parse(t.buildBody({ model: 'x', messages: [{ role: 'user', content: 'q' }], response_format: { type: 'json_object' } }, 'm'));
    expect(obj.tools[0].input_schema).toEqual({ type: 'object' });
  });

  it.each([
    [{ n: 2 }, '`n` above 1'],
    [{ logprobs: true }, '`logprobs`'],
    [{ logit_bias: { '1': 2 } }, '`logit_bias`'],
    [{ presence_penalty: 0.5 }, '`presence_penalty` / `frequency_penalty`'],
    [{ temperature: 1.5 }, '`temperature` above 1'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, '`response_format.json_schema` without a schema'],
    [{ response_format: { type: 'json_object' }, tools: [{ type: 'function', function: { name: 'f' } }] }, '`response_format` together with `tools`'],
    [{ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, "content parts of type 'input_audio'"],
    [{ messages: [{ role: 'function', name: 'f', content: 'x' }] }, "messages with role 'function'"],
    [{ embedding: { input: 'x' } }, 'embeddings (the Anthropic API has no embeddings endpoint)'],
  ])('cannot express %j', (extra, why) => {
    expect(anthropicUnsupported({ model: 'x', messages: [{ role: 'user', content: 'q' }], ...extra } as CanonicalRequest)).toBe(why);
  });

  it('translates an answer: text and tool calls, usage with cached input tokens', () => {
    const info = new ResponseInfo();
    const out = JSON.parse(
      String(
        t.translateResponse(
          Buffer.from(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'Hi' }, { type: 'tool_use', id: 't1', name: 'f', input: { a: 1 } }], stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 5, cache_creation_input_tokens: 3, cache_read_input_tokens: 100, output_tokens: 7 } })),
          'alias',
          info,
        ),
      ),
    );
    expect(out).toMatchObject({
      id: 'msg_1',
      object: 'chat.completion',
      model: 'alias',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi', tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 108, completion_tokens: 7, total_tokens: 115, prompt_tokens_details: { cached_tokens: 100 } },
    });
    expect([info.inputTokens, info.cachedInputTokens, info.outputTokens, info.usageReported, info.finishReason]).toEqual([108, 100, 7, true, 'tool_calls']);
  });

  it('throws on garbage', () => {
    expect(() => t.translateResponse(Buffer.from('{"oops":1}'), 'a', new ResponseInfo())).toThrow();
    expect(() => t.translateResponse(Buffer.from('nope'), 'a', new ResponseInfo())).toThrow();
  });

  it('streams text and parallel tool calls as chunks, usage last (any chunk boundaries)', () => {
    const { out, info } = runStream((i) => t.createStream('alias', true, i), ANTHROPIC_TOOL_STREAM);
    const chunks = sseData(out) as Array<{ model: string; choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }>; usage?: Record<string, unknown> }>;
    expect(out.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(chunks.every((c) => c.model === 'alias')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Checking é ✓.' },
      { tool_calls: [{ index: 0, id: 'toolu_a', type: 'function', function: { name: 'lookup', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"id":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '42}' } }] },
      { tool_calls: [{ index: 1, id: 'toolu_b', type: 'function', function: { name: 'search', arguments: '' } }] },
      { tool_calls: [{ index: 1, function: { arguments: '{"q":"x"}' } }] },
      {},
      null,
    ]);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 100, completion_tokens: 17, total_tokens: 117, prompt_tokens_details: { cached_tokens: 90 } });
    expect([info.sawDone, info.usageReported, info.inputTokens, info.cachedInputTokens, info.outputTokens]).toEqual([true, true, 100, 90, 17]);
  });

  it('leaves usage out for a client that did not ask, and turns the JSON tool into content', () => {
    const up =
      ev('message_start', { message: { id: 'm', usage: { input_tokens: 3, output_tokens: 1 } } }) +
      ev('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 't', name: JSON_TOOL, input: {} } }) +
      ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"a":' } }) +
      ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '"b"}' } }) +
      ev('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 4 } }) +
      ev('message_stop', {});
    const { out } = runStream((i) => t.createStream('alias', false, i), up);
    const chunks = sseData(out) as Array<{ choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage?: unknown }>;
    expect(chunks.some((c) => c.usage !== undefined)).toBe(false);
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe('{"a":"b"}');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('copes with a provider that skips message_start', () => {
    const { out, info } = runStream((i) => t.createStream('alias', false, i), ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'x' } }) + ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 1 } }) + ev('message_stop', {}));
    const chunks = sseData(out) as Array<{ id: string; model: string; choices: Array<{ delta: { content?: string } }> }>;
    expect(chunks[0]).toMatchObject({ id: 'msg', model: 'alias', choices: [{ delta: { content: 'x' } }] });
    expect(info.sawDone).toBe(true);
  });

  it('reports an error event and a malformed event as stream errors', () => {
    let { info } = runStream((i) => t.createStream('a', true, i), ev('message_start', { message: { id: 'm' } }) + ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
    expect(info.streamError).toBe('Overloaded');
    expect(info.sawDone).toBe(false);
    ({ info } = runStream((i) => t.createStream('a', true, i), 'event: message_start\ndata: {nope\n\n'));
    expect(info.streamError).toBe('The provider sent a malformed stream event.');
  });
});

const OPENAI_PARALLEL_STREAM = [
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: { content: 'Let me check.' }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'lookup', arguments: '' } }] }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"id":' } }] }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'search', arguments: '{"q":' } }] }, finish_reason: null }] },
  // Interleaved: more of call 0 after call 1 started.
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '42}' } }] }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: { tool_calls: [{ index: 1, function: { arguments: '"x"}' } }] }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt', choices: [], usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70, prompt_tokens_details: { cached_tokens: 32 } } },
]
  .map((c) => 'data: ' + JSON.stringify(c) + '\n\n')
  .join('') + 'data: [DONE]\n\n';

describe('anthropic → openai (OpenAIMessagesTranslator)', () => {
  const t = TRANSLATORS.anthropic.openai;

  it('builds an OpenAI body without Anthropic-only keys', () => {
    const req = {
      model: 'a',
      max_tokens: 10,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'S', cache_control: { type: 'ephemeral' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }], reasoning_blocks: [{ type: 'thinking' }] },
        { role: 'tool', tool_call_id: 't', content: 'r', is_error: true, cache_control: { type: 'ephemeral' } },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: {} }, cache_control: { type: 'ephemeral' } }],
      stream: true,
      metadata: { scenario_id: 's' },
    } as unknown as CanonicalRequest;
    expect(JSON.parse(t.buildBody(req, 'gpt'))).toEqual({
      model: 'gpt',
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'S' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 't', content: 'r' },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it.each([
    [{ thinking: { type: 'enabled' } }, 'extended thinking (`thinking`)'],
    [{ top_k: 3 }, '`top_k`'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'more than 4 stop sequences'],
    [{ messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, "content blocks of type 'document'"],
    [{ messages: [{ role: 'tool', tool_call_id: 't', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'images inside tool results'],
  ])('cannot express %j', (extra, why) => {
    expect(t.unsupported({ model: 'x', messages: [{ role: 'user', content: 'q' }], ...extra } as CanonicalRequest)).toBe(why);
  });

  it('translates an answer into an Anthropic message (input_tokens without cache reads)', () => {
    const info = new ResponseInfo();
    const out = JSON.parse(
      String(
        t.translateResponse(
          Buffer.from(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: { cached_tokens: 30 } } })),
          'alias',
          info,
        ),
      ),
    );
    expect(out).toEqual({
      id: 'msg_chatcmpl-1',
      type: 'message',
      role: 'assistant',
      model: 'alias',
      content: [{ type: 'text', text: 'Hi' }, { type: 'tool_use', id: 'c', name: 'f', input: { a: 1 } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 30, output_tokens: 5 },
    });
    expect(() => t.translateResponse(Buffer.from('{"choices":[]}'), 'a', new ResponseInfo())).toThrow();
  });

  it("streams Anthropic's event sequence, parallel and interleaved tool calls included (any chunk boundaries)", () => {
    const { out, info } = runStream((i) => t.createStream('alias', false, i), OPENAI_PARALLEL_STREAM);
    const events = out.split('\n\n').filter((x) => x !== '').map((block) => {
      const [e, d] = block.split('\n');
      const data = JSON.parse(d!.slice(6));
      expect(e).toBe('event: ' + data.type);
      return data;
    });
    expect(events.map((e) => e.type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[0].message).toMatchObject({ id: 'msg_c1', model: 'alias', role: 'assistant', content: [] });
    const json: Record<number, string> = {};
    for (const e of events) if (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta') json[e.index] = (json[e.index] ?? '') + e.delta.partial_json;
    expect(json).toEqual({ 1: '{"id":42}', 2: '{"q":"x"}' });
    expect(events[4].content_block).toEqual({ type: 'tool_use', id: 'call_a', name: 'lookup', input: {} });
    expect(events.at(-2)).toEqual({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { input_tokens: 18, cache_creation_input_tokens: 0, cache_read_input_tokens: 32, output_tokens: 20 } });
    expect([info.sawDone, info.inputTokens, info.cachedInputTokens, info.outputTokens]).toEqual([true, 50, 32, 20]);
  });

  it('reports a provider error chunk; a stream without [DONE] is not done', () => {
    const { info } = runStream((i) => t.createStream('a', false, i), 'data: {"error":{"message":"boom"}}\n\n');
    expect(info.streamError).toBe('boom');
    const r = runStream((i) => t.createStream('a', false, i), OPENAI_PARALLEL_STREAM.slice(0, 200));
    expect(r.info.sawDone).toBe(false);
    expect(r.out).not.toContain('message_stop');
  });
});

describe('anthropic → anthropic (AnthropicMessagesTranslator)', () => {
  const t = TRANSLATORS.anthropic.anthropic;

  it('passes answers through with the alias and reads usage', () => {
    const info = new ResponseInfo();
    const out = JSON.parse(String(t.translateResponse(Buffer.from(JSON.stringify({ id: 'm', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'hey' }], stop_reason: 'max_tokens', stop_sequence: null, usage: { input_tokens: 2, cache_read_input_tokens: 8, output_tokens: 3 } })), 'alias', info)));
    expect(out.model).toBe('alias');
    expect([info.inputTokens, info.cachedInputTokens, info.outputTokens, info.finishReason]).toEqual([10, 8, 3, 'length']);
    expect(() => t.translateResponse(Buffer.from('[]'), 'a', new ResponseInfo())).toThrow();
  });

  it('passes events through, the alias in message_start (any chunk boundaries)', () => {
    const { out, info } = runStream((i) => t.createStream('alias', false, i), ANTHROPIC_TOOL_STREAM);
    expect(out).toBe(ANTHROPIC_TOOL_STREAM.replace('"model":"claude-x"', '"model":"alias"'));
    expect([info.sawDone, info.inputTokens, info.cachedInputTokens, info.outputTokens, info.finishReason]).toEqual([true, 100, 90, 17, 'tool_calls']);
  });

  it('drops a provider error event (the pipeline writes its own) and records it', () => {
    const { out, info } = runStream((i) => t.createStream('alias', false, i), ev('error', { error: { type: 'api_error', message: 'x' } }));
    expect(out).toBe('');
    expect(info.streamError).toBe('x');
  });
});

describe('embeddings → openai', () => {
  const t: Translator = translatorFor('embeddings', 'openai');

  it('sends the parameters with the provider model and answers with the alias', () => {
    const req: CanonicalRequest = { model: 'e', messages: [], embedding: { input: ['a'], dimensions: 4, encoding_format: 'float', user: 'u' } };
    expect(t.path).toBe('/embeddings');
    expect(t.buildBody(req, 'text-embedding-3-small')).toBe('{"model":"text-embedding-3-small","input":["a"],"encoding_format":"float","dimensions":4,"user":"u"}');
    const info = new ResponseInfo();
    const out = JSON.parse(String(t.translateResponse(Buffer.from('{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"x","usage":{"prompt_tokens":3,"total_tokens":3}}'), 'e', info)));
    expect(out.model).toBe('e');
    expect([info.inputTokens, info.outputTokens, info.usageReported]).toEqual([3, 0, true]);
    expect(() => t.translateResponse(Buffer.from('{}'), 'e', new ResponseInfo())).toThrow();
    expect(() => t.createStream('e', false, new ResponseInfo())).toThrow();
  });

  it('is not a pair on Anthropic providers', () => {
    const a = translatorFor('embeddings', 'anthropic');
    expect(a.unsupported({ model: 'e', messages: [], embedding: { input: 'x' } })).toMatch(/embeddings/);
    expect(() => a.buildBody({ model: 'e', messages: [] }, 'm')).toThrow();
  });
});

describe('buildAnthropicBody', () => {
  it('is byte-stable: equal requests give equal bytes', () => {
    const req: CanonicalRequest = { model: 'x', messages: [{ role: 'user', content: 'q' }], temperature: 0.1, max_tokens: 5 };
    expect(buildAnthropicBody(req, 'm')).toBe(buildAnthropicBody({ ...req }, 'm'));
    expect(buildAnthropicBody(req, 'm')).toBe('{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"}],"temperature":0.1}');
  });
});

describe('output collection for scenario checks (every pair)', () => {
  const collected = (make: (info: ResponseInfo) => StreamTranslator, upstream: string) => {
    const info = new ResponseInfo();
    info.collect = new OutputCollector();
    const s = make(info);
    s.push(Buffer.from(upstream));
    s.finish();
    return { text: info.collect.text, tools: info.collect.toolCalls.map((t) => ({ ...t })) };
  };
  const TOOLS = [
    { name: 'lookup', arguments: '{"id":42}' },
    { name: 'search', arguments: '{"q":"x"}' },
  ];

  it('streams: text and every tool call, whatever the pair', () => {
    expect(collected((i) => TRANSLATORS.openai.anthropic.createStream('a', false, i), ANTHROPIC_TOOL_STREAM)).toEqual({ text: 'Checking é ✓.', tools: TOOLS });
    expect(collected((i) => TRANSLATORS.anthropic.anthropic.createStream('a', false, i), ANTHROPIC_TOOL_STREAM)).toEqual({ text: 'Checking é ✓.', tools: TOOLS });
    expect(collected((i) => TRANSLATORS.anthropic.openai.createStream('a', false, i), OPENAI_PARALLEL_STREAM)).toEqual({ text: 'Let me check.', tools: TOOLS });
    // The client bytes are the same with and without collection.
    const plain = new ResponseInfo();
    const a = TRANSLATORS.anthropic.openai.createStream('a', false, plain);
    const withCol = new ResponseInfo();
    withCol.collect = new OutputCollector();
    const b = TRANSLATORS.anthropic.openai.createStream('a', false, withCol);
    expect(b.push(Buffer.from(OPENAI_PARALLEL_STREAM)) + b.finish()).toBe(a.push(Buffer.from(OPENAI_PARALLEL_STREAM)) + a.finish());
  });

  it('answers: text and tool calls; JSON-mode answers as text', () => {
    const msg = { id: 'm', type: 'message', role: 'assistant', model: 'c', content: [{ type: 'text', text: 'Hi' }, { type: 'tool_use', id: 't', name: 'f', input: { a: 1 } }], stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } };
    for (const t of [TRANSLATORS.openai.anthropic, TRANSLATORS.anthropic.anthropic]) {
      const info = new ResponseInfo();
      info.collect = new OutputCollector();
      t.translateResponse(Buffer.from(JSON.stringify(msg)), 'a', info);
      expect(info.collect.text).toBe('Hi');
      expect(info.collect.toolCalls).toEqual([{ name: 'f', arguments: '{"a":1}' }]);
    }
    const json = { ...msg, content: [{ type: 'tool_use', id: 't', name: JSON_TOOL, input: { a: 1 } }] };
    const info = new ResponseInfo();
    info.collect = new OutputCollector();
    TRANSLATORS.openai.anthropic.translateResponse(Buffer.from(JSON.stringify(json)), 'a', info);
    expect([info.collect.text, info.collect.toolCalls.length]).toEqual(['{"a":1}', 0]);
    const oi = new ResponseInfo();
    oi.collect = new OutputCollector();
    TRANSLATORS.anthropic.openai.translateResponse(Buffer.from(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Yo', tool_calls: [{ id: 'x', type: 'function', function: { name: 'g', arguments: '{}' } }] }, finish_reason: 'tool_calls' }] })), 'a', oi);
    expect([oi.collect.text, oi.collect.toolCalls]).toEqual(['Yo', [{ name: 'g', arguments: '{}' }]]);
  });
});

describe('compact answer fast paths agree with the whole parse', () => {
  const bodies = [
    { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'Plain "quoted" é ✓ \\ text\n' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, cache_creation_input_tokens: null, cache_read_input_tokens: 7, output_tokens: 9 } },
    { id: 'msg_2', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: '' }], stop_reason: 'max_tokens', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 2 } },
    { id: 'msg_3', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], stop_reason: 'stop_sequence', stop_sequence: 'END', usage: { input_tokens: 1, output_tokens: 2 } },
  ];
  it.each(bodies.map((b) => [b.id, b]))('%s', (_id, body) => {
    for (const t of [TRANSLATORS.openai.anthropic, TRANSLATORS.anthropic.anthropic]) {
      const fastInfo = new ResponseInfo();
      const fast = JSON.parse(String(t.translateResponse(Buffer.from(JSON.stringify(body)), 'alias', fastInfo)));
      const slowInfo = new ResponseInfo();
      slowInfo.collect = new OutputCollector(); // forces the whole parse
      const slow = JSON.parse(String(t.translateResponse(Buffer.from(JSON.stringify(body)), 'alias', slowInfo)));
      delete fast.created;
      delete slow.created;
      expect(fast).toEqual(slow);
      expect([fastInfo.inputTokens, fastInfo.cachedInputTokens, fastInfo.outputTokens, fastInfo.finishReason, fastInfo.usageReported]).toEqual([slowInfo.inputTokens, slowInfo.cachedInputTokens, slowInfo.outputTokens, slowInfo.finishReason, slowInfo.usageReported]);
    }
  });
});
