// Attempt deadlines without a timer per request: in-flight attempts sit in an intrusive doubly linked
// list (the links are fields of the request object, so adding and removing allocate nothing), and one
// interval timer per list sweeps it. A deadline fires at most `tickMs` late.

export interface DeadlineItem {
  deadlineAt: number; // performance.now() ms; 0 when not listed
  dlPrev: DeadlineItem | null;
  dlNext: DeadlineItem | null;
  deadlineFired(): void;
}

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
    if (item.deadlineAt === 0) return;
    item.deadlineAt = 0;
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

  /** Fire every item whose deadline has passed (each is removed before it is told). */
  sweep(now: number): void {
    let item = this.head;
    while (item !== null) {
      const next = item.dlNext;
      if (item.deadlineAt <= now) {
        this.remove(item);
        item.deadlineFired();
      }
      item = next;
    }
  }
}

function sweepList(list: DeadlineList): void {
  list.sweep(performance.now());
}
