// Observability cost, side by side in one run (issue 9):
//   (a) throughput of gateways on the same simulator: `off` (SWITCHYARD_METRICS=off, no span export)
//       and `on` (metrics counted, every request's span exported over OTLP/HTTP JSON to a local collector
//       in this process), and with --sides also `metrics` (counting only), `spans` (export only) and
//       `on10` (metrics, 10% of traces exported: OTEL_TRACES_SAMPLER=traceidratio), alternating short
//       autocannon slices (rotated each round) so machine noise lands on all; rps and the gateway
//       process's CPU µs per request, and on/off ratios. Requests carry no traceparent (each is a new
//       trace). Target: ≤ 5% cost.
//   (b) `/metrics` scrape time with 1,000 series: a GatewayMetrics filled with 1,000 label sets
//       (requests by alias × outcome, latency and TTFT histograms, cost, cache, fallbacks, quota), its
//       snapshot and Prometheus text, for one thread and for two threads' snapshots merged.
//
//   npm run build && node dist/bench/macro/observability.js [--duration 10] [--slice 2] [--connections 64] [--json]
//   (or: switchyard bench observability [...])

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { GatewayMetrics, renderPrometheus } from '../../core/telemetry/metrics.js';
import { dashboardData } from '../../core/telemetry/dashboard.js';
import { BENCH_KEY, Child, GATEWAY_ALIAS, PROVIDER_KEY, PROVIDER_KEY_ENV, gatewayConfigYaml, processCpuMs, requestBody, startSimulator } from './gateway.js';

interface AutocannonResult {
  duration: number;
  '2xx': number;
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, r: AutocannonResult) => void) => unknown;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const DIST = fileURLToPath(new URL('../../', import.meta.url));

function progress(msg: string): void {
  process.stderr.write(`[bench observability] ${msg}\n`);
}

type SideName = 'off' | 'metrics' | 'spans' | 'on' | 'on10';
const SIDE_NAMES: readonly SideName[] = ['off', 'metrics', 'spans', 'on', 'on10'];

interface Side {
  name: SideName;
  origin: string;
  pid: number | null;
  ok: number;
  seconds: number;
  failed: number;
  cpuMs: number;
}

function slice(side: Side, seconds: number, connections: number, record: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const cpu0 = processCpuMs(side.pid);
    autocannon(
      {
        url: side.origin + '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}`, 'x-switchyard-scenario': 'bench' },
        body: requestBody(GATEWAY_ALIAS),
        connections,
        duration: seconds,
        pipelining: 1,
        timeout: 10,
        skipAggregateResult: true,
      },
      (err, r) => {
        if (err) return reject(err);
        if (record) {
          const cpu1 = processCpuMs(side.pid);
          if (cpu0 !== null && cpu1 !== null) side.cpuMs += cpu1 - cpu0;
          side.ok += r['2xx'];
          side.seconds += r.duration;
          side.failed += r.non2xx + r.errors;
        }
        resolve();
      },
    );
  });
}

/** A local OTLP collector: reads and counts spans (by counting `"spanId"`), answers 200. */
async function collector(): Promise<{ url: string; spans: () => number; server: Server }> {
  let spans = 0;
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      let i = -1;
      while ((i = text.indexOf('"spanId"', i + 1)) >= 0) spans++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans: () => spans, server };
}

/** (b) A registry with `series` label sets, and how long snapshot + Prometheus text take. */
export function scrapeBench(series = 1000, rounds = 50): { series: number; lines: number; bytes: number; one_thread_ms: number; two_threads_ms: number; dashboard_ms: number } {
  const fill = (): GatewayMetrics => {
    const m = new GatewayMetrics();
    // Per alias: 5 requests_total outcomes + duration + ttft + cost + 2 cache results = 10 series; 100 aliases.
    const aliases = Array.from({ length: series / 10 }, (_, i) => ({ index: i, alias: `team${i % 10}.use-case-${i}.fast`, pool: { id: `pool-${i % 8}` } }));
    m.bind(aliases);
    for (const a of aliases) {
      for (const outcome of ['success', 'quality_failure', 'slo_miss', 'budget_miss', 'error']) {
        for (let k = 0; k < 20; k++) m.requestDone(a, a, 'direct_small', outcome, 20 + ((k * 37) % 900), 5 + ((k * 13) % 300), 0.0001);
      }
      m.cacheLookup(a, 'response', 'hit');
      m.cacheLookup(a, 'response', 'miss');
    }
    m.close();
    return m;
  };
  const a = fill();
  const b = fill();
  const text = renderPrometheus([a.registry.snapshot()]);
  const time = (fn: () => void): number => {
    for (let i = 0; i < 5; i++) fn();
    const ts: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      fn();
      ts.push(performance.now() - t0);
    }
    ts.sort((x, y) => x - y);
    return Math.round(ts[Math.floor(ts.length / 2)]! * 1000) / 1000;
  };
  // Counted the way Prometheus counts: distinct label sets over the families (a histogram is one).
  const labelled = text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.includes('_bucket{') && !l.includes('_sum{')).length;
  return {
    series: labelled,
    lines: text.split('\n').length - 1,
    bytes: Buffer.byteLength(text),
    one_thread_ms: time(() => void renderPrometheus([a.registry.snapshot()])),
    two_threads_ms: time(() => void renderPrometheus([structuredClone(a.registry.snapshot()), structuredClone(b.registry.snapshot())])),
    dashboard_ms: time(() => void dashboardData([a.registry.snapshot(), b.registry.snapshot()])),
  };
}

export async function runObservability(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      slice: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      json: { type: 'boolean', default: false },
      'scrape-only': { type: 'boolean', default: false },
      /** Which gateways: off (nothing), metrics (counting only), spans (export only), on (both). */
      sides: { type: 'string', default: 'off,on' },
    },
  });
  const names = values.sides.split(',') as SideName[];
  for (const n of names) if (!SIDE_NAMES.includes(n)) throw new Error(`--sides: unknown ${n} (off, metrics, spans, on)`);
  if (!names.includes('off') || !names.includes('on')) throw new Error('--sides must include off and on');
  const duration = Number(values.duration);
  const sliceS = Number(values.slice);
  const connections = Number(values.connections);
  const scrape = scrapeBench();
  progress(`/metrics with ${scrape.series} series: ${scrape.one_thread_ms} ms (one thread), ${scrape.two_threads_ms} ms (two threads merged)`);
  if (values['scrape-only']) {
    process.stdout.write(JSON.stringify({ suite: 'observability', scrape }) + '\n');
    return 0;
  }
  const cli = join(DIST, 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\``);
  const children: Child[] = [];
  const workdir = mkdtempSync(join(tmpdir(), 'switchyard-bench-obs-'));
  const col = await collector();
  try {
    const sim = await startSimulator(children, false);
    const config = join(workdir, 'gateway.yaml');
    writeFileSync(config, gatewayConfigYaml(sim));
    const start = async (name: SideName): Promise<Side> => {
      const env: NodeJS.ProcessEnv = { ...process.env, [PROVIDER_KEY_ENV]: PROVIDER_KEY, SWITCHYARD_DATA_DIR: join(workdir, name) };
      delete env.SWITCHYARD_CONFIG;
      delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
      delete env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
      if (name === 'off' || name === 'spans') env.SWITCHYARD_METRICS = 'off';
      if (name === 'spans' || name === 'on' || name === 'on10') env.OTEL_EXPORTER_OTLP_ENDPOINT = col.url;
      delete env.OTEL_TRACES_SAMPLER;
      delete env.OTEL_TRACES_SAMPLER_ARG;
      if (name === 'on10') {
        env.OTEL_TRACES_SAMPLER = 'traceidratio';
        env.OTEL_TRACES_SAMPLER_ARG = '0.1';
      }
      const child = new Child(`gateway-${name}`, [cli, 'serve', '--config', config, '--port', '0', '--host', '127.0.0.1'], env, false);
      children.push(child);
      const origin = await child.waitForUrl(/switchyard listening on/);
      return { name, origin, pid: child.proc.pid ?? null, ok: 0, seconds: 0, failed: 0, cpuMs: 0 };
    };
    const sides: Side[] = [];
    for (const n of names) sides.push(await start(n));
    progress('warm-up');
    for (const s of sides) await slice(s, 1, connections, false);
    const rounds = Math.max(1, Math.round(duration / sliceS));
    for (let r = 0; r < rounds; r++) {
      const k = r % sides.length;
      const order = [...sides.slice(k), ...sides.slice(0, k)];
      for (const s of order) await slice(s, sliceS, connections, true);
      progress(`round ${r + 1}/${rounds}`);
    }
    await new Promise((r) => setTimeout(r, 1500)); // the last span batch
    const res = sides.map((s) => ({ name: s.name, rps: Math.round(s.ok / s.seconds), cpu_us_per_req: s.ok > 0 ? Math.round((s.cpuMs * 1000) / s.ok) : null, failed: s.failed, requests: s.ok }));
    const off = res.find((x) => x.name === 'off')!;
    const on = res.find((x) => x.name === 'on')!;
    const out = {
      suite: 'observability',
      settings: { duration, slice: sliceS, connections },
      sides: res,
      rps_ratio_on_off: Math.round((on!.rps / off!.rps) * 1000) / 1000,
      cpu_ratio_on_off: on!.cpu_us_per_req !== null && off!.cpu_us_per_req !== null ? Math.round((on!.cpu_us_per_req / off!.cpu_us_per_req) * 1000) / 1000 : null,
      spans_received: col.spans(),
      scrape,
    };
    if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      const label: Record<SideName, string> = { off: 'metrics off, no spans', metrics: 'metrics on, no spans', spans: 'metrics off, spans exported', on: 'metrics on, spans exported', on10: 'metrics on, 10% of spans' };
      process.stdout.write(
        [
          ...res.map((x) => `gateway, ${label[x.name].padEnd(28)} ${x.rps} rps, ${x.cpu_us_per_req} CPU µs/request (${x.requests} requests, ${x.failed} failed)`),
          `spans received by the collector: ${out.spans_received}`,
          `on/off: rps ${out.rps_ratio_on_off}, CPU per request ${out.cpu_ratio_on_off} (target: cost <= 5%)`,
          `/metrics with ${scrape.series} series (${scrape.lines} lines, ${scrape.bytes} bytes): ${scrape.one_thread_ms} ms one thread, ${scrape.two_threads_ms} ms two threads merged; dashboard data ${scrape.dashboard_ms} ms`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await new Promise((r) => col.server.close(r));
    rmSync(workdir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runObservability(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
