// Safety policies on a batch-pool route: input guards answer before a job exists; output guards run when
// the batch answers, and a blocked answer becomes a failed job with code policy_violation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { compilePlan, Gateway, MemoryTraceSink, parseConfigText } from '../../core/index.js';
import { startUwsServer, type UwsServer } from '../../transports/uws/server.js';
import { startBatchSimulator, type BatchSimulator } from '../../simulators/index.js';
import { DEMO_KEY, batchConfigYaml, eventually } from '../helpers/stack.js';

const say = (s: string): string => `[sim:say=${Buffer.from(s).toString('base64url')}]`;

describe('safety policy on a batch route', () => {
  let sim: BatchSimulator;
  let gateway: Gateway;
  let server: UwsServer;
  const traces = new MemoryTraceSink();
  const agent = new Agent();

  beforeAll(async () => {
    sim = await startBatchSimulator({ seed: 3, completion_ms: 20 });
    const yaml =
      batchConfigYaml(sim.url).replace('safety_policy: null', 'safety_policy: pii') +
      `policies:
  - name: pii
    input: [{ detector: payment_card, action: block }]
    output: [{ detector: email, action: redact }, { detector: secret, action: block }]
`;
    const parsed = parseConfigText(yaml);
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    gateway = new Gateway({ plan: compilePlan(parsed.config, { env: { BATCH_PROVIDER_KEY: 'sk-batch' } }), traces });
    server = await startUwsServer(gateway, { port: 0 });
  });
  afterAll(async () => {
    server?.close();
    await agent.close();
    await gateway?.close();
    await gateway?.upstream.destroy();
    await sim?.close();
  });

  async function submit(content: string) {
    const r = await request(server.url + '/v1/chat/completions', {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'reports.nightly', messages: [{ role: 'user', content }] }),
    });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, any> };
  }
  async function finished(id: string): Promise<Record<string, any>> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await request(server.url + '/v1/batch_jobs/' + id, { dispatcher: agent, headers: { authorization: `Bearer ${DEMO_KEY}` } });
      const job = (await r.body.json()) as Record<string, any>;
      if (job.status === 'completed' || job.status === 'failed' || Date.now() > deadline) return job;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  it('blocks input before a job is made', async () => {
    const r = await submit('card 4111 1111 1111 1111');
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('policy_violation');
  });

  it('redacts the answer, or fails the job when a blocking guard matches', async () => {
    const ok = await submit('report ' + say('mail ops@example.com today'));
    const bad = await submit('report ' + say('key AKIAIOSFODNN7EXAMPLE'));
    expect(ok.status).toBe(202);
    expect(bad.status).toBe(202);
    const okJob = await finished(ok.json.id);
    expect(okJob.status).toBe('completed');
    expect(okJob.response.choices[0].message.content).toBe('mail [REDACTED:email] today');
    const badJob = await finished(bad.json.id);
    expect(badJob.status).toBe('failed');
    expect(badJob.error).toEqual({ code: 'policy_violation', message: "Blocked by safety policy 'pii': output guard 'secret' matched." });
    expect(JSON.stringify(badJob)).not.toContain('AKIA');
    await eventually(() => traces.records.filter((t) => t.policy_violations.length > 0).length >= 3);
    expect(traces.records.map((t) => t.policy_violations).filter((v) => v.length > 0).sort()).toEqual([
      ['pii:input:payment_card:block'],
      ['pii:output:email:redact'],
      ['pii:output:secret:block'],
    ]);
  });
});
