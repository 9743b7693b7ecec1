// Key authentication: SHA-256 of the presented key, looked up by hash, then compared in constant time.
// Keys are never stored or logged in the clear; only their hashes are in config.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeyRecord, Plan, RouteContext } from '../config/plan.js';

/** The key presented by a request: `Authorization: Bearer KEY` or `x-api-key: KEY`; '' when none. */
export function presentedKey(authorization: string, apiKey: string): string {
  if (authorization.length > 7) {
    // Case-insensitive "Bearer " without allocating a lowercased copy.
    const c = authorization.charCodeAt(0) | 32;
    if (c === 98 && authorization.charCodeAt(6) === 32 && authorization.slice(0, 6).toLowerCase() === 'bearer') {
      return authorization.slice(7).trim();
    }
  }
  return apiKey.trim();
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The key's record, or null when unknown or revoked. */
export function authenticate(plan: Plan, key: string): KeyRecord | null {
  if (key.length === 0 || key.length > 512) return null;
  const digest = sha256(key);
  const record = plan.keysByHash.get(digest.toString('hex'));
  if (record === undefined || record.revoked) return null;
  return timingSafeEqual(record.sha256, digest) ? record : null;
}

function matchesPattern(pattern: string, alias: string): boolean {
  // `crm.*` matches `crm.x`, not `crm.` itself (the alias trie's rule).
  if (pattern.endsWith('.*')) return alias.length >= pattern.length && alias.startsWith(pattern.slice(0, -1));
  return pattern === alias;
}

/** May this key use this route? (tenant visibility, then the key's own alias list). */
export function keyMayUse(key: KeyRecord, route: RouteContext, alias: string): boolean {
  if (route.tenants !== null && !route.tenants.has(key.tenant)) return false;
  const allowed = key.aliases;
  if (allowed === null) return true;
  for (let i = 0; i < allowed.length; i++) if (matchesPattern(allowed[i]!, alias)) return true;
  return false;
}
