import { afterEach, describe, expect, it, vi } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryTraceSink, SpanContext, TraceRecord } from '../../../core/telemetry/trace.js';
import { OtlpTraceSink, otlpHeadersFromEnv, otlpUrlFromEnv, spanJson, withOtlpExport } from '../../../core/telemetry/otlp.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: { resourceSpans: Array<{ resource: { attributes: Attr[] }; scopeSpans: Array<{ spans: Span[] }> }> };
}
interface Attr {
  key: string;
  value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean };
}
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attr[];
  status: { code: number; message?: string };
}

/** A local OTLP/HTTP receiver on port 0: records every POST; answers `status`. */
async function receiver(status = 200): Promise<{ url: string; got: Received[]; server: Server; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { url, got, server, close: () => new Promise((r) => server.close(() => r())) };
}

function record(i: number): { r: TraceRecord; s: SpanContext } {
  const r = new TraceRecord();
  r.request_id = `req_${i}`;
  r.ts = '2026-01-02T03:04:05.678Z';
  r.tenant = 'acme';
  r.alias = 'crm.summary.fast';
  r.route_lane = 'direct_small';
  r.pool_id = 'maas-openai';
  r.provider = 'openai';
  r.model = 'gpt-4o-mini';
  r.prompt_version = 3;
  r.attempts = [{ pool_id: 'maas-openai', provider: 'openai', status: 200, error_code: null, queue_time_ms: 1.5, latency_ms: 120, input_tokens: 812, cached_input_tokens: 0, output_tokens: 64, cost_usd: 0.00016 }];
  r.stop_reason = 'success';
  r.queue_time_ms = 1.5;
  r.ttft_ms = 40.25;
  r.latency_ms = 120.5;
  r.input_tokens = 812;
  r.output_tokens = 64;
  r.cost_usd = 0.00016;
  r.status = 200;
  r.outcome = 'success';
  const s = new SpanContext();
  s.traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  s.spanId = (0x1000000000000000 + i).toString(16).slice(0, 16);
  s.parentSpanId = '00f067aa0ba902b7';
  s.startUnixMs = 1767323045678.25;
  return { r, s };
}

const attrs = (s: Span) => Object.fromEntries(s.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.doubleValue ?? a.value.boolValue]));

describe('OTLP span export', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    vi.restoreAllMocks();
  });

  it('a span carries the GenAI and switchyard attributes, exact times and the parent', () => {
    const { r, s } = record(1);
    const span = JSON.parse(spanJson(r, s)) as Span;
    expect(span).toMatchObject({ traceId: s.traceId, spanId: s.spanId, parentSpanId: '00f067aa0ba902b7', name: 'chat crm.summary.fast', kind: 2, status: { code: 1 } });
    expect(span.startTimeUnixNano).toBe('1767323045678250000');
    expect(span.endTimeUnixNano).toBe('1767323045798750000');
    expect(attrs(span)).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'crm.summary.fast',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': '812',
      'gen_ai.usage.output_tokens': '64',
      'switchyard.alias': 'crm.summary.fast',
      'switchyard.lane': 'direct_small',
      'switchyard.pool_id': 'maas-openai',
      'switchyard.queue_time_ms': 1.5,
      'switchyard.cost_usd': 0.00016,
      'switchyard.attempts': '1',
      'switchyard.stop_reason': 'success',
      'switchyard.prompt_version': '3',
    });
  });

  it('client-supplied values (scenario, owner) are escaped: the span stays valid JSON', () => {
    const { r, s } = record(3);
    r.scenario_id = 'q"uote\\back\nline é 日本 \u0001';
    r.owner = '</script>';
    const span = JSON.parse(spanJson(r, s)) as Span;
    expect(attrs(span)['switchyard.scenario_id']).toBe(r.scenario_id);
    expect(attrs(span)['switchyard.owner']).toBe('</script>');
  });

  it('carries the rest of the trace record: key, cached and estimated tokens, failed check, policy violations, canary', () => {
    const { r, s } = record(4);
    r.key_id = 'k-acme';
    r.cached_input_tokens = 512;
    r.tokens_estimated = true;
    r.failed_check = 'finish_reason';
    r.policy_violations = ['default-pii:email', 'x"y'];
    r.canary = true;
    const span = JSON.parse(spanJson(r, s)) as Span;
    expect(attrs(span)).toMatchObject({ 'switchyard.key_id': 'k-acme', 'switchyard.cached_input_tokens': '512', 'switchyard.tokens_estimated': true, 'switchyard.failed_check': 'finish_reason', 'switchyard.canary': true });
    const pv = span.attributes.find((a) => a.key === 'switchyard.policy_violations')!.value as unknown as { arrayValue: { values: Array<{ stringValue: string }> } };
    expect(pv.arrayValue.values.map((v) => v.stringValue)).toEqual(['default-pii:email', 'x"y']);
  });

  it('an error span has status ERROR and error.type; no parent when the client sent none', () => {
    const { r, s } = record(2);
    r.status = 504;
    r.error_code = 'upstream_timeout';
    r.outcome = 'error';
    r.prompt_version = null;
    s.parentSpanId = '';
    const span = JSON.parse(spanJson(r, s)) as Span;
    expect(span.status).toEqual({ code: 2, message: 'upstream_timeout' });
    expect(span.parentSpanId).toBeUndefined();
    expect(attrs(span)['error.type']).toBe('upstream_timeout');
    expect(attrs(span)['switchyard.prompt_version']).toBeUndefined();
  });

  it('batches spans to a local receiver: by size, then the rest on flush; every record also reaches the inner sink', async () => {
    const rx = await receiver();
    closers.push(rx.close);
    const inner = new MemoryTraceSink();
    const sink = new OtlpTraceSink(inner, { url: rx.url, batchSize: 4, intervalMs: 60_000, headers: { 'x-tenant': 't1' } });
    for (let i = 0; i < 10; i++) {
      const { r, s } = record(i);
      sink.write(r, s);
    }
    // A record without a span (spans off) goes to the inner sink only.
    sink.write(record(99).r, null);
    await sink.flush();
    expect(inner.records).toHaveLength(11);
    expect(rx.got.map((g) => g.body.resourceSpans[0]!.scopeSpans[0]!.spans.length)).toEqual([4, 4, 2]);
    expect(rx.got[0]!.headers['content-type']).toBe('application/json');
    expect(rx.got[0]!.headers['x-tenant']).toBe('t1');
    expect(rx.got[0]!.body.resourceSpans[0]!.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'switchyard' } });
    const ids = rx.got.flatMap((g) => g.body.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => attrs(s)['switchyard.request_id']));
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `req_${i}`));
    expect(sink.exported).toBe(10);
    expect(sink.dropped).toBe(0);
    await sink.close();
  });

  it('exports on the timer without a flush', async () => {
    const rx = await receiver();
    closers.push(rx.close);
    const sink = new OtlpTraceSink(new MemoryTraceSink(), { url: rx.url, intervalMs: 20 });
    const { r, s } = record(1);
    sink.write(r, s);
    const end = Date.now() + 3000;
    while (rx.got.length === 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
    expect(rx.got).toHaveLength(1);
    await sink.close();
  });

  it('a collector that refuses or is down loses spans, counted and said once, never blocking writes', async () => {
    const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const rx = await receiver(500);
    closers.push(rx.close);
    const sink = new OtlpTraceSink(new MemoryTraceSink(), { url: rx.url, batchSize: 2, intervalMs: 60_000 });
    for (let i = 0; i < 4; i++) {
      const { r, s } = record(i);
      sink.write(r, s);
    }
    await sink.flush();
    expect(sink.dropped).toBe(4);
    expect(sink.exported).toBe(0);
    expect(warn.mock.calls.filter((c) => String(c[0]).includes('OTLP export')).length).toBe(1);
    await sink.close();
    // Nobody listening.
    const down = new OtlpTraceSink(new MemoryTraceSink(), { url: 'http://127.0.0.1:9/v1/traces', timeoutMs: 500 });
    const { r, s } = record(1);
    down.write(r, s);
    await down.close();
    expect(down.dropped).toBe(1);
  });

  it('a flush against a collector that hangs waits one timeout, not one per queued batch', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const hang = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { hang.closeAllConnections(); hang.close(() => r()); }));
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/v1/traces`;
    const sink = new OtlpTraceSink(new MemoryTraceSink(), { url, batchSize: 1, timeoutMs: 1000, intervalMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      const { r, s } = record(i);
      sink.write(r, s);
    }
    const t0 = performance.now();
    await sink.close();
    // Two batches were already in flight (one timeout), the other eight are dropped without waiting
    // (waiting for each pair would take five timeouts).
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(sink.dropped).toBe(10);
    expect(sink.exported).toBe(0);
  });

  it('a full queue drops new spans instead of growing', async () => {
    const rx = await receiver();
    closers.push(rx.close);
    const sink = new OtlpTraceSink(new MemoryTraceSink(), { url: rx.url, batchSize: 1000, maxQueue: 3, intervalMs: 60_000 });
    for (let i = 0; i < 5; i++) {
      const { r, s } = record(i);
      sink.write(r, s);
    }
    expect(sink.dropped).toBe(2);
    await sink.close();
    expect(sink.exported).toBe(3);
  });

  it('is enabled by the OpenTelemetry environment variables', () => {
    expect(otlpUrlFromEnv({})).toBeNull();
    expect(otlpUrlFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toBe('http://c:4318/v1/traces');
    expect(otlpUrlFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/x' })).toBe('http://t/x');
    expect(otlpHeadersFromEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'Api-Key=a%20b, x=1,bad, =2' })).toEqual({ 'api-key': 'a b', x: '1' });
    const inner = new MemoryTraceSink();
    expect(withOtlpExport(inner, {})).toBe(inner);
    expect(withOtlpExport(inner, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBeInstanceOf(OtlpTraceSink);
  });
});
