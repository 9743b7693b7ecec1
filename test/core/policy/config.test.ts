// `policies:` in config: checked with line numbers like every other problem, compiled once into the Plan.
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePlan, parseConfigText } from '../../../core/index.js';
import { runCheck } from '../../../cli/check.js';
import { routeYaml, testConfigYaml } from '../../helpers/stack.js';

const URLS = new Map([['sim', 'http://127.0.0.1:9/v1']]);

function withPolicies(policies: string, safety = 'p'): string {
  return testConfigYaml().trimEnd() + routeYaml('safe.chat', 'maas-sim').replace('safety_policy: null', `safety_policy: ${safety}`) + '\n' + policies;
}

describe('policies in config', () => {
  it('compiles each policy once and binds it to the routes that name it', () => {
    const r = parseConfigText(
      withPolicies(`policies:
  - name: p
    input: [{ detector: email, action: redact }]
    output: [{ detector: secret, action: block }]
    max_input_tokens: 500
    tools: { allowed: [a], side_effecting: [b], max_calls: 3, schemas: { a: { type: object } } }
`),
    );
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const plan = compilePlan(r.config, { providerBaseUrls: URLS });
    const route = plan.routesByAlias.get('safe.chat')!;
    expect(route.safety).not.toBeNull();
    expect(route.safety!.policy).toBe(plan.policies.get('p'));
    expect(route.safety!.labels).toEqual([
      ['safe.chat', 'p', 'block'],
      ['safe.chat', 'p', 'redact'],
      ['safe.chat', 'p', 'flag'],
    ]);
    const p = plan.policies.get('p')!;
    expect(p.maxInputTokens).toBe(500);
    expect(p.input!.guards.map((g) => g.detector.kind)).toEqual(['email']);
    expect(p.tools!.maxCalls).toBe(3);
    expect([...p.tools!.sideEffecting]).toEqual(['b']);
    expect(plan.routesByAlias.get('demo.chat')!.safety).toBeNull();
  });

  it('reports bad policies with paths and line numbers (switchyard check)', () => {
    const text = withPolicies(
      `policies:
  - name: p
    input:
      - { detector: emial, action: redact }
      - { detector: regex, pattern: "a(b", action: block }
      - { detector: blocked_terms, action: block }
    output:
      - { detector: secret, action: hide }
    tools:
      allowed: [a]
      schemas:
        a: { type: objekt }
`,
      'q',
    );
    const r = parseConfigText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = text.split('\n');
    const lineOf = (needle: string): number => lines.findIndex((l) => l.includes(needle)) + 1;
    expect(r.problems).toContain(`routes.4.safety_policy: unknown policy "q" (did you mean "p"?) (line ${lineOf('safety_policy: q')})`);
    expect(r.problems.some((p) => p.startsWith('policies.0.input.0.detector: ') && p.endsWith(`(line ${lineOf('detector: emial')})`))).toBe(true);
    expect(r.problems).toContain(`policies.0.input.1.pattern: invalid regular expression: /a(b/gu: Unterminated group (line ${lineOf('a(b')})`);
    expect(r.problems).toContain(`policies.0.input.2.terms: blocked_terms needs a non-empty list of terms (line ${lineOf('detector: blocked_terms')})`);
    expect(r.problems.some((p) => p.startsWith('policies.0.output.0.action: ') && p.endsWith(`(line ${lineOf('action: hide')})`))).toBe(true);
    expect(r.problems).toContain(`policies.0.tools.schemas.a.type: unknown type "objekt" (line ${lineOf('a: { type: objekt }')})`);
  });

  it('refuses unknown policy fields (strict, like the rest of the config)', () => {
    const r = parseConfigText(withPolicies(`policies:\n  - name: p\n    inputs: []\n`));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]).toMatch(/^policies\.0\.inputs: unknown field \(did you mean "input"\?\)/);
  });

  it('switchyard check lists policy problems, one per line with its line, and exits 1', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'switchyard-policy-check-')), 'bad.yaml');
    writeFileSync(file, withPolicies(`policies:\n  - name: p\n    input:\n      - { detector: regex, pattern: "(", action: block }\n`));
    let err = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
    try {
      expect(await runCheck([file])).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(err).toMatch(/^policies\.0\.input\.0\.pattern: invalid regular expression: .+ \(line \d+\)$/m);
  });
});
