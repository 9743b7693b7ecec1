import { describe, expect, it } from 'vitest';
import { StreamCapture } from '../../../core/cache/capture.js';
import { completionAsSse } from '../../../core/cache/replay.js';

const head = '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":7,"model":"crm.fast","choices":[';

describe('StreamCapture', () => {
  it('folds content chunks, split anywhere, into one completion with finish reason and usage', () => {
    const c = new StreamCapture();
    const sse =
      'data: ' + head + '{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n' +
      'data: ' + head + '{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n' +
      'data: ' + head + '{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}\n\n' +
      'data: ' + head + '{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
      'data: ' + head + '],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n' +
      'data: [DONE]\n\n';
    for (let i = 0; i < sse.length; i += 37) c.push(sse.slice(i, i + 37));
    const body = JSON.parse(c.finish()!);
    expect(body).toEqual({
      id: 'chatcmpl-9', object: 'chat.completion', created: 7, model: 'crm.fast',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
  });

  it('folds streamed tool calls (id, name, arguments in pieces)', () => {
    const c = new StreamCapture();
    c.push('data: ' + head + '{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":""}}]},"finish_reason":null}]}\n\n');
    c.push('data: ' + head + '{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"id\\":"}}]},"finish_reason":null}]}\n\n');
    c.push('data: ' + head + '{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"a1\\"}"}}]},"finish_reason":"tool_calls"}]}\n\n');
    const body = JSON.parse(c.finish()!);
    expect(body.choices[0].message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"id":"a1"}' } }]);
    expect(body.choices[0].finish_reason).toBe('tool_calls');
  });

  it('round-trips with the SSE replay', () => {
    const completion = { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'text' }, logprobs: null, finish_reason: 'length' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
    const c = new StreamCapture();
    c.push(completionAsSse(Buffer.from(JSON.stringify(completion)), true)!);
    expect(JSON.parse(c.finish()!)).toEqual(completion);
  });

  it('stores nothing when an event cannot be read or the provider sent an error', () => {
    const bad = new StreamCapture();
    bad.push('data: {not json}\n\n');
    expect(bad.finish()).toBeNull();
    const err = new StreamCapture();
    err.push('data: {"error":{"message":"boom"}}\n\n');
    expect(err.finish()).toBeNull();
    expect(new StreamCapture().finish()).toBeNull();
  });
});
