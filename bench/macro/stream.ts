// Macro benchmark, streaming: many concurrent SSE streams through the gateway, against the same streams
// straight from the simulator and through the bare reference proxy, in alternating rounds.
//
//   npm run build && node dist/cli/main.js bench stream [--json] [--streams 200] [--rounds 3]
//       [--tokens 64] [--tokens-per-s 50] [--ttft-ms 50] [--targets direct,proxy,gateway] [--verbose]
//
// The simulator streams each answer paced (ttft, then one token every 1/tokens-per-s). Per target and
// round, `--streams` streams start at once over as many keep-alive connections; for every stream the
// client times (process.hrtime) the first content chunk and every gap between chunks, into HDR
// histograms (µs). Reported per target: time to first token p50/p99, gap p50/p99, and what the target
// adds over direct; and the memory per open stream of the serving process: its RSS (/proc) sampled while
// all streams are open, minus its RSS just before the round, ÷ streams (noisy: the GC runs when it likes;
// the median over rounds is reported).
//
// Portkey is not a target here: its streaming path fails on Node 20 (BENCHMARKS.md).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { Histogram } from 'hdr-histogram-js';
import { BENCH_KEY, Child, DIST, GATEWAY_ALIAS, PROVIDER_MODEL, newHistogram, progress, startGateway, startProxy } from './gateway.js';

const STREAM_TARGETS = ['direct', 'proxy', 'gateway'] as const;
type StreamTarget = (typeof STREAM_TARGETS)[number];

export interface StreamOptions {
  streams: number;
  rounds: number;
  tokens: number;
  tokensPerS: number;
  ttftMs: number;
  targets: StreamTarget[];
  json: boolean;
  verbose: boolean;
}

export const STREAM_USAGE = `switchyard bench stream [--json] [--streams N] [--rounds N] [--tokens N] [--tokens-per-s R]
    [--ttft-ms MS] [--targets direct,proxy,gateway] [--verbose]
  Concurrent SSE streams through the gateway vs direct vs the reference proxy: added time to first token,
  added gap between chunks, memory per open stream.
`;

export function parseStreamArgs(argv: string[]): StreamOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      streams: { type: 'string' },
      rounds: { type: 'string' },
      tokens: { type: 'string' },
      'tokens-per-s': { type: 'string' },
      'ttft-ms': { type: 'string' },
      targets: { type: 'string' },
      verbose: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const num = (v: string | undefined, d: number, name: string, min: number, max: number): number => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number between ${min} and ${max}`);
    return n;
  };
  let targets: StreamTarget[] = [...STREAM_TARGETS];
  if (values.targets !== undefined) {
    const names = values.targets.split(',').map((x) => x.trim());
    for (const n of names) if (!(STREAM_TARGETS as readonly string[]).includes(n)) throw new Error(`--targets: unknown target ${n} (direct, proxy, gateway)`);
    targets = STREAM_TARGETS.filter((n) => names.includes(n));
  }
  return {
    streams: Math.floor(num(values.streams, 200, 'streams', 1, 5000)),
    rounds: Math.floor(num(values.rounds, 3, 'rounds', 1, 50)),
    tokens: Math.floor(num(values.tokens, 64, 'tokens', 2, 10000)),
    tokensPerS: num(values['tokens-per-s'], 50, 'tokens-per-s', 1, 100000),
    ttftMs: num(values['ttft-ms'], 50, 'ttft-ms', 0, 60000),
    targets,
    json: values.json === true,
    verbose: values.verbose === true,
  };
}

interface Target {
  name: StreamTarget;
  origin: string;
  body: string;
  headers: Record<string, string>;
  pid: number | null;
  ttft: Histogram;
  gap: Histogram;
  failures: number;
  streams: number;
  memPerStream: number[];
}

function rssBytes(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** One stream: time the first content chunk and the gaps between content chunks. */
async function oneStream(pool: Pool, t: Target): Promise<void> {
  const t0 = process.hrtime.bigint();
  const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: t.headers, body: t.body });
  if (r.statusCode !== 200) {
    await r.body.text();
    t.failures++;
    return;
  }
  let last = 0n;
  let buf = '';
  r.body.setEncoding('utf8');
  for await (const chunk of r.body as AsyncIterable<string>) {
    const now = process.hrtime.bigint();
    buf += chunk;
    // Count chunks that carry content (not the role delta, the usage chunk or [DONE]).
    let content = false;
    let nl: number;
    while ((nl = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      if (ev.includes('"content":"') && !ev.includes('"content":""')) content = true;
    }
    if (!content) continue;
    if (last === 0n) t.ttft.recordValue(Math.max(1, Number(now - t0) / 1000));
    else t.gap.recordValue(Math.max(1, Number(now - last) / 1000));
    last = now;
  }
  t.streams++;
}

async function round(t: Target, o: StreamOptions): Promise<void> {
  const pool = new Pool(t.origin, { connections: o.streams, pipelining: 1, keepAliveTimeout: 60_000 });
  try {
    const before = rssBytes(t.pid);
    const all: Promise<void>[] = [];
    for (let i = 0; i < o.streams; i++) all.push(oneStream(pool, t).catch(() => void t.failures++));
    // Sample while every stream is open: past the first token, before the last.
    const openMs = o.ttftMs + ((o.tokens / o.tokensPerS) * 1000) / 2;
    await new Promise((r) => setTimeout(r, openMs));
    const during = rssBytes(t.pid);
    await Promise.all(all);
    if (before !== null && during !== null) t.memPerStream.push((during - before) / o.streams);
  } finally {
    await pool.close();
  }
}

export interface StreamTargetResult {
  streams: number;
  failures: number;
  ttft_p50_us: number;
  ttft_p99_us: number;
  gap_p50_us: number;
  gap_p99_us: number;
  added_ttft_p50_us: number | null;
  added_ttft_p99_us: number | null;
  added_gap_p50_us: number | null;
  added_gap_p99_us: number | null;
  /** Median over rounds of (RSS with all streams open − RSS before) ÷ streams, bytes; null for direct. */
  mem_per_stream_bytes: number | null;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

export async function runStream(argv: string[]): Promise<number> {
  let o: StreamOptions;
  try {
    o = parseStreamArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${STREAM_USAGE}`);
    return 2;
  }
  const children: Child[] = [];
  const workdir = mkdtempSync(join(tmpdir(), 'switchyard-bench-stream-'));
  try {
    const profile = join(workdir, 'profile.json');
    writeFileSync(profile, JSON.stringify({ ttft_ms: o.ttftMs, tokens_per_s: o.tokensPerS, output_tokens: o.tokens }));
    progress(`starting the simulator (ttft ${o.ttftMs} ms, ${o.tokens} tokens at ${o.tokensPerS}/s)`);
    const simChild = new Child('simulator', [join(DIST, 'cli', 'main.js'), 'simulate', '--profile', profile, '--port', '0'], process.env, o.verbose);
    children.push(simChild);
    const sim = new URL(await simChild.waitForUrl(/simulator listening on/)).origin;
    const origins: Partial<Record<StreamTarget, string>> = { direct: sim };
    if (o.targets.includes('proxy')) origins.proxy = await startProxy(children, sim, o.verbose);
    if (o.targets.includes('gateway')) origins.gateway = await startGateway(children, sim, 1, workdir, o.verbose);
    const pidOf = (n: string): number | null => children.find((c) => c.name === n)?.proc.pid ?? null;
    const targets: Target[] = o.targets.map((name) => ({
      name,
      origin: origins[name]!,
      body: JSON.stringify({ model: name === 'gateway' ? GATEWAY_ALIAS : PROVIDER_MODEL, stream: true, stream_options: { include_usage: true }, max_tokens: o.tokens, messages: [{ role: 'user', content: 'Stream me an answer.' }] }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}`, 'x-switchyard-scenario': 'bench' },
      pid: name === 'direct' ? null : pidOf(name),
      ttft: newHistogram(),
      gap: newHistogram(),
      failures: 0,
      streams: 0,
      memPerStream: [],
    }));
    // Warm-up: one small round per target, not recorded.
    for (const t of targets) {
      const keep = { ttft: t.ttft, gap: t.gap, streams: t.streams, failures: t.failures, mem: t.memPerStream.length };
      progress(`warm-up: ${t.name}`);
      await round(t, { ...o, streams: Math.min(o.streams, 20) });
      t.ttft.reset();
      t.gap.reset();
      t.streams = keep.streams;
      t.failures = keep.failures;
      t.memPerStream.length = keep.mem;
    }
    for (let r = 0; r < o.rounds; r++) {
      const k = r % targets.length;
      for (const t of [...targets.slice(k), ...targets.slice(0, k)]) {
        progress(`round ${r + 1}/${o.rounds}: ${t.name}, ${o.streams} concurrent streams`);
        await round(t, o);
        for (const c of children) if (c.exited) throw new Error(`${c.name} exited during the run`);
      }
    }
    const direct = targets.find((t) => t.name === 'direct');
    const at = (h: Histogram, p: number): number => r1(h.getValueAtPercentile(p));
    const results: Partial<Record<StreamTarget, StreamTargetResult>> = {};
    for (const t of targets) {
      const med = [...t.memPerStream].sort((a, b) => a - b);
      results[t.name] = {
        streams: t.streams,
        failures: t.failures,
        ttft_p50_us: at(t.ttft, 50),
        ttft_p99_us: at(t.ttft, 99),
        gap_p50_us: at(t.gap, 50),
        gap_p99_us: at(t.gap, 99),
        added_ttft_p50_us: direct !== undefined && t !== direct ? r1(at(t.ttft, 50) - at(direct.ttft, 50)) : null,
        added_ttft_p99_us: direct !== undefined && t !== direct ? r1(at(t.ttft, 99) - at(direct.ttft, 99)) : null,
        added_gap_p50_us: direct !== undefined && t !== direct ? r1(at(t.gap, 50) - at(direct.gap, 50)) : null,
        added_gap_p99_us: direct !== undefined && t !== direct ? r1(at(t.gap, 99) - at(direct.gap, 99)) : null,
        mem_per_stream_bytes: med.length > 0 ? Math.round(med[med.length >> 1]!) : null,
      };
    }
    const lines = [
      `target    streams  failed  ttft p50 µs  ttft p99 µs  gap p50 µs  gap p99 µs  +ttft p50  +ttft p99  +gap p50  +gap p99  mem/stream`,
    ];
    const f = (x: number | null): string => (x === null ? '' : x.toFixed(1));
    for (const [name, x] of Object.entries(results)) {
      lines.push(
        [name.padEnd(8), String(x.streams).padStart(8), String(x.failures).padStart(6), f(x.ttft_p50_us).padStart(11), f(x.ttft_p99_us).padStart(11), f(x.gap_p50_us).padStart(10), f(x.gap_p99_us).padStart(10), f(x.added_ttft_p50_us).padStart(9), f(x.added_ttft_p99_us).padStart(9), f(x.added_gap_p50_us).padStart(8), f(x.added_gap_p99_us).padStart(8), (x.mem_per_stream_bytes === null ? '' : `${(x.mem_per_stream_bytes / 1024).toFixed(1)} KiB`).padStart(10)].join('  '),
      );
    }
    const table = lines.join('\n') + '\n';
    (o.json ? process.stderr : process.stdout).write(table);
    if (o.json) for (const [name, x] of Object.entries(results)) process.stdout.write(JSON.stringify({ suite: 'stream', target: name, ...x, settings: { streams: o.streams, rounds: o.rounds, tokens: o.tokens, tokens_per_s: o.tokensPerS, ttft_ms: o.ttftMs } }) + '\n');
    const failed = Object.values(results).reduce((a, x) => a + x.failures, 0);
    return failed > 0 ? 1 : 0;
  } catch (err) {
    process.stderr.write(`[bench stream] error: ${(err as Error).message}\n`);
    return 1;
  } finally {
    progress('stopping child processes');
    await Promise.all(children.map((c) => c.stop()));
    rmSync(workdir, { recursive: true, force: true });
  }
}
