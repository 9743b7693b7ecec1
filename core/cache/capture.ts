// A streamed answer, captured for the response cache: the SSE text the client received, folded back
// into one chat completion (content and tool calls per choice, finish reasons, usage when the stream
// carried it), so a later request — streamed or not — can be answered from it. Only on routes whose
// response cache replays streams; one per streamed miss. Imports only types.
import type { ChatCompletionChunk, ChatToolCall } from '../schema/openai.js';

interface Choice {
  content: string | null;
  toolCalls: ChatToolCall[] | null;
  finish: string | null;
}

export class StreamCapture {
  private carry = '';
  private id = '';
  private created = 0;
  private model = '';
  private fingerprint: string | null = null;
  private usage: unknown = null;
  private readonly choices: Choice[] = [];
  /** False once something could not be read: nothing is stored then. */
  ok = true;

  /** SSE text as written to the client (whole or partial events). */
  push(text: string): void {
    if (!this.ok) return;
    let s = this.carry + text;
    let end = s.indexOf('\n\n');
    while (end >= 0) {
      this.event(s.slice(0, end));
      s = s.slice(end + 2);
      end = s.indexOf('\n\n');
    }
    this.carry = s;
  }

  private event(e: string): void {
    if (!e.startsWith('data: ')) return;
    const payload = e.slice(6);
    if (payload === '[DONE]') return;
    let c: ChatCompletionChunk;
    try {
      c = JSON.parse(payload) as ChatCompletionChunk;
    } catch {
      this.ok = false;
      return;
    }
    if (c === null || typeof c !== 'object' || !Array.isArray(c.choices) || (c as { error?: unknown }).error !== undefined) {
      this.ok = false;
      return;
    }
    if (this.id === '') {
      this.id = String(c.id ?? '');
      this.created = Number(c.created) || 0;
      this.model = String(c.model ?? '');
      this.fingerprint = c.system_fingerprint ?? null;
    }
    if (c.usage != null) this.usage = c.usage;
    for (const ch of c.choices) {
      const i = Number(ch.index) || 0;
      let st = this.choices[i];
      if (st === undefined) {
        st = { content: null, toolCalls: null, finish: null };
        this.choices[i] = st;
      }
      const d = ch.delta;
      if (d != null) {
        if (typeof d.content === 'string') st.content = (st.content ?? '') + d.content;
        if (Array.isArray(d.tool_calls)) {
          for (const t of d.tool_calls) {
            const calls = (st.toolCalls ??= []);
            const k = Number(t.index) || 0;
            let call = calls[k];
            if (call === undefined) {
              call = { id: '', type: 'function', function: { name: '', arguments: '' } };
              calls[k] = call;
            }
            if (typeof t.id === 'string') call.id = t.id;
            if (typeof t.function?.name === 'string') call.function.name += t.function.name;
            if (typeof t.function?.arguments === 'string') call.function.arguments += t.function.arguments;
          }
        }
      }
      if (ch.finish_reason != null) st.finish = ch.finish_reason;
    }
  }

  /** The completion JSON, or null when the stream could not be folded (nothing is stored then). */
  finish(): string | null {
    if (!this.ok || this.id === '' || this.choices.length === 0) return null;
    const choices = [];
    for (let i = 0; i < this.choices.length; i++) {
      const st = this.choices[i];
      if (st === undefined) return null;
      const message: Record<string, unknown> = { role: 'assistant', content: st.content };
      if (st.toolCalls !== null) message.tool_calls = st.toolCalls;
      choices.push({ index: i, message, logprobs: null, finish_reason: st.finish ?? 'stop' });
    }
    const body: Record<string, unknown> = { id: this.id, object: 'chat.completion', created: this.created, model: this.model, choices };
    if (this.usage !== null) body.usage = this.usage;
    if (this.fingerprint !== null) body.system_fingerprint = this.fingerprint;
    return JSON.stringify(body);
  }
}
