// The error registry: one stable code → HTTP status, OpenAI error `type`, Anthropic error `type`, log level.
// Ground floor: imports nothing of ours. Clients see `message` and `code`, never a stack, key or upstream URL.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ErrorSpec {
  readonly status: number;
  readonly type: string; // OpenAI envelope `type`
  readonly anthropicType: string; // Anthropic envelope `error.type`
  readonly level: LogLevel;
}

function spec(status: number, type: string, anthropicType: string, level: LogLevel): ErrorSpec {
  return Object.freeze({ status, type, anthropicType, level });
}

export const ERRORS = Object.freeze({
  invalid_json: spec(400, 'invalid_request_error', 'invalid_request_error', 'info'),
  invalid_request: spec(400, 'invalid_request_error', 'invalid_request_error', 'info'),
  missing_scenario_id: spec(400, 'invalid_request_error', 'invalid_request_error', 'info'),
  unknown_scenario: spec(400, 'invalid_request_error', 'invalid_request_error', 'info'),
  unsupported_content_type: spec(415, 'invalid_request_error', 'invalid_request_error', 'info'),
  body_too_large: spec(413, 'invalid_request_error', 'request_too_large', 'info'),
  missing_api_key: spec(401, 'authentication_error', 'authentication_error', 'info'),
  invalid_api_key: spec(401, 'authentication_error', 'authentication_error', 'info'),
  admin_key_required: spec(403, 'permission_error', 'permission_error', 'info'),
  alias_not_found: spec(404, 'invalid_request_error', 'not_found_error', 'info'),
  not_found: spec(404, 'invalid_request_error', 'not_found_error', 'info'),
  method_not_allowed: spec(405, 'invalid_request_error', 'invalid_request_error', 'info'),
  rate_limit_exceeded: spec(429, 'rate_limit_error', 'rate_limit_error', 'info'),
  quota_exceeded: spec(429, 'rate_limit_error', 'rate_limit_error', 'info'),
  budget_exceeded: spec(429, 'rate_limit_error', 'rate_limit_error', 'info'),
  concurrency_limit_exceeded: spec(429, 'rate_limit_error', 'rate_limit_error', 'info'),
  limits_unavailable: spec(503, 'api_error', 'overloaded_error', 'error'),
  upstream_rate_limited: spec(429, 'rate_limit_error', 'rate_limit_error', 'warn'),
  upstream_error: spec(502, 'api_error', 'api_error', 'warn'),
  upstream_bad_response: spec(502, 'api_error', 'api_error', 'warn'),
  upstream_stream_interrupted: spec(502, 'api_error', 'api_error', 'warn'),
  upstream_auth_failed: spec(502, 'api_error', 'api_error', 'error'),
  no_provider_available: spec(503, 'api_error', 'overloaded_error', 'warn'),
  upstream_unavailable: spec(503, 'api_error', 'overloaded_error', 'warn'),
  upstream_timeout: spec(504, 'api_error', 'api_error', 'warn'),
  upstream_connection_error: spec(502, 'api_error', 'api_error', 'warn'),
  shutting_down: spec(503, 'api_error', 'overloaded_error', 'info'),
  client_closed_request: spec(499, 'api_error', 'api_error', 'info'),
  internal_error: spec(500, 'api_error', 'api_error', 'error'),
} satisfies Record<string, ErrorSpec>);

export type ErrorCode = keyof typeof ERRORS;

/** OpenAI error envelope, as a JSON string. */
export function openAIErrorBody(code: ErrorCode, message: string, param: string | null = null): string {
  return JSON.stringify({ error: { message, type: ERRORS[code].type, code, param } });
}

/** Anthropic error envelope, as a JSON string. */
export function anthropicErrorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ type: 'error', error: { type: ERRORS[code].anthropicType, message } });
}
