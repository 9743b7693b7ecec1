// Observability through the whole stack (issue 9): after a scripted mix of traffic — successes, a stream,
// fallbacks, quota rejections, a refused budget, an unknown alias — every platform metric has exactly the
// expected value in /metrics and in the dashboard's data; cache lookups and policy violations are
// recorded through the methods their features call. Spans reach a local OTLP receiver with the GenAI and
// switchyard attributes, and the client's traceparent is continued upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { OtlpTraceSink } from '../../core/index.js';
import type { DashboardData } from '../../core/telemetry/dashboard.js';
import { ADMIN_KEY, DEMO_KEY, DEMO_KEY_SHA256, eventually, routeYaml, sha256Hex, startStack, type Stack } from '../helpers/stack.js';

const BIG_QUOTA = '{ requests_per_minute: 100000, tokens_per_minute: 100000000 }';
const route = (alias: string, pool: string, o: { fallback?: string[]; quota?: string } = {}) =>
  routeYaml(alias, pool, { fallback: o.fallback ?? [], allowedProviders: ['good', 'bad'], quota: o.quota ?? BIG_QUOTA, latencyMs: 8000 });

const YAML = `
server: { admin_keys: [{ id: ops, key_sha256: ${sha256Hex(ADMIN_KEY)} }] }
tenants: [{ id: demo, name: Demo }]
keys: [{ id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }]
providers:
  - name: good
    kind: openai
    simulator: { seed: 3 }
    models: [{ name: m-good, input_usd_per_mtok: 1, output_usd_per_mtok: 2 }]
  - name: bad
    kind: openai
    simulator: { seed: 1, error_rate: 1, errors: { server_error: 1 } }
    models: [{ name: m-bad, input_usd_per_mtok: 1, output_usd_per_mtok: 2 }]
pools:
  - { id: pool-good, kind: maas, members: [{ provider: good, model: m-good }] }
  - { id: pool-bad, kind: maas, members: [{ provider: bad, model: m-bad }] }
  - { id: pool-backup, kind: maas, members: [{ provider: good, model: m-good }] }
routes:${route('obs.main', 'pool-good')}${route('obs.flaky', 'pool-bad', { fallback: ['obs.backup'] })}${route('obs.backup', 'pool-backup')}${route('obs.limited', 'pool-good', { quota: '{ requests_per_minute: 2, tokens_per_minute: 100000000 }' })}
`;

/** Prometheus text → series (`name{labels}`) → value. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

const seriesOf = (m: Map<string, number>, name: string) => new Map([...m].filter(([k]) => k === name || k.startsWith(name + '{')));

describe('platform metrics after a scripted traffic mix', () => {
  let s: Stack;
  const agent = new Agent();
  beforeAll(async () => {
    s = await startStack('uws', YAML);
  });
  afterAll(async () => {
    await agent.close();
    await s.close();
  });

  async function chat(model: string, o: { scenario?: boolean; stream?: boolean; maxTokens?: number } = {}): Promise<number> {
    const headers: Record<string, string> = { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' };
    if (o.scenario !== false) headers['x-switchyard-scenario'] = 's-obs';
    const body: Record<string, unknown> = { model, messages: [{ role: 'user', content: 'hello there' }] };
    if (o.stream) body.stream = true;
    if (o.stream) body.stream_options = { include_usage: true };
    if (o.maxTokens !== undefined) body.max_tokens = o.maxTokens;
    const r = await request(s.url + '/v1/chat/completions', { method: 'POST', dispatcher: agent, headers, body: JSON.stringify(body) });
    await r.body.text();
    return r.statusCode;
  }

  it('counts every series exactly', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push(await chat('obs.main'));
    statuses.push(await chat('obs.main', { stream: true }));
    statuses.push(await chat('obs.main', { scenario: false }));
    statuses.push(await chat('obs.main', { maxTokens: 100000 })); // over the route's token budget: 400
    statuses.push(await chat('obs.flaky'));
    statuses.push(await chat('obs.flaky'));
    for (let i = 0; i < 3; i++) statuses.push(await chat('obs.limited'));
    statuses.push(await chat('no.such.alias'));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 400, 200, 200, 200, 200, 429, 404]);
    await eventually(() => s.traces.records.length === 12);

    // Features built elsewhere record through these methods (response cache, policy, ledger coverage).
    const main = s.plan.routesByAlias.get('obs.main')!;
    const flaky = s.plan.routesByAlias.get('obs.flaky')!;
    const m = s.gateway.metrics;
    m.cacheLookup(main, 'response', 'hit');
    m.cacheLookup(main, 'response', 'hit');
    m.cacheLookup(main, 'response', 'miss');
    m.cacheLookup(flaky, 'prefix', 'hit');
    m.policyViolation(main, 'default-pii', 'redact');
    m.policyViolation(flaky, 'default-pii', 'block');
    m.coverage('good', 1900, 2000);

    const r = await request(s.url + '/metrics', { dispatcher: agent });
    const prom = parseProm(await r.body.text());
    const lane = 'lane="direct_small"';
    expect(seriesOf(prom, 'switchyard_requests_total')).toEqual(
      new Map([
        [`switchyard_requests_total{alias="obs.flaky",${lane},pool="pool-backup",outcome="success"}`, 2],
        [`switchyard_requests_total{alias="obs.limited",${lane},pool="pool-good",outcome="error"}`, 1],
        [`switchyard_requests_total{alias="obs.limited",${lane},pool="pool-good",outcome="success"}`, 2],
        [`switchyard_requests_total{alias="obs.main",${lane},pool="pool-good",outcome="error"}`, 1],
        [`switchyard_requests_total{alias="obs.main",${lane},pool="pool-good",outcome="success"}`, 5],
      ]),
    );
    expect(seriesOf(prom, 'switchyard_fallbacks_total')).toEqual(
      new Map([
        ['switchyard_fallbacks_total{alias="obs.flaky",from_pool="pool-bad",to_pool="pool-backup",reason="5xx"}', 2],
        ['switchyard_fallbacks_total{alias="obs.flaky",from_pool="pool-bad",to_pool="pool-bad",reason="5xx"}', 2],
      ]),
    );
    expect(seriesOf(prom, 'switchyard_quota_rejections_total')).toEqual(new Map([['switchyard_quota_rejections_total{tenant="demo",alias="obs.limited",limit="route:rpm"}', 1]]));
    expect(prom.get('switchyard_cost_attribution_complete_total')).toBe(8);
    expect(seriesOf(prom, 'switchyard_cost_attribution_incomplete_total')).toEqual(new Map([['switchyard_cost_attribution_incomplete_total{missing="scenario_id"}', 1]]));
    // The scripted lookups above, plus the gateway's own prefix-cache lookups: one per provider answer that
    // reported usage (the simulator caches no prompt this short: misses) — 5 on obs.main, 2 on obs.flaky
    // (answered by its fallback), 2 on obs.limited.
    expect(seriesOf(prom, 'switchyard_cache_lookups_total')).toEqual(
      new Map([
        ['switchyard_cache_lookups_total{alias="obs.flaky",kind="prefix",result="hit"}', 1],
        ['switchyard_cache_lookups_total{alias="obs.flaky",kind="prefix",result="miss"}', 2],
        ['switchyard_cache_lookups_total{alias="obs.limited",kind="prefix",result="miss"}', 2],
        ['switchyard_cache_lookups_total{alias="obs.main",kind="prefix",result="miss"}', 5],
        ['switchyard_cache_lookups_total{alias="obs.main",kind="response",result="hit"}', 2],
        ['switchyard_cache_lookups_total{alias="obs.main",kind="response",result="miss"}', 1],
      ]),
    );
    expect(seriesOf(prom, 'switchyard_policy_violations_total')).toEqual(
      new Map([
        ['switchyard_policy_violations_total{alias="obs.flaky",policy="default-pii",action="block"}', 1],
        ['switchyard_policy_violations_total{alias="obs.main",policy="default-pii",action="redact"}', 1],
      ]),
    );
    expect(prom.get('switchyard_gateway_coverage_ratio{provider="good"}')).toBe(0.95);
    // Latency per alias and lane: every routed request has a duration; answered ones a time to first token.
    expect(prom.get(`switchyard_request_duration_seconds_count{alias="obs.main",${lane}}`)).toBe(6);
    expect(prom.get(`switchyard_request_duration_seconds_bucket{alias="obs.main",${lane},le="+Inf"}`)).toBe(6);
    expect(prom.get(`switchyard_request_duration_seconds_bucket{alias="obs.main",${lane},le="60"}`)).toBe(6);
    expect(prom.get(`switchyard_ttft_seconds_count{alias="obs.main",${lane}}`)).toBe(5);
    expect(prom.get(`switchyard_request_duration_seconds_count{alias="obs.flaky",${lane}}`)).toBe(2);
    expect(prom.get(`switchyard_request_duration_seconds_count{alias="obs.limited",${lane}}`)).toBe(3);
    expect(prom.get(`switchyard_ttft_seconds_count{alias="obs.limited",${lane}}`)).toBe(2);
    const traces = s.traces.records;
    const mainDur = traces.filter((t) => t.alias === 'obs.main').reduce((n, t) => n + t.latency_ms / 1000, 0);
    expect(prom.get(`switchyard_request_duration_seconds_sum{alias="obs.main",${lane}}`)).toBeCloseTo(mainDur, 6);
    const mainCost = traces.filter((t) => t.alias === 'obs.main').reduce((n, t) => n + t.cost_usd, 0);
    expect(mainCost).toBeGreaterThan(0);
    expect(prom.get(`switchyard_cost_usd_total{alias="obs.main",${lane}}`)).toBeCloseTo(mainCost, 9);
    // Pools: every attempt's queue time (7 on pool-good, 4 failed ones on pool-bad, 2 on the backup); nothing left in flight.
    expect(prom.get('switchyard_queue_time_seconds_count{pool="pool-good"}')).toBe(7);
    expect(prom.get('switchyard_queue_time_seconds_count{pool="pool-bad"}')).toBe(4);
    expect(prom.get('switchyard_queue_time_seconds_count{pool="pool-backup"}')).toBe(2);
    expect(seriesOf(prom, 'switchyard_pool_inflight_requests')).toEqual(
      new Map([
        ['switchyard_pool_inflight_requests{pool="pool-backup"}', 0],
        ['switchyard_pool_inflight_requests{pool="pool-bad"}', 0],
        ['switchyard_pool_inflight_requests{pool="pool-good"}', 0],
      ]),
    );
    // Process metrics.
    expect(prom.get('switchyard_inflight_requests')).toBe(0);
    expect(prom.get('switchyard_open_connections')).toBeGreaterThanOrEqual(1);
    expect(prom.get('switchyard_process_heap_used_bytes')).toBeGreaterThan(1e6);
    expect(prom.get('switchyard_process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(prom.get('switchyard_event_loop_delay_seconds{quantile="0.99"}')).toBeGreaterThanOrEqual(0);
    // Label values only from config: nothing the client sent (the unknown alias, the scenario) is a label.
    const all = [...prom.keys()].join('\n');
    expect(all).not.toContain('no.such.alias');
    expect(all).not.toContain('s-obs');

    // The dashboard's data: the same numbers, per alias and lane.
    const d = await request(s.url + '/dashboard/data', { dispatcher: agent, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(d.statusCode).toBe(200);
    const data = (await d.body.json()) as DashboardData;
    const row = (alias: string) => data.aliases.find((x) => x.alias === alias)!;
    expect(row('obs.main')).toMatchObject({ lane: 'direct_small', requests: 6, success: 5, errors: 1, fallbacks: 0, quota_rejections: 0, cache_hits: 2, cache_lookups: 8, policy_violations: 1 });
    expect(row('obs.flaky')).toMatchObject({ requests: 2, success: 2, fallbacks: 4, cache_hits: 1, cache_lookups: 3, policy_violations: 1 });
    expect(row('obs.limited')).toMatchObject({ requests: 3, success: 2, errors: 1, quota_rejections: 1 });
    expect(row('obs.main').cost_usd).toBeCloseTo(mainCost, 9);
    expect(row('obs.main').latency_p50_ms).toBeGreaterThan(0);
    expect(row('obs.main').latency_p99_ms).toBeGreaterThanOrEqual(row('obs.main').latency_p50_ms!);
    expect(row('obs.main').ttft_p99_ms).toBeGreaterThan(0);
    expect(data.pools.map((p) => [p.pool, p.queued, p.inflight])).toEqual([
      ['pool-backup', 2, 0],
      ['pool-bad', 4, 0],
      ['pool-good', 7, 0],
    ]);
    expect(data.coverage).toEqual([{ provider: 'good', ratio: 0.95 }]);
  });

  it('the dashboard and its data need an admin key (Bearer, x-api-key or Basic); a tenant key is refused', async () => {
    const get = async (path: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET') => {
      const r = await request(s.url + path, { method, dispatcher: agent, headers });
      return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
    };
    for (const path of ['/dashboard', '/dashboard/data']) {
      const none = await get(path);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toContain('Basic realm="switchyard admin"');
      expect(JSON.parse(none.text).error.code).toBe('missing_api_key');
      const wrong = await get(path, { authorization: 'Bearer sk-wrong' });
      expect(wrong.status).toBe(401);
      expect(JSON.parse(wrong.text).error.code).toBe('invalid_api_key');
      expect((await get(path, { authorization: 'Basic !!!not-base64' })).status).toBe(401);
      const tenant = await get(path, { authorization: `Bearer ${DEMO_KEY}` });
      expect(tenant.status).toBe(403);
      expect(JSON.parse(tenant.text).error).toMatchObject({ code: 'admin_key_required', type: 'permission_error' });
      expect((await get(path, { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(200);
      expect((await get(path, { 'x-api-key': ADMIN_KEY })).status).toBe(200);
      expect((await get(path, { authorization: 'Basic ' + Buffer.from(`ops:${ADMIN_KEY}`).toString('base64') })).status).toBe(200);
      expect((await get(path, { authorization: `Bearer ${ADMIN_KEY}` }, 'POST')).status).toBe(405);
    }
    expect((await get('/dashboard/', { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(200);
    expect((await get('/dashboard/other', { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(404);
    const page = await get('/dashboard', { authorization: `Bearer ${ADMIN_KEY}` });
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    // Self-contained: no external script, style, font or image.
    expect(page.text).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(page.text).not.toMatch(/@import|url\(/i);
  });
});

describe('spans over OTLP/HTTP and W3C traceparent', () => {
  const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
  const PID = '00f067aa0ba902b7';
  let rx: Server;
  let rxUrl = '';
  const spans: Array<Record<string, unknown>> = [];
  let s: Stack;
  const agent = new Agent();

  beforeAll(async () => {
    rx = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    rxUrl = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/v1/traces`;
    s = await startStack('uws', undefined, { wrapTraces: (mem) => new OtlpTraceSink(mem, { url: rxUrl, intervalMs: 50 }) });
  });
  afterAll(async () => {
    await agent.close();
    await s.close();
    await new Promise((r) => rx.close(r));
  });

  async function chat(headers: Record<string, string>, model = 'demo.chat') {
    const r = await request(s.url + '/v1/chat/completions', {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'trace me' }] }),
    });
    await r.body.text();
    const id = String(r.headers['x-request-id']);
    await eventually(() => s.traces.records.some((t) => t.request_id === id));
    const i = s.traces.records.findIndex((t) => t.request_id === id);
    return { status: r.statusCode, trace: s.traces.records[i]!, span: s.traces.spans[i]!, upstream: s.sim.stats.lastRequest?.headers.traceparent };
  }
  const attrs = (span: Record<string, unknown>) =>
    Object.fromEntries((span.attributes as Array<{ key: string; value: Record<string, unknown> }>).map((a) => [a.key, Object.values(a.value)[0]]));
  const exported = async (spanId: string) => {
    await s.gateway.traces.flush();
    await eventually(() => spans.some((x) => x.spanId === spanId));
    return spans.find((x) => x.spanId === spanId)!;
  };

  it("continues the client's trace: same trace id, a new span whose parent is the client's, passed upstream", async () => {
    const r = await chat({ authorization: `Bearer ${DEMO_KEY}`, traceparent: `00-${TID}-${PID}-01`, 'x-switchyard-scenario': 'sc1' });
    expect(r.status).toBe(200);
    expect(r.span).toMatchObject({ traceId: TID, parentSpanId: PID });
    expect(r.span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(r.span.spanId).not.toBe(PID);
    expect(r.upstream).toBe(`00-${TID}-${r.span.spanId}-01`);
    const span = await exported(r.span.spanId);
    expect(span).toMatchObject({ traceId: TID, parentSpanId: PID, name: 'chat demo.chat', kind: 2, status: { code: 1 } });
    expect(attrs(span)).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'sim',
      'gen_ai.request.model': 'demo.chat',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': String(r.trace.input_tokens),
      'gen_ai.usage.output_tokens': String(r.trace.output_tokens),
      'switchyard.alias': 'demo.chat',
      'switchyard.lane': 'direct_small',
      'switchyard.pool_id': 'maas-sim',
      'switchyard.queue_time_ms': r.trace.queue_time_ms,
      'switchyard.cost_usd': r.trace.cost_usd,
      'switchyard.attempts': '1',
      'switchyard.stop_reason': 'success',
      'switchyard.request_id': r.trace.request_id,
      'switchyard.scenario_id': 'sc1',
    });
    expect(r.trace.output_tokens).toBeGreaterThan(0);
    // The span's duration is the request's latency.
    const dur = (Number(BigInt(span.endTimeUnixNano as string) - BigInt(span.startTimeUnixNano as string)) / 1e6);
    expect(dur).toBeCloseTo(r.trace.latency_ms, 2);
  });

  it('starts a new trace when the client sent none, or an invalid one', async () => {
    const a = await chat({ authorization: `Bearer ${DEMO_KEY}` });
    expect(a.span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a.span.parentSpanId).toBe('');
    expect(a.upstream).toBe(`00-${a.span.traceId}-${a.span.spanId}-01`);
    const bad = await chat({ authorization: `Bearer ${DEMO_KEY}`, traceparent: `00-${TID.toUpperCase()}-${PID}-01` });
    expect(bad.span.traceId).not.toBe(TID.toLowerCase());
    expect(bad.span.traceId).not.toBe(a.span.traceId);
    expect(bad.upstream).toBe(`00-${bad.span.traceId}-${bad.span.spanId}-01`);
    const span = await exported(a.span.spanId);
    expect(span.parentSpanId).toBeUndefined();
  });

  it("a client's unsampled trace (flags 00) is continued upstream as unsampled and not exported", async () => {
    const r = await chat({ authorization: `Bearer ${DEMO_KEY}`, traceparent: `00-${TID}-${PID}-00` });
    expect(r.status).toBe(200);
    expect(r.span).toMatchObject({ traceId: TID, parentSpanId: PID, sampled: false });
    expect(r.upstream).toBe(`00-${TID}-${r.span.spanId}-00`);
    await s.gateway.traces.flush();
    expect(spans.some((x) => x.spanId === r.span.spanId)).toBe(false);
  });

  it('a refused request is a span too, with status ERROR and the error code', async () => {
    const r = await chat({ traceparent: `00-${TID}-${PID}-01` });
    expect(r.status).toBe(401);
    const span = await exported(r.span.spanId);
    expect(span).toMatchObject({ traceId: TID, status: { code: 2, message: 'missing_api_key' } });
    expect(attrs(span)['error.type']).toBe('missing_api_key');
  });
});

describe('traceparent without span export', () => {
  let s: Stack;
  const agent = new Agent();
  beforeAll(async () => {
    s = await startStack('node');
  });
  afterAll(async () => {
    await agent.close();
    await s.close();
  });

  it("passes the client's traceparent upstream unchanged, and adds none of its own", async () => {
    const send = async (headers: Record<string, string>) => {
      const r = await request(s.url + '/v1/chat/completions', {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await r.body.text();
      expect(r.statusCode).toBe(200);
      return s.sim.stats.lastRequest!.headers.traceparent;
    };
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(await send({ traceparent: tp })).toBe(tp);
    expect(await send({})).toBeUndefined();
    // An invalid one is not forwarded.
    expect(await send({ traceparent: 'garbage' })).toBeUndefined();
    expect(s.traces.spans.every((x) => x === null)).toBe(true);
    // The node:http transport counts its open connections (this agent's keep-alive one at least).
    const m = await request(s.url + '/metrics', { dispatcher: agent });
    expect(Number(/switchyard_open_connections (\d+)/.exec(await m.body.text())![1])).toBeGreaterThanOrEqual(1);
  });
});
