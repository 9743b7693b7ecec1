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
