// The public face of core: what transports, the CLI and embedders use.
export { Gateway, type GatewayOptions } from './pipeline/gateway.js';
export { IngressRequest, statusLine, type Sink, type SinkListener } from './pipeline/sink.js';
export { ERRORS, openAIErrorBody, anthropicErrorBody, type ErrorCode } from './errors.js';
export { UpstreamClient } from './upstream/client.js';
export { TraceRecord, SpanContext, JsonlTraceSink, MemoryTraceSink, NullTraceSink, type TraceSink } from './telemetry/trace.js';
export * from './config/index.js';
export { createLimitStore, limitFailureReporter, reloadProblem, type LimitStoreOptions } from './limits/factory.js';
export { SharedLimitStore } from './limits/shared-store.js';
export { RedisLimitStore } from './limits/redis-store.js';
export { ReserveOutcome, type LimitStore, type LimitCell } from './limits/store.js';
export type { BatchJob } from './pipeline/batch-jobs.js';
export { GatewayMetrics, renderPrometheus, mergeSnapshots, histogramQuantile, type MetricsSnapshot } from './telemetry/metrics.js';
export { OtlpTraceSink, withOtlpExport, otlpUrlFromEnv, spanJson } from './telemetry/otlp.js';
export { parseTraceparent, formatTraceparent, samplerFromEnv, isSampled, type Sampler } from './telemetry/traceparent.js';
export { establishedConnections } from './telemetry/connections.js';
export { dashboardData, DASHBOARD_HTML, type DashboardData } from './telemetry/dashboard.js';
export * from './ledger/index.js';
