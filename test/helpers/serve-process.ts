// `switchyard serve` as a child process for CLI tests: started from dist/, its listening URL, its exit
// code and stderr. Every process started here is killed after each test (register `killServed` with
// afterEach) so a failed assertion never leaves a gateway behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

const children: ChildProcess[] = [];

export interface Served {
  child: ChildProcess;
  /** Resolves with the URL from the `switchyard listening on URL` line; rejects if it exits first. */
  listening: Promise<string>;
  exit: Promise<number | null>;
  stderr: () => string;
}

export function serve(args: string[], env: Record<string, string> = {}): Served {
  const child = spawn(process.execPath, [MAIN, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /switchyard listening on (http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${err}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, listening, exit, stderr: () => err };
}

/** Kill whatever `serve` started that is still running (for afterEach). */
export function killServed(): void {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
}
