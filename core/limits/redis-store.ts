// The Redis LimitStore: limits that hold exactly across processes and hosts. Every reserve is ONE round
// trip: one Lua script (EVALSHA through ioredis defineCommand; ioredis sends EVAL once per connection
// and after NOSCRIPT, which loads it) checks every cell, then writes every cell, atomically, on the
// Redis server's clock (`TIME`, µs), so hosts with skewed clocks still agree. A second script releases.
//
// Keys: `${keyPrefix}limit:${cell.name}` (names are stable across hosts; slots depend on config order).
//   rate         "<a> <f> <C>": the GCRA TAT = a + f/C µs (a whole µs, 0 ≤ f < C = capacity), so n·T =
//                n·windowUs/C is added exactly, never rounded; PX windowMs (an idle key vanishes; a key
//                that has expired is the same state as TAT ≤ now).
//   concurrency  the count in flight (deleted at 0; never below 0).
//   budget       spent micro-USD, in a key per calendar window named from the server time
//                (`…:d2025-06-14`, `…:m2025-06`, UTC), expiring when that window ends.
// Budget keys are derived inside the script, so this store wants a single Redis (or keys sharing a hash
// tag in the prefix on a cluster).
//
// Failure (Redis unreachable, or no answer within commandTimeoutMs): the failure mode decides.
//   closed  reserve resolves false with refusedIndex = REFUSED_UNAVAILABLE (-2): "store unavailable",
//           the pipeline answers 503, not 429 (retryAfterMs 1000, a hint).
//   open    reserve resolves true with refusedIndex = REFUSED_UNAVAILABLE too: admitted unchecked,
//           nothing was reserved, so the caller must not release it. Counted in failOpenCount.
// Both call onFailure, at most once a second. A reserve whose answer comes after its timeout and turns
// out to have reserved is released again by the store, so a timeout never leaks units. ioredis
// reconnects by itself; while it is not connected nothing is queued in ioredis (enableOfflineQueue
// false): reserves take the failure mode at once, releases wait in a bounded queue replayed on
// reconnect. release() never throws.
import { Redis } from 'ioredis';
import type { LimitCell, LimitStore, ReserveOutcome } from './store.js';

/** `ReserveOutcome.refusedIndex` when the store could not be asked (Redis unreachable or too slow). */
export const REFUSED_UNAVAILABLE = -2;

export interface RedisLimitStoreOptions {
  url: string;
  /** Prepended to every key; default `switchyard:`. */
  keyPrefix?: string;
  failureMode: 'open' | 'closed';
  /** Told when a failure decides a reserve or loses a release; at most one call per second. */
  onFailure?: (err: Error) => void;
  /** How long a reserve or release waits for Redis before the failure mode decides; default 50. */
  commandTimeoutMs?: number;
}

// Lua shared by the three scripts: the server clock, number formatting, GCRA TAT arithmetic and
// calendar windows. Redis runs Lua 5.1: numbers are doubles, exact for integers below 2^53 (µs since
// 1970 ≈ 1.8e15).
const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_us = now_s * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local floor = math.floor

local function fmt(x)
  if x == floor(x) then return string.format('%.0f', x) end
  return string.format('%.17g', x)
end

-- max(TAT, now) of a rate key as (a, f): TAT = a + f/cap µs, 0 <= f < cap.
local function tat_read(key, cap)
  local v = redis.call('GET', key)
  if not v then return now_us, 0 end
  local a, f, c = string.match(v, '^(%S+) (%S+) (%S+)$')
  a = tonumber(a); f = tonumber(f); c = tonumber(c)
  if not a or not f or not c or c <= 0 then return now_us, 0 end
  if a < now_us then return now_us, 0 end
  if c ~= cap then f = floor(f * cap / c) end
  return a, f
end

-- (a, f) + n·T with T = win_us / cap, n of either sign, exact for whole n and cap.
local function tat_add(a, f, n, cap, win_us)
  local num = n * win_us
  local q = floor(num / cap)
  local r = num - q * cap
  if r < 0 then q = q - 1; r = r + cap elseif r >= cap then q = q + 1; r = r - cap end
  a = a + q; f = f + r
  if f >= cap then a = a + 1; f = f - cap end
  return a, f
end

-- Units a rate cell can take now: floor((win - (TAT - now)) / T), >= 0.
local function rate_avail(a, f, cap, win_us)
  local v = floor(((win_us - (a - now_us)) * cap - f) / win_us)
  if v < 0 then return 0 end
  return v
end

-- Days since 1970-01-01 -> civil y, m, d (UTC), and back (H. Hinnant's algorithms).
local function civil(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- The key of the current budget window and when that window ends (ms since 1970).
local function budget_key(base, per)
  local day = floor(now_s / 86400)
  local y, m, d = civil(day)
  if per == 'd' then
    return base .. string.format(':d%04d-%02d-%02d', y, m, d), (day + 1) * 86400000
  end
  local ny, nm = y, m + 1
  if nm > 12 then ny = y + 1; nm = 1 end
  return base .. string.format(':m%04d-%02d', y, m), days_from_civil(ny, nm, 1) * 86400000
end

-- A cell's spec (ARGV[2i-1]): "r <capacity> <windowMs>" | "c <capacity>" | "b <capacity> <d|m>".
local function spec(s)
  local kind, cap, x = string.match(s, '^(%a) (%S+) ?(%S*)$')
  return kind, tonumber(cap), x
end
`;

// reserve: KEYS = cell keys; ARGV = spec, cost per cell. Pass 1 checks every cell against the state as
// the earlier cells of this call would leave it (a cell listed twice counts twice); the first refusal
// returns {0, index, retryAfterMs, remaining} with nothing written. Pass 2 writes every cell and returns
// {1, -1, 0, remaining of the first cell}.
const RESERVE_LUA = `${PRELUDE}
local n = #KEYS
local kinds, caps, keys, A, F, ends = {}, {}, {}, {}, {}, {}
local seen = {}
for i = 1, n do
  local kind, cap, x = spec(ARGV[2 * i - 1])
  local cost = tonumber(ARGV[2 * i])
  if cost < 0 then cost = 0 end
  local key = KEYS[i]
  kinds[i] = kind; caps[i] = cap
  if kind == 'r' then
    local win_us = tonumber(x) * 1000
    local a, f
    local s = seen[key]
    if s then a = s[1]; f = s[2] else a, f = tat_read(key, cap) end
    local a2, f2 = a, f
    if cost > 0 then a2, f2 = tat_add(a, f, cost, cap, win_us) end
    local dd = a2 - now_us
    if dd > win_us or (dd == win_us and f2 > 0) then
      return {0, i - 1, math.ceil(((dd - win_us) + f2 / cap) / 1000), rate_avail(a, f, cap, win_us)}
    end
    A[i] = a2; F[i] = f2; ends[i] = tonumber(x)
    seen[key] = {a2, f2}
  else
    local end_ms = 0
    if kind == 'b' then key, end_ms = budget_key(key, x) end
    local used = seen[key]
    if used == nil then used = tonumber(redis.call('GET', key) or '0') or 0 end
    if cost > 0 and used + cost > cap then
      local rem = floor(cap - used)
      if rem < 0 then rem = 0 end
      local retry = 0
      if kind == 'b' then retry = end_ms - now_ms end
      return {0, i - 1, retry, rem}
    end
    A[i] = used + cost; ends[i] = end_ms
    seen[key] = A[i]
  end
  keys[i] = key
  if cost <= 0 then kinds[i] = '-' .. kind end
end
for i = 1, n do
  local kind = kinds[i]
  if kind == 'r' then
    redis.call('SET', keys[i], fmt(A[i]) .. ' ' .. fmt(F[i]) .. ' ' .. fmt(caps[i]), 'PX', ends[i])
  elseif kind == 'c' then
    redis.call('SET', keys[i], fmt(A[i]))
  elseif kind == 'b' then
    redis.call('SET', keys[i], fmt(A[i]))
    redis.call('PEXPIREAT', keys[i], ends[i])
  end
end
local rem
local k1 = string.sub(kinds[1], -1)
if k1 == 'r' then
  rem = rate_avail(A[1], F[1], caps[1], ends[1] * 1000)
else
  rem = floor(caps[1] - A[1])
end
if rem < 0 then rem = 0 end
return {1, -1, 0, rem}
`;

// release: same KEYS and ARGV as reserve. Gives back cost units per cell (a negative cost charges
// more): rate TAT -= n·T, never below now (a TAT at or below now is the absent key); concurrency and
// budget count -= n, never below 0 (0 is the absent key). No refusals.
const RELEASE_LUA = `${PRELUDE}
for i = 1, #KEYS do
  local kind, cap, x = spec(ARGV[2 * i - 1])
  local cost = tonumber(ARGV[2 * i])
  local key = KEYS[i]
  if cost ~= 0 then
    if kind == 'r' then
      local win_ms = tonumber(x)
      local a, f = tat_read(key, cap)
      a, f = tat_add(a, f, -cost, cap, win_ms * 1000)
      if a < now_us or (a == now_us and f == 0) then
        redis.call('DEL', key)
      else
        local ttl = math.ceil((a - now_us) / 1000) + 1
        if ttl < win_ms then ttl = win_ms end
        redis.call('SET', key, fmt(a) .. ' ' .. fmt(f) .. ' ' .. fmt(cap), 'PX', ttl)
      end
    else
      local end_ms = 0
      if kind == 'b' then key, end_ms = budget_key(key, x) end
      local v = (tonumber(redis.call('GET', key) or '0') or 0) - cost
      if v <= 0 then
        redis.call('DEL', key)
      else
        redis.call('SET', key, fmt(v))
        if kind == 'b' then redis.call('PEXPIREAT', key, end_ms) end
      end
    end
  end
end
return 1
`;

// peek: KEYS[1], ARGV[1] = spec. Rate: units available now; concurrency: in flight; budget: spent in
// the current window. A string, so fractional budgets survive.
const PEEK_LUA = `${PRELUDE}
local kind, cap, x = spec(ARGV[1])
local key = KEYS[1]
if kind == 'r' then
  local a, f = tat_read(key, cap)
  return fmt(rate_avail(a, f, cap, tonumber(x) * 1000))
end
if kind == 'b' then key = budget_key(key, x) end
return fmt(tonumber(redis.call('GET', key) or '0') or 0)
`;

interface ScriptedRedis {
  swLimitReserve(args: (string | number)[]): Promise<[number, number, number, number]>;
  swLimitRelease(args: (string | number)[]): Promise<number>;
  swLimitPeek(args: (string | number)[]): Promise<string>;
}

/** What the store keeps per cell (built once per cell object; cells are frozen Plan objects). */
interface CellInfo {
  readonly key: string;
  readonly spec: string;
}

const MAX_PENDING_RELEASES = 10_000;

class StoreUnavailableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StoreUnavailableError';
  }
}

/** One reserve in flight: the race between Redis's answer and the timeout, without per-call closures beyond the promise. */
class ReserveCall {
  settled = false;
  timer: NodeJS.Timeout | null = null;
  resolve: ((ok: boolean) => void) | null = null;

  constructor(
    readonly store: RedisLimitStore,
    readonly args: (string | number)[],
    readonly out: ReserveOutcome,
  ) {}

  onReply(reply: [number, number, number, number]): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.settled) {
      // Answered after the timeout decided: whatever it reserved, nobody will release, so give it back.
      if (reply[0] === 1) this.store.compensate(this.args);
      return;
    }
    this.settled = true;
    const out = this.out;
    const ok = reply[0] === 1;
    out.ok = ok;
    out.refusedIndex = reply[1];
    out.retryAfterMs = reply[2];
    out.remaining = reply[3];
    this.resolve!(ok);
  }

  onError(err: unknown): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.settled) return;
    this.settled = true;
    this.resolve!(this.store.unavailable(this.out, asError(err)));
  }

  onTimeout(): void {
    this.timer = null;
    if (this.settled) return;
    this.settled = true;
    this.resolve!(this.store.unavailable(this.out, new StoreUnavailableError(`Redis limit store: no answer within ${this.store.commandTimeoutMs} ms`)));
  }
}

/** Any failure of a call (connection, timeout, a reply error), named as the store's. */
function asError(err: unknown): Error {
  if (err instanceof StoreUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`Redis limit store: ${message}`, err);
}

export class RedisLimitStore implements LimitStore {
  readonly kind = 'redis' as const;
  readonly commandTimeoutMs: number;
  readonly failureMode: 'open' | 'closed';
  private readonly redis: Redis;
  private readonly scripts: ScriptedRedis;
  private readonly keyPrefix: string;
  private readonly onFailure: ((err: Error) => void) | null;
  private readonly cellInfo = new WeakMap<LimitCell, CellInfo>();
  private readonly pendingReleases: (string | number)[][] = [];
  private lastReportMs = -Infinity;
  private startupOver = false;
  private readonly startup: Promise<void>;
  private closed = false;
  private lastError: Error | null = null;
  private failOpen = 0;
  private failClosed = 0;
  private releaseFailures = 0;
  private compensations = 0;

  constructor(opts: RedisLimitStoreOptions) {
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 50;
    this.failureMode = opts.failureMode;
    this.keyPrefix = opts.keyPrefix ?? 'switchyard:';
    this.onFailure = opts.onFailure ?? null;
    this.redis = new Redis(opts.url, {
      // Nothing waits in ioredis while Redis is away: the failure mode answers instead.
      enableOfflineQueue: false,
      // Commands in flight when the connection drops are rejected, not resent (a resent reserve could count twice).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Backstop only: the store's own timer (commandTimeoutMs) answers first and still sees a late reply.
      commandTimeout: Math.max(5_000, this.commandTimeoutMs * 20),
      connectTimeout: 1_000,
      retryStrategy: (times) => Math.min(50 * times, 500),
      keepAlive: 10_000,
      noDelay: true,
      lazyConnect: false,
    });
    this.redis.defineCommand('swLimitReserve', { lua: RESERVE_LUA });
    this.redis.defineCommand('swLimitRelease', { lua: RELEASE_LUA });
    this.redis.defineCommand('swLimitPeek', { lua: PEEK_LUA, numberOfKeys: 1, readOnly: true });
    this.scripts = this.redis as unknown as ScriptedRedis;
    this.redis.on('error', (err: Error) => {
      this.lastError = err;
    });
    this.redis.on('ready', () => this.flushPendingReleases());
    this.startup = new Promise<void>((resolve) => {
      const done = (): void => {
        this.startupOver = true;
        this.redis.off('ready', done);
        this.redis.off('close', done);
        this.redis.off('end', done);
        resolve();
      };
      this.redis.on('ready', done);
      this.redis.on('close', done);
      this.redis.on('end', done);
    });
  }

  /** Reserves that were admitted unchecked because Redis was unavailable (failure mode open). */
  get failOpenCount(): number {
    return this.failOpen;
  }

  /** Reserves refused because Redis was unavailable (failure mode closed). */
  get failClosedCount(): number {
    return this.failClosed;
  }

  /** Releases that failed, timed out or were dropped (reported through onFailure). */
  get releaseFailCount(): number {
    return this.releaseFailures;
  }

  /** Reserves answered after their timeout and then given back by the store. */
  get compensationCount(): number {
    return this.compensations;
  }

  /** True while the connection is up. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Resolves once connected (or at once when connected); rejects after `timeoutMs`. For boot and tests. */
  async ready(timeoutMs = 5_000): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        reject(new StoreUnavailableError(`Redis limit store: not connected after ${timeoutMs} ms${this.lastError ? ` (${this.lastError.message})` : ''}`));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.redis.once('ready', onReady);
    });
  }

  reserve(cells: readonly LimitCell[], costs: readonly number[], _nowMs: number, out: ReserveOutcome): Promise<boolean> {
    out.reset();
    const n = cells.length;
    if (n === 0) {
      out.ok = true;
      return Promise.resolve(true);
    }
    const args = this.buildArgs(cells, costs);
    if (this.redis.status !== 'ready') {
      if (!this.startupOver && !this.closed) return this.startup.then(() => this.send(args, out));
      return Promise.resolve(this.unavailable(out, this.downError()));
    }
    return this.send(args, out);
  }

  release(cells: readonly LimitCell[], costs: readonly number[], _nowMs: number): Promise<void> {
    if (cells.length === 0) return Promise.resolve();
    const args = this.buildArgs(cells, costs);
    if (this.redis.status !== 'ready') {
      if (!this.startupOver && !this.closed) return this.startup.then(() => this.sendRelease(args));
      this.deferRelease(args);
      return Promise.resolve();
    }
    return this.sendRelease(args);
  }

  async peek(cell: LimitCell, _nowMs: number): Promise<number> {
    if (this.redis.status !== 'ready' && !this.startupOver) await this.startup;
    const info = this.info(cell);
    return Number(await this.scripts.swLimitPeek([info.key, info.spec]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pendingReleases.length = 0;
    try {
      if (this.redis.status === 'ready') await this.redis.quit();
      else this.redis.disconnect();
    } catch {
      this.redis.disconnect();
    }
  }

  /** Fills `out` for a reserve Redis could not answer and returns the failure mode's decision. @internal */
  unavailable(out: ReserveOutcome, err: Error): boolean {
    out.refusedIndex = REFUSED_UNAVAILABLE;
    out.retryAfterMs = 0;
    out.remaining = 0;
    if (this.failureMode === 'open') {
      this.failOpen++;
      out.ok = true;
    } else {
      this.failClosed++;
      out.ok = false;
      out.retryAfterMs = 1000;
    }
    this.report(err);
    return out.ok;
  }

  /** Gives back a reservation whose answer came after its timeout. @internal */
  compensate(args: (string | number)[]): void {
    this.compensations++;
    if (this.redis.status === 'ready') void this.sendRelease(args);
    else this.deferRelease(args);
  }

  private send(args: (string | number)[], out: ReserveOutcome): Promise<boolean> {
    if (this.redis.status !== 'ready') return Promise.resolve(this.unavailable(out, this.downError()));
    const call = new ReserveCall(this, args, out);
    return new Promise<boolean>((resolve) => {
      call.resolve = resolve;
      call.timer = setTimeout(() => call.onTimeout(), this.commandTimeoutMs);
      this.scripts.swLimitReserve(args).then(
        (reply) => call.onReply(reply),
        (err: unknown) => call.onError(err),
      );
    });
  }

  private sendRelease(args: (string | number)[]): Promise<void> {
    if (this.redis.status !== 'ready') {
      this.deferRelease(args);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        // It may still apply; it is not resent (that could give back twice).
        this.releaseFailed(new StoreUnavailableError(`Redis limit store: release not answered within ${this.commandTimeoutMs} ms`));
        resolve();
      }, this.commandTimeoutMs);
      this.scripts.swLimitRelease(args).then(
        () => {
          clearTimeout(timer);
          if (done) return;
          done = true;
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (done) return;
          done = true;
          // Never written to the socket (it closed under us): it can wait for the connection safely.
          if (err instanceof Error && err.message.startsWith("Stream isn't writeable")) this.deferRelease(args);
          else this.releaseFailed(asError(err));
          resolve();
        },
      );
    });
  }

  /** A release that could not be sent waits (bounded) for the connection to come back. */
  private deferRelease(args: (string | number)[]): void {
    if (this.closed) return;
    if (this.pendingReleases.length >= MAX_PENDING_RELEASES) {
      this.releaseFailed(new StoreUnavailableError(`Redis limit store: ${MAX_PENDING_RELEASES} releases waiting for Redis; dropping one`));
      return;
    }
    this.pendingReleases.push(args);
    this.report(this.downError());
  }

  private flushPendingReleases(): void {
    const pending = this.pendingReleases.splice(0);
    for (const args of pending) void this.sendRelease(args);
  }

  private releaseFailed(err: Error): void {
    this.releaseFailures++;
    this.report(err);
  }

  private downError(): Error {
    const cause = this.lastError ? `: ${this.lastError.message}` : '';
    return new StoreUnavailableError(`Redis limit store unreachable (${this.redis.status})${cause}`);
  }

  /** onFailure, at most once a second. */
  private report(err: Error): void {
    if (this.onFailure === null) return;
    const t = performance.now();
    if (t - this.lastReportMs < 1000) return;
    this.lastReportMs = t;
    try {
      this.onFailure(err);
    } catch {
      /* a reporter's failure is not the store's */
    }
  }

  /** [n, key_1..key_n, spec_1, cost_1, .., spec_n, cost_n]: one array, flattened by ioredis. */
  private buildArgs(cells: readonly LimitCell[], costs: readonly number[]): (string | number)[] {
    const n = cells.length;
    const args = new Array<string | number>(1 + 3 * n);
    args[0] = n;
    for (let i = 0; i < n; i++) {
      const info = this.info(cells[i]!);
      args[1 + i] = info.key;
      args[1 + n + 2 * i] = info.spec;
      const c = costs[i]!;
      args[2 + n + 2 * i] = Number.isFinite(c) ? c : 0;
    }
    return args;
  }

  private info(cell: LimitCell): CellInfo {
    let info = this.cellInfo.get(cell);
    if (info === undefined) {
      const spec =
        cell.kind === 'rate'
          ? `r ${cell.capacity} ${cell.windowMs}`
          : cell.kind === 'concurrency'
            ? `c ${cell.capacity}`
            : `b ${cell.capacity} ${cell.period === 'month' ? 'm' : 'd'}`;
      info = { key: `${this.keyPrefix}limit:${cell.name}`, spec };
      this.cellInfo.set(cell, info);
    }
    return info;
  }
}
