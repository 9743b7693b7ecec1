import { describe, expect, it } from 'vitest';
import { formatTraceparent, isSampled, newSpanId, newTraceId, parseTraceparent, samplerFromEnv } from '../../../core/telemetry/traceparent.js';

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

describe('span sampling (OTEL_TRACES_SAMPLER)', () => {
  it('reads the standard variables; the default is parent-based, always on', () => {
    expect(samplerFromEnv({})).toEqual({ ratio: 1, parentBased: true });
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' })).toEqual({ ratio: 0, parentBased: false });
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).toEqual({ ratio: 0.25, parentBased: false });
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '7' })).toEqual({ ratio: 1, parentBased: true });
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'x' })).toEqual({ ratio: 1, parentBased: false });
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'unknown' })).toEqual({ ratio: 1, parentBased: true });
  });

  it("parent-based: the client's sampled flag decides; else the ratio, by trace id, stable per trace", () => {
    const on = samplerFromEnv({});
    expect(isSampled(on, TID, '01')).toBe(true);
    expect(isSampled(on, TID, '00')).toBe(false);
    expect(isSampled(on, TID, '')).toBe(true);
    const tenth = samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' });
    expect(isSampled(tenth, TID, '00')).toBe(isSampled(tenth, TID, '01')); // not parent-based
    let n = 0;
    for (let i = 0; i < 20000; i++) if (isSampled(tenth, newTraceId(), '')) n++;
    expect(n).toBeGreaterThan(1700);
    expect(n).toBeLessThan(2300);
    const id = newTraceId();
    expect(isSampled(tenth, id, '')).toBe(isSampled(tenth, id, ''));
  });
});
