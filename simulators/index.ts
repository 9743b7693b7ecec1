// Provider simulators: seeded, loopback servers. Import `core/schema` types at most.
export {
  startMaasSimulator,
  type MaasSimulator,
  type MaasSimulatorOptions,
  type MaasStats,
  type MaasRequestLogEntry,
} from './maas.js';
export {
  resolveProfile,
  loadProfileFile,
  DEFAULT_PROFILE,
  FAULT_KINDS,
  type SimProfile,
  type ResolvedProfile,
  type FaultKind,
} from './profile.js';
export { runSimulate } from './cli.js';
export {
  startBatchSimulator,
  resolveBatchProfile,
  BATCH_STATUSES,
  type BatchSimulator,
  type BatchSimulatorOptions,
  type BatchProfile,
  type ResolvedBatchProfile,
  type BatchStats,
  type BatchStatus,
} from './batch.js';
export {
  startGpuPoolSimulator,
  resolveGpuPoolProfile,
  type GpuPoolSimulator,
  type GpuPoolSimulatorOptions,
  type GpuPoolProfile,
  type ResolvedGpuPoolProfile,
  type GpuPoolStats,
  type GpuReplicaStats,
  type GpuReplicaEndpoint,
  type GpuRequestLogEntry,
  type GpuFault,
} from './gpu-pool.js';
export {
  GpuReplicaModel,
  GpuSeq,
  PrefixCache,
  GpuModelCounters,
  SeqState,
  decodeFactor,
  DEFAULT_DECODE_SLOWDOWN,
  DEFAULT_PREFIX_CACHE_TOKENS,
  MIN_DECODE_FACTOR,
  type GpuModelConfig,
  type GpuModelListener,
  type PrefixKey,
} from './gpu-model.js';
