import { describe, expect, it } from 'vitest';
import { ResponseCaches, responseCacheKey } from '../../../core/cache/response-cache.js';
import { cacheDirectives, NO_CACHE, NO_STORE } from '../../../core/cache/index.js';
import { completionAsSse } from '../../../core/cache/replay.js';

const settings = (ttlS: number, maxBytes = 1 << 20) => ({ cache: { response: { ttlS, maxBytes, stream: false } } });
const NONE = { cache: { response: null } };

class FakeClock {
  t = 1000;
  now(): number {
    return this.t;
  }
}

describe('responseCacheKey', () => {
  it('differs by tenant, route, alias and request text, and is stable', () => {
    const k = responseCacheKey('acme', 0, 'crm.fast', '{"messages":[]}');
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(responseCacheKey('acme', 0, 'crm.fast', '{"messages":[]}')).toBe(k);
    const others = [
      responseCacheKey('globex', 0, 'crm.fast', '{"messages":[]}'),
      responseCacheKey('acme', 1, 'crm.fast', '{"messages":[]}'),
      responseCacheKey('acme', 0, 'crm.slow', '{"messages":[]}'),
      responseCacheKey('acme', 0, 'crm.fast', '{"messages":[1]}'),
    ];
    expect(new Set([k, ...others]).size).toBe(5);
  });

  it('cannot be forged by moving bytes between tenant and alias (fields are separated)', () => {
    expect(responseCacheKey('ab', 0, 'c', 'x')).not.toBe(responseCacheKey('a', 0, 'bc', 'x'));
  });
});

describe('ResponseCaches', () => {
  it('only routes that enable the cache have one', () => {
    const c = new ResponseCaches([NONE, settings(60)]);
    expect(c.enabled(0)).toBe(false);
    expect(c.enabled(1)).toBe(true);
    c.set(0, 'k', 't', 'body');
    expect(c.get(0, 'k', 't')).toBeNull();
  });

  it('returns the stored bytes to the same tenant and never to another tenant, even under the same key', () => {
    const c = new ResponseCaches([settings(60)]);
    c.set(0, 'k', 'acme', '{"id":"x"}');
    expect(c.get(0, 'k', 'acme')!.toString()).toBe('{"id":"x"}');
    expect(c.get(0, 'k', 'globex')).toBeNull();
  });

  it('expires entries after ttl_s', () => {
    const clock = new FakeClock();
    const c = new ResponseCaches([settings(2)], clock);
    c.set(0, 'k', 't', 'v');
    clock.t += 1999;
    expect(c.get(0, 'k', 't')).not.toBeNull();
    clock.t += 2;
    expect(c.get(0, 'k', 't')).toBeNull();
  });

  it('evicts least recently used entries to stay within max_bytes, and does not store an entry larger than that', () => {
    const c = new ResponseCaches([settings(60, 1000)]);
    const body = 'x'.repeat(300);
    for (const k of ['a', 'b', 'c']) c.set(0, k, 't', body);
    expect(c.get(0, 'a', 't')).not.toBeNull(); // a is now the most recently used
    c.set(0, 'd', 't', body); // 4 × ~302 bytes > 1000: b (least recently used) leaves
    expect(c.get(0, 'b', 't')).toBeNull();
    expect(c.get(0, 'a', 't')).not.toBeNull();
    expect(c.get(0, 'd', 't')).not.toBeNull();
    expect(c.stats(0).bytes).toBeLessThanOrEqual(1000);
    c.set(0, 'huge', 't', 'y'.repeat(2000));
    expect(c.get(0, 'huge', 't')).toBeNull();
    expect(c.stats(0).entries).toBe(3);
  });
});

describe('Cache-Control directives', () => {
  it('reads no-cache and no-store (no-store implies no-cache), case-insensitively', () => {
    expect(cacheDirectives('')).toBe(0);
    expect(cacheDirectives('max-age=0')).toBe(0);
    expect(cacheDirectives('No-Cache')).toBe(NO_CACHE);
    expect(cacheDirectives('no-store')).toBe(NO_STORE | NO_CACHE);
  });
});

describe('completionAsSse', () => {
  const completion = {
    id: 'chatcmpl-1', object: 'chat.completion', created: 5, model: 'crm.fast',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
  };
  const events = (sse: string) => sse.split('\n\n').filter((e) => e !== '').map((e) => e.slice(6));

  it('replays content, finish reason and (when asked) usage as OpenAI chunks, then [DONE]', () => {
    const ev = events(completionAsSse(Buffer.from(JSON.stringify(completion)), true)!);
    expect(ev.at(-1)).toBe('[DONE]');
    const chunks = ev.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === 'chatcmpl-1' && c.model === 'crm.fast')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('Hello there');
    expect(chunks.find((c) => c.choices[0]?.finish_reason)!.choices[0].finish_reason).toBe('stop');
    expect(chunks.at(-1).usage).toEqual(completion.usage);
    const noUsage = events(completionAsSse(Buffer.from(JSON.stringify(completion)), false)!).slice(0, -1).map((e) => JSON.parse(e));
    expect(noUsage.some((c) => 'usage' in c)).toBe(false);
  });

  it('replays tool calls with their index', () => {
    const tc = { ...completion, choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'tool_calls' }] };
    const chunks = events(completionAsSse(Buffer.from(JSON.stringify(tc)), false)!).slice(0, -1).map((e) => JSON.parse(e));
    const call = chunks.find((c) => c.choices[0].delta.tool_calls)!.choices[0].delta.tool_calls[0];
    expect(call).toEqual({ index: 0, id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } });
  });

  it('is null for a body that is not a chat completion', () => {
    expect(completionAsSse(Buffer.from('not json'), false)).toBeNull();
    expect(completionAsSse(Buffer.from('{"x":1}'), false)).toBeNull();
  });
});
