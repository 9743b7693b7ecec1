// Provider `api`: the API a provider speaks (it picks the translator of each attempt).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { validateConfig } from '../../../core/config/load.js';
import { compilePlan } from '../../../core/config/compile.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const base = (): any => YAML.parse(readFileSync(fileURLToPath(new URL('../../../fixtures/config/reference.yaml', import.meta.url)), 'utf8'));

describe('provider api', () => {
  it('defaults from kind (anthropic → anthropic, else openai) and may be stated', () => {
    const data = base();
    data.providers[0].kind = 'anthropic';
    data.providers.push({ ...data.providers[0], name: 'proxy', kind: 'openai', api: 'anthropic' });
    const r = validateConfig(data);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const urls = new Map(r.config.providers.map((p) => [p.name, 'http://127.0.0.1:9/v1']));
    const plan = compilePlan(r.config, { env: {}, providerBaseUrls: urls });
    expect(plan.providers.get(data.providers[0].name)!.api).toBe('anthropic');
    expect(plan.providers.get('proxy')!.api).toBe('anthropic');
    for (const p of plan.providers.values()) if (p.kind !== 'anthropic' && p.name !== 'proxy') expect(p.api, p.name).toBe('openai');
  });

  it('refuses an unknown api, and api anthropic on kinds that speak only the OpenAI API', () => {
    const data = base();
    data.providers[0].api = 'gemini';
    let r = validateConfig(data);
    expect(r.ok === false && r.problems.some((p) => p.startsWith('providers.0.api:'))).toBe(true);
    const d2 = base();
    d2.providers[0].kind = 'vllm';
    d2.providers[0].api = 'anthropic';
    r = validateConfig(d2);
    expect(r.ok === false && r.problems.some((p) => p.startsWith('providers.0.api: kind vllm speaks the OpenAI API'))).toBe(true);
  });
});
