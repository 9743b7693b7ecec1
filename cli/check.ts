// `switchyard check FILE`: validate a config file. Prints `ok: FILE` (exit 0), or every problem on its
// own line to stderr (exit 1). Also compiles the plan's alias table, so a config that validates but
// cannot be built is caught here rather than at boot (provider URLs are not required: simulators get theirs at boot).

import { loadConfigFile } from '../core/config/load.js';
import { AliasTrie } from '../core/routing/alias-trie.js';

const USAGE = 'usage: switchyard check FILE';

export async function runCheck(argv: string[]): Promise<number> {
  const files = argv.filter((a) => a !== '--');
  if (files.includes('-h') || files.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = files[0];
  if (file === undefined || files.length !== 1 || file.startsWith('-')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const result = await loadConfigFile(file);
  if (!result.ok) {
    process.stderr.write(result.problems.map((p) => `${p}\n`).join(''));
    return 1;
  }
  try {
    AliasTrie.build(result.config.routes.map((r, i) => ({ pattern: r.alias, value: i })));
  } catch (err) {
    process.stderr.write(`routes: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`ok: ${file}\n`);
  return 0;
}
