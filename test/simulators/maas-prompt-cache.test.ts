// The MaaS simulator reports prompt caching the way OpenAI does: usage.prompt_tokens_details.cached_tokens
// when the messages before the last (1,024 tokens or more) were seen before, in steps of 128 tokens —
// what the gateway's prefix-cache metrics read.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMaasSimulator, type MaasSimulator } from '../../simulators/index.js';

describe('MaaS simulator prompt caching', () => {
  let sim: MaasSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startMaasSimulator({ seed: 3 });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  const system = { role: 'system' as const, content: 'You are a careful assistant for the billing team. '.repeat(100) }; // ~1,300 tokens

  it('caches nothing the first time, then the shared leading messages in steps of 128 tokens', async () => {
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [system, { role: 'user', content: 'first question' }] });
    expect(first.usage!.prompt_tokens).toBeGreaterThanOrEqual(1024);
    expect(first.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [system, { role: 'user', content: 'second question' }] });
    const cached = second.usage!.prompt_tokens_details!.cached_tokens!;
    expect(cached).toBeGreaterThanOrEqual(1024);
    expect(cached % 128).toBe(0);
    expect(cached).toBeLessThan(second.usage!.prompt_tokens);
    expect(sim.stats.requestLog.at(-1)!.cached_tokens).toBe(cached);
  });

  it('never caches a prompt under 1,024 tokens', async () => {
    const short = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'hi' }];
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: short });
    const again = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: short });
    expect(again.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
  });

  it('reports cached tokens in the usage chunk of a stream', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [system, { role: 'user', content: 'streamed question' }], stream: true, stream_options: { include_usage: true } });
    let cached = -1;
    for await (const chunk of stream) if (chunk.usage) cached = chunk.usage.prompt_tokens_details!.cached_tokens!;
    expect(cached).toBeGreaterThanOrEqual(1024);
  });
});
