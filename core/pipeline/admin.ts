// Admin keys: the operator's endpoints (`/dashboard`, `/dashboard/data`) take a key listed under
// `server.admin_keys` (hex SHA-256, like tenant keys), presented as `Authorization: Bearer KEY`,
// `x-api-key: KEY`, or HTTP Basic auth with the key as the password (so a browser can ask for it).

import { timingSafeEqual } from 'node:crypto';
import type { Plan } from '../config/plan.js';
import { authenticate, presentedKey, sha256 } from './auth.js';

/** The key in `Authorization: Basic base64(user:KEY)`, or '' when the header is not Basic. */
export function basicPassword(authorization: string): string {
  if (authorization.length < 7 || authorization.slice(0, 6).toLowerCase() !== 'basic ') return '';
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? '' : decoded.slice(colon + 1);
}

/**
 * The admin key's id; '' when the key is valid but not an admin key (a tenant key); null when no key was
 * presented or it is unknown.
 */
export function adminKeyOf(plan: Plan, authorization: string, apiKey: string): string | null {
  const key = basicPassword(authorization) || presentedKey(authorization, apiKey);
  if (key.length === 0 || key.length > 512) return null;
  const digest = sha256(key);
  for (const [h, id] of plan.server.adminKeys) {
    if (timingSafeEqual(Buffer.from(h, 'hex'), digest)) return id;
  }
  return authenticate(plan, key) !== null ? '' : null;
}
