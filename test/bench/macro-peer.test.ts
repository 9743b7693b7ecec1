// The macro suite's peer and its option parsing: Portkey (npm @portkey-ai/gateway) really starts headless
// and forwards a chat completion to our simulator; the verdict carries the gateway/Portkey ratio.
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { Child, judge, parseMacroArgs, portkeyEntry, startPortkey, type TargetResult } from '../../bench/macro/gateway.js';
import { parseStreamArgs } from '../../bench/macro/stream.js';
import { startMaasSimulator } from '../../simulators/maas.js';

describe('bench macro: options', () => {
  it('takes portkey as a target and measures it by default when installed', () => {
    expect(parseMacroArgs(['--targets', 'gateway,portkey']).targets).toEqual(['gateway', 'portkey']);
    expect(portkeyEntry()).not.toBeNull(); // a devDependency
    expect(parseMacroArgs([]).targets).toEqual(['direct', 'proxy', 'gateway', 'portkey']);
    expect(() => parseMacroArgs(['--targets', 'kong'])).toThrow('--targets: unknown target kong (direct, proxy, gateway, portkey)');
  });

  it('reports gateway rps over Portkey rps and Portkey added latency', () => {
    const t = (rps: number, p50: number): TargetResult => ({ rps, p50_ms: 1, p99_ms: 2, c1_p50_us: p50, c1_p99_us: p50 * 2, requests: 100, non2xx: 0, errors: 0, timeouts: 0, c1_requests: 10, c1_failures: 0, cpu_us_per_req: null, sim_cpu_us_per_req: null });
    const settings = { duration_s: 1, slice_s: 1, warmup_s: 0, connections: 64, c1_requests: 10, gateway_threads: 1, node: 'v20', cpus: 2 };
    const r = judge({ direct: t(1000, 50), proxy: t(800, 150), gateway: t(700, 190), portkey: t(100, 1050) }, settings);
    expect(r.gateway_vs_portkey_rps).toBe(7);
    expect(r.portkey_added_p50_us).toBe(1000);
    expect(r.portkey_added_p99_us).toBe(2000);
    expect(judge({ direct: t(1000, 50), gateway: t(700, 190) }, settings).gateway_vs_portkey_rps).toBeNull();
  });

  it('bench stream options are checked', () => {
    expect(parseStreamArgs(['--streams', '10', '--targets', 'gateway']).targets).toEqual(['gateway']);
    expect(() => parseStreamArgs(['--streams', '0'])).toThrow('--streams must be a number between 1 and 5000');
    expect(() => parseStreamArgs(['--targets', 'portkey'])).toThrow('--targets: unknown target portkey (direct, proxy, gateway)');
  });
});

describe('bench macro: the Portkey peer', () => {
  const children: Child[] = [];
  let sim: Awaited<ReturnType<typeof startMaasSimulator>> | null = null;
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await sim?.close();
  });

  it('starts headless and forwards a non-streaming chat completion to the simulator', async () => {
    sim = await startMaasSimulator({ seed: 3 }, { port: 0 });
    const simOrigin = new URL(sim.url).origin;
    const origin = await startPortkey(children, false);
    const c = new Client(origin);
    try {
      const r = await c.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-upstream', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': simOrigin + '/v1' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
      });
      const body = (await r.body.json()) as { id: string; choices: unknown[]; system_fingerprint?: string };
      expect(r.statusCode).toBe(200);
      expect(body.system_fingerprint).toBe('fp_switchyard_sim'); // answered by our simulator, through Portkey
      expect(body.choices.length).toBe(1);
      expect(r.headers['x-portkey-provider']).toBe('openai');
    } finally {
      await c.close();
    }
  }, 60_000);
});
