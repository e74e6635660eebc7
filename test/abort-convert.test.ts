/**
 * Aborting `convert` through an AbortSignal, in a program of its own (a child process): it rejects
 * with an AbortError within a row of the abort, leaves nothing under a final name (a local --out
 * keeps its earlier dataset; an s3:// prefix gets no object and no unfinished upload), releases
 * the lock, and stops its worker threads (the program then exits by itself, promptly). A re-run
 * is byte-identical to a run never interrupted. And the CLI's progress bar, forced onto a
 * non-TTY stderr, ends on the dataset's row count.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ClientFor } from '../src/source/s3.ts';
import { SAMPLE, SPLIT3, runCli, tempDir } from './convert-fixtures.ts';
import { hashTree, sha } from './helpers/bytes.ts';
import { finished, scriptOk, spawnCli, spawnScript } from './helpers/cli.ts';
import { repoRoot } from './helpers/python.ts';
import { startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';
import { copySampleConversion } from './helpers/sample-cache.ts';

/** Rows of the generated export (2 sessions × 12 steps of ~150 KB frames). */
const ROWS = 24;
/** The abort fires once this many rows are written. */
const ABORT_AT = 5;
/** How long the program may take to exit after the convert rejected (no thread or socket keeps it). */
const EXIT_WITHIN_MS = 3_000;

let work = '';
let big = '';
let program = '';
let moto: RunningService;
let s3: S3Client;

/**
 * The program: convert `input` to `out` with frames re-encoded in worker threads; with `abort`,
 * the signal fires once ABORT_AT rows are written. Prints one JSON line and ends without
 * process.exit, so anything left running shows as a late exit.
 */
const PROGRAM = (convertUrl: string) => `
import { convert } from ${JSON.stringify(convertUrl)};
const [input, out, mode] = process.argv.slice(2);
const controller = new AbortController();
let rowsAtAbort = 0;
let lastRows = 0;
try {
  await convert({
    input,
    out,
    formats: ['parquet', 'webdataset'],
    split: { split: 'train=0.8,validation=0.2', seed: '0' },
    filters: {},
    frames: { imageFormat: 'webp', maxSide: 320, workers: 2 },
    wds: {},
    onError: 'stop',
    signal: controller.signal,
    onProgress(e) {
      if (e.phase !== 'write') return;
      lastRows = e.rowsDone;
      if (mode === 'abort' && e.rowsDone >= ${ABORT_AT} && !controller.signal.aborted) {
        rowsAtAbort = e.rowsDone;
        controller.abort();
      }
    },
  });
  console.log(JSON.stringify({ completed: true, lastRows }));
} catch (err) {
  console.log(JSON.stringify({ name: err.name, message: err.message, rowsAtAbort, lastRows }));
}
`;

interface ProgramRun {
  result: { completed?: boolean; name?: string; message?: string; rowsAtAbort?: number; lastRows?: number };
  code: number | null;
  /** Milliseconds from the JSON line to the process's exit. */
  exitAfterMs: number;
  stderr: string;
}

async function runProgram(out: string, mode: 'abort' | 'full', env: Record<string, string> = {}): Promise<ProgramRun> {
  const child = spawnScript(program, [big, out, mode], { env });
  let stdout = '';
  let stderr = '';
  let printedAt = 0;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (stdout.includes('\n') && !printedAt) printedAt = performance.now();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const exitAfterMs = performance.now() - printedAt;
  expect(stdout, stderr).toMatch(/\n$/);
  return { result: JSON.parse(stdout.trim().split('\n').at(-1)!) as ProgramRun['result'], code, exitAfterMs, stderr };
}

/** Expect the program's convert to have been aborted promptly and the program to have exited by itself. */
function expectAborted(run: ProgramRun): void {
  expect(run.result, run.stderr).toMatchObject({ name: 'AbortError', rowsAtAbort: ABORT_AT });
  // Rejected within a row of the abort, long before the end.
  expect(run.result.lastRows).toBeLessThanOrEqual(ABORT_AT + 1);
  expect(run.code).toBe(0);
  expect(run.exitAfterMs, 'the program did not exit promptly: a worker thread or handle outlived the abort').toBeLessThan(EXIT_WITHIN_MS);
}

beforeAll(async () => {
  work = await tempDir('nusomi-abort-convert-');
  big = path.join(work, 'export');
  program = path.join(work, 'abort-convert.mts');
  await writeFile(program, PROGRAM(pathToFileURL(path.join(repoRoot, 'src', 'convert', 'convert.ts')).href));
  const [m] = await Promise.all([
    startMoto(),
    scriptOk('scripts/make-samples.ts', ['--sessions', '2', '--steps', String(ROWS / 2), '--format', 'jsonl', '--out', big]),
  ]);
  moto = m;
  s3 = s3ClientFor(moto.env);
  await s3.send(new CreateBucketCommand({ Bucket: 'outs' }));
}, 180_000);
afterAll(async () => {
  await moto?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** sha256 of every object under `prefix`, keyed by its key below the prefix. */
async function hashPrefix(prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const page = await s3.send(new ListObjectsV2Command({ Bucket: 'outs', Prefix: prefix }));
  for (const o of page.Contents ?? []) {
    const r = await s3.send(new GetObjectCommand({ Bucket: 'outs', Key: o.Key! }));
    out[o.Key!.slice(prefix.length)] = sha(await r.Body!.transformToByteArray());
  }
  return out;
}

describe('convert aborted through its AbortSignal', () => {
  it('local --out: AbortError, the earlier dataset intact, no lock, no build folder, threads stopped; a re-run is byte-identical', async () => {
    const out = await copySampleConversion(SPLIT3, path.join(work, 'local'));
    const earlier = await hashTree(out);

    expectAborted(await runProgram(out, 'abort'));
    expect(await hashTree(out)).toEqual(earlier);
    expect((await readdir(work)).filter((e) => e.startsWith('.local.'))).toEqual([]);

    const again = await runProgram(out, 'full');
    expect(again.result, again.stderr).toMatchObject({ completed: true, lastRows: ROWS });
    const ref = path.join(work, 'never-aborted');
    expect((await runProgram(ref, 'full')).result).toMatchObject({ completed: true });
    const tree = await hashTree(out);
    expect(Object.keys(tree)).toContain('dataset-manifest.json');
    expect(tree).toEqual(await hashTree(ref));
  }, 240_000);

  it('s3:// --out: AbortError, no object and no unfinished upload under the prefix, lock released; a re-run is byte-identical', async () => {
    expectAborted(await runProgram('s3://outs/aborted/', 'abort', moto.env));
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'outs', Prefix: 'aborted/' }))).Contents ?? []).toEqual([]);
    expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'outs', Prefix: 'aborted/' }))).Uploads ?? []).toEqual([]);

    const again = await runProgram('s3://outs/aborted/', 'full', moto.env);
    expect(again.result, again.stderr).toMatchObject({ completed: true, lastRows: ROWS });
    expect((await runProgram('s3://outs/never-aborted/', 'full', moto.env)).result).toMatchObject({ completed: true });
    const tree = await hashPrefix('aborted/');
    expect(Object.keys(tree)).toContain('dataset-manifest.json');
    expect(tree).toEqual(await hashPrefix('never-aborted/'));
  }, 240_000);
});

describe('Ctrl-C on the CLI is the same abort', () => {
  it('SIGINT mid-upload to s3://: the process dies of SIGINT after aborting its multipart upload and releasing the lock', async () => {
    // PNG frames make the WebDataset shard large: it uploads in parts while rows are written.
    const child = spawnCli(
      ['convert', big, '--out', 's3://outs/interrupted/', '--formats', 'webdataset', '--split', 'train=1', '--image-format', 'png'],
      { env: moto.env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = finished(child);
    const uploads = async () => (await s3.send(new ListMultipartUploadsCommand({ Bucket: 'outs', Prefix: 'interrupted/' }))).Uploads ?? [];
    let started = false;
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done && !started) {
      started = (await uploads()).length > 0;
      if (!started) await new Promise((r) => setTimeout(r, 20));
    }
    expect(started, 'the convert ended before its upload started').toBe(true);
    child.kill('SIGINT');
    const r = await exited;
    expect(r.signal, r.stderr).toBe('SIGINT');
    // One line at most, and never an internal error: the abort is not reported as a failure.
    expect(r.stderr).not.toMatch(/error/);
    // A kill leaves the unfinished upload for the next run to drop; the abort path drops it now.
    expect(await uploads()).toEqual([]);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'outs', Prefix: 'interrupted/' }))).Contents ?? []).toEqual([]);
  }, 120_000);
});

describe('the CLI progress bar', () => {
  it('NUSOMI_HF_PROGRESS=1 draws it on a non-TTY stderr, ending on the rows of the dataset written', async () => {
    const out = path.join(work, 'bar');
    const r = await runCli(['convert', SAMPLE, '--out', out, ...SPLIT3], { NUSOMI_HF_PROGRESS: '1' });
    expect(r.code, r.stderr).toBe(0);
    const bars = r.stderr.split('\n').filter((l) => l.startsWith('convert ['));
    expect(bars.length).toBeGreaterThan(0);
    const manifest = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as {
      splits: Record<string, { rows: number }>;
    };
    const rows = Object.values(manifest.splits).reduce((n, s) => n + s.rows, 0);
    expect(bars.at(-1)).toMatch(new RegExp(` ${rows}/${rows} rows \\| [0-9.]+ MB/s \\| ETA 0s$`));

    // Without it (stderr is a pipe here) no bar; NUSOMI_HF_PROGRESS=0 hides it too.
    const plain = await runCli(['convert', SAMPLE, '--out', path.join(work, 'no-bar'), ...SPLIT3], { NUSOMI_HF_PROGRESS: undefined });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toContain('convert [');
  }, 120_000);
});
