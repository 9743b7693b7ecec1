import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePlan, loadConfigFileSync, parseConfigText } from '../../../core/index.js';
import { loadPriceCatalog } from '../../../core/accounting/catalog.js';

const CATALOG = join(import.meta.dirname, '../../../fixtures/pricing.yaml');

function config(catalogLine: string, modelsYaml: string): string {
  return `
tenants: [{ id: t, name: T }]
keys: []
providers:
  - name: p
    kind: openai
    base_url: http://127.0.0.1:9/v1
    models: ${modelsYaml}
pools:
  - { id: m, kind: maas, members: [{ provider: p, model: gpt-4o-mini }, { provider: p, model: house-model }] }
  - { id: b, kind: batch, members: [{ provider: p, model: gpt-4o }] }
routes: []
${catalogLine}
`;
}

describe('price catalog', () => {
  it('fixtures/pricing.yaml is valid and lists the default models', () => {
    const c = loadPriceCatalog(CATALOG);
    expect(c.batch_discount).toBe(0.5);
    expect(c.models['gpt-4o-mini']).toEqual({ input_usd_per_mtok: 0.15, cached_input_usd_per_mtok: 0.075, output_usd_per_mtok: 0.6 });
  });

  it('fills prices the config does not state; config prices win; a model priced nowhere has no price', () => {
    const parsed = parseConfigText(
      config(`pricing: { catalog: ${CATALOG} }`, '[{ name: gpt-4o-mini }, { name: gpt-4o, input_usd_per_mtok: 2, output_usd_per_mtok: 9 }, { name: house-model }]'),
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const plan = compilePlan(parsed.config);
    const [mini, house] = plan.pools.get('m')!.members;
    expect(mini!.price).toMatchObject({ inputUsdPerMtok: 0.15, cachedInputUsdPerMtok: 0.075, outputUsdPerMtok: 0.6 });
    expect(house!.price).toBeNull();
    const batch = plan.pools.get('b')!;
    // The config's own price; a stated input price without a cached one means cached costs the same.
    expect(batch.members[0]!.price).toMatchObject({ inputUsdPerMtok: 2, cachedInputUsdPerMtok: 2, outputUsdPerMtok: 9 });
    expect(batch.batchDiscount).toBe(0.5); // the catalog's
  });

  it('a config file names its catalog relative to itself; a missing one is a config problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-catalog-'));
    writeFileSync(join(dir, 'prices.yaml'), 'batch_discount: 0.25\nmodels: { house-model: { input_usd_per_mtok: 1, output_usd_per_mtok: 2 } }\n');
    writeFileSync(join(dir, 'ok.yaml'), config('pricing: { catalog: prices.yaml }', '[{ name: gpt-4o-mini, input_usd_per_mtok: 0.1, output_usd_per_mtok: 0.2 }, { name: gpt-4o }, { name: house-model }]'));
    const ok = loadConfigFileSync(join(dir, 'ok.yaml'));
    if (!ok.ok) throw new Error(ok.problems.join('\n'));
    const plan = compilePlan(ok.config);
    expect(plan.pools.get('m')!.members[1]!.price).toMatchObject({ inputUsdPerMtok: 1, cachedInputUsdPerMtok: 1, outputUsdPerMtok: 2 });
    expect(plan.pools.get('b')!.batchDiscount).toBe(0.25);
    writeFileSync(join(dir, 'missing.yaml'), config('pricing: { catalog: nope.yaml }', '[{ name: gpt-4o-mini }, { name: gpt-4o }, { name: house-model }]'));
    const missing = loadConfigFileSync(join(dir, 'missing.yaml'));
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.problems[0]).toBe(`pricing.catalog: no such file ${join(dir, 'nope.yaml')}`);
  });

  it('a malformed catalog is refused at compile time with the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-catalog-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'models: { m: { input_usd_per_mtok: -1, output_usd_per_mtok: 2 } }\n');
    expect(() => loadPriceCatalog(bad)).toThrow(/price catalog .*bad\.yaml: models\.m\.input_usd_per_mtok/);
    const parsed = parseConfigText(config(`pricing: { catalog: ${bad} }`, '[{ name: gpt-4o-mini }, { name: gpt-4o }, { name: house-model }]'));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    expect(() => compilePlan(parsed.config)).toThrow(/price catalog/);
  });
});
