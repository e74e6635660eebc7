/**
 * Section `loaders` (issue 7): the generated torch-wds loader (DataLoader, 2 workers, PIL decoding
 * to uint8 tensors) against `datasets` iterating the same split from Parquet (with_format("torch"),
 * DataLoader, 2 workers), in the same run, both ending in the same tensors.
 *
 * A generated export is converted once to parquet + webdataset (2 shards per split, so each worker
 * has one); the loaders are rendered from its manifest. `datasets` builds its Arrow cache in an
 * untimed first pass, so the timed run is iteration from the cache. Both timed processes include
 * Python start-up and the torch import (about the same for both).
 *
 * Register in bench/run.ts SECTIONS: { name: 'loaders', load: () => import('./loaders.ts') }.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { generateLoaders } from '../src/loaders/generate.ts';
import { cli, measureBest, round, row, run as runCommand, venvPython } from './lib.ts';
import type { BenchContext, Section } from './run.ts';

const SESSIONS = Number(process.env.NUSOMI_BENCH_LOADER_SESSIONS ?? 40);
const STEPS = 50;
const WORKERS = 2;

const WDS = `
import sys, torch
sys.path.insert(0, sys.argv[1])
from nusomi_bench_torch_wds import WdsSteps
ds = WdsSteps("train", root=sys.argv[2], seed=0)
n = 0
for b in torch.utils.data.DataLoader(ds, batch_size=32, num_workers=${WORKERS}, collate_fn=list):
    n += len(b)
assert n == int(sys.argv[3]), n
`;

const HF = `
import glob, sys, torch, datasets
files = sorted(glob.glob(sys.argv[1] + "/data/train-*.parquet"))
# Frames as tensors; the rest as Python values (torch cannot hold the started_at timestamp).
ds = datasets.load_dataset("parquet", data_files={"train": files}, split="train").with_format("torch", columns=["image"], output_all_columns=True)
if len(sys.argv) > 3:
    sys.exit(0)  # untimed pass: build the Arrow cache only
n = 0
for b in torch.utils.data.DataLoader(ds, batch_size=32, num_workers=${WORKERS}, collate_fn=list):
    n += len(b)
assert n == int(sys.argv[2]), n
`;

export async function run(ctx: BenchContext): Promise<Section> {
  const e = ctx.ensureExport({ sessions: SESSIONS, steps: STEPS, format: 'jsonl' });
  const dataset = ctx.scratch('loaders-dataset');
  ctx.log(`converting ${e.rows} rows to parquet + webdataset`);
  runCommand([
    ...cli,
    'convert',
    e.dir,
    '--out',
    dataset,
    '--formats',
    'parquet,webdataset',
    '--split',
    'train=1',
    '--world-size',
    '1',
    '--workers',
    String(WORKERS),
  ]);
  const loaders = ctx.scratch('loaders-modules');
  await generateLoaders({ source: dataset, out: loaders, targets: ['torch-wds'], name: 'bench' });
  const hfHome = ctx.scratch('loaders-hf-home');
  const env = { HF_HOME: hfHome, HF_HUB_OFFLINE: '1', HF_DATASETS_OFFLINE: '1', PYTHONWARNINGS: 'ignore' };
  runCommand([venvPython, '-c', HF, dataset, String(e.rows), 'prepare'], { env });

  ctx.log(`torch-wds loader: ${e.rows} samples, ${WORKERS} workers`);
  const wds = measureBest([venvPython, '-c', WDS, loaders, dataset, String(e.rows)], ctx.repeats, {
    env,
    before: () => ctx.prepareCache(),
  });
  ctx.log(`datasets from Parquet: ${e.rows} rows, ${WORKERS} workers`);
  const hf = measureBest([venvPython, '-c', HF, dataset, String(e.rows)], ctx.repeats, { env, before: () => ctx.prepareCache() });
  rmSync(path.join(hfHome), { recursive: true, force: true });

  const wdsRate = e.rows / wds.seconds;
  const hfRate = e.rows / hf.seconds;
  return {
    rows: [
      row('loaders', 'nusomi torch-wds (2 workers, decode)', wds, e.rows),
      row('loaders', 'datasets parquet with_format(torch) (2 workers)', hf, e.rows),
    ],
    ratios: { 'torch-wds samples/s ÷ datasets samples/s': round(wdsRate / hfRate, 2) },
    notes: [
      `${e.rows} rows (${SESSIONS} sessions × ${STEPS} steps), batch 32, ${WORKERS} DataLoader workers, best of ${ctx.repeats}; warm page cache unless --drop-caches.`,
      'Both sides decode every frame to a uint8 tensor and batch with collate_fn=list (no padding); times include Python start-up and the torch import.',
      'datasets iterates its Arrow cache (built untimed beforehand from the same Parquet files).',
    ],
  };
}
