// The discrete-event engine of the replay: one binary min-heap of events in virtual time, stored in
// parallel typed arrays (no object per event). An event is (time ms, kind, arg): what it means is the
// caller's. Ties in time leave in scheduling order (a sequence number breaks them), so a run is
// deterministic. The clock only moves forward: scheduling into the past is an error.

export class EventQueue {
  private time: Float64Array;
  private order: Float64Array;
  private kinds: Int32Array;
  private args: Int32Array;
  private n = 0;
  private seq = 0;
  /** Virtual time, ms: the time of the event last popped. */
  now = 0;
  /** The popped event's kind and arg (valid after pop() returned true). */
  kind = 0;
  arg = 0;
  /** Events popped so far. */
  processed = 0;

  constructor(capacity = 1024) {
    const c = Math.max(16, capacity);
    this.time = new Float64Array(c);
    this.order = new Float64Array(c);
    this.kinds = new Int32Array(c);
    this.args = new Int32Array(c);
  }

  get size(): number {
    return this.n;
  }

  /** Schedule `kind(arg)` at `atMs` (≥ now). */
  schedule(atMs: number, kind: number, arg: number): void {
    if (!(atMs >= this.now)) throw new RangeError(`event queue: cannot schedule at ${atMs} ms, before now (${this.now} ms)`);
    if (this.n === this.time.length) this.grow();
    let i = this.n++;
    const s = this.seq++;
    // Sift up with a hole.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = this.time[p]!;
      if (pt < atMs || (pt === atMs && this.order[p]! < s)) break;
      this.move(p, i);
      i = p;
    }
    this.time[i] = atMs;
    this.order[i] = s;
    this.kinds[i] = kind;
    this.args[i] = arg;
  }

  /** Time of the next event (Infinity when empty). */
  peekTime(): number {
    return this.n === 0 ? Infinity : this.time[0]!;
  }

  /** Take the earliest event: sets now, kind and arg. False when empty. */
  pop(): boolean {
    if (this.n === 0) return false;
    this.now = this.time[0]!;
    this.kind = this.kinds[0]!;
    this.arg = this.args[0]!;
    this.processed++;
    const last = --this.n;
    if (last > 0) {
      const t = this.time[last]!;
      const o = this.order[last]!;
      const k = this.kinds[last]!;
      const a = this.args[last]!;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= last) break;
        if (c + 1 < last && (this.time[c + 1]! < this.time[c]! || (this.time[c + 1] === this.time[c] && this.order[c + 1]! < this.order[c]!))) c++;
        const ct = this.time[c]!;
        if (ct > t || (ct === t && this.order[c]! > o)) break;
        this.move(c, i);
        i = c;
      }
      this.time[i] = t;
      this.order[i] = o;
      this.kinds[i] = k;
      this.args[i] = a;
    }
    return true;
  }

  private move(from: number, to: number): void {
    this.time[to] = this.time[from]!;
    this.order[to] = this.order[from]!;
    this.kinds[to] = this.kinds[from]!;
    this.args[to] = this.args[from]!;
  }

  private grow(): void {
    const c = this.time.length * 2;
    const t = new Float64Array(c);
    t.set(this.time);
    this.time = t;
    const o = new Float64Array(c);
    o.set(this.order);
    this.order = o;
    const k = new Int32Array(c);
    k.set(this.kinds);
    this.kinds = k;
    const a = new Int32Array(c);
    a.set(this.args);
    this.args = a;
  }
}
