import { describe, expect, it } from 'vitest';
import { AFFINITY_SLACK, LoadBoard, chooseReplica } from '../../../core/routing/selector.js';
import { gauge } from '../../../core/upstream/load-reports.js';
import type { PoolContext, PoolMember } from '../../../core/routing/types.js';

const member = (name: string): PoolMember => ({ provider: { name } as PoolMember['provider'], model: 'llama', weight: 1, price: null });
const pool = (members: PoolMember[], maxBatch = 4): PoolContext => ({ id: 'gpu', kind: 'self_hosted', members, replicas: members.length, maxBatch, prefillTokensPerS: 0, decodeTokensPerS: 0, gpuHourUsd: 0 });

describe('chooseReplica', () => {
  const ms = [member('r0'), member('r1'), member('r2'), member('r3')];
  const p = pool(ms);

  it('the same prefix lands on the same replica while loads are even, and prefixes spread', () => {
    const board = new LoadBoard();
    const first = chooseReplica(p, [], board, 12345, 0, null);
    for (let i = 0; i < 20; i++) expect(chooseReplica(p, [], board, 12345, i, null)).toBe(first);
    const used = new Set(Array.from({ length: 200 }, (_, h) => chooseReplica(p, [], board, h * 7919 + 1, 0, null)));
    expect(used.size).toBe(4);
  });

  it('affinity yields when its replica has more than AFFINITY_SLACK more queued than the least loaded', () => {
    const board = new LoadBoard();
    const home = chooseReplica(p, [], board, 999, 0, null)!;
    board.of(home).reportedWaiting = AFFINITY_SLACK;
    expect(chooseReplica(p, [], board, 999, 0, null)).toBe(home);
    board.of(home).reportedWaiting = AFFINITY_SLACK + 1;
    expect(chooseReplica(p, [], board, 999, 0, null)).not.toBe(home);
  });

  it("without a prefix, the least loaded replica wins; the gateway's own in-flight requests count", () => {
    const board = new LoadBoard();
    for (const m of ms) board.of(m).inflight = 10; // all queued 6 deep (max batch 4)
    board.of(ms[2]!).inflight = 3; // room in its batch
    for (let i = 0; i < 10; i++) expect(chooseReplica(p, [], board, 0, i, null)).toBe(ms[2]);
  });

  it('respects allowed providers and the skip filter, and falls back to skipped members rather than none', () => {
    const board = new LoadBoard();
    expect(chooseReplica(p, ['r1'], board, 5, 0, null)).toBe(ms[1]);
    expect(chooseReplica(p, ['nobody'], board, 5, 0, null)).toBeNull();
    const skipAll = { skip: () => true };
    expect(chooseReplica(p, ['r3'], board, 5, 0, skipAll)).toBe(ms[3]);
    const skipR0 = { skip: (m: PoolMember) => m === ms[0] };
    for (let h = 1; h < 50; h++) expect(chooseReplica(p, [], board, h, 0, skipR0)).not.toBe(ms[0]);
  });
});

describe('gauge (Prometheus text)', () => {
  const text = [
    '# HELP vllm:num_requests_waiting Number of requests waiting.',
    '# TYPE vllm:num_requests_waiting gauge',
    'vllm:num_requests_waiting{model_name="llama"} 7',
    'vllm:num_requests_running 3',
    'vllm:num_requests_running_total 99',
  ].join('\n');
  it('reads a sample with or without labels, not comments or longer names', () => {
    expect(gauge(text, 'vllm:num_requests_waiting')).toBe(7);
    expect(gauge(text, 'vllm:num_requests_running')).toBe(3);
    expect(gauge(text, 'vllm:missing')).toBe(-1);
  });
});
