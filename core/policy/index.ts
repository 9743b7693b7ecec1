// Public face of the policy engine (input guards, output guards, tool-call rules).
export { DETECTOR_KINDS, luhnValid, type Detector, type DetectorKind } from './detectors.js';
export { ACTION_NAMES, GuardSet, StreamScanner, scanText, type ActionName, type Guard, type FindingSink } from './scanner.js';
export { schemaProblem, validateJson } from './json-schema.js';
export {
  CompiledPolicy,
  PolicyRun,
  RouteSafety,
  ToolPolicy,
  compilePolicy,
  policyProblems,
  DEFAULT_REGEX_MAX_LENGTH,
  type GuardSpec,
  type PolicySpec,
  type ToolsSpec,
  type ToolCallView,
  type ViolationCounter,
} from './policy.js';
export { ChatStreamFilter, approvedTools, checkChatRequest, checkCompletion } from './chat.js';
