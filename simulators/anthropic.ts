// The managed-API simulator's Anthropic face: POST /v1/messages (Anthropic Messages API: `x-api-key`,
// content blocks, tools, tool_use/tool_result, prompt caching with `cache_control`, streaming with
// Anthropic's event sequence, Anthropic's error envelope) and POST /v1/embeddings (OpenAI embeddings).
// Served by the same server as the OpenAI face (maas.ts), from the same seed, profile and directives.
// An independent check on the gateway: imports `core/schema` types at most, never gateway logic.
//
// Rules, as the OpenAI face's where they overlap:
//   - prompt tokens: ceil(chars / 4) + 3 per message (system text counts as one message);
//   - text answers: seeded words; `[sim:output_tokens=N]` etc. in the last user text override the profile;
//   - tools offered (and tool_choice not none) and the last user turn holds no tool_result: a tool_use
//     block for the forced tool or the first tool; `[sim:tool_calls=N]` calls the first N tools (parallel);
//   - prompt caching: the prefix up to the last block marked `cache_control` is cached per server; the
//     first request that marks it reports cache_creation_input_tokens, later ones cache_read_input_tokens.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { ResolvedProfile, FaultKind } from './profile.js';
import { Directives, readDirectives, type DirectiveRules } from './chat-request.js';
import { ID_ALPHABET, Rng, fmix32, fnv1a, jsonPieces, objectForSchema, promptTokens, textPieces } from './generate.js';
import { requestHeaders, bodyText, MAX_CHAT_BODY_BYTES } from './uws.js';
import { BEARER_RE } from './openai-wire.js';

/** What the Anthropic face needs of its server (maas.ts). */
export interface AnthropicHost {
  readonly profile: ResolvedProfile;
  readonly hashSeed: number;
  readonly retryAfter: string;
  /** Prefix hashes cached by earlier requests (prompt caching). */
  readonly promptCache: Set<number>;
  drawFault(): FaultKind | null;
  /** Count one request of the named endpoint and keep it as the last request seen. */
  record(endpoint: 'messages' | 'embeddings', headers: Record<string, string>, body: string): void;
  /** Count a finished exchange (status, or fault kind) and its tokens. */
  finished(key: string, prompt: number, completion: number): void;
  /** Calls in flight, closed with the server. */
  readonly held: Set<{ abort(): void }>;
}

const RULES: DirectiveRules<FaultKind> = {
  faults: {
    '429': 'rate_limited',
    rate_limited: 'rate_limited',
    '500': 'server_error',
    server_error: 'server_error',
    '503': 'unavailable',
    '529': 'unavailable',
    unavailable: 'unavailable',
    overloaded: 'unavailable',
    timeout: 'timeout',
    reset: 'reset',
    stream_cut: 'stream_cut',
  },
  numbers: new Set(['output_tokens', 'ttft_ms', 'tokens_per_s', 'tool_calls']),
  valueFirst: true,
};
const TOOL_CALLS_RE = /\[sim:tool_calls=(\d+)\]/;

function errJson(type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message } });
}

const ERR_AUTH = errJson('authentication_error', 'x-api-key header is required');
const ERR_JSON = errJson('invalid_request_error', 'The request body is not valid JSON.');
const ERR_TOO_LARGE = errJson('request_too_large', 'Request exceeds the maximum allowed number of bytes.');
const ERR_RATE = errJson('rate_limit_error', 'Number of requests has exceeded your rate limit (simulated).');
const ERR_SERVER = errJson('api_error', 'Internal server error (simulated).');
const ERR_OVERLOADED = errJson('overloaded_error', 'Overloaded (simulated).');

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toolId(rng: Rng): string {
  let s = 'toolu_';
  for (let i = 0; i < 24; i++) s += ID_ALPHABET[rng.int(ID_ALPHABET.length)];
  return s;
}

/** The text a block counts for. */
function blockText(b: unknown): string {
  if (!isObj(b)) return '';
  if (b.type === 'text') return String(b.text ?? '');
  if (b.type === 'tool_use') return String(b.name ?? '') + JSON.stringify(b.input ?? {});
  if (b.type === 'tool_result') {
    const c = b.content;
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return c.map(blockText).join('');
  }
  return '';
}

interface ToolSpec {
  name: string;
  schema: unknown;
}

class Plan {
  status = 0;
  model = '';
  stream = false;
  pieces: string[][] = [];
  /** Per block: '' for text, else the tool_use id. */
  ids: string[] = [];
  names: string[] = [];
  stop = 'end_turn';
  inputTokens = 0;
  cacheCreate = 0;
  cacheRead = 0;
  outputTokens = 0;
  ttftMs = 0;
  tokensPerS = 0;
  fault: FaultKind | null = null;
}

/** Read a Messages body into a plan (or an error to send). */
function plan(host: AnthropicHost, raw: unknown, p: Plan): { status: string; body: string } | null {
  const bad = (m: string) => ({ status: '400 Bad Request', body: errJson('invalid_request_error', m) });
  if (!isObj(raw)) return bad('Invalid request body: expected a JSON object.');
  if (typeof raw.model !== 'string' || raw.model === '') return bad('model: Field required');
  if (typeof raw.max_tokens !== 'number' || !Number.isInteger(raw.max_tokens) || raw.max_tokens < 1) return bad('max_tokens: Field required');
  const messages = raw.messages;
  if (!Array.isArray(messages) || messages.length === 0) return bad('messages: Field required');
  let h = host.hashSeed;
  let chars = 0;
  let count = 0;
  // Prompt caching: the prefix hash and its characters at the last cache_control mark.
  let markHash = 0;
  let markChars = -1;
  const mark = (b: unknown) => {
    if (isObj(b) && b.cache_control != null) {
      markHash = h;
      markChars = chars;
    }
  };
  const tools = Array.isArray(raw.tools) ? (raw.tools as Obj[]) : [];
  for (const t of tools) {
    const s = String(t.name ?? '') + JSON.stringify(t.input_schema ?? {});
    h = fnv1a(h, s);
    chars += s.length;
    mark(t);
  }
  const system = raw.system;
  if (typeof system === 'string' && system !== '') {
    h = fnv1a(fnv1a(h, 'system'), system);
    chars += system.length;
    count++;
  } else if (Array.isArray(system)) {
    h = fnv1a(h, 'system');
    for (const b of system) {
      const t = blockText(b);
      h = fnv1a(h, t);
      chars += t.length;
      mark(b);
    }
    count++;
  }
  let lastUser = '';
  let lastHasResult = false;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObj(m) || (m.role !== 'user' && m.role !== 'assistant')) return bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    h = fnv1a(h, m.role);
    count++;
    const c = m.content;
    let text = '';
    let hasResult = false;
    if (typeof c === 'string') {
      h = fnv1a(h, c);
      chars += c.length;
      text = c;
    } else if (Array.isArray(c)) {
      for (const b of c) {
        const t = blockText(b);
        h = fnv1a(h, t);
        chars += t.length;
        if (isObj(b) && b.type === 'text') text += t;
        if (isObj(b) && b.type === 'tool_result') hasResult = true;
        mark(b);
      }
    } else return bad(`messages.${i}.content: Field required`);
    if (m.role === 'user') {
      lastUser = text;
      lastHasResult = hasResult;
    }
  }
  const total = promptTokens(chars, count);
  p.inputTokens = total;
  if (markChars >= 0) {
    const cached = Math.min(total, Math.ceil(markChars / 4));
    if (host.promptCache.has(markHash)) p.cacheRead = cached;
    else {
      host.promptCache.add(markHash);
      p.cacheCreate = cached;
    }
    p.inputTokens = total - cached;
  }

  const profile = host.profile;
  const rng = new Rng(fmix32(h));
  let outTokens = profile.output_tokens.min === profile.output_tokens.max ? profile.output_tokens.min : profile.output_tokens.min + rng.int(profile.output_tokens.max - profile.output_tokens.min + 1);
  p.ttftMs = profile.ttft_ms;
  p.tokensPerS = profile.tokens_per_s;
  const d = new Directives<FaultKind>();
  const err = readDirectives(lastUser, RULES, d);
  if (d.fault !== null) p.fault = d.fault;
  if (err !== null) return { status: '400 Bad Request', body: errJson('invalid_request_error', JSON.parse(err.body).error.message) };
  if (d.outputTokens >= 0) outTokens = d.outputTokens;
  if (d.ttftMs >= 0) p.ttftMs = d.ttftMs;
  if (d.tokensPerS >= 0) p.tokensPerS = d.tokensPerS;
  const tcm = TOOL_CALLS_RE.exec(lastUser);
  const wantCalls = tcm !== null ? Math.max(1, Number(tcm[1])) : 1;

  const choice = isObj(raw.tool_choice) ? raw.tool_choice : null;
  const calls: ToolSpec[] = [];
  if (tools.length > 0 && choice?.type !== 'none' && !lastHasResult) {
    if (choice?.type === 'tool') {
      const t = tools.find((x) => x.name === choice.name);
      if (t === undefined) return bad(`tool_choice: tool '${String(choice.name)}' is not among the tools`);
      calls.push({ name: String(t.name), schema: t.input_schema });
    } else {
      const n = choice?.disable_parallel_tool_use === true ? 1 : Math.min(wantCalls, tools.length);
      for (let i = 0; i < n; i++) calls.push({ name: String(tools[i]!.name), schema: tools[i]!.input_schema });
    }
  }
  const max = raw.max_tokens;
  if (calls.length > 0) {
    for (const c of calls) {
      p.ids.push(toolId(rng));
      p.names.push(c.name);
      p.pieces.push(jsonPieces(JSON.stringify(objectForSchema(c.schema, rng, 0, true))));
    }
    p.stop = 'tool_use';
  } else {
    p.ids.push('');
    p.names.push('');
    p.pieces.push(textPieces(rng, Math.max(1, outTokens)));
  }
  let out = 0;
  for (const ps of p.pieces) out += ps.length;
  if (out > max) {
    // Cut at max_tokens across the blocks.
    let left = max;
    for (const ps of p.pieces) {
      if (ps.length > left) ps.length = left;
      left -= ps.length;
    }
    out = max;
    p.stop = 'max_tokens';
  }
  p.outputTokens = out;
  p.model = raw.model;
  p.stream = raw.stream === true;
  return null;
}

function usage(p: Plan, output: number): string {
  return '{"input_tokens":' + p.inputTokens + ',"cache_creation_input_tokens":' + p.cacheCreate + ',"cache_read_input_tokens":' + p.cacheRead + ',"output_tokens":' + output + '}';
}

function ev(type: string, data: string): string {
  return 'event: ' + type + '\ndata: ' + data + '\n\n';
}

/** One /v1/messages exchange. */
class MessagesCall {
  readonly p = new Plan();
  chunks: Buffer[] | null = null;
  bytes = 0;
  done = false;
  /** The client went away: `res` must not be touched again. */
  dead = false;
  timer: NodeJS.Timeout | null = null;
  /** Streaming: the events still to send, and where the cut falls (-1: none). */
  events: string[] = [];
  sent = 0;
  cutAt = -1;
  t0 = 0;

  constructor(
    readonly host: AnthropicHost,
    readonly res: HttpResponse,
    readonly id: string,
  ) {}

  abort(): void {
    this.dead = true;
    this.host.held.delete(this);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.done) {
      this.done = true;
      this.host.finished('aborted', 0, 0);
    }
  }

  /** Drop the connection once what was written has been flushed. */
  drop(): void {
    if (this.dead) return;
    this.dead = true;
    this.res.close();
  }

  send(status: string, body: string, retryAfter?: string): void {
    this.done = true;
    this.host.held.delete(this);
    const res = this.res;
    res.cork(() => {
      res.writeStatus(status);
      res.writeHeader('content-type', 'application/json');
      res.writeHeader('request-id', this.id);
      if (retryAfter !== undefined) res.writeHeader('retry-after', retryAfter);
      res.end(body);
    });
    const ok = status.startsWith('200');
    this.host.finished(status.slice(0, 3), ok ? this.p.inputTokens + this.p.cacheCreate + this.p.cacheRead : 0, ok ? this.p.outputTokens : 0);
  }

  onBody(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.send('400 Bad Request', ERR_JSON);
    }
    const p = this.p;
    const err = plan(this.host, raw, p);
    if (err !== null) return this.send(err.status, err.body);
    const fault = p.fault ?? this.host.drawFault();
    switch (fault) {
      case 'rate_limited':
        return this.send('429 Too Many Requests', ERR_RATE, this.host.retryAfter);
      case 'server_error':
        return this.send('500 Internal Server Error', ERR_SERVER);
      case 'unavailable':
        return this.send('529 Overloaded', ERR_OVERLOADED);
      case 'timeout':
        this.host.held.add(this);
        return;
      case 'reset':
        this.done = true;
        this.host.finished('reset', 0, 0);
        setImmediate(() => this.drop());
        return;
      default:
        break;
    }
    if (fault === 'stream_cut') p.fault = 'stream_cut';
    this.host.held.add(this);
    const delay = p.ttftMs + (!p.stream && p.tokensPerS > 0 ? (p.outputTokens * 1000) / p.tokensPerS : 0);
    if (delay > 0) this.timer = setTimeout(() => this.step(), delay);
    else this.step();
  }

  step(): void {
    this.timer = null;
    if (this.done || this.dead) return;
    if (this.p.stream) this.res.cork(() => this.streamStep());
    else this.whole();
  }

  whole(): void {
    const p = this.p;
    const content: string[] = [];
    for (let i = 0; i < p.pieces.length; i++) {
      const text = p.pieces[i]!.join('');
      content.push(p.ids[i] === '' ? '{"type":"text","text":' + JSON.stringify(text) + '}' : '{"type":"tool_use","id":"' + p.ids[i] + '","name":' + JSON.stringify(p.names[i]) + ',"input":' + (text === '' ? '{}' : text) + '}');
    }
    const body =
      '{"id":"' + this.id + '","type":"message","role":"assistant","model":' + JSON.stringify(p.model) + ',"content":[' + content.join(',') +
      '],"stop_reason":"' + p.stop + '","stop_sequence":null,"usage":' + usage(p, p.outputTokens) + '}';
    if (p.fault === 'stream_cut') {
      // Half the body, then the connection drops.
      this.done = true;
      this.host.held.delete(this);
      const res = this.res;
      res.cork(() => {
        res.writeStatus('200 OK');
        res.writeHeader('content-type', 'application/json');
        res.write(body.slice(0, body.length >> 1));
      });
      this.host.finished('stream_cut', 0, 0);
      setImmediate(() => this.drop());
      return;
    }
    this.send('200 OK', body);
  }

  /** Build every event once; send them paced by tokens_per_s (one content delta per token). */
  private buildEvents(): void {
    const p = this.p;
    const ev0: string[] = [];
    ev0.push(
      ev('message_start', '{"type":"message_start","message":{"id":"' + this.id + '","type":"message","role":"assistant","model":' + JSON.stringify(p.model) + ',"content":[],"stop_reason":null,"stop_sequence":null,"usage":' + usage(p, 1) + '}}') +
        ev('ping', '{"type": "ping"}'),
    );
    for (let i = 0; i < p.pieces.length; i++) {
      const tool = p.ids[i] !== '';
      const start = tool ? '{"type":"tool_use","id":"' + p.ids[i] + '","name":' + JSON.stringify(p.names[i]) + ',"input":{}}' : '{"type":"text","text":""}';
      ev0.push(ev('content_block_start', '{"type":"content_block_start","index":' + i + ',"content_block":' + start + '}'));
      for (const piece of p.pieces[i]!) {
        ev0.push(
          ev('content_block_delta', '{"type":"content_block_delta","index":' + i + ',"delta":' + (tool ? '{"type":"input_json_delta","partial_json":' : '{"type":"text_delta","text":') + JSON.stringify(piece) + '}}'),
        );
      }
      ev0.push(ev('content_block_stop', '{"type":"content_block_stop","index":' + i + '}'));
    }
    ev0.push(ev('message_delta', '{"type":"message_delta","delta":{"stop_reason":"' + p.stop + '","stop_sequence":null},"usage":{"output_tokens":' + p.outputTokens + '}}') + ev('message_stop', '{"type":"message_stop"}'));
    this.events = ev0;
    if (p.fault === 'stream_cut') this.cutAt = Math.max(2, ev0.length >> 1);
  }

  streamStep(): void {
    const res = this.res;
    const p = this.p;
    if (this.sent === 0 && this.events.length === 0) {
      this.buildEvents();
      this.t0 = performance.now();
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'text/event-stream; charset=utf-8');
      res.writeHeader('cache-control', 'no-cache');
      res.writeHeader('request-id', this.id);
    }
    const n = this.events.length;
    let due = p.tokensPerS > 0 ? Math.min(n, Math.floor(((performance.now() - this.t0) * p.tokensPerS) / 1000) + 2) : n;
    if (this.cutAt >= 0 && due > this.cutAt) due = this.cutAt;
    let out = '';
    for (let i = this.sent; i < due; i++) out += this.events[i];
    this.sent = due;
    if (this.cutAt >= 0 && due >= this.cutAt) {
      if (out !== '') res.write(out);
      this.done = true;
      this.host.held.delete(this);
      this.host.finished('stream_cut', 0, 0);
      setImmediate(() => this.drop());
      return;
    }
    if (due >= n) {
      this.done = true;
      this.host.held.delete(this);
      res.end(out);
      this.host.finished('200', p.inputTokens + p.cacheCreate + p.cacheRead, p.outputTokens);
      return;
    }
    if (out !== '') res.write(out);
    const nextDue = this.t0 + ((this.sent - 1) * 1000) / p.tokensPerS;
    this.timer = setTimeout(() => this.step(), Math.max(10, nextDue - performance.now()));
  }
}

let SEQ = 0;

/** POST /v1/messages on the simulator's app. */
export function onMessages(host: AnthropicHost, res: HttpResponse, req: HttpRequest): void {
  const headers = requestHeaders(req);
  const call = new MessagesCall(host, res, 'msg_sim' + (++SEQ).toString(36));
  const key = headers['x-api-key'];
  if (key === undefined || key === '') {
    host.record('messages', headers, '');
    call.send('401 Unauthorized', ERR_AUTH);
    return;
  }
  res.onAborted(() => call.abort());
  res.onData((chunk, isLast) => {
    if (call.done) return;
    call.bytes += chunk.byteLength;
    if (call.bytes > MAX_CHAT_BODY_BYTES) {
      call.chunks = null;
      call.send('413 Payload Too Large', ERR_TOO_LARGE);
      return;
    }
    const text = bodyText(call, chunk, isLast);
    if (text === null) return;
    host.record('messages', headers, text);
    call.onBody(text);
  });
}

// ---------------------------------------------------------------------------------------------------
// Embeddings (OpenAI's API): deterministic unit vectors from each input's hash

const EMB_RULES: DirectiveRules<FaultKind> = { faults: RULES.faults, numbers: new Set(), valueFirst: true };
const DEFAULT_DIMENSIONS = 8;

function oaiErr(message: string, type: string, code: string | null): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

function embeddingAnswer(host: AnthropicHost, raw: unknown): { status: string; body: string; prompt: number; retryAfter?: string } {
  const bad = (m: string) => ({ status: '400 Bad Request', body: oaiErr(m, 'invalid_request_error', null), prompt: 0 });
  if (!isObj(raw)) return bad('Invalid request body: expected a JSON object.');
  if (typeof raw.model !== 'string' || raw.model === '') return bad('you must provide a model parameter');
  const input = raw.input;
  const items: string[] = typeof input === 'string' ? [input] : Array.isArray(input) ? input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))) : [];
  if (items.length === 0) return bad("'input' is required");
  const d = new Directives<FaultKind>();
  readDirectives(items.join(' '), EMB_RULES, d);
  const fault = d.fault ?? host.drawFault();
  if (fault === 'rate_limited') return { status: '429 Too Many Requests', body: oaiErr('Rate limit reached (simulated).', 'requests', 'rate_limit_exceeded'), prompt: 0, retryAfter: host.retryAfter };
  if (fault === 'server_error') return { status: '500 Internal Server Error', body: oaiErr('The server had an error (simulated).', 'server_error', null), prompt: 0 };
  if (fault === 'unavailable') return { status: '503 Service Unavailable', body: oaiErr('The server is overloaded (simulated).', 'server_error', null), prompt: 0 };
  const dims = typeof raw.dimensions === 'number' && raw.dimensions > 0 ? Math.min(4096, raw.dimensions | 0) : DEFAULT_DIMENSIONS;
  const base64 = raw.encoding_format === 'base64';
  let prompt = 0;
  const data: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const s = items[i]!;
    prompt += Math.ceil(s.length / 4);
    const rng = new Rng(fmix32(fnv1a(host.hashSeed, s)));
    const v = new Float32Array(dims);
    let norm = 0;
    for (let j = 0; j < dims; j++) {
      v[j] = rng.next() * 2 - 1;
      norm += v[j]! * v[j]!;
    }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dims; j++) v[j] = v[j]! / norm;
    const emb = base64 ? '"' + Buffer.from(v.buffer).toString('base64') + '"' : '[' + Array.from(v).join(',') + ']';
    data.push('{"object":"embedding","index":' + i + ',"embedding":' + emb + '}');
  }
  const body = '{"object":"list","data":[' + data.join(',') + '],"model":' + JSON.stringify(raw.model) + ',"usage":{"prompt_tokens":' + prompt + ',"total_tokens":' + prompt + '}}';
  return { status: '200 OK', body, prompt };
}

/** POST /v1/embeddings on the simulator's app (answered at once). */
export function onEmbeddings(host: AnthropicHost, res: HttpResponse, req: HttpRequest): void {
  const headers = requestHeaders(req);
  const acc: { chunks: Buffer[] | null; done: boolean } = { chunks: null, done: false };
  const answer = (status: string, body: string, retryAfter?: string) => {
    acc.done = true;
    res.cork(() => {
      res.writeStatus(status);
      res.writeHeader('content-type', 'application/json');
      if (retryAfter !== undefined) res.writeHeader('retry-after', retryAfter);
      res.end(body);
    });
  };
  if (!BEARER_RE.test(headers.authorization ?? '')) {
    host.record('embeddings', headers, '');
    host.finished('401', 0, 0);
    answer('401 Unauthorized', oaiErr("You didn't provide an API key.", 'invalid_request_error', null));
    return;
  }
  res.onAborted(() => {
    acc.done = true;
  });
  res.onData((chunk, isLast) => {
    if (acc.done) return;
    const text = bodyText(acc, chunk, isLast);
    if (text === null) return;
    host.record('embeddings', headers, text);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      host.finished('400', 0, 0);
      return answer('400 Bad Request', oaiErr('We could not parse the JSON body of your request.', 'invalid_request_error', null));
    }
    const a = embeddingAnswer(host, raw);
    host.finished(a.status.slice(0, 3), a.prompt, 0);
    answer(a.status, a.body, a.retryAfter);
  });
}
