// Anthropic Messages ingress: validation (Anthropic's own messages: `path: problem`) and decoding into the
// canonical request (canonical.ts). Ground floor: imports only sibling schema modules.
//
// Decoding rules:
//   system (string or text blocks)        → a leading `system` message (parts keep `cache_control`)
//   user text/image blocks                → a `user` message (one text block without cache_control: a string)
//   user tool_result blocks               → `tool` messages (first, in order; `is_error` kept as an extension)
//   assistant text blocks                 → `content`; tool_use blocks → `tool_calls` (input as JSON text)
//   assistant thinking blocks             → `reasoning_blocks` (an extension, replayed to Anthropic providers)
//   tools {name, description, input_schema, cache_control} → function tools (cache_control kept)
//   tool_choice auto|any|tool|none        → auto|required|{function}|none; disable_parallel_tool_use → parallel_tool_calls: false
//   stop_sequences → stop; metadata.user_id → user; metadata.scenario_id/owner → metadata (attribution only)
// Blocks of other types (documents, ...) are carried as content parts of their own type: an Anthropic
// provider gets them back, an OpenAI-style provider refuses the request before the call.

import type { ValidationProblem } from './openai-validate.js';
import type { CanonicalRequest } from './canonical.js';
import type { ChatMessage, ChatTool, ChatToolCall } from './openai.js';

function problem(param: string, message: string): ValidationProblem {
  return { message: param === '' ? message : `${param}: ${message}`, param };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalNumber(v: unknown, name: string, min: number, max: number, integer: boolean): ValidationProblem | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) return problem(name, 'Input should be a valid number');
  if (integer && !Number.isInteger(v)) return problem(name, 'Input should be a valid integer');
  if (v < min) return problem(name, `Input should be greater than or equal to ${min}`);
  if (v > max) return problem(name, `Input should be less than or equal to ${max}`);
  return null;
}

function blockProblem(b: unknown, path: string, role: string): ValidationProblem | null {
  if (!isObject(b)) return problem(path, 'Input should be a valid dictionary');
  const t = b.type;
  if (typeof t !== 'string') return problem(`${path}.type`, 'Field required');
  if (b.cache_control != null && !isObject(b.cache_control)) return problem(`${path}.cache_control`, 'Input should be a valid dictionary');
  switch (t) {
    case 'text':
      if (typeof b.text !== 'string') return problem(`${path}.text`, 'Field required');
      return null;
    case 'image': {
      const s = b.source;
      if (!isObject(s)) return problem(`${path}.source`, 'Field required');
      if (s.type === 'base64') {
        if (typeof s.media_type !== 'string' || typeof s.data !== 'string') return problem(`${path}.source`, 'base64 images need media_type and data');
      } else if (s.type === 'url') {
        if (typeof s.url !== 'string') return problem(`${path}.source.url`, 'Field required');
      } else return problem(`${path}.source.type`, "Input should be 'base64' or 'url'");
      return null;
    }
    case 'tool_use':
      if (role !== 'assistant') return problem(`${path}.type`, 'tool_use blocks are only allowed in assistant messages');
      if (typeof b.id !== 'string' || b.id === '') return problem(`${path}.id`, 'Field required');
      if (typeof b.name !== 'string' || b.name === '') return problem(`${path}.name`, 'Field required');
      if (!isObject(b.input)) return problem(`${path}.input`, 'Input should be a valid dictionary');
      return null;
    case 'tool_result': {
      if (role !== 'user') return problem(`${path}.type`, 'tool_result blocks are only allowed in user messages');
      if (typeof b.tool_use_id !== 'string' || b.tool_use_id === '') return problem(`${path}.tool_use_id`, 'Field required');
      const c = b.content;
      if (c !== undefined && typeof c !== 'string') {
        if (!Array.isArray(c)) return problem(`${path}.content`, 'Input should be a valid string or list');
        for (let i = 0; i < c.length; i++) {
          const p = blockProblem(c[i], `${path}.content.${i}`, 'user');
          if (p !== null) return p;
        }
      }
      if (b.is_error !== undefined && typeof b.is_error !== 'boolean') return problem(`${path}.is_error`, 'Input should be a valid boolean');
      return null;
    }
    default:
      return null; // carried as is (documents, thinking, ...); the provider's translator decides
  }
}

/** Null when `body` is a valid Messages request. */
export function validateMessagesRequest(body: unknown): ValidationProblem | null {
  if (!isObject(body)) return problem('', 'The request body must be a JSON object.');
  if (body.model === undefined) return problem('model', 'Field required');
  if (typeof body.model !== 'string' || body.model.length === 0) return problem('model', 'Input should be a non-empty string');
  if (body.max_tokens === undefined) return problem('max_tokens', 'Field required');
  let p = optionalNumber(body.max_tokens, 'max_tokens', 1, 10_000_000, true);
  if (p !== null) return p;
  const messages = body.messages;
  if (messages === undefined) return problem('messages', 'Field required');
  if (!Array.isArray(messages)) return problem('messages', 'Input should be a valid list');
  if (messages.length === 0) return problem('messages', 'at least one message is required');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m)) return problem(`messages.${i}`, 'Input should be a valid dictionary');
    if (m.role !== 'user' && m.role !== 'assistant') return problem(`messages.${i}.role`, "Input should be 'user' or 'assistant'");
    const c = m.content;
    if (typeof c === 'string') continue;
    if (!Array.isArray(c)) return problem(`messages.${i}.content`, c === undefined ? 'Field required' : 'Input should be a valid string or list');
    for (let j = 0; j < c.length; j++) {
      const bp = blockProblem(c[j], `messages.${i}.content.${j}`, m.role);
      if (bp !== null) return bp;
    }
  }
  const system = body.system;
  if (system !== undefined && system !== null && typeof system !== 'string') {
    if (!Array.isArray(system)) return problem('system', 'Input should be a valid string or list');
    for (let i = 0; i < system.length; i++) {
      const b = system[i];
      if (!isObject(b) || b.type !== 'text' || typeof b.text !== 'string') return problem(`system.${i}`, 'system blocks must be text blocks');
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') return problem('stream', 'Input should be a valid boolean');
  p = optionalNumber(body.temperature, 'temperature', 0, 1, false);
  if (p === null) p = optionalNumber(body.top_p, 'top_p', 0, 1, false);
  if (p === null) p = optionalNumber(body.top_k, 'top_k', 0, 1_000_000, true);
  if (p !== null) return p;
  const stop = body.stop_sequences;
  if (stop !== undefined && stop !== null) {
    if (!Array.isArray(stop)) return problem('stop_sequences', 'Input should be a valid list');
    for (let i = 0; i < stop.length; i++) if (typeof stop[i] !== 'string') return problem(`stop_sequences.${i}`, 'Input should be a valid string');
  }
  const tools = body.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) return problem('tools', 'Input should be a valid list');
    for (let i = 0; i < tools.length; i++) {
      const t = tools[i];
      if (!isObject(t)) return problem(`tools.${i}`, 'Input should be a valid dictionary');
      if (typeof t.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) return problem(`tools.${i}.name`, 'String should match pattern ^[a-zA-Z0-9_-]{1,128}$');
      // Server tools (web search, ...) have a `type` and no input_schema: no OpenAI-style provider can run them.
      if (!isObject(t.input_schema)) return problem(`tools.${i}.input_schema`, 'Field required');
    }
  }
  const tc = body.tool_choice;
  if (tc !== undefined && tc !== null) {
    if (!isObject(tc)) return problem('tool_choice', 'Input should be a valid dictionary');
    if (tc.type !== 'auto' && tc.type !== 'any' && tc.type !== 'tool' && tc.type !== 'none') return problem('tool_choice.type', "Input should be 'auto', 'any', 'tool' or 'none'");
    if (tc.type === 'tool' && typeof tc.name !== 'string') return problem('tool_choice.name', 'Field required');
  }
  if (body.metadata !== undefined && body.metadata !== null && !isObject(body.metadata)) return problem('metadata', 'Input should be a valid dictionary');
  if (body.thinking !== undefined && body.thinking !== null && !isObject(body.thinking)) return problem('thinking', 'Input should be a valid dictionary');
  return null;
}

type Part = Record<string, unknown>;

function textPart(b: Record<string, unknown>): Part {
  return b.cache_control != null ? { type: 'text', text: b.text, cache_control: b.cache_control } : { type: 'text', text: b.text };
}

function imagePart(b: Record<string, unknown>): Part {
  const s = b.source as Record<string, string>;
  const url = s.type === 'base64' ? `data:${s.media_type};base64,${s.data}` : s.url!;
  const part: Part = { type: 'image_url', image_url: { url } };
  if (b.cache_control != null) part.cache_control = b.cache_control;
  return part;
}

function userPart(b: Record<string, unknown>): Part {
  if (b.type === 'text') return textPart(b);
  if (b.type === 'image') return imagePart(b);
  return b; // carried as is
}

/** Parts that are one text without cache_control become a plain string (what most providers expect). */
function simplify(parts: Part[]): string | Part[] {
  if (parts.length === 1 && parts[0]!.type === 'text' && parts[0]!.cache_control === undefined) return parts[0]!.text as string;
  return parts;
}

/** The canonical request of a valid Messages request (validateMessagesRequest accepted it). */
export function decodeMessagesRequest(body: Record<string, unknown>): CanonicalRequest {
  const out: ChatMessage[] = [];
  const system = body.system;
  if (typeof system === 'string') {
    if (system !== '') out.push({ role: 'system', content: system });
  } else if (Array.isArray(system) && system.length > 0) {
    const parts: Part[] = [];
    for (const b of system as Array<Record<string, unknown>>) parts.push(textPart(b));
    out.push({ role: 'system', content: simplify(parts) });
  }
  const messages = body.messages as Array<{ role: 'user' | 'assistant'; content: string | Array<Record<string, unknown>> }>;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const c = m.content;
    if (typeof c === 'string') {
      out.push({ role: m.role, content: c });
      continue;
    }
    if (m.role === 'user') {
      const parts: Part[] = [];
      for (let j = 0; j < c.length; j++) {
        const b = c[j]!;
        if (b.type === 'tool_result') {
          const rc = b.content;
          let content: ChatMessage['content'] = '';
          if (typeof rc === 'string') content = rc;
          else if (Array.isArray(rc)) content = simplify((rc as Array<Record<string, unknown>>).map(userPart));
          const tm = { role: 'tool', tool_call_id: b.tool_use_id as string, content } as ChatMessage & Part;
          if (b.is_error === true) tm.is_error = true;
          if (b.cache_control != null) tm.cache_control = b.cache_control;
          out.push(tm);
        } else parts.push(userPart(b));
      }
      if (parts.length > 0) out.push({ role: 'user', content: simplify(parts) });
      continue;
    }
    // assistant
    const parts: Part[] = [];
    let calls: ChatToolCall[] | undefined;
    let reasoning: Part[] | undefined;
    for (let j = 0; j < c.length; j++) {
      const b = c[j]!;
      if (b.type === 'tool_use') {
        (calls ??= []).push({ id: b.id as string, type: 'function', function: { name: b.name as string, arguments: JSON.stringify(b.input) } });
      } else if (b.type === 'thinking' || b.type === 'redacted_thinking') (reasoning ??= []).push(b);
      else parts.push(userPart(b));
    }
    const am = { role: 'assistant', content: parts.length === 0 ? null : simplify(parts) } as ChatMessage & Part;
    if (calls !== undefined) am.tool_calls = calls;
    if (reasoning !== undefined) am.reasoning_blocks = reasoning;
    out.push(am);
  }
  const req: CanonicalRequest = { model: body.model as string, messages: out, max_tokens: body.max_tokens as number };
  if (body.stream === true) req.stream = true;
  if (typeof body.temperature === 'number') req.temperature = body.temperature;
  if (typeof body.top_p === 'number') req.top_p = body.top_p;
  if (typeof body.top_k === 'number') req.top_k = body.top_k;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) req.stop = body.stop_sequences as string[];
  if (isObject(body.thinking)) req.thinking = body.thinking;
  const tools = body.tools as Array<Record<string, unknown>> | undefined | null;
  if (Array.isArray(tools) && tools.length > 0) {
    req.tools = tools.map((t) => {
      const fn: ChatTool['function'] =
        typeof t.description === 'string'
          ? { name: t.name as string, description: t.description, parameters: t.input_schema as Record<string, unknown> }
          : { name: t.name as string, parameters: t.input_schema as Record<string, unknown> };
      const tool = { type: 'function', function: fn } as ChatTool & Part;
      if (t.cache_control != null) tool.cache_control = t.cache_control;
      return tool;
    });
  }
  const tc = body.tool_choice as Record<string, unknown> | undefined | null;
  if (isObject(tc)) {
    req.tool_choice = tc.type === 'any' ? 'required' : tc.type === 'tool' ? { type: 'function', function: { name: tc.name } } : tc.type;
    if (tc.disable_parallel_tool_use === true) req.parallel_tool_calls = false;
  }
  const md = body.metadata;
  if (isObject(md)) {
    if (typeof md.user_id === 'string') req.user = md.user_id;
    const attribution: Record<string, string> = {};
    if (typeof md.scenario_id === 'string') attribution.scenario_id = md.scenario_id;
    if (typeof md.owner === 'string') attribution.owner = md.owner;
    req.metadata = attribution;
  }
  return req;
}
