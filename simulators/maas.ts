// OpenAI-compatible managed-API ("MaaS") simulator on uWebSockets.js: seeded, reproducible, loopback.
// An independent check on the gateway: imports `core/schema` types at most, never gateway logic.
//
// Hot path (non-streaming, no delays): the body is parsed and answered inside the last onData callback,
// in one corked write; response JSON is assembled from strings, not objects.

import { createRequire } from 'node:module';
import type * as UWSTypes from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ChatMessage, ChatTool } from '../core/schema/openai.js';
import { FAULT_KINDS, resolveProfile, type FaultKind, type ResolvedProfile, type SimProfile } from './profile.js';

// uWebSockets.js is a CommonJS native addon.
const uWS = createRequire(import.meta.url)('uWebSockets.js') as typeof UWSTypes;

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

const MAX_BODY_BYTES = 16 * 1024 * 1024;
const REQUEST_LOG_CAP = 10_000;
const REQUEST_LOG_SLACK = 1_000; // trim in batches: no O(n) shift per request
const MIN_TICK_MS = 10; // pacing granularity: several tokens per tick at high rates
const FINGERPRINT = 'fp_switchyard_sim';

const VOCAB = (
  'the a gateway model request token stream route alias pool lane budget limit cache prefix provider ' +
  'answer summary account note customer latency quota policy trace cost usage signal context window ' +
  'batch replica queue region service metric value record update status result simple quick careful ' +
  'clear brief useful stable steady fresh early later today again always often rarely mostly'
).split(' ');
const WORD_SP = VOCAB.map((w) => ' ' + w);
const WORD_CAP = VOCAB.map((w) => w[0]!.toUpperCase() + w.slice(1));
const WORD_SP_CAP = WORD_CAP.map((w) => ' ' + w);

const JSON_PIECE_RE = / ?[A-Za-z0-9_]+|[^A-Za-z0-9_ ]+| /g;
const DIRECTIVE_RE = /\[sim:([a-z_]+)=([^\]\s]*)\]/g;
const BEARER_RE = /^bearer\s+\S/i;
const VALID_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const FAULT_DIRECTIVES: Record<string, FaultKind> = {
  '429': 'rate_limited',
  rate_limited: 'rate_limited',
  '500': 'server_error',
  server_error: 'server_error',
  '503': 'unavailable',
  unavailable: 'unavailable',
  timeout: 'timeout',
  reset: 'reset',
  stream_cut: 'stream_cut',
};

const USAGE_DETAILS_TAIL =
  ',"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}';

function usageJson(prompt: number, completion: number, cached: number): string {
  return (
    '{"prompt_tokens":' + prompt +
    ',"completion_tokens":' + completion +
    ',"total_tokens":' + (prompt + completion) +
    ',"prompt_tokens_details":{"cached_tokens":' + cached + ',"audio_tokens":0}' +
    USAGE_DETAILS_TAIL
  );
}

function errorJson(message: string, type: string, param: string | null, code: string | null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

const ERR_UNAUTHORIZED = errorJson(
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
  'invalid_request_error', null, null,
);
const ERR_BAD_JSON = errorJson(
  'We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.',
  'invalid_request_error', null, null,
);
const ERR_TOO_LARGE = errorJson('Request body too large.', 'invalid_request_error', null, 'request_too_large');
const ERR_SERVER = errorJson(
  'The server had an error while processing your request. Sorry about that!',
  'server_error', null, null,
);
const ERR_UNAVAILABLE = errorJson('The server is overloaded or not ready yet.', 'server_error', null, null);
const ERR_RATE_LIMITED = errorJson(
  'Rate limit reached for requests (simulated). Please try again later.',
  'requests', 'requests', 'rate_limit_exceeded',
);
const HEALTH_BODY = '{"status":"ok"}';

// ---------------------------------------------------------------------------------------------------
// Deterministic helpers

/** mulberry32: tiny, fast, good enough for simulation. */
class Rng {
  s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function seed32(seed: number): number {
  return fmix32((seed | 0) ^ Math.floor(seed / 4294967296) ^ 0x9e3779b9);
}

function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

function words(rng: Rng, n: number): string {
  let s = VOCAB[rng.int(VOCAB.length)]!;
  for (let i = 1; i < n; i++) s += WORD_SP[rng.int(WORD_SP.length)]!;
  return s;
}

/** Text output: one word per token piece, sentences of 6..13 words. */
function textPieces(rng: Rng, n: number): string[] {
  const out = new Array<string>(n);
  let untilStop = 6 + rng.int(8);
  let cap = true;
  for (let i = 0; i < n; i++) {
    const w = rng.int(VOCAB.length);
    let p = i === 0 ? WORD_CAP[w]! : cap ? WORD_SP_CAP[w]! : WORD_SP[w]!;
    cap = false;
    if (--untilStop === 0 || i === n - 1) {
      p += '.';
      cap = true;
      untilStop = 6 + rng.int(8);
    }
    out[i] = p;
  }
  return out;
}

function jsonPieces(json: string): string[] {
  return json.match(JSON_PIECE_RE) ?? [];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function valueForSchema(schema: unknown, rng: Rng, depth: number): Json {
  if (schema === null || typeof schema !== 'object') return words(rng, 1 + rng.int(3));
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[rng.int(s.enum.length)] as Json;
  if ('const' in s) return s.const as Json;
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null') ?? 'null';
  if (t === undefined && s.properties !== undefined) t = 'object';
  switch (t) {
    case 'integer':
      return 1 + rng.int(100);
    case 'number':
      return Math.round(rng.next() * 10000) / 100;
    case 'boolean':
      return rng.next() < 0.5;
    case 'null':
      return null;
    case 'array':
      return depth < 4 ? [valueForSchema(s.items, rng, depth + 1)] : [];
    case 'object':
      return depth < 4 ? objectForSchema(s, rng, depth + 1, false) : {};
    default:
      return words(rng, 1 + rng.int(3));
  }
}

/** An object holding the schema's required properties (up to 16), or {"query": "..."} at the top. */
function objectForSchema(schema: unknown, rng: Rng, depth: number, top: boolean): { [k: string]: Json } {
  const s = (schema !== null && typeof schema === 'object' ? schema : {}) as Record<string, unknown>;
  const required = Array.isArray(s.required) ? s.required.filter((k): k is string => typeof k === 'string') : [];
  const props = (s.properties !== null && typeof s.properties === 'object' ? s.properties : {}) as Record<string, unknown>;
  const out: { [k: string]: Json } = {};
  if (required.length === 0) {
    if (top) out.query = words(rng, 2 + rng.int(4));
    return out;
  }
  for (let i = 0; i < required.length && i < 16; i++) {
    const k = required[i]!;
    out[k] = valueForSchema(props[k], rng, depth);
  }
  return out;
}

function callId(rng: Rng): string {
  let s = 'call_';
  for (let i = 0; i < 24; i++) s += ID_ALPHABET[rng.int(ID_ALPHABET.length)];
  return s;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const part of content) {
    if (part !== null && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      s += (part as { text: string }).text;
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Per-request state

class HttpError {
  constructor(
    readonly status: string,
    readonly body: string,
  ) {}
}

function badRequest(message: string, param: string | null, code: string | null): HttpError {
  return new HttpError('400 Bad Request', errorJson(message, 'invalid_request_error', param, code));
}

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
    if (this.bodyBytes > MAX_BODY_BYTES) {
      CURRENT = this;
      this.res.cork(corkedTooLarge);
      return;
    }
    if (!isLast) {
      // The chunk is neutered after this callback returns: copy it.
      (this.chunks ??= []).push(Buffer.from(Buffer.from(chunk)));
      return;
    }
    let text: string;
    if (this.chunks === null) {
      text = Buffer.from(chunk).toString('utf8'); // decoded (copied) before the callback returns
    } else {
      this.chunks.push(Buffer.from(chunk));
      text = Buffer.concat(this.chunks).toString('utf8');
      this.chunks = null;
    }
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
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      return badRequest('Invalid request body: expected a JSON object.', null, 'invalid_type');
    }
    const body = raw as Record<string, unknown>;
    const model = body.model;
    if (typeof model !== 'string' || model.length === 0) {
      return badRequest('you must provide a model parameter', null, null);
    }
    const messages = body.messages;
    if (messages === undefined || messages === null) {
      return badRequest("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
    }
    if (!Array.isArray(messages)) {
      return badRequest("Invalid type for 'messages': expected an array.", 'messages', 'invalid_type');
    }
    if (messages.length === 0) {
      return badRequest(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        'messages', 'empty_array',
      );
    }

    // Hash and count the messages; find the last user message (it may carry directives).
    const server = this.server;
    let h = server.hashSeed;
    let chars = 0;
    let lastUser = '';
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as ChatMessage | null;
      if (m === null || typeof m !== 'object') {
        return badRequest(`Invalid type for 'messages[${i}]': expected an object.`, `messages[${i}]`, 'invalid_type');
      }
      const role = m.role;
      if (typeof role !== 'string') {
        return badRequest(`Missing required parameter: 'messages[${i}].role'.`, `messages[${i}].role`, 'missing_required_parameter');
      }
      if (!VALID_ROLES.has(role)) {
        return badRequest(
          `Invalid value: '${role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
          `messages[${i}].role`, 'invalid_value',
        );
      }
      const text = contentText(m.content);
      h = fnv1a(fnv1a(h, role), text);
      chars += text.length;
      if (Array.isArray(m.tool_calls)) {
        for (const tc of m.tool_calls) {
          const fn = tc?.function;
          if (fn !== undefined && fn !== null) {
            const s = String(fn.name ?? '') + String(fn.arguments ?? '');
            h = fnv1a(h, s);
            chars += s.length;
          }
        }
      }
      if (role === 'user') lastUser = text;
    }
    this.promptTokens = Math.ceil(chars / 4) + 3 * messages.length;

    // Directives in the last user message override the profile for this request.
    const profile = server.profile;
    const rng = new Rng(fmix32(h));
    let outTokens =
      profile.output_tokens.min === profile.output_tokens.max
        ? profile.output_tokens.min
        : profile.output_tokens.min + rng.int(profile.output_tokens.max - profile.output_tokens.min + 1);
    this.ttftMs = profile.ttft_ms;
    this.tokensPerS = profile.tokens_per_s;
    if (lastUser.includes('[sim:')) {
      DIRECTIVE_RE.lastIndex = 0;
      for (let m = DIRECTIVE_RE.exec(lastUser); m !== null; m = DIRECTIVE_RE.exec(lastUser)) {
        const key = m[1]!;
        const val = m[2]!;
        if (key === 'fault') {
          const f = FAULT_DIRECTIVES[val];
          if (f === undefined) return badRequest(`Invalid simulator directive: [sim:fault=${val}]`, 'messages', 'invalid_value');
          this.fault = f;
          continue;
        }
        const n = Number(val);
        if (val === '' || !Number.isFinite(n) || n < 0) {
          return badRequest(`Invalid simulator directive: [sim:${key}=${val}]`, 'messages', 'invalid_value');
        }
        if (key === 'output_tokens') outTokens = Math.floor(n);
        else if (key === 'ttft_ms') this.ttftMs = n;
        else if (key === 'tokens_per_s') this.tokensPerS = n;
        else return badRequest(`Unknown simulator directive: [sim:${key}=${val}]`, 'messages', 'invalid_value');
      }
    }

    let maxTokens: unknown = body.max_completion_tokens;
    let maxParam = 'max_completion_tokens';
    if (maxTokens === undefined || maxTokens === null) {
      maxTokens = body.max_tokens;
      maxParam = 'max_tokens';
    }
    if (maxTokens !== undefined && maxTokens !== null) {
      if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
        return badRequest(
          `Invalid '${maxParam}': integer below minimum value. Expected a value >= 1.`,
          maxParam, 'integer_below_min_value',
        );
      }
    }

    const stream = body.stream === true;
    this.stream = stream;
    if (stream) {
      const so = body.stream_options as { include_usage?: unknown } | null | undefined;
      this.includeUsage = so !== null && typeof so === 'object' && so.include_usage === true;
    }

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
    if (typeof maxTokens === 'number' && maxTokens < this.pieces.length) {
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
    let message: string;
    if (this.kind === Kind.Tool) {
      message =
        '{"role":"assistant","content":null,"tool_calls":[{"id":"' + this.toolId +
        '","type":"function","function":{"name":' + this.toolNameJson +
        ',"arguments":' + JSON.stringify(pieces.join('')) +
        '}}],"refusal":null,"annotations":[]}';
    } else {
      message = '{"role":"assistant","content":' + JSON.stringify(pieces.join('')) + ',"refusal":null,"annotations":[]}';
    }
    const body =
      '{"id":"' + this.id + '","object":"chat.completion","created":' + this.created +
      ',"model":' + this.modelJson +
      ',"choices":[{"index":0,"message":' + message + ',"logprobs":null,"finish_reason":"' + this.finish +
      '"}],"usage":' + usageJson(this.promptTokens, n, 0) +
      ',"service_tier":"default","system_fingerprint":"' + FINGERPRINT + '"}';
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
      this.chunkPrefix =
        'data: {"id":"' + this.id + '","object":"chat.completion.chunk","created":' + this.created +
        ',"model":' + this.modelJson +
        ',"service_tier":"default","system_fingerprint":"' + FINGERPRINT + '","choices":[{"index":0,"delta":';
      this.chunkSuffix = ',"logprobs":null,"finish_reason":null}]' + (this.includeUsage ? ',"usage":null}\n\n' : '}\n\n');
      const first =
        this.kind === Kind.Tool
          ? '{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"' + this.toolId +
            '","type":"function","function":{"name":' + this.toolNameJson + ',"arguments":""}}],"refusal":null}'
          : '{"role":"assistant","content":"","refusal":null}';
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
        : prefix + '{"content":' + JSON.stringify(pieces[i]) + '}' + suffix;
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
      out +=
        prefix + '{}' + ',"logprobs":null,"finish_reason":"' + this.finish + '"}]' +
        (this.includeUsage ? ',"usage":null}\n\n' : '}\n\n');
      if (this.includeUsage) {
        out +=
          'data: {"id":"' + this.id + '","object":"chat.completion.chunk","created":' + this.created +
          ',"model":' + this.modelJson + ',"service_tier":"default","system_fingerprint":"' + FINGERPRINT +
          '","choices":[],"usage":' + usageJson(this.promptTokens, n, 0) + '}\n\n';
      }
      out += 'data: [DONE]\n\n';
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

let HEADERS: Record<string, string> = {};
function copyHeader(key: string, value: string): void {
  const prev = HEADERS[key];
  HEADERS[key] = prev === undefined ? value : prev + ', ' + value;
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

  constructor(profile: ResolvedProfile, host: string) {
    this.profile = profile;
    this.host = host;
    this.stats = { requests: 0, byStatus: {}, promptTokens: 0, completionTokens: 0, lastRequest: null, requestLog: [] };
    const s = seed32(profile.seed);
    this.hashSeed = (0x811c9dc5 ^ s) >>> 0;
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

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.host, port, (ls) => {
        if (ls === false) {
          reject(new Error(`maas simulator: cannot listen on ${this.host}:${port}`));
          return;
        }
        this.listenSocket = ls;
        this.port = uWS.us_socket_local_port(ls);
        const h = this.host.includes(':') ? `[${this.host}]` : this.host;
        this.url = `http://${h}:${this.port}/v1`;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const call of this.active) {
        if (call.timer !== null) clearTimeout(call.timer);
        call.timer = null;
      }
      if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
      // Closes every open connection; onAborted settles each in-flight call.
      (this.app as unknown as { close(): void }).close();
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
    stats.promptTokens += prompt;
    stats.completionTokens += completion;
    const log = stats.requestLog;
    log.push(new LogEntry(call.id, call.model, call.stream, call.status, prompt, completion, 0, fault, aborted));
    if (log.length > REQUEST_LOG_CAP + REQUEST_LOG_SLACK) log.splice(0, log.length - REQUEST_LOG_CAP);
  }

  private routes(): void {
    const app = this.app;
    app.post('/v1/chat/completions', (res, req) => this.onChat(res, req));
    app.get('/v1/models', (res, req) => {
      if (!BEARER_RE.test(req.getHeader('authorization'))) {
        sendJson(res, '401 Unauthorized', ERR_UNAUTHORIZED);
        return;
      }
      sendJson(res, '200 OK', this.modelsBody);
    });
    app.get('/healthz', (res) => sendJson(res, '200 OK', HEALTH_BODY));
    app.any('/*', (res, req) => {
      const method = req.getCaseSensitiveMethod().toUpperCase();
      const q = req.getQuery();
      const url = req.getUrl() + (q ? '?' + q : '');
      sendJson(
        res,
        '404 Not Found',
        errorJson(`Invalid URL (${method} ${url})`, 'invalid_request_error', null, null),
      );
    });
  }

  private onChat(res: HttpResponse, req: HttpRequest): void {
    const stats = this.stats;
    stats.requests++;
    // Copy what we need out of req now: it is dead after this handler returns.
    const headers: Record<string, string> = {};
    HEADERS = headers;
    req.forEach(copyHeader);
    HEADERS = {};
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

function sendJson(res: HttpResponse, status: string, body: string): void {
  res.writeStatus(status);
  res.writeHeader('content-type', 'application/json');
  res.end(body);
}
