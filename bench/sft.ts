/**
 * Section `convert-sft` (issue 17): an `sft` convert against a `steps` convert of the same jsonl
 * export (rows/s; issue target ≥ 0.8×), and peak RSS of the sft convert at 1× and 4× the data,
 * with `--history-frames 2` too (issue target < 300 MB). The sft convert of record is
 * `--configs sft`: the sft config alone, each frame written once, as the steps convert writes it
 * (a row group of sft stores each of its frames once, history frames included: a dictionary page).
 * `--configs steps,sft` (both configs, every frame written and hashed twice) is measured beside it.
 * Runs interleave (steps, sft, sft + history, steps + sft) so a noisy neighbour hurts each alike;
 * best time, least CPU time and highest RSS kept. CPU seconds (every thread, user + system) are
 * reported beside wall time: on a shared machine they vary far less.
 */
import { rmSync } from 'node:fs';
import { cli, keepBest, measure, round, row } from './lib.ts';
import type { Measured } from './lib.ts';
import type { BenchContext, GeneratedExport, Section } from './run.ts';
import { SCALE, SESSIONS, STEPS, parquetRows } from './convert.ts';

interface Case {
  name: string;
  flags: string[];
  /** Parquet rows written: steps rows times the configs written. */
  tables: number;
}
const STEPS_ONLY: Case = { name: 'convert (steps)', flags: ['--formats', 'parquet'], tables: 1 };
const SFT: Case = { name: 'convert --configs sft', flags: ['--configs', 'sft'], tables: 1 };
const SFT_HISTORY: Case = {
  name: 'convert --configs sft --history 3 --history-frames 2',
  flags: ['--configs', 'sft', '--history', '3', '--history-frames', '2'],
  tables: 1,
};
const STEPS_AND_SFT: Case = { name: 'convert --configs steps,sft', flags: ['--formats', 'parquet', '--configs', 'steps,sft'], tables: 2 };

function measureCase(ctx: BenchContext, c: Case, exp: GeneratedExport, label: string): Measured {
  const out = ctx.scratch('out-convert-sft');
  ctx.prepareCache(exp);
  ctx.log(`${label}: ${c.name} on ${exp.rows} rows`);
  const m = measure([...cli, 'convert', exp.dir, '--out', out, '--split', 'train=1', ...c.flags]);
  const rows = parquetRows(out);
  if (rows !== exp.rows * c.tables) throw new Error(`${c.name} wrote ${rows} rows, expected ${exp.rows * c.tables}`);
  ctx.log(
    `  ${round(m.seconds, 1)} s (${round(m.cpuSeconds ?? 0, 1)} CPU s), ${round(exp.rows / m.seconds, 0)} rows/s, peak RSS ${round(m.peakRssMB, 0)} MB`,
  );
  rmSync(out, { recursive: true, force: true });
  return m;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const e1 = ctx.ensureExport({ sessions: SESSIONS, steps: STEPS, format: 'jsonl' });
  const e4 = ctx.ensureExport({ sessions: SESSIONS * SCALE, steps: STEPS, format: 'jsonl' });
  const cases = [STEPS_ONLY, SFT, SFT_HISTORY, STEPS_AND_SFT];
  const best = new Map<Case, Measured>();
  for (let rep = 1; rep <= ctx.repeats; rep++)
    for (const c of cases) best.set(c, keepBest(best.get(c), measureCase(ctx, c, e1, `1x run ${rep}/${ctx.repeats}`)));
  const big = measureCase(ctx, SFT, e4, `${SCALE}x`);
  const bigHistory = measureCase(ctx, SFT_HISTORY, e4, `${SCALE}x`);
  const speed = (m: Measured) => e1.rows / m.seconds;
  const steps = best.get(STEPS_ONLY)!;
  const sft = best.get(SFT)!;
  const history = best.get(SFT_HISTORY)!;
  const both = best.get(STEPS_AND_SFT)!;
  const cpu = (m: Measured) => m.cpuSeconds ?? Number.NaN;
  const ratios = {
    'rows/s sft ÷ steps': round(speed(sft) / speed(steps)),
    'rows/s sft + history ÷ steps': round(speed(history) / speed(steps)),
    'rows per CPU s sft ÷ steps': round(cpu(steps) / cpu(sft)),
    'rows per CPU s sft + history ÷ steps': round(cpu(steps) / cpu(history)),
    'rows/s steps + sft ÷ steps': round(speed(both) / speed(steps)),
    'rows per CPU s steps + sft ÷ steps': round(cpu(steps) / cpu(both)),
    [`peak RSS sft ${SCALE}x ÷ 1x`]: round(big.peakRssMB / sft.peakRssMB),
  };
  const peak = Math.max(sft.peakRssMB, history.peakRssMB, big.peakRssMB, bigHistory.peakRssMB);
  return {
    rows: [
      row('convert-sft', STEPS_ONLY.name, steps, e1.rows, e1.bytes),
      row('convert-sft', SFT.name, sft, e1.rows, e1.bytes),
      row('convert-sft', SFT_HISTORY.name, history, e1.rows, e1.bytes),
      row('convert-sft', STEPS_AND_SFT.name, both, e1.rows, e1.bytes),
      row('convert-sft', `${SFT.name}, ${SCALE}x data`, big, e4.rows, e4.bytes),
      row('convert-sft', `${SFT_HISTORY.name}, ${SCALE}x data`, bigHistory, e4.rows, e4.bytes),
    ],
    ratios,
    targets: {
      'sft convert ≥ 0.8× steps convert (rows/s)': {
        value: ratios['rows/s sft ÷ steps'],
        target: '>= 0.8',
        met: ratios['rows/s sft ÷ steps'] >= 0.8,
      },
      'sft convert peak RSS < 300 MB (1x, 4x, --history-frames 2)': { value: round(peak, 0), target: '< 300', met: peak < 300 },
    },
    notes: [
      `1x: ${e1.rows} steps (${SESSIONS} sessions × ${STEPS}), ${round(e1.bytes / 1e6, 0)} MB of jsonl + WebP frames; ${SCALE}x: ${e4.rows} steps.`,
      '--configs sft writes sft/ only; a row group of sft stores each frame once, history frames included (a Parquet dictionary page by buffer identity), so sft/ is about the size of data/ with --history-frames 2 too.',
      "--configs steps,sft writes both, every frame twice: the sft frames are written by reference and hashed by the sink's worker like data/'s, so what sft adds there is that second write and sha256 of every frame (~1 CPU s per GB each way) and its rows' text columns.",
      `CPU seconds: user + system of every thread of the convert (rows per CPU s compares work done, not the neighbours' load); wall time: best of ${ctx.repeats} interleaved runs per case at 1x, CPU: least (peak RSS: highest seen); ${SCALE}x measured once.`,
    ],
  };
}
