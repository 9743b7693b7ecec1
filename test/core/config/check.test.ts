import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCheck } from '../../../cli/check.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../../fixtures/config/${name}`, import.meta.url));

describe('switchyard check FILE', () => {
  let out = '';
  let err = '';
  beforeEach(() => {
    out = '';
    err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('prints `ok: FILE` and returns 0 for a valid config', async () => {
    const file = fixture('default.yaml');
    expect(await runCheck([file])).toBe(0);
    expect(out).toBe(`ok: ${file}\n`);
    expect(err).toBe('');
  });

  it('prints every problem on its own line to stderr and returns 1', async () => {
    expect(await runCheck([fixture('test-bad.yaml')])).toBe(1);
    expect(out).toBe('');
    const lines = err.trimEnd().split('\n');
    expect(lines.length).toBe(18);
    for (const line of lines) expect(line).toMatch(/^[\w.]+: .+ \(line \d+\)$/);
    expect(lines).toContain('routes.0.pool_id: unknown pool "maas-opnai" (did you mean "maas-openai"?) (line 49)');
  });

  it('reports an unreadable file as a problem', async () => {
    expect(await runCheck([fixture('missing.yaml')])).toBe(1);
    expect(err).toMatch(/missing\.yaml: cannot read file/);
  });

  it('prints usage for a missing argument', async () => {
    expect(await runCheck([])).toBe(2);
    expect(err).toMatch(/^usage: switchyard check FILE/);
  });
});
