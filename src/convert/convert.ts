/**
 * `convert`: an export (any format, any source) → a dataset directory (any sink).
 *
 * Two streaming passes over the export:
 *  1. plan — filters, split assignment, label vocabulary, counts and stats, without reading frame
 *     bytes (except a few, to size shards). Every output's schema and shard names (`-of-N`) need
 *     these before the first byte is written.
 *  2. write — the same filters and splits, frames prepared (passthrough or re-encoded in workers),
 *     one `StepsRow` per step routed to the split's writers (one per format). Awaiting each write is
 *     the backpressure: memory does not grow with the dataset.
 * Then the card and, last, `dataset-manifest.json`: a dataset without a manifest is incomplete.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, UsageError } from '../errors.ts';
import { openExport } from '../export/read.ts';
import type { ExportReader } from '../export/read.ts';
import type { JsonObject, Step } from '../export/step.ts';
import { stepLocation } from '../export/step.ts';
import { prepareFrames, targetSize } from '../frames/transform.ts';
import type { FrameOptions } from '../frames/transform.ts';
import { renderCard } from '../hf/card.ts';
import { DATASET_MANIFEST_FILE, DATASET_MANIFEST_VERSION } from '../hf/dataset-manifest.ts';
import type { DatasetFile, DatasetManifest, OutputFormat } from '../hf/dataset-manifest.ts';
import { featuresToDict, featuresToYamlList } from '../hf/features.ts';
import { LabelVocab, pinLabels } from '../hf/labels.ts';
import { observeLabels, stepsFeatures, stepsRowNbytes, toStepsRow } from '../hf/steps-schema.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import { emptyFilterStats, describeFilters, filterSteps } from '../select/filters.ts';
import type { FilterOptions, FilterStats } from '../select/filters.ts';
import { createSplitter, makeSplitPlan } from '../select/split.ts';
import type { SplitOptions } from '../select/split.ts';
import { isoOfMs } from '../hf/timestamps.ts';
import { openSink } from '../sink/open.ts';
import { recycleFrame } from '../source/local.ts';
import { createJsonlSplitWriter } from '../write/jsonl.ts';
import { planShards } from '../write/shard-plan.ts';
import { ALL_FORMATS } from './formats.ts';
import { fanOut } from '../write/shards.ts';
import type { SplitWriter, WrittenFile } from '../write/shards.ts';
import { createWdsSplitWriter } from './wds-rows.ts';
import type { WdsOptions } from './wds-rows.ts';
import { writeWidsIndex } from '../write/wids-index.ts';
import type { WdsShardInfo } from '../write/webdataset.ts';

export { ALL_FORMATS };
export const DEFAULT_SPLIT = 'train=0.9,validation=0.05,test=0.05';
/** `datasets`' own shard size for push_to_hub and save_to_disk (decimal bytes). */
export const DEFAULT_MAX_SHARD_BYTES = 500_000_000;
/** How many frames the planning pass reads to estimate bytes per row (shard counts). */
const SIZE_PROBE_FRAMES = 32;
/** Per-row bytes besides the frame (JSON text columns, a11y tree...), a rough floor for estimates. */
const ROW_OVERHEAD_BYTES = 2_000;

export interface ConvertOptions {
  /** Export root: local path, s3://, az://, or https:// manifest URL. */
  input: string;
  /** Output root: local path, s3:// or az://. */
  out: string;
  formats: OutputFormat[];
  split: SplitOptions;
  filters: FilterOptions;
  frames: FrameOptions;
  /** `--labels-from`: an earlier dataset-manifest.json whose label ids are kept. */
  labelsFrom?: string;
  /** Parquet and Arrow shards (default 500 MB, like datasets). */
  maxShardBytes?: number;
  wds: WdsOptions;
  onError: 'stop' | 'skip';
  license?: string;
  tags?: string[];
  prettyName?: string;
  repoId?: string;
  /** Called with (rows, bytes) as rows are written — the CLI's progress bar. */
  onProgress?: (rows: number, bytes: number) => void;
  /** Called once the planning pass knows the row count. */
  onPlanned?: (rows: number) => void;
}

export interface ConvertResult {
  out: string;
  manifest: DatasetManifest;
  warnings: string[];
}

interface SplitCounts {
  rows: number;
  sessions: number;
  numBytes: number;
}

interface PlanResult {
  splits: Map<string, SplitCounts>;
  labels: LabelVocab;
  stats: DatasetManifest['stats'];
  viewports: Map<string, { w: number; h: number; rows: number }>;
  approxBytesPerRow: number;
  filterStats: FilterStats;
  skipped: ExportReader['skipped'];
  rows: number;
}

function increment(m: Record<string, number>, key: unknown): void {
  const k = typeof key === 'string' ? key : key === undefined || key === null ? '(none)' : JSON.stringify(key);
  m[k] = (m[k] ?? 0) + 1;
}

function sortedRecord(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `--on-error skip`: the reader skips bad rows; frames that cannot be read are checked here too. */
function readerOptions(opts: ConvertOptions) {
  return opts.onError === 'skip' ? { onError: () => 'skip' as const } : {};
}

/**
 * With --on-error skip, a step whose frame cannot be read is dropped in BOTH passes, so the plan's
 * counts match what the write pass produces. (Without skip, the write pass fails on it instead.)
 */
async function* readableFramesOnly(steps: AsyncIterable<Step>, reader: ExportReader, check: boolean): AsyncIterable<Step> {
  for await (const step of steps) {
    if (check) {
      try {
        await step.image.read();
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        const reason = 'frame cannot be read';
        reader.skipped.count++;
        reader.skipped.reasons.set(reason, (reader.skipped.reasons.get(reason) ?? 0) + 1);
        if (reader.skipped.examples.length < 5) reader.skipped.examples.push(err.message);
        continue;
      }
    }
    yield step;
  }
}

async function planPass(opts: ConvertOptions, labels: LabelVocab): Promise<PlanResult> {
  const reader = await openExport(opts.input, readerOptions(opts));
  const plan = await makeSplitPlan(opts.split);
  const splitter = createSplitter(plan);
  const filterStats = emptyFilterStats();
  const splits = new Map<string, SplitCounts>();
  const stats: DatasetManifest['stats'] = { workflows: {}, outcomes: {}, action_types: {}, actor_kinds: {} };
  const viewports = new Map<string, { w: number; h: number; rows: number }>();
  let lastSession: string | undefined;
  let rows = 0;
  let probedBytes = 0;
  let probed = 0;
  const steps = readableFramesOnly(filterSteps(reader.steps(), opts.filters, filterStats), reader, opts.onError === 'skip');
  for await (const step of steps) {
    rows++;
    const split = splitter.assign(step);
    let s = splits.get(split);
    if (!s) splits.set(split, (s = { rows: 0, sessions: 0, numBytes: 0 }));
    s.rows++;
    if (step.session_id !== lastSession) {
      s.sessions++;
      lastSession = step.session_id;
    }
    observeLabels(labels, step);
    increment(stats.workflows, step.context.workflow);
    increment(stats.outcomes, step.context.outcome);
    increment(stats.action_types, step.action?.type);
    const actor = step.context.actor;
    increment(stats.actor_kinds, actor && typeof actor === 'object' && !Array.isArray(actor) ? actor.kind : undefined);
    const vp = step.frame.viewport;
    if (vp && typeof vp.w === 'number' && typeof vp.h === 'number') {
      const key = `${vp.w}x${vp.h}`;
      const v = viewports.get(key) ?? { w: vp.w, h: vp.h, rows: 0 };
      v.rows++;
      viewports.set(key, v);
    }
    if (probed < SIZE_PROBE_FRAMES) {
      // Frame sizes only set shard counts; a frame that fails here fails properly in the write pass.
      const bytes = await step.image.read().catch(() => null);
      if (bytes) {
        probed++;
        probedBytes += bytes.length * storedSizeFactor(opts.frames, vp);
      }
    }
  }
  return {
    splits,
    labels,
    stats: {
      workflows: sortedRecord(stats.workflows),
      outcomes: sortedRecord(stats.outcomes),
      action_types: sortedRecord(stats.action_types),
      actor_kinds: sortedRecord(stats.actor_kinds),
    },
    viewports,
    approxBytesPerRow: (probed ? probedBytes / probed : 100_000) + ROW_OVERHEAD_BYTES,
    filterStats,
    skipped: reader.skipped,
    rows,
  };
}

/** Rough ratio of stored to captured frame bytes (pixel count) when resizing; 1 in passthrough. */
function storedSizeFactor(frames: FrameOptions, vp: { w: number; h: number } | undefined): number {
  if (!frames.maxSide || !vp || typeof vp.w !== 'number') return 1;
  const t = targetSize(vp.w, vp.h, frames.maxSide);
  return (t.width * t.height) / (vp.w * vp.h);
}

/** Split order for the card and dataset_dict: train, validation, test, then the rest by name. */
function orderSplits(names: Iterable<string>): string[] {
  const rank = (n: string) => ['train', 'validation', 'test'].indexOf(n);
  return [...names].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    if (ra >= 0 || rb >= 0) return (ra < 0 ? 99 : ra) - (rb < 0 ? 99 : rb);
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

function manifestFile(f: WrittenFile | WdsShardInfo, format: OutputFormat, rowsOf: (f: WrittenFile) => number | null): DatasetFile {
  if ('first_key' in f) {
    return { path: f.path, format, split: f.split, rows: f.rows, bytes: f.bytes, sha256: f.sha256, first_key: f.first_key, last_key: f.last_key };
  }
  return { path: f.path, format, split: f.split || null, rows: rowsOf(f), bytes: f.bytes, sha256: f.sha256 };
}

const FORMAT_OF: Record<WrittenFile['format'], OutputFormat> = {
  parquet: 'parquet',
  arrow: 'arrow',
  'arrow-meta': 'arrow',
  jsonl: 'jsonl',
  'jsonl-frame': 'jsonl',
};

/** Options as recorded in the manifest: what shaped the data, nothing of this machine. */
async function recordedOptions(opts: ConvertOptions): Promise<JsonObject> {
  const fileRef = async (p: string | undefined): Promise<JsonObject | null> =>
    p === undefined ? null : { name: path.basename(p), sha256: createHash('sha256').update(new Uint8Array(await readFile(p))).digest('hex') };
  const f = opts.filters;
  return {
    formats: opts.formats,
    split: opts.split.split ?? (opts.split.splitBy || opts.split.splitSessions ? null : DEFAULT_SPLIT),
    seed: String(opts.split.seed ?? 0),
    split_by: opts.split.splitBy ?? null,
    split_sessions: await fileRef(opts.split.splitSessions),
    labels_from: await fileRef(opts.labelsFrom),
    filters: {
      workflow: f.workflow ?? null,
      outcome: f.outcome ?? null,
      actor_kind: f.actorKind ?? null,
      tag: f.tag ?? null,
      path: f.path ?? null,
      since: f.since ?? null,
      until: f.until ?? null,
      min_duration_ms: f.minDurationMs ?? null,
      max_duration_ms: f.maxDurationMs ?? null,
      exclude_sessions: await fileRef(f.excludeSessionsFile),
      frames: f.frames ?? 'all',
    },
    max_side: opts.frames.maxSide ?? null,
    image_format: opts.frames.imageFormat ?? null,
    quality: opts.frames.quality ?? null,
    max_shard_bytes: opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
    webdataset: opts.formats.includes('webdataset')
      ? { shard_bytes: opts.wds.shardBytes ?? null, shard_samples: opts.wds.shardSamples ?? null, min_shards: opts.wds.minShards ?? null, sidecar: opts.wds.sidecar ?? null }
      : null,
    on_error: opts.onError,
  };
}

export async function convert(opts: ConvertOptions): Promise<ConvertResult> {
  if (opts.formats.length === 0) throw new UsageError('--formats: name at least one of ' + ALL_FORMATS.join(', '));
  for (const f of opts.formats) if (!ALL_FORMATS.includes(f)) throw new UsageError(`--formats: unknown format "${f}"; expected ${ALL_FORMATS.join(', ')}`);
  const split = { ...opts.split };
  if (split.split === undefined && split.splitBy === undefined && split.splitSessions === undefined) split.split = DEFAULT_SPLIT;
  opts = { ...opts, split };

  // The export's manifest: created_at anchors relative --since/--until and the tar mtime.
  const exportManifest = (await openExport(opts.input, {})).manifest;
  opts = { ...opts, filters: { ...opts.filters, referenceTime: opts.filters.referenceTime ?? exportManifest.created_at } };

  const labels = opts.labelsFrom
    ? pinLabels(JSON.parse(await readFile(opts.labelsFrom, 'utf8')) as unknown, opts.labelsFrom)
    : new LabelVocab();
  const planned = await planPass(opts, labels);
  labels.freeze();
  opts.onPlanned?.(planned.rows);

  const warnings: string[] = [];
  for (const name of emptySplitNames(opts, planned)) warnings.push(`split ${name} got no sessions and is left out`);
  const appended = labels.appended();
  if (appended.action_type.length || appended.outcome.length) {
    warnings.push(`labels appended beyond the ${opts.labelsFrom ? 'pinned' : 'known'} vocabulary: ${JSON.stringify(appended)}`);
  }
  if (planned.rows === 0) throw new UsageError('no rows left to convert after filters');

  const splitNames = orderSplits(planned.splits.keys());
  const features = stepsFeatures(labels);
  const sink = await openSink(opts.out);
  await clearLocalOut(opts.out);
  const maxShardBytes = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  const created = Date.parse(exportManifest.created_at);
  const mtime = Number.isFinite(created) ? Math.floor(created / 1000) : 0;

  // Writers load only when their format is asked for (apache-arrow, hyparquet-writer: ~100-200 ms each).
  const parquet = opts.formats.includes('parquet') ? await import('../write/parquet.ts') : undefined;
  const arrow = opts.formats.includes('arrow') ? await import('../write/arrow.ts') : undefined;
  // One writer per split, fanning out to every requested format.
  const writers = new Map<string, SplitWriter<StepsRow>>();
  const wdsShards: WdsShardInfo[] = [];
  for (const name of splitNames) {
    const counts = planned.splits.get(name)!;
    const numShards = Math.max(1, Math.min(counts.rows, Math.ceil((counts.rows * planned.approxBytesPerRow) / maxShardBytes)));
    const plan = { split: name, totalRows: counts.rows, numShards, features };
    const perFormat: SplitWriter<StepsRow>[] = [];
    if (parquet) perFormat.push(parquet.createParquetSplitWriter<StepsRow>(sink, plan));
    if (arrow) perFormat.push(arrow.createArrowSplitWriter<StepsRow>(sink, plan));
    if (opts.formats.includes('jsonl')) perFormat.push(createJsonlSplitWriter<StepsRow>(sink, plan));
    if (opts.formats.includes('webdataset')) {
      const shardPlan = planShards({
        totalSamples: counts.rows,
        approxBytesPerSample: planned.approxBytesPerRow,
        shardBytes: opts.wds.shardBytes,
        shardSamples: opts.wds.shardSamples,
        minShards: opts.wds.minShards,
        split: name,
      });
      perFormat.push(createWdsSplitWriter(sink, { split: name, totalSamples: counts.rows, plan: shardPlan, mtime, sidecarMp: opts.wds.sidecar === 'mp', labels: labels.toJSON() }, wdsShards));
    }
    writers.set(name, fanOut(perFormat));
  }

  const files: WrittenFile[] = [];
  let example: Record<string, unknown> | undefined;
  try {
    const reader = await openExport(opts.input, readerOptions(opts));
    const plan = await makeSplitPlan(opts.split);
    const splitter = createSplitter(plan);
    const steps = readableFramesOnly(filterSteps(reader.steps(), opts.filters), reader, opts.onError === 'skip');
    let session: string | undefined;
    let stepIndex = 0;
    for await (const prepared of prepareFrames(steps, opts.frames)) {
      const step = prepared.step;
      if (step.session_id !== session) {
        session = step.session_id;
        stepIndex = 0;
      } else stepIndex++;
      const name = splitter.assign(step);
      const writer = writers.get(name);
      if (!writer) throw new Error(`${stepLocation(step)}: split ${name} was not planned`);
      const row = toStepsRow(prepared, stepIndex, labels);
      planned.splits.get(name)!.numBytes += stepsRowNbytes(row);
      if (!example && name === splitNames[0]) example = exampleRow(row, labels);
      const frameBytes = prepared.image.bytes.length;
      await writer.add(row);
      // Every writer has copied or written the frame by now (writers keep no row's bytes past add).
      recycleFrame(prepared.image.bytes);
      opts.onProgress?.(1, frameBytes);
    }
    for (const name of splitNames) files.push(...(await writers.get(name)!.finish()));
  } catch (err) {
    for (const w of writers.values()) await w.abort().catch(() => {});
    throw err;
  }

  const datasetFiles: DatasetFile[] = files.map((f) => manifestFile(f, FORMAT_OF[f.format], (x) => (x.format === 'parquet' || x.format === 'arrow' || x.format === 'jsonl' ? x.rows : null)));
  if (arrow) {
    const dd = await arrow.writeArrowDatasetDict(sink, splitNames);
    datasetFiles.push(manifestFile(dd, 'arrow', () => null));
  }
  if (opts.formats.includes('webdataset')) {
    for (const s of wdsShards) datasetFiles.push(manifestFile(s, 'webdataset', () => null));
    for (const name of splitNames) {
      const idx = await writeWidsIndex(sink, name, wdsShards.filter((s) => s.split === name));
      datasetFiles.push({ path: idx.path, format: 'webdataset', split: name, rows: null, bytes: idx.bytes, sha256: idx.sha256 });
    }
  }
  datasetFiles.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const manifest: DatasetManifest = {
    manifest_version: DATASET_MANIFEST_VERSION,
    generator: { name: 'nusomi-hf', version: await packageVersion() },
    source_manifest: exportManifest.raw,
    options: await recordedOptions(opts),
    features: featuresToDict(features) as JsonObject,
    labels: labels.toJSON(),
    labels_appended: appended,
    splits: Object.fromEntries(splitNames.map((n) => [n, { rows: planned.splits.get(n)!.rows, sessions: planned.splits.get(n)!.sessions }])),
    viewports: [...planned.viewports.values()].sort((a, b) => a.w - b.w || a.h - b.h),
    coordinates: { pixels: 'stored_image', normalized: 'x / stored width, y / stored height' },
    image: {
      mode: opts.frames.maxSide || opts.frames.imageFormat || opts.frames.quality ? 'reencode' : 'passthrough',
      format: opts.frames.imageFormat ?? null,
      max_side: opts.frames.maxSide ?? null,
      quality: opts.frames.quality ?? null,
    },
    skipped: { count: planned.skipped.count, reasons: Object.fromEntries([...planned.skipped.reasons].sort()) },
    filtered: filteredCounts(planned.filterStats),
    stats: planned.stats,
    formats: ALL_FORMATS.filter((f) => opts.formats.includes(f)),
    files: datasetFiles,
  };
  manifest.options.filter_summary = describeFilters(opts.filters);

  const card = renderCard({
    manifest,
    featuresYaml: featuresToYamlList(features),
    splitNumBytes: Object.fromEntries(splitNames.map((n) => [n, planned.splits.get(n)!.numBytes])),
    example,
    license: opts.license,
    tags: opts.tags,
    prettyName: opts.prettyName,
    repoId: opts.repoId,
  });
  await sink.writeFile('README.md', new TextEncoder().encode(card));
  // Last: its presence means every file it lists is complete.
  await sink.writeFile(DATASET_MANIFEST_FILE, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  return { out: opts.out, manifest, warnings };
}

/** What convert writes at a dataset root. `loaders/` (the loaders command's) and hidden entries are left alone. */
const CONVERT_ENTRIES = new Set(['README.md', DATASET_MANIFEST_FILE, 'data', 'arrow', 'jsonl', 'webdataset']);
const KEPT_ENTRIES = new Set(['loaders']);
const ROOT_TEMP = /^\.(README\.md|dataset-manifest\.json)\.tmp-/;

/**
 * A local --out that holds an earlier convert: drop its manifest first (until the new one is
 * written the folder is incomplete), then its files, so stale shards (another `-of-N`) never join
 * the card's `data/{split}-*` globs. A folder with anything else in it is refused, never emptied.
 * Remote sinks overwrite file by file (object stores have no folders to clear).
 */
async function clearLocalOut(out: string): Promise<void> {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(out) && !out.startsWith('file:')) return;
  const dir = out.startsWith('file:') ? fileURLToPath(out) : out;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UsageError(`--out ${out}: cannot read the folder: ${(err as Error).message}`);
  }
  const foreign = entries.filter((e) => !CONVERT_ENTRIES.has(e) && !KEPT_ENTRIES.has(e) && !e.startsWith('.'));
  if (foreign.length) {
    throw new UsageError(`--out ${out} holds files convert did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); choose a new or empty folder, or an earlier convert's output`);
  }
  await rm(path.join(dir, DATASET_MANIFEST_FILE), { force: true });
  for (const e of entries) {
    if ((CONVERT_ENTRIES.has(e) && e !== DATASET_MANIFEST_FILE) || ROOT_TEMP.test(e)) await rm(path.join(dir, e), { recursive: true, force: true });
  }
}

function emptySplitNames(opts: ConvertOptions, planned: PlanResult): string[] {
  // Splits named in --split that received no session (small exports, small ratios): left out, with a warning.
  const spec = opts.split.split ?? '';
  const named = spec.split(',').map((p) => p.split('=')[0]!.trim()).filter((n) => /^\w+(\.\w+)*$/.test(n));
  return named.filter((n) => !planned.splits.has(n));
}

function filteredCounts(s: FilterStats): Record<string, number> {
  return Object.fromEntries(Object.entries(s.dropped).filter(([, n]) => n > 0));
}

/** A short example for the card: the steps row with the image bytes left out and labels named. */
function exampleRow(row: StepsRow, labels: LabelVocab): Record<string, unknown> {
  const l = labels.toJSON();
  const named = (a: StepsRow['action'] | null) => (a ? { ...a, type: l.action_type[a.type] ?? a.type } : null);
  return {
    ...row,
    image: { path: row.image.path, bytes: `<${row.image.bytes.length} bytes>` },
    action: named(row.action),
    prior_action: named(row.prior_action),
    outcome: row.outcome === null ? null : l.outcome[row.outcome],
    started_at: row.started_at === null ? null : isoOfMs(row.started_at),
    dom: row.dom && row.dom.length > 200 ? row.dom.slice(0, 200) + '…' : row.dom,
    accessibility_tree: row.accessibility_tree && row.accessibility_tree.length > 200 ? row.accessibility_tree.slice(0, 200) + '…' : row.accessibility_tree,
  };
}

let versionCache: string | undefined;
async function packageVersion(): Promise<string> {
  if (!versionCache) {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    versionCache = pkg.version;
  }
  return versionCache;
}

