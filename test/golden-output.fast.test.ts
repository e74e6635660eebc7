/**
 * Golden output hashes: every sample export converted into every output format, once with the
 * default options and once re-encoding frames, must give exactly the files recorded in
 * test/golden-output.json (path → sha256). It guards refactors that must not change a byte (frame
 * memory, writers, the hyparquet-writer internals and the ByteWriter patch in src/write/parquet.ts).
 *
 * A change that is meant to change output bytes re-records the file, and the diff of the JSON
 * shows which files changed:
 *
 *     UPDATE_GOLDEN=1 npx vitest run test/golden-output.fast.test.ts
 *
 * Converts run in-process (no CLI spawn), about 15 s, in frame memory's debug mode (vitest.config.ts
 * sets NUSOMI_DEBUG_BUFFERS=1), so a writer using a frame after its release fails here too.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import type { FrameOptions } from '../src/frames/transform.ts';
import type { OutputFormat } from '../src/hf/dataset-manifest.ts';
import { makeLargeExport } from '../scripts/make-samples.ts';
import { tempDir } from './convert-fixtures.ts';
import { hashTree } from './helpers/bytes.ts';

const GOLDEN = path.join(import.meta.dirname, 'golden-output.json');
const SAMPLES = ['jsonl', 'parquet', 'arrow', 'webdataset'];
const FORMATS: OutputFormat[] = ['parquet', 'arrow', 'jsonl', 'webdataset'];
const OPTION_SETS: Record<string, FrameOptions> = {
  default: {},
  reencode: { maxSide: 320, imageFormat: 'webp', quality: 70, workers: 2 },
};

function options(input: string, out: string, frames: FrameOptions): ConvertOptions {
  return {
    input,
    out,
    formats: FORMATS,
    split: { split: 'train=0.6,validation=0.2,test=0.2', seed: '0' },
    filters: {},
    frames,
    // Small shards, so shard cutting is covered too.
    maxShardBytes: 2_000_000,
    wds: { shardSamples: 20 },
    onError: 'stop',
  };
}

describe('golden output', () => {
  it('every sample × format × option set is byte-identical to test/golden-output.json', async () => {
    const work = await tempDir();
    const actual: Record<string, Record<string, string>> = {};
    const run = async (key: string, input: string, frames: FrameOptions): Promise<void> => {
      const out = path.join(work, key.replace('/', '-'));
      await convert(options(input, out, frames));
      const files = await hashTree(out);
      actual[key] = Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    };
    try {
      for (const sample of SAMPLES) {
        for (const [name, frames] of Object.entries(OPTION_SETS)) await run(`${sample}/${name}`, path.join('samples', sample), frames);
      }
      // The samples' frames are small (the sink copies them); benchmark-sized frames (~150 KB) are
      // written by reference from shared memory, the path the frame-memory code takes at scale.
      const large = path.join(work, 'large-export');
      await makeLargeExport({ sessions: 2, steps: 30, format: 'jsonl', out: large, poolSize: 4 });
      await run('large-jsonl/default', large, {});
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    if (process.env.UPDATE_GOLDEN === '1') {
      await writeFile(GOLDEN, JSON.stringify(actual, null, 2) + '\n');
      return;
    }
    const golden = JSON.parse(await readFile(GOLDEN, 'utf8')) as typeof actual;
    // Per run, so a failure names the sample and option set; per file inside it.
    for (const key of Object.keys(golden)) expect(actual[key], key).toEqual(golden[key]);
    expect(Object.keys(actual).sort()).toEqual(Object.keys(golden).sort());
  }, 300_000);
});
