// The usage ledger: rows, stores (SQLite, Postgres), the batching Ledger sink, thread relay, coverage.
export { UsageRow, COLUMNS, GROUP_COLUMNS, isGroupBy, normalizeSince, copyRecord, failedAttemptsCostUsd, type GroupBy, type LedgerStore, type UsageQuery, type UsageTotals, type ProviderTokens } from './row.js';
export { MIGRATIONS, LATEST_VERSION } from './migrations.js';
export { Ledger, StoreLedger, openLedgerStore, sqlitePath, SQLITE_FILE, type RowWriter, type LedgerOptions, type LedgerStats, type OpenLedgerOptions } from './ledger.js';
export { ThreadedSqliteLedgerStore } from './sqlite-thread.js';
export { PostingRowWriter, FanoutTraceSink, type LedgerBatchMessage } from './relay.js';
export { CoverageMonitor, reportTokens, type UsageReportSource, type ProviderCoverage } from './coverage.js';
