import { describe, expect, it } from 'vitest';
import { schemaProblem, validateJson } from '../../../core/policy/json-schema.js';

describe('validateJson (tool arguments)', () => {
  const schema = {
    type: 'object',
    properties: {
      id: { type: 'string', minLength: 2, maxLength: 8, pattern: '^a' },
      n: { type: 'integer', minimum: 1, maximum: 10 },
      kind: { enum: ['x', 'y'] },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 2 },
      opt: { anyOf: [{ type: 'string' }, { type: 'null' }] },
      nested: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false },
    },
    required: ['id'],
    additionalProperties: { type: 'number' },
  };

  it('accepts conforming values', () => {
    expect(validateJson(schema, { id: 'ab', n: 3, kind: 'x', tags: ['t'], opt: null, nested: { ok: true }, extra: 1.5 })).toBeNull();
  });

  it('names the path and the rule', () => {
    expect(validateJson(schema, {})).toBe('$.id: required');
    expect(validateJson(schema, { id: 'b' })).toBe('$.id: shorter than 2');
    expect(validateJson(schema, { id: 'bc' })).toBe('$.id: does not match the required pattern');
    expect(validateJson(schema, { id: 'ab', n: 2.5 })).toBe('$.n: must be integer');
    expect(validateJson(schema, { id: 'ab', n: 11 })).toBe('$.n: must be <= 10');
    expect(validateJson(schema, { id: 'ab', kind: 'z' })).toBe('$.kind: must be one of the allowed values');
    expect(validateJson(schema, { id: 'ab', tags: ['a', 'b', 'c'] })).toBe('$.tags: more than 2 items');
    expect(validateJson(schema, { id: 'ab', tags: [1] })).toBe('$.tags[0]: must be string');
    expect(validateJson(schema, { id: 'ab', opt: 1 })).toBe('$.opt: matches none of anyOf');
    expect(validateJson(schema, { id: 'ab', nested: { ok: true, more: 1 } })).toBe('$.nested: unexpected property');
    expect(validateJson({ oneOf: [{ type: 'number' }, { type: 'integer' }] }, 1)).toBe('$: must match exactly one of oneOf');
  });

  it('never repeats a value or a key the value brought', () => {
    const secretKey = 'sk-proj-abcdefghijklmnop1234';
    expect(validateJson(schema, { id: 'ab', [secretKey]: 'not a number' })).toBe('$.*: must be number');
    expect(validateJson(schema, { id: 'ab', nested: { ok: true, [secretKey]: 1 } })).not.toContain('sk-');
    expect(validateJson(schema, { id: secretKey })).not.toContain('sk-');
  });
});

describe('schemaProblem (config)', () => {
  it('accepts the usual tool schemas and reports bad ones', () => {
    expect(schemaProblem({ type: 'object', properties: { a: { type: ['string', 'null'] } }, required: ['a'] })).toBeNull();
    expect(schemaProblem(true)).toBeNull();
    expect(schemaProblem('object')).toEqual({ path: '', message: 'must be a JSON schema object' });
    expect(schemaProblem({ type: 'object', properties: { a: { tpye: 'string' } } })).toEqual({ path: 'properties.a.tpye', message: 'unsupported schema keyword "tpye"' });
    expect(schemaProblem({ required: 'a' })).toEqual({ path: 'required', message: 'must be a list of property names' });
    expect(schemaProblem({ anyOf: [] })).toEqual({ path: 'anyOf', message: 'must be a non-empty list of schemas' });
    expect(schemaProblem({ minimum: '1' })).toEqual({ path: 'minimum', message: 'must be a number' });
  });
});
