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
