// Translator: OpenAI Chat Completions in → Anthropic Messages provider out. The request goes as an
// Anthropic body (wire.ts); answers and stream events come back as OpenAI chat completions and chunks,
// event by event, with usage (cached input tokens included) read as they pass.

import type { CanonicalRequest } from '../../schema/canonical.js';
import type { ResponseInfo, StreamTranslator, Translator } from '../translator.js';
import { SseDecoder } from '../sse.js';
import { decodedLength, endOfString, intAt } from '../json-scan.js';
import { JSON_TOOL, anthropicToOpenAI, anthropicUnsupported, buildAnthropicBody, finishOf, openAIUsage, readAnthropicUsage } from './wire.js';

type Obj = Record<string, unknown>;

const DELTA_HEAD = '{"type":"content_block_delta","index":';
const TEXT_DELTA = ',"delta":{"type":"text_delta","text":"';
const JSON_DELTA = ',"delta":{"type":"input_json_delta","partial_json":"';
const CHUNK_TAIL = ',"logprobs":null,"finish_reason":null}]}\n\n';

/** Anthropic events → OpenAI `chat.completion.chunk` SSE lines. */
export class AnthropicToOpenAIStream extends SseDecoder {
  private id = '';
  private created = 0;
  /** Per Anthropic content block: the OpenAI tool-call index (-1 text or other, -2 the JSON tool). */
  private blockTool: number[] = [];
  private tools = 0;
  private json = false;
  private head = '';

  constructor(
    private readonly alias: string,
    private readonly clientWantsUsage: boolean,
    private readonly info: ResponseInfo,
  ) {
    super();
  }

  private chunk(delta: string, finish: string | null): string {
    if (this.head === '') this.start('msg'); // a provider that skipped message_start
    return this.head + delta + ',"logprobs":null,"finish_reason":' + (finish === null ? 'null' : '"' + finish + '"') + '}]}\n\n';
  }

  /**
   * The hot path for a compact delta event (most of a stream): its JSON string goes into the chunk as
   * is (both sides are JSON, no decode and re-encode). Null for anything else: the caller parses it.
   */
  private fastDelta(p: string): string | null {
    if (this.head === '' || !p.startsWith(DELTA_HEAD)) return null;
    const index = intAt(p, DELTA_HEAD.length);
    if (index < 0) return null;
    let at = DELTA_HEAD.length + 1;
    while (p.charCodeAt(at) >= 48 && p.charCodeAt(at) <= 57) at++; // past the index's digits
    const text = p.startsWith(TEXT_DELTA, at);
    if (!text && !p.startsWith(JSON_DELTA, at)) return null;
    at += text ? TEXT_DELTA.length : JSON_DELTA.length;
    const end = endOfString(p, at);
    if (end < 0 || end !== p.length - 3 || !p.endsWith('"}}')) return null;
    if (end === at) return '';
    this.info.outputChars += decodedLength(p, at);
    const raw = p.slice(at - 1, end + 1); // with its quotes
    const t = this.blockTool[index] ?? -1;
    if (text || t === -2) return this.head + '{"content":' + raw + '}' + CHUNK_TAIL;
    if (t >= 0) return this.head + '{"tool_calls":[{"index":' + t + ',"function":{"arguments":' + raw + '}}]}' + CHUNK_TAIL;
    return '';
  }

  private start(id: string): void {
    this.id = id;
    this.created = Math.floor(Date.now() / 1000);
    this.head = 'data: {"id":' + JSON.stringify(id) + ',"object":"chat.completion.chunk","created":' + this.created + ',"model":' + JSON.stringify(this.alias) + ',"choices":[{"index":0,"delta":';
  }

  protected event(payload: string): string {
    const info = this.info;
    // Output checks (scenarios) need the decoded text: then every event is parsed.
    const fast = info.collect === null ? this.fastDelta(payload) : null;
    if (fast !== null) return fast;
    let e: Obj;
    try {
      e = JSON.parse(payload) as Obj;
    } catch {
      info.streamError = 'The provider sent a malformed stream event.';
      return '';
    }
    if (e === null || typeof e !== 'object') return '';
    switch (e.type) {
      case 'message_start': {
        const m = (e.message ?? {}) as Obj;
        this.start(typeof m.id === 'string' ? m.id : 'msg');
        readAnthropicUsage(m.usage as never, info);
        info.usageReported = false; // final only with message_delta
        return this.chunk('{"role":"assistant","content":""}', null);
      }
      case 'content_block_start': {
        const b = (e.content_block ?? {}) as Obj;
        const index = e.index as number;
        if (b.type === 'tool_use') {
          if (b.name === JSON_TOOL) {
            this.blockTool[index] = -2;
            this.json = true;
            return '';
          }
          const t = this.tools++;
          this.blockTool[index] = t;
          info.collect?.toolCall(t, b.name as string, '');
          return this.chunk('{"tool_calls":[{"index":' + t + ',"id":' + JSON.stringify(b.id) + ',"type":"function","function":{"name":' + JSON.stringify(b.name) + ',"arguments":""}}]}', null);
        }
        this.blockTool[index] = -1;
        if (b.type === 'text' && typeof b.text === 'string' && b.text !== '') {
          info.outputChars += b.text.length;
          if (info.collect !== null) info.collect.text += b.text;
          return this.chunk('{"content":' + JSON.stringify(b.text) + '}', null);
        }
        return '';
      }
      case 'content_block_delta': {
        const d = (e.delta ?? {}) as Obj;
        const t = this.blockTool[e.index as number] ?? -1;
        if (d.type === 'text_delta' && typeof d.text === 'string') {
          info.outputChars += d.text.length;
          if (info.collect !== null) info.collect.text += d.text;
          return this.chunk('{"content":' + JSON.stringify(d.text) + '}', null);
        }
        if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
          if (d.partial_json === '') return '';
          info.outputChars += d.partial_json.length;
          const col = info.collect;
          if (col !== null) {
            if (t === -2) col.text += d.partial_json;
            else if (t >= 0) col.toolCall(t, undefined, d.partial_json);
          }
          if (t === -2) return this.chunk('{"content":' + JSON.stringify(d.partial_json) + '}', null);
          if (t >= 0) return this.chunk('{"tool_calls":[{"index":' + t + ',"function":{"arguments":' + JSON.stringify(d.partial_json) + '}}]}', null);
        }
        return ''; // thinking and signature deltas have no OpenAI field
      }
      case 'message_delta': {
        const d = (e.delta ?? {}) as Obj;
        readAnthropicUsage(e.usage as never, info);
        info.usageReported = true;
        const finish = finishOf(d.stop_reason as string | null, this.json);
        info.finishReason = finish;
        return this.chunk('{}', finish);
      }
      case 'message_stop': {
        info.sawDone = true;
        let out = '';
        if (this.clientWantsUsage) {
          out = 'data: {"id":' + JSON.stringify(this.id) + ',"object":"chat.completion.chunk","created":' + this.created + ',"model":' + JSON.stringify(this.alias) + ',"choices":[],"usage":' + JSON.stringify(openAIUsage(info)) + '}\n\n';
        }
        return out + 'data: [DONE]\n\n';
      }
      case 'error': {
        const err = e.error as Obj | undefined;
        info.streamError = typeof err?.message === 'string' ? err.message : 'The provider reported an error mid-stream.';
        return '';
      }
      default:
        return ''; // ping, content_block_stop
    }
  }
}

export class AnthropicChatTranslator implements Translator {
  readonly path = '/messages';

  buildBody(req: CanonicalRequest, providerModel: string, _rawMessages: string | null = null, defaultMaxTokens = 0): string {
    return buildAnthropicBody(req, providerModel, null, defaultMaxTokens);
  }

  unsupported(req: CanonicalRequest): string | null {
    return anthropicUnsupported(req);
  }

  translateResponse(upstream: Buffer, alias: string, info: ResponseInfo): string {
    return anthropicToOpenAI(upstream, alias, info);
  }

  createStream(alias: string, clientWantsUsage: boolean, info: ResponseInfo): StreamTranslator {
    return new AnthropicToOpenAIStream(alias, clientWantsUsage, info);
  }
}
