/**
 * `convert`: an export (any format, any source) → a dataset directory (any sink).
 *
 *  1. plan pass (plan-pass.ts): filters, splits, labels, counts, stats; no frame bytes but a few.
 *  2. write pass (write-pass.ts): rows streamed to each split's writers, one per format (src/formats).
 *  3. manifest and card (manifest-card.ts): README.md, then `dataset-manifest.json` last: a dataset
 *     without a manifest is incomplete.
 * All of it inside the output (output.ts): one run at a time per `--out`; finished on success,
 * aborted on failure (an earlier local dataset stays), the lock released either way.
 * A partitioned convert (partition.ts, finalize.ts) runs the same steps over several processes.
 *
 * An aborted `signal` is a failure like any other, seen between two rows: the run rejects with an
 * AbortError after that same cleanup (build folder or unfinished uploads dropped, workers stopped,
 * lock released). Once the manifest is being written the run completes instead.
 */
import { readFile } from 'node:fs/promises';
import { abortError, throwIfAborted } from '../abort.ts';
import { IntegrityError, UsageError } from '../errors.ts';
import { mismatchText } from '../export/manifest-check.ts';
import { locateExport } from '../export/read.ts';
import type { ExportReader, LocatedExport } from '../export/read.ts';
import type { FrameOptions } from '../frames/transform.ts';
import { parseJsonText, resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { ALL_FORMATS, isOutputFormat } from '../formats/registry.ts';
import type { EpisodesOptions } from '../configs/episodes.ts';
import { configModule } from '../configs/registry.ts';
import type { ExtraConfigName } from '../configs/registry.ts';
import type { SftOptions } from '../configs/sft.ts';
import type { WdsOptions } from '../formats/webdataset.ts';
import type { DatasetManifest, OutputFormat } from '../hf/dataset-manifest.ts';
import { LabelVocab, pinLabels } from '../hf/labels.ts';
import { stepsFeatures } from '../hf/steps-schema.ts';
import type { FilterOptions } from '../select/filters.ts';
import type { SplitOptions } from '../select/split.ts';
import { ProgressMeter } from '../progress.ts';
import type { ConvertProgressEvent } from '../progress.ts';
import { DEFAULT_SPLIT } from './defaults.ts';
import { buildManifest, writeCardAndManifest } from './manifest-card.ts';
import { openOutput } from './output.ts';
import type { Output } from './output.ts';
import { emptySplitNames, noRowsError, orderSplits, planPass } from './plan-pass.ts';
import type { PlanResult } from './plan-pass.ts';
import { refuseWhilePartitioned } from './partition-place.ts';
import type { Features } from '../hf/features.ts';
import { writePass } from './write-pass.ts';

export { ALL_FORMATS };
export { DEFAULT_MAX_SHARD_BYTES, DEFAULT_SPLIT } from './defaults.ts';
export type { WdsOptions };

export interface ConvertOptions {
  /** Export root: local path, s3://, az://, or https:// manifest URL. */
  input: string;
  /** Output root: local path, s3:// or az://. */
  out: string;
  /**
   * The formats of the `steps` config (`data/`, `webdataset/`, ...). Empty: no `steps` config, only
   * the extra configs named in `configs` (an sft-only dataset writes each frame once, not twice).
   */
  formats: OutputFormat[];
  /** `--configs`: the configs written beside `steps` (or alone, with `formats: []`; src/configs), as Parquet under `<name>/`. */
  configs?: ExtraConfigName[];
  /** Options of the `sft` config (src/configs/sft.ts). */
  sft?: SftOptions;
  /** Options of the `episodes` config (src/configs/episodes.ts). */
  episodes?: EpisodesOptions;
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
  /** https:// requests (an https export, its frames) go through it. Default globalThis.fetch. */
  fetch?: typeof fetch;
  license?: string;
  tags?: string[];
  prettyName?: string;
  repoId?: string;
  /**
   * Progress events (src/progress.ts): `plan`, `write` (rows written of the planned rows), then
   * `finalize`. The CLI's progress bar is drawn from them.
   */
  onProgress?: (event: ConvertProgressEvent) => void;
  /**
   * Aborts the convert: it rejects with an AbortError (name 'AbortError', the signal's reason as
   * `cause`) and leaves `out` as a killed run would at worst: nothing new under a final name
   * locally, no manifest on an object store, the lock released.
   */
  signal?: AbortSignal;
}

export interface ConvertResult {
  out: string;
  manifest: DatasetManifest;
  warnings: string[];
}

export async function convert(opts: ConvertOptions): Promise<ConvertResult> {
  const { signal } = opts;
  throwIfAborted(signal);
  const resolved = await resolveConvertOptions(opts);
  opts = resolved.opts;
  const exportManifest = resolved.exportManifest;
  throwIfAborted(signal);
  const progress = opts.onProgress ? new ProgressMeter<ConvertProgressEvent>('convert', opts.onProgress, () => ({})) : undefined;

  // One run at a time per output, from before the first byte is written until the new dataset is in place.
  const output = await openOutput(opts.out, opts.input);
  try {
    await refuseWhilePartitioned(opts.out);
    const result = await writeDataset(opts, exportManifest, output, progress, resolved.located);
    await output.finish(result.manifest.files.map((f) => f.path));
    if (progress) {
      progress.filesDone = progress.filesTotal = result.manifest.files.length + CARD_AND_MANIFEST;
      progress.flush();
    }
    return { ...result, warnings: [...output.notes, ...result.warnings] };
  } catch (err) {
    await output.abort().catch(() => {});
    // Whatever failed once the signal fired (a read or an upload cut short) is the abort.
    if (signal?.aborted) throw abortError(signal);
    throw err;
  } finally {
    await output.release();
  }
}

/** README.md and dataset-manifest.json: written beside the files the manifest lists. */
const CARD_AND_MANIFEST = 2;

/** Defaults filled in and checked; the export's manifest read (created_at anchors relative times). */
export async function resolveConvertOptions(
  opts: ConvertOptions,
): Promise<{ opts: ConvertOptions; exportManifest: ExportReader['manifest']; located: LocatedExport }> {
  if (opts.formats.length === 0 && !opts.configs?.length) throw new UsageError('--formats: name at least one of ' + ALL_FORMATS.join(', '));
  for (const f of opts.formats)
    if (!isOutputFormat(f)) throw new UsageError(`--formats: unknown format "${f}"; expected ${ALL_FORMATS.join(', ')}`);
  // The card's configs share one builder, the first config's: the extra configs are Parquet, so `data/` must be too.
  if (opts.configs?.length && opts.formats.length && !opts.formats.includes('parquet'))
    throw new UsageError(
      `--configs ${opts.configs.join(',')}: these configs are written as Parquet beside data/; add parquet to --formats`,
    );
  for (const c of opts.configs ?? []) opts = await configModule(c).prepare(opts);
  const split = { ...opts.split };
  if (split.split === undefined && split.splitBy === undefined && split.splitSessions === undefined) split.split = DEFAULT_SPLIT;
  const limits = resolveLimits(opts.limits);
  opts = { ...opts, split, limits, frames: { ...opts.frames, limits } };

  // The export's manifest: created_at anchors relative --since/--until and the tar mtime.
  // Found once: the plan pass reads the data files listed here.
  const located = await locateExport(opts.input, { limits, allowRemote: opts.allowRemoteFrames ?? [], fetch: opts.fetch });
  const exportManifest = located.manifest;
  opts = {
    ...opts,
    filters: {
      ...opts.filters,
      referenceTime: opts.filters.referenceTime ?? exportManifest.created_at,
      maxFramePixels: limits.maxFramePixels,
    },
  };
  return { opts, exportManifest, located };
}

async function writeDataset(
  opts: ConvertOptions,
  exportManifest: ExportReader['manifest'],
  output: Output,
  progress: ProgressMeter<ConvertProgressEvent> | undefined,
  located: LocatedExport,
): Promise<ConvertResult> {
  const plan = await planDataset(opts, exportManifest, progress, located);
  const { planned, splitNames, features, labels, mtime, warnings, mismatches } = plan;
  const sink = await output.openSink();
  const written = await writePass({ opts, planned, splitNames, features, labels, sink, mtime, warnings, progress });
  const input = { opts, exportManifest, planned, splitNames, features, labels, written, mismatches };
  const manifest = await buildManifest(input);
  // The last point an abort stops the run: on an object store the manifest lands under its final name.
  throwIfAborted(opts.signal);
  await writeCardAndManifest(sink, manifest, input);
  return { out: opts.out, manifest, warnings };
}

/** What the plan pass decided, with its verdicts: everything the write pass and the manifest need. */
export interface PlannedDataset {
  planned: PlanResult;
  labels: LabelVocab;
  splitNames: string[];
  features: Features;
  /** The export's created_at in integer seconds (tar member mtime). */
  mtime: number;
  warnings: string[];
  mismatches: string[];
}

/** The plan pass, then its verdicts (nothing to convert, --strict, warnings). */
export async function planDataset(
  opts: ConvertOptions,
  exportManifest: ExportReader['manifest'],
  progress?: ProgressMeter<ConvertProgressEvent>,
  /** The export as resolveConvertOptions found it (else found again). */
  located?: LocatedExport,
): Promise<PlannedDataset> {
  const labels = opts.labelsFrom
    ? pinLabels(
        parseJsonText(await readFile(opts.labelsFrom, 'utf8'), resolveLimits(opts.limits).maxJsonDepth, { file: opts.labelsFrom }),
        opts.labelsFrom,
      )
    : new LabelVocab();
  progress?.start('plan', { rowsTotal: typeof exportManifest.rows === 'number' ? exportManifest.rows : null });
  const planned = await planPass(opts, labels, progress, located);
  labels.freeze();
  return planVerdicts(opts, exportManifest, planned, labels);
}

/** Warnings and refusals of a plan (again for a plan read back from a plan file: the same words). */
export function planVerdicts(
  opts: ConvertOptions,
  exportManifest: ExportReader['manifest'],
  planned: PlanResult,
  labels: LabelVocab,
): PlannedDataset {
  const warnings: string[] = [];
  for (const name of emptySplitNames(opts, planned)) warnings.push(`split ${name} got no sessions and is left out`);
  const appended = labels.appended();
  if (appended.action_type.length || appended.outcome.length) {
    warnings.push(`labels appended beyond the ${opts.labelsFrom ? 'pinned' : 'known'} vocabulary: ${JSON.stringify(appended)}`);
  }
  if (planned.rows === 0) throw noRowsError(planned);
  const mismatches = planned.sourceChecks.filter((c) => !c.ok).map(mismatchText);
  if (mismatches.length && opts.strict) {
    throw new IntegrityError(
      `${mismatches.join('; ')} (convert --strict stops when the export manifest's counts differ from what was read)`,
      {
        file: 'manifest.json',
      },
    );
  }
  for (const m of mismatches) warnings.push(`export ${m}`);

  const splitNames = orderSplits(planned.splits.keys());
  const features = stepsFeatures(labels);
  const created = Date.parse(exportManifest.created_at);
  const mtime = Number.isFinite(created) ? Math.floor(created / 1000) : 0;
  return { planned, labels, splitNames, features, mtime, warnings, mismatches };
}
