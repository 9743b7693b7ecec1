import { describe, expect, it } from 'vitest';
import { compileScenario, judge, OutputCollector, type JudgeInput, type Verdict } from '../../../core/scenarios/scenarios.js';
import type { ChatCompletionRequest } from '../../../core/schema/openai.js';
import { decideNext, type RoutePolicyView } from '../../../core/routing/retry.js';

const schema = { type: 'object', properties: { title: { type: 'string' }, score: { type: 'integer', minimum: 0 } }, required: ['title', 'score'], additionalProperties: false };
const jsonRequest = {
  model: 'm',
  messages: [{ role: 'user', content: 'x' }],
  response_format: { type: 'json_schema', json_schema: { name: 'r', schema } },
} as unknown as ChatCompletionRequest;
const toolRequest = {
  model: 'm',
  messages: [{ role: 'user', content: 'x' }],
  tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] } } }],
} as unknown as ChatCompletionRequest;

function out(text: string, calls: Array<[string, string]> = []): OutputCollector {
  const o = new OutputCollector();
  o.text = text;
  calls.forEach(([n, a], i) => o.toolCall(i, n, a));
  return o;
}

function input(over: Partial<JudgeInput> = {}): JudgeInput {
  return {
    status: 200,
    errorCode: null,
    stream: false,
    ttftMs: 100,
    latencyMs: 200,
    costUsd: 0.001,
    finishReason: 'stop',
    output: out('hello'),
    request: jsonRequest,
    slo: { ttftMs: 300, latencyMs: 1000 },
    routeBudgetUsd: 0,
    ...over,
  };
}

const verdict = (): Verdict => ({ outcome: 'success', failedCheck: null, detail: '' });
const all = compileScenario({
  id: 's',
  owner: 'team',
  success: { within_slo: true, finish_reason: ['stop'], json_schema_valid: true, tool_calls_valid: true, non_empty: true, max_cost_usd: 0.002 },
});

describe('scenario criteria', () => {
  it('compiles a config entry; only output checks make the pipeline collect output', () => {
    expect(all.needsOutput).toBe(true);
    expect(compileScenario({ id: 'x', success: { within_slo: true, finish_reason: ['stop'], max_cost_usd: 1 } }).needsOutput).toBe(false);
    const bare = compileScenario({ id: 'bare' });
    expect(bare.success).toMatchObject({ withinSlo: false, finishReasons: null, maxCostUsd: 0 });
  });

  it('no scenario: judged by status alone', () => {
    expect(judge(null, input({ finishReason: 'length', latencyMs: 99_999 }), verdict())).toMatchObject({ outcome: 'success', failedCheck: null });
    expect(judge(null, input({ status: 502, errorCode: 'upstream_error' }), verdict()).outcome).toBe('error');
  });

  it('an error is an error whatever the checks', () => {
    expect(judge(all, input({ status: 200, errorCode: 'upstream_stream_interrupted' }), verdict())).toMatchObject({ outcome: 'error', failedCheck: null });
  });

  it('valid JSON output within time and budget is a success', () => {
    expect(judge(all, input({ output: out('{"title":"t","score":3}') }), verdict())).toMatchObject({ outcome: 'success', failedCheck: null });
  });

  it('a truncated answer (finish_reason length) is a quality failure, never success', () => {
    const v = judge(all, input({ finishReason: 'length', output: out('{"title":"t","score":3}') }), verdict());
    expect(v).toMatchObject({ outcome: 'quality_failure', failedCheck: 'finish_reason' });
    expect(v.detail).toContain("'length'");
  });

  it('output invalid against the response_format schema is a quality failure', () => {
    expect(judge(all, input({ output: out('{"title":"t"') }), verdict())).toMatchObject({ outcome: 'quality_failure', failedCheck: 'json_schema' });
    const v = judge(all, input({ output: out('{"title":"t","score":-1}') }), verdict());
    expect(v).toMatchObject({ outcome: 'quality_failure', failedCheck: 'json_schema' });
    expect(v.detail).toContain('$.score: must be >= 0');
    const obj = { ...jsonRequest, response_format: { type: 'json_object' } } as unknown as ChatCompletionRequest;
    expect(judge(all, input({ request: obj, output: out('[1]') }), verdict()).failedCheck).toBe('json_schema');
    expect(judge(all, input({ request: obj, output: out('{"a":1}') }), verdict()).outcome).toBe('success');
    // No response_format: nothing to check.
    const plain = { model: 'm', messages: [] } as unknown as ChatCompletionRequest;
    expect(judge(all, input({ request: plain, output: out('free text') }), verdict()).outcome).toBe('success');
  });

  it('empty output is a quality failure; a tool call is not empty', () => {
    expect(judge(all, input({ request: toolRequest, output: out('  ') }), verdict())).toMatchObject({ outcome: 'quality_failure', failedCheck: 'non_empty' });
    expect(judge(all, input({ request: toolRequest, finishReason: 'stop', output: out('', [['lookup', '{"id":1}']]) }), verdict()).outcome).toBe('success');
  });

  it('tool calls: unknown tool, unparsable or schema-invalid arguments are quality failures', () => {
    const j = (calls: Array<[string, string]>): Verdict => judge(all, input({ request: toolRequest, output: out('', calls) }), verdict());
    expect(j([['lookup', '{"id":7}']]).outcome).toBe('success');
    expect(j([['delete_all', '{}']])).toMatchObject({ failedCheck: 'tool_calls' });
    expect(j([['lookup', '{"id":']])).toMatchObject({ failedCheck: 'tool_calls' });
    const v = j([['lookup', '{"id":"seven"}']]);
    expect(v).toMatchObject({ outcome: 'quality_failure', failedCheck: 'tool_calls' });
    expect(v.detail).toContain('$.id: expected integer');
  });

  it('cost over the scenario ceiling or the route budget is a budget miss (after quality)', () => {
    expect(judge(all, input({ output: out('{"title":"t","score":1}'), costUsd: 0.003 }), verdict())).toMatchObject({ outcome: 'budget_miss', failedCheck: 'max_cost_usd' });
    const cheap = compileScenario({ id: 'c', success: { max_cost_usd: 1 } });
    expect(judge(cheap, input({ costUsd: 0.5, routeBudgetUsd: 0.1 }), verdict())).toMatchObject({ outcome: 'budget_miss', failedCheck: 'route_budget' });
    // Quality is judged first.
    expect(judge(all, input({ finishReason: 'length', costUsd: 1 }), verdict()).outcome).toBe('quality_failure');
  });

  it('over the SLO is an SLO miss: latency always, time to first token for streams only', () => {
    const ok = out('{"title":"t","score":1}');
    expect(judge(all, input({ output: ok, latencyMs: 1500 }), verdict())).toMatchObject({ outcome: 'slo_miss', failedCheck: 'latency_ms' });
    expect(judge(all, input({ output: ok, stream: true, ttftMs: 400 }), verdict())).toMatchObject({ outcome: 'slo_miss', failedCheck: 'ttft_ms' });
    expect(judge(all, input({ output: ok, stream: false, ttftMs: 400 }), verdict()).outcome).toBe('success');
    const noSlo = compileScenario({ id: 'n', success: { within_slo: false } });
    expect(judge(noSlo, input({ latencyMs: 99_999 }), verdict()).outcome).toBe('success');
    // Cost before time.
    expect(judge(all, input({ output: ok, latencyMs: 1500, costUsd: 1 }), verdict()).outcome).toBe('budget_miss');
  });

  it('the collector joins streamed tool-call pieces by index', () => {
    const o = new OutputCollector();
    o.toolCall(0, 'lookup', '{"id"');
    o.toolCall(1, 'other', '{}');
    o.toolCall(0, undefined, ':5}');
    expect(o.toolCalls).toEqual([{ name: 'lookup', arguments: '{"id":5}' }, { name: 'other', arguments: '{}' }]);
    o.reset();
    expect(o.toolCalls).toEqual([]);
  });
});

describe('retry decisions on a quality failure', () => {
  const view = (retryOnQuality: boolean): RoutePolicyView => ({ fallbackCondition: ['5xx'], fallbackIndices: [3], slo: { latencyMs: 10_000 }, budgetMaxCostUsd: 0.01, retryOnQuality });
  const state = { attempts: 1, retriesOnRoute: 0, fallbackPos: -1, elapsedMs: 10, spentUsd: 0, retryAfterMs: 0 };

  it('stops unless the route says retry_on: [quality_failure]', () => {
    expect(decideNext('quality_failure', view(false), state, true, 0)).toEqual({ action: 'stop', reason: 'quality_failure_not_retryable' });
  });

  it('re-asks on the route, then falls back, within the same stop criteria', () => {
    expect(decideNext('quality_failure', view(true), state, true, 0)).toEqual({ action: 'retry', delayMs: 0 });
    expect(decideNext('quality_failure', view(true), { ...state, attempts: 2, retriesOnRoute: 1 }, true, 0)).toEqual({ action: 'fallback', routeIndex: 3, delayMs: 0 });
    expect(decideNext('quality_failure', view(true), { ...state, attempts: 3, fallbackPos: 0 }, true, 0)).toEqual({ action: 'stop', reason: 'fallbacks_exhausted' });
    expect(decideNext('quality_failure', view(true), { ...state, spentUsd: 0.01 }, true, 0)).toEqual({ action: 'stop', reason: 'cost_ceiling' });
    expect(decideNext('quality_failure', view(true), { ...state, attempts: 5 }, true, 0)).toEqual({ action: 'stop', reason: 'max_attempts' });
  });
});
