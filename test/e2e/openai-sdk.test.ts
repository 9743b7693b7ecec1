// The gateway as users will use it: the official `openai` client against the gateway and the simulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { DEMO_KEY, startStack, type Stack } from '../helpers/stack.js';

describe('openai SDK end to end (uws ingress → gateway → simulator)', () => {
  let s: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    s = await startStack('uws');
    client = new OpenAI({ apiKey: DEMO_KEY, baseURL: s.url + '/v1', maxRetries: 0 });
  });
  afterAll(async () => {
    await s.close();
  });

  it('lists models: the aliases of the key', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids).toContain('demo.chat');
    expect(ids).not.toContain('gpt-4o-mini');
    expect(ids).not.toContain('other.only');
  });

  it('chats', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'demo.chat', messages: [{ role: 'user', content: 'Summarize: the account renewed.' }], max_tokens: 64 })
      .withResponse();
    expect(data.model).toBe('demo.chat');
    expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    expect(response.headers.get('x-switchyard-alias')).toBe('demo.chat');
    expect(Number(response.headers.get('x-switchyard-cost-usd'))).toBeGreaterThan(0);
  });

  it('reports finish_reason length when max_tokens cuts the answer', async () => {
    const r = await client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'long one [sim:output_tokens=50]' }], max_tokens: 5 });
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(5);
  });

  it('streams with usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo.chat',
      messages: [{ role: 'user', content: 'Stream please.' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.model).toBe('demo.chat');
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text.length).toBeGreaterThan(0);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('passes tool calls through (non-streaming and streamed arguments)', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'search_docs',
          description: 'Search the docs',
          parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
        },
      },
    ];
    const r = await client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'Find the refund policy.' }], tools });
    const call = r.choices[0]!.message.tool_calls![0]!;
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call.type).toBe('function');
    if (call.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('search_docs');
    expect(JSON.parse(call.function.arguments)).toHaveProperty('query');

    const stream = await client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'Find it.' }], tools, stream: true });
    let args = '';
    let name = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      const tc = chunk.choices[0]?.delta?.tool_calls?.[0];
      if (tc?.function?.name) name = tc.function.name;
      args += tc?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(name).toBe('search_docs');
    expect(JSON.parse(args)).toHaveProperty('query');
    expect(finish).toBe('tool_calls');
  });

  it('surfaces every error as an APIError with status and stable code', async () => {
    const expectError = async (p: Promise<unknown>, status: number, code: string) => {
      const err = await p.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(status);
      expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe(code);
    };
    await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }), 404, 'alias_not_found');
    await expectError(client.chat.completions.create({ model: 'demo.chat', messages: [] }), 400, 'invalid_request');
    const badKey = new OpenAI({ apiKey: 'sk-nope', baseURL: s.url + '/v1', maxRetries: 0 });
    await expectError(badKey.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'x' }] }), 401, 'invalid_api_key');
    await expectError(client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'x [sim:fault=500]' }] }), 502, 'upstream_error');
    await expectError(client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'x [sim:fault=503]' }] }), 503, 'upstream_unavailable');
    await expectError(client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'x [sim:fault=429]' }] }), 429, 'upstream_rate_limited');
    await expectError(
      client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'x'.repeat(80_000) }] }),
      413,
      'body_too_large',
    );
  });

  it('delivers a terminal error to a streaming SDK client when the provider cuts the stream', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo.chat',
      messages: [{ role: 'user', content: 'x [sim:fault=stream_cut] [sim:output_tokens=30]' }],
      stream: true,
    });
    const err = await (async () => {
      try {
        for await (const _ of stream) {
          /* drain */
        }
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String((err as Error).message)).toMatch(/ended before completion|mid-stream/);
  });
});
