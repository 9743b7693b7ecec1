// Outlier ejection: a pool member that fails `consecutive` times in a row is ejected (skipped by member
// choice) for a time that grows with each ejection, up to a cap; at most `maxEjectedShare` of a pool's
// members are ejected at once, so a bad moment never empties a pool. A success resets the count.
import type { PoolContext, PoolMember } from './types.js';

interface MemberState {
  failures: number;
  ejections: number;
  ejectedUntil: number;
}

export class MemberHealth {
  private readonly state = new Map<PoolMember, MemberState>();

  constructor(
    readonly consecutive = 5,
    readonly baseEjectMs = 5_000,
    readonly maxEjectMs = 300_000,
    readonly maxEjectedShare = 0.5,
  ) {}

  private of(m: PoolMember): MemberState {
    let s = this.state.get(m);
    if (s === undefined) {
      s = { failures: 0, ejections: 0, ejectedUntil: 0 };
      this.state.set(m, s);
    }
    return s;
  }

  isEjected(m: PoolMember, now: number): boolean {
    const s = this.state.get(m);
    return s !== undefined && s.ejectedUntil > now;
  }

  success(m: PoolMember): void {
    const s = this.state.get(m);
    if (s !== undefined) s.failures = 0;
  }

  /** Count a failure; eject the member when it reaches the threshold and the pool can spare it. */
  failure(pool: PoolContext, m: PoolMember, now: number): void {
    const s = this.of(m);
    s.failures++;
    if (s.failures < this.consecutive || s.ejectedUntil > now) return;
    let ejected = 0;
    for (const other of pool.members) if (this.isEjected(other, now)) ejected++;
    if (ejected + 1 > Math.floor(pool.members.length * this.maxEjectedShare)) return;
    s.ejectedUntil = now + Math.min(this.maxEjectMs, this.baseEjectMs * 2 ** s.ejections);
    s.ejections++;
    s.failures = 0;
  }
}
