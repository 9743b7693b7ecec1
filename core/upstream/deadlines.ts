// Attempt deadlines without a timer per request: in-flight attempts sit in an intrusive doubly linked
// list (the links are fields of the request object, so adding and removing allocate nothing), and one
// interval timer per list sweeps it. A deadline fires at most `tickMs` late.

export interface DeadlineItem {
  deadlineAt: number; // performance.now() ms; 0 when not listed
  dlPrev: DeadlineItem | null;
  dlNext: DeadlineItem | null;
  deadlineFired(): void;
}

/** deadlineAt of an item unlinked by a sweep and about to be told (deadlines are positive times). */
const FIRING = -1;

export class DeadlineList {
  private head: DeadlineItem | null = null;
  private timer: NodeJS.Timeout | null = null;
  private count = 0;

  constructor(private readonly tickMs = 10) {}

  get size(): number {
    return this.count;
  }

  add(item: DeadlineItem, at: number): void {
    if (item.deadlineAt !== 0) this.remove(item);
    item.deadlineAt = at;
    item.dlPrev = null;
    item.dlNext = this.head;
    if (this.head !== null) this.head.dlPrev = item;
    this.head = item;
    this.count++;
    if (this.timer === null) {
      this.timer = setInterval(sweepList, this.tickMs, this);
      this.timer.unref();
    }
  }

  remove(item: DeadlineItem): void {
    const at = item.deadlineAt;
    if (at === 0) return;
    item.deadlineAt = 0;
    if (at === FIRING) return; // taken off the list by a sweep that has not told it yet: now it won't
    const p = item.dlPrev;
    const n = item.dlNext;
    if (p !== null) p.dlNext = n;
    else this.head = n;
    if (n !== null) n.dlPrev = p;
    item.dlPrev = null;
    item.dlNext = null;
    if (--this.count === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /**
   * Fire every item whose deadline has passed. Two phases, so a callback may remove any item (another
   * expired one included, which then is not told): first the expired items are unlinked and chained
   * through `dlNext` (in list order) with their deadline set to FIRING, then each still marked is told.
   */
  sweep(now: number): void {
    let chain: DeadlineItem | null = null;
    let last: DeadlineItem | null = null;
    let item = this.head;
    while (item !== null) {
      const next = item.dlNext;
      if (item.deadlineAt <= now) {
        this.remove(item);
        item.deadlineAt = FIRING;
        if (last === null) chain = item;
        else last.dlNext = item;
        last = item;
      }
      item = next;
    }
    while (chain !== null) {
      const c: DeadlineItem = chain;
      chain = c.dlNext;
      c.dlNext = null;
      if (c.deadlineAt === FIRING) {
        c.deadlineAt = 0;
        c.deadlineFired();
      }
    }
  }
}

function sweepList(list: DeadlineList): void {
  list.sweep(performance.now());
}
