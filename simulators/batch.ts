// Batch provider simulator speaking the OpenAI Batch API (files + batches) on uWebSockets.js: seeded,
// reproducible, loopback. An independent check on the gateway: imports `core/schema` types at most.
//
// Life of a batch, in simulated (wall-clock, scaled) time:
//   validating ── ~completion_ms/10 ──▶ in_progress ── one request per ~completion_ms (jittered ×0.5..1.5,
//   sequential) ──▶ finalizing ── ~completion_ms/10 ──▶ completed (output_file_id, error_file_id)
//   cancel: validating | in_progress | finalizing ──▶ cancelling ── ~completion_ms/10 ──▶ cancelled
//   (with the results finished so far).
// One timer per batch, re-armed for its next event; close() clears them all.
//
// Chat completions inside the output file use the MaaS simulator's rules, from the modules the two share
// (simulators/generate.ts, chat-request.ts, openai-wire.ts): prompt tokens = ceil(chars / 4) + 3 per
// message, one word per completion token, text drawn from a PRNG seeded by the profile seed and the messages. With the same seed and
// output_tokens, a batch answer has the same content and usage as the MaaS simulator's answer.
// Directives in a request's last user message: [sim:fault=500|429|503] fails that request,
// [sim:output_tokens=N] sets its length; [sim:ttft_ms=..] and [sim:tokens_per_s=..] are accepted and ignored.
//
// Ids (files, batches, batch requests, completions) come from the seed and the order of uploads and
// batch creations, so the same seed and the same calls give the same ids and the same output files
// (only `created` timestamps differ).

import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { Directives, MessageScan, maxTokensOf, readDirectives, scanMessages, type DirectiveRules } from './chat-request.js';
import { FNV1A_BASIS, ID_ALPHABET, Rng, fmix32, jsonPieces, seed32, textPieces } from './generate.js';
import {
  BEARER_RE,
  ERR_BAD_JSON_MESSAGE,
  ERR_RATE_LIMITED,
  ERR_SERVER,
  ERR_TOO_LARGE,
  ERR_UNAUTHORIZED,
  ERR_UNAVAILABLE,
  HEALTH_BODY,
  HttpError,
  SIM_FINGERPRINT,
  badRequest,
  completionJson,
  errorJson,
  textMessageJson,
  usageJson,
} from './openai-wire.js';
import { closeApp, listenApp, sendInvalidUrl, sendJson, uWS } from './uws.js';

// ---------------------------------------------------------------------------------------------------
// Public API

export interface BatchProfile {
  /** PRNG seed (integer). Default 1. */
  seed?: number;
  /** Mean simulated processing time per request, in ms (validating and finalizing take about a tenth). Default 500. */
  completion_ms?: number;
  /** Probability that a request fails with a 500 (lands in the error file). Default 0. */
  error_rate?: number;
  /** Completion length in tokens (the MaaS simulator's default). Default 16. */
  output_tokens?: number;
}

export interface ResolvedBatchProfile {
  readonly seed: number;
  readonly completion_ms: number;
  readonly error_rate: number;
  readonly output_tokens: number;
}

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

export const BATCH_STATUSES: readonly BatchStatus[] = Object.freeze([
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const);

export interface BatchStats {
  /** HTTP requests received on any route (401s and 404s included). */
  httpRequests: number;
  /** Files stored now (uploads and generated output/error files, minus deleted ones). */
  files: number;
  /** Files accepted by POST /v1/files. */
  filesUploaded: number;
  /** Batches accepted by POST /v1/batches. */
  batchesCreated: number;
  /** Batches by their current status. */
  batches: Record<BatchStatus, number>;
  /** Requests inside batches that finished with a 200 / with an error. */
  requestsCompleted: number;
  requestsFailed: number;
  /** Tokens of the completed requests. */
  promptTokens: number;
  completionTokens: number;
}

export interface BatchSimulator {
  /** Base URL for OpenAI clients, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  profile: ResolvedBatchProfile;
  stats: BatchStats;
  /** Clear every batch timer, close the listen socket and every open connection. Idempotent. */
  close(): Promise<void>;
}

export interface BatchSimulatorOptions {
  host?: string;
  port?: number;
}

export async function startBatchSimulator(
  profile: BatchProfile = {},
  opts: BatchSimulatorOptions = {},
): Promise<BatchSimulator> {
  const server = new BatchServer(resolveBatchProfile(profile), opts.host ?? '127.0.0.1');
  await server.listen(opts.port ?? 0);
  return server;
}

const PROFILE_KEYS = new Set(['seed', 'completion_ms', 'error_rate', 'output_tokens']);

function profileNum(v: unknown, path: string, min: number, max: number, int: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < min || v > max) {
    throw new Error(`invalid batch simulator profile: ${path}: must be ${int ? 'an integer' : 'a number'} between ${min} and ${max}`);
  }
  return v;
}

/** Validate a batch profile and fill in defaults. Throws `invalid batch simulator profile: path: message`. */
export function resolveBatchProfile(p: BatchProfile = {}): ResolvedBatchProfile {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new Error('invalid batch simulator profile: (root): must be an object');
  for (const k of Object.keys(p)) if (!PROFILE_KEYS.has(k)) throw new Error(`invalid batch simulator profile: ${k}: unknown field`);
  return Object.freeze({
    seed: p.seed === undefined ? 1 : profileNum(p.seed, 'seed', -(2 ** 53), 2 ** 53, true),
    completion_ms: p.completion_ms === undefined ? 500 : profileNum(p.completion_ms, 'completion_ms', 0, 3_600_000, false),
    error_rate: p.error_rate === undefined ? 0 : profileNum(p.error_rate, 'error_rate', 0, 1, false),
    output_tokens: p.output_tokens === undefined ? 16 : profileNum(p.output_tokens, 'output_tokens', 0, 100_000, true),
  });
}

// ---------------------------------------------------------------------------------------------------
// multipart/form-data (RFC 7578), enough for the openai SDK's uploads and curl -F

export interface MultipartPart {
  name: string;
  filename: string | null;
  contentType: string | null;
  data: Buffer;
}

const BOUNDARY_RE = /;\s*boundary=(?:"([^"]{1,200})"|([^;\s]{1,200}))/i;
const DISPOSITION_PARAM_RE = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
const CRLF = Buffer.from('\r\n');
const HEADERS_END = Buffer.from('\r\n\r\n');

/** The boundary of a multipart/form-data content-type, or null. */
export function multipartBoundary(contentType: string): string | null {
  if (!/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = BOUNDARY_RE.exec(contentType);
  return m === null ? null : (m[1] ?? m[2]!);
}

/** Split a multipart/form-data body into its parts; null when it is malformed. Data are views of `body`. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] | null {
  const delim = Buffer.from('--' + boundary);
  const next = Buffer.from('\r\n--' + boundary); // a delimiter after part data
  // The first delimiter may follow a preamble.
  let pos = body.subarray(0, delim.length).equals(delim) ? 0 : body.indexOf(next);
  if (pos < 0) return null;
  if (pos > 0) pos += 2;
  const parts: MultipartPart[] = [];
  for (;;) {
    pos += delim.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // "--": the close delimiter
    // Transport padding (spaces, tabs) may follow a delimiter, then CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) return null;
    pos += 2;
    const headEnd = body.indexOf(HEADERS_END, pos - 2);
    if (headEnd < 0) return null;
    const head = headEnd < pos ? '' : body.toString('latin1', pos, headEnd);
    const dataStart = headEnd + 4;
    const dataEnd = body.indexOf(next, dataStart - 2);
    if (dataEnd < 0) return null;
    let name: string | null = null;
    let filename: string | null = null;
    let contentType: string | null = null;
    for (const line of head.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const key = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (key === 'content-type') contentType = value;
      else if (key === 'content-disposition') {
        if (!/^form-data\s*(;|$)/i.test(value)) return null;
        DISPOSITION_PARAM_RE.lastIndex = 0;
        for (let m = DISPOSITION_PARAM_RE.exec(value); m !== null; m = DISPOSITION_PARAM_RE.exec(value)) {
          const k = m[1]!.toLowerCase();
          const raw = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!.trim();
          // Header bytes are read as latin1; names and filenames are UTF-8 on the wire.
          const v = Buffer.from(raw, 'latin1').toString('utf8');
          if (k === 'name') name = v;
          else if (k === 'filename') filename = v;
        }
      }
    }
    if (name === null) return null;
    parts.push({ name, filename, contentType, data: body.subarray(dataStart, Math.max(dataStart, dataEnd)) });
    pos = dataEnd + 2;
  }
}

// ---------------------------------------------------------------------------------------------------
// Ids

const HEX = '0123456789abcdef';

/** A seeded id: `len` characters drawn from (key, n). */
function idOf(prefix: string, key: number, n: number, len = 24, alphabet = ID_ALPHABET): string {
  const rng = new Rng(fmix32(key ^ fmix32(Math.imul(n + 1, 0x9e3779b1))));
  let s = prefix;
  for (let i = 0; i < len; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

// Salts: one id space per kind of id.
const SALT_FILE = 0x1f11e5;
const SALT_BATCH = 0xba7c4;
const SALT_OUT = 0x0a7f11e;
const SALT_ERR = 0x0e22f11e;
const SALT_REQ = 0x2e9b47;

// ---------------------------------------------------------------------------------------------------
// Errors

function notFound(message: string, param: string | null = null): HttpError {
  return new HttpError('404 Not Found', errorJson(message, 'invalid_request_error', param, null));
}

// ---------------------------------------------------------------------------------------------------
// Constants

const ENDPOINT = '/v1/chat/completions';
const MAX_UPLOAD_BYTES = 200 * 1024 * 1024; // OpenAI's batch input file limit
const MAX_JSON_BYTES = 1024 * 1024;
const MAX_REQUESTS = 50_000; // OpenAI's per-batch request limit
const WINDOW_S = 24 * 3600;
const CANCELLABLE = new Set<BatchStatus>(['validating', 'in_progress', 'finalizing']);

const enum Fault {
  None = 0,
  ServerError = 1,
  RateLimited = 2,
  Unavailable = 3,
}

// [sim:fault=…] values; [sim:output_tokens=N] sets the length, ttft_ms and tokens_per_s are accepted and ignored;
// [sim:say=B64] (base64url UTF-8) fixes the answer text.
const DIRECTIVE_RULES: DirectiveRules<Fault> = {
  faults: {
    '500': Fault.ServerError,
    server_error: Fault.ServerError,
    '429': Fault.RateLimited,
    rate_limited: Fault.RateLimited,
    '503': Fault.Unavailable,
    unavailable: Fault.Unavailable,
  },
  numbers: new Set(['output_tokens', 'ttft_ms', 'tokens_per_s']),
  valueFirst: true,
  texts: new Set(['say']),
};
// Filled per request (complete runs synchronously).
const SCAN = new MessageScan();
const DIRECTIVES = new Directives<Fault>();

function nowS(): number {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------------------------------
// Stored state

interface InputLine {
  customId: string;
  body: Record<string, unknown>;
}

class StoredFile {
  constructor(
    readonly id: string,
    readonly filename: string,
    readonly purpose: 'batch' | 'batch_output',
    readonly createdAt: number,
    readonly content: Buffer,
    /** Parsed requests of a batch input file; null for output files. */
    readonly lines: InputLine[] | null,
    readonly model: string,
  ) {}

  json(): string {
    return JSON.stringify({
      id: this.id,
      object: 'file',
      bytes: this.content.length,
      created_at: this.createdAt,
      filename: this.filename,
      purpose: this.purpose,
      status: 'processed',
      expires_at: null,
      status_details: null,
    });
  }
}

/** One request's outcome, decided when the batch leaves validating. */
interface Planned {
  doneAt: number; // ms after in_progress started
  fault: Fault;
}

class Batch {
  status: BatchStatus = 'validating';
  inProgressAt: number | null = null;
  finalizingAt: number | null = null;
  completedAt: number | null = null;
  cancellingAt: number | null = null;
  cancelledAt: number | null = null;
  outputFileId: string | null = null;
  errorFileId: string | null = null;
  timer: NodeJS.Timeout | null = null;
  t0 = 0;
  next = 0;
  completed = 0;
  failed = 0;
  inputTokens = 0;
  outputTokens = 0;
  readonly out: string[] = [];
  readonly err: string[] = [];
  readonly plan: Planned[];
  readonly phaseMs: number;

  constructor(
    readonly id: string,
    readonly seq: number,
    readonly key: number,
    readonly input: StoredFile,
    readonly lines: InputLine[],
    readonly createdAt: number,
    readonly metadata: Record<string, string> | null,
    completionMs: number,
    errorRate: number,
  ) {
    // Every draw for this batch happens here, in line order: the schedule does not depend on timing.
    const rng = new Rng(key);
    this.phaseMs = completionMs * 0.1 * (0.5 + rng.next());
    const plan = new Array<Planned>(lines.length);
    let t = 0;
    for (let i = 0; i < lines.length; i++) {
      t += completionMs * (0.5 + rng.next());
      const faulted = errorRate > 0 && rng.next() < errorRate;
      plan[i] = { doneAt: t, fault: faulted ? Fault.ServerError : Fault.None };
    }
    this.plan = plan;
  }

  json(): string {
    const total = this.inProgressAt === null ? 0 : this.lines.length; // OpenAI counts nothing while validating
    return JSON.stringify({
      id: this.id,
      object: 'batch',
      endpoint: ENDPOINT,
      model: this.input.model,
      errors: null,
      input_file_id: this.input.id,
      completion_window: '24h',
      status: this.status,
      output_file_id: this.outputFileId,
      error_file_id: this.errorFileId,
      created_at: this.createdAt,
      in_progress_at: this.inProgressAt,
      expires_at: this.createdAt + WINDOW_S,
      finalizing_at: this.finalizingAt,
      completed_at: this.completedAt,
      failed_at: null,
      expired_at: null,
      cancelling_at: this.cancellingAt,
      cancelled_at: this.cancelledAt,
      request_counts: { total, completed: this.completed, failed: this.failed },
      usage: {
        input_tokens: this.inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: this.outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: this.inputTokens + this.outputTokens,
      },
      metadata: this.metadata,
    });
  }
}

/** The outcome of one chat request inside a batch. */
interface Outcome {
  status: number;
  body: string; // JSON
  prompt: number;
  completion: number;
}

// ---------------------------------------------------------------------------------------------------
// Upload validation

function lineError(line: number, message: string): HttpError {
  return badRequest(`Invalid batch input file: line ${line}: ${message}`, 'file', 'invalid_batch_input');
}

function parseInputFile(text: string): { lines: InputLine[]; model: string } | HttpError {
  const rows = text.split('\n');
  const lines: InputLine[] = [];
  const seen = new Map<string, number>();
  let model = '';
  let modelLine = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!.trim();
    if (row.length === 0) continue;
    const n = i + 1;
    let v: unknown;
    try {
      v = JSON.parse(row);
    } catch {
      return lineError(n, 'not valid JSON.');
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return lineError(n, 'expected a JSON object.');
    const o = v as Record<string, unknown>;
    const customId = o.custom_id;
    if (typeof customId !== 'string' || customId.length === 0) return lineError(n, "'custom_id' must be a non-empty string.");
    const first = seen.get(customId);
    if (first !== undefined) return lineError(n, `duplicate custom_id '${customId}' (first on line ${first}).`);
    seen.set(customId, n);
    if (o.method !== 'POST') return lineError(n, `'method' must be 'POST', got ${JSON.stringify(o.method ?? null)}.`);
    if (o.url !== ENDPOINT) return lineError(n, `'url' must be '${ENDPOINT}', got ${JSON.stringify(o.url ?? null)}.`);
    const body = o.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return lineError(n, "'body' must be a JSON object.");
    const b = body as Record<string, unknown>;
    if (typeof b.model !== 'string' || b.model.length === 0) return lineError(n, "'body.model' must be a non-empty string.");
    if (!Array.isArray(b.messages) || b.messages.length === 0) return lineError(n, "'body.messages' must be a non-empty array.");
    if (lines.length === 0) {
      model = b.model;
      modelLine = n;
    } else if (b.model !== model) {
      return lineError(n, `every request in a batch must use the same model ('${model}' on line ${modelLine}, '${b.model}' here).`);
    }
    if (lines.length === MAX_REQUESTS) return lineError(n, `a batch holds at most ${MAX_REQUESTS} requests.`);
    lines.push({ customId, body: b });
  }
  if (lines.length === 0) return badRequest('Invalid batch input file: it holds no requests.', 'file', 'invalid_batch_input');
  return { lines, model };
}

// ---------------------------------------------------------------------------------------------------
// Server

class BatchServer implements BatchSimulator {
  url = '';
  port = 0;
  readonly profile: ResolvedBatchProfile;
  readonly stats: BatchStats;
  private readonly app: TemplatedApp;
  private readonly host: string;
  private readonly hashSeed: number;
  private readonly idKey: number;
  private readonly files = new Map<string, StoredFile>();
  private readonly batches = new Map<string, Batch>();
  private readonly batchOrder: Batch[] = [];
  private listenSocket: us_listen_socket | null = null;
  private fileSeq = 0;
  private batchSeq = 0;
  private closed = false;

  constructor(profile: ResolvedBatchProfile, host: string) {
    this.profile = profile;
    this.host = host;
    const byStatus = {} as Record<BatchStatus, number>;
    for (const s of BATCH_STATUSES) byStatus[s] = 0;
    this.stats = {
      httpRequests: 0, files: 0, filesUploaded: 0, batchesCreated: 0, batches: byStatus,
      requestsCompleted: 0, requestsFailed: 0, promptTokens: 0, completionTokens: 0,
    };
    const s = seed32(profile.seed);
    this.hashSeed = (FNV1A_BASIS ^ s) >>> 0; // the MaaS simulator's message-hash seed
    this.idKey = fmix32(s ^ 0x2545f491);
    this.app = uWS.App();
    this.routes();
  }

  async listen(port: number): Promise<void> {
    const l = await listenApp(this.app, this.host, port, 'batch simulator:');
    this.listenSocket = l.socket;
    this.port = l.port;
    this.url = l.origin + '/v1';
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const b of this.batchOrder) {
        if (b.timer !== null) clearTimeout(b.timer);
        b.timer = null;
      }
      closeApp(this.app, this.listenSocket);
      this.listenSocket = null;
    }
    return new Promise((resolve) => setImmediate(resolve));
  }

  // -------------------------------------------------------------------------------------------------
  // Routing and I/O

  private routes(): void {
    const app = this.app;
    app.post('/v1/files', (res, req) => {
      if (!this.begin(res, req)) return;
      const contentType = req.getHeader('content-type');
      this.readBody(res, MAX_UPLOAD_BYTES, (body) => this.upload(contentType, body));
    });
    app.get('/v1/files', (res, req) => {
      if (!this.begin(res, req)) return;
      const purpose = req.getQuery('purpose');
      const limit = req.getQuery('limit');
      const after = req.getQuery('after');
      this.reply(res, () => this.listFiles(purpose, limit, after));
    });
    app.get('/v1/files/:id', (res, req) => {
      if (!this.begin(res, req)) return;
      const id = req.getParameter(0);
      this.reply(res, () => this.file(id).json());
    });
    app.del('/v1/files/:id', (res, req) => {
      if (!this.begin(res, req)) return;
      const id = req.getParameter(0);
      this.reply(res, () => this.deleteFile(id));
    });
    app.get('/v1/files/:id/content', (res, req) => {
      if (!this.begin(res, req)) return;
      const id = req.getParameter(0);
      let file: StoredFile;
      try {
        file = this.file(id);
      } catch (err) {
        sendJson(res, (err as HttpError).status, (err as HttpError).body);
        return;
      }
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'application/octet-stream');
      res.writeHeader('content-disposition', `attachment; filename="${file.filename}"`);
      res.end(file.content);
    });
    app.post('/v1/batches', (res, req) => {
      if (!this.begin(res, req)) return;
      this.readBody(res, MAX_JSON_BYTES, (body) => this.createBatch(body));
    });
    app.get('/v1/batches', (res, req) => {
      if (!this.begin(res, req)) return;
      const limit = req.getQuery('limit');
      const after = req.getQuery('after');
      this.reply(res, () => this.listBatches(limit, after));
    });
    app.get('/v1/batches/:id', (res, req) => {
      if (!this.begin(res, req)) return;
      const id = req.getParameter(0);
      this.reply(res, () => this.batch(id).json());
    });
    app.post('/v1/batches/:id/cancel', (res, req) => {
      if (!this.begin(res, req)) return;
      const id = req.getParameter(0);
      // The body (if any) is ignored, but it must be read before answering.
      this.readBody(res, MAX_JSON_BYTES, () => this.cancel(id));
    });
    app.get('/healthz', (res) => sendJson(res, '200 OK', HEALTH_BODY));
    app.any('/*', (res, req) => {
      this.stats.httpRequests++;
      sendInvalidUrl(res, req);
    });
  }

  /** Count the request and check the bearer token; false when a 401 was sent. */
  private begin(res: HttpResponse, req: HttpRequest): boolean {
    this.stats.httpRequests++;
    if (!BEARER_RE.test(req.getHeader('authorization'))) {
      sendJson(res, '401 Unauthorized', ERR_UNAUTHORIZED);
      return false;
    }
    return true;
  }

  /** Answer synchronously with the handler's JSON, or its HttpError. */
  private reply(res: HttpResponse, handler: () => string): void {
    let body: string;
    try {
      body = handler();
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendJson(res, err.status, err.body);
      return;
    }
    sendJson(res, '200 OK', body);
  }

  /** Read the whole body (copying each chunk, capped), then answer corked with the handler's JSON. */
  private readBody(res: HttpResponse, max: number, handler: (body: Buffer) => string): void {
    const state = { done: false, aborted: false, bytes: 0, chunks: [] as Buffer[] };
    res.onAborted(() => {
      state.aborted = true;
      state.done = true;
    });
    res.onData((chunk, isLast) => {
      if (state.done) return;
      state.bytes += chunk.byteLength;
      if (state.bytes > max) {
        state.done = true;
        state.chunks = [];
        res.cork(() => sendJson(res, '413 Payload Too Large', ERR_TOO_LARGE));
        return;
      }
      state.chunks.push(Buffer.from(Buffer.from(chunk))); // the chunk is neutered after this callback
      if (!isLast) return;
      state.done = true;
      const body = state.chunks.length === 1 ? state.chunks[0]! : Buffer.concat(state.chunks);
      state.chunks = [];
      res.cork(() => this.reply(res, () => handler(body)));
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Files

  private file(id: string): StoredFile {
    const f = this.files.get(id);
    if (f === undefined) throw notFound(`No such File object: ${id}`, 'id');
    return f;
  }

  private upload(contentType: string, body: Buffer): string {
    const boundary = multipartBoundary(contentType);
    if (boundary === null) {
      throw badRequest(
        `Invalid Content-Type header (${contentType || 'none'}): expected multipart/form-data with a boundary.`,
        null, 'invalid_content_type',
      );
    }
    const parts = parseMultipart(body, boundary);
    if (parts === null) throw badRequest('Could not parse the multipart/form-data body.', null, 'invalid_multipart');
    let purpose: string | null = null;
    let filePart: MultipartPart | null = null;
    for (const p of parts) {
      if (p.name === 'purpose' && purpose === null) purpose = p.data.toString('utf8').trim();
      else if (p.name === 'file' && filePart === null) filePart = p;
    }
    if (purpose === null) throw badRequest("Missing required parameter: 'purpose'.", 'purpose', 'missing_required_parameter');
    if (purpose !== 'batch') {
      throw badRequest(`Invalid value for 'purpose': '${purpose}'. This simulator accepts only 'batch'.`, 'purpose', 'invalid_value');
    }
    if (filePart === null) throw badRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
    const filename = filePart.filename ?? 'file';
    if (!filename.toLowerCase().endsWith('.jsonl')) {
      throw badRequest(`Invalid file format for Batch API. Must be .jsonl (got '${filename}').`, 'file', 'invalid_file_format');
    }
    const parsed = parseInputFile(filePart.data.toString('utf8'));
    if (parsed instanceof HttpError) throw parsed;
    const id = idOf('file-', this.idKey ^ SALT_FILE, this.fileSeq++);
    const file = new StoredFile(id, filename, 'batch', nowS(), Buffer.from(filePart.data), parsed.lines, parsed.model);
    this.files.set(id, file);
    this.stats.files++;
    this.stats.filesUploaded++;
    return file.json();
  }

  private listFiles(purpose: string | undefined, limitQ: string | undefined, after: string | undefined): string {
    const limit = parseLimit(limitQ, 10_000, 10_000);
    const all = [...this.files.values()].reverse(); // most recent first (insertion order)
    let start = 0;
    if (after) {
      const i = all.findIndex((f) => f.id === after);
      start = i < 0 ? all.length : i + 1;
    }
    const data: unknown[] = [];
    let hasMore = false;
    for (let i = start; i < all.length; i++) {
      const f = all[i]!;
      if (purpose && f.purpose !== purpose) continue;
      if (data.length === limit) {
        hasMore = true;
        break;
      }
      data.push(JSON.parse(f.json()));
    }
    const ids = data as { id: string }[];
    return JSON.stringify({ object: 'list', data, first_id: ids[0]?.id ?? null, last_id: ids.at(-1)?.id ?? null, has_more: hasMore });
  }

  private deleteFile(id: string): string {
    this.file(id);
    this.files.delete(id);
    this.stats.files--;
    return JSON.stringify({ id, object: 'file', deleted: true });
  }

  private storeOutput(batch: Batch, kind: 'output' | 'error', lines: string[]): string {
    const id = idOf('file-', this.idKey ^ (kind === 'output' ? SALT_OUT : SALT_ERR), batch.seq);
    const content = Buffer.from(lines.join('\n') + '\n');
    this.files.set(id, new StoredFile(id, `${batch.id}_${kind}.jsonl`, 'batch_output', nowS(), content, null, batch.input.model));
    this.stats.files++;
    return id;
  }

  // -------------------------------------------------------------------------------------------------
  // Batches

  private batch(id: string): Batch {
    const b = this.batches.get(id);
    if (b === undefined) throw notFound(`No batch found with id '${id}'.`, 'batch_id');
    return b;
  }

  private createBatch(raw: Buffer): string {
    let v: unknown;
    try {
      v = JSON.parse(raw.toString('utf8'));
    } catch {
      throw badRequest(ERR_BAD_JSON_MESSAGE);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('Invalid request body: expected a JSON object.', null, 'invalid_type');
    const p = v as Record<string, unknown>;
    const inputId = p.input_file_id;
    if (typeof inputId !== 'string' || inputId.length === 0) {
      throw badRequest("Missing required parameter: 'input_file_id'.", 'input_file_id', 'missing_required_parameter');
    }
    if (p.endpoint === undefined) throw badRequest("Missing required parameter: 'endpoint'.", 'endpoint', 'missing_required_parameter');
    if (p.endpoint !== ENDPOINT) {
      throw badRequest(
        `Invalid value: ${JSON.stringify(p.endpoint)}. Supported values are: '${ENDPOINT}'.`,
        'endpoint', 'invalid_value',
      );
    }
    if (p.completion_window === undefined) {
      throw badRequest("Missing required parameter: 'completion_window'.", 'completion_window', 'missing_required_parameter');
    }
    if (p.completion_window !== '24h') {
      throw badRequest(
        `Invalid value: ${JSON.stringify(p.completion_window)}. Supported values are: '24h'.`,
        'completion_window', 'invalid_value',
      );
    }
    const metadata = checkMetadata(p.metadata);
    const file = this.files.get(inputId);
    if (file === undefined) throw notFound(`No such File object: ${inputId}`, 'input_file_id');
    if (file.purpose !== 'batch' || file.lines === null) {
      throw badRequest(`Invalid 'input_file_id': file ${inputId} has purpose '${file.purpose}', expected 'batch'.`, 'input_file_id', 'invalid_value');
    }
    const seq = this.batchSeq++;
    const key = fmix32(this.idKey ^ SALT_BATCH ^ Math.imul(seq + 1, 0x27d4eb2d));
    const batch = new Batch(
      idOf('batch_', this.idKey ^ SALT_BATCH, seq), seq, key, file, file.lines, nowS(), metadata,
      this.profile.completion_ms, this.profile.error_rate,
    );
    this.batches.set(batch.id, batch);
    this.batchOrder.push(batch);
    this.stats.batchesCreated++;
    this.stats.batches.validating++;
    this.arm(batch, batch.phaseMs);
    return batch.json();
  }

  private listBatches(limitQ: string | undefined, after: string | undefined): string {
    const limit = parseLimit(limitQ, 20, 100);
    const order = this.batchOrder;
    let i = order.length - 1;
    if (after) {
      const b = this.batches.get(after);
      i = b === undefined ? -1 : b.seq - 1;
    }
    const data: unknown[] = [];
    for (; i >= 0 && data.length < limit; i--) data.push(JSON.parse(order[i]!.json()));
    const ids = data as { id: string }[];
    return JSON.stringify({ object: 'list', data, first_id: ids[0]?.id ?? null, last_id: ids.at(-1)?.id ?? null, has_more: i >= 0 });
  }

  private cancel(id: string): string {
    const b = this.batch(id);
    if (b.status === 'cancelling') return b.json();
    if (!CANCELLABLE.has(b.status)) {
      throw new HttpError(
        '409 Conflict',
        errorJson(`Cannot cancel a batch with status '${b.status}'.`, 'invalid_request_error', null, 'batch_not_cancellable'),
      );
    }
    this.setStatus(b, 'cancelling');
    b.cancellingAt = nowS();
    this.arm(b, b.phaseMs);
    return b.json();
  }

  private setStatus(b: Batch, status: BatchStatus): void {
    this.stats.batches[b.status]--;
    this.stats.batches[status]++;
    b.status = status;
  }

  private arm(b: Batch, ms: number): void {
    if (b.timer !== null) clearTimeout(b.timer);
    b.timer = this.closed ? null : setTimeout(onBatchTimer, Math.max(0, ms), this, b);
  }

  /** The batch's next event: leave validating, finish requests that are due, finalize, complete. */
  step(b: Batch): void {
    b.timer = null;
    if (this.closed) return;
    switch (b.status) {
      case 'validating':
        this.setStatus(b, 'in_progress');
        b.inProgressAt = nowS();
        b.t0 = performance.now();
        this.progress(b);
        return;
      case 'in_progress':
        this.progress(b);
        return;
      case 'finalizing':
        this.setStatus(b, 'completed');
        this.writeResults(b);
        b.completedAt = nowS();
        return;
      case 'cancelling':
        this.setStatus(b, 'cancelled');
        this.writeResults(b);
        b.cancelledAt = nowS();
        return;
      default:
        return;
    }
  }

  private progress(b: Batch): void {
    const elapsed = performance.now() - b.t0;
    const plan = b.plan;
    while (b.next < plan.length && plan[b.next]!.doneAt <= elapsed) this.run(b, b.next++);
    if (b.next < plan.length) {
      this.arm(b, plan[b.next]!.doneAt - elapsed);
      return;
    }
    this.setStatus(b, 'finalizing');
    b.finalizingAt = nowS();
    this.arm(b, b.phaseMs);
  }

  private writeResults(b: Batch): void {
    if (b.out.length > 0) b.outputFileId = this.storeOutput(b, 'output', b.out);
    if (b.err.length > 0) b.errorFileId = this.storeOutput(b, 'error', b.err);
  }

  /** Execute request i of the batch and file its result line. */
  private run(b: Batch, i: number): void {
    const line = b.lines[i]!;
    const reqKey = b.key ^ SALT_REQ;
    const completionId = idOf('chatcmpl-', reqKey ^ 0x5c5c, i, 29);
    const o = this.complete(line.body, b.plan[i]!.fault, completionId);
    const result =
      '{"id":' + JSON.stringify(idOf('batch_req_', reqKey, i, 32, HEX)) +
      ',"custom_id":' + JSON.stringify(line.customId) +
      ',"response":{"status_code":' + o.status +
      ',"request_id":' + JSON.stringify(idOf('', reqKey ^ 0x3a3a, i, 32, HEX)) +
      ',"body":' + o.body + '},"error":null}';
    const stats = this.stats;
    if (o.status === 200) {
      b.completed++;
      b.inputTokens += o.prompt;
      b.outputTokens += o.completion;
      b.out.push(result);
      stats.requestsCompleted++;
      stats.promptTokens += o.prompt;
      stats.completionTokens += o.completion;
    } else {
      b.failed++;
      b.err.push(result);
      stats.requestsFailed++;
    }
  }

  /** A chat completion for one request body, by the MaaS simulator's rules (text answers). */
  private complete(body: Record<string, unknown>, planned: Fault, id: string): Outcome {
    const messages = body.messages as unknown[];
    const model = body.model as string;
    const scan = SCAN;
    let err = scanMessages(messages, this.hashSeed, scan);
    if (err !== null) return failure(err);

    const d = DIRECTIVES;
    err = readDirectives(scan.lastUser, DIRECTIVE_RULES, d);
    if (err !== null) return failure(err);
    const outTokens = d.outputTokens >= 0 ? d.outputTokens : this.profile.output_tokens;
    const fault = d.fault ?? planned;

    const maxTokens = maxTokensOf(body);
    if (typeof maxTokens !== 'number') return failure(maxTokens);

    switch (fault) {
      case Fault.ServerError:
        return { status: 500, body: ERR_SERVER, prompt: 0, completion: 0 };
      case Fault.RateLimited:
        return { status: 429, body: ERR_RATE_LIMITED, prompt: 0, completion: 0 };
      case Fault.Unavailable:
        return { status: 503, body: ERR_UNAVAILABLE, prompt: 0, completion: 0 };
      default:
        break;
    }

    const pieces = d.say !== null ? jsonPieces(d.say) : textPieces(new Rng(fmix32(scan.hash)), outTokens);
    let finish = 'stop';
    if (maxTokens > 0 && maxTokens < pieces.length) {
      pieces.length = maxTokens;
      finish = 'length';
    }
    const n = pieces.length;
    const json = completionJson(
      id, nowS(), JSON.stringify(model), textMessageJson(pieces.join('')), finish,
      usageJson(scan.promptTokens, n, 0), SIM_FINGERPRINT,
    );
    return { status: 200, body: json, prompt: scan.promptTokens, completion: n };
  }
}

/** A request that failed its checks: the error in its result line. */
function failure(err: HttpError): Outcome {
  return { status: parseInt(err.status, 10), body: err.body, prompt: 0, completion: 0 };
}

function onBatchTimer(server: BatchServer, b: Batch): void {
  server.step(b);
}

function parseLimit(q: string | undefined, dflt: number, max: number): number {
  if (q === undefined || q === '') return dflt;
  const n = Number(q);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw badRequest(`Invalid 'limit': expected an integer between 1 and ${max}.`, 'limit', 'invalid_value');
  }
  return n;
}

function checkMetadata(m: unknown): Record<string, string> | null {
  if (m === undefined || m === null) return null;
  if (typeof m !== 'object' || Array.isArray(m)) throw badRequest("Invalid type for 'metadata': expected an object.", 'metadata', 'invalid_type');
  const entries = Object.entries(m as Record<string, unknown>);
  if (entries.length > 16) throw badRequest("Invalid 'metadata': too many properties. Expected at most 16.", 'metadata', 'object_above_max_properties');
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k.length > 64) throw badRequest(`Invalid 'metadata': key '${k}' is longer than 64 characters.`, 'metadata', 'invalid_value');
    if (typeof v !== 'string' || v.length > 512) {
      throw badRequest(`Invalid 'metadata.${k}': expected a string of at most 512 characters.`, `metadata.${k}`, 'invalid_value');
    }
    out[k] = v;
  }
  return out;
}
