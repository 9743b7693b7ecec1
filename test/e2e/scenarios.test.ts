// Scenarios and success criteria end to end (issue 12): the outcome of a request is its scenario's
// verdict, not the provider's status; a configured re-ask on a quality failure is bounded and visible;
// every attempt is priced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { DEMO_KEY, DEMO_KEY_SHA256, routeYaml, startStack, type Stack } from '../helpers/stack.js';
import type { TraceRecord } from '../../core/telemetry/trace.js';

const route = (alias: string, pool: string, o: { fallback?: string[]; extra?: string; latencyMs?: number; providers?: string[] } = {}): string =>
  routeYaml(alias, pool, { fallback: o.fallback ?? [], extra: o.extra ?? '', latencyMs: o.latencyMs ?? 5000, allowedProviders: o.providers ?? ['long', 'short'] });

const provider = (name: string, sim: string): string => `
  - name: ${name}
    kind: openai
    timeout_ms: 3000
    simulator: ${sim}
    models:
      - { name: m-${name}, input_usd_per_mtok: 1, cached_input_usd_per_mtok: 0.5, output_usd_per_mtok: 2 }`;

const YAML = `
server: { unknown_scenario: refuse }
tenants: [{ id: demo, name: Demo }]
keys: [{ id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }]
providers:${provider('long', '{ seed: 1, output_tokens: 40 }')}${provider('short', '{ seed: 2, output_tokens: 4 }')}
pools:
  - { id: pool-long, kind: maas, members: [{ provider: long, model: m-long }] }
  - { id: pool-short, kind: maas, members: [{ provider: short, model: m-short }] }
routes:${route('s.chat', 'pool-long')}${route('s.slow', 'pool-long', { latencyMs: 150 }).replace('ttft_ms: 800', 'ttft_ms: 100')}${route('s.reask', 'pool-long', { fallback: ['s.short'], extra: '\n    retry_on: [quality_failure]' })}${route('s.reask.alone', 'pool-long', { extra: '\n    retry_on: [quality_failure]' })}${route('s.short', 'pool-short')}
scenarios:
  - { id: summary, owner: team-crm, description: A short summary, success: { finish_reason: [stop], non_empty: true, within_slo: true } }
  - { id: extract, owner: team-crm, success: { json_schema_valid: true } }
  - { id: agent, owner: team-ops, success: { tool_calls_valid: true } }
  - { id: cheap, owner: team-crm, success: { max_cost_usd: 0.0000001 } }
  - { id: timely, owner: team-crm, success: { within_slo: true } }
  - { id: anything, owner: team-crm }
`;

const SCHEMA = {
  type: 'object',
  properties: { title: { type: 'string' }, score: { type: 'integer', minimum: 0, maximum: 10 } },
  required: ['title', 'score'],
  additionalProperties: false,
};

describe('scenarios: outcomes judged against success criteria', () => {
  let s: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    s = await startStack('uws', YAML);
    client = new OpenAI({ apiKey: DEMO_KEY, baseURL: `${s.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await s?.close();
  });

  /** Send one request under `scenario`; its trace record (written when the request settled). */
  async function traced(scenario: string, body: Record<string, unknown>): Promise<{ trace: TraceRecord; headers: Headers; data: unknown }> {
    const before = s.traces.records.length;
    const { data, response } = await client.chat.completions
      .create({ model: 's.chat', messages: [{ role: 'user', content: 'Summarize the account.' }], ...body, metadata: { scenario_id: scenario } } as never)
      .withResponse();
    if ((body as { stream?: boolean }).stream === true) for await (const _ of data as unknown as AsyncIterable<unknown>) void _;
    await waitFor(() => s.traces.records.length > before);
    return { trace: s.traces.records[s.traces.records.length - 1]!, headers: response.headers, data };
  }

  async function waitFor(ok: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(ok()).toBe(true);
  }

  it('a complete answer within the SLO is a success', async () => {
    const { trace } = await traced('summary', { max_tokens: 100 });
    expect(trace).toMatchObject({ scenario_id: 'summary', status: 200, outcome: 'success', failed_check: null });
  });

  it('an answer cut by length is a quality failure, never a success (whole and streamed)', async () => {
    const whole = await traced('summary', { max_tokens: 5 });
    expect(whole.trace).toMatchObject({ status: 200, outcome: 'quality_failure', failed_check: 'finish_reason' });
    const streamed = await traced('summary', { max_tokens: 5, stream: true });
    expect(streamed.trace).toMatchObject({ status: 200, stream: true, outcome: 'quality_failure', failed_check: 'finish_reason' });
  });

  it('output invalid against the response_format JSON schema is a quality failure; valid output is a success', async () => {
    const response_format = { type: 'json_schema', json_schema: { name: 'card', schema: SCHEMA, strict: true } };
    const good = await traced('extract', { response_format });
    expect(good.trace).toMatchObject({ outcome: 'success', failed_check: null });
    const goodStream = await traced('extract', { response_format, stream: true });
    expect(goodStream.trace).toMatchObject({ outcome: 'success', failed_check: null });
    // Truncated JSON: the scenario does not check finish_reason, the schema check catches it.
    const cut = await traced('extract', { response_format, max_tokens: 3 });
    expect(cut.trace).toMatchObject({ status: 200, outcome: 'quality_failure', failed_check: 'json_schema' });
    const cutStream = await traced('extract', { response_format, max_tokens: 3, stream: true });
    expect(cutStream.trace).toMatchObject({ status: 200, outcome: 'quality_failure', failed_check: 'json_schema' });
  });

  it('tool calls are checked against the tools the request defined', async () => {
    const tools = [{ type: 'function', function: { name: 'lookup_account', parameters: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] } } }];
    const ok = await traced('agent', { tools });
    expect(ok.trace).toMatchObject({ outcome: 'success', failed_check: null });
    const okStream = await traced('agent', { tools, stream: true });
    expect(okStream.trace).toMatchObject({ outcome: 'success', failed_check: null });
    const cut = await traced('agent', { tools, max_tokens: 2 });
    expect(cut.trace).toMatchObject({ status: 200, outcome: 'quality_failure', failed_check: 'tool_calls' });
  });

  it('an SLO miss and a budget miss are counted as such, never as success', async () => {
    const before = s.traces.records.length;
    await client.chat.completions.create({ model: 's.slow', messages: [{ role: 'user', content: 'slow [sim:ttft_ms=250]' }], metadata: { scenario_id: 'timely' } } as never);
    await waitFor(() => s.traces.records.length > before);
    expect(s.traces.records.at(-1)).toMatchObject({ alias: 's.slow', status: 200, outcome: 'slo_miss', failed_check: 'latency_ms' });
    const cheap = await traced('cheap', {});
    expect(cheap.trace.cost_usd).toBeGreaterThan(0.0000001);
    expect(cheap.trace).toMatchObject({ status: 200, outcome: 'budget_miss', failed_check: 'max_cost_usd' });
  });

  it('a scenario without a criterion is judged by status; an unknown one is refused before the provider is called', async () => {
    expect((await traced('anything', { max_tokens: 1 })).trace).toMatchObject({ outcome: 'success' });
    const served = s.traces.records.length;
    const err = await client.chat.completions
      .create({ model: 's.chat', messages: [{ role: 'user', content: 'x' }], metadata: { scenario_id: 'nope' } } as never)
      .then(() => null, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(err?.status).toBe(400);
    expect(err?.code).toBe('unknown_scenario');
    expect(err?.message).toContain("Unknown scenario 'nope'");
    await waitFor(() => s.traces.records.length > served);
    expect(s.traces.records.at(-1)).toMatchObject({ status: 400, error_code: 'unknown_scenario', outcome: 'error', attempts: [] });
  });

  it('the outcome is what switchyard_requests_total counts', async () => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('switchyard_requests_total{') && l.includes('alias="s.chat"') && l.includes('outcome="quality_failure"'));
    expect(line).toBeDefined();
    const judged = s.traces.records.filter((r) => r.alias === 's.chat' && r.outcome === 'quality_failure').length;
    expect(judged).toBeGreaterThanOrEqual(5);
    expect(Number(line!.split(' ').at(-1))).toBe(judged);
  });
});

describe('scenarios: re-asking on a quality failure', () => {
  let s: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    s = await startStack('node', YAML);
    client = new OpenAI({ apiKey: DEMO_KEY, baseURL: `${s.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await s?.close();
  });

  async function ask(model: string, body: Record<string, unknown> = {}): Promise<{ trace: TraceRecord; headers: Headers; finish: string | null }> {
    const before = s.traces.records.length;
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'Summarize the account.' }], max_tokens: 10, metadata: { scenario_id: 'summary' }, ...body } as never)
      .withResponse();
    for (let i = 0; i < 200 && s.traces.records.length === before; i++) await new Promise((r) => setTimeout(r, 5));
    return { trace: s.traces.records.at(-1)!, headers: response.headers, finish: (data as { choices: Array<{ finish_reason: string | null }> }).choices[0]!.finish_reason };
  }

  it('re-asks, then falls back, and the answer that passes is returned; every attempt is priced and shown', async () => {
    const { trace, headers, finish } = await ask('s.reask');
    expect(finish).toBe('stop');
    expect(trace).toMatchObject({ outcome: 'success', failed_check: null, pool_id: 'pool-short', stop_reason: 'success' });
    expect(trace.attempts.map((a) => [a.pool_id, a.status, a.error_code])).toEqual([
      ['pool-long', 200, 'quality_failure'],
      ['pool-long', 200, 'quality_failure'],
      ['pool-short', 200, null],
    ]);
    expect(headers.get('x-switchyard-attempts')).toBe('3');
    expect(headers.get('x-switchyard-fallback')).toBe('quality_failure>quality_failure');
    // The re-asked attempts cost money and it is attributed: totals are the sums over attempts.
    for (const a of trace.attempts) expect(a.cost_usd).toBeGreaterThan(0);
    expect(trace.attempts[0]!.output_tokens).toBe(10);
    const sum = (k: 'input_tokens' | 'output_tokens' | 'cost_usd'): number => trace.attempts.reduce((n, a) => n + a[k], 0);
    expect(trace.input_tokens).toBe(sum('input_tokens'));
    expect(trace.output_tokens).toBe(sum('output_tokens'));
    expect(trace.cost_usd).toBeCloseTo(sum('cost_usd'), 12);
    expect(trace.cost_usd).toBeCloseTo((trace.input_tokens * 1 + trace.output_tokens * 2) / 1e6, 12);
    expect(headers.get('x-switchyard-cost-usd')).toBe(trace.cost_usd.toFixed(8));
  });

  it('is bounded by the stop criteria: with nothing left to try, the last answer stands as a quality failure', async () => {
    const { trace, finish } = await ask('s.reask.alone');
    expect(finish).toBe('length');
    expect(trace).toMatchObject({ status: 200, outcome: 'quality_failure', failed_check: 'finish_reason', stop_reason: 'fallbacks_exhausted' });
    expect(trace.attempts.map((a) => a.error_code)).toEqual(['quality_failure', 'quality_failure']);
  });

  it('never re-asks unless the route says so, and never re-asks a stream', async () => {
    const plain = await ask('s.chat');
    expect(plain.trace.attempts).toHaveLength(1);
    expect(plain.trace).toMatchObject({ outcome: 'quality_failure', stop_reason: 'success' });
    const before = s.traces.records.length;
    const stream = await client.chat.completions.create({ model: 's.reask', stream: true, messages: [{ role: 'user', content: 'x' }], max_tokens: 10, metadata: { scenario_id: 'summary' } } as never);
    for await (const _ of stream as unknown as AsyncIterable<unknown>) void _;
    for (let i = 0; i < 200 && s.traces.records.length === before; i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.traces.records.at(-1)).toMatchObject({ stream: true, outcome: 'quality_failure' });
    expect(s.traces.records.at(-1)!.attempts).toHaveLength(1);
  });
});
