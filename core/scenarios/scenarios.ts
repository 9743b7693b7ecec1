// Scenarios and their success criteria. A request names a scenario (`x-switchyard-scenario` or
// `metadata.scenario_id`); after the response (a stream: at its end) the request is judged against the
// scenario's criterion, and the outcome — not the provider's status — is what route success means:
//
//   error            the request failed (any non-200 answer, a stream cut mid-way)
//   quality_failure  the answer came back but is not what the scenario needs: `finish_reason` outside
//                    the allowed set (e.g. truncated by `length`), empty output, output that is not valid
//                    against the request's `response_format` JSON schema, a tool call to an unknown tool
//                    or with arguments invalid against the tool's parameter schema
//   budget_miss      the request's total cost (every attempt, failed ones included) passed the scenario's
//                    `max_cost_usd` or the route's per-request budget
//   slo_miss         over the route's SLO: `latency_ms`, and for streams also `ttft_ms`
//   success          none of the above
//
// Checks run in that order (quality before cost before time): a truncated answer that was also slow is a
// quality failure, the thing to fix first. The first failing check is named in the trace
// (`failed_check`). A request without a scenario, or with one the config does not know (when unknown
// scenarios are accepted), is judged by status alone.

import { compileJsonSchema, JsonSchemaError } from '../schema/json-schema.js';
import type { ChatCompletionRequest } from '../schema/openai.js';
import type { Outcome } from '../telemetry/trace.js';

export type FailedCheck =
  | 'finish_reason'
  | 'non_empty'
  | 'json_schema'
  | 'tool_calls'
  | 'max_cost_usd'
  | 'route_budget'
  | 'ttft_ms'
  | 'latency_ms';

export interface SuccessCriterion {
  readonly withinSlo: boolean;
  /** Allowed finish reasons; null = any. */
  readonly finishReasons: ReadonlySet<string> | null;
  readonly jsonSchemaValid: boolean;
  readonly toolCallsValid: boolean;
  readonly nonEmpty: boolean;
  /** USD; 0 = no ceiling. */
  readonly maxCostUsd: number;
}

export interface Scenario {
  readonly id: string;
  readonly owner: string;
  readonly description: string;
  readonly success: SuccessCriterion;
  /** The criterion reads the generated text or tool calls (the pipeline collects them only then). */
  readonly needsOutput: boolean;
}

export interface ScenarioConfigLike {
  id: string;
  owner?: string | undefined;
  description?: string | undefined;
  success?:
    | {
        within_slo?: boolean | undefined;
        finish_reason?: string[] | undefined;
        json_schema_valid?: boolean | undefined;
        tool_calls_valid?: boolean | undefined;
        non_empty?: boolean | undefined;
        max_cost_usd?: number | undefined;
      }
    | undefined;
}

export function compileScenario(c: ScenarioConfigLike): Scenario {
  const s = c.success ?? {};
  const success: SuccessCriterion = Object.freeze({
    withinSlo: s.within_slo === true,
    finishReasons: s.finish_reason === undefined ? null : new Set(s.finish_reason),
    jsonSchemaValid: s.json_schema_valid === true,
    toolCallsValid: s.tool_calls_valid === true,
    nonEmpty: s.non_empty === true,
    maxCostUsd: s.max_cost_usd ?? 0,
  });
  return Object.freeze({
    id: c.id,
    owner: c.owner ?? '',
    description: c.description ?? '',
    success,
    needsOutput: success.jsonSchemaValid || success.toolCallsValid || success.nonEmpty,
  });
}

export function compileScenarios(list: readonly ScenarioConfigLike[]): ReadonlyMap<string, Scenario> {
  const m = new Map<string, Scenario>();
  for (const c of list) m.set(c.id, compileScenario(c));
  return m;
}

/** What the model produced, collected while translating (only for scenarios that read it). */
export class OutputCollector {
  text = '';
  /** Tool calls by position: name and the arguments' JSON text (streamed pieces appended). */
  readonly toolCalls: Array<{ name: string; arguments: string }> = [];

  reset(): void {
    this.text = '';
    this.toolCalls.length = 0;
  }

  /** A tool call's piece: `index` (streams) or the next position (whole answers). */
  toolCall(index: number, name: string | undefined, args: string | undefined): void {
    let t = this.toolCalls[index];
    if (t === undefined) {
      t = { name: '', arguments: '' };
      this.toolCalls[index] = t;
    }
    if (name !== undefined && name !== '') t.name = name;
    if (args !== undefined) t.arguments += args;
  }
}

/** What the judge looks at, taken from the trace and the request when the request settles. */
export interface Verdict {
  outcome: Outcome;
  failedCheck: FailedCheck | null;
  /** Human-readable detail of the failed check (never the generated text itself). */
  detail: string;
}

export interface JudgeInput {
  readonly status: number;
  readonly errorCode: string | null;
  readonly stream: boolean;
  readonly ttftMs: number | null;
  readonly latencyMs: number;
  readonly costUsd: number;
  readonly finishReason: string | null;
  readonly output: OutputCollector | null;
  readonly request: ChatCompletionRequest | null;
  readonly slo: { readonly ttftMs: number; readonly latencyMs: number };
  /** The route's per-request budget, USD; 0 = none. */
  readonly routeBudgetUsd: number;
}

/** Judge a finished request; `scenario` null judges by status alone. */
export function judge(scenario: Scenario | null, x: JudgeInput, out: Verdict): Verdict {
  out.failedCheck = null;
  out.detail = '';
  if (x.status !== 200 || x.errorCode !== null) {
    out.outcome = 'error';
    return out;
  }
  out.outcome = 'success';
  if (scenario === null) return out;
  const q = qualityProblem(scenario.success, x, out);
  if (q !== null) {
    out.outcome = 'quality_failure';
    out.failedCheck = q;
    return out;
  }
  return judgeCostAndTime(scenario.success, x, out);
}

/**
 * Only the quality checks (finish reason, non-empty, JSON schema, tool calls): what a route may re-ask
 * on. Null when the answer passes; otherwise the failed check, with `out.detail` set.
 */
export function qualityProblem(c: SuccessCriterion, x: JudgeInput, out: Verdict): FailedCheck | null {
  if (c.finishReasons !== null && !c.finishReasons.has(x.finishReason ?? '')) {
    out.detail = `finish_reason '${x.finishReason ?? 'none'}' is not one of ${[...c.finishReasons].join(', ')}`;
    return 'finish_reason';
  }
  const o = x.output;
  if (c.nonEmpty && o !== null && o.text.trim() === '' && o.toolCalls.length === 0) {
    out.detail = 'the answer is empty';
    return 'non_empty';
  }
  if (c.jsonSchemaValid && o !== null && x.request !== null) {
    const p = jsonOutputProblem(x.request, o.text);
    if (p !== null) {
      out.detail = p;
      return 'json_schema';
    }
  }
  if (c.toolCallsValid && o !== null && x.request !== null && o.toolCalls.length > 0) {
    const p = toolCallsProblem(x.request, o);
    if (p !== null) {
      out.detail = p;
      return 'tool_calls';
    }
  }
  return null;
}

function judgeCostAndTime(c: SuccessCriterion, x: JudgeInput, out: Verdict): Verdict {
  if (c.maxCostUsd > 0 && x.costUsd > c.maxCostUsd) {
    out.outcome = 'budget_miss';
    out.failedCheck = 'max_cost_usd';
    out.detail = `cost $${x.costUsd.toFixed(6)} over the scenario's $${c.maxCostUsd}`;
    return out;
  }
  if (x.routeBudgetUsd > 0 && x.costUsd > x.routeBudgetUsd) {
    out.outcome = 'budget_miss';
    out.failedCheck = 'route_budget';
    out.detail = `cost $${x.costUsd.toFixed(6)} over the route's budget of $${x.routeBudgetUsd}`;
    return out;
  }
  if (c.withinSlo) {
    // Time to first token is a streaming promise; a whole answer is judged by its latency alone.
    if (x.stream && x.slo.ttftMs > 0 && x.ttftMs !== null && x.ttftMs > x.slo.ttftMs) {
      out.outcome = 'slo_miss';
      out.failedCheck = 'ttft_ms';
      out.detail = `time to first token ${Math.round(x.ttftMs)} ms over the SLO's ${x.slo.ttftMs} ms`;
      return out;
    }
    if (x.slo.latencyMs > 0 && x.latencyMs > x.slo.latencyMs) {
      out.outcome = 'slo_miss';
      out.failedCheck = 'latency_ms';
      out.detail = `latency ${Math.round(x.latencyMs)} ms over the SLO's ${x.slo.latencyMs} ms`;
      return out;
    }
  }
  return out;
}

/** The request's `response_format`, checked against the answer text: null when fine or not asked for. */
export function jsonOutputProblem(req: ChatCompletionRequest, text: string): string | null {
  const rf = (req as { response_format?: unknown }).response_format;
  if (rf === null || typeof rf !== 'object') return null;
  const type = (rf as { type?: unknown }).type;
  if (type !== 'json_object' && type !== 'json_schema') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the answer is not valid JSON';
  }
  if (type === 'json_object') {
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? null : 'the answer is not a JSON object';
  }
  const js = (rf as { json_schema?: { schema?: unknown } }).json_schema;
  const schema = js?.schema;
  if (schema === undefined) return null;
  const v = validatorFor(schema);
  if (typeof v === 'string') return null; // an unusable schema is the request's problem, not the answer's
  const p = v.validate(value);
  return p === null ? null : `the answer does not match the response_format schema: ${p}`;
}

/** Every tool call names a tool the request defined, with arguments valid against its parameters. */
export function toolCallsProblem(req: ChatCompletionRequest, o: OutputCollector): string | null {
  const tools = (req as { tools?: unknown }).tools;
  const defs = new Map<string, unknown>();
  if (Array.isArray(tools)) {
    for (const t of tools) {
      const f = (t as { function?: { name?: unknown; parameters?: unknown } } | null)?.function;
      if (f != null && typeof f.name === 'string') defs.set(f.name, f.parameters);
    }
  }
  for (let i = 0; i < o.toolCalls.length; i++) {
    const call = o.toolCalls[i];
    if (call === undefined) continue;
    if (!defs.has(call.name)) return `tool call ${i} names '${call.name.slice(0, 100)}', which the request did not define`;
    let args: unknown;
    try {
      args = call.arguments === '' ? {} : JSON.parse(call.arguments);
    } catch {
      return `tool call ${i} (${call.name}) has arguments that are not valid JSON`;
    }
    const schema = defs.get(call.name);
    if (schema === undefined) continue;
    const v = validatorFor(schema);
    if (typeof v === 'string') continue;
    const p = v.validate(args);
    if (p !== null) return `tool call ${i} (${call.name}) has invalid arguments: ${p}`;
  }
  return null;
}

// Requests of one scenario usually repeat the same schema: keep a few compiled validators by text.
const VALIDATORS = new Map<string, ReturnType<typeof compileJsonSchema> | string>();
const VALIDATORS_MAX = 256;

function validatorFor(schema: unknown): ReturnType<typeof compileJsonSchema> | string {
  const key = JSON.stringify(schema);
  const hit = VALIDATORS.get(key);
  if (hit !== undefined) return hit;
  let v: ReturnType<typeof compileJsonSchema> | string;
  try {
    v = compileJsonSchema(schema);
  } catch (err) {
    v = err instanceof JsonSchemaError ? err.message : String(err);
  }
  if (VALIDATORS.size >= VALIDATORS_MAX) VALIDATORS.clear();
  VALIDATORS.set(key, v);
  return v;
}
