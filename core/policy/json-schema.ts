// Tool-argument schemas for the policy: validated by the gateway's one JSON Schema validator
// (core/schema/json-schema.ts), with two policy-specific additions: a stricter config check (an unknown
// keyword is a typo to report, not something to ignore) and a scrubber for problem messages, so an
// error never repeats text the model put in the arguments (an unexpected property's name, a key under
// `additionalProperties`): only names the schema itself declares survive.

import { compileJsonSchema, JsonSchemaError, type JsonSchemaValidator } from '../schema/json-schema.js';

type Obj = Record<string, unknown>;

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
const KNOWN = new Set([
  'type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'prefixItems', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems', 'uniqueItems',
  'minProperties', 'maxProperties', 'pattern', 'anyOf', 'oneOf', 'allOf', 'not', '$ref', '$defs', 'definitions',
  'description', 'title', 'default', 'examples', '$schema', '$id', 'format', 'strict', 'nullable', '$comment',
  'deprecated', 'readOnly', 'writeOnly',
]);
const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SUBSCHEMA_MAPS = ['properties', '$defs', 'definitions'];
const SUBSCHEMAS = ['items', 'not', 'additionalProperties'];

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A tool's argument schema, compiled once, with the names it declares (for scrubbing messages). */
export class ToolSchema {
  constructor(
    readonly validator: JsonSchemaValidator,
    readonly names: ReadonlySet<string>,
  ) {}

  /** Where `value` breaks the schema, scrubbed (see scrubProblem); null when it conforms. */
  problem(value: unknown): string | null {
    const p = this.validator.validate(value);
    return p === null ? null : scrubProblem(p, this.names);
  }
}

/** Compile a schema (throws JsonSchemaError for one that cannot be used). */
export function toolSchema(schema: unknown): ToolSchema {
  return new ToolSchema(compileJsonSchema(schema), schemaNames(schema));
}

/** Every property name, required name and definition name a schema declares, at any depth. */
export function schemaNames(schema: unknown, out: Set<string> = new Set(), depth = 0): Set<string> {
  if (!isObj(schema) || depth > 64) return out;
  for (const k of SUBSCHEMA_MAPS) {
    const m = schema[k];
    if (!isObj(m)) continue;
    for (const name in m) {
      out.add(name);
      schemaNames(m[name], out, depth + 1);
    }
  }
  if (Array.isArray(schema.required)) for (const r of schema.required) if (typeof r === 'string') out.add(r);
  for (const k of SUBSCHEMA_LISTS) {
    const l = schema[k];
    if (Array.isArray(l)) for (const s of l) schemaNames(s, out, depth + 1);
  }
  for (const k of SUBSCHEMAS) schemaNames(schema[k], out, depth + 1);
  return out;
}

/**
 * A validator's problem (`$.a.b[0]: message 'name' ...`) with every path segment and quoted name the
 * schema does not declare replaced by `*`: those came from the value.
 */
export function scrubProblem(problem: string, names: ReadonlySet<string>): string {
  const colon = problem.indexOf(': ');
  const path = colon < 0 ? problem : problem.slice(0, colon);
  let rest = colon < 0 ? '' : problem.slice(colon);
  const cleanPath = path.replace(/\.([^.[\]]+)/g, (_m, seg: string) => (names.has(seg) ? '.' + seg : '.*'));
  rest = rest.replace(/'([^']*)'/g, (m, name: string) => (names.has(name) ? m : "'*'"));
  return cleanPath + rest;
}

/** What is wrong with a schema from config (path inside it, message), or null. */
export function schemaProblem(schema: unknown): { path: string; message: string } | null {
  const shape = shapeProblem(schema, '');
  if (shape !== null) return shape;
  try {
    compileJsonSchema(schema);
  } catch (err) {
    if (err instanceof JsonSchemaError) return { path: '', message: err.message };
    throw err;
  }
  return null;
}

function shapeProblem(schema: unknown, path: string): { path: string; message: string } | null {
  if (typeof schema === 'boolean') return null;
  if (!isObj(schema)) return { path, message: 'must be a JSON schema object' };
  for (const k in schema) {
    if (!KNOWN.has(k)) return { path: path + k, message: `unsupported schema keyword "${k}"` };
  }
  const t = schema.type;
  const ts = Array.isArray(t) ? t : t === undefined ? [] : [t];
  for (const x of ts) if (typeof x !== 'string' || !TYPES.has(x)) return { path: path + 'type', message: `unknown type ${JSON.stringify(x)}` };
  for (const k of SUBSCHEMA_MAPS) {
    const m = schema[k];
    if (m === undefined) continue;
    if (!isObj(m)) return { path: path + k, message: 'must be an object of schemas' };
    for (const name in m) {
      const p = shapeProblem(m[name], `${path}${k}.${name}.`);
      if (p !== null) return p;
    }
  }
  if (schema.required !== undefined && (!Array.isArray(schema.required) || schema.required.some((r) => typeof r !== 'string'))) {
    return { path: path + 'required', message: 'must be a list of property names' };
  }
  if (schema.enum !== undefined && !Array.isArray(schema.enum)) return { path: path + 'enum', message: 'must be a list' };
  if (schema.pattern !== undefined) {
    let ok = typeof schema.pattern === 'string';
    if (ok) {
      try {
        new RegExp(schema.pattern as string, 'u');
      } catch {
        ok = false;
      }
    }
    if (!ok) return { path: path + 'pattern', message: 'must be a valid regular expression' };
  }
  for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']) {
    if (schema[k] !== undefined && typeof schema[k] !== 'number') return { path: path + k, message: 'must be a number' };
  }
  for (const k of SUBSCHEMAS) {
    const v = schema[k];
    if (v === undefined || typeof v === 'boolean') continue;
    const p = shapeProblem(v, `${path}${k}.`);
    if (p !== null) return p;
  }
  for (const k of SUBSCHEMA_LISTS) {
    const v = schema[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length === 0) return { path: path + k, message: 'must be a non-empty list of schemas' };
    for (let i = 0; i < v.length; i++) {
      const p = shapeProblem(v[i], `${path}${k}.${i}.`);
      if (p !== null) return p;
    }
  }
  return null;
}
