// One chat completion request, from admission to settlement, in the order gateway.ts's header lists. A ChatCall is also the undici handler of its upstream
// attempts, the listener of its sink and the owner of its batch job, so no closure or promise is made
// per request.

import { ERRORS, openAIErrorBody, type ErrorCode } from '../errors.js';
import type { KeyRecord, ModelPrice, Plan, PoolContext, PoolMember, RouteContext } from '../config/plan.js';
import type { CanonicalRequest, IngressApi } from '../schema/canonical.js';
import { Decoded, decodeIngress, errorBody, errorStatus, streamErrorEvent, withAnthropicBeta } from './ingress.js';
import { TRANSLATORS, translatorFor } from '../providers/registry.js';
import { memberText } from '../schema/json-span.js';
import { classifyLane } from '../routing/lane.js';
import { pickMember, type MemberFilter } from '../routing/pool.js';
import { canaryArm } from '../routing/canary.js';
import { chooseReplica, type ReplicaLoad } from '../routing/selector.js';
import { PromptAssembly, assemblePrompt } from '../prompt/assemble.js';
import { ResponseLookup, StreamCapture, lookupResponse } from '../cache/index.js';
import { decideNext, type FailureKind } from '../routing/retry.js';
import { ResponseInfo, type StreamTranslator, type Translator } from '../providers/translator.js';
import { classifyUpstreamError, type UpstreamController, type UpstreamHandler } from '../upstream/client.js';
import type { DeadlineItem } from '../upstream/deadlines.js';
import { ReserveOutcome } from '../limits/store.js';
import { usdToMicro, type Limit } from '../limits/cells.js';
import { costUsd, estimateTokensFromChars } from '../accounting/cost.js';
import { costKnown, requestCostUsd, unescapeJsonText } from '../accounting/attribute.js';
import { encodingFor } from '../accounting/tokens.js';
import { SpanContext, TraceRecord, isoTime, type AttemptRecord } from '../telemetry/trace.js';
import { formatTraceparent, isSampled, newSpanId, newTraceId, parseTraceparent } from '../telemetry/traceparent.js';
import { keyMayUse, presentedKey } from './auth.js';
import type { IngressRequest, Sink, SinkListener } from './sink.js';
import type { Admission, Gateway } from './gateway.js';
import { jobJson, type BatchJob, type BatchJobOwner } from './batch-jobs.js';
import { judge, OutputCollector, qualityProblem, type JudgeInput, type Scenario, type Verdict } from '../scenarios/scenarios.js';
import type { BatchResult } from '../upstream/batch-client.js';
import { ChatStreamFilter, PolicyRun, checkChatRequest, checkCompletion } from '../policy/index.js';

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream; charset=utf-8';
/** Largest upstream error body read to build an error message. */
const MAX_UPSTREAM_ERROR_BYTES = 64 * 1024;

function isJsonContentType(ct: string): boolean {
  return ct === '' || ct.startsWith(JSON_TYPE) || ct.toLowerCase().includes('json');
}

/** Why the upstream call is being cut, given to undici's abort (it comes back in onResponseError). */
const CLIENT_GONE = new Error('client closed the request');
const DEADLINE = new Error('attempt deadline');
const POLICY_STOP = new Error('safety policy blocked the stream');

// What the response bytes are being collected for.
const MODE_NONE = 0;
const MODE_BODY = 1; // non-streaming 200: collect, translate at the end
const MODE_STREAM = 2; // streaming 200: translate chunk by chunk
const MODE_ERROR = 3; // non-200: collect (bounded) for the error message

/**
 * One chat completion request, from admission to settlement: it is also the undici handler of its
 * upstream call and the listener of its sink, so no closure or promise is made per request.
 * Every exit path ends in settle(), which runs exactly once.
 */
export class ChatCall implements SinkListener, UpstreamHandler, DeadlineItem, MemberFilter, BatchJobOwner {
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
  /** The client's API (request decoding, error envelopes; answers are encoded by `translator`). */
  private readonly ingress: IngressApi;
  /** The (ingress API, provider API) pair's translator of the current attempt. */
  private translator: Translator;
  /** Why the last member choice skipped a member (a feature its API lacks); '' when none was skipped. */
  private unsupportedWhy = '';
  /** What the request needs that each provider API lacks, checked once per API (undefined: not yet). */
  private lacksOpenAI: string | null | undefined = undefined;
  private lacksAnthropic: string | null | undefined = undefined;
  private body: CanonicalRequest | null = null;
  private route: RouteContext | null = null;
  private member: PoolMember | null = null;
  private controller: UpstreamController | null = null;
  deadlineAt = 0;
  dlPrev: DeadlineItem | null = null;
  dlNext: DeadlineItem | null = null;
  private mode = MODE_NONE;
  private chunks: Buffer[] = [];
  private size = 0;
  private status = 0;
  private decoder: StreamTranslator | null = null;
  private paused = false;
  private dispatched = false;
  private upstreamStarted = false;
  private deadlineHit = false;
  private clientGone = false;
  private responded = false;
  private settled = false;
  private attemptStart = 0;
  private retryAfter = '';
  private key: KeyRecord | null = null;
  /** The route whose fallback chain and stop criteria apply (the alias's route, or its canary target). */
  private primary: RouteContext | null = null;
  /** The route of the alias the client named: its limits and token budget apply, whatever arm serves it. */
  private named: RouteContext | null = null;
  private retriesOnRoute = 0;
  private fallbackPos = -1;
  private spentUsd = 0;
  private retryAfterMs = 0;
  private isRetry = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The conditions that led to each further attempt, for `x-switchyard-fallback`. */
  private fallbackReasons = '';
  private avoid: PoolMember | null = null;
  /** The prefix hash replica choice uses (self-hosted pools: the prompt's conversation hash, 0 without affinity). */
  private prefixHash = -1;
  /** The replica load this attempt counts on (self-hosted pools), released when the attempt ends. */
  private attemptLoad: ReplicaLoad | null = null;
  private queueTimeMs = 0;
  /** The request body as text. */
  private rawText = '';
  /** The client's JSON text of `messages` (undefined: not looked for yet; null: serialize the parsed value). */
  private rawMessagesText: string | null | undefined = undefined;
  /** The upstream prompt: template parts and the client's messages, canonical (core/prompt). */
  private readonly prompt = new PromptAssembly();
  /** Response cache: looked up yet; the key to store the answer under ('' = do not store) and its route. */
  private cacheChecked = false;
  private cacheKey = '';
  private cacheRoute: RouteContext | null = null;
  /** A streamed miss on a route that replays streams: the answer, folded for the cache. */
  private capture: StreamCapture | null = null;
  /** Set when the route's pool is a batch pool: the job the client polls. */
  job: BatchJob = NO_JOB;
  private admission: Admission | null = null;
  /** What was reserved per limit (null: nothing held); settled exactly once. */
  private reserved: number[] | null = null;
  private reservedTokens = 0;
  private reservedMicroUsd = 0;
  private limitHeaders: string[] | null = null;
  /** The named route's safety policy at work (null: the route has none, the only cost then). */
  private policy: PolicyRun | null = null;
  /** Output guards over the streamed events (when the policy checks output). */
  private policyStream: ChatStreamFilter | null = null;
  /** A guard ended the stream: the upstream is being cut, the client already has the error event. */
  private policyStopped = false;
  /** The request's scenario when the config lists it (its criterion judges the outcome); null: by status alone. */
  private scenario: Scenario | null = null;
  /** A tokenizer count in a worker (usage missing, long texts): settle waits for it before the trace. */
  private pendingEstimate: Promise<unknown> | null = null;
  /** The route whose pool the current attempt is on (pool in-flight gauge), null between attempts. */
  private attemptRoute: RouteContext | null = null;
  /** `traceparent` sent upstream ('' when neither the client sent one nor spans are exported). */
  private traceparent = '';
  /** The request's trace context (null unless spans are exported or the client sent `traceparent`). */
  private span: SpanContext | null = null;

  constructor(gw: Gateway, req: IngressRequest, sink: Sink, ingress: IngressApi = 'openai') {
    this.gw = gw;
    this.ingress = ingress;
    this.translator = gw.chatTranslator;
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

  start(): void {
    try {
      this.admit();
      // Refused before the upstream call: nothing else will settle it.
      if (!this.dispatched) this.settle();
    } catch (err) {
      this.internalError(err);
    }
  }

  // --- sink listener ---

  onClientAbort(): void {
    if (this.clientGone || this.settled) return;
    this.clientGone = true;
    if (this.retryTimer !== null) {
      // Between attempts: nothing upstream to cut, settle now.
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.fail('client_closed_request', 'Client closed the request.');
      return this.settle();
    }
    const c = this.controller;
    if (c !== null && !c.aborted) c.abort(CLIENT_GONE);
  }

  /** MemberFilter: skip ejected members, on a retry the member that just failed, and members whose API cannot express the request. */
  skip(member: PoolMember): boolean {
    if (member === this.avoid || this.gw.health.isEjected(member, performance.now())) return true;
    const why = this.lacks(member);
    if (why === null) return false;
    this.unsupportedWhy = `${why} cannot be sent to provider '${member.provider.name}' (${member.provider.api} API)`;
    return true;
  }

  onWritable(): void {
    if (this.paused) {
      this.paused = false;
      this.controller?.resume();
    }
  }

  deadlineFired(): void {
    this.deadlineHit = true;
    const c = this.controller;
    if (c !== null && !c.aborted) c.abort(DEADLINE);
  }

  // --- admission: everything before the upstream call, synchronous ---

  private admit(): void {
    const req = this.req;
    const trace = this.trace;
    const plan = this.plan;
    if (req.traceparent !== '' || this.gw.spans) this.traceContext(req.traceparent);
    if (this.gw.isDraining) return this.fail('shutting_down', 'The gateway is shutting down; retry on another instance.');

    // 1. Authenticate.
    const presented = presentedKey(req.authorization, req.apiKey);
    if (presented === '') return this.fail('missing_api_key', 'Missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`.');
    const key = this.gw.lookupKey(plan, presented);
    if (key === null) return this.fail('invalid_api_key', 'Invalid API key.');
    this.key = key;
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
      this.rawText = raw.toString('utf8');
      parsed = JSON.parse(this.rawText);
    } catch {
      return this.fail('invalid_json', 'We could not parse the JSON body of your request.');
    }
    const decoded = DECODED;
    decodeIngress(this.ingress, parsed, decoded);
    const problem = decoded.problem;
    if (problem !== null) return this.fail('invalid_request', problem.message, problem.param === '' ? null : problem.param);
    const body = decoded.body!;
    decoded.body = null;
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
    this.named = route;
    trace.alias = route.isPrefix ? model : route.alias;

    // 4. Attribute.
    const md = body.metadata;
    trace.scenario_id = req.scenario !== '' ? req.scenario : md != null && typeof md.scenario_id === 'string' ? md.scenario_id : '';
    trace.owner = req.owner !== '' ? req.owner : md != null && typeof md.owner === 'string' ? md.owner : key.owner;
    if (route.requireScenario && trace.scenario_id === '') {
      return this.fail('missing_scenario_id', `Route '${route.alias}' requires a scenario: send the x-switchyard-scenario header or metadata.scenario_id.`, 'metadata.scenario_id');
    }
    if (trace.scenario_id !== '') {
      const scenario = plan.scenarios.get(trace.scenario_id);
      if (scenario !== undefined) {
        this.scenario = scenario;
        if (scenario.needsOutput) this.info.collect = new OutputCollector();
      } else if (plan.server.unknownScenario === 'refuse') {
        return this.fail('unknown_scenario', `Unknown scenario '${trace.scenario_id.slice(0, 200)}': the gateway's config does not list it.`, 'metadata.scenario_id');
      }
    }
    trace.prompt_version = route.prompt === null ? null : route.prompt.version;

    // 5. Lane, canary arm, pool member.
    trace.route_lane = classifyLane(route.lane, body);
    // Tools offered by the route's prompt template make the request agentic too (lane `auto`).
    if (route.lane === 'auto' && route.template !== null && route.template.toolNames.size > 0) trace.route_lane = 'agentic';
    if (route.canaryTargetIndex >= 0 && canaryArm(trace.request_id, route.canaryShare)) {
      trace.canary = true;
      this.route = plan.routes[route.canaryTargetIndex]!;
    }
    this.primary = this.route;
    if (!this.promptFor(this.route!)) return;
    const member = this.chooseMember(this.route!) ?? this.capableFallback();
    if (member === null) return this.noMember();
    // A fallback taken for a feature the first pool lacks may name another template.
    if (!this.promptFor(this.route!)) return;

    if (this.route!.pool.kind === 'batch' && this.ingress !== 'openai') {
      return this.fail('invalid_request', `Route '${route.alias}' runs on a batch pool: send the request to /v1/chat/completions.`, 'model');
    }
    if (this.route!.pool.kind === 'batch' && body.stream === true) {
      return this.fail('invalid_request', `Route '${route.alias}' runs on a batch pool: streaming is not available; send stream: false and poll the job.`, 'stream');
    }

    // 5b. Safety policy of the named route: input guards (a redaction rewrites what goes upstream).
    if (route.safety !== null && !this.checkInput(route)) return;
    // Output guards read OpenAI-format answers: an Anthropic client on a route with output rules is
    // refused rather than served unguarded (input guards work on the canonical request, any API).
    if (this.ingress === 'anthropic' && this.policy !== null && this.policy.checksOutput) {
      return this.fail('unsupported_feature', `Route '${route.alias}' has output safety rules, which apply to OpenAI-format answers only so far: send this request to /v1/chat/completions.`);
    }

    // 6. Token budget of the route (and the policy's input limit).
    const budget = route.tokenBudget;
    // The prompt template's parts go upstream too (an upper bound, computed once per template version).
    const templateTokens = this.route!.template === null ? 0 : this.route!.template.estTokens;
    const promptTokens = estimatePromptTokens(body) + templateTokens;
    const asked = body.max_completion_tokens ?? body.max_tokens ?? 0;
    if (budget.maxOutputTokens > 0 && asked > budget.maxOutputTokens) {
      return this.fail('invalid_request', `max_tokens ${asked} exceeds route '${route.alias}' limit of ${budget.maxOutputTokens} output tokens.`, body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens');
    }
    const policyMax = this.policy !== null ? this.policy.policy.maxInputTokens : 0;
    const inputLimit = policyMax > 0 && (budget.maxInputTokens === 0 || policyMax < budget.maxInputTokens) ? policyMax : budget.maxInputTokens;
    if (inputLimit > 0 && promptTokens > inputLimit) {
      // The cheap bound says "maybe too long": count with the tokenizer (in a worker when long) before refusing.
      const texts = promptTexts(body);
      const counted = this.gw.tokens.count(texts.texts, texts.chars);
      if (typeof counted === 'number') {
        if (!this.withinInputBudget(counted + texts.overhead + templateTokens)) return;
      } else {
        return this.later(counted, (n) => {
          if (this.withinInputBudget(n + texts.overhead + templateTokens)) this.reserve(promptTokens, asked);
        });
      }
    }
    this.reserve(promptTokens, asked);
  }

  /**
   * W3C trace context: continue the client's trace (its trace id; its span is our parent) or start one.
   * With spans exported, this request is a new span and the provider gets it as the parent; without,
   * the client's `traceparent` is passed upstream unchanged (a span that is never exported would break
   * the trace).
   */
  private traceContext(header: string): void {
    const ctx = header === '' ? null : parseTraceparent(header);
    if (this.gw.spans) {
      const span = new SpanContext();
      span.traceId = ctx !== null ? ctx.traceId : newTraceId();
      span.spanId = newSpanId();
      span.parentSpanId = ctx !== null ? ctx.parentId : '';
      span.startUnixMs = performance.timeOrigin + this.t0;
      span.sampled = isSampled(this.gw.sampler, span.traceId, ctx !== null ? ctx.flags : '');
      this.span = span;
      this.traceparent = formatTraceparent(span.traceId, span.spanId, span.sampled ? '01' : '00');
    } else if (ctx !== null) {
      this.traceparent = header;
    }
  }

  private withinInputBudget(tokens: number): boolean {
    const route = this.named!;
    if (route.tokenBudget.maxInputTokens > 0 && tokens > route.tokenBudget.maxInputTokens) {
      this.fail('invalid_request', `The prompt has ${tokens} tokens; route '${route.alias}' accepts at most ${route.tokenBudget.maxInputTokens}.`, 'messages');
      return false;
    }
    if (this.policy !== null && !this.policy.inputTokens(tokens)) {
      this.fail('policy_violation', this.policy.blocked!, 'messages');
      return false;
    }
    return true;
  }

  /** Input guards of the route's policy over the request's texts; false (answered) when one blocked. */
  private checkInput(route: RouteContext): boolean {
    const run = new PolicyRun(route.safety!);
    this.policy = run;
    const changed = REWRITTEN;
    changed.value = false;
    if (!checkChatRequest(run, this.body!, changed)) {
      this.fail('policy_violation', run.blocked!, 'messages');
      return false;
    }
    // Redacted: the upstream body is serialized from the rewritten messages, not the client's bytes, and
    // the prompt is assembled again from them (it was assembled before the guards ran).
    if (changed.value) {
      this.rawMessagesText = null;
      this.prompt.assembled = false;
      if (!this.promptFor(this.route!)) return false;
    }
    return true;
  }

  /** An output guard or tool rule blocked mid-stream: end the client's stream with an error event, cut the upstream. */
  private policyBlockStream(controller: UpstreamController, before: string): void {
    this.policyStopped = true;
    this.mode = MODE_NONE;
    const code: ErrorCode = 'policy_violation';
    if (before.length > 0 && this.trace.ttft_ms === null) this.trace.ttft_ms = round3(performance.now() - this.t0);
    this.sink.write(before + 'data: ' + openAIErrorBody(code, this.policy!.blocked!) + '\n\n');
    this.sink.end();
    this.trace.status = ERRORS[code].status;
    this.trace.error_code = code;
    if (!controller.aborted) controller.abort(POLICY_STOP);
  }

  /** The upstream is done (cut or ended) after a guard stopped the stream: account for what was generated. */
  private endPolicyStop(): void {
    if (this.settled) return;
    this.clearTimer();
    this.recordAttempt(200, null, true);
    this.trace.stop_reason = 'policy_violation';
    this.settle();
  }

  /** Go on when `p` resolves (a worker, a remote store); settles if nothing was sent upstream by then. */
  private later<T>(p: Promise<T>, then: (value: T) => void): void {
    this.dispatched = true; // start() must not settle: this path does
    p.then(
      (v) => {
        try {
          then(v);
          if (!this.upstreamStarted) this.settle();
        } catch (err) {
          this.internalError(err);
        }
      },
      (err: unknown) => this.internalError(err),
    );
  }

  /** 7. Admission: reserve on every limit of the tenant, the key and the named route, before the call. */
  private reserve(promptTokens: number, asked: number): void {
    const store = this.gw.limits;
    const route = this.named!;
    const admission = store === null ? null : this.gw.admissionFor(this.plan, this.key!, route);
    if (store === null || admission === null || admission.cells.length === 0) return this.dispatchUpstream();
    this.admission = admission;
    const outputTokens = asked > 0 ? asked : route.tokenBudget.maxOutputTokens;
    this.reservedTokens = promptTokens + outputTokens;
    this.reservedMicroUsd = usdToMicro(costUsd(this.member!.price, promptTokens, 0, outputTokens));
    const limits = admission.limits;
    const costs = new Array<number>(limits.length);
    for (let i = 0; i < limits.length; i++) costs[i] = this.unitCost(limits[i]!.unit);
    this.reserved = costs;
    const out = new ReserveOutcome();
    const r = store.reserve(admission.cells, costs, Date.now(), out);
    if (typeof r === 'boolean') return this.admitted(r, out);
    this.later(r, (ok) => this.admitted(ok, out));
  }

  private unitCost(unit: Limit['unit']): number {
    return unit === 'tokens' ? this.reservedTokens : unit === 'usd' ? this.reservedMicroUsd : 1;
  }

  /** After the store answered: call the provider, or refuse with 429 (503 when the store is down). */
  private admitted(ok: boolean, out: ReserveOutcome): void {
    if (ok) {
      // Admitted without the store (it is down, failure_mode open): nothing is held, nothing to give back.
      if (out.refusedIndex === STORE_UNAVAILABLE) this.reserved = null;
      return this.dispatchUpstream();
    }
    this.reserved = null; // nothing is held after a refusal
    if (out.refusedIndex === STORE_UNAVAILABLE) {
      return this.fail('limits_unavailable', 'Limits cannot be checked right now; retry shortly.');
    }
    const limit = this.admission!.limits[out.refusedIndex]!;
    this.gw.metrics.quotaRejections.inc([this.trace.tenant, this.named!.alias, limit.scope + ':' + limit.limitName]);
    const retryS = Math.max(1, Math.ceil(out.retryAfterMs / 1000));
    this.retryAfter = String(retryS);
    const h: string[] = [];
    if (limit.unit === 'requests') h.push('x-ratelimit-limit-requests', String(limit.cell.capacity), 'x-ratelimit-remaining-requests', String(out.remaining));
    else if (limit.unit === 'tokens') h.push('x-ratelimit-limit-tokens', String(limit.cell.capacity), 'x-ratelimit-remaining-tokens', String(out.remaining));
    this.limitHeaders = h;
    const what =
      limit.unit === 'requests' ? `${limit.cell.capacity} requests per minute`
      : limit.unit === 'tokens' ? `${limit.cell.capacity} tokens per minute`
      : limit.unit === 'concurrency' ? `${limit.cell.capacity} concurrent requests`
      : `a budget of $${(limit.cell.capacity / 1e6).toFixed(2)} per ${limit.cell.period}`;
    this.fail(limit.code, `Limit reached: ${limit.scope} ${limit.scope === 'route' ? this.named!.alias : limit.scope === 'tenant' ? this.trace.tenant : this.trace.key_id} allows ${what}.`);
  }

  /** The client's JSON text of `messages`, found once (null: serialize the parsed value instead); translators between different APIs ignore it. */
  private rawMessages(): string | null {
    if (this.rawMessagesText === undefined) this.rawMessagesText = this.ingress !== 'embeddings' ? memberText(this.rawText, 'messages') : null;
    return this.rawMessagesText;
  }

  /**
   * This attempt's upstream body. OpenAI in, OpenAI-compatible out (the hot path): the assembled,
   * canonical prompt (core/prompt: template parts first, fixed key order). Across APIs the translator
   * converts the request; a route's template parts are merged into a copy of it first, so a template
   * reaches every provider API.
   */
  private upstreamBody(translator: Translator, model: string): string {
    const p = this.prompt;
    const maxOut = this.named!.tokenBudget.maxOutputTokens;
    if (translator === TRANSLATORS.openai.openai) return translator.buildBody(this.body!, model, p.messagesJson, maxOut, p.toolsJson);
    if (p.template === null || this.ingress === 'embeddings') return translator.buildBody(this.body!, model, this.rawMessages(), maxOut);
    const templated = { ...this.body!, messages: JSON.parse(p.messagesJson) } as CanonicalRequest;
    if (p.toolsJson !== null) templated.tools = JSON.parse(p.toolsJson);
    return translator.buildBody(templated, model, null, maxOut);
  }

  /** Assemble the upstream prompt for `route`'s template (again only when it differs); false after answering with the problem. */
  private promptFor(route: RouteContext): boolean {
    const p = this.prompt;
    this.trace.prompt_version = route.prompt === null ? null : route.prompt.version;
    if (p.assembled && p.template === route.template) return true;
    if (assemblePrompt(this.body!, route.template, p)) return true;
    this.fail('invalid_request', p.error, 'tools');
    return false;
  }

  /**
   * The route's response cache (core/cache), before the first attempt: answer a hit now (no provider
   * call, no provider cost: reserved tokens and spend are refunded at settlement, the request still
   * counts against request limits), or note the key to store the answer under. True when answered.
   */
  private fromCache(): boolean {
    this.cacheChecked = true;
    const route = this.route!;
    // Answers are stored in the OpenAI format: other ingress APIs bypass the cache (trace: `bypass`).
    if (route.cache.response === null || this.ingress !== 'openai') return false;
    const trace = this.trace;
    const l = new ResponseLookup();
    const p = this.prompt;
    const hit = lookupResponse(this.gw.caches, route, this.named!, trace.tenant, trace.alias, this.body!, this.gw.chatTranslator, p.messagesJson, p.toolsJson, this.req.cacheControl, l);
    trace.cache = l.result;
    this.cacheKey = l.key;
    this.cacheRoute = route;
    if (!hit) return false;
    // The scenario's judge reads the answer (finish reason, output): take them from the stored body.
    if (this.scenario !== null) this.gw.chatTranslator.translateResponse(l.body!, trace.alias, this.info);
    trace.status = 200;
    trace.stop_reason = 'success';
    this.dispatched = true;
    this.responded = true;
    if (l.sse !== null) {
      this.sink.begin(200, this.routedHeaders(SSE_TYPE, false));
      this.sink.write(l.sse);
      this.sink.end();
    } else this.sink.send(200, this.routedHeaders(JSON_TYPE, true), l.body!);
    this.settle();
    return true;
  }

  /** Pick a member of `route`'s pool for the next attempt (and say so in the trace). */
  private chooseMember(route: RouteContext): PoolMember | null {
    const pool = route.pool;
    this.unsupportedWhy = '';
    const seq = this.seq + this.trace.attempts.length;
    let member: PoolMember | null;
    if (pool.kind === 'self_hosted') {
      this.prefixHash = pool.prefixAffinity === false ? 0 : this.prompt.prefixHash;
      member = chooseReplica(pool, route.allowedProviders, this.gw.load, this.prefixHash, seq, this);
    } else member = pickMember(pool, route.allowedProviders, seq, this);
    // The pickers fall back to a skipped member when all are skipped (ejection is soft); a member whose
    // API cannot express the request is never called.
    if (member !== null && this.unsupportedWhy !== '' && this.lacks(member) !== null) {
      // Everything left was skipped: a retry may go back to the member that just failed, if it can take it.
      const again = this.avoid;
      member = again !== null && pool.members.includes(again) && this.lacks(again) === null ? again : null;
    }
    if (member === null) return null;
    this.member = member;
    this.trace.pool_id = route.pool.id;
    this.trace.provider = member.provider.name;
    this.trace.model = member.model;
    return member;
  }

  /** Call the provider; the answer arrives through the handler methods below. */
  private dispatchUpstream(): void {
    const route = this.route!;
    if (!this.cacheChecked && this.fromCache()) return;
    if (route.pool.kind === 'batch') return this.enqueueBatch();
    if (route.pool.kind === 'self_hosted' && this.queueOverSlo(route)) return;
    const member = this.member!;
    // Per-attempt state (a retry or a fallback reuses this object as the undici handler).
    this.mode = MODE_NONE;
    this.chunks = [];
    this.size = 0;
    this.status = 0;
    this.controller = null;
    this.deadlineHit = false;
    this.retryAfter = '';
    this.retryAfterMs = 0;
    this.queueTimeMs = 0;
    this.info.reset();
    if (this.route!.pool.kind === 'self_hosted') {
      this.attemptLoad = this.gw.load.of(member);
      this.attemptLoad.inflight++;
    }
    const provider = member.provider;
    const translator = translatorFor(this.ingress, provider.api);
    this.translator = translator;
    let upstreamBody = this.upstreamBody(translator, member.model);
    // Self-hosted replicas schedule by vLLM's `priority` (lower first): the route's queue_priority.
    if (route.pool.kind === 'self_hosted') upstreamBody = upstreamBody.slice(0, -1) + ',"priority":' + route.queuePriority + '}';
    if (this.clientGone) return this.fail('client_closed_request', 'Client closed the request.');
    this.attemptStart = performance.now();
    this.gw.deadlines.add(this, this.attemptStart + provider.timeoutMs);
    this.dispatched = true;
    this.upstreamStarted = true;
    this.attemptRoute = route;
    this.gw.metrics.poolAttempt(route, 1);
    let headers = this.traceparent === '' ? this.gw.headersFor(provider) : this.gw.headersWithTrace(provider, this.traceparent);
    const beta = this.req.anthropicBeta;
    if (beta !== '' && provider.api === 'anthropic') headers = withAnthropicBeta(headers, beta);
    this.gw.upstream.dispatch(provider, translator.path, headers, upstreamBody, this);
  }

  /**
   * `queue_time_over_slo`: before calling a self-hosted replica, estimate the wait for a batch slot
   * (requests queued ahead × one request's decode time ÷ the batch size) and, when it exceeds the SLO's
   * time to first token and the route lists the condition, treat the attempt as failed without sending
   * it (the replica is not counted as failing: it is busy, not broken). True when it did so.
   */
  private queueOverSlo(route: RouteContext): boolean {
    const primary = this.primary!;
    if (!primary.fallbackCondition.includes('queue_time_over_slo') || primary.slo.ttftMs <= 0) return false;
    const pool = route.pool;
    const ahead = this.gw.load.expectedQueue(this.member!, pool.maxBatch);
    if (ahead === 0 || pool.decodeTokensPerS <= 0) return false;
    const body = this.body!;
    const outTokens = body.max_completion_tokens ?? body.max_tokens ?? route.tokenBudget.maxOutputTokens;
    const expectedMs = (ahead * ((outTokens / pool.decodeTokensPerS) * 1000)) / Math.max(1, pool.maxBatch);
    if (expectedMs <= primary.slo.ttftMs) return false;
    this.attemptStart = performance.now();
    this.queueTimeMs = Math.round(expectedMs);
    this.attemptFailed('queue_time_over_slo', 503, 'upstream_unavailable', `Pool '${pool.id}' would queue this request about ${Math.round(expectedMs)} ms, over the route's ${primary.slo.ttftMs} ms time to first token.`, false);
    return true;
  }

  /** Batch pools: answer 202 with the job now; the batch result settles the request later. */
  private enqueueBatch(): void {
    if (this.clientGone) return this.fail('client_closed_request', 'Client closed the request.');
    const trace = this.trace;
    this.job = { id: 'job_' + trace.request_id.slice(4), tenant: trace.tenant, model: trace.alias, createdAt: Date.now(), status: 'queued', response: null, error: null, finishedAt: 0 };
    this.attemptStart = performance.now();
    this.dispatched = true;
    this.upstreamStarted = true;
    this.responded = true;
    this.attemptRoute = this.route;
    this.gw.metrics.poolAttempt(this.route!, 1);
    this.gw.batches.enqueue(this.member!, this);
    const h = this.routedHeaders(JSON_TYPE, false);
    h.push('location', '/v1/batch_jobs/' + this.job.id);
    this.sink.send(202, h, jobJson(this.job));
  }

  /** @internal BatchJobOwner: the upstream body of this request. */
  batchBody(): string {
    return this.gw.chatTranslator.buildBody(this.body!, this.member!.model, this.prompt.messagesJson, undefined, this.prompt.toolsJson);
  }

  /** @internal BatchJobOwner: the batch answered (or failed); record, account and settle. */
  batchDone(result: BatchResult | null, failure: string | null): void {
    const job = this.job;
    job.finishedAt = Date.now();
    try {
      if (result !== null && result.status === 200) {
        let response = this.gw.chatTranslator.translateResponse(Buffer.from(result.body), this.trace.alias, this.info);
        const checked = this.policy !== null && this.policy.checksOutput ? checkCompletion(this.policy, response, this.body!) : response;
        this.recordAttempt(200, null, true);
        if (checked === null) {
          job.status = 'failed';
          job.error = { code: 'policy_violation', message: this.policy!.blocked! };
          this.trace.status = ERRORS.policy_violation.status;
          this.trace.error_code = 'policy_violation';
        } else {
          response = checked;
          job.response = String(response);
          job.status = 'completed';
          this.trace.status = 200;
        }
      } else {
        const status = result?.status ?? 502;
        const code: ErrorCode = status === 429 ? 'upstream_rate_limited' : status >= 400 && status < 500 ? 'invalid_request' : 'upstream_error';
        job.status = 'failed';
        job.error = { code, message: failure ?? `The request failed in the batch (HTTP ${status}).` };
        this.recordAttempt(status, code);
        this.trace.status = ERRORS[code].status;
        this.trace.error_code = code;
      }
    } catch (err) {
      job.status = 'failed';
      job.error = { code: 'upstream_bad_response', message: 'The provider returned a malformed batch result.' };
      this.trace.status = 502;
      this.trace.error_code = 'upstream_bad_response';
      // The error's name only: V8's JSON errors quote the text, which may hold what a policy guards.
      process.stderr.write(`switchyard: batch result of ${this.trace.request_id}: ${(err as Error).name}\n`);
    }
    this.settle();
  }

  /** Give back what admission held, against what the request really used. Runs once, from settle. */
  private settleLimits(): void {
    const costs = this.reserved;
    const store = this.gw.limits;
    if (costs === null || store === null) return;
    this.reserved = null;
    const trace = this.trace;
    const usedTokens = trace.input_tokens + trace.output_tokens;
    const usedMicroUsd = Math.round(trace.cost_usd * 1e6);
    const limits = this.admission!.limits;
    for (let i = 0; i < limits.length; i++) {
      const unit = limits[i]!.unit;
      // A request stays counted; tokens and spend are reconciled with usage; concurrency is released.
      costs[i] = unit === 'requests' ? 0 : unit === 'tokens' ? this.reservedTokens - usedTokens : unit === 'usd' ? this.reservedMicroUsd - usedMicroUsd : 1;
    }
    const r = store.release(this.admission!.cells, costs, Date.now());
    if (r !== undefined) r.catch(noop);
  }

  // --- undici handler: the upstream answer ---

  onRequestStart(controller: UpstreamController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(CLIENT_GONE);
    else if (this.deadlineHit) controller.abort(DEADLINE);
  }

  onResponseStart(controller: UpstreamController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.controller = controller;
    this.status = statusCode;
    // Self-hosted replicas say how long the request waited for a batch slot.
    const q = headers['x-queue-time-ms'];
    if (typeof q === 'string') {
      const v = Number(q);
      if (Number.isFinite(v) && v >= 0) this.queueTimeMs = v;
    }
    if (statusCode !== 200) {
      this.mode = MODE_ERROR;
      const ra = headers['retry-after'];
      if (typeof ra === 'string' && /^\d{1,6}$/.test(ra)) {
        this.retryAfter = ra;
        this.retryAfterMs = Number(ra) * 1000;
      }
      return;
    }
    if (this.body!.stream !== true) {
      this.mode = MODE_BODY;
      return;
    }
    // A stream's deadline covers the wait for headers; after that undici's body timeout bounds each gap.
    this.clearTimer();
    this.mode = MODE_STREAM;
    this.decoder = this.translator.createStream(this.trace.alias, this.body!.stream_options?.include_usage === true, this.info);
    if (this.policy !== null && this.policy.checksOutput) this.policyStream = new ChatStreamFilter(this.policy, this.body!);
    this.capture = this.cacheKey !== '' && this.cacheRoute === this.route ? new StreamCapture() : null;
    this.responded = true;
    this.trace.status = 200;
    this.sink.begin(200, this.routedHeaders(SSE_TYPE, false));
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    const mode = this.mode;
    if (mode === MODE_STREAM) {
      let out = this.decoder!.push(chunk);
      if (this.policyStream !== null && out.length > 0) {
        out = this.policyStream.push(out);
        // Blocked: what came before the offending event still goes out, then the error event.
        if (this.policyStream.blocked) return this.policyBlockStream(controller, out);
      }
      if (out.length === 0) return;
      if (this.capture !== null) this.capture.push(out);
      if (this.trace.ttft_ms === null) this.trace.ttft_ms = round3(performance.now() - this.t0);
      // Backpressure: stop reading the provider until the client's socket drains (onWritable).
      if (!this.sink.write(out) && !this.sink.closed) {
        this.paused = true;
        controller.pause();
      }
      return;
    }
    if (this.policyStopped || (mode === MODE_ERROR && this.size + chunk.length > MAX_UPSTREAM_ERROR_BYTES)) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  onResponseEnd(): void {
    try {
      if (this.policyStopped) return this.endPolicyStop();
      const mode = this.mode;
      if (mode === MODE_BODY) this.completeBody();
      else if (mode === MODE_STREAM) this.completeStream(null);
      else this.completeError();
    } catch (err) {
      this.internalError(err);
    }
  }

  onResponseError(_controller: UpstreamController, err: Error): void {
    try {
      if (this.policyStopped) return this.endPolicyStop();
      if (this.mode === MODE_STREAM) this.completeStream(err);
      else this.upstreamFailed(err);
    } catch (e) {
      this.internalError(e);
    }
  }

  // --- completion paths ---

  private completeBody(): void {
    this.clearTimer();
    const provider = this.member!.provider;
    const raw = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = EMPTY_CHUNKS;
    let out: Buffer | string;
    let checked: Buffer | string | null;
    try {
      out = this.translator.translateResponse(raw, this.trace.alias, this.info);
      // Output guards and tool rules (the error of an unreadable answer never carries its text).
      checked = this.policy !== null && this.policy.checksOutput ? checkCompletion(this.policy, out, this.body!) : out;
    } catch {
      return this.attemptFailed('5xx', 502, 'upstream_bad_response', `The provider '${provider.name}' returned a malformed response.`);
    }
    this.gw.health.success(this.member!);
    if (checked === null) {
      // An output guard or tool rule blocked the answer: it was generated (and is accounted), not sent.
      this.recordAttempt(200, null, true);
      this.trace.stop_reason = 'policy_violation';
      this.fail('policy_violation', this.policy!.blocked!);
      return this.settle();
    }
    out = checked;
    // A route may re-ask when the answer fails its scenario's quality checks (retry_on: [quality_failure]).
    const scenario = this.scenario;
    if (scenario !== null && this.primary!.retryOnQuality && !this.clientGone) {
      const verdict = newVerdict();
      if (qualityProblem(scenario.success, this.judgeInput(), verdict) !== null) {
        this.recordAttempt(200, 'quality_failure', true);
        if (this.reask()) return;
      } else this.recordAttempt(200, null, true);
    } else this.recordAttempt(200, null, true);
    // Store a good answer of the route's own pool (not a fallback's, not a quality failure) under the request's key.
    if (this.cacheKey !== '' && this.cacheRoute === this.route && this.trace.stop_reason === 'success') this.gw.caches.responses.set(this.route!.index, this.cacheKey, this.trace.tenant, out);
    if (this.clientGone) {
      this.fail('client_closed_request', 'Client closed the request.');
      return this.settle();
    }
    this.responded = true;
    this.trace.status = 200;
    this.sink.send(200, this.routedHeaders(JSON_TYPE, true), out);
    this.settle();
  }

  private completeStream(failure: Error | null): void {
    const sink = this.sink;
    const info = this.info;
    const trace = this.trace;
    if (this.clientGone) {
      this.recordAttempt(499, 'client_closed_request', true);
      trace.status = 499;
      trace.error_code = 'client_closed_request';
      return this.settle();
    }
    let tail = failure === null ? this.decoder!.finish() : '';
    if (this.policyStream !== null && failure === null) {
      const f = this.policyStream;
      tail = f.push(tail);
      if (!f.blocked) tail += f.flush();
      if (f.blocked) {
        this.policyStopped = true;
        sink.write(tail + 'data: ' + openAIErrorBody('policy_violation', this.policy!.blocked!) + '\n\n');
        sink.end();
        trace.status = ERRORS.policy_violation.status;
        trace.error_code = 'policy_violation';
        return this.endPolicyStop();
      }
    }
    if (tail.length > 0) sink.write(tail);
    if (this.capture !== null && tail.length > 0) this.capture.push(tail);
    if (failure !== null || !info.sawDone || info.streamError !== null) {
      // Never retried after the first byte: the client gets a terminal error event, and what was sent is accounted.
      const code: ErrorCode = failure !== null && classifyUpstreamError(failure, this.deadlineHit, false) === 'timeout' ? 'upstream_timeout' : 'upstream_stream_interrupted';
      const message = info.streamError !== null ? 'The provider reported an error mid-stream.' : 'The provider stream ended before completion.';
      sink.write(streamErrorEvent(this.ingress, code, message));
      sink.end();
      this.recordAttempt(ERRORS[code].status, code, true);
      trace.status = ERRORS[code].status;
      trace.error_code = code;
      return this.settle();
    }
    this.recordAttempt(200, null, true);
    if (sink.streamUsage !== undefined) sink.streamUsage(trace);
    sink.end();
    const folded = this.capture !== null ? this.capture.finish() : null;
    if (folded !== null) this.gw.caches.responses.set(this.cacheRoute!.index, this.cacheKey, trace.tenant, folded);
    this.settle();
  }

  private completeError(): void {
    this.clearTimer();
    const status = this.status;
    const provider = this.member!.provider;
    let message = '';
    let errorCode = '';
    try {
      const parsed = JSON.parse(Buffer.concat(this.chunks, this.size).toString('utf8'));
      if (parsed != null && typeof parsed.error?.message === 'string') message = parsed.error.message;
      if (parsed != null && typeof parsed.error?.code === 'string') errorCode = parsed.error.code;
    } catch {
      // The error body is advisory; the status decides.
    }
    this.chunks = EMPTY_CHUNKS;
    let code: ErrorCode;
    let text: string;
    let kind: FailureKind = '5xx';
    if (status === 429) {
      code = 'upstream_rate_limited';
      kind = 'rate_limited';
      text = `The provider '${provider.name}' is rate limiting requests; retry later.`;
    } else if (status === 401 || status === 403) {
      code = 'upstream_auth_failed';
      text = `The provider '${provider.name}' rejected the gateway's credentials.`;
    } else if (status >= 400 && status < 500) {
      code = 'invalid_request';
      kind = errorCode === 'context_length_exceeded' ? 'context_length' : errorCode === 'content_filter' || errorCode === 'content_policy_violation' ? 'content_policy' : 'client_error';
      text = message !== '' ? `The provider rejected the request: ${message.slice(0, 500)}` : `The provider rejected the request (HTTP ${status}).`;
    } else if (status === 503 || status === 529) {
      // 529: Anthropic's "overloaded".
      code = 'upstream_unavailable';
      text = `The provider '${provider.name}' is unavailable (HTTP ${status}).`;
    } else if (status === 504) {
      code = 'upstream_timeout';
      kind = 'timeout';
      text = `The provider '${provider.name}' timed out (HTTP 504).`;
    } else {
      code = 'upstream_error';
      text = `The provider '${provider.name}' failed (HTTP ${status}).`;
    }
    this.attemptFailed(kind, status, code, text);
  }

  private upstreamFailed(err: unknown): void {
    this.clearTimer();
    const provider = this.member!.provider;
    const kind = classifyUpstreamError(err, this.deadlineHit, this.clientGone);
    if (kind === 'aborted') {
      this.recordAttempt(499, 'client_closed_request');
      this.fail('client_closed_request', 'Client closed the request.');
      return this.settle();
    }
    if (kind === 'timeout') return this.attemptFailed('timeout', 504, 'upstream_timeout', `The provider '${provider.name}' did not answer within ${provider.timeoutMs} ms.`);
    this.attemptFailed('connection_error', 502, 'upstream_connection_error', `The connection to provider '${provider.name}' failed.`);
  }

  /**
   * An attempt failed before anything reached the client: record it, then retry, fall back, or answer
   * with this attempt's error (routing/retry.ts decides; the trace keeps every attempt and the reason).
   */
  private attemptFailed(kind: FailureKind, status: number, code: ErrorCode, message: string, memberFailed = true): void {
    this.recordAttempt(status, code);
    const member = this.member!;
    if (memberFailed && kind !== 'client_error' && kind !== 'context_length' && kind !== 'content_policy') this.gw.health.failure(this.route!.pool, member, performance.now());
    if (this.isRetry) {
      this.isRetry = false;
      this.gw.retryBudget.end();
    }
    if (this.clientGone) {
      this.fail('client_closed_request', 'Client closed the request.');
      return this.settle();
    }
    this.decideAndGo(kind, member, code, message);
  }

  /**
   * The answer failed its scenario's quality checks (the attempt is recorded): re-ask when the stop
   * criteria allow, and say true; false when the answer stands (the caller sends it).
   */
  private reask(): boolean {
    if (this.isRetry) {
      this.isRetry = false;
      this.gw.retryBudget.end();
    }
    return this.decideAndGo('quality_failure', this.member!, null, '');
  }

  /**
   * After a failed attempt: retry, fall back, or stop (then answer with `code`, or when `code` is null
   * leave the answer to the caller). True when another attempt is under way.
   */
  private decideAndGo(kind: FailureKind, member: PoolMember, code: ErrorCode | null, message: string): boolean {
    const step = decideNext(
      kind,
      this.primary!,
      {
        attempts: this.trace.attempts.length,
        retriesOnRoute: this.retriesOnRoute,
        fallbackPos: this.fallbackPos,
        elapsedMs: performance.now() - this.t0,
        spentUsd: this.spentUsd,
        retryAfterMs: this.retryAfterMs,
      },
      this.gw.retryBudget.canRetry(this.gw.inFlight),
      Math.random(),
    );
    if (step.action === 'stop') {
      this.trace.stop_reason = step.reason;
      if (code === null) return false;
      this.fail(code, message);
      this.settle();
      return false;
    }
    this.fallbackReasons += (this.fallbackReasons === '' ? '' : '>') + kind;
    const fromPool = this.route!.pool.id;
    const toPool = step.action === 'retry' ? fromPool : this.plan.routes[step.routeIndex]!.pool.id;
    this.gw.metrics.fallbacks.inc([this.named!.alias, fromPool, toPool, kind]);
    if (step.action === 'retry') {
      this.retriesOnRoute++;
      this.isRetry = true;
      this.gw.retryBudget.begin();
      this.avoid = member;
    } else {
      this.route = this.plan.routes[step.routeIndex]!;
      this.fallbackPos++;
      this.retriesOnRoute = 0;
      this.avoid = null;
    }
    if (step.delayMs > 0) this.retryTimer = setTimeout(nextAttempt, step.delayMs, this);
    else this.nextAttempt();
    return true;
  }

  /** @internal the next attempt after a retry or fallback decision (from a timer or at once). */
  nextAttempt(): void {
    this.retryTimer = null;
    try {
      if (!this.promptFor(this.route!)) return this.settle();
      const member = this.chooseMember(this.route!);
      this.avoid = null;
      if (member === null) {
        this.noMember();
        return this.settle();
      }
      this.dispatchUpstream();
    } catch (err) {
      this.internalError(err);
    }
  }

  /** A bug, not a request problem: a generic 500 to the client, the detail to stderr only. */
  private internalError(err: unknown): void {
    process.stderr.write(`switchyard: internal error on ${this.trace.request_id}: ${(err as Error)?.stack ?? String(err)}\n`);
    const c = this.controller;
    if (c !== null && !c.aborted) c.abort(new Error('internal error'));
    if (!this.responded) this.fail('internal_error', 'Internal error.');
    else if (!this.sink.closed) this.sink.end();
    this.trace.status = 500;
    this.trace.error_code = 'internal_error';
    this.settle();
  }

  /**
   * Record the attempt just ended, priced: tokens from the provider's reported usage, or, for an attempt
   * the provider served (`served`: an answer or a stream began) without reporting usage, estimated from
   * characters. An attempt that got no answer consumed nothing. The request's totals are the sums over
   * its attempts: a failed or re-asked attempt's tokens and cost are attributed, not dropped.
   */
  private recordAttempt(status: number, errorCode: string | null, served = false): void {
    if (this.attemptRoute !== null) this.gw.metrics.queued(this.attemptRoute, this.queueTimeMs);
    this.releaseLoad();
    const info = this.info;
    const trace = this.trace;
    let input = 0;
    let cached = 0;
    let output = 0;
    if (info.usageReported) {
      input = info.inputTokens;
      cached = info.cachedInputTokens;
      output = info.outputTokens;
      this.gw.caches.metrics.prefix(this.named!, cached, input);
    } else if (served) {
      input = estimateTokensFromChars(promptChars(this.body!));
      output = estimateTokensFromChars(info.outputChars);
      trace.tokens_estimated = true;
    }
    const attemptMs = performance.now() - this.attemptStart;
    const pool = this.route!.pool;
    const price = this.member!.price;
    // By the serving pool's kind: tokens × prices (less a batch discount), or GPU time (accounting/attribute.ts).
    const cost = input + output === 0 && !served ? 0 : requestCostUsd(pool, price, input, cached, output, attemptMs, this.queueTimeMs);
    const rec: AttemptRecord = {
      pool_id: pool.id,
      provider: this.member!.provider.name,
      status,
      error_code: errorCode,
      queue_time_ms: this.queueTimeMs,
      latency_ms: round3(attemptMs),
      input_tokens: input,
      cached_input_tokens: cached,
      output_tokens: output,
      cost_usd: cost,
    };
    trace.attempts.push(rec);
    if (served && !info.usageReported) this.countEstimate(rec, pool, price, attemptMs, this.queueTimeMs);
    trace.input_tokens += input;
    trace.cached_input_tokens += cached;
    trace.output_tokens += output;
    trace.cost_usd += cost;
    this.spentUsd += cost;
    trace.queue_time_ms += this.queueTimeMs;
    trace.stop_reason = errorCode === null ? 'success' : errorCode;
  }

  /**
   * Usage missing on a served attempt: count its prompt and the output that reached the gateway with the
   * tokenizer (inline when short, else in a worker), replacing the character estimate in the attempt and
   * the totals, and its cost.
   */
  private countEstimate(rec: AttemptRecord, pool: PoolContext, price: ModelPrice | null, attemptMs: number, queueMs: number): void {
    const p = promptTexts(this.body!);
    const out = unescapeJsonText(this.info.outputText);
    const tokens = this.gw.tokens;
    const enc = encodingFor(this.member!.model);
    const input = tokens.count(p.texts, p.chars, enc);
    const output = out.length === 0 ? 0 : tokens.count([out], out.length, enc);
    if (typeof input === 'number' && typeof output === 'number') return this.setEstimate(rec, input + p.overhead, output, pool, price, attemptMs, queueMs);
    const counted = Promise.all([input, output]).then(
      ([i, o]) => this.setEstimate(rec, i + p.overhead, o, pool, price, attemptMs, queueMs),
      () => {}, // the character estimate stands
    );
    this.pendingEstimate = this.pendingEstimate === null ? counted : Promise.all([this.pendingEstimate, counted]);
  }

  private setEstimate(rec: AttemptRecord, input: number, output: number, pool: PoolContext, price: ModelPrice | null, attemptMs: number, queueMs: number): void {
    const t = this.trace;
    const cost = requestCostUsd(pool, price, input, 0, output, attemptMs, queueMs);
    t.input_tokens += input - rec.input_tokens;
    t.output_tokens += output - rec.output_tokens;
    t.cost_usd += cost - rec.cost_usd;
    this.spentUsd += cost - rec.cost_usd;
    rec.input_tokens = input;
    rec.output_tokens = output;
    rec.cost_usd = cost;
  }

  /** What the scenario's judge reads, from the trace and the request as they stand. */
  private judgeInput(): JudgeInput {
    const t = this.trace;
    const route = this.primary!;
    return {
      status: t.status === 0 ? 200 : t.status,
      errorCode: t.error_code,
      stream: t.stream,
      ttftMs: t.ttft_ms,
      latencyMs: t.latency_ms,
      costUsd: t.cost_usd,
      finishReason: this.info.finishReason,
      output: this.info.collect,
      request: this.body,
      slo: route.slo,
      routeBudgetUsd: route.budgetMaxCostUsd,
    };
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
      'x-switchyard-fallback', this.fallbackReasons === '' ? 'none' : this.fallbackReasons,
      'x-switchyard-cache', t.cache,
    ];
    if (withCost) h.push('x-switchyard-cost-usd', t.cost_usd.toFixed(8));
    return h;
  }

  /** What the request needs that `member`'s API lacks (null: nothing), asked of the pair's translator once per API. */
  private lacks(member: PoolMember): string | null {
    if (member.provider.api === 'openai') {
      if (this.lacksOpenAI === undefined) this.lacksOpenAI = translatorFor(this.ingress, 'openai').unsupported(this.body!);
      return this.lacksOpenAI;
    }
    if (this.lacksAnthropic === undefined) this.lacksAnthropic = translatorFor(this.ingress, 'anthropic').unsupported(this.body!);
    return this.lacksAnthropic;
  }

  /**
   * No member of the route's pool can take the request: when members were skipped for a feature their
   * API lacks, the first fallback route with a member that can (the request falls to it before any call).
   */
  private capableFallback(): PoolMember | null {
    if (this.unsupportedWhy === '') return null;
    const why = this.unsupportedWhy;
    const chain = this.primary!.fallbackIndices;
    for (let i = 0; i < chain.length; i++) {
      const route = this.plan.routes[chain[i]!]!;
      const member = this.chooseMember(route);
      if (member !== null) {
        this.gw.metrics.fallbacks.inc([this.named!.alias, this.primary!.pool.id, route.pool.id, 'unsupported']);
        this.route = route;
        this.fallbackPos = i;
        this.fallbackReasons += (this.fallbackReasons === '' ? '' : '>') + 'unsupported';
        return member;
      }
    }
    this.unsupportedWhy = why;
    return null;
  }

  /** Refuse for want of a member: a feature no member's API has (400), or no member available (503). */
  private noMember(): void {
    if (this.unsupportedWhy !== '') return this.fail('unsupported_feature', `This request cannot be served on route '${this.named!.alias}': ${this.unsupportedWhy}.`);
    this.fail('no_provider_available', `No provider of pool '${this.route!.pool.id}' is allowed for this route.`);
  }

  /** Answer with an error (once) and record it. The caller settles. */
  private fail(code: ErrorCode, message: string, param: string | null = null): void {
    const trace = this.trace;
    trace.status = ERRORS[code].status;
    trace.error_code = code;
    if (this.responded || this.clientGone) return;
    this.responded = true;
    const body = errorBody(this.ingress, code, message, param);
    let headers: readonly string[];
    if (this.route !== null && trace.route_lane !== '') {
      const h = this.routedHeaders(JSON_TYPE, false);
      if (this.retryAfter !== '') h.push('retry-after', this.retryAfter);
      if (this.limitHeaders !== null) for (const x of this.limitHeaders) h.push(x);
      headers = h;
    } else {
      headers = ['content-type', JSON_TYPE, 'x-request-id', trace.request_id];
    }
    this.sink.send(errorStatus(this.ingress, code), headers, body);
  }

  private clearTimer(): void {
    if (this.deadlineAt !== 0) this.gw.deadlines.remove(this);
  }

  /** The platform metrics of a routed request (labels from config: the named alias, lane, pool). */
  private count(): void {
    const m = this.gw.metrics;
    const t = this.trace;
    m.requestDone(this.named!, this.route!, t.route_lane, t.outcome, t.latency_ms, t.ttft_ms, t.cost_usd);
    if (t.status === 200) {
      const missing = t.scenario_id === '' ? 'scenario_id' : t.owner === '' ? 'owner' : this.member === null || !costKnown(this.route!.pool, this.member.price) ? 'price' : '';
      if (missing === '') m.attributionComplete.inc(NO_LABELS);
      else m.attributionIncomplete.inc([missing]);
    }
  }

  private releaseLoad(): void {
    if (this.attemptRoute !== null) {
      this.gw.metrics.poolAttempt(this.attemptRoute, -1);
      this.attemptRoute = null;
    }
    if (this.attemptLoad !== null) {
      this.attemptLoad.inflight--;
      this.attemptLoad = null;
    }
  }

  /** The one exit: runs exactly once per call, whatever path the call took. */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer();
    this.releaseLoad();
    if (this.isRetry) {
      this.isRetry = false;
      this.gw.retryBudget.end();
    }
    const trace = this.trace;
    trace.ts = isoTime(this.startMs);
    trace.latency_ms = round3(performance.now() - this.t0);
    if (trace.ttft_ms === null && trace.status === 200) trace.ttft_ms = trace.latency_ms;
    if (trace.status === 0) trace.status = this.clientGone ? 499 : 500;
    if (this.clientGone && trace.error_code === null && trace.status !== 200) trace.error_code = 'client_closed_request';
    if (this.pendingEstimate !== null) {
      // Tokens are being counted in a worker: judge and record once they are (drain waits: the call is still in flight).
      this.pendingEstimate.then(() => this.record(), () => this.record());
      return;
    }
    this.record();
  }

  /** The end of settle, with the final tokens: the outcome, limits reconciled, metrics, the trace (and ledger) record. */
  private record(): void {
    const trace = this.trace;
    if (this.scenario === null || trace.status !== 200 || trace.error_code !== null) {
      trace.outcome = trace.status === 200 && trace.error_code === null ? 'success' : 'error';
    } else {
      const v = judge(this.scenario, this.judgeInput(), newVerdict());
      trace.outcome = v.outcome;
      trace.failed_check = v.failedCheck;
    }
    if (trace.stop_reason === '') trace.stop_reason = trace.error_code ?? 'success';
    this.settleLimits();
    if (this.policy !== null) this.policy.report(trace.policy_violations, this.gw.metrics.policyViolations);
    if (this.named !== null && trace.route_lane !== '') this.count();
    this.gw.traces.write(trace, this.span);
    this.gw.leave();
  }
}

const EMPTY_CHUNKS: Buffer[] = [];
/** Filled and read synchronously by admit() (one thread, no await between): no allocation per request. */
const DECODED = new Decoded();
/** Scratch flag for checkChatRequest (requests run one at a time on a thread). */
const REWRITTEN = { value: false };
const NO_LABELS: readonly string[] = Object.freeze([]);
/** `ChatCall.job` until the request becomes a batch job (keeps the field one shape). */
const NO_JOB: BatchJob = Object.freeze({ id: '', tenant: '', model: '', createdAt: 0, status: 'queued', response: null, error: null, finishedAt: 0 }) as BatchJob;
/** ReserveOutcome.refusedIndex when the store could not be asked (core/limits/store.ts). */
const STORE_UNAVAILABLE = -2;

function noop(): void {}

function newVerdict(): Verdict {
  return { outcome: 'success', failedCheck: null, detail: '' };
}

function nextAttempt(call: ChatCall): void {
  call.nextAttempt();
}

/**
 * Prompt tokens, estimated before the call to reserve against token limits: an upper bound rather than
 * a guess (UTF-8 bytes ÷ 3, plus 4 per message and 3 for the reply's priming), so a token quota is not
 * exceeded by under-estimates; settlement refunds the difference from the provider's usage.
 */
function estimatePromptTokens(body: CanonicalRequest): number {
  const messages = body.messages;
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const c = messages[i]!.content;
    if (typeof c === 'string') bytes += Buffer.byteLength(c);
    else if (c != null) bytes += Buffer.byteLength(JSON.stringify(c));
    const tc = messages[i]!.tool_calls;
    if (tc != null) bytes += Buffer.byteLength(JSON.stringify(tc));
  }
  if (body.tools != null) bytes += Buffer.byteLength(JSON.stringify(body.tools));
  return Math.ceil(bytes / 3) + 4 * messages.length + 3;
}

/** The prompt's texts for the tokenizer, their length, and the per-message overhead (4 each, 3 for the reply). */
function promptTexts(body: CanonicalRequest): { texts: string[]; chars: number; overhead: number } {
  const texts: string[] = [];
  let chars = 0;
  const messages = body.messages;
  for (let i = 0; i < messages.length; i++) {
    const c = messages[i]!.content;
    const t = typeof c === 'string' ? c : c != null ? JSON.stringify(c) : '';
    texts.push(t);
    chars += t.length;
  }
  if (body.tools != null) {
    const t = JSON.stringify(body.tools);
    texts.push(t);
    chars += t.length;
  }
  return { texts, chars, overhead: 3 + 4 * messages.length };
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function promptChars(body: CanonicalRequest): number {
  let n = 0;
  const messages = body.messages;
  for (let i = 0; i < messages.length; i++) {
    const c = messages[i]!.content;
    if (typeof c === 'string') n += c.length;
    else if (c != null) n += JSON.stringify(c).length;
  }
  return n;
}
