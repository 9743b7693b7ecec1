// The recorder: gateway trace records → traffic trace; and the round trip: real traffic through the
// gateway (openai SDK against the simulator), recorded, replays to the same counts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { traceToJson } from '../../core/telemetry/trace.js';
import { readGatewayTraceFile, recordFile, recordRows } from '../../replay/record.js';
import { parsePoolsData } from '../../replay/pools.js';
import { runReplayAll } from '../../replay/run.js';
import { readTraceFile } from '../../replay/trace-format.js';
import { DEMO_KEY, startStack, testConfigYaml, type Stack } from '../helpers/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-record-'));

describe('recorder', () => {
  it('maps contract fields, sorts by start time, skips requests refused before routing', () => {
    const r = recordRows([
      { ts: '2026-01-01T00:00:02.500Z', alias: 'b', tenant: 't', scenario_id: 's', input_tokens: 10, output_tokens: 3, stream: true, prompt_version: 3 },
      { ts: '2026-01-01T00:00:01.000Z', alias: 'a', tenant: 't', scenario_id: '', input_tokens: 7, output_tokens: 0, stream: false, prompt_version: null },
      { ts: '2026-01-01T00:00:01.500Z', alias: '', tenant: '', scenario_id: '', input_tokens: 0, output_tokens: 0 },
    ]);
    // Rows from an SQL ledger: booleans as 0/1.
    expect(recordRows([{ ts: '2026-01-01T00:00:00Z', alias: 'a', tenant: 't', scenario_id: '', input_tokens: 1, output_tokens: 2, stream: 1, prompt_version: null }]).requests[0]!.stream).toBe(true);
    expect(r.skipped).toBe(1);
    expect(r.requests).toEqual([
      { t: 0, alias: 'a', tenant: 't', scenario_id: '', input_tokens: 7, output_tokens: 0, stream: false },
      { t: 1.5, alias: 'b', tenant: 't', scenario_id: 's', input_tokens: 10, output_tokens: 3, stream: true, prefix_group: 'b@v3' },
    ]);
  });

  it('names the line of a record that is not a gateway trace record', () => {
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, '{"ts":"2026-01-01T00:00:00Z","alias":"a","tenant":"t","scenario_id":"","input_tokens":1,"output_tokens":1}\n{"t":1,"alias":"a"}\n');
    expect(() => readGatewayTraceFile(path)).toThrow(`${path}:2: ts: must be an ISO date-time string (is this a gateway trace file?)`);
    writeFileSync(path, 'nope\n');
    expect(() => readGatewayTraceFile(path)).toThrow(`${path}:1: not valid JSON`);
  });
});

describe('round trip: recorded gateway traffic replays to the same counts', () => {
  let s: Stack;
  afterAll(async () => {
    await s?.close();
  });

  it('same requests per alias, same completions, same limit rejections', async () => {
    s = await startStack('node', testConfigYaml({ tenantLimits: '{ requests_per_minute: 10 }' }));
    const client = new OpenAI({ apiKey: DEMO_KEY, baseURL: s.url + '/v1', maxRetries: 0 });
    const statuses: number[] = [];
    const send = async (model: string, stream: boolean): Promise<void> => {
      try {
        if (stream) {
          const st = await client.chat.completions.create({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Say something.' }] });
          for await (const _ of st) void _;
        } else await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Say something.' }] });
        statuses.push(200);
      } catch (err) {
        statuses.push((err as { status?: number }).status ?? 0);
      }
    };
    for (let i = 0; i < 8; i++) await send('demo.chat', i % 2 === 0);
    await send('no.such.alias', false);
    for (let i = 0; i < 4; i++) await send('team.alpha', false);
    expect(statuses.filter((x) => x === 200).length).toBe(10);
    expect(statuses.filter((x) => x === 429).length).toBe(2);
    expect(statuses.filter((x) => x === 404).length).toBe(1);

    const gatewayTrace = join(dir, 'traces.jsonl');
    writeFileSync(gatewayTrace, s.traces.records.map((r) => traceToJson(r) + '\n').join(''));
    const tracePath = join(dir, 'recorded.jsonl');
    const rec = recordFile(gatewayTrace, tracePath);
    expect(rec).toEqual({ written: 12, skipped: 1 });
    const trace = readTraceFile(tracePath);
    expect(trace.aliases.names.sort()).toEqual(['demo.chat', 'team.alpha']);
    expect(Array.from(trace.stream.subarray(0, 8)).filter((x) => x === 1).length).toBe(4);

    const out = runReplayAll(trace, { config: s.config, configName: 'stack', pools: parsePoolsData({}), poolsName: null, traceName: tracePath });
    const rep = out.report;
    const byAlias = (alias: string) => s.traces.records.filter((r) => r.alias === alias);
    for (const alias of ['demo.chat', 'team.alpha']) {
      expect(rep.aliases[alias]!.requests).toBe(byAlias(alias).length);
      expect(rep.aliases[alias]!.completed).toBe(byAlias(alias).filter((r) => r.status === 200).length);
      expect(rep.aliases[alias]!.rejected).toBe(byAlias(alias).filter((r) => r.status === 429).length);
    }
    expect(rep.rejections).toEqual({ rate_limit_exceeded: 2 });
    expect(rep.requests).toBe(12);
  });
});
