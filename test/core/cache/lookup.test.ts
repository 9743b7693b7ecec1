import { describe, expect, it } from 'vitest';
import { GatewayCaches, ResponseLookup, lookupResponse } from '../../../core/cache/index.js';
import { OpenAIChatTranslator } from '../../../core/providers/openai/chat.js';
import { GatewayMetrics } from '../../../core/telemetry/metrics.js';
import type { ChatCompletionRequest } from '../../../core/schema/openai.js';

const tr = new OpenAIChatTranslator();
const MESSAGES = '[{"role":"user","content":"hi"}]';
const STORED = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'a', choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }] });

function setup(stream = false) {
  const metrics = new GatewayMetrics();
  const pool = { id: 'p' };
  const routes = [
    { alias: 'plain', index: 0, pool, cache: { response: null } },
    { alias: 'cached', index: 1, pool, cache: { response: { ttlS: 60, maxBytes: 1 << 20, stream } } },
  ];
  metrics.bind(routes);
  const caches = new GatewayCaches(routes, metrics);
  const route = routes[1]!;
  const look = (req: Partial<ChatCompletionRequest>, tenant = 'acme', cacheControl = '') => {
    const out = new ResponseLookup();
    const hit = lookupResponse(caches, route, route, tenant, 'cached', { model: 'cached', messages: [{ role: 'user', content: 'hi' }], ...req }, tr, MESSAGES, null, cacheControl, out);
    return { hit, out };
  };
  const count = (result: string) => metrics.cacheLookups.get(['cached', 'response', result]);
  return { caches, route, routes, look, count };
}

describe('lookupResponse', () => {
  it('does nothing for a route without a response cache', () => {
    const { caches, routes } = setup();
    const out = new ResponseLookup();
    expect(lookupResponse(caches, routes[0]!, routes[0]!, 't', 'plain', { model: 'plain', messages: [] }, tr, '[]', null, '', out)).toBe(false);
    expect(out).toMatchObject({ result: 'bypass', key: '' });
  });

  it('misses with a key to store under, then hits for the same tenant only', () => {
    const { caches, look, count } = setup();
    const miss = look({});
    expect(miss).toMatchObject({ hit: false, out: { result: 'miss' } });
    expect(miss.out.key).toMatch(/^[0-9a-f]{64}$/);
    caches.responses.set(1, miss.out.key, 'acme', STORED);
    const hit = look({ metadata: { owner: 'someone else' } });
    expect(hit.hit).toBe(true);
    expect(hit.out.body!.toString()).toBe(STORED);
    expect(hit.out.key).toBe('');
    expect(look({}, 'globex').hit).toBe(false);
    expect([count('hit'), count('miss')]).toEqual([1, 2]);
  });

  it('keys on the request content: another parameter is another entry', () => {
    const { caches, look } = setup();
    const a = look({});
    caches.responses.set(1, a.out.key, 'acme', STORED);
    expect(look({ temperature: 0.5 }).hit).toBe(false);
  });

  it('bypasses streams unless the route replays them; then a stream hits the same entry as a plain request', () => {
    const off = setup(false);
    expect(off.look({ stream: true })).toMatchObject({ hit: false, out: { result: 'bypass', key: '' } });
    expect(off.count('bypass')).toBe(1);
    const on = setup(true);
    const plain = on.look({});
    on.caches.responses.set(1, plain.out.key, 'acme', STORED);
    const streamed = on.look({ stream: true, stream_options: { include_usage: true } });
    expect(streamed.hit).toBe(true);
    expect(streamed.out.sse).toContain('"content":"hello"');
    expect(streamed.out.sse!.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('Cache-Control: no-cache skips the lookup but keeps the key (the answer is stored); no-store keeps neither', () => {
    const { caches, look, count } = setup();
    const first = look({});
    caches.responses.set(1, first.out.key, 'acme', STORED);
    const nc = look({}, 'acme', 'no-cache');
    expect(nc).toMatchObject({ hit: false, out: { result: 'bypass', key: first.out.key } });
    const ns = look({}, 'acme', 'no-store');
    expect(ns).toMatchObject({ hit: false, out: { result: 'bypass', key: '' } });
    expect(count('bypass')).toBe(2);
  });
});
