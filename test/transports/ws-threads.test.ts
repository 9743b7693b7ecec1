// GET /v1/ws under `switchyard serve --threads 2`: every gateway thread's uWS app serves WebSockets, and
// SIGTERM ends open sockets (1001) once their requests are done, so each thread can end on its own.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WsClient } from '../../transports/uws/ws-client.js';
import { DEMO_KEY, eventually, testConfigYaml } from '../helpers/stack.js';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('WebSocket ingress with --threads', () => {
  it('serves WebSockets from both threads; SIGTERM closes idle and busy sockets after their requests and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-ws-threads-'));
    const config = join(dir, 'config.yaml');
    writeFileSync(config, testConfigYaml({ simulator: '{ seed: 21 }' }));
    const child = spawn(process.execPath, [MAIN, 'serve', '--config', config, '--port', '0', '--threads', '2'], {
      env: { ...process.env, SWITCHYARD_DATA_DIR: dir, SWITCHYARD_TEST_PROVIDER_KEY: 'sk-p' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /switchyard listening on (http:\/\/\S+)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const wsUrl = url.replace('http://', 'ws://') + '/v1/ws';
    // Many sockets: the kernel spreads them over both threads' listen sockets.
    const clients = await Promise.all(Array.from({ length: 24 }, (_, i) => WsClient.connect({ url: wsUrl, key: DEMO_KEY, encoding: i % 2 === 0 ? 'json' : 'msgpack-records' })));
    const ids: string[] = [];
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 3; i++) {
          const call = c.request('chat.completions', { model: 'demo.chat', messages: [{ role: 'user', content: `hi ${i}` }] }, { meta: true });
          await call.response();
          ids.push(call.meta!['x-request-id']!);
        }
      }),
    );
    const prefixes = new Set(ids.map((id) => id.slice(0, id.lastIndexOf('_'))));
    expect(prefixes.size).toBe(2);
    // One socket has a slow request in flight when SIGTERM arrives: it finishes, then the socket closes.
    const busy = clients[0]!;
    const slow = busy.request('chat.completions', { model: 'demo.chat', messages: [{ role: 'user', content: 'slow [sim:ttft_ms=400]' }] });
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    expect(((await slow.response()) as { object: string }).object).toBe('chat.completion');
    await eventually(() => clients.every((c) => c.closed !== null), 10_000);
    for (const c of clients) expect(c.closed!.code).toBe(1001);
    expect(await exit).toBe(0);
    const lines = readFileSync(join(dir, 'traces.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(ids.length + 1);
  });
});
