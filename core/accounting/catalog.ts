// The price catalog (fixtures/pricing.yaml, or a file a config names): model list prices and the batch
// discount, read and validated once when a config is compiled, never at request time.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const perMtok = z.number().nonnegative();

export const PriceCatalogSchema = z.strictObject({
  batch_discount: z.number().min(0).max(1).default(0),
  models: z
    .record(
      z.string().min(1),
      z.strictObject({ input_usd_per_mtok: perMtok, cached_input_usd_per_mtok: perMtok.optional(), output_usd_per_mtok: perMtok }),
    )
    .default({}),
});

export type PriceCatalog = z.output<typeof PriceCatalogSchema>;

/** Read and validate a catalog file (at compile time: boot and reload; it is small). */
export function loadPriceCatalog(path: string): PriceCatalog {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`price catalog ${path}: ${(err as Error).message}`);
  }
  const r = PriceCatalogSchema.safeParse(data ?? {});
  if (!r.success) {
    throw new Error(`price catalog ${path}: ` + r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; '));
  }
  return r.data;
}
