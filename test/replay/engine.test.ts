// Replay end to end on small traces with exact expected counts, determinism, and the Erlang C fidelity
// cases (an M/M/c pool: the replay's mean wait against the formula, within 5%).
import { describe, expect, it } from 'vitest';
import { canaryArm } from '../../core/routing/canary.js';
import { replay } from '../../replay/engine.js';
import { generateColumns, DEFAULT_SPEC } from '../../replay/generate.js';
import { parsePoolsData } from '../../replay/pools.js';
import { runReport } from '../../replay/report.js';
import { replayPlan, runReplayAll } from '../../replay/run.js';
import { TraceColumns, type TraceRequest } from '../../replay/trace-format.js';
import { config, route } from './helpers.js';
import type { Config } from '../../core/config/schema.js';
import type { PoolOverride } from '../../replay/pools.js';

const START = Date.parse('2026-01-01T00:00:00Z');

function trace(reqs: Array<Partial<TraceRequest> & { t: number }>): TraceColumns {
  const c = new TraceColumns();
  for (const r of reqs) c.push({ alias: 'chat', tenant: 'acme', scenario_id: 's', input_tokens: 100, output_tokens: 50, stream: false, ...r });
  return c;
}

function run(cfg: Config, tr: TraceColumns, pools: Record<string, PoolOverride> = {}, seed = 1) {
  return runReport('baseline', replay(tr, { plan: replayPlan(cfg), pools, seed, startMs: START }));
}

/** Erlang C: mean wait in an M/M/c queue with arrival rate λ and service rate μ per server. */
function erlangCWait(c: number, lambda: number, mu: number): number {
  const a = lambda / mu;
  let term = 1;
  let sum = 1; // k = 0
  for (let k = 1; k < c; k++) {
    term *= a / k;
    sum += term;
  }
  const last = ((term * a) / c) * (c / (c - a)); // a^c / c! · c / (c − a)
  const pWait = last / (sum + last);
  return pWait / (c * mu - lambda);
}

describe('replay: managed-API pool', () => {
  it('latency is ttft + output at the profile speed, exactly; cost from the config prices', () => {
    const cfg = config({ routes: route('chat', 'api-pool') });
    const r = run(cfg, trace([{ t: 0 }, { t: 1 }, { t: 2, output_tokens: 100, stream: true }]));
    const a = r.aliases.chat!;
    expect(a.requests).toBe(3);
    expect(a.completed).toBe(3);
    expect(a.errors).toBe(0);
    // 100 ms + 50 tokens at 100/s = 600 ms (twice), 100 ms + 1 s = 1100 ms: mean exact, 1% buckets for percentiles.
    expect(a.latency_ms.mean).toBeCloseTo((600 + 600 + 1100) / 3, 2); // report rounds to µs
    expect(a.ttft_ms.mean).toBe(100);
    expect(a.latency_ms.p50).toBeCloseTo(600, -1);
    expect(a.cost_usd).toBeCloseTo((3 * 100 * 1 + (50 + 50 + 100) * 2) / 1e6, 9);
    expect(a.slo_attainment).toBe(1);
    expect(r.lanes.direct_small!.requests).toBe(3);
    expect(r.pools['api-pool']!.attempts).toBe(3);
    expect(r.end_s).toBeCloseTo(3.1, 6);
  });

  it('unknown aliases, tenants without access and over-long prompts are rejected, counted by code', () => {
    const cfg = config({ tenants: '[{ id: acme, name: Acme }, { id: other, name: Other }]', routes: route('chat', 'api-pool', { maxIn: 1000 }) + route('private', 'api-pool', { tenants: ['other'] }) });
    const r = run(cfg, trace([{ t: 0 }, { t: 0.1, alias: 'nope' }, { t: 0.2, alias: 'private' }, { t: 0.3, input_tokens: 1001 }, { t: 0.4, alias: 'private', tenant: 'other' }]));
    expect(r.rejections).toEqual({ alias_not_found: 2, invalid_request: 1 });
    expect(r.aliases.nope!.rejected).toBe(1);
    expect(r.aliases.private!.requests).toBe(2);
    expect(r.aliases.private!.completed).toBe(1);
    expect(r.aliases.chat!.rejection_rate).toBe(0.5);
    // No lane for a request refused before routing (unknown alias, or a route its tenant may not use).
    expect(r.lanes.unrouted!.requests).toBe(2);
  });

  it('tenant and route limits admit exactly their quota per virtual minute (GCRA at virtual now)', () => {
    const cfg = config({ tenants: '[{ id: acme, name: Acme, limits: { requests_per_minute: 10 } }]', routes: route('chat', 'api-pool', { quota: '{ requests_per_minute: 6, tokens_per_minute: 1000000 }' }) + route('other', 'api-pool') });
    // 8 requests to `chat` in the first second (route allows 6), 8 to `other` (tenant allows 10 in all).
    const reqs = [];
    for (let i = 0; i < 8; i++) reqs.push({ t: i * 0.1 }, { t: i * 0.1 + 0.05, alias: 'other' });
    // A minute later the window has refilled: both pass.
    reqs.push({ t: 70 }, { t: 70.1, alias: 'other' });
    const r = run(cfg, trace(reqs));
    expect(r.aliases.chat!.requests).toBe(9);
    // Interleaved, the tenant's 10 go 5 and 5 before the route's 6 is reached; then 1 more each at t=70.
    expect(r.aliases.chat!.completed).toBe(6);
    expect(r.aliases.other!.completed).toBe(6);
    expect(r.rejections).toEqual({ rate_limit_exceeded: 6 });
    // Only the tenant's limit refuses here; with the route's quota lower than the tenant's share it would.
    const r2 = run(cfg, trace(Array.from({ length: 9 }, (_, i) => ({ t: i * 0.1 }))));
    expect(r2.aliases.chat!.completed).toBe(6);
    expect(r2.rejections).toEqual({ rate_limit_exceeded: 3 });
  });

  it('faults retry once on the route, then fall back; every attempt is counted', () => {
    const cfg = config({
      apiSimulator: '{ ttft_ms: 100, tokens_per_s: 100, error_rate: 1, errors: { server_error: 1 } }',
      routes: route('chat', 'api-pool', { fallback: ['backup'], fallbackCondition: ['5xx'] }) + route('backup', 'gpu-pool', { providers: ['gpu'] }),
    });
    const r = run(cfg, trace([{ t: 0 }, { t: 10 }, { t: 20 }]));
    expect(r.aliases.chat!.completed).toBe(3);
    expect(r.aliases.chat!.fallback_rate).toBe(1);
    expect(r.pools['api-pool']!.attempts).toBe(6); // first try + one retry each
    expect(r.pools['api-pool']!.attempt_errors).toBe(6);
    expect(r.pools['gpu-pool']!.attempts).toBe(3);
    expect(r.pools['gpu-pool']!.completed).toBe(3);
    expect(r.errors).toEqual({});
  });

  it('a stream cut after the first token is never retried; the same fault before any byte is', () => {
    const cfg = config({ apiSimulator: '{ ttft_ms: 100, tokens_per_s: 100, error_rate: 1, errors: { stream_cut: 1 } }', routes: route('chat', 'api-pool', { fallbackCondition: ['connection_error'] }) });
    const r = run(cfg, trace([{ t: 0, stream: true }, { t: 1, stream: true }, { t: 2, stream: false }]));
    // Streams: one attempt each, cut mid-way (ttft + half the decode). Non-stream: connection error,
    // retried once on the route (cut again), then no fallback left.
    expect(r.errors).toEqual({ stream_cut: 2, connection_error: 1 });
    expect(r.pools['api-pool']!.attempts).toBe(4);
    // Failed requests are counted as errors, not timed: nothing completed.
    expect(r.aliases.chat!.completed).toBe(0);
  });

  it('auto lanes: long prompts or long answers are direct_large, by the gateway\'s thresholds', () => {
    const cfg = config({ routes: route('chat', 'api-pool', { lane: 'auto' }) });
    // LARGE_PROMPT_CHARS = 32,000 (≈ 8,000 tokens at 4 characters); LARGE_OUTPUT_TOKENS = 2,048.
    const r = run(cfg, trace([{ t: 0, input_tokens: 8000 }, { t: 0.1, input_tokens: 8001 }, { t: 0.2, output_tokens: 2049 }, { t: 0.3 }]));
    expect(r.lanes.direct_small!.requests).toBe(2);
    expect(r.lanes.direct_large!.requests).toBe(2);
  });

  it('a self-hosted pool without a capacity model is refused with what is missing', () => {
    const cfg = config({ routes: route('chat', 'gpu-pool', { providers: ['gpu'] }), gpu: 'replicas: 2' });
    expect(() => run(cfg, trace([{ t: 0 }]))).toThrow("pool 'gpu-pool' (self_hosted) needs max_batch, prefill_tokens_per_s, decode_tokens_per_s in the config or the pools file");
    const r = run(cfg, trace([{ t: 0 }]), { 'gpu-pool': { max_batch: 2, prefill_tokens_per_s: 1000, decode_tokens_per_s: 100 } });
    expect(r.pools['gpu-pool']!.completed).toBe(1);
    expect(r.pools['gpu-pool']!.replicas).toBe(2);
  });

  it('a failure the route does not list stops at once', () => {
    const cfg = config({ apiSimulator: '{ ttft_ms: 100, error_rate: 1, errors: { server_error: 1 } }', routes: route('chat', 'api-pool', { fallbackCondition: ['timeout'] }) });
    const r = run(cfg, trace([{ t: 0 }, { t: 1 }]));
    expect(r.errors).toEqual({ '5xx': 2 });
    expect(r.pools['api-pool']!.attempts).toBe(2);
    expect(r.aliases.chat!.error_rate).toBe(1);
  });

  it('the canary arm is canaryArm over the request id: exact split, what-if shares side by side', () => {
    const cfg = config({ routes: route('chat', 'api-pool', { canaryShare: 0.3, canaryTarget: 'chat.next' }) + route('chat.next', 'gpu-pool', { providers: ['gpu'] }) });
    const n = 1000;
    const reqs = Array.from({ length: n }, (_, i) => ({ t: i }));
    let expected = 0;
    for (let s = 1; s <= n; s++) if (canaryArm('rp-' + s.toString(36), 0.3)) expected++;
    const pools = parsePoolsData({ what_if: [{ name: 'half', canary: { chat: 0.5 } }] });
    const out = runReplayAll(trace(reqs), { config: cfg, configName: 'c', pools, poolsName: null, traceName: 't' });
    expect(out.report.aliases.chat!.canary_share).toBe(expected / n);
    expect(out.report.pools['gpu-pool']!.requests).toBe(expected);
    expect(expected).toBeGreaterThan(250);
    expect(expected).toBeLessThan(350);
    const half = out.report.what_if[0]!;
    expect(half.name).toBe('half');
    expect(half.pools['gpu-pool']!.requests).toBeGreaterThan(450);
    expect(half.pools['gpu-pool']!.requests).toBeLessThan(550);
    expect(() => runReplayAll(trace(reqs), { config: cfg, configName: 'c', pools: parsePoolsData({ what_if: [{ name: 'x', canary: { 'chat.next': 0.5 } }] }), poolsName: null, traceName: 't' })).toThrow("what-if canary: route 'chat.next' has no canary_target");
  });
});

describe('replay: self-hosted pool (GPU model)', () => {
  it('queues beyond max_batch and reports queue time, utilization and GPU cost', () => {
    // One replica, 4 slots, decode 1000 tok/s: 8 requests of 1000 tokens at t=0 → 4 run for 1 s, 4 wait 1 s.
    const cfg = config({ routes: route('chat', 'gpu-pool', { providers: ['gpu'], ttftMs: 500 }) });
    const r = run(cfg, trace(Array.from({ length: 8 }, () => ({ t: 0, input_tokens: 1, output_tokens: 1000 }))), { 'gpu-pool': { decode_slowdown: 0 } });
    const p = r.pools['gpu-pool']!;
    expect(p.completed).toBe(8);
    expect(p.queue_time_ms.mean).toBeCloseTo(500, 3);
    expect(p.latency_ms.mean).toBeCloseTo(1500, 3);
    expect(p.slo_attainment).toBe(0.5); // the 4 that waited missed the 500 ms TTFT
    expect(p.utilization).toBeCloseTo(1, 3); // 8 s of sequence time over 4 slots × 2 s
    expect(p.pool_cost_usd).toBeCloseTo(3.6 * (2 / 3600), 6);
    expect(r.aliases.chat!.cost_usd).toBeCloseTo(p.pool_cost_usd, 9);
  });

  it('more replicas in a what-if cut the wait; the pools file names only known pools', () => {
    const cfg = config({ routes: route('chat', 'gpu-pool', { providers: ['gpu'] }) });
    const tr = trace(Array.from({ length: 8 }, () => ({ t: 0, input_tokens: 1, output_tokens: 1000 })));
    const pools = parsePoolsData({ pools: { 'gpu-pool': { decode_slowdown: 0 } }, what_if: [{ name: 'two', pools: { 'gpu-pool': { replicas: 2 } } }] });
    const out = runReplayAll(tr, { config: cfg, configName: 'c', pools, poolsName: null, traceName: 't' });
    expect(out.report.pools['gpu-pool']!.queue_time_ms.mean).toBeCloseTo(500, 3);
    expect(out.report.what_if[0]!.pools['gpu-pool']!.queue_time_ms.mean).toBe(0);
    expect(out.report.what_if[0]!.pools['gpu-pool']!.replicas).toBe(2);
    expect(() => run(cfg, tr, { nope: { replicas: 2 } })).toThrow("pools file: pool 'nope' is not in the config");
  });

  it('queue_time_over_slo sends the request to the fallback before it queues', () => {
    const cfg = config({ routes: route('chat', 'gpu-pool', { providers: ['gpu'], ttftMs: 100, maxOut: 1000, fallback: ['backup'], fallbackCondition: ['queue_time_over_slo'] }) + route('backup', 'api-pool') });
    const r = run(cfg, trace(Array.from({ length: 10 }, () => ({ t: 0, input_tokens: 1, output_tokens: 1000 }))));
    // chat-call.ts's estimate: ahead = in flight − max_batch. The 5th sees 0 ahead and queues; from the
    // 6th on, 1 ahead × 1 s ÷ 4 slots = 250 ms > 100 ms TTFT: fallback without queueing.
    expect(r.pools['gpu-pool']!.completed).toBe(5);
    expect(r.pools['api-pool']!.completed).toBe(5);
    expect(r.aliases.chat!.fallback_rate).toBe(0.5);
    // retry.ts: one retry on the same route first while the retry budget allows (3 in flight at most
    // here), then the fallback: 5 refusals + 3 retries refused again.
    expect(r.pools['gpu-pool']!.attempt_errors).toBe(8);
  });

  it('requests of one prefix group meet the same replica and hit its prefix cache', () => {
    const cfg = config({ routes: route('chat', 'gpu-pool', { providers: ['gpu'] }), gpu: 'replicas: 4\n    max_batch: 8\n    prefill_tokens_per_s: 10000\n    decode_tokens_per_s: 100' });
    const reqs = Array.from({ length: 40 }, (_, i) => ({ t: i, input_tokens: 1000, output_tokens: 10, prefix_group: 'g' + (i % 2) }));
    const r = run(cfg, trace(reqs), { 'gpu-pool': { prefix_share: 0.5 } });
    // Two groups, each prefilled once cold: the other 38 hit 500 cached tokens each.
    expect(r.pools['gpu-pool']!.cached_input_tokens).toBe(38 * 500);
  });

  it('a provider timeout cancels the queued sequence and counts the attempt', () => {
    const cfg = config({ gpuTimeoutMs: 1500, routes: route('chat', 'gpu-pool', { providers: ['gpu'] }) });
    const r = run(cfg, trace(Array.from({ length: 8 }, () => ({ t: 0, input_tokens: 1, output_tokens: 1000 }))), { 'gpu-pool': { decode_slowdown: 0 } });
    // The 4 waiting would finish at 2 s > 1.5 s: they time out (no fallback condition: stop).
    expect(r.pools['gpu-pool']!.completed).toBe(4);
    expect(r.errors).toEqual({ timeout: 4 });
  });
});

describe('replay: determinism', () => {
  it('the same seed gives the same report, byte for byte; another seed moves the fault draws', () => {
    const cfg = config({
      apiSimulator: '{ ttft_ms: 100, tokens_per_s: 50, error_rate: 0.2, errors: { server_error: 1, rate_limited: 1, timeout: 1 } }',
      routes: route('chat', 'gpu-pool', { providers: ['gpu'], ttftMs: 300, fallback: ['backup'], fallbackCondition: ['5xx', 'queue_time_over_slo', 'timeout', 'rate_limited'], maxOut: 400 }) + route('backup', 'api-pool', { fallbackCondition: ['5xx', 'rate_limited'] }),
      gpu: 'replicas: 3\n    max_batch: 4\n    prefill_tokens_per_s: 5000\n    decode_tokens_per_s: 50',
    });
    const tr = generateColumns({ ...DEFAULT_SPEC, aliases: { chat: 1 }, tenants: { acme: 1 }, pattern: 'bursts', rate: 10, duration_s: 300, seed: 3, output_tokens: { dist: 'exponential', mean: 80, min: 1 }, prefix_groups: 4 });
    const pools = parsePoolsData({ seed: 5, pools: { 'gpu-pool': { error_rate: 0.05 } }, what_if: [{ name: 'more', pools: { 'gpu-pool': { replicas: 5 } } }] });
    const a = runReplayAll(tr, { config: cfg, configName: 'c', pools, poolsName: 'p', traceName: 't' });
    const b = runReplayAll(tr, { config: cfg, configName: 'c', pools, poolsName: 'p', traceName: 't' });
    expect(JSON.stringify(a.report)).toBe(JSON.stringify(b.report));
    expect(JSON.stringify(a.charts)).toBe(JSON.stringify(b.charts));
    const c = runReplayAll(tr, { config: cfg, configName: 'c', pools, poolsName: 'p', traceName: 't', seed: 6 });
    expect(JSON.stringify(c.report.errors)).not.toBe(JSON.stringify(a.report.errors));
    expect(a.report.requests).toBe(tr.length);
    expect(a.report.pools['api-pool']!.attempts).toBeGreaterThan(0);
  });
});

describe('replay fidelity: M/M/c against Erlang C', () => {
  // One replica with c batch slots, no decode slowdown, instant prefill: c servers and one FIFO queue.
  // Service = output tokens ÷ 1000 tok/s with exponential output (mean 1000 tokens): exponential, mean 1 s.
  const c = 4;
  for (const rho of [0.5, 0.8, 0.9]) {
    it(`utilization ${rho}: mean wait within 5% of Erlang C`, () => {
      const lambda = rho * c; // μ = 1/s
      const n = rho === 0.9 ? 600_000 : 300_000;
      const cfg = config({ routes: route('q', 'gpu-pool', { providers: ['gpu'], latencyMs: 1e9 }), gpu: `replicas: 1\n    max_batch: ${c}\n    prefill_tokens_per_s: 1000000000000\n    decode_tokens_per_s: 1000` });
      const tr = generateColumns({ ...DEFAULT_SPEC, aliases: { q: 1 }, tenants: { acme: 1 }, pattern: 'poisson', rate: lambda, duration_s: n / lambda, seed: 17, input_tokens: 1, output_tokens: { dist: 'exponential', mean: 1000, min: 1 } });
      const r = run(cfg, tr, { 'gpu-pool': { decode_slowdown: 0, prefix_cache_tokens: 0 } });
      let outSum = 0;
      for (let i = 0; i < tr.length; i++) outSum += tr.output[i]!;
      const mu = 1000 / (outSum / tr.length); // the sample's own service rate
      const expected = erlangCWait(c, tr.length / tr.durationS, mu) * 1000;
      const got = r.pools['gpu-pool']!.queue_time_ms.mean;
      expect(Math.abs(got - expected) / expected).toBeLessThan(0.05);
      expect(r.pools['gpu-pool']!.utilization).toBeCloseTo(rho, 1);
    }, 120_000);
  }
});
