// A stack with an OpenAI-style provider and an Anthropic-style provider (both the managed-API simulator,
// speaking each API), and routes on each, one falling back from a failing OpenAI-style pool to the
// Anthropic-style pool.
import { DEMO_KEY_SHA256, routeYaml } from './stack.js';

export const MULTI_API_YAML = `
server: { max_body_bytes: 262144 }
tenants: [{ id: demo, name: Demo }]
keys:
  - { id: k-demo, tenant: demo, owner: team-demo, key_sha256: ${DEMO_KEY_SHA256} }
providers:
  - name: sim
    kind: openai
    api_key_env: SWITCHYARD_TEST_PROVIDER_KEY
    timeout_ms: 2000
    simulator: { seed: 7 }
    models:
      - { name: gpt-4o-mini, input_usd_per_mtok: 0.15, cached_input_usd_per_mtok: 0.075, output_usd_per_mtok: 0.6 }
      - { name: text-embedding-3-small, input_usd_per_mtok: 0.02, output_usd_per_mtok: 0 }
  - name: claude
    kind: anthropic
    api_key_env: SWITCHYARD_TEST_PROVIDER_KEY
    timeout_ms: 2000
    simulator: { seed: 11 }
    models:
      - { name: claude-haiku-4-5, input_usd_per_mtok: 1, cached_input_usd_per_mtok: 0.1, output_usd_per_mtok: 5 }
  - name: flaky
    kind: openai
    api_key_env: SWITCHYARD_TEST_PROVIDER_KEY
    timeout_ms: 2000
    simulator: { seed: 3, error_rate: 1, errors: { server_error: 1 } }
    models:
      - { name: gpt-4o-mini, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 }
pools:
  - { id: maas-sim, kind: maas, members: [{ provider: sim, model: gpt-4o-mini }] }
  - { id: maas-embed, kind: maas, members: [{ provider: sim, model: text-embedding-3-small }] }
  - { id: maas-claude, kind: maas, members: [{ provider: claude, model: claude-haiku-4-5 }] }
  - { id: maas-flaky, kind: maas, members: [{ provider: flaky, model: gpt-4o-mini }] }
  - { id: maas-mixed, kind: maas, members: [{ provider: claude, model: claude-haiku-4-5 }, { provider: sim, model: gpt-4o-mini }] }
routes:${routeYaml('openai.chat', 'maas-sim')}${routeYaml('claude.chat', 'maas-claude', { allowedProviders: ['claude'] })}${routeYaml('flaky.chat', 'maas-flaky', { allowedProviders: ['flaky'], fallback: ['claude.chat'] })}${routeYaml('embed.small', 'maas-embed')}${routeYaml('claude.strict', 'maas-claude', { allowedProviders: ['claude'], fallback: ['openai.chat'] })}${routeYaml('claude.only', 'maas-claude', { allowedProviders: ['claude'] })}${routeYaml('mixed.chat', 'maas-mixed', { allowedProviders: ['claude', 'sim'] })}
`;
