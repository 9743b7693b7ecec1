// Small argv parsing shared by the commands: `--name value` and `--name=value` options, positionals, flags.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The checkout / package root (this file is cli/args.ts, or dist/cli/args.js once compiled). */
export const packageRoot = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes('/dist/') || here.endsWith('/dist/cli') ? join(here, '..', '..') : join(here, '..');
})();

export class ParsedArgs {
  constructor(
    readonly options: Map<string, string>,
    readonly flags: Set<string>,
    readonly positionals: string[],
  ) {}
  get(name: string): string | undefined {
    return this.options.get(name);
  }
  has(flag: string): boolean {
    return this.flags.has(flag);
  }
}

/** `valued` lists the options that take a value; any other `--x` is a flag. Unknown options are errors. */
export function parseArgs(argv: string[], valued: string[], flags: string[] = []): ParsedArgs {
  const options = new Map<string, string>();
  const set = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (valued.includes(name)) {
      const v = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (v === undefined) throw new Error(`--${name} needs a value`);
      options.set(name, v);
    } else if (flags.includes(name) && eq < 0) {
      set.add(name);
    } else {
      throw new Error(`unknown option --${name}`);
    }
  }
  return new ParsedArgs(options, set, positionals);
}
