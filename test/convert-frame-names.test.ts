/**
 * Frame file names and WebDataset keys are unique per (session_id, t_ms): session ids that
 * sanitise to the same text (`ses-x`, `ses.x`) or differ only in case (`SES-X`) keep their own
 * frames. Checked with the consumers users run: the JSONL frame files opened with Pillow,
 * `datasets` on the Parquet and on the WebDataset tars.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { framePath } from '../src/frames/transform.ts';
import { sampleKey } from '../src/write/wds-keys.ts';
import { convertOk, tempDir } from './convert-fixtures.ts';
import { writeManifest } from './export-fixtures.ts';
import { runPython } from './helpers/python.ts';

// Sorted by (session_id, t_ms) as an export is; all at the same t_ms.
const SESSIONS: Array<[string, [number, number, number]]> = [
  ['SES-X', [200, 30, 30]],
  ['ses x', [30, 200, 30]],
  ['ses-x', [30, 30, 200]],
  ['ses.x', [200, 200, 30]],
  ['ses/x', [30, 200, 200]],
  ['ses_x', [200, 30, 200]],
];

async function collidingExport(): Promise<string> {
  const root = await tempDir();
  await mkdir(path.join(root, 'frames'), { recursive: true });
  await mkdir(path.join(root, 'data'), { recursive: true });
  const lines: string[] = [];
  for (const [i, [id, [r, g, b]]] of SESSIONS.entries()) {
    const png = await sharp({ create: { width: 64, height: 40, channels: 3, background: { r, g, b } } })
      .png()
      .toBuffer();
    await writeFile(path.join(root, 'frames', `${i}.png`), new Uint8Array(png));
    lines.push(
      JSON.stringify({
        session_id: id,
        t_ms: 100,
        frame: { image_url: `frames/${i}.png`, viewport: { w: 64, h: 40 }, dom: null, accessibility_tree: null },
        action: { type: 'click', x: 3, y: 4 },
        context: { workflow: 'process_invoice', prior_action: null, outcome: 'success' },
      }),
    );
  }
  await writeFile(path.join(root, 'data', 'part-00000.jsonl'), lines.join('\n') + '\n');
  await writeManifest(root, { format: 'jsonl', rows: lines.length, frames: lines.length, actions: lines.length });
  return root;
}

describe('frame names and sample keys', () => {
  it('framePath and sampleKey are injective over ids that sanitise alike or differ in case', () => {
    const ids = SESSIONS.map(([id]) => id);
    const names = ids.map((id) => framePath({ session_id: id, t_ms: 100 }, 'png'));
    expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(ids.length);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_-]+-[0-9a-f]{12}_000000100\.png$/);
    expect(new Set(ids.map((id) => sampleKey(id, 0))).size).toBe(ids.length);
    // The same id and t_ms always give the same name (deterministic output).
    expect(framePath({ session_id: 'ses.x', t_ms: 100 }, 'png')).toBe(names[3]);
  });

  it('each row of JSONL, Parquet and WebDataset output shows its own frame', async () => {
    const exp = await collidingExport();
    const out = path.join(await tempDir(), 'out');
    await convertOk(exp, out, ['--formats', 'parquet,jsonl,webdataset', '--split', 'train=1']);
    const frames = await readdir(path.join(out, 'jsonl', 'frames', 'train'));
    expect(frames.length).toBe(SESSIONS.length);

    const got = await runPython<Record<string, Array<[string, number[]]>>>(
      `
import glob, io, json, os, sys
import datasets
from PIL import Image
out, cache = sys.argv[1], sys.argv[2]
def colour(im):
    return list(im.convert('RGB').getpixel((5, 5)))
res = {'jsonl': [], 'parquet': [], 'webdataset': []}
for f in sorted(glob.glob(out + '/jsonl/*.jsonl')):
    for line in open(f):
        r = json.loads(line)
        with Image.open(os.path.join(out, 'jsonl', r['image'])) as im:
            res['jsonl'].append([r['session_id'], colour(im)])
for r in datasets.load_dataset(out, split='train', cache_dir=cache):
    res['parquet'].append([r['session_id'], colour(r['image'])])
tars = sorted(glob.glob(out + '/webdataset/train-*.tar'))
for r in datasets.load_dataset('webdataset', data_files={'train': tars}, split='train', cache_dir=cache):
    res['webdataset'].append([r['json']['session_id'], colour(r['png'])])
print(json.dumps(res))
`,
      { args: [out, path.join(exp, 'hf-cache')], env: { HF_DATASETS_DISABLE_PROGRESS_BARS: '1' } },
    );
    const expected = SESSIONS.map(([id, c]) => [id, c]).sort();
    for (const format of ['jsonl', 'parquet', 'webdataset']) {
      expect(got[format]!.slice().sort(), format).toEqual(expected);
    }
  });
});
