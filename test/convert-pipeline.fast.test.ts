/**
 * convert's parts run in-process, one at a time, on the bundled sample: plan pass → write pass →
 * manifest and card. The plan's counts are what the writers then wrote, the manifest lists exactly
 * the files on disk with their hashes, validate finds the result clean, and the parts composed by
 * hand give byte for byte what `convert()` gives (so the pipeline a reader follows in
 * src/convert/ is the one convert runs). No CLI spawn: a few seconds.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import { buildManifest, writeCardAndManifest } from '../src/convert/manifest-card.ts';
import { orderSplits, planPass } from '../src/convert/plan-pass.ts';
import type { PlanResult } from '../src/convert/plan-pass.ts';
import { writePass } from '../src/convert/write-pass.ts';
import type { WritePassResult } from '../src/convert/write-pass.ts';
import { openExport } from '../src/export/read.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { LabelVocab } from '../src/hf/labels.ts';
import { stepsFeatures } from '../src/hf/steps-schema.ts';
import { LocalSink } from '../src/sink/local.ts';
import { validate } from '../src/validate/validate.ts';
import { SAMPLE, tempDir } from './convert-fixtures.ts';
import { hashTree } from './helpers/bytes.ts';

let work: string;
let byParts: string;
let planned: PlanResult;
let written: WritePassResult;
let manifest: DatasetManifest;
let warnings: string[];

function options(out: string): ConvertOptions {
  return {
    input: SAMPLE,
    out,
    formats: ['webdataset', 'jsonl', 'parquet', 'arrow'],
    split: { split: 'train=0.6,validation=0.2,test=0.2', seed: '3' },
    filters: {},
    frames: {},
    maxShardBytes: 1_000_000,
    // 3 ranks: 77 rows do not split evenly, so the WebDataset plan warns and records its balance.
    wds: { shardSamples: 7, worldSize: 3 },
    onError: 'stop',
  };
}

beforeAll(async () => {
  work = await tempDir('nusomi-pipeline-');
  byParts = path.join(work, 'parts');
  const opts = options(byParts);
  const exportManifest = (await openExport(opts.input, {})).manifest;
  const labels = new LabelVocab();
  planned = await planPass(opts, labels);
  labels.freeze();
  const splitNames = orderSplits(planned.splits.keys());
  const features = stepsFeatures(labels);
  const sink = new LocalSink(byParts);
  const created = Date.parse(exportManifest.created_at);
  warnings = [];
  written = await writePass({ opts, planned, splitNames, features, labels, sink, mtime: Math.floor(created / 1000), warnings });
  const input = { opts, exportManifest, planned, splitNames, features, labels, written, mismatches: [] };
  manifest = await buildManifest(input);
  await writeCardAndManifest(sink, manifest, input);
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('convert pipeline in-process: plan → write → manifest and card', () => {
  it('the plan counts every row once, and each format wrote exactly the planned rows per split', () => {
    const planRows = Object.fromEntries([...planned.splits].map(([n, s]) => [n, s.rows]));
    expect(Object.values(planRows).reduce((a, b) => a + b, 0)).toBe(planned.rows);
    expect(planned.rows).toBe(77);
    for (const format of ['parquet', 'arrow', 'jsonl', 'webdataset'] as const) {
      const rows: Record<string, number> = {};
      for (const f of written.files) if (f.format === format && f.rows !== null) rows[f.split!] = (rows[f.split!] ?? 0) + f.rows;
      expect(rows, format).toEqual(planRows);
    }
    // The write pass summed each split's Arrow bytes for the card.
    for (const s of planned.splits.values()) expect(s.numBytes).toBeGreaterThan(0);
  });

  it('the manifest lists exactly the files on disk, with their sizes and sha256, sorted by path', async () => {
    const onDisk = await hashTree(byParts);
    const listed = Object.fromEntries(manifest.files.map((f) => [f.path, f.sha256]));
    const { 'README.md': card, 'dataset-manifest.json': self, ...data } = onDisk;
    expect(card).toBeDefined();
    expect(self).toBeDefined();
    expect(listed).toEqual(data);
    expect(manifest.files.map((f) => f.path)).toEqual(Object.keys(data).sort());
    expect(manifest.formats).toEqual(['parquet', 'arrow', 'jsonl', 'webdataset']);
  });

  it('format-specific results come back through the registry: WebDataset balance in the manifest and a warning', () => {
    expect(Object.keys(manifest.webdataset_balance ?? {}).length).toBeGreaterThan(0);
    const notes = Object.values(manifest.webdataset_balance!).map((b) => b.note);
    expect(warnings).toEqual(notes);
    expect(manifest.options.webdataset).toEqual({ shard_bytes: null, shard_samples: 7, min_shards: null, sidecar: null });
  });

  it('validate finds the result clean', async () => {
    const report = await validate([byParts], { threads: 1 });
    expect(report.checks.filter((c) => c.severity !== 'note')).toEqual([]);
    expect(report.clean).toBe(true);
    expect(Object.keys(report.stats.by_format)).toEqual(['parquet', 'arrow', 'jsonl', 'webdataset']);
  }, 60_000);

  it('the parts composed by hand give byte for byte what convert() writes', async () => {
    const whole = path.join(work, 'whole');
    const r = await convert(options(whole));
    expect(r.manifest).toEqual(manifest);
    expect(await hashTree(whole)).toEqual(await hashTree(byParts));
  }, 60_000);
});
