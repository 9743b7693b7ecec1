// Retries, fallbacks and canaries through the gateway (issue 4): three simulated providers — one that
// always fails with 500, one that never answers in time, one that works — behind routes chained by
// `route_policy.fallback`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { DEMO_KEY, DEMO_KEY_SHA256, eventually, routeYaml, startStack, type Stack } from '../helpers/stack.js';

const route = (alias: string, pool: string, fallback: string[], extra = ''): string =>
  routeYaml(alias, pool, { fallback, extra, latencyMs: 5000, allowedProviders: ['bad', 'slow', 'good'], quota: '{ requests_per_minute: 100000, tokens_per_minute: 100000000 }' });

const provider = (name: string, sim: string, timeout = 2000) => `
  - name: ${name}
    kind: openai
    timeout_ms: ${timeout}
    simulator: ${sim}
    models:
      - { name: m-${name}, input_usd_per_mtok: 1, output_usd_per_mtok: 2 }`;

const YAML = `
tenants: [{ id: demo, name: Demo }]
keys: [{ id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }]
providers:${provider('bad', '{ seed: 1, error_rate: 1, errors: { server_error: 1 } }')}${provider('slow', '{ seed: 2, ttft_ms: 3000 }', 150)}${provider('good', '{ seed: 3 }')}
pools:
  - { id: pool-bad, kind: maas, members: [{ provider: bad, model: m-bad }] }
  - { id: pool-slow, kind: maas, members: [{ provider: slow, model: m-slow }] }
  - { id: pool-good, kind: maas, members: [{ provider: good, model: m-good }] }
  - { id: pool-mixed, kind: maas, members: [{ provider: bad, model: m-bad }, { provider: good, model: m-good }] }
routes:${route('mixed.chat', 'pool-mixed', [])}${route('chain.primary', 'pool-bad', ['chain.second', 'chain.third'])}${route('chain.second', 'pool-slow', [])}${route('chain.third', 'pool-good', [])}${route('canary.main', 'pool-good', [], '').replace('canary_share: 0\n    canary_target: null', 'canary_share: 0.5\n    canary_target: canary.next')}${route('canary.next', 'pool-slow', []).replace('pool_id: pool-slow', 'pool_id: pool-good')}${route('canary.quota', 'pool-good', []).replace('canary_share: 0\n    canary_target: null', 'canary_share: 1\n    canary_target: canary.next').replace('requests_per_minute: 100000', 'requests_per_minute: 5')}
`;

describe('retries and fallbacks through the gateway', () => {
  let s: Stack;
  const agent = new Agent();
  beforeAll(async () => {
    s = await startStack('uws', YAML);
  });
  afterAll(async () => {
    await agent.close();
    await s.close();
  });

  async function chat(model: string, content = 'hello') {
    const r = await request(s.url + '/v1/chat/completions', {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    });
    const json = (await r.body.json()) as { model?: string; error?: { code: string } };
    const id = String(r.headers['x-request-id']);
    await eventually(() => s.traces.records.some((t) => t.request_id === id));
    return { status: r.statusCode, headers: r.headers, json, trace: s.traces.records.find((t) => t.request_id === id)! };
  }

  it('a request that fell back twice: 5xx, retried 5xx, timeout, then served by the third route', async () => {
    const r = await chat('chain.primary');
    expect(r.status).toBe(200);
    expect(r.json.model).toBe('chain.primary');
    expect(r.headers['x-switchyard-alias']).toBe('chain.primary');
    expect(r.headers['x-switchyard-attempts']).toBe('4');
    expect(r.headers['x-switchyard-fallback']).toBe('5xx>5xx>timeout');
    expect(r.headers['x-switchyard-pool']).toBe('pool-good');
    expect(r.trace.attempts.map((a) => [a.pool_id, a.provider, a.status, a.error_code])).toEqual([
      ['pool-bad', 'bad', 500, 'upstream_error'],
      ['pool-bad', 'bad', 500, 'upstream_error'],
      ['pool-slow', 'slow', 504, 'upstream_timeout'],
      ['pool-good', 'good', 200, null],
    ]);
    expect(r.trace).toMatchObject({ status: 200, stop_reason: 'success', pool_id: 'pool-good', provider: 'good', model: 'm-good' });
    const m = await request(s.url + '/metrics', { dispatcher: agent });
    const text = await m.body.text();
    expect(text).toContain('switchyard_fallbacks_total{alias="chain.primary",from_pool="pool-bad",to_pool="pool-bad",reason="5xx"} 1\n');
    expect(text).toContain('switchyard_fallbacks_total{alias="chain.primary",from_pool="pool-bad",to_pool="pool-slow",reason="5xx"} 1\n');
    expect(text).toContain('switchyard_fallbacks_total{alias="chain.primary",from_pool="pool-slow",to_pool="pool-good",reason="timeout"} 1\n');
  });

  it('stops with the last error and says why when the chain is exhausted', async () => {
    const r = await chat('chain.second');
    expect(r.status).toBe(504);
    expect(r.json.error?.code).toBe('upstream_timeout');
    expect(r.trace.stop_reason).toBe('fallbacks_exhausted');
    expect(r.headers['x-switchyard-attempts']).toBe('2');
  });

  it('does not retry a client error from the provider', async () => {
    const r = await chat('chain.third', 'x [sim:unknown_directive=1]');
    expect(r.status).toBe(400);
    expect(r.json.error?.code).toBe('invalid_request');
    expect(r.trace.attempts).toHaveLength(1);
    expect(r.trace.stop_reason).toBe('client_error');
  });

  it('ejects a member that keeps failing, so later requests go straight to the healthy one', async () => {
    // Until ejection, requests that land on `bad` are retried on `good` (2 attempts); after five
    // consecutive failures `bad` is skipped for a while and every request takes one attempt.
    const attempts: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await chat('mixed.chat');
      expect(r.status).toBe(200);
      attempts.push(r.trace.attempts.length);
    }
    expect(attempts.slice(0, 20)).toContain(2);
    expect(attempts.slice(-10).every((n) => n === 1)).toBe(true);
    const bad = s.gateway.currentPlan.pools.get('pool-mixed')!.members[0]!;
    expect(s.gateway.health.isEjected(bad, performance.now())).toBe(true);
  });

  it("regression: the named alias's limits apply when every request goes to its canary", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await chat('canary.quota')).status);
    expect(statuses.filter((x) => x === 200)).toHaveLength(5);
    expect(statuses.filter((x) => x === 429)).toHaveLength(3);
  });

  it('splits a canary route by the request id and says which arm in the trace', async () => {
    const arms: boolean[] = [];
    for (let i = 0; i < 40; i++) arms.push((await chat('canary.main')).trace.canary);
    const canary = arms.filter(Boolean).length;
    expect(canary).toBeGreaterThan(5);
    expect(canary).toBeLessThan(35);
  });
});
