// Safety policies end to end with the official `openai` client: input guards (block, redact, flag, max
// input tokens), output guards streamed and not (identical results), and tool-call rules, each blocked
// before the client sees the offending bytes. The simulator says exactly what a test needs through
// `[sim:say=B64]` / `[sim:tool_args=B64]`, so the input guards never see the output under test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { APIError } from 'openai';
import { DEMO_KEY, eventually, startStack, type Stack } from '../helpers/stack.js';
import { policyConfigYaml } from '../helpers/policy.js';
import { traceToJson } from '../../core/telemetry/trace.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
const say = (s: string): string => `[sim:say=${b64(s)}]`;
const toolArgs = (s: string): string => `[sim:tool_args=${b64(s)}]`;

const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'lookup_account', parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } } },
  { type: 'function', function: { name: 'search_docs', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } } },
  { type: 'function', function: { name: 'send_email', parameters: { type: 'object', properties: { to: { type: 'string' } }, required: ['to'] } } },
  { type: 'function', function: { name: 'delete_account', parameters: { type: 'object', properties: { id: { type: 'string' } } } } },
];

function force(name: string): OpenAI.Chat.Completions.ChatCompletionToolChoiceOption {
  return { type: 'function', function: { name } };
}

async function policyError(p: Promise<unknown>): Promise<APIError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error('expected a policy_violation error');
}

/** A streamed answer: the text and tool calls received, and the error that ended it (if any). */
async function streamed(
  client: OpenAI,
  body: Omit<OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming, 'stream'>,
): Promise<{ text: string; calls: Array<{ name: string; arguments: string }>; error: APIError | null; finish: string | null }> {
  let text = '';
  const calls: Array<{ name: string; arguments: string }> = [];
  let finish: string | null = null;
  try {
    const stream = await client.chat.completions.create({ ...body, stream: true });
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (c === undefined) continue;
      text += c.delta.content ?? '';
      for (const tc of c.delta.tool_calls ?? []) {
        const at = calls[tc.index] ?? (calls[tc.index] = { name: '', arguments: '' });
        at.name += tc.function?.name ?? '';
        at.arguments += tc.function?.arguments ?? '';
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { text, calls, error: err, finish };
    throw err;
  }
  return { text, calls, error: null, finish };
}

describe.each(['uws', 'node'] as const)('safety policies through the openai SDK (%s ingress)', (transport) => {
  let s: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    s = await startStack(transport, policyConfigYaml());
    client = new OpenAI({ apiKey: DEMO_KEY, baseURL: s.url + '/v1', maxRetries: 0 });
  });
  afterAll(async () => {
    await s?.close();
  });

  const lastTrace = () => s.traces.records[s.traces.records.length - 1]!;
  async function settled(n: number): Promise<void> {
    await eventually(() => s.traces.records.length >= n);
  }

  describe('input guards', () => {
    it('redact: the provider sees the redacted text; the trace records the finding', async () => {
      const before = s.traces.records.length;
      const r = await client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'user', content: 'Email jane.doe@example.com about key sk-proj-CANARYinputABCDEFGH12 today.' }] });
      expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
      const upstream = s.sim.stats.lastRequest!.body;
      expect(upstream).toContain('Email [REDACTED:email] about key [REDACTED:secret] today.');
      expect(upstream).not.toContain('jane.doe');
      expect(upstream).not.toContain('CANARY');
      await settled(before + 1);
      expect(lastTrace().policy_violations).toEqual(['pii:input:email:redact', 'pii:input:secret:redact']);
      expect(lastTrace().status).toBe(200);
    });

    it('block: 400 policy_violation naming the policy, the provider never called, the secret never echoed', async () => {
      const before = s.sim.stats.requests;
      const err = await policyError(client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'user', content: 'Charge 4111 1111 1111 1111 now' }] }));
      expect(err.status).toBe(400);
      expect(err.code).toBe('policy_violation');
      expect(err.type).toBe('invalid_request_error');
      expect(err.message).toContain("safety policy 'pii'");
      expect(err.message).toContain('payment_card');
      expect(err.message).not.toMatch(/4111/);
      expect(s.sim.stats.requests).toBe(before);
      await eventually(() => lastTrace().error_code === 'policy_violation');
      expect(lastTrace().policy_violations).toEqual(['pii:input:payment_card:block']);
    });

    it('block on blocked terms, case-insensitively', async () => {
      const err = await policyError(client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Status of PROJECT FALCON?' }] }));
      expect(err.code).toBe('policy_violation');
      expect(err.message).toContain('blocked_terms');
    });

    it('flag: the request goes through unchanged and is recorded', async () => {
      const before = s.traces.records.length;
      await client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'user', content: 'Call me at +1 415-555-0100.' }] });
      expect(s.sim.stats.lastRequest!.body).toContain('+1 415-555-0100');
      await settled(before + 1);
      expect(lastTrace().policy_violations).toEqual(['pii:input:phone:flag']);
    });

    it('max_input_tokens: a longer prompt is blocked before the provider', async () => {
      const before = s.sim.stats.requests;
      const err = await policyError(client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'user', content: 'word '.repeat(3000) }] }));
      expect(err.code).toBe('policy_violation');
      expect(err.message).toMatch(/more than the 2000 the policy allows/);
      expect(s.sim.stats.requests).toBe(before);
    });
  });

  describe('output guards: streamed and non-streamed give the same result', () => {
    it('redact', async () => {
      const text = 'Contact ops@example.org, ssn 123-45-6789, or the desk. Done.';
      const whole = await client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'user', content: 'answer ' + say(text) }] });
      const s1 = await streamed(client, { model: 'safe.chat', messages: [{ role: 'user', content: 'answer ' + say(text) }] });
      const expected = 'Contact [REDACTED:email], ssn [REDACTED:national_id], or the desk. Done.';
      expect(whole.choices[0]!.message.content).toBe(expected);
      expect(s1.error).toBeNull();
      expect(s1.text).toBe(expected);
      expect(s1.finish).toBe('stop');
      await eventually(() => lastTrace().stream && lastTrace().status === 200);
      expect(lastTrace().policy_violations).toEqual(['pii:output:email:redact', 'pii:output:national_id:redact']);
    });

    it('a filtered stream still ends with the usage chunk the client asked for', async () => {
      const stream = await client.chat.completions.create({
        model: 'safe.chat',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: say('write to ops@example.org') }],
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe('write to [REDACTED:email]');
      expect(usage?.completion_tokens).toBeGreaterThan(0);
    });

    it('block mid-stream: an error event ends the stream, no byte of the card reaches the client', async () => {
      const text = 'Here is the start of the answer. Your card 4111 1111 1111 1111 is on file and the rest follows.';
      const err = await policyError(client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'user', content: say(text) }] }));
      expect(err.code).toBe('policy_violation');
      expect(err.message).toBe("400 Blocked by safety policy 'pii': output guard 'payment_card' matched.");

      // The raw SSE bytes: the text before the card, then the error event, then nothing.
      const res = await fetch(s.url + '/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'safe.chat', stream: true, messages: [{ role: 'user', content: say(text) }] }),
      });
      const raw = await res.text();
      expect(res.status).toBe(200);
      expect(raw).not.toMatch(/4111|1111/);
      expect(raw).not.toContain('[DONE]');
      expect(raw.trimEnd().endsWith('"code":"policy_violation","param":null}}')).toBe(true);
      const streamedText = raw
        .split('\n\n')
        .filter((e) => e.startsWith('data: {"id"') || e.startsWith('data: {"object"'))
        .map((e) => JSON.parse(e.slice(6)).choices?.[0]?.delta?.content ?? '')
        .join('');
      expect(streamedText.startsWith('Here is the start of the answer.')).toBe(true);
      expect(streamedText).not.toContain('rest follows');

      const viaSdk = await streamed(client, { model: 'safe.chat', messages: [{ role: 'user', content: say(text) }] });
      expect(viaSdk.error?.code).toBe('policy_violation');
      expect(viaSdk.text).not.toMatch(/\d/);
      await eventually(() => lastTrace().error_code === 'policy_violation' && lastTrace().stream);
      expect(lastTrace().policy_violations).toEqual(['pii:output:payment_card:block']);
      expect(lastTrace().stop_reason).toBe('policy_violation');
    });

    it('a secret in the answer is blocked both ways', async () => {
      const text = 'the token is Bearer abcdefghijklmnopqrstuvwxyz0123456789 ok';
      const err = await policyError(client.chat.completions.create({ model: 'safe.chat', messages: [{ role: 'user', content: say(text) }] }));
      expect(err.message).toContain("output guard 'secret'");
      const st = await streamed(client, { model: 'safe.chat', messages: [{ role: 'user', content: say(text) }] });
      expect(st.error?.code).toBe('policy_violation');
      expect(st.text).not.toContain('abcdefghij');
    });
  });

  describe('tool calls (agentic route)', () => {
    const ask = (content: string, tool: string, extra: Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming> = {}) => ({
      model: 'safe.agent',
      messages: [{ role: 'user' as const, content }],
      tools: TOOLS,
      tool_choice: force(tool),
      ...extra,
    });

    it('an allowed tool call passes, whole or streamed, with the same arguments', async () => {
      const args = '{"id":"acct-42"}';
      const whole = await client.chat.completions.create(ask('look it up ' + toolArgs(args), 'lookup_account'));
      expect(whole.choices[0]!.message.tool_calls![0]!).toMatchObject({ type: 'function', function: { name: 'lookup_account', arguments: args } });
      expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
      const st = await streamed(client, ask('look it up ' + toolArgs(args), 'lookup_account'));
      expect(st.error).toBeNull();
      expect(st.calls).toEqual([{ name: 'lookup_account', arguments: args }]);
      expect(st.finish).toBe('tool_calls');
    });

    it('a tool that is not allowed is blocked before the client sees the call', async () => {
      const whole = await policyError(client.chat.completions.create(ask('delete it', 'delete_account')));
      expect(whole.code).toBe('policy_violation');
      expect(whole.message).toBe("400 Blocked by safety policy 'agent-tools': tool 'delete_account' is not allowed.");
      const st = await streamed(client, ask('delete it', 'delete_account'));
      expect(st.error?.code).toBe('policy_violation');
      expect(st.calls).toEqual([]);
      await eventually(() => lastTrace().error_code === 'policy_violation');
      expect(lastTrace().policy_violations).toEqual(['agent-tools:tool:tool_not_allowed:block']);
    });

    it('arguments that fail the schema are blocked, whole or streamed', async () => {
      const args = '{"to":"someone@evil.test","body":"hi"}';
      const extra = { metadata: { approved_tools: 'send_email' } };
      const whole = await policyError(client.chat.completions.create(ask('mail ' + toolArgs(args), 'send_email', extra)));
      expect(whole.message).toContain('do not match its schema ($.to: does not match the pattern ^[^@]+@example\\.com$)');
      expect(whole.message).not.toContain('evil');
      const st = await streamed(client, ask('mail ' + toolArgs(args), 'send_email', extra));
      expect(st.error?.code).toBe('policy_violation');
      expect(st.calls).toEqual([]);
    });

    it('a side-effecting tool needs the approval flag', async () => {
      const args = '{"to":"ops@example.com","body":"hi"}';
      const denied = await policyError(client.chat.completions.create(ask('mail ' + toolArgs(args), 'send_email')));
      expect(denied.message).toContain("tool 'send_email' has side effects and the request did not approve it");
      const st = await streamed(client, ask('mail ' + toolArgs(args), 'send_email'));
      expect(st.error?.code).toBe('policy_violation');
      expect(st.calls).toEqual([]);
      const ok = await client.chat.completions.create(ask('mail ' + toolArgs(args), 'send_email', { metadata: { approved_tools: 'send_email' } }));
      expect((ok.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall).function).toEqual({ name: 'send_email', arguments: args });
      const okStream = await streamed(client, ask('mail ' + toolArgs(args), 'send_email', { metadata: { approved_tools: 'search_docs, send_email' } }));
      expect(okStream.calls).toEqual([{ name: 'send_email', arguments: args }]);
    });

    it('output guards apply to tool-call arguments', async () => {
      const args = '{"q":"ghp_0123456789abcdefghijABCDEFGHIJ012345"}';
      const whole = await policyError(client.chat.completions.create(ask('search ' + toolArgs(args), 'search_docs')));
      expect(whole.message).toContain("output guard 'secret'");
      expect(whole.message).not.toContain('ghp_');
    });
  });

  it('counts violations in switchyard_policy_violations_total{alias,policy,action}', async () => {
    const text = await (await fetch(s.url + '/metrics')).text();
    expect(text).toMatch(/switchyard_policy_violations_total\{alias="safe\.chat",policy="pii",action="redact"\} [1-9]/);
    expect(text).toMatch(/switchyard_policy_violations_total\{alias="safe\.chat",policy="pii",action="block"\} [1-9]/);
    expect(text).toMatch(/switchyard_policy_violations_total\{alias="safe\.chat",policy="pii",action="flag"\} [1-9]/);
    expect(text).toMatch(/switchyard_policy_violations_total\{alias="safe\.agent",policy="agent-tools",action="block"\} [1-9]/);
  });

  it('routes without a policy are untouched', async () => {
    const r = await client.chat.completions.create({ model: 'demo.chat', messages: [{ role: 'user', content: 'Email jane.doe@example.com ' + say('reply to bob@example.com') }] });
    expect(r.choices[0]!.message.content).toBe('reply to bob@example.com');
    expect(s.sim.stats.lastRequest!.body).toContain('jane.doe@example.com');
  });

  it('no trace record holds a matched text', () => {
    const all = s.traces.records.map(traceToJson).join('\n');
    for (const canary of ['jane.doe', 'CANARY', '4111', 'FALCON', '415-555', 'ops@example.org', '123-45-6789', 'abcdefghij', 'evil.test', 'ghp_']) {
      expect(all, canary).not.toContain(canary);
    }
  });
});
