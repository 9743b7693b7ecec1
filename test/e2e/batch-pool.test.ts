// Batch pools through the gateway (issue 4): a request on a batch route is answered 202 with a job id,
// gathered into an OpenAI-style batch on the batch simulator, and its result is polled by the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { compilePlan, Gateway, MemoryTraceSink, parseConfigText } from '../../core/index.js';
import { startUwsServer, type UwsServer } from '../../transports/uws/server.js';
import { startBatchSimulator, type BatchSimulator } from '../../simulators/index.js';
import { DEMO_KEY, OTHER_KEY, batchConfigYaml as yaml, eventually } from '../helpers/stack.js';


describe('batch pool routing', () => {
  let sim: BatchSimulator;
  let gateway: Gateway;
  let server: UwsServer;
  const traces = new MemoryTraceSink();
  const agent = new Agent();

  beforeAll(async () => {
    sim = await startBatchSimulator({ seed: 3, completion_ms: 20 });
    const parsed = parseConfigText(yaml(sim.url));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    gateway = new Gateway({ plan: compilePlan(parsed.config, { env: { BATCH_PROVIDER_KEY: 'sk-batch' } }), traces });
    server = await startUwsServer(gateway, { port: 0 });
  });
  afterAll(async () => {
    server.close();
    await agent.close();
    await gateway.close();
    await gateway.upstream.destroy();
    await sim.close();
  });

  async function submit(body: Record<string, unknown>, key = DEMO_KEY) {
    const r = await request(server.url + '/v1/chat/completions', {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'reports.nightly', messages: [{ role: 'user', content: 'Summarize the day.' }], ...body }),
    });
    return { status: r.statusCode, headers: r.headers, json: (await r.body.json()) as Record<string, any> };
  }
  async function poll(id: string, key = DEMO_KEY) {
    const r = await request(server.url + '/v1/batch_jobs/' + id, { dispatcher: agent, headers: { authorization: `Bearer ${key}` } });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, any> };
  }

  it('answers 202 with a job, sends the requests as one batch, and serves each result on poll', async () => {
    const subs = await Promise.all([0, 1, 2].map((i) => submit({ messages: [{ role: 'user', content: `report ${i}` }] })));
    for (const s of subs) {
      expect(s.status).toBe(202);
      expect(s.json).toMatchObject({ object: 'switchyard.batch_job', status: 'queued', model: 'reports.nightly' });
      expect(s.headers.location).toBe(`/v1/batch_jobs/${s.json.id}`);
      expect(s.headers['x-switchyard-pool']).toBe('batch-pool');
    }
    for (const s of subs) {
      let job = (await poll(s.json.id)).json;
      const deadline = Date.now() + 10_000;
      while (job.status !== 'completed' && job.status !== 'failed' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        job = (await poll(s.json.id)).json;
      }
      expect(job.status, JSON.stringify(job)).toBe('completed');
      expect(job.response.object).toBe('chat.completion');
      expect(job.response.model).toBe('reports.nightly');
      expect(job.response.usage.total_tokens).toBeGreaterThan(0);
    }
    expect(sim.stats.batchesCreated).toBe(1); // the three requests went as one batch
    await eventually(() => subs.every((s) => traces.records.some((t) => 'job_' + t.request_id.slice(4) === s.json.id)));
    const t = traces.records.find((r) => 'job_' + r.request_id.slice(4) === subs[0]!.json.id)!;
    expect(t).toMatchObject({ status: 200, pool_id: 'batch-pool', provider: 'batcher', tokens_estimated: false });
    expect(t.cost_usd).toBeGreaterThan(0);
    expect(gateway.inFlight).toBe(0);
  });

  it('a request that fails inside the batch makes its job failed, with a code', async () => {
    const s = await submit({ messages: [{ role: 'user', content: 'broken [sim:fault=500]' }] });
    expect(s.status).toBe(202);
    let job = (await poll(s.json.id)).json;
    const deadline = Date.now() + 10_000;
    while (job.status !== 'completed' && job.status !== 'failed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      job = (await poll(s.json.id)).json;
    }
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('upstream_error');
    expect(job.response).toBeNull();
  });

  it('refuses streaming on a batch route, and never shows a job to another tenant', async () => {
    const st = await submit({ stream: true });
    expect(st.status).toBe(400);
    expect(st.json.error.param).toBe('stream');
    const s = await submit({});
    expect((await poll(s.json.id, OTHER_KEY)).status).toBe(404);
    expect((await poll('job_nope')).status).toBe(404);
  });
});
