import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  loadProfileFile,
  resolveProfile,
  runSimulate,
  startMaasSimulator,
  type MaasSimulator,
  type SimProfile,
} from '../../simulators/index.js';

const AUTH = { authorization: 'Bearer sk-test', 'content-type': 'application/json' };

function chatBody(content: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra });
}

async function post(sim: MaasSimulator, body: string, headers: Record<string, string> = AUTH, signal?: AbortSignal) {
  const res = await request(`${sim.url}/chat/completions`, { method: 'POST', headers, body, signal });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

async function chat(sim: MaasSimulator, content: string, extra: Record<string, unknown> = {}) {
  const r = await post(sim, chatBody(content, extra));
  expect(r.status).toBe(200);
  return JSON.parse(r.text);
}

/** Raw SSE: the `data:` payloads in order. */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

const WEATHER_TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, days: { type: 'integer' }, unit: { type: 'string', enum: ['c', 'f'] } },
        required: ['city', 'days', 'unit'],
      },
    },
  },
  { type: 'function', function: { name: 'search_docs', parameters: { type: 'object', properties: {} } } },
];

const sims: MaasSimulator[] = [];
async function start(profile: Partial<SimProfile> = {}): Promise<MaasSimulator> {
  const sim = await startMaasSimulator(profile);
  sims.push(sim);
  return sim;
}

let sim: MaasSimulator;
let client: OpenAI;

beforeAll(async () => {
  sim = await start({ seed: 1 });
  client = new OpenAI({ apiKey: 'sk-test', baseURL: sim.url, maxRetries: 0 });
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

describe('maas simulator: chat completions', () => {
  it('answers in OpenAI format (openai client) and records the upstream request', async () => {
    const content = 'Summarize the account note please';
    const res = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }] },
      { headers: { 'x-test-header': 'abc' } },
    );
    expect(res.object).toBe('chat.completion');
    expect(res.id).toMatch(/^chatcmpl-/);
    expect(res.model).toBe('gpt-4o-mini');
    expect(typeof res.created).toBe('number');
    expect(res.choices).toHaveLength(1);
    const choice = res.choices[0]!;
    expect(choice.index).toBe(0);
    expect(choice.message.role).toBe('assistant');
    expect(typeof choice.message.content).toBe('string');
    expect(choice.finish_reason).toBe('stop');
    // prompt_tokens = ceil(chars / 4) + 3 per message
    expect(res.usage).toMatchObject({
      prompt_tokens: Math.ceil(('be brief'.length + content.length) / 4) + 6,
      completion_tokens: 16,
      total_tokens: res.usage!.prompt_tokens + 16,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    expect(choice.message.content!.split(' ')).toHaveLength(16);

    const last = sim.stats.lastRequest!;
    expect(last.headers.authorization).toBe('Bearer sk-test');
    expect(last.headers['x-test-header']).toBe('abc');
    expect(JSON.parse(last.body).messages[1].content).toBe(content);
    const entry = sim.stats.requestLog.at(-1)!;
    expect(entry).toMatchObject({ id: res.id, model: 'gpt-4o-mini', stream: false, status: 200, completion_tokens: 16, cached_tokens: 0 });
  });

  it('streams SSE chunks with include_usage, ending with [DONE]', async () => {
    const content = 'stream me something';
    const whole = await chat(sim, content);
    const r = await post(sim, chatBody(content, { stream: true, stream_options: { include_usage: true } }));
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.text.endsWith('data: [DONE]\n\n')).toBe(true);
    const data = sseData(r.text);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0].id);
    }
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual(whole.usage);
    const body = chunks.slice(0, -1);
    for (const c of body) expect(c.usage).toBeNull();
    expect(body.at(-1).choices[0].finish_reason).toBe('stop');
    for (const c of body.slice(0, -1)) expect(c.choices[0].finish_reason).toBeNull();
    const text = body.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0].message.content);
    expect(body.length).toBe(1 + 16 + 1); // role chunk, one per token, finish chunk
  });

  it('streams without usage fields when include_usage is not set (openai client)', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'plain stream' }],
      stream: true,
    });
    const parts: string[] = [];
    let finish: string | null = null;
    let n = 0;
    for await (const c of stream) {
      n++;
      expect('usage' in c).toBe(false);
      parts.push(c.choices[0]?.delta.content ?? '');
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(n).toBe(18);
    expect(finish).toBe('stop');
    expect(parts.join('')).toBe((await chat(sim, 'plain stream')).choices[0].message.content);
  });

  it('is deterministic: same seed and request → same text; another seed → different text', async () => {
    const a = (await chat(sim, 'determinism check')).choices[0].message.content;
    const b = (await chat(sim, 'determinism check')).choices[0].message.content;
    const sameSeed = await start({ seed: 1 });
    const c = (await chat(sameSeed, 'determinism check')).choices[0].message.content;
    const otherSeed = await start({ seed: 2 });
    const d = (await chat(otherSeed, 'determinism check')).choices[0].message.content;
    const e = (await chat(sim, 'another request')).choices[0].message.content;
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(d).not.toBe(a);
    expect(e).not.toBe(a);
  });

  it('output_tokens ranges and the output_tokens directive set the length', async () => {
    const ranged = await start({ output_tokens: { min: 3, max: 9 } });
    const lengths = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const r = await chat(ranged, `range ${i}`);
      expect(r.usage.completion_tokens).toBeGreaterThanOrEqual(3);
      expect(r.usage.completion_tokens).toBeLessThanOrEqual(9);
      lengths.add(r.usage.completion_tokens);
    }
    expect(lengths.size).toBeGreaterThan(1);
    const d = await chat(sim, 'long one [sim:output_tokens=40]');
    expect(d.usage.completion_tokens).toBe(40);
    expect(d.choices[0].message.content.split(' ')).toHaveLength(40);
  });

  it('max_tokens / max_completion_tokens below the output length → finish_reason length', async () => {
    const r = await chat(sim, 'cut me', { max_tokens: 5 });
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage.completion_tokens).toBe(5);
    const r2 = await chat(sim, 'cut me', { max_completion_tokens: 3 });
    expect(r2.usage.completion_tokens).toBe(3);
    const r3 = await chat(sim, 'cut me', { max_tokens: 100 });
    expect(r3.choices[0].finish_reason).toBe('stop');
    expect(r3.usage.completion_tokens).toBe(16);
    const s = await post(sim, chatBody('cut me', { max_tokens: 5, stream: true, stream_options: { include_usage: true } }));
    const chunks = sseData(s.text).slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.at(-2).choices[0].finish_reason).toBe('length');
    expect(chunks.at(-1).usage.completion_tokens).toBe(5);
  });

  it('answers with a tool call (non-stream)', async () => {
    const res = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: WEATHER_TOOLS as OpenAI.Chat.ChatCompletionTool[],
    });
    const choice = res.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const calls = choice.message.tool_calls!;
    expect(calls).toHaveLength(1);
    const call = calls[0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments);
    expect(Object.keys(args)).toEqual(['city', 'days', 'unit']);
    expect(typeof args.city).toBe('string');
    expect(Number.isInteger(args.days)).toBe(true);
    expect(['c', 'f']).toContain(args.unit);

    const forced = await chat(sim, 'search', { tools: WEATHER_TOOLS, tool_choice: { type: 'function', function: { name: 'search_docs' } } });
    const fc = forced.choices[0].message.tool_calls[0];
    expect(fc.function.name).toBe('search_docs');
    expect(Object.keys(JSON.parse(fc.function.arguments))).toEqual(['query']);

    const none = await chat(sim, 'no tools please', { tools: WEATHER_TOOLS, tool_choice: 'none' });
    expect(none.choices[0].finish_reason).toBe('stop');
    expect(typeof none.choices[0].message.content).toBe('string');

    const bad = await post(sim, chatBody('x', { tools: WEATHER_TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } }));
    expect(bad.status).toBe(400);
  });

  it('streams a tool call: id and name first, then argument fragments', async () => {
    const whole = await chat(sim, 'weather in Oslo?', { tools: WEATHER_TOOLS });
    const wholeCall = whole.choices[0].message.tool_calls[0];
    const r = await post(sim, chatBody('weather in Oslo?', { tools: WEATHER_TOOLS, stream: true }));
    const data = sseData(r.text);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    const first = chunks[0].choices[0].delta;
    expect(first.role).toBe('assistant');
    expect(first.tool_calls[0]).toEqual({
      index: 0,
      id: wholeCall.id,
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    const fragments = chunks.slice(1, -1).map((c) => {
      const tc = c.choices[0].delta.tool_calls[0];
      expect(tc.index).toBe(0);
      expect(tc.id).toBeUndefined();
      expect(tc.function.name).toBeUndefined();
      return tc.function.arguments as string;
    });
    expect(fragments.length).toBeGreaterThan(3);
    expect(fragments.join('')).toBe(wholeCall.function.arguments);
    expect(fragments.length).toBe(whole.usage.completion_tokens);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');

    // The openai client reassembles the same call from the stream.
    const stream = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'weather in Oslo?' }],
      tools: WEATHER_TOOLS as OpenAI.Chat.ChatCompletionTool[],
    });
    const final = await stream.finalChatCompletion();
    const sc = final.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(sc.function.arguments).toBe(wholeCall.function.arguments);
  });

  it('answers JSON for response_format json_schema', async () => {
    const r = await chat(sim, 'json please', {
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'x', schema: { type: 'object', properties: { title: { type: 'string' }, score: { type: 'number' } }, required: ['title', 'score'] } },
      },
    });
    const parsed = JSON.parse(r.choices[0].message.content);
    expect(typeof parsed.title).toBe('string');
    expect(typeof parsed.score).toBe('number');
  });

  it('delays the first byte by ttft_ms and paces by tokens_per_s', async () => {
    let t = performance.now();
    await chat(sim, 'slow start [sim:ttft_ms=120]');
    expect(performance.now() - t).toBeGreaterThanOrEqual(115);

    t = performance.now();
    const res = await request(`${sim.url}/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: chatBody('paced [sim:output_tokens=20] [sim:tokens_per_s=200]', { stream: true }),
    });
    let reads = 0;
    let text = '';
    for await (const buf of res.body) {
      reads++;
      text += buf.toString();
    }
    const elapsed = performance.now() - t;
    expect(elapsed).toBeGreaterThanOrEqual(90); // 20 tokens at 200/s ≈ 95 ms after the first
    expect(elapsed).toBeLessThan(2000);
    expect(reads).toBeGreaterThan(2);
    expect(sseData(text).at(-1)).toBe('[DONE]');
  });
});

describe('maas simulator: faults by directive', () => {
  it('429 with Retry-After and the rate-limit envelope', async () => {
    const r = await post(sim, chatBody('hello [sim:fault=429]'));
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('1');
    expect(JSON.parse(r.text).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    const slow = await start({ retry_after_s: 7 });
    expect((await post(slow, chatBody('x [sim:fault=429]'))).headers['retry-after']).toBe('7');
    await expect(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x [sim:fault=429]' }] }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('500 and 503 with the OpenAI error envelope', async () => {
    const a = await post(sim, chatBody('hello [sim:fault=500]'));
    expect(a.status).toBe(500);
    expect(JSON.parse(a.text).error.type).toBe('server_error');
    const b = await post(sim, chatBody('hello [sim:fault=503]'));
    expect(b.status).toBe(503);
    expect(JSON.parse(b.text).error).toHaveProperty('message');
    await expect(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x [sim:fault=500]' }] }),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
  });

  it('reset closes the connection without a response', async () => {
    const before = sim.stats.byStatus.reset ?? 0;
    await expect(post(sim, chatBody('hello [sim:fault=reset]'))).rejects.toThrow();
    await expect(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x [sim:fault=reset]' }] }),
    ).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect(sim.stats.byStatus.reset).toBe(before + 2);
    // The server keeps serving afterwards.
    expect((await post(sim, chatBody('still alive'))).status).toBe(200);
  });

  it('timeout holds the request until the client gives up', async () => {
    const before = sim.stats.byStatus.timeout ?? 0;
    const t = performance.now();
    await expect(post(sim, chatBody('hello [sim:fault=timeout]'), AUTH, AbortSignal.timeout(300))).rejects.toThrow();
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
    const slowClient = new OpenAI({ apiKey: 'k', baseURL: sim.url, maxRetries: 0, timeout: 200 });
    await expect(
      slowClient.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x [sim:fault=timeout]' }] }),
    ).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    // The client's abort releases the held request on the server.
    await vi.waitFor(() => expect(sim.stats.byStatus.timeout).toBe(before + 2));
  });

  it('stream_cut ends the stream without [DONE]', async () => {
    const res = await request(`${sim.url}/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: chatBody('hello [sim:fault=stream_cut]', { stream: true }),
    });
    expect(res.statusCode).toBe(200);
    let text = '';
    let failed = false;
    try {
      for await (const buf of res.body) text += buf.toString();
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    expect(text).not.toContain('[DONE]');
    const chunks = sseData(text).map((d) => JSON.parse(d));
    expect(chunks.length).toBeGreaterThan(1); // role chunk + some tokens
    expect(chunks.every((c) => c.choices[0].finish_reason === null)).toBe(true);

    // Paced (timer path): cut after half of the 10 tokens.
    const paced = await request(`${sim.url}/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: chatBody('paced cut [sim:fault=stream_cut] [sim:tokens_per_s=500] [sim:output_tokens=10]', { stream: true }),
    });
    let pacedText = '';
    await expect(
      (async () => {
        for await (const buf of paced.body) pacedText += buf.toString();
      })(),
    ).rejects.toThrow();
    expect(pacedText).not.toContain('[DONE]');
    expect(sseData(pacedText)).toHaveLength(1 + 5);

    // Non-stream: the body breaks off mid-way.
    await expect(post(sim, chatBody('hello [sim:fault=stream_cut]'))).rejects.toThrow();
    expect(sim.stats.byStatus.stream_cut).toBeGreaterThanOrEqual(2);
  });

  it('error_rate over 1,000 requests is close to the configured rate and reproducible', async () => {
    const profile: Partial<SimProfile> = { seed: 42, error_rate: 0.2, errors: { rate_limited: 1, server_error: 1, unavailable: 1 } };
    const run = async () => {
      const s = await start(profile);
      const statuses: number[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => post(s, chatBody(`req ${batch * 50 + i}`))));
        for (const r of rs) statuses.push(r.status);
      }
      await s.close();
      return statuses;
    };
    const statuses = await run();
    const errors = statuses.filter((x) => x !== 200);
    expect(errors.length).toBeGreaterThan(160);
    expect(errors.length).toBeLessThan(240);
    for (const k of [429, 500, 503]) expect(errors.filter((x) => x === k).length).toBeGreaterThan(30);
    const again = (await run()).filter((x) => x !== 200).length;
    expect(again).toBe(errors.length);
  });
});

describe('maas simulator: protocol edges', () => {
  it('401 without a bearer token', async () => {
    const noAuth = await post(sim, chatBody('x'), { 'content-type': 'application/json' });
    expect(noAuth.status).toBe(401);
    expect(JSON.parse(noAuth.text).error.type).toBe('invalid_request_error');
    const empty = await post(sim, chatBody('x'), { authorization: 'Bearer ', 'content-type': 'application/json' });
    expect(empty.status).toBe(401);
    const models = await request(`${sim.url}/models`);
    expect(models.statusCode).toBe(401);
    await models.body.dump();
  });

  it('400 on bad JSON and on missing model or messages', async () => {
    const bad = await post(sim, '{"model": ');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error).toMatchObject({ type: 'invalid_request_error' });
    const empty = await post(sim, '');
    expect(empty.status).toBe(400);
    const noModel = await post(sim, JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }));
    expect(noModel.status).toBe(400);
    const noMessages = await post(sim, JSON.stringify({ model: 'm' }));
    expect(noMessages.status).toBe(400);
    expect(JSON.parse(noMessages.text).error).toMatchObject({ param: 'messages', code: 'missing_required_parameter' });
    const badRole = await post(sim, JSON.stringify({ model: 'm', messages: [{ role: 'robot', content: 'x' }] }));
    expect(badRole.status).toBe(400);
    const badMax = await post(sim, chatBody('x', { max_tokens: 0 }));
    expect(badMax.status).toBe(400);
    await expect(client.chat.completions.create({ model: '', messages: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('404 catch-all in the OpenAI envelope; /healthz; /v1/models', async () => {
    const nf = await request(`${sim.url}/nope?x=1`, { method: 'POST', body: 'abc' });
    expect(nf.statusCode).toBe(404);
    expect(await nf.body.json()).toEqual({
      error: { message: 'Invalid URL (POST /v1/nope?x=1)', type: 'invalid_request_error', param: null, code: null },
    });
    const h = await request(`${sim.url.replace(/\/v1$/, '')}/healthz`);
    expect(h.statusCode).toBe(200);
    expect(await h.body.json()).toEqual({ status: 'ok' });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['gpt-4o-mini']);
  });

  it('a large body arriving in many chunks is read whole', async () => {
    const big = 'word '.repeat(200_000);
    const r = await chat(sim, big);
    expect(r.usage.prompt_tokens).toBe(Math.ceil(big.length / 4) + 3);
    expect(sim.stats.lastRequest!.body.length).toBeGreaterThan(1_000_000);
  });

  it('counts tokens in stats', async () => {
    const s = await start({});
    await chat(s, 'abcd'); // 1 + 3 prompt tokens, 16 completion
    await post(s, chatBody('x [sim:fault=500]'));
    expect(s.stats.requests).toBe(2);
    expect(s.stats.byStatus).toEqual({ '200': 1, '500': 1 });
    expect(s.stats.promptTokens).toBe(4);
    expect(s.stats.completionTokens).toBe(16);
    expect(s.stats.requestLog.map((e) => e.status)).toEqual([200, 500]);
  });

  it('close() releases held requests and in-flight streams promptly', async () => {
    const s = await startMaasSimulator({});
    const held = post(s, chatBody('hold [sim:fault=timeout]'));
    const slow = post(s, chatBody('slow [sim:ttft_ms=60000]', { stream: true }));
    await vi.waitFor(() => expect(s.stats.requests).toBe(2));
    const t = performance.now();
    await s.close();
    await expect(held).rejects.toThrow();
    await expect(slow).rejects.toThrow();
    expect(performance.now() - t).toBeLessThan(1000);
    expect(s.stats.byStatus).toEqual({ timeout: 1, aborted: 1 });
    await s.close(); // idempotent
  });
});

describe('simulator profile', () => {
  it('resolves defaults and validates', () => {
    const p = resolveProfile({});
    expect(p).toMatchObject({ seed: 1, ttft_ms: 0, tokens_per_s: 0, output_tokens: { min: 16, max: 16 }, error_rate: 0, retry_after_s: 1 });
    expect(Object.values(p.errors).every((w) => Math.abs(w - 1 / 6) < 1e-9)).toBe(true);
    expect(resolveProfile({ errors: { reset: 3, timeout: 1 } }).errors).toMatchObject({ reset: 0.75, timeout: 0.25, server_error: 0 });
    expect(() => resolveProfile({ error_rate: 2 })).toThrow(/error_rate/);
    expect(() => resolveProfile({ output_tokens: { min: 5, max: 2 } })).toThrow(/output_tokens.max/);
    expect(() => resolveProfile({ errors: { bogus: 1 } as never })).toThrow(/errors.bogus/);
    expect(() => resolveProfile({ nope: 1 } as never)).toThrow(/nope: unknown field/);
  });

  it('loads YAML and JSON profile files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-profile-'));
    const y = join(dir, 'p.yaml');
    writeFileSync(y, 'seed: 7\nttft_ms: 5\noutput_tokens: { min: 2, max: 4 }\nerrors:\n  rate_limited: 1\n');
    expect(loadProfileFile(y)).toEqual({ seed: 7, ttft_ms: 5, output_tokens: { min: 2, max: 4 }, errors: { rate_limited: 1 } });
    const j = join(dir, 'p.json');
    writeFileSync(j, JSON.stringify({ error_rate: 0.1 }));
    expect(loadProfileFile(j)).toEqual({ error_rate: 0.1 });
    writeFileSync(j, JSON.stringify({ error_rate: -1 }));
    expect(() => loadProfileFile(j)).toThrow(/p\.json.*error_rate/);
  });

  it('runSimulate prints the listening line and stops on SIGTERM', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const done = runSimulate(['--port', '0', '--host', '127.0.0.1']);
      await vi.waitFor(() => expect(lines.some((l) => l.startsWith('switchyard simulator listening'))).toBe(true));
      const line = lines.find((l) => l.startsWith('switchyard simulator listening'))!;
      expect(line).toMatch(/^switchyard simulator listening on http:\/\/127\.0\.0\.1:\d+\n$/);
      const url = line.trim().split(' ').at(-1)!;
      const h = await request(`${url}/healthz`);
      expect(h.statusCode).toBe(200);
      await h.body.dump();
      process.emit('SIGTERM');
      await done;
    } finally {
      spy.mockRestore();
    }
  });
});
