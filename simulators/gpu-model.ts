// Capacity model of one self-hosted GPU replica (a vLLM-like server): continuous batching, FIFO
// admission, prefill, per-sequence decode that slows as the batch grows, and an LRU prefix cache.
//
// Pure and deterministic: no I/O, no timers, no clock, no randomness. Time is whatever the caller says,
// in milliseconds, and only moves forward. The live simulator (simulators/gpu-pool.ts) drives it with the
// wall clock and one timer per replica; a capacity replay drives it in virtual time from an event heap.
// Imports nothing.
//
// The model, exactly:
// - Admission. A replica runs at most `max_batch` sequences ("running"). A request that arrives when the
//   batch is full waits in one FIFO queue ("waiting"). Whenever a slot frees, the head of the queue is
//   admitted at that instant. queue time = admission time − arrival time.
// - Prefill. The replica prefills one admitted sequence at a time, in admission order (FIFO), at
//   `prefill_tokens_per_s` (a replica-wide rate, as in the pool config). A sequence prefills
//   prompt_tokens − cached_tokens tokens. Prefill runs beside the decoding of the other sequences (as with
//   chunked prefill) and does not slow them down.
// - Prefix cache. At the start of its prefill a sequence with a prefix key looks the key up in the
//   replica's LRU (prefix key → token count, bounded by `prefix_cache_tokens` tokens in total). On a hit
//   cached_tokens = min(prefix_tokens, prompt_tokens − 1): as in vLLM, at least one prompt token is always
//   computed. At the end of its prefill the sequence inserts (or refreshes) its prefix; least recently
//   used entries are evicted to make room; a prefix larger than the whole capacity is not cached.
// - Decode. After its prefill a sequence decodes its output tokens one per step. Every decoding sequence
//   of the replica advances at the same per-sequence rate, which falls as the running batch b (admitted
//   sequences, prefilling ones included) grows:
//
//       rate(b) = decode_tokens_per_s × max(0.1, 1 − α·(b − 1)/max_batch)     α = decode_slowdown = 0.5
//
//   so one sequence alone decodes at the nominal rate, a full batch at about (1 − α) of it, and never
//   below 10% of nominal. Steps are integrated analytically: the replica keeps a decode clock V (tokens
//   each decoding sequence has received so far, dV/dt = rate(b)); a sequence that starts decoding at V0
//   has emitted floor(V − V0) tokens, its first token at V = V0 + 1 and its last at V = V0 + output_tokens.
//   So the cost is per event (arrival, admission, prefill end, first token, completion), never per token.
// - A sequence with output_tokens = 0 completes at the end of its prefill.
//
// Driving it: `submit(seq, atMs)` (arrivals in time order), `advance(toMs)`, `nextEventTime()` (the next
// instant at which something happens without a new arrival: a prefill end, a first token or a
// completion), `cancel(seq, atMs)`. Events are reported synchronously to a listener during submit,
// advance and cancel. A listener must not call back into the model.
//
// Hot loop: no allocation per event or per step. Sequence records are created (and may be recycled with
// `reset`) by the caller; queues are growable rings; the expected-queue-time estimate uses a
// preallocated heap.

export type PrefixKey = string | number;

export interface GpuModelConfig {
  /** Running sequences per replica. */
  max_batch: number;
  /** Replica-wide prefill throughput, tokens per second. */
  prefill_tokens_per_s: number;
  /** Nominal decode speed of one sequence, tokens per second. */
  decode_tokens_per_s: number;
  /**
   * Token capacity of the prefix cache; also taken as the replica's KV-cache size for
   * `kvCacheUsage()`. 0 disables prefix caching. Default 262,144.
   */
  prefix_cache_tokens?: number;
  /** α of the decode-rate formula. Default 0.5. */
  decode_slowdown?: number;
}

export const DEFAULT_PREFIX_CACHE_TOKENS = 262_144;
export const DEFAULT_DECODE_SLOWDOWN = 0.5;
/** The per-sequence decode rate never falls below this share of nominal. */
export const MIN_DECODE_FACTOR = 0.1;

/** Share of the nominal per-sequence decode rate at running batch size `batch`. */
export function decodeFactor(batch: number, maxBatch: number, alpha: number = DEFAULT_DECODE_SLOWDOWN): number {
  if (batch <= 1) return 1;
  const f = 1 - (alpha * (batch - 1)) / maxBatch;
  return f < MIN_DECODE_FACTOR ? MIN_DECODE_FACTOR : f;
}

/** Sequence states. Plain numbers (not a const enum) so the compiled module exports them. */
export const SeqState = {
  Idle: 0,
  Queued: 1,
  /** Admitted, waiting for the replica's prefill. */
  PrefillWait: 2,
  Prefilling: 3,
  Decoding: 4,
  Done: 5,
  Cancelled: 6,
} as const;
export type SeqState = (typeof SeqState)[keyof typeof SeqState];

/**
 * One request on one replica. Created by the caller (who may recycle it with `reset` once it is Done or
 * Cancelled); `data` is the caller's own payload. Times are model milliseconds, −1 until they happen.
 */
export class GpuSeq<T = unknown> {
  data: T;
  promptTokens = 0;
  outputTokens = 0;
  prefixKey: PrefixKey | null = null;
  prefixTokens = 0;
  /** vLLM's request `priority`: lower values leave the waiting queue first (FIFO among equals). */
  priority = 0;
  state: SeqState = SeqState.Idle;
  /** Prompt tokens found in the prefix cache (set at prefill start). */
  cachedTokens = 0;
  arrivalMs = -1;
  admitMs = -1;
  prefillStartMs = -1;
  prefillEndMs = -1;
  firstTokenMs = -1;
  doneMs = -1;
  // Decode-clock marks (see the header): start, next event (first token, then completion), end.
  vStart = 0;
  vNext = 0;
  vEnd = 0;
  /** Index in the replica's running array, −1 when not running. */
  slot = -1;

  constructor(data: T, promptTokens = 0, outputTokens = 0, prefixKey: PrefixKey | null = null, prefixTokens = 0) {
    this.data = data;
    this.reset(promptTokens, outputTokens, prefixKey, prefixTokens);
  }

  /** Prepare the record for a (new) submission. */
  reset(promptTokens: number, outputTokens: number, prefixKey: PrefixKey | null = null, prefixTokens = 0): this {
    if (this.state !== SeqState.Idle && this.state !== SeqState.Done && this.state !== SeqState.Cancelled) {
      throw new Error('GpuSeq.reset: the sequence is still queued or running');
    }
    this.promptTokens = promptTokens;
    this.outputTokens = outputTokens;
    this.prefixKey = prefixKey;
    this.prefixTokens = prefixKey === null ? 0 : prefixTokens;
    this.state = SeqState.Idle;
    this.cachedTokens = 0;
    this.arrivalMs = -1;
    this.admitMs = -1;
    this.prefillStartMs = -1;
    this.prefillEndMs = -1;
    this.firstTokenMs = -1;
    this.doneMs = -1;
    this.vStart = 0;
    this.vNext = 0;
    this.vEnd = 0;
    this.slot = -1;
    return this;
  }

  /** Arrival to admission, ms; −1 while still queued. */
  get queueTimeMs(): number {
    return this.admitMs < 0 ? -1 : this.admitMs - this.arrivalMs;
  }
}

export interface GpuModelListener<T> {
  /** Admitted into the running batch (seq.queueTimeMs is final). */
  admitted(seq: GpuSeq<T>, atMs: number): void;
  /** First output token emitted (not called for output_tokens = 0). */
  firstToken(seq: GpuSeq<T>, atMs: number): void;
  /** Last output token emitted; the slot is already free. */
  completed(seq: GpuSeq<T>, atMs: number): void;
}

function priorityOf(s: GpuSeq<unknown>): number {
  return s.priority;
}

/** A growable FIFO ring. */
class Ring<T> {
  private buf: (T | null)[];
  private head = 0;
  length = 0;

  constructor(capacity: number) {
    this.buf = new Array<T | null>(Math.max(4, capacity)).fill(null);
  }

  push(x: T): void {
    if (this.length === this.buf.length) this.grow();
    this.buf[(this.head + this.length) % this.buf.length] = x;
    this.length++;
  }

  shift(): T | null {
    if (this.length === 0) return null;
    const x = this.buf[this.head]!;
    this.buf[this.head] = null;
    this.head = (this.head + 1) % this.buf.length;
    this.length--;
    return x;
  }

  /** Insert after the last element whose key is ≤ `key(x)` (a stable priority order; O(n)). */
  insertBy(x: T, key: (y: T) => number): void {
    const k = key(x);
    if (this.length === 0 || key(this.at(this.length - 1)) <= k) return this.push(x);
    if (this.length === this.buf.length) this.grow();
    const cap = this.buf.length;
    let i = this.length;
    while (i > 0 && key(this.buf[(this.head + i - 1) % cap]!) > k) {
      this.buf[(this.head + i) % cap] = this.buf[(this.head + i - 1) % cap]!;
      i--;
    }
    this.buf[(this.head + i) % cap] = x;
    this.length++;
  }

  at(i: number): T {
    return this.buf[(this.head + i) % this.buf.length]!;
  }

  /** Remove one element (O(n); used by cancellations only). */
  remove(x: T): boolean {
    const n = this.length;
    const cap = this.buf.length;
    let i = 0;
    while (i < n && this.buf[(this.head + i) % cap] !== x) i++;
    if (i === n) return false;
    for (; i < n - 1; i++) this.buf[(this.head + i) % cap] = this.buf[(this.head + i + 1) % cap]!;
    this.buf[(this.head + n - 1) % cap] = null;
    this.length--;
    return true;
  }

  private grow(): void {
    const old = this.buf;
    const next = new Array<T | null>(old.length * 2).fill(null);
    for (let i = 0; i < this.length; i++) next[i] = old[(this.head + i) % old.length]!;
    this.buf = next;
    this.head = 0;
  }
}

/** LRU of prefix key → token count, bounded by a total token capacity. */
export class PrefixCache {
  readonly capacity: number;
  /** Tokens held by the cached prefixes. */
  used = 0;
  // A Map iterates in insertion order: delete + set moves an entry to the most-recent end.
  private readonly map = new Map<PrefixKey, number>();

  constructor(capacityTokens: number) {
    this.capacity = capacityTokens;
  }

  get size(): number {
    return this.map.size;
  }

  /** Token count cached for `key` (0 on a miss); a hit becomes the most recently used. */
  lookup(key: PrefixKey): number {
    const n = this.map.get(key);
    if (n === undefined) return 0;
    this.map.delete(key);
    this.map.set(key, n);
    return n;
  }

  /** Like lookup, without touching the LRU order. */
  peek(key: PrefixKey): number {
    return this.map.get(key) ?? 0;
  }

  has(key: PrefixKey): boolean {
    return this.map.has(key);
  }

  /** Cache (or refresh) a prefix, evicting least recently used entries to make room. */
  insert(key: PrefixKey, tokens: number): void {
    if (tokens <= 0 || tokens > this.capacity) return;
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.used -= old;
    }
    while (this.used + tokens > this.capacity) {
      const lru = this.map.keys().next();
      if (lru.done === true) break;
      this.used -= this.map.get(lru.value)!;
      this.map.delete(lru.value);
    }
    this.map.set(key, tokens);
    this.used += tokens;
  }

  /** Keys from least to most recently used (for tests and debugging). */
  keys(): PrefixKey[] {
    return [...this.map.keys()];
  }
}

/** Running totals of one replica. */
export class GpuModelCounters {
  arrived = 0;
  admitted = 0;
  completed = 0;
  cancelled = 0;
  /** Prompt tokens of admitted sequences, and the part of them served from the prefix cache. */
  promptTokens = 0;
  cachedTokens = 0;
  /** Output tokens emitted (completed sequences, plus what cancelled ones had emitted). */
  generationTokens = 0;
  /** Prefix-cache lookups and hits, in prompt tokens (as vLLM counts them). */
  prefixQueryTokens = 0;
  prefixHitTokens = 0;
  /** Sum of the queue times of admitted sequences, ms. */
  queueTimeMsSum = 0;
  /** ∫ running(t) dt, in sequence·ms: utilization over [0, T] = occupancyMs / (max_batch · T). */
  occupancyMs = 0;
}

const NOOP_LISTENER: GpuModelListener<unknown> = {
  admitted() {},
  firstToken() {},
  completed() {},
};

/** One replica. See the header for the model. */
export class GpuReplicaModel<T = unknown> {
  readonly maxBatch: number;
  readonly prefillTokensPerS: number;
  readonly decodeTokensPerS: number;
  readonly alpha: number;
  readonly cache: PrefixCache;
  readonly counters = new GpuModelCounters();

  /** Model time, ms. */
  private t = 0;
  /** Decode clock: tokens received by every decoding sequence since the last rebase. */
  private v = 0;
  /** Per-sequence decode rate at the current batch size, tokens per ms. */
  private rate: number;
  private readonly prefillPerMs: number;
  private readonly decodePerMs: number;
  private readonly kvTokens: number;

  private readonly running: (GpuSeq<T> | null)[];
  private runningCount = 0;
  private decodingCount = 0;
  /** Min vNext over decoding sequences (Infinity when none). */
  private minVNext = Infinity;
  private readonly queue: Ring<GpuSeq<T>>;
  private readonly prefillQueue: Ring<GpuSeq<T>>;
  private prefillHead: GpuSeq<T> | null = null;
  private prefillEnd = Infinity;
  private listener: GpuModelListener<T>;
  /** Scratch min-heap of slot free times for expectedQueueTimeMs (preallocated). */
  private readonly heap: Float64Array;

  constructor(config: GpuModelConfig, listener: GpuModelListener<T> | null = null) {
    const { max_batch, prefill_tokens_per_s, decode_tokens_per_s } = config;
    if (!Number.isInteger(max_batch) || max_batch < 1) throw new RangeError('gpu model: max_batch must be an integer >= 1');
    if (!(prefill_tokens_per_s > 0) || !Number.isFinite(prefill_tokens_per_s)) {
      throw new RangeError('gpu model: prefill_tokens_per_s must be a finite number > 0');
    }
    if (!(decode_tokens_per_s > 0) || !Number.isFinite(decode_tokens_per_s)) {
      throw new RangeError('gpu model: decode_tokens_per_s must be a finite number > 0');
    }
    const cacheTokens = config.prefix_cache_tokens ?? DEFAULT_PREFIX_CACHE_TOKENS;
    if (!(cacheTokens >= 0)) throw new RangeError('gpu model: prefix_cache_tokens must be >= 0');
    const alpha = config.decode_slowdown ?? DEFAULT_DECODE_SLOWDOWN;
    if (!(alpha >= 0 && alpha <= 1)) throw new RangeError('gpu model: decode_slowdown must be between 0 and 1');
    this.maxBatch = max_batch;
    this.prefillTokensPerS = prefill_tokens_per_s;
    this.decodeTokensPerS = decode_tokens_per_s;
    this.alpha = alpha;
    this.prefillPerMs = prefill_tokens_per_s / 1000;
    this.decodePerMs = decode_tokens_per_s / 1000;
    this.rate = this.decodePerMs;
    this.cache = new PrefixCache(cacheTokens);
    this.kvTokens = cacheTokens > 0 ? cacheTokens : DEFAULT_PREFIX_CACHE_TOKENS;
    this.running = new Array<GpuSeq<T> | null>(max_batch).fill(null);
    this.queue = new Ring<GpuSeq<T>>(64);
    this.prefillQueue = new Ring<GpuSeq<T>>(max_batch);
    this.heap = new Float64Array(max_batch);
    this.listener = listener ?? (NOOP_LISTENER as GpuModelListener<T>);
  }

  setListener(listener: GpuModelListener<T> | null): void {
    this.listener = listener ?? (NOOP_LISTENER as GpuModelListener<T>);
  }

  /** Model time, ms. */
  get now(): number {
    return this.t;
  }
  /** Sequences in the batch (prefilling or decoding): vLLM's num_requests_running. */
  get numRunning(): number {
    return this.runningCount;
  }
  /** Sequences in the FIFO queue: vLLM's num_requests_waiting. */
  get numWaiting(): number {
    return this.queue.length;
  }
  get numDecoding(): number {
    return this.decodingCount;
  }
  /** Current per-sequence decode rate, tokens per second. */
  get decodeRate(): number {
    return this.rate * 1000;
  }

  /** A request arrives at `atMs` (not before the model's time). Returns the sequence, now Queued or running. */
  submit(seq: GpuSeq<T>, atMs: number): GpuSeq<T> {
    if (seq.state !== SeqState.Idle) throw new Error('GpuReplicaModel.submit: the sequence was already submitted (reset it first)');
    this.advance(atMs);
    seq.arrivalMs = this.t;
    seq.state = SeqState.Queued;
    this.counters.arrived++;
    this.queue.insertBy(seq, priorityOf);
    this.settle();
    this.advance(this.t); // events due at once (an empty prefill)
    return seq;
  }

  /**
   * Withdraw a sequence at `atMs` (a client went away). Frees its place in the queue or its slot in the
   * batch (the next queued sequence is admitted). Returns false when it had already finished.
   */
  cancel(seq: GpuSeq<T>, atMs: number): boolean {
    this.advance(atMs);
    switch (seq.state) {
      case SeqState.Queued:
        this.queue.remove(seq);
        break;
      case SeqState.PrefillWait:
        this.prefillQueue.remove(seq);
        this.removeRunning(seq);
        break;
      case SeqState.Prefilling:
        this.prefillHead = null;
        this.prefillEnd = Infinity;
        this.removeRunning(seq);
        break;
      case SeqState.Decoding:
        this.counters.generationTokens += this.emitted(seq);
        this.decodingCount--;
        this.removeRunning(seq);
        break;
      default:
        return false;
    }
    seq.state = SeqState.Cancelled;
    seq.doneMs = this.t;
    this.counters.cancelled++;
    this.settle();
    this.advance(this.t);
    return true;
  }

  /** The next instant at which an event happens without a new arrival (Infinity when idle). */
  nextEventTime(): number {
    const d = this.decodingCount > 0 ? this.t + (this.minVNext - this.v) / this.rate : Infinity;
    return d < this.prefillEnd ? d : this.prefillEnd;
  }

  /** Move model time forward to `toMs`, processing every event due up to and including it. */
  advance(toMs: number): void {
    for (;;) {
      const tDecode = this.decodingCount > 0 ? this.t + (this.minVNext - this.v) / this.rate : Infinity;
      const tPrefill = this.prefillEnd;
      const next = tDecode < tPrefill ? tDecode : tPrefill;
      if (next > toMs) break;
      if (tDecode <= tPrefill) {
        this.moveTo(next);
        // Snap: the event time was computed from minVNext; float error must not leave it a hair short.
        if (this.v < this.minVNext) this.v = this.minVNext;
      } else {
        this.moveTo(next);
      }
      this.processDue();
    }
    if (toMs > this.t) this.moveTo(toMs);
  }

  /** Output tokens a sequence has emitted at the model's current time. */
  emitted(seq: GpuSeq<T>): number {
    switch (seq.state) {
      case SeqState.Decoding: {
        const n = Math.floor(this.v - seq.vStart + this.eps());
        return n < 0 ? 0 : n > seq.outputTokens ? seq.outputTokens : n;
      }
      case SeqState.Done:
        return seq.outputTokens;
      default:
        return 0;
    }
  }

  /**
   * Expected queue time (ms) of a request arriving now: 0 when a slot is free; otherwise a projection of
   * when slots free up, assuming the batch stays full (rate(max_batch)), prefill stays FIFO, and using the
   * true output lengths of the sequences already here (a simulator's omniscience) and cache peeks. Costs
   * O((max_batch + waiting) · log max_batch) and allocates nothing.
   */
  expectedQueueTimeMs(): number {
    if (this.runningCount < this.maxBatch && this.queue.length === 0) return 0;
    const t = this.t;
    const r = this.decodePerMs * decodeFactor(this.maxBatch, this.maxBatch, this.alpha);
    const heap = this.heap;
    let n = 0;
    let pf = this.prefillHead === null ? t : this.prefillEnd;
    for (let i = 0; i < this.runningCount; i++) {
      const s = this.running[i]!;
      if (s.state === SeqState.Decoding) heap[n++] = t + (s.vEnd - this.v) / r;
      else if (s.state === SeqState.Prefilling) heap[n++] = this.prefillEnd + s.outputTokens / r;
    }
    const pq = this.prefillQueue;
    for (let i = 0; i < pq.length; i++) {
      const s = pq.at(i);
      pf += this.prefillTokensOf(s) / this.prefillPerMs;
      heap[n++] = pf + s.outputTokens / r;
    }
    while (n < this.maxBatch) heap[n++] = t;
    heapify(heap, n);
    const q = this.queue;
    for (let i = 0; i < q.length; i++) {
      const s = q.at(i);
      const admit = heap[0]!;
      pf = (pf > admit ? pf : admit) + this.prefillTokensOf(s) / this.prefillPerMs;
      heap[0] = pf + s.outputTokens / r;
      siftDown(heap, n, 0);
    }
    const wait = heap[0]! - t;
    return wait > 0 ? wait : 0;
  }

  /**
   * KV-cache usage in [0, 1] (vLLM's gpu_cache_usage_perc): tokens held by running sequences (uncached
   * prompt part plus output emitted so far) plus tokens of cached prefixes, over the KV capacity
   * (`prefix_cache_tokens`, or the default when caching is off), capped at 1.
   */
  kvCacheUsage(): number {
    let tokens = this.cache.used;
    for (let i = 0; i < this.runningCount; i++) {
      const s = this.running[i]!;
      tokens += s.promptTokens - s.cachedTokens + this.emitted(s);
    }
    const u = tokens / this.kvTokens;
    return u > 1 ? 1 : u;
  }

  // -------------------------------------------------------------------------------------------------

  private eps(): number {
    return 1e-9 + this.v * 1e-12;
  }

  private prefillTokensOf(s: GpuSeq<T>): number {
    if (s.state === SeqState.Prefilling || s.state === SeqState.Decoding) return s.promptTokens - s.cachedTokens;
    let cached = 0;
    if (s.prefixKey !== null && s.prefixTokens > 0) cached = this.cachedFor(s, this.cache.peek(s.prefixKey));
    return s.promptTokens - cached;
  }

  private cachedFor(s: GpuSeq<T>, hit: number): number {
    let c = hit < s.prefixTokens ? hit : s.prefixTokens;
    if (c > s.promptTokens - 1) c = s.promptTokens - 1;
    return c > 0 ? c : 0;
  }

  private moveTo(t2: number): void {
    const dt = t2 - this.t;
    if (dt <= 0) return;
    this.counters.occupancyMs += this.runningCount * dt;
    if (this.decodingCount > 0) this.v += this.rate * dt;
    this.t = t2;
  }

  /** Process every event due at the current time, then admit, start prefill and recompute rates. */
  private processDue(): void {
    const listener = this.listener;
    const t = this.t;
    if (this.decodingCount > 0 && this.minVNext <= this.v + this.eps()) {
      const limit = this.v + this.eps();
      // Backwards: a swap-remove moves an already-visited sequence into slot i.
      for (let i = this.runningCount - 1; i >= 0; i--) {
        const s = this.running[i]!;
        if (s.state !== SeqState.Decoding || s.vNext > limit) continue;
        if (s.firstTokenMs < 0) {
          s.firstTokenMs = t;
          listener.firstToken(s, t);
        }
        if (s.vEnd <= limit) {
          this.decodingCount--;
          this.removeRunning(s);
          this.complete(s);
        } else {
          s.vNext = s.vEnd;
        }
      }
    }
    if (this.prefillHead !== null && this.prefillEnd <= t) {
      const s = this.prefillHead;
      this.prefillHead = null;
      this.prefillEnd = Infinity;
      s.prefillEndMs = t;
      if (s.prefixKey !== null && s.prefixTokens > 0) this.cache.insert(s.prefixKey, s.prefixTokens);
      if (s.outputTokens <= 0) {
        this.removeRunning(s);
        this.complete(s);
      } else {
        if (this.decodingCount === 0) this.v = 0; // rebase the decode clock: keeps it small and exact
        s.state = SeqState.Decoding;
        s.vStart = this.v;
        s.vNext = this.v + 1;
        s.vEnd = this.v + s.outputTokens;
        this.decodingCount++;
      }
    }
    this.settle();
  }

  private complete(s: GpuSeq<T>): void {
    s.state = SeqState.Done;
    s.doneMs = this.t;
    this.counters.completed++;
    this.counters.generationTokens += s.outputTokens;
    this.listener.completed(s, this.t);
  }

  /** Admit from the queue into free slots, start the next prefill, recompute the rate and minVNext. */
  private settle(): void {
    const t = this.t;
    const counters = this.counters;
    while (this.runningCount < this.maxBatch && this.queue.length > 0) {
      const s = this.queue.shift()!;
      s.state = SeqState.PrefillWait;
      s.admitMs = t;
      s.slot = this.runningCount;
      this.running[this.runningCount++] = s;
      counters.admitted++;
      counters.queueTimeMsSum += t - s.arrivalMs;
      this.prefillQueue.push(s);
      this.listener.admitted(s, t);
    }
    if (this.prefillHead === null && this.prefillQueue.length > 0) {
      const s = this.prefillQueue.shift()!;
      let cached = 0;
      if (s.prefixKey !== null && s.prefixTokens > 0) {
        counters.prefixQueryTokens += s.promptTokens;
        cached = this.cachedFor(s, this.cache.lookup(s.prefixKey));
        counters.prefixHitTokens += cached;
      }
      s.cachedTokens = cached;
      counters.promptTokens += s.promptTokens;
      counters.cachedTokens += cached;
      s.state = SeqState.Prefilling;
      s.prefillStartMs = t;
      this.prefillHead = s;
      this.prefillEnd = t + (s.promptTokens - cached) / this.prefillPerMs;
    }
    this.rate = this.decodePerMs * decodeFactor(this.runningCount, this.maxBatch, this.alpha);
    let m = Infinity;
    for (let i = 0; i < this.runningCount; i++) {
      const s = this.running[i]!;
      if (s.state === SeqState.Decoding && s.vNext < m) m = s.vNext;
    }
    this.minVNext = m;
  }

  private removeRunning(s: GpuSeq<T>): void {
    const i = s.slot;
    const last = this.running[--this.runningCount]!;
    this.running[i] = last;
    last.slot = i;
    this.running[this.runningCount] = null;
    s.slot = -1;
  }
}

// Min-heap helpers on a Float64Array prefix of length n.
function siftDown(h: Float64Array, n: number, i: number): void {
  const x = h[i]!;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && h[c + 1]! < h[c]!) c++;
    if (h[c]! >= x) break;
    h[i] = h[c]!;
    i = c;
  }
  h[i] = x;
}

function heapify(h: Float64Array, n: number): void {
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(h, n, i);
}
