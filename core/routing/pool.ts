// Pool member choice for managed-API pools: weighted, deterministic over a sequence number (smooth
// over many requests, reproducible), restricted to the route's allowed providers. No allocation.
import type { PoolContext, PoolMember } from './types.js';

function allowed(member: PoolMember, allowedProviders: readonly string[]): boolean {
  return allowedProviders.length === 0 || allowedProviders.includes(member.provider.name);
}

/** Who may be skipped: ejected members, and the member a retry wants to avoid. */
export interface MemberFilter {
  skip(member: PoolMember): boolean;
}

/**
 * The member for request number `seq`, or null when the route allows none of the pool's providers.
 * Members the filter skips are passed over while another allowed member remains.
 */
export function pickMember(pool: PoolContext, allowedProviders: readonly string[], seq: number, filter: MemberFilter | null = null): PoolMember | null {
  const members = pool.members;
  let total = 0;
  let skipped = 0;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (!allowed(m, allowedProviders)) continue;
    if (filter !== null && filter.skip(m)) skipped += m.weight;
    else total += m.weight;
  }
  if (total <= 0) {
    if (skipped <= 0) return null;
    filter = null; // every allowed member is skipped: better one of them than none
    total = skipped;
  }
  // Golden-ratio scramble of the sequence spreads consecutive requests across members by weight.
  let point = ((seq * 0.6180339887498949) % 1) * total;
  let last: PoolMember | null = null;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (!allowed(m, allowedProviders) || (filter !== null && filter.skip(m))) continue;
    if (point < m.weight) return m;
    point -= m.weight;
    last = m;
  }
  return last; // only reached through floating-point rounding at the top end
}
