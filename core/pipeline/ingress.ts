// The client APIs at the edge: per ingress API, how a body is validated and decoded into the canonical
// request, and how errors are written (OpenAI's envelope, or Anthropic's on /v1/messages with Anthropic's
// status codes). The pipeline holds one IngressApi per request and asks here; answers are encoded by the
// translator of the attempt's (ingress API, provider API) pair (core/providers/registry.ts).

import { ERRORS, anthropicErrorBody, openAIErrorBody, type ErrorCode } from '../errors.js';
import type { CanonicalRequest, IngressApi } from '../schema/canonical.js';
import { validateChatRequest, type ValidationProblem } from '../schema/openai-validate.js';
import { decodeMessagesRequest, validateMessagesRequest } from '../schema/anthropic-decode.js';
import { decodeEmbeddingsRequest, validateEmbeddingsRequest } from '../schema/embeddings.js';

/** A validated, decoded request, or the problem with it. One of the two fields is null. */
export class Decoded {
  body: CanonicalRequest | null = null;
  problem: ValidationProblem | null = null;
}

/** Validate `parsed` as the ingress API's request and decode it into `out`. */
export function decodeIngress(api: IngressApi, parsed: unknown, out: Decoded): void {
  out.body = null;
  if (api === 'openai') {
    out.problem = validateChatRequest(parsed);
    // The OpenAI chat shape is the canonical shape: nothing to decode.
    if (out.problem === null) out.body = parsed as CanonicalRequest;
    return;
  }
  if (api === 'anthropic') {
    out.problem = validateMessagesRequest(parsed);
    if (out.problem === null) out.body = decodeMessagesRequest(parsed as Record<string, unknown>);
    return;
  }
  out.problem = validateEmbeddingsRequest(parsed);
  if (out.problem === null) out.body = decodeEmbeddingsRequest(parsed as Record<string, unknown>);
}

/**
 * Anthropic's status for an error: overloaded is 529 there, and Anthropic has no 502 (a provider's failure
 * is its `api_error`, 500); everything else keeps the registry's (the trace always does).
 */
export function anthropicStatus(code: ErrorCode): number {
  const spec = ERRORS[code];
  return spec.anthropicType === 'overloaded_error' ? 529 : spec.status === 502 ? 500 : spec.status;
}

/** HTTP status of an error on this ingress. */
export function errorStatus(api: IngressApi, code: ErrorCode): number {
  return api === 'anthropic' ? anthropicStatus(code) : ERRORS[code].status;
}

/** The error body on this ingress. */
export function errorBody(api: IngressApi, code: ErrorCode, message: string, param: string | null): string {
  return api === 'anthropic' ? anthropicErrorBody(code, message) : openAIErrorBody(code, message, param);
}

/** A terminal error event inside a stream on this ingress. */
export function streamErrorEvent(api: IngressApi, code: ErrorCode, message: string): string {
  return api === 'anthropic' ? 'event: error\ndata: ' + anthropicErrorBody(code, message) + '\n\n' : 'data: ' + openAIErrorBody(code, message) + '\n\n';
}

/** anthropic-beta: comma-separated feature names. */
const BETA_RE = /^[A-Za-z0-9._-]+(\s*,\s*[A-Za-z0-9._-]+)*$/;

/**
 * The provider's headers plus the client's `anthropic-beta` (for Anthropic-style providers only; a list of
 * feature names, anything else is dropped). A copy: only requests that send one pay for it.
 */
export function withAnthropicBeta(headers: Record<string, string>, beta: string): Record<string, string> {
  if (beta.length > 512 || !BETA_RE.test(beta)) return headers;
  const h: Record<string, string> = {};
  for (const k in headers) h[k] = headers[k]!;
  h['anthropic-beta'] = beta;
  return h;
}
