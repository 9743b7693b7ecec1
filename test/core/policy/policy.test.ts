import { describe, expect, it } from 'vitest';
import { compilePolicy, PolicyRun, RouteSafety, policyProblems, type PolicySpec } from '../../../core/policy/index.js';

function run(spec: Omit<PolicySpec, 'name'>, name = 'p'): PolicyRun {
  return new PolicyRun(new RouteSafety(compilePolicy({ name, ...spec }), 'demo.chat'));
}

/** Stream `text` through a fresh run's output scanner in pieces of `size` characters. */
function streamed(spec: Omit<PolicySpec, 'name'>, text: string, size: number): { out: string | null; entries: string[]; maxHeld: number } {
  const r = run(spec);
  const sc = r.outputStream()!;
  let out = '';
  let maxHeld = 0;
  for (let i = 0; i < text.length; i += size) {
    const piece = sc.push(text.slice(i, i + size));
    if (piece === null) return { out: null, entries: r.entries, maxHeld };
    out += piece;
    maxHeld = Math.max(maxHeld, sc.held);
  }
  const tail = sc.end();
  return { out: tail === null ? null : out + tail, entries: r.entries, maxHeld };
}

const PII_OUT: Omit<PolicySpec, 'name'> = {
  output: [
    { detector: 'email', action: 'redact' },
    { detector: 'payment_card', action: 'block' },
    { detector: 'secret', action: 'redact' },
    { detector: 'phone', action: 'flag' },
    { detector: 'national_id', action: 'redact' },
    { detector: 'blocked_terms', action: 'redact', terms: ['project falcon'] },
  ],
};

describe('actions', () => {
  it('redact replaces the match and records the finding, never the text', () => {
    const r = run({ input: [{ detector: 'email', action: 'redact' }] });
    expect(r.inputText('mail bob@example.com or eve@example.org now')).toBe('mail [REDACTED:email] or [REDACTED:email] now');
    expect(r.entries).toEqual(['p:input:email:redact']);
    expect(r.blocked).toBeNull();
  });

  it('block returns null and names the policy and the guard in the message, not the text', () => {
    const r = run({ input: [{ detector: 'payment_card', action: 'block' }] });
    expect(r.inputText('pay with 4111 1111 1111 1111 please')).toBeNull();
    expect(r.blocked).toBe("Blocked by safety policy 'p': input guard 'payment_card' matched.");
    expect(r.blocked).not.toContain('4111');
    expect(r.entries).toEqual(['p:input:payment_card:block']);
  });

  it('flag leaves the text as is and records the finding', () => {
    const r = run({ input: [{ detector: 'phone', action: 'flag' }] });
    const text = 'call +1 415-555-0100';
    expect(r.inputText(text)).toBe(text);
    expect(r.entries).toEqual(['p:input:phone:flag']);
  });

  it('text with no match comes back as the same string, with no findings', () => {
    const r = run(PII_OUT);
    const text = 'Nothing to see here: version 1.2.3 of the gateway, 42 requests.';
    expect(r.outputText(text)).toBe(text);
    expect(r.entries).toEqual([]);
  });

  it('counts each finding once per request in the trace and the metric', () => {
    const r = run({ input: [{ detector: 'email', action: 'redact' }, { detector: 'phone', action: 'flag' }] });
    r.inputText('a@example.com b@example.com +1 415-555-0100');
    r.inputText('c@example.com');
    const trace: string[] = [];
    const counted: string[][] = [];
    r.report(trace, { inc: (l) => counted.push([...l]) });
    expect(trace).toEqual(['p:input:email:redact', 'p:input:phone:flag']);
    expect(counted).toEqual([
      ['demo.chat', 'p', 'redact'],
      ['demo.chat', 'p', 'flag'],
    ]);
  });

  it('max_input_tokens blocks a larger prompt', () => {
    const r = run({ max_input_tokens: 100 });
    expect(r.inputTokens(100)).toBe(true);
    expect(r.inputTokens(101)).toBe(false);
    expect(r.blocked).toContain("safety policy 'p'");
    expect(r.entries).toEqual(['p:input:max_input_tokens:block']);
  });
});

describe('streams', () => {
  const text =
    'Dear team, reach bob.smith@example.com or +1 415-555-0100. The key is sk-proj-abcdefghijklmnop1234 ' +
    'and the ssn 123-45-6789; Project Falcon ships today. Regards, Authorization: Bearer abcdefghijklmnopqrstu.vwxyz';

  it('gives the same text and findings as a whole-text scan, whatever the piece size', () => {
    const whole = run(PII_OUT);
    const expected = whole.outputText(text);
    expect(expected).toBe(
      'Dear team, reach [REDACTED:email] or +1 415-555-0100. The key is [REDACTED:secret] ' +
        'and the ssn [REDACTED:national_id]; [REDACTED:blocked_terms] ships today. Regards, Authorization: [REDACTED:secret]',
    );
    for (const size of [1, 2, 3, 5, 7, 16, 64, 1000]) {
      const s = streamed(PII_OUT, text, size);
      expect(s.out, `piece size ${size}`).toBe(expected);
      expect([...s.entries].sort(), `piece size ${size}`).toEqual([...whole.entries].sort());
    }
  });

  it('random texts in random pieces: the stream always equals the whole-text scan', () => {
    const fragments = [
      'hello ', 'world', ' ', '.', ',', '\n', 'a@b.co', 'bob.smith@example.com', '@', 'example', '.com', '+1 ', '415', '-555-', '0100', '(415) ',
      '4111 1111 1111 1111', '4111', ' 1111', '123-45-', '6789', 'AB 12 34 56 C', 'sk-proj-', 'abcdefghijklmnop', '1234', 'Bearer ', 'bearer',
      'AKIAIOSFODNN7EXAMPLE', 'Project ', 'Falcon', 'project falcon', '-----BEGIN ', 'RSA PRIVATE KEY-----', 'TKT-', '123456', 'é', '✓',
      'DB_', 'PASS', 'WORD', 'password', '=', ': ', '"', 'api_key', 'hunter2hunter2', 'x', 'DB_PASSWORD=', 'api_key": "', 'password: ', 'abcdefgh12',
    ];
    const spec: Omit<PolicySpec, 'name'> = {
      output: [
        { detector: 'email', action: 'redact' },
        { detector: 'phone', action: 'flag' },
        { detector: 'payment_card', action: 'redact' },
        { detector: 'national_id', action: 'redact' },
        { detector: 'secret', action: 'redact' },
        { detector: 'blocked_terms', action: 'redact', terms: ['project falcon'] },
        { detector: 'regex', action: 'redact', pattern: 'TKT-\\d{6}', name: 'ticket', max_length: 10 },
        { detector: 'credential', action: 'redact' },
      ],
    };
    const blocking: Omit<PolicySpec, 'name'> = { output: [{ detector: 'email', action: 'flag' }, { detector: 'payment_card', action: 'block' }, { detector: 'secret', action: 'block' }] };
    let credentials = 0;
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let t = 0; t < 300; t++) {
      let text = '';
      const n = 3 + rnd(25);
      for (let i = 0; i < n; i++) text += fragments[rnd(fragments.length)];
      for (const sp of [spec, blocking]) {
        const whole = run(sp);
        const expected = whole.outputText(text);
        const r = run(sp);
        const sc = r.outputStream()!;
        let out: string | null = '';
        for (let i = 0; i < text.length && out !== null; ) {
          const k = 1 + rnd(9);
          const piece = sc.push(text.slice(i, i + k));
          out = piece === null ? null : out + piece;
          i += k;
        }
        if (out !== null) {
          const tail = sc.end();
          out = tail === null ? null : out + tail;
        }
        if (sp === spec && whole.entries.includes('p:output:credential:redact')) credentials++;
        expect(out, JSON.stringify(text)).toBe(expected);
        expect([...r.entries].sort(), JSON.stringify(text)).toEqual([...whole.entries].sort());
      }
    }
    expect(credentials).toBeGreaterThan(5); // the generator does exercise the credential detector
  });

  it('a secret straddling pieces never has a byte released before it is redacted', () => {
    const secret = 'sk-proj-CANARYabcdefghijklmnop';
    const r = run(PII_OUT);
    const sc = r.outputStream()!;
    let out = '';
    for (const piece of ['Use sk-', 'proj-CANARY', 'abcdefghij', 'klmnop now.']) {
      const p = sc.push(piece)!;
      expect(p).not.toMatch(/sk-|CANARY|abcdef/);
      out += p;
    }
    out += sc.end();
    expect(out).toBe('Use [REDACTED:secret] now.');
  });

  it('a blocked card number straddling pieces stops the stream before any digit of it is released', () => {
    const r = run(PII_OUT);
    const sc = r.outputStream()!;
    let released = '';
    const pieces = ['Your card: 4111 11', '11 1111 11', '11 and more'];
    let result: string | null = '';
    for (const p of pieces) {
      result = sc.push(p);
      if (result === null) break;
      released += result;
    }
    expect(result).toBeNull();
    expect(released.startsWith('Your card:')).toBe(true);
    expect(released).not.toMatch(/\d/);
    expect(sc.push('later text')).toBeNull();
    expect(r.blocked).toBe("Blocked by safety policy 'p': output guard 'payment_card' matched.");
  });

  it('regression: a match that could still grow past a piece boundary is not judged early', () => {
    // `4111 1111 1111 1111-` ends a piece: the card regex stops before the dash (a Luhn-valid 16 digits),
    // but `555` follows, making a 19-digit number that fails Luhn: a whole-text scan never blocks.
    const spec = { output: [{ detector: 'payment_card', action: 'block' }] };
    const r = run(spec);
    const sc = r.outputStream()!;
    let out = sc.push('falcon4111 1111 1111 1111-')! + sc.push('555-@x')!;
    out += sc.end()!;
    expect(out).toBe('falcon4111 1111 1111 1111-555-@x');
    expect(run(spec).outputText('falcon4111 1111 1111 1111-555-@x')).toBe(out);
  });

  it('a number that fails Luhn once complete is released, as in a whole-text scan', () => {
    const t = 'order 4111 1111 1111 1112 shipped';
    expect(streamed(PII_OUT, t, 4).out).toBe(t);
  });

  it('holds back only what could still be part of a match', () => {
    // Plain prose: about one word is held (an email could still begin there), plus the piece that just came.
    const prose = 'The gateway routes every request to a pool and records the cost of each answer in the ledger ';
    const s = streamed(PII_OUT, prose.repeat(4), 4);
    expect(s.out).toBe(prose.repeat(4));
    expect(s.maxHeld).toBeLessThanOrEqual(16);
  });

  it('custom regex guards hold back up to their max_length', () => {
    const spec = { output: [{ detector: 'regex', action: 'redact', pattern: 'TKT-\\d{6}', name: 'ticket', max_length: 10 }] };
    const s = streamed(spec, 'see TKT-123456 and TKT-654321.', 3);
    expect(s.out).toBe('see [REDACTED:ticket] and [REDACTED:ticket].');
    // max_length - 1 characters, or a whole match and what follows it while it straddles that bound.
    expect(s.maxHeld).toBeLessThanOrEqual(2 * 10);
    expect(s.entries).toEqual(['p:output:ticket:redact']);
  });
});

describe('tool calls', () => {
  const schema = { type: 'object', properties: { to: { type: 'string', pattern: '^[^@]+@example\\.com$' }, body: { type: 'string' } }, required: ['to'], additionalProperties: false };
  const spec: Omit<PolicySpec, 'name'> = {
    output: [{ detector: 'secret', action: 'block' }],
    tools: { allowed: ['lookup_account', 'search_docs'], side_effecting: ['send_email'], max_calls: 2, schemas: { send_email: schema } },
  };
  const noDeclared = (): unknown => undefined;

  it('allows listed tools and returns their arguments', () => {
    const r = run(spec);
    expect(r.toolCalls([{ name: 'lookup_account', arguments: '{"id":"a1"}' }], noDeclared)).toEqual(['{"id":"a1"}']);
    expect(r.entries).toEqual([]);
  });

  it('blocks a tool that is not allowed', () => {
    const r = run(spec);
    expect(r.toolCalls([{ name: 'delete_account', arguments: '{}' }], noDeclared)).toBeNull();
    expect(r.blocked).toBe("Blocked by safety policy 'p': tool 'delete_account' is not allowed.");
    expect(r.entries).toEqual(['p:tool:tool_not_allowed:block']);
  });

  it('blocks a side-effecting tool without approval, allows it with approval', () => {
    const r = run(spec);
    const call = { name: 'send_email', arguments: '{"to":"a@example.com"}' };
    expect(r.toolCalls([call], noDeclared)).toBeNull();
    expect(r.entries).toEqual(['p:tool:approval_required:block']);
    const ok = run(spec);
    ok.approved = new Set(['send_email']);
    expect(ok.toolCalls([call], noDeclared)).toEqual([call.arguments]);
  });

  it('blocks arguments that fail the schema (config schema first, else the declared one), without echoing them', () => {
    const r = run(spec);
    r.approved = new Set(['send_email']);
    expect(r.toolCalls([{ name: 'send_email', arguments: '{"to":"secret-person@evil.test"}' }], noDeclared)).toBeNull();
    expect(r.blocked).toContain("arguments of tool 'send_email' do not match its schema ($.to: does not match the pattern ^[^@]+@example\\.com$)");
    expect(r.blocked).not.toContain('evil');
    const d = run(spec);
    const declared = (name: string): unknown => (name === 'search_docs' ? { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } : undefined);
    expect(d.toolCalls([{ name: 'search_docs', arguments: '{"query":"x"}' }], declared)).toBeNull();
    expect(d.blocked).toContain("$: missing required property 'q'");
    const bad = run(spec);
    expect(bad.toolCalls([{ name: 'search_docs', arguments: '{"q":' }], declared)).toBeNull();
    expect(bad.blocked).toContain('not valid JSON');
  });

  it('blocks more calls than max_calls', () => {
    const r = run(spec);
    const c = { name: 'search_docs', arguments: '{}' };
    expect(r.toolCalls([c, c, c], noDeclared)).toBeNull();
    expect(r.entries).toEqual(['p:tool:max_calls:block']);
  });

  it('runs the output guards over the arguments', () => {
    const r = run(spec);
    expect(r.toolCalls([{ name: 'search_docs', arguments: '{"q":"sk-proj-abcdefghijklmnop1234"}' }], noDeclared)).toBeNull();
    expect(r.entries).toEqual(['p:output:secret:block']);
  });
});

describe('policyProblems (config check)', () => {
  it('reports bad regexes, missing terms, misplaced fields and bad tool schemas', () => {
    const problems = policyProblems({
      name: 'p',
      input: [
        { detector: 'regex', action: 'block', pattern: 'a(b' },
        { detector: 'regex', action: 'block' },
        { detector: 'blocked_terms', action: 'block' },
        { detector: 'email', action: 'redact', terms: ['x'], pattern: 'y' },
        { detector: 'regex', action: 'flag', pattern: 'x*' },
        { detector: 'regex', action: 'flag', pattern: 'x', name: 'Bad Name' },
      ],
      tools: { allowed: ['a'], schemas: { a: { type: 'objekt' }, b: { type: 'object', properties: { x: { pattern: '(' } } } } },
    }).map((p) => `${p.path.join('.')}: ${p.message}`);
    expect(problems).toEqual([
      'input.0.pattern: invalid regular expression: /a(b/gu: Unterminated group',
      'input.1.pattern: a regex guard needs a pattern',
      'input.2.terms: blocked_terms needs a non-empty list of terms',
      'input.3.terms: only blocked_terms takes terms (detector is email)',
      'input.3.pattern: only a regex guard takes a pattern (detector is email)',
      'input.4.pattern: pattern matches the empty string',
      'input.5.name: must be lower case [a-z0-9_.-], at most 63 characters (it is a trace label)',
      'tools.schemas.a.type: unknown type "objekt"',
      'tools.schemas.b.properties.x.pattern: must be a valid regular expression',
      'tools.schemas.b: tool "b" is neither allowed nor side_effecting, so its schema would never apply',
    ]);
  });
});
