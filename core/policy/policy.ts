// Named safety policies: compiled once from config (detectors, guard sets, tool rules), bound to the routes
// that name them, and run per request by a PolicyRun that records what fired. Format-neutral: it sees
// texts and tool calls (name, JSON arguments); chat.ts adapts the OpenAI chat shapes, an Anthropic
// ingress adapts its own. Nothing here ever keeps or repeats matched text: findings are
// `policy:stage:detector:action` and error messages name the policy and the guard.
// config/ calls compilePolicy and policyProblems; this module never imports config/.

import {
  DETECTOR_KINDS,
  blockedTermsDetector,
  builtInDetector,
  patternProblem,
  regexDetector,
  type Detector,
  type DetectorKind,
} from './detectors.js';
import { ACTION_BLOCK, ACTION_FLAG, ACTION_NAMES, ACTION_REDACT, GuardSet, scanText, StreamScanner, type ActionCode, type FindingSink, type Guard } from './scanner.js';
import { schemaProblem, toolSchema, type ToolSchema } from './json-schema.js';

// ---- what config states (the shape of the `policies:` entries after validation) ----------------------

export interface GuardSpec {
  readonly detector: string;
  readonly action: string;
  readonly terms?: readonly string[] | undefined;
  readonly pattern?: string | undefined;
  readonly name?: string | undefined;
  readonly max_length?: number | undefined;
}

export interface ToolsSpec {
  readonly allowed?: readonly string[] | undefined;
  readonly side_effecting?: readonly string[] | undefined;
  readonly max_calls?: number | undefined;
  readonly schemas?: Readonly<Record<string, unknown>> | undefined;
}

export interface PolicySpec {
  readonly name: string;
  readonly input?: readonly GuardSpec[] | undefined;
  readonly output?: readonly GuardSpec[] | undefined;
  readonly max_input_tokens?: number | undefined;
  readonly tools?: ToolsSpec | undefined;
}

/** Longest match a custom `regex` guard may have when it states no `max_length` (what a stream holds back). */
export const DEFAULT_REGEX_MAX_LENGTH = 64;
const LABEL_RE = /^[a-z0-9_][a-z0-9_.-]{0,62}$/;

// ---- compiled ----------------------------------------------------------------------------------------

export class ToolPolicy {
  constructor(
    /** Tools the model may call without approval; null = any. */
    readonly allowed: ReadonlySet<string> | null,
    /** Tools that act on the world: callable only when the request approves them. */
    readonly sideEffecting: ReadonlySet<string>,
    /** Most tool calls in one answer; -1 = no limit. */
    readonly maxCalls: number,
    /** Argument schemas from config, compiled, by tool name (else the request's own tool definition applies). */
    readonly schemas: ReadonlyMap<string, ToolSchema>,
  ) {}
}

export class CompiledPolicy {
  constructor(
    readonly name: string,
    readonly input: GuardSet | null,
    readonly output: GuardSet | null,
    /** 0 = no limit. */
    readonly maxInputTokens: number,
    readonly tools: ToolPolicy | null,
  ) {}
}

/** A policy as one route uses it: the metric labels are built here once, per action. */
export class RouteSafety {
  /** `[alias, policy, action]` for block, redact, flag (index = ActionCode). */
  readonly labels: readonly (readonly string[])[];
  constructor(
    readonly policy: CompiledPolicy,
    readonly alias: string,
  ) {
    this.labels = Object.freeze(ACTION_NAMES.map((a) => Object.freeze([alias, policy.name, a])));
  }
}

function compileGuards(specs: readonly GuardSpec[] | undefined): GuardSet | null {
  if (specs === undefined || specs.length === 0) return null;
  const guards: Guard[] = specs.map((g) => {
    const kind = g.detector as DetectorKind;
    let d: Detector | null;
    if (kind === 'blocked_terms') d = blockedTermsDetector(g.terms ?? []);
    else if (kind === 'regex') d = regexDetector(g.name ?? 'regex', g.pattern ?? '', g.max_length ?? DEFAULT_REGEX_MAX_LENGTH);
    else d = builtInDetector(kind);
    if (d === null) throw new Error(`unknown detector "${g.detector}"`);
    const action = ACTION_NAMES.indexOf(g.action as (typeof ACTION_NAMES)[number]);
    if (action < 0) throw new Error(`unknown action "${g.action}"`);
    return Object.freeze({ detector: d, action: action as ActionCode, replacement: `[REDACTED:${d.label}]` });
  });
  return new GuardSet(guards);
}

/** Compile one validated policy (config/compile.ts). Throws on what policyProblems reports. */
export function compilePolicy(spec: PolicySpec): CompiledPolicy {
  try {
    const t = spec.tools;
    const tools =
      t === undefined
        ? null
        : new ToolPolicy(
            t.allowed === undefined ? null : new Set(t.allowed),
            new Set(t.side_effecting ?? []),
            t.max_calls ?? -1,
            new Map(Object.entries(t.schemas ?? {}).map(([name, schema]) => [name, toolSchema(schema)])),
          );
    return new CompiledPolicy(spec.name, compileGuards(spec.input), compileGuards(spec.output), spec.max_input_tokens ?? 0, tools);
  } catch (err) {
    throw new Error(`policy "${spec.name}": ${(err as Error).message}`);
  }
}

// ---- config check (raw data, every problem with its path, for `switchyard check`) --------------------

export interface PolicyProblem {
  readonly path: ReadonlyArray<string | number>;
  readonly message: string;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** What is wrong inside one raw `policies:` entry beyond its shape (paths relative to the entry). */
export function policyProblems(raw: unknown): PolicyProblem[] {
  const out: PolicyProblem[] = [];
  if (!isObj(raw)) return out;
  for (const stage of ['input', 'output'] as const) {
    const list = raw[stage];
    if (!Array.isArray(list)) continue;
    list.forEach((g, i) => {
      if (!isObj(g)) return;
      const kind = g.detector;
      if (typeof kind !== 'string' || !(DETECTOR_KINDS as readonly string[]).includes(kind)) return; // the schema reports it
      if (kind === 'blocked_terms') {
        if (!Array.isArray(g.terms) || g.terms.length === 0) out.push({ path: [stage, i, 'terms'], message: 'blocked_terms needs a non-empty list of terms' });
      } else if (g.terms !== undefined) out.push({ path: [stage, i, 'terms'], message: `only blocked_terms takes terms (detector is ${kind})` });
      if (kind === 'regex') {
        if (typeof g.pattern !== 'string') out.push({ path: [stage, i, 'pattern'], message: 'a regex guard needs a pattern' });
        else {
          const p = patternProblem(g.pattern);
          if (p !== null) out.push({ path: [stage, i, 'pattern'], message: p });
        }
        if (g.name !== undefined && (typeof g.name !== 'string' || !LABEL_RE.test(g.name))) {
          out.push({ path: [stage, i, 'name'], message: 'must be lower case [a-z0-9_.-], at most 63 characters (it is a trace label)' });
        }
      } else {
        if (g.pattern !== undefined) out.push({ path: [stage, i, 'pattern'], message: `only a regex guard takes a pattern (detector is ${kind})` });
        if (g.name !== undefined) out.push({ path: [stage, i, 'name'], message: `only a regex guard takes a name (detector is ${kind})` });
        if (g.max_length !== undefined) out.push({ path: [stage, i, 'max_length'], message: `only a regex guard takes max_length (detector is ${kind})` });
      }
    });
  }
  const t = raw.tools;
  if (isObj(t)) {
    const allowed = Array.isArray(t.allowed) ? t.allowed : null;
    const side = Array.isArray(t.side_effecting) ? t.side_effecting : [];
    if (isObj(t.schemas)) {
      for (const name in t.schemas) {
        const p = schemaProblem(t.schemas[name]);
        if (p !== null) out.push({ path: ['tools', 'schemas', name, ...(p.path === '' ? [] : p.path.split('.').filter((x) => x !== ''))], message: p.message });
        if (allowed !== null && !allowed.includes(name) && !side.includes(name)) {
          out.push({ path: ['tools', 'schemas', name], message: `tool "${name}" is neither allowed nor side_effecting, so its schema would never apply` });
        }
      }
    }
  }
  return out;
}

// ---- per request ------------------------------------------------------------------------------------

export const STAGE_INPUT = 'input';
export const STAGE_OUTPUT = 'output';
export const STAGE_TOOL = 'tool';
type Stage = 'input' | 'output' | 'tool';

/** A tool call as the model made it (any ingress format). */
export interface ToolCallView {
  readonly name: string;
  /** JSON text of the arguments. */
  readonly arguments: string;
}

/** Where violations are counted (the gateway's `switchyard_policy_violations_total`). */
export interface ViolationCounter {
  inc(labels: readonly string[]): void;
}

function safeName(s: string): string {
  return /^[A-Za-z0-9_.:-]{1,64}$/.test(s) ? s : '(unnamed)';
}

/**
 * One request's policy state: the approval flags it carries, what fired (distinct
 * `policy:stage:detector:action` entries), and why it was blocked. Allocated only on routes with a policy.
 */
export class PolicyRun implements FindingSink {
  readonly safety: RouteSafety;
  readonly policy: CompiledPolicy;
  private stage: Stage = STAGE_INPUT;
  /** Distinct findings, in order: trace `policy_violations`. */
  readonly entries: string[] = [];
  private readonly actions: ActionCode[] = [];
  /** The client's message when a guard blocked (names the policy and guard, never the text); null = not blocked. */
  blocked: string | null = null;
  /** Side-effecting tools the request approved. */
  approved: ReadonlySet<string> | null = null;
  /** The request's own tool schemas, compiled on first use (null: none, or not usable). */
  private declaredSchemas: Map<string, ToolSchema | null> | null = null;

  constructor(safety: RouteSafety) {
    this.safety = safety;
    this.policy = safety.policy;
  }

  finding(guard: Guard): void {
    this.record(this.stage, guard.detector.label, guard.action);
    if (guard.action === ACTION_BLOCK && this.blocked === null) {
      this.blocked = `Blocked by safety policy '${this.policy.name}': ${this.stage} guard '${guard.detector.label}' matched.`;
    }
  }

  private record(stage: Stage, what: string, action: ActionCode): void {
    const e = this.policy.name + ':' + stage + ':' + what + ':' + ACTION_NAMES[action];
    if (this.entries.includes(e)) return;
    this.entries.push(e);
    this.actions.push(action);
  }

  private blockTool(what: string, message: string): null {
    this.record(STAGE_TOOL, what, ACTION_BLOCK);
    if (this.blocked === null) this.blocked = `Blocked by safety policy '${this.policy.name}': ${message}`;
    return null;
  }

  /** The policy's prompt size limit: false (recorded, `blocked` set) when `tokens` exceed it. */
  inputTokens(tokens: number): boolean {
    const max = this.policy.maxInputTokens;
    if (max === 0 || tokens <= max) return true;
    this.record(STAGE_INPUT, 'max_input_tokens', ACTION_BLOCK);
    if (this.blocked === null) this.blocked = `Blocked by safety policy '${this.policy.name}': the prompt has ${tokens} tokens, more than the ${max} the policy allows.`;
    return false;
  }

  /** An answer event that could not be parsed: blocked (fail closed), recorded as `output:unreadable`. */
  unreadable(): void {
    this.record(STAGE_OUTPUT, 'unreadable', ACTION_BLOCK);
    if (this.blocked === null) this.blocked = `Blocked by safety policy '${this.policy.name}': the answer could not be checked.`;
  }

  /** Scan one input text: the text to send upstream (redacted where a guard says so), or null when blocked. */
  inputText(text: string): string | null {
    const set = this.policy.input;
    if (set === null) return text;
    this.stage = STAGE_INPUT;
    return scanText(set, text, this);
  }

  /** Scan one whole output text (non-streamed): the text for the client, or null when blocked. */
  outputText(text: string): string | null {
    const set = this.policy.output;
    if (set === null) return text;
    this.stage = STAGE_OUTPUT;
    return scanText(set, text, this);
  }

  /** A scanner for one streamed output text (one choice); null when the policy has no output guards. */
  outputStream(): StreamScanner | null {
    const set = this.policy.output;
    if (set === null) return null;
    this.stage = STAGE_OUTPUT;
    return new StreamScanner(set, this);
  }

  /** Does anything have to look at the answer (output guards or tool rules)? */
  get checksOutput(): boolean {
    return this.policy.output !== null || this.policy.tools !== null;
  }

  /**
   * Check an answer's tool calls before the client receives them: the count, each name, approval of
   * side-effecting tools, the arguments against the tool's schema (config's, else `declared(name)`), and
   * the output guards over the arguments. Returns the calls' arguments to send (redacted where a guard
   * says so; the same strings otherwise), or null when blocked.
   */
  toolCalls(calls: readonly ToolCallView[], declared: (name: string) => unknown): string[] | null {
    const tools = this.policy.tools;
    const out: string[] = new Array<string>(calls.length);
    if (tools !== null && tools.maxCalls >= 0 && calls.length > tools.maxCalls) {
      return this.blockTool('max_calls', `${calls.length} tool calls exceed the limit of ${tools.maxCalls}.`);
    }
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      if (tools !== null) {
        const name = c.name;
        const side = tools.sideEffecting.has(name);
        if (!side && tools.allowed !== null && !tools.allowed.has(name)) {
          return this.blockTool('tool_not_allowed', `tool '${safeName(name)}' is not allowed.`);
        }
        if (side && (this.approved === null || !this.approved.has(name))) {
          return this.blockTool('approval_required', `tool '${safeName(name)}' has side effects and the request did not approve it (metadata.approved_tools).`);
        }
        const schema = tools.schemas.get(name) ?? this.declaredSchema(name, declared);
        if (schema !== null) {
          let value: unknown;
          let problem: string | null;
          try {
            value = JSON.parse(c.arguments === '' ? '{}' : c.arguments);
            problem = schema.problem(value);
          } catch {
            problem = 'not valid JSON';
          }
          if (problem !== null) return this.blockTool('invalid_arguments', `arguments of tool '${safeName(name)}' do not match its schema (${problem}).`);
        }
      }
      const args = this.outputText(c.arguments);
      if (args === null) return null;
      out[i] = args;
    }
    return out;
  }

  /** The request's schema for tool `name`, compiled once per request; null when it declares none usable. */
  private declaredSchema(name: string, declared: (name: string) => unknown): ToolSchema | null {
    if (this.declaredSchemas === null) this.declaredSchemas = new Map();
    let s = this.declaredSchemas.get(name);
    if (s === undefined) {
      const raw = declared(name);
      s = null;
      if (raw !== undefined && raw !== null) {
        try {
          s = toolSchema(raw);
        } catch {
          s = null; // a schema the validator cannot use: the provider judged the request, the rules above still apply
        }
      }
      this.declaredSchemas.set(name, s);
    }
    return s;
  }

  /** Copy the findings to the trace and count them (labels from config only). */
  report(traceViolations: string[], counter: ViolationCounter): void {
    const labels = this.safety.labels;
    for (let i = 0; i < this.entries.length; i++) {
      traceViolations.push(this.entries[i]!);
      counter.inc(labels[this.actions[i]!]!);
    }
  }
}

export { ACTION_BLOCK, ACTION_REDACT, ACTION_FLAG };
