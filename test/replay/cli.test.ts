// The CLI: `switchyard trace generate|check|record`, `switchyard replay`, `switchyard bench compare`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'sy-replay-cli-'));

function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('switchyard trace', () => {
  it('generate writes a valid trace; check counts it; the same seed writes the same bytes', () => {
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    const args = ['--pattern', 'bursts', '--rate', '5', '--duration', '60', '--seed', '4', '--alias', 'crm.summary.fast=3,research.report=1', '--tenant', 'acme', '--input', '100-400', '--output', 'exp:80', '--prefix-groups', '3'];
    const g = cli('trace', 'generate', '--out', a, ...args);
    expect(g.code).toBe(0);
    expect(g.out).toMatch(/^trace: [\d,]+ requests \(bursts, 60 s\) written to /);
    expect(cli('trace', 'generate', '--out', b, ...args).code).toBe(0);
    expect(readFileSync(a, 'utf8')).toBe(readFileSync(b, 'utf8'));
    const c = cli('trace', 'check', a);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/^ok: .*a\.jsonl \([\d,]+ requests, [\d.]+ s, 2 aliases\)\n$/);
  });

  it('check and replay name the line of a bad record (exit 1)', () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"t":0,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":false}\n{"t":1,"alias":"a","tenant":"t","scenario_id":"s","input_tokens":"many","output_tokens":1,"stream":false}\n');
    const c = cli('trace', 'check', bad);
    expect(c.code).toBe(1);
    expect(c.err).toBe(`switchyard: ${bad}:2: input_tokens: must be an integer >= 0\n`);
    const r = cli('replay', bad, '--config', 'fixtures/replay/config.yaml', '--out', join(dir, 'never'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:2: input_tokens: must be an integer >= 0`);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('generate refuses a bad spec with every problem, and bad flags plainly', () => {
    const r = cli('trace', 'generate', '--out', join(dir, 'x.jsonl'), '--rate', '0', '--pattern', 'wavy');
    expect(r.code).toBe(1);
    expect(r.err).toContain('pattern: must be one of steady, poisson, diurnal, bursts');
    expect(r.err).toContain('rate: must be a number > 0');
    expect(cli('trace', 'generate', '--out', join(dir, 'x.jsonl'), '--output', 'lots').err).toContain("--output: expected N, MIN-MAX or exp:MEAN, got 'lots'");
    expect(cli('trace', 'frobnicate').code).toBe(2);
  });
});

describe('switchyard replay', () => {
  it('replays a trace against the example config and pools: report.json, report.md, report.html, SVG plots', () => {
    const trace = join(dir, 'r.jsonl');
    expect(cli('trace', 'generate', '--out', trace, '--pattern', 'poisson', '--rate', '20', '--duration', '120', '--seed', '2', '--alias', 'crm.summary.fast=5,research.report=1,unknown.alias=0.2', '--tenant', 'acme=3,globex=1', '--input', '200-1500', '--output', 'exp:120', '--prefix-groups', '4').code).toBe(0);
    const lines = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { alias: string });
    const out = join(dir, 'report');
    const r = cli('replay', trace, '--config', 'fixtures/replay/config.yaml', '--pools', 'fixtures/replay/pools.yaml', '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^replay: [\d,]+ requests, [\d,]+ rejected, [\d,]+ failed; report in .*report\.html \(10 files\)\n$/);
    expect(r.err).toMatch(/\[replay baseline\] 100% [\d,]+\/[\d,]+ requests/); // progress on stderr
    expect(r.err).toMatch(/\[replay gpu-x3\] 100%/);
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(rep.requests).toBe(lines.length);
    expect(rep.aliases['unknown.alias'].requests).toBe(lines.filter((l) => l.alias === 'unknown.alias').length);
    expect(rep.rejections.alias_not_found).toBe(lines.filter((l) => l.alias === 'unknown.alias').length);
    for (const g of [rep.lanes.direct_small, rep.aliases['crm.summary.fast'], rep.pools['gpu-a']]) {
      for (const k of ['requests', 'queue_time_ms', 'latency_ms', 'ttft_ms', 'slo_attainment', 'utilization', 'fallback_rate', 'rejection_rate', 'cost_usd']) expect(g).toHaveProperty(k);
      for (const k of ['mean', 'p50', 'p90', 'p99']) expect(typeof g.latency_ms[k]).toBe('number');
    }
    expect(rep.pools['gpu-a'].utilization).toBeGreaterThan(0);
    expect(rep.what_if.map((w: { name: string }) => w.name)).toEqual(['gpu-x3', 'canary-50']);
    expect(rep.what_if[0].pools['gpu-a'].replicas).toBe(3);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|src="http|href="http/); // self-contained
    expect((html.match(/<svg /g) ?? []).length).toBe(7);
    const svg = readFileSync(join(out, 'plots', 'queue-time.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('gpu-a');
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('## What-if runs');

    // Deterministic: a second run writes the same report.
    const out2 = join(dir, 'report2');
    expect(cli('replay', trace, '--config', 'fixtures/replay/config.yaml', '--pools', 'fixtures/replay/pools.yaml', '--out', out2, '--quiet').code).toBe(0);
    expect(readFileSync(join(out2, 'report.json'), 'utf8')).toBe(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(readFileSync(join(out2, 'report.html'), 'utf8')).toBe(html);
  });

  it('explains a bad pools file, a bad config and a bad command line', () => {
    const trace = join(dir, 'one.jsonl');
    writeFileSync(trace, '{"t":0,"alias":"crm.summary.fast","tenant":"acme","scenario_id":"s","input_tokens":1,"output_tokens":1,"stream":false}\n');
    const pools = join(dir, 'pools.yaml');
    writeFileSync(pools, 'pools:\n  gpu-a: { replicas: 0, colour: red }\nwhat_if:\n  - { name: baseline }\n');
    const r = cli('replay', trace, '--config', 'fixtures/replay/config.yaml', '--pools', pools, '--out', join(dir, 'x'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('pools.gpu-a.replicas: must be >= 1');
    expect(r.err).toContain('pools.gpu-a.colour: unknown field');
    expect(r.err).toContain('what_if[0].name: must be a non-empty string other than "baseline"');
    writeFileSync(pools, 'pools:\n  gpu-z: { replicas: 2 }\n');
    expect(cli('replay', trace, '--config', 'fixtures/replay/config.yaml', '--pools', pools, '--out', join(dir, 'x')).err).toContain("pools file: pool 'gpu-z' is not in the config (pools: maas-openai, maas-openai-large, gpu-a)");
    expect(cli('replay', trace, '--config', 'fixtures/config/test-bad.yaml').code).toBe(1);
    expect(cli('replay').code).toBe(2);
    expect(cli('replay', trace, '--frob').err).toContain('unknown option --frob');
  });
});

describe('switchyard bench compare', () => {
  it('builds the revision once when both sides are the same commit and compares one micro module side by side', () => {
    const r = cli('bench', 'compare', 'HEAD', 'HEAD', '--module', 'replay', '--rounds', '1', '--json');
    expect(r.code).toBe(0);
    expect(r.err).toContain('HEAD is the same commit: reusing its build');
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x: { name: string }) => x.name)).toEqual(['event queue: pop + schedule (10k pending)', 'histogram add', 'trace line scan (fast path)', 'trace line JSON.parse (reference)']);
    for (const x of rows) {
      expect(x).toMatchObject({ suite: 'compare', compared: 'micro', module: 'replay', unit: 'ns', a_rev: 'HEAD', b_rev: 'HEAD' });
      expect(x.a).toBeGreaterThan(0);
      expect(x.change).toBeCloseTo((x.b - x.a) / x.a, 9);
      expect(x.flag).toBe(Math.abs(x.change) > 0.05 ? (x.change > 0 ? 'slower' : 'faster') : '');
    }
    expect(r.err).toMatch(/4 cases, \d changed by more than 5%/);
    // This run's temporary worktree (named after the commit) is gone; other checkouts sharing the
    // repository may be running their own.
    const head = spawnSync('git', ['rev-parse', '--short=8', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
    const list = spawnSync('git', ['worktree', 'list'], { cwd: ROOT, encoding: 'utf8' }).stdout;
    expect(list).not.toContain(`switchyard-${head}-`);
  }, 180_000);

  it('refuses what is not a revision, and a missing revision', () => {
    expect(cli('bench', 'compare', 'HEAD', 'no-such-rev-xyz').err).toContain("not a git revision here: 'no-such-rev-xyz'");
    expect(cli('bench', 'compare', 'HEAD').code).toBe(2);
  });
});
