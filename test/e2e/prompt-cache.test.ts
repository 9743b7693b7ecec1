// Cache-preserving prompt assembly and the response cache, end to end with the official openai client:
// the bytes the provider receives (captured at the simulator), prompt templates, the response cache's
// hits, misses and bypasses, tenant isolation, limits on a hit, and the cache metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { request } from 'undici';
import { DEMO_KEY, OTHER_KEY, eventually, routeYaml, startStack, testConfigYaml, type Stack } from '../helpers/stack.js';

const TEMPLATE_ROUTE = '\n    prompt: { template: crm-summary, version: 2 }';
function templated(alias: string, tokenBudget?: string): string {
  return routeYaml(alias, 'maas-sim', { tokenBudget }).replace('\n    prompt: null', TEMPLATE_ROUTE);
}

const YAML =
  testConfigYaml() +
  templated('crm.a') +
  templated('crm.b') +
  templated('crm.tight', '{ max_input_tokens: 150, max_output_tokens: 512 }') +
  templated('crm.auto').replace('lane: direct_small', 'lane: auto') +
  routeYaml('cached.chat', 'maas-sim', { extra: '\n    cache: { response: { ttl_s: 60 } }' }) +
  routeYaml('cached.stream', 'maas-sim', { extra: '\n    cache: { response: { ttl_s: 60, stream: true } }' }) +
  routeYaml('cached.rpm', 'maas-sim', { quota: '{ requests_per_minute: 3, tokens_per_minute: 200000 }', extra: '\n    cache: { response: { ttl_s: 60 } }' }) +
  `
prompts:
  - name: crm-summary
    versions:
      - { version: 1, file: fixtures/prompts/crm-summary.v1.yaml }
      - { version: 2, file: fixtures/prompts/crm-summary.v2.yaml }
`;

describe.each(['uws', 'node'] as const)('prompt assembly and response cache (openai SDK → %s ingress → gateway → simulator)', (transport) => {
  let s: Stack;
  let demo: OpenAI;
  let other: OpenAI;
  beforeAll(async () => {
    s = await startStack(transport, YAML);
    demo = new OpenAI({ apiKey: DEMO_KEY, baseURL: s.url + '/v1', maxRetries: 0 });
    other = new OpenAI({ apiKey: OTHER_KEY, baseURL: s.url + '/v1', maxRetries: 0 });
  });
  afterAll(async () => {
    await s.close();
  });

  const upstreamBody = () => s.sim.stats.lastRequest!.body;
  const traceOf = async (id: string | null) => {
    await eventually(() => s.traces.records.some((t) => t.request_id === id));
    return s.traces.records.find((t) => t.request_id === id)!;
  };
  async function raw(body: string, key = DEMO_KEY, headers: Record<string, string> = {}) {
    const r = await request(s.url + '/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body });
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
  }

  it('sends identical upstream bytes for 100 requests that differ only in tenant, owner, scenario, metadata, request id, time and route', async () => {
    const bodies = new Set<string>();
    const seen: string[] = [];
    for (let i = 0; i < 100; i++) {
      const client = i % 2 === 0 ? demo : other;
      const scenario = `scn-${i}-qx7`;
      const owner = `owner-${i}-qx7`;
      const { response } = await client.chat.completions
        .create(
          { model: i % 3 === 0 ? 'crm.b' : 'crm.a', messages: [{ role: 'user', content: 'Note: call with Sam on 2024-05-02, renewal at risk.' }], metadata: { scenario_id: `meta-${i}-qx7`, owner } },
          { headers: i % 4 === 0 ? { 'x-switchyard-scenario': scenario, 'x-switchyard-owner': owner } : {} },
        )
        .withResponse();
      bodies.add(upstreamBody());
      for (const h of ['x-request-id', 'x-switchyard-alias', 'x-switchyard-lane', 'x-switchyard-pool', 'x-switchyard-cost-usd']) seen.push(String(response.headers.get(h)));
      seen.push(scenario, owner, `meta-${i}-qx7`);
    }
    expect(bodies.size).toBe(1);
    const body = [...bodies][0]!;
    // No header value or trace field of any of them appears in the body sent upstream.
    const t = s.traces.records.at(-1)!;
    for (const v of [...seen, t.tenant, t.key_id, 'k-demo', 'k-other', 'team-demo', 'team-other', 'crm.a', 'crm.b', 'maas-sim', DEMO_KEY, OTHER_KEY]) {
      expect(body.includes(v), v).toBe(false);
    }
    expect(t.prompt_version).toBe(2);
  });

  it('assembles the template first: system prompt, few-shot, then the client messages; template tools lead', async () => {
    const r = await demo.chat.completions.create({
      model: 'crm.a',
      messages: [{ role: 'user', content: 'Note: quick check-in.' }],
      tools: [{ type: 'function', function: { name: 'add_task', parameters: { type: 'object', properties: {} } } }],
    });
    expect(r.model).toBe('crm.a');
    const up = JSON.parse(upstreamBody());
    expect(Object.keys(up).slice(0, 3)).toEqual(['model', 'messages', 'tools']);
    expect(up.messages[0].role).toBe('system');
    expect(up.messages[0].content).toContain('You summarize CRM notes');
    expect(up.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(up.messages.at(-1).content).toBe('Note: quick check-in.');
    expect(up.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['lookup_account', 'add_task']);
  });

  it('refuses a client tool that the template defines (400, param tools) and loses nothing', async () => {
    const err = await demo.chat.completions
      .create({ model: 'crm.a', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'lookup_account' } }] })
      .catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const e = err as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(400);
    expect((e.error as { code: string; param: string }).code).toBe('invalid_request');
    expect((e.error as { param: string }).param).toBe('tools');
    expect(e.message).toContain('crm-summary@2');
  });

  it('classifies a request on an auto-lane route whose template offers tools as agentic', async () => {
    const { response } = await demo.chat.completions.create({ model: 'crm.auto', messages: [{ role: 'user', content: 'short note' }] }).withResponse();
    expect(response.headers.get('x-switchyard-lane')).toBe('agentic');
  });

  it("counts the template's parts against the route's max_input_tokens", async () => {
    const err = await demo.chat.completions.create({ model: 'crm.tight', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const e = err as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/The prompt has \d+ tokens; route 'crm.tight' accepts at most 150/);
  });

  it('serializes JSON keys, tools and parameters in a fixed order whatever the client sent', async () => {
    const a = await raw(
      '{"model":"demo.chat","messages":[{"role":"user","content":"hi \\u00e9"}],"tools":[{"type":"function","function":{"name":"b","parameters":{"type":"object"}}},{"type":"function","function":{"name":"a"}}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},"temperature":0}',
    );
    expect(a.status).toBe(200);
    const first = upstreamBody();
    const b = await raw(
      '{ "temperature": 0, "response_format": { "json_schema": { "schema": { "type": "object" }, "name": "x" }, "type": "json_schema" },\n "tools": [ { "function": { "name": "a" }, "type": "function" }, { "function": { "parameters": { "type": "object" }, "name": "b" }, "type": "function" } ],\n "messages": [ { "content": "hi é", "role": "user" } ], "model": "demo.chat", "metadata": { "owner": "someone" } }',
    );
    expect(b.status).toBe(200);
    expect(upstreamBody()).toBe(first);
    expect(JSON.parse(first).tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['a', 'b']);
  });

  it('keeps cache markers on content parts through translation', async () => {
    const r = await raw(JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: [{ type: 'text', text: 'long shared context', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'question' }] }] }));
    expect(r.status).toBe(200);
    expect(JSON.parse(upstreamBody()).messages[0].content[0].cache_control).toEqual({ type: 'ephemeral' });
  });

  describe('response cache', () => {
    const ask = (client: OpenAI, content: string, model = 'cached.chat', headers: Record<string, string> = {}) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content }], metadata: { owner: `o-${Math.random()}` } }, { headers }).withResponse();

    it('misses, then answers the same request from the cache without calling the provider or charging for it', async () => {
      const { data: first, response: r1 } = await ask(demo, 'cache me 1');
      expect(r1.headers.get('x-switchyard-cache')).toBe('miss');
      const calls = s.sim.stats.requests;
      const { data: second, response: r2 } = await ask(demo, 'cache me 1');
      expect(r2.headers.get('x-switchyard-cache')).toBe('hit');
      expect(s.sim.stats.requests).toBe(calls);
      expect(second).toEqual(first); // the same completion, id included
      expect(r2.headers.get('x-request-id')).not.toBe(r1.headers.get('x-request-id'));
      expect(Number(r2.headers.get('x-switchyard-cost-usd'))).toBe(0);
      expect(r2.headers.get('x-switchyard-attempts')).toBe('0');
      const t1 = await traceOf(r1.headers.get('x-request-id'));
      const t2 = await traceOf(r2.headers.get('x-request-id'));
      expect(t1.cache).toBe('miss');
      expect(t1.cost_usd).toBeGreaterThan(0);
      expect(t2).toMatchObject({ cache: 'hit', status: 200, outcome: 'success', cost_usd: 0, input_tokens: 0, output_tokens: 0 });
    });

    it('never shares an entry across tenants', async () => {
      await ask(demo, 'shared question');
      const calls = s.sim.stats.requests;
      const { response } = await ask(other, 'shared question');
      expect(response.headers.get('x-switchyard-cache')).toBe('miss');
      expect(s.sim.stats.requests).toBe(calls + 1);
      const { response: again } = await ask(other, 'shared question');
      expect(again.headers.get('x-switchyard-cache')).toBe('hit');
    });

    it('respects Cache-Control: no-cache (bypass, fresh answer) and no-store', async () => {
      await ask(demo, 'fresh please');
      const calls = s.sim.stats.requests;
      const { response } = await ask(demo, 'fresh please', 'cached.chat', { 'cache-control': 'no-cache' });
      expect(response.headers.get('x-switchyard-cache')).toBe('bypass');
      expect(s.sim.stats.requests).toBe(calls + 1);
      const { response: ns } = await ask(demo, 'never stored', 'cached.chat', { 'cache-control': 'no-store' });
      expect(ns.headers.get('x-switchyard-cache')).toBe('bypass');
      const { response: after } = await ask(demo, 'never stored');
      expect(after.headers.get('x-switchyard-cache')).toBe('miss');
    });

    it('bypasses the cache for streams unless the route allows replaying them', async () => {
      await ask(demo, 'stream me');
      const r = await raw(JSON.stringify({ model: 'cached.chat', stream: true, messages: [{ role: 'user', content: 'stream me' }] }));
      expect(r.status).toBe(200);
      expect(r.headers['x-switchyard-cache']).toBe('bypass');
    });

    it('replays a cached answer as SSE on a route that allows it', async () => {
      const { data } = await ask(demo, 'replay me', 'cached.stream');
      const calls = s.sim.stats.requests;
      const { data: stream, response } = await demo.chat.completions
        .create({ model: 'cached.stream', messages: [{ role: 'user', content: 'replay me' }], stream: true, stream_options: { include_usage: true } })
        .withResponse();
      expect(response.headers.get('x-switchyard-cache')).toBe('hit');
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined = null;
      for await (const chunk of stream) {
        expect(chunk.model).toBe('cached.stream');
        text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe(data.choices[0]!.message.content);
      expect(usage).toEqual(data.usage);
      expect(s.sim.stats.requests).toBe(calls);
    });

    it('stores a streamed answer on a route that replays streams: the next request, streamed or not, hits', async () => {
      const first = await demo.chat.completions.create({ model: 'cached.stream', messages: [{ role: 'user', content: 'stream first' }], stream: true, stream_options: { include_usage: true } }).withResponse();
      expect(first.response.headers.get('x-switchyard-cache')).toBe('miss');
      let text = '';
      for await (const chunk of first.data) text += chunk.choices[0]?.delta?.content ?? '';
      const calls = s.sim.stats.requests;
      const { data, response } = await demo.chat.completions.create({ model: 'cached.stream', messages: [{ role: 'user', content: 'stream first' }] }).withResponse();
      expect(response.headers.get('x-switchyard-cache')).toBe('hit');
      expect(data.choices[0]!.message.content).toBe(text);
      expect(data.usage!.completion_tokens).toBeGreaterThan(0);
      const again = await demo.chat.completions.create({ model: 'cached.stream', messages: [{ role: 'user', content: 'stream first' }], stream: true }).withResponse();
      expect(again.response.headers.get('x-switchyard-cache')).toBe('hit');
      let text2 = '';
      for await (const chunk of again.data) text2 += chunk.choices[0]?.delta?.content ?? '';
      expect(text2).toBe(text);
      expect(s.sim.stats.requests).toBe(calls);
    });

    it('starts empty after a config reload (a new Plan builds new caches)', async () => {
      await ask(demo, 'before reload');
      expect((await ask(demo, 'before reload')).response.headers.get('x-switchyard-cache')).toBe('hit');
      s.gateway.setPlan(s.gateway.currentPlan);
      expect((await ask(demo, 'before reload')).response.headers.get('x-switchyard-cache')).toBe('miss');
    });

    it('counts a hit against the request rate limit', async () => {
      await ask(demo, 'rpm', 'cached.rpm');
      await ask(demo, 'rpm', 'cached.rpm');
      await ask(demo, 'rpm', 'cached.rpm');
      const err = await ask(demo, 'rpm', 'cached.rpm').catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    });

    it('records the prefix-cache hits the provider reports: trace, cost at the cached price, metrics', async () => {
      const long = 'Account history: renewed 2021, expanded 2022, support escalations in Q3 2023. '.repeat(60); // > 1,024 tokens with the template
      const history = [{ role: 'user' as const, content: long + ' First question?' }, { role: 'assistant' as const, content: 'Answer.' }];
      const { response: r1 } = await demo.chat.completions.create({ model: 'crm.b', messages: [...history, { role: 'user', content: 'Second?' }] }).withResponse();
      const { data, response: r2 } = await demo.chat.completions.create({ model: 'crm.b', messages: [...history, { role: 'user', content: 'Third?' }] }).withResponse();
      const cached = data.usage!.prompt_tokens_details!.cached_tokens!;
      expect(cached).toBeGreaterThanOrEqual(1024);
      const t1 = await traceOf(r1.headers.get('x-request-id'));
      const t2 = await traceOf(r2.headers.get('x-request-id'));
      expect(t1.cached_input_tokens).toBe(0);
      expect(t2.cached_input_tokens).toBe(cached);
      // Cached input tokens are priced at the model's cached rate (half, in this config).
      const full = (t2.input_tokens * 0.15 + t2.output_tokens * 0.6) / 1e6;
      expect(t2.cost_usd).toBeCloseTo(full - (cached * 0.075) / 1e6, 12);
      expect(s.gateway.metrics.cacheLookups.get(['crm.b', 'prefix', 'hit'])).toBeGreaterThanOrEqual(1);
      expect(s.gateway.metrics.prefixCacheTokens.get(['crm.b', 'hit'])).toBeGreaterThanOrEqual(cached);
    });

    it('exports cache lookups by alias, kind and result', async () => {
      const r = await request(s.url + '/metrics');
      const text = await r.body.text();
      expect(text).toMatch(/switchyard_cache_lookups_total\{alias="cached.chat",kind="response",result="hit"\} [1-9]/);
      expect(text).toMatch(/switchyard_cache_lookups_total\{alias="cached.chat",kind="response",result="miss"\} [1-9]/);
      expect(text).toMatch(/switchyard_cache_lookups_total\{alias="cached.chat",kind="response",result="bypass"\} [1-9]/);
      // Short prompts are never cached by the (OpenAI-like) simulator: prefix misses; the long conversation above hit.
      expect(text).toMatch(/switchyard_cache_lookups_total\{alias="crm.a",kind="prefix",result="miss"\} [1-9]/);
      expect(text).toMatch(/switchyard_cache_lookups_total\{alias="crm.b",kind="prefix",result="hit"\} [1-9]/);
      expect(text).toMatch(/switchyard_prefix_cache_tokens_total\{alias="crm.b",result="hit"\} [1-9]/);
    });
  });
});
