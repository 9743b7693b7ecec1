// Stream backpressure (uWS rule 6): when the client's side is full, the gateway stops reading the
// provider until the sink says it drained. Driven through Gateway.handle with a sink that reports full.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePlan, Gateway, IngressRequest, MemoryTraceSink, parseConfigText, type Sink, type SinkListener } from '../../../core/index.js';
import { startConfiguredSimulators } from '../../../cli/serve.js';
import { DEMO_KEY, eventually, testConfigYaml } from '../../helpers/stack.js';
import type { MaasSimulator } from '../../../simulators/index.js';

/** A sink whose buffer holds `limit` bytes until drain() is called. */
class SlowSink implements Sink {
  closed = false;
  listener: SinkListener | null = null;
  buffered = 0;
  total = 0;
  writesWhileFull = 0;
  full = false;
  ended = false;
  status = 0;
  constructor(private readonly limit: number) {}
  attach(l: SinkListener): void {
    this.listener = l;
  }
  send(status: number): void {
    this.status = status;
    this.closed = true;
  }
  begin(status: number): void {
    this.status = status;
  }
  write(chunk: string): boolean {
    if (this.full) this.writesWhileFull++;
    this.buffered += chunk.length;
    this.total += chunk.length;
    this.full = this.buffered >= this.limit;
    return !this.full;
  }
  drain(): void {
    this.buffered = 0;
    this.full = false;
    this.listener?.onWritable();
  }
  end(): void {
    this.ended = true;
    this.closed = true;
  }
}

describe('streaming backpressure', () => {
  let sims: MaasSimulator[];
  let gateway: Gateway;
  const traces = new MemoryTraceSink();

  beforeAll(async () => {
    const parsed = parseConfigText(testConfigYaml({ simulator: '{ seed: 5, tokens_per_s: 20000, output_tokens: 20000 }', tokenBudget: '{ max_input_tokens: 8000, max_output_tokens: 30000 }' }));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const started = await startConfiguredSimulators(parsed.config, '127.0.0.1');
    sims = started.sims;
    gateway = new Gateway({ plan: compilePlan(parsed.config, { providerBaseUrls: started.urls, env: { SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p' } }), traces });
  });
  afterAll(async () => {
    await gateway.upstream.destroy();
    await gateway.close();
    await Promise.all(sims.map((s) => s.close()));
  });

  it('pauses the provider while the client is full and resumes on drain, losing nothing', async () => {
    const sink = new SlowSink(16 * 1024);
    const req = new IngressRequest();
    req.method = 'POST';
    req.path = '/v1/chat/completions';
    req.authorization = `Bearer ${DEMO_KEY}`;
    req.contentType = 'application/json';
    req.body = Buffer.from(JSON.stringify({ model: 'demo.chat', stream: true, max_tokens: 20000, messages: [{ role: 'user', content: 'a long answer please' }] }));
    gateway.handle(req, sink);

    await eventually(() => sink.full, 5000);
    // While full, at most what was already decoded from the chunk in hand may arrive; then nothing.
    const atFull = sink.total;
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.total - atFull).toBeLessThan(64 * 1024);
    expect(sink.ended).toBe(false);
    const paused = sink.total;
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.total).toBe(paused); // really paused: the provider is not being read

    // Drain repeatedly: the stream resumes and completes with [DONE].
    const deadline = Date.now() + 20_000;
    while (!sink.ended && Date.now() < deadline) {
      sink.drain();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(sink.ended).toBe(true);
    await eventually(() => traces.records.length === 1);
    const t = traces.records[0]!;
    expect(t.status).toBe(200);
    expect(t.output_tokens).toBe(20000);
    expect(t.tokens_estimated).toBe(false);
  });
});
