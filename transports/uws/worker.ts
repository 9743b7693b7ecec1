// One gateway thread of `switchyard serve --threads N`: its own Plan, Gateway and uWS App, listening on
// the shared port. On `stop` it closes its listen socket, drains, flushes its traces and ends by itself
// (never process.exit with uWS handles open: ARCHITECTURE, uWS rule 9).
import { parentPort, workerData } from 'node:worker_threads';
import { Gateway, JsonlTraceSink, compilePlan, createLimitStore, limitFailureReporter, loadConfigWithKeys, reloadProblem } from '../../core/index.js';
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
  const traces = new JsonlTraceSink(wd.tracePath);
  const plan = compilePlan(loaded.config, { providerBaseUrls: new Map(wd.providerBaseUrls) });
  const limits = createLimitStore(plan.limits, {
    sharedBuffer: wd.sharedBuffer,
    onFailure: limitFailureReporter(plan.limits.failureMode),
  });
  const gateway = new Gateway({ plan, traces, limits });
  let server;
  try {
    server = await startUwsServer(gateway, { host: wd.host, port: wd.port });
  } catch (err) {
    port.postMessage({ type: 'error', error: (err as Error).message });
    await traces.close();
    return;
  }
  port.postMessage({ type: 'listening', port: server.port });
  port.on('message', async (m: { type: string }) => {
    if (m.type === 'reload') return reload(gateway, wd);
    if (m.type !== 'stop') return;
    server.close();
    const drained = await gateway.drain(wd.drainMs);
    if (!drained) await gateway.upstream.destroy();
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
