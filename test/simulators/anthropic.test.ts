// The managed-API simulator's Anthropic face (/v1/messages) and embeddings, driven directly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMaasSimulator, type MaasSimulator } from '../../simulators/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (r: Response): Promise<any> => r.json() as Promise<any>;

describe('simulator: Anthropic Messages API and embeddings', () => {
  let sim: MaasSimulator;
  let origin: string;
  beforeAll(async () => {
    sim = await startMaasSimulator({ seed: 5 });
    origin = sim.url.slice(0, -3);
  });
  afterAll(async () => {
    await sim.close();
  });

  const messages = (body: unknown, headers: Record<string, string> = { 'x-api-key': 'k' }) =>
    fetch(origin + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('refuses a missing key, bad JSON and bad bodies in Anthropic envelopes', async () => {
    let r = await messages({}, {});
    expect(r.status).toBe(401);
    expect(await json(r)).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'x-api-key header is required' } });
    r = await messages('{nope');
    expect([r.status, (await json(r)).error.type]).toEqual([400, 'invalid_request_error']);
    r = await messages({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect((await json(r)).error.message).toBe('max_tokens: Field required');
    r = await messages({ model: 'm', max_tokens: 5, messages: [{ role: 'system', content: 'x' }] });
    expect((await json(r)).error.message).toBe("messages.0.role: Input should be 'user' or 'assistant'");
    r = await messages({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x [sim:fault=bogus]' }] });
    expect((await json(r)).error.message).toBe('Invalid simulator directive: [sim:fault=bogus]');
    r = await messages({ model: 'm', max_tokens: 5, tools: [{ name: 'f', input_schema: {} }], tool_choice: { type: 'tool', name: 'g' }, messages: [{ role: 'user', content: 'x' }] });
    expect((await json(r)).error.message).toMatch(/tool_choice/);
  });

  it('injects faults with Anthropic statuses', async () => {
    let r = await messages({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x [sim:fault=529]' }] });
    expect([r.status, (await json(r)).error.type]).toEqual([529, 'overloaded_error']);
    r = await messages({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x [sim:fault=429]' }] });
    expect([r.status, r.headers.get('retry-after'), (await json(r)).error.type]).toEqual([429, '1', 'rate_limit_error']);
    r = await messages({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x [sim:fault=500]' }] });
    expect([r.status, (await json(r)).error.type]).toEqual([500, 'api_error']);
  });

  it('answers deterministically: same request, same bytes; max_tokens cuts', async () => {
    const body = { model: 'claude-x', max_tokens: 3, messages: [{ role: 'user', content: 'hello [sim:output_tokens=10]' }] };
    const a = await json(await messages(body));
    const b = await json(await messages(body));
    expect({ ...a, id: '' }).toEqual({ ...b, id: '' });
    expect(a).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-x', stop_reason: 'max_tokens', usage: { output_tokens: 3 } });
    expect(sim.stats.lastRequest!.headers['x-api-key']).toBe('k');
  });

  it("streams Anthropic's event sequence for text and parallel tool calls", async () => {
    const r = await messages({ model: 'm', max_tokens: 200, stream: true, tools: [{ name: 'a', input_schema: { type: 'object', properties: { x: { type: 'integer' } }, required: ['x'] } }, { name: 'b', input_schema: {} }], messages: [{ role: 'user', content: 'go [sim:tool_calls=2]' }] });
    const text = await r.text();
    const types = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(types[0]).toBe('message_start');
    expect(types.filter((t) => t === 'content_block_start').length).toBe(2);
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    const json: Record<number, string> = {};
    for (const m of text.matchAll(/^data: (.*)$/gm)) {
      const e = JSON.parse(m[1]!);
      if (e.type === 'content_block_delta') json[e.index] = (json[e.index] ?? '') + e.delta.partial_json;
    }
    expect(Object.keys(JSON.parse(json[0]!))).toEqual(['x']);
    expect(JSON.parse(json[1]!)).toHaveProperty('query');
    expect(text).toContain('"stop_reason":"tool_use"');
  });

  it('caches the prefix up to the last cache_control mark: creation once, then reads', async () => {
    const system = [{ type: 'text', text: 'A long stable prefix. '.repeat(100), cache_control: { type: 'ephemeral' } }];
    const first = await json(await messages({ model: 'm', max_tokens: 2, system, messages: [{ role: 'user', content: 'one' }] }));
    const second = await json(await messages({ model: 'm', max_tokens: 2, system, messages: [{ role: 'user', content: 'two' }] }));
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(500);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
  });

  it('embeds: deterministic unit vectors, base64 or float, OpenAI errors', async () => {
    const embed = (body: unknown, auth = 'Bearer k') => fetch(origin + '/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify(body) });
    const r = await json(await embed({ model: 'e', input: ['a', 'b'], dimensions: 4 }));
    expect(r.data.length).toBe(2);
    const v = r.data[0].embedding as number[];
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    const b64 = await json(await embed({ model: 'e', input: ['a'], dimensions: 4, encoding_format: 'base64' }));
    expect(Array.from(new Float32Array(Uint8Array.from(Buffer.from(b64.data[0].embedding, 'base64')).buffer))).toEqual(v.map((x) => Math.fround(x)));
    expect((await embed({ model: 'e', input: 'x' }, '')).status).toBe(401);
    expect((await embed({ model: 'e' })).status).toBe(400);
    expect((await embed({ model: 'e', input: 'x [sim:fault=503]' })).status).toBe(503);
  });
});
