/**
 * `validate`: find what it was given — a dataset directory (dataset-manifest.json), an export
 * (manifest.json) or loose .tar/.parquet/.arrow/.jsonl files — and check it; what it must see
 * before it says clean is one rule, in completeness.ts. Files are read as
 * streams (tars) or by ranges (Parquet), one at a time in (format, split, path) order so findings
 * are deterministic; frames are decoded in worker threads meanwhile (--decode full). The checkers
 * of Parquet, Arrow, JSONL and exports load on first use: Arrow and hyparquet cost more start-up
 * than validating a few shards.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from '../abort.ts';
import { InputError, UsageError } from '../errors.ts';
import { failureReason, jsonSyntaxReason, resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import type { DatasetManifest } from '../hf/dataset-manifest.ts';
import { LocalSource } from '../source/local.ts';
import { openSource } from '../source/open.ts';
import type { Source } from '../source/types.ts';
import { Completeness, FORMAT_ORDER, classifyListing, formatOf, hidden, manifestShapeProblem } from './completeness.ts';
import type { CardSplits, Format } from './completeness.ts';
import type { FileToCheck, JsonFeatures, ValidateContext } from './context.ts';
import { featurePaths } from './features-json.ts';
import { FrameDedupe } from './frame-dedupe.ts';
import { FramePool } from './frame-pool.ts';
import type { DecodeMode } from './frame-pool.ts';
import { isVendorTar, looseExportSource } from './loose-export.ts';
import { Findings } from './report.ts';
import type { ValidationReport } from './report.ts';
import { RowChecks } from './rows.ts';
import { hasUrlScheme as hasScheme } from '../util/url-scheme.ts';
import { compareStrings } from '../util/compare.ts';
import { formatModule } from '../formats/registry.ts';
import type { FormatValidator } from '../formats/types.ts';

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
  /** https:// requests (an https export, its frames) go through it. Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Stops the checks: validate then rejects with an AbortError (src/abort.ts) instead of reporting. */
  signal?: AbortSignal;
}

/** `data/train-00000-of-00001.parquet`, `arrow/train/data-...`, `webdataset/train-000000.tar` → `train`. */
function splitOf(p: string, known: string[]): string {
  const parts = p.split('/');
  for (const s of known) if (parts.slice(0, -1).includes(s)) return s;
  const base = parts[parts.length - 1]!;
  // save_to_disk: the split is the folder (`arrow/train/data-00000-of-00001.arrow`).
  if (parts.length > 1 && /^data-\d+-of-\d+\.arrow$/.test(base)) return parts[parts.length - 2]!;
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

/**
 * What to validate: a dataset or an export root, data files named one by one (`files`), a folder
 * of data files without a manifest (`folder`), or a loose vendor tar (`export` with `looseTars`).
 */
type Target =
  | { kind: 'dataset' | 'export' | 'folder'; source: Source; looseTars?: string[] }
  | { kind: 'files'; source: Source; files: string[] };

const isLocalFile = (t: string): Promise<boolean> =>
  stat(t).then(
    (s) => s.isFile(),
    () => false,
  );

/** The target, or null after reporting why there is nothing to check (completeness.ts, rule 1). */
async function resolveTarget(targets: string[], findings: Findings, opts: ValidateOptions): Promise<Target | null> {
  if (targets.length === 0) throw new UsageError('validate needs a dataset directory, an export, or files');
  if (targets.length === 1 && (hasScheme(targets[0]!) || !(await isLocalFile(targets[0]!)))) {
    const t = targets[0]!;
    if (
      !hasScheme(t) &&
      !(await stat(t).then(
        () => true,
        () => false,
      ))
    ) {
      findings.add('target.not_found', { file: t, message: 'does not exist' });
      return null;
    }
    const source = await openSource(t, {
      maxReadBytes: resolveLimits(opts.limits).maxMemberBytes,
      allowRemote: opts.allowRemoteFrames ?? [],
      fetch: opts.fetch,
    });
    try {
      if (await source.exists(DATASET_MANIFEST_FILE)) return { source, kind: 'dataset' };
      if (await source.exists('manifest.json')) return { source, kind: 'export' };
      const found = classifyListing(await source.list());
      if (found === 'data') return { source, kind: 'folder' };
      findings.add(found === 'empty' ? 'target.empty' : 'target.unrecognised', {
        file: t,
        message: found === 'empty' ? 'no files here' : 'nothing here is a manifest or a data file',
      });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      findings.add('target.not_found', { file: t, message: err.message });
    }
    return null;
  }
  for (const t of targets) {
    if (hasScheme(t)) throw new UsageError(`with several targets, each must be a local file: ${t}`);
    if (!(await isLocalFile(t))) throw new UsageError(`${t} is not a file`);
  }
  // Loose files: rooted at their common directory, named relative to it.
  const abs = targets.map((t) => path.resolve(t));
  let root = path.dirname(abs[0]!);
  while (!abs.every((a) => a.startsWith(root + path.sep))) root = path.dirname(root);
  const files = abs.map((a) => path.relative(root, a).split(path.sep).join('/'));
  const source = new LocalSource(root);
  if (files.every((f) => formatOf(f) === 'webdataset') && (await isVendorTar(source, files[0]!)))
    return { source, kind: 'export', looseTars: files };
  return { source, kind: 'files', files };
}

export async function validate(targets: string[], opts: ValidateOptions = {}): Promise<ValidationReport> {
  throwIfAborted(opts.signal);
  const worldSize = opts.worldSize ?? 1;
  const workers = opts.workers ?? 1;
  if (!(Number.isInteger(worldSize) && worldSize >= 1 && Number.isInteger(workers) && workers >= 1)) {
    throw new UsageError('--world-size and --workers must be positive integers');
  }
  const label = targets.length === 1 ? targets[0]! : `${targets.length} files`;
  const findings = new Findings(opts.maxFindings ?? 10);
  const target = await resolveTarget(targets, findings, opts);
  if (!target) return findings.report(label, 'files');
  const kind = target.kind === 'folder' ? 'files' : target.kind;
  if (target.kind === 'export') {
    await validateExport(
      target.looseTars ? looseExportSource(target.source, target.looseTars) : target.source,
      findings,
      target.looseTars !== undefined,
      opts,
    );
    throwIfAborted(opts.signal);
    return findings.report(label, kind);
  }
  const pool = new FramePool(opts.decode ?? 'header', opts.threads);
  try {
    await validateFiles(target, label, findings, { ...opts, worldSize, workers, decode: opts.decode ?? 'header' }, pool);
  } catch (err) {
    // Whatever failed once the signal fired (a read cut short) is the abort.
    throwIfAborted(opts.signal);
    throw err;
  } finally {
    await pool.close();
  }
  throwIfAborted(opts.signal);
  return findings.report(label, kind);
}

async function readDatasetManifest(source: Source, findings: Findings): Promise<DatasetManifest | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readText(source, DATASET_MANIFEST_FILE));
  } catch (err) {
    findings.add('dataset.unreadable_metadata', { file: DATASET_MANIFEST_FILE, message: `not valid JSON (${jsonSyntaxReason(err)})` });
    return null;
  }
  const problem = manifestShapeProblem(parsed);
  if (problem) {
    findings.add('dataset.unreadable_metadata', { file: DATASET_MANIFEST_FILE, message: problem });
    return null;
  }
  return parsed as DatasetManifest;
}

async function validateFiles(
  target: Exclude<Target, { kind: 'export' }>,
  label: string,
  findings: Findings,
  opts: { worldSize: number; workers: number; decode: DecodeMode; limits?: ValidateOptions['limits']; signal?: AbortSignal },
  pool: FramePool,
): Promise<void> {
  const { source } = target;
  const manifest = target.kind === 'dataset' ? await readDatasetManifest(source, findings) : null;
  const listing =
    target.kind === 'files'
      ? await Promise.all(target.files.map(async (p) => ({ path: p, size: await source.size(p) })))
      : await source.list();
  if (target.kind === 'folder') {
    findings.add('dataset.manifest_missing', { file: DATASET_MANIFEST_FILE, message: `not found; the data files here were checked alone` });
  }
  const sizes = new Map(listing.map((e) => [e.path, e.size]));
  const splitNames = manifest ? Object.keys(manifest.splits) : [];
  const features = (manifest?.features ?? null) as JsonFeatures | null;
  const labelSizes = features ? featurePaths(features).classLabels : {};
  const complete = new Completeness(findings);
  const ctx: ValidateContext = {
    source,
    findings,
    pool,
    dedupe: new FrameDedupe(source),
    decode: opts.decode,
    features,
    worldSize: opts.worldSize,
    workers: opts.workers,
    limits: resolveLimits(opts.limits),
    signal: opts.signal,
    rows: new RowChecks(findings, {
      labelSizes,
      passthrough: manifest?.image?.mode === 'passthrough',
      splitOrder: splitNames,
    }),
  };

  // Files to check: the manifest's list (missing ones reported), else what was found.
  const toCheck: Array<FileToCheck & { format: Format }> = [];
  const hashLater: FileToCheck[] = [];
  // Data files of the extra configs (sft/, episodes/): their own features and row counts.
  const configFiles: Array<FileToCheck & { config: string }> = [];
  if (manifest) {
    for (const { listed: mf, file: fc } of complete.listedFiles(manifest, listing)) {
      if (mf.config) {
        configFiles.push({ ...fc, config: mf.config });
        hashLater.push(fc);
        continue;
      }
      const format = formatOf(mf.path);
      // jsonl frames and support files are hashed apart; data files hash while they are checked (tars) or after.
      if (format && !(format === 'jsonl' && mf.rows === null))
        toCheck.push({ ...fc, format, split: mf.split ?? splitOf(mf.path, splitNames) });
      if (format !== 'webdataset') hashLater.push(fc);
    }
  } else {
    for (const e of listing) {
      const format = formatOf(e.path);
      if (format && (target.kind === 'files' || !hidden(e.path)))
        toCheck.push({ path: e.path, split: splitOf(e.path, splitNames), size: e.size ?? 0, sha256: null, format });
    }
  }
  findings.stats.files = toCheck.length + configFiles.length;
  findings.stats.bytes = [...toCheck, ...configFiles].reduce((n, f) => n + f.size, 0);
  const rank = (s: string) => (splitNames.includes(s) ? splitNames.indexOf(s) : splitNames.length);
  toCheck.sort(
    (a, b) =>
      FORMAT_ORDER.indexOf(a.format) - FORMAT_ORDER.indexOf(b.format) ||
      rank(a.split) - rank(b.split) ||
      compareStrings(a.split, b.split) ||
      compareStrings(a.path, b.path),
  );

  // sha256 of everything that is not a tar runs beside the row checks.
  const hashing = (async () => {
    for (const fc of hashLater) {
      if (opts.signal?.aborted) return;
      if (!fc.sha256 || fc.sizeMismatch) continue;
      if ((await sha256Of(source, fc.path)) !== fc.sha256) {
        findings.add('dataset.file_sha256_mismatch', {
          file: fc.path,
          message: `content differs from the sha256 in ${DATASET_MANIFEST_FILE}`,
        });
      }
    }
  })();

  // Each format's validator (src/formats/*), made when its first file comes; checks across its
  // files run once all files are read, WebDataset's before Arrow's as they always have.
  const validators = new Map<Format, FormatValidator>();
  const run = { ctx, manifest, listed: new Set(sizes.keys()) };
  for (const fc of toCheck) {
    throwIfAborted(opts.signal);
    let v = validators.get(fc.format);
    if (!v) validators.set(fc.format, (v = (await formatModule(fc.format).validator())(run)));
    complete.fileRows(fc.path, fc.format, fc.split, await v.check(fc));
  }
  for (const format of [...FORMAT_ORDER].reverse()) await validators.get(format)?.done();
  if (configFiles.length) {
    const { checkConfigParquet } = await import('./config-parquet.ts');
    for (const fc of configFiles) {
      const features = (manifest?.configs as Record<string, { features?: unknown } | undefined> | undefined)?.[fc.config]?.features;
      complete.configRows(fc.path, fc.config, fc.split, await checkConfigParquet(ctx, fc, fc.config, features));
    }
  }
  // The card's first dataset_info entry is the steps config's, when the dataset has one.
  if (manifest) complete.rowCounts(manifest, sizes.has('README.md') && manifest.formats.length ? await cardSplits(ctx) : null);
  if (manifest?.configs) complete.configRowCounts(manifest, sizes.has('README.md') ? await cardConfigSplits(ctx) : null);
  complete.somethingRead(label);
  await hashing;
}

/** README `dataset_info.splits[].num_examples` (what `datasets` verifies), or null without a YAML header. */
async function cardSplits(ctx: ValidateContext): Promise<CardSplits | null> {
  const text = await readText(ctx.source, 'README.md');
  const m = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text);
  if (!m) return null;
  const { parse: parseYaml } = await import('yaml');
  let yaml: { dataset_info?: { splits?: Array<{ name?: string; num_examples?: number }> } | Array<unknown> };
  try {
    yaml = parseYaml(m[1]!) as typeof yaml;
  } catch (err) {
    ctx.findings.add('dataset.unreadable_metadata', {
      file: 'README.md',
      message: `the YAML front matter does not parse (${failureReason(err)})`,
    });
    return null;
  }
  const info = Array.isArray(yaml?.dataset_info)
    ? (yaml.dataset_info[0] as { splits?: Array<{ name?: string; num_examples?: number }> })
    : yaml?.dataset_info;
  if (!Array.isArray(info?.splits)) return null;
  return new Map(info.splits.map((s) => [String(s?.name), s?.num_examples]));
}

/** The card's `num_examples` per split of each extra config (the `dataset_info` list entries by `config_name`). */
async function cardConfigSplits(ctx: ValidateContext): Promise<Map<string, CardSplits> | null> {
  const text = await readText(ctx.source, 'README.md');
  const m = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text);
  if (!m) return null;
  const { parse: parseYaml } = await import('yaml');
  let info: unknown;
  try {
    info = (parseYaml(m[1]!) as { dataset_info?: unknown })?.dataset_info;
  } catch {
    return null; // reported by cardSplits
  }
  const out = new Map<string, CardSplits>();
  for (const e of Array.isArray(info) ? (info as Array<{ config_name?: unknown; splits?: unknown }>) : []) {
    if (typeof e?.config_name !== 'string' || !Array.isArray(e.splits)) continue;
    out.set(
      e.config_name,
      new Map((e.splits as Array<{ name?: unknown; num_examples?: number }>).map((s) => [String(s?.name), s?.num_examples])),
    );
  }
  return out;
}

/**
 * Exports: manifest counts against the rows, every referenced frame (via inspect), then the
 * privacy scan. A loose vendor tar has no manifest: its counts are not compared.
 */
async function validateExport(source: Source, findings: Findings, loose: boolean, opts: ValidateOptions): Promise<void> {
  const { inspectExport } = await import('../export/inspect.ts');
  const { scanExportPrivacy } = await import('./export-privacy.ts');
  const input = { limits: opts.limits, allowRemote: opts.allowRemoteFrames ?? [], fetch: opts.fetch, signal: opts.signal };
  try {
    const r = await inspectExport(source, input);
    findings.stats.bytes = (await source.list()).filter((e) => r.files.includes(e.path)).reduce((n, e) => n + (e.size ?? 0), 0);
    findings.stats.files = r.files.length;
    Object.assign(findings.format(r.format), { files: r.files.length, rows: r.rows, frames: r.frames });
    if (r.rows === 0)
      findings.add('target.empty', {
        file: loose ? (r.files[0] ?? source.describe('')) : 'manifest.json',
        message: 'the export holds no rows',
      });
    for (const c of loose ? [] : r.manifest) {
      if (!c.ok)
        findings.add('export.manifest_count_mismatch', {
          file: 'manifest.json',
          message: `${c.field}: manifest says ${c.manifest}, the export has ${c.actual}`,
        });
    }
    for (const p of r.frame_problems) {
      findings.add(p.problem === 'missing' ? 'export.frame_missing' : 'export.frame_unreadable', {
        file: p.file,
        message: `${p.step}: ${p.ref}: ${p.message}`,
      });
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
    findings.add('export.unreadable', {
      file: w.file ?? source.describe(''),
      ...(w.member ? { member: w.member } : {}),
      message: err.message,
    });
  }
}
