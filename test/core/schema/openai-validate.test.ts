import { describe, expect, it } from 'vitest';
import { validateChatRequest } from '../../../core/schema/openai-validate.js';

const USER = { role: 'user', content: 'hi' };
const ok = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: 'crm.summary.fast', messages: [USER], ...extra });

/** The problem's param, asserting there is one and that its message names it. */
function paramOf(body: unknown): string {
  const p = validateChatRequest(body);
  if (p === null) throw new Error(`expected a problem for ${JSON.stringify(body)}`);
  expect(typeof p.message).toBe('string');
  expect(p.message.length).toBeGreaterThan(0);
  if (p.param !== '') expect(p.message).toContain(p.param);
  return p.param;
}

describe('validateChatRequest: valid bodies', () => {
  it('accepts a minimal request', () => {
    expect(validateChatRequest(ok())).toBeNull();
  });

  it('accepts every role, content as string / parts / null on assistant, and tool messages with an id', () => {
    expect(
      validateChatRequest(
        ok({
          messages: [
            { role: 'system', content: 's' },
            { role: 'developer', content: 'd' },
            { role: 'user', content: [{ type: 'text', text: 'parts' }] },
            { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
            { role: 'assistant' },
            { role: 'tool', content: 'result', tool_call_id: 'c1' },
            { role: 'function', content: 'legacy', name: 'f' },
          ],
        }),
      ),
    ).toBeNull();
  });

  it('accepts every optional field at its bounds, and null for each', () => {
    expect(
      validateChatRequest(
        ok({
          stream: true,
          stream_options: { include_usage: true },
          tools: [{ type: 'function', function: { name: 'f' } }],
          max_tokens: 1,
          max_completion_tokens: 10_000_000,
          temperature: 2,
          top_p: 0,
          n: 128,
          metadata: { scenario_id: 's1', owner: 'o' },
        }),
      ),
    ).toBeNull();
    expect(validateChatRequest(ok({ temperature: 0, top_p: 1, n: 1, max_tokens: 10_000_000 }))).toBeNull();
    expect(
      validateChatRequest(
        ok({
          stream: null,
          stream_options: null,
          tools: null,
          max_tokens: null,
          max_completion_tokens: null,
          temperature: null,
          top_p: null,
          n: null,
          metadata: null,
        }),
      ),
    ).toBeNull();
    expect(validateChatRequest(ok({ stream_options: {}, tools: [], metadata: {} }))).toBeNull();
  });

  it('ignores unknown fields', () => {
    expect(validateChatRequest(ok({ some_future_field: [1, 2, 3], logit_bias: { '1': 2 } }))).toBeNull();
  });
});

describe('validateChatRequest: problems and their param', () => {
  it('body not an object', () => {
    for (const b of [null, undefined, 1, 'str', true, [], [ok()]]) {
      const p = validateChatRequest(b);
      expect(p, JSON.stringify(b)).toEqual({ param: '', message: 'The request body must be a JSON object.' });
    }
  });

  it('model missing', () => {
    expect(validateChatRequest({ messages: [USER] })).toEqual({ param: 'model', message: "Missing required parameter: 'model'." });
  });

  it('model not a non-empty string', () => {
    for (const model of ['', 1, null, {}, ['a'], true]) {
      expect(validateChatRequest({ model, messages: [USER] }), JSON.stringify(model)).toEqual({
        param: 'model',
        message: "'model' must be a non-empty string.",
      });
    }
  });

  it('messages missing, not an array, empty', () => {
    expect(validateChatRequest({ model: 'm' })).toEqual({ param: 'messages', message: "Missing required parameter: 'messages'." });
    for (const messages of [null, 'hi', {}, 3]) {
      expect(validateChatRequest({ model: 'm', messages }), JSON.stringify(messages)).toEqual({
        param: 'messages',
        message: "'messages' must be an array.",
      });
    }
    expect(validateChatRequest({ model: 'm', messages: [] })).toEqual({
      param: 'messages',
      message: "'messages' must contain at least one message.",
    });
  });

  it('a message that is not an object names its index', () => {
    for (const m of [null, 'hi', 1, [USER]]) {
      expect(paramOf(ok({ messages: [USER, m] })), JSON.stringify(m)).toBe('messages[1]');
    }
  });

  it('a bad role names messages[i].role', () => {
    for (const role of [undefined, null, 'bot', 'User', 1]) {
      const m = role === undefined ? { content: 'x' } : { role, content: 'x' };
      expect(paramOf(ok({ messages: [USER, USER, m] })), String(role)).toBe('messages[2].role');
    }
  });

  it('content of the wrong type names messages[i].content', () => {
    for (const content of [1, true, { text: 'x' }]) {
      const p = validateChatRequest(ok({ messages: [{ role: 'user', content }] }));
      expect(p, JSON.stringify(content)).toEqual({
        param: 'messages[0].content',
        message: "'messages[0].content' must be a string or an array of content parts.",
      });
    }
  });

  it('missing content (undefined or null) on a non-assistant message names messages[i].content', () => {
    for (const role of ['system', 'developer', 'user', 'tool', 'function']) {
      for (const m of [{ role }, { role, content: null }]) {
        const p = validateChatRequest(ok({ messages: [USER, m] }));
        expect(p, JSON.stringify(m)).toEqual({
          param: 'messages[1].content',
          message: "Missing required parameter: 'messages[1].content'.",
        });
      }
    }
  });

  it('a tool message without a string tool_call_id names messages[i].tool_call_id', () => {
    for (const id of [undefined, null, 7]) {
      const m = id === undefined ? { role: 'tool', content: 'r' } : { role: 'tool', content: 'r', tool_call_id: id };
      expect(validateChatRequest(ok({ messages: [m] })), String(id)).toEqual({
        param: 'messages[0].tool_call_id',
        message: "Missing required parameter: 'messages[0].tool_call_id'.",
      });
    }
  });

  it('reports the first bad message', () => {
    expect(paramOf(ok({ messages: [USER, { role: 'x', content: 'a' }, null] }))).toBe('messages[1].role');
  });

  it('stream not a boolean', () => {
    for (const stream of ['true', 1, {}]) {
      expect(validateChatRequest(ok({ stream }))).toEqual({ param: 'stream', message: "'stream' must be a boolean." });
    }
  });

  it('stream_options not an object; include_usage not a boolean', () => {
    for (const so of [true, 'x', [], 1]) {
      expect(validateChatRequest(ok({ stream_options: so })), JSON.stringify(so)).toEqual({
        param: 'stream_options',
        message: "'stream_options' must be an object.",
      });
    }
    for (const iu of ['yes', 1, null]) {
      expect(validateChatRequest(ok({ stream_options: { include_usage: iu } })), JSON.stringify(iu)).toEqual({
        param: 'stream_options.include_usage',
        message: "'stream_options.include_usage' must be a boolean.",
      });
    }
  });

  it('tools not an array', () => {
    for (const tools of [{}, 'f', 1]) {
      expect(validateChatRequest(ok({ tools }))).toEqual({ param: 'tools', message: "'tools' must be an array." });
    }
  });

  it('a malformed tool names tools[i]', () => {
    const good = { type: 'function', function: { name: 'f' } };
    for (const t of [
      null,
      'f',
      [good],
      { type: 'retrieval', function: { name: 'f' } },
      { function: { name: 'f' } },
      { type: 'function' },
      { type: 'function', function: null },
      { type: 'function', function: [] },
      { type: 'function', function: {} },
      { type: 'function', function: { name: 3 } },
    ]) {
      expect(paramOf(ok({ tools: [good, t] })), JSON.stringify(t)).toBe('tools[1]');
    }
  });

  const numeric: Array<{ name: string; min: number; max: number; integer: boolean }> = [
    { name: 'max_tokens', min: 1, max: 10_000_000, integer: true },
    { name: 'max_completion_tokens', min: 1, max: 10_000_000, integer: true },
    { name: 'temperature', min: 0, max: 2, integer: false },
    { name: 'top_p', min: 0, max: 1, integer: false },
    { name: 'n', min: 1, max: 128, integer: true },
  ];

  for (const { name, min, max, integer } of numeric) {
    it(`${name}: not a number, not finite, ${integer ? 'not an integer, ' : ''}out of range`, () => {
      for (const v of ['1', true, {}, [], NaN, Infinity, -Infinity]) {
        expect(validateChatRequest(ok({ [name]: v })), `${name}=${String(v)}`).toEqual({ param: name, message: `'${name}' must be a number.` });
      }
      if (integer) {
        expect(validateChatRequest(ok({ [name]: min + 0.5 }))).toEqual({ param: name, message: `'${name}' must be an integer.` });
      } else {
        expect(validateChatRequest(ok({ [name]: (min + max) / 3 }))).toBeNull();
      }
      const range = { param: name, message: `'${name}' must be between ${min} and ${max}.` };
      const below = integer ? min - 1 : min - 0.01;
      const above = integer ? max + 1 : max + 0.01;
      expect(validateChatRequest(ok({ [name]: below }))).toEqual(range);
      expect(validateChatRequest(ok({ [name]: above }))).toEqual(range);
      expect(validateChatRequest(ok({ [name]: min }))).toBeNull();
      expect(validateChatRequest(ok({ [name]: max }))).toBeNull();
    });
  }

  it('numeric fields are checked in order: max_tokens first', () => {
    expect(paramOf(ok({ n: 0, temperature: 9, max_tokens: 0 }))).toBe('max_tokens');
    expect(paramOf(ok({ n: 0, temperature: 9 }))).toBe('temperature');
  });

  it('metadata not an object, or with a non-string value named by key', () => {
    for (const md of ['x', [], 1, true]) {
      expect(validateChatRequest(ok({ metadata: md })), JSON.stringify(md)).toEqual({
        param: 'metadata',
        message: "'metadata' must be an object of strings.",
      });
    }
    for (const v of [1, null, {}, ['a'], false]) {
      expect(validateChatRequest(ok({ metadata: { scenario_id: 's', owner: v } })), JSON.stringify(v)).toEqual({
        param: 'metadata.owner',
        message: "'metadata.owner' must be a string.",
      });
    }
  });

  it('checks messages before the optional fields', () => {
    expect(paramOf({ model: 'm', messages: [{ role: 'user' }], stream: 'yes', metadata: 1 })).toBe('messages[0].content');
    expect(paramOf({ model: 'm', messages: [USER], stream: 'yes', metadata: 1 })).toBe('stream');
  });
});
