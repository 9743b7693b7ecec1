// Replica choice in self-hosted pools: least expected queue, with prefix affinity.
//
// Every replica's load is what the gateway knows of it: its own requests in flight there (always fresh)
// and the replica's last load report (`/metrics`: requests waiting and running, which also counts other
// gateways' traffic). A request whose stable prefix hashes to h prefers replicas in rendezvous order
// (highest mix(h, replica) first) so requests sharing a prefix meet the same replica's prefix cache; it
// takes the first replica in that order whose expected queue is within AFFINITY_SLACK of the least
// loaded one, so affinity never piles work onto one replica. Without a prefix, the least loaded wins.
import type { PoolContext, PoolMember } from './types.js';
import type { MemberFilter } from './pool.js';
import { fnv1a, mix } from './canary.js';

/** How many more queued requests than the least loaded replica affinity may accept. */
export const AFFINITY_SLACK = 2;

export class ReplicaLoad {
  inflight = 0;
  reportedWaiting = 0;
  reportedRunning = 0;
  reportedAt = 0;
  /** Stable across gateways (a hash of provider and model), so they agree on rendezvous order. */
  readonly key: number;
  constructor(key: number) {
    this.key = key;
  }
}

/** Per-member load, shared by the pipeline (in flight) and the load-report poller (reports). */
export class LoadBoard {
  private readonly loads = new Map<PoolMember, ReplicaLoad>();

  of(member: PoolMember): ReplicaLoad {
    let l = this.loads.get(member);
    if (l === undefined) {
      l = new ReplicaLoad(fnv1a(member.provider.name + '\u0000' + member.model));
      this.loads.set(member, l);
    }
    return l;
  }

  /** Requests expected ahead of a new one at this replica. */
  expectedQueue(member: PoolMember, maxBatch: number): number {
    const l = this.of(member);
    const local = maxBatch > 0 ? l.inflight - maxBatch : 0;
    return Math.max(l.reportedWaiting, local, 0);
  }
}


/** Per member of the pool being chosen from: its expected queue, and whether it is a candidate (1), skipped
 *  by the filter (2) or not allowed (0). Module scratch, grown as needed: choice is synchronous, one at a time. */
let queues = new Float64Array(16);
let states = new Uint8Array(16);

/**
 * The replica for a request with prefix hash `prefixHash` (0: none), among the allowed members the
 * filter does not skip; null when none is allowed. `seq` breaks ties without a prefix.
 */
export function chooseReplica(
  pool: PoolContext,
  allowedProviders: readonly string[],
  board: LoadBoard,
  prefixHash: number,
  seq: number,
  filter: MemberFilter | null,
): PoolMember | null {
  const members = pool.members;
  const n = members.length;
  if (queues.length < n) {
    queues = new Float64Array(Math.max(n, queues.length * 2));
    states = new Uint8Array(queues.length);
  }
  const q = queues;
  const st = states;
  const any = allowedProviders.length === 0;
  // One pass: each member's expected queue and standing, asked once (the filter and the board too).
  let best = Infinity;
  let candidates = 0;
  let skipped = 0;
  for (let i = 0; i < n; i++) {
    const m = members[i]!;
    if (!any && !allowedProviders.includes(m.provider.name)) {
      st[i] = 0;
      continue;
    }
    const e = board.expectedQueue(m, pool.maxBatch);
    q[i] = e;
    if (filter !== null && filter.skip(m)) {
      st[i] = 2;
      skipped++;
      continue;
    }
    st[i] = 1;
    candidates++;
    if (e < best) best = e;
  }
  if (candidates === 0) {
    if (skipped === 0) return null;
    // Every allowed member is skipped (ejected): better one of them than none.
    for (let i = 0; i < n; i++) {
      if (st[i] !== 2) continue;
      st[i] = 1;
      if (q[i]! < best) best = q[i]!;
    }
  }
  let chosen: PoolMember | null = null;
  let chosenScore = -1;
  const bound = prefixHash === 0 ? best : best + AFFINITY_SLACK;
  for (let i = 0; i < n; i++) {
    if (st[i] !== 1 || q[i]! > bound) continue;
    const m = members[i]!;
    const score = prefixHash === 0 ? mix(seq ^ Math.imul(board.of(m).key, 0x9e3779b1)) : mix(prefixHash ^ Math.imul(board.of(m).key, 0x9e3779b1));
    if (score > chosenScore) {
      chosenScore = score;
      chosen = m;
    }
  }
  return chosen;
}
