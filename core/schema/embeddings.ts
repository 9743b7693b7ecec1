// OpenAI embeddings ingress (POST /v1/embeddings): validation with OpenAI's messages and decoding into the
// canonical request (canonical.ts): `embedding` holds what the provider gets; `messages` holds the input
// as one user text, so estimates, lanes and token budgets work as for chat. Ground floor.

import type { ValidationProblem } from './openai-validate.js';
import type { CanonicalRequest, EmbeddingParams } from './canonical.js';

function problem(param: string, message: string): ValidationProblem {
  return { message, param };
}

const MAX_INPUTS = 2048;

/** Null when `body` is a valid embeddings request. */
export function validateEmbeddingsRequest(body: unknown): ValidationProblem | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return problem('', 'The request body must be a JSON object.');
  const b = body as Record<string, unknown>;
  if (b.model === undefined) return problem('model', "Missing required parameter: 'model'.");
  if (typeof b.model !== 'string' || b.model.length === 0) return problem('model', "'model' must be a non-empty string.");
  const input = b.input;
  if (input === undefined || input === null) return problem('input', "Missing required parameter: 'input'.");
  if (typeof input === 'string') {
    if (input.length === 0) return problem('input', "'input' must not be empty.");
  } else if (Array.isArray(input)) {
    if (input.length === 0) return problem('input', "'input' must not be an empty array.");
    if (input.length > MAX_INPUTS) return problem('input', `'input' may hold at most ${MAX_INPUTS} items.`);
    for (let i = 0; i < input.length; i++) {
      const x = input[i];
      const ok = typeof x === 'string' ? x.length > 0 : typeof x === 'number' ? Number.isInteger(x) : Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t));
      if (!ok) return problem(`input[${i}]`, `'input[${i}]' must be a non-empty string, a token id or an array of token ids.`);
    }
  } else return problem('input', "'input' must be a string or an array.");
  const ef = b.encoding_format;
  if (ef !== undefined && ef !== null && ef !== 'float' && ef !== 'base64') return problem('encoding_format', "'encoding_format' must be 'float' or 'base64'.");
  const d = b.dimensions;
  if (d !== undefined && d !== null && (typeof d !== 'number' || !Number.isInteger(d) || d < 1)) return problem('dimensions', "'dimensions' must be an integer >= 1.");
  if (b.user !== undefined && typeof b.user !== 'string') return problem('user', "'user' must be a string.");
  const md = b.metadata;
  if (md !== undefined && md !== null) {
    if (typeof md !== 'object' || Array.isArray(md)) return problem('metadata', "'metadata' must be an object of strings.");
    for (const k in md as Record<string, unknown>) if (typeof (md as Record<string, unknown>)[k] !== 'string') return problem(`metadata.${k}`, `'metadata.${k}' must be a string.`);
  }
  return null;
}

/** The canonical request of a valid embeddings request. */
export function decodeEmbeddingsRequest(b: Record<string, unknown>): CanonicalRequest {
  const e: EmbeddingParams = { input: b.input as EmbeddingParams['input'] };
  if (b.encoding_format === 'float' || b.encoding_format === 'base64') e.encoding_format = b.encoding_format;
  if (typeof b.dimensions === 'number') e.dimensions = b.dimensions;
  if (typeof b.user === 'string') e.user = b.user;
  const input = b.input;
  const text = typeof input === 'string' ? input : (input as unknown[]).map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n');
  const req: CanonicalRequest = { model: b.model as string, messages: [{ role: 'user', content: text }], embedding: e };
  if (b.metadata != null) req.metadata = b.metadata as Record<string, string>;
  return req;
}
