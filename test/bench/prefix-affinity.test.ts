// The prefix-affinity benchmark runs end to end (small: 4 sessions × 3 steps) and its numbers add up.
// Hit rates are counted, not timed: with affinity on, every later step of a session reuses at least the
// previous step's prompt, so the token hit rate is not below the run without affinity.
import { describe, expect, it } from 'vitest';
import { formatPrefixTable, runPrefixBench, stepMessages, loadSessions } from '../../bench/macro/prefix-affinity.js';

describe('prefix-affinity bench', () => {
  it('builds agent steps from the trace fixture: task, then tool call + result rounds', () => {
    const [s] = loadSessions(1);
    const m = stepMessages(s!, 2) as Array<{ role: string; tool_call_id?: string; tool_calls?: Array<{ id: string }> }>;
    expect(m.map((x) => x.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool']);
    expect(m[2]!.tool_call_id).toBe(m[1]!.tool_calls![0]!.id);
  });

  it('runs with affinity on and off and reports hit rates and TTFT side by side', async () => {
    const [on, off] = await runPrefixBench({ sessions: 4, steps: 3, replicas: 2, maxBatch: 4, prefillTokensPerS: 200000, decodeTokensPerS: 2000 });
    for (const r of [on!, off!]) {
      expect(r.errors).toBe(0);
      expect(r.requests).toBe(12);
      expect(r.cached_tokens).toBeLessThanOrEqual(r.prompt_tokens);
      expect(r.spread.reduce((a, b) => a + b, 0)).toBe(12);
    }
    expect(on!.affinity).toBe(true);
    expect(on!.token_hit_rate).toBeGreaterThanOrEqual(off!.token_hit_rate);
    expect(formatPrefixTable([on!, off!])).toContain('| on | 12 |');
  }, 30_000);
});
