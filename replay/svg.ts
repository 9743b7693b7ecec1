// Hand-written SVG charts for the replay report: line charts (time series, CDFs) and bar charts. No
// dependencies; every chart is one self-contained <svg> string (embedded in report.html, and written
// beside it as plots/*.svg).

export interface LineSeries {
  name: string;
  points: Array<[number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Log scale on x (CDFs of latencies). */
  logX?: boolean;
  yMax?: number;
  /** Start the x axis here (time series start at 0). */
  xMin?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2, 5 × 10^k steps giving about `n` ticks over [lo, hi]. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

export function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || v === 0) return String(Math.round(v));
  if (a >= 1) return String(+v.toFixed(2));
  return String(+v.toPrecision(2));
}

export function lineChart(series: LineSeries[], o: ChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 320;
  const L = 70, R = 160, T = 36, B = 48;
  const pw = W - L - R;
  const ph = H - T - B;
  const all = series.flatMap((s) => s.points);
  const fx = (x: number): number => (o.logX === true ? Math.log10(Math.max(x, 1e-3)) : x);
  let xlo = Infinity, xhi = -Infinity, yhi = 0;
  for (const [x, y] of all) {
    const X = fx(x);
    if (X < xlo) xlo = X;
    if (X > xhi) xhi = X;
    if (y > yhi) yhi = y;
  }
  if (!Number.isFinite(xlo)) {
    xlo = 0;
    xhi = 1;
  }
  if (o.xMin !== undefined && o.logX !== true && o.xMin < xlo) xlo = o.xMin;
  if (xhi === xlo) xhi = xlo + 1;
  yhi = o.yMax ?? (yhi > 0 ? yhi * 1.05 : 1);
  const sx = (x: number): number => L + ((fx(x) - xlo) / (xhi - xlo)) * pw;
  const sy = (y: number): number => T + ph - (Math.min(y, yhi) / yhi) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  // Grid and axes.
  for (const v of ticks(0, yhi)) {
    const y = sy(v).toFixed(1);
    parts.push(`<line x1="${L}" y1="${y}" x2="${L + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(v)}</text>`);
  }
  const xt = o.logX === true ? logTicks(xlo, xhi) : ticks(xlo, xhi).map((v) => [v, v] as [number, number]);
  for (const [pos, label] of xt) {
    const x = (L + ((pos - xlo) / (xhi - xlo)) * pw).toFixed(1);
    parts.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${T + ph}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${x}" y="${T + ph + 16}" text-anchor="middle">${fmtTick(label)}</text>`);
  }
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${L + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="16" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${T + ph / 2})">${esc(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    if (s.points.length > 0) {
      const d = s.points.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"/>`);
    }
    const ly = T + 10 + i * 16;
    parts.push(`<line x1="${L + pw + 12}" y1="${ly}" x2="${L + pw + 30}" y2="${ly}" stroke="${c}" stroke-width="3"/>`);
    parts.push(`<text x="${L + pw + 34}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function logTicks(lo: number, hi: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) if (e >= lo - 1e-9 && e <= hi + 1e-9) out.push([e, 10 ** e]);
  return out;
}

export interface Bar {
  label: string;
  /** One value per group (side by side): e.g. baseline and each what-if. */
  values: number[];
}

export function barChart(bars: Bar[], groups: string[], o: ChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 320;
  const L = 70, R = 160, T = 36, B = 56;
  const pw = W - L - R;
  const ph = H - T - B;
  let yhi = 0;
  for (const b of bars) for (const v of b.values) if (v > yhi) yhi = v;
  yhi = yhi > 0 ? yhi * 1.1 : 1;
  const sy = (y: number): number => T + ph - (y / yhi) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  for (const v of ticks(0, yhi)) {
    const y = sy(v).toFixed(1);
    parts.push(`<line x1="${L}" y1="${y}" x2="${L + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(v)}</text>`);
  }
  const slot = pw / Math.max(1, bars.length);
  const bw = (slot * 0.8) / Math.max(1, groups.length);
  bars.forEach((b, i) => {
    b.values.forEach((v, g) => {
      const x = L + i * slot + slot * 0.1 + g * bw;
      const y = sy(v);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${(T + ph - y).toFixed(1)}" fill="${PALETTE[g % PALETTE.length]}"><title>${esc(`${b.label} · ${groups[g]}: ${v}`)}</title></rect>`);
    });
    parts.push(`<text x="${(L + i * slot + slot / 2).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${esc(b.label)}</text>`);
  });
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${L + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="16" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${T + ph / 2})">${esc(o.yLabel)}</text>`);
  groups.forEach((g, i) => {
    const ly = T + 10 + i * 16;
    parts.push(`<rect x="${L + pw + 12}" y="${ly - 5}" width="18" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    parts.push(`<text x="${L + pw + 34}" y="${ly}" dominant-baseline="middle">${esc(g)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
