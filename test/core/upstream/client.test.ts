import { errors } from 'undici';
import { describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../../core/upstream/client.js';

const withCode = (code: string): Error => Object.assign(new Error(code), { code });

describe('classifyUpstreamError', () => {
  it('the client going away wins over everything', () => {
    expect(classifyUpstreamError(withCode('UND_ERR_HEADERS_TIMEOUT'), true, true)).toBe('aborted');
    expect(classifyUpstreamError(new Error('x'), false, true)).toBe('aborted');
    expect(classifyUpstreamError(null, false, true)).toBe('aborted');
  });

  it('our own deadline firing is a timeout, whatever undici threw', () => {
    expect(classifyUpstreamError(withCode('UND_ERR_ABORTED'), true, false)).toBe('timeout');
    expect(classifyUpstreamError(withCode('ECONNRESET'), true, false)).toBe('timeout');
    expect(classifyUpstreamError(undefined, true, false)).toBe('timeout');
  });

  it('undici header, body and connect timeouts are timeouts', () => {
    for (const code of ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']) {
      expect(classifyUpstreamError(withCode(code), false, false), code).toBe('timeout');
    }
  });

  it('recognizes undici\'s own timeout error classes', () => {
    expect(classifyUpstreamError(new errors.HeadersTimeoutError(), false, false)).toBe('timeout');
    expect(classifyUpstreamError(new errors.BodyTimeoutError(), false, false)).toBe('timeout');
    expect(classifyUpstreamError(new errors.ConnectTimeoutError(), false, false)).toBe('timeout');
    expect(classifyUpstreamError(new errors.SocketError('other side closed'), false, false)).toBe('connection');
    expect(classifyUpstreamError(new errors.RequestAbortedError(), false, false)).toBe('connection');
  });

  it('everything else is a connection failure', () => {
    for (const err of [
      withCode('ECONNREFUSED'),
      withCode('ECONNRESET'),
      withCode('EPIPE'),
      withCode('ENOTFOUND'),
      withCode('UND_ERR_SOCKET'),
      withCode('und_err_headers_timeout'),
      new Error('no code'),
      Object.assign(new Error('numeric code'), { code: 42 }),
      null,
      undefined,
      'a string',
      42,
      {},
    ]) {
      expect(classifyUpstreamError(err, false, false), String(err)).toBe('connection');
    }
  });
});
