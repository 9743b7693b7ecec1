// `switchyard serve [--config FILE] [--port N] [--host H] [--threads N] [--transport uws|node]`
// Loads and validates the config (a bad config never starts a server), starts the in-process simulators
// the config asks for, then serves on uWebSockets.js: in this thread, or in N worker threads on one port.
import { Worker } from 'node:worker_threads';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import {
  Gateway,
  JsonlTraceSink,
  SharedLimitStore,
  compilePlan,
  createLimitStore,
  limitFailureReporter,
  loadConfigWithKeys,
  reloadProblem,
  withOtlpExport,
  samplerFromEnv,
  type Config,
  type Plan,
  type LimitStore,
  type TraceSink,
  FanoutTraceSink,
  StoreLedger,
  openLedgerStore,
  CoverageMonitor,
  type LedgerBatchMessage,
  type UsageReportSource,
  type MetricsSnapshot,
} from '../core/index.js';
import { startUwsServer } from '../transports/uws/server.js';
import { startNodeHttpServer } from '../transports/node-http/server.js';
import { startMaasSimulator, type MaasSimulator } from '../simulators/index.js';
import { parseArgs, packageRoot } from './args.js';

export const DEFAULT_CONFIG = join(packageRoot, 'fixtures/config/default.yaml');

export interface ServeOptions {
  configPath: string;
  host: string;
  port: number;
  threads: number;
  transport: 'uws' | 'node';
  dataDir: string;
  /** `postgres://...` (SWITCHYARD_DATABASE_URL): the Postgres ledger; empty: SQLite in dataDir. */
  databaseUrl: string;
  /** Drain deadline on SIGTERM/SIGINT, ms. */
  drainMs: number;
}

export function serveOptionsFrom(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeOptions {
  const a = parseArgs(argv, ['config', 'port', 'host', 'threads', 'transport', 'drain-ms']);
  const port = Number(a.get('port') ?? env.PORT ?? 8080);
  const threads = Number(a.get('threads') ?? 1);
  const transport = a.get('transport') ?? 'uws';
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer 0..65535`);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new UsageError(`--threads must be an integer 1..64`);
  if (transport !== 'uws' && transport !== 'node') throw new UsageError(`--transport must be uws or node`);
  if (transport === 'node' && threads > 1) throw new UsageError(`--threads applies to the uws transport only`);
  return {
    configPath: resolve(a.get('config') ?? env.SWITCHYARD_CONFIG ?? DEFAULT_CONFIG),
    host: a.get('host') ?? '127.0.0.1',
    port,
    threads,
    transport,
    dataDir: resolve(env.SWITCHYARD_DATA_DIR ?? './data'),
    databaseUrl: env.SWITCHYARD_DATABASE_URL ?? '',
    drainMs: Number(a.get('drain-ms') ?? 10_000),
  };
}

export class UsageError extends Error {}

/** The config file with the keys file (`keys create`) merged in; a UsageError listing every problem. */
export function loadValidConfig(path: string, keysPath: string): Config {
  const result = loadConfigWithKeys(path, keysPath);
  if (!result.ok) throw new UsageError(`invalid config ${path}:\n` + result.problems.map((p) => `  ${p}`).join('\n'));
  return result.config;
}

/**
 * SIGHUP: read the config and keys file again and swap the gateway's Plan (new and revoked keys, routes,
 * prices). Refused, with the reason on stderr, when the new config is invalid or moves existing limits.
 */
export function reloadPlan(gateway: Gateway, configPath: string, keysPath: string, urls: ReadonlyMap<string, string>): void {
  let next: Plan;
  try {
    next = compilePlan(loadValidConfig(configPath, keysPath), { providerBaseUrls: urls });
  } catch (err) {
    process.stderr.write(`switchyard: reload refused: ${(err as Error).message}\n`);
    return;
  }
  const problem = reloadProblem(gateway.currentPlan.limits, next.limits, gateway.limits);
  if (problem !== null) {
    process.stderr.write(`switchyard: reload refused: ${problem}; restart to apply\n`);
    return;
  }
  gateway.setPlan(next);
  process.stderr.write(`switchyard: reloaded ${configPath}\n`);
}

/** Start an in-process simulator for each provider that declares `simulator:`; their URLs by provider name. */
export async function startConfiguredSimulators(config: Config, host: string): Promise<{ urls: Map<string, string>; sims: MaasSimulator[] }> {
  const urls = new Map<string, string>();
  const sims: MaasSimulator[] = [];
  for (const p of config.providers) {
    if (p.simulator == null || p.base_url != null) continue;
    const sim = await startMaasSimulator(p.simulator, { host, port: 0 });
    sims.push(sim);
    urls.set(p.name, sim.url);
  }
  return { urls, sims };
}

export async function runServe(argv: string[]): Promise<number> {
  let opts: ServeOptions;
  let config: Config;
  try {
    opts = serveOptionsFrom(argv);
    config = loadValidConfig(opts.configPath, join(opts.dataDir, 'keys.yaml'));
  } catch (err) {
    process.stderr.write(`switchyard serve: ${(err as Error).message}\n`);
    return 1;
  }
  const { urls, sims } = await startConfiguredSimulators(config, '127.0.0.1');
  const closeSims = () => Promise.all(sims.map((s) => s.close()));
  const tracePath = join(opts.dataDir, 'traces.jsonl');

  const plan = compilePlan(config, { providerBaseUrls: urls });
  for (const p of config.providers) {
    if (p.api_key_env !== undefined && !process.env[p.api_key_env]) {
      process.stderr.write(`switchyard serve: warning: provider ${p.name}: ${p.api_key_env} is not set; calls go without a key\n`);
    }
  }
  let limits: LimitStore | null;
  let ledger: StoreLedger;
  try {
    // The usage ledger: SQLite in the data folder, or Postgres. One writer: with one gateway thread
    // (serving on this one) SQLite is written from a worker thread; with --threads N this thread serves
    // no requests and writes what the gateway threads post.
    ledger = new StoreLedger(await openLedgerStore({ dataDir: opts.dataDir, databaseUrl: opts.databaseUrl, writerThread: opts.threads === 1 }));
  } catch (err) {
    process.stderr.write(`switchyard serve: ${(err as Error).message}\n`);
    await closeSims();
    return 1;
  }
  try {
    limits = createLimitStore(plan.limits, { onFailure: limitFailureReporter(plan.limits.failureMode) });
  } catch (err) {
    process.stderr.write(`switchyard serve: ${(err as Error).message}\n`);
    await ledger.close();
    await closeSims();
    return 1;
  }

  if (opts.threads === 1) {
    const traces: TraceSink = withOtlpExport(new FanoutTraceSink(new JsonlTraceSink(tracePath), ledger));
    const coverage = coverageMonitor(config, urls, ledger);
    const gateway = new Gateway({ plan, traces, limits, metrics: process.env.SWITCHYARD_METRICS !== 'off', sampler: samplerFromEnv(), extraMetrics: () => coverage.scrape() });
    let stopListening: () => void;
    let address: string;
    try {
      if (opts.transport === 'uws') {
        const server = await startUwsServer(gateway, { host: opts.host, port: opts.port });
        stopListening = () => server.close();
        address = `http://${opts.host}:${server.port}`;
      } else {
        const server = await startNodeHttpServer(gateway, { host: opts.host, port: opts.port });
        stopListening = () => void server.close();
        address = `http://${opts.host}:${server.port}`;
      }
    } catch (err) {
      process.stderr.write(`switchyard serve: ${(err as Error).message}\n`);
      await traces.close();
      await closeSims();
      return 1;
    }
    process.stdout.write(`switchyard listening on ${address}\n`);
    const onHup = () => reloadPlan(gateway, opts.configPath, join(opts.dataDir, 'keys.yaml'), urls);
    process.on('SIGHUP', onHup);
    await waitForSignal();
    process.off('SIGHUP', onHup);
    stopListening();
    const drained = await gateway.drain(opts.drainMs);
    if (!drained) await gateway.upstream.destroy();
    gateway.stop();
    coverage.close();
    await traces.close();
    await gateway.upstream.close();
    await gateway.close();
    await limits?.close();
    await closeSims();
    // Single thread: no worker holds uWS handles, so exiting here is safe (idle keep-alive sockets would
    // otherwise hold the loop open until their timeout).
    process.exit(0);
  }
  // Threads share a shared-memory store through its buffer; a Redis store is opened by each thread.
  const sharedBuffer = limits instanceof SharedLimitStore ? limits.buffer : null;
  if (!(limits instanceof SharedLimitStore)) await limits?.close();
  const coverage = coverageMonitor(config, urls, ledger);
  const code = await serveThreads(opts, urls, closeSims, tracePath, sharedBuffer, ledger, coverage);
  // Every thread has ended (and posted its last rows): write out the ledger.
  coverage.close();
  await ledger.close();
  return code;
}

async function serveThreads(opts: ServeOptions, urls: Map<string, string>, closeSims: () => Promise<unknown>, tracePath: string, sharedBuffer: SharedArrayBuffer | null, ledger: StoreLedger, coverage: ServeCoverage): Promise<number> {
  const workerFile = fileURLToPath(new URL('../transports/uws/worker.js', import.meta.url));
  const workers: Worker[] = [];
  const start = (port: number): Promise<number> => {
    const w = new Worker(workerFile, {
      workerData: { configPath: opts.configPath, keysPath: join(opts.dataDir, 'keys.yaml'), providerBaseUrls: [...urls], host: opts.host, port, tracePath, drainMs: opts.drainMs, sharedBuffer },
    });
    workers.push(w);
    w.on('message', (m: { type: string; id?: string; n?: number; from?: number; job?: unknown; snap?: unknown }) => {
      // Gateway threads post their usage rows here: this thread is the ledger's one writer.
      if (m.type === 'ledger') ledger.writeColumns((m as unknown as LedgerBatchMessage).cols, (m as unknown as LedgerBatchMessage).n);
      else if (m.type === 'job?' || m.type === 'job=') relayJob(workers, w, m);
      else if (m.type === 'metrics?' || m.type === 'metrics=') relayMetrics(workers, w, m, coverage);
    });
    return new Promise<number>((resolvePort, reject) => {
      w.once('message', (m: { type: string; port?: number; error?: string }) => {
        if (m.type === 'listening') resolvePort(m.port!);
        else reject(new Error(m.error ?? 'worker failed to start'));
      });
      w.once('error', reject);
    });
  };
  let port: number;
  try {
    // uSockets sets SO_REUSEPORT only for an explicit port, so `--port 0` first finds a free port; then
    // the first thread binds it and the others join it.
    port = opts.port === 0 ? await freePort(opts.host) : opts.port;
    port = await start(port);
    await Promise.all(Array.from({ length: opts.threads - 1 }, () => start(port)));
  } catch (err) {
    process.stderr.write(`switchyard serve: ${(err as Error).message}\n`);
    for (const w of workers) w.postMessage({ type: 'stop' });
    await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
    await closeSims();
    return 1;
  }
  process.stdout.write(`switchyard listening on http://${opts.host}:${port}\n`);
  const onHup = () => {
    for (const w of workers) w.postMessage({ type: 'reload' });
  };
  process.on('SIGHUP', onHup);
  await waitForSignal();
  process.off('SIGHUP', onHup);
  // Each thread closes its listen socket, drains, flushes and ends on its own (ARCHITECTURE, uWS rule 9).
  const exits = workers.map((w) => new Promise((r) => w.once('exit', r)));
  for (const w of workers) w.postMessage({ type: 'stop' });
  await Promise.all(exits);
  await closeSims();
  return 0;
}

/**
 * Batch-job lookups between gateway threads: a thread that does not hold a polled job asks (`job?`); the
 * others answer (`job=`); the first job found, or null once all have answered, goes back (`job!`).
 */
const jobAsks = new Map<string, { asker: Worker; n: number; waiting: number; done: boolean }>();
function relayJob(workers: readonly Worker[], from: Worker, m: { type: string; id?: string; n?: number; from?: number; job?: unknown }): void {
  if (m.type === 'job?') {
    const others = workers.filter((w) => w !== from);
    const key = `${workers.indexOf(from)}:${m.n}`;
    if (others.length === 0) return from.postMessage({ type: 'job!', n: m.n, job: null });
    jobAsks.set(key, { asker: from, n: m.n!, waiting: others.length, done: false });
    for (const w of others) w.postMessage({ type: 'job?', id: m.id, n: m.n, from: workers.indexOf(from) });
  } else if (m.type === 'job=') {
    const key = `${m.from}:${m.n}`;
    const ask = jobAsks.get(key);
    if (ask === undefined) return;
    ask.waiting--;
    if (!ask.done && m.job != null) {
      ask.done = true;
      ask.asker.postMessage({ type: 'job!', n: ask.n, job: m.job });
    }
    if (ask.waiting === 0) {
      if (!ask.done) ask.asker.postMessage({ type: 'job!', n: ask.n, job: null });
      jobAsks.delete(key);
    }
  }
}

/** Scrapes across gateway threads: every thread (the asker too) sends its snapshot; all go back together. */
const scrapes = new Map<string, { asker: Worker; n: number; waiting: number; snaps: unknown[] }>();
function relayMetrics(workers: readonly Worker[], from: Worker, m: { type: string; n?: number; from?: number; snap?: unknown }, coverage: ServeCoverage): void {
  if (m.type === 'metrics?') {
    const key = `${workers.indexOf(from)}:${m.n}`;
    scrapes.set(key, { asker: from, n: m.n!, waiting: workers.length, snaps: [] });
    for (const w of workers) w.postMessage({ type: 'metrics?', n: m.n, from: workers.indexOf(from) });
    return;
  }
  const key = `${m.from}:${m.n}`;
  const s = scrapes.get(key);
  if (s === undefined) return;
  s.snaps.push(m.snap);
  if (--s.waiting === 0) {
    scrapes.delete(key);
    for (const snap of coverage.scrape()) s.snaps.push(snap);
    s.asker.postMessage({ type: 'metrics!', n: s.n, snaps: s.snaps });
  }
}

interface ServeCoverage {
  /** The coverage series for a scrape (and a fresh comparison in the background for the next one). */
  scrape(): MetricsSnapshot[];
  close(): void;
}

/**
 * Coverage for the providers that publish a usage report: those with `usage_report: { api_key_env }`
 * (OpenAI's organization usage API wants an admin key), and the in-process MaaS simulators. Compared
 * every 15 s and on each scrape (the scrape shows the last comparison).
 */
function coverageMonitor(config: Config, urls: ReadonlyMap<string, string>, ledger: StoreLedger): ServeCoverage {
  const sources: UsageReportSource[] = [];
  for (const p of config.providers) {
    const url = urls.get(p.name) ?? p.base_url;
    if (url === undefined) continue;
    if (p.usage_report !== undefined) sources.push({ provider: p.name, baseUrl: url, apiKey: process.env[p.usage_report.api_key_env] ?? '' });
    else if (p.simulator != null) sources.push({ provider: p.name, baseUrl: url, apiKey: 'sk-switchyard-coverage' });
  }
  const monitor = new CoverageMonitor(ledger.byProvider, sources, Date.now());
  monitor.start(15_000);
  return {
    scrape() {
      if (sources.length === 0) return [];
      void monitor.check().catch(() => {});
      return [monitor.snapshot()];
    },
    close() {
      monitor.close();
    },
  };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

function waitForSignal(): Promise<void> {
  return new Promise((resolveSignal) => {
    const on = () => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolveSignal();
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
