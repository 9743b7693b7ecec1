// OpenAI-compatible managed-API ("MaaS") simulator on uWebSockets.js: seeded, reproducible, loopback.
// An independent check on the gateway: imports `core/schema` types at most, never gateway logic.
//
// Hot path (non-streaming, no delays): the body is parsed and answered inside the last onData callback,
// in one corked write; response JSON is assembled from strings, not objects.

import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ChatTool } from '../core/schema/openai.js';
import { Directives, MessageScan, chatBodyError, includeUsageOf, maxTokensOf, readDirectives, scanMessages, type DirectiveRules } from './chat-request.js';
import { FNV1A_BASIS, Rng, callId, fmix32, jsonPieces, objectForSchema, seed32, textPieces, words } from './generate.js';
import {
  BEARER_RE,
  DONE_CHUNK,
  ERR_BAD_JSON,
  ERR_RATE_LIMITED,
  ERR_SERVER,
  ERR_TOO_LARGE,
  ERR_UNAUTHORIZED,
  ERR_UNAVAILABLE,
  HEALTH_BODY,
  ROLE_DELTA,
  SIM_FINGERPRINT,
  badRequest,
  chunkPrefix,
  chunkSuffix,
  completionJson,
  contentChunk,
  finishChunk,
  textMessageJson,
  toolCallMessageJson,
  usageChunk,
  usageJson,
  type HttpError,
} from './openai-wire.js';
import { FAULT_KINDS, resolveProfile, type FaultKind, type ResolvedProfile, type SimProfile } from './profile.js';
import { MAX_CHAT_BODY_BYTES, bodyText, closeApp, listenApp, requestHeaders, sendInvalidUrl, sendJson, uWS } from './uws.js';

// ---------------------------------------------------------------------------------------------------
// Public API

export interface MaasRequestLogEntry {
  id: string;
  model: string;
  stream: boolean;
  /** HTTP status sent to the client; 0 when none was sent (reset, timeout, client abort before the answer). */
  status: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  /** The injected fault, if any. */
  fault: FaultKind | null;
  /** The client (or close()) went away before the exchange finished. */
  aborted: boolean;
  /** The request's `user` field ('' when absent): lets a test match its requests one by one. */
  user: string;
}

/** One bucket of the provider-side usage report (OpenAI's organization usage API shape). */
export interface MaasUsageResult {
  object: 'organization.usage.completions.result';
  model: string;
  input_tokens: number;
  input_cached_tokens: number;
  output_tokens: number;
  num_model_requests: number;
}

export interface MaasStats {
  /** POST /v1/chat/completions requests received (including 401/400 and faulted ones). */
  requests: number;
  /**
   * Finished chat-completion exchanges by outcome: the HTTP status for complete answers, else the fault
   * kind for answers that never completed (`timeout`, `reset`, `stream_cut`), else `aborted`.
   */
  byStatus: Record<string, number>;
  /** Tokens generated: prompt tokens of answered requests and completion tokens actually emitted. */
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the prefix cache (part of promptTokens). */
  cachedTokens: number;
  /** The last chat-completion request as received (header names lower-case). */
  lastRequest: { headers: Record<string, string>; body: string } | null;
  /** The last finished exchanges (bounded: about the last 10,000). */
  requestLog: MaasRequestLogEntry[];
}

export interface MaasSimulator {
  /** Base URL for OpenAI clients, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  /** The resolved profile in use. */
  profile: ResolvedProfile;
  stats: MaasStats;
  /** Close the listen socket and every open connection (held requests included). Idempotent. */
  close(): Promise<void>;
}

export interface MaasSimulatorOptions {
  host?: string;
  port?: number;
}

export async function startMaasSimulator(
  profile: Partial<SimProfile> = {},
  opts: MaasSimulatorOptions = {},
): Promise<MaasSimulator> {
  const server = new MaasServer(resolveProfile(profile), opts.host ?? '127.0.0.1');
  await server.listen(opts.port ?? 0);
  return server;
}

// ---------------------------------------------------------------------------------------------------
// Constants, precomputed

const REQUEST_LOG_CAP = 10_000;
const REQUEST_LOG_SLACK = 1_000; // trim in batches: no O(n) shift per request
const MIN_TICK_MS = 10; // pacing granularity: several tokens per tick at high rates
const PREFIX_CACHE_MIN_TOKENS = 1024;
const PREFIX_CACHE_ENTRIES = 10_000;

// [sim:fault=…] values; [sim:output_tokens|ttft_ms|tokens_per_s=N] override the profile for the request.
const DIRECTIVE_RULES: DirectiveRules<FaultKind> = {
  faults: {
    '429': 'rate_limited',
    rate_limited: 'rate_limited',
    '500': 'server_error',
    server_error: 'server_error',
    '503': 'unavailable',
    unavailable: 'unavailable',
    timeout: 'timeout',
    reset: 'reset',
    stream_cut: 'stream_cut',
  },
  numbers: new Set(['output_tokens', 'ttft_ms', 'tokens_per_s']),
  valueFirst: true,
};
// Filled per request (prepare runs synchronously): no allocation per request.
const SCAN = new MessageScan();
const DIRECTIVES = new Directives<FaultKind>();

// ---------------------------------------------------------------------------------------------------
// Per-request state

class LogEntry implements MaasRequestLogEntry {
  constructor(
    public id: string,
    public model: string,
    public stream: boolean,
    public status: number,
    public prompt_tokens: number,
    public completion_tokens: number,
    public cached_tokens: number,
    public fault: FaultKind | null,
    public aborted: boolean,
    public user: string,
  ) {}
}

class RequestRecord {
  constructor(
    public headers: Record<string, string>,
    public body: string,
  ) {}
}

const enum Kind {
  Text = 0,
  Tool = 1,
}

// Every field is set in the constructor so all calls share one hidden class (V8).
class ChatCall {
  server: MaasServer;
  res: HttpResponse;
  record: RequestRecord;
  id: string;
  chunks: Buffer[] | null = null;
  bodyBytes = 0;
  done = false;
  closePending = false;
  timer: NodeJS.Timeout | null = null;
  held = false;
  resDead = false;
  blocked = false;
  writableHooked = false;

  model = '';
  modelJson = '""';
  stream = false;
  includeUsage = false;
  kind: Kind = Kind.Text;
  pieces: string[] = [];
  finish = 'stop';
  toolId = '';
  toolNameJson = '';
  promptTokens = 0;
  cachedTokens = 0;
  user = '';
  fault: FaultKind | null = null;
  ttftMs = 0;
  tokensPerS = 0;
  created = 0;

  // streaming progress
  status = 0;
  sent = 0;
  cutAt = -1;
  t0 = 0;
  chunkPrefix = '';
  chunkSuffix = '';

  constructor(server: MaasServer, res: HttpResponse, record: RequestRecord, id: string) {
    this.server = server;
    this.res = res;
    this.record = record;
    this.id = id;
  }

  onAborted(): void {
    this.resDead = true;
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.server.active.delete(this);
    this.server.finish(this, true);
  }

  onData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    this.bodyBytes += chunk.byteLength;
    if (this.bodyBytes > MAX_CHAT_BODY_BYTES) {
      CURRENT = this;
      this.res.cork(corkedTooLarge);
      return;
    }
    const text = bodyText(this, chunk, isLast);
    if (text === null) return;
    this.record.body = text;
    BODY = text;
    CURRENT = this;
    this.res.cork(corkedOnBody);
    if (this.closePending) this.scheduleClose();
  }

  /** Runs corked. Parse, validate, decide the fault, answer or schedule. */
  onBody(text: string): void {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.sendError('400 Bad Request', ERR_BAD_JSON);
      return;
    }
    const err = this.prepare(body);
    if (err !== null) {
      this.sendError(err.status, err.body);
      return;
    }
    const server = this.server;
    const fault = this.fault ?? server.drawFault();
    this.fault = fault;
    if (fault !== null) {
      switch (fault) {
        case 'rate_limited':
          this.sendError('429 Too Many Requests', ERR_RATE_LIMITED, server.retryAfter);
          return;
        case 'server_error':
          this.sendError('500 Internal Server Error', ERR_SERVER);
          return;
        case 'unavailable':
          this.sendError('503 Service Unavailable', ERR_UNAVAILABLE);
          return;
        case 'reset':
          this.done = true;
          server.finish(this, false);
          this.closePending = true;
          return;
        case 'timeout':
          this.held = true;
          server.active.add(this);
          return;
        case 'stream_cut':
          this.cutAt = this.stream ? Math.max(1, this.pieces.length >> 1) : 0;
          break;
      }
    }
    let delay = this.ttftMs;
    if (!this.stream && this.tokensPerS > 0) delay += (this.pieces.length * 1000) / this.tokensPerS;
    if (delay > 0) {
      server.active.add(this);
      this.timer = setTimeout(onCallTimer, delay, this);
      return;
    }
    this.step();
  }

  /** Fill the call from the body; returns an error to send, or null. */
  prepare(raw: unknown): HttpError | null {
    let err = chatBodyError(raw);
    if (err !== null) return err;
    const body = raw as Record<string, unknown>;
    const model = body.model as string;
    const messages = body.messages as unknown[];

    // Hash and count the messages; find the last user message (it may carry directives).
    const server = this.server;
    const scan = SCAN;
    err = scanMessages(messages, server.hashSeed, scan);
    if (err !== null) return err;
    this.promptTokens = scan.promptTokens;
    this.cachedTokens = server.prefixCached(scan.prefixHash, scan.prefixTokens);
    this.user = typeof body.user === 'string' ? body.user : '';

    // Directives in the last user message override the profile for this request.
    const profile = server.profile;
    const rng = new Rng(fmix32(scan.hash));
    let outTokens =
      profile.output_tokens.min === profile.output_tokens.max
        ? profile.output_tokens.min
        : profile.output_tokens.min + rng.int(profile.output_tokens.max - profile.output_tokens.min + 1);
    this.ttftMs = profile.ttft_ms;
    this.tokensPerS = profile.tokens_per_s;
    const d = DIRECTIVES;
    err = readDirectives(scan.lastUser, DIRECTIVE_RULES, d);
    if (d.fault !== null) this.fault = d.fault; // even when a later directive is bad
    if (err !== null) return err;
    if (d.outputTokens >= 0) outTokens = d.outputTokens;
    if (d.ttftMs >= 0) this.ttftMs = d.ttftMs;
    if (d.tokensPerS >= 0) this.tokensPerS = d.tokensPerS;

    const maxTokens = maxTokensOf(body);
    if (typeof maxTokens !== 'number') return maxTokens;

    const stream = body.stream === true;
    this.stream = stream;
    if (stream) this.includeUsage = includeUsageOf(body);

    // Tools: one call to the forced function, or the first tool.
    const tools = body.tools;
    const toolChoice = body.tool_choice;
    let finish = 'stop';
    if (Array.isArray(tools) && tools.length > 0 && toolChoice !== 'none') {
      let tool: ChatTool | undefined;
      if (toolChoice !== null && typeof toolChoice === 'object') {
        const name = (toolChoice as { function?: { name?: unknown } }).function?.name;
        tool = (tools as ChatTool[]).find((t) => t?.function?.name === name);
        if (tool === undefined) {
          return badRequest(`Invalid value for 'tool_choice': function '${String(name)}' is not among the tools.`, 'tool_choice', 'invalid_value');
        }
      } else {
        tool = tools[0] as ChatTool;
      }
      const fname = tool?.function?.name;
      if (typeof fname !== 'string' || fname.length === 0) {
        return badRequest("Missing required parameter: 'tools[0].function.name'.", 'tools[0].function.name', 'missing_required_parameter');
      }
      this.kind = Kind.Tool;
      this.toolId = callId(rng);
      this.toolNameJson = JSON.stringify(fname);
      this.pieces = jsonPieces(JSON.stringify(objectForSchema(tool.function.parameters, rng, 0, true)));
      finish = 'tool_calls';
    } else {
      const rf = body.response_format as { type?: unknown; json_schema?: { schema?: unknown } } | null | undefined;
      const rfType = rf !== null && typeof rf === 'object' ? rf.type : undefined;
      if (rfType === 'json_schema') {
        this.pieces = jsonPieces(JSON.stringify(objectForSchema(rf!.json_schema?.schema, rng, 0, false)));
      } else if (rfType === 'json_object') {
        this.pieces = jsonPieces(JSON.stringify({ answer: words(rng, Math.max(1, outTokens)) }));
      } else {
        this.pieces = textPieces(rng, outTokens);
      }
    }
    if (maxTokens > 0 && maxTokens < this.pieces.length) {
      this.pieces.length = maxTokens;
      finish = 'length';
    }
    this.finish = finish;
    this.model = model;
    this.modelJson = JSON.stringify(model);
    this.created = Math.floor(Date.now() / 1000);
    return null;
  }

  sendError(status: string, body: string, retryAfter?: string): void {
    this.done = true;
    const res = this.res;
    res.writeStatus(status);
    res.writeHeader('content-type', 'application/json');
    res.writeHeader('x-request-id', this.id);
    if (retryAfter !== undefined) res.writeHeader('retry-after', retryAfter);
    res.end(body);
    this.status = parseInt(status, 10);
    this.server.finish(this, false);
  }

  /** Runs corked: write what is due now. */
  step(): void {
    if (this.stream) this.streamStep();
    else this.respondWhole();
  }

  respondWhole(): void {
    const pieces = this.pieces;
    const n = pieces.length;
    const message =
      this.kind === Kind.Tool
        ? toolCallMessageJson(this.toolId, this.toolNameJson, pieces.join(''))
        : textMessageJson(pieces.join(''));
    const body = completionJson(
      this.id, this.created, this.modelJson, message, this.finish, usageJson(this.promptTokens, n, this.cachedTokens), SIM_FINGERPRINT,
    );
    const res = this.res;
    res.writeStatus('200 OK');
    res.writeHeader('content-type', 'application/json');
    res.writeHeader('x-request-id', this.id);
    this.status = 200;
    if (this.cutAt >= 0) {
      // stream_cut on a non-stream request: half the body, then the connection drops.
      res.write(body.slice(0, body.length >> 1));
      this.sent = 0;
      this.done = true;
      this.server.finish(this, false);
      this.closePending = true;
      return;
    }
    this.sent = n;
    this.done = true;
    res.end(body);
    this.server.finish(this, false);
  }

  streamStep(): void {
    const res = this.res;
    const pieces = this.pieces;
    const n = pieces.length;
    let out = '';
    if (this.status === 0) {
      this.status = 200;
      this.t0 = performance.now();
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'text/event-stream; charset=utf-8');
      res.writeHeader('cache-control', 'no-cache');
      res.writeHeader('x-request-id', this.id);
      this.chunkPrefix = chunkPrefix(this.id, this.created, this.modelJson, SIM_FINGERPRINT);
      this.chunkSuffix = chunkSuffix(this.includeUsage);
      const first =
        this.kind === Kind.Tool
          ? '{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"' + this.toolId +
            '","type":"function","function":{"name":' + this.toolNameJson + ',"arguments":""}}],"refusal":null}'
          : ROLE_DELTA;
      out = this.chunkPrefix + first + this.chunkSuffix;
    }
    let due = n;
    if (this.tokensPerS > 0) {
      due = Math.min(n, Math.floor(((performance.now() - this.t0) * this.tokensPerS) / 1000) + 1);
    }
    const cut = this.cutAt;
    if (cut >= 0 && due > cut) due = cut;
    const prefix = this.chunkPrefix;
    const suffix = this.chunkSuffix;
    const tool = this.kind === Kind.Tool;
    for (let i = this.sent; i < due; i++) {
      out += tool
        ? prefix + '{"tool_calls":[{"index":0,"function":{"arguments":' + JSON.stringify(pieces[i]) + '}}]}' + suffix
        : contentChunk(prefix, pieces[i]!, suffix);
    }
    this.sent = due;
    if (cut >= 0 && due >= cut) {
      if (out.length > 0) res.write(out);
      this.done = true;
      this.server.finish(this, false);
      this.closePending = true; // closed after the cork flushes what was written
      return;
    }
    if (due >= n) {
      out += finishChunk(prefix, this.finish, this.includeUsage);
      if (this.includeUsage) {
        out += usageChunk(this.id, this.created, this.modelJson, SIM_FINGERPRINT, usageJson(this.promptTokens, n, this.cachedTokens));
      }
      out += DONE_CHUNK;
      this.done = true;
      res.write(out);
      res.end();
      this.server.finish(this, false);
      return;
    }
    if (out.length > 0 && !res.write(out)) {
      // Backpressure: wait for the socket to drain before pacing on.
      this.blocked = true;
      if (!this.writableHooked) {
        this.writableHooked = true;
        res.onWritable(() => {
          if (this.blocked && !this.done) {
            this.blocked = false;
            this.timer = setTimeout(onCallTimer, 0, this);
          }
          return true;
        });
      }
      return;
    }
    const nextDue = this.t0 + (this.sent * 1000) / this.tokensPerS;
    this.timer = setTimeout(onCallTimer, Math.max(MIN_TICK_MS, nextDue - performance.now()), this);
    this.server.active.add(this);
  }

  /**
   * Drop the connection once what was written has been flushed: inside onData uWS keeps the socket
   * corked until the callback returns, so an immediate close would discard the written chunks.
   */
  scheduleClose(): void {
    this.closePending = false;
    this.server.active.delete(this);
    setImmediate(closeCall, this);
  }
}

// Module-level cork targets: res.cork() runs its callback synchronously, so a module slot replaces a
// per-request closure (no allocation on the hot path).
let CURRENT: ChatCall | null = null;
let BODY = '';

function corkedOnBody(): void {
  const call = CURRENT!;
  const body = BODY;
  CURRENT = null;
  BODY = '';
  call.onBody(body);
}

function corkedTooLarge(): void {
  const call = CURRENT!;
  CURRENT = null;
  call.chunks = null;
  call.sendError('413 Payload Too Large', ERR_TOO_LARGE);
}

function corkedStep(): void {
  const call = CURRENT!;
  CURRENT = null;
  call.step();
}

function onCallTimer(call: ChatCall): void {
  call.timer = null;
  if (call.done) return;
  CURRENT = call;
  call.res.cork(corkedStep);
  if (call.done) call.server.active.delete(call);
  if (call.closePending) call.scheduleClose();
}

function closeCall(call: ChatCall): void {
  if (call.resDead) return;
  call.resDead = true;
  call.res.close();
}

let INSTANCES = 0;

// ---------------------------------------------------------------------------------------------------
// Server

class MaasServer implements MaasSimulator {
  url = '';
  port = 0;
  readonly profile: ResolvedProfile;
  readonly stats: MaasStats;
  readonly active = new Set<ChatCall>();
  readonly hashSeed: number;
  readonly retryAfter: string;
  private readonly faultRng: Rng;
  private readonly faultCdf: Float64Array;
  private readonly app: TemplatedApp;
  private readonly host: string;
  private readonly idPrefix: string;
  private listenSocket: us_listen_socket | null = null;
  private seq = 0;
  private closed = false;
  private readonly modelsBody: string;
  /** Prefix hashes seen (insertion order: the oldest is dropped first). */
  private readonly prefixes = new Set<number>();
  /** Usage report: minute (Unix s) → model → totals. */
  private readonly usageBuckets = new Map<number, Map<string, MaasUsageResult>>();

  constructor(profile: ResolvedProfile, host: string) {
    this.profile = profile;
    this.host = host;
    this.stats = { requests: 0, byStatus: {}, promptTokens: 0, completionTokens: 0, cachedTokens: 0, lastRequest: null, requestLog: [] };
    const s = seed32(profile.seed);
    this.hashSeed = (FNV1A_BASIS ^ s) >>> 0;
    this.faultRng = new Rng(fmix32(s ^ 0x5bd1e995));
    this.faultCdf = new Float64Array(FAULT_KINDS.length);
    let acc = 0;
    for (let i = 0; i < FAULT_KINDS.length; i++) this.faultCdf[i] = acc += profile.errors[FAULT_KINDS[i]!];
    this.retryAfter = String(profile.retry_after_s);
    this.idPrefix = 'chatcmpl-sim' + (++INSTANCES).toString(36) + 'x';
    const created = 1_700_000_000;
    this.modelsBody = JSON.stringify({
      object: 'list',
      data: profile.models.map((id) => ({ id, object: 'model', created, owned_by: 'switchyard-sim' })),
    });
    this.app = uWS.App();
    this.routes();
  }

  async listen(port: number): Promise<void> {
    const l = await listenApp(this.app, this.host, port, 'maas simulator:');
    this.listenSocket = l.socket;
    this.port = l.port;
    this.url = l.origin + '/v1';
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const call of this.active) {
        if (call.timer !== null) clearTimeout(call.timer);
        call.timer = null;
      }
      // Closes every open connection; onAborted settles each in-flight call.
      closeApp(this.app, this.listenSocket);
      this.listenSocket = null;
      this.active.clear();
    }
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** One draw per request from the server's sequence PRNG (two when a fault is chosen). */
  drawFault(): FaultKind | null {
    const rate = this.profile.error_rate;
    if (rate <= 0) return null;
    if (this.faultRng.next() >= rate) return null;
    const r = this.faultRng.next();
    const cdf = this.faultCdf;
    for (let i = 0; i < cdf.length; i++) if (r < cdf[i]!) return FAULT_KINDS[i]!;
    for (let i = cdf.length - 1; i >= 0; i--) if (this.profile.errors[FAULT_KINDS[i]!] > 0) return FAULT_KINDS[i]!;
    return null;
  }

  finish(call: ChatCall, aborted: boolean): void {
    const stats = this.stats;
    const fault = call.fault;
    let key: string;
    if (fault === 'timeout' || fault === 'reset' || fault === 'stream_cut') key = fault;
    else if (aborted) key = 'aborted';
    else key = String(call.status);
    stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
    const answered = call.status === 200;
    const prompt = answered ? call.promptTokens : 0;
    const completion = answered ? call.sent : 0;
    const cached = answered ? call.cachedTokens : 0;
    stats.promptTokens += prompt;
    stats.completionTokens += completion;
    stats.cachedTokens += cached;
    if (answered) this.recordUsage(call.model, prompt, cached, completion);
    const log = stats.requestLog;
    log.push(new LogEntry(call.id, call.model, call.stream, call.status, prompt, completion, cached, fault, aborted, call.user));
    if (log.length > REQUEST_LOG_CAP + REQUEST_LOG_SLACK) log.splice(0, log.length - REQUEST_LOG_CAP);
  }

  /**
   * The prefix cache (OpenAI's rule): a prompt whose prefix (every message but the last) is at least 1,024
   * tokens and was seen before has that prefix served from cache, in 128-token steps past the first 1,024.
   */
  prefixCached(hash: number, prefixTokens: number): number {
    if (prefixTokens < PREFIX_CACHE_MIN_TOKENS) return 0;
    const seen = this.prefixes.has(hash);
    if (!seen) {
      if (this.prefixes.size >= PREFIX_CACHE_ENTRIES) this.prefixes.delete(this.prefixes.values().next().value!);
      this.prefixes.add(hash);
      return 0;
    }
    return PREFIX_CACHE_MIN_TOKENS + Math.floor((prefixTokens - PREFIX_CACHE_MIN_TOKENS) / 128) * 128;
  }

  /** Add an answered request to its minute's bucket of the usage report. */
  private recordUsage(model: string, prompt: number, cached: number, completion: number): void {
    const minute = Math.floor(Date.now() / 60_000) * 60;
    let b = this.usageBuckets.get(minute);
    if (b === undefined) {
      b = new Map();
      this.usageBuckets.set(minute, b);
    }
    let r = b.get(model);
    if (r === undefined) {
      r = { object: 'organization.usage.completions.result', model, input_tokens: 0, input_cached_tokens: 0, output_tokens: 0, num_model_requests: 0 };
      b.set(model, r);
    }
    r.input_tokens += prompt;
    r.input_cached_tokens += cached;
    r.output_tokens += completion;
    r.num_model_requests++;
  }

  /**
   * GET /v1/organization/usage/completions?start_time=UNIX_S[&end_time=UNIX_S]: what this provider served,
   * per minute bucket and model (the shape of OpenAI's usage API; `bucket_width` is always 1m here).
   */
  private usageReport(query: string): string | null {
    const params = new URLSearchParams(query);
    const start = Number(params.get('start_time'));
    const endParam = params.get('end_time');
    const end = endParam === null ? Number.POSITIVE_INFINITY : Number(endParam);
    if (!Number.isInteger(start) || start < 0 || Number.isNaN(end)) return null;
    const data: unknown[] = [];
    const minutes = [...this.usageBuckets.keys()].sort((a, b) => a - b);
    for (const m of minutes) {
      if (m + 60 <= start || m >= end) continue;
      data.push({ object: 'bucket', start_time: m, end_time: m + 60, results: [...this.usageBuckets.get(m)!.values()] });
    }
    return JSON.stringify({ object: 'page', data, has_more: false, next_page: null });
  }

  private routes(): void {
    const app = this.app;
    app.get('/v1/organization/usage/completions', (res, req) => {
      if (!BEARER_RE.test(req.getHeader('authorization'))) {
        sendJson(res, '401 Unauthorized', ERR_UNAUTHORIZED);
        return;
      }
      const body = this.usageReport(req.getQuery() ?? '');
      if (body === null) {
        sendJson(res, '400 Bad Request', JSON.stringify({ error: { message: "Invalid 'start_time': expected a Unix time in seconds.", type: 'invalid_request_error', param: 'start_time', code: 'invalid_value' } }));
        return;
      }
      sendJson(res, '200 OK', body);
    });
    app.post('/v1/chat/completions', (res, req) => this.onChat(res, req));
    app.get('/v1/models', (res, req) => {
      if (!BEARER_RE.test(req.getHeader('authorization'))) {
        sendJson(res, '401 Unauthorized', ERR_UNAUTHORIZED);
        return;
      }
      sendJson(res, '200 OK', this.modelsBody);
    });
    app.get('/healthz', (res) => sendJson(res, '200 OK', HEALTH_BODY));
    app.any('/*', sendInvalidUrl);
  }

  private onChat(res: HttpResponse, req: HttpRequest): void {
    const stats = this.stats;
    stats.requests++;
    // Copy what we need out of req now: it is dead after this handler returns.
    const headers = requestHeaders(req);
    const record = new RequestRecord(headers, '');
    stats.lastRequest = record;
    const call = new ChatCall(this, res, record, this.idPrefix + (++this.seq).toString(36));
    const auth = headers.authorization;
    if (auth === undefined || !BEARER_RE.test(auth)) {
      call.sendError('401 Unauthorized', ERR_UNAUTHORIZED); // synchronous: no onAborted needed
      return;
    }
    res.onAborted(() => call.onAborted());
    res.onData((chunk, isLast) => call.onData(chunk, isLast));
  }
}
