// Canary split: a stable hash of the request id (FNV-1a, then a murmur3 finalizer) decides the arm, so the split is exact over many
// requests and the same id always lands on the same arm.

/** FNV-1a, 32 bits, over the string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Murmur3's finalizer: spreads FNV's low-entropy high bits (ids differ only in their last characters). */
export function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** True when the request goes to the canary target: its hash falls in the first `share` of the range. */
export function canaryArm(requestId: string, share: number): boolean {
  if (share <= 0) return false;
  if (share >= 1) return true;
  return mix(fnv1a(requestId)) < share * 4294967296;
}
