// The GPU pool simulator's prefix cache at message granularity: a request reuses the longest run of
// leading messages the replica holds — the shared prefix before the last user message, or the whole
// prompt of an earlier turn of the same conversation.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGpuPoolSimulator, type GpuPoolSimulator } from '../../simulators/index.js';

describe('GPU pool simulator: longest cached message prefix', () => {
  let sim: GpuPoolSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startGpuPoolSimulator({ replicas: 1, max_batch: 4, prefill_tokens_per_s: 100000, decode_tokens_per_s: 1000, seed: 2, output_tokens: 4 });
    client = new OpenAI({ apiKey: 'none', baseURL: sim.replicas[0]!.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  const system = { role: 'system' as const, content: 'You are the ops agent. '.repeat(50) };

  it('a next turn reuses the whole previous prompt, not only the system prompt', async () => {
    const turn1 = [system, { role: 'user' as const, content: 'Resolve ticket 7. '.repeat(40) }];
    const r1 = await client.chat.completions.create({ model: 'llama', messages: turn1 });
    expect(r1.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    const turn2 = [...turn1, { role: 'assistant' as const, content: 'Looking.' }, { role: 'user' as const, content: 'Any news?' }];
    const r2 = await client.chat.completions.create({ model: 'llama', messages: turn2 });
    // Turn 1's whole prompt (system + first question) is reused, which is far more than the system prompt alone.
    expect(r2.usage!.prompt_tokens_details!.cached_tokens).toBe(r1.usage!.prompt_tokens);
  });

  it('another conversation with the same system prompt reuses the system prompt only', async () => {
    const r = await client.chat.completions.create({ model: 'llama', messages: [system, { role: 'user', content: 'A different ticket.' }] });
    const cached = r.usage!.prompt_tokens_details!.cached_tokens!;
    expect(cached).toBeGreaterThan(0);
    expect(cached).toBeLessThan(r.usage!.prompt_tokens);
  });
});
