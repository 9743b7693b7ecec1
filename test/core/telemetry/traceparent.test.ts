import { describe, expect, it } from 'vitest';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../../../core/telemetry/traceparent.js';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PID = '00f067aa0ba902b7';

describe('W3C traceparent', () => {
  it('parses a valid header', () => {
    expect(parseTraceparent(`00-${TID}-${PID}-01`)).toEqual({ traceId: TID, parentId: PID, flags: '01' });
    expect(parseTraceparent(`00-${TID}-${PID}-00`)?.flags).toBe('00');
    // A later version may carry more fields after a dash.
    expect(parseTraceparent(`01-${TID}-${PID}-01-extra`)?.traceId).toBe(TID);
  });

  it.each([
    ['empty', ''],
    ['too short', `00-${TID}-${PID}-0`],
    ['version 00 with a tail', `00-${TID}-${PID}-01-x`],
    ['later version, tail without a dash', `01-${TID}-${PID}-01x`],
    ['version ff', `ff-${TID}-${PID}-01`],
    ['upper-case hex', `00-${TID.toUpperCase()}-${PID}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PID}-01`],
    ['all-zero parent id', `00-${TID}-${'0'.repeat(16)}-01`],
    ['wrong separators', `00_${TID}_${PID}_01`],
    ['non-hex flags', `00-${TID}-${PID}-zz`],
    ['non-hex version', `0x-${TID}-${PID}-01`],
  ])('refuses %s', (_why, h) => {
    expect(parseTraceparent(h)).toBeNull();
  });

  it('makes fresh, well-formed ids that round-trip through the header', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const t = newTraceId();
      const s = newSpanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      ids.add(t);
      expect(parseTraceparent(formatTraceparent(t, s, '01'))).toEqual({ traceId: t, parentId: s, flags: '01' });
    }
    expect(ids.size).toBe(500);
  });
});
