// The ingress seam. A transport copies what the gateway needs out of its socket callback into an
// IngressRequest and hands it to Gateway.handle with a Sink, its way of answering.

/** Everything the gateway reads from a client request, copied out of the transport's objects. */
export class IngressRequest {
  // Every field is set here so all requests share one hidden class (V8).
  method = ''; // upper case
  path = ''; // without the query string
  authorization = '';
  apiKey = ''; // x-api-key
  contentType = '';
  scenario = ''; // x-switchyard-scenario
  owner = ''; // x-switchyard-owner
  traceparent = '';
  cacheControl = '';
  body: Buffer | null = null;
}

/** The request in flight on a sink: told when the client went away, and when a full buffer drained. */
export interface SinkListener {
  onClientAbort(): void;
  onWritable(): void;
}

/**
 * How the gateway answers. Headers are a flat list: name, value, name, value, ...
 * After the client is gone (`closed`), every method is a no-op.
 */
export interface Sink {
  readonly closed: boolean;
  /** The request in flight on this sink, to be told of a client abort and of drained buffers. */
  attach(listener: SinkListener): void;
  /** A whole answer at once. */
  send(status: number, headers: readonly string[], body: string | Uint8Array): void;
  /** Start a streamed answer. */
  begin(status: number, headers: readonly string[]): void;
  /** Write part of a streamed answer; false when the transport's buffer is full: stop producing until
   *  the listener's onWritable(). */
  write(chunk: string): boolean;
  /** End a streamed answer. */
  end(): void;
  /** Close the connection without an answer (a stopped gateway: the request was never taken). */
  drop?(): void;
}

export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  200: '200 OK',
  202: '202 Accepted',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  499: '499 Client Closed Request',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
});

/** `200 OK`-style status line for a status code. */
export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? String(status);
}
