import { describe, expect, it } from 'vitest';
import { memberText } from '../../../core/schema/json-span.js';

describe('memberText', () => {
  it('finds a top-level member value verbatim, whatever comes before and after', () => {
    const body = '{ "model" : "a\\"b{", "messages":[{"role":"user","content":"hi } ] \\\\ \\" ,"}], "n": 2, "x": {"messages": 1}, "t": true, "z": null }';
    expect(memberText(body, 'messages')).toBe('[{"role":"user","content":"hi } ] \\\\ \\" ,"}]');
    expect(memberText(body, 'model')).toBe('"a\\"b{"');
    expect(memberText(body, 'n')).toBe('2');
    expect(memberText(body, 't')).toBe('true');
    expect(memberText(body, 'z')).toBe('null');
    expect(memberText(body, 'x')).toBe('{"messages": 1}');
  });

  it('agrees with JSON.parse on what it finds, and on the last of duplicate keys', () => {
    const body = '{"messages":[1],"messages":[{"a":[2,{"b":"]"}]}]}';
    expect(JSON.parse(memberText(body, 'messages')!)).toEqual(JSON.parse(body).messages);
    const pretty = JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'ünï\ncode 🎉' }, { role: 'user', content: [{ type: 'text', text: 'x' }] }] }, null, 2);
    expect(JSON.parse(memberText(pretty, 'messages')!)).toEqual(JSON.parse(pretty).messages);
  });

  it('null when absent or not an object', () => {
    expect(memberText('{"model":"m"}', 'messages')).toBeNull();
    expect(memberText('[1,2]', 'messages')).toBeNull();
    expect(memberText('{}', 'messages')).toBeNull();
  });
});
