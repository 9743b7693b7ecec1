import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startBatchSimulator,
  startMaasSimulator,
  type BatchProfile,
  type BatchSimulator,
} from '../../simulators/index.js';
import { multipartBoundary, parseMultipart, resolveBatchProfile } from '../../simulators/batch.js';

const MODEL = 'gpt-4o-mini';

function line(customId: string, content: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }], ...extra },
  });
}

function jsonl(n: number, fault: Record<number, string> = {}): string {
  const rows: string[] = [];
  for (let i = 0; i < n; i++) rows.push(line(`req-${i}`, `Summarize account note ${i}${fault[i] ?? ''}`));
  return rows.join('\n') + '\n';
}

const sims: BatchSimulator[] = [];
async function start(profile: BatchProfile = {}): Promise<{ sim: BatchSimulator; client: OpenAI }> {
  const sim = await startBatchSimulator(profile);
  sims.push(sim);
  return { sim, client: new OpenAI({ apiKey: 'sk-test', baseURL: sim.url, maxRetries: 0 }) };
}

async function upload(client: OpenAI, text: string, name = 'input.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
}

/** Poll until the batch reaches `status` (bounded: about 5 s). */
async function waitFor(client: OpenAI, id: string, status: Batch['status']): Promise<Batch> {
  for (let i = 0; i < 500; i++) {
    const b = await client.batches.retrieve(id);
    if (b.status === status) return b;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`batch ${id} never reached ${status}`);
}

async function contentLines(client: OpenAI, fileId: string): Promise<any[]> {
  const text = await (await client.files.content(fileId)).text();
  return text.trim().split('\n').map((l) => JSON.parse(l));
}

async function runBatch(client: OpenAI, text: string) {
  const file = await upload(client, text);
  const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const done = await waitFor(client, created.id, 'completed');
  return { file, created, done };
}

let sim: BatchSimulator;
let client: OpenAI;

beforeAll(async () => {
  ({ sim, client } = await start({ seed: 7, completion_ms: 4 }));
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

describe('batch simulator: files and batches with the openai client', () => {
  it('uploads, runs a batch through its statuses and returns one completion per request', async () => {
    const file = await upload(client, jsonl(5));
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'input.jsonl', bytes: Buffer.byteLength(jsonl(5)), status: 'processed' });
    expect(file.id).toMatch(/^file-/);
    expect(typeof file.created_at).toBe('number');
    expect(await client.files.retrieve(file.id)).toEqual(file);

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { job: 'nightly' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { job: 'nightly' },
      request_counts: { total: 0, completed: 0, failed: 0 },
      output_file_id: null,
    });
    expect(created.id).toMatch(/^batch_/);
    expect(created.expires_at).toBe(created.created_at + 86400);

    const done = await waitFor(client, created.id, 'completed');
    expect(done.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    expect(done.error_file_id).toBeNull();
    expect(done.completed_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.in_progress_at).not.toBeNull();
    expect(done.finalizing_at).not.toBeNull();

    const out = await client.files.retrieve(done.output_file_id!);
    expect(out).toMatchObject({ object: 'file', purpose: 'batch_output', filename: `${done.id}_output.jsonl` });
    const results = await contentLines(client, done.output_file_id!);
    expect(results.map((r) => r.custom_id)).toEqual(['req-0', 'req-1', 'req-2', 'req-3', 'req-4']);
    let prompt = 0;
    let completion = 0;
    for (const r of results) {
      expect(Object.keys(r)).toEqual(['id', 'custom_id', 'response', 'error']);
      expect(r.id).toMatch(/^batch_req_[0-9a-f]{32}$/);
      expect(r.error).toBeNull();
      expect(r.response.status_code).toBe(200);
      expect(typeof r.response.request_id).toBe('string');
      const c = r.response.body;
      expect(c).toMatchObject({ object: 'chat.completion', model: MODEL });
      expect(c.choices[0].message.role).toBe('assistant');
      expect(c.choices[0].message.content.length).toBeGreaterThan(0);
      expect(c.choices[0].finish_reason).toBe('stop');
      expect(c.usage.completion_tokens).toBe(16);
      expect(c.usage.total_tokens).toBe(c.usage.prompt_tokens + c.usage.completion_tokens);
      prompt += c.usage.prompt_tokens;
      completion += c.usage.completion_tokens;
    }
    expect(done.usage).toMatchObject({ input_tokens: prompt, output_tokens: completion, total_tokens: prompt + completion });
    expect(sim.stats.requestsCompleted).toBeGreaterThanOrEqual(5);
  });

  it('counts tokens like the MaaS simulator and answers with the same content for the same seed', async () => {
    const maas = await startMaasSimulator({ seed: 7 });
    try {
      const direct = await new OpenAI({ apiKey: 'sk-test', baseURL: maas.url, maxRetries: 0 }).chat.completions.create({
        model: MODEL,
        messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Summarize account note 0' }],
      });
      const { done } = await runBatch(client, jsonl(1));
      const [r] = await contentLines(client, done.output_file_id!);
      expect(r.response.body.choices[0].message.content).toBe(direct.choices[0]!.message.content);
      expect(r.response.body.usage).toEqual(direct.usage);
    } finally {
      await maas.close();
    }
  });

  it('puts failing requests ([sim:fault=500], bad max_tokens) in the error file', async () => {
    const text = jsonl(3, { 1: ' [sim:fault=500]' }) + line('bad-max', 'hi', { max_tokens: 0 }) + '\n' + line('short', 'hi', { max_tokens: 3 });
    const { done } = await runBatch(client, text);
    expect(done.request_counts).toEqual({ total: 5, completed: 3, failed: 2 });
    expect(done.error_file_id).toMatch(/^file-/);
    const ok = await contentLines(client, done.output_file_id!);
    expect(ok.map((r) => r.custom_id)).toEqual(['req-0', 'req-2', 'short']);
    const short = ok[2].response.body;
    expect(short.usage.completion_tokens).toBe(3);
    expect(short.choices[0].finish_reason).toBe('length');
    const errs = await contentLines(client, done.error_file_id!);
    expect(errs.map((r) => [r.custom_id, r.response.status_code])).toEqual([['req-1', 500], ['bad-max', 400]]);
    expect(errs[0].response.body.error).toMatchObject({ type: 'server_error' });
    expect(errs[1].response.body.error).toMatchObject({ param: 'max_tokens', code: 'integer_below_min_value' });
    expect(errs[0].error).toBeNull();
  });

  it('fails requests at the profile error_rate', async () => {
    const { client: c } = await start({ seed: 3, completion_ms: 1, error_rate: 0.5 });
    const { done } = await runBatch(c, jsonl(20));
    expect(done.request_counts!.failed).toBeGreaterThan(2);
    expect(done.request_counts!.completed).toBeGreaterThan(2);
    expect(done.request_counts!.failed + done.request_counts!.completed).toBe(20);
    const errs = await contentLines(c, done.error_file_id!);
    expect(errs).toHaveLength(done.request_counts!.failed);
    expect(errs.every((r) => r.response.status_code === 500)).toBe(true);
  });

  it('is deterministic: the same seed gives the same ids and outputs', async () => {
    const outputs: unknown[] = [];
    for (let k = 0; k < 2; k++) {
      const { client: c } = await start({ seed: 42, completion_ms: 1, error_rate: 0.3 });
      const { file, done } = await runBatch(c, jsonl(6));
      const out = (await contentLines(c, done.output_file_id!)).concat(done.error_file_id ? await contentLines(c, done.error_file_id) : []);
      for (const r of out) if (r.response.body.created !== undefined) r.response.body.created = 0;
      outputs.push({ file: file.id, batch: done.id, out: done.output_file_id, err: done.error_file_id, counts: done.request_counts, lines: out });
    }
    expect(outputs[1]).toEqual(outputs[0]);
    const { client: other } = await start({ seed: 43, completion_ms: 1 });
    const { done } = await runBatch(other, jsonl(6));
    const [a] = await contentLines(other, done.output_file_id!);
    expect(a.response.body.choices[0].message.content).not.toBe((outputs[0] as { lines: any[] }).lines[0].response.body.choices[0].message.content);
  });

  it('cancels a batch: cancelling, then cancelled; a finished batch cannot be cancelled', async () => {
    const { client: c, sim: s } = await start({ seed: 1, completion_ms: 60_000 });
    const file = await upload(c, jsonl(3));
    const b = await c.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const cancelling = await c.batches.cancel(b.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).not.toBeNull();
    expect((await c.batches.cancel(b.id)).status).toBe('cancelling'); // idempotent
    expect(s.stats.batches.cancelling).toBe(1);
    await s.close(); // close() clears the pending timer: the batch stays as it is
    expect(s.stats.batches.cancelling).toBe(1);

    // In progress, with counts moving: cancel keeps the results finished so far.
    const { client: slow } = await start({ seed: 2, completion_ms: 100 });
    const input = await upload(slow, jsonl(5));
    const q = await slow.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    let mid = await waitFor(slow, q.id, 'in_progress');
    expect(mid.request_counts!.total).toBe(5);
    for (let i = 0; i < 200 && mid.request_counts!.completed === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      mid = await slow.batches.retrieve(q.id);
    }
    expect(mid.request_counts!.completed).toBeGreaterThan(0);
    expect((await slow.batches.cancel(q.id)).status).toBe('cancelling');
    const cancelled = await waitFor(slow, q.id, 'cancelled');
    expect(cancelled.cancelled_at).not.toBeNull();
    expect(cancelled.completed_at).toBeNull();
    const kept = cancelled.request_counts!.completed;
    expect(kept).toBeGreaterThanOrEqual(mid.request_counts!.completed);
    expect(kept).toBeLessThan(5);
    expect(await contentLines(slow, cancelled.output_file_id!)).toHaveLength(kept);
    const err = await slow.batches.cancel(q.id).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(409);
  });

  it('lists batches, most recent first, with limit and after', async () => {
    const file = await upload(client, jsonl(1));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    }
    const page = await client.batches.list({ limit: 2 });
    expect(page.data.map((b) => b.id)).toEqual([ids[2], ids[1]]);
    expect(page.has_more).toBe(true);
    const next = await client.batches.list({ limit: 1, after: ids[1] });
    expect(next.data.map((b) => b.id)).toEqual([ids[0]]);
    await Promise.all(ids.map((id) => waitFor(client, id, 'completed')));
  });
});

describe('batch simulator: validation and errors', () => {
  it('rejects a bad JSONL line naming it, in the OpenAI envelope', async () => {
    const bad = [line('a', 'x'), line('b', 'y'), '{"custom_id": "c", nope}'].join('\n');
    const err = await upload(client, bad).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', param: 'file' });
    expect(err.error.message).toContain('line 3');

    const cases: [string, string][] = [
      [line('a', 'x') + '\n' + line('a', 'y'), "line 2: duplicate custom_id 'a'"],
      [line('a', 'x').replace('/v1/chat/completions', '/v1/embeddings'), "line 1: 'url'"],
      [JSON.stringify({ custom_id: 'a', method: 'GET', url: '/v1/chat/completions', body: {} }), "line 1: 'method'"],
      [JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [] } }), 'body.messages'],
      [line('a', 'x') + '\n\n' + line('b', 'y').replace(MODEL, 'other-model'), 'line 3: every request in a batch must use the same model'],
      ['\n\n', 'no requests'],
    ];
    for (const [text, msg] of cases) {
      const e = await upload(client, text).catch((x) => x);
      expect(e.status, msg).toBe(400);
      expect(e.error.message).toContain(msg);
    }
  });

  it('rejects a wrong endpoint, a wrong window, an unknown or non-input file', async () => {
    const file = await upload(client, jsonl(1));
    const e1 = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' }).catch((e) => e);
    expect(e1.status).toBe(400);
    expect(e1.error).toMatchObject({ param: 'endpoint', code: 'invalid_value', type: 'invalid_request_error' });
    const e2 = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '1h' as '24h' }).catch((e) => e);
    expect(e2.error).toMatchObject({ param: 'completion_window' });
    const e3 = await client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }).catch((e) => e);
    expect(e3).toBeInstanceOf(OpenAI.NotFoundError);
    expect(e3.error).toMatchObject({ type: 'invalid_request_error', param: 'input_file_id', message: 'No such File object: file-nope' });
    const e4 = await client.files.retrieve('file-nope').catch((e) => e);
    expect(e4.status).toBe(404);
    expect(e4.error.message).toBe('No such File object: file-nope');
    expect((await client.files.content('file-nope').catch((e) => e)).status).toBe(404);
    expect((await client.batches.retrieve('batch_nope').catch((e) => e)).status).toBe(404);

    const { done } = await runBatch(client, jsonl(1));
    const e5 = await client.batches.create({ input_file_id: done.output_file_id!, endpoint: '/v1/chat/completions', completion_window: '24h' }).catch((e) => e);
    expect(e5.status).toBe(400);
    expect(e5.error.param).toBe('input_file_id');

    const e6 = await client.files.create({ file: await toFile(Buffer.from(jsonl(1)), 'x.jsonl'), purpose: 'fine-tune' }).catch((e) => e);
    expect(e6.error.param).toBe('purpose');
  });

  it('answers 401 without a bearer token, and 404 on unknown routes', async () => {
    const uploadsBefore = sim.stats.filesUploaded;
    const noAuth = await request(`${sim.url}/batches`, { method: 'GET' });
    expect(noAuth.statusCode).toBe(401);
    expect((await noAuth.body.json()) as object).toMatchObject({ error: { type: 'invalid_request_error' } });
    const upload401 = await request(`${sim.url}/files`, { method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data; boundary=x' } });
    expect(upload401.statusCode).toBe(401);
    await upload401.body.dump();
    const noKey = { headers: { Authorization: null } };
    const e1 = await client.files.create({ file: await toFile(Buffer.from(jsonl(1)), 'a.jsonl'), purpose: 'batch' }, noKey).catch((e) => e);
    expect(e1).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((await client.batches.retrieve('batch_x', noKey).catch((e) => e)).status).toBe(401);
    expect(sim.stats.filesUploaded).toBe(uploadsBefore);
    const unknown = await request(`${sim.url}/nothing`, { headers: { authorization: 'Bearer x' } });
    expect(unknown.statusCode).toBe(404);
    await unknown.body.dump();
  });

  it('stats count files, batches by status, requests and tokens; files can be listed and deleted', async () => {
    const { client: c, sim: s } = await start({ seed: 5, completion_ms: 1 });
    const { file, done } = await runBatch(c, jsonl(2, { 1: ' [sim:fault=503]' }));
    expect(s.stats).toMatchObject({
      files: 3, filesUploaded: 1, batchesCreated: 1, requestsCompleted: 1, requestsFailed: 1,
      promptTokens: done.usage!.input_tokens, completionTokens: 16,
    });
    expect(s.stats.batches).toMatchObject({ completed: 1, validating: 0, in_progress: 0, finalizing: 0 });
    const listed = await c.files.list({ purpose: 'batch_output' });
    expect(listed.data.map((f) => f.id).sort()).toEqual([done.output_file_id, done.error_file_id].sort());
    expect(await c.files.delete(file.id)).toMatchObject({ id: file.id, deleted: true });
    expect(s.stats.files).toBe(2);
    expect((await c.files.retrieve(file.id).catch((e) => e)).status).toBe(404);
  });

  it('close() stops timers and the listener, and is idempotent', async () => {
    const { client: c, sim: s } = await start({ completion_ms: 50 });
    const file = await upload(c, jsonl(4));
    await c.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await s.close();
    await s.close();
    expect(s.stats.batches.validating).toBe(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(s.stats.batches.validating + s.stats.batches.in_progress).toBe(1);
    expect(s.stats.requestsCompleted).toBe(0);
    const err = await c.batches.list().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
  });
});

describe('batch simulator: multipart parser and profile', () => {
  it('parses quoted boundaries, preambles, CRLF inside data and filenames', () => {
    expect(multipartBoundary('multipart/form-data; boundary="a b"')).toBe('a b');
    expect(multipartBoundary('multipart/form-data;boundary=xyz;charset=utf-8')).toBe('xyz');
    expect(multipartBoundary('application/json')).toBeNull();
    const body = Buffer.from(
      'preamble\r\n--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n' +
        '--xyz\r\nContent-Disposition: form-data; name="file"; filename="in \\"q\\".jsonl"\r\nContent-Type: application/jsonl\r\n\r\n' +
        'line1\r\nline2\r\n--xy not a delimiter\r\n--xyz--\r\n',
    );
    const parts = parseMultipart(body, 'xyz')!;
    expect(parts.map((p) => [p.name, p.filename, p.contentType, p.data.toString()])).toEqual([
      ['purpose', null, null, 'batch'],
      ['file', 'in "q".jsonl', 'application/jsonl', 'line1\r\nline2\r\n--xy not a delimiter'],
    ]);
    expect(parseMultipart(Buffer.from('--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end'), 'xyz')).toBeNull();
    expect(parseMultipart(Buffer.from('nothing here'), 'xyz')).toBeNull();
  });

  it('validates the profile', () => {
    expect(resolveBatchProfile({})).toEqual({ seed: 1, completion_ms: 500, error_rate: 0, output_tokens: 16 });
    expect(() => resolveBatchProfile({ error_rate: 2 })).toThrow(/error_rate/);
    expect(() => resolveBatchProfile({ completion_ms: -1 })).toThrow(/completion_ms/);
    expect(() => resolveBatchProfile({ nope: 1 } as BatchProfile)).toThrow(/unknown field/);
  });
});
