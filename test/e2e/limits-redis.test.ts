// Limits across gateway processes sharing Redis (issue 3): two `switchyard serve` processes, one key
// limited to 100 requests per minute, 400 requests released together from 8 clients spread over both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { DEMO_KEY, testConfigYaml } from '../helpers/stack.js';
import { redisUnreachable } from '../../bench/support.js';

const REDIS_URL = process.env.SWITCHYARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

async function redisReachable(url: string): Promise<boolean> {
  return (await redisUnreachable(url)) === null;
}

const reachable = await redisReachable(REDIS_URL);
if (!reachable && process.env.CI === 'true') {
  // In CI the Redis store must be tested for real: a missing server is a failure, never a skip.
  describe('limits across processes (Redis)', () => {
    it('needs Redis at ' + REDIS_URL, () => {
      throw new Error(`Redis is not reachable at ${REDIS_URL} and CI=true`);
    });
  });
}

describe.skipIf(!reachable)('limits across gateway processes sharing Redis', () => {
  const children: ChildProcess[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-redis-limits-'));
    const prefix = `switchyard-test:${randomBytes(6).toString('hex')}:`;
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      testConfigYaml({ keyLimits: '{ requests_per_minute: 100 }', limits: `{ store: redis, redis_url: "${REDIS_URL}", redis_key_prefix: "${prefix}", failure_mode: closed, redis_timeout_ms: 2000 }` }),
    );
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, [MAIN, 'serve', '--config', config, '--port', '0'], {
        env: { ...process.env, SWITCHYARD_DATA_DIR: join(dir, `data${i}`), SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      urls.push(
        await new Promise<string>((resolve, reject) => {
          let out = '';
          let err = '';
          child.stderr!.on('data', (d) => (err += d));
          child.stdout!.on('data', (d) => {
            out += d;
            const m = /switchyard listening on (http:\/\/\S+)\n/.exec(out);
            if (m) resolve(m[1]!);
          });
          child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${err}`)));
        }),
      );
    }
  });

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it('400 requests from 8 clients over two gateways admit at most 101 (exactly 100 expected)', async () => {
    const agents = Array.from({ length: 8 }, () => new Agent({ connections: 50 }));
    const statuses = await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const r = await request(urls[i % 2]! + '/v1/chat/completions', {
          method: 'POST',
          dispatcher: agents[i % 8]!,
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'Count me.' }] }),
        });
        const body = await r.body.json() as { error?: { code: string } };
        if (r.statusCode !== 200) expect(body.error?.code).toBe('rate_limit_exceeded');
        return r.statusCode;
      }),
    );
    await Promise.all(agents.map((a) => a.close()));
    const admitted = statuses.filter((s) => s === 200).length;
    expect(admitted).toBeLessThanOrEqual(101);
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(statuses.filter((s) => s === 429).length).toBe(400 - admitted);
  });
});

describe.skipIf(!reachable)('the limits failure mode when Redis goes away, through the gateway', () => {
  const servers: ChildProcess[] = [];
  afterAll(() => {
    for (const s of servers) s.kill('SIGKILL');
  });

  async function freePort(): Promise<number> {
    const { createServer } = await import('node:net');
    return new Promise((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => resolve(port));
      });
    });
  }

  async function startRedis(port: number): Promise<ChildProcess> {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    servers.push(child);
    const deadline = Date.now() + 5000;
    while (!(await redisReachable(`redis://127.0.0.1:${port}`))) {
      if (Date.now() > deadline) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    return child;
  }

  const stopped = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));

  for (const mode of ['closed', 'open'] as const) {
    it(`failure_mode ${mode}: ${mode === 'closed' ? '503 limits_unavailable' : 'admitted'} while Redis is down, limits again once it is back`, async () => {
      const { startStack } = await import('../helpers/stack.js');
      const port = await freePort();
      let redis = await startRedis(port);
      const s = await startStack(
        'uws',
        testConfigYaml({ keyLimits: '{ requests_per_minute: 2 }', limits: `{ store: redis, redis_url: "redis://127.0.0.1:${port}", failure_mode: ${mode}, redis_timeout_ms: 100 }` }),
      );
      const agent = new Agent();
      const ask = async () => {
        const r = await request(s.url + '/v1/chat/completions', {
          method: 'POST',
          dispatcher: agent,
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'hi' }] }),
        });
        const body = (await r.body.json()) as { error?: { code: string } };
        return { status: r.statusCode, code: body.error?.code ?? null };
      };
      try {
        expect((await ask()).status).toBe(200);
        redis.kill('SIGKILL');
        await stopped(redis);
        const down = await ask();
        if (mode === 'closed') expect(down).toEqual({ status: 503, code: 'limits_unavailable' });
        else expect(down.status).toBe(200);
        redis = await startRedis(port);
        // Back: within a few seconds the store reconnects by itself (a fresh Redis: the quota starts over).
        const store = s.limits as unknown as { connected: boolean };
        const deadline = Date.now() + 8000;
        while (!store.connected && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
        expect(store.connected).toBe(true);
        expect((await ask()).status).toBe(200);
        expect((await ask()).status).toBe(200);
        expect(await ask()).toEqual({ status: 429, code: 'rate_limit_exceeded' });
      } finally {
        await agent.close();
        await s.close();
        redis.kill('SIGKILL');
      }
    });
  }
});
