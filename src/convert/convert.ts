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
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError, UsageError } from '../errors.ts';
import { releaseFrame } from '../buffers/index.ts';
import { checkManifestCounts, mismatchText } from '../export/manifest-check.ts';
import type { ManifestCheck } from '../export/manifest-check.ts';
import { frameSizeProblem, resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { openExport } from '../export/read.ts';
import type { ExportReader, LostRows } from '../export/read.ts';
import type { JsonObject, Step } from '../export/step.ts';
import { stepLocation } from '../export/step.ts';
import { COORDINATE_RULE } from '../frames/rescale.ts';
import { probeImage } from '../frames/probe.ts';
import { prepareFrames, targetSize } from '../frames/transform.ts';
import type { FrameOptions } from '../frames/transform.ts';
import { renderCard } from '../hf/card.ts';
import { DATASET_MANIFEST_FILE, DATASET_MANIFEST_VERSION, lostFileText } from '../hf/dataset-manifest.ts';
import type { DatasetFile, DatasetManifest, LostFile, OutputFormat, WebDatasetBalance } from '../hf/dataset-manifest.ts';
import { featuresToDict, featuresToYamlList } from '../hf/features.ts';
import { LabelVocab, pinLabels } from '../hf/labels.ts';
import { observeLabels, stepsFeatures, stepsRowNbytes, toStepsRow } from '../hf/steps-schema.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import { emptyFilterStats, describeFilters, filterSteps } from '../select/filters.ts';
import type { FilterOptions, FilterStats } from '../select/filters.ts';
import { createSplitter, makeSplitPlan } from '../select/split.ts';
import type { SplitOptions } from '../select/split.ts';
import { isoOfMs } from '../hf/timestamps.ts';
import { createJsonlSplitWriter } from '../write/jsonl.ts';
import { planShards, shardBalance, unevenSplitMessage } from '../write/shard-plan.ts';
import { ALL_FORMATS } from './formats.ts';
import { openOutput } from './output.ts';
import type { Output } from './output.ts';
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
  /** `--strict`: the export manifest's counts must match what was read (else a warning). */
  strict?: boolean;
  /** Bounds on lines, members, JSON depth and frame size (defaults: DEFAULT_LIMITS). */
  limits?: Partial<InputLimits>;
  /** Hosts, buckets or containers besides the export root that frames and data files may come from. */
  allowRemoteFrames?: string[];
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
  /** The export manifest's counts against what the plan pass read. */
  sourceChecks: ManifestCheck[];
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
  const common = { limits: opts.limits, allowRemote: opts.allowRemoteFrames ?? [] };
  return opts.onError === 'skip' ? { ...common, onError: () => 'skip' as const } : common;
}

/**
 * With --on-error skip, a step whose frame cannot be read, or whose header size is over the frame
 * limits, is dropped in BOTH passes, so the plan's counts match what the write pass produces.
 * (Without skip, the write pass fails on it instead.)
 */
async function* readableFramesOnly(steps: AsyncIterable<Step>, reader: ExportReader, check: boolean, limits: InputLimits): AsyncIterable<Step> {
  const skip = (reason: string, message: string): void => {
    reader.skipped.count++;
    reader.skipped.reasons.set(reason, (reader.skipped.reasons.get(reason) ?? 0) + 1);
    if (reader.skipped.examples.length < 5) reader.skipped.examples.push(message);
  };
  for await (const step of steps) {
    if (check) {
      let bytes: Uint8Array;
      try {
        bytes = await step.image.read();
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        skip('frame cannot be read', err.message);
        continue;
      }
      // The header only; a frame that is not an image fails in the write pass, as without skip.
      const probe = await probeImage(bytes).catch(() => null);
      const vp = step.frame.viewport;
      const tooBig = probe && vp.w > 0 && vp.h > 0 ? frameSizeProblem(probe.width, probe.height, vp, limits) : undefined;
      if (tooBig) {
        skip('frame over the size limits', `${step.origin.file}: ${stepLocation(step)}: frame image ${step.image.ref}: ${tooBig}`);
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
  const steps = readableFramesOnly(filterSteps(reader.steps(), opts.filters, filterStats), reader, opts.onError === 'skip', resolveLimits(opts.limits));
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
    sourceChecks: sourceChecks(reader),
  };
}

/**
 * The export manifest's counts against every row read, before filters. A row that could not be
 * read still counts as a row, an action and a frame (each row of an export pairs one of each).
 */
function sourceChecks(reader: ExportReader): ManifestCheck[] {
  const c = reader.counts;
  const bad = c.rows - c.readable;
  return checkManifestCounts(reader.manifest, { rows: c.rows, sessions: c.sessions, frames: c.frames + bad, actions: c.rows, shards: reader.files.length });
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
  const limits = resolveLimits(opts.limits);
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
    // What the export was allowed to reach besides its root, and the input limits it was read under.
    allow_remote_frames: [...(opts.allowRemoteFrames ?? [])].sort(),
    input_limits: {
      max_line_bytes: limits.maxLineBytes,
      max_member_bytes: limits.maxMemberBytes,
      max_json_depth: limits.maxJsonDepth,
      max_frame_pixels: limits.maxFramePixels,
      max_frame_scale: limits.maxFrameScale,
    },
  };
}

/**
 * A split whose samples cannot feed the planned ranks × workers equally (the row count forbids
 * it; the plan is as even as it can be): what convert says in its warning and the manifest.
 */
function unevenSplit(split: string, plan: number[], wds: WdsOptions): WebDatasetBalance | null {
  const job = wds.worldSize || wds.workers ? { w: wds.worldSize ?? 1, k: wds.workers ?? 1 } : wds.minShards ? { w: wds.minShards, k: 1 } : null;
  if (!job || job.w * job.k === 1 || plan.length < job.w * job.k) return null;
  const b = shardBalance(plan, job.w, job.k);
  if (b.slots[0] === b.slots[1]) return null;
  return { world_size: job.w, workers: job.k, rank_samples: b.ranks, worker_samples: b.slots, note: unevenSplitMessage(split, b, job.w, job.k) };
}

export async function convert(opts: ConvertOptions): Promise<ConvertResult> {
  if (opts.formats.length === 0) throw new UsageError('--formats: name at least one of ' + ALL_FORMATS.join(', '));
  for (const f of opts.formats) if (!ALL_FORMATS.includes(f)) throw new UsageError(`--formats: unknown format "${f}"; expected ${ALL_FORMATS.join(', ')}`);
  const split = { ...opts.split };
  if (split.split === undefined && split.splitBy === undefined && split.splitSessions === undefined) split.split = DEFAULT_SPLIT;
  const limits = resolveLimits(opts.limits);
  opts = { ...opts, split, limits, frames: { ...opts.frames, limits } };

  // The export's manifest: created_at anchors relative --since/--until and the tar mtime.
  const exportManifest = (await openExport(opts.input, { limits, allowRemote: opts.allowRemoteFrames ?? [] })).manifest;
  opts = { ...opts, filters: { ...opts.filters, referenceTime: opts.filters.referenceTime ?? exportManifest.created_at } };

  // One run at a time per output, from before the first byte is written until the new dataset is in place.
  const output = await openOutput(opts.out, opts.input);
  try {
    const result = await writeDataset(opts, exportManifest, output);
    await output.finish(result.manifest.files.map((f) => f.path));
    return { ...result, warnings: [...output.notes, ...result.warnings] };
  } catch (err) {
    await output.abort().catch(() => {});
    throw err;
  } finally {
    await output.release();
  }
}

async function writeDataset(opts: ConvertOptions, exportManifest: ExportReader['manifest'], output: Output): Promise<ConvertResult> {
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
  if (planned.rows === 0) throw noRowsError(planned);
  const mismatches = planned.sourceChecks.filter((c) => !c.ok).map(mismatchText);
  if (mismatches.length && opts.strict) {
    throw new InputError(`${mismatches.join('; ')} (convert --strict stops when the export manifest's counts differ from what was read)`, { file: 'manifest.json' });
  }
  for (const m of mismatches) warnings.push(`export ${m}`);

  const splitNames = orderSplits(planned.splits.keys());
  const features = stepsFeatures(labels);
  const sink = await output.openSink();
  const maxShardBytes = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  const created = Date.parse(exportManifest.created_at);
  const mtime = Number.isFinite(created) ? Math.floor(created / 1000) : 0;

  // Writers load only when their format is asked for (apache-arrow, hyparquet-writer: ~100-200 ms each).
  const parquet = opts.formats.includes('parquet') ? await import('../write/parquet.ts') : undefined;
  const arrow = opts.formats.includes('arrow') ? await import('../write/arrow.ts') : undefined;
  // One writer per split, fanning out to every requested format.
  const writers = new Map<string, SplitWriter<StepsRow>>();
  const wdsShards: WdsShardInfo[] = [];
  const wdsBalance: Record<string, WebDatasetBalance> = {};
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
      const uneven = unevenSplit(name, shardPlan, opts.wds);
      if (uneven) {
        warnings.push(uneven.note);
        wdsBalance[name] = uneven;
      }
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
    const steps = readableFramesOnly(filterSteps(reader.steps(), opts.filters), reader, opts.onError === 'skip', resolveLimits(opts.limits));
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
      // The owner's reference: a writer that keeps the frame past add() holds its own (src/buffers).
      releaseFrame(prepared.image.bytes);
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
    coordinates: { pixels: 'stored_image', normalized: 'x / stored width, y / stored height', fields: COORDINATE_RULE },
    image: {
      mode: opts.frames.maxSide || opts.frames.imageFormat || opts.frames.quality ? 'reencode' : 'passthrough',
      format: opts.frames.imageFormat ?? null,
      max_side: opts.frames.maxSide ?? null,
      quality: opts.frames.quality ?? null,
    },
    skipped: {
      count: planned.skipped.count,
      reasons: Object.fromEntries([...planned.skipped.reasons].sort()),
      files: planned.skipped.files.map(lostFile),
    },
    source_counts: { consistent: mismatches.length === 0, checks: planned.sourceChecks },
    filtered: filteredCounts(planned.filterStats),
    stats: planned.stats,
    formats: ALL_FORMATS.filter((f) => opts.formats.includes(f)),
    ...(Object.keys(wdsBalance).length ? { webdataset_balance: wdsBalance } : {}),
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

function lostFile(f: LostRows): LostFile {
  return { file: f.file, rows_read: f.rowsRead, rows_lost: f.rowsLost, counted_from: f.countedFrom, message: f.message };
}

/** Why nothing is left to convert: the filters (a usage problem), or input that could not be read. */
function noRowsError(planned: PlanResult): Error {
  const dropped = Object.values(planned.filterStats.dropped).reduce((a, n) => a + n, 0);
  if (dropped > 0) {
    const by = Object.entries(filteredCounts(planned.filterStats)).map(([f, n]) => `${f} ${n}`).join(', ');
    return new UsageError(`no rows left to convert after filters (dropped: ${by})`);
  }
  const s = planned.skipped;
  if (s.count > 0 || s.files.length > 0) {
    const first = s.files[0] ? lostFileText(lostFile(s.files[0])) : s.examples[0];
    return new InputError(`no rows to convert: none could be read (${s.count} skipped as bad input${first ? `; ${first}` : ''})`);
  }
  return new InputError('no rows to convert: the export has none');
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

