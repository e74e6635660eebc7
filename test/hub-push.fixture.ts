/**
 * A small dataset directory in the shape `convert` writes (README card with configs, Parquet under
 * data/, WebDataset tars under webdataset/, dataset-manifest.json with sizes and sha256), made
 * with pyarrow and tarfile so push tests do not depend on convert.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DatasetFile, DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { runPython } from './helpers/python.ts';

export interface FixtureSpec {
  /** Rows per Parquet shard, by split. */
  parquet: Record<string, number[]>;
  /** Random (incompressible) payload bytes per Parquet row: makes shards large-ish. */
  payloadBytes?: number;
  /** WebDataset shards: split → number of samples per shard. */
  webdataset?: Record<string, number[]>;
  /** Seed for the row contents, so a "changed shard" is a different seed. */
  seed?: number;
}

export const README = `---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: test
    path: data/test-*.parquet
---
# push test dataset

Made by the push tests.
`;

export function sha256(file: string): string {
  return createHash('sha256')
    .update(readFileSync(file) as Uint8Array)
    .digest('hex');
}

/** Write the dataset into `dir`; returns the manifest written. */
export async function makeDataset(dir: string, spec: FixtureSpec): Promise<DatasetManifest> {
  await mkdir(path.join(dir, 'data'), { recursive: true });
  await mkdir(path.join(dir, 'webdataset'), { recursive: true });
  writeFileSync(path.join(dir, 'README.md'), README);
  const files = await runPython<Array<{ path: string; format: 'parquet' | 'webdataset'; split: string; rows: number }>>(
    `
import json, sys, io, tarfile, random
import pyarrow as pa, pyarrow.parquet as pq
root, spec = sys.argv[1], json.loads(sys.argv[2])
seed = spec.get("seed", 0)
pad = spec.get("payloadBytes", 0)
out = []
for split, shards in spec["parquet"].items():
    n = len(shards)
    for i, rows in enumerate(shards):
        rnd = random.Random(f"{seed}-{split}-{i}")
        p = f"data/{split}-{i:05d}-of-{n:05d}.parquet"
        t = pa.table({
            "session_id": [f"ses_{split}_{i}_{r}" for r in range(rows)],
            "step": pa.array(list(range(rows)), pa.int32()),
            "payload": pa.array([rnd.randbytes(pad) for _ in range(rows)], pa.binary()),
        })
        pq.write_table(t, f"{root}/{p}", compression="none")
        out.append({"path": p, "format": "parquet", "split": split, "rows": rows})
for split, shards in (spec.get("webdataset") or {}).items():
    for i, samples in enumerate(shards):
        rnd = random.Random(f"{seed}-wds-{split}-{i}")
        p = f"webdataset/{split}-{i:06d}.tar"
        with tarfile.open(f"{root}/{p}", "w", format=tarfile.USTAR_FORMAT) as tf:
            for s in range(samples):
                for ext, data in (("webp", rnd.randbytes(4096)), ("json", json.dumps({"step": s}).encode())):
                    ti = tarfile.TarInfo(f"{split}_{i}_{s:06d}.{ext}")
                    ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
                    tf.addfile(ti, io.BytesIO(data))
        out.append({"path": p, "format": "webdataset", "split": split, "rows": samples})
print(json.dumps(out))
`,
    { args: [dir, JSON.stringify(spec)] },
  );
  const entries: DatasetFile[] = files
    .map((f) => {
      const abs = path.join(dir, f.path);
      return { path: f.path, format: f.format, split: f.split, rows: f.rows, bytes: statSync(abs).size, sha256: sha256(abs) };
    })
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const splits: DatasetManifest['splits'] = {};
  for (const [split, shards] of Object.entries(spec.parquet)) splits[split] = { rows: shards.reduce((a, b) => a + b, 0), sessions: 1 };
  const manifest: DatasetManifest = {
    manifest_version: 1,
    generator: { name: 'nusomi-hf', version: '0.1.0' },
    source_manifest: { export_id: `exp_test_${spec.seed ?? 0}` },
    options: {},
    features: {},
    labels: { action_type: [], outcome: [] },
    labels_appended: { action_type: [], outcome: [] },
    splits,
    viewports: [],
    coordinates: { pixels: 'stored_image', normalized: 'x / stored width, y / stored height' },
    image: { mode: 'passthrough', format: null, max_side: null, quality: null },
    skipped: { count: 0, reasons: {} },
    filtered: {},
    stats: { workflows: {}, outcomes: {}, action_types: {}, actor_kinds: {} },
    formats: spec.webdataset ? ['parquet', 'webdataset'] : ['parquet'],
    files: entries,
  };
  writeManifest(dir, manifest);
  return manifest;
}

export function writeManifest(dir: string, manifest: DatasetManifest): void {
  writeFileSync(path.join(dir, 'dataset-manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}
