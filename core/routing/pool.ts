// Pool member choice for managed-API pools: weighted, deterministic over a sequence number (smooth
// over many requests, reproducible), restricted to the route's allowed providers. No allocation.
import type { PoolContext, PoolMember } from './types.js';

function allowed(member: PoolMember, allowedProviders: readonly string[]): boolean {
  return allowedProviders.length === 0 || allowedProviders.includes(member.provider.name);
}

/** The member for request number `seq`, or null when the route allows none of the pool's providers. */
export function pickMember(pool: PoolContext, allowedProviders: readonly string[], seq: number): PoolMember | null {
  const members = pool.members;
  let total = 0;
  for (let i = 0; i < members.length; i++) if (allowed(members[i]!, allowedProviders)) total += members[i]!.weight;
  if (total <= 0) return null;
  // Golden-ratio scramble of the sequence spreads consecutive requests across members by weight.
  let point = ((seq * 0.6180339887498949) % 1) * total;
  let last: PoolMember | null = null;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (!allowed(m, allowedProviders)) continue;
    if (point < m.weight) return m;
    point -= m.weight;
    last = m;
  }
  return last; // only reached through floating-point rounding at the top end
}
