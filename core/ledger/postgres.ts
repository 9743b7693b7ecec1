// The ledger on Postgres (several gateways, one database): `SWITCHYARD_DATABASE_URL=postgres://...`.
// A batch is one INSERT ... SELECT FROM unnest(arrays): 29 parameters whatever the batch size, one
// round trip, idempotent on request_id. Tables live in one schema (default `public`; tests use their own).

import pg from 'pg';
import { MIGRATIONS } from './migrations.js';
import { COLUMNS, GROUP_COLUMNS, normalizeSince, totalsOf, UsageRow, type LedgerStore, type UsageQuery, type UsageTotals } from './row.js';

/** Postgres array type of each column, in COLUMNS order (for the unnest insert). */
const PG_TYPES: Record<(typeof COLUMNS)[number], string> = {
  request_id: 'text', ts: 'timestamptz', tenant: 'text', key_id: 'text', owner: 'text', scenario_id: 'text', alias: 'text',
  route_lane: 'text', pool_id: 'text', provider: 'text', model: 'text', prompt_version: 'integer', canary: 'boolean',
  attempts: 'jsonb', stop_reason: 'text', queue_time_ms: 'float8', ttft_ms: 'float8', latency_ms: 'float8', input_tokens: 'bigint',
  cached_input_tokens: 'bigint', output_tokens: 'bigint', tokens_estimated: 'boolean', cost_usd: 'float8', cache: 'text',
  policy_violations: 'jsonb', status: 'integer', outcome: 'text', failed_check: 'text', error_code: 'text', stream: 'boolean', failed_attempts_cost_usd: 'float8',
};

export interface PostgresLedgerOptions {
  /** Schema holding the tables (created if missing). Default: the URL's `?schema=`, else `public`. */
  schema?: string;
  /** Pool size. Default 4. */
  max?: number;
}

export class PostgresLedgerStore implements LedgerStore {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly insertSql: string;
  private closed = false;

  constructor(url: string, opts: PostgresLedgerOptions = {}) {
    // `?schema=NAME` in the URL picks the schema (an option of ours: taken out before pg sees the URL).
    let fromUrl: string | null = null;
    try {
      const u = new URL(url);
      fromUrl = u.searchParams.get('schema');
      if (fromUrl !== null) {
        u.searchParams.delete('schema');
        url = u.toString();
      }
    } catch {
      // pg reports an unparseable URL itself
    }
    const schema = opts.schema ?? fromUrl ?? 'public';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid Postgres schema name '${schema.slice(0, 70)}'`);
    this.schema = schema;
    this.table = `"${schema}".usage_events`;
    this.location = `${redactUrl(url)} (schema ${schema})`;
    this.pool = new pg.Pool({ connectionString: url, max: opts.max ?? 4, connectionTimeoutMillis: 5000 });
    // An idle client's error (server restart) must not crash the gateway: the next query reports it.
    this.pool.on('error', () => {});
    this.insertSql =
      `INSERT INTO ${this.table} (${COLUMNS.join(', ')}) SELECT * FROM unnest(` +
      COLUMNS.map((c, i) => `$${i + 1}::${PG_TYPES[c]}[]`).join(', ') +
      `) ON CONFLICT (request_id) DO NOTHING`;
  }

  async migrate(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Two gateways starting at once: one migrates, the other waits and finds it done.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`switchyard_ledger:${this.schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS "${this.schema}".schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`);
      const cur = await client.query(`SELECT COALESCE(MAX(version), 0) AS v FROM "${this.schema}".schema_migrations`);
      const current = Number(cur.rows[0].v);
      let version = current;
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        await client.query(m.postgres.replaceAll('{schema}', `"${this.schema}"`));
        await client.query(`INSERT INTO "${this.schema}".schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`, [m.version, m.name]);
        version = m.version;
      }
      await client.query('COMMIT');
      return version;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async insert(rows: readonly UsageRow[], n: number): Promise<void> {
    if (n === 0) return;
    const arrays: unknown[][] = COLUMNS.map(() => new Array(n));
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      for (let c = 0; c < COLUMNS.length; c++) arrays[c]![i] = r[COLUMNS[c]!];
    }
    await this.pool.query(this.insertSql, arrays);
  }

  async usage(q: UsageQuery): Promise<UsageTotals[]> {
    const col = GROUP_COLUMNS[q.by];
    const since = normalizeSince(q.since);
    const sql =
      `SELECT ${col} AS k, COUNT(*) AS requests, SUM(input_tokens) AS i, SUM(cached_input_tokens) AS c, SUM(output_tokens) AS o, SUM(cost_usd) AS cost, SUM(failed_attempts_cost_usd) AS f ` +
      `FROM ${this.table} ${since === null ? '' : 'WHERE ts >= $1 '}GROUP BY ${col} ORDER BY cost DESC, k`;
    const res = await this.pool.query(sql, since === null ? [] : [since]);
    return res.rows.map((r: Record<string, unknown>) => totalsOf(r.k, r.requests, r.i, r.c, r.o, r.cost, r.f));
  }

  async events(opts: { since?: string | null; limit?: number } = {}): Promise<UsageRow[]> {
    const since = normalizeSince(opts.since);
    const limit = opts.limit ?? 1_000_000;
    const sql = `SELECT ${COLUMNS.join(', ')} FROM ${this.table} ${since === null ? 'WHERE true' : 'WHERE ts >= $2'} ORDER BY ts, request_id LIMIT $1`;
    const res = await this.pool.query(sql, since === null ? [limit] : [limit, since]);
    return res.rows.map(fromPg);
  }

  async count(): Promise<number> {
    const res = await this.pool.query(`SELECT COUNT(*) AS n FROM ${this.table}`);
    return Number(res.rows[0].n);
  }

  /** Drop the schema and everything in it (tests clean up their per-run schema). */
  async dropSchema(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

function fromPg(r: Record<string, unknown>): UsageRow {
  const row = new UsageRow();
  for (const c of COLUMNS) (row as unknown as Record<string, unknown>)[c] = r[c];
  row.ts = (r.ts as Date).toISOString();
  row.attempts = JSON.stringify(r.attempts);
  row.policy_violations = JSON.stringify(r.policy_violations);
  row.input_tokens = Number(r.input_tokens);
  row.cached_input_tokens = Number(r.cached_input_tokens);
  row.output_tokens = Number(r.output_tokens);
  return row;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}
