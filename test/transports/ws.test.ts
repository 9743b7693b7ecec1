// GET /v1/ws (issue 11): many requests per socket, JSON and msgpack frames, streams, cancel, bad input.
// Driven with the project's client (transports/uws/ws-client.ts) against a whole stack on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Packr, Unpackr } from 'msgpackr';
import { WsClient, WsClosedError, WsRequestError, type WsEncoding } from '../../transports/uws/ws-client.js';
import { DEMO_KEY, OTHER_KEY, eventually, startStack, testConfigYaml, type Stack } from '../helpers/stack.js';

const CHAT = { model: 'demo.chat', messages: [{ role: 'user', content: 'Say hello.' }], metadata: { scenario_id: 'ws-test' } };

function wsUrl(s: Stack): string {
  return s.url.replace('http://', 'ws://') + '/v1/ws';
}

function wsStats(s: Stack) {
  return s.server!.ws!.stats();
}

async function expectRequestError(p: Promise<unknown>, code: string): Promise<WsRequestError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WsRequestError);
    expect((err as WsRequestError).code).toBe(code);
    return err as WsRequestError;
  }
  throw new Error(`expected an error frame with code ${code}`);
}

describe('WebSocket ingress: requests and answers', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 11 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  for (const encoding of ['json', 'msgpack', 'msgpack-records'] as WsEncoding[]) {
    it(`answers a chat completion with the pipeline's answer (${encoding} frames)`, async () => {
      const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY, encoding });
      const call = c.request('chat.completions', CHAT, { id: 'r1', meta: true });
      const data = (await call.response()) as { object: string; model: string; usage: { prompt_tokens: number; completion_tokens: number } };
      expect(data.object).toBe('chat.completion');
      expect(data.model).toBe('demo.chat');
      expect(data.usage.completion_tokens).toBeGreaterThan(0);
      expect(call.status).toBe(200);
      expect(call.meta!['x-switchyard-alias']).toBe('demo.chat');
      expect(call.meta!['x-request-id']).toMatch(/^req_/);
      // The same trace record as HTTP: one per request, with the frame's attribution.
      const t = s.traces.records.find((r) => r.request_id === call.meta!['x-request-id'])!;
      expect(t.status).toBe(200);
      expect(t.scenario_id).toBe('ws-test');
      expect(t.output_tokens).toBe(data.usage.completion_tokens);
      await c.close();
    });

    it(`streams chunks tagged with the id and ends with usage (${encoding} frames)`, async () => {
      const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY, encoding });
      const call = c.request('chat.completions', { ...CHAT, stream: true, messages: [{ role: 'user', content: 'Stream [sim:output_tokens=40]' }] });
      let text = '';
      let chunks = 0;
      for await (const chunk of call) {
        const ch = chunk as { object: string; model: string; choices: Array<{ delta: { content?: string } }> };
        expect(ch.object).toBe('chat.completion.chunk');
        expect(ch.model).toBe('demo.chat');
        text += ch.choices[0]?.delta?.content ?? '';
        chunks++;
      }
      expect(chunks).toBeGreaterThan(10);
      expect(text.length).toBeGreaterThan(0);
      expect(call.usage!.output_tokens).toBe(40);
      expect(call.usage!.tokens_estimated).toBe(false);
      expect(call.usage!.total_tokens).toBe(call.usage!.input_tokens + 40);
      await c.close();
    });
  }
});
