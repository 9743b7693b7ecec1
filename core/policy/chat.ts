// The policy engine on the canonical chat shapes (OpenAI Chat Completions: the gateway's canonical
// request and response): the request's texts for the input guards, a completion body and the translated
// SSE events of a stream for the output guards and the tool-call rules. Used only on routes whose
// policy needs it; routes without a policy never reach this file.

import type { ChatCompletionRequest, ChatTool } from '../schema/openai.js';
import type { PolicyRun, ToolCallView } from './policy.js';
import type { StreamScanner } from './scanner.js';

type Obj = Record<string, unknown>;

/** The side-effecting tools a request approves: `metadata.approved_tools`, comma-separated names. */
export function approvedTools(body: ChatCompletionRequest): ReadonlySet<string> | null {
  const v = body.metadata?.approved_tools;
  if (typeof v !== 'string' || v === '') return null;
  const set = new Set<string>();
  for (const part of v.split(',')) {
    const t = part.trim();
    if (t !== '') set.add(t);
  }
  return set;
}

/**
 * Run the input guards over every text of the request (message contents, text parts, the arguments of
 * earlier tool calls), rewriting redacted texts in place. Returns false when a guard blocked (the
 * reason is `run.blocked`). `changed` tells the caller the request's messages were rewritten.
 */
export function checkChatRequest(run: PolicyRun, body: ChatCompletionRequest, changed: { value: boolean }): boolean {
  run.approved = approvedTools(body);
  if (run.policy.input === null) return true;
  const messages = body.messages;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]! as { content: unknown; tool_calls?: unknown };
    const c = m.content;
    if (typeof c === 'string') {
      const r = run.inputText(c);
      if (r === null) return false;
      if (r !== c) {
        m.content = r;
        changed.value = true;
      }
    } else if (Array.isArray(c)) {
      for (let j = 0; j < c.length; j++) {
        const part = c[j] as Obj | null;
        if (part === null || typeof part !== 'object' || typeof part.text !== 'string') continue;
        const r = run.inputText(part.text);
        if (r === null) return false;
        if (r !== part.text) {
          part.text = r;
          changed.value = true;
        }
      }
    }
    const tcs = m.tool_calls;
    if (Array.isArray(tcs)) {
      for (let j = 0; j < tcs.length; j++) {
        const fn = (tcs[j] as { function?: { arguments?: unknown } } | null)?.function;
        if (fn == null || typeof fn.arguments !== 'string') continue;
        const r = run.inputText(fn.arguments);
        if (r === null) return false;
        if (r !== fn.arguments) {
          fn.arguments = r;
          changed.value = true;
        }
      }
    }
  }
  return true;
}

/** The JSON schema the request itself declares for tool `name`, if any. */
function declaredSchema(tools: readonly ChatTool[] | undefined, name: string): unknown {
  if (tools == null) return undefined;
  for (let i = 0; i < tools.length; i++) {
    const f = tools[i]?.function;
    if (f != null && f.name === name) return f.parameters;
  }
  return undefined;
}

interface ToolCallWire {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

function views(calls: readonly ToolCallWire[]): ToolCallView[] {
  return calls.map((c) => ({ name: String(c.function?.name ?? ''), arguments: String(c.function?.arguments ?? '') }));
}

/**
 * Output guards and tool rules over a non-streamed chat completion (the client body). Returns the body
 * to send (the same value when nothing changed), or null when blocked.
 */
export function checkCompletion(run: PolicyRun, out: Buffer | string, request: ChatCompletionRequest): Buffer | string | null {
  const text = typeof out === 'string' ? out : out.toString('utf8');
  const fast = checkCompactCompletion(run, out, text);
  if (fast !== undefined) return fast;
  let body: { choices?: Array<{ message?: Obj }> };
  try {
    body = JSON.parse(text);
  } catch {
    // V8's JSON errors quote the text: never let that reach a log.
    throw new Error('the answer is not valid JSON');
  }
  const choices = Array.isArray(body.choices) ? body.choices : [];
  let changed = false;
  let calls: ToolCallWire[] = [];
  for (let i = 0; i < choices.length; i++) {
    const msg = choices[i]?.message;
    if (msg == null) continue;
    if (typeof msg.content === 'string') {
      const r = run.outputText(msg.content);
      if (r === null) return null;
      if (r !== msg.content) {
        msg.content = r;
        changed = true;
      }
    }
    if (Array.isArray(msg.tool_calls)) calls = calls.concat(msg.tool_calls as ToolCallWire[]);
  }
  if (calls.length > 0) {
    const args = run.toolCalls(views(calls), (name) => declaredSchema(request.tools, name));
    if (args === null) return null;
    for (let i = 0; i < calls.length; i++) {
      const fn = calls[i]!.function;
      if (fn != null && fn.arguments !== args[i]) {
        fn.arguments = args[i];
        changed = true;
      }
    }
  }
  return changed ? JSON.stringify(body) : out;
}

const TEXT_DELTA = '"delta":{"content":"';
const UNFINISHED = '"finish_reason":null}';

/** Index of the closing quote of the JSON string whose content starts at `start`, or -1. */
function stringEnd(s: string, start: number): number {
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return i;
  }
  return -1;
}

const MESSAGE_CONTENT = '"content":"';

/**
 * The hot path for the common answer: one choice, a text message, no tool calls. Its text is scanned
 * where it lies and spliced back only when redacted (no parse of the whole body). Undefined for any
 * other shape (the caller parses it). Keys cannot occur inside JSON strings (quotes are escaped there).
 */
function checkCompactCompletion(run: PolicyRun, out: Buffer | string, text: string): Buffer | string | null | undefined {
  const c = text.indexOf(MESSAGE_CONTENT);
  if (c < 0 || text.indexOf(MESSAGE_CONTENT, c + 1) >= 0 || text.includes('"tool_calls"') || text.indexOf('"message":') !== text.lastIndexOf('"message":')) return undefined;
  const start = c + MESSAGE_CONTENT.length;
  const end = stringEnd(text, start);
  if (end < 0) return undefined;
  const raw = text.slice(start, end);
  const content = raw.indexOf('\\') < 0 ? raw : (JSON.parse('"' + raw + '"') as string);
  const checked = run.outputText(content);
  if (checked === null) return null;
  if (checked === content) return out;
  return text.slice(0, start - 1) + JSON.stringify(checked) + text.slice(end + 1);
}

interface ChoiceState {
  scanner: StreamScanner | null;
  /** Tool calls being streamed, by their index: held until the choice finishes and they are checked. */
  calls: ToolCallWire[];
}

/**
 * Filters the translated SSE events of one streamed chat completion: text deltas pass through the output
 * scanner (holding back only what could still be part of a match), tool-call deltas are held and sent
 * whole once the choice finishes and the calls pass the tool rules. `push` returns the events to
 * write; when a guard blocked, `blocked` is set and what it returned is what came before the offending
 * event (the caller writes it, then ends the stream with an error event).
 */
export class ChatStreamFilter {
  private readonly run: PolicyRun;
  private readonly request: ChatCompletionRequest;
  private readonly choices: ChoiceState[] = [];
  blocked = false;

  constructor(run: PolicyRun, request: ChatCompletionRequest) {
    this.run = run;
    this.request = request;
  }

  private state(i: number): ChoiceState {
    let s = this.choices[i];
    if (s === undefined) {
      s = { scanner: this.run.outputStream(), calls: [] };
      this.choices[i] = s;
    }
    return s;
  }

  push(sse: string): string {
    if (this.blocked) return '';
    let out = '';
    let start = 0;
    while (start < sse.length) {
      let end = sse.indexOf('\n\n', start);
      if (end < 0) end = sse.length;
      const ev = sse.slice(start, end);
      start = end + 2;
      if (!ev.startsWith('data: ')) {
        if (ev !== '') out += ev + '\n\n';
        continue;
      }
      const payload = ev.slice(6);
      if (payload === '[DONE]') {
        const rest = this.flush();
        if (this.blocked) return out + rest;
        out += rest + ev + '\n\n';
        continue;
      }
      const r = this.event(payload);
      if (r === null) return out;
      out += r;
    }
    return out;
  }

  /** The stream ended: what is still held (text of choices that never finished); `blocked` may be set. */
  flush(): string {
    if (this.blocked) return '';
    let out = '';
    for (let i = 0; i < this.choices.length; i++) {
      const s = this.choices[i];
      if (s === undefined) continue;
      const delta: Obj = {};
      if (s.scanner !== null) {
        const tail = s.scanner.end();
        if (tail === null) return this.block(out);
        if (tail !== '') delta.content = tail;
      }
      if (s.calls.length > 0) {
        const calls = this.checkCalls(s);
        if (calls === null) return this.block(out);
        delta.tool_calls = calls;
      }
      if (delta.content !== undefined || delta.tool_calls !== undefined) {
        out += 'data: ' + JSON.stringify({ object: 'chat.completion.chunk', model: this.request.model, choices: [{ index: i, delta, finish_reason: null }] }) + '\n\n';
      }
    }
    return out;
  }

  private block(out: string): string {
    this.blocked = true;
    return out;
  }

  private stop(): null {
    this.blocked = true;
    return null;
  }

  private checkCalls(s: ChoiceState): ToolCallWire[] | null {
    const calls = s.calls.filter((c) => c !== undefined);
    s.calls = [];
    const args = this.run.toolCalls(views(calls), (name) => declaredSchema(this.request.tools, name));
    if (args === null) return null;
    for (let i = 0; i < calls.length; i++) calls[i]!.function!.arguments = args[i];
    return calls;
  }

  /**
   * The hot path for the common event: one choice, a text-only delta, no finish reason. The text is
   * scanned and spliced back in place (no parse of the whole event, no re-serialization); the event is
   * dropped when everything in it is held back. Undefined for any other shape (the caller parses it).
   * A JSON string cannot hold a bare quote, so the key patterns match keys, not text inside content.
   */
  private textEvent(payload: string): string | null | undefined {
    const d = payload.indexOf(TEXT_DELTA);
    if (d < 0 || payload.indexOf(TEXT_DELTA, d + 1) >= 0) return undefined;
    const start = d + TEXT_DELTA.length;
    const end = stringEnd(payload, start);
    // The delta closes right after its text (no role, no tool calls), the choice has not finished (OpenAI
    // puts `"logprobs":null` between), and there is one choice.
    if (end < 0 || payload.charCodeAt(end + 1) !== 125 || payload.indexOf(UNFINISHED, end) < 0 || payload.indexOf('"index":0,', 0) < 0 || payload.indexOf('"index":', payload.indexOf('"index":') + 1) >= 0) return undefined;
    const s = this.state(0);
    if (s.scanner === null) return 'data: ' + payload + '\n\n';
    const raw = payload.slice(start, end);
    const text = raw.indexOf('\\') < 0 ? raw : (JSON.parse('"' + raw + '"') as string);
    const out = s.scanner.push(text);
    if (out === null) return this.stop();
    if (out === '') return '';
    if (out === text) return 'data: ' + payload + '\n\n';
    return 'data: ' + payload.slice(0, start - 1) + JSON.stringify(out) + payload.slice(end + 1) + '\n\n';
  }

  private event(payload: string): string | null {
    const fast = this.textEvent(payload);
    if (fast !== undefined) return fast;
    let chunk: { choices?: Array<{ index?: number; delta?: Obj; finish_reason?: string | null }>; usage?: unknown; error?: unknown };
    try {
      chunk = JSON.parse(payload);
    } catch {
      // Fail closed: what cannot be read cannot be checked.
      this.run.unreadable();
      return this.stop();
    }
    if (chunk === null || typeof chunk !== 'object' || !Array.isArray(chunk.choices) || chunk.error !== undefined) return 'data: ' + payload + '\n\n';
    const choices = chunk.choices;
    let keep = choices.length === 0 || chunk.usage != null;
    for (let k = 0; k < choices.length; k++) {
      const c = choices[k]!;
      const idx = typeof c.index === 'number' ? c.index : k;
      const s = this.state(idx);
      const d = c.delta ?? {};
      let text: string | null = typeof d.content === 'string' ? d.content : null;
      if (text !== null && s.scanner !== null) {
        text = s.scanner.push(text);
        if (text === null) return this.stop();
      }
      const tcs = d.tool_calls as ToolCallWire[] | undefined;
      if (Array.isArray(tcs)) {
        for (const tc of tcs) {
          const at = typeof tc.index === 'number' ? tc.index : 0;
          let acc = s.calls[at];
          if (acc === undefined) {
            acc = { index: at, id: tc.id ?? '', type: 'function', function: { name: '', arguments: '' } };
            s.calls[at] = acc;
          }
          if (tc.id !== undefined && tc.id !== '') acc.id = tc.id;
          if (tc.function?.name !== undefined) acc.function!.name += tc.function.name;
          if (tc.function?.arguments !== undefined) acc.function!.arguments += tc.function.arguments;
        }
        delete d.tool_calls;
      }
      if (c.finish_reason != null) {
        if (s.scanner !== null) {
          const tail = s.scanner.end();
          if (tail === null) return this.stop();
          text = (text ?? '') + tail;
        }
        if (s.calls.length > 0) {
          const calls = this.checkCalls(s);
          if (calls === null) return this.stop();
          d.tool_calls = calls;
        }
      }
      if (text !== null) d.content = text;
      if ((text === null || text === '') && d.role === undefined && d.tool_calls === undefined && c.finish_reason == null) continue;
      keep = true;
    }
    return keep ? 'data: ' + JSON.stringify(chunk) + '\n\n' : '';
  }
}
