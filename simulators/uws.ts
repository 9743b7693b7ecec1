// uWebSockets.js plumbing shared by the simulators (maas.ts, batch.ts, gpu-pool.ts): the native addon,
// loaded once; listening and closing; request headers and bodies; JSON answers and the 404 catch-all.
// Imports `core/schema` types at most. Per-request helpers use module-level slots, not closures.

import { createRequire } from 'node:module';
import type * as UWSTypes from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { errorJson } from './openai-wire.js';

/** uWebSockets.js is a CommonJS native addon. */
export const uWS = createRequire(import.meta.url)('uWebSockets.js') as typeof UWSTypes;

// ---------------------------------------------------------------------------------------------------
// Listening

export interface Listening {
  socket: us_listen_socket;
  port: number;
  /** http://host:port (an IPv6 host in brackets). */
  origin: string;
}

/** Listen on host:port (0: any free port). Rejects with `${who} cannot listen on host:port`. */
export function listenApp(app: TemplatedApp, host: string, port: number, who: string): Promise<Listening> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (ls) => {
      if (ls === false) {
        reject(new Error(`${who} cannot listen on ${host}:${port}`));
        return;
      }
      const local = uWS.us_socket_local_port(ls);
      const h = host.includes(':') ? `[${host}]` : host;
      resolve({ socket: ls, port: local, origin: `http://${h}:${local}` });
    });
  });
}

/** Close the listen socket (if any) and every open connection of the app. */
export function closeApp(app: TemplatedApp, socket: us_listen_socket | null): void {
  if (socket !== null) uWS.us_listen_socket_close(socket);
  (app as unknown as { close(): void }).close();
}

// ---------------------------------------------------------------------------------------------------
// Requests and answers

/** The largest chat request body the servers read. */
export const MAX_CHAT_BODY_BYTES = 16 * 1024 * 1024;

export function sendJson(res: HttpResponse, status: string, body: string): void {
  res.writeStatus(status);
  res.writeHeader('content-type', 'application/json');
  res.end(body);
}

/** The catch-all 404, in the OpenAI envelope. */
export function sendInvalidUrl(res: HttpResponse, req: HttpRequest): void {
  const method = req.getCaseSensitiveMethod().toUpperCase();
  const q = req.getQuery();
  const url = req.getUrl() + (q ? '?' + q : '');
  sendJson(res, '404 Not Found', errorJson(`Invalid URL (${method} ${url})`, 'invalid_request_error', null, null));
}

// Module-level target for req.forEach: it runs synchronously, so a slot replaces a per-request closure.
const NO_HEADERS: Record<string, string> = {};
let HEADERS: Record<string, string> = NO_HEADERS;
function copyHeader(key: string, value: string): void {
  const prev = HEADERS[key];
  HEADERS[key] = prev === undefined ? value : prev + ', ' + value;
}

/** The request's headers (names lower-case; repeated headers joined with ", "). Call before req is dead. */
export function requestHeaders(req: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  HEADERS = headers;
  req.forEach(copyHeader);
  HEADERS = NO_HEADERS;
  return headers;
}

/** A request body arriving in onData chunks. */
export interface BodyChunks {
  chunks: Buffer[] | null;
}

/**
 * Take one onData chunk: null before the last one (the chunk is copied: uWS neuters it after the
 * callback), the whole body as UTF-8 text on the last one (decoded before the callback returns).
 */
export function bodyText(acc: BodyChunks, chunk: ArrayBuffer, isLast: boolean): string | null {
  if (!isLast) {
    (acc.chunks ??= []).push(Buffer.from(Buffer.from(chunk)));
    return null;
  }
  if (acc.chunks === null) return Buffer.from(chunk).toString('utf8');
  acc.chunks.push(Buffer.from(chunk));
  const text = Buffer.concat(acc.chunks).toString('utf8');
  acc.chunks = null;
  return text;
}
