/**
 * `parquet.no_page_index` counts pages instead of guessing from size: convert's own output with a
 * single-page image chunk just over 1 MiB (one large PNG frame, no offset index needed) passes
 * `validate --strict`. (A chunk of many pages without an offset index is still flagged: the
 * pq-no-page-index plant of validate-corpus.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { JsonObject } from '../src/export/step.ts';
import { exitCodeOf } from '../src/validate/report.ts';
import { validate } from '../src/validate/validate.ts';
import { deriveExport, sampleJsonRows } from './convert-fixtures.ts';
import { runPython } from './helpers/python.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-pages-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A PNG of the given size that holds a block of noise, about `noiseBytes` after compression. */
async function bigPng(w: number, h: number, noiseBytes: number): Promise<Uint8Array> {
  const side = Math.ceil(Math.sqrt(noiseBytes / 3));
  const noise = Buffer.alloc(side * side * 3);
  let x = 12345;
  for (let i = 0; i < noise.length; i++) noise[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  const block = await sharp(noise, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(
    await sharp({ create: { width: w, height: h, channels: 3, background: { r: 240, g: 240, b: 240 } } })
      .composite([{ input: block, left: 0, top: 0 }])
      .png({ compressionLevel: 9 })
      .toBuffer(),
  );
}

it('a single-page image chunk just over 1 MiB without an offset index is not flagged', async () => {
  const row = (await sampleJsonRows())[0]!;
  const frame = row.frame as JsonObject & { viewport: { w: number; h: number } };
  const dir = path.join(tmp, 'export');
  const url = `s3://nusomi-exports/process_invoice/v1/frames/big.png`;
  await deriveExport(dir, [{ ...row, frame: { ...frame, image_url: url } }]);
  const png = await bigPng(frame.viewport.w, frame.viewport.h, 0.9 * 2 ** 20);
  expect(png.length).toBeGreaterThan(2 ** 20);
  expect(png.length).toBeLessThan(1.25 * 2 ** 20);
  await writeFile(path.join(dir, 'frames/big.png'), png);

  const out = path.join(tmp, 'dataset');
  await convert({ input: dir, out, formats: ['parquet'], split: { split: 'train=1' }, filters: {}, frames: {}, wds: {}, onError: 'stop' });
  const file = path.join(out, 'data/train-00000-of-00001.parquet');
  const chunk = await runPython<{ uncompressed: number; offset_index: boolean }>(
    `
import sys, json, pyarrow.parquet as pq
md = pq.ParquetFile(sys.argv[1]).metadata
i = [md.schema.column(c).path for c in range(md.num_columns)].index('image.bytes')
c = md.row_group(0).column(i)
print(json.dumps({'uncompressed': c.total_uncompressed_size, 'offset_index': c.has_offset_index}))
`,
    { args: [file] },
  );
  // The chunk passes 1 MiB and has no offset index: the size guess flagged exactly this.
  expect(chunk.uncompressed).toBeGreaterThan(2 ** 20);
  expect(chunk.offset_index).toBe(false);
  const rep = await validate([out], { threads: 2 });
  expect(rep.checks).toEqual([]);
  expect(exitCodeOf(rep, true)).toBe(0);
});
