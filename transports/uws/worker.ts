// One gateway thread of `switchyard serve --threads N`: its own Plan, Gateway and uWS App, listening on
// the shared port. On `stop` it closes its listen socket, drains, flushes its traces and ends by itself
// (never process.exit with uWS handles open: ARCHITECTURE, uWS rule 9).
import { parentPort, workerData } from 'node:worker_threads';
import { Gateway, JsonlTraceSink, compilePlan, loadConfigFileSync } from '../../core/index.js';
import { startUwsServer } from './server.js';

interface WorkerConfig {
  configPath: string;
  providerBaseUrls: Array<[string, string]>;
  host: string;
  port: number;
  tracePath: string;
  drainMs: number;
}

async function main(): Promise<void> {
  const port = parentPort!;
  const wd = workerData as WorkerConfig;
  const loaded = loadConfigFileSync(wd.configPath);
  if (!loaded.ok) {
    port.postMessage({ type: 'error', error: `invalid config: ${loaded.problems.join('; ')}` });
    return;
  }
  const traces = new JsonlTraceSink(wd.tracePath);
  const gateway = new Gateway({ plan: compilePlan(loaded.config, { providerBaseUrls: new Map(wd.providerBaseUrls) }), traces });
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
    if (m.type !== 'stop') return;
    server.close();
    const drained = await gateway.drain(wd.drainMs);
    if (!drained) await gateway.upstream.destroy();
    await traces.close();
    await gateway.upstream.close();
    port.close();
  });
}

void main();
