import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fastParse, formatTraceLine, parseTraceLine, parseTraceText, readTraceFile, TraceFormatError, TraceWriter, type TraceRequest } from '../../replay/trace-format.js';

const good = '{"t": 12.5, "alias": "crm.summary.fast", "tenant": "acme", "scenario_id": "s1", "input_tokens": 800, "output_tokens": 120, "stream": true, "prefix_group": "crm-v3"}';

function errorOf(f: () => unknown): TraceFormatError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TraceFormatError);
    return err as TraceFormatError;
  }
  throw new Error('expected a TraceFormatError');
}

describe('trace format', () => {
  it('parses the contract example', () => {
    expect(parseTraceLine(good, 'x', 1)).toEqual({ t: 12.5, alias: 'crm.summary.fast', tenant: 'acme', scenario_id: 's1', input_tokens: 800, output_tokens: 120, stream: true, prefix_group: 'crm-v3' });
  });

  it('round-trips through formatTraceLine, by the scanner and by JSON.parse alike', () => {
    const reqs: TraceRequest[] = [
      { t: 0, alias: 'a', tenant: 't', scenario_id: '', input_tokens: 0, output_tokens: 0, stream: false },
      { t: 1.234567, alias: 'crm.summary.fast', tenant: 'acme', scenario_id: 's1', input_tokens: 800, output_tokens: 120, stream: true, prefix_group: 'g1' },
      { t: 2e-7, alias: 'x', tenant: 'q"uote', scenario_id: 'é', input_tokens: 5, output_tokens: 6, stream: true },
    ];
    for (const r of reqs) {
      const line = formatTraceLine(r);
      const viaJson = parseTraceLine(line, 'x', 1);
      expect(viaJson).toEqual({ ...r, t: Math.round(r.t * 1e6) / 1e6 });
      const scratch = { ...reqs[0]! };
      if (fastParse(line, scratch)) expect({ ...scratch, ...(scratch.prefix_group === undefined ? { prefix_group: undefined } : {}) }).toEqual({ ...viaJson, prefix_group: viaJson.prefix_group });
      else expect(line).toContain('\\'); // only escaped strings leave the scanner
    }
  });

  it('the scanner refuses shapes it does not know instead of guessing', () => {
    const s = { t: 0, alias: '', tenant: '', scenario_id: '', input_tokens: 0, output_tokens: 0, stream: false } as TraceRequest;
    expect(fastParse(good, s)).toBe(false); // spaces: the JSON path takes it
    expect(fastParse('{"t":0x10,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}', s)).toBe(false);
    expect(fastParse('{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1.5,"output_tokens":1,"stream":true}', s)).toBe(false);
    expect(fastParse('{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true,"extra":1}', s)).toBe(false);
    expect(fastParse('{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}', s)).toBe(true);
  });

  it('names the line and the field of a bad record', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"t": 1, "alias": "a"', /not valid JSON/],
      ['[1,2]', /must be a JSON object/],
      ['{"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}', /t: must be a finite number/],
      ['{"t":-1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}', /t: must be a finite number of seconds >= 0/],
      ['{"t":1,"alias":"","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}', /alias: must not be empty/],
      ['{"t":1,"alias":"a","tenant":3,"scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}', /tenant: must be a string/],
      ['{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":-1,"output_tokens":1,"stream":true}', /input_tokens: must be an integer >= 0/],
      ['{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1.5,"stream":true}', /output_tokens: must be an integer >= 0/],
      ['{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":"yes"}', /stream: must be true or false/],
      ['{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true,"prefix_group":""}', /prefix_group: must be a non-empty string/],
      ['{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true,"model":"x"}', /model: unknown field/],
    ];
    for (const [line, re] of cases) {
      const e = errorOf(() => parseTraceText(`${formatTraceLine({ t: 0, alias: 'ok', tenant: 't', scenario_id: 's', input_tokens: 1, output_tokens: 1, stream: false })}\n\n${line}\n`, 'my.jsonl'));
      expect(e.line).toBe(3);
      expect(e.message).toMatch(/^my\.jsonl:3: /);
      expect(e.message).toMatch(re);
    }
  });

  it('refuses arrivals that go backwards, naming both times', () => {
    const e = errorOf(() => parseTraceText('{"t":5,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}\n{"t":4,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":true}', 'f'));
    expect(e.message).toBe('f:2: t: 4 goes backwards (previous line has 5); sort the trace by t');
  });

  it('reads a file in chunks into columns, and stops at the first bad line with its number', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-trace-'));
    const path = join(dir, 't.jsonl');
    const w = new TraceWriter(path);
    for (let i = 0; i < 50_000; i++) w.write({ t: i / 100, alias: i % 3 === 0 ? 'b' : 'a', tenant: 't', scenario_id: 's', input_tokens: i, output_tokens: 7, stream: i % 2 === 0, ...(i % 5 === 0 ? { prefix_group: 'g' + (i % 7) } : {}) });
    w.close();
    const cols = readTraceFile(path);
    expect(cols.length).toBe(50_000);
    expect(cols.aliases.names).toEqual(['b', 'a']);
    expect(cols.get(49_999)).toEqual({ t: 499.99, alias: 'a', tenant: 't', scenario_id: 's', input_tokens: 49_999, output_tokens: 7, stream: false });
    expect(cols.get(10)).toEqual({ t: 0.1, alias: 'a', tenant: 't', scenario_id: 's', input_tokens: 10, output_tokens: 7, stream: true, prefix_group: 'g3' });
    writeFileSync(path, formatTraceLine(cols.get(0)) + '\n' + '{"t":1,"alias":"a"}\n');
    expect(() => readTraceFile(path)).toThrow(`${path}:2: tenant: must be a string`);
  });
});
