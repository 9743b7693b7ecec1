import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReferenceProxy } from '../../bench/reference-proxy.js';
import type { ReferenceProxy } from '../../bench/reference-proxy.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Buffer;
}

/** A tiny upstream: records what it got; answers JSON, an error status, or a stream it releases on demand. */
function startStub(): Promise<{ server: Server; url: string; seen: Seen[]; release: () => void }> {
  const seen: Seen[] = [];
  let releaseStream: () => void = () => {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body,
      });
      const parsed = JSON.parse(body.toString('utf8')) as { model: string; stream?: boolean };
      if (parsed.model === 'rate-limited') {
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded","param":null}}');
        return;
      }
      if (parsed.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n');
        // The rest waits until the test has seen the first event through the proxy.
        releaseStream = () => {
          res.write('data: {"choices":[{"delta":{"content":"lo"}}]}\n\n');
          res.end('data: [DONE]\n\n');
        };
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: parsed.model, echo: body.length }));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}`, seen, release: () => releaseStream() });
    });
  });
}

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'héllo, proxy' }], max_tokens: 16 });

describe('reference proxy (against a node:http stub)', () => {
  let stub: Awaited<ReturnType<typeof startStub>>;
  let proxy: ReferenceProxy;
  let agent: Agent;

  beforeAll(async () => {
    stub = await startStub();
    proxy = await startReferenceProxy({ upstream: stub.url, port: 0, apiKey: 'sk-upstream' });
    agent = new Agent({ connections: 4 });
  });

  afterAll(async () => {
    await agent.close();
    await proxy.close();
    await new Promise<void>((r) => stub.server.close(() => r()));
  });

  it('listens on a free port and reports its url', () => {
    expect(proxy.port).toBeGreaterThan(0);
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
  });

  it('forwards the body bytes with the upstream key and returns status and body', async () => {
    const before = stub.seen.length;
    const r = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' },
      body: BODY,
      dispatcher: agent,
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const json = (await r.body.json()) as { model: string; echo: number };
    expect(json.model).toBe('gpt-4o-mini');
    expect(json.echo).toBe(Buffer.byteLength(BODY));

    const got = stub.seen[before]!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/v1/chat/completions');
    expect(got.authorization).toBe('Bearer sk-upstream'); // never the client's key
    expect(got.contentType).toBe('application/json');
    expect(got.body.equals(Buffer.from(BODY))).toBe(true);
  });

  it('forwards a large body sent in many chunks intact', async () => {
    const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(300_000) }] });
    const before = stub.seen.length;
    const r = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
      dispatcher: agent,
    });
    expect(r.statusCode).toBe(200);
    await r.body.dump();
    expect(stub.seen[before]!.body.equals(Buffer.from(big))).toBe(true);
  });

  it('passes an upstream error status through', async () => {
    const r = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rate-limited', messages: [] }),
      dispatcher: agent,
    });
    expect(r.statusCode).toBe(429);
    const json = (await r.body.json()) as { error: { code: string } };
    expect(json.error.code).toBe('rate_limit_exceeded');
  });

  it('streams SSE through chunk by chunk', async () => {
    const r = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [], stream: true }),
      dispatcher: agent,
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream');
    const it = r.body[Symbol.asyncIterator]();
    // The first event arrives while the upstream is still holding the rest back.
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(Buffer.from(first.value as Buffer).toString('utf8')).toContain('"Hel"');
    stub.release();
    let rest = '';
    for (;;) {
      const n = await it.next();
      if (n.done === true) break;
      rest += Buffer.from(n.value as Buffer).toString('utf8');
    }
    expect(rest).toContain('"lo"');
    expect(rest.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('answers 404 on unknown paths and methods', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/v1/embeddings'],
      ['GET', '/v1/chat/completions'],
    ] as const) {
      const r = await request(`${proxy.url}${path}`, { method, dispatcher: agent });
      expect(r.statusCode, `${method} ${path}`).toBe(404);
      const json = (await r.body.json()) as { error: { code: string } };
      expect(json.error.code).toBe('not_found');
    }
  });
});

describe('reference proxy with an unreachable upstream', () => {
  it('answers 502', async () => {
    // Take a free port, then close it, so nothing listens there.
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const { port } = s.address() as AddressInfo;
    await new Promise<void>((r) => s.close(() => r()));

    const proxy = await startReferenceProxy({ upstream: `http://127.0.0.1:${port}`, port: 0 });
    const agent = new Agent();
    try {
      const r = await request(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: BODY,
        dispatcher: agent,
      });
      expect(r.statusCode).toBe(502);
      await r.body.dump();
    } finally {
      await agent.close();
      await proxy.close();
    }
  });
});

const simulatorSource = fileURLToPath(new URL('../../simulators/maas.ts', import.meta.url));

// The simulator is part of this repository; the guard only matters when this file is copied out alone
// (the proxy has no dependency on the simulator otherwise).
describe.skipIf(!existsSync(simulatorSource))('reference proxy (against the MaaS simulator)', () => {
  let sim: { url: string; close(): Promise<void> | void };
  let proxy: ReferenceProxy;
  let agent: Agent;

  beforeAll(async () => {
    // Imported by a computed path so this file still compiles while the simulator is being written.
    const mod = (await import(simulatorSource)) as {
      startMaasSimulator: (profile: unknown, opts: { port: number }) => Promise<{ url: string; close(): Promise<void> | void }>;
    };
    sim = await mod.startMaasSimulator({}, { port: 0 });
    proxy = await startReferenceProxy({ upstream: sim.url, port: 0 });
    agent = new Agent();
  });

  afterAll(async () => {
    await agent?.close();
    await proxy?.close();
    await sim?.close();
  });

  it('returns a chat completion', async () => {
    const r = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
      dispatcher: agent,
    });
    expect(r.statusCode).toBe(200);
    const json = (await r.body.json()) as { object: string; choices: unknown[] };
    expect(json.object).toBe('chat.completion');
    expect(json.choices.length).toBeGreaterThan(0);
  });

  it('streams chunks ending in [DONE]', async () => {
    const r = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      dispatcher: agent,
    });
    expect(r.statusCode).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^text\/event-stream/);
    const text = await r.body.text();
    expect(text).toContain('chat.completion.chunk');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });
});
