import { describe, expect, it } from 'vitest';
import { schemaNames, schemaProblem, scrubProblem, toolSchema } from '../../../core/policy/json-schema.js';

describe('tool schemas (the gateway validator, messages scrubbed)', () => {
  const schema = {
    type: 'object',
    properties: {
      id: { type: 'string', minLength: 2, pattern: '^a' },
      n: { type: 'integer', maximum: 10 },
      nested: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false },
      $defs_user: { $ref: '#/$defs/user' },
    },
    required: ['id'],
    additionalProperties: { type: 'number' },
    $defs: { user: { type: 'object', properties: { name: { type: 'string' } } } },
  };
  const s = toolSchema(schema);

  it('accepts conforming values and names the rule otherwise', () => {
    expect(s.problem({ id: 'ab', n: 3, nested: { ok: true }, extra: 1.5, $defs_user: { name: 'x' } })).toBeNull();
    expect(s.problem({})).toBe("$: missing required property 'id'");
    expect(s.problem({ id: 'ab', n: 11 })).toBe('$.n: must be <= 10');
    expect(s.problem({ id: 'ab', nested: {} })).toBe("$.nested: missing required property 'ok'");
    expect(s.problem({ id: 'ab', $defs_user: { name: 1 } })).toMatch(/^\$\.\$defs_user\.name: expected string/);
  });

  it('never repeats a name the value brought', () => {
    const secretKey = 'sk-proj-abcdefghijklmnop1234';
    const a = s.problem({ id: 'ab', [secretKey]: 'not a number' })!;
    expect(a).toMatch(/^\$\.\*: expected number/);
    const b = s.problem({ id: 'ab', nested: { ok: true, [secretKey]: 1 } })!;
    expect(b).toBe("$.nested: unexpected property '*'");
    expect(s.problem({ id: secretKey })).not.toContain('sk-');
  });

  it('scrubProblem keeps declared names only', () => {
    const names = schemaNames(schema);
    expect([...names].sort()).toEqual(['$defs_user', 'id', 'n', 'name', 'nested', 'ok', 'user']);
    expect(scrubProblem("$.nested.AKIAIOSFODNN7EXAMPLE[0]: unexpected property 'AKIAIOSFODNN7EXAMPLE'", names)).toBe("$.nested.*[0]: unexpected property '*'");
  });
});

describe('schemaProblem (config)', () => {
  it('accepts the usual tool schemas and reports bad ones', () => {
    expect(schemaProblem({ type: 'object', properties: { a: { type: ['string', 'null'] } }, required: ['a'] })).toBeNull();
    expect(schemaProblem({ type: 'object', properties: { u: { $ref: '#/$defs/u' } }, $defs: { u: { type: 'string' } } })).toBeNull();
    expect(schemaProblem(true)).toBeNull();
    expect(schemaProblem('object')).toEqual({ path: '', message: 'must be a JSON schema object' });
    expect(schemaProblem({ type: 'object', properties: { a: { tpye: 'string' } } })).toEqual({ path: 'properties.a.tpye', message: 'unsupported schema keyword "tpye"' });
    expect(schemaProblem({ required: 'a' })).toEqual({ path: 'required', message: 'must be a list of property names' });
    expect(schemaProblem({ anyOf: [] })).toEqual({ path: 'anyOf', message: 'must be a non-empty list of schemas' });
    expect(schemaProblem({ minimum: '1' })).toEqual({ path: 'minimum', message: 'must be a number' });
    expect(schemaProblem({ $ref: '#/$defs/missing' })?.message).toMatch(/unknown \$ref/);
  });
});
