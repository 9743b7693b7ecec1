// Public face of the policy engine (input guards, output guards, tool-call rules).
//
// Any ingress uses it the same way (chat.ts is the OpenAI chat adapter; an Anthropic `/v1/messages`
// adapter does the same on its shapes), only when `route.safety !== null`:
//   const run = new PolicyRun(route.safety);           // per request
//   run.approved = new Set([...]);                      // side-effecting tools the request approves
//   run.inputText(text) → text | null                   // each input text; null = blocked (run.blocked: the message)
//   run.inputTokens(n) → boolean                        // the policy's max_input_tokens
//   run.outputText(text) → text | null                  // a whole answer text
//   run.outputStream() → StreamScanner | null           // per streamed text: push(piece) / end() → released text | null
//   run.toolCalls([{name, arguments}], declared) → args[] | null   // before the client sees the calls
//   run.report(trace.policy_violations, metrics.policyViolations)  // at settlement
// Errors use code `policy_violation` with `run.blocked` as the message (it names the policy and the
// guard, never the matched text).
export { DETECTOR_KINDS, luhnValid, type Detector, type DetectorKind } from './detectors.js';
export { ACTION_NAMES, GuardSet, StreamScanner, scanText, type ActionName, type Guard, type FindingSink } from './scanner.js';
export { ToolSchema, schemaNames, schemaProblem, scrubProblem, toolSchema } from './json-schema.js';
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
