// HTTP + SSE ingress on uWebSockets.js. It copies what the gateway needs out of the uWS request at the
// top of the handler, reads the body (capped), and answers through UwsSink. Rules followed (ARCHITECTURE
// "uWebSockets.js rules"): onAborted registered before anything async; req used only synchronously;
// onData chunks copied; every write outside the handler's synchronous start is corked; after an abort
// nothing touches `res`; backpressure via onWritable; a catch-all route.
import { Gateway, IngressRequest, establishedConnections, statusLine, type Sink, type SinkListener } from '../../core/index.js';
import { uWS, uwsIsNative, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from './uws.js';

// The cork callbacks read their arguments from this slot: cork runs its callback synchronously, so one
// module-level slot replaces a closure per write.
let slot: UwsSink;
function corkedSend(): void {
  slot.flushSend();
}
function corkedBegin(): void {
  slot.flushBegin();
}
function corkedWrite(): void {
  slot.flushWrite();
}
function corkedEnd(): void {
  slot.flushEnd();
}

class UwsSink implements Sink {
  // Every field is set here so all sinks share one hidden class (V8).
  closed = false;
  private listener: SinkListener | null = null;
  private pStatus = 0;
  private pHeaders: readonly string[] = EMPTY;
  private pBody: string | Uint8Array = '';
  private writeOk = true;
  private closeConnection = false;

  constructor(private readonly res: HttpResponse) {}

  attach(listener: SinkListener): void {
    this.listener = listener;
  }

  onAborted(): void {
    this.closed = true;
    const l = this.listener;
    if (l !== null) l.onClientAbort();
  }

  /** Close the connection after this answer (a body we refused to read). */
  closeAfterAnswer(): void {
    this.closeConnection = true;
  }

  send(status: number, headers: readonly string[], body: string | Uint8Array): void {
    if (this.closed) return;
    this.closed = true;
    this.pStatus = status;
    this.pHeaders = headers;
    this.pBody = body;
    slot = this;
    this.res.cork(corkedSend);
  }

  flushSend(): void {
    const res = this.res;
    res.writeStatus(statusLine(this.pStatus));
    const h = this.pHeaders;
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
    res.end(this.pBody, this.closeConnection);
    this.pBody = '';
  }

  begin(status: number, headers: readonly string[]): void {
    if (this.closed) return;
    this.pStatus = status;
    this.pHeaders = headers;
    slot = this;
    this.res.cork(corkedBegin);
  }

  flushBegin(): void {
    const res = this.res;
    res.writeStatus(statusLine(this.pStatus));
    const h = this.pHeaders;
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
    res.writeHeader('cache-control', 'no-cache');
    // One closure per streamed answer: uWS calls the handler without `this`.
    res.onWritable(() => this.writable());
  }

  private writable(): boolean {
    this.writeOk = true;
    const l = this.listener;
    if (l !== null && !this.closed) l.onWritable();
    return true;
  }

  write(chunk: string): boolean {
    if (this.closed) return true;
    this.pBody = chunk;
    slot = this;
    this.res.cork(corkedWrite);
    return this.writeOk;
  }

  flushWrite(): void {
    this.writeOk = this.res.write(this.pBody);
    this.pBody = '';
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    slot = this;
    this.res.cork(corkedEnd);
  }

  flushEnd(): void {
    this.res.end();
  }

  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.close();
  }

}

const EMPTY: readonly string[] = Object.freeze([]);

export interface UwsServer {
  readonly app: TemplatedApp;
  readonly port: number;
  readonly url: string;
  /** Stop accepting connections (closes the listen socket). */
  close(): void;
}

export interface UwsServerOptions {
  host?: string;
  port?: number;
  /** Refuse to start on uWebSockets.js's JavaScript fallback (default true). */
  requireNative?: boolean;
}

/** Registers the gateway's routes on a new uWS App and listens. */
export function startUwsServer(gateway: Gateway, opts: UwsServerOptions = {}): Promise<UwsServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (opts.requireNative !== false && !uwsIsNative()) {
    return Promise.reject(new Error('uWebSockets.js native addon did not load (the JavaScript fallback is not used); see README, "Troubleshooting".'));
  }
  const app = uWS.App();
  app.any('/*', (res: HttpResponse, req: HttpRequest) => handleRequest(gateway, res, req));
  return new Promise((resolve, reject) => {
    app.listen(host, port, (ls: us_listen_socket | false) => {
      if (!ls) {
        reject(new Error(`could not listen on ${host}:${port}`));
        return;
      }
      const actual = uWS.us_socket_local_port(ls as unknown as Parameters<typeof uWS.us_socket_local_port>[0]);
      gateway.metrics.watchConnections(() => establishedConnections(actual));
      let open = true;
      resolve({
        app,
        port: actual,
        url: `http://${host}:${actual}`,
        close() {
          if (open) {
            open = false;
            uWS.us_listen_socket_close(ls);
          }
        },
      });
    });
  });
}

function handleRequest(gateway: Gateway, res: HttpResponse, req: HttpRequest): void {
  // Copy everything from `req` now: it is dead once this function returns.
  const r = new IngressRequest();
  r.method = req.getCaseSensitiveMethod();
  r.path = req.getUrl();
  r.authorization = req.getHeader('authorization');
  r.apiKey = req.getHeader('x-api-key');
  r.contentType = req.getHeader('content-type');
  r.scenario = req.getHeader('x-switchyard-scenario');
  r.owner = req.getHeader('x-switchyard-owner');
  r.traceparent = req.getHeader('traceparent');
  r.cacheControl = req.getHeader('cache-control');
  const contentLength = req.getHeader('content-length');
  const chunked = req.getHeader('transfer-encoding') !== '';
  const sink = new UwsSink(res);
  res.onAborted(() => sink.onAborted());

  if (contentLength === '' && !chunked) {
    gateway.handle(r, sink);
    return;
  }
  const max = gateway.maxBodyBytes;
  const declared = contentLength === '' ? -1 : Number(contentLength);
  if (declared > max) {
    sink.closeAfterAnswer();
    gateway.rejectTooLarge(sink);
    return;
  }
  if (declared === 0) {
    gateway.handle(r, sink);
    return;
  }
  readBody(gateway, res, r, sink, declared, max);
}

function readBody(gateway: Gateway, res: HttpResponse, r: IngressRequest, sink: UwsSink, declared: number, max: number): void {
  // Known length: one buffer, filled in place. Chunked: copies collected, capped at `max`.
  const whole = declared > 0 ? Buffer.allocUnsafe(declared) : null;
  const parts: Buffer[] | null = whole === null ? [] : null;
  let size = 0;
  let refused = false;
  res.onData((ab: ArrayBuffer, isLast: boolean) => {
    if (refused || sink.closed) return;
    const n = ab.byteLength;
    if (size + n > (whole === null ? max : declared)) {
      refused = true;
      sink.closeAfterAnswer();
      gateway.rejectTooLarge(sink);
      return;
    }
    // `ab` is neutered after this callback: copy it out now.
    if (whole !== null) whole.set(new Uint8Array(ab), size);
    else parts!.push(Buffer.from(new Uint8Array(ab)));
    size += n;
    if (!isLast) return;
    r.body = whole !== null ? (size === declared ? whole : whole.subarray(0, size)) : Buffer.concat(parts!, size);
    gateway.handle(r, sink);
  });
}
