/**
 * `npm run bench [-- --only <name>[,<name>]] [--work-dir DIR] [--repeats N] [--drop-caches] [--no-save]`
 *
 * Runs the benchmark sections in SECTIONS and merges each result into bench/results.json and the
 * README table. A section is a module `bench/<name>.ts` exporting `run(ctx): Promise<Section>`; to add
 * one, append it to SECTIONS. Data lives in a work dir outside the repository (default
 * `$TMPDIR/nusomi-bench`); generated exports are reused across sections and runs when they were made
 * with the same parameters (a `.bench-complete` stamp written after the generator finished).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleIsFresh, repoRoot, run as runCommand, saveSection, writeReadmeTable } from './lib.ts';
import type { BenchRow } from './lib.ts';

/** What a section returns; saved as-is under its name in bench/results.json. */
export interface Section {
  /** One table row per measured tool/dataset (the README table). */
  rows: BenchRow[];
  /** Ratios between tools measured in this run (the numbers the issues ask for). */
  ratios: Record<string, number>;
  /** Each target of the issue, the measured value and whether it was met. */
  targets?: Record<string, { value: number; target: string; met: boolean }>;
  /** How it was measured (data size, cache state, repeats) and anything a reader should know. */
  notes?: string[];
}

export interface GeneratedExport {
  dir: string;
  rows: number;
  /** Bytes of every file of the export (data files + frames + manifest). */
  bytes: number;
  /** Number of files (for reading it untimed into the page cache). */
  files: number;
}

export interface BenchContext {
  /** Scratch root outside the repository; reused across runs. */
  workDir: string;
  /** Repeats per measurement (best time kept, max RSS kept). */
  repeats: number;
  /** Drop the page cache before each measurement (root only); otherwise every measurement runs warm. */
  dropCaches: boolean;
  log(msg: string): void;
  /** A large export from scripts/make-samples.ts, generated once per parameter set. */
  ensureExport(o: { sessions: number; steps: number; format: 'jsonl' | 'parquet' | 'webdataset' }): GeneratedExport;
  /** An empty directory under the work dir (emptied if it existed). */
  scratch(name: string): string;
  /** Call before each timed command: drops the page cache, or syncs and warms `warm` into it, per the mode. */
  prepareCache(warm?: GeneratedExport): void;
  /** Total size of the files under a path. */
  sizeOf(p: string): number;
}

const SECTIONS: { name: string; load: () => Promise<{ run(ctx: BenchContext): Promise<Section> }> }[] = [
  { name: 'convert-parquet', load: () => import('./convert.ts') },
  { name: 'convert-webdataset', load: () => import('./webdataset.ts') },
  { name: 'validate', load: () => import('./validate.ts') },
  { name: 'push', load: () => import('./push.ts') },
  { name: 'loaders', load: () => import('./loaders.ts') },
  { name: 'report', load: () => import('./report.ts') },
  { name: 'partition', load: () => import('./partition.ts') },
  { name: 'convert-sft', load: () => import('./sft.ts') },
];

function walk(p: string, visit: (file: string, size: number) => void): void {
  const st = statSync(p);
  if (st.isFile()) {
    visit(p, st.size);
    return;
  }
  if (!st.isDirectory()) return;
  for (const name of readdirSync(p).sort()) walk(path.join(p, name), visit);
}

export function sizeOf(p: string): number {
  let n = 0;
  walk(p, (_f, s) => (n += s));
  return n;
}

function makeContext(workDir: string, repeats: number, dropCaches: boolean): BenchContext {
  const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  return {
    workDir,
    repeats,
    dropCaches,
    log,
    ensureExport({ sessions, steps, format }) {
      const dir = path.join(workDir, `export-${format}-${sessions}x${steps}`);
      const stamp = path.join(dir, '.bench-complete');
      const params = JSON.stringify({ sessions, steps, format });
      if (!existsSync(stamp) || readFileSync(stamp, 'utf8').trim() !== params) {
        log(`generating ${sessions}x${steps} ${format} export in ${dir}`);
        runCommand([
          process.execPath,
          '--import',
          'tsx',
          path.join(repoRoot, 'scripts/make-samples.ts'),
          '--sessions',
          String(sessions),
          '--steps',
          String(steps),
          '--format',
          format,
          '--out',
          dir,
        ]);
        writeFileSync(stamp, params + '\n');
      }
      let bytes = 0;
      let files = 0;
      walk(dir, (f, s) => {
        if (path.basename(f) === '.bench-complete') return;
        bytes += s;
        files++;
      });
      return { dir, rows: sessions * steps, bytes, files };
    },
    scratch(name) {
      const d = path.join(workDir, name);
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
      return d;
    },
    prepareCache(warm) {
      if (dropCaches) {
        const r = spawnSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);
        if (r.status !== 0)
          throw new Error(`--drop-caches: cannot drop the page cache (${r.stderr.toString().trim()}); run as root or without it`);
        return;
      }
      // Warm mode, before every measurement (untimed): write back what earlier steps left dirty (a
      // tar layout just unpacked, 3 GB), so no tool pays for another's writes, and read the export
      // again: a 4x run in between (12 GB in, 12 GB out) evicts much of the 1x export.
      runCommand(['sync']);
      if (warm) runCommand(['sh', '-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: warm.dir });
    },
    sizeOf,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      only: { type: 'string', multiple: true },
      'work-dir': { type: 'string' },
      repeats: { type: 'string' },
      'drop-caches': { type: 'boolean' },
      'no-save': { type: 'boolean' },
    },
  });
  const only = (values.only ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  for (const name of only) {
    if (!SECTIONS.some((s) => s.name === name))
      throw new Error(`--only: unknown section ${name}; sections: ${SECTIONS.map((s) => s.name).join(', ')}`);
  }
  const workDir = path.resolve(values['work-dir'] ?? path.join(process.env.TMPDIR ?? os.tmpdir(), 'nusomi-bench'));
  const rel = path.relative(repoRoot, workDir);
  if (!rel.startsWith('..') && !path.isAbsolute(rel))
    throw new Error(`--work-dir ${workDir} is inside the repository; benchmark data does not belong there`);
  mkdirSync(workDir, { recursive: true });
  const repeats = Number(values.repeats ?? 2);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats expects an integer >= 1');
  const ctx = makeContext(workDir, repeats, values['drop-caches'] ?? false);

  for (const s of SECTIONS) {
    if (only.length && !only.includes(s.name)) continue;
    ctx.log(`section ${s.name}`);
    const loadBefore = os.loadavg()[0]!;
    const stale =
      'the CLI would run through tsx, not the bundle (its start-up would be measured): run `npm run bench` again without editing src/';
    if (!bundleIsFresh()) throw new Error(`section ${s.name}: dist/cli is older than src/; ${stale}`);
    const section = await (await s.load()).run(ctx);
    if (!bundleIsFresh()) throw new Error(`section ${s.name}: src/ changed while it ran, so ${stale}`);
    // The machine may be shared: say how busy it was, since contention skews absolute numbers.
    (section.notes ??= []).push(
      `Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, Node ${process.version}; 1-minute load average ${loadBefore.toFixed(1)} at the start of the section, ${os.loadavg()[0]!.toFixed(1)} at the end.`,
    );
    process.stdout.write(`${s.name}\n${JSON.stringify(section, null, 2)}\n`);
    if (!values['no-save']) {
      saveSection(s.name, section);
      writeReadmeTable();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
