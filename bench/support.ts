// Fixtures shared by benchmarks and tests (test/ may import bench/): a realistic trace record and a
// Redis reachability probe.
import { Redis } from 'ioredis';
import { TraceRecord, isoTime, type AttemptRecord } from '../core/telemetry/trace.js';

/** One attempt of a trace record (defaults: a 200 from openai). */
export function sampleAttempt(over: Partial<AttemptRecord> = {}): AttemptRecord {
  return { pool_id: 'maas-openai', provider: 'openai', status: 200, error_code: null, queue_time_ms: 1.25, latency_ms: 812.5, input_tokens: 812, cached_input_tokens: 512, output_tokens: 64, cost_usd: 0.00010305, ...over };
}

/** A record like the gateway writes for a successful streamed request that fell back once; `i` varies it. */
export function sampleTraceRecord(i = 0): TraceRecord {
  const r = new TraceRecord();
  r.request_id = `req_01HZX${String(i).padStart(8, '0')}`;
  r.ts = isoTime(1_717_000_000_000 + i * 7);
  r.tenant = 'acme';
  r.key_id = 'k-acme-crm';
  r.owner = 'team-crm';
  r.scenario_id = 'crm-summary-v3';
  r.alias = 'crm.summary.fast';
  r.route_lane = 'direct_small';
  r.pool_id = 'maas-openai';
  r.provider = 'openai';
  r.model = 'gpt-4o-mini';
  r.prompt_version = 3;
  r.canary = i % 20 === 0;
  r.attempts = [sampleAttempt({ pool_id: 'maas-azure', provider: 'azure', status: 503, error_code: 'upstream_unavailable', latency_ms: 41, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, cost_usd: 0 }), sampleAttempt()];
  r.stop_reason = 'stop';
  r.queue_time_ms = 0.42;
  r.ttft_ms = 231.7;
  r.latency_ms = 1204.9;
  r.input_tokens = 812 + i;
  r.cached_input_tokens = 512;
  r.output_tokens = 64;
  r.tokens_estimated = false;
  r.cost_usd = 0.00010305 + i * 1e-9;
  r.cache = 'miss';
  r.policy_violations = i % 2 === 0 ? [] : ['pii.email'];
  r.status = 200;
  r.outcome = 'success';
  r.error_code = null;
  r.stream = true;
  return r;
}

/** null when Redis at `url` answers PING, else why not. */
export async function redisUnreachable(url: string): Promise<string | null> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  let cause: Error | null = null;
  r.on('error', (err: Error) => (cause ??= err));
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (err) {
    return (cause ?? (err as Error)).message;
  } finally {
    r.disconnect();
  }
}
