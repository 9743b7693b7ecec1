import { describe, expect, it } from 'vitest';
import {
  GpuReplicaModel,
  GpuSeq,
  PrefixCache,
  SeqState,
  decodeFactor,
  type GpuModelConfig,
  type GpuModelListener,
} from '../../simulators/gpu-model.js';

type Ev = [kind: 'admit' | 'first' | 'done', id: string, atMs: number];

function recorder(): { events: Ev[]; listener: GpuModelListener<string> } {
  const events: Ev[] = [];
  return {
    events,
    listener: {
      admitted: (s, t) => events.push(['admit', s.data, t]),
      firstToken: (s, t) => events.push(['first', s.data, t]),
      completed: (s, t) => events.push(['done', s.data, t]),
    },
  };
}

/** Run the model until nothing is left to do. */
function drain<T>(m: GpuReplicaModel<T>): void {
  for (let next = m.nextEventTime(); next !== Infinity; next = m.nextEventTime()) m.advance(next);
}

// 1 token per ms for both prefill and decode, no slowdown: every time below is an exact integer.
const UNIT: GpuModelConfig = { max_batch: 2, prefill_tokens_per_s: 1000, decode_tokens_per_s: 1000, decode_slowdown: 0 };

describe('gpu model: admission and FIFO queueing', () => {
  it('queues requests beyond max_batch in FIFO order with exact queue times (virtual time)', () => {
    const { events, listener } = recorder();
    const m = new GpuReplicaModel<string>(UNIT, listener);
    const a = m.submit(new GpuSeq('A', 10, 20), 0);
    const b = m.submit(new GpuSeq('B', 10, 40), 0);
    const c = m.submit(new GpuSeq('C', 10, 10), 0);
    const d = m.submit(new GpuSeq('D', 10, 10), 0);
    expect(m.numRunning).toBe(2);
    expect(m.numWaiting).toBe(2);
    expect([a.state, b.state, c.state, d.state]).toEqual([SeqState.Prefilling, SeqState.PrefillWait, SeqState.Queued, SeqState.Queued]);
    // A: prefill 0-10, decode 10-30. B: prefill waits for A, 10-20, decode 20-60.
    // C: admitted when A completes (30), prefill 30-40, decode 40-50.
    // D: admitted when C completes (50, before B at 60), prefill 50-60, decode 60-70.
    // A fifth arrival now would be admitted when B completes: 60 ms.
    expect(m.expectedQueueTimeMs()).toBe(60);
    expect(m.nextEventTime()).toBe(10);

    drain(m);
    expect([a.queueTimeMs, b.queueTimeMs, c.queueTimeMs, d.queueTimeMs]).toEqual([0, 0, 30, 50]);
    expect([a.prefillStartMs, b.prefillStartMs, c.prefillStartMs, d.prefillStartMs]).toEqual([0, 10, 30, 50]);
    expect([a.firstTokenMs, b.firstTokenMs, c.firstTokenMs, d.firstTokenMs]).toEqual([11, 21, 41, 61]);
    expect([a.doneMs, b.doneMs, c.doneMs, d.doneMs]).toEqual([30, 60, 50, 70]);
    expect(events).toEqual([
      ['admit', 'A', 0], ['admit', 'B', 0],
      ['first', 'A', 11], ['first', 'B', 21],
      ['done', 'A', 30], ['admit', 'C', 30],
      ['first', 'C', 41],
      ['done', 'C', 50], ['admit', 'D', 50],
      ['done', 'B', 60],
      ['first', 'D', 61],
      ['done', 'D', 70],
    ]);
    expect(m.numRunning).toBe(0);
    expect(m.numWaiting).toBe(0);
    expect(m.counters).toMatchObject({ arrived: 4, admitted: 4, completed: 4, generationTokens: 80, queueTimeMsSum: 80 });
    // Occupancy: 2 running over [0, 60], 1 over [60, 70].
    expect(m.counters.occupancyMs).toBe(130);
  });

  it('reports tokens emitted so far and admits later arrivals at the right instant', () => {
    const m = new GpuReplicaModel<string>({ ...UNIT, max_batch: 1 });
    const a = m.submit(new GpuSeq('A', 5, 10), 0);
    m.advance(5);
    expect(a.state).toBe(SeqState.Decoding);
    expect(m.emitted(a)).toBe(0);
    m.advance(8.5);
    expect(m.emitted(a)).toBe(3);
    m.advance(9);
    expect(m.expectedQueueTimeMs()).toBe(6); // A completes at 15
    const b = m.submit(new GpuSeq('B', 5, 10), 9);
    expect(b.state).toBe(SeqState.Queued);
    expect(m.expectedQueueTimeMs()).toBe(21); // behind B: prefill 15-20, decode 20-30
    m.advance(100);
    expect(a.doneMs).toBe(15);
    expect(b.queueTimeMs).toBe(6);
    expect(b.doneMs).toBe(30);
    expect(m.emitted(b)).toBe(10);
    expect(m.expectedQueueTimeMs()).toBe(0);
  });

  it('admits waiting requests by priority (lower first), first come first served among equals', () => {
    const m = new GpuReplicaModel<string>({ ...UNIT, max_batch: 1 });
    const running = m.submit(new GpuSeq('run', 5, 10), 0);
    const seq = (name: string, priority: number) => {
      const x = new GpuSeq(name, 5, 10);
      x.priority = priority;
      return x;
    };
    const low1 = m.submit(seq('low1', 5), 1);
    const high = m.submit(seq('high', 0), 2);
    const low2 = m.submit(seq('low2', 5), 3);
    const high2 = m.submit(seq('high2', 0), 4);
    m.advance(1000);
    const order = [high, high2, low1, low2].map((x) => x.admitMs);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(high.admitMs).toBe(running.doneMs);
  });

  it('cancel frees a queued place or a running slot', () => {
    const { events, listener } = recorder();
    const m = new GpuReplicaModel<string>({ ...UNIT, max_batch: 1 }, listener);
    const a = m.submit(new GpuSeq('A', 10, 100), 0);
    const b = m.submit(new GpuSeq('B', 10, 10), 0);
    const c = m.submit(new GpuSeq('C', 10, 10), 0);
    expect(m.cancel(b, 5)).toBe(true);
    expect(b.state).toBe(SeqState.Cancelled);
    expect(m.numWaiting).toBe(1);
    m.advance(20);
    expect(m.emitted(a)).toBe(10);
    expect(m.cancel(a, 20)).toBe(true); // C takes the slot at once
    expect(c.admitMs).toBe(20);
    drain(m);
    expect(c.doneMs).toBe(40);
    expect(m.cancel(c, 50)).toBe(false);
    expect(events.filter((e) => e[1] === 'B')).toEqual([]);
    expect(m.counters).toMatchObject({ cancelled: 2, completed: 1, generationTokens: 20 });
  });
});

describe('gpu model: decode rate', () => {
  it('follows rate(b) = nominal × max(0.1, 1 − α·(b−1)/max_batch)', () => {
    expect(decodeFactor(1, 4)).toBe(1);
    expect(decodeFactor(2, 4)).toBe(0.875);
    expect(decodeFactor(4, 4)).toBe(0.625);
    expect(decodeFactor(64, 64, 0.95)).toBe(0.1);
    expect(decodeFactor(3, 4, 0)).toBe(1);
  });

  it('a sequence decodes more slowly in a bigger batch', () => {
    const cfg: GpuModelConfig = { max_batch: 4, prefill_tokens_per_s: 1_000_000, decode_tokens_per_s: 100 };
    const alone = new GpuReplicaModel<string>(cfg);
    const solo = alone.submit(new GpuSeq('solo', 1, 100), 0);
    expect(alone.decodeRate).toBe(100);
    drain(alone);
    expect(solo.doneMs).toBeCloseTo(1000.001, 6);

    const busy = new GpuReplicaModel<string>(cfg);
    const seqs = [0, 1, 2, 3].map((i) => busy.submit(new GpuSeq(`s${i}`, 1, 100), 0));
    expect(busy.decodeRate).toBe(62.5);
    drain(busy);
    // 100 tokens at 62.5/s (the last microseconds run faster as the first ones finish).
    for (const s of seqs) expect(s.doneMs - s.prefillEndMs).toBeCloseTo(1600, 2);
    expect(seqs[0]!.doneMs).toBeGreaterThan(solo.doneMs * 1.5);
    // The rate recovers as the batch drains: a short request finishing early speeds the others up.
    const mixed = new GpuReplicaModel<string>({ ...cfg, max_batch: 2, decode_slowdown: 0.5 });
    const long = mixed.submit(new GpuSeq('long', 1, 100), 0);
    const short = mixed.submit(new GpuSeq('short', 1, 30), 0);
    drain(mixed);
    // Both at 75/s until short completes (30 tokens → 400 ms), then long alone at 100/s for 70 tokens.
    expect(short.doneMs).toBeCloseTo(400, 2);
    expect(long.doneMs).toBeCloseTo(1100, 2);
  });
});

describe('gpu model: prefix cache', () => {
  it('a hit reduces prefill time and reports cached tokens', () => {
    const m = new GpuReplicaModel<string>({ ...UNIT, max_batch: 1 });
    const a = m.submit(new GpuSeq('A', 500, 10, 'sys-v1', 400), 0);
    drain(m);
    expect(a.cachedTokens).toBe(0);
    expect(a.prefillEndMs - a.prefillStartMs).toBe(500);
    const b = m.submit(new GpuSeq('B', 520, 10, 'sys-v1', 400), 1000);
    drain(m);
    expect(b.cachedTokens).toBe(400);
    expect(b.prefillEndMs - b.prefillStartMs).toBe(120);
    const c = m.submit(new GpuSeq('C', 520, 10, 'sys-v2', 400), 2000);
    drain(m);
    expect(c.cachedTokens).toBe(0);
    // Never the whole prompt: at least one token is computed.
    const d = m.submit(new GpuSeq('D', 400, 1, 'sys-v1', 400), 3000);
    drain(m);
    expect(d.cachedTokens).toBe(399);
    expect(m.counters).toMatchObject({ cachedTokens: 799, prefixHitTokens: 799, prefixQueryTokens: 1940 });
  });

  it('a request queued behind a same-prefix request hits once that prefill is done', () => {
    const m = new GpuReplicaModel<string>(UNIT);
    const a = m.submit(new GpuSeq('A', 300, 5, 'p', 200), 0);
    const b = m.submit(new GpuSeq('B', 300, 5, 'p', 200), 0);
    drain(m);
    expect(a.cachedTokens).toBe(0);
    expect(b.cachedTokens).toBe(200);
    expect(b.prefillEndMs).toBe(400); // 300 for A, then 100 for B
  });

  it('evicts the least recently used prefix when over capacity', () => {
    const cache = new PrefixCache(100);
    cache.insert('a', 40);
    cache.insert('b', 40);
    expect(cache.lookup('a')).toBe(40); // a is now the most recent
    cache.insert('c', 40);
    expect(cache.keys()).toEqual(['a', 'c']);
    expect(cache.used).toBe(80);
    expect(cache.lookup('b')).toBe(0);
    cache.insert('huge', 101); // larger than the whole cache: not cached, nothing evicted
    expect(cache.keys()).toEqual(['a', 'c']);
    cache.insert('d', 100);
    expect(cache.keys()).toEqual(['d']);
    expect(cache.used).toBe(100);

    // The same through the model: capacity 250 tokens holds two 100-token prefixes.
    const m = new GpuReplicaModel<string>({ ...UNIT, max_batch: 1, prefix_cache_tokens: 250 });
    let t = 0;
    const run = (key: string) => {
      const s = m.submit(new GpuSeq(key, 150, 1, key, 100), t);
      drain(m);
      t = m.now + 1;
      return s.cachedTokens;
    };
    // x is used again before z arrives, so z evicts y (least recently used), not x (oldest inserted).
    expect([run('x'), run('y'), run('x'), run('z'), run('x'), run('y')]).toEqual([0, 0, 100, 0, 100, 0]);
    expect(m.cache.keys()).toEqual(['x', 'y']);
  });
});

describe('gpu model: determinism and accounting', () => {
  function workload(seed: number): string {
    let s = seed >>> 0;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
    const log: string[] = [];
    const m = new GpuReplicaModel<number>(
      { max_batch: 8, prefill_tokens_per_s: 5000, decode_tokens_per_s: 50, prefix_cache_tokens: 2000 },
      {
        admitted: (q, at) => log.push(`a${q.data}@${at.toFixed(6)}`),
        firstToken: (q, at) => log.push(`f${q.data}@${at.toFixed(6)}`),
        completed: (q, at) => log.push(`d${q.data}@${at.toFixed(6)}`),
      },
    );
    const seqs: GpuSeq<number>[] = [];
    let t = 0;
    for (let i = 0; i < 300; i++) {
      t += rnd() * 40;
      const key = rnd() < 0.7 ? `p${Math.floor(rnd() * 5)}` : null;
      const seq = m.submit(new GpuSeq(i, 100 + Math.floor(rnd() * 900), Math.floor(rnd() * 60), key, 80), t);
      seqs.push(seq);
      if (i % 37 === 5) m.cancel(seqs[i - 3]!, t);
      if (i % 50 === 0) log.push(`eq${m.expectedQueueTimeMs().toFixed(6)} kv${m.kvCacheUsage().toFixed(6)}`);
    }
    drain(m);
    log.push(JSON.stringify(m.counters));
    for (const q of seqs) expect([SeqState.Done, SeqState.Cancelled]).toContain(q.state);
    expect(m.counters.completed + m.counters.cancelled).toBe(300);
    return log.join('\n');
  }

  it('the same requests give the same events, to the microsecond', () => {
    const a = workload(7);
    expect(workload(7)).toBe(a);
    expect(workload(8)).not.toBe(a);
    expect(a).toMatch(/eq[1-9]/); // the workload does queue
  });

  it('a recycled sequence record runs again after reset; a live one cannot be reset', () => {
    const m = new GpuReplicaModel<string>(UNIT);
    const s = m.submit(new GpuSeq('r', 10, 10), 0);
    expect(() => s.reset(1, 1)).toThrow();
    expect(() => m.submit(s, 0)).toThrow();
    drain(m);
    m.submit(s.reset(10, 5), 100);
    drain(m);
    expect(s.doneMs).toBe(115);
  });

  it('kv cache usage rises with running sequences and cached prefixes', () => {
    const m = new GpuReplicaModel<string>({ ...UNIT, prefix_cache_tokens: 1000 });
    expect(m.kvCacheUsage()).toBe(0);
    m.submit(new GpuSeq('a', 300, 100, 'k', 200), 0);
    expect(m.kvCacheUsage()).toBeCloseTo(0.3, 9);
    m.advance(350); // prefill done (300), 50 tokens emitted, prefix cached
    expect(m.kvCacheUsage()).toBeCloseTo((300 + 50 + 200) / 1000, 9);
    drain(m);
    expect(m.kvCacheUsage()).toBeCloseTo(0.2, 9);
  });

  it('rejects bad configs', () => {
    expect(() => new GpuReplicaModel({ ...UNIT, max_batch: 0 })).toThrow(/max_batch/);
    expect(() => new GpuReplicaModel({ ...UNIT, decode_tokens_per_s: 0 })).toThrow(/decode_tokens_per_s/);
    expect(() => new GpuReplicaModel({ ...UNIT, decode_slowdown: 2 })).toThrow(/decode_slowdown/);
  });
});
