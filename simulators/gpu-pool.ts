// Self-hosted GPU pool simulator: N replicas, each its own OpenAI-compatible server on its own port (as
// real vLLM servers are), on uWebSockets.js. Seeded, reproducible, loopback. Each replica runs the
// capacity model of simulators/gpu-model.ts against the wall clock: at most max_batch sequences at once,
// a FIFO queue beyond that, prefill then paced decode, an LRU prefix cache per replica.
// An independent check on the gateway: imports `core/schema` types at most, never gateway logic.
//
// Per replica:
//   POST /v1/chat/completions   non-stream and SSE stream (OpenAI's format; `stream_options.include_usage`;
//                               usage.prompt_tokens_details.cached_tokens from the replica's prefix cache).
//                               Response header `x-queue-time-ms`: the request's time in the FIFO queue
//                               (arrival → admission into the batch), in ms. Streams send their headers at
//                               admission, non-streaming responses at completion.
//   GET  /v1/models             the profile's models, vLLM style.
//   GET  /metrics               Prometheus text, vLLM names (label model_name):
//                                 vllm:num_requests_running, vllm:num_requests_waiting (gauges),
//                                 vllm:gpu_cache_usage_perc (gauge, 0..1: KV tokens in use ÷ KV capacity),
//                                 vllm:prompt_tokens_total, vllm:generation_tokens_total,
//                                 vllm:gpu_prefix_cache_queries_total, vllm:gpu_prefix_cache_hits_total (tokens),
//                                 vllm:request_success_total{finished_reason}, vllm:request_queue_time_seconds
//                                 (histogram), and one simulator-only gauge:
//                                 switchyard_sim_expected_queue_time_seconds — how long a request arriving now
//                                 would wait before admission (GpuReplicaModel.expectedQueueTimeMs).
//   GET  /healthz, /health      200.
//   No API key is required (vLLM's default); headers are recorded in stats.lastRequest.
//
// Prompt tokens (the simulators' rule, simulators/generate.ts): ceil(chars / 4) + 3 per
// message, where chars counts the text of every message (string content, or the `text` of content parts)
// plus the name and arguments of assistant tool calls.
// Prefix cache, as vLLM's automatic prefix caching behaves at message granularity: a request reuses the
// longest run of leading whole messages whose prefix the replica holds. Keys are hashes of the first k
// messages (k = 1 … n−1), with prefix_tokens counted by the same rule over those messages. A replica
// holds the prefix before the last user message of every request it prefilled (the system prompt and
// earlier turns; when there is no user message, every message but the last) and, once a request
// completes, that request's whole prompt — so the next turn of a conversation, which repeats it, hits.
// Directives in the last user message: [sim:output_tokens=N], [sim:fault=500|503|reset].
// Output text is a function of (seed, messages), as in maas.ts: the same seed and the same requests give
// the same outputs.

import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ChatMessage } from '../core/schema/openai.js';
import { Directives, chatBodyError, includeUsageOf, maxTokensOf, messageError, readDirectives, type DirectiveRules } from './chat-request.js';
import { FNV1A_BASIS, Rng, fmix32, fnv1a, messageText, promptTokens, seed32, textPieces } from './generate.js';
import { GpuReplicaModel, GpuSeq, SeqState, type GpuModelListener } from './gpu-model.js';
import {
  DONE_CHUNK,
  ERR_BAD_JSON,
  ERR_TOO_LARGE,
  HEALTH_BODY,
  ROLE_DELTA,
  badRequest,
  chunkPrefix,
  chunkSuffix,
  completionJson,
  contentChunk,
  errorJson,
  finishChunk,
  textMessageJson,
  usageChunk,
  usageJson,
  type HttpError,
} from './openai-wire.js';
import { MAX_CHAT_BODY_BYTES, bodyText, closeApp, listenApp, requestHeaders, sendInvalidUrl, sendJson, uWS } from './uws.js';

// ---------------------------------------------------------------------------------------------------
// Public API

export interface GpuPoolProfile {
  /** Number of replicas, each with its own listener. */
  replicas: number;
  /** Running sequences per replica. */
  max_batch: number;
  /** Replica-wide prefill throughput, tokens per second. */
  prefill_tokens_per_s: number;
  /** Nominal per-sequence decode speed, tokens per second (slows as the batch grows; see gpu-model.ts). */
  decode_tokens_per_s: number;
  /** PRNG seed (integer). Default 1. */
  seed?: number;
  /** Prefix-cache capacity per replica, tokens (also the KV size behind gpu_cache_usage_perc). Default 262,144. */
  prefix_cache_tokens?: number;
  /** Output length in tokens, fixed or drawn per request from [min, max]. Default 16. */
  output_tokens?: number | { min: number; max: number };
  /** α of the decode-rate formula. Default 0.5. */
  decode_slowdown?: number;
  /** Model ids listed by GET /v1/models (any model name is accepted). Default ['llama-3.1-8b']. */
  models?: string[];
  /** Accepted so that a pool's config entry can be passed as is; not used by the simulator. */
  gpu_hour_usd?: number;
}

export interface ResolvedGpuPoolProfile {
  readonly replicas: number;
  readonly max_batch: number;
  readonly prefill_tokens_per_s: number;
  readonly decode_tokens_per_s: number;
  readonly seed: number;
  readonly prefix_cache_tokens: number;
  readonly output_tokens: { readonly min: number; readonly max: number };
  readonly decode_slowdown: number;
  readonly models: readonly string[];
}

export type GpuFault = 'server_error' | 'unavailable' | 'reset';

export interface GpuRequestLogEntry {
  id: string;
  replica: number;
  model: string;
  stream: boolean;
  /** HTTP status sent; 0 when none was (reset, or the client went away before the answer). */
  status: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  /** Arrival → admission, ms; −1 when never admitted. */
  queue_time_ms: number;
  fault: GpuFault | null;
  aborted: boolean;
}

export interface GpuReplicaStats {
  /** POST /v1/chat/completions requests received by this replica. */
  requests: number;
  /** Highest num_requests_running / num_requests_waiting seen right after an arrival. */
  peakRunning: number;
  peakWaiting: number;
}

export interface GpuPoolStats {
  /** Chat-completion requests received, all replicas. */
  requests: number;
  /** Finished exchanges by outcome: HTTP status, else `reset`, else `aborted`. */
  byStatus: Record<string, number>;
  /** Tokens of answered requests (completion: tokens actually sent). */
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  /** The last chat-completion request as received, any replica (header names lower-case). */
  lastRequest: { replica: number; headers: Record<string, string>; body: string } | null;
  /** The last finished exchanges (bounded: about the last 10,000). */
  requestLog: GpuRequestLogEntry[];
  replicas: GpuReplicaStats[];
}

export interface GpuReplicaEndpoint {
  index: number;
  /** Base URL for OpenAI clients, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  /** http://127.0.0.1:PORT/metrics */
  metricsUrl: string;
  /** The replica's capacity model, for inspection (do not drive it). */
  readonly model: GpuReplicaModel<unknown>;
}

export interface GpuPoolSimulator {
  replicas: GpuReplicaEndpoint[];
  profile: ResolvedGpuPoolProfile;
  stats: GpuPoolStats;
  /** Close every listener and open connection (queued and running requests included). Idempotent. */
  close(): Promise<void>;
}

export interface GpuPoolSimulatorOptions {
  host?: string;
  /** Port of replica 0; replica i listens on port + i. Default 0: every replica picks a free port. */
  port?: number;
}

export async function startGpuPoolSimulator(
  profile: GpuPoolProfile,
  opts: GpuPoolSimulatorOptions = {},
): Promise<GpuPoolSimulator> {
  const server = new GpuPoolServer(resolveGpuPoolProfile(profile), opts.host ?? '127.0.0.1');
  try {
    await server.listen(opts.port ?? 0);
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}

// ---------------------------------------------------------------------------------------------------
// Profile

const PROFILE_KEYS = new Set([
  'replicas', 'max_batch', 'prefill_tokens_per_s', 'decode_tokens_per_s', 'seed', 'prefix_cache_tokens',
  'output_tokens', 'decode_slowdown', 'models', 'gpu_hour_usd',
]);
// Fields of a pool's config entry (CONTRACT.md `pools`) that the simulator ignores.
const POOL_KEYS = new Set(['id', 'kind', 'members']);

function fail(path: string, msg: string): never {
  throw new Error(`invalid gpu pool profile: ${path}: ${msg}`);
}

function num(v: unknown, path: string, min: number, max = Infinity, int = false, minExclusive = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a finite number');
  if (int && !Number.isInteger(v)) fail(path, 'must be an integer');
  if (minExclusive ? v <= min : v < min) fail(path, `must be ${minExclusive ? '>' : '>='} ${min}`);
  if (v > max) fail(path, `must be <= ${max}`);
  return v;
}

/** Validate a profile and fill in defaults. Throws `invalid gpu pool profile: path: message`. */
export function resolveGpuPoolProfile(profile: GpuPoolProfile): ResolvedGpuPoolProfile {
  const p = profile as unknown as Record<string, unknown>;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) fail('(root)', 'must be an object');
  for (const k of Object.keys(p)) if (!PROFILE_KEYS.has(k) && !POOL_KEYS.has(k)) fail(k, 'unknown field');
  const replicas = num(p.replicas, 'replicas', 1, 64, true);
  const max_batch = num(p.max_batch, 'max_batch', 1, 1_000_000, true);
  const prefill_tokens_per_s = num(p.prefill_tokens_per_s, 'prefill_tokens_per_s', 0, Infinity, false, true);
  const decode_tokens_per_s = num(p.decode_tokens_per_s, 'decode_tokens_per_s', 0, Infinity, false, true);
  const seed = p.seed === undefined ? 1 : num(p.seed, 'seed', -(2 ** 53), 2 ** 53, true);
  const prefix_cache_tokens =
    p.prefix_cache_tokens === undefined ? 262_144 : num(p.prefix_cache_tokens, 'prefix_cache_tokens', 0, Infinity, true);
  const decode_slowdown = p.decode_slowdown === undefined ? 0.5 : num(p.decode_slowdown, 'decode_slowdown', 0, 1);
  if (p.gpu_hour_usd !== undefined) num(p.gpu_hour_usd, 'gpu_hour_usd', 0);
  let output_tokens: { min: number; max: number } = { min: 16, max: 16 };
  const ot = p.output_tokens;
  if (typeof ot === 'number') {
    const n = num(ot, 'output_tokens', 0, Infinity, true);
    output_tokens = { min: n, max: n };
  } else if (ot !== undefined) {
    if (ot === null || typeof ot !== 'object' || Array.isArray(ot)) fail('output_tokens', 'must be an integer or {min, max}');
    const r = ot as Record<string, unknown>;
    const min = num(r.min, 'output_tokens.min', 0, Infinity, true);
    const max = num(r.max, 'output_tokens.max', 0, Infinity, true);
    if (max < min) fail('output_tokens.max', 'must be >= output_tokens.min');
    output_tokens = { min, max };
  }
  let models: readonly string[] = ['llama-3.1-8b'];
  if (p.models !== undefined) {
    if (!Array.isArray(p.models) || p.models.length === 0 || !p.models.every((m) => typeof m === 'string' && m.length > 0)) {
      fail('models', 'must be a non-empty array of non-empty strings');
    }
    models = [...(p.models as string[])];
  }
  return Object.freeze({
    replicas,
    max_batch,
    prefill_tokens_per_s,
    decode_tokens_per_s,
    seed,
    prefix_cache_tokens,
    output_tokens: Object.freeze(output_tokens),
    decode_slowdown,
    models: Object.freeze(models),
  });
}

// ---------------------------------------------------------------------------------------------------
// Constants, precomputed

const REQUEST_LOG_CAP = 10_000;
const REQUEST_LOG_SLACK = 1_000; // trim in batches: no O(n) shift per request
const STREAM_TICK_MS = 10; // pacing granularity of streamed tokens
const FINGERPRINT = 'fp_switchyard_gpu_sim';
const QUEUE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

// [sim:fault=…] values; [sim:output_tokens=N] is the one numeric directive (names are checked before values).
const DIRECTIVE_RULES: DirectiveRules<GpuFault> = {
  faults: {
    '500': 'server_error',
    server_error: 'server_error',
    '503': 'unavailable',
    unavailable: 'unavailable',
    reset: 'reset',
  },
  numbers: new Set(['output_tokens']),
  valueFirst: false,
};
// Filled per request (prepare runs synchronously).
const DIRECTIVES = new Directives<GpuFault>();

const ERR_SERVER = errorJson('The server had an error while processing your request (simulated).', 'server_error', null, null);
const ERR_UNAVAILABLE = errorJson('The server is overloaded or not ready yet (simulated).', 'server_error', null, null);

/** Milliseconds as a header value: at most 3 decimals. */
function fmtMs(ms: number): string {
  return String(Math.round(ms * 1000) / 1000);
}

// ---------------------------------------------------------------------------------------------------
// Per-request state

class LogEntry implements GpuRequestLogEntry {
  constructor(
    public id: string,
    public replica: number,
    public model: string,
    public stream: boolean,
    public status: number,
    public prompt_tokens: number,
    public completion_tokens: number,
    public cached_tokens: number,
    public queue_time_ms: number,
    public fault: GpuFault | null,
    public aborted: boolean,
  ) {}
}

// Every field is set in the constructor so all calls share one hidden class (V8).
class GpuCall {
  replica: Replica;
  res: HttpResponse;
  id: string;
  record: { replica: number; headers: Record<string, string>; body: string };
  chunks: Buffer[] | null = null;
  bodyBytes = 0;
  done = false;
  resDead = false;
  closePending = false;
  seq: GpuSeq<GpuCall> | null = null;

  model = '';
  modelJson = '""';
  stream = false;
  includeUsage = false;
  pieces: string[] = [];
  finish = 'stop';
  promptTokens = 0;
  prefixKey = 0;
  prefixTokens = 0;
  /** Keys and token counts of the first k messages, k = 1 … n−1 (the longest cached one is looked up). */
  boundaryKeys: number[] = [];
  boundaryTokens: number[] = [];
  /** Key of the whole prompt (cached when the request completes). */
  fullKey = 0;
  /** vLLM's `priority` request field (lower is served first). */
  priority = 0;
  fault: GpuFault | null = null;
  created = 0;

  status = 0;
  sent = 0;
  chunkPrefix = '';
  chunkSuffix = '';

  constructor(replica: Replica, res: HttpResponse, record: GpuCall['record'], id: string) {
    this.replica = replica;
    this.res = res;
    this.record = record;
    this.id = id;
  }

  get queueTimeMs(): number {
    return this.seq === null ? -1 : this.seq.queueTimeMs;
  }

  get cachedTokens(): number {
    return this.seq === null ? 0 : this.seq.cachedTokens;
  }

  onAborted(): void {
    this.resDead = true;
    if (this.done) return;
    this.done = true;
    this.replica.withdraw(this);
    this.replica.server.finish(this, true);
  }

  onData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    this.bodyBytes += chunk.byteLength;
    if (this.bodyBytes > MAX_CHAT_BODY_BYTES) {
      this.chunks = null;
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
    if (this.closePending) {
      this.closePending = false;
      setImmediate(closeCall, this); // after the cork has flushed
    }
  }

  /** Runs corked. Parse, validate, answer a fault or hand the request to the replica's model. */
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
    switch (this.fault) {
      case 'server_error':
        this.sendError('500 Internal Server Error', ERR_SERVER);
        return;
      case 'unavailable':
        this.sendError('503 Service Unavailable', ERR_UNAVAILABLE);
        return;
      case 'reset':
        this.done = true;
        this.replica.server.finish(this, false);
        this.closePending = true;
        return;
    }
    this.replica.submit(this);
  }

  /** Fill the call from the body; returns an error to send, or null. */
  prepare(raw: unknown): HttpError | null {
    const bodyErr = chatBodyError(raw);
    if (bodyErr !== null) return bodyErr;
    const body = raw as Record<string, unknown>;
    const model = body.model as string;
    const messages = body.messages as unknown[];
    let lastUserIdx = -1;
    for (let i = 0; i < messages.length; i++) {
      const err = messageError(messages[i], i);
      if (err !== null) return err;
      if ((messages[i] as ChatMessage).role === 'user') lastUserIdx = i;
    }

    // Hash and count: the prefix (messages before the last user message), then the whole prompt.
    const prefixEnd = lastUserIdx >= 0 ? lastUserIdx : messages.length - 1;
    const server = this.replica.server;
    let h1 = FNV1A_BASIS;
    let h2 = 0x01000193 ^ 0x9e3779b9;
    let chars = 0;
    let prefixChars = 0;
    let lastUser = '';
    this.boundaryKeys.length = 0;
    this.boundaryTokens.length = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as ChatMessage;
      const text = messageText(m);
      if (i > 0) {
        this.boundaryKeys.push((h1 >>> 0) * 2097152 + (h2 >>> 11));
        this.boundaryTokens.push(promptTokens(chars, i));
      }
      if (i === prefixEnd) {
        prefixChars = chars;
        this.prefixKey = prefixEnd > 0 ? (h1 >>> 0) * 2097152 + (h2 >>> 11) : 0; // 53-bit key
      }
      h1 = fnv1a(fnv1a(fnv1a(h1, m.role), '\u0000'), text);
      h2 = fnv1a(fnv1a(fnv1a(h2, text), '\u0001'), m.role);
      chars += text.length;
      if (i === lastUserIdx) lastUser = text;
    }
    this.promptTokens = promptTokens(chars, messages.length);
    this.prefixTokens = prefixEnd > 0 ? promptTokens(prefixChars, prefixEnd) : 0;
    this.fullKey = (h1 >>> 0) * 2097152 + (h2 >>> 11);

    // Directives in the last user message override the profile for this request.
    const profile = server.profile;
    const rng = new Rng(fmix32(h1 ^ server.seedMix));
    const ot = profile.output_tokens;
    let outTokens = ot.min === ot.max ? ot.min : ot.min + rng.int(ot.max - ot.min + 1);
    const d = DIRECTIVES;
    const dirErr = readDirectives(lastUser, DIRECTIVE_RULES, d);
    if (d.fault !== null) this.fault = d.fault; // even when a later directive is bad
    if (dirErr !== null) return dirErr;
    if (d.outputTokens >= 0) outTokens = d.outputTokens;

    const maxTokens = maxTokensOf(body);
    if (typeof maxTokens !== 'number') return maxTokens;
    const priority = body.priority;
    if (priority !== undefined && priority !== null && (typeof priority !== 'number' || !Number.isInteger(priority))) {
      return badRequest("Invalid 'priority': expected an integer.", 'priority', 'invalid_type');
    }
    this.priority = typeof priority === 'number' ? priority : 0;
    const stream = body.stream === true;
    this.stream = stream;
    if (stream) this.includeUsage = includeUsageOf(body);
    this.finish = 'stop';
    if (maxTokens > 0 && maxTokens < outTokens) {
      outTokens = maxTokens;
      this.finish = 'length';
    }
    this.pieces = textPieces(rng, outTokens);
    this.model = model;
    this.modelJson = JSON.stringify(model);
    this.created = Math.floor(Date.now() / 1000);
    return null;
  }

  sendError(status: string, body: string): void {
    this.done = true;
    const res = this.res;
    res.writeStatus(status);
    res.writeHeader('content-type', 'application/json');
    res.writeHeader('x-request-id', this.id);
    res.end(body);
    this.status = parseInt(status, 10);
    this.replica.server.finish(this, false);
  }

  /** Runs corked: a stream's headers and role chunk, at admission. */
  startStream(): void {
    const res = this.res;
    this.status = 200;
    res.writeStatus('200 OK');
    res.writeHeader('content-type', 'text/event-stream; charset=utf-8');
    res.writeHeader('cache-control', 'no-cache');
    res.writeHeader('x-request-id', this.id);
    res.writeHeader('x-queue-time-ms', fmtMs(this.queueTimeMs));
    this.chunkPrefix = chunkPrefix(this.id, this.created, this.modelJson, FINGERPRINT);
    this.chunkSuffix = chunkSuffix(this.includeUsage);
    res.write(this.chunkPrefix + ROLE_DELTA + this.chunkSuffix);
  }

  /** Runs corked: stream the tokens emitted so far (all of them, and the end, when `end`). */
  streamTo(due: number, end: boolean): void {
    const pieces = this.pieces;
    const prefix = this.chunkPrefix;
    const suffix = this.chunkSuffix;
    let out = '';
    for (let i = this.sent; i < due; i++) out += contentChunk(prefix, pieces[i]!, suffix);
    this.sent = due;
    if (end) {
      out += finishChunk(prefix, this.finish, this.includeUsage);
      if (this.includeUsage) {
        out += usageChunk(this.id, this.created, this.modelJson, FINGERPRINT, usageJson(this.promptTokens, due, this.cachedTokens));
      }
      out += DONE_CHUNK;
      this.done = true;
      this.res.end(out);
      return;
    }
    // A simulator's stream is small: a write the socket cannot take now stays buffered by uWS.
    if (out.length > 0) this.res.write(out);
  }

  /** Runs corked: the whole non-streaming answer, at completion. */
  respondWhole(): void {
    const pieces = this.pieces;
    const n = pieces.length;
    const body = completionJson(
      this.id, this.created, this.modelJson, textMessageJson(pieces.join('')), this.finish,
      usageJson(this.promptTokens, n, this.cachedTokens), FINGERPRINT,
    );
    const res = this.res;
    this.status = 200;
    this.sent = n;
    this.done = true;
    res.writeStatus('200 OK');
    res.writeHeader('content-type', 'application/json');
    res.writeHeader('x-request-id', this.id);
    res.writeHeader('x-queue-time-ms', fmtMs(this.queueTimeMs));
    res.end(body);
  }
}

// Module-level cork targets: res.cork() runs its callback synchronously, so a module slot replaces a
// per-request closure (no allocation on the hot path).
let CURRENT: GpuCall | null = null;
let BODY = '';
let DUE = 0;
let END = false;

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
  call.sendError('413 Payload Too Large', ERR_TOO_LARGE);
}

function corkedStartStream(): void {
  const call = CURRENT!;
  CURRENT = null;
  call.startStream();
}

function corkedStreamTo(): void {
  const call = CURRENT!;
  CURRENT = null;
  call.streamTo(DUE, END);
}

function corkedRespondWhole(): void {
  const call = CURRENT!;
  CURRENT = null;
  call.respondWhole();
}

function closeCall(call: GpuCall): void {
  if (call.resDead) return;
  call.resDead = true;
  call.res.close();
}

function onReplicaTimer(replica: Replica): void {
  replica.timer = null;
  replica.tick();
}

function onReplicaImmediate(replica: Replica): void {
  replica.immediate = null;
  replica.tick();
}

let INSTANCES = 0;

// ---------------------------------------------------------------------------------------------------
// One replica: a listener, a capacity model, one timer.

class Replica implements GpuReplicaEndpoint, GpuModelListener<GpuCall> {
  index: number;
  url = '';
  port = 0;
  metricsUrl = '';
  readonly server: GpuPoolServer;
  readonly model: GpuReplicaModel<GpuCall>;
  readonly stats: GpuReplicaStats;
  readonly app: TemplatedApp;
  listenSocket: us_listen_socket | null = null;
  timer: NodeJS.Timeout | null = null;
  immediate: NodeJS.Immediate | null = null;
  /** Admitted streaming calls (tokens are written as the model emits them). */
  readonly streams = new Set<GpuCall>();
  // Events collected from the model, written out from a timer (never inside another socket's callback).
  private readonly admittedQ: GpuCall[] = [];
  private readonly completedQ: GpuCall[] = [];
  private readonly idPrefix: string;
  private seqNo = 0;
  // Metrics counters not kept by the model.
  readonly queueBuckets = new Float64Array(QUEUE_BUCKETS.length);
  queueCount = 0;
  queueSumS = 0;
  finishedStop = 0;
  finishedLength = 0;
  finishedAbort = 0;

  constructor(server: GpuPoolServer, index: number, instance: number) {
    this.server = server;
    this.index = index;
    const p = server.profile;
    this.model = new GpuReplicaModel<GpuCall>(
      {
        max_batch: p.max_batch,
        prefill_tokens_per_s: p.prefill_tokens_per_s,
        decode_tokens_per_s: p.decode_tokens_per_s,
        prefix_cache_tokens: p.prefix_cache_tokens,
        decode_slowdown: p.decode_slowdown,
      },
      this,
    );
    this.stats = { requests: 0, peakRunning: 0, peakWaiting: 0 };
    this.idPrefix = 'chatcmpl-gpu' + instance.toString(36) + 'r' + index + 'x';
    this.app = uWS.App();
    this.routes();
  }

  // GpuModelListener: called synchronously inside the model; only queue the event.
  admitted(seq: GpuSeq<GpuCall>): void {
    this.admittedQ.push(seq.data);
    const q = seq.queueTimeMs / 1000;
    this.queueCount++;
    this.queueSumS += q;
    for (let i = 0; i < QUEUE_BUCKETS.length; i++) if (q <= QUEUE_BUCKETS[i]!) this.queueBuckets[i]!++;
  }
  firstToken(): void {}
  completed(seq: GpuSeq<GpuCall>): void {
    // The whole prompt's KV stays cached: a next turn that repeats it reuses it (see the header).
    const call = seq.data;
    this.model.cache.insert(call.fullKey, call.promptTokens);
    this.completedQ.push(call);
  }

  submit(call: GpuCall): void {
    // The longest leading run of messages this replica holds (else the usual prefix, to be cached).
    const cache = this.model.cache;
    const keys = call.boundaryKeys;
    for (let k = keys.length - 1; k >= 0; k--) {
      if (cache.has(keys[k]!)) {
        call.prefixKey = keys[k]!;
        call.prefixTokens = call.boundaryTokens[k]!;
        break;
      }
    }
    const seq = new GpuSeq<GpuCall>(call, call.promptTokens, call.pieces.length, call.prefixTokens > 0 ? call.prefixKey : null, call.prefixTokens);
    seq.priority = call.priority;
    call.seq = seq;
    this.server.active.add(call);
    const model = this.model;
    model.submit(seq, this.server.clock());
    const stats = this.stats;
    if (model.numRunning > stats.peakRunning) stats.peakRunning = model.numRunning;
    if (model.numWaiting > stats.peakWaiting) stats.peakWaiting = model.numWaiting;
    this.schedule();
  }

  /** The client went away: free its place in the model. */
  withdraw(call: GpuCall): void {
    this.server.active.delete(call);
    this.streams.delete(call);
    const seq = call.seq;
    if (seq === null || this.server.closed) return;
    if (seq.state !== SeqState.Done && seq.state !== SeqState.Cancelled && seq.state !== SeqState.Idle) {
      this.finishedAbort++;
      this.model.cancel(seq, this.server.clock());
      this.schedule();
    }
  }

  /** Bring the model to now, write out its events and due stream tokens, and set the next wake-up. */
  tick(): void {
    if (this.server.closed) return;
    this.model.advance(this.server.clock());
    this.flush();
    this.schedule();
  }

  private flush(): void {
    const model = this.model;
    const admitted = this.admittedQ;
    // Index loop with a live length: a write could (in principle) abort a call and queue more events.
    for (let i = 0; i < admitted.length; i++) {
      const call = admitted[i]!;
      if (call.done || !call.stream) continue;
      this.streams.add(call);
      CURRENT = call;
      call.res.cork(corkedStartStream);
    }
    admitted.length = 0;
    const completed = this.completedQ;
    for (let i = 0; i < completed.length; i++) {
      const call = completed[i]!;
      if (call.done) continue;
      if (call.finish === 'length') this.finishedLength++;
      else this.finishedStop++;
      CURRENT = call;
      if (call.stream) {
        this.streams.delete(call);
        DUE = call.pieces.length;
        END = true;
        call.res.cork(corkedStreamTo);
      } else {
        call.res.cork(corkedRespondWhole);
      }
      this.server.active.delete(call);
      this.server.finish(call, false);
    }
    completed.length = 0;
    END = false;
    for (const call of this.streams) {
      const due = model.emitted(call.seq!);
      if (due <= call.sent) continue;
      CURRENT = call;
      DUE = due;
      call.res.cork(corkedStreamTo);
    }
  }

  schedule(): void {
    if (this.server.closed) return;
    if (this.admittedQ.length > 0 || this.completedQ.length > 0) {
      if (this.immediate === null) this.immediate = setImmediate(onReplicaImmediate, this);
      return;
    }
    const now = this.server.clock();
    let next = this.model.nextEventTime();
    if (this.streams.size > 0 && this.model.numDecoding > 0 && now + STREAM_TICK_MS < next) next = now + STREAM_TICK_MS;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (next === Infinity) return;
    this.timer = setTimeout(onReplicaTimer, Math.max(0, Math.ceil(next - now)), this);
  }

  async listen(host: string, port: number): Promise<void> {
    const l = await listenApp(this.app, host, port, `gpu pool simulator: replica ${this.index}`);
    this.listenSocket = l.socket;
    this.port = l.port;
    this.url = l.origin + '/v1';
    this.metricsUrl = l.origin + '/metrics';
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    // Closes every open connection; onAborted settles each in-flight call.
    closeApp(this.app, this.listenSocket);
    this.listenSocket = null;
    this.streams.clear();
  }

  private routes(): void {
    const app = this.app;
    app.post('/v1/chat/completions', (res, req) => this.onChat(res, req));
    app.get('/v1/models', (res) => sendJson(res, '200 OK', this.server.modelsBody));
    app.get('/metrics', (res) => {
      this.model.advance(this.server.clock());
      this.schedule(); // events the advance produced are written out from a timer
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8');
      res.end(this.renderMetrics());
    });
    app.get('/healthz', (res) => sendJson(res, '200 OK', HEALTH_BODY));
    app.get('/health', (res) => sendJson(res, '200 OK', HEALTH_BODY));
    app.any('/*', sendInvalidUrl);
  }

  private onChat(res: HttpResponse, req: HttpRequest): void {
    const server = this.server;
    server.stats.requests++;
    this.stats.requests++;
    // Copy what we need out of req now: it is dead after this handler returns.
    const headers = requestHeaders(req);
    const record = { replica: this.index, headers, body: '' };
    server.stats.lastRequest = record;
    const call = new GpuCall(this, res, record, this.idPrefix + (++this.seqNo).toString(36));
    res.onAborted(() => call.onAborted());
    res.onData((chunk, isLast) => call.onData(chunk, isLast));
  }

  renderMetrics(): string {
    const m = this.model;
    const c = m.counters;
    const L = '{model_name=' + this.server.modelLabel + '}';
    const Lh = '{model_name=' + this.server.modelLabel + ',le="';
    let s =
      '# HELP vllm:num_requests_running Number of requests in model execution batches.\n' +
      '# TYPE vllm:num_requests_running gauge\n' +
      'vllm:num_requests_running' + L + ' ' + m.numRunning + '\n' +
      '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n' +
      '# TYPE vllm:num_requests_waiting gauge\n' +
      'vllm:num_requests_waiting' + L + ' ' + m.numWaiting + '\n' +
      '# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n' +
      '# TYPE vllm:gpu_cache_usage_perc gauge\n' +
      'vllm:gpu_cache_usage_perc' + L + ' ' + m.kvCacheUsage() + '\n' +
      '# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n' +
      '# TYPE vllm:prompt_tokens_total counter\n' +
      'vllm:prompt_tokens_total' + L + ' ' + c.promptTokens + '\n' +
      '# HELP vllm:generation_tokens_total Number of generation tokens processed.\n' +
      '# TYPE vllm:generation_tokens_total counter\n' +
      'vllm:generation_tokens_total' + L + ' ' + c.generationTokens + '\n' +
      '# HELP vllm:gpu_prefix_cache_queries_total GPU prefix cache queries, in terms of number of queried tokens.\n' +
      '# TYPE vllm:gpu_prefix_cache_queries_total counter\n' +
      'vllm:gpu_prefix_cache_queries_total' + L + ' ' + c.prefixQueryTokens + '\n' +
      '# HELP vllm:gpu_prefix_cache_hits_total GPU prefix cache hits, in terms of number of cached tokens.\n' +
      '# TYPE vllm:gpu_prefix_cache_hits_total counter\n' +
      'vllm:gpu_prefix_cache_hits_total' + L + ' ' + c.prefixHitTokens + '\n' +
      '# HELP vllm:request_success_total Count of successfully processed requests.\n' +
      '# TYPE vllm:request_success_total counter\n' +
      'vllm:request_success_total{finished_reason="stop",model_name=' + this.server.modelLabel + '} ' + this.finishedStop + '\n' +
      'vllm:request_success_total{finished_reason="length",model_name=' + this.server.modelLabel + '} ' + this.finishedLength + '\n' +
      'vllm:request_success_total{finished_reason="abort",model_name=' + this.server.modelLabel + '} ' + this.finishedAbort + '\n' +
      '# HELP vllm:request_queue_time_seconds Histogram of time spent in WAITING phase for request.\n' +
      '# TYPE vllm:request_queue_time_seconds histogram\n';
    for (let i = 0; i < QUEUE_BUCKETS.length; i++) {
      s += 'vllm:request_queue_time_seconds_bucket' + Lh + QUEUE_BUCKETS[i] + '"} ' + this.queueBuckets[i] + '\n';
    }
    s +=
      'vllm:request_queue_time_seconds_bucket' + Lh + '+Inf"} ' + this.queueCount + '\n' +
      'vllm:request_queue_time_seconds_count' + L + ' ' + this.queueCount + '\n' +
      'vllm:request_queue_time_seconds_sum' + L + ' ' + this.queueSumS + '\n' +
      '# HELP switchyard_sim_expected_queue_time_seconds Simulator only: expected wait before admission of a request arriving now.\n' +
      '# TYPE switchyard_sim_expected_queue_time_seconds gauge\n' +
      'switchyard_sim_expected_queue_time_seconds' + L + ' ' + m.expectedQueueTimeMs() / 1000 + '\n';
    return s;
  }
}

// ---------------------------------------------------------------------------------------------------
// The pool

class GpuPoolServer implements GpuPoolSimulator {
  readonly profile: ResolvedGpuPoolProfile;
  readonly stats: GpuPoolStats;
  readonly replicas: Replica[];
  readonly active = new Set<GpuCall>();
  readonly seedMix: number;
  readonly modelsBody: string;
  /** The model_name label value, quoted and escaped. */
  readonly modelLabel: string;
  closed = false;
  private readonly host: string;
  private readonly t0 = performance.now();

  constructor(profile: ResolvedGpuPoolProfile, host: string) {
    this.profile = profile;
    this.host = host;
    this.seedMix = seed32(profile.seed);
    const created = 1_700_000_000;
    this.modelsBody = JSON.stringify({
      object: 'list',
      data: profile.models.map((id) => ({
        id, object: 'model', created, owned_by: 'vllm', root: id, parent: null, max_model_len: 131072,
      })),
    });
    this.modelLabel = '"' + profile.models[0]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
    this.stats = {
      requests: 0, byStatus: {}, promptTokens: 0, completionTokens: 0, cachedTokens: 0,
      lastRequest: null, requestLog: [], replicas: [],
    };
    const instance = ++INSTANCES;
    this.replicas = [];
    for (let i = 0; i < profile.replicas; i++) {
      const r = new Replica(this, i, instance);
      this.replicas.push(r);
      this.stats.replicas.push(r.stats);
    }
  }

  /** Model time: ms since the pool started. */
  clock(): number {
    return performance.now() - this.t0;
  }

  async listen(port: number): Promise<void> {
    for (let i = 0; i < this.replicas.length; i++) await this.replicas[i]!.listen(this.host, port === 0 ? 0 : port + i);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const r of this.replicas) r.close();
      this.active.clear();
    }
    return new Promise((resolve) => setImmediate(resolve));
  }

  finish(call: GpuCall, aborted: boolean): void {
    const stats = this.stats;
    const key = call.fault === 'reset' ? 'reset' : aborted ? 'aborted' : String(call.status);
    stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
    const answered = call.status === 200;
    const prompt = answered ? call.promptTokens : 0;
    const completion = answered ? call.sent : 0;
    const cached = answered ? call.cachedTokens : 0;
    stats.promptTokens += prompt;
    stats.completionTokens += completion;
    stats.cachedTokens += cached;
    const log = stats.requestLog;
    log.push(
      new LogEntry(call.id, call.replica.index, call.model, call.stream, call.status,
        prompt, completion, cached, call.queueTimeMs, call.fault, aborted),
    );
    if (log.length > REQUEST_LOG_CAP + REQUEST_LOG_SLACK) log.splice(0, log.length - REQUEST_LOG_CAP);
  }
}
