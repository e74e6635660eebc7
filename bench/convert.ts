/**
 * Section `convert-parquet` (issue 3): a large jsonl export to Parquet, three ways in the same run:
 *  (a) `nusomi-hf convert --formats parquet`,
 *  (b) bench/pyarrow_convert.py (pyarrow alone, streaming row groups of 100),
 *  (c) bench/datasets_convert.py (`Dataset.from_generator` then `to_parquet`);
 * then (a) on 4× the data for the peak-RSS growth. Repeats are interleaved (a, b, c, a, b, c...) so a
 * noisy neighbour hurts every tool alike; the best time and the highest RSS of each are kept.
 * After the first round (untimed) bench/same_parquet.py checks that (b) and (c) wrote the same
 * Parquet as (a): the same schema and the same values row for row.
 */
import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { cli, keepBest, measure, repoRoot, round, row, run as runCommand, venvPython } from './lib.ts';
import type { Measured } from './lib.ts';
import type { BenchContext, GeneratedExport, Section } from './run.ts';

/** 400 × 50 = 20,000 steps of ~150 KB frames (issue 3: at least 20,000); 4× = 1,600 sessions. */
export const SESSIONS = Number(process.env.NUSOMI_BENCH_SESSIONS ?? 400);
export const STEPS = 50;
export const SCALE = 4;

interface Tool {
  name: string;
  argv: (exp: GeneratedExport, out: string) => string[];
  env?: (out: string) => NodeJS.ProcessEnv;
}

/** Rows in the Parquet files under `dir` (from their footers), to check every tool wrote every row. */
export function parquetRows(dir: string): number {
  const code =
    'import glob,sys,pyarrow.parquet as pq; print(sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob(sys.argv[1]+"/**/*.parquet", recursive=True)))';
  return Number(runCommand([venvPython, '-c', code, dir]).trim());
}

const ours: Tool = {
  name: 'nusomi-hf convert',
  // One split so all three tools write the same rows (the default 3-way split changes nothing else).
  argv: (e, out) => [...cli, 'convert', e.dir, '--out', out, '--formats', 'parquet', '--split', 'train=1'],
};
const pyarrowScript: Tool = {
  name: 'pyarrow script',
  argv: (e, out) => [venvPython, path.join(repoRoot, 'bench/pyarrow_convert.py'), e.dir, path.join(out, 'train.parquet')],
};
const datasetsScript: Tool = {
  name: 'datasets from_generator + to_parquet',
  argv: (e, out) => [
    venvPython,
    path.join(repoRoot, 'bench/datasets_convert.py'),
    e.dir,
    path.join(out, 'train.parquet'),
    path.join(out, 'hf-cache'),
  ],
  // Its cache under the scratch dir: fresh each time (no reuse of an earlier build), removed after.
  env: (out) => ({ HF_DATASETS_CACHE: path.join(out, 'hf-cache'), HF_HUB_OFFLINE: '1', HF_DATASETS_DISABLE_PROGRESS_BARS: '1' }),
};

/** Fails the bench unless the reference's Parquet file holds what convert wrote under `oursDir`. */
function checkSameParquet(tool: Tool, oursDir: string, theirsDir: string): void {
  const rows = runCommand([venvPython, path.join(repoRoot, 'bench/same_parquet.py'), oursDir, path.join(theirsDir, 'train.parquet')]);
  if (Number(rows.trim()) <= 0) throw new Error(`${tool.name}: same_parquet.py compared no rows`);
}

function measureTool(
  ctx: BenchContext,
  tool: Tool,
  exp: GeneratedExport,
  label: string,
  afterRun?: (out: string) => void,
): { m: Measured; outBytes: number } {
  const out = ctx.scratch('out-convert');
  ctx.prepareCache(exp);
  ctx.log(`${label}: ${tool.name} on ${exp.rows} rows`);
  const m = measure(tool.argv(exp, out), { env: tool.env?.(out) });
  rmSync(path.join(out, 'hf-cache'), { recursive: true, force: true });
  const rows = parquetRows(out);
  if (rows !== exp.rows) throw new Error(`${tool.name} wrote ${rows} rows, expected ${exp.rows}`);
  const outBytes = ctx.sizeOf(out);
  ctx.log(
    `  ${round(m.seconds, 1)} s, ${round(exp.rows / m.seconds, 0)} rows/s, peak RSS ${round(m.peakRssMB, 0)} MB, ${round(outBytes / 1e6, 0)} MB written`,
  );
  afterRun?.(out); // before the output is removed
  rmSync(out, { recursive: true, force: true });
  return { m, outBytes };
}

export async function run(ctx: BenchContext): Promise<Section> {
  const e1 = ctx.ensureExport({ sessions: SESSIONS, steps: STEPS, format: 'jsonl' });
  const e4 = ctx.ensureExport({ sessions: SESSIONS * SCALE, steps: STEPS, format: 'jsonl' });
  const tools = [ours, pyarrowScript, datasetsScript];
  const best = new Map<Tool, Measured>();
  const written = new Map<Tool, number>();
  // Round 1 only: convert's output is kept, and each reference's file is compared with it.
  const firstOut = path.join(ctx.workDir, 'out-convert-first');
  rmSync(firstOut, { recursive: true, force: true });
  const firstRound = (tool: Tool) => (out: string) => {
    if (tool === ours) return renameSync(out, firstOut);
    ctx.log(`  same Parquet as convert: checking ${tool.name}'s file`);
    checkSameParquet(tool, firstOut, out);
  };
  for (let rep = 1; rep <= ctx.repeats; rep++) {
    for (const tool of tools) {
      const { m, outBytes } = measureTool(ctx, tool, e1, `1x run ${rep}/${ctx.repeats}`, rep === 1 ? firstRound(tool) : undefined);
      best.set(tool, keepBest(best.get(tool), m));
      written.set(tool, outBytes);
    }
    rmSync(firstOut, { recursive: true, force: true });
  }
  const big = measureTool(ctx, ours, e4, `${SCALE}x`).m;

  const a = best.get(ours)!;
  const b = best.get(pyarrowScript)!;
  const c = best.get(datasetsScript)!;
  const speed = (m: Measured) => e1.rows / m.seconds;
  const ratios = {
    'rows/s convert ÷ pyarrow': round(speed(a) / speed(b)),
    'rows/s convert ÷ datasets': round(speed(a) / speed(c)),
    [`peak RSS convert ${SCALE}x ÷ 1x`]: round(big.peakRssMB / a.peakRssMB),
  };
  const tag = `${e1.rows} steps`;
  return {
    rows: [
      row('convert-parquet', `(a) ${ours.name}`, a, e1.rows, e1.bytes),
      row('convert-parquet', `(b) ${pyarrowScript.name}`, b, e1.rows, e1.bytes),
      row('convert-parquet', `(c) ${datasetsScript.name}`, c, e1.rows, e1.bytes),
      row('convert-parquet', `(a) ${ours.name}, ${SCALE}x data`, big, e4.rows, e4.bytes),
    ],
    ratios,
    targets: {
      'convert ≥ 1.5× pyarrow (rows/s)': {
        value: ratios['rows/s convert ÷ pyarrow'],
        target: '>= 1.5',
        met: ratios['rows/s convert ÷ pyarrow'] >= 1.5,
      },
      'convert ≥ 2× datasets (rows/s)': {
        value: ratios['rows/s convert ÷ datasets'],
        target: '>= 2',
        met: ratios['rows/s convert ÷ datasets'] >= 2,
      },
      'convert peak RSS < 400 MB': {
        value: round(Math.max(a.peakRssMB, big.peakRssMB), 0),
        target: '< 400',
        met: Math.max(a.peakRssMB, big.peakRssMB) < 400,
      },
      'RSS growth 1x → 4x < 20 %': {
        value: ratios[`peak RSS convert ${SCALE}x ÷ 1x`],
        target: '< 1.2',
        met: big.peakRssMB / a.peakRssMB < 1.2,
      },
    },
    notes: [
      `1x: ${tag} (${SESSIONS} sessions × ${STEPS}), ${round(e1.bytes / 1e6, 0)} MB of jsonl + WebP frames (~${round(e1.bytes / e1.rows / 1e3, 0)} KB per step); ${SCALE}x: ${e4.rows} steps, ${round(e4.bytes / 1e6, 0)} MB.`,
      'MB/s = input bytes (jsonl + frames) per second, the same for every tool.',
      'Every tool ends durable: convert fsyncs each shard before its rename; the pyarrow and datasets scripts fsync their Parquet file before exiting.',
      `Parquet written: convert ${round(written.get(ours)! / 1e6, 0)} MB, pyarrow ${round(written.get(pyarrowScript)! / 1e6, 0)} MB, datasets ${round(written.get(datasetsScript)! / 1e6, 0)} MB; all with the same row count (checked from the footers).`,
      "The same Parquet: the pyarrow and datasets scripts build the same steps rows as convert (action structs with ClassLabel ids, x_norm/y_norm, args/extra JSON text; bench/steps_rows.py), and after the first round bench/same_parquet.py checked that their files have the same schema and the same values row for row as convert's shards (frames by length and path).",
      ctx.dropCaches
        ? 'Page cache dropped before every measurement (cold reads).'
        : 'Warm page cache: before every measurement (untimed) pending writes are synced and the export is read again; every measurement starts warm, with nothing left to write back.',
      `Best wall time of ${ctx.repeats} interleaved runs per tool at 1x (peak RSS: highest seen); ${SCALE}x measured once. Peak RSS via getrusage of the child process tree's largest process.`,
    ],
  };
}
