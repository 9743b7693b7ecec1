// W3C Trace Context (`traceparent`): parse the client's header, make new ids, and format the header the
// gateway sends upstream (the client's trace id, the gateway's span as the parent).
//   traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>

import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  traceId: string;
  parentId: string;
  flags: string;
}

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function allZero(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * The client's trace context, or null when the header is absent or invalid (then the gateway starts a
 * new trace, as the spec says). Version `00` must be exactly 55 characters; a later version may carry
 * more after a `-`; version `ff`, all-zero ids and upper-case hex are invalid.
 */
export function parseTraceparent(h: string): TraceContext | null {
  if (h.length < 55) return null;
  if (h.length > 55 && (h.startsWith('00') || h.charCodeAt(55) !== 45)) return null;
  if (!isLowerHex(h, 0, 2) || h.startsWith('ff')) return null;
  if (h.charCodeAt(2) !== 45 || h.charCodeAt(35) !== 45 || h.charCodeAt(52) !== 45) return null;
  if (!isLowerHex(h, 3, 35) || allZero(h, 3, 35)) return null;
  if (!isLowerHex(h, 36, 52) || allZero(h, 36, 52)) return null;
  if (!isLowerHex(h, 53, 55)) return null;
  return { traceId: h.slice(3, 35), parentId: h.slice(36, 52), flags: h.slice(53, 55) };
}

export function formatTraceparent(traceId: string, spanId: string, flags: string): string {
  return '00-' + traceId + '-' + spanId + '-' + flags;
}

// Random ids from a refilled pool: one getrandom(2) per 170 requests, not two per request.
const POOL = Buffer.allocUnsafe(4096);
let used = POOL.length;

function randomHex(bytes: number): string {
  if (used + bytes > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  const s = POOL.toString('hex', used, used + bytes);
  used += bytes;
  // All-zero ids are invalid: astronomically unlikely, but cheap to rule out.
  return allZero(s, 0, s.length) ? randomHex(bytes) : s;
}

/** A new 16-byte trace id (32 hex). */
export function newTraceId(): string {
  return randomHex(16);
}

/** A new 8-byte span id (16 hex). */
export function newSpanId(): string {
  return randomHex(8);
}

/**
 * Which spans are exported (the OpenTelemetry sampler environment variables): `OTEL_TRACES_SAMPLER` =
 * `parentbased_always_on` (default), `always_on`, `always_off`, `traceidratio`, `parentbased_always_off`,
 * `parentbased_traceidratio`, with `OTEL_TRACES_SAMPLER_ARG` the ratio (default 1). Parent-based: a
 * client's `traceparent` decides by its sampled flag; otherwise the ratio does, by the trace id.
 */
export interface Sampler {
  readonly ratio: number;
  readonly parentBased: boolean;
}

export const ALWAYS_ON: Sampler = Object.freeze({ ratio: 1, parentBased: true });

export function samplerFromEnv(env: NodeJS.ProcessEnv = process.env): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const ratio = Number.isFinite(arg) ? Math.min(1, Math.max(0, arg)) : 1;
  switch (name) {
    case 'always_on': return { ratio: 1, parentBased: false };
    case 'always_off': return { ratio: 0, parentBased: false };
    case 'traceidratio': return { ratio, parentBased: false };
    case 'parentbased_always_off': return { ratio: 0, parentBased: true };
    case 'parentbased_traceidratio': return { ratio, parentBased: true };
    default: return ALWAYS_ON;
  }
}

/** Is this trace's span exported? `parentFlags`: the client's trace flags ('' when it sent none). */
export function isSampled(s: Sampler, traceId: string, parentFlags: string): boolean {
  if (s.parentBased && parentFlags !== '') return (parseInt(parentFlags, 16) & 1) === 1;
  if (s.ratio >= 1) return true;
  if (s.ratio <= 0) return false;
  // The trace id's last 52 bits as a fraction: the same decision for a trace wherever it is sampled.
  return parseInt(traceId.slice(19), 16) / 2 ** 52 < s.ratio;
}
