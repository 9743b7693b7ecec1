// A test config with two policy routes: `safe.chat` (policy `pii`: input and output guards) and
// `safe.agent` (policy `agent-tools`: tool-call rules), on top of testConfigYaml's routes.
import { routeYaml, testConfigYaml } from './stack.js';

export const POLICIES_YAML = `
policies:
  - name: pii
    input:
      - { detector: email, action: redact }
      - { detector: payment_card, action: block }
      - { detector: phone, action: flag }
      - { detector: secret, action: redact }
      - { detector: blocked_terms, terms: [project falcon], action: block }
    output:
      - { detector: email, action: redact }
      - { detector: payment_card, action: block }
      - { detector: secret, action: block }
      - { detector: national_id, action: redact }
    max_input_tokens: 2000
  - name: agent-tools
    output: [{ detector: secret, action: block }]
    tools:
      allowed: [lookup_account, search_docs]
      side_effecting: [send_email]
      max_calls: 4
      schemas:
        send_email:
          type: object
          properties: { to: { type: string, pattern: "^[^@]+@example\\\\.com$" }, body: { type: string } }
          required: [to]
          additionalProperties: false
`;

export function policyConfigYaml(): string {
  const pii = routeYaml('safe.chat', 'maas-sim').replace('safety_policy: null', 'safety_policy: pii');
  const agent = routeYaml('safe.agent', 'maas-sim').replace('safety_policy: null', 'safety_policy: agent-tools').replace('lane: direct_small', 'lane: agentic');
  return testConfigYaml().trimEnd() + pii + agent + '\n' + POLICIES_YAML;
}

