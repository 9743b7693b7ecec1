// The Anthropic Messages API as a provider speaks it: the canonical request → an Anthropic body, what a
// provider cannot express, usage, stop reasons, and an Anthropic answer → OpenAI's chat completion.
// Bodies are assembled in a fixed key order from known fields only, so equal requests give equal bytes
// (provider prefix caches keep hitting) and gateway metadata never reaches the provider.

import type { CanonicalRequest } from '../../schema/canonical.js';
import type { AnthropicUsage, MessagesResponse } from '../../schema/anthropic.js';
import type { ChatMessage, ChatToolCall } from '../../schema/openai.js';
import type { ResponseInfo } from '../translator.js';
import { endOfString, intAt } from '../json-scan.js';

/** Anthropic requires max_tokens; an OpenAI request that names none gets the route's output budget, else this. */
export const DEFAULT_MAX_TOKENS = 4096;
/**
 * `response_format` json_schema / json_object on an Anthropic provider: a forced tool whose input schema
 * is the requested schema; its input comes back to the client as the message's JSON text.
 */
export const JSON_TOOL = 'switchyard_json_response';
export const ANTHROPIC_VERSION = '2023-06-01';

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why an Anthropic provider cannot take `req`, or null. */
export function anthropicUnsupported(req: CanonicalRequest): string | null {
  if (req.embedding !== undefined) return 'embeddings (the Anthropic API has no embeddings endpoint)';
  if (req.n != null && req.n > 1) return '`n` above 1';
  if (req.logprobs === true || req.top_logprobs != null) return '`logprobs`';
  if (req.logit_bias != null && Object.keys(req.logit_bias).length > 0) return '`logit_bias`';
  if ((req.presence_penalty ?? 0) !== 0 || (req.frequency_penalty ?? 0) !== 0) return '`presence_penalty` / `frequency_penalty`';
  if (req.temperature != null && req.temperature > 1) return '`temperature` above 1';
  const rf = req.response_format as Obj | null | undefined;
  if (isObject(rf) && rf.type !== 'text') {
    if (rf.type !== 'json_schema' && rf.type !== 'json_object') return `response_format '${String(rf.type)}'`;
    if (req.tools != null && req.tools.length > 0) return '`response_format` together with `tools`';
    if (rf.type === 'json_schema' && !isObject((rf.json_schema as Obj | undefined)?.schema)) return '`response_format.json_schema` without a schema';
  }
  const messages = req.messages;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'function') return "messages with role 'function'";
    const c = m.content;
    if (Array.isArray(c)) {
      for (let j = 0; j < c.length; j++) {
        const t = c[j]!.type;
        if (t === 'input_audio' || t === 'file' || t === 'audio') return `content parts of type '${String(t)}'`;
      }
    }
  }
  return null;
}

const DATA_URL_RE = /^data:([^;,]+);base64,/;

function blockOf(part: Obj): Obj {
  const t = part.type;
  let b: Obj;
  if (t === 'text') b = { type: 'text', text: part.text };
  else if (t === 'refusal') b = { type: 'text', text: part.refusal };
  else if (t === 'image_url') {
    const url = String((part.image_url as Obj | undefined)?.url ?? '');
    const m = DATA_URL_RE.exec(url);
    b = m !== null ? { type: 'image', source: { type: 'base64', media_type: m[1], data: url.slice(m[0].length) } } : { type: 'image', source: { type: 'url', url } };
  } else return part; // an Anthropic block carried through the canonical request (documents, ...)
  if (part.cache_control != null) b.cache_control = part.cache_control;
  return b;
}

function blocksOf(content: ChatMessage['content']): Obj[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (content == null) return [];
  const out: Obj[] = [];
  for (let i = 0; i < content.length; i++) out.push(blockOf(content[i] as Obj));
  return out;
}

function toolInput(tc: ChatToolCall): unknown {
  try {
    const v = JSON.parse(tc.function.arguments || '{}');
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
}

const RAW_MESSAGES = '"messages":"\\u0000raw"'; // how JSON.stringify writes the placeholder below

/**
 * The Anthropic Messages body for `req` (anthropicUnsupported(req) was null). `rawMessages`, when given,
 * is the client's own JSON text of an Anthropic request's `messages`, forwarded as is (no re-serialization
 * of a long conversation; the provider's prefix cache sees the client's bytes).
 */
export function buildAnthropicBody(req: CanonicalRequest, providerModel: string, rawMessages: string | null = null, defaultMaxTokens = DEFAULT_MAX_TOKENS): string {
  const system: Obj[] = [];
  let systemCached = false;
  const out: Array<{ role: 'user' | 'assistant'; content: string | Obj[] }> = [];
  const messages = req.messages;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]! as ChatMessage & Obj;
    const role = m.role;
    if (role === 'system' || role === 'developer') {
      const bs = blocksOf(m.content);
      for (const b of bs) if (b.cache_control != null) systemCached = true;
      for (const b of bs) system.push(b);
      continue;
    }
    if (rawMessages !== null) continue;
    if (role === 'assistant') {
      const content: Obj[] = [];
      const reasoning = m.reasoning_blocks;
      if (Array.isArray(reasoning)) for (const b of reasoning) content.push(b as Obj);
      for (const b of blocksOf(m.content)) content.push(b);
      const calls = m.tool_calls;
      if (calls != null) for (const tc of calls) content.push({ type: 'tool_use', id: tc.id, name: tc.function.name, input: toolInput(tc) });
      if (content.length === 0) continue;
      // A lone text block without cache_control goes as a string (as Anthropic clients write it).
      out.push({ role: 'assistant', content: content.length === 1 && content[0]!.type === 'text' && content[0]!.cache_control === undefined ? (content[0]!.text as string) : content });
      continue;
    }
    let blocks: Obj[];
    if (role === 'tool') {
      const r: Obj = { type: 'tool_result', tool_use_id: m.tool_call_id };
      const c = m.content;
      if (typeof c === 'string') r.content = c;
      else if (c != null) r.content = blocksOf(c);
      if (m.is_error === true) r.is_error = true;
      if (m.cache_control != null) r.cache_control = m.cache_control;
      blocks = [r];
    } else {
      if (typeof m.content === 'string' && (out.length === 0 || out[out.length - 1]!.role !== 'user')) {
        out.push({ role: 'user', content: m.content });
        continue;
      }
      blocks = blocksOf(m.content);
    }
    // Tool results and the user turn after them are one user message (Anthropic alternates roles).
    const last = out.length > 0 ? out[out.length - 1]! : null;
    if (last !== null && last.role === 'user') {
      if (typeof last.content === 'string') last.content = [{ type: 'text', text: last.content }];
      for (const b of blocks) (last.content as Obj[]).push(b);
    } else out.push({ role: 'user', content: blocks });
  }

  const body: Obj = { model: providerModel, max_tokens: req.max_completion_tokens ?? req.max_tokens ?? (defaultMaxTokens > 0 ? defaultMaxTokens : DEFAULT_MAX_TOKENS) };
  if (system.length > 0) {
    // Plain system text stays a string; blocks when any carries cache_control.
    body.system = systemCached ? system : system.map((b) => b.text as string).join('\n\n');
  }
  body.messages = out;
  const rf = req.response_format as Obj | null | undefined;
  if (isObject(rf) && (rf.type === 'json_schema' || rf.type === 'json_object')) {
    const js = rf.json_schema as Obj | undefined;
    const schema = rf.type === 'json_schema' ? (js!.schema as Obj) : { type: 'object' };
    const description = rf.type === 'json_schema' && typeof js!.description === 'string' ? js!.description : 'Give the answer as JSON input to this tool.';
    body.tools = [{ name: JSON_TOOL, description, input_schema: schema }];
    body.tool_choice = { type: 'tool', name: JSON_TOOL };
  } else if (req.tools != null && req.tools.length > 0) {
    body.tools = req.tools.map((t) => {
      const f = t.function;
      const tool: Obj = { name: f.name };
      if (f.description !== undefined) tool.description = f.description;
      tool.input_schema = f.parameters ?? { type: 'object', properties: {} };
      const cc = (t as unknown as Obj).cache_control;
      if (cc != null) tool.cache_control = cc;
      return tool;
    });
    const tc = req.tool_choice;
    let choice: Obj | null = null;
    if (tc === 'auto') choice = { type: 'auto' };
    else if (tc === 'none') choice = { type: 'none' };
    else if (tc === 'required') choice = { type: 'any' };
    else if (isObject(tc) && isObject(tc.function)) choice = { type: 'tool', name: tc.function.name };
    if (req.parallel_tool_calls === false && (choice === null || choice.type !== 'none')) (choice ??= { type: 'auto' }).disable_parallel_tool_use = true;
    if (choice !== null) body.tool_choice = choice;
  }
  const stop = req.stop;
  if (stop != null) {
    const seqs = typeof stop === 'string' ? [stop] : stop;
    if (seqs.length > 0) body.stop_sequences = seqs;
  }
  if (req.temperature != null) body.temperature = req.temperature;
  if (req.top_p != null) body.top_p = req.top_p;
  if (req.top_k != null) body.top_k = req.top_k;
  if (req.thinking != null) body.thinking = req.thinking;
  if (typeof req.user === 'string') body.metadata = { user_id: req.user };
  if (req.stream === true) body.stream = true;
  if (rawMessages === null) return JSON.stringify(body);
  body.messages = '\u0000raw';
  // An unescaped `"messages":"` can only be the key itself: string contents escape their quotes.
  const s = JSON.stringify(body);
  const at = s.indexOf(RAW_MESSAGES);
  return s.slice(0, at + 11) + rawMessages + s.slice(at + RAW_MESSAGES.length);
}

/** Anthropic usage → the gateway's (input tokens include cached ones, as OpenAI counts them). */
export function readAnthropicUsage(u: AnthropicUsage | null | undefined, info: ResponseInfo): void {
  if (u == null || typeof u !== 'object') return;
  const read = typeof u.cache_read_input_tokens === 'number' ? u.cache_read_input_tokens : 0;
  const created = typeof u.cache_creation_input_tokens === 'number' ? u.cache_creation_input_tokens : 0;
  if (typeof u.input_tokens === 'number') {
    info.inputTokens = u.input_tokens + read + created;
    info.cachedInputTokens = read;
  }
  if (typeof u.output_tokens === 'number') info.outputTokens = u.output_tokens;
  info.usageReported = true;
}

/** Anthropic stop_reason → OpenAI finish_reason. */
export function finishOf(stop: string | null | undefined, jsonMode: boolean): string {
  switch (stop) {
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return jsonMode ? 'stop' : 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** OpenAI finish_reason → Anthropic stop_reason. */
export function stopOf(finish: string | null | undefined): string {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** OpenAI-style usage from the gateway's counts. */
export function openAIUsage(info: ResponseInfo): Obj {
  return {
    prompt_tokens: info.inputTokens,
    completion_tokens: info.outputTokens,
    total_tokens: info.inputTokens + info.outputTokens,
    prompt_tokens_details: { cached_tokens: info.cachedInputTokens },
  };
}

/** The integer after `key` in `s` from `from`, or -1 (absent, null, not a number). */
function intAfter(s: string, key: string, from: number): number {
  const k = s.indexOf(key, from);
  return k < 0 ? -1 : intAt(s, k + key.length);
}

/**
 * Usage of a compact Anthropic body, read in place from `"usage":{` at `u`: false when the token counts
 * are missing. Cache fields may be absent or null (then 0).
 */
export function readAnthropicUsageAt(s: string, u: number, info: ResponseInfo): boolean {
  const input = intAfter(s, '"input_tokens":', u);
  const output = intAfter(s, '"output_tokens":', u);
  if (input < 0 || output < 0) return false;
  const read = intAfter(s, '"cache_read_input_tokens":', u);
  const created = intAfter(s, '"cache_creation_input_tokens":', u);
  info.inputTokens = input + (read > 0 ? read : 0) + (created > 0 ? created : 0);
  info.cachedInputTokens = read > 0 ? read : 0;
  info.outputTokens = output;
  info.usageReported = true;
  return true;
}

const ONE_TEXT = '"content":[{"type":"text","text":"';

/**
 * The hot path for a compact one-text-block Anthropic answer (what a chat without tools gets): the text's
 * JSON string goes into the completion as is, no parse. Null for anything else (tools, several blocks,
 * citations, odd shapes, output checks): the caller parses it whole.
 */
function anthropicToOpenAICompact(s: string, alias: string, info: ResponseInfo): string | null {
  if (info.collect !== null || !s.startsWith('{"id":"')) return null;
  const idEnd = endOfString(s, 7);
  const c = s.indexOf(ONE_TEXT, idEnd);
  if (idEnd < 0 || c < 0) return null;
  const at = c + ONE_TEXT.length;
  const end = endOfString(s, at);
  if (end < 0 || !s.startsWith('"}],', end)) return null;
  const sr = s.indexOf('"stop_reason":', end);
  const u = s.indexOf('"usage":{', end);
  if (sr < 0 || u < 0 || !readAnthropicUsageAt(s, u, info)) return null;
  let stop: string | null = null;
  if (s.charCodeAt(sr + 14) === 34) stop = s.slice(sr + 15, endOfString(s, sr + 15));
  const finish = finishOf(stop, false);
  info.finishReason = finish;
  info.outputChars += end - at;
  return (
    '{"id":' + s.slice(6, idEnd + 1) + ',"object":"chat.completion","created":' + Math.floor(Date.now() / 1000) + ',"model":' + JSON.stringify(alias) +
    ',"choices":[{"index":0,"message":{"role":"assistant","content":' + s.slice(at - 1, end + 1) + ',"refusal":null},"logprobs":null,"finish_reason":"' + finish +
    '"}],"usage":{"prompt_tokens":' + info.inputTokens + ',"completion_tokens":' + info.outputTokens + ',"total_tokens":' + (info.inputTokens + info.outputTokens) +
    ',"prompt_tokens_details":{"cached_tokens":' + info.cachedInputTokens + '}}}'
  );
}

/** An Anthropic message → an OpenAI chat completion (the response's `model` is the alias). */
export function anthropicToOpenAI(upstream: Buffer, alias: string, info: ResponseInfo): string {
  const text = upstream.toString('utf8');
  const fast = anthropicToOpenAICompact(text, alias, info);
  if (fast !== null) return fast;
  info.reset();
  const msg = JSON.parse(text) as MessagesResponse;
  if (!isObject(msg) || msg.type !== 'message' || !Array.isArray(msg.content)) throw new Error('not an Anthropic message');
  readAnthropicUsage(msg.usage, info);
  let out = '';
  let hasText = false;
  let json = false;
  let calls: ChatToolCall[] | null = null;
  for (const b of msg.content) {
    if (b.type === 'text') {
      out += b.text as string;
      hasText = true;
    } else if (b.type === 'tool_use') {
      if (b.name === JSON_TOOL) {
        out += JSON.stringify(b.input);
        hasText = true;
        json = true;
      } else (calls ??= []).push({ id: b.id as string, type: 'function', function: { name: b.name as string, arguments: JSON.stringify(b.input) } });
    }
  }
  info.outputChars += out.length;
  const col = info.collect;
  if (col !== null) {
    col.text += out;
    if (calls !== null) for (let j = 0; j < calls.length; j++) col.toolCall(j, calls[j]!.function.name, calls[j]!.function.arguments);
  }
  const finish = finishOf(msg.stop_reason, json);
  info.finishReason = finish;
  const message: Obj = { role: 'assistant', content: hasText ? out : null };
  if (calls !== null) message.tool_calls = calls;
  message.refusal = null;
  return JSON.stringify({
    id: msg.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: alias,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    usage: openAIUsage(info),
  });
}
