// The bare reference proxy: what the gateway is measured against in the macro benchmark.
// uWebSockets.js in, one undici Pool out, and no logic in between: `POST /v1/chat/completions` body bytes
// go to a fixed upstream with the upstream's Authorization; status and body come back (SSE streamed
// through chunk by chunk). It obeys the uWS rules of ARCHITECTURE.md so that it is a fair, lean baseline,
// not a strawman: whatever the gateway costs beyond this is the price of its decisions.
//
// Run: node dist/bench/reference-proxy.js --upstream http://127.0.0.1:PORT [--port 0] [--host 127.0.0.1]
//      [--api-key KEY] [--connections 128]
// Prints `reference proxy listening on http://127.0.0.1:PORT` when ready.

import { STATUS_CODES } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

export interface ReferenceProxyOptions {
  /** Upstream origin, e.g. `http://127.0.0.1:9000` (a trailing `/v1` is accepted and not doubled). */
  upstream: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Sent upstream as `Authorization: Bearer <apiKey>`; the client's own Authorization is never forwarded. */
  apiKey?: string;
  /** Keep-alive connections to the upstream. */
  connections?: number;
  /** Largest request body accepted (413 above). */
  maxBodyBytes?: number;
}

export interface ReferenceProxy {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const DEFAULT_API_KEY = 'sk-reference-proxy';
const DEFAULT_CONNECTIONS = 128;
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

// Status lines built once; uWS wants "200 OK", not a number.
const statusLines: string[] = [];
function statusLine(status: number): string {
  let line = statusLines[status];
  if (line === undefined) {
    line = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
    if (status >= 100 && status < 600) statusLines[status] = line;
  }
  return line;
}

const NOT_FOUND_BODY = '{"error":{"message":"not found","type":"invalid_request_error","code":"not_found","param":null}}';
const TOO_LARGE_BODY =
  '{"error":{"message":"request body too large","type":"invalid_request_error","code":"payload_too_large","param":null}}';
const BAD_GATEWAY_BODY = '{"error":{"message":"upstream error","type":"api_error","code":"upstream_error","param":null}}';

interface ProxyShared {
  readonly pool: Pool;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly maxBodyBytes: number;
}

/**
 * One proxied request: reads the body off the uWS response, dispatches upstream, writes back.
 * A class, so every exchange has one shape; it is also the undici dispatch handler (no per-request closures
 * beyond the three callbacks uWS requires).
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly res: HttpResponse;
  readonly shared: ProxyShared;
  /** Set once on abort or completion; after it, `res` is never touched (uWS rule 5). */
  done: boolean;
  chunks: Buffer[];
  size: number;
  controller: Dispatcher.DispatchController | null;
  status: number;
  contentType: string;
  streaming: boolean;
  body: Buffer[];

  constructor(res: HttpResponse, shared: ProxyShared) {
    this.res = res;
    this.shared = shared;
    this.done = false;
    this.chunks = [];
    this.size = 0;
    this.controller = null;
    this.status = 0;
    this.contentType = '';
    this.streaming = false;
    this.body = [];
  }

  onAborted(): void {
    if (this.done) return;
    this.done = true;
    const c = this.controller;
    if (c !== null && !c.aborted) c.abort(new Error('client aborted'));
  }

  onRequestData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    this.size += chunk.byteLength;
    if (this.size > this.shared.maxBodyBytes) {
      // Still inside a uWS callback: corked already, but cork is cheap and keeps the rule uniform.
      this.done = true;
      this.res.cork(() => {
        this.res.writeStatus(statusLine(413)).writeHeader('content-type', 'application/json').end(TOO_LARGE_BODY, true);
      });
      return;
    }
    // uWS neuters `chunk` when this callback returns: copy it (rule 3).
    this.chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast) return;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    const s = this.shared;
    s.pool.dispatch({ path: s.path, method: 'POST', headers: s.headers, body }, this);
  }

  // --- undici DispatchHandler ---

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(new Error('client aborted'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.controller = controller;
    this.status = statusCode;
    const ct = headers['content-type'];
    this.contentType = typeof ct === 'string' ? ct : Array.isArray(ct) ? (ct[0] ?? '') : '';
    if (this.done) return;
    if (this.contentType.startsWith('text/event-stream')) {
      this.streaming = true;
      const res = this.res;
      res.cork(() => {
        res
          .writeStatus(statusLine(statusCode))
          .writeHeader('content-type', this.contentType)
          .writeHeader('cache-control', 'no-cache');
      });
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    if (!this.streaming) {
      this.body.push(chunk);
      return;
    }
    const res = this.res;
    let ok = true;
    res.cork(() => {
      ok = res.write(chunk);
    });
    if (!ok) {
      // Backpressure (rule 6): uWS buffered the chunk; pause the upstream until the socket drains.
      controller.pause();
      res.onWritable(() => {
        controller.resume();
        return true;
      });
    }
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    if (this.streaming) {
      res.cork(() => {
        res.end();
      });
      return;
    }
    const parts = this.body;
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.body = [];
    res.cork(() => {
      res.writeStatus(statusLine(this.status));
      if (this.contentType !== '') res.writeHeader('content-type', this.contentType);
      res.end(body);
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, _err: Error): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    if (this.streaming) {
      // Headers are out: the only honest signal left is a cut connection.
      res.cork(() => {
        res.close();
      });
      return;
    }
    res.cork(() => {
      res.writeStatus(statusLine(502)).writeHeader('content-type', 'application/json').end(BAD_GATEWAY_BODY);
    });
  }
}

function upstreamPath(u: URL): string {
  const base = u.pathname.replace(/\/+$/, '');
  return base.endsWith('/v1') ? `${base}/chat/completions` : `${base}/v1/chat/completions`;
}

export async function startReferenceProxy(opts: ReferenceProxyOptions): Promise<ReferenceProxy> {
  const upstream = new URL(opts.upstream);
  const host = opts.host ?? '127.0.0.1';
  const pool = new Pool(upstream.origin, {
    connections: opts.connections ?? DEFAULT_CONNECTIONS,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
  });
  const shared: ProxyShared = {
    pool,
    path: upstreamPath(upstream),
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${opts.apiKey ?? DEFAULT_API_KEY}`,
    },
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
  };

  const app: TemplatedApp = uWS.App();
  app.post('/v1/chat/completions', (res: HttpResponse, _req: HttpRequest) => {
    // Nothing is needed from `req` (rule 2): the proxy forwards the body only, with its own headers.
    const ex = new Exchange(res, shared);
    res.onAborted(() => ex.onAborted()); // rule 1: before any asynchronous step
    res.onData((chunk, isLast) => ex.onRequestData(chunk, isLast));
  });
  // Catch-all (rule 7).
  app.any('/*', (res: HttpResponse) => {
    res.writeStatus(statusLine(404)).writeHeader('content-type', 'application/json').end(NOT_FOUND_BODY);
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, opts.port ?? 0, (sock) => {
      if (sock === false) reject(new Error(`reference proxy: cannot listen on ${host}:${opts.port ?? 0}`));
      else resolve(sock);
    });
  });
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  const url = `http://${host}:${port}`;

  let closed = false;
  return {
    url,
    port,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      uWS.us_listen_socket_close(listenSocket);
      // `App.close()` (present in the 20.30 build, missing from its typings) also ends keep-alive client sockets.
      (app as unknown as { close?: () => void }).close?.();
      await pool.destroy();
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      upstream: { type: 'string' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'api-key': { type: 'string' },
      connections: { type: 'string' },
    },
    strict: true,
  });
  if (values.upstream === undefined) {
    process.stderr.write('usage: reference-proxy --upstream http://HOST:PORT [--port N] [--host H] [--api-key K] [--connections N]\n');
    process.exitCode = 2;
    return;
  }
  const proxy = await startReferenceProxy({
    upstream: values.upstream,
    port: Number(values.port),
    host: values.host,
    apiKey: values['api-key'] ?? process.env.REFERENCE_PROXY_API_KEY ?? DEFAULT_API_KEY,
    connections: values.connections !== undefined ? Number(values.connections) : DEFAULT_CONNECTIONS,
  });
  process.stdout.write(`reference proxy listening on ${proxy.url}\n`);
  const stop = (): void => {
    void proxy.close().then(() => {
      // Single-threaded: nothing else holds uWS handles, so leaving is safe once sockets are closed.
      setTimeout(() => process.exit(0), 200).unref();
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`reference proxy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
