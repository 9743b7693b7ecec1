// Self-hosted pools through the gateway (issue 4): replicas of the GPU pool simulator as pool members,
// chosen by least expected queue (their load reports and the gateway's own in-flight requests) with
// prefix affinity.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { compilePlan, Gateway, MemoryTraceSink, parseConfigText } from '../../core/index.js';
import { startUwsServer, type UwsServer } from '../../transports/uws/server.js';
import { startGpuPoolSimulator, startMaasSimulator, type GpuPoolSimulator, type MaasSimulator } from '../../simulators/index.js';
import { DEMO_KEY, DEMO_KEY_SHA256, eventually } from '../helpers/stack.js';

function yaml(replicaUrls: string[], maasUrl: string | null = null): string {
  const providers = replicaUrls
    .map((u, i) => `
  - name: r${i}
    kind: vllm
    base_url: ${u}
    models: [{ name: llama, input_usd_per_mtok: 0, output_usd_per_mtok: 0 }]`)
    .join('');
  return `
tenants: [{ id: demo, name: Demo }]
keys: [{ id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }]
providers:${providers}${maasUrl === null ? '' : `
  - { name: maas, kind: openai, base_url: ${maasUrl}, api_key_env: MAAS_KEY, models: [{ name: gpt-4o-mini, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 }] }`}
pools:
  - id: gpu
    kind: self_hosted
    members: [${replicaUrls.map((_, i) => `{ provider: r${i}, model: llama }`).join(', ')}]
    replicas: ${replicaUrls.length}
    max_batch: 2
    prefill_tokens_per_s: 20000
    decode_tokens_per_s: 200
    gpu_hour_usd: 2.5${maasUrl === null ? '' : `
  - { id: maas-pool, kind: maas, members: [{ provider: maas, model: gpt-4o-mini }] }`}
routes:
  - alias: gpu.chat
    use_case: self-hosted test
    owner: team-test
    route_policy: { lane: direct_large, slo: { ttft_ms: 5000, latency_ms: 20000 }, budget: { max_cost_usd: null }, fallback: [] }
    canary_share: 0
    canary_target: null
    fallback_condition: [timeout, "5xx"]
    pool_id: gpu
    queue_priority: 1
    latency_class: standard
    allowed_providers: [${replicaUrls.map((_, i) => `r${i}`).join(', ')}]
    quota: { requests_per_minute: 100000, tokens_per_minute: 100000000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: null
    trace_fields: [scenario_id]
    prompt: null
${maasUrl === null ? '' : `  - alias: gpu.fast
    use_case: self-hosted with an SLO, falling back to a managed API when the queue is too long
    owner: team-test
    route_policy: { lane: direct_small, slo: { ttft_ms: 100, latency_ms: 20000 }, budget: { max_cost_usd: null }, fallback: [maas.chat] }
    canary_share: 0
    canary_target: null
    fallback_condition: [queue_time_over_slo, timeout, "5xx"]
    pool_id: gpu
    queue_priority: 1
    latency_class: interactive
    allowed_providers: [${replicaUrls.map((_, i) => `r${i}`).join(', ')}]
    quota: { requests_per_minute: 100000, tokens_per_minute: 100000000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: null
    trace_fields: [scenario_id]
    prompt: null
  - alias: maas.chat
    use_case: managed fallback
    owner: team-test
    route_policy: { lane: direct_small, slo: { ttft_ms: 1000, latency_ms: 20000 }, budget: { max_cost_usd: null }, fallback: [] }
    canary_share: 0
    canary_target: null
    fallback_condition: [timeout, "5xx"]
    pool_id: maas-pool
    queue_priority: 1
    latency_class: interactive
    allowed_providers: [maas]
    quota: { requests_per_minute: 100000, tokens_per_minute: 100000000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: null
    trace_fields: [scenario_id]
    prompt: null
`}`;
}

describe('self-hosted pool routing', () => {
  let sim: GpuPoolSimulator;
  let gateway: Gateway;
  let server: UwsServer;
  const traces = new MemoryTraceSink();
  const agent = new Agent({ connections: 64 });

  beforeAll(async () => {
    sim = await startGpuPoolSimulator({ replicas: 2, max_batch: 2, prefill_tokens_per_s: 20000, decode_tokens_per_s: 200, seed: 4, output_tokens: 20 });
    const parsed = parseConfigText(yaml(sim.replicas.map((r) => r.url)));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    gateway = new Gateway({ plan: compilePlan(parsed.config), traces });
    server = await startUwsServer(gateway, { port: 0 });
  });
  afterAll(async () => {
    server.close();
    await agent.close();
    await gateway.upstream.destroy();
    await gateway.close();
    await sim.close();
  });

  function chat(messages: Array<{ role: string; content: string }>) {
    return request(server.url + '/v1/chat/completions', {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpu.chat', messages }),
    }).then(async (r) => {
      await r.body.text();
      return String(r.headers['x-request-id']);
    });
  }
  const replicaOf = (id: string) => traces.records.find((t) => t.request_id === id)!.provider;

  it('every turn of one conversation lands on the same replica and hits its prefix cache', async () => {
    // Prefix affinity keys on the conversation (system prompt, tools, first user message: core/prompt/assemble.ts).
    const system = { role: 'system', content: 'You are the account assistant. '.repeat(40) };
    const history: Array<{ role: string; content: string }> = [system, { role: 'user', content: 'Summarize the account history.' }];
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(await chat([...history]));
      history.push({ role: 'assistant', content: `step ${i} done` }, { role: 'user', content: `next step ${i}` });
    }
    await eventually(() => ids.every((id) => traces.records.some((t) => t.request_id === id)));
    const replicas = new Set(ids.map(replicaOf));
    expect(replicas.size).toBe(1);
    const cached = ids.slice(1).map((id) => traces.records.find((t) => t.request_id === id)!.cached_input_tokens);
    expect(cached.every((c) => c > 0)).toBe(true);
    // The provider-reported cached tokens feed the prefix-cache series of the alias.
    expect(gateway.metrics.cacheLookups.get(['gpu.chat', 'prefix', 'hit'])).toBeGreaterThanOrEqual(5);
    const hitTokens = gateway.metrics.prefixCacheTokens.get(['gpu.chat', 'hit']);
    expect(hitTokens).toBe(cached.reduce((a, b) => a + b, 0));
    expect(gateway.metrics.prefixCacheTokens.get(['gpu.chat', 'miss'])).toBeGreaterThan(0);
  });

  it('sends less traffic to a replica loaded by someone else (its load report shows a queue)', async () => {
    // Load replica 0 directly, behind the gateway's back: 8 slow requests on a batch of 2.
    const busy = sim.replicas[0]!;
    const direct = Array.from({ length: 8 }, () =>
      request(busy.url + '/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'slow [sim:output_tokens=120]' }] }),
      }).then((r) => r.body.text()),
    );
    // Wait until the gateway's poller has seen the queue.
    await eventually(() => gateway.load.of(gateway.currentPlan.pools.get('gpu')!.members[0]!).reportedWaiting > 0, 3000);
    const before = traces.records.length;
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => chat([{ role: 'user', content: `fresh ${i}` }])));
    await eventually(() => traces.records.length >= before + 10);
    const onBusy = ids.filter((id) => replicaOf(id) === 'r0').length;
    expect(onBusy).toBeLessThanOrEqual(2);
    const queued = traces.records.filter((t) => ids.includes(t.request_id)).map((t) => t.queue_time_ms);
    expect(queued.every((q) => q >= 0)).toBe(true);
    await Promise.all(direct);
  });
});

describe('queue_time_over_slo', () => {
  let sim: GpuPoolSimulator;
  let maas: MaasSimulator;
  let gateway: Gateway;
  let server: UwsServer;
  const traces = new MemoryTraceSink();

  beforeAll(async () => {
    sim = await startGpuPoolSimulator({ replicas: 2, max_batch: 2, prefill_tokens_per_s: 20000, decode_tokens_per_s: 200, seed: 6, output_tokens: 20 });
    maas = await startMaasSimulator({ seed: 6 });
    const parsed = parseConfigText(yaml(sim.replicas.map((r) => r.url), maas.url));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    gateway = new Gateway({ plan: compilePlan(parsed.config, { env: { MAAS_KEY: 'sk-m' } }), traces });
    server = await startUwsServer(gateway, { port: 0 });
  });
  afterAll(async () => {
    server.close();
    await gateway.upstream.destroy();
    await gateway.close();
    await sim.close();
    await maas.close();
  });

  it('falls back to the managed pool when every replica would queue past the SLO, without sending to them', async () => {
    const direct = sim.replicas.flatMap((rep) =>
      Array.from({ length: 6 }, () =>
        request(rep.url + '/chat/completions', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'busy [sim:output_tokens=80]' }] }),
        }).then((r) => r.body.text()),
      ),
    );
    const pool = gateway.currentPlan.pools.get('gpu')!;
    await eventually(() => pool.members.every((m) => gateway.load.of(m).reportedWaiting > 0), 3000);
    const before = sim.stats.requests;
    const r = await request(server.url + '/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpu.fast', max_tokens: 100, messages: [{ role: 'user', content: 'now please' }] }),
    });
    await r.body.text();
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-switchyard-fallback']).toBe('queue_time_over_slo>queue_time_over_slo');
    expect(r.headers['x-switchyard-pool']).toBe('maas-pool');
    expect(sim.stats.requests).toBe(before); // the replicas never saw it
    const id = String(r.headers['x-request-id']);
    await eventually(() => traces.records.some((t) => t.request_id === id));
    const t = traces.records.find((x) => x.request_id === id)!;
    expect(t.attempts.map((a) => a.error_code)).toEqual(['upstream_unavailable', 'upstream_unavailable', null]);
    expect(t.attempts[0]!.queue_time_ms).toBeGreaterThan(100);
    await Promise.all(direct);
  });
});
