import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../replay/des.js';
import { Rng } from '../../replay/rng.js';

describe('EventQueue (discrete-event engine)', () => {
  it('pops events in time order and moves virtual time with them', () => {
    const q = new EventQueue(4);
    q.schedule(30, 1, 3);
    q.schedule(10, 1, 1);
    q.schedule(20, 2, 2);
    const seen: Array<[number, number, number]> = [];
    while (q.pop()) seen.push([q.now, q.kind, q.arg]);
    expect(seen).toEqual([
      [10, 1, 1],
      [20, 2, 2],
      [30, 1, 3],
    ]);
    expect(q.processed).toBe(3);
  });

  it('events at the same time leave in the order they were scheduled', () => {
    const q = new EventQueue();
    for (let i = 0; i < 100; i++) q.schedule(5, 0, i);
    const order: number[] = [];
    while (q.pop()) order.push(q.arg);
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('matches a stable sort over many random events, scheduled while running (and grows)', () => {
    const rng = new Rng(3);
    const q = new EventQueue(16);
    const expected: Array<[number, number]> = [];
    let id = 0;
    for (let i = 0; i < 2000; i++) {
      const t = Math.floor(rng.next() * 500);
      q.schedule(t, 0, id);
      expected.push([t, id++]);
    }
    const got: Array<[number, number]> = [];
    while (q.pop()) {
      got.push([q.now, q.arg]);
      if (q.arg < 2000 && q.arg % 10 === 0) {
        const t = q.now + Math.floor(rng.next() * 50);
        q.schedule(t, 0, id);
        expected.push([t, id++]);
      }
    }
    // Ties break by scheduling order, which is the id order here.
    expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(got).toEqual(expected);
  });

  it('refuses to schedule into the past', () => {
    const q = new EventQueue();
    q.schedule(100, 0, 0);
    q.pop();
    expect(() => q.schedule(99, 0, 0)).toThrow(/cannot schedule at 99 ms, before now \(100 ms\)/);
    expect(() => q.schedule(Number.NaN, 0, 0)).toThrow(RangeError);
    q.schedule(100, 0, 1); // now itself is fine
    expect(q.pop()).toBe(true);
    expect(q.pop()).toBe(false);
    expect(q.peekTime()).toBe(Infinity);
  });
});
