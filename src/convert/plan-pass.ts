/**
 * Pass 1 of convert: filters, split assignment, label vocabulary, counts and stats, without reading
 * frame bytes (except a few, to size shards). Every output's schema and shard names (`-of-N`)
 * need these before the first byte is written. Also the plan's verdicts: why nothing is left to
 * convert, which named splits stayed empty.
 */
import { abortError } from '../abort.ts';
import { InputError, UsageError } from '../errors.ts';
import { checkManifestCounts } from '../export/manifest-check.ts';
import type { ManifestCheck } from '../export/manifest-check.ts';
import { openExport } from '../export/read.ts';
import type { ExportReader, LocatedExport, LostRows, ReadPosition } from '../export/read.ts';
import type { Step } from '../export/step.ts';
import { stepLocation } from '../export/step.ts';
import { probeImage } from '../frames/probe.ts';
import { targetSize } from '../frames/transform.ts';
import type { FrameOptions } from '../frames/transform.ts';
import { lostFileText } from '../hf/dataset-manifest.ts';
import type { DatasetManifest, LostFile } from '../hf/dataset-manifest.ts';
import type { LabelVocab } from '../hf/labels.ts';
import { SPLIT_NAME } from '../hf/split-name.ts';
import { observeLabels } from '../hf/steps-schema.ts';
import { emptyFilterStats, filterSteps } from '../select/filters.ts';
import type { FilterStats } from '../select/filters.ts';
import { createSplitter, makeSplitPlan } from '../select/split.ts';
import { frameSizeProblem, resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { byKey, compareStrings } from '../util/compare.ts';
import type { ConvertOptions } from './convert.ts';
import type { ConvertProgressEvent, ProgressMeter } from '../progress.ts';

/** How many frames the planning pass reads to estimate bytes per row (shard counts). */
const SIZE_PROBE_FRAMES = 32;
/** Resume points kept at most (thinned to every other one past this); partitions start from the nearest. */
const MAX_RESUME_POINTS = 4096;
/** Per-row bytes besides the frame (JSON text columns, a11y tree...), a rough floor for estimates. */
const ROW_OVERHEAD_BYTES = 2_000;

export interface SplitCounts {
  rows: number;
  sessions: number;
  /** Arrow bytes of the split's rows, summed by the write pass (the card's `num_bytes`). */
  numBytes: number;
}

export interface PlanResult {
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
  /** Session starts a partition can start reading at (in export order, at most MAX_RESUME_POINTS). */
  resumePoints: ResumePoint[];
}

/** Where a session starts in the export, and how many rows (and sessions) each split held before it. */
export interface ResumePoint extends ReadPosition {
  before: Record<string, number>;
  /** Sessions of each split before it (a config whose rows are sessions, episodes, counts its shards in them). */
  sessions?: Record<string, number>;
}

/**
 * Keeps resume points spread over the export without knowing its length: one at a session start
 * at least `gap` rows after the last; when full, every other one goes and the gap doubles.
 */
class ResumePoints {
  readonly points: ResumePoint[] = [];
  private gap = 1;
  private lastRows = -Infinity;
  add(at: ReadPosition, rows: number, splits: Map<string, SplitCounts>): void {
    if (rows - this.lastRows < this.gap) return;
    // No prototype: a split may be named `__proto__` (it matches the split-name rule).
    const before: Record<string, number> = Object.create(null);
    const sessions: Record<string, number> = Object.create(null);
    for (const [name, s] of splits) {
      before[name] = s.rows;
      sessions[name] = s.sessions;
    }
    this.points.push({ file: at.file, item: at.item, before, sessions });
    this.lastRows = rows;
    if (this.points.length >= MAX_RESUME_POINTS) {
      const kept = this.points.filter((_, i) => i % 2 === 0);
      this.points.splice(0, this.points.length, ...kept);
      this.gap *= 2;
    }
  }
}

function increment(m: Record<string, number>, key: unknown): void {
  const k = typeof key === 'string' ? key : key === undefined || key === null ? '(none)' : JSON.stringify(key);
  m[k] = (m[k] ?? 0) + 1;
}

function sortedRecord(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).sort(byKey));
}

/** `--on-error skip`: the reader skips bad rows; frames that cannot be read are checked here too. */
export function readerOptions(opts: ConvertOptions) {
  const common = { limits: opts.limits, allowRemote: opts.allowRemoteFrames ?? [], fetch: opts.fetch };
  return opts.onError === 'skip' ? { ...common, onError: () => 'skip' as const } : common;
}

/**
 * With --on-error skip, a step whose frame cannot be read, or whose header size is over the frame
 * limits, is dropped in BOTH passes, so the plan's counts match what the write pass produces.
 * (Without skip, the write pass fails on it instead.)
 */
export async function* readableFramesOnly(
  steps: AsyncIterable<Step>,
  reader: ExportReader,
  check: boolean,
  limits: InputLimits,
): AsyncIterable<Step> {
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

/** `progress` is in its `plan` phase: rows read of the export manifest's rows. */
export async function planPass(
  opts: ConvertOptions,
  labels: LabelVocab,
  progress?: ProgressMeter<ConvertProgressEvent>,
  located?: LocatedExport,
): Promise<PlanResult> {
  const { signal } = opts;
  const sessionStarts = new Map<string, ReadPosition>();
  const reader = await openExport(opts.input, { ...readerOptions(opts), sessionStarts, located });
  const resumePoints = new ResumePoints();
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
  const filtered = filterSteps(reader.steps(), opts.filters, filterStats);
  // Without skip no frame is checked here: no pass-through layer per row either.
  const steps = opts.onError === 'skip' ? readableFramesOnly(filtered, reader, true, resolveLimits(opts.limits)) : filtered;
  for await (const step of steps) {
    if (signal?.aborted) throw abortError(signal);
    if (step.session_id !== lastSession) {
      // The reader may be a session ahead (duration filters); sessions filtered out whole are passed over.
      for (const [id, at] of sessionStarts) {
        sessionStarts.delete(id);
        if (id === step.session_id) {
          resumePoints.add(at, rows, splits);
          break;
        }
      }
    }
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
    if (progress) {
      progress.rowsDone = reader.counts.rows;
      progress.advance(0, 0);
    }
  }
  if (progress) {
    progress.rowsDone = reader.counts.rows;
    progress.flush();
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
    resumePoints: resumePoints.points,
  };
}

/**
 * The export manifest's counts against every row read, before filters. A row that could not be
 * read still counts as a row, an action and a frame (each row of an export pairs one of each,
 * except a frame-sampled export's frames without an action).
 */
function sourceChecks(reader: ExportReader): ManifestCheck[] {
  const c = reader.counts;
  const bad = c.rows - c.readable;
  return checkManifestCounts(reader.manifest, {
    rows: c.rows,
    sessions: c.sessions,
    frames: c.frames + bad,
    actions: c.actions + bad,
    shards: reader.files.length,
  });
}

/** Rough ratio of stored to captured frame bytes (pixel count) when resizing; 1 in passthrough. */
function storedSizeFactor(frames: FrameOptions, vp: { w: number; h: number } | undefined): number {
  if (!frames.maxSide || !vp || typeof vp.w !== 'number') return 1;
  const t = targetSize(vp.w, vp.h, frames.maxSide);
  return (t.width * t.height) / (vp.w * vp.h);
}

/** Split order for the card and dataset_dict: train, validation, test, then the rest by name. */
export function orderSplits(names: Iterable<string>): string[] {
  const rank = (n: string) => ['train', 'validation', 'test'].indexOf(n);
  return [...names].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    if (ra >= 0 || rb >= 0) return (ra < 0 ? 99 : ra) - (rb < 0 ? 99 : rb);
    return compareStrings(a, b);
  });
}

export function lostFile(f: LostRows): LostFile {
  return { file: f.file, rows_read: f.rowsRead, rows_lost: f.rowsLost, counted_from: f.countedFrom, message: f.message };
}

/** Why nothing is left to convert: the filters (a usage problem), or input that could not be read. */
export function noRowsError(planned: PlanResult): Error {
  const dropped = Object.values(planned.filterStats.dropped).reduce((a, n) => a + n, 0);
  if (dropped > 0) {
    const by = Object.entries(filteredCounts(planned.filterStats))
      .map(([f, n]) => `${f} ${n}`)
      .join(', ');
    return new UsageError(`no rows left to convert after filters (dropped: ${by})`);
  }
  const s = planned.skipped;
  if (s.count > 0 || s.files.length > 0) {
    const first = s.files[0] ? lostFileText(lostFile(s.files[0])) : s.examples[0];
    return new InputError(`no rows to convert: none could be read (${s.count} skipped as bad input${first ? `; ${first}` : ''})`);
  }
  return new InputError('no rows to convert: the export has none');
}

/** Splits named in --split that received no session (small exports, small ratios): left out, with a warning. */
export function emptySplitNames(opts: ConvertOptions, planned: PlanResult): string[] {
  const spec = opts.split.split ?? '';
  const named = spec
    .split(',')
    .map((p) => p.split('=')[0]!.trim())
    .filter((n) => SPLIT_NAME.test(n));
  return named.filter((n) => !planned.splits.has(n));
}

/** Rows each filter dropped, only the filters that dropped any. */
export function filteredCounts(s: FilterStats): Record<string, number> {
  return Object.fromEntries(Object.entries(s.dropped).filter(([, n]) => n > 0));
}
