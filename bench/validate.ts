/**
 * Bench section `validate`: `validate --decode header` MB/s over converted WebDataset shards
 * against the read floor `tar -xOf shard > /dev/null` over the same shards, in the same run
 * (target >= 0.5x), and `--decode full` frames/s. Register in bench/run.ts SECTIONS as
 * `{ name: 'validate', load: () => import('./validate.ts') }`.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext, Section } from './run.ts';
import { cli, measureBest, round, row, run as runCommand } from './lib.ts';

const SESSIONS = 400;
const STEPS = 25;

export async function run(ctx: BenchContext): Promise<Section> {
  const exp = ctx.ensureExport({ sessions: SESSIONS, steps: STEPS, format: 'jsonl' });
  const out = ctx.scratch('validate-dataset');
  ctx.log('validate: converting the bench export to WebDataset shards (untimed)');
  runCommand([...cli, 'convert', exp.dir, '--out', out, '--formats', 'webdataset', '--split', 'train=0.8,test=0.2', '--seed', '1']);
  const dir = path.join(out, 'webdataset');
  const shards = readdirSync(dir).filter((f) => f.endsWith('.tar')).sort().map((f) => path.join(dir, f));
  const bytes = shards.reduce((n, s) => n + ctx.sizeOf(s), 0);
  const frames = exp.rows;
  const floorCmd = ['bash', '-c', `for s in ${shards.map((s) => `'${s}'`).join(' ')}; do tar -xOf "$s" > /dev/null; done`];
  const warm = { dir, rows: frames, bytes, files: shards.length };
  const before = () => ctx.prepareCache(warm);
  ctx.log(`validate: ${shards.length} shards, ${(bytes / 1e6).toFixed(0)} MB`);
  const floor = measureBest(floorCmd, ctx.repeats, { before });
  // Exit 1 (findings) would fail measure(); the generated shards are clean, so 0 is expected.
  const header = measureBest([...cli, 'validate', ...shards, '--decode', 'header'], ctx.repeats, { before });
  const full = measureBest([...cli, 'validate', ...shards, '--decode', 'full'], ctx.repeats, { before });
  const ratio = round(floor.seconds / header.seconds, 2);
  return {
    rows: [
      row('validate', 'tar -xOf (read floor)', floor, frames, bytes),
      row('validate', 'nusomi-hf validate --decode header', header, frames, bytes),
      row('validate', 'nusomi-hf validate --decode full', full, frames, bytes),
    ],
    ratios: { 'header_mbps_vs_tar_floor': ratio, 'full_frames_per_s': round(frames / full.seconds, 1) },
    targets: { 'validate --decode header >= 0.5x tar -xOf MB/s': { value: ratio, target: '>= 0.5', met: ratio >= 0.5 } },
    notes: [
      `${shards.length} shards, ${round(bytes / 1e6, 1)} MB, ${frames} samples; times include node/tsx start-up`,
      // The bench export reuses a pool of 64 rendered frames, so train and test share every frame.
      'every frame repeats across splits (the bench export reuses 64 renders): the duplicate-frame check compares each frame byte for byte, its worst case',
    ],
  };
}
