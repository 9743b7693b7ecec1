import { describe, expect, it } from 'vitest';
import { uwsIsNative, uWS } from '../../transports/uws/uws.js';

describe('uWebSockets.js', () => {
  it('loaded its native addon, not the JavaScript fallback', () => {
    expect(uwsIsNative()).toBe(true);
    expect(Function.prototype.toString.call(uWS.App)).toContain('[native code]');
  });
});
