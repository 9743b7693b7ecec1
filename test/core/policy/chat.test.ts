// The OpenAI chat adapter: request texts, completion bodies and translated SSE events.
import { describe, expect, it } from 'vitest';
import { ChatStreamFilter, PolicyRun, RouteSafety, checkChatRequest, checkCompletion, compilePolicy, type PolicySpec } from '../../../core/policy/index.js';
import type { ChatCompletionRequest } from '../../../core/schema/openai.js';

function run(spec: Omit<PolicySpec, 'name'>): PolicyRun {
  return new PolicyRun(new RouteSafety(compilePolicy({ name: 'p', ...spec }), 'a'));
}

const PREFIX = '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"a","choices":[{"index":0,"delta":';
const ev = (delta: string, finish: string | null = null): string => `data: ${PREFIX}${delta},"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`;
const text = (t: string): string => ev(`{"content":${JSON.stringify(t)}}`);

/** The content and tool calls a client would assemble from SSE text. */
function assemble(sse: string): { content: string; calls: Array<{ name: string; arguments: string }>; events: number } {
  let content = '';
  const calls: Array<{ name: string; arguments: string }> = [];
  let events = 0;
  for (const e of sse.split('\n\n')) {
    if (!e.startsWith('data: {')) continue;
    events++;
    const c = JSON.parse(e.slice(6)).choices?.[0];
    content += c?.delta?.content ?? '';
    for (const tc of c?.delta?.tool_calls ?? []) {
      const at = calls[tc.index] ?? (calls[tc.index] = { name: '', arguments: '' });
      at.name += tc.function?.name ?? '';
      at.arguments += tc.function?.arguments ?? '';
    }
  }
  return { content, calls, events };
}

describe('checkChatRequest', () => {
  it('redacts message strings, text parts and earlier tool-call arguments in place', () => {
    const r = run({ input: [{ detector: 'email', action: 'redact' }] });
    const body = {
      model: 'a',
      messages: [
        { role: 'user', content: 'to a@example.com' },
        { role: 'user', content: [{ type: 'text', text: 'cc b@example.com' }, { type: 'image_url', image_url: { url: 'x' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"to":"c@example.com"}' } }] },
      ],
    } as unknown as ChatCompletionRequest;
    const changed = { value: false };
    expect(checkChatRequest(r, body, changed)).toBe(true);
    expect(changed.value).toBe(true);
    expect(JSON.stringify(body.messages)).not.toContain('example.com');
    expect(body.messages[0]!.content).toBe('to [REDACTED:email]');
    expect(body.messages[2]!.tool_calls![0]!.function.arguments).toBe('{"to":"[REDACTED:email]"}');
  });

  it('leaves the request untouched when nothing matches, and reads approvals from metadata', () => {
    const r = run({ input: [{ detector: 'email', action: 'block' }] });
    const body = { model: 'a', messages: [{ role: 'user', content: 'hello' }], metadata: { approved_tools: 'send_email, refund ,' } } as ChatCompletionRequest;
    const changed = { value: false };
    expect(checkChatRequest(r, body, changed)).toBe(true);
    expect(changed.value).toBe(false);
    expect([...r.approved!]).toEqual(['send_email', 'refund']);
  });
});

describe('checkCompletion', () => {
  it('returns the same body when nothing changed, a rewritten one when redacted, null when blocked', () => {
    const r = run({ output: [{ detector: 'email', action: 'redact' }, { detector: 'secret', action: 'block' }] });
    const req = { model: 'a', messages: [] } as unknown as ChatCompletionRequest;
    const clean = Buffer.from('{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}');
    expect(checkCompletion(r, clean, req)).toBe(clean);
    const out = checkCompletion(r, '{"choices":[{"index":0,"message":{"role":"assistant","content":"mail x@example.com"}}]}', req);
    expect(JSON.parse(String(out)).choices[0].message.content).toBe('mail [REDACTED:email]');
    expect(checkCompletion(r, '{"choices":[{"index":0,"message":{"role":"assistant","content":"AKIAIOSFODNN7EXAMPLE"}}]}', req)).toBeNull();
  });
});

describe('checkCompletion: in-place and parsed paths agree', () => {
  it('one compact choice (in place), pretty-printed and several choices (parsed)', () => {
    const req = { model: 'a', messages: [] } as unknown as ChatCompletionRequest;
    const content = 'Line "one"\né mail: al@example.com\tend ✓';
    const expected = 'Line "one"\né mail: [REDACTED:email]\tend ✓';
    const compact = JSON.stringify({ id: 'x', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 1 } });
    const pretty = JSON.stringify(JSON.parse(compact), null, 2);
    const two = JSON.stringify({ id: 'x', choices: [0, 1].map((i) => ({ index: i, message: { role: 'assistant', content }, finish_reason: 'stop' })) });
    for (const body of [compact, Buffer.from(compact), pretty, two]) {
      const r = run({ output: [{ detector: 'email', action: 'redact' }] });
      const out = JSON.parse(String(checkCompletion(r, body, req)));
      for (const c of out.choices) expect(c.message.content).toBe(expected);
      expect(out.usage?.prompt_tokens ?? 1).toBe(1);
      expect(r.entries).toEqual(['p:output:email:redact']);
    }
  });
});

describe('ChatStreamFilter', () => {
  const req = { model: 'a', messages: [], tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', required: ['id'] } } }] } as unknown as ChatCompletionRequest;

  it('redacts an email straddling several events, and releases the rest as it comes', () => {
    const r = run({ output: [{ detector: 'email', action: 'redact' }] });
    const f = new ChatStreamFilter(r, req);
    let out = f.push(ev('{"role":"assistant","content":""}'));
    for (const piece of ['Write ', 'to bob', '.smith@exa', 'mple.com', ' today', '.']) out += f.push(text(piece));
    out += f.push(ev('{}', 'stop') + 'data: [DONE]\n\n');
    expect(f.blocked).toBe(false);
    const a = assemble(out);
    expect(a.content).toBe('Write to [REDACTED:email] today.');
    expect(out).not.toMatch(/bob|smith|exa/);
    expect(out.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(JSON.parse(out.split('\n\n').filter((e) => e.includes('"finish_reason":"stop"'))[0]!.slice(6)).model).toBe('a');
  });

  it('handles escaped text (quotes, newlines, non-ASCII) on the fast path and the parsed path alike', () => {
    const pieces = ['Line "one"\n', 'é mail: a', 'l@example.', 'com\tend ✓'];
    const expected = 'Line "one"\né mail: [REDACTED:email]\tend ✓';
    const r = run({ output: [{ detector: 'email', action: 'redact' }] });
    const f = new ChatStreamFilter(r, req);
    let out = '';
    for (const p of pieces) out += f.push(text(p));
    out += f.push(ev('{}', 'stop'));
    expect(assemble(out).content).toBe(expected);
    // Pretty-printed events take the parsed path.
    const g = new ChatStreamFilter(run({ output: [{ detector: 'email', action: 'redact' }] }), req);
    let out2 = '';
    for (const p of pieces) out2 += g.push('data: ' + JSON.stringify(JSON.parse(text(p).slice(6)), null, 1).replace(/\n/g, ' ') + '\n\n');
    out2 += g.push(ev('{}', 'stop'));
    expect(assemble(out2).content).toBe(expected);
  });

  it('takes OpenAI chunks with logprobs and usage on the in-place path', () => {
    const r = run({ output: [{ detector: 'email', action: 'redact' }] });
    const f = new ChatStreamFilter(r, req);
    const oa = (t: string): string =>
      `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"a","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":${JSON.stringify(t)}},"logprobs":null,"finish_reason":null}],"usage":null}\n\n`;
    const plain = oa(' hello');
    let out = f.push(plain);
    expect(assemble(out).content).toBe(' '); // the word may still become an email: held
    out += f.push(oa(' a@example.com')) + f.push(oa(' bye')) + f.push(ev('{}', 'stop'));
    expect(assemble(out).content).toBe(' hello [REDACTED:email] bye');
    expect(out).toContain('"logprobs":null');
  });

  it('on a block, returns what came before the offending event and then nothing', () => {
    const r = run({ output: [{ detector: 'secret', action: 'block' }] });
    const f = new ChatStreamFilter(r, req);
    const out = f.push(text('Safe text here. ') + text('key sk-proj-') + text('abcdefghijklmnop1234 ') + text('more'));
    expect(f.blocked).toBe(true);
    expect(assemble(out).content).toBe('Safe text here. key ');
    expect(f.push(text('later'))).toBe('');
    expect(f.flush()).toBe('');
  });

  it('holds tool-call deltas until the choice finishes, then sends the checked call whole', () => {
    const r = run({ tools: { allowed: ['lookup'] } });
    const f = new ChatStreamFilter(r, req);
    let out = f.push(ev('{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":""}}]}'));
    for (const piece of ['{"id"', ':"a', '1"}']) {
      const o = f.push(ev(`{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(piece)}}}]}`));
      expect(o).toBe('');
      out += o;
    }
    expect(assemble(out).calls).toEqual([]);
    out += f.push(ev('{}', 'tool_calls'));
    expect(assemble(out).calls).toEqual([{ name: 'lookup', arguments: '{"id":"a1"}' }]);
  });

  it('blocks a streamed call whose arguments fail the declared schema', () => {
    const r = run({ tools: { allowed: ['lookup'] } });
    const f = new ChatStreamFilter(r, req);
    let out = f.push(ev('{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":""}}]}'));
    out += f.push(ev('{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}'));
    out += f.push(ev('{}', 'tool_calls'));
    expect(f.blocked).toBe(true);
    expect(assemble(out).calls).toEqual([]);
    expect(r.blocked).toContain("($: missing required property 'id')");
  });

  it('keeps one scanner per choice when several are streamed (n > 1)', () => {
    const r = run({ output: [{ detector: 'email', action: 'redact' }] });
    const f = new ChatStreamFilter(r, req);
    const two = (a: string, b: string, finish: string | null = null): string =>
      `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"a","choices":[{"index":0,"delta":{"content":${JSON.stringify(a)}},"finish_reason":${finish === null ? 'null' : `"${finish}"`}},{"index":1,"delta":{"content":${JSON.stringify(b)}},"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`;
    let out = f.push(two('mail x@exa', 'call '));
    out += f.push(two('mple.com now', 'y@example.org'));
    out += f.push(two('', '', 'stop'));
    const texts = ['', ''];
    for (const e of out.split('\n\n')) {
      if (!e.startsWith('data: {')) continue;
      for (const c of JSON.parse(e.slice(6)).choices) texts[c.index] += c.delta?.content ?? '';
    }
    expect(texts).toEqual(['mail [REDACTED:email] now', 'call [REDACTED:email]']);
  });

  it('fails closed on an event it cannot parse', () => {
    const r = run({ output: [{ detector: 'email', action: 'redact' }] });
    const f = new ChatStreamFilter(r, req);
    expect(f.push(text('fine ') + 'data: {"choices":[{"delta":{"content":"a@example.com"}}\n\n')).toBe(text('fine '));
    expect(f.blocked).toBe(true);
    expect(r.blocked).toBe("Blocked by safety policy 'p': the answer could not be checked.");
  });

  it('an unparsable completion body throws without quoting it', () => {
    const r = run({ output: [{ detector: 'email', action: 'redact' }] });
    expect(() => checkCompletion(r, '{"choices":[secret-text-here', { model: 'a', messages: [] } as unknown as ChatCompletionRequest)).toThrow(/^the answer is not valid JSON$/);
  });

  it('passes usage-only chunks and error events through', () => {
    const r = run({ output: [{ detector: 'email', action: 'redact' }] });
    const f = new ChatStreamFilter(r, req);
    const usage = 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"a","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n';
    expect(f.push(usage)).toBe(usage);
  });
});
