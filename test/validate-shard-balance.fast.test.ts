/**
 * convert and validate agree on WebDataset shard balance: a convert with --world-size W --workers K
 * passes `validate --world-size W --workers K --strict`. Where the row count forbids equal counts,
 * convert says so (a warning and `webdataset_balance` in the manifest) and validate shows the same
 * words as a note that never fails; a layout a re-shard could even out is still a warning.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { exitCodeOf } from '../src/validate/report.ts';
import { validate } from '../src/validate/validate.ts';
import { planShards, shardBalance } from '../src/write/shard-plan.ts';
import { repoRoot } from './helpers/python.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-balance-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('shardBalance', () => {
  it("convert's plans are as even as the row count allows, for every W x K", () => {
    for (let total = 1; total <= 200; total++) {
      for (let w = 1; w <= 6; w++) {
        for (let k = 1; k <= 4; k++) {
          if (w * k > total) continue;
          const b = shardBalance(
            planShards({ totalSamples: total, approxBytesPerSample: 40_000, shardBytes: 1e6, minShards: w * k }),
            w,
            k,
          );
          expect(b.avoidable, `${total} samples, W=${w}, K=${k}`).toBe(false);
          expect(b.slots[0] === b.slots[1], `${total} samples, W=${w}, K=${k}`).toBe(total % (w * k) === 0);
          expect(b.ranks[1] - b.ranks[0]).toBe(total % w === 0 ? 0 : 1);
        }
      }
    }
  });

  it('a layout a re-shard could even out is avoidable', () => {
    // 50/40/45/45 over 2 ranks: 95 and 85, where 90 and 90 were possible.
    expect(shardBalance([50, 40, 45, 45], 2, 1)).toEqual({ samples: 180, ranks: [85, 95], slots: [85, 95], avoidable: true });
    // Slots within 1 but all extras on one rank: 3+3 and 2+2 where 5 and 5 were possible.
    expect(shardBalance([3, 2, 3, 2], 2, 2).avoidable).toBe(true);
  });
});

describe('convert --world-size W --workers K passes validate --strict with the same W and K', () => {
  const SPLITS = { one: { split: 'train=1' }, three: { split: 'train=0.8,validation=0.1,test=0.1', seed: '0' } } as const;
  const JOBS: Array<[number, number]> = [
    [2, 1],
    [2, 2],
    [3, 2],
    [7, 1],
    [1, 4],
  ];
  for (const [name, split] of Object.entries(SPLITS)) {
    for (const [w, k] of JOBS) {
      it(`${name} split(s), W=${w} K=${k}`, async () => {
        const out = path.join(tmp, `${name}-${w}x${k}`);
        const res = await convert({
          input: path.join(repoRoot, 'samples', 'jsonl'),
          out,
          formats: ['webdataset'],
          split,
          filters: {},
          frames: {},
          wds: { minShards: w * k, worldSize: w, workers: k },
          onError: 'stop',
        });
        const manifest = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
        const rep = await validate([out], { worldSize: w, workers: k, threads: 2 });
        expect(rep.checks.filter((c) => c.severity !== 'note')).toEqual([]);
        expect(exitCodeOf(rep, true)).toBe(0);
        const uneven = Object.entries(manifest.splits)
          .filter(([, s]) => s.rows % (w * k) !== 0)
          .map(([s]) => s);
        // convert says so, in its warnings and the manifest, for exactly those splits...
        const said = res.warnings.filter((x) => /cannot be split equally/.test(x));
        expect(said.map((x) => /^split (\w+):/.exec(x)![1])).toEqual(uneven);
        expect(Object.keys(manifest.webdataset_balance ?? {})).toEqual(uneven);
        for (const s of uneven)
          expect(manifest.webdataset_balance![s]).toMatchObject({
            world_size: w,
            workers: k,
            note: said.find((x) => x.startsWith(`split ${s}:`)),
          });
        // ...and validate shows the same words as notes.
        const notes = rep.checks.find((c) => c.id === 'wds.uneven_rows');
        expect((notes?.examples.map((e) => e.message) ?? []).sort()).toEqual([...said].sort());
        if (uneven.length) expect(rep.notes).toBe(uneven.length);
      });
    }
  }
});
