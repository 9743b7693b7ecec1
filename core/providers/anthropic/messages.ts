// Translator: Anthropic Messages in → Anthropic Messages provider out. The body is rebuilt from the
// canonical request (known fields only, cache_control kept where the client put it); answers and events
// pass through as the provider sent them, with `model` set to the alias and usage read on the way.

import type { CanonicalRequest } from '../../schema/canonical.js';
import type { MessagesResponse } from '../../schema/anthropic.js';
import type { ResponseInfo, StreamTranslator, Translator } from '../translator.js';
import { SseDecoder } from '../sse.js';
import { anthropicUnsupported, buildAnthropicBody, finishOf, readAnthropicUsage, readAnthropicUsageAt } from './wire.js';
import { endOfString } from '../json-scan.js';

type Obj = Record<string, unknown>;

const TEXT_DELTA = '{"type":"content_block_delta"';

/** Anthropic events → the same events, `message_start` carrying the alias. */
export class AnthropicPassStream extends SseDecoder {
  /** Output checks only: content block index → tool call position. */
  private toolOf: number[] = [];
  private tools = 0;

  constructor(
    private readonly alias: string,
    private readonly info: ResponseInfo,
  ) {
    super();
  }

  protected event(payload: string): string {
    const info = this.info;
    // Deltas are most of a stream: forwarded without a parse (characters counted for estimates), unless
    // output checks (scenarios) need the text.
    if (info.collect === null && payload.startsWith(TEXT_DELTA)) {
      info.outputChars += payload.length - 80;
      return 'event: content_block_delta\ndata: ' + payload + '\n\n';
    }
    let e: Obj;
    try {
      e = JSON.parse(payload) as Obj;
    } catch {
      info.streamError = 'The provider sent a malformed stream event.';
      return '';
    }
    if (e === null || typeof e !== 'object' || typeof e.type !== 'string') return '';
    const type = e.type;
    switch (type) {
      case 'message_start': {
        const m = e.message as Obj | undefined;
        if (m != null) {
          m.model = this.alias;
          readAnthropicUsage(m.usage as never, info);
          info.usageReported = false;
        }
        return 'event: message_start\ndata: ' + JSON.stringify(e) + '\n\n';
      }
      case 'content_block_start': {
        const col = info.collect;
        const b = e.content_block as Obj | undefined;
        if (col !== null && b != null && b.type === 'tool_use') {
          this.toolOf[e.index as number] = this.tools;
          col.toolCall(this.tools++, b.name as string, '');
        }
        break;
      }
      case 'content_block_delta': {
        const col = info.collect;
        const d = e.delta as Obj | undefined;
        if (col !== null && d != null) {
          if (d.type === 'text_delta' && typeof d.text === 'string') col.text += d.text;
          else if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') col.toolCall(this.toolOf[e.index as number] ?? 0, undefined, d.partial_json);
        }
        break;
      }
      case 'message_delta':
        readAnthropicUsage(e.usage as never, info);
        info.usageReported = true;
        info.finishReason = finishOf((e.delta as Obj | undefined)?.stop_reason as string | null, false);
        break;
      case 'message_stop':
        info.sawDone = true;
        break;
      case 'error': {
        const err = e.error as Obj | undefined;
        info.streamError = typeof err?.message === 'string' ? err.message : 'The provider reported an error mid-stream.';
        return ''; // the pipeline ends the stream with its own error event
      }
    }
    return 'event: ' + type + '\ndata: ' + payload + '\n\n';
  }
}

/**
 * The hot path for a compact Anthropic answer: the provider's bytes with the `model` value replaced by
 * the alias; usage and stop reason read in place (the bytes viewed as latin1, so indices are byte
 * offsets). Null when the body is not in that shape (then it is parsed whole).
 */
function passCompact(buf: Buffer, alias: string, info: ResponseInfo): Buffer | null {
  const n = buf.length;
  if (n < 2 || buf[0] !== 123 || buf[n - 1] !== 125) return null;
  const s = buf.toString('latin1');
  const m = s.indexOf('"model":"');
  const content = s.indexOf('"content":[');
  // The top-level model comes before the content (a tool's input may hold a "model" key of its own).
  if (m < 0 || content < 0 || m > content || s.indexOf('"type":"message"') < 0) return null;
  const valueStart = m + 9;
  const valueEnd = endOfString(s, valueStart);
  if (valueEnd < 0) return null;
  const u = s.lastIndexOf('"usage":{');
  if (u < content || !readAnthropicUsageAt(s, u, info)) return null;
  const sr = s.lastIndexOf('"stop_reason":', u);
  info.finishReason = finishOf(sr > content && s.charCodeAt(sr + 14) === 34 ? s.slice(sr + 15, endOfString(s, sr + 15)) : null, false);
  const aliasLen = Buffer.byteLength(alias);
  const out = Buffer.allocUnsafe(n - (valueEnd - valueStart) + aliasLen);
  buf.copy(out, 0, 0, valueStart);
  out.write(alias, valueStart, 'utf8');
  buf.copy(out, valueStart + aliasLen, valueEnd, n);
  return out;
}

export class AnthropicMessagesTranslator implements Translator {
  readonly path = '/messages';

  /** `rawMessages`: the client's JSON text of its `messages` (the same API on both sides: forwarded as is). */
  buildBody(req: CanonicalRequest, providerModel: string, rawMessages: string | null = null, defaultMaxTokens = 0): string {
    return buildAnthropicBody(req, providerModel, rawMessages, defaultMaxTokens);
  }

  unsupported(req: CanonicalRequest): string | null {
    return anthropicUnsupported(req);
  }

  translateResponse(upstream: Buffer, alias: string, info: ResponseInfo): Buffer | string {
    const fast = info.collect === null ? passCompact(upstream, alias, info) : null;
    if (fast !== null) return fast;
    info.reset();
    const msg = JSON.parse(upstream.toString('utf8')) as MessagesResponse;
    if (msg === null || typeof msg !== 'object' || msg.type !== 'message' || !Array.isArray(msg.content)) throw new Error('not an Anthropic message');
    readAnthropicUsage(msg.usage, info);
    info.finishReason = finishOf(msg.stop_reason, false);
    const col = info.collect;
    let tools = 0;
    for (const b of msg.content) {
      if (b.type === 'text') {
        info.outputChars += (b.text as string).length;
        if (col !== null) col.text += b.text as string;
      } else if (b.type === 'tool_use' && col !== null) col.toolCall(tools++, b.name as string, JSON.stringify(b.input));
    }
    msg.model = alias;
    return JSON.stringify(msg);
  }

  createStream(alias: string, _clientWantsUsage: boolean, info: ResponseInfo): StreamTranslator {
    return new AnthropicPassStream(alias, info);
  }
}
