// The frame protocol of `GET /v1/ws` (CONTRACT.md, "WebSocket frames"), shared by the server
// (ws.ts) and the client (ws-client.ts). Imports nothing: a browser bundle of the client can use it.
//
// Client → server (text frames are JSON; binary frames are the same objects in msgpack):
//   {"op":"auth","key":"..."}                                   where upgrade headers cannot be set
//   {"id":"r1","op":"chat.completions","body":{...}}            the body of POST /v1/chat/completions
//   {"id":"r1","op":"messages","body":{...}}                    the body of POST /v1/messages
//   {"id":"r1","op":"cancel"}                                   abort r1 (its limits and upstream call)
//   {"op":"ping"}                                               answered {"type":"pong"}
//   A request frame may add "meta": true to get the routing headers the HTTP answer would carry.
// Server → client (answered in the encoding of the request frame):
//   {"id","type":"response","data":<chat.completion>}           a whole answer (also a 202 batch job, "status":202)
//   {"id","type":"chunk","data":<chunk>}                        one stream event
//   {"id","type":"done","usage":{...}}                          ends a stream
//   {"id","type":"error","status":N,"error":{"code","message","param"}}   ends a request (id null: the socket's;
//                                                               a refused duplicate id is named in "ref")
//   {"type":"auth","ok":true}                                   an auth frame was accepted
// Every request id gets exactly one terminal frame (response, done or error); the id may be reused after it.

/** Request ops and the gateway path each one is answered by. */
export const OP_PATHS: Readonly<Record<string, string>> = Object.freeze({
  'chat.completions': '/v1/chat/completions',
  messages: '/v1/messages',
});

/**
 * Error codes of the frame layer (the pipeline's own codes, e.g. `invalid_json`, `alias_not_found`,
 * `rate_limit_exceeded`, come from core/errors.ts unchanged). Each is answered with an error frame and
 * the socket goes on.
 */
export const WS_ERROR = Object.freeze({
  /** Not JSON / msgpack, not an object, or a field of the wrong type (`param` names it). */
  invalid_frame: 'invalid_frame',
  /** `op` is not one of auth, chat.completions, messages, cancel, ping. */
  unknown_op: 'unknown_op',
  /** A request frame reused an id that is still in flight on this socket (a socket error: `id` null,
   *  `ref` the id; the request in flight is not disturbed). */
  duplicate_id: 'duplicate_id',
  /** More requests in flight on this socket than the server allows. */
  too_many_requests_in_flight: 'too_many_requests_in_flight',
  /** The request's body exceeds the gateway's `server.max_body_bytes`. */
  body_too_large: 'body_too_large',
  /** A request before any key: no upgrade header and no `auth` frame yet. */
  missing_api_key: 'missing_api_key',
  /** The key of an `auth` frame (or of the upgrade headers) is not valid. */
  invalid_api_key: 'invalid_api_key',
  /** A `cancel` ended the request (its terminal frame). */
  client_closed_request: 'client_closed_request',
} as const);

/** Close codes the server uses (RFC 6455 §7.4). */
export const WS_CLOSE = Object.freeze({
  /** The server is shutting down (after the requests in flight on the socket ended). */
  going_away: 1001,
  /** A frame larger than the socket's maximum payload. (Past twice that, and when a client that does
   *  not read lets 16 MiB pile up, uWS drops the socket without a close frame: clients see 1006.) */
  message_too_big: 1009,
  /** Too many protocol errors in a row (malformed frames): the client is not speaking this protocol. */
  protocol_errors: 4002,
} as const);

export type RequestId = string | number;

/** Largest id accepted: a string of at most this many characters or a non-negative safe integer. */
export const MAX_ID_LENGTH = 128;

export interface ErrorFrame {
  id: RequestId | null;
  type: 'error';
  status: number;
  error: { code: string; message: string; param: string | null; type?: string };
  retry_after?: number;
  meta?: Record<string, string>;
  /** duplicate_id: the id of the refused frame. */
  ref?: RequestId;
}

export interface ResponseFrame {
  id: RequestId;
  type: 'response';
  data: unknown;
  status?: number;
  meta?: Record<string, string>;
}

export interface ChunkFrame {
  id: RequestId;
  type: 'chunk';
  data: unknown;
}

export interface DoneUsage {
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  tokens_estimated: boolean;
  cost_usd: number;
}

export interface DoneFrame {
  id: RequestId;
  type: 'done';
  usage: DoneUsage | null;
  meta?: Record<string, string>;
}

export type ServerFrame = ErrorFrame | ResponseFrame | ChunkFrame | DoneFrame | { type: 'auth'; ok: true } | { type: 'pong' };
