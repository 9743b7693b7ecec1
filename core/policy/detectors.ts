// Detectors of the input and output guards: each is a precompiled global regex (bounded quantifiers, so a
// match has a known maximum length), an optional validator (Luhn for payment cards), and a `tail` rule
// for streams: where in the text seen so far an unfinished match could begin, so a stream scanner holds
// back only those characters (core/policy/scanner.ts). Built once per policy at config compile time.
// Ground floor of core/policy: imports nothing of ours.

export const DETECTOR_KINDS = ['email', 'phone', 'payment_card', 'national_id', 'secret', 'blocked_terms', 'regex'] as const;
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

export interface Detector {
  /** What the trace and the error name: the kind, or for `regex` guards the guard's `name`. */
  readonly label: string;
  readonly kind: DetectorKind;
  /** Global (`g`) regex; `lastIndex` is set before each use. */
  readonly re: RegExp;
  /** Longest match possible, in UTF-16 units. */
  readonly maxLen: number;
  /** Extra check of a regex match (e.g. Luhn); null = every match counts. */
  readonly validate: ((match: string) => boolean) | null;
  /**
   * Where an unfinished match could begin in `s`, looking no further back than `floor` (the caller's
   * bound: `s.length - maxLen + 1`, or the start of what is not yet released): `s.length` when none could.
   */
  tail(s: string, floor: number): number;
}

// ---- character classes for tails (ASCII table lookups; a non-ASCII character ends every run) ---------

function table(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) {
    const a = chars.charCodeAt(i);
    // `a-z` style ranges
    if (chars[i + 1] === '-' && i + 2 < chars.length) {
      const b = chars.charCodeAt(i + 2);
      for (let c = a; c <= b; c++) t[c] = 1;
      i += 2;
    } else t[a] = 1;
  }
  return t;
}

const ALNUM = 'A-Za-z0-9';
const T_EMAIL = table(ALNUM + '._%+@-');
const T_PHONE = table('0-9 ()+.-');
const T_CARD = table('0-9 -');
const T_SSN = table('0-9-');
const T_NINO = table(ALNUM + ' ');
const T_TOKEN = table(ALNUM + '._~+/=-');

/** Start of the run of `t` characters that ends `s`, not before `floor`. */
function runStart(s: string, floor: number, t: Uint8Array): number {
  let i = s.length;
  while (i > floor) {
    const c = s.charCodeAt(i - 1);
    if (c >= 128 || t[c] === 0) break;
    i--;
  }
  return i;
}

/** Start of the longest suffix of `s` (from `floor` on) that is a proper prefix of `word` (lower case). */
function prefixTail(s: string, floor: number, word: string): number {
  const n = s.length;
  const maxK = Math.min(word.length - 1, n - floor);
  for (let k = maxK; k > 0; k--) {
    let ok = true;
    for (let j = 0; j < k; j++) {
      let c = s.charCodeAt(n - k + j);
      if (c >= 65 && c <= 90) c += 32;
      if (c !== word.charCodeAt(j)) {
        ok = false;
        break;
      }
    }
    if (ok) return n - k;
  }
  return n;
}

// ---- validators -------------------------------------------------------------------------------------

/** Luhn check over the digits of `s` (separators ignored); false for fewer than 13 or more than 19 digits. */
export function luhnValid(s: string): boolean {
  let sum = 0;
  let digits = 0;
  let double = false;
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) continue;
    let d = c - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
    digits++;
  }
  return digits >= 13 && digits <= 19 && sum % 10 === 0;
}

/** A payment card: Luhn-valid, 13–19 digits, an issuer prefix (2–6), and one kind of separator at most. */
function cardValid(s: string): boolean {
  const first = s.charCodeAt(0);
  if (first < 50 || first > 54) return false; // 2 (Mastercard 2-series) … 6 (Discover, UnionPay)
  if (s.includes(' ') && s.includes('-')) return false;
  return luhnValid(s);
}

// ---- the built-in detectors -------------------------------------------------------------------------

function detector(label: string, kind: DetectorKind, re: RegExp, maxLen: number, validate: Detector['validate'], tail: Detector['tail']): Detector {
  return Object.freeze({ label, kind, re, maxLen, validate, tail });
}

const EMAIL_RE = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,4}\.[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g;
const PHONE_RE = /(?<![\w+])(?:\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}|(?:\(\d{3}\) ?|\d{3}[ .-]?)\d{3}[ .-]?\d{4})(?![\w])/g;
const CARD_RE = /(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d])/g;
const NATIONAL_ID_RE = /(?<![\w-])(?:(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}|[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D])(?![\w-])/g;
// API keys of common providers, bearer tokens, JWTs and PEM private key headers.
const SECRET_RE = new RegExp(
  [
    'sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,200}',
    '[rs]k_(?:live|test)_[A-Za-z0-9]{16,200}',
    '(?:AKIA|ASIA)[0-9A-Z]{16}',
    'gh[pousr]_[A-Za-z0-9]{36,200}',
    'github_pat_[A-Za-z0-9_]{22,200}',
    'xox[abposr]-[A-Za-z0-9-]{10,200}',
    'AIza[0-9A-Za-z_-]{35}',
    'eyJ[A-Za-z0-9_-]{8,300}\\.eyJ[A-Za-z0-9_-]{8,600}\\.[A-Za-z0-9_-]{8,300}',
    '[Bb]earer[ \\t]+[A-Za-z0-9._~+/=-]{16,400}',
    '-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----',
  ]
    .map((p) => '(?<![A-Za-z0-9_-])' + p)
    .join('|') + '(?![A-Za-z0-9_-])',
  'g',
);
const SECRET_MAX = 1250;

function emailTail(s: string, floor: number): number {
  return runStart(s, floor, T_EMAIL);
}
function phoneTail(s: string, floor: number): number {
  return runStart(s, floor, T_PHONE);
}
function cardTail(s: string, floor: number): number {
  return runStart(s, floor, T_CARD);
}
function nationalIdTail(s: string, floor: number): number {
  return Math.min(runStart(s, floor, T_SSN), runStart(s, Math.max(floor, s.length - 12), T_NINO));
}
function secretTail(s: string, floor: number): number {
  let start = runStart(s, floor, T_TOKEN);
  // `Bearer <token>`: the keyword and the blanks before a token (or a keyword still arriving) are held too.
  let i = start;
  while (i > floor && (s.charCodeAt(i - 1) === 32 || s.charCodeAt(i - 1) === 9)) i--;
  if (i < start || start === s.length) {
    if (i - 6 >= floor && s.slice(i - 6, i).toLowerCase() === 'bearer') start = i - 6;
  }
  start = Math.min(start, prefixTail(s, floor, 'bearer'), prefixTail(s, floor, '-----begin '));
  // A PEM header holds spaces; hold a partial one from its dashes.
  const pem = s.lastIndexOf('-----', s.length - 1);
  if (pem >= floor && pem >= s.length - 45 && !s.includes('-----', pem + 5)) start = Math.min(start, pem);
  return start;
}

export const EMAIL = detector('email', 'email', EMAIL_RE, 64 + 1 + 5 * 64 + 25, null, emailTail);
export const PHONE = detector('phone', 'phone', PHONE_RE, 32, null, phoneTail);
export const PAYMENT_CARD = detector('payment_card', 'payment_card', CARD_RE, 37, cardValid, cardTail);
export const NATIONAL_ID = detector('national_id', 'national_id', NATIONAL_ID_RE, 13, null, nationalIdTail);
export const SECRET = detector('secret', 'secret', SECRET_RE, SECRET_MAX, null, secretTail);

const BUILT_IN: Readonly<Record<string, Detector>> = Object.freeze({
  email: EMAIL,
  phone: PHONE,
  payment_card: PAYMENT_CARD,
  national_id: NATIONAL_ID,
  secret: SECRET,
});

export function builtInDetector(kind: DetectorKind): Detector | null {
  return BUILT_IN[kind] ?? null;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Blocked terms: case-insensitive, whole words where a term starts or ends with a letter or digit (so
 * `ass` does not match `class`). Terms must be non-empty.
 */
export function blockedTermsDetector(terms: readonly string[]): Detector {
  const lower = terms.map((t) => t.toLowerCase());
  const parts = terms.map((t) => {
    const pre = /^[\p{L}\p{N}_]/u.test(t) ? '(?<![\\p{L}\\p{N}_])' : '';
    const post = /[\p{L}\p{N}_]$/u.test(t) ? '(?![\\p{L}\\p{N}_])' : '';
    return pre + escapeRe(t) + post;
  });
  // Longest first, so a longer term wins where two start at the same place.
  const order = parts.map((p, i) => ({ p, n: terms[i]!.length })).sort((a, b) => b.n - a.n);
  const re = new RegExp(order.map((o) => o.p).join('|'), 'giu');
  const maxLen = Math.max(1, ...terms.map((t) => t.length));
  const tail = (s: string, floor: number): number => {
    let start = s.length;
    for (let i = 0; i < lower.length; i++) start = Math.min(start, prefixTail(s, floor, lower[i]!));
    // A whole term at the very end may still be followed by a word character (then it is no match).
    for (let i = 0; i < lower.length; i++) {
      const t = lower[i]!;
      if (s.length - t.length >= floor && s.slice(s.length - t.length).toLowerCase() === t) start = Math.min(start, s.length - t.length);
    }
    return start;
  };
  return Object.freeze({ label: 'blocked_terms', kind: 'blocked_terms' as const, re, maxLen, validate: null, tail });
}

/** Problem with a custom pattern, or null: it must compile and must not match the empty string. */
export function patternProblem(pattern: string): string | null {
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'gu');
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  re.lastIndex = 0;
  if (re.test('')) return 'pattern matches the empty string';
  return null;
}

/** A custom regex guard; `maxLen` bounds a match (what a stream holds back: everything up to it). */
export function regexDetector(label: string, pattern: string, maxLen: number): Detector {
  const re = new RegExp(pattern, 'gu');
  const tail = (s: string, floor: number): number => floor;
  return Object.freeze({ label, kind: 'regex' as const, re, maxLen, validate: null, tail });
}
