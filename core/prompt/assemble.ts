// Cache-preserving prompt assembly: the upstream `messages` and `tools` of one request, stable parts
// first. Order: the route template's system message and few-shot messages, then the client's messages
// as sent; tools: the template's (by name), then the client's (by name). Everything is canonical JSON
// (canonical.ts), so the same template version and the same user content give the same bytes whatever
// the tenant, owner, scenario, request id, time or route: route metadata never enters these strings.
//
// The prefix hash (for prefix affinity in self-hosted pools) is computed here in the same pass, from
// the template's precomputed hash state: it covers the tools and the messages up to and including the
// first user message — a conversation key. Every turn of one conversation (and every step of one agent
// loop) repeats those bytes, so they all prefer the same replica, whose prefix cache holds the
// conversation so far; a system prompt shared by many conversations is cached on every replica after
// one miss each. Cost: one pass over the system prompt, the tools and the first user message.
import type { ChatCompletionRequest } from '../schema/openai.js';
import { canonicalMessage, canonicalToolItems } from './canonical.js';
import { FNV_OFFSET, fnvBoundary, fnvFeed } from './prefix.js';
import type { PromptTemplate } from './templates.js';

/** One request's assembled prompt; one per request, reused across its attempts (fields set in the constructor). */
export class PromptAssembly {
  /** The template it was assembled for (a fallback to a route with another template reassembles). */
  template: PromptTemplate | null = null;
  assembled = false;
  /** `[...]`: the upstream messages. */
  messagesJson = '';
  /** `[...]`: the upstream tools, or null when there are none. */
  toolsJson: string | null = null;
  /** Conversation-prefix hash; 0 when the request has no prefix to share (one message, no template, no tools). */
  prefixHash = 0;
  /** A request problem (a client tool that the template defines too); '' when none. */
  error = '';
}

// Client tool lists repeat from request to request: their canonical text, by the list's JSON text.
// Bounded by entries and characters; cleared when full (a per-thread memo, not a cache with a policy).
const TOOLS_MEMO = new Map<string, string>();
const TOOLS_MEMO_MAX = 512;
const TOOLS_MEMO_MAX_CHARS = 8 << 20;
let toolsMemoChars = 0;

/** Canonical tool items (no brackets) of a client's tool list. */
function clientToolItems(tools: NonNullable<ChatCompletionRequest['tools']>): string {
  const key = JSON.stringify(tools);
  let s = TOOLS_MEMO.get(key);
  if (s === undefined) {
    s = canonicalToolItems(tools);
    if (TOOLS_MEMO.size >= TOOLS_MEMO_MAX || toolsMemoChars + 2 * key.length > TOOLS_MEMO_MAX_CHARS) {
      TOOLS_MEMO.clear();
      toolsMemoChars = 0;
    }
    if (2 * key.length <= TOOLS_MEMO_MAX_CHARS) {
      TOOLS_MEMO.set(key, s);
      toolsMemoChars += key.length + s.length;
    }
  }
  return s;
}

/** Assemble `body` under `template` into `out`. False (with out.error set) when the request conflicts with the template. */
export function assemblePrompt(body: ChatCompletionRequest, template: PromptTemplate | null, out: PromptAssembly): boolean {
  out.template = template;
  out.assembled = true;
  out.error = '';
  const clientTools = body.tools != null && body.tools.length > 0 ? body.tools : null;
  if (template !== null && clientTools !== null && template.toolNames.size > 0) {
    for (let i = 0; i < clientTools.length; i++) {
      const name = clientTools[i]!.function.name;
      if (template.toolNames.has(name)) {
        out.error = `Tool '${name.slice(0, 100)}' is defined by the route's prompt template ${template.label}; do not send it again.`;
        return false;
      }
    }
  }
  let h = template === null ? FNV_OFFSET : template.hashState;
  let any = template !== null && (template.messageCount > 0 || template.toolsJson !== '');
  // Tools.
  const clientItems = clientTools === null ? '' : clientToolItems(clientTools);
  const templateItems = template === null ? '' : template.toolsJson;
  if (clientItems !== '') {
    h = fnvFeed(h, clientItems);
    any = true;
  }
  out.toolsJson = templateItems === '' && clientItems === '' ? null : '[' + templateItems + (templateItems !== '' && clientItems !== '' ? ',' : '') + clientItems + ']';
  // Messages: the template's, then the client's; the hash runs to the first user message.
  const messages = body.messages;
  let firstUser = -1;
  for (let i = 0; i < messages.length; i++) {
    if (messages[i]!.role === 'user') {
      firstUser = i;
      break;
    }
  }
  const hashEnd = firstUser >= 0 ? firstUser : messages.length - 2;
  let s = '[' + (template === null ? '' : template.messagesJson);
  let first = template === null || template.messageCount === 0;
  for (let i = 0; i < messages.length; i++) {
    const text = canonicalMessage(messages[i]!);
    if (i <= hashEnd) {
      h = fnvBoundary(fnvFeed(h, text));
      any = true;
    }
    s += (first ? '' : ',') + text;
    first = false;
  }
  out.messagesJson = s + ']';
  out.prefixHash = any ? h >>> 0 || 1 : 0;
  return true;
}
