import { describe, expect, it } from 'vitest';
import { ERRORS, anthropicErrorBody, openAIErrorBody, type ErrorCode } from '../../core/errors.js';

const CODES = Object.keys(ERRORS) as ErrorCode[];
const OPENAI_TYPES = new Set(['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'rate_limit_error', 'api_error']);
const ANTHROPIC_TYPES = new Set([
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'overloaded_error',
]);
const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

describe('ERRORS registry', () => {
  it('has codes', () => {
    expect(CODES.length).toBeGreaterThan(10);
  });

  it('every code has a status, an OpenAI type, an Anthropic type and a log level', () => {
    for (const code of CODES) {
      const s = ERRORS[code];
      expect(Object.keys(s).sort(), code).toEqual(['anthropicType', 'level', 'status', 'type']);
      expect(Number.isInteger(s.status), code).toBe(true);
      expect(s.status >= 400 && s.status <= 599, code).toBe(true);
      expect(OPENAI_TYPES.has(s.type), `${code}: ${s.type}`).toBe(true);
      expect(ANTHROPIC_TYPES.has(s.anthropicType), `${code}: ${s.anthropicType}`).toBe(true);
      expect(LEVELS.has(s.level), `${code}: ${s.level}`).toBe(true);
      expect(code).toMatch(/^[a-z][a-z0-9_]*$/);
    }
  });

  it('types agree with statuses', () => {
    for (const code of CODES) {
      const { status, type, anthropicType, level } = ERRORS[code];
      if (status === 401) expect(type, code).toBe('authentication_error');
      if (status === 429) {
        expect(type, code).toBe('rate_limit_error');
        expect(anthropicType, code).toBe('rate_limit_error');
      }
      if (status === 404) expect(anthropicType, code).toBe('not_found_error');
      if (status === 413) expect(anthropicType, code).toBe('request_too_large');
      if (status >= 500 || status === 499) expect(type, code).toBe('api_error');
      if (status === 403) expect([type, anthropicType], code).toEqual(['permission_error', 'permission_error']);
      if (status >= 400 && status < 500 && status !== 429 && status !== 401 && status !== 403 && status !== 499) expect(type, code).toBe('invalid_request_error');
      if (status === 500) expect(level, code).toBe('error');
    }
  });

  it('keeps the stable codes the architecture names, with their statuses', () => {
    const expected: Partial<Record<ErrorCode, number>> = {
      invalid_json: 400,
      invalid_request: 400,
      missing_scenario_id: 400,
      body_too_large: 413,
      unsupported_content_type: 415,
      missing_api_key: 401,
      invalid_api_key: 401,
      alias_not_found: 404,
      not_found: 404,
      method_not_allowed: 405,
      rate_limit_exceeded: 429,
      quota_exceeded: 429,
      budget_exceeded: 429,
      upstream_rate_limited: 429,
      upstream_error: 502,
      upstream_timeout: 504,
      upstream_unavailable: 503,
      no_provider_available: 503,
      shutting_down: 503,
      client_closed_request: 499,
      internal_error: 500,
    };
    for (const [code, status] of Object.entries(expected)) expect(ERRORS[code as ErrorCode]?.status, code).toBe(status);
  });

  it('is frozen, entries too', () => {
    expect(Object.isFrozen(ERRORS)).toBe(true);
    for (const code of CODES) expect(Object.isFrozen(ERRORS[code]), code).toBe(true);
  });
});

const NASTY = 'bad "input"\nline two \\ back 日本 🎉 \u2028 </script>';

describe('openAIErrorBody', () => {
  it('is valid JSON in the OpenAI envelope for every code', () => {
    for (const code of CODES) {
      const body = openAIErrorBody(code, `m-${code}`, code === 'invalid_request' ? 'temperature' : null);
      const parsed = JSON.parse(body);
      expect(Object.keys(parsed)).toEqual(['error']);
      expect(Object.keys(parsed.error)).toEqual(['message', 'type', 'code', 'param']);
      expect(parsed.error).toEqual({
        message: `m-${code}`,
        type: ERRORS[code].type,
        code,
        param: code === 'invalid_request' ? 'temperature' : null,
      });
    }
  });

  it('param defaults to null and messages needing escapes survive', () => {
    const parsed = JSON.parse(openAIErrorBody('invalid_json', NASTY));
    expect(parsed.error.message).toBe(NASTY);
    expect(parsed.error.param).toBeNull();
    expect(openAIErrorBody('invalid_json', NASTY)).not.toContain('\n');
  });
});

describe('anthropicErrorBody', () => {
  it('is valid JSON in the Anthropic envelope for every code', () => {
    for (const code of CODES) {
      const parsed = JSON.parse(anthropicErrorBody(code, `m-${code}`));
      expect(Object.keys(parsed)).toEqual(['type', 'error']);
      expect(parsed.type).toBe('error');
      expect(Object.keys(parsed.error)).toEqual(['type', 'message']);
      expect(parsed.error).toEqual({ type: ERRORS[code].anthropicType, message: `m-${code}` });
    }
  });

  it('messages needing escapes survive', () => {
    expect(JSON.parse(anthropicErrorBody('upstream_error', NASTY)).error.message).toBe(NASTY);
  });
});
