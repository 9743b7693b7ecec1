// `GET /v1/ws`: the WebSocket ingress on uWebSockets.js. Many requests in flight per socket, each a
// request frame with a client-chosen id; the frame protocol is in ws-protocol.ts (and CONTRACT.md).
//
// The transport adds nothing but framing: each request frame becomes an IngressRequest handed to
// Gateway.handle with a WsSink for its id, so auth, limits, routing, trace and metrics run exactly as on
// HTTP. The sink turns the pipeline's answer into frames tagged with the id: a whole answer → one
// `response` frame (or an `error` frame for a non-2xx answer), a stream's SSE events → one `chunk` frame
// each (the event's JSON is spliced in, not re-parsed, for JSON frames), the end → `done` with usage. A
// `cancel` frame or the socket closing does what a client abort does on HTTP (SinkListener.onClientAbort).
//
// uWS rules (ARCHITECTURE): the upgrade answers synchronously and copies the headers it needs; message
// buffers are used only inside the callback (the body is copied out); frames produced outside a uWS
// callback are queued per socket and flushed once per event-loop turn, corked; a closed socket is never
// touched again; backpressure: a stream write that leaves more than `softBackpressureBytes` buffered or
// queued on the socket returns false (the pipeline pauses the upstream read), and the socket's `drain`
// (or the flush that emptied the queue) resumes those streams once it is back under the bound. Past
// `hardBackpressureBytes` uWS drops the socket (the client was not reading).
import { Packr, Unpackr } from 'msgpackr';
import { Gateway, IngressRequest, presentedKey, ERRORS, type ErrorCode, type Sink, type SinkListener, type StreamUsage } from '../../core/index.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from './uws.js';
import { MAX_ID_LENGTH, OP_PATHS, WS_CLOSE, WS_ERROR, type RequestId } from './ws-protocol.js';

export interface WsOptions {
  /** Seconds without traffic before the socket is closed; uWS pings automatically before that. Default 60. */
  idleTimeoutS?: number;
  /** Largest frame accepted; a larger one closes the socket (1009). Default: max body + 64 KiB. */
  maxPayloadBytes?: number;
  /** Bytes buffered on a socket above which streams pause reading their provider. Default 256 KiB. */
  softBackpressureBytes?: number;
  /** Bytes buffered on a socket at which uWS closes it (a client that does not read). Default 16 MiB. */
  hardBackpressureBytes?: number;
  /** Requests in flight per socket. Default 1024. */
  maxInflight?: number;
}

/** What the WebSocket ingress reports about itself (tests, metrics). */
export interface WsStats {
  sockets: number;
  inflight: number;
  /** Streams currently paused for backpressure. */
  paused: number;
  /** Largest buffered amount seen on any socket after a send, bytes. */
  maxBuffered: number;
}

const OP_AUTH = 1;
const OP_CHAT = 2;
const OP_MESSAGES = 3;
const OP_CANCEL = 4;
const OP_PING = 5;

/** Quoted op string (as it appears in JSON) → op. */
const OPS_JSON = new Map<string, number>([
  ['"auth"', OP_AUTH],
  ['"chat.completions"', OP_CHAT],
  ['"messages"', OP_MESSAGES],
  ['"cancel"', OP_CANCEL],
  ['"ping"', OP_PING],
]);
const OPS = new Map<string, number>([
  ['auth', OP_AUTH],
  ['chat.completions', OP_CHAT],
  ['messages', OP_MESSAGES],
  ['cancel', OP_CANCEL],
  ['ping', OP_PING],
]);
const PATH_CHAT = OP_PATHS['chat.completions']!;
const PATH_MESSAGES = OP_PATHS.messages!;

/** Consecutive malformed frames after which the socket is closed (4002). */
const MAX_BAD_FRAMES = 32;

/** Binary frames without negotiated records are plain msgpack maps, readable by any msgpack decoder. */
const plainPackr = new Packr({ useRecords: false });
const plainUnpackr = new Unpackr({ mapsAsObjects: true });

const EMPTY: readonly string[] = Object.freeze([]);
const PONG_JSON = '{"type":"pong"}';
const AUTH_OK_JSON = '{"type":"auth","ok":true}';

/** uWS copies the user data's own properties into an object of its own: the connection rides in one. */
interface WsUserData {
  conn: WsConn;
}

/** One socket: its key, its encoders, its requests in flight. */
class WsConn {
  // Every field is set here so all connections share one hidden class (V8).
  ws: WebSocket<WsUserData> | null = null;
  closed = false;
  /** The server is shutting down: end the socket once nothing is in flight. */
  closing = false;
  key: string;
  readonly scenario: string;
  readonly owner: string;
  readonly traceparent: string;
  /** Binary answers use msgpackr records, sequential per socket (`?msgpack=records`). */
  readonly records: boolean;
  private packr: Packr | null = null;
  private unpackr: Unpackr | null = null;
  readonly inflight = new Map<RequestId, WsSink>();
  paused: WsSink[] = [];
  badFrames = 0;
  /** Frames waiting for this turn's flush, their kinds and size. */
  outQ: Array<string | Uint8Array> = [];
  outBinary: boolean[] = [];
  queuedBytes = 0;
  scheduled = false;

  constructor(
    readonly ingress: WsIngress,
    key: string,
    scenario: string,
    owner: string,
    traceparent: string,
    records: boolean,
  ) {
    this.key = key;
    this.scenario = scenario;
    this.owner = owner;
    this.traceparent = traceparent;
    this.records = records;
  }

  pack(frame: object): Uint8Array {
    if (!this.records) return plainPackr.pack(frame);
    if (this.packr === null) this.packr = new Packr({ sequential: true });
    return this.packr.pack(frame);
  }

  unpack(u8: Uint8Array): unknown {
    // Plain maps (and msgpackr's self-describing records) decode with the shared decoder; a socket that
    // negotiated records keeps the structures its client defines for later frames (sequential, ~2.5×
    // slower per frame for plain maps, measured, so only there).
    if (!this.records) return plainUnpackr.unpack(u8);
    if (this.unpackr === null) this.unpackr = new Unpackr({ sequential: true, mapsAsObjects: true });
    return this.unpackr.unpack(u8);
  }

  /** A request's terminal frame went out (or it was cancelled): its id is free again. */
  finished(sink: WsSink): void {
    if (this.inflight.get(sink.id) === sink) this.inflight.delete(sink.id);
    if (this.closing && this.inflight.size === 0) this.end(WS_CLOSE.going_away, 'server shutting down');
  }

  /**
   * Send one frame (already encoded). Inside a uWS callback the socket is corked: send at once. Outside
   * (answers arriving from the provider), frames are queued and every socket's queue goes out at the end
   * of this turn of the event loop, corked: answers to many requests on one socket share one write.
   */
  sendRaw(data: string | Uint8Array, binary: boolean): void {
    if (this.closed) return;
    if (corking && this.outQ.length === 0) {
      this.ws!.send(data, binary);
      return;
    }
    this.outQ.push(data);
    this.outBinary.push(binary);
    this.queuedBytes += data.length;
    if (this.scheduled) return;
    this.scheduled = true;
    pendingConns.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushAll);
    }
  }

  /** Close with `code` after sending what is queued. */
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.flush();
    if (!this.closed) this.ws!.end(code, reason);
  }

  /** Send what is queued, corked (one write). */
  flush(): void {
    this.scheduled = false;
    if (this.outQ.length === 0) return;
    if (this.closed) {
      this.outQ = [];
      this.outBinary = [];
      this.queuedBytes = 0;
      return;
    }
    const ws = this.ws!;
    corkConn = this;
    ws.cork(corkedFlush);
    const b = ws.getBufferedAmount();
    if (b > this.ingress.maxBuffered) this.ingress.maxBuffered = b;
    // Streams paused on what was queued (not on the socket's own buffer, which has its drain event).
    if (this.paused.length > 0 && !this.overSoftBound) this.ingress.resumePaused(this);
  }

  /** @internal the cork callback's body. */
  sendQueued(): void {
    const ws = this.ws!;
    const q = this.outQ;
    const bin = this.outBinary;
    this.outQ = [];
    this.outBinary = [];
    this.queuedBytes = 0;
    // A send past the hard bound makes uWS close the socket at once: stop there.
    for (let i = 0; i < q.length && !this.closed; i++) ws.send(q[i]!, bin[i]!);
  }

  /** An encoded frame object in this socket's encoding for `binary`. */
  sendFrame(frame: object, binary: boolean): void {
    this.sendRaw(binary ? this.pack(frame) : JSON.stringify(frame), binary);
  }

  get overSoftBound(): boolean {
    return !this.closed && this.ws!.getBufferedAmount() + this.queuedBytes > this.ingress.soft;
  }
}

// Sockets with queued frames, flushed once per turn of the event loop (setImmediate: after the I/O
// callbacks that produced them).
let pendingConns: WsConn[] = [];
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  const list = pendingConns;
  pendingConns = [];
  for (let i = 0; i < list.length; i++) list[i]!.flush();
}
// The cork callbacks read their arguments from these slots: cork runs them synchronously, so no closure per send.
let corking = false;
let corkConn: WsConn;
function corkedFlush(): void {
  corking = true;
  try {
    corkConn.sendQueued();
  } finally {
    corking = false;
  }
}
/** The answer to one request frame: the pipeline's Sink, as frames tagged with the request's id. */
class WsSink implements Sink {
  // Every field is set here so all sinks share one hidden class (V8).
  closed = false;
  private listener: SinkListener | null = null;
  /** The id as JSON text, spliced into JSON frames. */
  private readonly idJson: string;
  private headers: readonly string[] = EMPTY;
  private usage: StreamUsage | null = null;
  private inputTokens = 0;
  private cachedInputTokens = 0;
  private outputTokens = 0;
  private estimated = false;
  private costUsd = 0;
  /** A stream event that carried an error became the terminal frame. */
  private errored = false;
  /** An incomplete SSE event left over from the last write. */
  private carry = '';
  paused = false;

  constructor(
    private readonly conn: WsConn,
    readonly id: RequestId,
    private readonly binary: boolean,
    private readonly meta: boolean,
  ) {
    this.idJson = JSON.stringify(id);
  }

  attach(listener: SinkListener): void {
    this.listener = listener;
  }

  /** The client cancelled, or the socket closed: what a client abort does on HTTP. */
  abort(sendTerminal: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const l = this.listener;
    if (l !== null) l.onClientAbort();
    if (sendTerminal) this.sendError(ERRORS.client_closed_request.status, WS_ERROR.client_closed_request, 'Cancelled by the client.', null, '');
    this.conn.finished(this);
  }

  send(status: number, headers: readonly string[], body: string | Uint8Array): void {
    if (this.closed) return;
    this.closed = true;
    if (status >= 200 && status < 300) this.sendResponse(status, headers, body);
    else this.sendPipelineError(status, headers, body);
    this.conn.finished(this);
  }

  private sendResponse(status: number, headers: readonly string[], body: string | Uint8Array): void {
    const conn = this.conn;
    if (this.binary) {
      const frame: { id: RequestId; type: 'response'; data: unknown; status?: number; meta?: Record<string, string> } = { id: this.id, type: 'response', data: JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) };
      if (status !== 200) frame.status = status;
      if (this.meta) frame.meta = metaOf(headers);
      conn.sendRaw(conn.pack(frame), true);
      return;
    }
    let prefix = '{"id":' + this.idJson + ',"type":"response",';
    if (status !== 200) prefix += '"status":' + status + ',';
    if (this.meta) prefix += '"meta":' + JSON.stringify(metaOf(headers)) + ',';
    prefix += '"data":';
    conn.sendRaw(spliceFrame(prefix, body), false);
  }

  /** A non-2xx answer: its envelope (OpenAI or Anthropic) becomes an error frame. */
  private sendPipelineError(status: number, headers: readonly string[], body: string | Uint8Array): void {
    let code = 'upstream_error';
    let message = '';
    let param: string | null = null;
    let type = '';
    try {
      const parsed = JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as { error?: { code?: unknown; message?: unknown; param?: unknown; type?: unknown } };
      const e = parsed?.error;
      if (e != null) {
        if (typeof e.type === 'string') type = e.type;
        code = typeof e.code === 'string' ? e.code : type !== '' ? type : code;
        if (typeof e.message === 'string') message = e.message;
        if (typeof e.param === 'string') param = e.param;
      }
    } catch {
      message = `HTTP ${status}`;
    }
    this.headers = headers;
    this.sendError(status, code, message, param, type);
  }

  private sendError(status: number, code: string, message: string, param: string | null, type: string): void {
    const frame: { id: RequestId; type: 'error'; status: number; error: { code: string; message: string; param: string | null; type?: string }; retry_after?: number; meta?: Record<string, string> } = {
      id: this.id,
      type: 'error',
      status,
      error: { code, message, param },
    };
    if (type !== '') frame.error.type = type;
    const ra = headerValue(this.headers, 'retry-after');
    if (ra !== '') frame.retry_after = Number(ra);
    if (this.meta && this.headers.length > 0) frame.meta = metaOf(this.headers);
    this.conn.sendFrame(frame, this.binary);
  }

  begin(_status: number, headers: readonly string[]): void {
    if (this.closed) return;
    this.headers = headers;
  }

  write(chunk: string): boolean {
    if (this.closed) return true;
    const conn = this.conn;
    this.writeEvents(chunk);
    if (!conn.overSoftBound) return true;
    // Full: the pipeline pauses its upstream read until the socket's drain (onWritable).
    if (!this.paused) {
      this.paused = true;
      conn.paused.push(this);
      conn.ingress.metrics.pauses.inc(NO_LABELS);
    }
    return false;
  }

  /** Resume after the socket drained. */
  writable(): void {
    this.paused = false;
    const l = this.listener;
    if (l !== null && !this.closed) l.onWritable();
  }

  /** One frame per SSE event: `data:` carries the event's JSON; `[DONE]` is replaced by the `done` frame. */
  writeEvents(chunk: string): void {
    const text = this.carry === '' ? chunk : this.carry + chunk;
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n\n', start);
      if (end < 0) break;
      // The event's `data:` line (an Anthropic event starts with an `event:` line first).
      let d = start;
      while (d < end && !text.startsWith('data: ', d)) {
        const nl = text.indexOf('\n', d);
        d = nl < 0 || nl >= end ? end : nl + 1;
      }
      if (d < end) {
        let lineEnd = text.indexOf('\n', d);
        if (lineEnd < 0 || lineEnd > end) lineEnd = end;
        this.event(text.slice(d + 6, lineEnd));
      }
      start = end + 2;
    }
    this.carry = start < text.length ? text.slice(start) : '';
  }

  private event(payload: string): void {
    if (this.errored || payload === '[DONE]') return;
    if (payload.startsWith('{"error"') || payload.startsWith('{"type":"error"')) return this.streamError(payload);
    if (this.binary) {
      this.conn.sendRaw(this.conn.pack({ id: this.id, type: 'chunk', data: JSON.parse(payload) }), true);
      return;
    }
    this.conn.sendRaw('{"id":' + this.idJson + ',"type":"chunk","data":' + payload + '}', false);
  }

  /** The pipeline's terminal error event of a broken stream: the request's error frame. */
  private streamError(payload: string): void {
    this.errored = true;
    let code = 'upstream_stream_interrupted';
    let message = 'The provider stream ended before completion.';
    let type = '';
    try {
      const e = (JSON.parse(payload) as { error?: { code?: unknown; message?: unknown; type?: unknown } }).error;
      if (e != null) {
        if (typeof e.type === 'string') type = e.type;
        if (typeof e.code === 'string') code = e.code;
        else if (type !== '') code = type;
        if (typeof e.message === 'string') message = e.message;
      }
    } catch {
      // keep the generic code
    }
    const spec = (ERRORS as Record<string, { status: number } | undefined>)[code];
    this.sendError(spec?.status ?? 502, code, message, null, type);
  }

  streamUsage(u: StreamUsage): void {
    this.usage = u;
    this.inputTokens = u.input_tokens;
    this.cachedInputTokens = u.cached_input_tokens;
    this.outputTokens = u.output_tokens;
    this.estimated = u.tokens_estimated;
    this.costUsd = u.cost_usd;
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.carry !== '') this.writeEvents('\n\n');
    if (!this.errored) {
      const conn = this.conn;
      if (this.binary || this.meta) {
        const frame: { id: RequestId; type: 'done'; usage: object | null; meta?: Record<string, string> } = { id: this.id, type: 'done', usage: this.usageObject() };
        if (this.meta) frame.meta = metaOf(this.headers);
        conn.sendFrame(frame, this.binary);
      } else {
        conn.sendRaw('{"id":' + this.idJson + ',"type":"done","usage":' + (this.usage === null ? 'null' : JSON.stringify(this.usageObject())) + '}', false);
      }
    }
    this.conn.finished(this);
  }

  private usageObject(): object | null {
    if (this.usage === null) return null;
    return {
      input_tokens: this.inputTokens,
      cached_input_tokens: this.cachedInputTokens,
      output_tokens: this.outputTokens,
      total_tokens: this.inputTokens + this.outputTokens,
      tokens_estimated: this.estimated,
      cost_usd: this.costUsd,
    };
  }
}

/** @internal A JSON text frame: `prefix`, the answer's own bytes, `}` (one buffer, one copy; no parse). */
export function spliceFrame(prefix: string, body: string | Uint8Array): string | Buffer {
  if (typeof body === 'string') return prefix + body + '}';
  const n = Buffer.byteLength(prefix);
  const out = Buffer.allocUnsafe(n + body.byteLength + 1);
  out.write(prefix, 0, n, n === prefix.length ? 'latin1' : 'utf8');
  out.set(body, n);
  out[n + body.byteLength] = 125; // }
  return out;
}

function headerValue(headers: readonly string[], name: string): string {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1]!;
  return '';
}

/** The routing headers an HTTP answer would carry, as an object (content-type left out). */
function metaOf(headers: readonly string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== 'content-type') m[headers[i]!] = headers[i + 1]!;
  return m;
}

// --- reading request frames ---

/** Where a request frame's members sit in its bytes (JSON text frames), found by one scan. */
class FrameSpans {
  idStart = -1;
  idEnd = -1;
  opStart = -1;
  opEnd = -1;
  bodyStart = -1;
  bodyEnd = -1;
  keyStart = -1;
  keyEnd = -1;
  metaStart = -1;
  metaEnd = -1;
  reset(): void {
    this.idStart = this.idEnd = this.opStart = this.opEnd = this.bodyStart = this.bodyEnd = -1;
    this.keyStart = this.keyEnd = this.metaStart = this.metaEnd = -1;
  }
}
/** @internal */
export const spans = new FrameSpans();

function skipWs(b: Uint8Array, i: number): number {
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return i;
    i++;
  }
  return i;
}

/** Index just past the string whose opening quote is at `i`, or -1 when unterminated. */
function skipString(b: Uint8Array, i: number): number {
  const n = b.length;
  for (i++; i < n; i++) {
    const c = b[i]!;
    if (c === 92) i++;
    else if (c === 34) return i + 1;
  }
  return -1;
}

/** Index just past the value starting at `i` (nesting balanced, strings skipped), or -1. */
function skipValue(b: Uint8Array, i: number): number {
  const n = b.length;
  if (i >= n) return -1;
  const c = b[i]!;
  if (c === 34) return skipString(b, i);
  if (c === 123 || c === 91) {
    let depth = 0;
    for (; i < n; i++) {
      const d = b[i]!;
      if (d === 34) {
        const e = skipString(b, i);
        if (e < 0) return -1;
        i = e - 1;
      } else if (d === 123 || d === 91) depth++;
      else if ((d === 125 || d === 93) && --depth === 0) return i + 1;
    }
    return -1;
  }
  const start = i;
  while (i < n) {
    const d = b[i]!;
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
    i++;
  }
  return i > start ? i : -1;
}

function keyIs(b: Uint8Array, start: number, end: number, key: string): boolean {
  if (end - start !== key.length + 2) return false;
  for (let k = 0; k < key.length; k++) if (b[start + 1 + k] !== key.charCodeAt(k)) return false;
  return true;
}

/** @internal Scan a JSON frame's top-level object into `spans`; false when it is not one well-formed object. */
export function scanFrame(b: Uint8Array): boolean {
  spans.reset();
  let i = skipWs(b, 0);
  if (b[i] !== 123) return false;
  i = skipWs(b, i + 1);
  if (b[i] === 125) return skipWs(b, i + 1) === b.length;
  for (;;) {
    if (b[i] !== 34) return false;
    const keyEnd = skipString(b, i);
    if (keyEnd < 0) return false;
    const keyStart = i;
    i = skipWs(b, keyEnd);
    if (b[i] !== 58) return false;
    const vs = skipWs(b, i + 1);
    const ve = skipValue(b, vs);
    if (ve < 0) return false;
    if (keyIs(b, keyStart, keyEnd, 'id')) (spans.idStart = vs), (spans.idEnd = ve);
    else if (keyIs(b, keyStart, keyEnd, 'op')) (spans.opStart = vs), (spans.opEnd = ve);
    else if (keyIs(b, keyStart, keyEnd, 'body')) (spans.bodyStart = vs), (spans.bodyEnd = ve);
    else if (keyIs(b, keyStart, keyEnd, 'key')) (spans.keyStart = vs), (spans.keyEnd = ve);
    else if (keyIs(b, keyStart, keyEnd, 'meta')) (spans.metaStart = vs), (spans.metaEnd = ve);
    i = skipWs(b, ve);
    if (b[i] === 44) {
      i = skipWs(b, i + 1);
      continue;
    }
    if (b[i] !== 125) return false;
    return skipWs(b, i + 1) === b.length;
  }
}

/** A valid request id, or undefined. */
function validId(v: unknown): RequestId | undefined {
  if (typeof v === 'string') return v.length > 0 && v.length <= MAX_ID_LENGTH ? v : undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  return undefined;
}

/** The ingress's counters, registered once per Gateway in its metrics registry (summed across threads). */
class WsMetrics {
  readonly opened;
  readonly closed;
  readonly frameErrors;
  readonly pauses;
  constructor(gateway: Gateway) {
    const reg = gateway.metrics.registry;
    this.opened = reg.counter('switchyard_ws_connections_opened_total', 'WebSocket connections opened on /v1/ws.', []);
    this.closed = reg.counter('switchyard_ws_connections_closed_total', 'WebSocket connections closed on /v1/ws (open = opened - closed).', []);
    this.frameErrors = reg.counter('switchyard_ws_frame_errors_total', 'Frames refused by the WebSocket frame layer, by error code.', ['code']);
    this.pauses = reg.counter('switchyard_ws_backpressure_pauses_total', 'Streams paused because their socket was over the backpressure bound.', []);
  }
}
const METRICS = new WeakMap<Gateway, WsMetrics>();
const NO_LABELS: readonly string[] = Object.freeze([]);

/** The WebSocket ingress of one uWS app (one per gateway thread). */
export class WsIngress {
  readonly conns = new Set<WsConn>();
  readonly soft: number;
  readonly hard: number;
  readonly maxInflight: number;
  /** Largest frame accepted; a larger one closes the socket (1009). */
  readonly maxFrame: number;
  maxBuffered = 0;
  readonly metrics: WsMetrics;
  private closing = false;

  constructor(
    private readonly gateway: Gateway,
    opts: WsOptions,
  ) {
    this.soft = opts.softBackpressureBytes ?? 256 * 1024;
    this.hard = opts.hardBackpressureBytes ?? 16 * 1024 * 1024;
    this.maxInflight = opts.maxInflight ?? 1024;
    this.maxFrame = opts.maxPayloadBytes ?? gateway.maxBodyBytes + 64 * 1024;
    let m = METRICS.get(gateway);
    if (m === undefined) {
      m = new WsMetrics(gateway);
      METRICS.set(gateway, m);
    }
    this.metrics = m;
  }

  /** Register `GET /v1/ws` on `app`. */
  register(app: TemplatedApp, opts: WsOptions): void {
    app.ws<WsUserData>('/v1/ws', {
      // uWS drops a frame over its own limit without a close frame (1006): it is set above ours, so a
      // frame between the two is closed with 1009.
      maxPayloadLength: this.maxFrame * 2,
      idleTimeout: opts.idleTimeoutS ?? 60,
      sendPingsAutomatically: true,
      maxBackpressure: this.hard,
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws),
      message: (ws, message, isBinary) => this.message(ws.getUserData().conn, message, isBinary),
      drain: (ws) => this.drain(ws.getUserData().conn),
      close: (ws) => this.closed(ws.getUserData().conn),
    });
  }

  stats(): WsStats {
    let inflight = 0;
    let paused = 0;
    for (const c of this.conns) {
      inflight += c.inflight.size;
      paused += c.paused.length;
    }
    return { sockets: this.conns.size, inflight, paused, maxBuffered: this.maxBuffered };
  }

  /** Shutting down: every socket ends (1001) once its requests in flight have ended; no new sockets. */
  close(): void {
    this.closing = true;
    for (const c of this.conns) {
      c.closing = true;
      if (c.inflight.size === 0) c.end(WS_CLOSE.going_away, 'server shutting down');
    }
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    // Copy everything from `req` now: it is dead once this function returns. The answer is synchronous.
    const authorization = req.getHeader('authorization');
    const apiKey = req.getHeader('x-api-key');
    const scenario = req.getHeader('x-switchyard-scenario');
    const owner = req.getHeader('x-switchyard-owner');
    const traceparent = req.getHeader('traceparent');
    const secKey = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const records = req.getQuery('msgpack') === 'records';
    const gw = this.gateway;
    if (this.closing || gw.isDraining) return refuseUpgrade(res, 'shutting_down', 'The gateway is shutting down; retry on another instance.');
    const presented = presentedKey(authorization, apiKey);
    if (presented !== '' && gw.lookupKey(gw.currentPlan, presented) === null) return refuseUpgrade(res, 'invalid_api_key', 'Invalid API key.');
    const conn = new WsConn(this, presented, scenario, owner, traceparent, records);
    // A client that offers subprotocols gets the first one back (browsers require an answer).
    const comma = protocols.indexOf(',');
    const protocol = (comma < 0 ? protocols : protocols.slice(0, comma)).trim();
    res.upgrade<WsUserData>({ conn }, secKey, protocol, extensions, context);
  }

  private open(ws: WebSocket<WsUserData>): void {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    this.conns.add(conn);
    this.metrics.opened.inc(NO_LABELS);
  }

  private closed(conn: WsConn): void {
    conn.closed = true;
    this.conns.delete(conn);
    this.metrics.closed.inc(NO_LABELS);
    conn.paused = [];
    // Every request still in flight is aborted, as a dropped HTTP connection would abort it.
    for (const sink of [...conn.inflight.values()]) sink.abort(false);
    conn.inflight.clear();
  }

  private drain(conn: WsConn): void {
    if (conn.paused.length === 0 || conn.overSoftBound) return;
    this.resumePaused(conn);
  }

  /** Resume the streams paused on `conn` (it is back under the soft bound). */
  resumePaused(conn: WsConn): void {
    const list = conn.paused;
    conn.paused = [];
    for (let i = 0; i < list.length; i++) list[i]!.writable();
  }

  private message(conn: WsConn, message: ArrayBuffer, isBinary: boolean): void {
    if (message.byteLength > this.maxFrame) return conn.end(WS_CLOSE.message_too_big, 'frame too large');
    corking = true; // uWS corks the socket for the duration of its callbacks
    try {
      if (isBinary) this.binaryFrame(conn, message);
      else this.textFrame(conn, message);
    } catch (err) {
      process.stderr.write(`switchyard: websocket frame: ${(err as Error)?.stack ?? String(err)}\n`);
    } finally {
      corking = false;
    }
  }

  /** A frame-level error (no request started): an error frame, and too many in a row close the socket. */
  private frameError(conn: WsConn, id: RequestId | null, binary: boolean, status: number, code: string, message: string, param: string | null = null, malformed = true, ref: RequestId | null = null): void {
    conn.sendFrame(ref === null ? { id, type: 'error', status, error: { code, message, param } } : { id, type: 'error', status, error: { code, message, param }, ref }, binary);
    this.metrics.frameErrors.inc([code]);
    if (malformed && ++conn.badFrames >= MAX_BAD_FRAMES) conn.end(WS_CLOSE.protocol_errors, 'too many malformed frames');
  }

  private textFrame(conn: WsConn, message: ArrayBuffer): void {
    const b = Buffer.from(message); // a view: valid during this callback only
    if (!scanFrame(b)) return this.frameError(conn, null, false, 400, WS_ERROR.invalid_frame, 'The frame is not a JSON object.');
    const s = spans;
    let id: RequestId | undefined;
    if (s.idStart >= 0) {
      try {
        id = validId(JSON.parse(b.toString('utf8', s.idStart, s.idEnd)));
      } catch {
        id = undefined;
      }
      if (id === undefined) return this.frameError(conn, null, false, 400, WS_ERROR.invalid_frame, `\`id\` must be a string of 1 to ${MAX_ID_LENGTH} characters or a non-negative integer.`, 'id');
    }
    if (s.opStart < 0) return this.frameError(conn, id ?? null, false, 400, WS_ERROR.invalid_frame, 'The frame has no `op`.', 'op');
    const opText = b.toString('utf8', s.opStart, s.opEnd);
    const op = OPS_JSON.get(opText);
    if (op === undefined) {
      if (b[s.opStart] !== 34) return this.frameError(conn, id ?? null, false, 400, WS_ERROR.invalid_frame, '`op` must be a string.', 'op');
      return this.frameError(conn, id ?? null, false, 400, WS_ERROR.unknown_op, `Unknown op ${opText.slice(0, 64)}: use auth, chat.completions, messages, cancel or ping.`, 'op');
    }
    if (op === OP_PING) {
      conn.badFrames = 0;
      return conn.sendRaw(PONG_JSON, false);
    }
    if (op === OP_AUTH) {
      let key: unknown;
      try {
        key = s.keyStart < 0 ? undefined : JSON.parse(b.toString('utf8', s.keyStart, s.keyEnd));
      } catch {
        key = undefined;
      }
      return this.auth(conn, key, false);
    }
    if (id === undefined) return this.frameError(conn, null, false, 400, WS_ERROR.invalid_frame, 'The frame has no `id`.', 'id');
    if (op === OP_CANCEL) return this.cancel(conn, id);
    if (s.bodyStart < 0) return this.frameError(conn, id, false, 400, WS_ERROR.invalid_frame, 'The request frame has no `body`.', 'body');
    // The body's bytes are copied out (the frame's buffer dies with this callback); the pipeline parses them.
    const body = Buffer.from(b.subarray(s.bodyStart, s.bodyEnd));
    const meta = s.metaStart >= 0 && b[s.metaStart] === 116; // true
    this.request(conn, id, op, body, false, meta);
  }

  private binaryFrame(conn: WsConn, message: ArrayBuffer): void {
    let f: unknown;
    try {
      f = conn.unpack(new Uint8Array(message));
    } catch {
      return this.frameError(conn, null, true, 400, WS_ERROR.invalid_frame, 'The frame is not valid msgpack.');
    }
    if (f === null || typeof f !== 'object' || Array.isArray(f) || f instanceof Map) return this.frameError(conn, null, true, 400, WS_ERROR.invalid_frame, 'The frame is not a msgpack map.');
    const frame = f as { id?: unknown; op?: unknown; body?: unknown; key?: unknown; meta?: unknown };
    let id: RequestId | undefined;
    if (frame.id !== undefined) {
      id = validId(frame.id);
      if (id === undefined) return this.frameError(conn, null, true, 400, WS_ERROR.invalid_frame, `\`id\` must be a string of 1 to ${MAX_ID_LENGTH} characters or a non-negative integer.`, 'id');
    }
    if (frame.op === undefined) return this.frameError(conn, id ?? null, true, 400, WS_ERROR.invalid_frame, 'The frame has no `op`.', 'op');
    if (typeof frame.op !== 'string') return this.frameError(conn, id ?? null, true, 400, WS_ERROR.invalid_frame, '`op` must be a string.', 'op');
    const op = OPS.get(frame.op);
    if (op === undefined) return this.frameError(conn, id ?? null, true, 400, WS_ERROR.unknown_op, `Unknown op ${JSON.stringify(frame.op.slice(0, 64))}: use auth, chat.completions, messages, cancel or ping.`, 'op');
    if (op === OP_PING) {
      conn.badFrames = 0;
      return conn.sendFrame({ type: 'pong' }, true);
    }
    if (op === OP_AUTH) return this.auth(conn, frame.key, true);
    if (id === undefined) return this.frameError(conn, null, true, 400, WS_ERROR.invalid_frame, 'The frame has no `id`.', 'id');
    if (op === OP_CANCEL) return this.cancel(conn, id);
    if (frame.body === undefined) return this.frameError(conn, id, true, 400, WS_ERROR.invalid_frame, 'The request frame has no `body`.', 'body');
    let text: string;
    try {
      text = JSON.stringify(frame.body);
    } catch {
      return this.frameError(conn, id, true, 400, WS_ERROR.invalid_frame, 'The body cannot be represented as JSON.', 'body');
    }
    this.request(conn, id, op, Buffer.from(text), true, frame.meta === true);
  }

  private auth(conn: WsConn, key: unknown, binary: boolean): void {
    if (typeof key !== 'string' || key === '') return this.frameError(conn, null, binary, 400, WS_ERROR.invalid_frame, 'An auth frame needs a `key` string.', 'key');
    const gw = this.gateway;
    const presented = presentedKey('', key);
    if (gw.lookupKey(gw.currentPlan, presented) === null) return this.frameError(conn, null, binary, 401, WS_ERROR.invalid_api_key, 'Invalid API key.', 'key', false);
    conn.badFrames = 0;
    conn.key = presented;
    if (binary) conn.sendFrame({ type: 'auth', ok: true }, true);
    else conn.sendRaw(AUTH_OK_JSON, false);
  }

  private cancel(conn: WsConn, id: RequestId): void {
    conn.badFrames = 0;
    // A cancel that crosses the request's terminal frame finds nothing in flight: nothing to do.
    const sink = conn.inflight.get(id);
    if (sink !== undefined) sink.abort(true);
  }

  private request(conn: WsConn, id: RequestId, op: number, body: Buffer, binary: boolean, meta: boolean): void {
    // The refused frame's id is in flight: the error is the socket's (id null, `ref` names it), so the
    // request in flight under that id keeps its one terminal frame.
    if (conn.inflight.has(id)) return this.frameError(conn, null, binary, 409, WS_ERROR.duplicate_id, `Request id ${JSON.stringify(id)} is already in flight on this socket.`, 'id', true, id);
    conn.badFrames = 0;
    if (conn.inflight.size >= this.maxInflight) return this.frameError(conn, id, binary, 429, WS_ERROR.too_many_requests_in_flight, `At most ${this.maxInflight} requests may be in flight on one socket.`, null, false);
    const gw = this.gateway;
    if (body.length > gw.maxBodyBytes) return this.frameError(conn, id, binary, 413, WS_ERROR.body_too_large, `Request body exceeds the limit of ${gw.maxBodyBytes} bytes.`, 'body', false);
    const r = new IngressRequest();
    r.method = 'POST';
    r.path = op === OP_CHAT ? PATH_CHAT : PATH_MESSAGES;
    r.apiKey = conn.key;
    r.contentType = 'application/json';
    r.scenario = conn.scenario;
    r.owner = conn.owner;
    r.traceparent = conn.traceparent;
    r.body = body;
    const sink = new WsSink(conn, id, binary, meta);
    conn.inflight.set(id, sink);
    gw.handle(r, sink);
  }
}

function refuseUpgrade(res: HttpResponse, code: ErrorCode, message: string): void {
  const status = ERRORS[code].status;
  res.writeStatus(status === 401 ? '401 Unauthorized' : '503 Service Unavailable');
  res.writeHeader('content-type', 'application/json');
  res.end(JSON.stringify({ error: { message, type: ERRORS[code].type, code, param: null } }));
}
