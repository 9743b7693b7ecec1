import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalMessage, canonicalTool, canonicalToolItems } from '../../../core/prompt/canonical.js';
import type { ChatMessage, ChatTool } from '../../../core/schema/openai.js';

describe('canonical JSON', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('gives one text for the same value whatever the key order, whitespace or escapes of the source', () => {
    const a = JSON.parse('{"type":"json_schema","json_schema":{"name":"x","strict":true}}');
    const b = JSON.parse('{ "json_schema" : { "strict" : true , "name" : "\\u0078" } , "type" : "json_schema" }');
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it('keeps the members of a JSON-schema properties map in the client order (their order is meaning)', () => {
    const schema = { type: 'object', properties: { zeta: { type: 'string', description: 'z' }, alpha: { type: 'number' } }, required: ['zeta', 'alpha'] };
    expect(canonicalJson(schema)).toBe('{"properties":{"zeta":{"description":"z","type":"string"},"alpha":{"type":"number"}},"required":["zeta","alpha"],"type":"object"}');
  });

  it('drops undefined members and prints non-finite numbers as null, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: Number.NaN, c: [undefined] })).toBe('{"b":null,"c":[null]}');
  });
});

describe('canonical messages', () => {
  it('puts role, content, name, tool_calls, tool_call_id first, then other keys sorted', () => {
    const m = JSON.parse('{"tool_call_id":"c1","zz":1,"content":"ok","role":"tool","aa":2}') as ChatMessage;
    expect(canonicalMessage(m)).toBe('{"role":"tool","content":"ok","tool_call_id":"c1","aa":2,"zz":1}');
  });

  it('is the same for messages whose keys came in different orders', () => {
    const a = JSON.parse('{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]}');
    const b = JSON.parse('{"tool_calls":[{"function":{"arguments":"{}","name":"f"},"type":"function","id":"1"}],"content":null,"role":"assistant"}');
    expect(canonicalMessage(a)).toBe(canonicalMessage(b));
  });

  it('writes usual tool calls exactly as the generic sorted-keys path does (fast path = slow path)', () => {
    const calls = [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":"\\"x"}' } }, { type: 'function', id: 'c2', function: { arguments: '{}', name: 'g' }, extra: 1 }];
    const m = { role: 'assistant', content: null, tool_calls: calls } as unknown as ChatMessage;
    expect(canonicalMessage(m)).toBe('{"role":"assistant","content":null,"tool_calls":' + canonicalJson(calls) + '}');
  });

  it('keeps cache markers on content parts (cache_control survives)', () => {
    const m: ChatMessage = { role: 'user', content: [{ type: 'text', text: 'long context', cache_control: { type: 'ephemeral' } }] };
    const out = JSON.parse(canonicalMessage(m));
    expect(out.content[0].cache_control).toEqual({ type: 'ephemeral' });
  });
});

describe('canonical tools', () => {
  const t = (name: string, extra: Record<string, unknown> = {}): ChatTool =>
    ({ function: { parameters: { type: 'object', properties: { q: { type: 'string' } } }, description: `tool ${name}`, name, ...extra }, type: 'function' }) as ChatTool;

  it('writes type, function; name, description, parameters, strict in that order', () => {
    expect(canonicalTool(t('a', { strict: true }))).toBe('{"type":"function","function":{"name":"a","description":"tool a","parameters":{"properties":{"q":{"type":"string"}},"type":"object"},"strict":true}}');
  });

  it('orders tools by function name, so the same set in any order gives the same text', () => {
    const one = canonicalToolItems([t('search'), t('alpha'), t('lookup')]);
    const two = canonicalToolItems([t('lookup'), t('search'), t('alpha')]);
    expect(one).toBe(two);
    expect(JSON.parse('[' + one + ']').map((x: ChatTool) => x.function.name)).toEqual(['alpha', 'lookup', 'search']);
  });

  it('is empty for no tools', () => {
    expect(canonicalToolItems([])).toBe('');
  });
});
