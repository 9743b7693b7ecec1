// Reading a chat-completion request, as the simulators (maas.ts, batch.ts, gpu-pool.ts) do: the checks of
// the body and its messages (with OpenAI's error messages), the message scan behind prompt tokens and the
// output seed, max_tokens, stream_options, and the `[sim:key=value]` directives of the last user message.
// Imports `core/schema` types at most. Results go into caller-owned objects (one per simulator, reused):
// nothing here allocates on a valid request beyond what the original inline code did.

import type { ChatMessage } from '../core/schema/openai.js';
import { contentText, fnv1a, promptTokens, toolCallText } from './generate.js';
import { badRequest, type HttpError } from './openai-wire.js';

// ---------------------------------------------------------------------------------------------------
// Body and messages

const VALID_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

/** Check the body is an object with a model and a non-empty messages array; the error to send, or null. */
export function chatBodyError(raw: unknown): HttpError | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return badRequest('Invalid request body: expected a JSON object.', null, 'invalid_type');
  }
  const body = raw as Record<string, unknown>;
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0) {
    return badRequest('you must provide a model parameter', null, null);
  }
  const messages = body.messages;
  if (messages === undefined || messages === null) {
    return badRequest("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  }
  if (!Array.isArray(messages)) {
    return badRequest("Invalid type for 'messages': expected an array.", 'messages', 'invalid_type');
  }
  if (messages.length === 0) {
    return badRequest(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages', 'empty_array',
    );
  }
  return null;
}

/** Check messages[i] is an object with a known role; the error to send, or null. */
export function messageError(m: unknown, i: number): HttpError | null {
  if (m === null || typeof m !== 'object') {
    return badRequest(`Invalid type for 'messages[${i}]': expected an object.`, `messages[${i}]`, 'invalid_type');
  }
  const role = (m as ChatMessage).role;
  if (typeof role !== 'string') {
    return badRequest(`Missing required parameter: 'messages[${i}].role'.`, `messages[${i}].role`, 'missing_required_parameter');
  }
  if (!VALID_ROLES.has(role)) {
    return badRequest(
      `Invalid value: '${role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
      `messages[${i}].role`, 'invalid_value',
    );
  }
  return null;
}

/** What scanMessages reads from the messages. */
export class MessageScan {
  /** FNV-1a, from the seed, over each message's role, content text and tool calls' names and arguments. */
  hash = 0;
  promptTokens = 0;
  /** The content text of the last user message ('' when none): where directives are read. */
  lastUser = '';
  /** Hash and prompt tokens of every message but the last (the cacheable prefix); 0 with one message. */
  prefixHash = 0;
  prefixTokens = 0;
}

/**
 * The MaaS simulator's pass over the messages (the batch simulator answers by the same rule): check each
 * message, hash it, count its characters, find the last user message. Fills `out`; the error to send, or null.
 */
export function scanMessages(messages: unknown[], hashSeed: number, out: MessageScan): HttpError | null {
  let h = hashSeed;
  let chars = 0;
  let lastUser = '';
  out.prefixHash = 0;
  out.prefixTokens = 0;
  for (let i = 0; i < messages.length; i++) {
    const err = messageError(messages[i], i);
    if (err !== null) return err;
    if (i > 0 && i === messages.length - 1) {
      out.prefixHash = h;
      out.prefixTokens = promptTokens(chars, i);
    }
    const m = messages[i] as ChatMessage;
    const role = m.role;
    const text = contentText(m.content);
    h = fnv1a(fnv1a(h, role), text);
    chars += text.length;
    if (Array.isArray(m.tool_calls)) {
      for (const tc of m.tool_calls) {
        const s = toolCallText(tc);
        h = fnv1a(h, s);
        chars += s.length;
      }
    }
    if (role === 'user') lastUser = text;
  }
  out.hash = h;
  out.promptTokens = promptTokens(chars, messages.length);
  out.lastUser = lastUser;
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Parameters

/**
 * `max_completion_tokens`, else `max_tokens`: 0 when neither is set, the error to send when the value
 * is not an integer >= 1.
 */
export function maxTokensOf(body: Record<string, unknown>): number | HttpError {
  let maxTokens: unknown = body.max_completion_tokens;
  let maxParam = 'max_completion_tokens';
  if (maxTokens === undefined || maxTokens === null) {
    maxTokens = body.max_tokens;
    maxParam = 'max_tokens';
  }
  if (maxTokens === undefined || maxTokens === null) return 0;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return badRequest(
      `Invalid '${maxParam}': integer below minimum value. Expected a value >= 1.`,
      maxParam, 'integer_below_min_value',
    );
  }
  return maxTokens;
}

/** `stream_options.include_usage === true`. */
export function includeUsageOf(body: Record<string, unknown>): boolean {
  const so = body.stream_options as { include_usage?: unknown } | null | undefined;
  return so !== null && typeof so === 'object' && so.include_usage === true;
}

// ---------------------------------------------------------------------------------------------------
// Directives: [sim:key=value] in the last user message

const DIRECTIVE_RE = /\[sim:([a-z_]+)=([^\]\s]*)\]/g;

/** What a simulator accepts. */
export interface DirectiveRules<F> {
  /** `[sim:fault=V]`: V → the simulator's fault; any other V is an invalid directive. */
  readonly faults: Readonly<Record<string, F>>;
  /** The numeric directives it knows, of `output_tokens`, `ttft_ms`, `tokens_per_s`. */
  readonly numbers: ReadonlySet<string>;
  /**
   * Check the value (a number >= 0) before the name: an unknown name with a bad value is then an invalid
   * directive rather than an unknown one (maas.ts, batch.ts; gpu-pool.ts checks the name first).
   */
  readonly valueFirst: boolean;
}

/** The directives read; one instance per simulator, refilled by each readDirectives call. */
export class Directives<F> {
  fault: F | null = null;
  /** Floored; -1 when not given. */
  outputTokens = -1;
  /** -1 when not given. */
  ttftMs = -1;
  /** -1 when not given. */
  tokensPerS = -1;
}

/**
 * Read the directives of `text` into `out`, left to right; the error to send for the first bad one, or
 * null. On an error, `out` holds what was read before it (a fault directive among it still counts).
 */
export function readDirectives<F>(text: string, rules: DirectiveRules<F>, out: Directives<F>): HttpError | null {
  out.fault = null;
  out.outputTokens = -1;
  out.ttftMs = -1;
  out.tokensPerS = -1;
  if (!text.includes('[sim:')) return null;
  DIRECTIVE_RE.lastIndex = 0;
  for (let m = DIRECTIVE_RE.exec(text); m !== null; m = DIRECTIVE_RE.exec(text)) {
    const key = m[1]!;
    const val = m[2]!;
    if (key === 'fault') {
      const f = rules.faults[val];
      if (f === undefined) return badRequest(`Invalid simulator directive: [sim:fault=${val}]`, 'messages', 'invalid_value');
      out.fault = f;
      continue;
    }
    const known = rules.numbers.has(key);
    if (!known && !rules.valueFirst) return unknownDirective(key, val);
    const n = Number(val);
    if (val === '' || !Number.isFinite(n) || n < 0) {
      return badRequest(`Invalid simulator directive: [sim:${key}=${val}]`, 'messages', 'invalid_value');
    }
    if (!known) return unknownDirective(key, val);
    if (key === 'output_tokens') out.outputTokens = Math.floor(n);
    else if (key === 'ttft_ms') out.ttftMs = n;
    else if (key === 'tokens_per_s') out.tokensPerS = n;
  }
  return null;
}

function unknownDirective(key: string, val: string): HttpError {
  return badRequest(`Unknown simulator directive: [sim:${key}=${val}]`, 'messages', 'invalid_value');
}
