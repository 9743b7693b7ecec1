// Secrets never leak: `switchyard serve` as a process, requests carrying planted canaries (matched PII, an
// API key in a prompt, one in an answer, one in tool-call arguments, a wrong client key, the provider
// key), then every file the gateway wrote, its stdout and stderr, and every error body are searched.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_KEY } from '../helpers/stack.js';
import { policyConfigYaml } from '../helpers/policy.js';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

const PROVIDER_KEY = 'sk-provider-CANARYprov0123456789abcdef';
const WRONG_CLIENT_KEY = 'sk-client-CANARYwrong0123456789';
const CANARIES = [
  'canary.person@example.com',
  'sk-proj-CANARYprompt0123456789',
  '4111 1111 1111 1111',
  '5500-0000-0000-0004',
  'AKIACANARY0123456789',
  'ghp_CANARY0123456789abcdefghijABCDEFGHIJ',
  'Bearer CANARYbearer0123456789abcdef',
  PROVIDER_KEY,
  WRONG_CLIENT_KEY,
  DEMO_KEY,
  'CANARY',
];

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

describe('canary secrets appear in no output of the gateway', () => {
  it('not in traces, data files, logs or error bodies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-canary-'));
    const config = join(dir, 'config.yaml');
    writeFileSync(config, policyConfigYaml());
    const child = spawn(process.execPath, [MAIN, 'serve', '--config', config, '--port', '0'], {
      env: { ...process.env, SWITCHYARD_DATA_DIR: join(dir, 'data'), SWITCHYARD_TEST_PROVIDER_KEY: PROVIDER_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        stdout += d;
        const m = /switchyard listening on (http:\/\/\S+)\n/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const bodies: string[] = [];
    const statuses: number[] = [];
    const call = async (body: unknown, key = DEMO_KEY): Promise<void> => {
      const r = await fetch(url + '/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      statuses.push(r.status);
      bodies.push(await r.text());
    };
    const user = (content: string) => [{ role: 'user', content }];
    const tools = [{ type: 'function', function: { name: 'search_docs', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
    for (const stream of [false, true]) {
      // Input: redacted (email, key), blocked (card).
      await call({ model: 'safe.chat', stream, messages: user('Mail canary.person@example.com the key sk-proj-CANARYprompt0123456789') });
      await call({ model: 'safe.chat', stream, messages: user('Card 4111 1111 1111 1111') });
      // Output: a card (blocked), an email (redacted), an AWS key (blocked), a bearer token (blocked).
      await call({ model: 'safe.chat', stream, messages: user(`[sim:say=${b64('ok then 5500-0000-0000-0004 and more')}]`) });
      await call({ model: 'safe.chat', stream, messages: user(`[sim:say=${b64('write canary.person@example.com now')}]`) });
      await call({ model: 'safe.chat', stream, messages: user(`[sim:say=${b64('use AKIACANARY0123456789 here')}]`) });
      await call({ model: 'safe.chat', stream, messages: user(`[sim:say=${b64('Authorization: Bearer CANARYbearer0123456789abcdef')}]`) });
      // Tool-call arguments holding a token.
      await call({ model: 'safe.agent', stream, tools, tool_choice: { type: 'function', function: { name: 'search_docs' } }, messages: user(`[sim:tool_args=${b64('{"q":"ghp_CANARY0123456789abcdefghijABCDEFGHIJ"}')}]`) });
    }
    // A wrong client key.
    await call({ model: 'safe.chat', messages: user('hi') }, WRONG_CLIENT_KEY);

    // 400: five non-streamed blocks (input card, output card, AWS key, bearer token, tool arguments) and the
    // streamed input block; the four streamed output blocks are 200 streams ending in an error event.
    expect(statuses.filter((s) => s === 400).length).toBe(6);
    expect(statuses[statuses.length - 1]).toBe(401);
    const blocked = bodies.filter((b) => b.includes('"code":"policy_violation"'));
    expect(blocked.length).toBe(10);

    child.kill('SIGTERM');
    expect(await exit).toBe(0);

    const written = files(join(dir, 'data'));
    expect(written.some((f) => f.endsWith('traces.jsonl'))).toBe(true);
    const traces = readFileSync(join(dir, 'data', 'traces.jsonl'), 'utf8');
    expect(traces.trim().split('\n').length).toBe(15);
    expect(traces).toContain('"policy_violations":["pii:input:email:redact","pii:input:secret:redact"]');
    const outputs: Array<[string, string]> = [
      ['stdout', stdout],
      ['stderr', stderr],
      ...written.map((f): [string, string] => [f, readFileSync(f, 'latin1')]),
      ...bodies.map((b, i): [string, string] => [`response ${i}`, b]),
    ];
    for (const [where, text] of outputs) {
      for (const canary of CANARIES) expect(text.includes(canary), `${canary} in ${where}`).toBe(false);
    }
  }, 30_000);
});
