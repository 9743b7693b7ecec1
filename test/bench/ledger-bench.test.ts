// `switchyard bench ledger` runs end to end (tiny sizes: this checks the suite works, not its numbers).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

describe('switchyard bench ledger', () => {
  it('prints one JSON line with insert rates per store and event-loop delay per mode', () => {
    const r = spawnSync(process.execPath, [MAIN, 'bench', 'ledger', '--rows', '3000', '--seconds', '0.3', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { suite: string; inserts: Array<{ store: string; rows: number; events_per_s: number }>; loops: Array<{ mode: string; requests: number; loop_p99_ms: number }> };
    expect(out.suite).toBe('ledger');
    const stores = out.inserts.map((i) => i.store);
    expect(stores.slice(0, 2)).toEqual(['sqlite', 'sqlite-thread']);
    if (process.env.CI === 'true') expect(stores).toContain('postgres');
    for (const i of out.inserts) {
      expect(i.rows).toBe(3000);
      expect(i.events_per_s).toBeGreaterThan(0);
    }
    expect(out.loops.map((l) => l.mode)).toEqual(['offload', 'inline', 'offload', 'inline']);
    for (const l of out.loops) {
      expect(l.requests).toBeGreaterThan(0);
      expect(l.loop_p99_ms).toBeGreaterThan(0);
    }
  });

  it('refuses an unknown option', () => {
    const r = spawnSync(process.execPath, [MAIN, 'bench', 'ledger', '--rowz', '1'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('unknown option --rowz');
  });
});
