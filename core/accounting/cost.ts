// Cost of one request from its token counts and the model's prices (USD per million tokens).
// Cached input tokens are part of the input count and priced at the cached rate, never twice.

import type { ModelPrice } from './price.js';

export function costUsd(price: ModelPrice | null, inputTokens: number, cachedInputTokens: number, outputTokens: number): number {
  if (price === null) return 0;
  const cached = cachedInputTokens > inputTokens ? inputTokens : cachedInputTokens;
  return (
    ((inputTokens - cached) * price.inputUsdPerMtok + cached * price.cachedInputUsdPerMtok + outputTokens * price.outputUsdPerMtok) / 1e6
  );
}

/** Rough token estimate from characters, for when a provider reported no usage (a cut stream). */
export function estimateTokensFromChars(chars: number): number {
  return chars <= 0 ? 0 : Math.ceil(chars / 4);
}
