// Prefix affinity on a multi-turn agentic trace, against the self-hosted GPU pool simulator: the same
// sessions run twice through the gateway — prefix affinity on, then off (`prefix_affinity: false` on the
// pool: least expected queue only) — each time against fresh simulator replicas (cold prefix caches).
// Reports, side by side: the prefix-cache hit rate (cached ÷ prompt tokens, as the replicas report them
// in usage.prompt_tokens_details.cached_tokens; and the share of requests with any cached tokens) and
// time to first token (mean, p50, p90; measured by the client: request sent → first chunk with text).
//
// Trace: fixtures/traces/agentic-sessions.jsonl — one agent run per line (a support ticket, then steps
// of tool call + tool result). Every session runs concurrently; within a session each step waits for the
// previous answer and sends the whole history, as an agent loop does. The route uses the prompt
// template fixtures/prompts/ops-agent.v1.yaml (a long system prompt and five tools).
//
// Run: `node dist/bench/macro/prefix-affinity.js [--sessions N] [--steps N] [--replicas N]
//       [--max-batch N] [--prefill N] [--decode N] [--json]` (after `npm run build`),
// or `switchyard bench prefix`.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { compilePlan, Gateway, MemoryTraceSink, parseConfigText } from '../../core/index.js';
import { startUwsServer } from '../../transports/uws/server.js';
import { startGpuPoolSimulator } from '../../simulators/index.js';

/** The checkout's root (the nearest directory with a package.json): the same from bench/ and dist/bench/. */
const ROOT = ((): string => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d + '/';
})();
const DEMO_KEY = 'sk-switchyard-demo';
/** An SSE chunk carrying generated text (a non-empty `content` string). */
const FIRST_TOKEN = /"content":"[^"]/;
const DEMO_KEY_SHA256 = '37cbfc183c342e976476530bb738059047143238dbbee2003f91b27a3d546483';

export const PREFIX_USAGE = `prefix options: --sessions N (24) --steps N (8) --replicas N (4) --max-batch N (8) --prefill TOK/S (8000) --decode TOK/S (100)`;

export interface PrefixBenchOptions {
  sessions: number;
  steps: number;
  replicas: number;
  maxBatch: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
}

export const DEFAULT_PREFIX_OPTIONS: PrefixBenchOptions = { sessions: 24, steps: 8, replicas: 4, maxBatch: 8, prefillTokensPerS: 8000, decodeTokensPerS: 100 };

interface Session {
  session: string;
  task: string;
  steps: Array<{ thought: string; tool: string; arguments: string; result: string }>;
}

export interface ModeResult {
  affinity: boolean;
  requests: number;
  errors: number;
  prompt_tokens: number;
  cached_tokens: number;
  /** cached ÷ prompt tokens. */
  token_hit_rate: number;
  /** Share of requests with any cached tokens. */
  request_hit_rate: number;
  ttft_ms: { mean: number; p50: number; p90: number };
  /** Requests per replica. */
  spread: number[];
  wall_s: number;
}

export function loadSessions(n: number): Session[] {
  const lines = readFileSync(ROOT + 'fixtures/traces/agentic-sessions.jsonl', 'utf8').split('\n').filter((l) => l !== '');
  return lines.slice(0, n).map((l) => JSON.parse(l) as Session);
}

/** The messages of step `k` of a session: the task, then k rounds of assistant tool call + tool result. */
export function stepMessages(s: Session, k: number): unknown[] {
  const messages: unknown[] = [{ role: 'user', content: s.task }];
  for (let j = 0; j < k; j++) {
    const st = s.steps[j]!;
    const id = `call_${s.session}_${j}`;
    messages.push({ role: 'assistant', content: st.thought, tool_calls: [{ id, type: 'function', function: { name: st.tool, arguments: st.arguments } }] });
    messages.push({ role: 'tool', tool_call_id: id, content: st.result });
  }
  return messages;
}

function configYaml(urls: string[], o: PrefixBenchOptions, affinity: boolean): string {
  return `
tenants: [{ id: demo, name: Demo }]
keys: [{ id: k-demo, tenant: demo, owner: team-ops, key_sha256: ${DEMO_KEY_SHA256} }]
providers:${urls.map((u, i) => `\n  - { name: r${i}, kind: vllm, base_url: ${u}, timeout_ms: 120000, models: [{ name: llama, input_usd_per_mtok: 0, output_usd_per_mtok: 0 }] }`).join('')}
pools:
  - id: gpu
    kind: self_hosted
    members: [${urls.map((_, i) => `{ provider: r${i}, model: llama }`).join(', ')}]
    replicas: ${urls.length}
    max_batch: ${o.maxBatch}
    prefill_tokens_per_s: ${o.prefillTokensPerS}
    decode_tokens_per_s: ${o.decodeTokensPerS}
    prefix_affinity: ${affinity}
routes:
  - alias: ops.agent
    use_case: support-ticket agent loop
    owner: team-ops
    route_policy: { lane: agentic, slo: { ttft_ms: 60000, latency_ms: 120000 }, budget: { max_cost_usd: null }, fallback: [] }
    canary_share: 0
    canary_target: null
    fallback_condition: []
    pool_id: gpu
    queue_priority: 1
    latency_class: standard
    allowed_providers: [${urls.map((_, i) => `r${i}`).join(', ')}]
    quota: { requests_per_minute: 1000000, tokens_per_minute: 1000000000 }
    token_budget: { max_input_tokens: 100000, max_output_tokens: 512 }
    safety_policy: null
    trace_fields: [scenario_id, prompt_version]
    prompt: { template: ops-agent, version: 1 }
prompts:
  - name: ops-agent
    versions: [{ version: 1, file: fixtures/prompts/ops-agent.v1.yaml }]
`;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One run of every session through the gateway, with prefix affinity on or off. */
export async function runMode(o: PrefixBenchOptions, affinity: boolean): Promise<ModeResult> {
  const sim = await startGpuPoolSimulator({ replicas: o.replicas, max_batch: o.maxBatch, prefill_tokens_per_s: o.prefillTokensPerS, decode_tokens_per_s: o.decodeTokensPerS, seed: 7, output_tokens: 8 });
  const parsed = parseConfigText(configYaml(sim.replicas.map((r) => r.url), o, affinity), 'prefix-affinity bench', ROOT);
  if (!parsed.ok) {
    await sim.close();
    throw new Error(parsed.problems.join('\n'));
  }
  const traces = new MemoryTraceSink();
  const gateway = new Gateway({ plan: compilePlan(parsed.config), traces });
  const server = await startUwsServer(gateway, { port: 0 });
  const agent = new Agent({ connections: o.sessions * 2 });
  const sessions = loadSessions(o.sessions);
  let errors = 0;
  let wallS = 0;
  const ttfts: number[] = [];
  const t0 = performance.now();
  try {
    await Promise.all(
      sessions.map(async (s) => {
        for (let k = 0; k < Math.min(o.steps, s.steps.length + 1); k++) {
          const start = performance.now();
          const r = await request(server.url + '/v1/chat/completions', {
            method: 'POST',
            dispatcher: agent,
            headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', 'x-switchyard-scenario': 'ops-ticket' },
            body: JSON.stringify({ model: 'ops.agent', stream: true, messages: stepMessages(s, k) }),
          });
          // Time to first token, client side: the first chunk with generated text (a stream's headers
          // and its role chunk leave at admission, before prefill).
          let first = -1;
          for await (const chunk of r.body) {
            if (first < 0 && FIRST_TOKEN.test((chunk as Buffer).toString('latin1'))) first = performance.now() - start;
          }
          if (r.statusCode !== 200 || first < 0) errors++;
          else ttfts.push(first);
        }
      }),
    );
  } finally {
    wallS = (performance.now() - t0) / 1000;
    server.close();
    await agent.close();
    await gateway.upstream.destroy();
    await gateway.close();
    await sim.close();
  }
  const ok = traces.records.filter((t) => t.status === 200);
  const prompt = ok.reduce((n, t) => n + t.input_tokens, 0);
  const cached = ok.reduce((n, t) => n + t.cached_input_tokens, 0);
  ttfts.sort((a, b) => a - b);
  const spread = sim.replicas.map((_, i) => ok.filter((t) => t.provider === `r${i}`).length);
  return {
    affinity,
    requests: traces.records.length,
    errors,
    prompt_tokens: prompt,
    cached_tokens: cached,
    token_hit_rate: prompt > 0 ? cached / prompt : 0,
    request_hit_rate: ok.length > 0 ? ok.filter((t) => t.cached_input_tokens > 0).length / ok.length : 0,
    ttft_ms: { mean: ttfts.reduce((a, b) => a + b, 0) / Math.max(1, ttfts.length), p50: quantile(ttfts, 0.5), p90: quantile(ttfts, 0.9) },
    spread,
    wall_s: wallS,
  };
}

export async function runPrefixBench(o: PrefixBenchOptions = DEFAULT_PREFIX_OPTIONS): Promise<ModeResult[]> {
  return [await runMode(o, true), await runMode(o, false)];
}

export function parsePrefixArgs(args: readonly string[]): PrefixBenchOptions {
  const o = { ...DEFAULT_PREFIX_OPTIONS };
  const names: Record<string, keyof PrefixBenchOptions> = { '--sessions': 'sessions', '--steps': 'steps', '--replicas': 'replicas', '--max-batch': 'maxBatch', '--prefill': 'prefillTokensPerS', '--decode': 'decodeTokensPerS' };
  for (let i = 0; i < args.length; i++) {
    const k = names[args[i]!];
    if (k === undefined) continue;
    const v = Number(args[++i]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${args[i - 1]} needs a positive number`);
    o[k] = v;
  }
  return o;
}

export function formatPrefixTable(rows: readonly ModeResult[]): string {
  const pct = (x: number) => (x * 100).toFixed(1) + '%';
  const f = (x: number) => x.toFixed(1);
  const header = '| prefix affinity | requests | prompt tokens | cached tokens | token hit rate | requests with a hit | TTFT mean ms | TTFT p50 ms | TTFT p90 ms | requests per replica | wall s |';
  const sep = '|---|---|---|---|---|---|---|---|---|---|---|';
  const lines = rows.map((r) =>
    `| ${r.affinity ? 'on' : 'off'} | ${r.requests}${r.errors > 0 ? ` (${r.errors} errors)` : ''} | ${r.prompt_tokens} | ${r.cached_tokens} | ${pct(r.token_hit_rate)} | ${pct(r.request_hit_rate)} | ${f(r.ttft_ms.mean)} | ${f(r.ttft_ms.p50)} | ${f(r.ttft_ms.p90)} | ${r.spread.join(' / ')} | ${r.wall_s.toFixed(1)} |`,
  );
  return [header, sep, ...lines].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const rows = await runPrefixBench(parsePrefixArgs(args));
  if (args.includes('--json')) for (const r of rows) process.stdout.write(JSON.stringify({ suite: 'prefix', ...r }) + '\n');
  else process.stdout.write(formatPrefixTable(rows) + '\n');
}
