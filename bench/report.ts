/**
 * Bench section `report`: `nusomi-hf report` of the convert bench's 4x export (SCALE × SESSIONS
 * sessions × STEPS steps, the same NUSOMI_BENCH_SESSIONS knob) and of the dataset converted from it,
 * against that convert's time, in the same run. Targets: report ≤ 0.2 × convert time; peak RSS < 300 MB.
 */
import path from 'node:path';
import type { BenchContext, Section } from './run.ts';
import { SESSIONS, STEPS } from './convert.ts';
import { cli, measureBest, round, row } from './lib.ts';

const SCALE = 4;

export async function run(ctx: BenchContext): Promise<Section> {
  const exp = ctx.ensureExport({ sessions: SESSIONS * SCALE, steps: STEPS, format: 'jsonl' });
  const dataset = path.join(ctx.scratch('report-dataset'), 'ds');
  const convert = measureBest([...cli, 'convert', exp.dir, '--out', dataset, '--formats', 'parquet', '--split', 'train=0.9,test=0.1'], 1, {
    before: () => ctx.prepareCache(exp),
  });
  ctx.log(`report: convert ${round(convert.seconds, 1)} s`);
  const out = ctx.scratch('report-out');
  const ofExport = measureBest([...cli, 'report', exp.dir, '--out', path.join(out, 'export')], ctx.repeats, {
    before: () => ctx.prepareCache(exp),
  });
  // The rows alone (no thumbnail): what grows with the export; the thumbnails are bounded by --max-frames.
  const rowsOnly = measureBest([...cli, 'report', exp.dir, '--out', path.join(out, 'export-rows'), '--max-frames', '0'], ctx.repeats, {
    before: () => ctx.prepareCache(exp),
  });
  const ofDataset = measureBest([...cli, 'report', dataset, '--out', path.join(out, 'dataset'), '--no-validate'], ctx.repeats, {
    before: () => ctx.prepareCache(exp),
  });
  const ofDatasetValidated = measureBest([...cli, 'report', dataset, '--out', path.join(out, 'dataset-validated')], 1, {
    before: () => ctx.prepareCache(exp),
  });
  const sizes = { export: ctx.sizeOf(path.join(out, 'export')), dataset: ctx.sizeOf(path.join(out, 'dataset')) };
  const rExport = round(ofExport.seconds / convert.seconds, 3);
  const rDataset = round(ofDataset.seconds / convert.seconds, 3);
  const rValidated = round(ofDatasetValidated.seconds / convert.seconds, 3);
  const peak = Math.max(ofExport.peakRssMB, ofDataset.peakRssMB, rowsOnly.peakRssMB);
  return {
    rows: [
      row('report', 'nusomi-hf convert --formats parquet (reference)', convert, exp.rows, exp.bytes),
      row('report', 'nusomi-hf report <export>', ofExport, exp.rows, exp.bytes),
      row('report', 'nusomi-hf report <export> --max-frames 0 (rows only)', rowsOnly, exp.rows, exp.bytes),
      row('report', 'nusomi-hf report <dataset> --no-validate', ofDataset, exp.rows),
      row('report', 'nusomi-hf report <dataset> (with validate)', ofDatasetValidated, exp.rows),
    ],
    ratios: {
      'seconds report of the export ÷ convert': rExport,
      'seconds report of the dataset (no validate) ÷ convert': rDataset,
      'seconds report of the dataset with validate ÷ convert': rValidated,
      'seconds report of the export, rows only ÷ convert': round(rowsOnly.seconds / convert.seconds, 3),
    },
    targets: {
      'report of the export <= 0.2x convert time': { value: rExport, target: '<= 0.2', met: rExport <= 0.2 },
      'report of the dataset (no validate) <= 0.2x convert time': { value: rDataset, target: '<= 0.2', met: rDataset <= 0.2 },
      'report peak RSS < 300 MB': { value: round(peak, 0), target: '< 300', met: peak < 300 },
    },
    notes: [
      `${exp.rows} steps (${SESSIONS * SCALE} sessions × ${STEPS}), ${round(exp.bytes / 1e6, 0)} MB export; reports of ${round(sizes.export / 1e6, 1)} MB (export) and ${round(sizes.dataset / 1e6, 1)} MB (dataset) with the default --max-frames.`,
      `report times are the best of ${ctx.repeats}; convert once; warm cache.`,
      'the dataset report reads its Parquet rows without the image column and reads frames only for sampled rows (a row group at a time); with validate it also hashes and checks every file (validate peak RSS included).',
      'report time = start-up + rows × (time per row, the rows-only run) + thumbnails (bounded by --max-frames, ~40 ms of CPU each); convert time grows with rows and bytes, so the ratio falls with export size: the target is stated for the 4x bench export, this run may use a smaller one (NUSOMI_BENCH_SESSIONS).',
    ],
  };
}
