// A small JSON Schema validator for tool-call arguments: the subset tool definitions use (type, enum,
// const, properties, required, additionalProperties, items, min/max for numbers, strings and arrays,
// pattern, anyOf/oneOf/allOf). Schemas from config are checked once by `schemaProblem` and their
// `pattern`s compiled then; a schema that arrives with a request is interpreted as is.
// Ground floor of core/policy: imports nothing of ours.

type Obj = Record<string, unknown>;

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
const KNOWN = new Set([
  'type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern',
  'anyOf', 'oneOf', 'allOf', 'description', 'title', 'default', 'examples', '$schema', '$id', 'format',
  'strict', 'nullable', '$comment', 'deprecated', 'readOnly', 'writeOnly',
]);

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const patterns = new Map<string, RegExp | null>();
function patternOf(p: string): RegExp | null {
  let re = patterns.get(p);
  if (re === undefined) {
    try {
      re = new RegExp(p, 'u');
    } catch {
      re = null;
    }
    if (patterns.size < 1024) patterns.set(p, re);
  }
  return re;
}

/** What is wrong with a schema from config (path inside it, message), or null. */
export function schemaProblem(schema: unknown, path = ''): { path: string; message: string } | null {
  if (typeof schema === 'boolean') return null;
  if (!isObj(schema)) return { path, message: 'must be a JSON schema object' };
  for (const k in schema) {
    if (!KNOWN.has(k)) return { path: path + k, message: `unsupported schema keyword "${k}"` };
  }
  const t = schema.type;
  const ts = Array.isArray(t) ? t : t === undefined ? [] : [t];
  for (const x of ts) if (typeof x !== 'string' || !TYPES.has(x)) return { path: path + 'type', message: `unknown type ${JSON.stringify(x)}` };
  if (schema.properties !== undefined) {
    if (!isObj(schema.properties)) return { path: path + 'properties', message: 'must be an object of schemas' };
    for (const k in schema.properties) {
      const p = schemaProblem(schema.properties[k], `${path}properties.${k}.`);
      if (p !== null) return p;
    }
  }
  if (schema.required !== undefined && (!Array.isArray(schema.required) || schema.required.some((r) => typeof r !== 'string'))) {
    return { path: path + 'required', message: 'must be a list of property names' };
  }
  if (schema.enum !== undefined && !Array.isArray(schema.enum)) return { path: path + 'enum', message: 'must be a list' };
  if (schema.pattern !== undefined) {
    if (typeof schema.pattern !== 'string' || patternOf(schema.pattern) === null) return { path: path + 'pattern', message: 'must be a valid regular expression' };
  }
  for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems']) {
    if (schema[k] !== undefined && typeof schema[k] !== 'number') return { path: path + k, message: 'must be a number' };
  }
  if (schema.items !== undefined) {
    const p = schemaProblem(schema.items, path + 'items.');
    if (p !== null) return p;
  }
  if (schema.additionalProperties !== undefined && typeof schema.additionalProperties !== 'boolean') {
    const p = schemaProblem(schema.additionalProperties, path + 'additionalProperties.');
    if (p !== null) return p;
  }
  for (const k of ['anyOf', 'oneOf', 'allOf']) {
    const v = schema[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length === 0) return { path: path + k, message: 'must be a non-empty list of schemas' };
    for (let i = 0; i < v.length; i++) {
      const p = schemaProblem(v[i], `${path}${k}.${i}.`);
      if (p !== null) return p;
    }
  }
  return null;
}

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'object':
      return isObj(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    default:
      return true;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Where `value` breaks `schema` (a JSON path like `$.to`), or null when it conforms. The message names
 * the path and the rule, never the value (arguments may hold what a guard must not repeat).
 */
export function validateJson(schema: unknown, value: unknown, path = '$', depth = 0): string | null {
  if (schema === true || schema === undefined) return null;
  if (schema === false) return `${path}: not allowed`;
  if (!isObj(schema)) return null;
  if (depth > 32) return `${path}: nested too deeply`;
  const t = schema.type;
  if (t !== undefined) {
    const ok = Array.isArray(t) ? t.some((x) => typeOk(String(x), value)) || (schema.nullable === true && value === null) : typeOk(String(t), value) || (schema.nullable === true && value === null);
    if (!ok) return `${path}: must be ${Array.isArray(t) ? t.join(' or ') : String(t)}`;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => deepEqual(e, value))) return `${path}: must be one of the allowed values`;
  if ('const' in schema && !deepEqual(schema.const, value)) return `${path}: must be the constant value`;
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) return `${path}: must be >= ${schema.minimum}`;
    if (typeof schema.maximum === 'number' && value > schema.maximum) return `${path}: must be <= ${schema.maximum}`;
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) return `${path}: must be > ${schema.exclusiveMinimum}`;
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) return `${path}: must be < ${schema.exclusiveMaximum}`;
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) return `${path}: shorter than ${schema.minLength}`;
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) return `${path}: longer than ${schema.maxLength}`;
    if (typeof schema.pattern === 'string') {
      const re = patternOf(schema.pattern);
      if (re !== null && !re.test(value)) return `${path}: does not match the required pattern`;
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return `${path}: fewer than ${schema.minItems} items`;
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return `${path}: more than ${schema.maxItems} items`;
    if (schema.items !== undefined) {
      for (let i = 0; i < value.length; i++) {
        const p = validateJson(schema.items, value[i], `${path}[${i}]`, depth + 1);
        if (p !== null) return p;
      }
    }
  }
  if (isObj(value)) {
    const props = isObj(schema.properties) ? schema.properties : null;
    if (Array.isArray(schema.required)) {
      for (const r of schema.required) if (typeof r === 'string' && !(r in value)) return `${path}.${r}: required`;
    }
    for (const k in value) {
      const ps = props !== null ? props[k] : undefined;
      if (ps !== undefined) {
        const p = validateJson(ps, value[k], `${path}.${k}`, depth + 1);
        if (p !== null) return p;
      } else if (schema.additionalProperties === false) {
        return `${path}: unexpected property`;
      } else if (isObj(schema.additionalProperties)) {
        const p = validateJson(schema.additionalProperties, value[k], `${path}.*`, depth + 1);
        if (p !== null) return p;
      }
    }
  }
  if (Array.isArray(schema.allOf)) {
    for (const s of schema.allOf) {
      const p = validateJson(s, value, path, depth + 1);
      if (p !== null) return p;
    }
  }
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => validateJson(s, value, path, depth + 1) === null)) return `${path}: matches none of anyOf`;
  if (Array.isArray(schema.oneOf) && schema.oneOf.filter((s) => validateJson(s, value, path, depth + 1) === null).length !== 1) return `${path}: must match exactly one of oneOf`;
  return null;
}
