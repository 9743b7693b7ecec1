import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleTraceRecord as realRecord, sampleAttempt as attempt } from '../../../bench/support.js';
import {
  JsonlTraceSink,
  MemoryTraceSink,
  NullTraceSink,
  TraceRecord,
  isoTime,
  traceToJson,
} from '../../../core/telemetry/trace.js';

/** The contract's field order (CONTRACT.md, trace record), with the fields the gateway adds (failed_check after outcome; error_code, stream). */
const CONTRACT_FIELDS = [
  'request_id',
  'ts',
  'tenant',
  'key_id',
  'owner',
  'scenario_id',
  'alias',
  'route_lane',
  'pool_id',
  'provider',
  'model',
  'prompt_version',
  'canary',
  'attempts',
  'stop_reason',
  'queue_time_ms',
  'ttft_ms',
  'latency_ms',
  'input_tokens',
  'cached_input_tokens',
  'output_tokens',
  'tokens_estimated',
  'cost_usd',
  'cache',
  'policy_violations',
  'status',
  'outcome',
  'failed_check',
  'error_code',
  'stream',
];
const ATTEMPT_FIELDS = ['pool_id', 'provider', 'status', 'error_code', 'queue_time_ms', 'latency_ms', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'cost_usd'];



/** The record as the contract wants it: every field, same values. */
function plain(r: TraceRecord): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of CONTRACT_FIELDS) o[k] = (r as unknown as Record<string, unknown>)[k];
  return o;
}

describe('TraceRecord', () => {
  it('has exactly the contract fields, in order, with neutral defaults', () => {
    const r = new TraceRecord();
    expect(Object.keys(r)).toEqual(CONTRACT_FIELDS);
    expect(r.prompt_version).toBeNull();
    expect(r.ttft_ms).toBeNull();
    expect(r.attempts).toEqual([]);
    expect(r.policy_violations).toEqual([]);
    expect(r.cache).toBe('bypass');
    expect(r.outcome).toBe('error');
    expect(r.error_code).toBeNull();
    expect(r.stream).toBe(false);
  });

  it('records do not share their arrays', () => {
    const a = new TraceRecord();
    const b = new TraceRecord();
    a.attempts.push(attempt());
    a.policy_violations.push('x');
    expect(b.attempts).toEqual([]);
    expect(b.policy_violations).toEqual([]);
  });
});

describe('traceToJson', () => {
  it('a default record parses and equals its fields, in the contract order', () => {
    const r = new TraceRecord();
    const json = traceToJson(r);
    const parsed = JSON.parse(json);
    expect(Object.keys(parsed)).toEqual(CONTRACT_FIELDS);
    expect(parsed).toEqual(plain(r));
  });

  it('a real record parses and equals its fields, attempts in their order', () => {
    const r = realRecord(1);
    const parsed = JSON.parse(traceToJson(r));
    expect(Object.keys(parsed)).toEqual(CONTRACT_FIELDS);
    expect(parsed).toEqual(plain(r));
    expect(parsed.attempts).toHaveLength(2);
    for (const a of parsed.attempts) expect(Object.keys(a)).toEqual(ATTEMPT_FIELDS);
    expect(parsed.attempts[0].error_code).toBe('upstream_unavailable');
    expect(parsed.attempts[1].error_code).toBeNull();
  });

  it('is byte-identical to JSON.stringify of the record', () => {
    for (let i = 0; i < 50; i++) {
      const r = realRecord(i);
      expect(traceToJson(r)).toBe(JSON.stringify(r));
    }
    const e = new TraceRecord();
    e.status = 504;
    e.outcome = 'error';
    e.error_code = 'upstream_timeout';
    e.tokens_estimated = true;
    e.cache = 'hit';
    e.prompt_version = 0;
    e.ttft_ms = 0;
    e.cost_usd = 0.1 + 0.2;
    e.latency_ms = 1e21;
    e.queue_time_ms = 5e-7;
    expect(traceToJson(e)).toBe(JSON.stringify(e));
  });

  it('strings that need escapes survive (quotes, backslashes, control characters, newlines, unicode)', () => {
    const nasty = [
      'say "hi"',
      'back\\slash',
      'line1\nline2\r\n',
      'tab\there',
      '\u0000\u0001\u001f\u007f',
      '\u2028\u2029',
      'Grüße 日本語 🎉',
      '\ud800', // lone surrogate
      '</script>',
    ];
    const r = new TraceRecord();
    for (const s of nasty) {
      r.request_id = s;
      r.tenant = s;
      r.key_id = s;
      r.owner = s;
      r.scenario_id = s;
      r.alias = s;
      r.route_lane = s;
      r.pool_id = s;
      r.provider = s;
      r.model = s;
      r.stop_reason = s;
      r.error_code = s;
      r.policy_violations = [s, s];
      r.attempts = [attempt({ pool_id: s, provider: s, error_code: s })];
      const json = traceToJson(r);
      expect(json.includes('\n'), JSON.stringify(s)).toBe(false); // one line
      expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(plain(r))));
    }
  });
});

describe('isoTime', () => {
  const check = (ms: number): void => {
    expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  };

  it('formats the millisecond part with leading zeros (.000 .009 .099 .999 ...)', () => {
    const base = 1_717_000_123_000;
    for (const frac of [0, 1, 9, 10, 11, 99, 100, 101, 500, 990, 999]) check(base + frac);
  });

  it('crosses second, minute, day, month and year boundaries, forwards and backwards', () => {
    const edges = [
      Date.UTC(2024, 0, 1, 0, 0, 0, 0),
      Date.UTC(2023, 11, 31, 23, 59, 59, 999),
      Date.UTC(2024, 1, 29, 12, 0, 0, 0),
      Date.UTC(2024, 1, 28, 23, 59, 59, 999),
      Date.UTC(2024, 2, 1, 0, 0, 0, 0),
      Date.UTC(2038, 0, 19, 3, 14, 7, 999),
      Date.UTC(2038, 0, 19, 3, 14, 8, 0),
      0,
      999,
      1000,
      1001,
    ];
    for (const e of edges) {
      check(e);
      check(e - 1);
      check(e + 1);
      check(e);
    }
  });

  it('agrees with toISOString over a long increasing run, a decreasing run and alternating seconds', () => {
    const start = 1_700_000_000_000;
    for (let ms = start; ms < start + 5_000; ms += 7) check(ms);
    for (let ms = start + 5_000; ms > start; ms -= 13) check(ms);
    for (let i = 0; i < 200; i++) check(i % 2 === 0 ? start + 999 : start + 1000);
  });

  it('agrees on random times between 1970 and 2100, integer and fractional', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 4294967296;
    };
    for (let i = 0; i < 5_000; i++) {
      const ms = Math.floor(rand() * 4_102_444_800_000);
      check(ms);
      check(ms + 0.25);
      check(ms + 0.999);
    }
  });

  it('agrees with Date.now() values', () => {
    for (let i = 0; i < 1000; i++) check(Date.now());
  });
});

describe('MemoryTraceSink and NullTraceSink', () => {
  it('MemoryTraceSink keeps records in order', async () => {
    const s = new MemoryTraceSink();
    const a = realRecord(1);
    const b = realRecord(2);
    s.write(a);
    s.write(b);
    await s.flush();
    await s.close();
    expect(s.records).toEqual([a, b]);
    expect(s.records[0]).toBe(a);
  });

  it('NullTraceSink drops records and resolves flush/close', async () => {
    const s = new NullTraceSink();
    s.write();
    await expect(s.flush()).resolves.toBeUndefined();
    await expect(s.close()).resolves.toBeUndefined();
  });
});

describe('JsonlTraceSink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-trace-test-'));
  let n = 0;
  const file = (): string => join(dir, 'nested', `t${n++}.jsonl`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const readLines = (path: string): string[] => {
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    return text.slice(0, -1).split('\n');
  };

  it('writes 5,000 records as one line each, in order, byte for byte', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 10_000);
    const expected: string[] = [];
    for (let i = 0; i < 5_000; i++) {
      const r = realRecord(i);
      if (i % 97 === 0) r.scenario_id = 'ünïcode 🎉 "quoted"\nnewline';
      expected.push(traceToJson(r));
      sink.write(r);
    }
    await sink.flush();
    await sink.close();
    const lines = readLines(path);
    expect(lines).toHaveLength(5_000);
    expect(lines).toEqual(expected);
    expect(JSON.parse(lines[97]!).scenario_id).toBe('ünïcode 🎉 "quoted"\nnewline');
  });

  it('regression: a record written while close() flushes is refused, never written to a closed descriptor', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 20);
    sink.write(realRecord(1));
    const closing = sink.close();
    sink.write(realRecord(2));
    await closing;
    await new Promise((r) => setTimeout(r, 60)); // past the sink's interval: no late flush may fire
    const lines = readLines(path);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).request_id).toBe(realRecord(1).request_id);
  });

  it('fills and recycles a small buffer many times without losing or reordering lines', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 10_000, 8 * 1024);
    const expected: string[] = [];
    for (let i = 0; i < 5_000; i++) {
      const r = realRecord(i);
      r.model = i % 3 === 0 ? 'мод' + '😀'.repeat(i % 50) : 'gpt-4o-mini';
      expected.push(traceToJson(r));
      sink.write(r);
      if (i % 1000 === 999) await sink.flush();
    }
    await sink.close();
    expect(readLines(path)).toEqual(expected);
  });

  it('handles a record larger than its buffer, between small ones', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 10_000, 256);
    const small = new TraceRecord();
    small.request_id = 'small';
    const big = realRecord(3);
    big.policy_violations = Array.from({ length: 500 }, (_, i) => `violation-${i}-日本`);
    const expected: string[] = [];
    for (const r of [small, big, small, big, big, small]) {
      expected.push(traceToJson(r));
      sink.write(r);
    }
    expect(traceToJson(big).length).toBeGreaterThan(256 * 10);
    await sink.close();
    const lines = readLines(path);
    expect(lines).toEqual(expected);
    expect(JSON.parse(lines[1]!).policy_violations).toHaveLength(500);
  });

  it('close() flushes what is buffered', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 60_000);
    const r = realRecord(5);
    sink.write(r);
    sink.write(realRecord(6));
    await sink.close();
    const lines = readLines(path);
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual(plain(r));
  });

  it('writes a batch on its own after the interval', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 5);
    sink.write(realRecord(7));
    // Poll for the timer's write (bounded by the test timeout), no fixed sleep.
    let text = readFileSync(path, 'utf8');
    while (text === '') {
      await new Promise((resolve) => setTimeout(resolve, 2));
      text = readFileSync(path, 'utf8');
    }
    // The interval flush hands the buffer to the writer before the write completes; wait for it to finish.
    await sink.flush();
    expect(readFileSync(path, 'utf8')).toBe(traceToJson(realRecord(7)) + '\n');
    await sink.close();
  });

  it('flush() with nothing buffered resolves; records written after close are dropped', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 10_000);
    await sink.flush();
    sink.write(realRecord(1));
    await sink.close();
    sink.write(realRecord(2));
    expect(readLines(path)).toEqual([traceToJson(realRecord(1))]);
  });

  it('appends to an existing file', async () => {
    const path = file();
    const a = new JsonlTraceSink(path, 10_000);
    a.write(realRecord(1));
    await a.close();
    const b = new JsonlTraceSink(path, 10_000);
    b.write(realRecord(2));
    await b.close();
    expect(readLines(path)).toEqual([traceToJson(realRecord(1)), traceToJson(realRecord(2))]);
  });

  it('concurrent flushes keep order', async () => {
    const path = file();
    const sink = new JsonlTraceSink(path, 10_000, 4096);
    const expected: string[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const r = realRecord(i);
      expected.push(traceToJson(r));
      sink.write(r);
      if (i % 7 === 0) pending.push(sink.flush());
    }
    await Promise.all(pending);
    await sink.close();
    expect(readLines(path)).toEqual(expected);
  });
});
