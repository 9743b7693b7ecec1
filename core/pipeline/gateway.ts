// The request lifecycle: the one place that knows the order of the steps.
//   authenticate → parse + validate → resolve alias → attribute → classify lane → choose pool member
//   → build upstream body → call upstream (deadline, abort) → translate back → settle → trace
// Transports call Gateway.handle(req, sink); everything else here is internal.

import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { ERRORS, openAIErrorBody, type ErrorCode } from '../errors.js';
import type { KeyRecord, Plan, PoolMember, ProviderContext, RouteContext } from '../config/plan.js';
import type { ChatCompletionRequest } from '../schema/openai.js';
import { validateChatRequest } from '../schema/openai-validate.js';
import { classifyLane, type ConcreteLane } from '../routing/lane.js';
import { pickMember } from '../routing/pool.js';
import { OpenAIChatTranslator } from '../providers/openai/chat.js';
import { ResponseInfo, type StreamTranslator, type Translator } from '../providers/translator.js';
import { UpstreamClient, classifyUpstreamError, type UpstreamResponse } from '../upstream/client.js';
import { costUsd, estimateTokensFromChars } from '../accounting/cost.js';
import { TraceRecord, type TraceSink } from '../telemetry/trace.js';
import { authenticate, keyMayUse, presentedKey } from './auth.js';
import type { AbortTarget, IngressRequest, Sink } from './sink.js';

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream; charset=utf-8';
const JSON_HEADERS: readonly string[] = Object.freeze(['content-type', JSON_TYPE]);
/** Largest upstream error body read to build an error message. */
const MAX_UPSTREAM_ERROR_BYTES = 64 * 1024;

export interface GatewayOptions {
  plan: Plan;
  traces: TraceSink;
  upstream?: UpstreamClient;
}

export class Gateway {
  private plan: Plan;
  readonly traces: TraceSink;
  readonly upstream: UpstreamClient;
  private readonly translator: Translator = new OpenAIChatTranslator();
  /** Prebuilt upstream header objects per provider name (reused by every request: the provider's key only). */
  private providerHeaders = new Map<string, Record<string, string>>();
  private readonly idPrefix: string;
  private seq = 0;
  private inflight = 0;
  private draining = false;
  private drainWaiters: Array<() => void> = [];

  constructor(opts: GatewayOptions) {
    this.plan = opts.plan;
    this.traces = opts.traces;
    this.upstream = opts.upstream ?? new UpstreamClient();
    this.idPrefix = 'req_' + randomBytes(5).toString('hex') + threadId.toString(36) + '_';
    this.buildProviderHeaders(opts.plan);
  }

  /** Swap in a new Plan (config reload): one reference; requests in flight keep the Plan they started with. */
  setPlan(plan: Plan): void {
    this.buildProviderHeaders(plan);
    this.plan = plan;
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
      if (p.apiKey !== '') h.authorization = 'Bearer ' + p.apiKey;
      m.set(p.name, Object.freeze(h) as Record<string, string>);
    }
    this.providerHeaders = m;
  }

  /** Entry point for every request a transport accepts. Never throws; always answers through `sink`. */
  handle(req: IngressRequest, sink: Sink): void {
    const path = req.path;
    if (path === '/v1/chat/completions') {
      if (req.method !== 'POST') return sendError(sink, 'method_not_allowed', 'Use POST for /v1/chat/completions.');
      const call = new ChatCall(this, req, sink);
      void call.run();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (path === '/v1/models' || path === '/healthz' || path === '/readyz') return sendError(sink, 'method_not_allowed', `Use GET for ${path}.`);
      return sendError(sink, 'not_found', `Unknown endpoint: ${req.method} ${safePath(path)}.`);
    }
    if (path === '/healthz') return sink.send(200, JSON_HEADERS, '{"status":"ok"}');
    if (path === '/readyz') {
      if (this.draining) return sink.send(503, JSON_HEADERS, '{"status":"draining"}');
      return sink.send(200, JSON_HEADERS, '{"status":"ready"}');
    }
    if (path === '/v1/models') return this.models(req, sink);
    return sendError(sink, 'not_found', `Unknown endpoint: ${req.method} ${safePath(path)}.`);
  }

  /** A transport refused a body over `maxBodyBytes` before reading it whole. */
  rejectTooLarge(sink: Sink): void {
    sendError(sink, 'body_too_large', `Request body exceeds the limit of ${this.maxBodyBytes} bytes.`);
  }

  private models(req: IngressRequest, sink: Sink): void {
    const plan = this.plan;
    const key = authenticateRequest(plan, req, sink);
    if (key === null) return;
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

  get isDraining(): boolean {
    return this.draining;
  }

  /** @internal */ nextSeq(): number {
    return ++this.seq;
  }
  /** @internal */ nextRequestId(seq: number): string {
    return this.idPrefix + seq.toString(36);
  }
  /** @internal */ headersFor(provider: ProviderContext): Record<string, string> {
    return this.providerHeaders.get(provider.name)!;
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

function onDeadline(call: ChatCall): void {
  call.deadlineFired();
}

function isJsonContentType(ct: string): boolean {
  return ct === '' || ct.startsWith(JSON_TYPE) || ct.toLowerCase().includes('json');
}

/** One chat completion request, from admission to settlement. Settles exactly once, on every path. */
class ChatCall implements AbortTarget {
  // Every field is set in the constructor so all calls share one hidden class (V8).
  private readonly gw: Gateway;
  private readonly req: IngressRequest;
  private readonly sink: Sink;
  private readonly plan: Plan;
  private readonly t0: number;
  private readonly startMs: number;
  private readonly seq: number;
  private readonly trace: TraceRecord;
  private readonly info: ResponseInfo;
  private body: ChatCompletionRequest | null = null;
  private route: RouteContext | null = null;
  private member: PoolMember | null = null;
  private lane: ConcreteLane = 'direct_small';
  private controller: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private deadlineHit = false;
  private clientGone = false;
  private responded = false;
  private settled = false;
  private attemptStart = 0;
  private firstByteAt = 0;
  private retryAfter = '';

  constructor(gw: Gateway, req: IngressRequest, sink: Sink) {
    this.gw = gw;
    this.req = req;
    this.sink = sink;
    this.plan = gw.currentPlan;
    this.t0 = performance.now();
    this.startMs = Date.now();
    this.seq = gw.nextSeq();
    this.trace = new TraceRecord();
    this.trace.request_id = gw.nextRequestId(this.seq);
    this.info = new ResponseInfo();
    gw.enter();
    sink.attach(this);
  }

  onClientAbort(): void {
    if (this.clientGone) return;
    this.clientGone = true;
    if (this.controller !== null) this.controller.abort();
  }

  deadlineFired(): void {
    this.timer = null;
    this.deadlineHit = true;
    if (this.controller !== null) this.controller.abort();
  }

  async run(): Promise<void> {
    try {
      await this.execute();
    } catch (err) {
      // A bug, not a request problem: answer with a generic 500 and log the detail server-side only.
      process.stderr.write(`switchyard: internal error on ${this.trace.request_id}: ${(err as Error)?.stack ?? String(err)}\n`);
      if (!this.responded) this.fail('internal_error', 'Internal error.');
      else if (!this.sink.closed) this.sink.end();
      if (this.trace.error_code === null) {
        this.trace.error_code = 'internal_error';
        this.trace.status = 500;
      }
    } finally {
      this.settle();
    }
  }

  private async execute(): Promise<void> {
    const req = this.req;
    const trace = this.trace;
    const plan = this.plan;
    trace.stream = false;
    if (this.gw.isDraining) return this.fail('shutting_down', 'The gateway is shutting down; retry on another instance.');

    // 1. Authenticate.
    const presented = presentedKey(req.authorization, req.apiKey);
    if (presented === '') return this.fail('missing_api_key', 'Missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`.');
    const key = authenticate(plan, presented);
    if (key === null) return this.fail('invalid_api_key', 'Invalid API key.');
    trace.tenant = key.tenant;
    trace.key_id = key.id;

    // 2. Parse and validate.
    if (!isJsonContentType(req.contentType)) {
      return this.fail('unsupported_content_type', `Unsupported content type '${req.contentType.slice(0, 100)}': send application/json.`);
    }
    const raw = req.body;
    if (raw === null || raw.length === 0) return this.fail('invalid_json', 'The request body is empty: send a JSON object.');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      return this.fail('invalid_json', 'We could not parse the JSON body of your request.');
    }
    const problem = validateChatRequest(parsed);
    if (problem !== null) return this.fail('invalid_request', problem.message, problem.param === '' ? null : problem.param);
    const body = parsed as ChatCompletionRequest;
    this.body = body;
    trace.stream = body.stream === true;

    // 3. Resolve the alias (raw provider model names are not aliases and are refused).
    const model = body.model;
    const idx = plan.aliasTrie.lookup(model);
    const route = idx < 0 ? undefined : plan.routes[idx];
    if (route === undefined || !keyMayUse(key, route, model)) {
      return this.fail('alias_not_found', `The model '${model.slice(0, 200)}' does not exist or you do not have access to it.`, 'model');
    }
    this.route = route;
    trace.alias = route.isPrefix ? model : route.alias;

    // 4. Attribute.
    const md = body.metadata;
    trace.scenario_id = req.scenario !== '' ? req.scenario : md != null && typeof md.scenario_id === 'string' ? md.scenario_id : '';
    trace.owner = req.owner !== '' ? req.owner : md != null && typeof md.owner === 'string' ? md.owner : key.owner;
    if (route.requireScenario && trace.scenario_id === '') {
      return this.fail('missing_scenario_id', `Route '${route.alias}' requires a scenario: send the x-switchyard-scenario header or metadata.scenario_id.`, 'metadata.scenario_id');
    }
    trace.prompt_version = route.prompt === null ? null : route.prompt.version;

    // 5. Lane and pool member.
    this.lane = classifyLane(route.lane, body);
    trace.route_lane = this.lane;
    trace.pool_id = route.pool.id;
    const member = pickMember(route.pool, route.allowedProviders, this.seq);
    if (member === null) return this.fail('no_provider_available', `No provider of pool '${route.pool.id}' is allowed for this route.`);
    this.member = member;
    trace.provider = member.provider.name;
    trace.model = member.model;

    // 6. Call the provider.
    await this.attempt(member);
  }

  private async attempt(member: PoolMember): Promise<void> {
    const provider = member.provider;
    const body = this.body!;
    const translator = this.gw.chatTranslator;
    const upstreamBody = translator.buildBody(body, member.model);
    if (this.clientGone) return this.fail('client_closed_request', 'Client closed the request.');
    this.controller = new AbortController();
    this.timer = setTimeout(onDeadline, provider.timeoutMs, this);
    this.attemptStart = performance.now();
    let res: UpstreamResponse;
    try {
      res = await this.gw.upstream.post(provider, translator.path, this.gw.headersFor(provider), upstreamBody, this.controller.signal);
    } catch (err) {
      return this.upstreamFailed(err, 0);
    }
    this.firstByteAt = performance.now();
    const status = res.statusCode;
    if (status !== 200) return this.upstreamStatus(res, status);
    if (body.stream === true) {
      // A stream's deadline covers the wait for headers; after that undici's body timeout bounds each gap.
      this.clearTimer();
      return this.streamBody(res);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      return this.upstreamFailed(err, 200);
    }
    this.clearTimer();
    let out: string;
    try {
      out = translator.translateResponse(text, this.trace.alias, this.info);
    } catch {
      this.recordAttempt(502, 'upstream_bad_response');
      return this.fail('upstream_bad_response', `The provider '${provider.name}' returned a malformed response.`);
    }
    this.recordAttempt(200, null);
    this.finishAccounting();
    if (this.clientGone) return this.fail('client_closed_request', 'Client closed the request.');
    this.responded = true;
    this.trace.status = 200;
    this.sink.send(200, this.routedHeaders(JSON_TYPE, true), out);
  }

  private async streamBody(res: UpstreamResponse): Promise<void> {
    const sink = this.sink;
    const body = this.body!;
    const info = this.info;
    const decoder: StreamTranslator = this.gw.chatTranslator.createStream(this.trace.alias, body.stream_options?.include_usage === true, info);
    this.responded = true;
    this.trace.status = 200;
    sink.begin(200, this.routedHeaders(SSE_TYPE, false));
    let failure: unknown = null;
    try {
      for await (const chunk of res.body) {
        const out = decoder.push(chunk as Buffer);
        if (out.length === 0) continue;
        if (this.trace.ttft_ms === null) this.trace.ttft_ms = round3(performance.now() - this.t0);
        if (!sink.write(out)) await sink.drained();
        if (this.clientGone) break;
      }
    } catch (err) {
      failure = err;
    }
    if (this.clientGone) {
      res.body.destroy();
      this.recordAttempt(499, 'client_closed_request');
      this.finishAccounting();
      this.trace.status = 499;
      this.trace.error_code = 'client_closed_request';
      return;
    }
    const tail = failure === null ? decoder.finish() : '';
    if (tail.length > 0) sink.write(tail);
    if (failure !== null || !info.sawDone || info.streamError !== null) {
      // Never retried after the first byte: the client gets a terminal error event, and what was sent is accounted.
      const code: ErrorCode = failure !== null && classifyUpstreamError(failure, this.deadlineHit, false) === 'timeout' ? 'upstream_timeout' : 'upstream_stream_interrupted';
      const message = info.streamError !== null ? 'The provider reported an error mid-stream.' : 'The provider stream ended before completion.';
      sink.write('data: ' + openAIErrorBody(code, message) + '\n\n');
      sink.end();
      this.recordAttempt(ERRORS[code].status, code);
      this.finishAccounting();
      this.trace.status = ERRORS[code].status;
      this.trace.error_code = code;
      return;
    }
    sink.end();
    this.recordAttempt(200, null);
    this.finishAccounting();
  }

  private async upstreamStatus(res: UpstreamResponse, status: number): Promise<void> {
    const provider = this.member!.provider;
    let message = '';
    try {
      const text = await readBounded(res, MAX_UPSTREAM_ERROR_BYTES);
      const parsed = JSON.parse(text);
      if (parsed != null && typeof parsed.error?.message === 'string') message = parsed.error.message;
    } catch {
      // The error body is advisory; the status decides.
    }
    this.clearTimer();
    if (this.clientGone) {
      this.recordAttempt(status, 'client_closed_request');
      return this.fail('client_closed_request', 'Client closed the request.');
    }
    let code: ErrorCode;
    let text: string;
    if (status === 429) {
      code = 'upstream_rate_limited';
      text = `The provider '${provider.name}' is rate limiting requests; retry later.`;
      const ra = res.headers['retry-after'];
      if (typeof ra === 'string' && /^\d{1,6}$/.test(ra)) this.retryAfter = ra;
    } else if (status === 401 || status === 403) {
      code = 'upstream_auth_failed';
      text = `The provider '${provider.name}' rejected the gateway's credentials.`;
    } else if (status >= 400 && status < 500) {
      code = 'invalid_request';
      text = message !== '' ? `The provider rejected the request: ${message.slice(0, 500)}` : `The provider rejected the request (HTTP ${status}).`;
    } else if (status === 503) {
      code = 'upstream_unavailable';
      text = `The provider '${provider.name}' is unavailable (HTTP 503).`;
    } else if (status === 504) {
      code = 'upstream_timeout';
      text = `The provider '${provider.name}' timed out (HTTP 504).`;
    } else {
      code = 'upstream_error';
      text = `The provider '${provider.name}' failed (HTTP ${status}).`;
    }
    this.recordAttempt(status, code);
    this.fail(code, text);
  }

  private upstreamFailed(err: unknown, status: number): void {
    this.clearTimer();
    const provider = this.member!.provider;
    const kind = classifyUpstreamError(err, this.deadlineHit, this.clientGone);
    if (kind === 'aborted') {
      this.recordAttempt(status === 0 ? 499 : status, 'client_closed_request');
      return this.fail('client_closed_request', 'Client closed the request.');
    }
    if (kind === 'timeout') {
      this.recordAttempt(504, 'upstream_timeout');
      return this.fail('upstream_timeout', `The provider '${provider.name}' did not answer within ${provider.timeoutMs} ms.`);
    }
    this.recordAttempt(502, 'upstream_connection_error');
    this.fail('upstream_connection_error', `The connection to provider '${provider.name}' failed.`);
  }

  private recordAttempt(status: number, errorCode: string | null): void {
    const now = performance.now();
    this.trace.attempts.push({
      pool_id: this.route!.pool.id,
      provider: this.member!.provider.name,
      status,
      error_code: errorCode,
      queue_time_ms: 0,
      latency_ms: round3(now - this.attemptStart),
    });
    this.trace.stop_reason = errorCode === null ? 'success' : errorCode;
  }

  /** Tokens and cost from reported usage, or estimated from characters when the provider reported none. */
  private finishAccounting(): void {
    const info = this.info;
    const trace = this.trace;
    if (info.usageReported) {
      trace.input_tokens = info.inputTokens;
      trace.cached_input_tokens = info.cachedInputTokens;
      trace.output_tokens = info.outputTokens;
      trace.tokens_estimated = false;
    } else {
      trace.input_tokens = estimateTokensFromChars(promptChars(this.body!));
      trace.cached_input_tokens = 0;
      trace.output_tokens = estimateTokensFromChars(info.outputChars);
      trace.tokens_estimated = true;
    }
    trace.cost_usd = costUsd(this.member!.price, trace.input_tokens, trace.cached_input_tokens, trace.output_tokens);
  }

  private routedHeaders(contentType: string, withCost: boolean): string[] {
    const t = this.trace;
    const h = [
      'content-type', contentType,
      'x-request-id', t.request_id,
      'x-switchyard-alias', t.alias,
      'x-switchyard-lane', t.route_lane,
      'x-switchyard-pool', t.pool_id,
      'x-switchyard-attempts', String(t.attempts.length),
      'x-switchyard-fallback', 'none',
      'x-switchyard-cache', t.cache,
    ];
    if (withCost) h.push('x-switchyard-cost-usd', t.cost_usd.toFixed(8));
    return h;
  }

  /** Answer with an error (once) and record it. */
  private fail(code: ErrorCode, message: string, param: string | null = null): void {
    const trace = this.trace;
    trace.status = ERRORS[code].status;
    trace.error_code = code;
    if (this.responded || this.clientGone) return;
    this.responded = true;
    const body = openAIErrorBody(code, message, param);
    let headers: readonly string[];
    if (this.route !== null && this.trace.route_lane !== '') {
      const h = this.routedHeaders(JSON_TYPE, false);
      if (this.retryAfter !== '') h.push('retry-after', this.retryAfter);
      headers = h;
    } else {
      headers = ['content-type', JSON_TYPE, 'x-request-id', trace.request_id];
    }
    this.sink.send(trace.status, headers, body);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** The one exit: runs exactly once per call, whatever path the call took. */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer();
    const trace = this.trace;
    const now = performance.now();
    trace.ts = new Date(this.startMs).toISOString();
    trace.latency_ms = round3(now - this.t0);
    if (trace.ttft_ms === null && trace.status === 200) trace.ttft_ms = trace.latency_ms;
    if (trace.status === 0) trace.status = this.clientGone ? 499 : 500;
    if (this.clientGone && trace.error_code === null && trace.status !== 200) trace.error_code = 'client_closed_request';
    trace.outcome = trace.status === 200 && trace.error_code === null ? 'success' : 'error';
    if (trace.stop_reason === '') trace.stop_reason = trace.error_code ?? 'success';
    this.gw.traces.write(trace);
    this.gw.leave();
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function promptChars(body: ChatCompletionRequest): number {
  let n = 0;
  const messages = body.messages;
  for (let i = 0; i < messages.length; i++) {
    const c = messages[i]!.content;
    if (typeof c === 'string') n += c.length;
    else if (c != null) n += JSON.stringify(c).length;
  }
  return n;
}

async function readBounded(res: UpstreamResponse, max: number): Promise<string> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) {
      res.body.destroy();
      break;
    }
    parts.push(b);
  }
  return Buffer.concat(parts).toString('utf8');
}
