// Versioned schema of the ledger. Each migration runs once, in order, in a transaction, and is recorded
// in `schema_migrations` (version, name, applied_at). Never edit a released migration: add the next one.

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  /** `{schema}` is replaced by the quoted schema name. */
  readonly postgres: string;
}

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'usage_events',
    sqlite: `
      CREATE TABLE usage_events (
        request_id TEXT PRIMARY KEY,
        ts TEXT NOT NULL,
        tenant TEXT NOT NULL,
        key_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        scenario_id TEXT NOT NULL,
        alias TEXT NOT NULL,
        route_lane TEXT NOT NULL,
        pool_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_version INTEGER,
        canary INTEGER NOT NULL,
        attempts TEXT NOT NULL,
        stop_reason TEXT NOT NULL,
        queue_time_ms REAL NOT NULL,
        ttft_ms REAL,
        latency_ms REAL NOT NULL,
        input_tokens INTEGER NOT NULL,
        cached_input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        tokens_estimated INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        cache TEXT NOT NULL,
        policy_violations TEXT NOT NULL,
        status INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        error_code TEXT,
        stream INTEGER NOT NULL
      );
      CREATE INDEX usage_events_ts ON usage_events (ts);`,
    postgres: `
      CREATE TABLE {schema}.usage_events (
        request_id TEXT PRIMARY KEY,
        ts TIMESTAMPTZ NOT NULL,
        tenant TEXT NOT NULL,
        key_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        scenario_id TEXT NOT NULL,
        alias TEXT NOT NULL,
        route_lane TEXT NOT NULL,
        pool_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_version INTEGER,
        canary BOOLEAN NOT NULL,
        attempts JSONB NOT NULL,
        stop_reason TEXT NOT NULL,
        queue_time_ms DOUBLE PRECISION NOT NULL,
        ttft_ms DOUBLE PRECISION,
        latency_ms DOUBLE PRECISION NOT NULL,
        input_tokens BIGINT NOT NULL,
        cached_input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        tokens_estimated BOOLEAN NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        cache TEXT NOT NULL,
        policy_violations JSONB NOT NULL,
        status INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        error_code TEXT,
        stream BOOLEAN NOT NULL
      );
      CREATE INDEX usage_events_ts ON {schema}.usage_events (ts);`,
  },
  {
    version: 2,
    name: 'usage_events_provider_ts',
    // Coverage sums tokens per provider over a time window.
    sqlite: `CREATE INDEX usage_events_provider_ts ON usage_events (provider, ts);`,
    postgres: `CREATE INDEX usage_events_provider_ts ON {schema}.usage_events (provider, ts);`,
  },
  {
    version: 3,
    name: 'usage_events_failed_check',
    // Scenarios judge each request; the check that failed (attempts carry their own tokens and cost as JSON).
    sqlite: `ALTER TABLE usage_events ADD COLUMN failed_check TEXT;`,
    postgres: `ALTER TABLE {schema}.usage_events ADD COLUMN failed_check TEXT;`,
  },
  {
    version: 4,
    name: 'usage_events_failed_attempts_cost',
    // What attempts that did not produce the answer cost (failed, re-asked): \`usage\` and \`scenarios\` sum it.
    // Rows written before this version read 0.
    sqlite: `ALTER TABLE usage_events ADD COLUMN failed_attempts_cost_usd REAL NOT NULL DEFAULT 0;`,
    postgres: `ALTER TABLE {schema}.usage_events ADD COLUMN failed_attempts_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0;`,
  },
]);

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
