/**
 * A helper thread that dies mid-convert (the file reader, the sha256 worker) fails the run with an
 * error that says which thread stopped, instead of leaving convert waiting for answers that never
 * come; the next convert starts fresh threads and succeeds.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeLargeExport } from '../scripts/make-samples.ts';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import { hashThread } from '../src/sink/hasher.ts';
import { readerThread } from '../src/source/local.ts';
import { tempDir } from './convert-fixtures.ts';

let work: string;
let input: string;
beforeAll(async () => {
  work = await tempDir('nusomi-thread-death-');
  input = path.join(work, 'export');
  // ~150 KB frames: the reader and the hash worker are both busy while rows are written.
  await makeLargeExport({ sessions: 2, steps: 40, format: 'jsonl', out: input, poolSize: 4 });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function options(out: string, onProgress?: ConvertOptions['onProgress']): ConvertOptions {
  return {
    input,
    out: path.join(work, out),
    formats: ['parquet', 'webdataset'],
    split: {},
    filters: {},
    frames: {},
    wds: {},
    onError: 'stop',
    onProgress,
  };
}

/** Convert, stopping `thread()` once the first rows are written. */
async function convertKilling(out: string, thread: () => Worker | undefined): Promise<unknown> {
  let stopped = false;
  const run = convert(
    options(out, (e) => {
      // Once rows are being written: both threads are busy then.
      if (stopped || e.phase !== 'write' || e.rowsDone === 0) return;
      const t = thread();
      if (!t) return;
      stopped = true;
      void t.terminate();
    }),
  );
  const error = await run.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(stopped).toBe(true);
  return error;
}

describe('a helper thread dies mid-convert', () => {
  it('the file reader thread: convert fails naming it, and the next convert works', async () => {
    const err = await convertKilling('reader-killed', readerThread);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/file reader thread stopped/);
    const again = await convert(options('after-reader'));
    expect(
      again.manifest.splits.train!.rows + (again.manifest.splits.validation?.rows ?? 0) + (again.manifest.splits.test?.rows ?? 0),
    ).toBe(80);
  }, 60_000);

  it('the sha256 worker: convert fails naming it, and the next convert works', async () => {
    const err = await convertKilling('hasher-killed', hashThread);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/sha256 worker thread stopped/);
    const again = await convert(options('after-hasher'));
    expect(again.manifest.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
  }, 60_000);
});
