// Capacity replay: a discrete-event simulation, in virtual time, of the gateway's routing in front of
// simulated pools. The routing decisions are the live gateway's own code, called the way
// core/pipeline/chat-call.ts calls it:
//   alias → route        core/routing/alias-trie.ts (the compiled Plan's trie)
//   lane                 core/routing/lane.ts classifyLane (fixed lanes as is; `auto` from token counts, below)
//   canary arm           core/routing/canary.ts canaryArm over a request id
//   member               core/routing/pool.ts pickMember (maas, batch), selector.ts chooseReplica (self_hosted)
//   ejection             core/routing/health.ts MemberHealth
//   retry / fallback     core/routing/retry.ts decideNext + RetryBudget
//   limits               core/limits SharedLimitStore with the Plan's cells (tenant + route), at virtual now
//   cost                 core/accounting/cost.ts costUsd with the Plan's prices
// and the pools are simulators' models:
//   self_hosted          one simulators/gpu-model.ts GpuReplicaModel per replica (queue, batching, prefix cache)
//   maas, batch          each member behaves as its simulator profile (simulators/profile.ts): ttft_ms, then
//                        output at tokens_per_s; faults drawn at error_rate with the profile's weights
//
// No timers, no promises, no sockets: one EventQueue (replay/des.ts); per request one pooled record; per
// self-hosted attempt one pooled GpuSeq. Deterministic for a seed: all randomness comes from one Rng
// consumed in event order, and ties in time leave the queue in scheduling order.
//
// Where the replay must differ from the live path (the trace has token counts, not bodies):
// - `auto` lanes: a prompt of input_tokens × 4 characters against LARGE_PROMPT_CHARS, output_tokens against
//   LARGE_OUTPUT_TOKENS (tools are not in the trace, so `agentic` is never chosen automatically).
// - admission uses the tenant's and the named route's limits (a trace names a tenant, not a key).
// - a request's output is min(output_tokens, the route's max_output_tokens); it does not state
//   max_tokens, so admission reserves input + max_output_tokens, as the gateway does when none is sent.
// - the queue_time_over_slo estimate is chat-call.ts's formula (queueOverSlo), repeated here.
// - a replica's load is what one gateway knows: its own requests in flight (no other gateways).
// - ttft is the first output token's time for streams and non-streams alike (server-side TTFT).
import { canaryArm } from '../core/routing/canary.js';
import { MemberHealth } from '../core/routing/health.js';
import { classifyLane, LARGE_OUTPUT_TOKENS, LARGE_PROMPT_CHARS, type ConcreteLane } from '../core/routing/lane.js';
import { pickMember, type MemberFilter } from '../core/routing/pool.js';
import { decideNext, RetryBudget, type FailureKind } from '../core/routing/retry.js';
import { chooseReplica, LoadBoard, ReplicaLoad } from '../core/routing/selector.js';
import { fnv1a } from '../core/routing/canary.js';
import { SharedLimitStore } from '../core/limits/shared-store.js';
import { ReserveOutcome, type LimitCell } from '../core/limits/store.js';
import { usdToMicro, type Limit } from '../core/limits/cells.js';
import { costUsd } from '../core/accounting/cost.js';
import type { Plan, PoolContext, PoolMember, RouteContext } from '../core/config/plan.js';
import type { ChatCompletionRequest } from '../core/schema/openai.js';
import { GpuReplicaModel, GpuSeq, SeqState, type GpuModelListener } from '../simulators/gpu-model.js';
import { resolveProfile, FAULT_KINDS, type FaultKind, type ResolvedProfile } from '../simulators/profile.js';
import { EventQueue } from './des.js';
import { Rng } from './rng.js';
import { GroupStats, Series } from './stats.js';
import type { PoolOverride } from './pools.js';
import type { TraceColumns } from './trace-format.js';

// Event kinds.
const EV_ARRIVAL = 1;
const EV_WAKE = 2;
const EV_MAAS_DONE = 3;
const EV_DEADLINE = 4;
const EV_RETRY = 5;
const EV_SAMPLE = 6;

// Outcomes of a managed-API attempt, decided at dispatch.
const M_OK = 0;
const M_FAIL = 1;
const M_STREAM_CUT = 2;

export interface ReplayOptions {
  plan: Plan;
  /** Pool settings from the pools file (by pool id). */
  pools: Record<string, PoolOverride>;
  seed: number;
  /** Wall-clock time (epoch ms) of virtual t = 0: budget windows roll over on calendar days. */
  startMs: number;
  /** Time-series bins over the trace's duration. Default 120. */
  bins?: number;
  /** Called every few thousand arrivals and at the end. */
  onProgress?: (arrived: number, total: number, virtualMs: number) => void;
}

/** A managed-API member's behaviour. */
interface MaasProfile {
  ttftMs: number;
  tokensPerS: number;
  errorRate: number;
  /** Cumulative fault weights in FAULT_KINDS order. */
  faultCum: Float64Array;
  retryAfterMs: number;
}

class SimPool {
  readonly index: number;
  readonly id: string;
  readonly kind: PoolContext['kind'];
  /** What member choice runs on: the Plan's pool, or (self_hosted) one member per replica. */
  readonly ctx: PoolContext;
  readonly stats: GroupStats;
  readonly replicaIds: number[] = [];
  readonly profiles = new Map<PoolMember, MaasProfile>();
  errorRate = 0;
  prefixShare = 0.5;
  gpuHourUsd = 0;
  replicas = 0;
  maxBatch = 0;
  attempts = 0;
  attemptErrors = 0;
  /** A member of this pool has failed at least once. */
  failed = false;
  occupancyLastMs = 0;
  /** Busy batch slots ÷ all slots over the run (self_hosted; null otherwise). */
  utilization: number | null = null;
  readonly utilSeries: Float64Array;
  readonly costSeries: Series;
  constructor(index: number, ctx: PoolContext, bins: number, binMs: number) {
    this.index = index;
    this.id = ctx.id;
    this.kind = ctx.kind;
    this.ctx = ctx;
    this.stats = new GroupStats(bins, binMs, true);
    this.utilSeries = new Float64Array(bins);
    this.costSeries = new Series(bins, binMs);
  }
}

interface Replica {
  readonly id: number;
  readonly pool: SimPool;
  readonly member: PoolMember;
  readonly model: GpuReplicaModel<Req>;
  readonly load: ReplicaLoad;
  wakeAt: number;
}

/** One request in flight (pooled: recycled when it finishes). */
class Req {
  slot = 0;
  i = 0;
  arrivalMs = 0;
  named: RouteContext | null = null;
  primary: RouteContext | null = null;
  route: RouteContext | null = null;
  lane = 0;
  aliasGroup = 0;
  canary = false;
  inputTokens = 0;
  outputTokens = 0;
  stream = false;
  prefix = -1;
  seq = 0;
  attempts = 0;
  retriesOnRoute = 0;
  fallbackPos = -1;
  isRetry = false;
  spentUsd = 0;
  member: PoolMember | null = null;
  pool: SimPool | null = null;
  replica: Replica | null = null;
  gpu: GpuSeq<Req> | null = null;
  avoid: PoolMember | null = null;
  attemptStart = 0;
  queueMs = 0;
  firstTokenMs = -1;
  deadlineMs = -1;
  // Managed-API attempt outcome, decided at dispatch.
  mOutcome = M_OK;
  mKind: FailureKind = '5xx';
  mRetryAfterMs = 0;
  // Admission.
  limits: readonly Limit[] | null = null;
  cells: readonly LimitCell[] | null = null;
  costs: number[] = [];
  reservedTokens = 0;
  reservedMicro = 0;
  cachedTokens = 0;
  costUsd = 0;
}

/** What a run counted; turned into report.json by report.ts. */
export interface ReplayResult {
  requests: number;
  durationMs: number;
  endMs: number;
  events: number;
  wallMs: number;
  binMs: number;
  bins: number;
  lanes: Map<string, GroupStats>;
  aliases: Map<string, GroupStats>;
  pools: SimPool[];
  rejections: Map<string, number>;
  errors: Map<string, number>;
  /** Pool cost (GPU hours for self_hosted; tokens for others), USD. */
  poolCost: Map<string, number>;
}

export type { SimPool };

const LANE_NAMES = ['direct_small', 'direct_large', 'agentic', 'unrouted'] as const;
const LANE_UNROUTED = 3;

function laneIndex(l: ConcreteLane): number {
  return l === 'direct_small' ? 0 : l === 'direct_large' ? 1 : 2;
}

export class ReplayEngine implements MemberFilter, GpuModelListener<Req> {
  private readonly plan: Plan;
  private readonly trace: TraceColumns;
  private readonly q = new EventQueue(4096);
  private readonly rng: Rng;
  private readonly startMs: number;
  private readonly store: SharedLimitStore;
  private readonly out = new ReserveOutcome();
  private readonly health = new MemberHealth();
  private readonly retryBudget = new RetryBudget();
  private readonly board: ReplayBoard;
  private readonly bins: number;
  private readonly binMs: number;
  private readonly pools: SimPool[] = [];
  private readonly poolOf = new Map<PoolContext, SimPool>();
  private readonly replicas: Replica[] = [];
  private readonly replicaOf = new Map<PoolMember, Replica>();
  private readonly laneStats: GroupStats[];
  private readonly aliasStats: GroupStats[] = [];
  /** Per trace alias id: route index (−2: not looked up yet). */
  private readonly aliasRoute: Int32Array;
  /** Admission per (tenant id, route index). */
  private readonly admission = new Map<number, { limits: readonly Limit[]; cells: readonly LimitCell[] }>();
  private readonly rejections = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  /** Per group (lane, alias, pool), batch-slot time held on each self-hosted pool (to share GPU cost). */
  private readonly occ = new Map<GroupStats, Float64Array>();
  private reqs: Req[] = [];
  private free: number[] = [];
  private gpuFree: GpuSeq<Req>[] = [];
  private inFlight = 0;
  private seqCounter = 0;
  private avoidNow: PoolMember | null = null;
  /** Whether the pool being chosen from has ever had a member fail (only then can one be ejected). */
  private healthNow = false;
  private readonly onProgress: ReplayOptions['onProgress'];
  private readonly laneProbe: ChatCompletionRequest;

  constructor(trace: TraceColumns, opts: ReplayOptions) {
    this.plan = opts.plan;
    this.trace = trace;
    this.rng = new Rng(opts.seed);
    this.startMs = opts.startMs;
    this.onProgress = opts.onProgress;
    this.bins = Math.max(1, opts.bins ?? 120);
    this.binMs = Math.max(1, Math.ceil((trace.durationS * 1000 + 1) / this.bins));
    this.store = SharedLimitStore.create(Math.max(1, this.plan.limits.cells.length));
    this.board = new ReplayBoard();
    this.laneStats = LANE_NAMES.map(() => new GroupStats(this.bins, this.binMs));
    for (let a = 0; a < trace.aliases.size; a++) this.aliasStats.push(new GroupStats(this.bins, this.binMs));
    this.aliasRoute = new Int32Array(trace.aliases.size).fill(-2);
    // A fixed-lane probe: classifyLane only reads the body for `auto` routes, which are handled here.
    this.laneProbe = { model: '', messages: [] } as unknown as ChatCompletionRequest;
    this.buildPools(opts.pools);
  }

  private buildPools(over: Record<string, PoolOverride>): void {
    for (const id of Object.keys(over)) {
      if (!this.plan.pools.has(id)) throw new Error(`pools file: pool '${id}' is not in the config (pools: ${[...this.plan.pools.keys()].join(', ')})`);
    }
    for (const pc of this.plan.pools.values()) {
      const o = over[pc.id] ?? {};
      let ctx = pc;
      let sp: SimPool;
      if (pc.kind === 'self_hosted') {
        const replicas = o.replicas ?? (pc.replicas > 0 ? pc.replicas : pc.members.length);
        const maxBatch = o.max_batch ?? pc.maxBatch;
        const prefill = o.prefill_tokens_per_s ?? pc.prefillTokensPerS;
        const decode = o.decode_tokens_per_s ?? pc.decodeTokensPerS;
        const missing = [maxBatch > 0 ? '' : 'max_batch', prefill > 0 ? '' : 'prefill_tokens_per_s', decode > 0 ? '' : 'decode_tokens_per_s'].filter((x) => x !== '');
        if (missing.length > 0) throw new Error(`pool '${pc.id}' (self_hosted) needs ${missing.join(', ')} in the config or the pools file`);
        // One member per replica, round-robin over the configured members (same provider, same model).
        const members: PoolMember[] = [];
        for (let r = 0; r < replicas; r++) {
          const m = pc.members[r % pc.members.length]!;
          members.push(new ReplicaMember(m.provider, m.model, m.weight, m.price));
        }
        ctx = { id: pc.id, kind: pc.kind, members, replicas, maxBatch, prefillTokensPerS: prefill, decodeTokensPerS: decode, gpuHourUsd: o.gpu_hour_usd ?? pc.gpuHourUsd };
        sp = new SimPool(this.pools.length, ctx, this.bins, this.binMs);
        sp.replicas = replicas;
        sp.maxBatch = maxBatch;
        sp.gpuHourUsd = ctx.gpuHourUsd;
        for (let r = 0; r < replicas; r++) {
          const member = members[r]!;
          const model = new GpuReplicaModel<Req>(
            {
              max_batch: maxBatch,
              prefill_tokens_per_s: prefill,
              decode_tokens_per_s: decode,
              ...(o.prefix_cache_tokens !== undefined ? { prefix_cache_tokens: o.prefix_cache_tokens } : {}),
              ...(o.decode_slowdown !== undefined ? { decode_slowdown: o.decode_slowdown } : {}),
            },
            this,
          );
          const rep: Replica = { id: this.replicas.length, pool: sp, member, model, load: this.board.add(member, `${member.provider.name}\u0000${member.model}\u0000${r}`), wakeAt: -1 };
          this.replicas.push(rep);
          this.replicaOf.set(member, rep);
          sp.replicaIds.push(rep.id);
        }
      } else {
        sp = new SimPool(this.pools.length, ctx, this.bins, this.binMs);
        for (const m of pc.members) {
          const base = resolveProfile(this.simulatorOf(m.provider.name));
          const p = resolveProfile({
            seed: base.seed,
            ttft_ms: o.ttft_ms ?? base.ttft_ms,
            tokens_per_s: o.tokens_per_s ?? base.tokens_per_s,
            error_rate: o.error_rate ?? base.error_rate,
            errors: o.errors ?? base.errors,
            retry_after_s: o.retry_after_s ?? base.retry_after_s,
          });
          sp.profiles.set(m, maasProfile(p));
        }
      }
      sp.errorRate = o.error_rate ?? 0;
      sp.prefixShare = o.prefix_share ?? 0.5;
      this.pools.push(sp);
      this.poolOf.set(pc, sp);
    }
  }

  /** The provider's `simulator` profile in the config (empty when it has none). */
  private simulatorOf(provider: string): Record<string, unknown> {
    const p = this.plan.config.providers.find((x) => x.name === provider);
    const sim = (p?.simulator ?? {}) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(sim)) if (v !== undefined) out[k] = v;
    return out;
  }

  // ---- MemberFilter (the gateway's ChatCall plays this role) ----------------------------------------

  skip(member: PoolMember): boolean {
    // MemberHealth ejects only after failures: a pool that never failed has nothing ejected.
    return member === this.avoidNow || (this.healthNow && this.health.isEjected(member, this.q.now));
  }

  // ---- run ------------------------------------------------------------------------------------------

  run(): ReplayResult {
    const wall0 = performance.now();
    const n = this.trace.length;
    if (n > 0) this.q.schedule(this.trace.t[0]! * 1000, EV_ARRIVAL, 0);
    for (let b = 1; b <= this.bins; b++) this.q.schedule(b * this.binMs, EV_SAMPLE, b - 1);
    const q = this.q;
    let lastMs = 0; // the last event that did something (stale deadlines and wakes do not count)
    while (q.pop()) {
      const arg = q.arg;
      switch (q.kind) {
        case EV_ARRIVAL:
          lastMs = q.now;
          this.arrive(arg);
          if (arg + 1 < n) q.schedule(this.trace.t[arg + 1]! * 1000, EV_ARRIVAL, arg + 1);
          if ((arg & 0x3fff) === 0 && this.onProgress !== undefined) this.onProgress(arg, n, q.now);
          break;
        case EV_WAKE: {
          const r = this.replicas[arg]!;
          if (r.wakeAt !== q.now) break; // stale
          lastMs = q.now;
          r.wakeAt = -1;
          r.model.advance(q.now);
          this.rewake(r);
          break;
        }
        case EV_MAAS_DONE:
          lastMs = q.now;
          this.maasDone(this.reqs[arg]!);
          break;
        case EV_DEADLINE: {
          const req = this.reqs[arg]!;
          if (req.deadlineMs === q.now && req.gpu !== null) {
            lastMs = q.now;
            this.gpuTimeout(req);
          }
          break;
        }
        case EV_RETRY:
          lastMs = q.now;
          this.nextAttempt(this.reqs[arg]!);
          break;
        case EV_SAMPLE:
          this.sample(arg);
          break;
      }
    }
    const endMs = Math.max(lastMs, this.trace.durationS * 1000);
    for (const r of this.replicas) r.model.advance(endMs);
    if (this.onProgress !== undefined) this.onProgress(n, n, endMs);
    return this.result(endMs, performance.now() - wall0);
  }

  // ---- arrival: alias, lane, canary, member, token budget, admission ---------------------------------

  private alloc(): Req {
    const s = this.free.pop();
    if (s !== undefined) return this.reqs[s]!;
    const r = new Req();
    r.slot = this.reqs.length;
    this.reqs.push(r);
    return r;
  }

  private arrive(i: number): void {
    const tr = this.trace;
    const req = this.alloc();
    const now = this.q.now;
    req.i = i;
    req.arrivalMs = now;
    req.seq = ++this.seqCounter;
    req.attempts = 0;
    req.retriesOnRoute = 0;
    req.fallbackPos = -1;
    req.isRetry = false;
    req.spentUsd = 0;
    req.member = null;
    req.pool = null;
    req.replica = null;
    req.gpu = null;
    req.avoid = null;
    req.queueMs = 0;
    req.firstTokenMs = -1;
    req.deadlineMs = -1;
    req.limits = null;
    req.cells = null;
    req.cachedTokens = 0;
    req.costUsd = 0;
    req.canary = false;
    req.stream = tr.stream[i] === 1;
    req.prefix = tr.prefix[i]!;
    req.inputTokens = tr.input[i]!;
    const aliasId = tr.alias[i]!;
    req.aliasGroup = aliasId;
    req.lane = LANE_UNROUTED;
    this.inFlight++;

    let ri = this.aliasRoute[aliasId]!;
    if (ri === -2) ri = this.aliasRoute[aliasId] = this.plan.aliasTrie.lookup(tr.aliases.names[aliasId]!);
    if (ri < 0) return this.reject(req, 'alias_not_found', null);
    const named = this.plan.routes[ri]!;
    req.named = named;
    const tenant = tr.tenants.names[tr.tenant[i]!]!;
    if (named.tenants !== null && !named.tenants.has(tenant)) return this.reject(req, 'alias_not_found', null);
    req.outputTokens = Math.min(tr.output[i]!, named.tokenBudget.maxOutputTokens);

    // Lane: fixed lanes through classifyLane itself; `auto` by the same thresholds from token counts.
    let lane: ConcreteLane;
    if (named.lane !== 'auto') lane = classifyLane(named.lane, this.laneProbe);
    else lane = req.inputTokens * 4 > LARGE_PROMPT_CHARS || req.outputTokens > LARGE_OUTPUT_TOKENS ? 'direct_large' : 'direct_small';
    req.lane = laneIndex(lane);

    let route = named;
    if (named.canaryTargetIndex >= 0 && canaryArm('rp-' + req.seq.toString(36), named.canaryShare)) {
      req.canary = true;
      route = this.plan.routes[named.canaryTargetIndex]!;
    }
    req.primary = route;
    req.route = route;
    const member = this.chooseMember(req, route);
    if (member === null) return this.reject(req, 'no_provider_available', route);

    if (named.tokenBudget.maxInputTokens > 0 && req.inputTokens > named.tokenBudget.maxInputTokens) return this.reject(req, 'invalid_request', route);

    // Admission: tenant and route limits, at virtual now.
    const key = tr.tenant[i]! * 65536 + ri;
    let adm = this.admission.get(key);
    if (adm === undefined) {
      const limits = [...(this.plan.tenants.get(tenant)?.limits ?? []), ...named.limits];
      adm = { limits, cells: limits.map((l) => l.cell) };
      this.admission.set(key, adm);
    }
    if (adm.cells.length > 0) {
      req.reservedTokens = req.inputTokens + named.tokenBudget.maxOutputTokens;
      req.reservedMicro = usdToMicro(costUsd(member.price, req.inputTokens, 0, named.tokenBudget.maxOutputTokens));
      const costs = req.costs;
      if (costs.length !== adm.limits.length) costs.length = adm.limits.length;
      for (let k = 0; k < adm.limits.length; k++) {
        const u = adm.limits[k]!.unit;
        costs[k] = u === 'tokens' ? req.reservedTokens : u === 'usd' ? req.reservedMicro : 1;
      }
      const out = this.out;
      out.reset();
      if (!this.store.reserve(adm.cells, costs, this.startMs + now, out)) return this.reject(req, adm.limits[out.refusedIndex]!.code, route);
      req.limits = adm.limits;
      req.cells = adm.cells;
    }
    this.dispatch(req);
  }

  private prefixHashes: number[] = [];
  private prefixHash(group: number): number {
    let h = this.prefixHashes[group];
    if (h === undefined) h = this.prefixHashes[group] = fnv1a('prefix:' + this.trace.prefixes.names[group]!) || 1;
    return h;
  }

  private chooseMember(req: Req, route: RouteContext): PoolMember | null {
    const sp = this.poolOf.get(route.pool)!;
    const seq = req.seq + req.attempts;
    this.avoidNow = req.avoid;
    this.healthNow = sp.failed;
    let m: PoolMember | null;
    if (sp.kind === 'self_hosted') {
      // The gateway hashes the stable prompt prefix; the trace names its prefix group instead.
      const h = req.prefix < 0 ? 0 : this.prefixHash(req.prefix);
      m = chooseReplica(sp.ctx, route.allowedProviders, this.board, h, seq, this);
    } else m = pickMember(sp.ctx, route.allowedProviders, seq, this);
    this.avoidNow = null;
    req.member = m;
    req.pool = sp;
    return m;
  }

  // ---- attempts --------------------------------------------------------------------------------------

  private dispatch(req: Req): void {
    const now = this.q.now;
    const route = req.route!;
    const sp = req.pool!;
    const member = req.member!;
    req.attempts++;
    req.attemptStart = now;
    sp.attempts++;
    if (sp.kind === 'self_hosted') {
      const rep = this.replicaOf.get(member)!;
      // chat-call.ts queueOverSlo: expected wait = queued ahead × one request's decode time ÷ batch size.
      const primary = req.primary!;
      if (primary.fallbackCondition.includes('queue_time_over_slo') && primary.slo.ttftMs > 0) {
        const ahead = this.board.expectedQueue(member, sp.maxBatch);
        if (ahead > 0) {
          const expectedMs = (ahead * ((route.tokenBudget.maxOutputTokens / sp.ctx.decodeTokensPerS) * 1000)) / Math.max(1, sp.maxBatch);
          if (expectedMs > primary.slo.ttftMs) return this.attemptFailed(req, 'queue_time_over_slo', false, 0);
        }
      }
      if (sp.errorRate > 0 && this.rng.next() < sp.errorRate) return this.attemptFailed(req, '5xx', true, 0);
      rep.load.inflight++;
      const g = this.gpuFree.pop() ?? new GpuSeq<Req>(req);
      g.data = req;
      const prefixTokens = req.prefix < 0 ? 0 : Math.floor(req.inputTokens * sp.prefixShare);
      g.reset(Math.max(1, req.inputTokens), req.outputTokens, req.prefix < 0 ? null : req.prefix, prefixTokens);
      g.priority = route.queuePriority;
      req.gpu = g;
      req.replica = rep;
      req.deadlineMs = now + member.provider.timeoutMs;
      this.q.schedule(req.deadlineMs, EV_DEADLINE, req.slot);
      rep.model.submit(g, now);
      this.rewake(rep);
      return;
    }
    // Managed API (and batch pools): the member's profile decides the attempt now; it ends later.
    const p = sp.profiles.get(member)!;
    const timeout = member.provider.timeoutMs;
    const decodeMs = p.tokensPerS > 0 ? (req.outputTokens / p.tokensPerS) * 1000 : 0;
    let endMs: number;
    req.mOutcome = M_OK;
    req.mRetryAfterMs = 0;
    if (p.errorRate > 0 && this.rng.next() < p.errorRate) {
      const fault = pickFault(p, this.rng.next());
      req.mOutcome = M_FAIL;
      endMs = p.ttftMs;
      switch (fault) {
        case 'rate_limited':
          req.mKind = 'rate_limited';
          req.mRetryAfterMs = p.retryAfterMs;
          break;
        case 'server_error':
        case 'unavailable':
          req.mKind = '5xx';
          break;
        case 'timeout':
          req.mKind = 'timeout';
          endMs = timeout;
          break;
        case 'reset':
          req.mKind = 'connection_error';
          break;
        case 'stream_cut':
          if (req.stream) {
            req.mOutcome = M_STREAM_CUT;
            endMs = p.ttftMs + decodeMs / 2;
          } else req.mKind = 'connection_error';
          break;
      }
      req.firstTokenMs = req.mOutcome === M_STREAM_CUT ? now + p.ttftMs : -1;
    } else {
      endMs = p.ttftMs + decodeMs;
      // The gateway's deadline covers the wait for the first byte of a stream, the whole answer otherwise.
      if ((req.stream ? p.ttftMs : endMs) > timeout) {
        req.mOutcome = M_FAIL;
        req.mKind = 'timeout';
        endMs = timeout;
      } else req.firstTokenMs = now + (req.outputTokens > 0 ? p.ttftMs : endMs);
    }
    this.q.schedule(now + endMs, EV_MAAS_DONE, req.slot);
  }

  private maasDone(req: Req): void {
    if (req.mOutcome === M_OK) return this.succeeded(req);
    if (req.mOutcome === M_STREAM_CUT) {
      // Bytes already reached the client: never retried (retry.ts rule 1).
      req.pool!.attemptErrors++;
      req.pool!.failed = true;
      this.health.failure(req.pool!.ctx, req.member!, this.q.now);
      return this.finish(req, 'stream_cut');
    }
    this.attemptFailed(req, req.mKind, true, req.mRetryAfterMs);
  }

  private gpuTimeout(req: Req): void {
    const rep = req.replica!;
    rep.model.cancel(req.gpu!, this.q.now);
    this.releaseGpu(req);
    this.rewake(rep);
    this.attemptFailed(req, 'timeout', true, 0);
  }

  private releaseGpu(req: Req): void {
    const g = req.gpu!;
    const rep = req.replica!;
    rep.load.inflight--;
    if (g.admitMs >= 0) req.queueMs += g.admitMs - g.arrivalMs;
    else req.queueMs += this.q.now - g.arrivalMs;
    req.gpu = null;
    req.deadlineMs = -1;
    if (g.state === SeqState.Done || g.state === SeqState.Cancelled) this.gpuFree.push(g);
  }

  private rewake(rep: Replica): void {
    const t = rep.model.nextEventTime();
    if (t === Infinity) return;
    // A wake already pending at or before t does the job: when it fires it advances the model and
    // schedules the next one. Fewer heap entries than rescheduling on every change.
    if (rep.wakeAt >= this.q.now && rep.wakeAt <= t) return;
    const at = t < this.q.now ? this.q.now : t;
    rep.wakeAt = at;
    this.q.schedule(at, EV_WAKE, rep.id);
  }

  // GpuModelListener ---------------------------------------------------------------------------------

  admitted(seq: GpuSeq<Req>): void {
    const req = seq.data;
    // A replica sends a stream's headers at admission: the gateway's deadline stops there.
    if (req.stream) req.deadlineMs = -1;
  }

  firstToken(seq: GpuSeq<Req>, atMs: number): void {
    seq.data.firstTokenMs = atMs;
  }

  completed(seq: GpuSeq<Req>, atMs: number): void {
    const req = seq.data;
    if (req.gpu !== seq) return;
    if (seq.firstTokenMs < 0) req.firstTokenMs = atMs;
    req.cachedTokens = seq.cachedTokens;
    const occ = atMs - seq.admitMs;
    this.addOcc(this.laneStats[req.lane]!, req.pool!.index, occ);
    this.addOcc(this.aliasStats[req.aliasGroup]!, req.pool!.index, occ);
    this.addOcc(req.pool!.stats, req.pool!.index, occ);
    this.releaseGpu(req);
    this.succeeded(req);
  }

  private addOcc(g: GroupStats, pool: number, ms: number): void {
    let a = this.occ.get(g);
    if (a === undefined) {
      a = new Float64Array(this.pools.length);
      this.occ.set(g, a);
    }
    a[pool]! += ms;
  }

  // ---- outcomes ---------------------------------------------------------------------------------------

  private succeeded(req: Req): void {
    this.health.success(req.member!);
    if (req.isRetry) {
      req.isRetry = false;
      this.retryBudget.end();
    }
    req.costUsd = costUsd(req.member!.price, req.inputTokens, req.cachedTokens, req.outputTokens);
    req.spentUsd += req.costUsd;
    this.finish(req, null);
  }

  private attemptFailed(req: Req, kind: FailureKind, memberFailed: boolean, retryAfterMs: number): void {
    const sp = req.pool!;
    sp.attemptErrors++;
    if (memberFailed) {
      sp.failed = true;
      this.health.failure(sp.ctx, req.member!, this.q.now);
    }
    if (req.isRetry) {
      req.isRetry = false;
      this.retryBudget.end();
    }
    const primary = req.primary!;
    const step = decideNext(
      kind,
      primary,
      {
        attempts: req.attempts,
        retriesOnRoute: req.retriesOnRoute,
        fallbackPos: req.fallbackPos,
        elapsedMs: this.q.now - req.arrivalMs,
        spentUsd: req.spentUsd,
        retryAfterMs,
      },
      this.retryBudget.canRetry(this.inFlight),
      this.rng.next(),
    );
    if (step.action === 'stop') return this.finish(req, kind);
    if (step.action === 'retry') {
      req.retriesOnRoute++;
      req.isRetry = true;
      this.retryBudget.begin();
      req.avoid = req.member;
    } else {
      req.route = this.plan.routes[step.routeIndex]!;
      req.fallbackPos++;
      req.retriesOnRoute = 0;
      req.avoid = null;
    }
    if (step.delayMs > 0) this.q.schedule(this.q.now + step.delayMs, EV_RETRY, req.slot);
    else this.nextAttempt(req);
  }

  private nextAttempt(req: Req): void {
    const m = this.chooseMember(req, req.route!);
    req.avoid = null;
    if (m === null) return this.finish(req, 'no_provider_available');
    this.dispatch(req);
  }

  private reject(req: Req, code: string, route: RouteContext | null): void {
    this.rejections.set(code, (this.rejections.get(code) ?? 0) + 1);
    const lane = this.laneStats[req.lane]!;
    const alias = this.aliasStats[req.aliasGroup]!;
    lane.requests++;
    lane.rejected++;
    alias.requests++;
    alias.rejected++;
    if (route !== null) {
      const ps = this.poolOf.get(route.pool)!.stats;
      ps.requests++;
      ps.rejected++;
    }
    this.release(req);
  }

  /** The request is over: success (`error` null) or the failure that ended it. */
  private finish(req: Req, error: string | null): void {
    const now = this.q.now;
    if (req.isRetry) {
      // A retry that ended without a retryable failure (a cut stream): give its budget back.
      req.isRetry = false;
      this.retryBudget.end();
    }
    // Settle limits: keep the request counted, reconcile tokens and spend, release concurrency.
    if (req.cells !== null) {
      const used = error === null ? req.inputTokens + req.outputTokens : 0;
      const usedMicro = Math.round(req.costUsd * 1e6);
      const costs = req.costs;
      const limits = req.limits!;
      for (let k = 0; k < limits.length; k++) {
        const u = limits[k]!.unit;
        costs[k] = u === 'requests' ? 0 : u === 'tokens' ? req.reservedTokens - used : u === 'usd' ? req.reservedMicro - usedMicro : 1;
      }
      this.store.release(req.cells, costs, this.startMs + now);
    }
    const named = req.named!;
    const latency = now - req.arrivalMs;
    const ttft = req.firstTokenMs >= 0 ? req.firstTokenMs - req.arrivalMs : latency;
    const sloMet = error === null && ttft <= named.slo.ttftMs && latency <= named.slo.latencyMs;
    const sp = req.pool!;
    this.record(this.laneStats[req.lane]!, req, error, latency, ttft, sloMet);
    this.record(this.aliasStats[req.aliasGroup]!, req, error, latency, ttft, sloMet);
    this.record(sp.stats, req, error, latency, ttft, sloMet);
    if (req.costUsd > 0) sp.costSeries.add(now, req.costUsd);
    if (error !== null) this.errors.set(error, (this.errors.get(error) ?? 0) + 1);
    this.release(req);
  }

  private record(g: GroupStats, req: Req, error: string | null, latency: number, ttft: number, sloMet: boolean): void {
    g.requests++;
    if (req.attempts > 1) g.fellBack++;
    if (req.canary) g.canary++;
    g.queue.add(req.queueMs);
    if (g.queueSeries !== null) g.queueSeries.add(req.arrivalMs, req.queueMs);
    if (error !== null) {
      g.errors++;
      return;
    }
    g.completed++;
    if (sloMet) g.sloMet++;
    g.latency.add(latency);
    g.ttft.add(ttft);
    g.costUsd += req.costUsd;
    g.inputTokens += req.inputTokens;
    g.cachedTokens += req.cachedTokens;
    g.outputTokens += req.outputTokens;
  }

  private release(req: Req): void {
    this.inFlight--;
    this.free.push(req.slot);
  }

  private sample(bin: number): void {
    const now = this.q.now;
    for (const sp of this.pools) {
      if (sp.kind !== 'self_hosted') continue;
      let occ = 0;
      for (const id of sp.replicaIds) {
        const r = this.replicas[id]!;
        r.model.advance(now);
        this.rewake(r);
        occ += r.model.counters.occupancyMs;
      }
      const cap = sp.maxBatch * sp.replicas * this.binMs;
      sp.utilSeries[bin] = cap > 0 ? (occ - sp.occupancyLastMs) / cap : 0;
      sp.occupancyLastMs = occ;
    }
  }

  private result(endMs: number, wallMs: number): ReplayResult {
    const lanes = new Map<string, GroupStats>();
    LANE_NAMES.forEach((n, i) => {
      if (this.laneStats[i]!.requests > 0) lanes.set(n, this.laneStats[i]!);
    });
    const aliases = new Map<string, GroupStats>();
    this.trace.aliases.names.forEach((n, i) => aliases.set(n, this.aliasStats[i]!));
    // Pool cost: GPU hours over the run for self_hosted pools, tokens for the others. GPU cost is shared
    // out to lanes and aliases by the sequence-time their requests held on the pool's batch slots.
    const poolCost = new Map<string, number>();
    const hours = endMs / 3_600_000;
    for (const sp of this.pools) {
      if (sp.kind === 'self_hosted') {
        let occ = 0;
        for (const id of sp.replicaIds) occ += this.replicas[id]!.model.counters.occupancyMs;
        sp.utilization = endMs > 0 ? occ / (sp.maxBatch * sp.replicas * endMs) : 0;
        const gpu = sp.gpuHourUsd * sp.replicas * hours;
        poolCost.set(sp.id, sp.stats.costUsd + gpu);
        const total = this.occ.get(sp.stats)?.[sp.index] ?? 0;
        if (total > 0 && gpu > 0) {
          for (const g of [...lanes.values(), ...aliases.values(), sp.stats]) {
            const o = this.occ.get(g)?.[sp.index] ?? 0;
            g.costUsd += (gpu * o) / total;
          }
        }
      } else poolCost.set(sp.id, sp.stats.costUsd);
    }
    return {
      requests: this.trace.length,
      durationMs: this.trace.durationS * 1000,
      endMs,
      events: this.q.processed,
      wallMs,
      binMs: this.binMs,
      bins: this.bins,
      lanes,
      aliases,
      pools: this.pools,
      rejections: this.rejections,
      errors: this.errors,
      poolCost,
    };
  }
}

/** A self-hosted pool member standing for one replica (same provider and model as the configured member). */
class ReplicaMember implements PoolMember {
  load: ReplicaLoad | null = null;
  constructor(
    readonly provider: PoolMember['provider'],
    readonly model: string,
    readonly weight: number,
    readonly price: PoolMember['price'],
  ) {}
}

/** LoadBoard whose replicas of one provider and model still get distinct rendezvous keys. */
class ReplayBoard extends LoadBoard {
  private readonly own = new Map<PoolMember, ReplicaLoad>();
  add(member: PoolMember, keyText: string): ReplicaLoad {
    const l = new ReplicaLoad(fnv1a(keyText));
    this.own.set(member, l);
    if (member instanceof ReplicaMember) member.load = l;
    return l;
  }
  override of(member: PoolMember): ReplicaLoad {
    // A replica member carries its load: one property load instead of a Map lookup per member scanned.
    const l = (member as ReplicaMember).load;
    return l !== undefined && l !== null ? l : (this.own.get(member) ?? super.of(member));
  }
}

function maasProfile(p: ResolvedProfile): MaasProfile {
  const cum = new Float64Array(FAULT_KINDS.length);
  let s = 0;
  FAULT_KINDS.forEach((k, i) => (cum[i] = s += p.errors[k]));
  return { ttftMs: p.ttft_ms, tokensPerS: p.tokens_per_s, errorRate: p.error_rate, faultCum: cum, retryAfterMs: p.retry_after_s * 1000 };
}

function pickFault(p: MaasProfile, u: number): FaultKind {
  const c = p.faultCum;
  const total = c[c.length - 1]!;
  for (let i = 0; i < c.length; i++) if (u * total < c[i]!) return FAULT_KINDS[i]!;
  return FAULT_KINDS[c.length - 1]!;
}

/** Run one replay. */
export function replay(trace: TraceColumns, opts: ReplayOptions): ReplayResult {
  return new ReplayEngine(trace, opts).run();
}
