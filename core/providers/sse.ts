// Server-sent events, line by line: the part every stream translator shares. Upstream bytes arrive in
// arbitrary pieces; complete `data:` lines are handed to `event(payload)`, whose return value (client
// bytes) is collected. `event:` lines, comments and blank lines carry nothing the translators need (every
// Anthropic event repeats its name as the payload's `type`).

import { StringDecoder } from 'node:string_decoder';
import type { StreamTranslator } from './translator.js';

export abstract class SseDecoder implements StreamTranslator {
  private readonly decoder = new StringDecoder('utf8');
  private carry = '';

  /** One `data:` payload in; client bytes out ('' for nothing). */
  protected abstract event(payload: string): string;
  /** Called once after the last event when the upstream ended; client bytes to add. */
  protected end(): string {
    return '';
  }

  push(chunk: Buffer): string {
    const text = this.carry + this.decoder.write(chunk);
    const lastNl = text.lastIndexOf('\n');
    if (lastNl < 0) {
      this.carry = text;
      return '';
    }
    this.carry = text.slice(lastNl + 1);
    return this.lines(text, lastNl);
  }

  finish(): string {
    const rest = this.carry + this.decoder.end();
    this.carry = '';
    const out = rest.length > 0 ? this.lines(rest + '\n', rest.length) : '';
    return out + this.end();
  }

  private lines(text: string, end: number): string {
    let out = '';
    let start = 0;
    while (start < end) {
      let nl = text.indexOf('\n', start);
      if (nl < 0 || nl > end) nl = end;
      let lineEnd = nl;
      if (lineEnd > start && text.charCodeAt(lineEnd - 1) === 13) lineEnd--; // CRLF
      if (lineEnd - start > 5 && text.startsWith('data:', start)) {
        const payloadStart = text.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
        out += this.event(text.slice(payloadStart, lineEnd));
      }
      start = nl + 1;
    }
    return out;
  }
}
