// Traffic traces: JSON lines, one request each (CONTRACT.md, "Traffic traces and replay reports"):
//   {"t": 12.5, "alias": "crm.summary.fast", "tenant": "acme", "scenario_id": "s1",
//    "input_tokens": 800, "output_tokens": 120, "stream": true, "prefix_group": "crm-v3"}
// `t` is seconds from the start of the trace, non-decreasing from line to line; `prefix_group` is optional
// (requests of one group share a stable prompt prefix, so they can hit a replica's prefix cache).
//
// A trace is held in memory as columns (typed arrays, strings interned to small integers), so a replay of
// millions of requests keeps no object per request. Reading streams the file in chunks: a trace larger than
// V8's largest string still loads. A bad line is an error naming the file, the line number and the field.

import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface TraceRequest {
  /** Seconds from the start of the trace. */
  t: number;
  alias: string;
  tenant: string;
  scenario_id: string;
  input_tokens: number;
  output_tokens: number;
  stream: boolean;
  /** Requests sharing a prompt prefix (optional). */
  prefix_group?: string | undefined;
}

export class TraceFormatError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${source}:${line}: ${detail}`);
    this.name = 'TraceFormatError';
  }
}

const KNOWN = new Set(['t', 'alias', 'tenant', 'scenario_id', 'input_tokens', 'output_tokens', 'stream', 'prefix_group']);

/** Interns strings to dense ids (0..n-1), in first-seen order. */
export class Interner {
  readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  id(s: string): number {
    let i = this.ids.get(s);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(s);
      this.ids.set(s, i);
    }
    return i;
  }
  get size(): number {
    return this.names.length;
  }
}

/** A trace as columns. `prefix[i]` is −1 when the request names no prefix group. */
export class TraceColumns {
  length = 0;
  t: Float64Array;
  alias: Int32Array;
  tenant: Int32Array;
  scenario: Int32Array;
  input: Int32Array;
  output: Int32Array;
  stream: Uint8Array;
  prefix: Int32Array;
  readonly aliases = new Interner();
  readonly tenants = new Interner();
  readonly scenarios = new Interner();
  readonly prefixes = new Interner();

  constructor(capacity = 1024) {
    const c = Math.max(16, capacity);
    this.t = new Float64Array(c);
    this.alias = new Int32Array(c);
    this.tenant = new Int32Array(c);
    this.scenario = new Int32Array(c);
    this.input = new Int32Array(c);
    this.output = new Int32Array(c);
    this.stream = new Uint8Array(c);
    this.prefix = new Int32Array(c);
  }

  private grow(): void {
    const c = this.t.length * 2;
    const g = <A extends Float64Array | Int32Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.t = g(this.t, (n) => new Float64Array(n));
    this.alias = g(this.alias, (n) => new Int32Array(n));
    this.tenant = g(this.tenant, (n) => new Int32Array(n));
    this.scenario = g(this.scenario, (n) => new Int32Array(n));
    this.input = g(this.input, (n) => new Int32Array(n));
    this.output = g(this.output, (n) => new Int32Array(n));
    this.stream = g(this.stream, (n) => new Uint8Array(n));
    this.prefix = g(this.prefix, (n) => new Int32Array(n));
  }

  /** Append one request (already validated; `t` must not go backwards: checked by the readers). */
  push(r: TraceRequest): void {
    if (this.length === this.t.length) this.grow();
    const i = this.length++;
    this.t[i] = r.t;
    this.alias[i] = this.aliases.id(r.alias);
    this.tenant[i] = this.tenants.id(r.tenant);
    this.scenario[i] = this.scenarios.id(r.scenario_id);
    this.input[i] = r.input_tokens;
    this.output[i] = r.output_tokens;
    this.stream[i] = r.stream ? 1 : 0;
    this.prefix[i] = r.prefix_group === undefined ? -1 : this.prefixes.id(r.prefix_group);
  }

  /** Request `i` as an object (tests, writing). */
  get(i: number): TraceRequest {
    const r: TraceRequest = {
      t: this.t[i]!,
      alias: this.aliases.names[this.alias[i]!]!,
      tenant: this.tenants.names[this.tenant[i]!]!,
      scenario_id: this.scenarios.names[this.scenario[i]!]!,
      input_tokens: this.input[i]!,
      output_tokens: this.output[i]!,
      stream: this.stream[i] === 1,
    };
    if (this.prefix[i]! >= 0) r.prefix_group = this.prefixes.names[this.prefix[i]!]!;
    return r;
  }

  /** Seconds from the first to the last arrival. */
  get durationS(): number {
    return this.length === 0 ? 0 : this.t[this.length - 1]!;
  }
}

function nonNegInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;
}

/**
 * Validate one parsed line. Returns the request, or throws TraceFormatError naming the field.
 * `prevT` is the previous line's `t` (arrivals must not go backwards).
 */
export function validateTraceRecord(data: unknown, source: string, line: number, prevT = 0): TraceRequest {
  const bad = (msg: string): never => {
    throw new TraceFormatError(source, line, msg);
  };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) bad('must be a JSON object');
  const o = data as Record<string, unknown>;
  for (const k in o) if (!KNOWN.has(k)) bad(`${k}: unknown field (fields: ${[...KNOWN].join(', ')})`);
  const t = o.t;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) bad('t: must be a finite number of seconds >= 0');
  if ((t as number) < prevT) bad(`t: ${t as number} goes backwards (previous line has ${prevT}); sort the trace by t`);
  for (const k of ['alias', 'tenant', 'scenario_id'] as const) {
    if (typeof o[k] !== 'string') bad(`${k}: must be a string`);
  }
  if ((o.alias as string).length === 0) bad('alias: must not be empty');
  if (!nonNegInt(o.input_tokens)) bad('input_tokens: must be an integer >= 0');
  if (!nonNegInt(o.output_tokens)) bad('output_tokens: must be an integer >= 0');
  if (typeof o.stream !== 'boolean') bad('stream: must be true or false');
  if (o.prefix_group !== undefined && o.prefix_group !== null && (typeof o.prefix_group !== 'string' || o.prefix_group === '')) {
    bad('prefix_group: must be a non-empty string when present');
  }
  const r: TraceRequest = {
    t: t as number,
    alias: o.alias as string,
    tenant: o.tenant as string,
    scenario_id: o.scenario_id as string,
    input_tokens: o.input_tokens as number,
    output_tokens: o.output_tokens as number,
    stream: o.stream as boolean,
  };
  if (typeof o.prefix_group === 'string') r.prefix_group = o.prefix_group;
  return r;
}

/** Parse one line (1-based `line` for messages). Blank lines are the caller's to skip. */
export function parseTraceLine(text: string, source: string, line: number, prevT = 0): TraceRequest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new TraceFormatError(source, line, `not valid JSON (${(err as Error).message})`);
  }
  return validateTraceRecord(data, source, line, prevT);
}

/** One request as a JSON line (no newline), fields in the contract's order. */
export function formatTraceLine(r: TraceRequest): string {
  let s =
    '{"t":' + round6(r.t) + ',"alias":' + JSON.stringify(r.alias) + ',"tenant":' + JSON.stringify(r.tenant) +
    ',"scenario_id":' + JSON.stringify(r.scenario_id) + ',"input_tokens":' + r.input_tokens + ',"output_tokens":' + r.output_tokens +
    ',"stream":' + r.stream;
  if (r.prefix_group !== undefined) s += ',"prefix_group":' + JSON.stringify(r.prefix_group);
  return s + '}';
}

/** Microsecond precision is plenty for arrival times and keeps lines short. */
function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

const CHUNK = 8 << 20;

/** Call `onLine(text, lineNo)` for every line of a file, streaming it in chunks (blank lines included). */
export function forEachLine(path: string, onLine: (text: string, line: number) => void): void {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    const dec = new StringDecoder('utf8');
    let rest = '';
    let line = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      const text = rest + dec.write(buf.subarray(0, n));
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        onLine(text.slice(start, nl), ++line);
        start = nl + 1;
      }
      rest = text.slice(start);
    }
    rest += dec.end();
    if (rest.length > 0) onLine(rest, ++line);
  } finally {
    closeSync(fd);
  }
}

/** Read and validate a whole trace file into columns. Throws TraceFormatError on the first bad line. */
export function readTraceFile(path: string): TraceColumns {
  const cols = new TraceColumns(1 << 16);
  const scratch: TraceRequest = { t: 0, alias: '', tenant: '', scenario_id: '', input_tokens: 0, output_tokens: 0, stream: false, prefix_group: undefined };
  let prevT = 0;
  forEachLine(path, (text, line) => {
    if (isBlank(text)) return;
    // Lines as this module writes them take a scanner (no JSON.parse, no object); anything else the full path.
    const r = fastParse(text, scratch) && scratch.t >= prevT && scratch.alias !== '' ? scratch : parseTraceLine(text, path, line, prevT);
    prevT = r.t;
    cols.push(r);
  });
  return cols;
}

/**
 * Scan a line in exactly formatTraceLine's shape (field order, no spaces, strings without escapes) into
 * `out`. False when the line has any other shape: the caller then parses it with JSON.parse and validates
 * it fully, so the error messages stay the same. Values it accepts are the ones validation accepts.
 */
export function fastParse(s: string, out: TraceRequest): boolean {
  if (!s.startsWith('{"t":')) return false;
  let i = 5;
  let j = s.indexOf(',', i);
  if (j <= i) return false;
  for (let k = i; k < j; k++) {
    const c = s.charCodeAt(k);
    // digits . e E + - only (JSON number characters; Number() alone would take 0x10 or Infinity)
    if (!((c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45)) return false;
  }
  const t = Number(s.slice(i, j));
  if (!(t >= 0) || t === Infinity) return false;
  out.t = t;
  i = j + 1;
  if (!s.startsWith('"alias":"', i)) return false;
  i += 9;
  j = s.indexOf('"', i);
  if (j < 0) return false;
  out.alias = s.slice(i, j);
  i = j + 1;
  if (!s.startsWith(',"tenant":"', i)) return false;
  i += 11;
  j = s.indexOf('"', i);
  if (j < 0) return false;
  out.tenant = s.slice(i, j);
  i = j + 1;
  if (!s.startsWith(',"scenario_id":"', i)) return false;
  i += 16;
  j = s.indexOf('"', i);
  if (j < 0) return false;
  out.scenario_id = s.slice(i, j);
  i = j + 1;
  if (!s.startsWith(',"input_tokens":', i)) return false;
  i += 16;
  let n = 0;
  let d = i;
  for (; d < s.length; d++) {
    const c = s.charCodeAt(d) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  if (d === i || d - i > 9) return false;
  out.input_tokens = n;
  i = d;
  if (!s.startsWith(',"output_tokens":', i)) return false;
  i += 17;
  n = 0;
  d = i;
  for (; d < s.length; d++) {
    const c = s.charCodeAt(d) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  if (d === i || d - i > 9) return false;
  out.output_tokens = n;
  i = d;
  if (s.startsWith(',"stream":true', i)) {
    out.stream = true;
    i += 14;
  } else if (s.startsWith(',"stream":false', i)) {
    out.stream = false;
    i += 15;
  } else return false;
  out.prefix_group = undefined;
  if (s.startsWith(',"prefix_group":"', i)) {
    i += 17;
    j = s.indexOf('"', i);
    if (j <= i) return false;
    out.prefix_group = s.slice(i, j);
    i = j + 1;
  }
  if (i !== s.length - 1 || s.charCodeAt(i) !== 0x7d) return false;
  // Escapes would need JSON's decoding: leave those lines to the full path.
  return s.indexOf('\\') < 0;
}

/** Parse a trace held in a string (tests, small traces). */
export function parseTraceText(text: string, source = 'trace'): TraceColumns {
  const cols = new TraceColumns();
  const lines = text.split('\n');
  let prevT = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (isBlank(l)) continue;
    const r = parseTraceLine(l, source, i + 1, prevT);
    prevT = r.t;
    cols.push(r);
  }
  return cols;
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/** Writes trace lines to a file in large buffered writes. */
export class TraceWriter {
  private readonly fd: number;
  private buf = '';
  count = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(r: TraceRequest): void {
    this.buf += formatTraceLine(r) + '\n';
    this.count++;
    if (this.buf.length > 1 << 20) this.flush();
  }
  private flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, this.buf);
    this.buf = '';
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
