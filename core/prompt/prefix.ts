// The stable prefix of a chat request — every message but the last (system prompt, tools, earlier turns)
// — hashed, for prefix affinity in self-hosted pools (requests sharing a prefix land on the replica whose
// cache holds it) and for prefix-cache metrics. Cheap: one FNV-1a pass over the prefix text, no copies.
import type { ChatCompletionRequest } from '../schema/openai.js';

export const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a over the UTF-16 code units of `s`, continuing from state `h`. */
export function fnvFeed(h: number, s: string): number {
  return feed(h, s);
}

/** Mark a boundary (between messages) in the hash state. */
export function fnvBoundary(h: number): number {
  return Math.imul(h ^ 0xff, 0x01000193);
}

function feed(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** 32-bit hash of the request's stable prefix; 0 when there is none (a single message, no tools). */
export function stablePrefixHash(req: ChatCompletionRequest): number {
  const messages = req.messages;
  let h = 0x811c9dc5;
  let any = false;
  if (req.tools != null && req.tools.length > 0) {
    h = feed(h, JSON.stringify(req.tools));
    any = true;
  }
  for (let i = 0; i < messages.length - 1; i++) {
    const m = messages[i]!;
    h = feed(h, m.role);
    const c = m.content;
    h = feed(h, typeof c === 'string' ? c : c == null ? '' : JSON.stringify(c));
    h = Math.imul(h ^ 0xff, 0x01000193); // message boundary
    any = true;
  }
  return any ? h >>> 0 || 1 : 0;
}
