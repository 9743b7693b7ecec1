// A small client for `GET /v1/ws` (frame protocol: ws-protocol.ts): one socket, many requests in
// flight, an async iterator per request. Runs on Node 20 (undici's WebSocket, which can set the auth
// header at the upgrade) and in browsers (pass `WebSocket: globalThis.WebSocket` and `auth: 'frame'`).
//
//   const client = await WsClient.connect({ url: 'ws://127.0.0.1:8080/v1/ws', key: 'sk-...' });
//   const answer = await client.request('chat.completions', { model: 'demo.chat.fast', messages }).response();
//   for await (const chunk of client.request('chat.completions', { ...body, stream: true })) ...
import { Packr, Unpackr } from 'msgpackr';
import type { DoneUsage, RequestId } from './ws-protocol.js';

export type WsEncoding = 'json' | 'msgpack' | 'msgpack-records';

/** The subset of the WHATWG WebSocket the client uses. */
interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
type WebSocketCtor = new (url: string, init?: unknown) => WebSocketLike;

export interface WsClientOptions {
  /** `ws://host:port/v1/ws`. */
  url: string;
  /** The API key (sent as `Authorization: Bearer` at the upgrade, or in an `auth` frame). */
  key?: string;
  /** `header` (default with undici) or `frame` (browsers cannot set upgrade headers). */
  auth?: 'header' | 'frame';
  /** Frame encoding: JSON text (default), msgpack maps, or msgpackr records (sequential per socket). */
  encoding?: WsEncoding;
  /** Extra upgrade headers (undici only), e.g. `x-switchyard-scenario`. */
  headers?: Record<string, string>;
  /** A WebSocket constructor (default: undici's). */
  WebSocket?: WebSocketCtor;
}

/** An error frame for one request (or for the socket, `id` null). */
export class WsRequestError extends Error {
  constructor(
    readonly id: RequestId | null,
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param: string | null,
    readonly retryAfter: number | null,
    /** duplicate_id: the refused frame's id. */
    readonly ref: RequestId | null = null,
  ) {
    super(message);
    this.name = 'WsRequestError';
  }
}

/** The socket closed while requests were in flight. */
export class WsClosedError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`WebSocket closed (${code}${reason ? `: ${reason}` : ''})`);
    this.name = 'WsClosedError';
  }
}

interface Frame {
  id?: RequestId | null;
  type: string;
  data?: unknown;
  usage?: DoneUsage | null;
  status?: number;
  meta?: Record<string, string>;
  error?: { code: string; message: string; param: string | null };
  retry_after?: number;
  ok?: boolean;
}

/**
 * One request on the socket. Iterate it for a stream's chunks (or the one answer of a non-streamed
 * request); `response()` awaits a non-streamed answer. An error frame rejects / throws WsRequestError.
 */
export class WsCall implements AsyncIterable<unknown> {
  /** A stream's usage (from its `done` frame), once it ended. */
  usage: DoneUsage | null = null;
  /** Routing headers (requests sent with `meta: true`). */
  meta: Record<string, string> | null = null;
  /** HTTP-equivalent status of the answer (200, 202, or the error's). */
  status = 0;
  done = false;
  private readonly queue: unknown[] = [];
  private error: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly client: WsClient,
    readonly id: RequestId,
  ) {}

  /** Abort the request: the gateway releases its limits and its upstream call; the call ends with an error (`client_closed_request`). */
  cancel(): void {
    if (!this.done) this.client.sendCancel(this.id);
  }

  /** The answer of a non-streamed request (`data` of its `response` frame). */
  async response(): Promise<unknown> {
    let last: unknown;
    for await (const item of this) last = item;
    return last;
  }

  /** @internal */
  push(f: Frame): void {
    if (this.done) return;
    switch (f.type) {
      case 'chunk':
        this.queue.push(f.data);
        break;
      case 'response':
        this.status = f.status ?? 200;
        if (f.meta) this.meta = f.meta;
        this.queue.push(f.data);
        this.finish(null);
        break;
      case 'done':
        this.status = 200;
        this.usage = f.usage ?? null;
        if (f.meta) this.meta = f.meta;
        this.finish(null);
        break;
      case 'error': {
        const e = f.error ?? { code: 'unknown', message: 'error', param: null };
        this.status = f.status ?? 0;
        if (f.meta) this.meta = f.meta;
        this.finish(new WsRequestError(this.id, f.status ?? 0, e.code, e.message, e.param ?? null, f.retry_after ?? null));
        break;
      }
      default:
        return;
    }
    this.notify();
  }

  /** @internal */
  finish(err: Error | null): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    this.client.forget(this);
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    if (w !== null) {
      this.wake = null;
      w();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    let i = 0;
    for (;;) {
      if (i < this.queue.length) {
        const item = this.queue[i]!;
        this.queue[i++] = undefined;
        if (i > 64 && i * 2 > this.queue.length) {
          this.queue.splice(0, i);
          i = 0;
        }
        yield item;
        continue;
      }
      if (this.done) {
        if (this.error !== null) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

export class WsClient {
  private readonly calls = new Map<RequestId, WsCall>();
  private seq = 0;
  private readonly binary: boolean;
  private readonly packr: Packr | null;
  private readonly unpackr: Unpackr | null;
  /** Errors for the socket itself (frames with `id` null), for callers who want them. */
  onSocketError: ((err: WsRequestError) => void) | null = null;
  closed: WsClosedError | null = null;
  private authWaiter: { resolve: () => void; reject: (e: Error) => void } | null = null;

  private constructor(
    private readonly ws: WebSocketLike,
    encoding: WsEncoding,
  ) {
    this.binary = encoding !== 'json';
    this.packr = encoding === 'json' ? null : encoding === 'msgpack-records' ? new Packr({ sequential: true }) : new Packr({ useRecords: false });
    this.unpackr = encoding === 'json' ? null : encoding === 'msgpack-records' ? new Unpackr({ sequential: true, mapsAsObjects: true }) : new Unpackr({ mapsAsObjects: true });
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => this.onClose(ev.code, ev.reason);
  }

  /** Open a socket (and authenticate, with `auth: 'frame'`). Rejects when the upgrade or the auth is refused. */
  static async connect(opts: WsClientOptions): Promise<WsClient> {
    const encoding = opts.encoding ?? 'json';
    // undici is loaded only when no constructor is given (a browser bundle passes its own).
    const Ctor = opts.WebSocket ?? ((await import('undici')).WebSocket as unknown as WebSocketCtor);
    const byFrame = opts.auth === 'frame';
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key !== undefined && !byFrame) headers.authorization = `Bearer ${opts.key}`;
    const url = encoding === 'msgpack-records' ? opts.url + (opts.url.includes('?') ? '&' : '?') + 'msgpack=records' : opts.url;
    const ws = opts.WebSocket ? new Ctor(url) : new Ctor(url, { headers });
    return new Promise((resolve, reject) => {
      let opened = false;
      ws.onerror = () => {
        if (!opened) reject(new Error(`WebSocket to ${opts.url} failed (refused upgrade or no server)`));
      };
      ws.onclose = (ev) => {
        if (!opened) reject(new WsClosedError(ev.code, ev.reason));
      };
      ws.onopen = () => {
        opened = true;
        const client = new WsClient(ws, encoding);
        if (!byFrame || opts.key === undefined) return resolve(client);
        client.auth(opts.key).then(
          () => resolve(client),
          (err: Error) => {
            ws.close(1000, 'auth refused');
            reject(err);
          },
        );
      };
    });
  }

  /** Send an `auth` frame; resolves when the gateway accepted the key. */
  auth(key: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.authWaiter = { resolve, reject };
      this.send({ op: 'auth', key });
    });
  }

  /** Start a request: `op` is `chat.completions` or `messages`; `body` what the HTTP endpoint takes. */
  request(op: 'chat.completions' | 'messages', body: unknown, opts: { id?: RequestId; meta?: boolean } = {}): WsCall {
    const id = opts.id ?? ++this.seq;
    if (this.calls.has(id)) throw new Error(`request id ${JSON.stringify(id)} is already in flight`);
    const call = new WsCall(this, id);
    if (this.closed !== null) {
      call.finish(this.closed);
      return call;
    }
    this.calls.set(id, call);
    this.send(opts.meta ? { id, op, body, meta: true } : { id, op, body });
    return call;
  }

  /** Expect frames for `id` without sending anything (with `send`/`sendRaw` of a hand-made frame). */
  track(id: RequestId): WsCall {
    const call = new WsCall(this, id);
    this.calls.set(id, call);
    return call;
  }

  /** Send any frame object as is (tests use it for malformed input). */
  send(frame: unknown): void {
    this.ws.send(this.binary ? this.packr!.pack(frame) : JSON.stringify(frame));
  }

  /** Send raw bytes or text (tests). */
  sendRaw(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  /** @internal */
  sendCancel(id: RequestId): void {
    this.send({ id, op: 'cancel' });
  }

  /** @internal */
  forget(call: WsCall): void {
    if (this.calls.get(call.id) === call) this.calls.delete(call.id);
  }

  get inFlight(): number {
    return this.calls.size;
  }

  /** Close the socket; requests still in flight end with WsClosedError. */
  close(code = 1000, reason = ''): Promise<void> {
    if (this.closed !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.ws.onclose;
      this.ws.onclose = (ev) => {
        prev?.(ev);
        resolve();
      };
      this.ws.close(code, reason);
    });
  }

  private onMessage(data: unknown): void {
    let f: Frame;
    try {
      f = (typeof data === 'string' ? JSON.parse(data) : this.unpackr!.unpack(new Uint8Array(data as ArrayBuffer))) as Frame;
    } catch {
      return;
    }
    const id = f.id;
    if (id !== undefined && id !== null) {
      this.calls.get(id)?.push(f);
      return;
    }
    if (f.type === 'auth' && this.authWaiter !== null) {
      const w = this.authWaiter;
      this.authWaiter = null;
      return w.resolve();
    }
    if (f.type === 'error') {
      const e = f.error ?? { code: 'unknown', message: 'error', param: null };
      const err = new WsRequestError(null, f.status ?? 0, e.code, e.message, e.param ?? null, null, (f as { ref?: RequestId }).ref ?? null);
      if (this.authWaiter !== null && (e.code === 'invalid_api_key' || e.param === 'key')) {
        const w = this.authWaiter;
        this.authWaiter = null;
        return w.reject(err);
      }
      this.onSocketError?.(err);
    }
  }

  private onClose(code: number, reason: string): void {
    const err = new WsClosedError(code, reason);
    this.closed = err;
    if (this.authWaiter !== null) this.authWaiter.reject(err);
    this.authWaiter = null;
    for (const call of [...this.calls.values()]) call.finish(err);
    this.calls.clear();
  }
}
