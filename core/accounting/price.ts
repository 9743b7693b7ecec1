// A model's prices, from the provider's `models` in config (USD per million tokens).

export interface ModelPrice {
  readonly name: string;
  readonly inputUsdPerMtok: number;
  readonly cachedInputUsdPerMtok: number;
  readonly outputUsdPerMtok: number;
  /** Context window in tokens, when the config states it (0 = unknown). */
  readonly contextTokens: number;
}
