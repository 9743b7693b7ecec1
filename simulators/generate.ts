// Deterministic generation shared by the simulators (maas.ts, batch.ts, gpu-pool.ts): the seeded PRNG and
// hashes, the prompt-token rule and the text a message counts for, and the content of answers (text
// pieces, JSON-schema-driven tool-call arguments, call ids). One copy, so that the same seed and the same
// messages give the same bytes in every simulator that draws from it.
// Imports `core/schema` types at most. Tables are built once, at module load; nothing here allocates
// beyond the strings and arrays it returns.

import type { ChatMessage, ChatToolCall } from '../core/schema/openai.js';

// ---------------------------------------------------------------------------------------------------
// PRNG and hashes

/** mulberry32: tiny, fast, good enough for simulation. */
export class Rng {
  s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** murmur3's 32-bit finalizer. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A profile seed (any integer up to ±2^53) mixed down to 32 bits. */
export function seed32(seed: number): number {
  return fmix32((seed | 0) ^ Math.floor(seed / 4294967296) ^ 0x9e3779b9);
}

/** The FNV-1a offset basis. */
export const FNV1A_BASIS = 0x811c9dc5;

/** FNV-1a over the UTF-16 code units of `s`, continuing from `h` (a signed 32-bit result). */
export function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

// ---------------------------------------------------------------------------------------------------
// Prompt tokens: what a message counts for

/** The simulators' prompt-token rule: ceil(chars / 4) + 3 per message. */
export function promptTokens(chars: number, messages: number): number {
  return Math.ceil(chars / 4) + 3 * messages;
}

/** The text of message content: a string as is, else the `text` of each content part, joined. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const part of content) {
    if (part !== null && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      s += (part as { text: string }).text;
    }
  }
  return s;
}

/** The text one assistant tool call counts for: its function's name, then its arguments ('' without a function). */
export function toolCallText(tc: ChatToolCall | null | undefined): string {
  const fn = tc?.function;
  return fn !== undefined && fn !== null ? String(fn.name ?? '') + String(fn.arguments ?? '') : '';
}

/** The whole text a message counts for: its content, then its tool calls' names and arguments. */
export function messageText(m: ChatMessage): string {
  let s = contentText(m.content);
  if (Array.isArray(m.tool_calls)) for (const tc of m.tool_calls) s += toolCallText(tc);
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Text: one vocabulary word per token

const VOCAB = (
  'the a gateway model request token stream route alias pool lane budget limit cache prefix provider ' +
  'answer summary account note customer latency quota policy trace cost usage signal context window ' +
  'batch replica queue region service metric value record update status result simple quick careful ' +
  'clear brief useful stable steady fresh early later today again always often rarely mostly'
).split(' ');
const WORD_SP = VOCAB.map((w) => ' ' + w);
const WORD_CAP = VOCAB.map((w) => w[0]!.toUpperCase() + w.slice(1));
const WORD_SP_CAP = WORD_CAP.map((w) => ' ' + w);

/** `n` words (n >= 1), space-separated. */
export function words(rng: Rng, n: number): string {
  let s = VOCAB[rng.int(VOCAB.length)]!;
  for (let i = 1; i < n; i++) s += WORD_SP[rng.int(WORD_SP.length)]!;
  return s;
}

/** Text output: one word per token piece, sentences of 6..13 words. */
export function textPieces(rng: Rng, n: number): string[] {
  const out = new Array<string>(n);
  let untilStop = 6 + rng.int(8);
  let cap = true;
  for (let i = 0; i < n; i++) {
    const w = rng.int(VOCAB.length);
    let p = i === 0 ? WORD_CAP[w]! : cap ? WORD_SP_CAP[w]! : WORD_SP[w]!;
    cap = false;
    if (--untilStop === 0 || i === n - 1) {
      p += '.';
      cap = true;
      untilStop = 6 + rng.int(8);
    }
    out[i] = p;
  }
  return out;
}

const JSON_PIECE_RE = / ?[A-Za-z0-9_]+|[^A-Za-z0-9_ ]+| /g;

/** JSON text cut into token-like pieces (words with their leading space, runs of punctuation). */
export function jsonPieces(json: string): string[] {
  return json.match(JSON_PIECE_RE) ?? [];
}

// ---------------------------------------------------------------------------------------------------
// Tool-call arguments and structured output, driven by a JSON schema

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function valueForSchema(schema: unknown, rng: Rng, depth: number): Json {
  if (schema === null || typeof schema !== 'object') return words(rng, 1 + rng.int(3));
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[rng.int(s.enum.length)] as Json;
  if ('const' in s) return s.const as Json;
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null') ?? 'null';
  if (t === undefined && s.properties !== undefined) t = 'object';
  switch (t) {
    case 'integer':
      return withinBounds(1 + rng.int(100), s, true);
    case 'number':
      return withinBounds(Math.round(rng.next() * 10000) / 100, s, false);
    case 'boolean':
      return rng.next() < 0.5;
    case 'null':
      return null;
    case 'array':
      return depth < 4 ? [valueForSchema(s.items, rng, depth + 1)] : [];
    case 'object':
      return depth < 4 ? objectForSchema(s, rng, depth + 1, false) : {};
    default:
      return words(rng, 1 + rng.int(3));
  }
}

/** `v` moved into the schema's `minimum`/`maximum` (as a structured-output model would honor them). */
function withinBounds(v: number, s: Record<string, unknown>, integer: boolean): number {
  const lo = typeof s.minimum === 'number' ? (integer ? Math.ceil(s.minimum) : s.minimum) : -Infinity;
  const hi = typeof s.maximum === 'number' ? (integer ? Math.floor(s.maximum) : s.maximum) : Infinity;
  if (v >= lo && v <= hi) return v;
  if (lo === -Infinity) return hi - (integer ? 0 : v % 1);
  if (hi === Infinity) return lo + (v % 100);
  const span = hi - lo;
  return integer ? lo + (v % (span + 1)) : lo + ((v % 100) / 100) * span;
}

/** An object holding the schema's required properties (up to 16), or {"query": "..."} at the top. */
export function objectForSchema(schema: unknown, rng: Rng, depth: number, top: boolean): { [k: string]: Json } {
  const s = (schema !== null && typeof schema === 'object' ? schema : {}) as Record<string, unknown>;
  const required = Array.isArray(s.required) ? s.required.filter((k): k is string => typeof k === 'string') : [];
  const props = (s.properties !== null && typeof s.properties === 'object' ? s.properties : {}) as Record<string, unknown>;
  const out: { [k: string]: Json } = {};
  if (required.length === 0) {
    if (top) out.query = words(rng, 2 + rng.int(4));
    return out;
  }
  for (let i = 0; i < required.length && i < 16; i++) {
    const k = required[i]!;
    out[k] = valueForSchema(props[k], rng, depth);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Ids

export const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A tool call id: `call_` and 24 characters drawn from `rng`. */
export function callId(rng: Rng): string {
  let s = 'call_';
  for (let i = 0; i < 24; i++) s += ID_ALPHABET[rng.int(ID_ALPHABET.length)];
  return s;
}
