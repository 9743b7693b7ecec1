// The text scanner of a guard set: the same code scans a whole text (a prompt, a non-streamed answer) and
// a stream piece by piece, so streamed and non-streamed requests give identical results. A stream holds
// back only what could still become (part of) a match: for each detector, the tail where an unfinished
// match could begin (bounded by the detector's longest match), and any match touching the end of what
// has arrived (it may grow). Everything before that is final: redacted where needed and released.
// Ground floor of core/policy besides detectors.ts.

import type { Detector } from './detectors.js';

export const ACTION_BLOCK = 0;
export const ACTION_REDACT = 1;
export const ACTION_FLAG = 2;
export type ActionCode = 0 | 1 | 2;
export const ACTION_NAMES = ['block', 'redact', 'flag'] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export interface Guard {
  readonly detector: Detector;
  readonly action: ActionCode;
  /** `[REDACTED:label]`. */
  readonly replacement: string;
}

/** A policy stage's guards (input or output), compiled once. */
export class GuardSet {
  readonly guards: readonly Guard[];
  /** Characters of released text kept before the pending text, for the detectors' look-behinds. */
  static readonly CONTEXT = 8;
  constructor(guards: readonly Guard[]) {
    this.guards = Object.freeze([...guards]);
  }
}

/** Told of each guard that fired (once per match). */
export interface FindingSink {
  finding(guard: Guard): void;
}

// Per-scan scratch (the scanner runs synchronously: one set of arrays for the whole thread).
const mStart: number[] = [];
const mEnd: number[] = [];
const mGuard: Guard[] = [];
const fStart: number[] = [];
const fEnd: number[] = [];

/**
 * Scan `s[from..)`. Matches ending at `s.length` are final only when `final`. Returns the release point
 * (everything before it is settled), fills the scratch arrays with the matches found, and returns -1
 * when a blocking guard fired. The block is the earliest blocking match by position (ties: guard order),
 * decided only once no unfinished blocking match starts before it; the findings before it are reported
 * first. So a stream, whatever its pieces, reports exactly what a whole-text scan does.
 */
function scan(set: GuardSet, s: string, from: number, final: boolean, sink: FindingSink): number {
  mStart.length = 0;
  mEnd.length = 0;
  mGuard.length = 0;
  const n = s.length;
  let release = n;
  let blockAt = n + 1;
  let blockGuard: Guard | null = null;
  let pendingBlock = n + 1;
  const guards = set.guards;
  for (let g = 0; g < guards.length; g++) {
    const guard = guards[g]!;
    const d = guard.detector;
    // Where an unfinished match of this detector could begin or go on (n: nowhere; final: nowhere).
    let tail = n;
    if (!final) {
      tail = d.tail(s, Math.max(from, n - d.maxLen + 1));
      if (tail < release) release = tail;
    }
    fStart.length = 0;
    fEnd.length = 0;
    d.matches(s, from, fStart, fEnd);
    for (let k = 0; k < fStart.length; k++) {
      const a = fStart[k]!;
      const b = fEnd[k]!;
      if (b >= tail && !final) {
        // It reaches the part that may still grow (`4111 1111 1111 1111-` + `555`): decide when it cannot.
        if (a < release) release = a;
        if (guard.action === ACTION_BLOCK && a < pendingBlock) pendingBlock = a;
        continue;
      }
      if (d.validate !== null && !d.validate(s.slice(a, b))) continue;
      if (guard.action === ACTION_BLOCK) {
        if (a < blockAt) {
          blockAt = a;
          blockGuard = guard;
        }
        continue;
      }
      mStart.push(a);
      mEnd.push(b);
      mGuard.push(guard);
    }
  }
  if (blockGuard !== null && blockAt <= pendingBlock) {
    emit(s, from, blockAt, sink); // the findings before the blocked text
    sink.finding(blockGuard);
    return -1;
  }
  if (release < from) release = from;
  // A match that began before the release point but ends after it moves the point back to its start.
  for (let moved = true; moved; ) {
    moved = false;
    for (let i = 0; i < mStart.length; i++) {
      if (mStart[i]! < release && mEnd[i]! > release) {
        release = mStart[i]!;
        moved = true;
      }
    }
  }
  return release;
}

/** Apply the redactions of matches inside `[from, to)` and report redactions and flags there. */
function emit(s: string, from: number, to: number, sink: FindingSink): string {
  const count = mStart.length;
  if (count === 0) return from === 0 && to === s.length ? s : s.slice(from, to);
  // Order by start (few matches: insertion sort on indexes).
  const order: number[] = [];
  for (let i = 0; i < count; i++) {
    if (mStart[i]! < from || mEnd[i]! > to) continue;
    let j = order.length;
    order.push(i);
    while (j > 0 && mStart[order[j - 1]!]! > mStart[i]!) {
      order[j] = order[j - 1]!;
      j--;
    }
    order[j] = i;
  }
  let out = '';
  let pos = from;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const guard = mGuard[i]!;
    sink.finding(guard);
    if (guard.action !== ACTION_REDACT) continue;
    const a = mStart[i]!;
    const b = mEnd[i]!;
    if (b <= pos) continue; // inside an earlier redaction
    out += s.slice(pos, Math.max(pos, a)) + guard.replacement;
    pos = b;
  }
  return pos === from && out === '' ? s.slice(from, to) : out + s.slice(pos, to);
}

/** Scan a whole text. The text with redactions applied (the same string when none), or null when blocked. */
export function scanText(set: GuardSet, text: string, sink: FindingSink): string | null {
  const r = scan(set, text, 0, true, sink);
  if (r < 0) return null;
  return emit(text, 0, text.length, sink);
}

/**
 * Scans one stream of text (one choice of a streamed answer) piece by piece. `push` returns the text
 * that may be released now (redacted), `end` what is left at the end; both return null once blocked.
 */
export class StreamScanner {
  private readonly set: GuardSet;
  private readonly sink: FindingSink;
  /** Released text kept for look-behinds (at most GuardSet.CONTEXT characters). */
  private ctx = '';
  /** Text not released yet. */
  private pending = '';
  blocked = false;

  constructor(set: GuardSet, sink: FindingSink) {
    this.set = set;
    this.sink = sink;
  }

  /** Characters held back right now (for tests and benchmarks). */
  get held(): number {
    return this.pending.length;
  }

  push(piece: string): string | null {
    if (this.blocked) return null;
    return this.run(piece, false);
  }

  end(): string | null {
    if (this.blocked) return null;
    return this.run('', true);
  }

  private run(piece: string, final: boolean): string | null {
    const ctxLen = this.ctx.length;
    const s = this.ctx + this.pending + piece;
    if (s.length === ctxLen) return '';
    const release = scan(this.set, s, ctxLen, final, this.sink);
    if (release < 0) {
      this.blocked = true;
      this.pending = '';
      return null;
    }
    const out = release === ctxLen ? '' : emit(s, ctxLen, release, this.sink);
    this.pending = s.slice(release);
    this.ctx = s.slice(Math.max(0, release - GuardSet.CONTEXT), release);
    return out;
  }
}
