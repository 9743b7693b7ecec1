// The canonical request inside the gateway: the OpenAI Chat Completions shape the pipeline already uses,
// extended where other APIs say more. Ingress decoders (one per client API) produce it; egress
// translators (one per (ingress API, provider API) pair) turn it into a provider's body.
// Extensions:
//   - content parts, tools and system parts may carry Anthropic's `cache_control` (kept, not dropped;
//     sent to providers that understand it);
//   - `top_k` and `thinking` (Anthropic only);
//   - `embedding`: set on a POST /v1/embeddings request (then `messages` holds the input as text, for
//     estimates and lanes, and the provider gets `embedding` as the body).
// Ground floor: imports nothing of ours but sibling schema types.

import type { ChatCompletionRequest } from './openai.js';

/** The client APIs the gateway speaks. */
export type IngressApi = 'openai' | 'anthropic' | 'embeddings';
/** The provider APIs the gateway speaks. */
export type ProviderApi = 'openai' | 'anthropic';
export const PROVIDER_APIS = ['openai', 'anthropic'] as const;

export interface EmbeddingParams {
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

export interface CanonicalRequest extends ChatCompletionRequest {
  top_k?: number;
  thinking?: Record<string, unknown>;
  embedding?: EmbeddingParams;
}
