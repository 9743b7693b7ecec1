// OTLP/HTTP (JSON) span export: each request's trace record becomes one span with the OpenTelemetry GenAI
// attributes and the `switchyard.*` route attributes (CONTRACT.md, "Trace record"). Enabled by
// OTEL_EXPORTER_OTLP_ENDPOINT (spans go to `<endpoint>/v1/traces`) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// (the full URL). Off the request path: a record is serialized when it is written (so no record outlives
// its request), kept in a bounded queue, and POSTed in batches on a timer or when a batch is full. When
// the collector is slow or down, spans beyond the queue bound are dropped and counted, never waited for.

import { request } from 'undici';
import type { SpanContext, TraceRecord, TraceSink } from './trace.js';

export interface OtlpOptions {
  /** Full URL of the traces endpoint (`.../v1/traces`). */
  url: string;
  /** Extra request headers (OTEL_EXPORTER_OTLP_HEADERS). */
  headers?: Record<string, string>;
  /** service.name of the resource. */
  serviceName?: string;
  /** Export at least this often, ms. */
  intervalMs?: number;
  /** Spans per request to the collector. */
  batchSize?: number;
  /** Spans kept waiting at most; more are dropped (and counted). */
  maxQueue?: number;
  /** Per export request, ms. */
  timeoutMs?: number;
}

/** The traces URL from the standard OpenTelemetry environment variables, or null when export is off. */
export function otlpUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces !== undefined && traces !== '') return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (base === undefined || base === '') return null;
  return base.replace(/\/+$/, '') + '/v1/traces';
}

/** OTEL_EXPORTER_OTLP_HEADERS: `k1=v1,k2=v2` (values URL-encoded). */
export function otlpHeadersFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS ?? '';
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? '' : part.slice(0, eq).trim().toLowerCase();
    if (name === '') continue;
    try {
      out[name] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      // A malformed value is skipped, not fatal.
    }
  }
  return out;
}

/** A JSON string literal; most values (config names, codes) need no escaping, and skip JSON.stringify. */
function q(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || c > 126) return JSON.stringify(v);
  }
  return '"' + v + '"';
}

// Attribute openings, built once: `{"key":"...","value":{"<type>Value":`.
const S = (key: string) => '{"key":"' + key + '","value":{"stringValue":';
const I = (key: string) => '{"key":"' + key + '","value":{"intValue":"';
const D = (key: string) => '{"key":"' + key + '","value":{"doubleValue":';
const A_OPERATION = S('gen_ai.operation.name') + '"chat"}}';
const A_REQUEST_MODEL = S('gen_ai.request.model');
const A_ALIAS = ',' + S('switchyard.alias');
const A_LANE = ',' + S('switchyard.lane');
const A_POOL = ',' + S('switchyard.pool_id');
const A_QUEUE = ',' + D('switchyard.queue_time_ms');
const A_COST = ',' + D('switchyard.cost_usd');
const A_ATTEMPTS = ',' + I('switchyard.attempts');
const A_STOP = ',' + S('switchyard.stop_reason');
const A_REQUEST_ID = ',' + S('switchyard.request_id');
const A_TENANT = ',' + S('switchyard.tenant');
const A_OUTCOME = ',' + S('switchyard.outcome');
const A_CACHE = ',' + S('switchyard.cache');
const A_STATUS = ',' + I('http.response.status_code');
const A_PROVIDER = ',' + S('gen_ai.provider.name');
const A_RESPONSE_MODEL = ',' + S('gen_ai.response.model');
const A_INPUT = ',' + I('gen_ai.usage.input_tokens');
const A_OUTPUT = ',' + I('gen_ai.usage.output_tokens');
const A_PROMPT_VERSION = ',' + I('switchyard.prompt_version');
const A_OWNER = ',' + S('switchyard.owner');
const A_SCENARIO = ',' + S('switchyard.scenario_id');
const A_TTFT = ',' + D('switchyard.ttft_ms');
const A_CANARY = ',{"key":"switchyard.canary","value":{"boolValue":true}}';
const A_ERROR = ',' + S('error.type');
const A_KEY = ',' + S('switchyard.key_id');
const A_CACHED = ',' + I('switchyard.cached_input_tokens');
const A_ESTIMATED = ',{"key":"switchyard.tokens_estimated","value":{"boolValue":true}}';
const A_FAILED_CHECK = ',' + S('switchyard.failed_check');
const A_VIOLATIONS = ',{"key":"switchyard.policy_violations","value":{"arrayValue":{"values":[';
const END = '}}';
const INT_END = '"}}';

function dbl(v: number): string {
  return Number.isFinite(v) ? String(v) : '0';
}

/** Epoch ms (fractional) → OTLP's nanoseconds as a decimal string (exact to the µs, no BigInt). */
function nanos(ms: number): string {
  const us = Math.round(ms * 1000);
  return us <= 0 ? '0' : String(us) + '000';
}

/** One trace record as an OTLP span (JSON text). Runs once per request: concatenation only. */
export function spanJson(r: TraceRecord, span: SpanContext): string {
  const start = span.startUnixMs > 0 ? span.startUnixMs : Date.parse(r.ts);
  const alias = q(r.alias);
  let attrs =
    A_OPERATION + ',' + A_REQUEST_MODEL + alias + END + A_ALIAS + alias + END +
    A_LANE + q(r.route_lane) + END + A_POOL + q(r.pool_id) + END +
    A_QUEUE + dbl(r.queue_time_ms) + END + A_COST + dbl(r.cost_usd) + END +
    A_ATTEMPTS + r.attempts.length + INT_END + A_STOP + q(r.stop_reason) + END +
    A_REQUEST_ID + q(r.request_id) + END + A_TENANT + q(r.tenant) + END +
    A_OUTCOME + q(r.outcome) + END + A_CACHE + q(r.cache) + END + A_STATUS + r.status + INT_END;
  if (r.provider !== '') attrs += A_PROVIDER + q(r.provider) + END;
  if (r.model !== '') attrs += A_RESPONSE_MODEL + q(r.model) + END;
  if (r.status === 200 || r.input_tokens > 0) attrs += A_INPUT + Math.round(r.input_tokens) + INT_END + A_OUTPUT + Math.round(r.output_tokens) + INT_END;
  if (r.prompt_version !== null) attrs += A_PROMPT_VERSION + r.prompt_version + INT_END;
  if (r.owner !== '') attrs += A_OWNER + q(r.owner) + END;
  if (r.scenario_id !== '') attrs += A_SCENARIO + q(r.scenario_id) + END;
  if (r.ttft_ms !== null) attrs += A_TTFT + dbl(r.ttft_ms) + END;
  if (r.canary) attrs += A_CANARY;
  if (r.error_code !== null) attrs += A_ERROR + q(r.error_code) + END;
  if (r.key_id !== '') attrs += A_KEY + q(r.key_id) + END;
  if (r.cached_input_tokens > 0) attrs += A_CACHED + Math.round(r.cached_input_tokens) + INT_END;
  if (r.tokens_estimated) attrs += A_ESTIMATED;
  if (r.failed_check !== null) attrs += A_FAILED_CHECK + q(r.failed_check) + END;
  const pv = r.policy_violations;
  if (pv.length > 0) {
    attrs += A_VIOLATIONS;
    for (let i = 0; i < pv.length; i++) attrs += (i > 0 ? ',' : '') + '{"stringValue":' + q(pv[i]!) + '}';
    attrs += ']}}}';
  }
  const ok = r.status > 0 && r.status < 400;
  return (
    '{"traceId":"' + span.traceId + '","spanId":"' + span.spanId + '"' +
    (span.parentSpanId !== '' ? ',"parentSpanId":"' + span.parentSpanId + '"' : '') +
    ',"name":' + q('chat ' + r.alias) +
    ',"kind":2,"startTimeUnixNano":"' + nanos(start) + '","endTimeUnixNano":"' + nanos(start + r.latency_ms) + '"' +
    ',"attributes":[' + attrs + ']' +
    ',"status":' + (ok ? '{"code":1}' : '{"code":2,"message":' + q(r.error_code ?? 'HTTP ' + r.status) + '}') +
    '}'
  );
}

interface Batch {
  buf: Buffer;
  used: number;
  spans: number;
}

/**
 * Writes every record to `inner` (the JSONL trace file) and exports it as a span. Each span is serialized
 * when written and copied at once into a preallocated batch buffer, so no string outlives its request
 * (strings held for a batch would survive young-generation GCs and be promoted; the JSONL sink measured
 * ~10 µs a request from that). A full batch (or the timer) sends the buffer as one request body; buffers
 * (1 MiB, ~600 spans) are recycled, and at most `maxQueue` spans wait. close() flushes what is queued
 * (bounded by the request timeout; dropped at once while the collector is failing) and closes `inner`.
 */
export class OtlpTraceSink implements TraceSink {
  private cur: Batch;
  /** Finished batches waiting for a free connection. */
  private pending: Batch[] = [];
  private readonly spare: Buffer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private sending = 0;
  private waitingSpans = 0;
  private closed = false;
  /** Set when an export fails; a flush then drops what is still queued instead of waiting on a dead collector. */
  private failedSince = false;
  /** Spans dropped because the queue was full or the collector refused them. */
  dropped = 0;
  /** Spans the collector accepted. */
  exported = 0;
  private warned = 0;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly prefix: Buffer;
  private readonly suffix = Buffer.from(']}]}]}');
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly bufferBytes: number;

  constructor(
    private readonly inner: TraceSink,
    opts: OtlpOptions,
  ) {
    this.url = opts.url;
    this.headers = { 'content-type': 'application/json', ...opts.headers };
    this.intervalMs = opts.intervalMs ?? 1000;
    this.batchSize = opts.batchSize ?? 512;
    this.maxQueue = opts.maxQueue ?? 8192;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.bufferBytes = 1 << 20;
    this.prefix = Buffer.from(
      '{"resourceSpans":[{"resource":{"attributes":[' + S('service.name') + q(opts.serviceName ?? 'switchyard') + END + ',' + S('telemetry.sdk.name') + '"switchyard"' + END +
        ']},"scopeSpans":[{"scope":{"name":"switchyard.gateway","version":"0.1.0"},"spans":[',
    );
    this.cur = this.newBatch();
  }

  private newBatch(): Batch {
    const buf = this.spare.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
    this.prefix.copy(buf, 0);
    return { buf, used: this.prefix.length, spans: 0 };
  }

  write(record: TraceRecord, span?: SpanContext | null): void {
    this.inner.write(record, span);
    if (this.closed || span == null || span.spanId === '' || !span.sampled) return;
    if (this.waitingSpans >= this.maxQueue) {
      this.dropped++;
      return;
    }
    const json = spanJson(record, span);
    // At most 3 bytes per UTF-16 unit, a comma, and the suffix: make room before copying.
    const need = json.length * 3 + 1 + this.suffix.length;
    let b = this.cur;
    if (b.used + need > b.buf.length && b.spans > 0) {
      this.finish();
      b = this.cur;
    }
    if (b.used + need > b.buf.length) {
      // One span larger than a batch buffer: a buffer of its own.
      const big = Buffer.allocUnsafe(this.prefix.length + need);
      this.prefix.copy(big, 0);
      b.buf = big;
    }
    if (b.spans > 0) b.buf[b.used++] = 44; // ','
    b.used += b.buf.write(json, b.used);
    b.spans++;
    this.waitingSpans++;
    if (b.spans >= this.batchSize) this.finish();
    else if (this.timer === null) {
      this.timer = setTimeout(sendSoon, this.intervalMs, this);
      this.timer.unref();
    }
  }

  /** Close the current batch and queue it for sending. */
  private finish(): void {
    const b = this.cur;
    if (b.spans === 0) return;
    b.used += this.suffix.copy(b.buf, b.used);
    this.pending.push(b);
    this.cur = this.newBatch();
    this.send();
  }

  /** @internal Send queued batches (at most two requests in flight; the rest waits for one to end). */
  send(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0 && this.cur.spans > 0 && this.sending < 2) return this.finish();
    while (this.pending.length > 0 && this.sending < 2) {
      const b = this.pending.shift()!;
      this.sending++;
      const p = this.post(b).finally(() => {
        this.sending--;
        if (b.buf.length === this.bufferBytes && this.spare.length < 2) this.spare.push(b.buf);
        if ((this.pending.length > 0 || this.cur.spans > 0) && this.timer === null && !this.closed) {
          if (this.pending.length > 0) this.send();
          else {
            this.timer = setTimeout(sendSoon, this.intervalMs, this);
            this.timer.unref();
          }
        }
      });
      this.inFlight = Promise.all([this.inFlight, p]).then(noop);
    }
  }

  private async post(b: Batch): Promise<void> {
    this.waitingSpans -= b.spans;
    if (this.failedSince && this.flushing) {
      // Flushing (shutdown) while the collector is failing: do not wait a timeout per batch.
      this.fail(b.spans, 'collector failing during flush');
      return;
    }
    try {
      const res = await request(this.url, { method: 'POST', headers: this.headers, body: b.buf.subarray(0, b.used), headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.exported += b.spans;
        this.failedSince = false;
      }
      else this.fail(b.spans, `HTTP ${res.statusCode}`);
    } catch (err) {
      this.fail(b.spans, (err as Error).message);
    }
  }

  private fail(n: number, why: string): void {
    this.dropped += n;
    this.failedSince = true;
    // Say so, but not once per batch while a collector is down.
    if (this.warned++ % 100 === 0) process.stderr.write(`switchyard: OTLP export to ${this.url} failed (${why}); ${n} spans dropped\n`);
  }

  /** Export everything queued now, and wait for it. */
  async flush(): Promise<void> {
    await this.inner.flush();
    this.flushing = true;
    try {
      this.finish();
      while (this.pending.length > 0 || this.sending > 0) {
        this.send();
        await this.inFlight;
      }
    } finally {
      this.flushing = false;
    }
  }
  private flushing = false;

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.inner.close();
  }
}

function sendSoon(sink: OtlpTraceSink): void {
  sink.send();
}

function noop(): void {}

/** `inner`, wrapped in an OTLP exporter when the environment asks for one. */
export function withOtlpExport(inner: TraceSink, env: NodeJS.ProcessEnv = process.env): TraceSink {
  const url = otlpUrlFromEnv(env);
  if (url === null) return inner;
  return new OtlpTraceSink(inner, { url, headers: otlpHeadersFromEnv(env), serviceName: env.OTEL_SERVICE_NAME || 'switchyard' });
}
