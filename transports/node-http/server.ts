// The same ingress on node:http: the second implementation of the Sink seam, run through the same
// conformance suite as the uWS transport.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gateway, IngressRequest, type Sink, type SinkListener } from '../../core/index.js';

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : '';
}

class NodeSink implements Sink {
  closed = false;
  private listener: SinkListener | null = null;
  closeConnection = false;

  constructor(private readonly res: ServerResponse) {}

  attach(listener: SinkListener): void {
    this.listener = listener;
  }

  onClose(): void {
    if (this.closed) return;
    // The socket closed before we ended the answer: the client went away.
    this.closed = true;
    const l = this.listener;
    if (l !== null) l.onClientAbort();
  }

  onDrain(): void {
    const l = this.listener;
    if (l !== null && !this.closed) l.onWritable();
  }

  private head(status: number, headers: readonly string[]): void {
    const res = this.res;
    res.statusCode = status;
    for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
    if (this.closeConnection) res.setHeader('connection', 'close');
  }

  send(status: number, headers: readonly string[], body: string | Uint8Array): void {
    if (this.closed) return;
    this.closed = true;
    this.head(status, headers);
    this.res.end(body);
  }

  begin(status: number, headers: readonly string[]): void {
    if (this.closed) return;
    this.head(status, headers);
    this.res.setHeader('cache-control', 'no-cache');
    this.res.flushHeaders();
  }

  write(chunk: string): boolean {
    if (this.closed) return true;
    return this.res.write(chunk);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.end();
  }

  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.socket?.destroy();
  }
}

export interface NodeHttpServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export function startNodeHttpServer(gateway: Gateway, opts: { host?: string; port?: number } = {}): Promise<NodeHttpServer> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer({ keepAliveTimeout: 10_000 }, (req, res) => handleRequest(gateway, req, res));
  // Open client connections, for the metrics (one listener per connection, not per request).
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.once('close', () => connections--);
  });
  gateway.metrics.watchConnections(() => connections);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        server,
        port,
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            // Stop listening, drop idle keep-alive sockets now and any left after a short grace.
            server.close(() => done());
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), 1000).unref();
          }),
      });
    });
  });
}

function handleRequest(gateway: Gateway, req: IncomingMessage, res: ServerResponse): void {
  const r = new IngressRequest();
  r.method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  r.path = q < 0 ? url : url.slice(0, q);
  r.authorization = header(req, 'authorization');
  r.apiKey = header(req, 'x-api-key');
  r.contentType = header(req, 'content-type');
  r.scenario = header(req, 'x-switchyard-scenario');
  r.owner = header(req, 'x-switchyard-owner');
  r.traceparent = header(req, 'traceparent');
  r.cacheControl = header(req, 'cache-control');
  const sink = new NodeSink(res);
  res.on('close', () => sink.onClose());
  res.on('drain', () => sink.onDrain());

  const max = gateway.maxBodyBytes;
  const declared = req.headers['content-length'] === undefined ? -1 : Number(req.headers['content-length']);
  if (declared > max) {
    sink.closeConnection = true;
    gateway.rejectTooLarge(sink);
    req.resume();
    return;
  }
  if (declared === 0 || (declared < 0 && req.headers['transfer-encoding'] === undefined)) {
    req.resume();
    gateway.handle(r, sink);
    return;
  }
  const parts: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > max) {
      refused = true;
      sink.closeConnection = true;
      gateway.rejectTooLarge(sink);
      return;
    }
    parts.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    r.body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    gateway.handle(r, sink);
  });
  req.on('error', () => sink.onClose());
}
