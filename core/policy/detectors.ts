// Detectors of the input and output guards: each is a precompiled global regex (bounded quantifiers, so a
// match has a known maximum length), an optional validator (Luhn for payment cards), and a `tail` rule
// for streams: where in the text seen so far an unfinished match could begin, so a stream scanner holds
// back only those characters (core/policy/scanner.ts). Built once per policy at config compile time.
// Ground floor of core/policy: imports nothing of ours.

export const DETECTOR_KINDS = ['email', 'phone', 'payment_card', 'national_id', 'secret', 'credential', 'blocked_terms', 'regex'] as const;
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
   * Append the regex's matches in `s` that start at or after `from` (before validation) as
   * `[start, end)` pairs, in order, non-overlapping. Detectors with a rare anchor character or prefix
   * find candidates with indexOf and run a sticky regex there (an unanchored scan costs more).
   */
  matches(s: string, from: number, starts: number[], ends: number[]): void;
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
  return runStartAt(s, s.length, floor, t);
}

/** Start of the run of `t` characters that ends at `end` in `s`, not before `floor`. */
function runStartAt(s: string, end: number, floor: number, t: Uint8Array): number {
  let i = end;
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

/** The generic search: every match of the global regex from `from` on. */
function regexMatches(re: RegExp): Detector['matches'] {
  return (s, from, starts, ends) => {
    re.lastIndex = from;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      const a = m.index;
      const b = a + m[0].length;
      if (b === a) {
        re.lastIndex = b + 1;
        continue;
      }
      starts.push(a);
      ends.push(b);
    }
  };
}

function detector(label: string, kind: DetectorKind, re: RegExp, maxLen: number, validate: Detector['validate'], tail: Detector['tail'], matches: Detector['matches'] = regexMatches(re)): Detector {
  return Object.freeze({ label, kind, re, maxLen, validate, tail, matches });
}

/** Sticky copy of a global regex (matches only at lastIndex). */
function sticky(re: RegExp): RegExp {
  return new RegExp(re.source, re.flags.replace('g', '') + 'y');
}

const EMAIL_RE = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,4}\.[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g;
const PHONE_RE = /(?<![\w+])(?:\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}|(?:\(\d{3}\) ?|\d{3}[ .-]?)\d{3}[ .-]?\d{4})(?![\w])/g;
const CARD_RE = /(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d])/g;
const NATIONAL_ID_RE = /(?<![\w-])(?:(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}|[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D])(?![\w-])/g;
// API keys of common providers, bearer tokens, JWTs and PEM private key headers. Upper bounds are generous
// (a key longer than its bound would not match at all, the trailing look-ahead refusing a cut token);
// SECRET_MAX bounds the longest match, what a stream may hold back.
const SECRET_RE = new RegExp(
  [
    'sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,1000}',
    '[rs]k_(?:live|test)_[A-Za-z0-9]{16,1000}',
    '(?:AKIA|ASIA)[0-9A-Z]{16}',
    'gh[pousr]_[A-Za-z0-9]{36,255}',
    'github_pat_[A-Za-z0-9_]{22,255}',
    'xox[abposr]-[A-Za-z0-9-]{10,255}',
    'AIza[0-9A-Za-z_-]{35}',
    'eyJ[A-Za-z0-9_-]{8,1000}\\.eyJ[A-Za-z0-9_-]{8,2000}\\.[A-Za-z0-9_-]{8,1000}',
    '(?:[Bb]earer|BEARER)[ \\t]+[A-Za-z0-9._~+/=-]{16,1000}',
    '-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----',
  ]
    .map((p) => '(?<![A-Za-z0-9_-])' + p)
    .join('|') + '(?![A-Za-z0-9_-])',
  'g',
);
const SECRET_MAX = 4010;
const EMAIL_STICKY = sticky(EMAIL_RE);
const SECRET_STICKY = sticky(SECRET_RE);
const T_EMAIL_LOCAL = table(ALNUM + '._%+-');

/** Emails: only around an `@` (rare in prose), from the start of the local part before it. */
function emailMatches(s: string, from: number, starts: number[], ends: number[]): void {
  let at = s.indexOf('@', from + 1);
  while (at >= 0) {
    const start = runStartAt(s, at, Math.max(from, at - 64), T_EMAIL_LOCAL);
    if (start < at) {
      EMAIL_STICKY.lastIndex = start;
      const m = EMAIL_STICKY.exec(s);
      if (m !== null) {
        const end = start + m[0].length;
        starts.push(start);
        ends.push(end);
        at = s.indexOf('@', end + 1);
        continue;
      }
    }
    at = s.indexOf('@', at + 1);
  }
}

/**
 * Secret candidates: a literal that is rare in prose (V8's indexOf is fast for those, slow for a
 * pattern whose first letter is common) and how far before it the match would start.
 */
const SECRET_ANCHORS: ReadonlyArray<readonly [string, number]> = [
  ['-', 2], // sk-
  ['-', 4], // xoxb-
  ['-', 0], // -----BEGIN
  ['_', 2], // sk_live_, rk_test_
  ['_', 3], // ghp_
  ['_', 6], // github_pat_
  ['AKIA', 0],
  ['ASIA', 0],
  ['AIza', 0],
  ['J', 2], // eyJ
];
const BEARER_RE = /[Bb]earer|BEARER/g;
const cStart: number[] = [];
const cEnd: number[] = [];

function secretAt(s: string, start: number, from: number): void {
  if (start < from) return;
  SECRET_STICKY.lastIndex = start;
  const m = SECRET_STICKY.exec(s);
  if (m === null) return;
  // Insert in start order (few candidates).
  let j = cStart.length;
  cStart.push(start);
  cEnd.push(start + m[0].length);
  while (j > 0 && cStart[j - 1]! > start) {
    cStart[j] = cStart[j - 1]!;
    cEnd[j] = cEnd[j - 1]!;
    j--;
  }
  cStart[j] = start;
  cEnd[j] = start + m[0].length;
}

/** Secrets: candidates at their anchors, then the sticky regex at each; in order, without overlaps. */
/** Every secret holds one of these: a short text without any has none (the stream's usual piece). */
const SECRET_HINT_RE = /[-_J]|A(?:KIA|SIA|Iza)|[Bb]earer|BEARER/;

function secretMatches(s: string, from: number, starts: number[], ends: number[]): void {
  if (s.length - from < 256 && !SECRET_HINT_RE.test(from === 0 ? s : s.slice(from))) return;
  cStart.length = 0;
  cEnd.length = 0;
  for (let k = 0; k < SECRET_ANCHORS.length; k++) {
    const [lit, back] = SECRET_ANCHORS[k]!;
    for (let at = s.indexOf(lit, from + back); at >= 0; at = s.indexOf(lit, at + 1)) secretAt(s, at - back, from);
  }
  BEARER_RE.lastIndex = from;
  for (let m = BEARER_RE.exec(s); m !== null; m = BEARER_RE.exec(s)) secretAt(s, m.index, from);
  let last = -1;
  for (let i = 0; i < cStart.length; i++) {
    if (cStart[i]! < last || (i > 0 && cStart[i] === cStart[i - 1])) continue;
    starts.push(cStart[i]!);
    ends.push(cEnd[i]!);
    last = cEnd[i]!;
  }
}

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

// Credentials assigned in text: `DB_PASSWORD=...`, `"api_key": "..."`, `client-secret: ...` (the name, the
// separator and the value are all matched, so a redaction hides which credential it was too).
const CRED_NAMES = 'api[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|secret[_-]?key|client[_-]?secret|private[_-]?key|password|passwd|pwd';
const CRED_VALUE = '[^\\s"\'<>]';
const CREDENTIAL_RE = new RegExp(`(?<![A-Za-z0-9_-])(?:[A-Za-z0-9]+[_-])*(?:${CRED_NAMES})["']?[ \\t]*[:=][ \\t]*["']?${CRED_VALUE}{8,256}(?!${CRED_VALUE})`, 'gi');
const CREDENTIAL_STICKY = sticky(CREDENTIAL_RE);
/** The name part ending at `$` (to find where a credential would start, given its separator). */
const CRED_NAME_END_RE = new RegExp(`(?<![A-Za-z0-9_-])(?:[A-Za-z0-9]+[_-])*(?:${CRED_NAMES})["']?[ \\t]*$`, 'i');
/** An unfinished credential at the end of a text: a name, maybe its separator and part of a value. */
const CRED_TAIL_RE = new RegExp(`(?<![A-Za-z0-9_-])(?:[A-Za-z0-9]+[_-])*(?:${CRED_NAMES})["']?[ \\t]*(?:[:=][ \\t]*["']?${CRED_VALUE}*)?$`, 'i');
const CRED_WORDS = ['api_key', 'api-key', 'apikey', 'access_token', 'access-token', 'accesstoken', 'auth_token', 'auth-token', 'authtoken', 'refresh_token', 'refresh-token', 'refreshtoken', 'secret_key', 'secret-key', 'secretkey', 'client_secret', 'client-secret', 'clientsecret', 'private_key', 'private-key', 'privatekey', 'password', 'passwd', 'pwd'];
const T_CRED_PREFIX = table(ALNUM + '_-');
const CRED_MAX = 300 + 256;

/** Credentials: only at a `:` or `=`, looking back at most 300 characters for the name before it. */
function credentialMatches(s: string, from: number, starts: number[], ends: number[]): void {
  let last = from;
  for (let p = nextSeparator(s, from); p >= 0; p = nextSeparator(s, p + 1)) {
    if (p < last) continue;
    const w0 = Math.max(last, p - 300);
    const m = CRED_NAME_END_RE.exec(s.slice(w0, p));
    if (m === null) continue;
    const start = w0 + m.index;
    CREDENTIAL_STICKY.lastIndex = start;
    const full = CREDENTIAL_STICKY.exec(s);
    if (full === null) continue;
    starts.push(start);
    ends.push(start + full[0].length);
    last = start + full[0].length;
  }
}

function nextSeparator(s: string, from: number): number {
  const a = s.indexOf(':', from);
  const b = s.indexOf('=', from);
  return a < 0 ? b : b < 0 ? a : Math.min(a, b);
}

/** Every prefix of every credential name, lower case (a name may still be arriving at the end of a text). */
const CRED_PREFIXES: ReadonlySet<string> = new Set(CRED_WORDS.flatMap((w) => Array.from({ length: w.length }, (_, i) => w.slice(0, i + 1))));
const CRED_WORD_MAX = Math.max(...CRED_WORDS.map((w) => w.length));
const T_CRED_WORD = table('A-Za-z_-');

function credentialTail(s: string, floor: number): number {
  const n = s.length;
  let start = n;
  // A name, its separator and part of a value: only possible with a separator, quote or blank near the end.
  const w0 = Math.max(floor, n - CRED_MAX);
  const last = s.charCodeAt(n - 1);
  if (s.indexOf(':', w0) >= 0 || s.indexOf('=', w0) >= 0 || last === 34 || last === 39 || last === 32 || last === 9) {
    const m = CRED_TAIL_RE.exec(s.slice(w0));
    if (m !== null) start = w0 + m.index;
  }
  // A name still arriving ("pass", "DB_PASSW"): the longest suffix of the last word that begins a name.
  const word = runStartAt(s, n, Math.max(floor, n - CRED_WORD_MAX), T_CRED_WORD);
  if (word < n) {
    const lower = s.slice(word).toLowerCase();
    for (let i = 0; i < lower.length; i++) {
      if (CRED_PREFIXES.has(i === 0 ? lower : lower.slice(i))) {
        if (word + i < start) start = word + i;
        break;
      }
    }
  }
  // And the `WORD_` parts before a name (`DB_PASSWORD`): the match would start there.
  return start < n ? runStartAt(s, start, floor, T_CRED_PREFIX) : start;
}

export const EMAIL = detector('email', 'email', EMAIL_RE, 64 + 1 + 5 * 64 + 25, null, emailTail, emailMatches);
export const PHONE = detector('phone', 'phone', PHONE_RE, 32, null, phoneTail);
export const PAYMENT_CARD = detector('payment_card', 'payment_card', CARD_RE, 37, cardValid, cardTail);
export const NATIONAL_ID = detector('national_id', 'national_id', NATIONAL_ID_RE, 13, null, nationalIdTail);
export const SECRET = detector('secret', 'secret', SECRET_RE, SECRET_MAX, null, secretTail, secretMatches);
export const CREDENTIAL = detector('credential', 'credential', CREDENTIAL_RE, CRED_MAX, null, credentialTail, credentialMatches);

const BUILT_IN: Readonly<Record<string, Detector>> = Object.freeze({
  email: EMAIL,
  phone: PHONE,
  payment_card: PAYMENT_CARD,
  national_id: NATIONAL_ID,
  secret: SECRET,
  credential: CREDENTIAL,
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
  return Object.freeze({ label: 'blocked_terms', kind: 'blocked_terms' as const, re, maxLen, validate: null, tail, matches: regexMatches(re) });
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
  return Object.freeze({ label, kind: 'regex' as const, re, maxLen, validate: null, tail, matches: regexMatches(re) });
}
