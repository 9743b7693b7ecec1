// Micro-benchmark: the admission steps before dispatch, Gateway-free: key lookup (presentedKey +
// authenticate, SHA-256 included), request validation, alias resolution on a small plan, lane
// classification and pool member choice. Sub-microsecond cases run BATCH calls per tinybench iteration
// and report the per-call mean through `overriddenDuration`.
// Run directly: `node dist/bench/micro/admission.bench.js` (after `npm run build`).

import { createHash } from 'node:crypto';
import { Bench } from 'tinybench';
import { collect, printIfMain, type MicroResult } from './harness.js';
import { compilePlan, validateConfig, type Plan } from '../../core/config/index.js';
import { authenticate, keyMayUse, presentedKey } from '../../core/pipeline/auth.js';
import { classifyLane } from '../../core/routing/lane.js';
import { pickMember } from '../../core/routing/pool.js';
import { LoadBoard, chooseReplica } from '../../core/routing/selector.js';
import { canaryArm } from '../../core/routing/canary.js';
import { stablePrefixHash } from '../../core/prompt/prefix.js';
import type { PoolContext, PoolMember } from '../../core/routing/types.js';
import { validateChatRequest } from '../../core/schema/openai-validate.js';
import type { ChatCompletionRequest } from '../../core/schema/openai.js';


const BATCH = 1000;
const KEY = 'sk-acme-crm-0123456789abcdef0123456789abcdef';

function route(alias: string, pool: string): Record<string, unknown> {
  return {
    alias,
    use_case: 'bench',
    owner: 'team-crm',
    route_policy: { lane: 'auto', slo: { ttft_ms: 800, latency_ms: 8000 }, budget: { max_cost_usd: 0.01 }, fallback: [] },
    canary_share: 0,
    canary_target: null,
    fallback_condition: ['timeout', '5xx'],
    pool_id: pool,
    queue_priority: 1,
    latency_class: 'interactive',
    allowed_providers: ['openai', 'azure'],
    quota: { requests_per_minute: 600, tokens_per_minute: 200000 },
    token_budget: { max_input_tokens: 8000, max_output_tokens: 512 },
    safety_policy: null,
    trace_fields: ['scenario_id'],
    prompt: null,
  };
}

/** A small plan: two tenants, a few keys, two providers, two pools, a dozen routes (exact and prefix). */
function smallPlan(): Plan {
  const model = (name: string) => ({ name, input_usd_per_mtok: 0.15, cached_input_usd_per_mtok: 0.075, output_usd_per_mtok: 0.6 });
  const keys = [];
  for (let i = 0; i < 20; i++) {
    keys.push({ id: `k-${i}`, tenant: i % 2 ? 'acme' : 'globex', owner: 'team-crm', key_sha256: createHash('sha256').update(`sk-other-${i}`).digest('hex') });
  }
  keys.push({ id: 'k-crm', tenant: 'acme', owner: 'team-crm', key_sha256: createHash('sha256').update(KEY).digest('hex'), aliases: ['crm.*', 'support.chat'] });
  const routes = [
    route('crm.summary.fast', 'mixed'),
    route('crm.summary.smart', 'large'),
    route('crm.extract.fields', 'mixed'),
    route('support.chat', 'mixed'),
    route('support.triage', 'mixed'),
    route('sales.email.draft', 'large'),
    route('sales.email.review', 'mixed'),
    route('search.rerank', 'mixed'),
    route('team-a.*', 'mixed'),
    route('team-b.*', 'mixed'),
    route('crm.*', 'mixed'),
    route('legal.review', 'large'),
  ];
  const r = validateConfig({
    tenants: [
      { id: 'acme', name: 'Acme' },
      { id: 'globex', name: 'Globex' },
    ],
    keys,
    providers: [
      { name: 'openai', kind: 'openai', base_url: 'http://127.0.0.1:9001/v1', models: [model('gpt-4o-mini'), model('gpt-4o')] },
      { name: 'azure', kind: 'openai', base_url: 'http://127.0.0.1:9002/v1', models: [model('gpt-4o-mini')] },
    ],
    pools: [
      {
        id: 'mixed',
        kind: 'maas',
        members: [
          { provider: 'openai', model: 'gpt-4o-mini', weight: 3 },
          { provider: 'azure', model: 'gpt-4o-mini', weight: 1 },
        ],
      },
      { id: 'large', kind: 'maas', members: [{ provider: 'openai', model: 'gpt-4o', weight: 1 }] },
    ],
    routes,
  });
  if (!r.ok) throw new Error('bench setup: ' + r.problems.join('\n'));
  return compilePlan(r.config, { env: {} });
}

/** A typical parsed request body: system + user turn (~1.5 KB), a few parameters, metadata. */
function typicalBody(): Record<string, unknown> {
  return {
    model: 'crm.summary.fast',
    messages: [
      { role: 'system', content: 'You summarize CRM notes for account managers. Be brief and factual.' },
      { role: 'user', content: 'Summarize: ' + 'The customer asked about renewal pricing and the Q3 rollout. '.repeat(24) },
    ],
    max_tokens: 256,
    temperature: 0.2,
    stream: true,
    stream_options: { include_usage: true },
    metadata: { scenario_id: 'crm-summary-v3', owner: 'team-crm' },
  };
}

export async function run(): Promise<MicroResult[]> {
  const plan = smallPlan();
  const authHeader = 'Bearer ' + KEY;
  const key = authenticate(plan, presentedKey(authHeader, ''));
  if (key === null || key.id !== 'k-crm') throw new Error('bench setup: key should authenticate');
  if (authenticate(plan, 'sk-unknown') !== null) throw new Error('bench setup: unknown key should not authenticate');
  const body = typicalBody();
  if (validateChatRequest(body) !== null) throw new Error('bench setup: body should validate');
  const req = body as unknown as ChatCompletionRequest;
  const names = ['crm.summary.fast', 'support.chat', 'team-a.anything.here', 'crm.notes.v2'];
  for (const n of names) if (plan.aliasTrie.lookup(n) < 0) throw new Error(`bench setup: ${n} should resolve`);
  const route = plan.routes[plan.aliasTrie.lookup('crm.summary.fast')]!;
  if (!keyMayUse(key, route, 'crm.summary.fast')) throw new Error('bench setup: key should be allowed');
  if (classifyLane('auto', req) !== 'direct_small') throw new Error('bench setup: lane should be direct_small');

  let sink = 0;
  let seq = 0;
  const gpuMembers: PoolMember[] = Array.from({ length: 8 }, (_, i) => ({ provider: { name: `r${i}` } as PoolMember['provider'], model: 'llama', weight: 1, price: null }));
  const gpuPool: PoolContext = { id: 'gpu', kind: 'self_hosted', members: gpuMembers, replicas: 8, maxBatch: 64, prefillTokensPerS: 0, decodeTokensPerS: 0, gpuHourUsd: 0 };
  const board = new LoadBoard();
  const bench = new Bench({ name: 'admission (small plan)', time: 300, warmupTime: 100 });
  const batched = (fn: () => number, batch = BATCH) => () => {
    const start = bench.now();
    for (let i = 0; i < batch; i++) sink += fn();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
  };
  bench
    .add(
      'presentedKey (Bearer)',
      batched(() => presentedKey(authHeader, '').length),
    )
    .add(
      'presentedKey + authenticate (hit)',
      batched(() => (authenticate(plan, presentedKey(authHeader, '')) === null ? 0 : 1), 100),
    )
    .add(
      'presentedKey + authenticate (miss)',
      batched(() => (authenticate(plan, presentedKey('', 'sk-unknown-key-0000')) === null ? 0 : 1), 100),
    )
    .add(
      'keyMayUse (prefix pattern)',
      batched(() => (keyMayUse(key, route, 'crm.summary.fast') ? 1 : 0)),
    )
    .add(
      'validateChatRequest (typical body)',
      batched(() => (validateChatRequest(body) === null ? 1 : 0)),
    )
    .add(
      'AliasTrie.lookup (small plan)',
      batched(() => plan.aliasTrie.lookup(names[++seq & 3]!)),
    )
    .add(
      'classifyLane auto (1.5 KB prompt)',
      batched(() => classifyLane('auto', req).length),
    )
    .add(
      'pickMember (weighted, 2 members)',
      batched(() => pickMember(route.pool, route.allowedProviders, ++seq)!.weight),
    )
    .add(
      'chooseReplica (8 replicas, prefix affinity)',
      batched(() => chooseReplica(gpuPool, [], board, (++seq * 2654435761) >>> 0 || 1, seq, null)!.weight),
    )
    .add(
      'stablePrefixHash (a 70-character system prompt before the last message)',
      batched(() => stablePrefixHash(req)),
    )
    .add(
      'canaryArm (request id)',
      batched(() => (canaryArm('req_5d0c2f9a1b0_' + (++seq & 1023), 0.1) ? 1 : 0)),
    );
  await bench.run();
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` observable so calls are not dropped

  const results = collect(bench);
  return results;
}

await printIfMain(import.meta.url, run);
