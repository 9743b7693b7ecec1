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

describe('WebSocket ingress: many requests on few sockets', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 12 }', timeoutMs: 30_000, quota: '{ requests_per_minute: 100000, tokens_per_minute: 100000000 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  it('1,000 concurrent requests over 8 sockets all complete with the right ids and usage', { timeout: 60_000 }, async () => {
    const encodings: WsEncoding[] = ['json', 'msgpack', 'msgpack-records', 'json', 'msgpack', 'msgpack-records', 'json', 'msgpack'];
    const clients = await Promise.all(encodings.map((encoding) => WsClient.connect({ url: wsUrl(s), key: DEMO_KEY, encoding })));
    const jobs: Array<Promise<void>> = [];
    const before = s.traces.records.length;
    for (let i = 0; i < 1000; i++) {
      const c = clients[i % 8]!;
      // Each request asks for its own output length: an answer under the wrong id would show the wrong usage.
      const n = (i % 37) + 1;
      const stream = i % 4 === 0;
      const body = { model: 'demo.chat', stream, messages: [{ role: 'user', content: `request ${i} [sim:output_tokens=${n}]` }] };
      const call = c.request('chat.completions', body, { id: `r${i}` });
      jobs.push(
        (async () => {
          if (stream) {
            let chunks = 0;
            for await (const _ of call) chunks++;
            expect(chunks).toBeGreaterThan(0);
            expect(call.usage!.output_tokens).toBe(n);
          } else {
            const data = (await call.response()) as { usage: { completion_tokens: number } };
            expect(data.usage.completion_tokens).toBe(n);
          }
          expect(call.id).toBe(`r${i}`);
        })(),
      );
    }
    await Promise.all(jobs);
    for (const c of clients) expect(c.inFlight).toBe(0);
    await eventually(() => s.traces.records.length - before === 1000);
    expect(s.traces.records.slice(before).every((t) => t.status === 200)).toBe(true);
    expect(wsStats(s).inflight).toBe(0);
    await Promise.all(clients.map((c) => c.close()));
    await eventually(() => wsStats(s).sockets === 0);
  });
});

describe('WebSocket ingress: cancel', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 13 }', keyLimits: '{ concurrent_requests: 2 }', tokenBudget: '{ max_input_tokens: 8000, max_output_tokens: 5000 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  it('a cancel mid-stream aborts the upstream call and frees the concurrency slot; the socket goes on', async () => {
    const key = [...s.plan.keysByHash.values()].find((k) => k.id === 'k-demo')!;
    const conc = key.limits.find((l) => l.limitName === 'concurrency')!.cell;
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY, encoding: 'msgpack' });
    const abortedBefore = s.sim.stats.byStatus.aborted ?? 0;
    const call = c.request('chat.completions', { ...CHAT, stream: true, messages: [{ role: 'user', content: 'long [sim:output_tokens=3000] [sim:tokens_per_s=200]' }] }, { id: 'long' });
    let chunks = 0;
    let err: unknown = null;
    try {
      for await (const _ of call) {
        if (++chunks === 3) {
          expect(await s.limits!.peek(conc, Date.now())).toBe(1); // the slot is held while it streams
          call.cancel();
        }
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WsRequestError);
    expect((err as WsRequestError).code).toBe('client_closed_request');
    expect((err as WsRequestError).status).toBe(499);
    // The upstream request was cut, the slot released, the request settled with 499.
    await eventually(() => (s.sim.stats.byStatus.aborted ?? 0) === abortedBefore + 1);
    await eventually(() => s.limits!.peek(conc, Date.now()) === 0);
    await eventually(() => s.gateway.inFlight === 0);
    const t = s.traces.records.at(-1)!;
    expect(t.status).toBe(499);
    expect(t.error_code).toBe('client_closed_request');
    expect(t.output_tokens).toBeLessThan(3000);
    // Both slots are free: two more requests are admitted at once, on the same socket.
    const [a, b] = await Promise.all([c.request('chat.completions', CHAT).response(), c.request('chat.completions', CHAT).response()]);
    expect((a as { object: string }).object).toBe('chat.completion');
    expect((b as { object: string }).object).toBe('chat.completion');
    // A cancel for an id not in flight is a no-op.
    c.send({ id: 'nothing', op: 'cancel' });
    expect(((await c.request('chat.completions', CHAT).response()) as { object: string }).object).toBe('chat.completion');
    await c.close();
  });

  it('closing the socket aborts every request in flight on it and frees their slots', async () => {
    const key = [...s.plan.keysByHash.values()].find((k) => k.id === 'k-demo')!;
    const conc = key.limits.find((l) => l.limitName === 'concurrency')!.cell;
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY });
    const calls = [0, 1].map((i) => c.request('chat.completions', { ...CHAT, stream: true, messages: [{ role: 'user', content: `slow ${i} [sim:output_tokens=3000] [sim:tokens_per_s=100]` }] }));
    const firsts = calls.map(async (call) => {
      for await (const _ of call) return;
    });
    await Promise.all(firsts);
    expect(await s.limits!.peek(conc, Date.now())).toBe(2);
    await c.close();
    await eventually(() => s.limits!.peek(conc, Date.now()) === 0);
    await eventually(() => s.gateway.inFlight === 0);
    for (const call of calls) expect(call.done).toBe(true);
  });
});

/** A raw WebSocket client over TCP that can stop reading (the undici client always reads). */
async function rawSocket(url: string, headers: Record<string, string>): Promise<import('node:net').Socket> {
  const { connect } = await import('node:net');
  const u = new URL(url);
  const sock = connect(Number(u.port), u.hostname);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  sock.write(`GET /v1/ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        sock.off('data', onData);
        if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head.split('\r\n')[0]));
        else resolve();
      }
    };
    sock.on('data', onData);
  });
  return sock;
}

/** One masked client text frame. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n < 65536 ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0]), Buffer.from([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])]);
  const mask = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

describe('WebSocket ingress: a slow reader', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 14 }', quota: '{ requests_per_minute: 1000, tokens_per_minute: 100000000 }', tokenBudget: '{ max_input_tokens: 8000, max_output_tokens: 400000 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  it('a client that stops reading pauses its stream at the bound; the stream resumes and completes when it reads again', { timeout: 90_000 }, async () => {
    const sock = await rawSocket(s.url, { authorization: `Bearer ${DEMO_KEY}` });
    const tokens = 150_000;
    sock.write(textFrame(JSON.stringify({ id: 'big', op: 'chat.completions', body: { ...CHAT, stream: true, max_tokens: tokens, messages: [{ role: 'user', content: `everything [sim:output_tokens=${tokens}] [sim:tokens_per_s=2000000]` }] } })));
    sock.pause(); // read nothing: the kernel buffers fill, then the gateway's socket buffer
    await eventually(() => wsStats(s).paused === 1, 40_000);
    // Paused: the gateway holds at most the soft bound plus what one upstream read decoded, and stays there.
    const bound = 256 * 1024 + 256 * 1024;
    expect(wsStats(s).maxBuffered).toBeLessThan(bound);
    await new Promise((r) => setTimeout(r, 500));
    expect(wsStats(s).maxBuffered).toBeLessThan(bound);
    expect(wsStats(s).paused).toBe(1);
    expect(s.traces.records.some((t) => t.output_tokens === tokens)).toBe(false);
    expect(s.gateway.metrics.registry.snapshot().families.find((f) => f.name === 'switchyard_ws_backpressure_pauses_total')!.series[0]![1][0]).toBeGreaterThan(0);
    // Read again: everything arrives and the stream ends with its done frame.
    let tail = '';
    let total = 0;
    const done = new Promise<void>((resolve) => {
      sock.on('data', (d: Buffer) => {
        total += d.length;
        tail = (tail + d.toString('latin1')).slice(-4096);
        if (tail.includes('"type":"done"')) resolve();
      });
    });
    sock.resume();
    await done;
    expect(total).toBeGreaterThan(tokens * 50);
    await eventually(() => s.traces.records.some((t) => t.output_tokens === tokens && t.status === 200));
    sock.destroy();
    await eventually(() => wsStats(s).sockets === 0);
  });
});

describe('WebSocket ingress: a reader that never reads whole answers', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 19 }', timeoutMs: 30_000, quota: '{ requests_per_minute: 100000, tokens_per_minute: 1000000000 }', tokenBudget: '{ max_input_tokens: 8000, max_output_tokens: 10000 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  it('is dropped once its unsent answers pass the hard bound (16 MiB); its requests settle and nothing stays held', { timeout: 60_000 }, async () => {
    const sock = await rawSocket(s.url, { authorization: `Bearer ${DEMO_KEY}` });
    sock.pause();
    sock.on('error', () => {});
    // 1,000 answers of ~40 KB each: far more than the kernel's buffers and the 16 MiB bound together.
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) frames.push(textFrame(JSON.stringify({ id: i, op: 'chat.completions', body: { ...CHAT, max_tokens: 8000, messages: [{ role: 'user', content: `big ${i} [sim:output_tokens=8000]` }] } })));
    sock.write(Buffer.concat(frames));
    // The gateway drops the socket (the paused client would see it only when it reads again).
    await eventually(() => wsStats(s).sockets === 0, 50_000);
    sock.destroy();
    // Never more than the bound (plus one answer) held for it; every request settled, nothing in flight.
    expect(wsStats(s).maxBuffered).toBeLessThanOrEqual(16 * 1024 * 1024 + 128 * 1024);
    await eventually(() => s.gateway.inFlight === 0, 30_000);
    expect(wsStats(s).inflight).toBe(0);
  });
});

describe('WebSocket ingress: bad input gets an error frame with a stable code; the socket goes on', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 15 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  /** The next socket-level (id null) error frame. */
  function nextSocketError(c: WsClient): Promise<WsRequestError> {
    return new Promise((resolve) => (c.onSocketError = (e) => resolve(e)));
  }

  for (const encoding of ['json', 'msgpack'] as WsEncoding[]) {
    it(`malformed frames, unknown ops, bad ids, missing bodies, duplicates (${encoding})`, async () => {
      const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY, encoding });
      // A slow request stays in flight through all of it and completes at the end.
      const slow = c.request('chat.completions', { ...CHAT, messages: [{ role: 'user', content: 'slow [sim:ttft_ms=300]' }] }, { id: 'slow' });

      let e = nextSocketError(c);
      c.sendRaw(encoding === 'json' ? '{"id": "x", "op": ' : Buffer.from([0xc1, 0xff, 0x00]));
      expect((await e).code).toBe('invalid_frame');
      e = nextSocketError(c);
      c.send([1, 2, 3]);
      expect((await e).code).toBe('invalid_frame');
      e = nextSocketError(c);
      c.send({ id: { nested: true }, op: 'chat.completions', body: CHAT });
      expect((await e).param).toBe('id');
      e = nextSocketError(c);
      c.send({ id: 'x'.repeat(200), op: 'chat.completions', body: CHAT });
      expect((await e).param).toBe('id');
      e = nextSocketError(c);
      c.send({ id: -1, op: 'chat.completions', body: CHAT });
      expect((await e).param).toBe('id');
      e = nextSocketError(c);
      c.send({ op: 'chat.completions', body: CHAT });
      const noId = await e;
      expect([noId.code, noId.param]).toEqual(['invalid_frame', 'id']);
      e = nextSocketError(c);
      c.send({ op: 42 });
      expect([(await e).code, 'op']).toEqual(['invalid_frame', 'op']);

      // Errors about one request come back under its id.
      const unknown = await expectRequestError(c.request('embeddings' as 'messages', CHAT, { id: 'u1' }).response(), 'unknown_op');
      expect(unknown.id).toBe('u1');
      expect(unknown.status).toBe(400);
      const noOp = c.track('no-op');
      c.send({ id: 'no-op' });
      const noOpErr = await expectRequestError(noOp.response(), 'invalid_frame');
      expect(noOpErr.param).toBe('op');
      const noBody = c.request('chat.completions', undefined, { id: 'no-body' });
      expect((await expectRequestError(noBody.response(), 'invalid_frame')).param).toBe('body');
      // A duplicate of an id in flight is refused as the socket's error (`ref` names it); the request in flight goes on.
      expect(() => c.request('chat.completions', CHAT, { id: 'slow' })).toThrow(/in flight/);
      e = nextSocketError(c);
      c.send({ id: 'slow', op: 'chat.completions', body: CHAT });
      const dupErr = await e;
      expect([dupErr.code, dupErr.status, dupErr.ref]).toEqual(['duplicate_id', 409, 'slow']);

      // The pipeline's own errors, unchanged: bad body, unknown alias, oversized body.
      await expectRequestError(c.request('chat.completions', { model: 'demo.chat' }, { id: 'p1' }).response(), 'invalid_request');
      const nf = await expectRequestError(c.request('chat.completions', { ...CHAT, model: 'gpt-4o-mini' }, { id: 'p2' }).response(), 'alias_not_found');
      expect(nf.status).toBe(404);
      const big = await expectRequestError(c.request('chat.completions', { ...CHAT, messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }, { id: 'p3' }).response(), 'body_too_large');
      expect(big.status).toBe(413);

      // The slow request was never disturbed; ping still answers.
      expect(((await slow.response()) as { object: string }).object).toBe('chat.completion');
      expect(c.closed).toBe(null);
      await c.close();
    });
  }

  it('a body that is not a chat request, or not JSON, reaches the pipeline and gets its error', async () => {
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY });
    const b1 = c.track('b1');
    c.sendRaw('{"id":"b1","op":"chat.completions","body":"just text"}');
    expect((await expectRequestError(b1.response(), 'invalid_request')).status).toBe(400);
    const b2 = c.track('b2');
    c.sendRaw('{"id":"b2","op":"chat.completions","body":{"model": }}');
    expect((await expectRequestError(b2.response(), 'invalid_json')).status).toBe(400);
    // A frame whose own structure is broken is the socket's error.
    const e = new Promise<string>((resolve) => (c.onSocketError = (err) => resolve(err.code)));
    c.sendRaw('{"id":"b3","op":"chat.completions","body":{"model":"demo.chat"} trailing');
    expect(await e).toBe('invalid_frame');
    await c.close();
  });

  it('frames before auth get missing_api_key; a bad auth frame gets invalid_api_key; a good one unlocks the socket', async () => {
    const c = await WsClient.connect({ url: wsUrl(s) });
    const before = await expectRequestError(c.request('chat.completions', CHAT, { id: 'early' }).response(), 'missing_api_key');
    expect(before.status).toBe(401);
    await expect(c.auth('sk-wrong')).rejects.toMatchObject({ code: 'invalid_api_key' });
    await expectRequestError(c.request('chat.completions', CHAT).response(), 'missing_api_key');
    await c.auth(DEMO_KEY);
    expect(((await c.request('chat.completions', CHAT).response()) as { model: string }).model).toBe('demo.chat');
    await c.close();
  });

  it('auth by frame (browsers): connect({ auth: "frame" })', async () => {
    const c = await WsClient.connect({ url: wsUrl(s), key: OTHER_KEY, auth: 'frame', encoding: 'msgpack' });
    // The other tenant's key sees other.only (the demo key does not); the trace says which tenant.
    const call = c.request('chat.completions', { ...CHAT, model: 'other.only' }, { meta: true });
    expect(((await call.response()) as { model: string }).model).toBe('other.only');
    expect(s.traces.records.find((t) => t.request_id === call.meta!['x-request-id'])!.tenant).toBe('other');
    await c.close();
    const d = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY, auth: 'frame' });
    await expectRequestError(d.request('chat.completions', { ...CHAT, model: 'other.only' }).response(), 'alias_not_found');
    await d.close();
    const open = wsStats(s).sockets;
    await expect(WsClient.connect({ url: wsUrl(s), key: 'sk-nope', auth: 'frame' })).rejects.toMatchObject({ code: 'invalid_api_key' });
    // The client closes a socket whose auth was refused.
    await eventually(() => wsStats(s).sockets === open);
  });

  it('an invalid key in the upgrade headers is refused before the upgrade (401)', async () => {
    await expect(WsClient.connect({ url: wsUrl(s), key: 'sk-nope' })).rejects.toThrow();
    const { request } = await import('undici');
    const r = await request(s.url + '/v1/ws', { headers: { authorization: 'Bearer sk-nope', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } }).catch((err: Error) => err);
    if (!(r instanceof Error)) {
      expect(r.statusCode).toBe(401);
      expect(((await r.body.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    }
  });

  it('GET /metrics counts sockets, refused frames by code, and backpressure pauses', async () => {
    const { request } = await import('undici');
    const scrape = async () => {
      const text = await (await request(s.url + '/metrics')).body.text();
      return (series: string) => Number(text.split('\n').find((l) => l.startsWith(series + ' '))?.slice(series.length + 1) ?? 0);
    };
    const before = await scrape();
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY });
    c.sendRaw('not json at all');
    await expectRequestError(c.request('nope' as 'messages', CHAT).response(), 'unknown_op');
    await c.close();
    const opened0 = before('switchyard_ws_connections_opened_total');
    const closed0 = before('switchyard_ws_connections_closed_total');
    let after = await scrape();
    const end = Date.now() + 3000;
    while (after('switchyard_ws_connections_closed_total') < closed0 + 1 && Date.now() < end) after = await scrape();
    expect(after('switchyard_ws_connections_opened_total')).toBe(opened0 + 1);
    expect(after('switchyard_ws_connections_closed_total')).toBe(closed0 + 1);
    expect(after('switchyard_ws_frame_errors_total{code="invalid_frame"}')).toBe(before('switchyard_ws_frame_errors_total{code="invalid_frame"}') + 1);
    expect(after('switchyard_ws_frame_errors_total{code="unknown_op"}')).toBe(before('switchyard_ws_frame_errors_total{code="unknown_op"}') + 1);
  });

  it('the messages op streams Anthropic events as chunk frames and ends with usage', async () => {
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY, encoding: 'msgpack' });
    const call = c.request('messages', { model: 'demo.chat', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello [sim:output_tokens=12]' }] });
    const types: string[] = [];
    for await (const ev of call) types.push((ev as { type: string }).type);
    expect(types[0]).toBe('message_start');
    expect(types).toContain('content_block_delta');
    expect(types.at(-1)).toBe('message_stop');
    expect(call.usage!.output_tokens).toBe(12);
    await c.close();
  });

  it('a plain GET /v1/ws (no upgrade) gets 426 with a clear error', async () => {
    const { request } = await import('undici');
    const r = await request(s.url + '/v1/ws');
    expect(r.statusCode).toBe(426);
    expect(r.headers.upgrade).toBe('websocket');
    expect(((await r.body.json()) as { error: { message: string } }).error.message).toMatch(/WebSocket/);
  });

  it('a frame over the maximum payload closes the socket with 1009', async () => {
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY });
    const pending = c.request('chat.completions', { ...CHAT, messages: [{ role: 'user', content: 'slow [sim:ttft_ms=500]' }] });
    // Over the frame limit (max body 64 KiB + 64 KiB) but under uWS's own (twice that): a clear 1009.
    c.sendRaw('{"id":"huge","op":"chat.completions","body":' + JSON.stringify({ ...CHAT, messages: [{ role: 'user', content: 'x'.repeat(150_000) }] }) + '}');
    await expect(pending.response()).rejects.toBeInstanceOf(WsClosedError);
    expect(c.closed!.code).toBe(1009);
  });

  it('a client that keeps sending garbage is closed with 4002', async () => {
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY });
    for (let i = 0; i < 40; i++) c.sendRaw('not json');
    await eventually(() => c.closed !== null);
    expect(c.closed!.code).toBe(4002);
  });

  it('ping frames get pong; the messages op goes to whatever /v1/messages answers on HTTP', async () => {
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY });
    const pong = await new Promise<boolean>((resolve) => {
      const ws = (c as unknown as { ws: { onmessage: (ev: { data: unknown }) => void } }).ws;
      const prev = ws.onmessage;
      ws.onmessage = (ev) => {
        if (String(ev.data) === '{"type":"pong"}') resolve(true);
        prev(ev);
      };
      c.send({ op: 'ping' });
    });
    expect(pong).toBe(true);
    const body = { model: 'demo.chat', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] };
    const { request } = await import('undici');
    const http = await request(s.url + '/v1/messages', { method: 'POST', headers: { 'x-api-key': DEMO_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
    const httpBody = (await http.body.json()) as { error?: { code?: string; type?: string } };
    const call = c.request('messages', body);
    if (http.statusCode === 200) {
      expect(((await call.response()) as { type: string }).type).toBe('message');
    } else {
      const err = await expectRequestError(call.response(), httpBody.error?.code ?? httpBody.error?.type ?? '');
      expect(err.status).toBe(http.statusCode);
    }
    await c.close();
  });
});

describe('WebSocket ingress: limits of a socket and broken streams', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 16 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  it('more requests in flight than the socket allows get too_many_requests_in_flight; the others complete', async () => {
    const { startUwsServer } = await import('../../transports/uws/server.js');
    const server = await startUwsServer(s.gateway, { port: 0, ws: { maxInflight: 2 } });
    try {
      const c = await WsClient.connect({ url: server.url.replace('http://', 'ws://') + '/v1/ws', key: DEMO_KEY });
      const slow = { ...CHAT, messages: [{ role: 'user', content: 'slow [sim:ttft_ms=300]' }] };
      const a = c.request('chat.completions', slow);
      const b = c.request('chat.completions', slow);
      const third = await expectRequestError(c.request('chat.completions', slow).response(), 'too_many_requests_in_flight');
      expect(third.status).toBe(429);
      await Promise.all([a.response(), b.response()]);
      // Slots free again once answered.
      expect(((await c.request('chat.completions', CHAT).response()) as { object: string }).object).toBe('chat.completion');
      await c.close();
    } finally {
      server.close();
    }
  });

  it('a provider stream that breaks mid-way ends the request with an error frame after its chunks', async () => {
    const c = await WsClient.connect({ url: wsUrl(s), key: DEMO_KEY });
    const call = c.request('chat.completions', { ...CHAT, stream: true, messages: [{ role: 'user', content: 'cut [sim:fault=stream_cut] [sim:output_tokens=40]' }] }, { meta: true });
    let chunks = 0;
    const err = await (async () => {
      try {
        for await (const _ of call) chunks++;
      } catch (e) {
        return e as WsRequestError;
      }
      return null;
    })();
    expect(chunks).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(WsRequestError);
    expect(err!.code).toBe('upstream_stream_interrupted');
    expect(err!.status).toBe(502);
    expect(call.meta!['x-switchyard-alias']).toBe('demo.chat');
    await eventually(() => s.traces.records.some((t) => t.request_id === call.meta!['x-request-id'] && t.error_code === 'upstream_stream_interrupted'));
    // The socket goes on.
    expect(((await c.request('chat.completions', CHAT).response()) as { object: string }).object).toBe('chat.completion');
    await c.close();
  });

  it('a 429 from the limits carries retry_after and the rate-limit headers as meta', async () => {
    const t = await startStack('uws', testConfigYaml({ simulator: '{ seed: 17 }', keyLimits: '{ requests_per_minute: 1 }' }));
    try {
      const c = await WsClient.connect({ url: wsUrl(t), key: DEMO_KEY });
      await c.request('chat.completions', CHAT).response();
      const call = c.request('chat.completions', CHAT, { meta: true });
      const e = await expectRequestError(call.response(), 'rate_limit_exceeded');
      expect(e.status).toBe(429);
      expect(e.retryAfter).toBeGreaterThanOrEqual(1);
      expect(call.meta!['x-ratelimit-limit-requests']).toBe('1');
      await c.close();
    } finally {
      await t.close();
    }
  });
});

describe('WebSocket ingress: idle timeout and pings', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('uws', testConfigYaml({ simulator: '{ seed: 18 }' }));
  });
  afterAll(async () => {
    await s.close();
  });

  it('a silent peer that does not answer pings is closed after the idle timeout; a client that answers them stays', { timeout: 60_000 }, async () => {
    const { startUwsServer } = await import('../../transports/uws/server.js');
    const server = await startUwsServer(s.gateway, { port: 0, ws: { idleTimeoutS: 8 } });
    try {
      const live = await WsClient.connect({ url: server.url.replace('http://', 'ws://') + '/v1/ws', key: DEMO_KEY });
      const dead = await rawSocket(server.url, { authorization: `Bearer ${DEMO_KEY}` });
      const t0 = Date.now();
      // The raw socket reads (so uWS's pings arrive) but never answers them.
      let pinged = false;
      dead.on('data', (d: Buffer) => {
        if (d[0] === 0x89) pinged = true;
      });
      await new Promise<void>((resolve) => dead.once('close', () => resolve()));
      const waited = Date.now() - t0;
      expect(waited).toBeGreaterThan(4_000);
      expect(waited).toBeLessThan(30_000);
      expect(pinged).toBe(true);
      // The undici client answered every ping with a pong: still open, still serving.
      expect(live.closed).toBe(null);
      expect(((await live.request('chat.completions', CHAT).response()) as { object: string }).object).toBe('chat.completion');
      await live.close();
    } finally {
      server.close();
    }
  });
});
