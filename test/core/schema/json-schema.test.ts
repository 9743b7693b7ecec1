import { describe, expect, it } from 'vitest';
import { compileJsonSchema, JsonSchemaError } from '../../../core/schema/json-schema.js';

const v = (schema: unknown, value: unknown): string | null => compileJsonSchema(schema).validate(value);

describe('json schema: types', () => {
  it('checks each type, integer as a number, a list of types and nullable', () => {
    expect(v({ type: 'string' }, 'x')).toBeNull();
    expect(v({ type: 'string' }, 1)).toBe('$: expected string, got integer');
    expect(v({ type: 'number' }, 3)).toBeNull();
    expect(v({ type: 'integer' }, 3.5)).toBe('$: expected integer, got number');
    expect(v({ type: 'boolean' }, false)).toBeNull();
    expect(v({ type: 'null' }, null)).toBeNull();
    expect(v({ type: 'array' }, {})).toBe('$: expected array, got object');
    expect(v({ type: 'object' }, [])).toBe('$: expected object, got array');
    expect(v({ type: ['string', 'null'] }, null)).toBeNull();
    expect(v({ type: 'string', nullable: true }, null)).toBeNull();
    expect(v({ type: ['string', 'null'] }, 2)).toBe('$: expected string or null, got integer');
  });

  it('true, false and an empty schema', () => {
    expect(v(true, 1)).toBeNull();
    expect(v({}, { any: 'thing' })).toBeNull();
    expect(v(false, 1)).toBe('$: no value is allowed here');
  });
});

describe('json schema: objects', () => {
  const person = {
    type: 'object',
    properties: { name: { type: 'string', minLength: 1 }, age: { type: 'integer', minimum: 0, maximum: 150 }, tags: { type: 'array', items: { type: 'string' } } },
    required: ['name', 'age'],
    additionalProperties: false,
  };

  it('accepts a valid object and names the first problem with its path', () => {
    expect(v(person, { name: 'Ada', age: 36, tags: ['x'] })).toBeNull();
    expect(v(person, { name: 'Ada' })).toBe("$: missing required property 'age'");
    expect(v(person, { name: 'Ada', age: -1 })).toBe('$.age: must be >= 0');
    expect(v(person, { name: 'Ada', age: 1, extra: true })).toBe("$: unexpected property 'extra'");
    expect(v(person, { name: 'Ada', age: 1, tags: ['a', 2] })).toBe('$.tags[1]: expected string, got integer');
    expect(v(person, { name: '', age: 1 })).toBe('$.name: must be at least 1 characters');
  });

  it('additionalProperties as a schema; min/max properties', () => {
    const s = { type: 'object', additionalProperties: { type: 'number' }, minProperties: 1, maxProperties: 2 };
    expect(v(s, { a: 1 })).toBeNull();
    expect(v(s, { a: 'x' })).toBe('$.a: expected number, got string');
    expect(v(s, {})).toBe('$: must have at least 1 properties');
    expect(v(s, { a: 1, b: 2, c: 3 })).toBe('$: must have at most 2 properties');
  });
});

describe('json schema: values, arrays, combinators, refs', () => {
  it('enum, const, bounds, pattern, multipleOf', () => {
    expect(v({ enum: ['a', 'b'] }, 'c')).toBe('$: must be one of ["a","b"]');
    expect(v({ enum: [{ x: 1 }] }, { x: 1 })).toBeNull();
    expect(v({ const: 3 }, 3)).toBeNull();
    expect(v({ const: 3 }, 4)).toBe('$: must be 3');
    expect(v({ exclusiveMinimum: 0 }, 0)).toBe('$: must be > 0');
    expect(v({ exclusiveMaximum: 1 }, 1)).toBe('$: must be < 1');
    expect(v({ multipleOf: 0.5 }, 1.5)).toBeNull();
    expect(v({ multipleOf: 0.5 }, 1.2)).toBe('$: must be a multiple of 0.5');
    expect(v({ type: 'string', pattern: '^[a-z]+$' }, 'abc')).toBeNull();
    expect(v({ type: 'string', pattern: '^[a-z]+$' }, 'ab1')).toMatch(/does not match the pattern/);
    expect(v({ type: 'string', maxLength: 2 }, '😀😀')).toBeNull(); // code points, not UTF-16 units
  });

  it('arrays: items, prefixItems, tuples, lengths, uniqueness', () => {
    expect(v({ type: 'array', minItems: 1 }, [])).toBe('$: must have at least 1 items');
    expect(v({ type: 'array', maxItems: 1 }, [1, 2])).toBe('$: must have at most 1 items');
    expect(v({ prefixItems: [{ type: 'string' }], items: { type: 'number' } }, ['a', 1, 2])).toBeNull();
    expect(v({ prefixItems: [{ type: 'string' }], items: { type: 'number' } }, ['a', 'b'])).toBe('$[1]: expected number, got string');
    expect(v({ items: [{ type: 'string' }, { type: 'number' }] }, ['a', 1, 'free'])).toBeNull();
    expect(v({ uniqueItems: true }, [{ a: 1 }, { a: 1 }])).toBe('$: items 0 and 1 are equal');
  });

  it('anyOf, oneOf, allOf, not', () => {
    const any = { anyOf: [{ type: 'string' }, { type: 'number' }] };
    expect(v(any, 1)).toBeNull();
    expect(v(any, true)).toMatch(/^\$: matches none of anyOf/);
    const one = { oneOf: [{ type: 'number' }, { type: 'integer' }] };
    expect(v(one, 1.5)).toBeNull();
    expect(v(one, 1)).toBe('$: must match exactly one of oneOf (matched 2)');
    expect(v({ allOf: [{ type: 'number' }, { minimum: 2 }] }, 1)).toBe('$: must be >= 2');
    expect(v({ not: { type: 'null' } }, null)).toBe("$: must not match the 'not' schema");
  });

  it('local $ref, recursive definitions and #', () => {
    const tree = {
      $defs: { node: { type: 'object', properties: { v: { type: 'number' }, kids: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['v'] } },
      $ref: '#/$defs/node',
    };
    expect(v(tree, { v: 1, kids: [{ v: 2, kids: [{ v: 3 }] }] })).toBeNull();
    expect(v(tree, { v: 1, kids: [{ kids: [] }] })).toBe("$.kids[0]: missing required property 'v'");
    const list = { type: 'object', properties: { next: { anyOf: [{ type: 'null' }, { $ref: '#' }] } } };
    expect(v(list, { next: { next: null } })).toBeNull();
    expect(v({ definitions: { n: { type: 'number' } }, $ref: '#/definitions/n' }, 'x')).toBe('$: expected number, got string');
  });

  it('ignores unknown keywords; refuses unusable schemas with a clear error', () => {
    expect(v({ type: 'string', format: 'email', 'x-custom': 1 }, 'not an email')).toBeNull();
    expect(() => compileJsonSchema('string')).toThrow(JsonSchemaError);
    expect(() => compileJsonSchema({ pattern: '([' })).toThrow(/bad pattern/);
    expect(() => compileJsonSchema({ $ref: 'http://example.com/s.json' })).toThrow(/unsupported or unknown \$ref/);
    expect(() => compileJsonSchema({ $ref: '#/$defs/missing' })).toThrow(/unknown \$ref/);
  });
});
