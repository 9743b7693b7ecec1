// Limits across gateway processes sharing Redis (issue 3): two `switchyard serve` processes, one key
// limited to 100 requests per minute, 400 requests released together from 8 clients spread over both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import { DEMO_KEY, testConfigYaml } from '../helpers/stack.js';

const REDIS_URL = process.env.SWITCHYARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

function redisReachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port || 6379) }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
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
      testConfigYaml({ keyLimits: '{ requests_per_minute: 100 }', limits: `{ store: redis, redis_url: "${REDIS_URL}", redis_key_prefix: "${prefix}", failure_mode: closed }` }),
    );
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, [MAIN, 'serve', '--config', config, '--port', '0'], {
        env: { ...process.env, SWITCHYARD_DATA_DIR: join(dir, `data${i}`) },
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
