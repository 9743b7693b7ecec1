// A cached chat completion replayed to a streaming client as Server-Sent Events, in OpenAI's chunk
// shape: per choice a role chunk, one content chunk, one tool-call chunk, a finish chunk; then the usage
// chunk when the client asked for usage (`stream_options.include_usage`), then `[DONE]`. Runs only on a
// cache hit for a route that allows replaying streams. Imports only types.
import type { ChatCompletion } from '../schema/openai.js';

/** The SSE text for `body` (a chat completion JSON), or null when the body is not one. */
export function completionAsSse(body: Buffer, includeUsage: boolean): string | null {
  let c: ChatCompletion;
  try {
    c = JSON.parse(body.toString('utf8')) as ChatCompletion;
  } catch {
    return null;
  }
  if (c === null || typeof c !== 'object' || !Array.isArray(c.choices)) return null;
  const head = '{"id":' + JSON.stringify(c.id ?? '') + ',"object":"chat.completion.chunk","created":' + (Number(c.created) || 0) + ',"model":' + JSON.stringify(c.model ?? '') +
    (c.system_fingerprint != null ? ',"system_fingerprint":' + JSON.stringify(c.system_fingerprint) : '') + ',"choices":[';
  const tail = includeUsage ? '],"usage":null}' : ']}';
  let out = '';
  for (const ch of c.choices) {
    const index = Number(ch.index) || 0;
    const m = ch.message ?? { role: 'assistant', content: null };
    out += 'data: ' + head + '{"index":' + index + ',"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}' + tail + '\n\n';
    if (typeof m.content === 'string' && m.content !== '') {
      out += 'data: ' + head + '{"index":' + index + ',"delta":{"content":' + JSON.stringify(m.content) + '},"logprobs":null,"finish_reason":null}' + tail + '\n\n';
    }
    if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      const calls = m.tool_calls.map((t, i) => ({ index: i, id: t.id, type: t.type, function: t.function }));
      out += 'data: ' + head + '{"index":' + index + ',"delta":{"tool_calls":' + JSON.stringify(calls) + '},"logprobs":null,"finish_reason":null}' + tail + '\n\n';
    }
    out += 'data: ' + head + '{"index":' + index + ',"delta":{},"logprobs":null,"finish_reason":' + JSON.stringify(ch.finish_reason ?? 'stop') + '}' + tail + '\n\n';
  }
  if (includeUsage && c.usage != null) out += 'data: ' + head + '],"usage":' + JSON.stringify(c.usage) + '}\n\n';
  return out + 'data: [DONE]\n\n';
}
