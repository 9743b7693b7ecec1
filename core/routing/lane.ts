// Lane classification. A route's lane is fixed, or `auto`: then these rules decide, in order, from the
// request alone (no I/O, no allocation):
//   1. tools offered, or tool calls / tool results in the conversation  → agentic
//   2. prompt over LARGE_PROMPT_CHARS characters, or max output over LARGE_OUTPUT_TOKENS → direct_large
//   3. otherwise                                                         → direct_small
import type { Lane } from './types.js';
import type { ChatCompletionRequest } from '../schema/openai.js';

export type ConcreteLane = Exclude<Lane, 'auto'>;

export const LARGE_PROMPT_CHARS = 32_000; // ≈ 8k tokens
export const LARGE_OUTPUT_TOKENS = 2_048;

export function classifyLane(routeLane: Lane, req: ChatCompletionRequest): ConcreteLane {
  if (routeLane !== 'auto') return routeLane;
  if (req.tools != null && req.tools.length > 0) return 'agentic';
  const messages = req.messages;
  let chars = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'tool' || m.role === 'function' || (m.tool_calls != null && m.tool_calls.length > 0)) return 'agentic';
    const c = m.content;
    if (typeof c === 'string') chars += c.length;
    else if (c != null) {
      for (let j = 0; j < c.length; j++) {
        const t = (c[j] as { text?: unknown }).text;
        if (typeof t === 'string') chars += t.length;
      }
    }
  }
  const maxOut = req.max_completion_tokens ?? req.max_tokens ?? 0;
  if (chars > LARGE_PROMPT_CHARS || maxOut > LARGE_OUTPUT_TOKENS) return 'direct_large';
  return 'direct_small';
}
