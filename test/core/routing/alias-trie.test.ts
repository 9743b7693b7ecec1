import { describe, expect, it } from 'vitest';
import { AliasTrie, type AliasEntry } from '../../../core/routing/alias-trie.js';

const enc = new TextEncoder();

/** Look a name up both ways (string and bytes inside a larger buffer) and insist they agree. */
function both(trie: AliasTrie, name: string): number {
  const viaString = trie.lookup(name);
  const inner = enc.encode(name);
  const buf = new Uint8Array(inner.length + 6);
  buf.set(enc.encode('xyz'), 0);
  buf.set(inner, 3);
  buf.set(enc.encode('abc'), 3 + inner.length);
  const viaBytes = trie.lookupBytes(buf, 3, 3 + inner.length);
  expect(viaBytes, `lookupBytes("${name}") vs lookup`).toBe(viaString);
  return viaString;
}

function trieOf(patterns: string[]): AliasTrie {
  return AliasTrie.build(patterns.map((pattern, value) => ({ pattern, value })));
}

/** Reference semantics, written the obvious way. */
function naive(entries: readonly AliasEntry[], name: string): number {
  if (!/^[A-Za-z0-9._:/-]*$/.test(name)) return -1;
  let best = -1;
  let bestLen = -1;
  for (const e of entries) {
    if (!e.pattern.endsWith('.*')) {
      if (e.pattern === name) return e.value;
      continue;
    }
    const base = e.pattern.slice(0, -1);
    if (name.length > base.length && name.startsWith(base) && base.length > bestLen) {
      best = e.value;
      bestLen = base.length;
    }
  }
  return best;
}

describe('AliasTrie', () => {
  it('matches exact aliases and misses everything else', () => {
    const t = trieOf(['crm.summary.fast', 'crm.summary.backup', 'support.triage', 'a']);
    expect(both(t, 'crm.summary.fast')).toBe(0);
    expect(both(t, 'crm.summary.backup')).toBe(1);
    expect(both(t, 'support.triage')).toBe(2);
    expect(both(t, 'a')).toBe(3);
    expect(both(t, 'crm.summary')).toBe(-1);
    expect(both(t, 'crm.summary.fastx')).toBe(-1);
    expect(both(t, 'crm.summary.fas')).toBe(-1);
    expect(both(t, 'CRM.summary.fast')).toBe(-1);
    expect(both(t, '')).toBe(-1);
    expect(both(t, 'b')).toBe(-1);
  });

  it('prefix pattern `crm.*` covers `crm.x` and deeper names, not `crm`, `crm.` or `crmx`', () => {
    const t = trieOf(['crm.*']);
    expect(both(t, 'crm.summary.fast')).toBe(0);
    expect(both(t, 'crm.x')).toBe(0);
    expect(both(t, 'crm')).toBe(-1);
    expect(both(t, 'crm.')).toBe(-1);
    expect(both(t, 'crmx')).toBe(-1);
    expect(both(t, 'cr')).toBe(-1);
    expect(both(t, 'xcrm.a')).toBe(-1);
  });

  it('exact beats prefix, and the longest prefix wins', () => {
    const t = trieOf(['crm.*', 'crm.summary.*', 'crm.summary.fast', 'crm']);
    expect(both(t, 'crm.summary.fast')).toBe(2); // exact beats both prefixes
    expect(both(t, 'crm.summary.slow')).toBe(1); // longest prefix
    expect(both(t, 'crm.summary.fast.v2')).toBe(1); // passes the exact node, still under crm.summary.*
    expect(both(t, 'crm.summary')).toBe(0); // `crm.summary` itself is not under crm.summary.*
    expect(both(t, 'crm.summ')).toBe(0); // ends inside a compressed label
    expect(both(t, 'crm.other')).toBe(0);
    expect(both(t, 'crm')).toBe(3); // the exact alias `crm` is separate from `crm.*`
  });

  it('lets an exact alias and a prefix pattern share a key', () => {
    const t = AliasTrie.build([
      { pattern: 'team.', value: 7 },
      { pattern: 'team.*', value: 8 },
    ]);
    expect(both(t, 'team.')).toBe(7);
    expect(both(t, 'team.a')).toBe(8);
    expect(both(t, 'team')).toBe(-1);
  });

  it('returns the configured values, not positions', () => {
    const t = AliasTrie.build([
      { pattern: 'x.y', value: 41 },
      { pattern: 'x.*', value: 1000000 },
    ]);
    expect(both(t, 'x.y')).toBe(41);
    expect(both(t, 'x.z')).toBe(1000000);
  });

  it('misses on non-ASCII or non-alias characters, also under a prefix pattern', () => {
    const t = trieOf(['crm.*', 'cafe.x']);
    expect(both(t, 'crm.résumé')).toBe(-1);
    expect(both(t, 'crm.a b')).toBe(-1);
    expect(both(t, 'crm.\u0000')).toBe(-1);
    expect(both(t, 'crm.😀')).toBe(-1);
    expect(both(t, 'café.x')).toBe(-1);
    expect(both(t, 'cafe.x')).toBe(1);
    // A string char whose low byte equals an alias byte must not match it (U+0163 & 0xff = 'c').
    expect(t.lookup('\u0163rm.a')).toBe(-1);
    expect(t.lookup('crm\u012ea')).toBe(-1); // U+012E & 0xff = '.'
    // Latin-1 bytes and UTF-8 bytes both miss.
    expect(t.lookupBytes(new Uint8Array([0x63, 0x72, 0x6d, 0x2e, 0xe9]), 0, 5)).toBe(-1);
  });

  it('accepts every alias character', () => {
    const t = trieOf(['A-Z_a:z/0.9', 'ns/model:v1.*']);
    expect(both(t, 'A-Z_a:z/0.9')).toBe(0);
    expect(both(t, 'ns/model:v1.latest')).toBe(1);
    expect(both(t, 'ns/model:v1.a-b_c:d/e')).toBe(1);
  });

  it('an empty trie misses everything', () => {
    const t = AliasTrie.build([]);
    expect(t.size).toBe(0);
    expect(both(t, '')).toBe(-1);
    expect(both(t, 'anything')).toBe(-1);
  });

  it('lookupBytes honours start/end and ignores bytes outside the window', () => {
    const t = trieOf(['ab', 'abc']);
    const buf = enc.encode('zabcz');
    expect(t.lookupBytes(buf, 1, 3)).toBe(0);
    expect(t.lookupBytes(buf, 1, 4)).toBe(1);
    expect(t.lookupBytes(buf, 0, 4)).toBe(-1);
    expect(t.lookupBytes(buf, 2, 2)).toBe(-1);
  });

  it('rejects malformed patterns, negative values and duplicates', () => {
    expect(() => AliasTrie.build([{ pattern: '', value: 0 }])).toThrow(/invalid pattern/);
    expect(() => AliasTrie.build([{ pattern: '.*', value: 0 }])).toThrow(/invalid pattern/);
    expect(() => AliasTrie.build([{ pattern: 'a b', value: 0 }])).toThrow(/invalid pattern/);
    expect(() => AliasTrie.build([{ pattern: 'crm.*.x', value: 0 }])).toThrow(/invalid pattern/);
    expect(() => AliasTrie.build([{ pattern: 'résumé', value: 0 }])).toThrow(/invalid pattern/);
    expect(() => AliasTrie.build([{ pattern: 'a', value: -1 }])).toThrow(/non-negative/);
    expect(() => AliasTrie.build([{ pattern: 'a', value: 1.5 }])).toThrow(/non-negative/);
    expect(() =>
      AliasTrie.build([
        { pattern: 'a.*', value: 0 },
        { pattern: 'a.*', value: 1 },
      ]),
    ).toThrow(/duplicate/);
  });

  it('agrees with a naive matcher on a randomized set', () => {
    // Deterministic LCG so a failure reproduces.
    let s = 12345;
    const rnd = (n: number): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return (s >>> 8) % n;
    };
    const alphabet = 'ab.c-';
    const word = (): string => {
      let w = '';
      const len = 1 + rnd(6);
      for (let i = 0; i < len; i++) w += alphabet[rnd(alphabet.length)];
      return w;
    };
    const seen = new Set<string>();
    const entries: AliasEntry[] = [];
    for (let i = 0; i < 400; i++) {
      const p = rnd(3) === 0 ? `${word()}.*` : word();
      if (seen.has(p)) continue;
      seen.add(p);
      entries.push({ pattern: p, value: entries.length });
    }
    const t = AliasTrie.build(entries);
    for (let i = 0; i < 5000; i++) {
      const name = rnd(10) === 0 ? `${word()}é` : word() + (rnd(2) ? `.${word()}` : '');
      expect(both(t, name), name).toBe(naive(entries, name));
    }
  });

  it('scales to 100,000 aliases: every alias resolves, near misses miss', () => {
    const entries: AliasEntry[] = [];
    for (let i = 0; i < 90_000; i++) {
      entries.push({ pattern: `tenant${i % 1000}.svc${Math.floor(i / 1000)}.model-${i}`, value: entries.length });
    }
    for (let i = 0; i < 10_000; i++) entries.push({ pattern: `team${i}.*`, value: entries.length });
    // Build time is measured in bench/micro (alias lookup suite), not asserted here: shared machines are noisy.
    const t = AliasTrie.build(entries);
    expect(t.size).toBe(100_000);
    expect(t.nodeCount).toBeLessThanOrEqual(2 * entries.length + 1);

    for (const e of entries) {
      const name = e.pattern.endsWith('.*') ? `${e.pattern.slice(0, -1)}chat.fast` : e.pattern;
      if (t.lookup(name) !== e.value) expect(t.lookup(name), name).toBe(e.value);
    }
    expect(both(t, 'tenant7.svc3.model-3007')).toBe(3007);
    expect(both(t, 'tenant7.svc3.model-3008')).toBe(-1); // wrong tenant for that id
    expect(both(t, 'tenant7.svc3.model-300')).toBe(-1);
    expect(both(t, 'team42')).toBe(-1);
    expect(both(t, 'team42.x')).toBe(90_042);
    expect(both(t, 'team4.x')).toBe(90_004);

    // Lookup is well under a microsecond on average (generous bound: CI machines vary).
    const names = ['tenant7.svc3.model-3007', 'team9999.summary', 'nope.nothing.here'];
    const iters = 200_000;
    let sink = 0;
    const l0 = performance.now();
    for (let i = 0; i < iters; i++) sink += t.lookup(names[i % 3]!);
    const perLookupNs = ((performance.now() - l0) * 1e6) / iters;
    expect(sink).not.toBe(0);
    expect(perLookupNs).toBeLessThan(1000);
  });
});
