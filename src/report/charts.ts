/** Charts as SVG text: horizontal bars for counts, columns for histograms, cells for heatmaps. */
import { escapeHtml } from './html-escape.ts';

const BAR_H = 18;
const LABEL_W = 180;
const BAR_W = 320;

/** One bar per key, longest first kept in the given order. */
export function barChart(counts: Record<string, number>, title: string): string {
  const entries = Object.entries(counts);
  const max = entries.reduce((m, [, n]) => Math.max(m, n), 1);
  const h = entries.length * BAR_H + 4;
  const bars = entries
    .map(([k, n], i) => {
      const y = i * BAR_H + 2;
      const w = Math.max(1, Math.round((n / max) * BAR_W));
      const name = k.length > 28 ? k.slice(0, 27) + '…' : k;
      return (
        `<text x="${LABEL_W - 6}" y="${y + 13}" text-anchor="end">${escapeHtml(name)}</text>` +
        `<rect x="${LABEL_W}" y="${y + 2}" width="${w}" height="${BAR_H - 5}" class="bar"><title>${escapeHtml(k)}: ${n}</title></rect>` +
        `<text x="${LABEL_W + w + 4}" y="${y + 13}">${n}</text>`
      );
    })
    .join('');
  return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${LABEL_W + BAR_W + 60} ${h}" width="${LABEL_W + BAR_W + 60}" height="${h}">${bars}</svg>`;
}

export interface Bin {
  lo: number;
  hi: number;
  count: number;
}

/** Equal-width bins with an integer width covering [min, max]; at most `maxBins`. */
export function histogram(values: number[], maxBins = 20): Bin[] {
  if (!values.length) return [];
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const width = Math.max(1, Math.ceil((max - min + 1) / maxBins));
  const n = Math.max(1, Math.ceil((max - min + 1) / width));
  const bins: Bin[] = Array.from({ length: n }, (_, i) => ({ lo: min + i * width, hi: min + (i + 1) * width - 1, count: 0 }));
  for (const v of values) bins[Math.min(n - 1, Math.floor((v - min) / width))]!.count++;
  return bins;
}

export function histogramChart(bins: Bin[], title: string, unit: string): string {
  const W = 520;
  const H = 140;
  const max = bins.reduce((m, b) => Math.max(m, b.count), 1);
  const bw = bins.length ? W / bins.length : W;
  const cols = bins
    .map((b, i) => {
      const h = Math.round((b.count / max) * (H - 20));
      const range = b.lo === b.hi ? `${b.lo}` : `${b.lo}–${b.hi}`;
      return `<rect x="${(i * bw + 1).toFixed(1)}" y="${H - 16 - h}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${h}" class="bar"><title>${escapeHtml(range)} ${escapeHtml(unit)}: ${b.count}</title></rect>`;
    })
    .join('');
  const first = bins[0];
  const last = bins[bins.length - 1];
  const axis =
    first && last
      ? `<text x="0" y="${H - 2}">${first.lo} ${escapeHtml(unit)}</text><text x="${W}" y="${H - 2}" text-anchor="end">${last.hi} ${escapeHtml(unit)}</text>`
      : '';
  return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">${cols}${axis}</svg>`;
}

/** Heat cells over a frame of `w`×`h` (the frame is an <img> under this SVG). */
export function heatmapSvg(cells: number[], cols: number, rows: number, w: number, h: number): string {
  const max = Math.max(1, ...cells);
  const cw = w / cols;
  const ch = h / rows;
  let out = '';
  cells.forEach((n, i) => {
    if (!n) return;
    const x = (i % cols) * cw;
    const y = Math.floor(i / cols) * ch;
    out += `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${cw.toFixed(1)}" height="${ch.toFixed(1)}" fill-opacity="${(0.25 + 0.6 * (n / max)).toFixed(2)}"><title>${n}</title></rect>`;
  });
  return `<svg class="heat-cells" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none">${out}</svg>`;
}
