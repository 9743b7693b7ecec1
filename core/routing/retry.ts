// Retries and fallbacks as decisions, not control flow: given what failed and where the request stands,
// say what to try next and why, or stop and say why. The pipeline carries the decision out; the trace
// lists every attempt and the stop reason.
//
// Rules (in order):
//   1. Nothing is retried after the first byte of a stream reached the client (the pipeline never asks).
//   2. Client errors (4xx other than 429, context length and content policy) stop at once.
//   3. A failure whose condition the route does not list in `fallback_condition` stops. A quality failure
//      (a whole answer that failed its scenario's quality checks) is retried only under
//      `retry_on: [quality_failure]`, and then like any other failure, bounded by the same criteria.
//   4. Stop criteria: MAX_ATTEMPTS attempts; the route's SLO `latency_ms` as the total deadline (no new
//      attempt starts when its backoff would end past it); the route's `budget.max_cost_usd` (no new
//      attempt when what was spent already reaches it).
//   5. Context-length errors go to the next fallback route (a larger context), never the same route;
//      content-policy refusals skip to the next fallback route without retrying the same provider.
//   6. Otherwise: one retry on the route the client named (another pool member when there is one) if the
//      retry budget allows (retries ≤ 20% of requests in flight, at least 3), after full-jitter backoff
//      or the provider's Retry-After, whichever is longer; then the fallback routes in order, one attempt
//      each (a fallback is the retry).
import type { FallbackCondition } from './types.js';

export type FailureKind = 'timeout' | '5xx' | 'rate_limited' | 'connection_error' | 'queue_time_over_slo' | 'context_length' | 'content_policy' | 'client_error' | 'quality_failure';

export const MAX_ATTEMPTS = 5;
export const RETRY_BASE_MS = 50;
export const RETRY_CAP_MS = 2_000;

/** The config condition a failure falls under (null: never retried or fallen back on). */
export function conditionOf(kind: FailureKind): FallbackCondition | null {
  switch (kind) {
    case 'timeout':
    case '5xx':
    case 'rate_limited':
    case 'connection_error':
    case 'queue_time_over_slo':
      return kind;
    default:
      return null;
  }
}

export type NextStep =
  | { readonly action: 'retry'; readonly delayMs: number }
  | { readonly action: 'fallback'; readonly routeIndex: number; readonly delayMs: number }
  | { readonly action: 'stop'; readonly reason: string };

export interface AttemptState {
  /** Attempts made so far (≥ 1 when deciding). */
  readonly attempts: number;
  /** Retries already made on the current route. */
  readonly retriesOnRoute: number;
  /** Position in the primary route's fallback chain of the route now in use (-1: the primary). */
  readonly fallbackPos: number;
  /** ms since the request started. */
  readonly elapsedMs: number;
  /** USD spent on attempts so far. */
  readonly spentUsd: number;
  /** The provider's Retry-After for this failure, ms (0: none). */
  readonly retryAfterMs: number;
}

export interface RoutePolicyView {
  readonly fallbackCondition: readonly FallbackCondition[];
  readonly fallbackIndices: readonly number[];
  readonly slo: { readonly latencyMs: number };
  readonly budgetMaxCostUsd: number;
  /** `retry_on: [quality_failure]`: an answer that fails its scenario's quality checks may be re-asked. */
  readonly retryOnQuality?: boolean;
}

/** Full-jitter exponential backoff: uniform in [0, min(cap, base·2^n)). `rand` in [0, 1). */
export function fullJitter(retry: number, rand: number): number {
  return Math.floor(rand * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** retry));
}

/**
 * What to do after a failed attempt. `primary` carries the fallback chain and the stop criteria (the
 * route the client named); `canRetry` says whether the retry budget allows one more retry now.
 */
export function decideNext(kind: FailureKind, primary: RoutePolicyView, s: AttemptState, canRetry: boolean, rand: number): NextStep {
  if (kind === 'client_error') return { action: 'stop', reason: 'client_error' };
  const skipSameRoute = kind === 'context_length' || kind === 'content_policy';
  const cond = conditionOf(kind);
  const listed = kind === 'quality_failure' ? primary.retryOnQuality === true : cond !== null && primary.fallbackCondition.includes(cond);
  if (!skipSameRoute && !listed) return { action: 'stop', reason: `${kind}_not_retryable` };
  if (s.attempts >= MAX_ATTEMPTS) return { action: 'stop', reason: 'max_attempts' };
  if (primary.budgetMaxCostUsd > 0 && s.spentUsd >= primary.budgetMaxCostUsd) return { action: 'stop', reason: 'cost_ceiling' };
  const deadline = primary.slo.latencyMs;
  if (!skipSameRoute && s.fallbackPos === -1 && s.retriesOnRoute === 0 && canRetry) {
    const delayMs = Math.max(fullJitter(s.attempts - 1, rand), s.retryAfterMs);
    if (deadline <= 0 || s.elapsedMs + delayMs < deadline) return { action: 'retry', delayMs };
  }
  const nextPos = s.fallbackPos + 1;
  if (nextPos >= primary.fallbackIndices.length) return { action: 'stop', reason: 'fallbacks_exhausted' };
  if (deadline > 0 && s.elapsedMs >= deadline) return { action: 'stop', reason: 'deadline' };
  return { action: 'fallback', routeIndex: primary.fallbackIndices[nextPos]!, delayMs: 0 };
}

/** Retries allowed while retries in flight stay ≤ 20% of requests in flight (at least 3). */
export class RetryBudget {
  private retriesInFlight = 0;

  canRetry(requestsInFlight: number): boolean {
    return this.retriesInFlight < Math.max(3, Math.floor(requestsInFlight * 0.2));
  }

  begin(): void {
    this.retriesInFlight++;
  }

  end(): void {
    if (this.retriesInFlight > 0) this.retriesInFlight--;
  }

  get inFlight(): number {
    return this.retriesInFlight;
  }
}
