// A JSON Schema validator for the subset that structured outputs and tool parameters use: `type`
// (one or a list), `properties`, `required`, `additionalProperties` (boolean or schema), `items`,
// `prefixItems`, `enum`, `const`, numeric bounds, string length and `pattern`, array length,
// `uniqueItems`, `anyOf` / `oneOf` / `allOf` / `not`, local `$ref` (`#/$defs/...`, `#/definitions/...`)
// and `nullable`. Unknown keywords are ignored (as JSON Schema says), so a schema using more than this
// validates leniently rather than failing.
//
// A schema is compiled once into a tree of checks; `validate` returns the first problem as
// `path: message`, or null. No code generation, no allocation on success except the path strings of
// nested checks (built only when a problem is found).

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

type Check = (value: unknown, path: string, root: Compiled) => string | null;

interface Compiled {
  /** Filled after construction for the root and for $ref targets (recursive schemas refer to themselves). */
  checks: Check[];
  readonly defs: Map<string, Compiled>;
  readonly rootSchema: Record<string, unknown>;
}

export interface JsonSchemaValidator {
  /** The first problem of `value` against the schema (`$.path: message`), or null when valid. */
  validate(value: unknown): string | null;
}

/** Thrown for a schema that cannot be used (not an object, a bad `pattern`, an unknown `$ref`). */
export class JsonSchemaError extends Error {}

export function compileJsonSchema(schema: unknown): JsonSchemaValidator {
  if (schema === true || schema === undefined) return { validate: () => null };
  if (schema === false) return { validate: () => '$: no value is allowed here' };
  if (!isObject(schema)) throw new JsonSchemaError('a JSON schema must be an object');
  const defs = new Map<string, Compiled>();
  const root: Compiled = { checks: [], defs, rootSchema: schema };
  root.checks = compileNode(schema, root, 0);
  return { validate: (value) => run(root, value, '$') };
}

function run(node: Compiled, value: unknown, path: string): string | null {
  const checks = node.checks;
  for (let i = 0; i < checks.length; i++) {
    const p = checks[i]!(value, path, node);
    if (p !== null) return p;
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => equal(x, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const MAX_DEPTH = 64;

function sub(schema: unknown, root: Compiled, depth: number): Compiled {
  if (depth > MAX_DEPTH) throw new JsonSchemaError('the schema nests too deeply');
  if (schema === true || schema === undefined) return { checks: [], defs: root.defs, rootSchema: root.rootSchema };
  if (schema === false) return { checks: [(_v, p) => `${p}: no value is allowed here`], defs: root.defs, rootSchema: root.rootSchema };
  if (!isObject(schema)) throw new JsonSchemaError('a JSON schema must be an object or a boolean');
  return { checks: compileNode(schema, root, depth + 1), defs: root.defs, rootSchema: root.rootSchema };
}

function resolveRef(ref: string, root: Compiled, depth: number): Compiled {
  const cached = root.defs.get(ref);
  if (cached !== undefined) return cached;
  if (ref === '#') return root; // its checks are filled in by the time anything runs
  const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
  const container = m === null ? undefined : root.rootSchema[m[1]!];
  const target = m === null || !isObject(container) ? undefined : container[decodeURIComponent(m[2]!.replace(/~1/g, '/').replace(/~0/g, '~'))];
  if (target === undefined) throw new JsonSchemaError(`unsupported or unknown $ref '${ref}' (only #/$defs/NAME and #/definitions/NAME)`);
  // Placeholder first: recursive definitions refer to themselves.
  const node: Compiled = { checks: [], defs: root.defs, rootSchema: root.rootSchema };
  root.defs.set(ref, node);
  node.checks = sub(target, root, depth).checks.slice();
  return node;
}

function compileNode(s: Record<string, unknown>, root: Compiled, depth: number): Check[] {
  const checks: Check[] = [];

  if (typeof s.$ref === 'string') {
    const target = resolveRef(s.$ref, root, depth);
    checks.push((v, p) => run(target, v, p));
  }

  // type (and OpenAPI's `nullable: true`)
  const t = s.type;
  if (t !== undefined) {
    const types = (Array.isArray(t) ? t : [t]).filter((x): x is string => typeof x === 'string');
    if (s.nullable === true && !types.includes('null')) types.push('null');
    if (types.length > 0) {
      const label = types.join(' or ');
      checks.push((v, p) => {
        for (let i = 0; i < types.length; i++) if (typeMatches(v, types[i]!)) return null;
        return `${p}: expected ${label}, got ${typeOf(v)}`;
      });
    }
  }

  if (Array.isArray(s.enum)) {
    const options = s.enum;
    checks.push((v, p) => (options.some((o) => equal(o, v)) ? null : `${p}: must be one of ${JSON.stringify(options).slice(0, 200)}`));
  }
  if ('const' in s) {
    const c = s.const;
    checks.push((v, p) => (equal(c, v) ? null : `${p}: must be ${JSON.stringify(c).slice(0, 100)}`));
  }

  // numbers
  const num = (k: string): number | null => (typeof s[k] === 'number' ? (s[k] as number) : null);
  const minimum = num('minimum');
  const maximum = num('maximum');
  const exMin = num('exclusiveMinimum');
  const exMax = num('exclusiveMaximum');
  const multipleOf = num('multipleOf');
  if (minimum !== null || maximum !== null || exMin !== null || exMax !== null || multipleOf !== null) {
    checks.push((v, p) => {
      if (typeof v !== 'number') return null;
      if (minimum !== null && v < minimum) return `${p}: must be >= ${minimum}`;
      if (maximum !== null && v > maximum) return `${p}: must be <= ${maximum}`;
      if (exMin !== null && v <= exMin) return `${p}: must be > ${exMin}`;
      if (exMax !== null && v >= exMax) return `${p}: must be < ${exMax}`;
      if (multipleOf !== null && multipleOf > 0 && Math.abs(v / multipleOf - Math.round(v / multipleOf)) > 1e-9) return `${p}: must be a multiple of ${multipleOf}`;
      return null;
    });
  }

  // strings
  const minLength = num('minLength');
  const maxLength = num('maxLength');
  let pattern: RegExp | null = null;
  if (typeof s.pattern === 'string') {
    try {
      pattern = new RegExp(s.pattern, 'u');
    } catch (err) {
      throw new JsonSchemaError(`bad pattern ${JSON.stringify(s.pattern)}: ${(err as Error).message}`);
    }
  }
  if (minLength !== null || maxLength !== null || pattern !== null) {
    const re = pattern;
    checks.push((v, p) => {
      if (typeof v !== 'string') return null;
      // Length in code points, as JSON Schema counts.
      const len = minLength !== null || maxLength !== null ? [...v].length : 0;
      if (minLength !== null && len < minLength) return `${p}: must be at least ${minLength} characters`;
      if (maxLength !== null && len > maxLength) return `${p}: must be at most ${maxLength} characters`;
      if (re !== null && !re.test(v)) return `${p}: does not match the pattern ${re.source.slice(0, 100)}`;
      return null;
    });
  }

  // objects
  const props = isObject(s.properties) ? s.properties : null;
  const required = Array.isArray(s.required) ? s.required.filter((x): x is string => typeof x === 'string') : [];
  const additional = s.additionalProperties;
  const minProps = num('minProperties');
  const maxProps = num('maxProperties');
  if (props !== null || required.length > 0 || additional !== undefined || minProps !== null || maxProps !== null) {
    const propChecks = new Map<string, Compiled>();
    if (props !== null) for (const k of Object.keys(props)) propChecks.set(k, sub(props[k], root, depth));
    const extra = additional === undefined || additional === true ? null : sub(additional, root, depth);
    checks.push((v, p) => {
      if (!isObject(v)) return null;
      for (let i = 0; i < required.length; i++) {
        if (!Object.prototype.hasOwnProperty.call(v, required[i]!)) return `${p}: missing required property '${required[i]}'`;
      }
      let count = 0;
      for (const k in v) {
        count++;
        const c = propChecks.get(k);
        if (c !== undefined) {
          const r = run(c, v[k], p + '.' + k);
          if (r !== null) return r;
        } else if (extra !== null) {
          if (additional === false) return `${p}: unexpected property '${k.slice(0, 100)}'`;
          const r = run(extra, v[k], p + '.' + k);
          if (r !== null) return r;
        }
      }
      if (minProps !== null && count < minProps) return `${p}: must have at least ${minProps} properties`;
      if (maxProps !== null && count > maxProps) return `${p}: must have at most ${maxProps} properties`;
      return null;
    });
  }

  // arrays
  const prefix = Array.isArray(s.prefixItems) ? s.prefixItems.map((x) => sub(x, root, depth)) : null;
  const items = s.items === undefined ? null : Array.isArray(s.items) ? null : sub(s.items, root, depth);
  const tupleItems = Array.isArray(s.items) ? s.items.map((x) => sub(x, root, depth)) : null; // draft-07 tuples
  const minItems = num('minItems');
  const maxItems = num('maxItems');
  const unique = s.uniqueItems === true;
  if (prefix !== null || items !== null || tupleItems !== null || minItems !== null || maxItems !== null || unique) {
    const head = prefix ?? tupleItems;
    checks.push((v, p) => {
      if (!Array.isArray(v)) return null;
      if (minItems !== null && v.length < minItems) return `${p}: must have at least ${minItems} items`;
      if (maxItems !== null && v.length > maxItems) return `${p}: must have at most ${maxItems} items`;
      for (let i = 0; i < v.length; i++) {
        const c = head !== null && i < head.length ? head[i]! : items;
        if (c === null) continue;
        const r = run(c, v[i], `${p}[${i}]`);
        if (r !== null) return r;
      }
      if (unique) {
        for (let i = 0; i < v.length; i++) for (let j = i + 1; j < v.length; j++) if (equal(v[i], v[j])) return `${p}: items ${i} and ${j} are equal`;
      }
      return null;
    });
  }

  // combinators
  if (Array.isArray(s.allOf)) {
    const parts = s.allOf.map((x) => sub(x, root, depth));
    checks.push((v, p) => {
      for (const c of parts) {
        const r = run(c, v, p);
        if (r !== null) return r;
      }
      return null;
    });
  }
  if (Array.isArray(s.anyOf)) {
    const parts = s.anyOf.map((x) => sub(x, root, depth));
    checks.push((v, p) => {
      let first: string | null = null;
      for (const c of parts) {
        const r = run(c, v, p);
        if (r === null) return null;
        first ??= r;
      }
      return parts.length === 0 ? null : `${p}: matches none of anyOf (${first})`;
    });
  }
  if (Array.isArray(s.oneOf)) {
    const parts = s.oneOf.map((x) => sub(x, root, depth));
    checks.push((v, p) => {
      let matched = 0;
      for (const c of parts) if (run(c, v, p) === null) matched++;
      return matched === 1 ? null : `${p}: must match exactly one of oneOf (matched ${matched})`;
    });
  }
  if (s.not !== undefined) {
    const n = sub(s.not, root, depth);
    checks.push((v, p) => (run(n, v, p) === null ? `${p}: must not match the 'not' schema` : null));
  }
  return checks;
}
