// Cache-Control request directives the response cache honours. Imports nothing.

/** Cache-Control request directives the gateway honours: `no-cache` (do not answer from the cache) and `no-store` (nor store the answer). */
export function cacheDirectives(cacheControl: string): number {
  if (cacheControl === '') return 0;
  const v = cacheControl.toLowerCase();
  return (v.includes('no-cache') ? NO_CACHE : 0) | (v.includes('no-store') ? NO_STORE | NO_CACHE : 0);
}
export const NO_CACHE = 1;
export const NO_STORE = 2;
