import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  resolveGpuPoolProfile,
  startGpuPoolSimulator,
  type GpuPoolProfile,
  type GpuPoolSimulator,
} from '../../simulators/gpu-pool.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

function chatBody(content: string, extra: Record<string, unknown> = {}, system?: string): string {
  const messages = system === undefined ? [{ role: 'user', content }] : [{ role: 'system', content: system }, { role: 'user', content }];
  return JSON.stringify({ model: 'llama-3.1-8b', messages, ...extra });
}

async function post(url: string, body: string, signal?: AbortSignal) {
  const res = await request(`${url}/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body, signal });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

/** Raw SSE: the `data:` payloads in order. */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

/** Prometheus text → { 'name{labels}': value } plus bare names for single-series metrics. */
async function scrape(url: string): Promise<Map<string, number>> {
  const res = await request(url);
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain/);
  const out = new Map<string, number>();
  for (const line of (await res.body.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const series = line.slice(0, sp);
    const value = Number(line.slice(sp + 1));
    out.set(series, value);
    const brace = series.indexOf('{');
    const name = brace < 0 ? series : series.slice(0, brace);
    if (!/finished_reason|le=/.test(series)) out.set(name, value);
  }
  return out;
}

/** Prompt tokens by the simulator's rule: ceil(chars / 4) + 3 per message. */
function tokens(...texts: string[]): number {
  return Math.ceil(texts.join('').length / 4) + 3 * texts.length;
}

const sims: GpuPoolSimulator[] = [];
async function start(profile: GpuPoolProfile): Promise<GpuPoolSimulator> {
  const sim = await startGpuPoolSimulator(profile);
  sims.push(sim);
  return sim;
}

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

// Fast pool for format tests: 16 tokens at 2,000/s ≈ 8 ms.
let sim: GpuPoolSimulator;
let clients: OpenAI[];
beforeAll(async () => {
  sim = await start({ replicas: 2, max_batch: 4, prefill_tokens_per_s: 100_000, decode_tokens_per_s: 2_000, seed: 1 });
  clients = sim.replicas.map((r) => new OpenAI({ apiKey: 'sk-local', baseURL: r.url, maxRetries: 0 }));
});

describe('gpu pool simulator: endpoints', () => {
  it('serves one OpenAI endpoint per replica; non-stream answer with usage and x-queue-time-ms', async () => {
    expect(sim.replicas).toHaveLength(2);
    const [r0, r1] = sim.replicas;
    expect(r0!.port).not.toBe(r1!.port);
    expect(r0!.url).toBe(`http://127.0.0.1:${r0!.port}/v1`);
    expect(r1!.metricsUrl).toBe(`http://127.0.0.1:${r1!.port}/metrics`);

    const content = 'Summarize the account note please';
    const { data, response } = await clients[1]!.chat.completions
      .create({ model: 'llama-3.1-8b', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }] })
      .withResponse();
    expect(response.headers.get('x-queue-time-ms')).toBe('0');
    expect(response.headers.get('x-request-id')).toBe(data.id);
    expect(data.object).toBe('chat.completion');
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.model).toBe('llama-3.1-8b');
    const choice = data.choices[0]!;
    expect(choice.message.role).toBe('assistant');
    expect(choice.finish_reason).toBe('stop');
    expect(choice.message.content!.split(' ')).toHaveLength(16);
    expect(data.usage).toEqual({
      prompt_tokens: tokens('be brief', content),
      completion_tokens: 16,
      total_tokens: tokens('be brief', content) + 16,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    });
    expect(sim.stats.replicas[1]!.requests).toBe(1);
    expect(sim.stats.replicas[0]!.requests).toBe(0);
    expect(sim.stats.lastRequest).toMatchObject({ replica: 1 });
    expect(sim.stats.lastRequest!.headers.authorization).toBe('Bearer sk-local');
    expect(sim.stats.requestLog.at(-1)).toMatchObject({ id: data.id, replica: 1, status: 200, completion_tokens: 16, queue_time_ms: 0 });
  });

  it('streams with include_usage; a repeated prefix hits the cache on the same replica only', async () => {
    const system = 'You are the account assistant. '.repeat(12); // 372 chars: a 96-token prefix
    const prefixTokens = tokens(system);
    const streamUsage = async (replica: number, content: string) => {
      const stream = await clients[replica]!.chat.completions.create({
        model: 'llama-3.1-8b',
        messages: [{ role: 'system', content: system }, { role: 'user', content }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      let finish: string | null = null;
      for await (const c of stream) {
        text += c.choices[0]?.delta.content ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
        if (c.usage) usage = c.usage;
      }
      expect(finish).toBe('stop');
      expect(text.split(' ')).toHaveLength(16);
      return usage!;
    };
    const first = await streamUsage(0, 'first question');
    expect(first.prompt_tokens).toBe(tokens(system, 'first question'));
    expect(first.prompt_tokens_details?.cached_tokens).toBe(0);
    const second = await streamUsage(0, 'a different second question');
    expect(second.prompt_tokens_details?.cached_tokens).toBe(prefixTokens);
    expect(second.completion_tokens).toBe(16);
    // Replica 1 has its own cache: a miss, then a hit.
    expect((await streamUsage(1, 'first question')).prompt_tokens_details?.cached_tokens).toBe(0);
    expect((await streamUsage(1, 'third')).prompt_tokens_details?.cached_tokens).toBe(prefixTokens);
    // The same via non-stream, and the prefix counters in /metrics.
    const whole = await clients[0]!.chat.completions.create({
      model: 'llama-3.1-8b',
      messages: [{ role: 'system', content: system }, { role: 'user', content: 'fourth' }],
    });
    expect(whole.usage!.prompt_tokens_details!.cached_tokens).toBe(prefixTokens);
    const m = await scrape(sim.replicas[0]!.metricsUrl);
    expect(m.get('vllm:gpu_prefix_cache_hits_total')).toBe(2 * prefixTokens);
    expect(m.get('vllm:gpu_prefix_cache_queries_total')).toBeGreaterThan(3 * prefixTokens);
    expect(m.get('vllm:gpu_cache_usage_perc')).toBeGreaterThan(0); // the cached prefix holds KV
  });

  it('raw SSE: role chunk, one chunk per token, finish chunk, usage chunk, [DONE]', async () => {
    const body = chatBody('stream me [sim:output_tokens=5]', { stream: true, stream_options: { include_usage: true } });
    const r = await post(sim.replicas[0]!.url, body);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.headers['x-queue-time-ms']).toBe('0');
    const data = sseData(r.text);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks).toHaveLength(1 + 5 + 1 + 1);
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0].id);
    }
    expect(chunks[0].choices[0].delta).toMatchObject({ role: 'assistant', content: '' });
    expect(chunks[6].choices[0].finish_reason).toBe('stop');
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
    expect(chunks[7].choices).toEqual([]);
    expect(chunks[7].usage).toMatchObject({ completion_tokens: 5, prompt_tokens_details: { cached_tokens: 0 } });
    // Without include_usage: no usage fields at all.
    const plain = sseData((await post(sim.replicas[0]!.url, chatBody('plain [sim:output_tokens=3]', { stream: true }))).text);
    for (const d of plain.slice(0, -1)) expect('usage' in JSON.parse(d)).toBe(false);
  });

  it('directives and limits: output_tokens, max_tokens → length, 500, 503, reset', async () => {
    const url = sim.replicas[1]!.url;
    const long = JSON.parse((await post(url, chatBody('long [sim:output_tokens=40]'))).text);
    expect(long.usage.completion_tokens).toBe(40);
    const cut = JSON.parse((await post(url, chatBody('cut', { max_tokens: 5 }))).text);
    expect(cut.choices[0].finish_reason).toBe('length');
    expect(cut.usage.completion_tokens).toBe(5);
    const a = await post(url, chatBody('x [sim:fault=500]'));
    expect(a.status).toBe(500);
    expect(JSON.parse(a.text).error.type).toBe('server_error');
    expect((await post(url, chatBody('x [sim:fault=503]'))).status).toBe(503);
    await expect(
      clients[1]!.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x [sim:fault=500]' }] }),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const resets = sim.stats.byStatus.reset ?? 0;
    await expect(post(url, chatBody('x [sim:fault=reset]'))).rejects.toThrow();
    expect(sim.stats.byStatus.reset).toBe(resets + 1);
    expect((await post(url, chatBody('x [sim:fault=nope]'))).status).toBe(400);
    expect((await post(url, chatBody('x [sim:speed=2]'))).status).toBe(400);
    expect((await post(url, chatBody('still alive'))).status).toBe(200);
  });

  it('models list, metrics format, 404 catch-all, bad JSON', async () => {
    const models = await clients[0]!.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['llama-3.1-8b']);
    const text = await (await request(sim.replicas[1]!.metricsUrl)).body.text();
    for (const name of [
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:gpu_cache_usage_perc',
      'switchyard_sim_expected_queue_time_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} gauge\n${name}{model_name="llama-3.1-8b"} `);
    }
    expect(text).toContain('# TYPE vllm:request_queue_time_seconds histogram');
    expect(text).toMatch(/vllm:request_queue_time_seconds_bucket\{model_name="llama-3.1-8b",le="\+Inf"\} \d+/);
    const m = await scrape(sim.replicas[1]!.metricsUrl);
    expect(m.get('vllm:num_requests_running')).toBe(0);
    expect(m.get('vllm:num_requests_waiting')).toBe(0);
    expect(m.get('switchyard_sim_expected_queue_time_seconds')).toBe(0);
    expect(m.get('vllm:generation_tokens_total')).toBeGreaterThan(0);
    const nf = await request(`${sim.replicas[0]!.url}/nope`);
    expect(nf.statusCode).toBe(404);
    expect(JSON.parse(await nf.body.text()).error.message).toContain('/v1/nope');
    const bad = await post(sim.replicas[0]!.url, '{not json');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.type).toBe('invalid_request_error');
    expect((await post(sim.replicas[0]!.url, JSON.stringify({ model: 'm', messages: [] }))).status).toBe(400);
  });

  it('is deterministic: same seed and requests → same text; another seed → different text', async () => {
    const a = await start({ replicas: 1, max_batch: 4, prefill_tokens_per_s: 100_000, decode_tokens_per_s: 5_000, seed: 7 });
    const b = await start({ replicas: 1, max_batch: 4, prefill_tokens_per_s: 100_000, decode_tokens_per_s: 5_000, seed: 7 });
    const c = await start({ replicas: 1, max_batch: 4, prefill_tokens_per_s: 100_000, decode_tokens_per_s: 5_000, seed: 8 });
    const text = async (s: GpuPoolSimulator, q: string) => JSON.parse((await post(s.replicas[0]!.url, chatBody(q))).text).choices[0].message.content;
    const ta = [await text(a, 'one'), await text(a, 'two')];
    expect([await text(b, 'one'), await text(b, 'two')]).toEqual(ta);
    expect(ta[1]).not.toBe(ta[0]);
    expect(await text(c, 'one')).not.toBe(ta[0]);
  });
});

describe('gpu pool simulator: capacity under load', () => {
  // max_batch 2; 20 tokens at 200/s × 0.75 (two running) ≈ 133 ms each.
  const LOAD: GpuPoolProfile = { replicas: 2, max_batch: 2, prefill_tokens_per_s: 200_000, decode_tokens_per_s: 200, output_tokens: 20, seed: 3 };

  it('queues beyond max_batch: /metrics shows waiting requests, queued answers carry x-queue-time-ms > 0', async () => {
    const pool = await start(LOAD);
    const [r0, r1] = pool.replicas;
    const inflight = Array.from({ length: 6 }, (_, i) =>
      post(r0!.url, chatBody(`load ${i}`, i % 2 === 0 ? { stream: true, stream_options: { include_usage: true } } : {})),
    );
    let busy = new Map<string, number>();
    await vi.waitFor(
      async () => {
        busy = await scrape(r0!.metricsUrl);
        expect(busy.get('vllm:num_requests_waiting')).toBeGreaterThan(0);
      },
      { timeout: 2000, interval: 5 },
    );
    expect(busy.get('vllm:num_requests_running')).toBe(2);
    expect(busy.get('switchyard_sim_expected_queue_time_seconds')).toBeGreaterThan(0.1);
    expect(busy.get('vllm:gpu_cache_usage_perc')).toBeGreaterThan(0);
    const idle = await scrape(r1!.metricsUrl);
    expect(idle.get('vllm:num_requests_running')).toBe(0);
    expect(idle.get('vllm:num_requests_waiting')).toBe(0);

    const results = await Promise.all(inflight);
    for (const r of results) expect(r.status).toBe(200);
    const queue = results.map((r) => Number(r.headers['x-queue-time-ms'])).sort((x, y) => x - y);
    expect(queue.slice(0, 2)).toEqual([0, 0]);
    // ≈ 133, 133, 267, 267 ms when all six arrive at once (less if the client was slow to send them).
    for (const q of queue.slice(2)) expect(q).toBeGreaterThan(0);
    expect(queue[4]).toBeGreaterThan(queue[2]! + 50); // the third wave waited for two before it
    // Streams end with usage; all complete with 20 tokens.
    for (let i = 0; i < 6; i += 2) {
      const chunks = sseData(results[i]!.text);
      expect(chunks.at(-1)).toBe('[DONE]');
      expect(JSON.parse(chunks.at(-2)!).usage.completion_tokens).toBe(20);
    }
    const logged = pool.stats.requestLog.map((e) => e.queue_time_ms).sort((x, y) => x - y);
    expect(logged.map((q) => Math.round(q * 1000) / 1000)).toEqual(queue);
    expect(pool.stats.replicas[0]).toMatchObject({ requests: 6, peakRunning: 2 });
    expect(pool.stats.replicas[0]!.peakWaiting).toBeGreaterThanOrEqual(1);

    const after = await scrape(r0!.metricsUrl);
    expect(after.get('vllm:num_requests_running')).toBe(0);
    expect(after.get('vllm:num_requests_waiting')).toBe(0);
    expect(after.get('vllm:generation_tokens_total')).toBe(120);
    expect(after.get('vllm:request_queue_time_seconds_count')).toBe(6);
    expect(after.get('vllm:request_queue_time_seconds_sum')).toBeGreaterThan(0.4);
    expect(after.get('vllm:request_success_total{finished_reason="stop",model_name="llama-3.1-8b"}')).toBe(6);
  });

  it('paces streamed tokens at the decode rate', async () => {
    const pool = await start({ ...LOAD, replicas: 1 });
    const t = performance.now();
    const res = await request(`${pool.replicas[0]!.url}/chat/completions`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: chatBody('paced', { stream: true }),
    });
    let reads = 0;
    let text = '';
    for await (const buf of res.body) {
      reads++;
      text += buf.toString();
    }
    const elapsed = performance.now() - t;
    expect(elapsed).toBeGreaterThanOrEqual(95); // 20 tokens at 200/s = 100 ms
    expect(elapsed).toBeLessThan(2000);
    expect(reads).toBeGreaterThan(2);
    expect(sseData(text).at(-1)).toBe('[DONE]');
  });

  it('a client that goes away frees its slot for the next in the queue', async () => {
    const pool = await start({ ...LOAD, replicas: 1 });
    const r = pool.replicas[0]!;
    const ctl = new AbortController();
    const slow = [0, 1].map((i) =>
      post(r.url, chatBody(`slow ${i} [sim:output_tokens=2000]`, { stream: true }), ctl.signal).catch((e: Error) => e),
    );
    await vi.waitFor(() => expect(r.model.numRunning).toBe(2), { timeout: 2000, interval: 5 });
    const next = post(r.url, chatBody('next'));
    await vi.waitFor(() => expect(r.model.numWaiting).toBe(1), { timeout: 2000, interval: 5 });
    const t = performance.now();
    ctl.abort();
    const res = await next;
    expect(res.status).toBe(200);
    expect(performance.now() - t).toBeLessThan(1000); // not the ~13 s the slow ones would take
    expect(Number(res.headers['x-queue-time-ms'])).toBeGreaterThan(0);
    for (const s of await Promise.all(slow)) expect(s).toBeInstanceOf(Error);
    await vi.waitFor(() => expect(pool.stats.byStatus.aborted).toBe(2));
    const m = await scrape(r.metricsUrl);
    expect(m.get('vllm:num_requests_running')).toBe(0);
    expect(m.get('vllm:request_success_total{finished_reason="abort",model_name="llama-3.1-8b"}')).toBe(2);
  });

  it('close() ends queued and running requests and stops listening', async () => {
    const pool = await startGpuPoolSimulator({ ...LOAD, replicas: 2 });
    const url = pool.replicas[0]!.url;
    const pending = [0, 1, 2].map((i) => post(url, chatBody(`held ${i} [sim:output_tokens=5000]`)).catch((e: Error) => e));
    await vi.waitFor(() => expect(pool.replicas[0]!.model.numWaiting).toBe(1), { timeout: 2000, interval: 5 });
    await pool.close();
    await pool.close(); // idempotent
    for (const p of await Promise.all(pending)) expect(p).toBeInstanceOf(Error);
    expect(pool.stats.byStatus.aborted).toBe(3);
    await expect(post(url, chatBody('after close'))).rejects.toThrow();
    await expect(post(pool.replicas[1]!.url, chatBody('after close'))).rejects.toThrow();
  });
});

describe('gpu pool simulator: profile', () => {
  it('validates and fills defaults; accepts a pool config entry', () => {
    const p = resolveGpuPoolProfile({ replicas: 2, max_batch: 8, prefill_tokens_per_s: 20000, decode_tokens_per_s: 60 });
    expect(p).toMatchObject({ seed: 1, prefix_cache_tokens: 262_144, output_tokens: { min: 16, max: 16 }, decode_slowdown: 0.5, models: ['llama-3.1-8b'] });
    const pool = { id: 'gpu-a', kind: 'self_hosted', members: [], replicas: 4, max_batch: 64, prefill_tokens_per_s: 20000, decode_tokens_per_s: 60, gpu_hour_usd: 2.5 };
    expect(resolveGpuPoolProfile(pool as GpuPoolProfile).replicas).toBe(4);
    const base = { replicas: 1, max_batch: 1, prefill_tokens_per_s: 1, decode_tokens_per_s: 1 };
    expect(() => resolveGpuPoolProfile({ ...base, max_batch: 0 })).toThrow('invalid gpu pool profile: max_batch: must be >= 1');
    expect(() => resolveGpuPoolProfile({ ...base, decode_tokens_per_s: 0 })).toThrow(/decode_tokens_per_s: must be > 0/);
    expect(() => resolveGpuPoolProfile({ ...base, output_tokens: { min: 5, max: 2 } })).toThrow(/output_tokens.max/);
    expect(() => resolveGpuPoolProfile({ ...base, typo: 1 } as GpuPoolProfile)).toThrow(/typo: unknown field/);
  });
});
