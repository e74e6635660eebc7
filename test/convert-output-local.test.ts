/**
 * A local `--out` across runs: one convert at a time (lock file, stale locks taken over), a
 * re-convert built beside the old dataset and swapped in, so a kill -9 or SIGTERM at any point
 * leaves a loadable dataset and the next run removes what the killed one left. `--out` and the
 * export must not overlap.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalOutputDir } from '../src/convert/output-dir.ts';
import { KEPT_ENTRIES, OWNED_ENTRIES, checkPlaces } from '../src/convert/output.ts';
import { processStart } from '../src/sink/lock.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { SAMPLE, SPLIT3, SPLIT3_ROWS, convertOk, listFiles, runCli, tempDir } from './convert-fixtures.ts';
import { scriptOk, spawnCli } from './helpers/cli.ts';
import { copySampleConversion, sampleConversion } from './helpers/sample-cache.ts';
import { runPython } from './helpers/python.ts';

let work = '';
let big = '';
let hfHome = '';
/** The large export: 2 sessions × 70 steps of ~150 KB frames (a few seconds to convert). */
const BIG_ROWS = 140;

beforeAll(async () => {
  work = await tempDir('nusomi-output-local-');
  big = path.join(work, 'big-export');
  hfHome = path.join(work, 'hf-home');
  await scriptOk('scripts/make-samples.ts', ['--sessions', '2', '--steps', '70', '--format', 'jsonl', '--out', big]);
}, 120_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Rows per split as `datasets.load_dataset(dir)` reads them (README-driven). */
async function loadCounts(dir: string): Promise<Record<string, number>> {
  return runPython<Record<string, number>>(
    'import datasets, json, sys\ndd = datasets.load_dataset(sys.argv[1])\nprint(json.dumps({k: v.num_rows for k, v in dd.items()}))',
    { args: [dir], env: { HF_HOME: hfHome } },
  );
}

function startConvert(
  input: string,
  out: string,
  args: string[],
): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawnCli(['convert', input, '--out', out, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exited };
}

/** Polls `probe` every 10 ms until it is true; false if `done` settles first. */
async function waitFor(probe: () => Promise<boolean> | boolean, done: Promise<unknown>): Promise<boolean> {
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  while (!finished) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** A file being written under the build folder beside `out` (LocalSink's `.<name>.tmp-<hex>`). */
async function midWrite(parent: string, name: string): Promise<boolean> {
  const builds = (await readdir(parent).catch(() => [] as string[])).filter((e) => e.startsWith(`.${name}.nusomi-new-`));
  for (const b of builds) {
    const files = await listFiles(path.join(parent, b)).catch(() => [] as string[]);
    if (files.some((f) => /\.tmp-[0-9a-f]{8}$/.test(f) && f.startsWith('data/'))) return true;
  }
  return false;
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

const manifestFiles = async (dir: string) =>
  (JSON.parse(await readFile(path.join(dir, 'dataset-manifest.json'), 'utf8')) as DatasetManifest).files.map((f) => f.path);

describe('convert: one writer per local --out', () => {
  it('a second convert of the same --out fails at once naming the holder; the first completes, validates and loads', async () => {
    const out = path.join(work, 'conc');
    const a = startConvert(big, out, ['--split', 'train=1']);
    const lockPath = path.join(work, '.conc.nusomi-lock');
    // The file exists (O_EXCL) a moment before its record is written: wait for the record.
    const recorded = async () => (await readFile(lockPath, 'utf8').catch(() => '')).endsWith('\n');
    expect(await waitFor(recorded, a.exited), 'the first convert never took its lock').toBe(true);
    // Freeze the holder: the second run cannot succeed by waiting, only by failing at once.
    a.child.kill('SIGSTOP');
    try {
      const lock = JSON.parse(await readFile(lockPath, 'utf8')) as { pid: number; host: string };
      expect(lock).toMatchObject({ pid: a.child.pid, host: os.hostname() });
      const b = await runCli(['convert', SAMPLE, '--out', out, ...SPLIT3]);
      expect(b.code).toBe(1);
      expect(b.stderr.trim().split('\n')).toHaveLength(1);
      expect(b.stderr).toContain(`--out ${out} is being written by another convert (pid ${a.child.pid} on host ${os.hostname()}`);
    } finally {
      a.child.kill('SIGCONT');
    }
    const done = await a.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(existsSync(lockPath)).toBe(false);
    const v = await runCli(['validate', out]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(await loadCounts(out)).toEqual({ train: BIG_ROWS });
  }, 120_000);

  it('a lock left by a process that is gone is taken over, and the run says so', async () => {
    const out = path.join(work, 'stale');
    const pid = await deadPid();
    await writeFile(
      path.join(work, '.stale.nusomi-lock'),
      JSON.stringify({ pid, host: os.hostname(), since: '2026-01-01T00:00:00.000Z', token: 'feedbeef' }),
    );
    const r = await convertOk(SAMPLE, out, SPLIT3);
    expect(r.stderr).toContain(`took over the lock on ${out} left by pid ${pid} on host ${os.hostname()}`);
    expect(existsSync(path.join(work, '.stale.nusomi-lock'))).toBe(false);
    expect(await loadCounts(out)).toEqual(SPLIT3_ROWS);
    // Not a record (only its first 4 KiB are read) and untouched for a while: a crashed creator's.
    const junk = path.join(work, '.stale.nusomi-lock');
    await writeFile(junk, new Uint8Array(8 << 20).fill(0x7b));
    await utimes(junk, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const j = await convertOk(SAMPLE, out, SPLIT3);
    expect(j.stderr).toContain(`removed an unreadable stale lock file ${junk}`);
    expect(existsSync(junk)).toBe(false);
  }, 60_000);

  it('a lock whose pid now belongs to another live process (pid reused) is taken over; the live holder itself is respected', async () => {
    const out = path.join(work, 'reused');
    const lockPath = path.join(work, '.reused.nusomi-lock');
    // A live process standing in for whatever got the dead holder's pid.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const start = processStart(other.pid!);
      expect(start, 'this test needs /proc/<pid>/stat').toMatch(/^[0-9]+$/);
      const record = { pid: other.pid, host: os.hostname(), since: '2026-01-01T00:00:00.000Z', token: 'feedbeef' };
      // The holder's own start time: that process is alive, the lock is busy.
      await writeFile(lockPath, JSON.stringify({ ...record, start }));
      const busy = await runCli(['convert', SAMPLE, '--out', out, ...SPLIT3]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(`is being written by another convert (pid ${other.pid} on host`);
      // Another start time: the holder died and the pid went to `other`.
      await writeFile(lockPath, JSON.stringify({ ...record, start: String(Number(start) - 1) }));
      const r = await convertOk(SAMPLE, out, SPLIT3);
      expect(r.stderr).toContain(`took over the lock on ${out} left by pid ${other.pid} on host ${os.hostname()}`);
      expect(existsSync(lockPath)).toBe(false);
      expect(await loadCounts(out)).toEqual(SPLIT3_ROWS);
    } finally {
      other.kill('SIGKILL');
    }
  }, 60_000);
});

describe('convert: re-converting a local --out', () => {
  it('a run whose lock file was removed by hand and taken by another run does not swap: the old dataset stays, exit 1', async () => {
    const out = path.join(work, 'stolen');
    const lockPath = path.join(work, '.stolen.nusomi-lock');
    await convertOk(SAMPLE, out, SPLIT3);
    const before = await manifestFiles(out);
    const a = startConvert(big, out, ['--split', 'train=1']);
    expect(await waitFor(() => midWrite(work, 'stolen'), a.exited), 'the run never started writing').toBe(true);
    a.child.kill('SIGSTOP');
    try {
      await rm(lockPath);
      await writeFile(
        lockPath,
        JSON.stringify({ pid: 424242, host: 'elsewhere', since: '2026-01-01T00:00:00.000Z', token: '0123456789abcdef' }),
      );
    } finally {
      a.child.kill('SIGCONT');
    }
    const done = await a.exited;
    expect(done.code, done.stderr).toBe(1);
    expect(done.stderr).toContain(`--out ${out}: this convert lost its lock ${lockPath} (it is now held by pid 424242 on host elsewhere`);
    expect(await manifestFiles(out)).toEqual(before);
    expect(await loadCounts(out)).toEqual(SPLIT3_ROWS);
    expect((await readdir(work)).filter((e) => e.startsWith('.stolen.nusomi-'))).toEqual(['.stolen.nusomi-lock']);
    expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({ pid: 424242 });
    await rm(lockPath);
  }, 120_000);

  it('kill -9 mid re-convert leaves the previous dataset loadable; the next run removes the leftovers and keeps loaders/', async () => {
    const out = await copySampleConversion([...SPLIT3, '--max-shard-bytes', '1MB'], path.join(work, 'killed'));
    await mkdir(path.join(out, 'loaders'));
    await writeFile(path.join(out, 'loaders', 'steps.py'), '# kept\n');
    const before = await listFiles(out);
    const manifestBefore = await readFile(path.join(out, 'dataset-manifest.json'));

    const a = startConvert(big, out, ['--split', 'train=1', '--formats', 'parquet,webdataset']);
    expect(await waitFor(() => midWrite(work, 'killed'), a.exited), 'the re-convert finished before a shard was seen being written').toBe(
      true,
    );
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');

    // The old dataset is untouched and loads; the killed run's build folder and lock are beside it.
    expect(await listFiles(out)).toEqual(before);
    expect(Buffer.compare(await readFile(path.join(out, 'dataset-manifest.json')), manifestBefore)).toBe(0);
    expect(await loadCounts(out)).toEqual(SPLIT3_ROWS);
    const left = (await readdir(work)).filter((e) => e.startsWith('.killed.'));
    expect(left.some((e) => e.startsWith('.killed.nusomi-new-'))).toBe(true);
    expect(left).toContain('.killed.nusomi-lock');

    // The next run takes the stale lock over, removes the leftovers, and writes the new layout.
    const r = await convertOk(SAMPLE, out, SPLIT3);
    expect(r.stderr).toContain('took over the lock');
    expect(r.stderr).toContain(`removed what a killed run left beside ${out}`);
    expect((await readdir(work)).filter((e) => e.startsWith('.killed.'))).toEqual([]);
    const files = await listFiles(out);
    expect(files).toEqual([...(await manifestFiles(out)), 'README.md', 'dataset-manifest.json', 'loaders/steps.py'].sort());
    expect(files.filter((f) => f.startsWith('data/'))).toEqual([
      'data/test-00000-of-00001.parquet',
      'data/train-00000-of-00001.parquet',
      'data/validation-00000-of-00001.parquet',
    ]);
    expect(await loadCounts(out)).toEqual(SPLIT3_ROWS);
  }, 180_000);

  it('SIGTERM mid re-convert removes the lock and the build folder and leaves the previous dataset', async () => {
    const out = await copySampleConversion(SPLIT3, path.join(work, 'termed'));
    const before = await listFiles(out);
    const a = startConvert(big, out, ['--split', 'train=1']);
    expect(await waitFor(() => midWrite(work, 'termed'), a.exited)).toBe(true);
    a.child.kill('SIGTERM');
    expect((await a.exited).signal).toBe('SIGTERM');
    expect((await readdir(work)).filter((e) => e.startsWith('.termed.'))).toEqual([]);
    expect(await listFiles(out)).toEqual(before);
    expect(await loadCounts(out)).toEqual(SPLIT3_ROWS);
  }, 120_000);

  it('a run killed between the two renames of the swap is completed (or undone) by the next open', async () => {
    const layout = { owned: OWNED_ENTRIES, kept: KEPT_ENTRIES };
    const good = await sampleConversion(SPLIT3);
    // Killed after renaming the old folder away, before renaming the new one in: both complete.
    const parent = path.join(work, 'swap');
    await mkdir(parent);
    await cp(good, path.join(parent, '.ds.nusomi-old-aaaaaa'), { recursive: true });
    await cp(good, path.join(parent, '.ds.nusomi-new-bbbbbb'), { recursive: true });
    await writeFile(
      path.join(parent, '.ds.nusomi-new-bbbbbb', 'README.md'),
      (await readFile(path.join(good, 'README.md'), 'utf8')) + '\nnew\n',
    );
    const out = path.join(parent, 'ds');
    let o = await LocalOutputDir.open(out, out, layout);
    await o.release();
    expect(await readdir(parent)).toEqual(['ds']);
    expect(await readFile(path.join(out, 'README.md'), 'utf8')).toMatch(/\nnew\n$/);
    expect(o.notes.join('\n')).toContain('finished replacing');
    // Only the old one left (the new one was incomplete): it is put back.
    await rm(out, { recursive: true });
    await cp(good, path.join(parent, '.ds.nusomi-old-cccccc'), { recursive: true });
    await mkdir(path.join(parent, '.ds.nusomi-new-dddddd', 'data'), { recursive: true });
    o = await LocalOutputDir.open(out, out, layout);
    await o.release();
    expect(await readdir(parent)).toEqual(['ds']);
    expect(await listFiles(out)).toEqual(await listFiles(good));
    expect(await loadCounts(out)).toEqual(SPLIT3_ROWS);
  }, 60_000);
});

describe('convert: --out and the export must not overlap', () => {
  it('--out inside the export is refused (exit 2) before anything is written, and so is the export inside --out', async () => {
    const exp = path.join(work, 'export-copy');
    await cp(SAMPLE, exp, { recursive: true });
    const before = await listFiles(exp);
    const inside = await runCli(['convert', exp, '--out', path.join(exp, 'ds'), ...SPLIT3]);
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain(`--out ${path.join(exp, 'ds')} is inside the export ${exp}`);
    // A usage error: one line, then the pointer to --help.
    expect(inside.stderr.trim().split('\n')).toEqual([expect.stringContaining('is inside the export'), "(see 'nusomi-hf convert --help')"]);
    expect(await listFiles(exp)).toEqual(before);
    expect((await readdir(exp)).filter((e) => e.startsWith('.ds'))).toEqual([]);
    // The export itself as --out, and a folder holding the export.
    expect((await runCli(['convert', exp, '--out', exp, ...SPLIT3])).code).toBe(2);
    const outer = await runCli(['convert', exp, '--out', work, ...SPLIT3]);
    expect(outer.code).toBe(2);
    expect(outer.stderr).toContain(`the export ${exp} is inside --out ${work}`);
    // The export still reads as before.
    expect((await runCli(['inspect', exp])).code).toBe(0);
  }, 60_000);

  it('an --out that is a dangling symlink, a symlink loop or a file is a one-line usage error, not an internal error', async () => {
    const dir = path.join(work, 'odd-outs');
    await mkdir(dir);
    await symlink(path.join(dir, 'nowhere'), path.join(dir, 'dangling'));
    await symlink('loop-b', path.join(dir, 'loop-a'));
    await symlink('loop-a', path.join(dir, 'loop-b'));
    await writeFile(path.join(dir, 'a-file'), '');
    const cases: Array<[string, string]> = [
      ['dangling', 'is a symbolic link to a folder that does not exist'],
      ['loop-a', 'cannot follow the path (ELOOP)'],
      ['a-file', 'is a file; expected a folder'],
    ];
    for (const [name, says] of cases) {
      const r = await runCli(['convert', SAMPLE, '--out', path.join(dir, name), ...SPLIT3]);
      expect(r.code, r.stderr).toBe(2);
      // A usage error: one line, then the pointer to --help.
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^nusomi-hf: error: /), "(see 'nusomi-hf convert --help')"]);
      expect(r.stderr).toMatch(new RegExp(`^nusomi-hf: error: --out ${path.join(dir, name)}:? `));
      expect(r.stderr).toContain(says);
    }
    expect((await readdir(dir)).sort()).toEqual(['a-file', 'dangling', 'loop-a', 'loop-b']);
  }, 60_000);

  it('the same holds for object store prefixes (same bucket or container, nested prefixes)', () => {
    expect(() => checkPlaces('s3://b/exports/v1/', 's3://b/exports/v1/ds/')).toThrow(
      /--out s3:\/\/b\/exports\/v1\/ds\/ is inside the export/,
    );
    expect(() => checkPlaces('az://c/exp', 'az://c/exp/')).toThrow(/inside the export/);
    expect(() => checkPlaces('s3://b/exports/v1/ds/', 's3://b/exports/')).toThrow(/the export .* is inside --out/);
    expect(() => checkPlaces('s3://b/exports/v1/', 's3://b/exports/v10/')).not.toThrow();
    expect(() => checkPlaces('s3://b/exports/v1/', 's3://other/exports/v1/')).not.toThrow();
    expect(() => checkPlaces('s3://b/exports/v1/', 'az://b/exports/v1/')).not.toThrow();
  });
});
