import { describe, expect, it } from 'vitest';
import { CREDENTIAL, EMAIL, NATIONAL_ID, PAYMENT_CARD, PHONE, SECRET, blockedTermsDetector, luhnValid, patternProblem, regexDetector, type Detector } from '../../../core/policy/detectors.js';

/** The matches of `d` in `s` that pass its validator, found the way the scanner finds them. */
function matches(d: Detector, s: string): string[] {
  const starts: number[] = [];
  const ends: number[] = [];
  d.matches(s, 0, starts, ends);
  return starts.map((a, i) => s.slice(a, ends[i])).filter((m) => d.validate === null || d.validate(m));
}

/** The same, by the plain global regex (what the anchored searches must agree with). */
function regexMatches(d: Detector, s: string, from = 0): string[] {
  const out: string[] = [];
  d.re.lastIndex = from;
  for (let m = d.re.exec(s); m !== null; m = d.re.exec(s)) out.push(m[0]);
  return out;
}

describe('Luhn', () => {
  it('accepts valid card numbers and rejects a changed digit', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111 1111 1111 1111')).toBe(true);
    expect(luhnValid('5500-0000-0000-0004')).toBe(true);
    expect(luhnValid('378282246310005')).toBe(true); // Amex, 15 digits
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('411111111111')).toBe(false); // 12 digits: too short
    expect(luhnValid('41111111111111111111')).toBe(false); // 20 digits: too long
  });
});

describe('anchored searches agree with the plain regex', () => {
  it('email and secret, on random texts built from their alphabets, from any start', () => {
    const pieces = ['a', 'b', 'Z', '9', '.', '-', '_', '@', ' ', 'x@y.co', 'sk-', 'AKIA', 'gh', 'p_', 'Bearer ', 'bearer\t', 'eyJ', 'xox', 'b-', 'AIza', '-----BEGIN ', 'PRIVATE KEY-----', 'k_live_', 'r', 's', '0123456789abcdefghij', 'ABCDEFGHIJKLMNOP', '.com'];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let t = 0; t < 400; t++) {
      let s = '';
      const n = 5 + rnd(40);
      for (let i = 0; i < n; i++) s += pieces[rnd(pieces.length)];
      const from = rnd(Math.max(1, s.length >> 2));
      for (const d of [EMAIL, SECRET]) {
        const starts: number[] = [];
        const ends: number[] = [];
        d.matches(s, from, starts, ends);
        expect(starts.map((a, i) => s.slice(a, ends[i])), `${d.label} in ${JSON.stringify(s)} from ${from}`).toEqual(regexMatches(d, s, from));
      }
    }
  });
});

describe('detectors', () => {
  it('email: addresses, not look-alikes', () => {
    expect(matches(EMAIL, 'write to bob.smith+tag@mail.example.co.uk, or ALICE@EXAMPLE.ORG.')).toEqual(['bob.smith+tag@mail.example.co.uk', 'ALICE@EXAMPLE.ORG']);
    expect(matches(EMAIL, 'user@localhost, @handle, a@b, name@ example.com, 1.2@3.4')).toEqual([]);
  });

  it('phone: national and international forms, not dates, versions or card numbers', () => {
    expect(matches(PHONE, 'call +1 415-555-0100 or (415) 555-0199 or 415.555.0123 or +44 20 7946 0958')).toEqual([
      '+1 415-555-0100',
      '(415) 555-0199',
      '415.555.0123',
      '+44 20 7946 0958',
    ]);
    expect(matches(PHONE, 'on 2024-01-15 at 10:30, version 1.2.3, order 12345, card 4111111111111111')).toEqual([]);
  });

  it('payment_card: Luhn-valid numbers with issuer prefixes, with or without separators', () => {
    expect(matches(PAYMENT_CARD, 'visa 4111 1111 1111 1111, mc 5500-0000-0000-0004, amex 378282246310005')).toEqual([
      '4111 1111 1111 1111',
      '5500-0000-0000-0004',
      '378282246310005',
    ]);
    // Luhn fails; no issuer prefix; mixed separators; too short; part of a longer number.
    expect(matches(PAYMENT_CARD, '4111 1111 1111 1112, 1111111111111117, 4111-1111 1111-1111, 411111111111, 41111111111111110000')).toEqual([]);
  });

  it('national_id: US SSN and UK NINO, not invalid area numbers or plain numbers', () => {
    expect(matches(NATIONAL_ID, 'ssn 123-45-6789, nino AB 12 34 56 C and JG123456A')).toEqual(['123-45-6789', 'AB 12 34 56 C', 'JG123456A']);
    expect(matches(NATIONAL_ID, 'QQ123456A 000-12-3456 666-12-3456 123-00-4567 123456789 2024-01-15 phone 415-555-0100')).toEqual([]);
  });

  it('secret: provider API keys, bearer tokens, JWTs, private key headers', () => {
    const s =
      'keys sk-proj-abcdefghijklmnop1234 and sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUV, AKIAIOSFODNN7EXAMPLE, ' +
      'ghp_0123456789abcdefghijABCDEFGHIJ012345, xoxb-1234567890-abcdef, AIzaSyA-1234567890abcdefghijklmnopqrstu, ' +
      'Authorization: Bearer abcdefghijklmnop.qrstuvwxyz0123, -----BEGIN RSA PRIVATE KEY-----, ' +
      'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(matches(SECRET, s)).toEqual([
      'sk-proj-abcdefghijklmnop1234',
      'sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUV',
      'AKIAIOSFODNN7EXAMPLE',
      'ghp_0123456789abcdefghijABCDEFGHIJ012345',
      'xoxb-1234567890-abcdef',
      'AIzaSyA-1234567890abcdefghijklmnopqrstu',
      'Bearer abcdefghijklmnop.qrstuvwxyz0123',
      '-----BEGIN RSA PRIVATE KEY-----',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    ]);
    // Alone in a short text (the quick pre-check must let each kind through).
    for (const k of ['AKIAIOSFODNN7EXAMPLE', 'ASIAIOSFODNN7EXAMPLE', 'AIzaSyA01234567890abcdefghijklmnopqrstu', 'sk-proj-abcdefghijklmnop1234', 'rk_live_abcdefghijklmnop12', 'ghp_0123456789abcdefghijABCDEFGHIJ012345', 'xoxb-1234567890', 'Bearer abcdefghijklmnopqrstu', 'eyJhbGciOiJIUzI1.eyJzdWIiOiIx.dozjgNryP4J3']) {
      expect(matches(SECRET, k), k).toEqual([k]);
    }
    const long = 'sk-proj-' + 'a1B2'.repeat(150); // 608 characters
    expect(matches(SECRET, `key ${long} end`)).toEqual([long]);
    expect(matches(SECRET, 'AUTHORIZATION: BEARER abcdefghijklmnopqrstuvwx')).toEqual(['BEARER abcdefghijklmnopqrstuvwx']);
    expect(matches(SECRET, 'the task-list, sk-short, risk-assessment-document, a bearer of news, AKIA-not-a-key, desk-organizer-for-home')).toEqual([]);
  });

  it('credential: names assigned a value, in env, YAML, JSON and prose; not ordinary prose', () => {
    expect(matches(CREDENTIAL, 'export DB_PASSWORD=hunter2hunter2 now')).toEqual(['DB_PASSWORD=hunter2hunter2']);
    expect(matches(CREDENTIAL, '{"api_key": "abcd1234efgh5678", "n": 1}')).toEqual(['api_key": "abcd1234efgh5678']);
    expect(matches(CREDENTIAL, 'client-secret: s3cr3t-v4lue-x and Access_Token = tok.abc.def.ghi')).toEqual(['client-secret: s3cr3t-v4lue-x', 'Access_Token = tok.abc.def.ghi']);
    expect(matches(CREDENTIAL, 'the password: short, password policy: must rotate, a key: value pair, passwords=12345678')).toEqual([]);
    expect(matches(CREDENTIAL, 'mypassword=abcdefghij')).toEqual([]);
  });

  it('blocked_terms: case-insensitive whole words; longer terms first', () => {
    const d = blockedTermsDetector(['project falcon', 'falcon', 'c++']);
    expect(matches(d, 'About Project Falcon and FALCON; we use C++ here.')).toEqual(['Project Falcon', 'FALCON', 'C++']);
    expect(matches(d, 'falconry and peregrinefalcon and c+')).toEqual([]);
  });

  it('regex: custom patterns; bad ones are reported', () => {
    const d = regexDetector('ticket', 'TKT-\\d{6}', 10);
    expect(matches(d, 'see TKT-123456 and TKT-12')).toEqual(['TKT-123456']);
    expect(patternProblem('TKT-(\\d+')).toMatch(/^invalid regular expression: /);
    expect(patternProblem('a*')).toBe('pattern matches the empty string');
    expect(patternProblem('x\\d+')).toBeNull();
  });
});
