// One gateway thread of `switchyard serve --threads N`: its own Plan, Gateway and uWS App, listening on
// the shared port. On `stop` it closes its listen socket, drains, flushes its traces and ends by itself
// (never process.exit with uWS handles open: ARCHITECTURE, uWS rule 9).
import { parentPort, workerData } from 'node:worker_threads';
import { Gateway, JsonlTraceSink, FanoutTraceSink, Ledger, PostingRowWriter, compilePlan, createLimitStore, limitFailureReporter, loadConfigWithKeys, reloadProblem, samplerFromEnv, withOtlpExport, type BatchJob, type MetricsSnapshot } from '../../core/index.js';
import { startUwsServer } from './server.js';

interface WorkerConfig {
  configPath: string;
  keysPath: string;
  providerBaseUrls: Array<[string, string]>;
  host: string;
  port: number;
  tracePath: string;
  drainMs: number;
  /** The shared-memory limit store's buffer, shared by every thread (null with Redis or no limits). */
  sharedBuffer: SharedArrayBuffer | null;
}

async function main(): Promise<void> {
  const port = parentPort!;
  const wd = workerData as WorkerConfig;
  const loaded = loadConfigWithKeys(wd.configPath, wd.keysPath);
  if (!loaded.ok) {
    port.postMessage({ type: 'error', error: `invalid config: ${loaded.problems.join('; ')}` });
    return;
  }
  // Each thread exports its own spans (OTEL_EXPORTER_OTLP_ENDPOINT) in batches; usage rows go to the main
  // thread in batches: it is the ledger's one writer (SQLite wants one).
  const traces = withOtlpExport(new FanoutTraceSink(new JsonlTraceSink(wd.tracePath), new Ledger(new PostingRowWriter((m) => port.postMessage(m)))));
  const plan = compilePlan(loaded.config, { providerBaseUrls: new Map(wd.providerBaseUrls) });
  const limits = createLimitStore(plan.limits, {
    sharedBuffer: wd.sharedBuffer,
    onFailure: limitFailureReporter(plan.limits.failureMode),
  });
  // Batch jobs live in the thread that took them; a poll that lands elsewhere asks the others through
  // the main thread (`job?` out, `job!` back, matched by a sequence number).
  const pendingJobs = new Map<number, (job: BatchJob | null) => void>();
  let jobSeq = 0;
  const jobRelay = (id: string): Promise<BatchJob | null> =>
    new Promise((resolve) => {
      const n = ++jobSeq;
      pendingJobs.set(n, resolve);
      port.postMessage({ type: 'job?', id, n });
      // A thread that went away never answers: give up after a bound (the poll answers 404).
      setTimeout(() => {
        if (pendingJobs.delete(n)) resolve(null);
      }, 2000).unref();
    });
  // /metrics sums every thread's counts: the main thread gathers their snapshots (`metrics?` / `metrics!`).
  const pendingScrapes = new Map<number, (snaps: MetricsSnapshot[]) => void>();
  const metricsRelay = (): Promise<MetricsSnapshot[]> =>
    new Promise((resolve) => {
      const n = ++jobSeq;
      pendingScrapes.set(n, resolve);
      port.postMessage({ type: 'metrics?', n });
      setTimeout(() => {
        if (pendingScrapes.delete(n)) resolve([gateway.metrics.registry.snapshot()]);
      }, 2000).unref();
    });
  const gateway: Gateway = new Gateway({ plan, traces, limits, jobRelay, metricsRelay, metrics: process.env.SWITCHYARD_METRICS !== 'off', sampler: samplerFromEnv() });
  let server;
  try {
    server = await startUwsServer(gateway, { host: wd.host, port: wd.port });
  } catch (err) {
    port.postMessage({ type: 'error', error: (err as Error).message });
    await traces.close();
    return;
  }
  port.postMessage({ type: 'listening', port: server.port });
  port.on('message', async (m: { type: string; id?: string; n?: number; from?: number; job?: BatchJob | null }) => {
    if (m.type === 'reload') return reload(gateway, wd);
    if (m.type === 'job?') return port.postMessage({ type: 'job=', n: m.n, from: m.from, job: gateway.batches.get(m.id!) ?? null });
    if (m.type === 'metrics?') return port.postMessage({ type: 'metrics=', n: m.n, from: m.from, snap: gateway.metrics.registry.snapshot() });
    if (m.type === 'metrics!') {
      const resolve = pendingScrapes.get(m.n!);
      pendingScrapes.delete(m.n!);
      return resolve?.((m as { snaps?: MetricsSnapshot[] }).snaps ?? []);
    }
    if (m.type === 'job!') {
      const resolve = pendingJobs.get(m.n!);
      pendingJobs.delete(m.n!);
      return resolve?.(m.job ?? null);
    }
    if (m.type !== 'stop') return;
    server.close();
    const drained = await gateway.drain(wd.drainMs);
    if (!drained) await gateway.upstream.destroy();
    gateway.stop();
    await traces.close();
    await gateway.upstream.close();
    await gateway.close();
    await limits?.close();
    port.close();
  });
}

/** The thread's side of SIGHUP (see cli/serve.ts reloadPlan: the same checks, per thread). */
function reload(gateway: Gateway, wd: WorkerConfig): void {
  const loaded = loadConfigWithKeys(wd.configPath, wd.keysPath);
  if (!loaded.ok) {
    process.stderr.write(`switchyard: reload refused: ${loaded.problems.join('; ')}\n`);
    return;
  }
  const next = compilePlan(loaded.config, { providerBaseUrls: new Map(wd.providerBaseUrls) });
  const problem = reloadProblem(gateway.currentPlan.limits, next.limits, gateway.limits);
  if (problem !== null) {
    process.stderr.write(`switchyard: reload refused: ${problem}; restart to apply\n`);
    return;
  }
  gateway.setPlan(next);
}

void main();
