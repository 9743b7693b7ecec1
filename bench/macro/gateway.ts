// Macro benchmark: the gateway against a direct call to the simulator and against the bare reference
// proxy, side by side in one run, reported as ratios.
//
//   npm run build && node dist/cli/main.js bench macro [--json] [--duration 10] [...]
//   (or: node dist/bench/macro/gateway.js [options])
//
// The simulator, the reference proxy and the gateway run as separate child processes started from dist/;
// the load generators run here. Two measurements per target, the same small non-streaming chat request:
//   (a) throughput: autocannon at 64 connections; rps from 2xx responses; p50/p99 from every response's
//       own time (autocannon reports it in fractional ms) recorded into an HDR histogram in ns;
//   (b) latency at concurrency 1: a sequential loop over one keep-alive undici connection, timed with
//       process.hrtime.bigint() into an HDR histogram in ns, so µs-level differences resolve.
// Targets alternate in short slices (ABC, BCA, CAB, ...) so machine noise lands on all of them alike.
// During the throughput slices the CPU time (user + system, /proc) of the serving process and of the
// simulator is summed, and reported per request: where a ratio moves, this says which process paid.
//
// The peer: the open-source Portkey gateway (npm `@portkey-ai/gateway`, a devDependency), started headless
// (`build/start-server.js --headless --port=N`) in front of the same simulator; each request names the
// simulator as its OpenAI-compatible host (`x-portkey-provider: openai`, `x-portkey-custom-host`). It is
// measured in the same alternating slices. Only non-streaming: on Node 20 its streaming path fails (see
// BENCHMARKS.md).
//
// Issue 2 targets: gateway rps >= 0.8 x proxy rps at 64 connections; at c=1 the gateway's added p50
// (over direct) <= proxy's added p50 + 50 µs, and added p99 <= proxy's added p99 + 250 µs.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { Client } from 'undici';
import { createServer } from 'node:net';

// ---------------------------------------------------------------------------------------------------
// autocannon has no typings: the slice of its API used here, loaded through require.

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
}
interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  duration: number;
  pipelining: number;
  timeout: number;
  skipAggregateResult: boolean;
}
interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
  stop(): void;
}
type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as Autocannon;

// ---------------------------------------------------------------------------------------------------
// Settings

export const TARGET_NAMES = ['direct', 'proxy', 'gateway', 'portkey', 'gateway_policy'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface MacroOptions {
  /** Seconds of measured throughput per target (split into slices). */
  duration: number;
  /** Seconds per throughput slice. */
  slice: number;
  /** Seconds of throughput warm-up per target (not recorded). */
  warmup: number;
  connections: number;
  /** Measured sequential requests per target at c=1. */
  c1Requests: number;
  /** Requests per c=1 slice. */
  c1Slice: number;
  /** Warm-up sequential requests per target (not recorded). */
  c1Warmup: number;
  /** Gateway worker threads (`serve --threads`). */
  threads: number;
  targets: TargetName[];
  json: boolean;
  /** Use an already running simulator at this origin instead of starting one. */
  upstream: string | null;
  /** Echo children's stderr as it comes. */
  verbose: boolean;
}

const DEFAULTS: MacroOptions = {
  duration: 10,
  slice: 2,
  warmup: 1,
  connections: 64,
  c1Requests: 5000,
  c1Slice: 500,
  c1Warmup: 300,
  threads: 1,
  // The peer is measured when its package is installed (it is a devDependency); gateway_policy (the same
  // gateway on a route with a safety policy) only when --targets names it.
  targets: TARGET_NAMES.filter((n) => n !== 'gateway_policy' && (n !== 'portkey' || portkeyEntry() !== null)),
  json: false,
  upstream: null,
  verbose: false,
};

export const TARGETS_ISSUE_2 = {
  /** gateway rps >= this × proxy rps at 64 connections */
  minRpsRatio: 0.8,
  /** gateway added p50 at c=1 <= proxy added p50 + this (µs) */
  maxExtraP50Us: 50,
  /** gateway added p99 at c=1 <= proxy added p99 + this (µs) */
  maxExtraP99Us: 250,
} as const;

export const BENCH_KEY = 'sk-switchyard-bench';
export const PROVIDER_KEY_ENV = 'SWITCHYARD_BENCH_PROVIDER_KEY';
export const PROVIDER_KEY = 'sk-bench-upstream';
export const GATEWAY_ALIAS = 'bench.fast';
/** The same route with the default safety policy (target gateway_policy). */
const POLICY_ALIAS = 'bench.safe';
export const PROVIDER_MODEL = 'gpt-4o-mini';
const CHAT_PATH = '/v1/chat/completions';
const READY_TIMEOUT_MS = 20_000;
/** Upstream keep-alive connections, the same for the reference proxy and the gateway's provider. */
const UPSTREAM_CONNECTIONS = 128;

export function requestBody(model: string): string {
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'Say hello in five words.' }],
    max_tokens: 16,
  });
}

// ---------------------------------------------------------------------------------------------------
// Output helpers: progress on stderr always.

export function progress(msg: string): void {
  process.stderr.write(`[bench macro] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------------
// Child processes

/** dist/ root: this file is dist/bench/macro/gateway.js. */
export const DIST = fileURLToPath(new URL('../../', import.meta.url));

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Last lines of stderr+stdout, for a failure report. */
  readonly tail: string[];
  exited: boolean;
  exitCode: number | null;
  exitSignal: string | null;

  constructor(name: string, args: string[], env: NodeJS.ProcessEnv, verbose: boolean) {
    this.name = name;
    this.tail = [];
    this.exited = false;
    this.exitCode = null;
    this.exitSignal = null;
    this.proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
    });
    this.proc.on('error', (err) => {
      this.exited = true;
      this.remember(`spawn error: ${err.message}`);
    });
    // Always drain both pipes: a child blocked on a full pipe would measure as slow.
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (s: string) => {
      this.remember(s);
      if (verbose) process.stderr.write(`[${name}] ${s}`);
    });
  }

  remember(s: string): void {
    for (const line of s.split('\n')) {
      if (line === '') continue;
      this.tail.push(line);
      if (this.tail.length > 40) this.tail.shift();
    }
  }

  /** Resolves with the first URL printed on a stdout line matching `pattern`. */
  waitForUrl(pattern: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      let buf = '';
      let settled = false;
      const timer = setTimeout(() => finish(new Error(`${this.name}: not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const finish = (err: Error | null, url?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.proc.off('exit', onExit);
        if (err !== null) {
          const tail = this.tail.length > 0 ? `\n  ${this.tail.join('\n  ')}` : '';
          reject(new Error(`${err.message}${tail}`));
        } else resolve(url!);
      };
      const onExit = (code: number | null, signal: string | null): void =>
        finish(new Error(`${this.name} exited before it was ready (code ${code}, signal ${signal})`));
      this.proc.on('exit', onExit);
      this.proc.stdout!.setEncoding('utf8');
      this.proc.stdout!.on('data', (s: string) => {
        if (settled) {
          this.remember(s);
          return;
        }
        buf += s;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.remember(line);
          if (pattern.test(line)) {
            const m = /(http:\/\/[^\s]+)/.exec(line);
            if (m !== null) {
              finish(null, m[1]!.replace(/\/+$/, ''));
              return;
            }
          }
        }
      });
    });
  }

  async stop(): Promise<void> {
    if (this.exited || this.proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => {
      if (!this.exited) this.proc.kill('SIGKILL');
    }, 3000);
    await exited;
    clearTimeout(t);
  }

  killNow(): void {
    if (!this.exited && this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The gateway config: one provider (the simulator), one MaaS pool, one tenant and key, one route. */
/** One route of the benchmark config on the simulator's pool; the two routes differ in use case and policy. */
function benchRoute(alias: string, useCase: string, safetyPolicy: string): string {
  return `  - alias: ${alias}
    use_case: ${useCase}
    owner: team-bench
    route_policy:
      lane: direct_small
      slo: { ttft_ms: 800, latency_ms: 8000 }
      budget: { max_cost_usd: 1 }
      fallback: []
    canary_share: 0
    canary_target: null
    fallback_condition: [timeout, "5xx", rate_limited, connection_error]
    pool_id: maas-bench
    queue_priority: 1
    latency_class: interactive
    allowed_providers: [sim-openai]
    quota: { requests_per_minute: 60000000, tokens_per_minute: 600000000 }
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 }
    safety_policy: ${safetyPolicy}
    trace_fields: [scenario_id, owner, prompt_version]
    prompt: null`;
}

export function gatewayConfigYaml(simulatorOrigin: string): string {
  return `# Written by \`switchyard bench macro\`: one route to the MaaS simulator, every decision field stated
# (shape mirrors fixtures/config/default.yaml). Quotas are far above what the benchmark can send, but the
# limit code still runs on every request: the gateway is measured with its whole request path.
server:
  max_body_bytes: 1048576

tenants:
  - { id: bench, name: Bench }

keys:
  # key_sha256 = hex SHA-256 of "${BENCH_KEY}"
  - { id: k-bench, tenant: bench, owner: team-bench, key_sha256: ${sha256Hex(BENCH_KEY)} }

providers:
  - name: sim-openai
    kind: openai
    base_url: ${simulatorOrigin}/v1
    api_key_env: ${PROVIDER_KEY_ENV}
    timeout_ms: 30000
    connections: ${UPSTREAM_CONNECTIONS}          # as many as the reference proxy's pool
    models:
      - { name: ${PROVIDER_MODEL}, input_usd_per_mtok: 0.15, cached_input_usd_per_mtok: 0.075, output_usd_per_mtok: 0.6 }

pools:
  - id: maas-bench
    kind: maas
    members:
      - { provider: sim-openai, model: ${PROVIDER_MODEL}, weight: 1 }

routes:
${benchRoute(GATEWAY_ALIAS, 'Macro benchmark, one small non-streaming chat completion', 'null')}
${benchRoute(POLICY_ALIAS, 'Macro benchmark, the same request on a route with the default safety policy', 'default-pii')}

scenarios:
  - id: bench
    owner: team-bench
    success: { within_slo: true, finish_reason: [stop, length] }
prompts: []
policies:
  - name: default-pii
    input:
      - { detector: email, action: redact }
      - { detector: phone, action: flag }
      - { detector: payment_card, action: block }
      - { detector: national_id, action: redact }
      - { detector: secret, action: redact }
    output:
      - { detector: email, action: redact }
      - { detector: payment_card, action: block }
      - { detector: secret, action: block }
`;
}


// ---------------------------------------------------------------------------------------------------
// Targets and their measurements

interface Target {
  readonly name: TargetName;
  /** Origin, e.g. http://127.0.0.1:PORT. */
  readonly origin: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  /** Throughput phase. */
  readonly tputLatency: Histogram;
  ok2xx: number;
  seconds: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** c=1 phase. */
  readonly c1Latency: Histogram;
  c1Failures: number;
  client: Client | null;
  /** The process that serves this target (the simulator for `direct`), and the simulator's. */
  pid: number | null;
  simPid: number | null;
  /** CPU time (user + system) of those processes during the recorded throughput slices, ms. */
  cpuMs: number;
  simCpuMs: number;
}

/** CPU time (utime + stime) of a process so far, ms, from /proc (Linux); null where unavailable. */
export function processCpuMs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), in clock ticks of 1/100 s on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

export function newHistogram(): Histogram {
  // ns, 3 significant digits (0.1 %: ±0.1 µs at 100 µs), up to 60 s.
  return hdr.build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Portkey's server entry (node_modules/@portkey-ai/gateway/build/start-server.js), or null when not installed. */
export function portkeyEntry(): string | null {
  try {
    const pkg = require.resolve('@portkey-ai/gateway/package.json');
    const file = join(pkg, '..', 'build', 'start-server.js');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

function makeTarget(name: TargetName, origin: string, sim: string): Target {
  // The same headers to every target (only the gateway reads the switchyard ones); Portkey also needs to be
  // told where the provider is, and forwards the Authorization header to it.
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    authorization: `Bearer ${name === 'portkey' ? PROVIDER_KEY : BENCH_KEY}`,
    'x-switchyard-scenario': 'bench',
  };
  if (name === 'portkey') {
    headers['x-portkey-provider'] = 'openai';
    headers['x-portkey-custom-host'] = sim + '/v1';
  }
  return {
    name,
    origin,
    body: requestBody(name === 'gateway' ? GATEWAY_ALIAS : name === 'gateway_policy' ? POLICY_ALIAS : PROVIDER_MODEL),
    headers,
    tputLatency: newHistogram(),
    ok2xx: 0,
    seconds: 0,
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    c1Latency: newHistogram(),
    c1Failures: 0,
    client: null,
    pid: null,
    simPid: null,
    cpuMs: 0,
    simCpuMs: 0,
  };
}

/** One request, checked: fails loudly (status, body) when a target does not answer 200 with a completion. */
async function probe(t: Target): Promise<void> {
  const c = new Client(t.origin);
  try {
    let r: Awaited<ReturnType<Client['request']>>;
    try {
      r = await c.request({ path: CHAT_PATH, method: 'POST', headers: t.headers, body: t.body });
    } catch (err) {
      throw new Error(`${t.name} (${t.origin}): probe failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${t.name}: probe answered ${r.statusCode}: ${text.slice(0, 500)}`);
    let parsed: { choices?: unknown[] };
    try {
      parsed = JSON.parse(text) as { choices?: unknown[] };
    } catch {
      throw new Error(`${t.name}: probe answered 200 with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    if (!Array.isArray(parsed.choices)) throw new Error(`${t.name}: probe answer has no choices: ${text.slice(0, 200)}`);
  } finally {
    await c.close();
  }
}

function runAutocannon(t: Target, seconds: number, connections: number, record: boolean, active: Set<AutocannonInstance>): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: t.origin + CHAT_PATH,
        method: 'POST',
        headers: t.headers,
        body: t.body,
        connections,
        duration: seconds,
        pipelining: 1,
        timeout: 10,
        skipAggregateResult: true,
      },
      (err, result) => {
        active.delete(inst);
        if (err !== null && err !== undefined) reject(err);
        else resolve(result);
      },
    );
    active.add(inst);
    if (record) {
      const h = t.tputLatency;
      inst.on('response', (_client, statusCode, _bytes, responseTime) => {
        // responseTime: fractional ms from process.hrtime; keep 2xx only, as ns.
        if (statusCode >= 200 && statusCode < 300) h.recordValue(Math.max(1, Math.round(responseTime * 1e6)));
      });
    }
  });
}

async function throughputSlice(t: Target, seconds: number, opts: MacroOptions, record: boolean, active: Set<AutocannonInstance>): Promise<void> {
  const cpu0 = processCpuMs(t.pid);
  const sim0 = processCpuMs(t.simPid);
  const r = await runAutocannon(t, seconds, opts.connections, record, active);
  if (!record) return;
  const cpu1 = processCpuMs(t.pid);
  const sim1 = processCpuMs(t.simPid);
  if (cpu0 !== null && cpu1 !== null) t.cpuMs += cpu1 - cpu0;
  if (sim0 !== null && sim1 !== null) t.simCpuMs += sim1 - sim0;
  t.ok2xx += r['2xx'];
  t.seconds += r.duration;
  t.non2xx += r.non2xx;
  t.errors += r.errors;
  t.timeouts += r.timeouts;
}

async function c1Slice(t: Target, n: number, record: boolean): Promise<void> {
  let c = t.client;
  if (c === null) {
    c = new Client(t.origin, { pipelining: 1, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 600_000 });
    t.client = c;
  }
  const h = t.c1Latency;
  const opts = { path: CHAT_PATH, method: 'POST' as const, headers: t.headers, body: t.body };
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await c.request(opts);
    await r.body.arrayBuffer(); // the whole body, as a client would read it
    const t1 = process.hrtime.bigint();
    if (r.statusCode !== 200) {
      t.c1Failures++;
      continue;
    }
    if (record) h.recordValue(Number(t1 - t0));
  }
}

/** Round r visits the targets rotated by r: ABC, BCA, CAB, ... */
function rotation<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---------------------------------------------------------------------------------------------------
// Results

export interface TargetResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  c1_p50_us: number;
  c1_p99_us: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  c1_requests: number;
  c1_failures: number;
  /** CPU µs per 2xx request of the serving process during the throughput phase (null: not measurable). */
  cpu_us_per_req: number | null;
  /** The simulator's CPU µs per request in the same slices. */
  sim_cpu_us_per_req: number | null;
}

export interface MacroResult {
  suite: 'macro';
  direct?: TargetResult;
  proxy?: TargetResult;
  gateway?: TargetResult;
  portkey?: TargetResult;
  /** The same gateway on a route with the default safety policy (when measured). */
  gateway_policy?: TargetResult;
  /** gateway_policy rps ÷ gateway rps, same run. */
  policy_vs_gateway_rps: number | null;
  gateway_vs_proxy_rps: number | null;
  /** The peer comparison: gateway rps ÷ Portkey rps at the same connections (null: not measured). */
  gateway_vs_portkey_rps: number | null;
  portkey_added_p50_us: number | null;
  portkey_added_p99_us: number | null;
  gateway_added_p50_us: number | null;
  proxy_added_p50_us: number | null;
  gateway_added_p99_us: number | null;
  proxy_added_p99_us: number | null;
  checks: {
    rps_ratio: { pass: boolean; value: number; min: number } | null;
    c1_added_p50: { pass: boolean; gateway_us: number; limit_us: number } | null;
    c1_added_p99: { pass: boolean; gateway_us: number; limit_us: number } | null;
    clean: { pass: boolean; failed_requests: number };
  };
  /** null when the gateway (or a needed target) was not measured. */
  pass: boolean | null;
  settings: {
    duration_s: number;
    slice_s: number;
    warmup_s: number;
    connections: number;
    c1_requests: number;
    gateway_threads: number;
    node: string;
    cpus: number;
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function summarize(t: Target): TargetResult {
  const tp = t.tputLatency;
  const c1 = t.c1Latency;
  return {
    rps: t.seconds > 0 ? round1(t.ok2xx / t.seconds) : 0,
    p50_ms: tp.totalCount > 0 ? round3(tp.getValueAtPercentile(50) / 1e6) : 0,
    p99_ms: tp.totalCount > 0 ? round3(tp.getValueAtPercentile(99) / 1e6) : 0,
    c1_p50_us: c1.totalCount > 0 ? round1(c1.getValueAtPercentile(50) / 1e3) : 0,
    c1_p99_us: c1.totalCount > 0 ? round1(c1.getValueAtPercentile(99) / 1e3) : 0,
    requests: t.ok2xx,
    non2xx: t.non2xx,
    errors: t.errors,
    timeouts: t.timeouts,
    c1_requests: c1.totalCount,
    c1_failures: t.c1Failures,
    cpu_us_per_req: t.pid !== null && t.ok2xx > 0 ? round1((t.cpuMs * 1000) / t.ok2xx) : null,
    sim_cpu_us_per_req: t.simPid !== null && t.ok2xx > 0 ? round1((t.simCpuMs * 1000) / t.ok2xx) : null,
  };
}

export function judge(results: Partial<Record<TargetName, TargetResult>>, settings: MacroResult['settings']): MacroResult {
  const d = results.direct;
  const p = results.proxy;
  const g = results.gateway;
  const pk = results.portkey;
  const gwVsPortkey = g !== undefined && pk !== undefined && pk.rps > 0 ? round3(g.rps / pk.rps) : null;
  const gwVsProxy = g !== undefined && p !== undefined && p.rps > 0 ? round3(g.rps / p.rps) : null;
  const gAdd50 = g !== undefined && d !== undefined ? round1(g.c1_p50_us - d.c1_p50_us) : null;
  const pAdd50 = p !== undefined && d !== undefined ? round1(p.c1_p50_us - d.c1_p50_us) : null;
  const gAdd99 = g !== undefined && d !== undefined ? round1(g.c1_p99_us - d.c1_p99_us) : null;
  const pAdd99 = p !== undefined && d !== undefined ? round1(p.c1_p99_us - d.c1_p99_us) : null;

  const T = TARGETS_ISSUE_2;
  const rpsCheck = gwVsProxy !== null ? { pass: gwVsProxy >= T.minRpsRatio, value: gwVsProxy, min: T.minRpsRatio } : null;
  const p50Check =
    gAdd50 !== null && pAdd50 !== null
      ? { pass: gAdd50 <= pAdd50 + T.maxExtraP50Us, gateway_us: gAdd50, limit_us: round1(pAdd50 + T.maxExtraP50Us) }
      : null;
  const p99Check =
    gAdd99 !== null && pAdd99 !== null
      ? { pass: gAdd99 <= pAdd99 + T.maxExtraP99Us, gateway_us: gAdd99, limit_us: round1(pAdd99 + T.maxExtraP99Us) }
      : null;
  let failed = 0;
  for (const r of [d, p, g, pk, results.gateway_policy]) if (r !== undefined) failed += r.non2xx + r.errors + r.timeouts + r.c1_failures;
  const clean = { pass: failed === 0, failed_requests: failed };
  const pass = rpsCheck !== null && p50Check !== null && p99Check !== null ? rpsCheck.pass && p50Check.pass && p99Check.pass && clean.pass : null;

  const gp = results.gateway_policy;
  const out: MacroResult = {
    suite: 'macro',
    policy_vs_gateway_rps: gp !== undefined && g !== undefined && g.rps > 0 ? round3(gp.rps / g.rps) : null,
    gateway_vs_proxy_rps: gwVsProxy,
    gateway_vs_portkey_rps: gwVsPortkey,
    portkey_added_p50_us: pk !== undefined && d !== undefined ? round1(pk.c1_p50_us - d.c1_p50_us) : null,
    portkey_added_p99_us: pk !== undefined && d !== undefined ? round1(pk.c1_p99_us - d.c1_p99_us) : null,
    gateway_added_p50_us: gAdd50,
    proxy_added_p50_us: pAdd50,
    gateway_added_p99_us: gAdd99,
    proxy_added_p99_us: pAdd99,
    checks: { rps_ratio: rpsCheck, c1_added_p50: p50Check, c1_added_p99: p99Check, clean },
    pass,
    settings,
  };
  if (d !== undefined) out.direct = d;
  if (p !== undefined) out.proxy = p;
  if (g !== undefined) out.gateway = g;
  if (pk !== undefined) out.portkey = pk;
  if (gp !== undefined) out.gateway_policy = gp;
  return out;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function formatTable(r: MacroResult): string {
  const lines: string[] = [];
  const cols = ['target', 'rps@' + r.settings.connections, 'p50 ms', 'p99 ms', 'c1 p50 µs', 'c1 p99 µs', 'added p50 µs', 'added p99 µs', 'failed', 'cpu µs/req', 'sim µs/req'];
  const widths = [14, 10, 8, 8, 10, 10, 13, 13, 7, 10, 10];
  lines.push(cols.map((c, i) => pad(c, widths[i]!, i > 0)).join('  '));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  const d = r.direct;
  for (const name of TARGET_NAMES) {
    const t = r[name];
    if (t === undefined) continue;
    const add50 = d !== undefined && name !== 'direct' ? (t.c1_p50_us - d.c1_p50_us).toFixed(1) : '';
    const add99 = d !== undefined && name !== 'direct' ? (t.c1_p99_us - d.c1_p99_us).toFixed(1) : '';
    const row = [
      name,
      t.rps.toFixed(0),
      t.p50_ms.toFixed(3),
      t.p99_ms.toFixed(3),
      t.c1_p50_us.toFixed(1),
      t.c1_p99_us.toFixed(1),
      add50,
      add99,
      String(t.non2xx + t.errors + t.timeouts + t.c1_failures),
      t.cpu_us_per_req === null ? '' : t.cpu_us_per_req.toFixed(1),
      t.sim_cpu_us_per_req === null ? '' : t.sim_cpu_us_per_req.toFixed(1),
    ];
    lines.push(row.map((c, i) => pad(c, widths[i]!, i > 0)).join('  '));
  }
  lines.push('');
  const c = r.checks;
  const mark = (b: boolean): string => (b ? 'PASS' : 'FAIL');
  if (c.rps_ratio !== null) lines.push(`${mark(c.rps_ratio.pass)}  gateway rps / proxy rps = ${c.rps_ratio.value.toFixed(3)} (target >= ${c.rps_ratio.min})`);
  if (c.c1_added_p50 !== null)
    lines.push(`${mark(c.c1_added_p50.pass)}  c=1 gateway added p50 = ${c.c1_added_p50.gateway_us.toFixed(1)} µs (target <= proxy added + 50 = ${c.c1_added_p50.limit_us.toFixed(1)} µs)`);
  if (c.c1_added_p99 !== null)
    lines.push(`${mark(c.c1_added_p99.pass)}  c=1 gateway added p99 = ${c.c1_added_p99.gateway_us.toFixed(1)} µs (target <= proxy added + 250 = ${c.c1_added_p99.limit_us.toFixed(1)} µs)`);
  if (r.policy_vs_gateway_rps !== null) lines.push(`INFO  gateway with the default safety policy rps / gateway rps = ${r.policy_vs_gateway_rps.toFixed(3)}`);
  if (r.gateway_vs_portkey_rps !== null) lines.push(`peer  gateway rps / Portkey rps = ${r.gateway_vs_portkey_rps.toFixed(3)}; c=1 added p50: gateway ${r.gateway_added_p50_us ?? '?'} µs, Portkey ${r.portkey_added_p50_us ?? '?'} µs`);
  lines.push(`${mark(c.clean.pass)}  failed requests: ${c.clean.failed_requests}`);
  lines.push(r.pass === null ? 'RESULT  incomplete (gateway, proxy and direct are all needed for a verdict)' : `RESULT  ${r.pass ? 'PASS' : 'FAIL'}`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------
// Orchestration

export function parseMacroArgs(argv: string[]): MacroOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      duration: { type: 'string' },
      slice: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'c1-requests': { type: 'string' },
      'c1-slice': { type: 'string' },
      'c1-warmup': { type: 'string' },
      threads: { type: 'string' },
      targets: { type: 'string' },
      upstream: { type: 'string' },
      verbose: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const num = (v: string | undefined, dflt: number, name: string, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}`);
    return n;
  };
  const o: MacroOptions = {
    duration: num(values.duration, DEFAULTS.duration, 'duration', 1),
    slice: num(values.slice, DEFAULTS.slice, 'slice', 1),
    warmup: num(values.warmup, DEFAULTS.warmup, 'warmup', 0),
    connections: Math.floor(num(values.connections, DEFAULTS.connections, 'connections', 1)),
    c1Requests: Math.floor(num(values['c1-requests'], DEFAULTS.c1Requests, 'c1-requests', 1)),
    c1Slice: Math.floor(num(values['c1-slice'], DEFAULTS.c1Slice, 'c1-slice', 1)),
    c1Warmup: Math.floor(num(values['c1-warmup'], DEFAULTS.c1Warmup, 'c1-warmup', 0)),
    threads: Math.floor(num(values.threads, DEFAULTS.threads, 'threads', 1)),
    targets: [...DEFAULTS.targets],
    json: values.json === true,
    upstream: values.upstream ?? null,
    verbose: values.verbose === true,
  };
  if (values.targets !== undefined) {
    const names = values.targets.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const n of names) if (!(TARGET_NAMES as readonly string[]).includes(n)) throw new Error(`--targets: unknown target ${n} (direct, proxy, gateway, portkey, gateway_policy)`);
    o.targets = TARGET_NAMES.filter((n) => names.includes(n));
    if (o.targets.length === 0) throw new Error('--targets: name at least one of direct, proxy, gateway, portkey');
    if (o.targets.includes('portkey') && portkeyEntry() === null) throw new Error('--targets: portkey needs the @portkey-ai/gateway package (npm install)');
  }
  return o;
}

export const MACRO_USAGE = `switchyard bench macro [--json] [--duration S] [--slice S] [--warmup S] [--connections N]
    [--c1-requests N] [--c1-slice N] [--c1-warmup N] [--threads N] [--targets direct,proxy,gateway,portkey]
    [--upstream URL] [--verbose]
  --targets may add gateway_policy: the same gateway on a route with the default safety policy.
  Starts the simulator, the reference proxy and the gateway (from dist/) as child processes and measures
  each at --connections (default 64) for --duration seconds (default 10) and at concurrency 1
  (--c1-requests, default 5000), alternating targets in slices. Exit 0 when the issue-2 targets are met
  (or no verdict is possible), 1 when not.
`;

export async function startSimulator(children: Child[], verbose: boolean): Promise<string> {
  const cli = join(DIST, 'cli', 'main.js');
  const lib = join(DIST, 'simulators', 'maas.js');
  let args: string[];
  if (existsSync(cli)) {
    args = [cli, 'simulate', '--port', '0'];
  } else if (existsSync(lib)) {
    // The CLI is not built yet: run the simulator library directly, printing the same ready line.
    const src = `const m = await import(${JSON.stringify(pathToFileURL(lib).href)});
const s = await m.startMaasSimulator({}, { port: 0 });
process.stdout.write('switchyard simulator listening on ' + s.url + '\\n');
const stop = async () => { await s.close(); process.exit(0); };
process.once('SIGTERM', stop); process.once('SIGINT', stop);`;
    args = ['--input-type=module', '-e', src];
  } else {
    throw new Error(`no simulator to start: neither ${cli} nor ${lib} exists (run \`npm run build\`), or pass --upstream URL`);
  }
  const child = new Child('simulator', args, process.env, verbose);
  children.push(child);
  // The library's url ends in /v1, the CLI's does not: keep the origin.
  return new URL(await child.waitForUrl(/simulator listening on/)).origin;
}

export async function startProxy(children: Child[], upstream: string, verbose: boolean): Promise<string> {
  const file = join(DIST, 'bench', 'reference-proxy.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\``);
  const child = new Child('proxy', [file, '--upstream', upstream, '--port', '0', '--api-key', PROVIDER_KEY, '--connections', String(UPSTREAM_CONNECTIONS)], process.env, verbose);
  children.push(child);
  return child.waitForUrl(/reference proxy listening on/);
}

export async function startGateway(children: Child[], upstream: string, threads: number, workdir: string, verbose: boolean): Promise<string> {
  const cli = join(DIST, 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` (or measure without it: --targets direct,proxy)`);
  const configFile = join(workdir, 'gateway.yaml');
  writeFileSync(configFile, gatewayConfigYaml(upstream));
  const env: NodeJS.ProcessEnv = { ...process.env, [PROVIDER_KEY_ENV]: PROVIDER_KEY, SWITCHYARD_DATA_DIR: join(workdir, 'data') };
  delete env.SWITCHYARD_CONFIG;
  const child = new Child('gateway', [cli, 'serve', '--config', configFile, '--port', '0', '--host', '127.0.0.1', '--threads', String(threads)], env, verbose);
  children.push(child);
  return child.waitForUrl(/switchyard listening on/);
}

/** A free loopback port (Portkey takes --port=N and prints localhost, not the port it got from 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPortkey(children: Child[], verbose: boolean): Promise<string> {
  const file = portkeyEntry();
  if (file === null) throw new Error('@portkey-ai/gateway is not installed (npm install)');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  const child = new Child('portkey', [file, `--port=${port}`, '--headless'], env, verbose);
  children.push(child);
  await child.waitForUrl(/localhost:/);
  return `http://127.0.0.1:${port}`;
}

export function checkChildren(children: readonly Child[]): void {
  for (const c of children) {
    if (c.exited) {
      const tail = c.tail.length > 0 ? `\n  ${c.tail.join('\n  ')}` : '';
      throw new Error(`${c.name} exited during the run (code ${c.exitCode}, signal ${c.exitSignal})${tail}`);
    }
  }
}

export async function runMacro(argv: string[]): Promise<number> {
  let opts: MacroOptions;
  try {
    opts = parseMacroArgs(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${MACRO_USAGE}`);
    return 2;
  }

  const children: Child[] = [];
  const active = new Set<AutocannonInstance>();
  const targets: Target[] = [];
  const workdir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  let interrupted = false;

  const killAllNow = (): void => {
    for (const c of children) c.killNow();
  };
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    progress('interrupted: stopping');
    for (const inst of active) inst.stop();
    killAllNow();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Last resort (an uncaught error, a closed stdout): never leave a child or the temp dir behind.
  const onExit = (): void => {
    killAllNow();
    rmSync(workdir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const guard = (): void => {
    if (interrupted) throw new Error('interrupted');
    checkChildren(children);
  };

  try {
    // --- start ---
    let sim: string;
    if (opts.upstream !== null) {
      sim = new URL(opts.upstream).origin;
      progress(`using the simulator at ${sim}`);
    } else {
      progress('starting the simulator');
      sim = await startSimulator(children, opts.verbose);
      progress(`simulator at ${sim}`);
    }
    const origins: Partial<Record<TargetName, string>> = { direct: sim };
    const starts: Promise<void>[] = [];
    if (opts.targets.includes('proxy')) {
      progress('starting the reference proxy');
      starts.push(startProxy(children, sim, opts.verbose).then((u) => void (origins.proxy = u)));
    }
    if (opts.targets.includes('gateway') || opts.targets.includes('gateway_policy')) {
      progress(`starting the gateway (--threads ${opts.threads})`);
      starts.push(startGateway(children, sim, opts.threads, workdir, opts.verbose).then((u) => void (origins.gateway = u)));
    }
    if (opts.targets.includes('portkey')) {
      progress('starting the Portkey gateway (headless)');
      starts.push(startPortkey(children, opts.verbose).then((u) => void (origins.portkey = u)));
    }
    await Promise.all(starts);
    const pidOf = (name: string): number | null => children.find((c) => c.name === name)?.proc.pid ?? null;
    for (const name of opts.targets) {
      progress(`${name} at ${name === 'gateway_policy' ? origins.gateway : origins[name]}`);
      const t = makeTarget(name, name === 'gateway_policy' ? origins.gateway! : origins[name]!, sim);
      t.simPid = pidOf('simulator');
      t.pid = name === 'direct' ? t.simPid : pidOf(name === 'gateway_policy' ? 'gateway' : name);
      targets.push(t);
    }
    for (const t of targets) await probe(t);
    guard();

    // --- warm-up (not recorded) ---
    if (opts.warmup > 0) {
      for (const t of targets) {
        progress(`warm-up: ${t.name}, ${opts.connections} connections, ${opts.warmup} s`);
        await throughputSlice(t, opts.warmup, opts, false, active);
        guard();
      }
    }
    if (opts.c1Warmup > 0) {
      for (const t of targets) {
        progress(`warm-up: ${t.name}, c=1, ${opts.c1Warmup} requests`);
        await c1Slice(t, opts.c1Warmup, false);
        guard();
      }
    }

    // --- throughput, alternating slices ---
    const rounds = Math.max(1, Math.ceil(opts.duration / opts.slice));
    const sliceS = opts.duration / rounds;
    for (let r = 0; r < rounds; r++) {
      for (const t of rotation(targets, r)) {
        progress(`throughput: round ${r + 1}/${rounds}, ${t.name}, ${opts.connections} connections, ${sliceS.toFixed(1)} s`);
        await throughputSlice(t, sliceS, opts, true, active);
        guard();
      }
    }

    // --- latency at c=1, alternating slices ---
    const c1Rounds = Math.max(1, Math.ceil(opts.c1Requests / opts.c1Slice));
    for (let r = 0; r < c1Rounds; r++) {
      const n = Math.min(opts.c1Slice, opts.c1Requests - r * opts.c1Slice);
      progress(`latency c=1: round ${r + 1}/${c1Rounds}, ${n} requests per target`);
      for (const t of rotation(targets, r)) {
        await c1Slice(t, n, true);
        guard();
      }
    }

    // --- report ---
    const results: Partial<Record<TargetName, TargetResult>> = {};
    for (const t of targets) results[t.name] = summarize(t);
    const result = judge(results, {
      duration_s: opts.duration,
      slice_s: round1(sliceS),
      warmup_s: opts.warmup,
      connections: opts.connections,
      c1_requests: opts.c1Requests,
      gateway_threads: opts.threads,
      node: process.version,
      cpus: availableParallelism(),
    });
    const table = formatTable(result);
    if (opts.json) {
      process.stderr.write(table);
    } else {
      process.stdout.write(table);
    }
    process.stdout.write(JSON.stringify(result) + '\n');
    return result.pass === false ? 1 : 0;
  } catch (err) {
    process.stderr.write(`[bench macro] error: ${err instanceof Error ? err.message : String(err)}\n`);
    return interrupted ? 130 : 1;
  } finally {
    for (const inst of active) inst.stop();
    await Promise.all(targets.map((t) => (t.client !== null ? t.client.destroy().catch(() => {}) : Promise.resolve())));
    progress('stopping child processes');
    await Promise.all(children.map((c) => c.stop()));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    rmSync(workdir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMacro(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
