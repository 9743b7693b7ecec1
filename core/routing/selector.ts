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
  let best = Infinity;
  let candidates = 0;
  for (let pass = 0; pass < 2 && candidates === 0; pass++) {
    // Second pass: every allowed member is skipped (ejected): better one of them than none.
    for (let i = 0; i < members.length; i++) {
      const m = members[i]!;
      if (allowedProviders.length > 0 && !allowedProviders.includes(m.provider.name)) continue;
      if (pass === 0 && filter !== null && filter.skip(m)) continue;
      candidates++;
      const q = board.expectedQueue(m, pool.maxBatch);
      if (q < best) best = q;
    }
    if (candidates === 0 && pass === 0) filter = null;
  }
  if (candidates === 0) return null;
  let chosen: PoolMember | null = null;
  let chosenScore = -1;
  const bound = prefixHash === 0 ? best : best + AFFINITY_SLACK;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (allowedProviders.length > 0 && !allowedProviders.includes(m.provider.name)) continue;
    if (filter !== null && filter.skip(m)) continue;
    if (board.expectedQueue(m, pool.maxBatch) > bound) continue;
    const score = prefixHash === 0 ? mix(seq ^ Math.imul(board.of(m).key, 0x9e3779b1)) : mix(prefixHash ^ Math.imul(board.of(m).key, 0x9e3779b1));
    if (score > chosenScore) {
      chosenScore = score;
      chosen = m;
    }
  }
  return chosen;
}
