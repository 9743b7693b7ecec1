// Canonical JSON for the bytes the gateway sends upstream: the same value gives the same text whatever
// key order, whitespace or escapes the client used, so provider prefix caches see identical bytes.
//
// Rules (fixed; changing them changes every upstream byte, so every prefix cache goes cold once):
// - A message's keys: role, content, name, tool_calls, tool_call_id, then any other keys sorted.
// - A tool's keys: type, function, then others sorted; a function's: name, description, parameters,
//   strict, then others sorted.
// - Every other object: keys sorted (code-unit order) — except the members of a JSON-schema
//   `properties` map, which keep the client's order (for strict structured outputs that order is the
//   order of the generated keys, so it is meaning, not noise). Their values are canonical as usual.
// - Arrays keep their order; strings are JSON.stringify'd (one escape form); numbers as JavaScript
//   prints them. `undefined` members are dropped, as JSON.stringify does.
// Ground floor for the prompt module: imports only types.
import type { ChatMessage, ChatTool } from '../schema/openai.js';

const q = JSON.stringify;

/** Canonical JSON text of any JSON value (see the header). */
export function canonicalJson(v: unknown): string {
  return value(v, false);
}

function value(v: unknown, keepOrder: boolean): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return q(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return 'null';
  }
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) s += ',';
      const x = v[i];
      s += x === undefined ? 'null' : value(x, false);
    }
    return s + ']';
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (!keepOrder) keys.sort();
  let s = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const x = o[k];
    if (x === undefined) continue;
    if (!first) s += ',';
    first = false;
    // A JSON-schema `properties` map keeps its members' order (see the header).
    s += q(k) + ':' + (k === 'properties' && typeof x === 'object' && x !== null && !Array.isArray(x) ? propertiesMap(x as Record<string, unknown>) : value(x, false));
  }
  return s + '}';
}

function propertiesMap(o: Record<string, unknown>): string {
  let s = '{';
  let first = true;
  for (const k in o) {
    const x = o[k];
    if (x === undefined) continue;
    if (!first) s += ',';
    first = false;
    s += q(k) + ':' + value(x, false);
  }
  return s + '}';
}

/** The keys of `o` not in `known`, sorted (null when none: the common case allocates nothing). */
function extraKeys(o: Record<string, unknown>, known: ReadonlySet<string>): string[] | null {
  let extra: string[] | null = null;
  for (const k in o) {
    if (!known.has(k) && o[k] !== undefined) (extra ??= []).push(k);
  }
  if (extra !== null) extra.sort();
  return extra;
}

function appendExtra(s: string, o: Record<string, unknown>, extra: string[] | null): string {
  if (extra === null) return s;
  for (let i = 0; i < extra.length; i++) s += ',' + q(extra[i]!) + ':' + value(o[extra[i]!], false);
  return s;
}

const MESSAGE_KEYS: ReadonlySet<string> = new Set(['role', 'content', 'name', 'tool_calls', 'tool_call_id']);

/** Canonical JSON text of one chat message. */
export function canonicalMessage(m: ChatMessage): string {
  const o = m as unknown as Record<string, unknown>;
  const c = m.content;
  let s = '{"role":' + q(m.role) + ',"content":' + (typeof c === 'string' ? q(c) : c == null ? 'null' : value(c, false));
  if (m.name !== undefined) s += ',"name":' + q(m.name);
  if (m.tool_calls !== undefined) s += ',"tool_calls":' + toolCalls(m.tool_calls);
  if (m.tool_call_id !== undefined) s += ',"tool_call_id":' + q(m.tool_call_id);
  return appendExtra(s, o, extraKeys(o, MESSAGE_KEYS)) + '}';
}

/**
 * Tool calls in their usual shape ({function: {arguments, name}, id, type}, nothing else) are written
 * directly — the same text the generic sorted-keys path gives, without sorting keys per call.
 */
function toolCalls(calls: unknown): string {
  if (!Array.isArray(calls)) return value(calls, false);
  let s = '[';
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i] as Record<string, unknown>;
    const f = c !== null && typeof c === 'object' ? (c.function as Record<string, unknown>) : null;
    let plain = f !== null && typeof f === 'object' && typeof c.id === 'string' && typeof c.type === 'string' && typeof f.name === 'string' && typeof f.arguments === 'string';
    if (plain) {
      let n = 0;
      for (const _ in c) n++;
      let m = 0;
      for (const _ in f) m++;
      plain = n === 3 && m === 2;
    }
    if (i > 0) s += ',';
    s += plain
      ? '{"function":{"arguments":' + q(f!.arguments) + ',"name":' + q(f!.name) + '},"id":' + q(c.id) + ',"type":' + q(c.type) + '}'
      : value(c, false);
  }
  return s + ']';
}

const TOOL_KEYS: ReadonlySet<string> = new Set(['type', 'function']);
const FUNCTION_KEYS: ReadonlySet<string> = new Set(['name', 'description', 'parameters', 'strict']);

/** Canonical JSON text of one tool definition. */
export function canonicalTool(t: ChatTool): string {
  const o = t as unknown as Record<string, unknown>;
  const f = t.function as unknown as Record<string, unknown>;
  let fs = '{"name":' + q(t.function.name);
  if (f.description !== undefined) fs += ',"description":' + value(f.description, false);
  if (f.parameters !== undefined) fs += ',"parameters":' + value(f.parameters, false);
  if (f.strict !== undefined) fs += ',"strict":' + value(f.strict, false);
  fs = appendExtra(fs, f, extraKeys(f, FUNCTION_KEYS)) + '}';
  return appendExtra('{"type":' + q(t.type) + ',"function":' + fs, o, extraKeys(o, TOOL_KEYS)) + '}';
}

/**
 * Canonical text of a list of tools, without the brackets (`{...},{...}`), ordered by function name
 * (code-unit order; equal names keep their order). '' for none.
 */
export function canonicalToolItems(tools: readonly ChatTool[]): string {
  if (tools.length === 0) return '';
  let ordered: readonly ChatTool[] = tools;
  for (let i = 1; i < tools.length; i++) {
    if (tools[i - 1]!.function.name > tools[i]!.function.name) {
      ordered = [...tools].sort(byName);
      break;
    }
  }
  let s = '';
  for (let i = 0; i < ordered.length; i++) s += (i > 0 ? ',' : '') + canonicalTool(ordered[i]!);
  return s;
}

function byName(a: ChatTool, b: ChatTool): number {
  const x = a.function.name;
  const y = b.function.name;
  return x < y ? -1 : x > y ? 1 : 0;
}
