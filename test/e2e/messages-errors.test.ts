// Bad input on /v1/messages and /v1/embeddings: each API's own envelope, nothing sent upstream, nothing lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, batchConfigYaml, startStack, type Stack } from '../helpers/stack.js';
import { MULTI_API_YAML } from '../helpers/multi-api.js';

describe.each(['uws', 'node'] as const)('/v1/messages and /v1/embeddings errors (%s ingress)', (transport) => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(transport, MULTI_API_YAML);
  });
  afterAll(async () => {
    await s.close();
  });

  const send = async (path: string, init: RequestInit) => {
    const r = await fetch(s.url + path, init);
    return { status: r.status, headers: r.headers, body: JSON.parse(await r.text()) };
  };
  const json = { 'content-type': 'application/json', 'x-api-key': DEMO_KEY };

  it('answers a body over the limit with 413 request_too_large in the Anthropic envelope', async () => {
    const before = s.sims[1]!.stats.messagesRequests;
    const r = await send('/v1/messages', { method: 'POST', headers: json, body: JSON.stringify({ model: 'claude.chat', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(300_000) }] }) });
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ type: 'error', error: { type: 'request_too_large', message: 'Request body exceeds the limit of 262144 bytes.' } });
    expect(s.sims[1]!.stats.messagesRequests).toBe(before);
  });

  it('refuses other methods, other content types and empty bodies in the Anthropic envelope', async () => {
    let r = await send('/v1/messages', { method: 'GET', headers: json });
    expect(r.status).toBe(405);
    expect(r.body.type).toBe('error');
    r = await send('/v1/messages', { method: 'POST', headers: { ...json, 'content-type': 'text/plain' }, body: 'hi' });
    expect(r.status).toBe(415);
    expect(r.body.error.type).toBe('invalid_request_error');
    r = await send('/v1/messages', { method: 'POST', headers: json });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/empty/);
    r = await send('/v1/messages', { method: 'POST', headers: { ...json, 'x-api-key': 'sk-wrong' }, body: '{}' });
    expect(r).toMatchObject({ status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'Invalid API key.' } } });
  });

  it('answers unknown endpoints under /v1/messages in the Anthropic envelope', async () => {
    const r = await send('/v1/messages/count_tokens', { method: 'POST', headers: json, body: '{}' });
    expect(r).toEqual({ status: 404, headers: r.headers, body: { type: 'error', error: { type: 'not_found_error', message: 'Unknown endpoint: POST /v1/messages/count_tokens.' } } });
  });

  it('answers /v1/embeddings errors in the OpenAI envelope', async () => {
    let r = await send('/v1/embeddings', { method: 'POST', headers: json, body: '{"model":"embed.small"}' });
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', param: 'input', type: 'invalid_request_error' } } });
    r = await send('/v1/embeddings', { method: 'GET', headers: json });
    expect(r).toMatchObject({ status: 405, body: { error: { code: 'method_not_allowed' } } });
    r = await send('/v1/embeddings', { method: 'POST', headers: json, body: '{"model":"embed.small","input":"x [sim:fault=500]"}' });
    expect(r).toMatchObject({ status: 502, body: { error: { code: 'upstream_error' } } });
    expect(s.traces.records.at(-1)!.attempts.length).toBeGreaterThanOrEqual(1);
  });

  it('records a refused /v1/messages request in the trace like any other', async () => {
    await send('/v1/messages', { method: 'POST', headers: json, body: JSON.stringify({ model: 'openai.chat', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'x' }] }) });
    const t = s.traces.records.at(-1)!;
    expect([t.status, t.error_code, t.alias, t.attempts.length]).toEqual([400, 'unsupported_feature', 'openai.chat', 0]);
  });
});

describe('/v1/messages on a batch route', () => {
  it('is refused: batch routes take /v1/chat/completions', async () => {
    const s = await startStack('uws', batchConfigYaml('http://127.0.0.1:9/v1'));
    try {
      const r = await fetch(s.url + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': DEMO_KEY }, body: JSON.stringify({ model: 'reports.nightly', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }) });
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: "Route 'reports.nightly' runs on a batch pool: send the request to /v1/chat/completions." } });
    } finally {
      await s.close();
    }
  });
});

describe('/v1/messages on a route with a safety policy', () => {
  it('applies input guards to Anthropic requests, and refuses (never serves unguarded) where output rules apply', async () => {
    const { policyConfigYaml } = await import('../helpers/policy.js');
    const s = await startStack('uws', policyConfigYaml());
    try {
      const post = async (model: string, content: string) => {
        const r = await fetch(s.url + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': DEMO_KEY }, body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content }] }) });
        return { status: r.status, body: (await r.json()) as { type: string; error: { type: string; message: string } } };
      };
      const before = s.sim.stats.requests;
      // Input guards run on the canonical request: a blocked term is refused before anything else.
      let r = await post('safe.chat', 'tell me about project falcon');
      expect(r.status).toBe(400);
      expect(r.body.type).toBe('error');
      expect(s.traces.records.at(-1)!.error_code).toBe('policy_violation');
      // Output rules read OpenAI-format answers only so far: refused, clearly, before the call.
      r = await post('safe.chat', 'hello');
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/output safety rules.*\/v1\/chat\/completions/);
      expect(s.traces.records.at(-1)!.error_code).toBe('unsupported_feature');
      expect(s.sim.stats.requests).toBe(before);
    } finally {
      await s.close();
    }
  });
});
