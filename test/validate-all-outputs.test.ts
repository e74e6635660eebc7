/**
 * No false positives on our own output: every dataset convert writes — from each sample export
 * (jsonl, parquet, arrow, webdataset), in every output format, with the default and an explicit
 * split spec — passes `validate --strict`, and validate counts each format's rows once. Each sample
 * is converted once per split spec, to all four formats together.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { exitCodeOf } from '../src/validate/report.ts';
import { validate } from '../src/validate/validate.ts';
import { runCliSync } from './helpers/cli.ts';
import { repoRoot } from './helpers/python.ts';

const SAMPLES = ['jsonl', 'parquet', 'arrow', 'webdataset'] as const;
const SPLITS = { default: {}, explicit: { split: 'train=0.6,validation=0.2,test=0.2', seed: '1' } } as const;
const FORMATS = ['parquet', 'arrow', 'jsonl', 'webdataset'] as const;

let tmp: string;
const outs = new Map<string, string>();

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-all-outputs-'));
  for (const sample of SAMPLES) {
    for (const [name, split] of Object.entries(SPLITS)) {
      const out = path.join(tmp, `${sample}-${name}`);
      await convert({
        input: path.join(repoRoot, 'samples', sample),
        out,
        formats: [...FORMATS],
        split,
        filters: {},
        frames: {},
        wds: {},
        onError: 'stop',
      });
      outs.set(`${sample}/${name}`, out);
    }
  }
}, 300_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('validate --strict on everything convert writes', () => {
  for (const sample of SAMPLES) {
    for (const name of Object.keys(SPLITS)) {
      it(`samples/${sample}, ${name} split: clean, each format's rows counted once`, async () => {
        const out = outs.get(`${sample}/${name}`)!;
        const manifest = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
        const rep = await validate([out], { threads: 2 });
        expect(rep.checks).toEqual([]);
        expect(exitCodeOf(rep, true)).toBe(0);
        const rows = Object.values(manifest.splits).reduce((n, s) => n + s.rows, 0);
        expect(rows).toBe(77);
        expect(rep.stats.rows).toBe(rows);
        expect(Object.entries(rep.stats.by_format).map(([f, s]) => [f, s.rows, s.frames])).toEqual(FORMATS.map((f) => [f, rows, rows]));
      });
    }
  }

  it('the CLI exits 0 with --strict', () => {
    const r = runCliSync(['validate', outs.get('webdataset/explicit')!, '--strict']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/77 rows, 77 frames in each of parquet, arrow, jsonl, webdataset/);
  });
});
