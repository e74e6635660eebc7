/**
 * A partition starts reading at the plan's resume point nearest before its first owned row: the
 * data files and rows before it are not read (not even parsed), and the output is still the single
 * convert's, byte for byte, with several splits and with session filters.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import { finalizeConvert } from '../src/convert/finalize.ts';
import { convertPartition, planOnly, resumePoint } from '../src/convert/partition.ts';
import type { ResumePoint } from '../src/convert/plan-pass.ts';
import { SAMPLE, tempDir } from './convert-fixtures.ts';
import { hashTree } from './helpers/bytes.ts';

let work = '';
let input = '';
beforeAll(async () => {
  work = await tempDir('nusomi-resume-');
  input = path.join(work, 'export');
  await cp(SAMPLE, input, { recursive: true });
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function options(out: string, extra: Partial<ConvertOptions> = {}): ConvertOptions {
  return {
    input,
    out,
    formats: ['parquet', 'jsonl'],
    split: { split: 'train=1', seed: '0' },
    filters: {},
    frames: {},
    // Small shards: every partition of three owns some.
    maxShardBytes: 60_000,
    wds: {},
    onError: 'stop',
    ...extra,
  };
}

async function planPoints(out: string): Promise<ResumePoint[]> {
  const text = await readFile(path.join(path.dirname(out), `.${path.basename(out)}.nusomi-parts`, 'plan.json'), 'utf8');
  return (JSON.parse(text) as { planned: { resumePoints: ResumePoint[] } }).planned.resumePoints;
}

it('the last partition of three reads no row of the first data file; the result is the single convert', async () => {
  const single = path.join(work, 'single');
  await convert(options(single));
  const out = path.join(work, 'parts');
  await planOnly(options(out));
  const points = await planPoints(out);
  // One per session start (a small export keeps them all), the first at the first row.
  expect(points.length).toBe(8);
  expect(points[0]).toEqual({ file: 0, item: 0, before: {}, sessions: {} });
  expect(points.some((p) => p.file === 1)).toBe(true);

  // The first data file made unreadable: a partition that parsed any of it would fail.
  const first = path.join(input, 'data', 'part-00000.jsonl');
  const good = await readFile(first, 'utf8');
  await writeFile(first, good.replace(/^.+$/gm, '{not json'));
  try {
    await convertPartition(options(out), { index: 2, count: 3 });
  } finally {
    await writeFile(first, good);
  }
  await convertPartition(options(out), { index: 0, count: 3 });
  await convertPartition(options(out), { index: 1, count: 3 });
  await finalizeConvert(options(out));
  expect(await hashTree(out)).toEqual(await hashTree(single));
});

it('three splits and a session filter: N = 2, 3 give the single convert byte for byte', async () => {
  const extra: Partial<ConvertOptions> = {
    split: { split: 'train=0.6,validation=0.2,test=0.2', seed: '0' },
    filters: { minDurationMs: 1, frames: 'action-only' },
  };
  const single = path.join(work, 'single-filtered');
  await convert(options(single, extra));
  const expected = await hashTree(single);
  for (const n of [2, 3]) {
    const out = path.join(work, `filtered-${n}`);
    await planOnly(options(out, extra));
    for (let i = n - 1; i >= 0; i--) await convertPartition(options(out, extra), { index: i, count: n });
    await finalizeConvert(options(out, extra));
    expect(await hashTree(out)).toEqual(expected);
  }
});

it('resumePoint: the last point before every split’s first owned row', () => {
  const points: ResumePoint[] = [
    { file: 0, item: 0, before: {} },
    { file: 0, item: 10, before: { train: 8, test: 2 } },
    { file: 1, item: 0, before: { train: 20, test: 5 } },
  ];
  expect(resumePoint(points, new Map([['train', 25]]))).toEqual(points[2]);
  // The test split's row 3 comes before the third point.
  expect(
    resumePoint(
      points,
      new Map([
        ['train', 25],
        ['test', 3],
      ]),
    ),
  ).toEqual(points[1]);
  expect(resumePoint(points, new Map([['train', 5]]))).toEqual(points[0]);
  expect(resumePoint(points, new Map())).toBeUndefined();
});
