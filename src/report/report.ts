/**
 * `report`: read an export or a dataset once and write a static site that opens from file://
 * (index.html + assets/, relative paths only, nothing fetched from anywhere else). The site is
 * built in a sibling folder and swapped in whole, so a failed run leaves the old report.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import type { ValidationReport } from '../validate/report.ts';
import { REPORT_CSS, REPORT_JS } from './client.ts';
import { collect, findingKey } from './collect.ts';
import { openReportInput } from './input.ts';
import { renderReport } from './page.ts';
import type { ReportFile } from './page.ts';

/**
 * Frames sampled by default. A thumbnail costs ~40 ms of CPU (decoding a full frame) and 5-25 KB,
 * so the report stays a small fraction of a convert's time and far under 50 MB.
 */
export const DEFAULT_MAX_FRAMES = 200;

export interface ReportOptions {
  target: string;
  out: string;
  maxFrames?: number;
  limits?: Partial<InputLimits>;
  allowRemote?: readonly string[];
  hubUrl: string;
  /** Run `validate` on a dataset target and show its findings (default true). */
  validate?: boolean;
}

export interface ReportResult {
  out: string;
  kind: 'export' | 'dataset';
  rows: number;
  sessions: number;
  frames_sampled: number;
  files: number;
  bytes: number;
}

/** The files a previous report has: a folder holding anything else is not ours to replace. */
async function checkOut(out: string): Promise<void> {
  let names: string[];
  try {
    if (!(await stat(out)).isDirectory()) throw new UsageError(`--out ${out} is a file, not a folder`);
    names = await readdir(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const ours = names.every((n) => n === 'index.html' || n === 'assets');
  if (!ours || (names.length && !existsSync(path.join(out, 'assets', 'report.js')))) {
    throw new UsageError(`--out ${out} holds files that are not a report; give a new or empty folder, or an earlier report`);
  }
}

async function writeSite(out: string, files: ReportFile[]): Promise<number> {
  const abs = path.resolve(out);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.nusomi-report-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  let bytes = 0;
  try {
    for (const f of files) {
      const to = path.join(tmp, f.path);
      await mkdir(path.dirname(to), { recursive: true });
      await writeFile(to, f.bytes);
      bytes += typeof f.bytes === 'string' ? Buffer.byteLength(f.bytes) : f.bytes.byteLength;
    }
    await rm(abs, { recursive: true, force: true });
    await rename(tmp, abs);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return bytes;
}

export async function buildReport(opts: ReportOptions): Promise<ReportResult> {
  const maxFrames = opts.maxFrames ?? DEFAULT_MAX_FRAMES;
  if (!Number.isSafeInteger(maxFrames) || maxFrames < 0) throw new UsageError('--max-frames must be a whole number ≥ 0');
  await checkOut(opts.out);
  const limits = resolveLimits(opts.limits);
  const input = await openReportInput(opts.target, { limits, allowRemote: opts.allowRemote ?? [], hubUrl: opts.hubUrl });
  let validation: ValidationReport | null = null;
  if (input.validateTarget !== null && opts.validate !== false) {
    const { validate } = await import('../validate/validate.ts');
    validation = await validate([input.validateTarget], { limits, allowRemoteFrames: [...(opts.allowRemote ?? [])] });
  }
  const wanted = new Set<string>();
  for (const c of validation?.checks ?? []) for (const x of c.examples) wanted.add(findingKey(x));
  const c = await collect(input.rows(), { maxFrames, limits, wanted, expectedRows: input.expectedRows });
  const files: ReportFile[] = [
    { path: 'assets/report.js', bytes: REPORT_JS },
    { path: 'assets/report.css', bytes: REPORT_CSS },
    ...renderReport({
      kind: input.kind,
      title: input.title,
      c,
      labels: input.labels(),
      skipped: input.skipped(),
      validation,
      maxFrames,
    }),
  ];
  const bytes = await writeSite(opts.out, files);
  return {
    out: opts.out,
    kind: input.kind,
    rows: c.rows,
    sessions: c.sessions,
    frames_sampled: c.sample.length,
    files: files.length,
    bytes,
  };
}
