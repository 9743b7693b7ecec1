// The ingress contract, run against every transport (uws, node-http) through the same cases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, Agent } from 'undici';
import { DEMO_KEY, OTHER_KEY, PROVIDER_KEY, eventually, startStack, testConfigYaml, type Stack, type TransportName } from '../helpers/stack.js';

const agent = new Agent({ keepAliveTimeout: 1000 });

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

async function call(url: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Res> {
  const r = await request(url + path, {
    method: (init.method ?? 'POST') as 'POST',
    headers: init.headers ?? {},
    body: init.body,
    dispatcher: agent,
  });
  const text = await r.body.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.statusCode, headers: r.headers, text, json };
}

const AUTH = { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' };

function chat(body: Record<string, unknown>) {
  return JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'Hello, gateway.' }], ...body });
}

function sseEvents(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

export function ingressConformance(transport: TransportName): void {
  describe(`ingress conformance: ${transport}`, () => {
    let s: Stack;
    beforeAll(async () => {
      s = await startStack(transport);
    });
    afterAll(async () => {
      await s.close();
    });

    it('answers /healthz and /readyz', async () => {
      expect((await call(s.url, '/healthz', { method: 'GET' })).json).toEqual({ status: 'ok' });
      const ready = await call(s.url, '/readyz', { method: 'GET' });
      expect(ready.status).toBe(200);
      expect(ready.json.status).toBe('ready');
    });

    it('has a catch-all 404 in the OpenAI envelope, and 405 for wrong methods', async () => {
      const r = await call(s.url, '/nope/at/all', { method: 'GET' });
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({ code: 'not_found', type: 'invalid_request_error' });
      const m = await call(s.url, '/v1/chat/completions', { method: 'GET', headers: AUTH });
      expect(m.status).toBe(405);
      expect(m.json.error.code).toBe('method_not_allowed');
    });

    it('lists the aliases the key may use, and only those', async () => {
      const r = await call(s.url, '/v1/models', { method: 'GET', headers: { authorization: `Bearer ${DEMO_KEY}` } });
      expect(r.status).toBe(200);
      const ids = r.json.data.map((m: { id: string }) => m.id).sort();
      expect(ids).toEqual(['demo.chat', 'demo.strict', 'team.*']);
      const other = await call(s.url, '/v1/models', { method: 'GET', headers: { 'x-api-key': OTHER_KEY } });
      expect(other.json.data.map((m: { id: string }) => m.id)).toContain('other.only');
      const none = await call(s.url, '/v1/models', { method: 'GET' });
      expect(none.status).toBe(401);
    });

    it('routes a chat completion through the alias, with the contract headers and a trace', async () => {
      const before = s.traces.records.length;
      const r = await call(s.url, '/v1/chat/completions', {
        headers: { ...AUTH, 'x-switchyard-scenario': 'conformance', 'x-switchyard-owner': 'team-qa' },
        body: chat({ metadata: { scenario_id: 'ignored-since-header-wins' } }),
      });
      expect(r.status).toBe(200);
      expect(r.json.object).toBe('chat.completion');
      expect(r.json.model).toBe('demo.chat');
      expect(r.json.choices[0].message.role).toBe('assistant');
      expect(r.json.usage.prompt_tokens).toBeGreaterThan(0);
      expect(r.headers['x-switchyard-alias']).toBe('demo.chat');
      expect(r.headers['x-switchyard-lane']).toBe('direct_small');
      expect(r.headers['x-switchyard-pool']).toBe('maas-sim');
      expect(r.headers['x-switchyard-attempts']).toBe('1');
      expect(r.headers['x-switchyard-fallback']).toBe('none');
      expect(r.headers['x-switchyard-cache']).toBe('bypass');
      expect(String(r.headers['x-request-id'])).toMatch(/^req_/);
      const cost = Number(r.headers['x-switchyard-cost-usd']);
      const u = r.json.usage;
      expect(cost).toBeCloseTo((u.prompt_tokens * 0.15 + u.completion_tokens * 0.6) / 1e6, 8);
      await eventually(() => s.traces.records.length > before);
      const t = s.traces.records.find((x) => x.request_id === r.headers['x-request-id'])!;
      expect(t).toMatchObject({
        tenant: 'demo',
        key_id: 'k-demo',
        owner: 'team-qa',
        scenario_id: 'conformance',
        alias: 'demo.chat',
        route_lane: 'direct_small',
        pool_id: 'maas-sim',
        provider: 'sim',
        model: 'gpt-4o-mini',
        status: 200,
        outcome: 'success',
        stop_reason: 'success',
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        tokens_estimated: false,
        cache: 'bypass',
      });
      expect(t.attempts).toHaveLength(1);
      expect(t.attempts[0]).toMatchObject({ pool_id: 'maas-sim', provider: 'sim', status: 200, error_code: null });
      expect(t.cost_usd).toBeCloseTo(cost, 8);
      expect(t.latency_ms).toBeGreaterThan(0);
    });

    it('attributes owner from the key and scenario from metadata when no headers are sent', async () => {
      const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ metadata: { scenario_id: 'from-body' } }) });
      expect(r.status).toBe(200);
      await eventually(() => s.traces.records.some((x) => x.request_id === r.headers['x-request-id']));
      const t = s.traces.records.find((x) => x.request_id === r.headers['x-request-id'])!;
      expect(t.owner).toBe('team-demo');
      expect(t.scenario_id).toBe('from-body');
    });

    it('sends the provider key upstream, never the client key, metadata or route data', async () => {
      const r = await call(s.url, '/v1/chat/completions', {
        headers: { ...AUTH, 'x-switchyard-scenario': 'scn-canary-123', 'x-switchyard-owner': 'owner-canary-456' },
        body: chat({ metadata: { scenario_id: 'meta-canary-789', owner: 'x' }, temperature: 0.5 }),
      });
      expect(r.status).toBe(200);
      const last = s.sim.stats.lastRequest!;
      expect(last.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
      const everything = JSON.stringify(last);
      for (const secret of [DEMO_KEY, 'scn-canary-123', 'owner-canary-456', 'meta-canary-789', 'demo.chat', 'maas-sim', String(r.headers['x-request-id'])]) {
        expect(everything).not.toContain(secret);
      }
      const upstream = JSON.parse(last.body);
      expect(upstream.model).toBe('gpt-4o-mini');
      expect(upstream.temperature).toBe(0.5);
      expect(upstream.metadata).toBeUndefined();
    });

    it('streams SSE in OpenAI chunk format with include_usage and [DONE]', async () => {
      const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ stream: true, stream_options: { include_usage: true } }) });
      expect(r.status).toBe(200);
      expect(String(r.headers['content-type'])).toContain('text/event-stream');
      expect(r.headers['x-switchyard-alias']).toBe('demo.chat');
      const events = sseEvents(r.text);
      expect(events.at(-1)).toBe('[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'demo.chat')).toBe(true);
      expect(chunks[0].choices[0].delta.role).toBe('assistant');
      const usageChunk = chunks.at(-1);
      expect(usageChunk.choices).toEqual([]);
      expect(usageChunk.usage.completion_tokens).toBeGreaterThan(0);
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
      expect(text.length).toBeGreaterThan(0);
      await eventually(() => s.traces.records.some((x) => x.request_id === r.headers['x-request-id']));
      const t = s.traces.records.find((x) => x.request_id === r.headers['x-request-id'])!;
      expect(t.output_tokens).toBe(usageChunk.usage.completion_tokens);
      expect(t.tokens_estimated).toBe(false);
      expect(t.ttft_ms).not.toBeNull();
    });

    it('asks the provider for stream usage but strips it when the client did not ask', async () => {
      const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ stream: true }) });
      const upstream = JSON.parse(s.sim.stats.lastRequest!.body);
      expect(upstream.stream_options).toEqual({ include_usage: true });
      const chunks = sseEvents(r.text).slice(0, -1).map((e) => JSON.parse(e));
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.every((c) => c.usage === undefined && c.choices.length === 1)).toBe(true);
      await eventually(() => s.traces.records.some((x) => x.request_id === r.headers['x-request-id']));
      const t = s.traces.records.find((x) => x.request_id === r.headers['x-request-id'])!;
      expect(t.output_tokens).toBeGreaterThan(0);
      expect(t.tokens_estimated).toBe(false);
    });

    it('passes tool calls through, streamed and not', async () => {
      const tools = [{ type: 'function', function: { name: 'lookup_account', parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } } }];
      const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ tools, tool_choice: 'auto' }) });
      expect(r.status).toBe(200);
      expect(r.json.choices[0].finish_reason).toBe('tool_calls');
      expect(r.json.choices[0].message.tool_calls[0].function.name).toBe('lookup_account');
      expect(JSON.parse(s.sim.stats.lastRequest!.body).tools).toEqual(tools);
      const st = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ tools, stream: true }) });
      const chunks = sseEvents(st.text).slice(0, -1).map((e) => JSON.parse(e));
      const args = chunks.map((c) => c.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '').join('');
      expect(JSON.parse(args)).toHaveProperty('id');
    });

    it('resolves a prefix alias and refuses unknown aliases and raw provider model names', async () => {
      const p = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ model: 'team.anything.here' }) });
      expect(p.status).toBe(200);
      expect(p.json.model).toBe('team.anything.here');
      const before = s.sim.stats.requests;
      for (const model of ['gpt-4o-mini', 'nope.alias', 'team', 'other.only']) {
        const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ model }) });
        expect(r.status, model).toBe(404);
        expect(r.json.error).toMatchObject({ code: 'alias_not_found', type: 'invalid_request_error', param: 'model' });
      }
      expect(s.sim.stats.requests).toBe(before);
    });

    it('requires a scenario where the route says so', async () => {
      const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ model: 'demo.strict' }) });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('missing_scenario_id');
      const ok = await call(s.url, '/v1/chat/completions', { headers: { ...AUTH, 'x-switchyard-scenario': 's1' }, body: chat({ model: 'demo.strict' }) });
      expect(ok.status).toBe(200);
    });

    it('rejects bad input with a clear error and never calls the provider', async () => {
      const before = s.sim.stats.requests;
      const cases: Array<[string, { headers?: Record<string, string>; body?: string | Buffer }, number, string, string | null]> = [
        ['malformed JSON', { headers: AUTH, body: '{"model": "demo.chat", ' }, 400, 'invalid_json', null],
        ['empty body', { headers: AUTH, body: '' }, 400, 'invalid_json', null],
        ['not an object', { headers: AUTH, body: '[1,2]' }, 400, 'invalid_request', null],
        ['missing messages', { headers: AUTH, body: '{"model":"demo.chat"}' }, 400, 'invalid_request', 'messages'],
        ['empty messages', { headers: AUTH, body: '{"model":"demo.chat","messages":[]}' }, 400, 'invalid_request', 'messages'],
        ['wrong model type', { headers: AUTH, body: '{"model":5,"messages":[{"role":"user","content":"x"}]}' }, 400, 'invalid_request', 'model'],
        ['bad role', { headers: AUTH, body: '{"model":"demo.chat","messages":[{"role":"wizard","content":"x"}]}' }, 400, 'invalid_request', 'messages[0].role'],
        ['stream not boolean', { headers: AUTH, body: chat({ stream: 'yes' }) }, 400, 'invalid_request', 'stream'],
        ['max_tokens negative', { headers: AUTH, body: chat({ max_tokens: -3 }) }, 400, 'invalid_request', 'max_tokens'],
        ['temperature too high', { headers: AUTH, body: chat({ temperature: 9 }) }, 400, 'invalid_request', 'temperature'],
        ['metadata not strings', { headers: AUTH, body: chat({ metadata: { a: 1 } }) }, 400, 'invalid_request', 'metadata.a'],
        ['no key', { headers: { 'content-type': 'application/json' }, body: chat({}) }, 401, 'missing_api_key', null],
        ['wrong key', { headers: { ...AUTH, authorization: 'Bearer sk-wrong' }, body: chat({}) }, 401, 'invalid_api_key', null],
        ['form content type', { headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' }, 415, 'unsupported_content_type', null],
        ['body over the limit', { headers: AUTH, body: chat({ messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }) }, 413, 'body_too_large', null],
      ];
      for (const [name, init, status, code, param] of cases) {
        const r = await call(s.url, '/v1/chat/completions', init);
        expect(r.status, name).toBe(status);
        expect(r.json?.error?.code, name).toBe(code);
        expect(r.json.error.type, name).toBeTypeOf('string');
        expect(r.json.error.message, name).toBeTypeOf('string');
        if (param !== null) expect(r.json.error.param, name).toBe(param);
        expect(r.text, name).not.toMatch(/at .*\.(js|ts):\d+/); // no stack trace
      }
      expect(s.sim.stats.requests).toBe(before);
      // The server is still healthy after all of that.
      expect((await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({}) })).status).toBe(200);
    });

    it('accepts x-api-key as well as a Bearer token', async () => {
      const r = await call(s.url, '/v1/chat/completions', { headers: { 'x-api-key': DEMO_KEY, 'content-type': 'application/json' }, body: chat({}) });
      expect(r.status).toBe(200);
    });

    it('maps provider failures to 429/502/503/504 with a code, never leaking the upstream URL or key', async () => {
      // The test routes fall back on [timeout, "5xx"] and have no fallback aliases: a 5xx is retried once
      // on the same route, then answered; 429 and connection resets are not in the route's conditions.
      const cases: Array<[string, number, string, string, string]> = [
        ['429', 429, 'upstream_rate_limited', '1', 'none'],
        ['500', 502, 'upstream_error', '2', '5xx'],
        ['503', 503, 'upstream_unavailable', '2', '5xx'],
        ['reset', 502, 'upstream_connection_error', '1', 'none'],
      ];
      for (const [fault, status, code, attempts, fallback] of cases) {
        const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ messages: [{ role: 'user', content: `fail please [sim:fault=${fault}]` }] }) });
        expect(r.status, fault).toBe(status);
        expect(r.json.error.code, fault).toBe(code);
        expect(r.headers['x-switchyard-attempts'], fault).toBe(attempts);
        expect(r.headers['x-switchyard-fallback'], fault).toBe(fallback);
        expect(r.text).not.toContain(s.sim.url);
        expect(r.text).not.toContain('127.0.0.1');
        expect(r.text).not.toContain(PROVIDER_KEY);
        if (fault === '429') expect(r.headers['retry-after']).toBe('1');
      }
    });

    it('ends a stream cut by the provider with a terminal SSE error event, and accounts what was sent', async () => {
      const r = await call(s.url, '/v1/chat/completions', {
        headers: AUTH,
        body: chat({ stream: true, messages: [{ role: 'user', content: 'cut me [sim:fault=stream_cut] [sim:output_tokens=40]' }] }),
      });
      expect(r.status).toBe(200);
      const events = sseEvents(r.text);
      expect(events).not.toContain('[DONE]');
      const last = JSON.parse(events.at(-1)!);
      expect(last.error.code).toBe('upstream_stream_interrupted');
      await eventually(() => s.traces.records.some((x) => x.request_id === r.headers['x-request-id']));
      const t = s.traces.records.find((x) => x.request_id === r.headers['x-request-id'])!;
      expect(t.error_code).toBe('upstream_stream_interrupted');
      expect(t.outcome).toBe('error');
      expect(t.attempts).toHaveLength(1); // never retried after the first byte reached the client
      expect(t.tokens_estimated).toBe(true);
      expect(t.input_tokens).toBeGreaterThan(0);
    });

    it('aborts the upstream call when the client goes away mid-stream, and settles the request', async () => {
      const before = s.gateway.inFlight;
      const controller = new AbortController();
      const r = await request(s.url + '/v1/chat/completions', {
        method: 'POST',
        headers: AUTH,
        body: chat({ stream: true, messages: [{ role: 'user', content: 'slow [sim:output_tokens=400] [sim:tokens_per_s=50]' }] }),
        signal: controller.signal,
        dispatcher: agent,
      });
      const it = r.body[Symbol.asyncIterator]();
      await it.next(); // first bytes arrived
      const id = String(r.headers['x-request-id']);
      controller.abort();
      await eventually(() => s.traces.records.some((x) => x.request_id === id));
      const t = s.traces.records.find((x) => x.request_id === id)!;
      expect(t.status).toBe(499);
      expect(t.error_code).toBe('client_closed_request');
      expect(s.gateway.inFlight).toBe(before);
      // The simulator saw its client (the gateway) go away before the stream finished.
      await eventually(() => s.sim.stats.requestLog.some((e) => e.aborted));
    });
  });

  describe(`ingress conformance: ${transport}, provider deadline`, () => {
    let s: Stack;
    beforeAll(async () => {
      s = await startStack(transport, testConfigYaml({ timeoutMs: 300 }));
    });
    afterAll(async () => {
      await s.close();
    });

    it('answers 504 upstream_timeout when the provider does not answer within the attempt deadline', async () => {
      const t0 = Date.now();
      const r = await call(s.url, '/v1/chat/completions', { headers: AUTH, body: chat({ messages: [{ role: 'user', content: 'hang [sim:fault=timeout]' }] }) });
      expect(r.status).toBe(504);
      expect(r.json.error.code).toBe('upstream_timeout');
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(s.gateway.inFlight).toBe(0);
    });
  });
}
