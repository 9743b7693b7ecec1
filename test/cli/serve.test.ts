// `switchyard serve` as a process: the listening line, a bad config refused, threads on one port,
// and SIGTERM draining with every trace flushed.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, Agent } from 'undici';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_KEY, DEMO_KEY, batchConfigYaml, testConfigYaml } from '../helpers/stack.js';
import { MAIN, killServed, serve } from '../helpers/serve-process.js';

afterEach(killServed);

function workdir(): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-serve-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, testConfigYaml());
  return { dir, config };
}

async function chat(url: string, agent: Agent): Promise<{ status: number; id: string }> {
  const r = await request(url + '/v1/chat/completions', {
    method: 'POST',
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'hi' }] }),
    dispatcher: agent,
  });
  await r.body.text();
  return { status: r.statusCode, id: String(r.headers['x-request-id']) };
}

describe('switchyard serve', () => {
  it('refuses a bad config: exit 1, every problem listed, never listening', async () => {
    const { dir } = workdir();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, testConfigYaml().replace('pool_id: maas-sim', 'pool_id: no-such-pool').replace('lane: direct_small', 'lane: sideways'));
    const s = serve(['--config', bad, '--port', '0']);
    const never = s.listening.then(() => 'listened', () => 'refused');
    expect(await s.exit).toBe(1);
    expect(await never).toBe('refused');
    expect(s.stderr()).toContain('routes.0.route_policy.lane');
    expect(s.stderr()).toContain('routes.0.pool_id');
  });

  it('serves on --port 0, prints the listening line, and flushes every trace on SIGTERM', async () => {
    const { dir, config } = workdir();
    const s = serve(['--config', config, '--port', '0'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p' });
    const url = await s.listening;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const agent = new Agent();
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await chat(url, agent);
      expect(r.status).toBe(200);
      ids.add(r.id);
    }
    await agent.close();
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    const lines = readFileSync(join(dir, 'traces.jsonl'), 'utf8').trim().split('\n');
    expect(new Set(lines.map((l) => JSON.parse(l).request_id))).toEqual(ids);
  });

  it('--threads 2 serves from two threads on one port and drains both on SIGTERM', async () => {
    const { dir, config } = workdir();
    // A local OTLP receiver: each thread exports its own spans.
    const spans: Array<{ attributes: Array<{ key: string; value: { stringValue?: string } }> }> = [];
    const rx = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        for (const rs of JSON.parse(Buffer.concat(chunks).toString('utf8')).resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const otlp = `http://127.0.0.1:${(rx.address() as AddressInfo).port}`;
    const s = serve(['--config', config, '--port', '0', '--threads', '2'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p', OTEL_EXPORTER_OTLP_ENDPOINT: otlp });
    const url = await s.listening;
    // Many short-lived connections: the kernel spreads them over both threads' listen sockets.
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const agent = new Agent({ pipelining: 0 });
      const r = await chat(url, agent);
      expect(r.status).toBe(200);
      ids.push(r.id);
      await agent.close();
    }
    // Request ids carry the thread: two distinct prefixes mean two threads answered.
    const prefixes = new Set(ids.map((id) => id.slice(0, id.lastIndexOf('_'))));
    expect(prefixes.size).toBe(2);
    // /metrics from any thread sums both threads' counts.
    for (let i = 0; i < 3; i++) {
      const agent = new Agent({ pipelining: 0 });
      const m = await request(url + '/metrics', { dispatcher: agent });
      const text = await m.body.text();
      expect(text).toContain('switchyard_requests_total{alias="demo.chat",lane="direct_small",pool="maas-sim",outcome="success"} 60\n');
      // HDR histograms of both threads, merged.
      expect(text).toContain('switchyard_request_duration_seconds_count{alias="demo.chat",lane="direct_small"} 60\n');
      expect(text).toContain('switchyard_request_duration_seconds_bucket{alias="demo.chat",lane="direct_small",le="+Inf"} 60\n');
      const d = await request(url + '/dashboard/data', { dispatcher: agent, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      const data = (await d.body.json()) as { aliases: Array<{ alias: string; requests: number; latency_p99_ms: number }> };
      expect(data.aliases.find((a) => a.alias === 'demo.chat')).toMatchObject({ requests: 60 });
      await agent.close();
    }
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    expect(existsSync(join(dir, 'traces.jsonl'))).toBe(true);
    const lines = readFileSync(join(dir, 'traces.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).request_id).sort()).toEqual([...ids].sort());
    // Every request's span reached the collector before the threads ended.
    const spanIds = spans.map((sp) => sp.attributes.find((a) => a.key === 'switchyard.request_id')!.value.stringValue);
    expect(spanIds.sort()).toEqual([...ids].sort());
    await new Promise((r) => rx.close(r));
  });
});

describe('switchyard serve: limits across threads, keys and reload', () => {
  it('--threads 2 share one limit store: 400 requests from 8 clients against 100 per minute admit exactly 100', async () => {
    const { dir } = workdir();
    const config = join(dir, 'limited.yaml');
    writeFileSync(config, testConfigYaml({ keyLimits: '{ requests_per_minute: 100 }' }));
    const s = serve(['--config', config, '--port', '0', '--threads', '2'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p' });
    const url = await s.listening;
    // Short-lived agents so both threads get connections.
    const agents = Array.from({ length: 8 }, () => new Agent({ connections: 50 }));
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 400 }, (_, i) => chat(url, agents[i % 8]!)));
    const elapsedMs = performance.now() - t0;
    await Promise.all(agents.map((a) => a.close()));
    // Exactly 100 — plus what the bucket refills while the burst lasts (one request per 600 ms: none on
    // an idle machine, a few when a loaded one stretches the burst over seconds).
    const admitted = answers.filter((a) => a.status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(admitted).toBeLessThanOrEqual(100 + Math.floor(elapsedMs / 600));
    expect(answers.filter((a) => a.status === 429)).toHaveLength(400 - admitted);
    expect(new Set(answers.map((a) => a.id.slice(0, a.id.lastIndexOf('_')))).size).toBe(2);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('keys create prints a key once and stores its hash; SIGHUP makes it work; revoke + SIGHUP refuses it', async () => {
    const { dir, config } = workdir();
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const c = spawn(process.execPath, [MAIN, 'keys', ...args], { env: { ...process.env, SWITCHYARD_DATA_DIR: dir, SWITCHYARD_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        c.stdout!.on('data', (d) => (out += d));
        c.stderr!.on('data', (d) => (err += d));
        c.once('exit', (code) => resolve({ code, out, err }));
      });
    expect((await run(['create', '--tenant', 'nope'])).code).toBe(2);
    const created = await run(['create', '--tenant', 'demo', '--owner', 'team-new', '--id', 'k-new']);
    expect(created.code).toBe(0);
    const secret = created.out.trim();
    expect(secret).toMatch(/^sk-sy-[A-Za-z0-9_-]{32}$/);
    const stored = readFileSync(join(dir, 'keys.yaml'), 'utf8');
    expect(stored).not.toContain(secret);
    expect(stored).toContain(createHash('sha256').update(secret).digest('hex'));

    const s = serve(['--config', config, '--port', '0'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p' });
    const url = await s.listening;
    const ask = async () => {
      const r = await request(url + '/v1/models', { headers: { authorization: `Bearer ${secret}` } });
      await r.body.text();
      return r.statusCode;
    };
    expect(await ask()).toBe(200); // created before the start: loaded at boot
    expect((await run(['revoke', 'k-new'])).code).toBe(0);
    expect(await ask()).toBe(200); // not yet reloaded
    s.child.kill('SIGHUP');
    const deadline = Date.now() + 5000;
    while ((await ask()) !== 401 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await ask()).toBe(401);
    const listed = await run(['list', '--json']);
    expect(JSON.parse(listed.out)).toEqual([{ id: 'k-new', tenant: 'demo', owner: 'team-new', revoked: true }]);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });
});

describe('switchyard serve: graceful shutdown', () => {
  it('SIGTERM mid-stream: the stream finishes, its trace is written, the process exits 0', async () => {
    const { dir, config } = workdir();
    const s = serve(['--config', config, '--port', '0'], { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p' });
    const url = await s.listening;
    const r = await request(url + '/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo.chat', stream: true, messages: [{ role: 'user', content: 'slowly [sim:tokens_per_s=40] [sim:output_tokens=30]' }] }),
    });
    const id = String(r.headers['x-request-id']);
    const it = r.body[Symbol.asyncIterator]();
    let text = String((await it.next()).value);
    s.child.kill('SIGTERM');
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      text += String(n.value);
    }
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await s.exit).toBe(0);
    const lines = readFileSync(join(dir, 'traces.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ request_id: id, status: 200, stream: true, output_tokens: 30 });
  });
});

describe('switchyard serve --threads: batch jobs', () => {
  it('a job taken by one thread can be polled through any thread', async () => {
    const { startBatchSimulator } = await import('../../simulators/index.js');
    const sim = await startBatchSimulator({ seed: 2, completion_ms: 20 });
    try {
      const { dir } = workdir();
      const config = join(dir, 'batch.yaml');
      writeFileSync(config, batchConfigYaml(sim.url));
      const s = serve(['--config', config, '--port', '0', '--threads', '2'], { SWITCHYARD_DATA_DIR: dir, BATCH_PROVIDER_KEY: 'sk-b' });
      const url = await s.listening;
      const fresh = async (path: string, body?: string) => {
        const agent = new Agent({ pipelining: 0 });
        try {
          const r = await request(url + path, {
            method: body === undefined ? 'GET' : 'POST',
            dispatcher: agent,
            headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
            body,
          });
          return { status: r.statusCode, json: (await r.body.json()) as Record<string, any> };
        } finally {
          await agent.close();
        }
      };
      const jobs: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await fresh('/v1/chat/completions', JSON.stringify({ model: 'reports.nightly', messages: [{ role: 'user', content: `r${i}` }] }));
        expect(r.status).toBe(202);
        jobs.push(r.json.id);
      }
      // Both threads took jobs (their ids carry the thread), and every job is found from any connection.
      expect(new Set(jobs.map((j) => j.slice(0, j.lastIndexOf('_')))).size).toBe(2);
      for (const id of jobs) {
        let job = (await fresh('/v1/batch_jobs/' + id)).json;
        const deadline = Date.now() + 10_000;
        while (job.status !== 'completed' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 30));
          job = (await fresh('/v1/batch_jobs/' + id)).json;
        }
        expect(job.status).toBe('completed');
      }
      expect((await fresh('/v1/batch_jobs/job_nope_1')).status).toBe(404);
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
    } finally {
      await sim.close();
    }
  });
});
