// Limits through the gateway (issue 3), with the shared-memory store: exact admission under concurrency,
// token quotas, budgets, concurrency, and every counter back where it belongs once requests settle.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { DEMO_KEY, eventually, startStack, testConfigYaml, type Stack, type TestConfigOptions } from '../helpers/stack.js';

const stacks: Stack[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) await s.close();
});

async function stack(opts: TestConfigOptions): Promise<Stack> {
  const s = await startStack('uws', testConfigYaml(opts));
  stacks.push(s);
  return s;
}

interface Answer {
  status: number;
  code: string | null;
  headers: Record<string, string | string[] | undefined>;
  totalTokens: number;
}

async function chat(s: Stack, agent: Agent, body: Record<string, unknown> = {}, signal?: AbortSignal): Promise<Answer> {
  const r = await request(s.url + '/v1/chat/completions', {
    method: 'POST',
    dispatcher: agent,
    signal,
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'Count me.' }], ...body }),
  });
  const text = await r.body.text();
  const json = JSON.parse(text);
  return { status: r.statusCode, code: json.error?.code ?? null, headers: r.headers, totalTokens: json.usage?.total_tokens ?? 0 };
}

/** A streamed request cut by the client `afterMs` after its answer began (a refusal answers in full). */
async function abortMidStream(s: Stack, agent: Agent, body: Record<string, unknown>, afterMs: number): Promise<number> {
  const ac = new AbortController();
  const r = await request(s.url + '/v1/chat/completions', {
    method: 'POST',
    dispatcher: agent,
    signal: ac.signal,
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo.chat', ...body }),
  });
  if (r.statusCode !== 200) {
    await r.body.text();
    return r.statusCode;
  }
  setTimeout(() => ac.abort(), afterMs);
  await r.body.text().catch(() => null);
  return 499;
}

/** `n` requests from `clients` clients, all started before any is awaited. */
async function burst(s: Stack, n: number, clients: number, body: Record<string, unknown> = {}): Promise<Answer[]> {
  const agents = Array.from({ length: clients }, () => new Agent({ connections: Math.ceil(n / clients) }));
  try {
    return await Promise.all(Array.from({ length: n }, (_, i) => chat(s, agents[i % clients]!, body)));
  } finally {
    await Promise.all(agents.map((a) => a.close()));
  }
}

const count = (answers: Answer[], pred: (a: Answer) => boolean): number => answers.filter(pred).length;

describe('limits through the gateway (shared-memory store)', () => {
  it('400 requests from 8 clients against a 100-requests-per-minute key admit exactly 100', async () => {
    const s = await stack({ keyLimits: '{ requests_per_minute: 100 }' });
    const answers = await burst(s, 400, 8);
    expect(count(answers, (a) => a.status === 200)).toBe(100);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(300);
    for (const a of refused) {
      expect(a.code).toBe('rate_limit_exceeded');
      expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(a.headers['x-ratelimit-limit-requests']).toBe('100');
      expect(a.headers['x-ratelimit-remaining-requests']).toBe('0');
    }
    // Nothing refused reached the provider.
    expect(s.sim.stats.requests).toBe(100);
  });

  it('a token quota under a 4x burst admits at most the quota (x1.01) of actual tokens', async () => {
    // Each request reserves its prompt estimate + max_tokens; settlement refunds the difference.
    const s = await stack({ quota: '{ requests_per_minute: 100000, tokens_per_minute: 2000 }', simulator: '{ seed: 3, output_tokens: 40 }' });
    const answers = await burst(s, 160, 8, { max_tokens: 40 }); // ~4x what 2,000 tokens can serve
    const admitted = answers.filter((a) => a.status === 200);
    const tokens = admitted.reduce((n, a) => n + a.totalTokens, 0);
    expect(admitted.length).toBeGreaterThan(0);
    expect(tokens).toBeLessThanOrEqual(2000 * 1.01);
    for (const a of answers) if (a.status !== 200) expect(a.code).toBe('quota_exceeded');
    expect(answers.some((a) => a.status === 429 && a.headers['x-ratelimit-limit-tokens'] === '2000')).toBe(true);
  });

  it('a $0.01 budget with 20 simultaneous requests estimated at $0.005 admits at most 2', async () => {
    // Output at $10 per million tokens: max_tokens 500 is a $0.005 estimate (plus a little input).
    const s = await stack({ keyLimits: '{ budget_usd_per_day: 0.01 }', prices: { input: 0.01, output: 10 }, tokenBudget: '{ max_input_tokens: 8000, max_output_tokens: 1000 }' });
    const answers = await burst(s, 20, 20, { max_tokens: 500 });
    expect(count(answers, (a) => a.status === 200)).toBeLessThanOrEqual(2);
    expect(count(answers, (a) => a.status === 200)).toBeGreaterThanOrEqual(1);
    for (const a of answers) if (a.status !== 200) expect(a.code).toBe('budget_exceeded');
  });

  it('a concurrency limit admits that many at once and frees the slots when they settle', async () => {
    const s = await stack({ keyLimits: '{ concurrent_requests: 3 }', simulator: '{ seed: 3, ttft_ms: 300 }' });
    const answers = await burst(s, 10, 10);
    expect(count(answers, (a) => a.status === 200)).toBe(3);
    for (const a of answers) if (a.status !== 200) expect(a.code).toBe('concurrency_limit_exceeded');
    const cell = s.plan.keysByHash.get([...s.plan.keysByHash.keys()][0]!)!.limits.find((l) => l.limitName === 'concurrency')!.cell;
    await eventually(() => s.limits!.peek(cell, Date.now()) === 0);
    // And again: the slots are free.
    const again = await burst(s, 3, 3);
    expect(count(again, (a) => a.status === 200)).toBe(3);
  });

  it('refuses a prompt over the route token budget and max_tokens over its output budget, before any reservation', async () => {
    const s = await stack({ keyLimits: '{ requests_per_minute: 100 }', tokenBudget: '{ max_input_tokens: 50, max_output_tokens: 64 }' });
    const agent = new Agent();
    const long = await chat(s, agent, { messages: [{ role: 'user', content: 'word '.repeat(400) }] });
    expect(long.status).toBe(400);
    expect(long.code).toBe('invalid_request');
    const big = await chat(s, agent, { max_tokens: 65 });
    expect(big.status).toBe(400);
    expect(big.code).toBe('invalid_request');
    expect(s.sim.stats.requests).toBe(0);
    // A prompt the cheap bound overestimates but the tokenizer accepts is not refused.
    const ok = await chat(s, agent, { messages: [{ role: 'user', content: 'hello world '.repeat(12) }] });
    expect(ok.status).toBe(200);
    await agent.close();
  });

  it('counts a long prompt in a worker thread before refusing it: under budget passes, over budget is refused', async () => {
    const s = await stack({ keyLimits: '{ requests_per_minute: 100 }', tokenBudget: '{ max_input_tokens: 1000, max_output_tokens: 64 }' });
    const agent = new Agent();
    // ~3,600 characters: the byte bound (1,207) says maybe too long; the tokenizer says ~600.
    const fits = await chat(s, agent, { messages: [{ role: 'user', content: 'hello world '.repeat(300) }] });
    expect(fits.status).toBe(200);
    const over = await chat(s, agent, { messages: [{ role: 'user', content: 'hello world '.repeat(600) }] });
    expect(over.status).toBe(400);
    expect(over.code).toBe('invalid_request');
    expect(s.sim.stats.requests).toBe(1);
    await agent.close();
  });

  it('1,000 mixed requests leave every counter consistent with what happened', async () => {
    const s = await stack({
      keyLimits: '{ concurrent_requests: 200, budget_usd_per_day: 100 }',
      tenantLimits: '{ requests_per_minute: 900 }',
      simulator: '{ seed: 9, ttft_ms: 2, tokens_per_s: 2000, output_tokens: { min: 5, max: 30 } }',
      timeoutMs: 300,
    });
    const key = [...s.plan.keysByHash.values()].find((k) => k.id === 'k-demo')!;
    const budget = key.limits.find((l) => l.limitName === 'budget_day')!.cell;
    const conc = key.limits.find((l) => l.limitName === 'concurrency')!.cell;
    const agent = new Agent({ connections: 50 });
    const kinds = ['ok', 'stream', '500', 'abort', 'timeout', 'cut'] as const;
    const tasks: Array<Promise<unknown>> = [];
    for (let i = 0; i < 1000; i++) {
      const kind = kinds[i % kinds.length]!;
      const content =
        kind === '500' ? 'x [sim:fault=500]' : kind === 'timeout' ? 'x [sim:fault=timeout]' : kind === 'cut' ? 'x [sim:fault=stream_cut]' : kind === 'abort' ? 'slow [sim:tokens_per_s=20] [sim:output_tokens=50]' : 'fine';
      const body = { messages: [{ role: 'user', content }], stream: kind === 'stream' || kind === 'cut' || kind === 'abort' };
      if (kind === 'abort') tasks.push(abortMidStream(s, agent, body, 10 + (i % 7) * 10).catch(() => null));
      else tasks.push(chat(s, agent, body).catch(() => null));
    }
    await Promise.all(tasks);
    // Every client call has returned; the gateway settles each one (aborts happen mid-stream, once the
    // answer's headers arrived, so every request reached the gateway whatever the machine's load).
    await eventually(() => s.gateway.inFlight === 0, 15_000);
    await eventually(() => s.traces.records.length === 1000, 5_000);
    await agent.close();
    const traces = s.traces.records;
    // Outcomes of every kind happened, including refusals by the tenant's 900 requests per minute (GCRA
    // refills continuously, so a few more than 900 may pass while the run lasts).
    expect(traces.filter((t) => t.status === 200).length).toBeGreaterThan(0);
    const refused = traces.filter((t) => t.status === 429).length;
    expect(refused).toBeGreaterThan(0);
    expect(traces.filter((t) => t.status === 429 && t.error_code !== 'rate_limit_exceeded')).toEqual([]);
    // Refused requests never reached the provider.
    expect(s.sim.stats.requests).toBeLessThanOrEqual(traces.reduce((n, t) => n + t.attempts.length, 0));
    expect(traces.filter((t) => t.status === 499).length).toBeGreaterThan(0);
    expect(traces.filter((t) => t.status === 504).length).toBeGreaterThan(0);
    // In-flight back to 0; spend equals the sum of what the traces say was spent, to the micro-dollar.
    expect(s.limits!.peek(conc, Date.now())).toBe(0);
    const spent = traces.reduce((n, t) => n + (t.status === 429 ? 0 : Math.round(t.cost_usd * 1e6)), 0);
    expect(s.limits!.peek(budget, Date.now())).toBe(spent);
  });
});

describe('platform metrics after scripted traffic', () => {
  it('counts requests by outcome, quota rejections, attribution and latency exactly', async () => {
    const s = await stack({ keyLimits: '{ requests_per_minute: 3 }' });
    const agent = new Agent();
    const send = (headers: Record<string, string> = {}) =>
      request(s.url + '/v1/chat/completions', {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'hi' }] }),
      }).then((r) => r.body.text().then(() => r.statusCode));
    expect(await send({ 'x-switchyard-scenario': 's1' })).toBe(200);
    expect(await send({ 'x-switchyard-scenario': 's1' })).toBe(200);
    expect(await send()).toBe(200);
    expect(await send()).toBe(429);
    const r = await request(s.url + '/metrics', { dispatcher: agent });
    expect(String(r.headers['content-type'])).toContain('text/plain');
    const text = await r.body.text();
    await agent.close();
    expect(text).toContain('switchyard_requests_total{alias="demo.chat",lane="direct_small",pool="maas-sim",outcome="success"} 3\n');
    expect(text).toContain('switchyard_requests_total{alias="demo.chat",lane="direct_small",pool="maas-sim",outcome="error"} 1\n');
    expect(text).toContain('switchyard_quota_rejections_total{tenant="demo",alias="demo.chat",limit="key:rpm"} 1\n');
    expect(text).toContain('switchyard_cost_attribution_complete_total 2\n');
    expect(text).toContain('switchyard_cost_attribution_incomplete_total{missing="scenario_id"} 1\n');
    expect(text).toContain('switchyard_request_duration_seconds_count{alias="demo.chat",lane="direct_small"} 4\n');
    expect(text).toContain('switchyard_ttft_seconds_count{alias="demo.chat",lane="direct_small"} 3\n');
  });
});
