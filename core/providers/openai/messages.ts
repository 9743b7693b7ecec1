// Translator: Anthropic Messages in → OpenAI-compatible provider out. The canonical request goes as an
// OpenAI chat body (Anthropic-only extensions such as cache_control are left out: OpenAI-style providers
// cache prefixes on their own); answers and chunks come back as Anthropic messages and Anthropic's event
// sequence (message_start, content_block_start/delta/stop per block, message_delta, message_stop).

import type { CanonicalRequest } from '../../schema/canonical.js';
import type { ChatCompletion } from '../../schema/openai.js';
import type { ResponseInfo, StreamTranslator, Translator } from '../translator.js';
import { SseDecoder } from '../sse.js';
import { decodedLength, endOfString } from '../json-scan.js';
import { stopOf } from '../anthropic/wire.js';
import { OpenAIChatTranslator } from './chat.js';

type Obj = Record<string, unknown>;

/** Keys of the canonical request that only Anthropic providers understand. */
function stripExtensions(k: string, v: unknown): unknown {
  return k === 'cache_control' || k === 'is_error' || k === 'reasoning_blocks' ? undefined : v;
}

function readOpenAIUsage(u: Obj | null | undefined, info: ResponseInfo): void {
  if (u == null || typeof u !== 'object') return;
  info.usageReported = true;
  info.inputTokens = (u.prompt_tokens as number) | 0;
  info.outputTokens = (u.completion_tokens as number) | 0;
  const d = u.prompt_tokens_details as Obj | null | undefined;
  info.cachedInputTokens = d != null && typeof d.cached_tokens === 'number' ? d.cached_tokens : 0;
}

/** Anthropic usage from the gateway's counts (input_tokens excludes cache reads, as Anthropic counts them). */
function anthropicUsage(info: ResponseInfo): Obj {
  return {
    input_tokens: info.inputTokens - info.cachedInputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: info.cachedInputTokens,
    output_tokens: info.outputTokens,
  };
}

function messageId(id: unknown): string {
  return typeof id === 'string' && id !== '' ? (id.startsWith('msg_') ? id : 'msg_' + id) : 'msg_switchyard';
}

function toolInput(args: string): unknown {
  try {
    const v = JSON.parse(args || '{}');
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

/** An OpenAI chat completion → an Anthropic message (the response's `model` is the alias). */
export function openAIToAnthropic(upstream: Buffer, alias: string, info: ResponseInfo): string {
  const body = JSON.parse(upstream.toString('utf8')) as ChatCompletion;
  if (body === null || typeof body !== 'object' || !Array.isArray(body.choices) || body.choices.length === 0) throw new Error('not a chat completion');
  readOpenAIUsage(body.usage as unknown as Obj, info);
  const c = body.choices[0]!;
  const content: Obj[] = [];
  const text = c.message?.content;
  const col = info.collect;
  if (typeof text === 'string' && text !== '') {
    content.push({ type: 'text', text });
    info.outputChars += text.length;
    if (col !== null) col.text += text;
  }
  const calls = c.message?.tool_calls;
  if (calls != null) {
    for (let j = 0; j < calls.length; j++) {
      const tc = calls[j]!;
      content.push({ type: 'tool_use', id: tc.id, name: tc.function.name, input: toolInput(tc.function.arguments) });
      col?.toolCall(j, tc.function.name, tc.function.arguments);
    }
  }
  info.finishReason = c.finish_reason;
  return JSON.stringify({
    id: messageId(body.id),
    type: 'message',
    role: 'assistant',
    model: alias,
    content,
    stop_reason: stopOf(c.finish_reason),
    stop_sequence: null,
    usage: anthropicUsage(info),
  });
}

function ev(type: string, data: string): string {
  return 'event: ' + type + '\ndata: ' + data + '\n\n';
}

const TEXT_START = ',"content_block":{"type":"text","text":""}}';
const CONTENT_AT = '"choices":[{"index":0,"delta":{"content":"';
const CONTENT_END = '"},"logprobs":null,"finish_reason":null}]';

/** OpenAI `chat.completion.chunk` lines → Anthropic's event sequence. */
export class OpenAIToAnthropicStream extends SseDecoder {
  private started = false;
  /** The open content block's index (-1: none). */
  private open = -1;
  private openIsText = false;
  private next = 0;
  /** OpenAI tool-call index → Anthropic block index. */
  private toolBlock: number[] = [];
  private finishReason: string | null = null;

  constructor(
    private readonly alias: string,
    private readonly info: ResponseInfo,
  ) {
    super();
  }

  private close(): string {
    if (this.open < 0) return '';
    const out = ev('content_block_stop', '{"type":"content_block_stop","index":' + this.open + '}');
    this.open = -1;
    return out;
  }

  /**
   * The hot path for a compact text chunk inside an open text block (most of a stream): its JSON string
   * goes into the delta event as is. Null for anything else: the caller parses it.
   */
  private fastText(p: string): string | null {
    if (this.open < 0 || !this.openIsText) return null;
    const c = p.indexOf(CONTENT_AT);
    if (c < 0) return null;
    const at = c + CONTENT_AT.length;
    const end = endOfString(p, at);
    if (end < 0 || !p.startsWith(CONTENT_END, end) || p.indexOf('"usage":{', end) >= 0 || p.charCodeAt(p.length - 1) !== 125) return null;
    if (end === at) return '';
    this.info.outputChars += decodedLength(p, at);
    return 'event: content_block_delta\ndata: {"type":"content_block_delta","index":' + this.open + ',"delta":{"type":"text_delta","text":' + p.slice(at - 1, end + 1) + '}}\n\n';
  }

  protected event(payload: string): string {
    const info = this.info;
    const fast = info.collect === null ? this.fastText(payload) : null;
    if (fast !== null) return fast;
    if (payload === '[DONE]') {
      info.sawDone = true;
      if (!this.started) return '';
      return (
        this.close() +
        ev('message_delta', '{"type":"message_delta","delta":{"stop_reason":"' + stopOf(this.finishReason) + '","stop_sequence":null},"usage":' + JSON.stringify(anthropicUsage(info)) + '}') +
        ev('message_stop', '{"type":"message_stop"}')
      );
    }
    let chunk: Obj;
    try {
      chunk = JSON.parse(payload) as Obj;
    } catch {
      info.streamError = 'The provider sent a malformed stream event.';
      return '';
    }
    if (chunk === null || typeof chunk !== 'object') return '';
    if (chunk.error != null) {
      const m = (chunk.error as Obj).message;
      info.streamError = typeof m === 'string' ? m : 'The provider reported an error mid-stream.';
      return '';
    }
    let out = '';
    if (!this.started) {
      this.started = true;
      const msg = { id: messageId(chunk.id), type: 'message', role: 'assistant', model: this.alias, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } };
      out += ev('message_start', '{"type":"message_start","message":' + JSON.stringify(msg) + '}');
    }
    if (chunk.usage != null) readOpenAIUsage(chunk.usage as Obj, info);
    const choices = chunk.choices as Array<Obj> | undefined;
    if (Array.isArray(choices) && choices.length > 0) {
      const c = choices[0]!;
      if (c.finish_reason != null) {
        this.finishReason = c.finish_reason as string;
        info.finishReason = this.finishReason;
      }
      const d = c.delta as Obj | undefined;
      if (d != null) {
        const text = d.content;
        if (typeof text === 'string' && text !== '') {
          if (this.open < 0 || !this.openIsText) {
            out += this.close();
            this.open = this.next++;
            this.openIsText = true;
            out += ev('content_block_start', '{"type":"content_block_start","index":' + this.open + TEXT_START);
          }
          info.outputChars += text.length;
          if (info.collect !== null) info.collect.text += text;
          out += ev('content_block_delta', '{"type":"content_block_delta","index":' + this.open + ',"delta":{"type":"text_delta","text":' + JSON.stringify(text) + '}}');
        }
        const tcs = d.tool_calls as Array<Obj> | undefined;
        if (Array.isArray(tcs)) {
          for (const tc of tcs) {
            const ti = typeof tc.index === 'number' ? tc.index : 0;
            const fn = (tc.function ?? {}) as Obj;
            let block = this.toolBlock[ti];
            if (block === undefined) {
              out += this.close();
              block = this.next++;
              this.toolBlock[ti] = block;
              this.open = block;
              this.openIsText = false;
              out += ev('content_block_start', '{"type":"content_block_start","index":' + block + ',"content_block":{"type":"tool_use","id":' + JSON.stringify(tc.id ?? 'toolu_' + block) + ',"name":' + JSON.stringify(fn.name ?? '') + ',"input":{}}}');
            }
            const args = fn.arguments;
            info.collect?.toolCall(ti, fn.name as string | undefined, typeof args === 'string' ? args : undefined);
            if (typeof args === 'string' && args !== '') {
              info.outputChars += args.length;
              out += ev('content_block_delta', '{"type":"content_block_delta","index":' + block + ',"delta":{"type":"input_json_delta","partial_json":' + JSON.stringify(args) + '}}');
            }
          }
        }
      }
    }
    return out;
  }
}

const openAIChat = new OpenAIChatTranslator();

export class OpenAIMessagesTranslator implements Translator {
  readonly path = '/chat/completions';

  buildBody(req: CanonicalRequest, providerModel: string): string {
    const messages = JSON.stringify(req.messages, stripExtensions);
    const r = req.tools != null ? { ...req, tools: JSON.parse(JSON.stringify(req.tools, stripExtensions)) } : req;
    return openAIChat.buildBody(r, providerModel, messages);
  }

  unsupported(req: CanonicalRequest): string | null {
    const own = openAIChat.unsupported(req);
    if (own !== null) return own;
    if (Array.isArray(req.stop) && req.stop.length > 4) return 'more than 4 stop sequences';
    const messages = req.messages;
    for (let i = 0; i < messages.length; i++) {
      const c = messages[i]!.content;
      if (!Array.isArray(c)) continue;
      for (let j = 0; j < c.length; j++) {
        const t = c[j]!.type;
        if (t !== 'text' && t !== 'image_url') return `content blocks of type '${String(t)}'`;
        if (t === 'image_url' && messages[i]!.role === 'tool') return 'images inside tool results';
      }
    }
    return null;
  }

  translateResponse(upstream: Buffer, alias: string, info: ResponseInfo): string {
    return openAIToAnthropic(upstream, alias, info);
  }

  createStream(alias: string, _clientWantsUsage: boolean, info: ResponseInfo): StreamTranslator {
    return new OpenAIToAnthropicStream(alias, info);
  }
}
