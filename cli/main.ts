#!/usr/bin/env node
// `switchyard <command>`: the CLI entry. Each command lives in its own module and returns an exit code.
import { runServe } from './serve.js';
import { runCheck } from './check.js';

const HELP = `switchyard — an AI gateway

usage:
  switchyard serve [--config FILE] [--port N] [--host H] [--threads N] [--transport uws|node]
  switchyard check FILE
  switchyard simulate [--profile FILE] [--port N] [--host H]
  switchyard bench [micro|macro|observability|stream|ledger|compare] [--json] [--duration S]
  switchyard usage [--by tenant|owner|scenario|alias|lane|pool|provider|outcome] [--since ISO] [--config FILE] [--json]
  switchyard scenarios [--since ISO] [--config FILE] [--json]
  switchyard replay TRACE [--config FILE] [--pools FILE] [--out DIR] [--seed N]
  switchyard trace generate|record|check ...
  switchyard keys create --tenant T [--owner O] [--id ID] [--aliases A,B] | keys revoke ID | keys list [--json]

environment: SWITCHYARD_CONFIG, SWITCHYARD_DATA_DIR (default ./data), SWITCHYARD_REDIS_URL, SWITCHYARD_DATABASE_URL, PORT
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return runServe(rest);
    case 'check':
      return runCheck(rest);
    case 'simulate': {
      const { runSimulate } = await import('../simulators/cli.js');
      await runSimulate(rest);
      return 0;
    }
    case 'keys': {
      const { runKeys } = await import('./keys.js');
      return runKeys(rest);
    }
    case 'usage': {
      const { runUsage } = await import('./usage.js');
      return runUsage(rest);
    }
    case 'scenarios': {
      const { runScenarios } = await import('./scenarios.js');
      return runScenarios(rest);
    }
    case 'bench': {
      const { runBench } = await import('../bench/index.js');
      return runBench(rest);
    }
    case 'replay': {
      const { runReplayCli } = await import('../replay/cli.js');
      return runReplayCli(rest);
    }
    case 'trace': {
      const { runTraceCli } = await import('../replay/cli.js');
      return runTraceCli(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`switchyard: unknown command '${cmd}'\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // A command's own failure: its message, not a stack (SWITCHYARD_DEBUG=1 shows the stack).
    const e = err as Error;
    process.stderr.write(`switchyard: ${process.env.SWITCHYARD_DEBUG ? (e?.stack ?? String(err)) : (e?.message ?? String(err))}\n`);
    process.exitCode = 1;
  },
);
