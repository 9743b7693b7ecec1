import { describe, expect, it } from 'vitest';
import { OpenAIChatTranslator } from '../../../../core/providers/openai/chat.js';
import { ResponseInfo } from '../../../../core/providers/translator.js';
import type { ChatCompletionRequest } from '../../../../core/schema/openai.js';

const tr = new OpenAIChatTranslator();
const ALIAS = 'crm.summary.fast';

// ---- buildBody ---------------------------------------------------------------------------------------

const FORWARDED_ORDER = [
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'n',
  'stop',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'user',
];

const MESSAGES: ChatCompletionRequest['messages'] = [
  { role: 'system', content: 'You summarize CRM notes.' },
  { role: 'user', content: 'Résumé: 日本語のメモ 🎉 "quoted" \\ back\nslash' },
];

const TOOL = { type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: {} } } };

/** Every forwarded field set, given in the reverse of the forwarded order, with gateway-only fields mixed in. */
function fullRequestReversed(): Record<string, unknown> {
  return {
    metadata: { scenario_id: 's1', owner: 'team-crm' },
    user: 'u-42',
    top_logprobs: 2,
    logprobs: true,
    logit_bias: { '50256': -100 },
    frequency_penalty: 0.5,
    presence_penalty: -0.5,
    seed: 7,
    stop: ['\n\n', 'END'],
    n: 1,
    top_p: 0.9,
    temperature: 0.2,
    max_completion_tokens: 300,
    max_tokens: 256,
    response_format: { type: 'json_object' },
    parallel_tool_calls: false,
    tool_choice: 'auto',
    tools: [TOOL],
    some_unknown_field: { x: 1 },
    stream_options: { include_usage: false },
    stream: false,
    messages: MESSAGES,
    model: ALIAS,
  };
}

describe('OpenAIChatTranslator.buildBody', () => {
  it('targets /chat/completions', () => {
    expect(tr.path).toBe('/chat/completions');
  });

  it('writes model and messages only for a minimal request', () => {
    const body = tr.buildBody({ model: ALIAS, messages: MESSAGES }, 'gpt-4o-mini');
    expect(body).toBe('{"model":"gpt-4o-mini","messages":' + JSON.stringify(MESSAGES) + '}');
    expect(JSON.parse(body)).toEqual({ model: 'gpt-4o-mini', messages: MESSAGES });
  });

  it('puts the provider model in place of the alias, JSON-escaped', () => {
    const body = tr.buildBody({ model: ALIAS, messages: MESSAGES }, 'org/model "x"');
    expect(JSON.parse(body).model).toBe('org/model "x"');
    expect(body.startsWith('{"model":"org/model \\"x\\"","messages":')).toBe(true);
  });

  it('writes the known fields in a fixed order whatever the order they came in', () => {
    const body = tr.buildBody(fullRequestReversed() as unknown as ChatCompletionRequest, 'gpt-4o');
    const parsed = JSON.parse(body);
    expect(Object.keys(parsed)).toEqual(['model', 'messages', ...FORWARDED_ORDER]);
    const src = fullRequestReversed();
    for (const k of FORWARDED_ORDER) expect(parsed[k], k).toEqual(src[k]);
    expect(parsed.model).toBe('gpt-4o');
    expect(parsed.messages).toEqual(MESSAGES);
  });

  it('drops metadata, unknown fields, the client stream_options and stream:false', () => {
    const body = tr.buildBody(fullRequestReversed() as unknown as ChatCompletionRequest, 'gpt-4o');
    const parsed = JSON.parse(body);
    expect(parsed).not.toHaveProperty('metadata');
    expect(parsed).not.toHaveProperty('some_unknown_field');
    expect(parsed).not.toHaveProperty('stream_options');
    expect(parsed).not.toHaveProperty('stream');
    expect(body).not.toContain('scenario_id');
    expect(body).not.toContain('team-crm');
  });

  it('forwards null values as given (the provider reads null as its default)', () => {
    const body = tr.buildBody({ model: ALIAS, messages: MESSAGES, temperature: null, stop: null }, 'm');
    expect(body).toBe('{"model":"m","messages":' + JSON.stringify(MESSAGES) + ',"temperature":null,"stop":null}');
  });

  it('a streamed request always asks the provider for usage, appended last', () => {
    const suffix = ',"stream":true,"stream_options":{"include_usage":true}}';
    const plain = tr.buildBody({ model: ALIAS, messages: MESSAGES, stream: true }, 'm');
    expect(plain).toBe('{"model":"m","messages":' + JSON.stringify(MESSAGES) + suffix);
    const noUsage = tr.buildBody(
      { model: ALIAS, messages: MESSAGES, stream: true, stream_options: { include_usage: false }, max_tokens: 5 },
      'm',
    );
    expect(noUsage.endsWith(',"max_tokens":5' + suffix)).toBe(true);
    expect(JSON.parse(noUsage).stream_options).toEqual({ include_usage: true });
    const withUsage = tr.buildBody({ model: ALIAS, messages: MESSAGES, stream: true, stream_options: { include_usage: true } }, 'm');
    expect(withUsage).toBe(plain);
  });

  it('gives byte-identical bodies for requests that differ only in metadata, unknown fields and key order', () => {
    const a = { model: ALIAS, messages: MESSAGES, temperature: 0, max_tokens: 100, metadata: { scenario_id: 'a', owner: 'x' } };
    const b = { metadata: { scenario_id: 'b', trace: 'y' }, max_tokens: 100, foo: 'bar', temperature: 0, messages: MESSAGES, model: 'other.alias' };
    const c = { model: ALIAS, messages: MESSAGES, max_tokens: 100, temperature: 0, x_gateway: { route: 'r' }, stream_options: null };
    const ba = tr.buildBody(a as ChatCompletionRequest, 'gpt-4o-mini');
    const bb = tr.buildBody(b as unknown as ChatCompletionRequest, 'gpt-4o-mini');
    const bc = tr.buildBody(c as unknown as ChatCompletionRequest, 'gpt-4o-mini');
    expect(Buffer.from(bb)).toEqual(Buffer.from(ba));
    expect(Buffer.from(bc)).toEqual(Buffer.from(ba));
  });

  it('keeps a 16 KB multibyte prompt byte-exact', () => {
    const text = 'Ünïcödé ✓ 中文 🚀 '.repeat(1000);
    const body = tr.buildBody({ model: ALIAS, messages: [{ role: 'user', content: text }] }, 'm');
    expect(JSON.parse(body).messages[0].content).toBe(text);
  });
});

// ---- translateResponse -------------------------------------------------------------------------------

interface CompletionOpts {
  model?: string;
  content?: string;
  finish?: string | null;
  usage?: string | null; // raw JSON text of the usage value; null = no usage key
}

const USAGE_FULL =
  '{"prompt_tokens":812,"completion_tokens":64,"total_tokens":876,"prompt_tokens_details":{"cached_tokens":512,"audio_tokens":0},' +
  '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}';

/** A compact chat completion in the shape the simulator (and OpenAI) send. */
function completion(o: CompletionOpts = {}): string {
  const model = o.model ?? 'gpt-4o-mini-2024-07-18';
  const content = o.content ?? 'Hello there.';
  const finish = o.finish === undefined ? 'stop' : o.finish;
  const usage = o.usage === undefined ? USAGE_FULL : o.usage;
  return (
    '{"id":"chatcmpl-9a8b7c","object":"chat.completion","created":1700000000,"model":' + JSON.stringify(model) +
    ',"choices":[{"index":0,"message":{"role":"assistant","content":' + JSON.stringify(content) +
    ',"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":' + JSON.stringify(finish) + '}]' +
    (usage === null ? '' : ',"usage":' + usage) +
    ',"service_tier":"default","system_fingerprint":"fp_sim"}'
  );
}

/** What the client must receive: the same JSON with `model` = alias. */
function expectedObject(body: string, alias = ALIAS): unknown {
  const o = JSON.parse(body);
  o.model = alias;
  return o;
}

function asText(x: Buffer | string): string {
  return typeof x === 'string' ? x : x.toString('utf8');
}

describe('OpenAIChatTranslator.translateResponse: compact fast path', () => {
  it('returns the provider bytes with only the model value replaced', () => {
    const body = completion();
    const info = new ResponseInfo();
    const out = tr.translateResponse(Buffer.from(body), ALIAS, info);
    expect(Buffer.isBuffer(out)).toBe(true);
    const expected = Buffer.from(body.replace('"model":"gpt-4o-mini-2024-07-18"', `"model":"${ALIAS}"`));
    expect(Buffer.compare(out as Buffer, expected)).toBe(0);
    expect(JSON.parse(asText(out))).toEqual(expectedObject(body));
  });

  it('reads usage, cached tokens and the finish reason', () => {
    const info = new ResponseInfo();
    tr.translateResponse(Buffer.from(completion({ finish: 'length' })), ALIAS, info);
    expect(info.usageReported).toBe(true);
    expect(info.inputTokens).toBe(812);
    expect(info.outputTokens).toBe(64);
    expect(info.cachedInputTokens).toBe(512);
    expect(info.finishReason).toBe('length');
    expect(info.sawDone).toBe(false);
    expect(info.streamError).toBeNull();
  });

  it('keeps multibyte UTF-8 content byte-exact (alias shorter and longer than the model)', () => {
    const content = 'Grüße 👋🏽 — 日本語テキスト ✓ ａｂｃ \u2028 e\u0301 "q" \\ /';
    for (const alias of ['a', ALIAS, 'tenant.very.long.alias.name.for.a.route.that.exceeds.the.model.length']) {
      const body = completion({ content });
      const out = tr.translateResponse(Buffer.from(body), alias, new ResponseInfo());
      expect(Buffer.isBuffer(out)).toBe(true);
      const expected = Buffer.from(body.replace('"model":"gpt-4o-mini-2024-07-18"', `"model":"${alias}"`), 'utf8');
      expect((out as Buffer).equals(expected)).toBe(true);
      expect(JSON.parse(asText(out)).choices[0].message.content).toBe(content);
    }
  });

  it('replaces the top-level model even when content mentions "model", "usage" and "choices" as text', () => {
    const content = '{"model":"evil","usage":{"prompt_tokens":1,"completion_tokens":1},"choices":[],"finish_reason":"x"}';
    const body = completion({ content });
    const info = new ResponseInfo();
    const out = tr.translateResponse(Buffer.from(body), ALIAS, info);
    expect(JSON.parse(asText(out))).toEqual(expectedObject(body));
    expect(info.inputTokens).toBe(812);
    expect(info.outputTokens).toBe(64);
    expect(info.finishReason).toBe('stop');
  });

  it('handles an escaped quote inside the provider model name', () => {
    const body = completion({ model: 'weird\\"model"' });
    const out = tr.translateResponse(Buffer.from(body), ALIAS, new ResponseInfo());
    expect(JSON.parse(asText(out))).toEqual(expectedObject(body));
  });

  it('finds choices when model comes after them', () => {
    const body =
      '{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"tool_calls"}],' +
      '"model":"m-1","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}';
    const info = new ResponseInfo();
    const out = tr.translateResponse(Buffer.from(body), ALIAS, info);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(JSON.parse(asText(out))).toEqual(expectedObject(body));
    expect(info.finishReason).toBe('tool_calls');
    expect(info.inputTokens).toBe(3);
    expect(info.outputTokens).toBe(4);
  });

  it('reports 0 cached tokens when prompt_tokens_details is absent, null or has no cached_tokens', () => {
    for (const usage of [
      '{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}',
      '{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"prompt_tokens_details":null}',
      '{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"prompt_tokens_details":{"audio_tokens":0}}',
    ]) {
      const info = new ResponseInfo();
      info.cachedInputTokens = 99;
      const out = tr.translateResponse(Buffer.from(completion({ usage })), ALIAS, info);
      expect(Buffer.isBuffer(out), usage).toBe(true);
      expect(info.usageReported).toBe(true);
      expect(info.inputTokens).toBe(10);
      expect(info.outputTokens).toBe(2);
      expect(info.cachedInputTokens, usage).toBe(0);
    }
  });

  it('leaves finishReason null when the provider gave none', () => {
    const info = new ResponseInfo();
    tr.translateResponse(Buffer.from(completion({ finish: null })), ALIAS, info);
    expect(info.finishReason).toBeNull();
  });

  it('handles a ~1 KB completion like the simulator sends', () => {
    const content = 'The account manager asked for a summary of the last quarter. '.repeat(12);
    const body = completion({ content });
    expect(body.length).toBeGreaterThan(900);
    const info = new ResponseInfo();
    const out = tr.translateResponse(Buffer.from(body), ALIAS, info);
    expect(JSON.parse(asText(out))).toEqual(expectedObject(body));
  });
});

describe('OpenAIChatTranslator.translateResponse: slow path', () => {
  it('pretty-printed JSON gives the same answer', () => {
    const obj = JSON.parse(completion({ content: 'héllo 🎉', finish: 'length' }));
    const pretty = JSON.stringify(obj, null, 2);
    const info = new ResponseInfo();
    const out = tr.translateResponse(Buffer.from(pretty), ALIAS, info);
    expect(typeof out).toBe('string');
    expect(JSON.parse(asText(out))).toEqual({ ...obj, model: ALIAS });
    expect(info.usageReported).toBe(true);
    expect(info.inputTokens).toBe(812);
    expect(info.outputTokens).toBe(64);
    expect(info.cachedInputTokens).toBe(512);
    expect(info.finishReason).toBe('length');
    expect(info.outputChars).toBe('héllo 🎉'.length);
  });

  it('a response without usage is parsed whole; tokens stay unreported, output characters are counted', () => {
    for (const usage of [null, 'null']) {
      const body = completion({ content: 'twelve chars', usage });
      const info = new ResponseInfo();
      const out = tr.translateResponse(Buffer.from(body), ALIAS, info);
      expect(typeof out).toBe('string');
      expect(JSON.parse(asText(out))).toEqual(expectedObject(body));
      expect(info.usageReported).toBe(false);
      expect(info.inputTokens).toBe(0);
      expect(info.outputTokens).toBe(0);
      expect(info.cachedInputTokens).toBe(0);
      expect(info.outputChars).toBe(12);
      expect(info.finishReason).toBe('stop');
    }
  });

  it('usage without prompt_tokens falls back to the whole parse', () => {
    const body = completion({ usage: '{"completion_tokens":5,"total_tokens":5}' });
    const info = new ResponseInfo();
    const out = tr.translateResponse(Buffer.from(body), ALIAS, info);
    expect(typeof out).toBe('string');
    expect(JSON.parse(asText(out)).model).toBe(ALIAS);
    expect(info.usageReported).toBe(true);
    expect(info.inputTokens).toBe(0);
    expect(info.outputTokens).toBe(5);
  });

  it('a body with a trailing newline still gives the right answer', () => {
    const body = completion() + '\n';
    const info = new ResponseInfo();
    const out = tr.translateResponse(Buffer.from(body), ALIAS, info);
    expect(JSON.parse(asText(out))).toEqual(expectedObject(body));
    expect(info.inputTokens).toBe(812);
    expect(info.cachedInputTokens).toBe(512);
  });

  it('a body without a model key gets the alias', () => {
    const body = '{"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}]}';
    const out = tr.translateResponse(Buffer.from(body), ALIAS, new ResponseInfo());
    expect(JSON.parse(asText(out)).model).toBe(ALIAS);
  });

  it('takes the last finish reason and sums content over several choices; skips null choices', () => {
    const body = JSON.stringify({
      model: 'm',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'abc' }, finish_reason: 'stop' },
        null,
        { index: 1, message: { role: 'assistant', content: null }, finish_reason: null },
        { index: 2, message: { role: 'assistant', content: 'de' }, finish_reason: 'length' },
      ],
    });
    const info = new ResponseInfo();
    tr.translateResponse(Buffer.from(body), ALIAS, info);
    expect(info.finishReason).toBe('length');
    expect(info.outputChars).toBe(5);
  });

  it('resets what a previous use left in the info', () => {
    const info = new ResponseInfo();
    info.inputTokens = 5;
    info.cachedInputTokens = 4;
    info.outputTokens = 3;
    info.usageReported = true;
    info.finishReason = 'length';
    info.outputChars = 100;
    info.sawDone = true;
    info.streamError = 'old';
    tr.translateResponse(Buffer.from(completion({ usage: null, content: 'ab', finish: null })), ALIAS, info);
    expect({ ...info }).toEqual({ ...new ResponseInfo(), outputChars: 2, outputText: 'ab' });
  });

  it('throws on garbage', () => {
    const full = completion();
    const garbage = [
      '',
      'not json',
      'null',
      '42',
      '"a string"',
      '[]',
      '{}',
      '{"choices":{}}',
      '{"model":"x"}',
      '{"model":"x","choices":[',
      full.slice(0, full.length >> 1),
      '<html>502 Bad Gateway</html>',
    ];
    for (const g of garbage) {
      expect(() => tr.translateResponse(Buffer.from(g), ALIAS, new ResponseInfo()), JSON.stringify(g)).toThrow();
    }
  });
});

// ---- createStream ------------------------------------------------------------------------------------

const CHUNK_HEAD = '{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_sim","choices":[{"index":0,"delta":';

function chunk(delta: string, finish: string | null, withUsageNull: boolean): string {
  return CHUNK_HEAD + delta + ',"logprobs":null,"finish_reason":' + JSON.stringify(finish) + '}]' + (withUsageNull ? ',"usage":null}' : '}');
}

const USAGE_CHUNK =
  '{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_sim","choices":[],"usage":' +
  USAGE_FULL + '}';

const PIECES = ['Grüße', ' 👋🏽', ' 日本語', ' ✓ done'];

/** Payloads of an upstream stream that asked for usage (what the gateway always asks). */
function streamEvents(): string[] {
  return [
    chunk('{"role":"assistant","content":"","refusal":null}', null, true),
    ...PIECES.map((p) => chunk('{"content":' + JSON.stringify(p) + '}', null, true)),
    chunk('{}', 'stop', true),
    USAGE_CHUNK,
    '[DONE]',
  ];
}

function sse(events: string[], eol = '\n'): string {
  return events.map((e) => 'data: ' + e + eol + eol).join('');
}

/** What the client must receive for these events. */
function expectedClient(events: string[], clientWantsUsage: boolean, alias = ALIAS): string {
  let out = '';
  for (const e of events) {
    if (e === '[DONE]') {
      out += 'data: [DONE]\n\n';
      continue;
    }
    const o = JSON.parse(e);
    o.model = alias;
    if (!clientWantsUsage) {
      if (o.choices.length === 0 && o.usage != null) continue;
      delete o.usage;
    }
    out += 'data: ' + JSON.stringify(o) + '\n\n';
  }
  return out;
}

/** Feed `bytes` cut at `cuts` (sorted offsets), then finish. */
function run(bytes: Buffer, cuts: number[], clientWantsUsage: boolean, info = new ResponseInfo()): { out: string; info: ResponseInfo } {
  const s = tr.createStream(ALIAS, clientWantsUsage, info);
  let out = '';
  let prev = 0;
  for (const c of cuts) {
    out += s.push(bytes.subarray(prev, c));
    prev = c;
  }
  out += s.push(bytes.subarray(prev));
  out += s.finish();
  return { out, info };
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('OpenAIChatTranslator.createStream', () => {
  const events = streamEvents();
  const bytes = Buffer.from(sse(events));

  it('rewrites the model in every chunk and reads usage and finish reason (client asked for usage: kept)', () => {
    const { out, info } = run(bytes, [], true);
    expect(out).toBe(expectedClient(events, true));
    expect(out).not.toContain('gpt-4o-mini');
    expect(out).toContain('"usage":null');
    expect(out).toContain('"choices":[],"usage":{"prompt_tokens":812');
    expect(info.sawDone).toBe(true);
    expect(info.streamError).toBeNull();
    expect(info.usageReported).toBe(true);
    expect(info.inputTokens).toBe(812);
    expect(info.outputTokens).toBe(64);
    expect(info.cachedInputTokens).toBe(512);
    expect(info.finishReason).toBe('stop');
    expect(info.outputChars).toBe(PIECES.join('').length);
  });

  it('strips the usage chunk and usage:null fields when the client did not ask, yet still reads usage', () => {
    const { out, info } = run(bytes, [], false);
    expect(out).toBe(expectedClient(events, false));
    expect(out).not.toContain('usage');
    expect(out.split('data: ').length - 1).toBe(events.length - 1);
    expect(info.usageReported).toBe(true);
    expect(info.inputTokens).toBe(812);
    expect(info.outputTokens).toBe(64);
    expect(info.cachedInputTokens).toBe(512);
  });

  it('keeps usage on a chunk that also carries choices when the client asked; drops only the field otherwise', () => {
    const ev = chunk('{}', 'stop', false).slice(0, -1) + ',"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}';
    const want = run(Buffer.from(sse([ev])), [], true);
    expect(JSON.parse(want.out.slice(6)).usage).toEqual({ prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
    const noWant = run(Buffer.from(sse([ev])), [], false);
    const parsed = JSON.parse(noWant.out.slice(6));
    expect(parsed).not.toHaveProperty('usage');
    expect(parsed.choices[0].finish_reason).toBe('stop');
    expect(noWant.info.inputTokens).toBe(3);
  });

  it('gives the same output for every single split point (inside multibyte characters too)', () => {
    for (const wants of [true, false]) {
      const whole = expectedClient(events, wants);
      for (let cut = 1; cut < bytes.length; cut++) {
        const { out, info } = run(bytes, [cut], wants);
        if (out !== whole) throw new Error(`split at byte ${cut} (wants=${wants}): output differs`);
        expect(info.sawDone).toBe(true);
      }
    }
  });

  it('gives the same output fed one byte at a time and in random-sized chunks', () => {
    const whole = expectedClient(events, true);
    const every = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    expect(run(bytes, every, true).out).toBe(whole);
    const r = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const cuts: number[] = [];
      for (let at = 1 + Math.floor(r() * 40); at < bytes.length; at += 1 + Math.floor(r() * 40)) cuts.push(at);
      const { out, info } = run(bytes, cuts, true);
      expect(out).toBe(whole);
      expect(info.inputTokens).toBe(812);
    }
  });

  it('has a split inside a 4-byte UTF-8 character at least once in the sweep (sanity of the input)', () => {
    const at = bytes.indexOf(Buffer.from('👋', 'utf8'));
    expect(at).toBeGreaterThan(0);
    const { out } = run(bytes, [at + 1, at + 2, at + 3], true);
    expect(out).toBe(expectedClient(events, true));
    expect(out).toContain('👋🏽');
  });

  it('accepts CRLF line endings, split anywhere', () => {
    const crlf = Buffer.from(sse(events, '\r\n'));
    const whole = expectedClient(events, true);
    expect(run(crlf, [], true).out).toBe(whole);
    for (let cut = 1; cut < crlf.length; cut++) {
      const { out } = run(crlf, [cut], true);
      if (out !== whole) throw new Error(`CRLF split at byte ${cut}: output differs`);
    }
  });

  it('accepts data: without a space and ignores comments, event: lines and blank lines', () => {
    const text = ': keep-alive\n\nevent: message\ndata:' + events[1] + '\n\nid: 3\nretry: 100\n\ndata:[DONE]\n\n';
    const { out, info } = run(Buffer.from(text), [], true);
    expect(out).toBe(expectedClient([events[1]!, '[DONE]'], true));
    expect(info.sawDone).toBe(true);
  });

  it('sets sawDone only when [DONE] arrives', () => {
    const info = new ResponseInfo();
    const s = tr.createStream(ALIAS, true, info);
    s.push(Buffer.from(sse(events.slice(0, -1))));
    expect(info.sawDone).toBe(false);
    expect(s.push(Buffer.from('data: [DONE]\n\n'))).toBe('data: [DONE]\n\n');
    expect(info.sawDone).toBe(true);
  });

  it('an {"error":...} event sets streamError and is not forwarded', () => {
    const info = new ResponseInfo();
    const s = tr.createStream(ALIAS, true, info);
    const first = s.push(Buffer.from(sse([events[1]!])));
    expect(first).toBe(expectedClient([events[1]!], true));
    const out = s.push(Buffer.from('data: {"error":{"message":"The server is overloaded.","type":"server_error","code":null}}\n\n'));
    expect(out).toBe('');
    expect(info.streamError).toBe('The server is overloaded.');
    expect(info.sawDone).toBe(false);
  });

  it('an error event without a message gets a generic streamError', () => {
    const info = new ResponseInfo();
    const s = tr.createStream(ALIAS, true, info);
    expect(s.push(Buffer.from('data: {"error":{"type":"server_error"}}\n\n'))).toBe('');
    expect(info.streamError).toBe('The provider reported an error mid-stream.');
    const info2 = new ResponseInfo();
    tr.createStream(ALIAS, true, info2).push(Buffer.from('data: {"error":"boom"}\n\n'));
    expect(info2.streamError).toBe('The provider reported an error mid-stream.');
  });

  it('a malformed event sets streamError and is not forwarded', () => {
    const info = new ResponseInfo();
    const s = tr.createStream(ALIAS, true, info);
    expect(s.push(Buffer.from('data: {"id":"x","choices":[\n\n'))).toBe('');
    expect(info.streamError).toBe('The provider sent a malformed stream event.');
  });

  it('a JSON event that is not an object is dropped without an error', () => {
    const info = new ResponseInfo();
    const s = tr.createStream(ALIAS, true, info);
    expect(s.push(Buffer.from('data: null\n\ndata: 42\n\n'))).toBe('');
    expect(info.streamError).toBeNull();
  });

  it('finish() flushes a last line that has no trailing newline', () => {
    const info = new ResponseInfo();
    const s = tr.createStream(ALIAS, true, info);
    expect(s.push(Buffer.from('data: ' + events[1]))).toBe('');
    expect(s.finish()).toBe(expectedClient([events[1]!], true));
    const info2 = new ResponseInfo();
    const s2 = tr.createStream(ALIAS, false, info2);
    expect(s2.push(Buffer.from(sse(events.slice(0, -1)) + 'data: [DONE]'))).toBe(expectedClient(events.slice(0, -1), false));
    expect(info2.sawDone).toBe(false);
    expect(s2.finish()).toBe('data: [DONE]\n\n');
    expect(info2.sawDone).toBe(true);
  });

  it('finish() flushes a last CRLF-terminated line without the blank line after it', () => {
    const s = tr.createStream(ALIAS, true, new ResponseInfo());
    expect(s.push(Buffer.from('data: [DONE]\r'))).toBe('');
    expect(s.finish()).toBe('data: [DONE]\n\n');
  });

  it('finish() with nothing pending returns the empty string, and push of nothing returns nothing', () => {
    const s = tr.createStream(ALIAS, true, new ResponseInfo());
    expect(s.push(Buffer.alloc(0))).toBe('');
    expect(s.push(Buffer.from(sse(['[DONE]'])))).toBe('data: [DONE]\n\n');
    expect(s.finish()).toBe('');
  });

  it('counts tool-call argument characters and reads tool_calls finish reason', () => {
    const ev = [
      chunk('{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":""}}]}', null, false),
      chunk('{"tool_calls":[{"index":0,"function":{"arguments":"{\\"q\\":"}}]}', null, false),
      chunk('{"tool_calls":[{"index":0,"function":{"arguments":"\\"ü\\"}"}}]}', null, false),
      chunk('{}', 'tool_calls', false),
      '[DONE]',
    ];
    const { out, info } = run(Buffer.from(sse(ev)), [], false);
    expect(out).toBe(expectedClient(ev, false));
    expect(info.outputChars).toBe('{"q":'.length + '"ü"}'.length);
    expect(info.finishReason).toBe('tool_calls');
    expect(info.usageReported).toBe(false);
  });
});
