// Macro benchmark of the WebSocket ingress (issue 11): small non-streaming chat requests over 64
// WebSockets against HTTP keep-alive at 64 connections, in one run, and JSON frames against msgpack.
//
//   npm run build && node dist/cli/main.js bench ws [--json] [--duration 6] [--sockets 64] [--depth 1,4]
//
// The simulator and the gateway (`serve --threads 1`) run as child processes (as in bench macro); the load
// runs here: HTTP with autocannon (pipelining 1), WebSockets with the project's client
// (transports/uws/ws-client.ts, undici's WebSocket), `depth` requests in flight per socket. Targets
// alternate in short slices so machine noise lands on all alike; the verdict uses the median over rounds
// of each round's ratio to that round's HTTP slice (load drifts between rounds, less within one). Requests/s counts answered 200s; the
// gateway's CPU time per request (utime + stime from /proc) shows what the transport costs the gateway,
// whatever the load generator's own speed. Target of issue 11: WebSocket >= 1.5x HTTP requests/s.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Histogram } from 'hdr-histogram-js';
import { WsClient, type WsEncoding } from '../../transports/uws/ws-client.js';
import { BENCH_KEY, Child, GATEWAY_ALIAS, checkChildren, newHistogram, processCpuMs, requestBody, startGateway, startSimulator } from './gateway.js';

interface AutocannonResult {
  duration: number;
  '2xx': number;
  non2xx: number;
  errors: number;
}
type Autocannon = (
  opts: { url: string; method: 'POST'; headers: Record<string, string>; body: string; connections: number; duration: number; pipelining: number; timeout: number; skipAggregateResult: boolean },
  cb: (err: Error | null, result: AutocannonResult) => void,
) => { stop(): void };
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export const WS_TARGET_RATIO = 1.5;

export interface WsBenchOptions {
  duration: number;
  slice: number;
  warmup: number;
  sockets: number;
  depths: number[];
  encodings: WsEncoding[];
  json: boolean;
  verbose: boolean;
}

export const WS_USAGE = `switchyard bench ws [--json] [--duration S] [--slice S] [--warmup S] [--sockets N] [--depth 1,4]
    [--encodings json,msgpack,msgpack-records] [--verbose]
  Starts the simulator and the gateway (from dist/) and measures small non-streaming chat requests over
  --sockets WebSockets (default 64; --depth requests in flight per socket, default 1 and 4) against HTTP
  keep-alive with as many connections, alternating in slices. Exit 0 when WebSocket (JSON, depth 1)
  reaches ${WS_TARGET_RATIO}x HTTP requests/s (median of per-round ratios), 1 when not.
`;

export function parseWsArgs(argv: string[]): WsBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      duration: { type: 'string' },
      slice: { type: 'string' },
      warmup: { type: 'string' },
      sockets: { type: 'string' },
      depth: { type: 'string' },
      encodings: { type: 'string' },
    },
    strict: true,
  });
  const num = (v: string | undefined, d: number, name: string): number => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got ${JSON.stringify(v)}`);
    return n;
  };
  const depths = (values.depth ?? '1,4').split(',').map((x) => num(x, 1, 'depth'));
  const encodings = (values.encodings ?? 'json,msgpack,msgpack-records').split(',') as WsEncoding[];
  for (const e of encodings) if (e !== 'json' && e !== 'msgpack' && e !== 'msgpack-records') throw new Error(`--encodings: unknown ${e}`);
  return {
    duration: num(values.duration, 6, 'duration'),
    slice: num(values.slice, 2, 'slice'),
    warmup: num(values.warmup, 1, 'warmup'),
    sockets: Math.round(num(values.sockets, 64, 'sockets')),
    depths: depths.map(Math.round),
    encodings,
    json: values.json === true,
    verbose: values.verbose === true,
  };
}

interface Target {
  name: string;
  kind: 'http' | 'ws';
  encoding: WsEncoding;
  depth: number;
  ok: number;
  failed: number;
  seconds: number;
  cpuMs: number;
  /** CPU time of this process (the load generator) during the recorded slices, ms. */
  loadCpuMs: number;
  /** Requests/s of each recorded round's slice (for ratios within a round). */
  roundRps: number[];
  latency: Histogram;
  clients: WsClient[];
}

function progress(msg: string): void {
  process.stderr.write(`[bench ws] ${msg}\n`);
}

const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}`, 'x-switchyard-scenario': 'bench' };

async function httpSlice(origin: string, t: Target, seconds: number, connections: number, record: boolean): Promise<void> {
  const r = await new Promise<AutocannonResult>((resolve, reject) => {
    autocannon(
      { url: origin + '/v1/chat/completions', method: 'POST', headers: HEADERS, body: requestBody(GATEWAY_ALIAS), connections, duration: seconds, pipelining: 1, timeout: 10, skipAggregateResult: true },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  if (!record) return;
  t.ok += r['2xx'];
  t.failed += r.non2xx + r.errors;
  t.seconds += r.duration;
}

async function wsSlice(t: Target, seconds: number, record: boolean): Promise<void> {
  const body = JSON.parse(requestBody(GATEWAY_ALIAS)) as object;
  const end = performance.now() + seconds * 1000;
  let ok = 0;
  let failed = 0;
  const h = t.latency;
  const worker = async (c: WsClient): Promise<void> => {
    while (performance.now() < end) {
      const t0 = process.hrtime.bigint();
      try {
        await c.request('chat.completions', body).response();
        ok++;
        if (record) h.recordValue(Math.max(1, Number(process.hrtime.bigint() - t0)));
      } catch {
        failed++;
      }
    }
  };
  const start = performance.now();
  const jobs: Array<Promise<void>> = [];
  for (const c of t.clients) for (let d = 0; d < t.depth; d++) jobs.push(worker(c));
  await Promise.all(jobs);
  if (!record) return;
  t.ok += ok;
  t.failed += failed;
  t.seconds += (performance.now() - start) / 1000;
}

export interface WsBenchRow {
  target: string;
  rps: number;
  cpu_us_per_req: number | null;
  /** The load generator's CPU per request (autocannon for http, the ws client for ws), µs. */
  loadgen_cpu_us_per_req: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  failed: number;
  ratio_vs_http: number | null;
  round_ratio_median: number | null;
}

function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export async function runWsBench(argv: string[]): Promise<number> {
  let opts: WsBenchOptions;
  try {
    opts = parseWsArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${WS_USAGE}`);
    return 2;
  }
  const children: Child[] = [];
  const workdir = mkdtempSync(join(tmpdir(), 'switchyard-bench-ws-'));
  const targets: Target[] = [];
  // Last resort (an uncaught error, stdout closed under `| head`): never leave a child or the temp dir behind.
  const onExit = (): void => {
    for (const c of children) c.killNow();
    rmSync(workdir, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  const onPipeError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') process.exit(1);
  };
  process.stdout.on('error', onPipeError);
  try {
    progress('starting the simulator and the gateway');
    const sim = await startSimulator(children, opts.verbose);
    const origin = await startGateway(children, sim, 1, workdir, opts.verbose);
    const gwPid = children.find((c) => c.name === 'gateway')!.proc.pid ?? null;
    const wsUrl = origin.replace('http://', 'ws://') + '/v1/ws';
    const mk = (name: string, kind: 'http' | 'ws', encoding: WsEncoding, depth: number): Target => ({ name, kind, encoding, depth, ok: 0, failed: 0, seconds: 0, cpuMs: 0, loadCpuMs: 0, roundRps: [], latency: newHistogram(), clients: [] });
    targets.push(mk('http', 'http', 'json', 1));
    for (const depth of opts.depths) for (const enc of opts.encodings) targets.push(mk(`ws-${enc} d${depth}`, 'ws', enc, depth));
    for (const t of targets) {
      if (t.kind !== 'ws') continue;
      t.clients = await Promise.all(Array.from({ length: opts.sockets }, () => WsClient.connect({ url: wsUrl, key: BENCH_KEY, encoding: t.encoding, headers: { 'x-switchyard-scenario': 'bench' } })));
      // Probe: one answer, checked.
      const a = (await t.clients[0]!.request('chat.completions', JSON.parse(requestBody(GATEWAY_ALIAS))).response()) as { choices?: unknown[] };
      if (!Array.isArray(a.choices)) throw new Error(`${t.name}: probe answer has no choices`);
    }
    const run = async (t: Target, seconds: number, record: boolean): Promise<void> => {
      const cpu0 = processCpuMs(gwPid);
      const load0 = process.cpuUsage();
      const ok0 = t.ok;
      const s0 = t.seconds;
      if (t.kind === 'http') await httpSlice(origin, t, seconds, opts.sockets, record);
      else await wsSlice(t, seconds, record);
      const load = process.cpuUsage(load0);
      const cpu1 = processCpuMs(gwPid);
      if (record && cpu0 !== null && cpu1 !== null) t.cpuMs += cpu1 - cpu0;
      if (record) {
        t.loadCpuMs += (load.user + load.system) / 1000;
        t.roundRps.push((t.ok - ok0) / Math.max(1e-9, t.seconds - s0));
      }
      checkChildren(children);
    };
    for (const t of targets) {
      progress(`warm-up: ${t.name}, ${opts.warmup} s`);
      await run(t, opts.warmup, false);
    }
    const rounds = Math.max(1, Math.ceil(opts.duration / opts.slice));
    const sliceS = opts.duration / rounds;
    for (let r = 0; r < rounds; r++) {
      const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
      for (const t of order) {
        progress(`round ${r + 1}/${rounds}: ${t.name}, ${sliceS.toFixed(1)} s`);
        await run(t, sliceS, true);
      }
    }
    const http = targets[0]!;
    const httpRps = http.ok / http.seconds;
    const rows: WsBenchRow[] = targets.map((t) => {
      const rps = t.ok / t.seconds;
      return {
        target: t.name,
        rps: Math.round(rps),
        cpu_us_per_req: t.ok > 0 && t.cpuMs > 0 ? Math.round(((t.cpuMs * 1000) / t.ok) * 10) / 10 : null,
        loadgen_cpu_us_per_req: t.ok > 0 ? Math.round(((t.loadCpuMs * 1000) / t.ok) * 10) / 10 : null,
        p50_ms: t.kind === 'ws' && t.latency.totalCount > 0 ? Math.round(t.latency.getValueAtPercentile(50) / 1e4) / 100 : null,
        p99_ms: t.kind === 'ws' && t.latency.totalCount > 0 ? Math.round(t.latency.getValueAtPercentile(99) / 1e4) / 100 : null,
        failed: t.failed,
        ratio_vs_http: t.kind === 'http' ? null : Math.round((rps / httpRps) * 100) / 100,
        // Machine load drifts: the ratio to the HTTP slice of the same round, median over rounds.
        round_ratio_median: t.kind === 'http' ? null : Math.round(median(t.roundRps.map((x, i) => x / Math.max(1e-9, http.roundRps[i] ?? NaN))) * 100) / 100,
      };
    });
    const gate = rows.find((r) => r.target === 'ws-json d1') ?? rows.find((r) => r.target.startsWith('ws-'));
    const pass = gate?.round_ratio_median == null || !Number.isFinite(gate.round_ratio_median) ? null : gate.round_ratio_median >= WS_TARGET_RATIO;
    const out = opts.json ? process.stderr : process.stdout;
    out.write(`${'target'.padEnd(24)} ${'rps'.padStart(8)} ${'× http'.padStart(7)} ${'round med'.padStart(9)} ${'gw cpu µs/req'.padStart(14)} ${'load cpu µs/req'.padStart(16)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'failed'.padStart(7)}\n`);
    for (const r of rows) {
      out.write(`${r.target.padEnd(24)} ${String(r.rps).padStart(8)} ${(r.ratio_vs_http === null ? '' : r.ratio_vs_http.toFixed(2)).padStart(7)} ${(r.round_ratio_median === null ? '' : r.round_ratio_median.toFixed(2)).padStart(9)} ${(r.cpu_us_per_req === null ? '' : r.cpu_us_per_req.toFixed(1)).padStart(14)} ${(r.loadgen_cpu_us_per_req === null ? '' : r.loadgen_cpu_us_per_req.toFixed(1)).padStart(16)} ${(r.p50_ms === null ? '' : r.p50_ms.toFixed(2)).padStart(7)} ${(r.p99_ms === null ? '' : r.p99_ms.toFixed(2)).padStart(7)} ${String(r.failed).padStart(7)}\n`);
    }
    out.write(`target: ${gate?.target ?? 'ws'} >= ${WS_TARGET_RATIO}x http requests/s (median of per-round ratios): ${pass === null ? 'no verdict' : pass ? 'met' : 'NOT met'}\n`);
    process.stdout.write(JSON.stringify({ suite: 'ws', settings: { duration_s: opts.duration, slice_s: sliceS, sockets: opts.sockets, depths: opts.depths, node: process.version, cpus: availableParallelism() }, rows, pass }) + '\n');
    return pass === false ? 1 : 0;
  } catch (err) {
    process.stderr.write(`[bench ws] error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await Promise.all(targets.flatMap((t) => t.clients.map((c) => c.close().catch(() => {}))));
    await Promise.all(children.map((c) => c.stop()));
    rmSync(workdir, { recursive: true, force: true });
    process.off('exit', onExit);
    process.stdout.off('error', onPipeError);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runWsBench(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
