// `switchyard simulate [--profile FILE] [--port N] [--host H]`: run the MaaS simulator standalone
// until SIGINT/SIGTERM.

import { startMaasSimulator } from './maas.js';
import { loadProfileFile, type SimProfile } from './profile.js';

interface SimulateArgs {
  profile: string | null;
  port: number;
  host: string;
}

function parseArgs(argv: string[]): SimulateArgs {
  const out: SimulateArgs = { profile: null, port: 0, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = (): string => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined) throw new Error(`simulate: ${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--profile':
        out.profile = next();
        break;
      case '--port':
        out.port = parsePort(next());
        break;
      case '--host':
        out.host = next();
        break;
      default:
        throw new Error(`simulate: unknown argument ${arg} (usage: switchyard simulate [--profile FILE] [--port N] [--host H])`);
    }
  }
  return out;
}

function parsePort(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`simulate: invalid port ${s}`);
  return n;
}

export async function runSimulate(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const profile: Partial<SimProfile> = args.profile === null ? {} : loadProfileFile(args.profile);
  const sim = await startMaasSimulator(profile, { host: args.host, port: args.port });
  const host = args.host.includes(':') ? `[${args.host}]` : args.host;
  process.stdout.write(`switchyard simulator listening on http://${host}:${sim.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await sim.close();
}
