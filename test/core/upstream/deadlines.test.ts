import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineList, type DeadlineItem } from '../../../core/upstream/deadlines.js';

class Item implements DeadlineItem {
  deadlineAt = 0;
  dlPrev: DeadlineItem | null = null;
  dlNext: DeadlineItem | null = null;
  fired = 0;
  /** What the item saw of itself and its list when it was told. */
  seen: { deadlineAt: number; prev: DeadlineItem | null; next: DeadlineItem | null; size: number } | null = null;
  constructor(
    readonly name: string,
    private readonly log: string[],
    private readonly list: DeadlineList | null = null,
    public onFire: (() => void) | null = null,
  ) {}
  deadlineFired(): void {
    this.fired++;
    this.seen = { deadlineAt: this.deadlineAt, prev: this.dlPrev, next: this.dlNext, size: this.list?.size ?? -1 };
    this.log.push(this.name);
    this.onFire?.();
  }
}

/** The private state the tests inspect. */
interface Internals {
  head: DeadlineItem | null;
  timer: NodeJS.Timeout | null;
  count: number;
}
const internals = (l: DeadlineList): Internals => l as unknown as Internals;

/** Names from head to tail, checking the back links on the way. */
function names(l: DeadlineList): string[] {
  const out: string[] = [];
  let prev: DeadlineItem | null = null;
  for (let it = internals(l).head; it !== null; it = it.dlNext) {
    expect(it.dlPrev).toBe(prev);
    expect(it.deadlineAt).not.toBe(0);
    out.push((it as Item).name);
    prev = it;
    if (out.length > 1000) throw new Error('cycle in the list');
  }
  expect(out.length).toBe(l.size);
  return out;
}

const lists: DeadlineList[] = [];
function newList(tickMs = 60_000): DeadlineList {
  const l = new DeadlineList(tickMs);
  lists.push(l);
  return l;
}

afterEach(() => {
  // Leave no interval behind, whatever a test did.
  for (const l of lists.splice(0)) {
    const t = internals(l).timer;
    if (t !== null) clearInterval(t);
  }
  vi.restoreAllMocks();
});

describe('DeadlineList add/remove', () => {
  it('starts empty with no timer', () => {
    const l = newList();
    expect(l.size).toBe(0);
    expect(internals(l).head).toBeNull();
    expect(internals(l).timer).toBeNull();
  });

  it('add puts the item at the head and counts it; the first add starts one unref-ed interval', () => {
    const setSpy = vi.spyOn(globalThis, 'setInterval');
    const log: string[] = [];
    const l = newList();
    const a = new Item('a', log);
    const b = new Item('b', log);
    const c = new Item('c', log);
    l.add(a, 100);
    const timer = internals(l).timer;
    expect(timer).not.toBeNull();
    expect(timer!.hasRef()).toBe(false);
    l.add(b, 200);
    l.add(c, 50);
    expect(setSpy).toHaveBeenCalledTimes(1);
    expect(internals(l).timer).toBe(timer);
    expect(l.size).toBe(3);
    expect(names(l)).toEqual(['c', 'b', 'a']);
    expect([a.deadlineAt, b.deadlineAt, c.deadlineAt]).toEqual([100, 200, 50]);
  });

  it('remove unlinks head, middle and tail and clears the item links', () => {
    const log: string[] = [];
    const l = newList();
    const items = ['a', 'b', 'c', 'd', 'e'].map((n) => new Item(n, log));
    items.forEach((it, i) => l.add(it, 100 + i));
    expect(names(l)).toEqual(['e', 'd', 'c', 'b', 'a']);
    l.remove(items[2]!); // middle
    expect(names(l)).toEqual(['e', 'd', 'b', 'a']);
    l.remove(items[4]!); // head
    expect(names(l)).toEqual(['d', 'b', 'a']);
    l.remove(items[0]!); // tail
    expect(names(l)).toEqual(['d', 'b']);
    for (const i of [0, 2, 4]) {
      expect(items[i]!.deadlineAt).toBe(0);
      expect(items[i]!.dlPrev).toBeNull();
      expect(items[i]!.dlNext).toBeNull();
    }
  });

  it('removing an item that is not listed changes nothing', () => {
    const log: string[] = [];
    const l = newList();
    const a = new Item('a', log);
    const b = new Item('b', log);
    l.add(a, 10);
    l.remove(b);
    l.remove(b);
    expect(l.size).toBe(1);
    l.remove(a);
    l.remove(a);
    expect(l.size).toBe(0);
    expect(internals(l).head).toBeNull();
  });

  it('re-adding a listed item moves it to the head with the new deadline, counted once', () => {
    const log: string[] = [];
    const l = newList();
    const a = new Item('a', log);
    const b = new Item('b', log);
    const c = new Item('c', log);
    l.add(a, 10);
    l.add(b, 20);
    l.add(c, 30);
    l.add(a, 100);
    expect(l.size).toBe(3);
    expect(names(l)).toEqual(['a', 'c', 'b']);
    expect(a.deadlineAt).toBe(100);
    l.add(b, 200); // the tail
    expect(names(l)).toEqual(['b', 'a', 'c']);
    l.add(b, 300); // already the head
    expect(names(l)).toEqual(['b', 'a', 'c']);
    expect(l.size).toBe(3);
    l.sweep(50);
    expect(log).toEqual(['c']);
    l.sweep(150);
    expect(log).toEqual(['c', 'a']);
    l.sweep(300);
    expect(log).toEqual(['c', 'a', 'b']);
    expect(l.size).toBe(0);
  });

  it('the interval stops when the list empties (no open handle), and restarts on the next add', () => {
    const clearSpy = vi.spyOn(globalThis, 'clearInterval');
    const log: string[] = [];
    const l = newList();
    const a = new Item('a', log);
    const b = new Item('b', log);
    l.add(a, 10);
    l.add(b, 20);
    const t1 = internals(l).timer!;
    l.remove(a);
    expect(internals(l).timer).toBe(t1);
    expect(clearSpy).not.toHaveBeenCalled();
    l.remove(b);
    expect(l.size).toBe(0);
    expect(internals(l).timer).toBeNull();
    expect(clearSpy).toHaveBeenCalledTimes(1);
    expect(clearSpy).toHaveBeenCalledWith(t1);
    l.add(a, 30);
    const t2 = internals(l).timer;
    expect(t2).not.toBeNull();
    expect(t2).not.toBe(t1);
    l.sweep(30);
    expect(log).toEqual(['a']);
    expect(internals(l).timer).toBeNull();
    expect(clearSpy).toHaveBeenCalledWith(t2);
  });
});

describe('DeadlineList sweep', () => {
  it('fires every item whose deadline has passed (deadline <= now), head to tail, and keeps the rest in order', () => {
    const log: string[] = [];
    const l = newList();
    const a = new Item('a', log, l);
    const b = new Item('b', log, l);
    const c = new Item('c', log, l);
    const d = new Item('d', log, l);
    const e = new Item('e', log, l);
    l.add(a, 10);
    l.add(b, 20);
    l.add(c, 30);
    l.add(d, 5);
    l.add(e, 25);
    // head → tail: e(25) d(5) c(30) b(20) a(10)
    l.sweep(20);
    expect(log).toEqual(['d', 'b', 'a']);
    expect(names(l)).toEqual(['e', 'c']);
    expect(l.size).toBe(2);
    l.sweep(24.999);
    expect(log).toEqual(['d', 'b', 'a']);
    l.sweep(25);
    expect(log).toEqual(['d', 'b', 'a', 'e']);
    l.sweep(1e9);
    expect(log).toEqual(['d', 'b', 'a', 'e', 'c']);
    expect(l.size).toBe(0);
    expect(internals(l).head).toBeNull();
    expect(internals(l).timer).toBeNull();
    for (const it of [a, b, c, d, e]) expect(it.fired).toBe(1);
  });

  it('removes an item before telling it', () => {
    const log: string[] = [];
    const l = newList();
    const a = new Item('a', log, l);
    const b = new Item('b', log, l);
    l.add(a, 10);
    l.add(b, 100);
    l.sweep(10);
    expect(a.seen).toEqual({ deadlineAt: 0, prev: null, next: null, size: 1 });
    expect(names(l)).toEqual(['b']);
  });

  it('sweeping an empty list, or before any deadline, does nothing', () => {
    const log: string[] = [];
    const l = newList();
    l.sweep(1e12);
    const a = new Item('a', log, l);
    l.add(a, 100);
    l.sweep(99);
    expect(log).toEqual([]);
    expect(l.size).toBe(1);
  });

  it('an item that re-adds itself from deadlineFired is listed again and not fired twice in one sweep', () => {
    const log: string[] = [];
    const l = newList();
    const a = new Item('a', log, l);
    const b = new Item('b', log, l);
    a.onFire = () => {
      if (a.fired === 1) l.add(a, 50); // e.g. a retry with a fresh deadline
    };
    l.add(b, 10);
    l.add(a, 10);
    l.sweep(10);
    expect(log).toEqual(['a', 'b']);
    expect(names(l)).toEqual(['a']);
    expect(a.deadlineAt).toBe(50);
    l.sweep(50);
    expect(log).toEqual(['a', 'b', 'a']);
    expect(l.size).toBe(0);
  });

  it('an item removed inside another item\'s deadlineFired is not fired', () => {
    // The removed item sits further down the list than the one being fired (not right after it).
    const log: string[] = [];
    const l = newList();
    const victim = new Item('victim', log, l);
    const middle = new Item('middle', log, l);
    const killer = new Item('killer', log, l, () => l.remove(victim));
    l.add(victim, 10);
    l.add(middle, 10);
    l.add(killer, 10);
    // head → tail: killer, middle, victim
    l.sweep(10);
    expect(log).toEqual(['killer', 'middle']);
    expect(victim.fired).toBe(0);
    expect(l.size).toBe(0);
    expect(internals(l).timer).toBeNull();
  });

  it('an item already passed by the sweep and removed by a later one is not fired again', () => {
    const log: string[] = [];
    const l = newList();
    const early = new Item('early', log, l);
    const later = new Item('later', log, l, () => l.remove(early));
    l.add(later, 10);
    l.add(early, 10);
    l.sweep(10);
    expect(log).toEqual(['early', 'later']);
    expect(early.fired).toBe(1);
  });

  it('items added from deadlineFired are not fired in the same sweep', () => {
    const log: string[] = [];
    const l = newList();
    const fresh = new Item('fresh', log, l);
    const a = new Item('a', log, l, () => l.add(fresh, 5));
    l.add(a, 10);
    l.sweep(10);
    expect(log).toEqual(['a']);
    expect(names(l)).toEqual(['fresh']);
  });

  it('the interval sweeps on its own at performance.now() and stops once empty', async () => {
    const log: string[] = [];
    const l = newList(1);
    let resolveFired!: () => void;
    const fired = new Promise<void>((r) => (resolveFired = r));
    const a = new Item('a', log, l, () => resolveFired());
    const b = new Item('b', log, l);
    const t0 = performance.now();
    l.add(a, t0 + 3);
    l.add(b, t0 + 60_000);
    await fired;
    expect(performance.now()).toBeGreaterThanOrEqual(t0 + 3);
    expect(log).toEqual(['a']);
    expect(l.size).toBe(1);
    expect(internals(l).timer).not.toBeNull();
    l.remove(b);
    expect(internals(l).timer).toBeNull();
  });
});

describe('DeadlineList regressions', () => {
  it("regression: an expired-list neighbour removed by another item's callback is not fired, and the sweep goes on past it", () => {
    const list = new DeadlineList(1_000_000);
    const log: string[] = [];
    const c = new Item('C', log, list);
    const a = new Item('A', log, list);
    const b = new Item('B', log, list, () => list.remove(a));
    list.add(c, 1);
    list.add(a, 100);
    list.add(b, 1); // list order: B, A, C
    list.sweep(10);
    expect([...log].sort()).toEqual(['B', 'C']);
    expect(a.fired).toBe(0);
    expect(list.size).toBe(0); // A (not yet expired) was removed by B's callback; C fired
  });

  it('an expired item may cancel another expired item before it is told', () => {
    const list = new DeadlineList(1_000_000);
    const log: string[] = [];
    const a = new Item('A', log, list);
    const b = new Item('B', log, list, () => list.remove(a));
    list.add(a, 1);
    list.add(b, 1); // list order: B, A; both expired
    list.sweep(10);
    expect(log).toEqual(['B']);
    expect(a.fired).toBe(0);
    expect(a.deadlineAt).toBe(0);
    expect(list.size).toBe(0);
  });
});
