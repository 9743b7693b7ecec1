// The Gateway: what transports call (handle), the state requests share (Plan, caches, upstream pools,
// limit store, load board, retry budget, batch jobs), and the small endpoints. A chat request runs as a
// ChatCall (chat-call.ts), in this order:
//   authenticate → parse + validate → resolve alias → attribute → classify lane → canary arm → choose
//   pool member → token budget → admission (reserve limits) → call upstream (deadline, abort, retries,
//   fallbacks) → translate back → settle (reconcile limits, trace)

import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { ERRORS, anthropicErrorBody, openAIErrorBody, type ErrorCode } from '../errors.js';
import type { KeyRecord, Plan, ProviderContext, RouteContext } from '../config/plan.js';
import { MemberHealth } from '../routing/health.js';
import { LoadBoard } from '../routing/selector.js';
import { LoadReporter } from '../upstream/load-reports.js';
import { RetryBudget } from '../routing/retry.js';
import { OpenAIChatTranslator } from '../providers/openai/chat.js';
import type { Translator } from '../providers/translator.js';
import { ANTHROPIC_VERSION } from '../providers/anthropic/wire.js';
import { anthropicStatus } from './ingress.js';
import { UpstreamClient } from '../upstream/client.js';
import { DeadlineList } from '../upstream/deadlines.js';
import type { LimitCell, LimitStore } from '../limits/store.js';
import type { Limit } from '../limits/cells.js';
import { TokenCounter } from '../accounting/tokens.js';
import type { TraceSink } from '../telemetry/trace.js';
import { GatewayMetrics, renderPrometheus, type MetricsSnapshot } from '../telemetry/metrics.js';
import { OtlpTraceSink } from '../telemetry/otlp.js';
import { ALWAYS_ON, type Sampler } from '../telemetry/traceparent.js';
import { DASHBOARD_HTML, dashboardData } from '../telemetry/dashboard.js';
import { adminKeyOf } from './admin.js';
import { authenticate, keyMayUse, presentedKey } from './auth.js';
import type { IngressRequest, Sink } from './sink.js';
import { ChatCall } from './chat-call.js';
import { BatchJobs, jobJson, type BatchJob } from './batch-jobs.js';
import { GatewayCaches, type CacheClock } from '../cache/index.js';

const JSON_TYPE = 'application/json';
const JSON_HEADERS: readonly string[] = Object.freeze(['content-type', JSON_TYPE]);
const METRICS_HEADERS: readonly string[] = Object.freeze(['content-type', 'text/plain; version=0.0.4; charset=utf-8']);
const KEY_CACHE_MAX = 10_000;
const HTML_HEADERS: readonly string[] = Object.freeze(['content-type', 'text/html; charset=utf-8', 'cache-control', 'no-store', 'content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'"]);
const DATA_HEADERS: readonly string[] = Object.freeze(['content-type', JSON_TYPE, 'cache-control', 'no-store']);

export interface GatewayOptions {
  plan: Plan;
  traces: TraceSink;
  upstream?: UpstreamClient;
  /** Where limits are kept; null or absent: limits are not enforced (the Plan's cells are ignored). */
  limits?: LimitStore | null;
  /** Token counting for input budgets (inline when short, piscina workers when long). */
  tokens?: TokenCounter;
  /** With several gateway threads: find a batch job another thread took (null when none has it). */
  jobRelay?: ((id: string) => Promise<BatchJob | null>) | null;
  /** With several gateway threads: every thread's metrics snapshot, this one's included. */
  metricsRelay?: (() => Promise<MetricsSnapshot[]>) | null;
  /** Series kept outside the request path (gateway coverage), added to /metrics when there is no relay. */
  extraMetrics?: (() => MetricsSnapshot[]) | null;
  /** Count requests in the metrics (default true; false only to measure what counting costs). */
  metrics?: boolean;
  /** Make W3C trace ids and spans for every request (default: when `traces` exports spans over OTLP). */
  spans?: boolean;
  /** Which spans are exported (default: parent-based, always on; `samplerFromEnv` reads OTEL_TRACES_SAMPLER). */
  sampler?: Sampler;
  /** Clock of the response caches' TTLs (tests); default performance.now. */
  cacheClock?: CacheClock | null;
}

/** The limits one (key, route) pair is admitted against: tenant's, key's, route's, in that order. */
export interface Admission {
  readonly limits: readonly Limit[];
  readonly cells: readonly LimitCell[];
}

export class Gateway {
  private plan: Plan;
  readonly traces: TraceSink;
  readonly upstream: UpstreamClient;
  readonly limits: LimitStore | null;
  readonly tokens: TokenCounter;
  private readonly jobRelay: ((id: string) => Promise<BatchJob | null>) | null;
  private readonly metricsRelay: (() => Promise<MetricsSnapshot[]>) | null;
  private readonly extraMetrics: (() => MetricsSnapshot[]) | null;
  /** The platform metrics this thread counts (merged across threads at scrape time). */
  readonly metrics = new GatewayMetrics();
  /** Spans are exported: every request gets a span id (and a trace id, the client's or a new one). */
  readonly spans: boolean;
  readonly sampler: Sampler;
  private readonly translator: Translator = new OpenAIChatTranslator();
  /** Response caches and cache metrics of the current Plan (core/cache). */
  caches: GatewayCaches;
  private readonly cacheClock: CacheClock | null;
  /** Prebuilt upstream header objects per provider name (reused by every request: the provider's key only). */
  private providerHeaders = new Map<string, Record<string, string>>();
  private readonly idPrefix: string;
  private seq = 0;
  private inflight = 0;
  private draining = false;
  private stopped = false;
  private drainWaiters: Array<() => void> = [];
  /** Presented key → its record, for keys seen under the current Plan: skips a SHA-256 per request. */
  private keyCache = new Map<string, KeyRecord>();
  /** Per key, per route index: the limits a request is admitted against, assembled once. */
  private admissions = new WeakMap<KeyRecord, Array<Admission | undefined>>();

  constructor(opts: GatewayOptions) {
    this.plan = opts.plan;
    this.traces = opts.traces;
    this.upstream = opts.upstream ?? new UpstreamClient();
    this.limits = opts.limits ?? null;
    this.tokens = opts.tokens ?? new TokenCounter();
    this.jobRelay = opts.jobRelay ?? null;
    this.metricsRelay = opts.metricsRelay ?? null;
    this.extraMetrics = opts.extraMetrics ?? null;
    this.spans = opts.spans ?? opts.traces instanceof OtlpTraceSink;
    this.sampler = opts.sampler ?? ALWAYS_ON;
    this.metrics.enabled = opts.metrics ?? true;
    this.metrics.bind(opts.plan.routes);
    this.metrics.watch(() => this.inflight);
    this.cacheClock = opts.cacheClock ?? null;
    this.caches = new GatewayCaches(opts.plan.routes, this.metrics, this.cacheClock);
    this.idPrefix = 'req_' + randomBytes(5).toString('hex') + threadId.toString(36) + '_';
    this.buildProviderHeaders(opts.plan);
    this.loadReports.watch(opts.plan.pools.values());
  }

  /** Stop background work (load reports, token workers). The upstream client is closed by its owner. */
  async close(): Promise<void> {
    this.loadReports.close();
    this.batches.close();
    this.metrics.close();
    await this.tokens.close();
  }

  /** Swap in a new Plan (config reload): one reference; requests in flight keep the Plan they started with. */
  setPlan(plan: Plan): void {
    this.buildProviderHeaders(plan);
    this.keyCache = new Map();
    this.admissions = new WeakMap();
    this.metrics.bind(plan.routes);
    this.caches = new GatewayCaches(plan.routes, this.metrics, this.cacheClock);
    this.plan = plan;
    this.loadReports.watch(plan.pools.values());
  }

  /** The record of a presented key under `plan`, or null (unknown, revoked). Only valid keys are cached. */
  lookupKey(plan: Plan, presented: string): KeyRecord | null {
    if (plan === this.plan) {
      const hit = this.keyCache.get(presented);
      if (hit !== undefined) return hit;
    }
    const key = authenticate(plan, presented);
    if (key !== null && plan === this.plan) {
      if (this.keyCache.size >= KEY_CACHE_MAX) this.keyCache.clear();
      this.keyCache.set(presented, key);
    }
    return key;
  }

  get currentPlan(): Plan {
    return this.plan;
  }

  get maxBodyBytes(): number {
    return this.plan.server.maxBodyBytes;
  }

  get inFlight(): number {
    return this.inflight;
  }

  private buildProviderHeaders(plan: Plan): void {
    const m = new Map<string, Record<string, string>>();
    for (const p of plan.providers.values()) {
      const h: Record<string, string> = { 'content-type': JSON_TYPE, accept: 'application/json, text/event-stream' };
      if (p.api === 'anthropic') {
        if (p.apiKey !== '') h['x-api-key'] = p.apiKey;
        h['anthropic-version'] = ANTHROPIC_VERSION;
      } else if (p.apiKey !== '') h.authorization = 'Bearer ' + p.apiKey;
      m.set(p.name, Object.freeze(h) as Record<string, string>);
    }
    this.providerHeaders = m;
  }

  /** Entry point for every request a transport accepts. Never throws; always answers through `sink`. */
  handle(req: IngressRequest, sink: Sink): void {
    if (this.stopped) return stoppedAnswer(sink);
    const path = req.path;
    if (path === '/v1/chat/completions') {
      if (req.method !== 'POST') return sendError(sink, 'method_not_allowed', 'Use POST for /v1/chat/completions.');
      new ChatCall(this, req, sink).start();
      return;
    }
    if (path === '/v1/messages') {
      if (req.method !== 'POST') return sink.send(405, JSON_HEADERS, anthropicErrorBody('method_not_allowed', 'Use POST for /v1/messages.'));
      new ChatCall(this, req, sink, 'anthropic').start();
      return;
    }
    if (path === '/v1/embeddings') {
      if (req.method !== 'POST') return sendError(sink, 'method_not_allowed', 'Use POST for /v1/embeddings.');
      new ChatCall(this, req, sink, 'embeddings').start();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (path === '/v1/models' || path === '/healthz' || path === '/readyz' || path === '/metrics' || path === '/dashboard' || path === '/dashboard/data') return sendError(sink, 'method_not_allowed', `Use GET for ${path}.`);
      return notFound(sink, req, path);
    }
    if (path === '/healthz') return sink.send(200, JSON_HEADERS, '{"status":"ok"}');
    if (path === '/readyz') {
      if (this.draining) return sink.send(503, JSON_HEADERS, '{"status":"draining"}');
      return sink.send(200, JSON_HEADERS, '{"status":"ready"}');
    }
    if (path === '/v1/models') return this.models(req, sink);
    if (path === '/metrics') return this.scrape(sink);
    if (path === '/dashboard' || path === '/dashboard/') return this.dashboard(req, sink, false);
    if (path === '/dashboard/data') return this.dashboard(req, sink, true);
    if (path.startsWith('/v1/batch_jobs/')) return this.batchJob(req, sink, path.slice(15));
    return notFound(sink, req, path);
  }

  /** GET /v1/batch_jobs/{id}: a batch job's state, and its result once completed (same tenant only). */
  private batchJob(req: IngressRequest, sink: Sink, id: string): void {
    const key = authenticateRequest(this.plan, req, sink);
    if (key === null) return;
    const job = this.batches.get(id);
    if (job !== undefined || this.jobRelay === null) return answerJob(sink, job ?? null, key.tenant, id);
    // Taken by another gateway thread: ask it (the sink stays valid: transports handle aborts).
    this.jobRelay(id).then(
      (remote) => answerJob(sink, remote, key.tenant, id),
      () => answerJob(sink, null, key.tenant, id),
    );
  }

  /** GET /metrics: Prometheus text, every thread's counts summed. */
  private scrape(sink: Sink): void {
    if (this.metricsRelay === null) {
      const snaps = [this.metrics.registry.snapshot()];
      if (this.extraMetrics !== null) for (const s of this.extraMetrics()) snaps.push(s);
      return sink.send(200, METRICS_HEADERS, renderPrometheus(snaps));
    }
    this.metricsRelay().then(
      (snaps) => sink.send(200, METRICS_HEADERS, renderPrometheus(snaps)),
      () => sink.send(200, METRICS_HEADERS, renderPrometheus([this.metrics.registry.snapshot()])),
    );
  }

  /** GET /dashboard (the page) and /dashboard/data (its numbers, every thread's): admin keys only. */
  private dashboard(req: IngressRequest, sink: Sink, data: boolean): void {
    const admin = adminKeyOf(this.plan, req.authorization, req.apiKey);
    if (admin === null) {
      // Basic auth lets a browser ask for the key (any user name, the admin key as the password).
      const code: ErrorCode = req.authorization === '' && req.apiKey === '' ? 'missing_api_key' : 'invalid_api_key';
      return sink.send(401, ['content-type', JSON_TYPE, 'www-authenticate', 'Basic realm="switchyard admin", charset="UTF-8"'], openAIErrorBody(code, 'The dashboard needs an admin key: `Authorization: Bearer KEY`, or Basic auth with the key as the password.'));
    }
    if (admin === '') return sendError(sink, 'admin_key_required', 'This key is not an admin key.');
    if (!data) return sink.send(200, HTML_HEADERS, DASHBOARD_HTML);
    if (this.metricsRelay === null) {
      const snaps = [this.metrics.registry.snapshot()];
      if (this.extraMetrics !== null) for (const s of this.extraMetrics()) snaps.push(s);
      return sink.send(200, DATA_HEADERS, JSON.stringify(dashboardData(snaps)));
    }
    this.metricsRelay().then(
      (snaps) => sink.send(200, DATA_HEADERS, JSON.stringify(dashboardData(snaps))),
      () => sink.send(200, DATA_HEADERS, JSON.stringify(dashboardData([this.metrics.registry.snapshot()]))),
    );
  }

  /** A transport refused a body over `maxBodyBytes` before reading it whole. */
  rejectTooLarge(sink: Sink, path = ''): void {
    if (path === '/v1/messages') return sink.send(anthropicStatus('body_too_large'), JSON_HEADERS, anthropicErrorBody('body_too_large', `Request body exceeds the limit of ${this.maxBodyBytes} bytes.`));
    sendError(sink, 'body_too_large', `Request body exceeds the limit of ${this.maxBodyBytes} bytes.`);
  }

  private models(req: IngressRequest, sink: Sink): void {
    const plan = this.plan;
    const key = authenticateRequest(plan, req, sink);
    if (key === null) return;
    if (req.anthropicVersion !== '') {
      // Anthropic's model list (the Anthropic SDK sends anthropic-version): the same aliases.
      const models: Array<{ type: 'model'; id: string; display_name: string; created_at: string }> = [];
      for (const r of plan.routes) if (keyMayUse(key, r, r.alias)) models.push({ type: 'model', id: r.alias, display_name: r.alias, created_at: '1970-01-01T00:00:00Z' });
      return sink.send(200, JSON_HEADERS, JSON.stringify({ data: models, has_more: false, first_id: models[0]?.id ?? null, last_id: models.at(-1)?.id ?? null }));
    }
    const data: Array<{ id: string; object: 'model'; created: number; owned_by: string }> = [];
    for (const r of plan.routes) if (keyMayUse(key, r, r.alias)) data.push({ id: r.alias, object: 'model', created: 0, owned_by: r.owner });
    sink.send(200, JSON_HEADERS, JSON.stringify({ object: 'list', data }));
  }

  /** Stop taking new model requests; resolve when those in flight have settled or `deadlineMs` passed. */
  drain(deadlineMs: number): Promise<boolean> {
    this.draining = true;
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(this.inflight === 0), deadlineMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * After the drain: take no request at all (close its connection unanswered), so nothing is answered
   * once the trace sinks and the ledger are being closed — every answered request has its record.
   */
  stop(): void {
    this.draining = true;
    this.stopped = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** In-flight attempts by deadline. @internal */ readonly deadlines = new DeadlineList();
  /** Outlier ejection of pool members. @internal */ readonly health = new MemberHealth();
  /** Retries in flight against requests in flight. @internal */ readonly retryBudget = new RetryBudget();
  /** What the gateway knows of each self-hosted replica's load. @internal */ readonly load = new LoadBoard();
  /** Polls self-hosted replicas' load reports. */ readonly loadReports = new LoadReporter(this.load);
  /** Jobs of batch pools, by id. */ readonly batches = new BatchJobs();
  /** @internal */ nextSeq(): number {
    return ++this.seq;
  }
  /** @internal */ nextRequestId(seq: number): string {
    return this.idPrefix + seq.toString(36);
  }
  /** @internal */ headersFor(provider: ProviderContext): Record<string, string> {
    return this.providerHeaders.get(provider.name)!;
  }
  /** @internal The provider's headers plus the request's `traceparent` (one object per traced request). */
  headersWithTrace(provider: ProviderContext, traceparent: string): Record<string, string> {
    const base = this.providerHeaders.get(provider.name)!;
    const h: Record<string, string> = {};
    for (const k in base) h[k] = base[k]!;
    h.traceparent = traceparent;
    return h;
  }
  /** @internal */ admissionFor(plan: Plan, key: KeyRecord, route: RouteContext): Admission {
    let perRoute = this.admissions.get(key);
    if (perRoute === undefined) {
      perRoute = [];
      this.admissions.set(key, perRoute);
    }
    let a = perRoute[route.index];
    if (a === undefined) {
      const tenant = plan.tenants.get(key.tenant);
      const limits = [...(tenant?.limits ?? []), ...key.limits, ...route.limits];
      a = Object.freeze({ limits: Object.freeze(limits), cells: Object.freeze(limits.map((l) => l.cell)) });
      perRoute[route.index] = a;
    }
    return a;
  }
  /** @internal */ get chatTranslator(): Translator {
    return this.translator;
  }
  /** @internal */ enter(): void {
    this.inflight++;
  }
  /** @internal */ leave(): void {
    this.inflight--;
    if (this.inflight === 0 && this.drainWaiters.length > 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const f of w) f();
    }
  }
}

function answerJob(sink: Sink, job: BatchJob | null, tenant: string, id: string): void {
  if (job === null || job.tenant !== tenant) return sendError(sink, 'not_found', `No batch job '${id.slice(0, 100)}'.`);
  sink.send(200, JSON_HEADERS, jobJson(job));
}

/** 404 for an unknown endpoint: in Anthropic's envelope under /v1/messages (e.g. count_tokens), else OpenAI's. */
function notFound(sink: Sink, req: IngressRequest, path: string): void {
  const message = `Unknown endpoint: ${req.method} ${safePath(path)}.`;
  if (path.startsWith('/v1/messages/')) return sink.send(404, JSON_HEADERS, anthropicErrorBody('not_found', message));
  sendError(sink, 'not_found', message);
}

function stoppedAnswer(sink: Sink): void {
  if (sink.drop !== undefined) return sink.drop();
  sendError(sink, 'shutting_down', 'The gateway is shutting down; retry on another instance.');
}

function safePath(path: string): string {
  return path.length > 200 ? path.slice(0, 200) + '…' : path;
}

function sendError(sink: Sink, code: ErrorCode, message: string, param: string | null = null): void {
  sink.send(ERRORS[code].status, JSON_HEADERS, openAIErrorBody(code, message, param));
}

function authenticateRequest(plan: Plan, req: IngressRequest, sink: Sink): KeyRecord | null {
  const presented = presentedKey(req.authorization, req.apiKey);
  if (presented === '') {
    sendError(sink, 'missing_api_key', 'Missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`.');
    return null;
  }
  const key = authenticate(plan, presented);
  if (key === null) sendError(sink, 'invalid_api_key', 'Invalid API key.');
  return key;
}
