/**
 * The acceptance check for resized frames over the bundled sample: for every point action (click,
 * double click, drag ends, ...) that lands in a control's click zone, the control under (x, y) in
 * the capture is the control under the rescaled (x, y) in the stored image, told apart by the
 * controls' solid fills (scripts/sample-ui.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { OutputInfo } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSamples } from '../scripts/make-samples.ts';
import { controlsFor } from '../scripts/sample-ui.ts';
import type { Json } from '../src/export/step.ts';
import { openExport } from '../src/export/read.ts';
import { prepareFrames } from '../src/frames/transform.ts';
import { repoRoot } from './helpers/python.ts';

const BACKGROUNDS = ['#ffffff', '#eef0f3', '#1f2937'];

function rgb(hex: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

const decoded = new Map<string, Promise<{ data: Buffer; info: OutputInfo }>>();
async function nearestFill(bytes: Uint8Array, x: number, y: number, palette: string[]): Promise<string> {
  const key = createHash('sha256').update(bytes).digest('hex');
  if (!decoded.has(key)) decoded.set(key, sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true }));
  const { data, info } = await decoded.get(key)!;
  const o = (y * info.width + x) * info.channels;
  const dist = (hex: string) => rgb(hex).reduce((a, c, i) => a + (c - data[o + i]!) ** 2, 0);
  return palette.reduce((best, c) => (dist(c) < dist(best) ? c : best));
}

/** Every (x, y) position an action carries: the point itself, drag `to`, path points. */
function points(a: Json | null | undefined): [number, number][] {
  if (a === null || a === undefined || typeof a !== 'object' || Array.isArray(a)) return [];
  const out: [number, number][] = [];
  const pt = (o: Json | undefined) => {
    if (o && typeof o === 'object' && !Array.isArray(o) && typeof o['x'] === 'number' && typeof o['y'] === 'number')
      out.push([o['x'], o['y']]);
  };
  pt(a);
  pt(a['to']);
  pt(a['from']);
  const p = a['path'];
  if (Array.isArray(p))
    for (const q of p) if (Array.isArray(q) && typeof q[0] === 'number' && typeof q[1] === 'number') out.push([q[0], q[1]]);
  return out;
}

let samplesJsonl: string;

beforeAll(async () => {
  samplesJsonl = path.join(repoRoot, 'samples', 'jsonl');
  if (!existsSync(path.join(samplesJsonl, 'manifest.json'))) {
    // The samples are not in the checkout: make them (deterministic) in a temp dir.
    const out = await mkdtemp(path.join(tmpdir(), 'samples-'));
    await makeSamples(out);
    samplesJsonl = path.join(out, 'jsonl');
  }
}, 600_000);

describe('sample export resized to maxSide 720', () => {
  it('keeps every click on the same control', async () => {
    const reader = await openExport(samplesJsonl);
    let checked = 0;
    let clicks = 0;
    const sizes = new Set<string>();
    for await (const p of prepareFrames(reader.steps(), { maxSide: 720 })) {
      const vp = p.step.frame.viewport;
      const controls = controlsFor(vp);
      const palette = [...controls.map((c) => c.fill), ...BACKGROUNDS];
      const original = await p.step.image.read();
      sizes.add(`${vp.w}x${vp.h}->${p.image.width}x${p.image.height}`);
      expect(Math.max(p.image.width, p.image.height)).toBe(720);
      if (/click/.test(p.step.action.type)) clicks++;
      const pairs: [Json, Json][] = [
        [p.step.action, p.action],
        [p.step.context.prior_action, p.prior_action],
      ];
      for (const [before, after] of pairs) {
        const src = points(before);
        const dst = points(after);
        expect(dst.length).toBe(src.length);
        for (const [i, [x, y]] of src.entries()) {
          const control = controls.find((c) => x >= c.hit.x && x < c.hit.x + c.hit.w && y >= c.hit.y && y < c.hit.y + c.hit.h);
          if (!control) continue;
          const where = `${p.step.session_id} t_ms ${p.step.t_ms} (${x},${y}) ${control.name}`;
          expect(await nearestFill(original, x, y, palette), where).toBe(control.fill);
          const [nx, ny] = dst[i]!;
          expect(await nearestFill(p.image.bytes, nx, ny, palette), `${where} -> (${nx},${ny})`).toBe(control.fill);
          checked++;
        }
      }
    }
    // Both sample viewports were exercised, and every click (current actions alone) was checked.
    expect([...sizes].sort()).toEqual(['1440x900->720x450', '1920x1080->720x405']);
    expect(clicks).toBeGreaterThan(20);
    expect(checked).toBeGreaterThanOrEqual(clicks);
  }, 600_000);
});
