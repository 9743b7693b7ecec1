// Public face of the config layer: YAML → validated Config → frozen Plan.

export {
  ConfigSchema,
  SimulatorProfileSchema,
  LANES,
  LATENCY_CLASSES,
  PROVIDER_KINDS,
  POOL_KINDS,
  FALLBACK_CONDITIONS,
} from './schema.js';
export type {
  Config,
  ConfigInput,
  TenantConfig,
  KeyConfig,
  ModelConfig,
  ProviderConfig,
  PoolMemberConfig,
  PoolConfig,
  RoutePolicyConfig,
  RouteConfig,
  ScenarioConfig,
  PromptConfig,
  PolicyConfig,
  LimitsConfig,
  ServerConfig,
  SimulatorProfileConfig,
} from './schema.js';
export { parseConfigText, validateConfig, loadConfigFile, loadConfigFileSync, formatPath } from './load.js';
export type { ParseConfigResult } from './load.js';
export { compilePlan, splitBaseUrl } from './compile.js';
export type { CompileOptions } from './compile.js';
export type {
  Plan,
  RouteContext,
  PoolContext,
  PoolMember,
  ProviderContext,
  ModelPrice,
  KeyRecord,
  TenantRecord,
  ServerSettings,
  Lane,
  LatencyClass,
  ProviderKind,
  PoolKind,
  FallbackCondition,
} from './plan.js';
export { readKeysFile, mergeKeys, writeKeysFile, loadConfigWithKeys, type KeysFileResult } from './keys-file.js';
