// YAML text → validated Config, or every problem found as `path.to.field: message`.
// Three passes, all reported together: YAML syntax, the zod schema (shapes and types), then the
// cross-references between sections (a route's pool exists, a fallback names an alias, ...). The
// cross-reference pass reads the raw data defensively, so it runs even when the schema pass failed
// elsewhere, and skips a value whose type the schema pass already reports.

import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import * as z from 'zod';
import { ConfigSchema, type Config } from './schema.js';
import { policyProblems } from '../policy/policy.js';
import { compileTemplate, readTemplateFile, type TemplateParts } from '../prompt/templates.js';

export type ParseConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

type Path = ReadonlyArray<string | number>;

interface Problem {
  readonly path: Path;
  readonly message: string;
  /** 1-based line in the source text, when known. */
  line: number;
}

/** `routes.0.route_policy.lane`; the root is `(root)`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  return path.map((p) => String(p)).join('.');
}

// ---- public entry points ---------------------------------------------------------------------------

/**
 * Parse and validate YAML config text. `sourceName` names the text in syntax-error messages; `baseDir`
 * is where relative prompt template files are found (default: the current directory).
 */
export function parseConfigText(text: string, sourceName = 'config', baseDir?: string): ParseConfigResult {
  const lineCounter = new LineCounter();
  // merge: `<<: *defaults` is handy for route templates; uniqueKeys: a repeated key is an error, not a silent override.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      const msg = e.message.split('\n')[0]!.trim();
      return `${sourceName}: YAML syntax error: ${msg} (line ${line}, column ${col})`;
    });
    return { ok: false, problems };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, problems: [`${sourceName}: ${(err as Error).message}`] };
  }
  return validate(data, (path) => lineOf(doc, lineCounter, path), baseDir);
}

/** Validate an already-parsed config object (e.g. built in a test). */
export function validateConfig(data: unknown, baseDir?: string): ParseConfigResult {
  return validate(data, () => 0, baseDir);
}

/** Read and validate a config file. A read failure is reported as a problem, not thrown. */
export async function loadConfigFile(path: string): Promise<ParseConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, problems: [`${path}: cannot read file: ${(err as Error).message}`] };
  }
  return relativeToFile(parseConfigText(text, path, dirname(path)), path);
}

/** Synchronous `loadConfigFile`, for boot code that cannot await. */
export function loadConfigFileSync(path: string): ParseConfigResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, problems: [`${path}: cannot read file: ${(err as Error).message}`] };
  }
  return relativeToFile(parseConfigText(text, path, dirname(path)), path);
}

/** Paths a config names (the price catalog) are relative to the config file; a missing catalog is a problem. */
function relativeToFile(r: ParseConfigResult, configPath: string): ParseConfigResult {
  if (!r.ok) return r;
  const p = r.config.pricing;
  if (p?.catalog === undefined) return r;
  const catalog = isAbsolute(p.catalog) ? p.catalog : join(dirname(configPath), p.catalog);
  if (!existsSync(catalog)) return { ok: false, problems: [`pricing.catalog: no such file ${catalog}`] };
  p.catalog = catalog;
  return r;
}

// ---- the passes ------------------------------------------------------------------------------------

function validate(data: unknown, locate: (path: Path) => number, baseDir?: string): ParseConfigResult {
  const problems: Problem[] = [];
  if (!isObj(data)) {
    const what = data === null || data === undefined ? 'empty' : `a ${describe(data)}`;
    return { ok: false, problems: [`(root): config must be a YAML mapping with tenants, keys, providers, pools, routes, ...; got ${what}`] };
  }
  const parsed = ConfigSchema.safeParse(data, { error: errorMap });
  if (!parsed.success) problems.push(...zodProblems(parsed.error));
  crossCheck(data, problems);
  if (parsed.success) loadPromptTemplates(parsed.data, baseDir ?? process.cwd(), problems);
  if (problems.length === 0 && parsed.success) return { ok: true, config: parsed.data };

  for (const p of problems) p.line = locate(p.path);
  // Stable sort by source line so the list reads top to bottom; problems without a line keep their order.
  const ordered = problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line || Infinity) - (b.p.line || Infinity) || a.i - b.i)
    .map(({ p }) => `${formatPath(p.path)}: ${p.message}${p.line > 0 ? ` (line ${p.line})` : ''}`);
  return { ok: false, problems: dedupe(ordered) };
}

/** Zod's default messages, except a missing field says so plainly. */
const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type' && iss.input === undefined) return 'required field is missing';
  if (iss.code === 'invalid_type' && iss.expected === 'int' && typeof iss.input === 'number') return 'must be an integer';
  return undefined;
};

function zodProblems(err: z.ZodError): Problem[] {
  const out: Problem[] = [];
  for (const iss of err.issues) {
    const path = iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (iss.code === 'unrecognized_keys') {
      const allowed = objectKeysAt(path);
      for (const key of iss.keys) {
        const hint = allowed ? suggestion(key, allowed, 'allowed') : '';
        out.push({ path: [...path, key], message: `unknown field${hint}`, line: 0 });
      }
      continue;
    }
    out.push({ path, message: iss.message, line: 0 });
  }
  return out;
}

/** The field names the schema allows at `path` (an object), for "did you mean" hints. */
function objectKeysAt(path: Path): string[] | null {
  let s: z.core.$ZodType | undefined = ConfigSchema;
  for (const seg of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.core.$ZodType>)[String(seg)];
    else if (s instanceof z.ZodArray) s = s.element as z.core.$ZodType;
    else return null;
    if (s === undefined) return null;
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : null;
}

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) {
      s = s.unwrap() as z.core.$ZodType;
    } else return s;
  }
}

// ---- prompt templates ------------------------------------------------------------------------------

/**
 * Read each prompt version's template file (relative to `baseDir`) into the version's fields, then
 * compile every version once, so a bad template is a config problem at load time, not a request error.
 */
function loadPromptTemplates(config: Config, baseDir: string, problems: Problem[]): void {
  config.prompts.forEach((prompt, i) => {
    const seen = new Set<number>();
    (prompt.versions ?? []).forEach((v, j) => {
      const at: Path = ['prompts', i, 'versions', j];
      if (seen.has(v.version)) problems.push({ path: [...at, 'version'], message: `duplicate version ${v.version} of prompt "${prompt.name}"`, line: 0 });
      seen.add(v.version);
      if (v.file !== undefined) {
        if (v.system !== undefined || v.tools !== undefined || v.few_shot !== undefined) {
          problems.push({ path: [...at, 'file'], message: 'give the template in a file or inline (system, tools, few_shot), not both', line: 0 });
          return;
        }
        const r = readTemplateFile(resolvePath(baseDir, v.file));
        if (!r.ok) {
          problems.push({ path: [...at, 'file'], message: r.message, line: 0 });
          return;
        }
        v.system = r.parts.system;
        v.tools = r.parts.tools as typeof v.tools;
        v.few_shot = r.parts.few_shot as typeof v.few_shot;
      }
      try {
        compileTemplate(prompt.name, v.version, v as TemplateParts);
      } catch (err) {
        problems.push({ path: [...at, v.file !== undefined ? 'file' : 'version'], message: `template ${prompt.name}@${v.version}: ${(err as Error).message}`, line: 0 });
      }
    });
  });
}

// ---- cross-references --------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function describe(v: unknown): string {
  if (Array.isArray(v)) return 'list';
  if (v === null) return 'null';
  return typeof v;
}

/** Index `section[i][field]` by name, reporting duplicates at the later occurrence. */
function indexBy(
  problems: Problem[],
  section: Path,
  items: unknown[],
  field: string,
  what: string,
  normalize: (s: string) => string = (s) => s,
): Map<string, number> {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    if (!isObj(item)) return;
    const raw = str(item[field]);
    if (raw === undefined) return;
    const v = normalize(raw);
    const first = seen.get(v);
    if (first !== undefined) {
      problems.push({ path: [...section, i, field], message: `duplicate ${what} "${raw}" (first at ${formatPath([...section, first])})`, line: 0 });
    } else seen.set(v, i);
  });
  return seen;
}

function crossCheck(data: Obj, problems: Problem[]): void {
  const add = (path: Path, message: string): void => {
    problems.push({ path, message, line: 0 });
  };
  const tenants = list(data.tenants);
  const keys = list(data.keys);
  const providers = list(data.providers);
  const pools = list(data.pools);
  const routes = list(data.routes);
  const prompts = list(data.prompts);
  const policies = list(data.policies);

  const tenantIds = indexBy(problems, ['tenants'], tenants, 'id', 'tenant id');
  indexBy(problems, ['keys'], keys, 'id', 'key id');
  indexBy(problems, ['keys'], keys, 'key_sha256', 'key_sha256', (s) => s.toLowerCase());
  const providerNames = indexBy(problems, ['providers'], providers, 'name', 'provider name');
  const poolIds = indexBy(problems, ['pools'], pools, 'id', 'pool id');
  const aliases = indexBy(problems, ['routes'], routes, 'alias', 'alias');
  indexBy(problems, ['scenarios'], list(data.scenarios), 'id', 'scenario id');
  const promptNames = indexBy(problems, ['prompts'], prompts, 'name', 'prompt name');
  const policyNames = indexBy(problems, ['policies'], policies, 'name', 'policy name');
  // policies: what the schema cannot say (a regex that does not compile, a tool schema, terms for blocked_terms).
  policies.forEach((p, i) => {
    for (const pp of policyProblems(p)) add(['policies', i, ...pp.path], pp.message);
  });

  // providers: base_url or simulator; model names unique per provider; simulator output range.
  const modelsByProvider = new Map<string, Set<string>>();
  providers.forEach((p, i) => {
    if (!isObj(p)) return;
    if (p.base_url === undefined && p.simulator === undefined) {
      add(['providers', i, 'base_url'], 'required unless simulator is given');
    }
    if (p.api === 'anthropic' && (p.kind === 'batch' || p.kind === 'vllm')) {
      add(['providers', i, 'api'], `kind ${String(p.kind)} speaks the OpenAI API; api anthropic needs kind anthropic or openai`);
    }
    const models = new Set<string>();
    const seen = indexBy(problems, ['providers', i, 'models'], list(p.models), 'name', 'model name');
    for (const m of seen.keys()) models.add(m);
    const name = str(p.name);
    if (name !== undefined && !modelsByProvider.has(name)) modelsByProvider.set(name, models);
    const sim = p.simulator;
    if (isObj(sim) && isObj(sim.output_tokens)) {
      const min = num(sim.output_tokens.min);
      const max = num(sim.output_tokens.max);
      if (min !== undefined && max !== undefined && min > max) {
        add(['providers', i, 'simulator', 'output_tokens', 'max'], `must be >= min (${min})`);
      }
    }
  });

  // pools: members name existing providers and models those providers list.
  const poolProviders = new Map<string, Set<string>>();
  const poolKinds = new Map<string, string>();
  pools.forEach((pool, i) => {
    if (!isObj(pool)) return;
    const kindOf = str(pool.kind);
    const idOf = str(pool.id);
    if (kindOf !== undefined && idOf !== undefined && !poolKinds.has(idOf)) poolKinds.set(idOf, kindOf);
    const provs = new Set<string>();
    const pairs = new Map<string, number>();
    list(pool.members).forEach((m, j) => {
      if (!isObj(m)) return;
      const prov = str(m.provider);
      const model = str(m.model);
      if (prov === undefined) return;
      if (providerNames.has(prov)) provs.add(prov); // unknown providers are reported below, not counted
      const models = modelsByProvider.get(prov);
      if (!providerNames.has(prov)) {
        add(['pools', i, 'members', j, 'provider'], `unknown provider "${prov}"${suggestion(prov, [...providerNames.keys()], 'providers')}`);
      } else if (model !== undefined && models !== undefined && !models.has(model)) {
        add(['pools', i, 'members', j, 'model'], `model "${model}" is not listed in provider "${prov}"${suggestion(model, [...models], 'its models')}`);
      }
      if (model !== undefined) {
        const pair = `${prov}\u0000${model}`;
        const first = pairs.get(pair);
        if (first !== undefined) add(['pools', i, 'members', j], `duplicate member ${prov}/${model} (first at pools.${i}.members.${first})`);
        else pairs.set(pair, j);
      }
    });
    const id = str(pool.id);
    if (id !== undefined && !poolProviders.has(id)) poolProviders.set(id, provs);
  });

  // routes: every reference resolves.
  const aliasList = [...aliases.keys()];
  routes.forEach((r, i) => {
    if (!isObj(r)) return;
    const at = (...rest: Array<string | number>): Path => ['routes', i, ...rest];
    const alias = str(r.alias);

    const poolId = str(r.pool_id);
    if (poolId !== undefined && !poolIds.has(poolId)) {
      add(at('pool_id'), `unknown pool "${poolId}"${suggestion(poolId, [...poolIds.keys()], 'pools')}`);
    }
    // Batch pools answer with jobs, not completions: only batch-latency routes may use them, and
    // batch-latency routes must.
    const poolKind = poolId !== undefined ? poolKinds.get(poolId) : undefined;
    const latencyClass = str(r.latency_class);
    if (poolKind !== undefined && latencyClass !== undefined && (poolKind === 'batch') !== (latencyClass === 'batch')) {
      add(at('latency_class'), poolKind === 'batch' ? `must be batch: pool "${poolId}" is a batch pool` : `batch needs a batch pool (pool "${poolId}" is ${poolKind})`);
    }

    const rp = r.route_policy;
    if (isObj(rp)) {
      list(rp.fallback).forEach((f, j) => {
        const target = str(f);
        if (target === undefined) return;
        if (target === alias) add(at('route_policy', 'fallback', j), `a route cannot fall back to itself ("${target}")`);
        else if (!aliases.has(target)) add(at('route_policy', 'fallback', j), `unknown alias "${target}"${suggestion(target, aliasList, 'aliases')}`);
      });
      if (isObj(rp.slo)) {
        const ttft = num(rp.slo.ttft_ms);
        const latency = num(rp.slo.latency_ms);
        if (ttft !== undefined && latency !== undefined && ttft > latency) {
          add(at('route_policy', 'slo', 'ttft_ms'), `must not exceed latency_ms (${latency})`);
        }
      }
    }

    const canaryTarget = str(r.canary_target);
    if (canaryTarget !== undefined) {
      if (canaryTarget === alias) add(at('canary_target'), `a route cannot be its own canary ("${canaryTarget}")`);
      else if (!aliases.has(canaryTarget)) add(at('canary_target'), `unknown alias "${canaryTarget}"${suggestion(canaryTarget, aliasList, 'aliases')}`);
    }
    const canaryShare = num(r.canary_share);
    if (canaryShare !== undefined && canaryShare > 0 && canaryShare <= 1 && r.canary_target === null) {
      add(at('canary_target'), `required when canary_share > 0 (canary_share is ${canaryShare})`);
    }

    const allowed = list(r.allowed_providers);
    let anyAllowedKnown = false;
    allowed.forEach((p, j) => {
      const prov = str(p);
      if (prov === undefined) return;
      if (!providerNames.has(prov)) add(at('allowed_providers', j), `unknown provider "${prov}"${suggestion(prov, [...providerNames.keys()], 'providers')}`);
      else anyAllowedKnown = true;
    });
    // A route whose pool has no member from an allowed provider could never dispatch.
    const members = poolId !== undefined ? poolProviders.get(poolId) : undefined;
    if (anyAllowedKnown && members !== undefined && members.size > 0) {
      const ok = allowed.some((p) => typeof p === 'string' && members.has(p));
      if (!ok) add(at('allowed_providers'), `no member of pool "${poolId}" is from an allowed provider (pool providers: ${[...members].join(', ')})`);
    }

    const policy = str(r.safety_policy);
    if (policy !== undefined && !policyNames.has(policy)) {
      add(at('safety_policy'), `unknown policy "${policy}"${suggestion(policy, [...policyNames.keys()], 'policies')}`);
    }

    if (isObj(r.prompt)) {
      const template = str(r.prompt.template);
      if (template !== undefined) {
        const pi = promptNames.get(template);
        if (pi === undefined) {
          add(at('prompt', 'template'), `unknown prompt "${template}"${suggestion(template, [...promptNames.keys()], 'prompts')}`);
        } else {
          const version = num(r.prompt.version);
          const prompt = prompts[pi];
          if (version !== undefined && isObj(prompt) && Array.isArray(prompt.versions)) {
            const versions = prompt.versions.map((v) => (isObj(v) ? num(v.version) : undefined)).filter((v) => v !== undefined);
            if (!versions.includes(version)) {
              add(at('prompt', 'version'), `prompt "${template}" has no version ${version} (versions: ${versions.join(', ') || 'none'})`);
            }
          }
        }
      }
    }

    list(r.tenants).forEach((t, j) => {
      const id = str(t);
      if (id !== undefined && !tenantIds.has(id)) add(at('tenants', j), `unknown tenant "${id}"${suggestion(id, [...tenantIds.keys()], 'tenants')}`);
    });
  });

  // keys: tenant exists; alias patterns reach at least one route.
  keys.forEach((k, i) => {
    if (!isObj(k)) return;
    const tenant = str(k.tenant);
    if (tenant !== undefined && !tenantIds.has(tenant)) {
      add(['keys', i, 'tenant'], `unknown tenant "${tenant}"${suggestion(tenant, [...tenantIds.keys()], 'tenants')}`);
    }
    list(k.aliases).forEach((a, j) => {
      const pattern = str(a);
      if (pattern === undefined || !/^[A-Za-z0-9._:/-]+(\.\*)?$/.test(pattern)) return;
      if (!aliasList.some((route) => patternsOverlap(pattern, route))) {
        add(['keys', i, 'aliases', j], `"${pattern}" matches no configured route alias`);
      }
    });
  });
}

/** Whether some model name is matched by both alias patterns (each exact or `base.*`). */
export function patternsOverlap(a: string, b: string): boolean {
  const ap = a.endsWith('.*');
  const bp = b.endsWith('.*');
  const ak = ap ? a.slice(0, -1) : a; // `crm.*` → `crm.`
  const bk = bp ? b.slice(0, -1) : b;
  if (!ap && !bp) return a === b;
  if (ap && bp) return ak.startsWith(bk) || bk.startsWith(ak);
  // one exact name e, one prefix p: e must extend p by at least one character.
  const [e, p] = ap ? [bk, ak] : [ak, bk];
  return e.length > p.length && e.startsWith(p);
}

// ---- hints ---------------------------------------------------------------------------------------------

/** ` (did you mean "x"?)` for a close candidate, else ` (label: a, b, c)` for a short list, else ''. */
function suggestion(value: string, candidates: readonly string[], label: string): string {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(value.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(value.length / 3)));
  if (best !== null && bestD <= limit) return ` (did you mean "${best}"?)`;
  if (candidates.length === 0) return ` (no ${label} configured)`;
  if (candidates.length <= 12) return ` (${label}: ${candidates.join(', ')})`;
  return '';
}

function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

// ---- source lines ----------------------------------------------------------------------------------------

/** 1-based line of the node at `path`, or of its nearest existing ancestor; 0 when unknown. */
function lineOf(doc: Document, lineCounter: LineCounter, path: Path): number {
  for (let n = path.length; n >= 1; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && Array.isArray(node.range)) return lineCounter.linePos(node.range[0]).line;
  }
  return 0;
}

function dedupe(items: string[]): string[] {
  return [...new Set(items)];
}
