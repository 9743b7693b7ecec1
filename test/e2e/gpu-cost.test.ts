// Self-hosted pools priced per GPU-hour, attributed by the GPU time each request used: (time at the
// replica − its reported queue time) ÷ max_batch × gpu_hour_usd. One replica of the GPU pool simulator,
// max_batch 2, six requests at once: four wait in its queue, and their queue time is not charged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { compilePlan, Gateway, MemoryTraceSink, parseConfigText } from '../../core/index.js';
import { startUwsServer, type UwsServer } from '../../transports/uws/server.js';
import { startGpuPoolSimulator, type GpuPoolSimulator } from '../../simulators/index.js';
import { DEMO_KEY, DEMO_KEY_SHA256, eventually } from '../helpers/stack.js';

const GPU_HOUR_USD = 3.6; // 0.001 USD per GPU-second: easy to check by hand

function yaml(url: string): string {
  return `
tenants: [{ id: demo, name: Demo }]
keys: [{ id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }]
providers:
  - { name: r0, kind: vllm, base_url: ${url}, models: [{ name: llama }] }
pools:
  - { id: gpu, kind: self_hosted, members: [{ provider: r0, model: llama }], replicas: 1, max_batch: 2, prefill_tokens_per_s: 20000, decode_tokens_per_s: 100, gpu_hour_usd: ${GPU_HOUR_USD} }
routes:
  - alias: gpu.chat
    use_case: GPU-time pricing test
    owner: team-test
    route_policy: { lane: direct_large, slo: { ttft_ms: 5000, latency_ms: 20000 }, budget: { max_cost_usd: null }, fallback: [] }
    canary_share: 0
    canary_target: null
    fallback_condition: []
    pool_id: gpu
    queue_priority: 1
    latency_class: standard
    allowed_providers: [r0]
    quota: { requests_per_minute: 100000, tokens_per_minute: 100000000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: null
    trace_fields: [scenario_id]
    prompt: null
`;
}

describe('self-hosted pool priced by GPU time', () => {
  let sim: GpuPoolSimulator;
  let gateway: Gateway;
  let server: UwsServer;
  const traces = new MemoryTraceSink();
  const agent = new Agent({ connections: 16 });

  beforeAll(async () => {
    sim = await startGpuPoolSimulator({ replicas: 1, max_batch: 2, prefill_tokens_per_s: 20000, decode_tokens_per_s: 100, seed: 9, output_tokens: 10 });
    const parsed = parseConfigText(yaml(sim.replicas[0]!.url));
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

  it('charges each request its batch-slot time ÷ max_batch at the GPU-hour price, never its queue time', async () => {
    const ids = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        request(server.url + '/v1/chat/completions', {
          method: 'POST',
          dispatcher: agent,
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', 'x-switchyard-scenario': 'gpu-cost' },
          body: JSON.stringify({ model: 'gpu.chat', messages: [{ role: 'user', content: `question ${i}` }], stream: i % 2 === 0 }),
        }).then(async (r) => {
          await r.body.text();
          expect(r.statusCode).toBe(200);
          return String(r.headers['x-request-id']);
        }),
      ),
    );
    await eventually(() => ids.every((id) => traces.records.some((t) => t.request_id === id)));
    const records = ids.map((id) => traces.records.find((t) => t.request_id === id)!);
    // The replica runs 2 at once: 4 of the 6 waited, and said so in x-queue-time-ms.
    expect(records.filter((r) => r.queue_time_ms > 10).length).toBeGreaterThanOrEqual(3);
    for (const r of records) {
      const a = r.attempts[0]!;
      const slotMs = a.latency_ms - a.queue_time_ms;
      expect(slotMs).toBeGreaterThan(50); // 10 tokens at ~100 tokens/s
      const want = (GPU_HOUR_USD * (slotMs / 2)) / 3_600_000;
      expect(r.cost_usd).toBeGreaterThan(0);
      expect(Math.abs(r.cost_usd - want) / want).toBeLessThan(0.02);
      expect(r.tokens_estimated).toBe(false);
    }
    // A model with no token price on a pool with a GPU-hour price is fully attributed.
    expect(gateway.metrics.attributionComplete.get([])).toBe(6);
    expect(gateway.metrics.attributionIncomplete.get(['price'])).toBe(0);
  });
});
