/**
 * `validate`: find what it was given — a dataset directory (dataset-manifest.json), an export
 * (manifest.json) or loose .tar/.parquet/.arrow/.jsonl files — and check it. Files are read as
 * streams (tars) or by ranges (Parquet), one at a time in (format, split, path) order so findings
 * are deterministic; frames are decoded in worker threads meanwhile (--decode full). The checkers
 * of Parquet, Arrow, JSONL and exports load on first use: Arrow and hyparquet cost more start-up
 * than validating a few shards.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { jsonSyntaxReason, resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import type { DatasetManifest } from '../hf/dataset-manifest.ts';
import { LocalSource } from '../source/local.ts';
import { openSource } from '../source/open.ts';
import type { Source } from '../source/types.ts';
import type { FileToCheck, JsonFeatures, ValidateContext } from './context.ts';
import { featurePaths } from './features-json.ts';
import { FrameDedupe } from './frame-dedupe.ts';
import { FramePool } from './frame-pool.ts';
import type { DecodeMode } from './frame-pool.ts';
import { Findings } from './report.ts';
import type { ValidationReport } from './report.ts';
import { RowChecks } from './rows.ts';
import { WdsSplitState, checkWdsShard, checkWdsSplit } from './webdataset.ts';

export interface ValidateOptions {
  decode?: DecodeMode;
  worldSize?: number;
  workers?: number;
  /** Examples kept per check. */
  maxFindings?: number;
  /** Frame worker threads (default: available cores). */
  threads?: number;
  /** Bounds on untrusted input where an export is read (defaults: DEFAULT_LIMITS). */
  limits?: Partial<InputLimits>;
  /** Hosts, buckets or containers besides an export's root that its frames and data files may come from. */
  allowRemoteFrames?: string[];
}

type Format = 'parquet' | 'arrow' | 'jsonl' | 'webdataset';
const FORMAT_ORDER: Format[] = ['parquet', 'arrow', 'jsonl', 'webdataset'];

function formatOf(p: string): Format | null {
  if (/\.parquet$/i.test(p)) return 'parquet';
  if (/\.arrow$/i.test(p)) return 'arrow';
  if (/\.jsonl(\.gz)?$/i.test(p)) return 'jsonl';
  if (/\.tar$/i.test(p)) return 'webdataset';
  return null;
}

/** `data/train-00000-of-00001.parquet`, `arrow/train/data-...`, `webdataset/train-000000.tar` → `train`. */
function splitOf(p: string, known: string[]): string {
  const parts = p.split('/');
  for (const s of known) if (parts.slice(0, -1).includes(s)) return s;
  const base = parts[parts.length - 1]!;
  const m = /^([A-Za-z0-9_.]+?)[-.]/.exec(base);
  return m ? m[1]! : base;
}

async function readText(source: Source, p: string): Promise<string> {
  return Buffer.from(await source.read(p)).toString('utf8');
}

async function sha256Of(source: Source, p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of source.stream(p)) h.update(c);
  return h.digest('hex');
}

/** What to validate: one root (dir or URL), or loose local files. */
async function resolveTarget(targets: string[], opts: ValidateOptions): Promise<{ source: Source; kind: ValidationReport['kind']; files?: string[] }> {
  if (targets.length === 0) throw new UsageError('validate needs a dataset directory, an export, or files');
  if (targets.length === 1) {
    const t = targets[0]!;
    const isLocalFile = !/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(t) && (await stat(t).then((s) => s.isFile(), () => false));
    if (!isLocalFile) {
      const source = await openSource(t, { maxReadBytes: resolveLimits(opts.limits).maxMemberBytes, allowRemote: opts.allowRemoteFrames ?? [] });
      if (await source.exists(DATASET_MANIFEST_FILE)) return { source, kind: 'dataset' };
      if (await source.exists('manifest.json')) return { source, kind: 'export' };
      return { source, kind: 'files' };
    }
  }
  for (const t of targets) {
    if (/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(t)) throw new UsageError(`with several targets, each must be a local file: ${t}`);
    if (!(await stat(t).then((s) => s.isFile(), () => false))) throw new UsageError(`${t} is not a file`);
  }
  // Loose files: rooted at their common directory, named relative to it.
  const abs = targets.map((t) => path.resolve(t));
  let root = path.dirname(abs[0]!);
  while (!abs.every((a) => a.startsWith(root + path.sep))) root = path.dirname(root);
  return { source: new LocalSource(root), kind: 'files', files: abs.map((a) => path.relative(root, a).split(path.sep).join('/')) };
}

export async function validate(targets: string[], opts: ValidateOptions = {}): Promise<ValidationReport> {
  const worldSize = opts.worldSize ?? 1;
  const workers = opts.workers ?? 1;
  if (!(Number.isInteger(worldSize) && worldSize >= 1 && Number.isInteger(workers) && workers >= 1)) {
    throw new UsageError('--world-size and --workers must be positive integers');
  }
  const { source, kind, files: looseFiles } = await resolveTarget(targets, opts);
  const label = targets.length === 1 ? targets[0]! : `${targets.length} files`;
  const findings = new Findings(opts.maxFindings ?? 10);
  if (kind === 'export') {
    await validateExport(source, targets[0]!, findings, opts);
    return findings.report(label, kind);
  }
  const pool = new FramePool(opts.decode ?? 'header', opts.threads);
  try {
    await validateFiles(source, kind, looseFiles, findings, { ...opts, worldSize, workers, decode: opts.decode ?? 'header' }, pool);
  } finally {
    await pool.close();
  }
  return findings.report(label, kind);
}

async function validateFiles(
  source: Source,
  kind: ValidationReport['kind'],
  looseFiles: string[] | undefined,
  findings: Findings,
  opts: { worldSize: number; workers: number; decode: DecodeMode; limits?: ValidateOptions['limits'] },
  pool: FramePool,
): Promise<void> {
  let manifest: DatasetManifest | null = null;
  if (kind === 'dataset') {
    try {
      manifest = JSON.parse(await readText(source, DATASET_MANIFEST_FILE)) as DatasetManifest;
    } catch (err) {
      findings.add('dataset.unreadable_metadata', { file: DATASET_MANIFEST_FILE, message: `not valid JSON (${jsonSyntaxReason(err)})` });
    }
  }
  const listing = looseFiles ? await Promise.all(looseFiles.map(async (p) => ({ path: p, size: await source.size(p) }))) : await source.list();
  const sizes = new Map(listing.map((e) => [e.path, e.size]));
  const splitNames = manifest ? Object.keys(manifest.splits) : [];
  const features = (manifest?.features ?? null) as JsonFeatures | null;
  const labelSizes = features ? featurePaths(features).classLabels : {};
  const ctx: ValidateContext = {
    source,
    findings,
    pool,
    dedupe: new FrameDedupe(source),
    decode: opts.decode,
    features,
    worldSize: opts.worldSize,
    workers: opts.workers,
    parquetRows: new Map(),
    limits: resolveLimits(opts.limits),
    rows: new RowChecks(findings, {
      labelSizes,
      passthrough: manifest?.image?.mode === 'passthrough',
      splitOrder: splitNames,
    }),
  };

  // Files to check: the manifest's list (missing ones reported), else what was found.
  const toCheck: Array<FileToCheck & { format: Format }> = [];
  const manifestFiles = new Map((manifest?.files ?? []).map((f) => [f.path, f]));
  const hashLater: FileToCheck[] = [];
  if (manifest) {
    for (const mf of manifest.files) {
      const size = sizes.get(mf.path);
      if (size === undefined) {
        findings.add('dataset.file_missing', { file: mf.path, message: `listed in ${DATASET_MANIFEST_FILE} (${mf.bytes} bytes) but not found` });
        continue;
      }
      const fc: FileToCheck = { path: mf.path, split: mf.split ?? '', size, sha256: mf.sha256 ?? null };
      if (size !== mf.bytes) {
        findings.add('dataset.file_size_mismatch', { file: mf.path, message: `${size} bytes, ${DATASET_MANIFEST_FILE} says ${mf.bytes}` });
        fc.sizeMismatch = true;
      }
      const format = formatOf(mf.path);
      // jsonl frames and support files are hashed apart; data files hash while they are checked (tars) or after.
      if (format && !(format === 'jsonl' && mf.rows === null)) toCheck.push({ ...fc, format, split: mf.split ?? splitOf(mf.path, splitNames) });
      if (format !== 'webdataset') hashLater.push(fc);
    }
  } else {
    for (const e of listing) {
      const format = formatOf(e.path);
      if (format) toCheck.push({ path: e.path, split: splitOf(e.path, splitNames), size: e.size ?? 0, sha256: null, format });
    }
  }
  findings.stats.files = toCheck.length;
  findings.stats.bytes = toCheck.reduce((n, f) => n + f.size, 0);
  const rank = (s: string) => (splitNames.includes(s) ? splitNames.indexOf(s) : splitNames.length);
  toCheck.sort((a, b) => FORMAT_ORDER.indexOf(a.format) - FORMAT_ORDER.indexOf(b.format) || rank(a.split) - rank(b.split) || (a.split < b.split ? -1 : a.split > b.split ? 1 : 0) || (a.path < b.path ? -1 : 1));

  // sha256 of everything that is not a tar runs beside the row checks.
  const hashing = (async () => {
    for (const fc of hashLater) {
      if (!fc.sha256 || fc.sizeMismatch) continue;
      if ((await sha256Of(source, fc.path)) !== fc.sha256) {
        findings.add('dataset.file_sha256_mismatch', { file: fc.path, message: `content differs from the sha256 in ${DATASET_MANIFEST_FILE}` });
      }
    }
  })();

  const wdsSplits = new Map<string, WdsSplitState>();
  for (const fc of toCheck) {
    if (fc.format === 'parquet') await (await import('./parquet.ts')).checkParquet(ctx, fc);
    else if (fc.format === 'arrow') await (await import('./arrow.ts')).checkArrow(ctx, fc);
    else if (fc.format === 'jsonl') await (await import('./jsonl.ts')).checkJsonl(ctx, fc, manifest?.labels ?? null);
    else {
      let st = wdsSplits.get(fc.split);
      if (!st) wdsSplits.set(fc.split, (st = new WdsSplitState(fc.split)));
      await checkWdsShard(ctx, fc, st);
    }
  }
  for (const [split, st] of wdsSplits) {
    const dir = st.shardSamples[0]!.path.slice(0, st.shardSamples[0]!.path.lastIndexOf('/') + 1);
    const idx = `${dir}${split}.index.json`;
    await checkWdsSplit(ctx, st, sizes.has(idx) ? idx : null);
  }
  if (manifest) {
    // save_to_disk directories: every directory holding an .arrow data file.
    const listed = new Set(sizes.keys());
    const dirs = new Set(toCheck.filter((f) => f.format === 'arrow').map((f) => f.path.slice(0, f.path.lastIndexOf('/'))));
    for (const d of [...dirs].sort()) await (await import('./arrow.ts')).checkSaveToDiskDir(ctx, d, listed);
    await checkCard(ctx, manifest, manifestFiles.size > 0);
  }
  await hashing;
}

/** README `dataset_info.splits[].num_examples` against the Parquet rows (what `datasets` verifies). */
async function checkCard(ctx: ValidateContext, manifest: DatasetManifest, _hasFiles: boolean): Promise<void> {
  if (!manifest.formats.includes('parquet')) return;
  if (!(await ctx.source.exists('README.md'))) return;
  const text = await readText(ctx.source, 'README.md');
  const m = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text);
  if (!m) return;
  const { parse: parseYaml } = await import('yaml');
  let yaml: { dataset_info?: { splits?: Array<{ name?: string; num_examples?: number }> } | Array<unknown> };
  try {
    yaml = parseYaml(m[1]!) as typeof yaml;
  } catch (err) {
    ctx.findings.add('dataset.unreadable_metadata', { file: 'README.md', message: `the YAML front matter does not parse (${(err as Error).message})` });
    return;
  }
  const info = Array.isArray(yaml.dataset_info) ? (yaml.dataset_info[0] as { splits?: Array<{ name?: string; num_examples?: number }> }) : yaml.dataset_info;
  for (const s of info?.splits ?? []) {
    const actual = ctx.parquetRows.get(s.name ?? '') ?? 0;
    if (Number.isNaN(actual)) continue; // a Parquet file of the split is unreadable (reported)
    if (s.num_examples !== actual) {
      ctx.findings.add('dataset.num_examples_mismatch', { file: 'README.md', message: `split ${s.name}: num_examples ${s.num_examples}, the Parquet files have ${actual} rows` });
    }
  }
}

/** Exports: manifest counts against the rows, every referenced frame (via inspect), then the privacy scan. */
async function validateExport(source: Source, root: string, findings: Findings, opts: ValidateOptions): Promise<void> {
  const { inspectExport } = await import('../export/inspect.ts');
  const { scanExportPrivacy } = await import('./export-privacy.ts');
  const input = { limits: opts.limits, allowRemote: opts.allowRemoteFrames ?? [] };
  try {
    const r = await inspectExport(root, input);
    findings.stats.bytes = (await source.list()).filter((e) => r.files.includes(e.path)).reduce((n, e) => n + (e.size ?? 0), 0);
    findings.stats.files = r.files.length;
    findings.stats.rows = r.rows;
    findings.stats.frames = r.frames;
    for (const c of r.manifest) {
      if (!c.ok) findings.add('export.manifest_count_mismatch', { file: 'manifest.json', message: `${c.field}: manifest says ${c.manifest}, the export has ${c.actual}` });
    }
    for (const p of r.frame_problems) {
      findings.add(p.problem === 'missing' ? 'export.frame_missing' : 'export.frame_unreadable', { file: p.file, message: `${p.step}: ${p.ref}: ${p.message}` });
    }
    const shown = r.frame_problems.length;
    const extraMissing = r.frames_missing - r.frame_problems.filter((p) => p.problem === 'missing').length;
    const extraBad = r.frames_unreadable - (shown - r.frame_problems.filter((p) => p.problem === 'missing').length);
    for (let i = 0; i < extraMissing; i++) findings.add('export.frame_missing', { file: '(more)', message: 'not shown' });
    for (let i = 0; i < extraBad; i++) findings.add('export.frame_unreadable', { file: '(more)', message: 'not shown' });
    await scanExportPrivacy(source, findings, input);
  } catch (err) {
    if (!(err instanceof Error) || !('where' in err)) throw err;
    const w = (err as { where: { file?: string; member?: string } }).where;
    findings.add('export.unreadable', { file: w.file ?? source.describe(''), ...(w.member ? { member: w.member } : {}), message: err.message });
  }
}
