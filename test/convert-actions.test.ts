/**
 * Actions after convert, read back with `datasets` and Pillow: with `--max-side`, every coordinate
 * of an action (nested points, centers, paths, boxes) lands on the same drawn marker in the stored
 * image as in the capture; the card and manifest say which fields are coordinates; the vendor's
 * typed value (`input_text` `value`) is in `action.text` and `prior_action.text`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { convertOk, tempDir } from './convert-fixtures.ts';
import { writeManifest } from './export-fixtures.ts';
import { runPython } from './helpers/python.ts';

const W = 1440;
const H = 900;
const HALF = 16; // markers are 32x32 capture pixels, 16x16 after --max-side 720
type RGB = [number, number, number];
const MARKERS: Record<string, { at: [number, number]; rgb: RGB }> = {
  click: { at: [612, 388], rgb: [220, 20, 20] },
  cursor: { at: [1200, 700], rgb: [20, 200, 20] },
  center: { at: [300, 200], rgb: [20, 20, 220] },
  path0: { at: [1000, 150], rgb: [230, 230, 20] },
  path1: { at: [1100, 800], rgb: [220, 20, 220] },
  drop: { at: [100, 820], rgb: [20, 220, 220] },
};

async function screen(): Promise<Buffer> {
  const composite = await Promise.all(
    Object.values(MARKERS).map(async ({ at: [x, y], rgb: [r, g, b] }) => ({
      input: await sharp({ create: { width: 2 * HALF, height: 2 * HALF, channels: 3, background: { r, g, b } } })
        .png()
        .toBuffer(),
      left: x - HALF,
      top: y - HALF,
    })),
  );
  return sharp({ create: { width: W, height: H, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite(composite)
    .png()
    .toBuffer();
}

const typed = { type: 'input_text', field: 'amount', value: '[masked]' };
const click = {
  type: 'click',
  x: 612,
  y: 388,
  target: { role: 'button', name: 'Approve', bbox: [612 - HALF, 388 - HALF, 2 * HALF, 2 * HALF] },
  meta: { cursor: { x: 1200, y: 700 } },
  center: [300, 200],
  gesture: {
    path: [
      [1000, 150],
      [1100, 800],
    ],
    drop: { pointer: { x: 100, y: 820 } },
  },
};

let out: string;
let exp: string;

beforeAll(async () => {
  exp = await tempDir();
  await mkdir(path.join(exp, 'frames'), { recursive: true });
  await mkdir(path.join(exp, 'data'), { recursive: true });
  await writeFile(path.join(exp, 'frames', 'a.png'), new Uint8Array(await screen()));
  const row = (t_ms: number, action: object, prior: object | null) =>
    JSON.stringify({
      session_id: 'ses_A',
      t_ms,
      frame: { image_url: 'frames/a.png', viewport: { w: W, h: H }, dom: null, accessibility_tree: null },
      action,
      context: { workflow: 'process_invoice', prior_action: prior, outcome: 'success' },
    });
  await writeFile(path.join(exp, 'data', 'part-00000.jsonl'), [row(0, typed, null), row(100, click, typed)].join('\n') + '\n');
  await writeManifest(exp, { format: 'jsonl', rows: 2, frames: 2, actions: 2 });
  out = path.join(await tempDir(), 'out');
  await convertOk(exp, out, ['--formats', 'parquet', '--split', 'train=1', '--max-side', '720', '--image-format', 'png']);
});

describe('convert: coordinates after resize', () => {
  it('every coordinate of the click (column, nested point, center, path, box) is on its marker in the stored image', async () => {
    const got = await runPython<{ size: number[]; at: Record<string, { xy: number[]; rgb: number[] }>; norm: number[] }>(
      `
import json, sys
import datasets
ds = datasets.load_dataset(sys.argv[1], split='train', cache_dir=sys.argv[2])
r = ds[1]
im = r['image'].convert('RGB')
a = r['action']
args = json.loads(a['args'])
bx, by, bw, bh = a['target']['bbox']
points = {
    'click': (a['x'], a['y']),
    'cursor': (args['meta']['cursor']['x'], args['meta']['cursor']['y']),
    'center': tuple(args['center']),
    'path0': tuple(args['gesture']['path'][0]),
    'path1': tuple(args['gesture']['path'][1]),
    'drop': (args['gesture']['drop']['pointer']['x'], args['gesture']['drop']['pointer']['y']),
    'box': (bx + bw // 2, by + bh // 2),
}
at = {k: {'xy': list(p), 'rgb': list(im.getpixel(p)) if 0 <= p[0] < im.width and 0 <= p[1] < im.height else None} for k, p in points.items()}
print(json.dumps({'size': list(im.size), 'at': at, 'norm': [a['x_norm'], a['y_norm']]}))
`,
      { args: [out, path.join(exp, 'hf-cache')], env: { HF_DATASETS_DISABLE_PROGRESS_BARS: '1' } },
    );
    expect(got.size).toEqual([720, 450]);
    for (const [name, m] of Object.entries(MARKERS)) expect(got.at[name]!.rgb, `${name} at ${got.at[name]!.xy}`).toEqual(m.rgb);
    expect(got.at.box!.rgb).toEqual(MARKERS.click!.rgb);
    expect(got.norm[0]).toBeCloseTo(306 / 720, 5);
  });

  it('the card and dataset manifest list which fields are coordinates', async () => {
    const m = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
    expect(m.coordinates.fields).toMatchObject({
      columns: ['x', 'y', 'to_x', 'to_y', 'target.bbox'],
      positions: ['x', 'x1', 'x2', 'y', 'y1', 'y2'],
      paths: expect.arrayContaining(['path', 'points']),
      boxes_xywh: expect.arrayContaining(['bbox', 'box']),
      not_coordinates: expect.arrayContaining(['dx', 'dy']),
    });
    const card = await readFile(path.join(out, 'README.md'), 'utf8');
    const line = card.split('\n').find((l) => l.startsWith('- coordinates (pixels of the stored image'));
    expect(line).toBeDefined();
    for (const k of ['`action.x`', '`action.target.bbox`', '`center`', '`path`', '`bbox`', '`dx`']) expect(line).toContain(k);
  });
});

describe("convert: the vendor's typed value", () => {
  it('an input_text value is action.text, and prior_action.text on the next step', async () => {
    const got = await runPython<Array<{ action: Record<string, unknown>; prior: Record<string, unknown> | null }>>(
      `
import json, sys
import datasets
ds = datasets.load_dataset(sys.argv[1], split='train', cache_dir=sys.argv[2])
print(json.dumps([{'action': r['action'], 'prior': r['prior_action']} for r in ds]))
`,
      { args: [out, path.join(exp, 'hf-cache')], env: { HF_DATASETS_DISABLE_PROGRESS_BARS: '1' } },
    );
    expect(got[0]!.action).toMatchObject({ text: '[masked]', x: null });
    expect(JSON.parse(got[0]!.action.args as string)).toEqual({ field: 'amount', value: '[masked]' });
    expect(got[0]!.prior).toBeNull();
    expect(got[1]!.prior).toMatchObject({ text: '[masked]' });
  });
});
