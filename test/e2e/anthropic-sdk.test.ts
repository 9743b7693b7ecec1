// The official @anthropic-ai/sdk against /v1/messages, routed to an OpenAI-style provider and to an
// Anthropic-style provider (the managed-API simulator speaks both), and the official openai SDK routed to
// the Anthropic-style provider: text, streams, tools (streamed argument pieces, parallel calls, results),
// cache_control and cached input tokens, response_format, fallback across APIs, errors in each envelope.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { DEMO_KEY, startStack, type Stack } from '../helpers/stack.js';
import { MULTI_API_YAML } from '../helpers/multi-api.js';

const TOOLS: Anthropic.Tool[] = [
  { name: 'lookup_account', description: 'Find an account', input_schema: { type: 'object', properties: { account_id: { type: 'string' } }, required: ['account_id'] } },
  { name: 'search_docs', description: 'Search the docs', input_schema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } },
];

const OPENAI_TOOLS: OpenAI.ChatCompletionTool[] = TOOLS.map((t) => ({ type: 'function', function: { name: t.name, description: t.description!, parameters: t.input_schema as Record<string, unknown> } }));

describe.each(['uws', 'node'] as const)('Anthropic and OpenAI SDKs across provider APIs (%s ingress)', (transport) => {
  let s: Stack;
  let claude: Anthropic;
  let openai: OpenAI;
  let claudeSim: Stack['sim'];
  let openaiSim: Stack['sim'];
  beforeAll(async () => {
    s = await startStack(transport, MULTI_API_YAML);
    openaiSim = s.sims[0]!;
    claudeSim = s.sims[1]!;
    claude = new Anthropic({ apiKey: DEMO_KEY, baseURL: s.url, maxRetries: 0 });
    openai = new OpenAI({ apiKey: DEMO_KEY, baseURL: s.url + '/v1', maxRetries: 0 });
  });
  afterAll(async () => {
    await s.close();
  });

  it('lists the aliases to the Anthropic SDK in its own format', async () => {
    const ids: string[] = [];
    for await (const m of claude.models.list()) {
      expect(m.type).toBe('model');
      ids.push(m.id);
    }
    expect(ids).toContain('claude.chat');
    expect(ids).toContain('openai.chat');
    expect(ids).not.toContain('claude-haiku-4-5');
  });

  describe('Anthropic SDK → OpenAI-style provider', () => {
    it('answers a message (alias as model, usage, end_turn)', async () => {
      const { data, response } = await claude.messages
        .create({ model: 'openai.chat', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'Summarize: the account renewed.' }] })
        .withResponse();
      expect(data.type).toBe('message');
      expect(data.model).toBe('openai.chat');
      expect(data.stop_reason).toBe('end_turn');
      expect(data.content[0]!.type).toBe('text');
      expect((data.content[0] as Anthropic.TextBlock).text.length).toBeGreaterThan(0);
      expect(data.usage.input_tokens).toBeGreaterThan(0);
      expect(data.usage.output_tokens).toBeGreaterThan(0);
      expect(response.headers.get('x-switchyard-pool')).toBe('maas-sim');
      // Upstream got an OpenAI chat body: system first, the provider's model, the provider's key only.
      const up = JSON.parse(openaiSim.stats.lastRequest!.body);
      expect(up.model).toBe('gpt-4o-mini');
      expect(up.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
      expect(openaiSim.stats.lastRequest!.headers.authorization).toMatch(/^Bearer sk-provider/);
    });

    it('stops at max_tokens', async () => {
      const m = await claude.messages.create({ model: 'openai.chat', max_tokens: 5, messages: [{ role: 'user', content: 'long [sim:output_tokens=50]' }] });
      expect(m.stop_reason).toBe('max_tokens');
      expect(m.usage.output_tokens).toBe(5);
    });

    it("streams Anthropic's event sequence", async () => {
      const stream = claude.messages.stream({ model: 'openai.chat', max_tokens: 64, messages: [{ role: 'user', content: 'Stream please. [sim:output_tokens=12]' }] });
      const types: string[] = [];
      let text = '';
      for await (const e of stream) {
        types.push(e.type);
        if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
      }
      const final = await stream.finalMessage();
      expect(types[0]).toBe('message_start');
      expect(types[1]).toBe('content_block_start');
      expect(types.filter((t) => t === 'content_block_delta').length).toBe(12);
      expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
      expect((final.content[0] as Anthropic.TextBlock).text).toBe(text);
      expect(final.model).toBe('openai.chat');
      expect(final.usage.output_tokens).toBe(12);
      expect(final.usage.input_tokens).toBeGreaterThan(0);
    });

    it('calls a tool (non-streaming and streamed input pieces) and takes its result back', async () => {
      const m = await claude.messages.create({ model: 'openai.chat', max_tokens: 256, tools: TOOLS, tool_choice: { type: 'tool', name: 'search_docs' }, messages: [{ role: 'user', content: 'Find the refund policy.' }] });
      expect(m.stop_reason).toBe('tool_use');
      const use = m.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
      expect(use.name).toBe('search_docs');
      expect(use.input).toHaveProperty('query');
      const up = JSON.parse(openaiSim.stats.lastRequest!.body);
      expect(up.tool_choice).toEqual({ type: 'function', function: { name: 'search_docs' } });
      expect(up.tools[0].function.parameters).toEqual(TOOLS[0]!.input_schema);

      const stream = claude.messages.stream({ model: 'openai.chat', max_tokens: 256, tools: TOOLS, messages: [{ role: 'user', content: 'Find it.' }] });
      let pieces = 0;
      for await (const e of stream) if (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta') pieces++;
      const final = await stream.finalMessage();
      expect(pieces).toBeGreaterThan(1);
      const streamed = final.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
      expect(streamed.name).toBe('lookup_account');
      expect(streamed.input).toHaveProperty('account_id');
      expect(final.stop_reason).toBe('tool_use');

      // The result goes back as an OpenAI tool message after the assistant's tool call.
      const next = await claude.messages.create({
        model: 'openai.chat',
        max_tokens: 64,
        tools: TOOLS,
        tool_choice: { type: 'none' },
        messages: [
          { role: 'user', content: 'Find it.' },
          { role: 'assistant', content: final.content as Anthropic.ContentBlockParam[] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: streamed.id, content: 'Account 42: renewed' }, { type: 'text', text: 'Summarize.' }] },
        ],
      });
      expect(next.stop_reason).toBe('end_turn');
      const sent = JSON.parse(openaiSim.stats.lastRequest!.body);
      expect(sent.messages[1].tool_calls[0]).toEqual({ id: streamed.id, type: 'function', function: { name: 'lookup_account', arguments: JSON.stringify(streamed.input) } });
      expect(sent.messages[2]).toEqual({ role: 'tool', tool_call_id: streamed.id, content: 'Account 42: renewed' });
      expect(sent.messages[3]).toEqual({ role: 'user', content: 'Summarize.' });
    });

    it('takes parallel tool calls from an OpenAI-style provider (streaming and not)', async () => {
      const m = await claude.messages.create({ model: 'openai.chat', max_tokens: 256, tools: TOOLS, messages: [{ role: 'user', content: 'Both [sim:tool_calls=2]' }] });
      const uses = m.content.filter((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock[];
      expect(uses.map((u) => u.name)).toEqual(['lookup_account', 'search_docs']);
      expect(uses[0]!.input).toHaveProperty('account_id');
      expect(uses[1]!.input).toHaveProperty('query');
      expect(m.stop_reason).toBe('tool_use');
      const stream = claude.messages.stream({ model: 'openai.chat', max_tokens: 256, tools: TOOLS, messages: [{ role: 'user', content: 'Both [sim:tool_calls=2]' }] });
      const starts: number[] = [];
      for await (const e of stream) if (e.type === 'content_block_start') starts.push(e.index);
      const final = await stream.finalMessage();
      expect(starts).toEqual([0, 1]);
      const streamed = final.content as Anthropic.ToolUseBlock[];
      expect(streamed.map((u) => [u.name, Object.keys(u.input as object)])).toEqual([
        ['lookup_account', ['account_id']],
        ['search_docs', ['query']],
      ]);
      // disable_parallel_tool_use reaches the provider as parallel_tool_calls: false (one call).
      const one = await claude.messages.create({ model: 'openai.chat', max_tokens: 256, tools: TOOLS, tool_choice: { type: 'auto', disable_parallel_tool_use: true }, messages: [{ role: 'user', content: 'Both [sim:tool_calls=2]' }] });
      expect(one.content.filter((b) => b.type === 'tool_use').length).toBe(1);
      expect(JSON.parse(openaiSim.stats.lastRequest!.body)).toMatchObject({ tool_choice: 'auto', parallel_tool_calls: false });
    });

    it('leaves cache_control out of an OpenAI-style body (such providers cache prefixes on their own)', async () => {
      await claude.messages.create({
        model: 'openai.chat',
        max_tokens: 16,
        system: [{ type: 'text', text: 'Long stable instructions.', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'hi' }],
      });
      const body = openaiSim.stats.lastRequest!.body;
      expect(body).not.toContain('cache_control');
      expect(JSON.parse(body).messages[0]).toEqual({ role: 'system', content: [{ type: 'text', text: 'Long stable instructions.' }] });
    });
  });

  describe('Anthropic SDK → Anthropic-style provider', () => {
    it('passes the message through with the alias; the provider gets its own key in x-api-key', async () => {
      const m = await claude.messages.create({ model: 'claude.chat', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });
      expect(m.model).toBe('claude.chat');
      expect(m.id).toMatch(/^msg_/);
      const rec = claudeSim.stats.lastRequest!;
      expect(rec.headers['x-api-key']).toBe('sk-provider-secret-for-tests');
      expect(rec.headers['anthropic-version']).toBe('2023-06-01');
      expect(rec.headers.authorization).toBeUndefined();
      expect(JSON.parse(rec.body).model).toBe('claude-haiku-4-5');
    });

    it("forwards the client's anthropic-beta to an Anthropic-style provider only, and only feature names", async () => {
      await claude.messages.create({ model: 'claude.chat', max_tokens: 8, messages: [{ role: 'user', content: 'b' }] }, { headers: { 'anthropic-beta': 'context-1m-2025-08-07, files-api-2025-04-14' } });
      expect(claudeSim.stats.lastRequest!.headers['anthropic-beta']).toBe('context-1m-2025-08-07, files-api-2025-04-14');
      await claude.messages.create({ model: 'claude.chat', max_tokens: 8, messages: [{ role: 'user', content: 'b' }] }, { headers: { 'anthropic-beta': 'x; y=z' } });
      expect(claudeSim.stats.lastRequest!.headers['anthropic-beta']).toBeUndefined();
      await claude.messages.create({ model: 'claude.chat', max_tokens: 8, messages: [{ role: 'user', content: 'b' }] });
      expect(claudeSim.stats.lastRequest!.headers['anthropic-beta']).toBeUndefined();
      await claude.messages.create({ model: 'openai.chat', max_tokens: 8, messages: [{ role: 'user', content: 'b' }] }, { headers: { 'anthropic-beta': 'context-1m-2025-08-07' } });
      expect(openaiSim.stats.lastRequest!.headers['anthropic-beta']).toBeUndefined();
    });

    it('carries cache_control and reports cached input tokens', async () => {
      const system: Anthropic.TextBlockParam[] = [{ type: 'text', text: 'Policy handbook. '.repeat(200) + transport, cache_control: { type: 'ephemeral' } }];
      const first = await claude.messages.create({ model: 'claude.chat', max_tokens: 16, system, messages: [{ role: 'user', content: 'q1' }] });
      const sent = JSON.parse(claudeSim.stats.lastRequest!.body);
      expect(sent.system[0].cache_control).toEqual({ type: 'ephemeral' });
      expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(800);
      const second = await claude.messages.create({ model: 'claude.chat', max_tokens: 16, system, messages: [{ role: 'user', content: 'q2' }] });
      expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
      const trace = s.traces.records.at(-1)!;
      expect(trace.cached_input_tokens).toBe(second.usage.cache_read_input_tokens);
      expect(trace.input_tokens).toBe(second.usage.input_tokens + second.usage.cache_read_input_tokens!);
    });

    it('streams the provider events with the alias in message_start', async () => {
      const stream = claude.messages.stream({ model: 'claude.chat', max_tokens: 64, messages: [{ role: 'user', content: 'stream [sim:output_tokens=7]' }] });
      const final = await stream.finalMessage();
      expect(final.model).toBe('claude.chat');
      expect(final.usage.output_tokens).toBe(7);
      expect(final.stop_reason).toBe('end_turn');
    });

    it('makes parallel tool calls', async () => {
      const m = await claude.messages.create({ model: 'claude.chat', max_tokens: 256, tools: TOOLS, messages: [{ role: 'user', content: 'Both please [sim:tool_calls=2]' }] });
      const uses = m.content.filter((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock[];
      expect(uses.map((u) => u.name)).toEqual(['lookup_account', 'search_docs']);
    });
  });

  describe('OpenAI SDK → Anthropic-style provider', () => {
    it('chats: an Anthropic body upstream, a chat completion back', async () => {
      const r = await openai.chat.completions.create({
        model: 'claude.chat',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Summarize.' },
        ],
        max_tokens: 64,
        stop: ['END'],
        user: 'u-1',
      });
      expect(r.object).toBe('chat.completion');
      expect(r.model).toBe('claude.chat');
      expect(r.choices[0]!.finish_reason).toBe('stop');
      expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
      const sent = JSON.parse(claudeSim.stats.lastRequest!.body);
      expect(sent).toEqual({ model: 'claude-haiku-4-5', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'Summarize.' }], stop_sequences: ['END'], metadata: { user_id: 'u-1' } });
      // No max_tokens from the client: the route's output budget (512), not an open-ended default.
      await openai.chat.completions.create({ model: 'claude.chat', messages: [{ role: 'user', content: 'hi' }] });
      expect(JSON.parse(claudeSim.stats.lastRequest!.body).max_tokens).toBe(512);
    });

    it('streams chunks with usage, cached input tokens included', async () => {
      const system = 'Stable prefix. '.repeat(300) + transport;
      const ask = () =>
        openai.chat.completions.create({
          model: 'claude.chat',
          messages: [{ role: 'system', content: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } } as OpenAI.ChatCompletionContentPartText] }, { role: 'user', content: 'go [sim:output_tokens=6]' }],
          stream: true,
          stream_options: { include_usage: true },
        });
      for await (const _ of await ask()) {
        /* warm the cache */
      }
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      let finish: string | null = null;
      for await (const c of await ask()) {
        expect(c.model).toBe('claude.chat');
        text += c.choices[0]?.delta?.content ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
        if (c.usage) usage = c.usage;
      }
      expect(text.split(' ').length).toBe(6);
      expect(finish).toBe('stop');
      expect(usage!.completion_tokens).toBe(6);
      expect(usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(1000);
      expect(usage!.prompt_tokens).toBeGreaterThan(usage!.prompt_tokens_details!.cached_tokens!);
    });

    it('calls tools: definitions, streamed argument pieces, parallel calls, results', async () => {
      const r = await openai.chat.completions.create({ model: 'claude.chat', messages: [{ role: 'user', content: 'Both [sim:tool_calls=2]' }], tools: OPENAI_TOOLS });
      const calls = r.choices[0]!.message.tool_calls!;
      expect(r.choices[0]!.finish_reason).toBe('tool_calls');
      expect(calls.map((c) => (c.type === 'function' ? c.function.name : ''))).toEqual(['lookup_account', 'search_docs']);
      expect(JSON.parse((calls[0] as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments)).toHaveProperty('account_id');
      const sent = JSON.parse(claudeSim.stats.lastRequest!.body);
      expect(sent.tools[0]).toEqual({ name: 'lookup_account', description: 'Find an account', input_schema: TOOLS[0]!.input_schema });

      const stream = await openai.chat.completions.create({ model: 'claude.chat', messages: [{ role: 'user', content: 'Both [sim:tool_calls=2]' }], tools: OPENAI_TOOLS, stream: true });
      const args = ['', ''];
      const names = ['', ''];
      let pieces = 0;
      let finish: string | null = null;
      for await (const c of stream) {
        for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
          if (tc.function?.name) names[tc.index] = tc.function.name;
          if (tc.function?.arguments) {
            args[tc.index] += tc.function.arguments;
            pieces++;
          }
        }
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      expect(names).toEqual(['lookup_account', 'search_docs']);
      expect(JSON.parse(args[0]!)).toHaveProperty('account_id');
      expect(JSON.parse(args[1]!)).toHaveProperty('query');
      expect(pieces).toBeGreaterThan(2);
      expect(finish).toBe('tool_calls');

      // Results of both calls go back as one user turn of tool_result blocks.
      const ids = calls.map((c) => c.id);
      const done = await openai.chat.completions.create({
        model: 'claude.chat',
        messages: [
          { role: 'user', content: 'Both' },
          r.choices[0]!.message as OpenAI.ChatCompletionAssistantMessageParam,
          { role: 'tool', tool_call_id: ids[0]!, content: 'account ok' },
          { role: 'tool', tool_call_id: ids[1]!, content: 'docs ok' },
        ],
        tools: OPENAI_TOOLS,
      });
      expect(done.choices[0]!.finish_reason).toBe('stop');
      const back = JSON.parse(claudeSim.stats.lastRequest!.body);
      expect(back.messages[1].content.map((b: { type: string }) => b.type)).toEqual(['tool_use', 'tool_use']);
      expect(back.messages[2]).toEqual({
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: ids[0], content: 'account ok' },
          { type: 'tool_result', tool_use_id: ids[1], content: 'docs ok' },
        ],
      });
    });

    it('answers response_format json_schema with JSON matching the schema', async () => {
      const schema = { type: 'object', properties: { sentiment: { type: 'string', enum: ['positive', 'negative'] }, score: { type: 'integer' } }, required: ['sentiment', 'score'] };
      const r = await openai.chat.completions.create({ model: 'claude.chat', messages: [{ role: 'user', content: 'Rate it.' }], response_format: { type: 'json_schema', json_schema: { name: 'rating', schema } } });
      expect(r.choices[0]!.finish_reason).toBe('stop');
      expect(r.choices[0]!.message.tool_calls).toBeUndefined();
      const v = JSON.parse(r.choices[0]!.message.content!);
      expect(['positive', 'negative']).toContain(v.sentiment);
      expect(Number.isInteger(v.score)).toBe(true);
      const stream = await openai.chat.completions.create({ model: 'claude.chat', messages: [{ role: 'user', content: 'Rate it.' }], response_format: { type: 'json_schema', json_schema: { name: 'rating', schema } }, stream: true });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
      expect(JSON.parse(text)).toEqual(v);
    });

    it('refuses what the Anthropic API cannot express, before the call', async () => {
      const before = claudeSim.stats.messagesRequests;
      const err = await openai.chat.completions.create({ model: 'claude.only', messages: [{ role: 'user', content: 'x' }], logprobs: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
      expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('unsupported_feature');
      expect((err as Error).message).toMatch(/logprobs.*claude/);
      expect(claudeSim.stats.messagesRequests).toBe(before);
    });

    it('falls to a route member whose API supports the request', async () => {
      // mixed.chat: an Anthropic-style member and an OpenAI-style one; logprobs only the latter has.
      const { data, response } = await openai.chat.completions.create({ model: 'mixed.chat', messages: [{ role: 'user', content: 'x' }], logprobs: true }).withResponse();
      expect(data.model).toBe('mixed.chat');
      expect(s.traces.records.at(-1)!.provider).toBe('sim');
      expect(response.headers.get('x-switchyard-attempts')).toBe('1');
      // A retry never lands on a member that cannot take the request: it goes back to the one that can.
      const err = await openai.chat.completions.create({ model: 'mixed.chat', messages: [{ role: 'user', content: 'x [sim:fault=500]' }], logprobs: true }).then(
        () => null,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
      expect([err?.status, err?.code]).toEqual([502, 'upstream_error']);
      const tries = s.traces.records.at(-1)!.attempts;
      expect(tries.length).toBeGreaterThan(1);
      expect(tries.every((a) => a.provider === 'sim')).toBe(true);
      // claude.strict (Anthropic-style pool) names openai.chat as its fallback route.
      const r = await openai.chat.completions.create({ model: 'claude.strict', messages: [{ role: 'user', content: 'x' }], logprobs: true }).withResponse();
      expect(r.response.headers.get('x-switchyard-pool')).toBe('maas-sim');
      expect(r.response.headers.get('x-switchyard-fallback')).toBe('unsupported');
    });
  });

  describe('fallback from an OpenAI-style pool to an Anthropic-style pool in one request', () => {
    it('is invisible to an OpenAI client (streaming and not)', async () => {
      const { data, response } = await openai.chat.completions.create({ model: 'flaky.chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 32 }).withResponse();
      expect(data.object).toBe('chat.completion');
      expect(data.model).toBe('flaky.chat');
      expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
      // The failing pool is retried per the route's retry policy, then the fallback route answers.
      const attempts = s.traces.records.at(-1)!.attempts;
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      expect(response.headers.get('x-switchyard-attempts')).toBe(String(attempts.length));
      expect(response.headers.get('x-switchyard-fallback')).toMatch(/^5xx(>5xx)*$/);
      expect(response.headers.get('x-switchyard-pool')).toBe('maas-claude');
      expect(attempts.at(-1)).toMatchObject({ pool_id: 'maas-claude', provider: 'claude', status: 200 });
      for (const a of attempts.slice(0, -1)) expect(a).toMatchObject({ pool_id: 'maas-flaky', status: 500 });
      const stream = await openai.chat.completions.create({ model: 'flaky.chat', messages: [{ role: 'user', content: 'hi [sim:output_tokens=4]' }], stream: true, stream_options: { include_usage: true } });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const c of stream) {
        expect(c.model).toBe('flaky.chat');
        text += c.choices[0]?.delta?.content ?? '';
        if (c.usage) usage = c.usage;
      }
      expect(text.split(' ').length).toBe(4);
      expect(usage!.completion_tokens).toBe(4);
    });

    it('is invisible to an Anthropic client', async () => {
      const m = await claude.messages.create({ model: 'flaky.chat', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
      expect(m.type).toBe('message');
      expect(m.model).toBe('flaky.chat');
      const attempts = s.traces.records.at(-1)!.attempts;
      expect(attempts[0]!.pool_id).toBe('maas-flaky');
      expect(attempts.at(-1)).toMatchObject({ pool_id: 'maas-claude', status: 200 });
    });
  });

  describe("errors in Anthropic's envelope on /v1/messages", () => {
    const raw = async (body: unknown, headers: Record<string, string> = { 'x-api-key': DEMO_KEY }) => {
      const r = await fetch(s.url + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { type: string; error: { type: string; message: string } } };
    };

    it('validation, auth, unknown alias, bad JSON', async () => {
      let r = await raw({ model: 'openai.chat', messages: [{ role: 'user', content: 'x' }] });
      expect(r).toEqual({ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } } });
      r = await raw({ model: 'openai.chat', max_tokens: 5, messages: [{ role: 'system', content: 'x' }] });
      expect(r.body.error.message).toBe("messages.0.role: Input should be 'user' or 'assistant'");
      r = await raw({ model: 'openai.chat', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'tool_result' }] }] });
      expect(r.body.error.message).toBe('messages.0.content.0.tool_use_id: Field required');
      r = await raw('{nope');
      expect(r.status).toBe(400);
      expect(r.body.error.type).toBe('invalid_request_error');
      r = await raw({ model: 'openai.chat', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, {});
      expect(r).toMatchObject({ status: 401, body: { type: 'error', error: { type: 'authentication_error' } } });
      const err = await claude.messages.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.NotFoundError);
      expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    });

    it("upstream failures with Anthropic's statuses (overloaded is 529)", async () => {
      const ask = (content: string, model = 'claude.chat') =>
        claude.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content }] }).then(
          () => null as unknown as InstanceType<typeof Anthropic.APIError>,
          (e: unknown) => e as InstanceType<typeof Anthropic.APIError>,
        );
      let e = await ask('x [sim:fault=529]');
      expect(e.status).toBe(529);
      expect(e.error).toMatchObject({ error: { type: 'overloaded_error' } });
      e = await ask('x [sim:fault=503]', 'openai.chat');
      expect(e.status).toBe(529);
      e = await ask('x [sim:fault=429]');
      expect(e).toBeInstanceOf(Anthropic.RateLimitError);
      e = await ask('x [sim:fault=500]');
      expect(e.status).toBe(500); // the registry's 502 upstream_error: Anthropic has no 502
      expect(s.traces.records.at(-1)!.status).toBe(502);
      expect(e.error).toMatchObject({ error: { type: 'api_error' } });
    });

    it('refuses what an OpenAI-style provider cannot express (extended thinking), before the call', async () => {
      const before = openaiSim.stats.requests;
      const e = await claude.messages.create({ model: 'openai.chat', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'x' }] }).then(
        () => null as unknown as InstanceType<typeof Anthropic.APIError>,
        (x: unknown) => x as InstanceType<typeof Anthropic.APIError>,
      );
      expect(e.status).toBe(400);
      expect(e.error).toMatchObject({ error: { type: 'invalid_request_error' } });
      expect(e.message).toMatch(/thinking.*sim/);
      expect(openaiSim.stats.requests).toBe(before);
    });

    it('ends a cut stream with an Anthropic error event', async () => {
      for (const model of ['openai.chat', 'claude.chat']) {
        const stream = claude.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'x [sim:fault=stream_cut] [sim:output_tokens=30]' }] });
        const err = await stream.finalMessage().catch((e: unknown) => e);
        expect(err, model).toBeInstanceOf(Anthropic.APIError);
        expect(String((err as Error).message), model).toMatch(/ended before completion|mid-stream/);
      }
    });
  });

  describe('embeddings through aliases', () => {
    it('embeds with the OpenAI SDK (alias as model, usage accounted)', async () => {
      const r = await openai.embeddings.create({ model: 'embed.small', input: ['renewal note', 'churn risk'], dimensions: 16 });
      expect(r.model).toBe('embed.small');
      expect(r.data.length).toBe(2);
      expect(r.data[0]!.embedding.length).toBe(16);
      expect(r.usage.prompt_tokens).toBeGreaterThan(0);
      const sent = JSON.parse(openaiSim.stats.lastRequest!.body);
      expect(sent).toMatchObject({ model: 'text-embedding-3-small', input: ['renewal note', 'churn risk'], dimensions: 16 });
      const t = s.traces.records.at(-1)!;
      expect(t.alias).toBe('embed.small');
      expect(t.input_tokens).toBe(r.usage.prompt_tokens);
      expect(t.output_tokens).toBe(0);
    });

    it('refuses bad input, unknown aliases, and aliases whose providers have no embeddings', async () => {
      const e1 = await openai.embeddings.create({ model: 'embed.small', input: [] }).then(() => null as unknown as InstanceType<typeof OpenAI.APIError>, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
      expect([e1.status, e1.code, e1.param]).toEqual([400, 'invalid_request', 'input']);
      const e2 = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).then(() => null as unknown as InstanceType<typeof OpenAI.APIError>, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
      expect([e2.status, e2.code]).toEqual([404, 'alias_not_found']);
      const e3 = await openai.embeddings.create({ model: 'claude.only', input: 'x' }).then(() => null as unknown as InstanceType<typeof OpenAI.APIError>, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
      expect([e3.status, e3.code]).toEqual([400, 'unsupported_feature']);
      expect(e3.message).toMatch(/embeddings/);
    });
  });
});
