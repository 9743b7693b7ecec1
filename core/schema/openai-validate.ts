// Validation of an OpenAI Chat Completions request body, hand-written for the hot path: it walks the
// parsed JSON once and allocates only when it finds a problem. Ground floor: imports nothing of ours.

import type { ChatCompletionRequest } from './openai.js';

export interface ValidationProblem {
  readonly message: string;
  readonly param: string;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

function problem(param: string, message: string): ValidationProblem {
  return { message, param };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Takes the value, not (body, name): a keyed load with a different name per call would go megamorphic.
function optionalNumber(v: unknown, name: string, min: number, max: number, integer: boolean): ValidationProblem | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) return problem(name, `'${name}' must be a number.`);
  if (integer && !Number.isInteger(v)) return problem(name, `'${name}' must be an integer.`);
  if (v < min || v > max) return problem(name, `'${name}' must be between ${min} and ${max}.`);
  return null;
}

/** Null when `body` is a valid chat request (then it may be used as a ChatCompletionRequest). */
export function validateChatRequest(body: unknown): ValidationProblem | null {
  if (!isObject(body)) return problem('', 'The request body must be a JSON object.');
  const model = body.model;
  if (model === undefined) return problem('model', "Missing required parameter: 'model'.");
  if (typeof model !== 'string' || model.length === 0) return problem('model', "'model' must be a non-empty string.");
  const messages = body.messages;
  if (messages === undefined) return problem('messages', "Missing required parameter: 'messages'.");
  if (!Array.isArray(messages)) return problem('messages', "'messages' must be an array.");
  if (messages.length === 0) return problem('messages', "'messages' must contain at least one message.");
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m)) return problem(`messages[${i}]`, `'messages[${i}]' must be an object.`);
    const role = m.role;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      return problem(`messages[${i}].role`, `'messages[${i}].role' must be one of system, developer, user, assistant, tool, function.`);
    }
    const content = m.content;
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      return problem(`messages[${i}].content`, `'messages[${i}].content' must be a string or an array of content parts.`);
    }
    if ((content === undefined || content === null) && role !== 'assistant') {
      return problem(`messages[${i}].content`, `Missing required parameter: 'messages[${i}].content'.`);
    }
    if (role === 'tool' && typeof m.tool_call_id !== 'string') {
      return problem(`messages[${i}].tool_call_id`, `Missing required parameter: 'messages[${i}].tool_call_id'.`);
    }
  }
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') return problem('stream', "'stream' must be a boolean.");
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) return problem('stream_options', "'stream_options' must be an object.");
    if (so.include_usage !== undefined && typeof so.include_usage !== 'boolean') {
      return problem('stream_options.include_usage', "'stream_options.include_usage' must be a boolean.");
    }
  }
  const tools = body.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) return problem('tools', "'tools' must be an array.");
    for (let i = 0; i < tools.length; i++) {
      const t = tools[i];
      if (!isObject(t) || t.type !== 'function' || !isObject(t.function) || typeof t.function.name !== 'string') {
        return problem(`tools[${i}]`, `'tools[${i}]' must be {"type":"function","function":{"name":...}}.`);
      }
    }
  }
  let p = optionalNumber(body.max_tokens, 'max_tokens', 1, 10_000_000, true);
  if (p === null) p = optionalNumber(body.max_completion_tokens, 'max_completion_tokens', 1, 10_000_000, true);
  if (p === null) p = optionalNumber(body.temperature, 'temperature', 0, 2, false);
  if (p === null) p = optionalNumber(body.top_p, 'top_p', 0, 1, false);
  if (p === null) p = optionalNumber(body.n, 'n', 1, 128, true);
  if (p !== null) return p;
  const metadata = body.metadata;
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) return problem('metadata', "'metadata' must be an object of strings.");
    for (const k in metadata) {
      if (typeof metadata[k] !== 'string') return problem(`metadata.${k}`, `'metadata.${k}' must be a string.`);
    }
  }
  return null;
}

export type ValidChatRequest = ChatCompletionRequest;
