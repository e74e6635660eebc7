/**
 * The plan of a partitioned convert (`convert --plan-only`), as a file: the resolved options, the
 * plan pass's result (splits, counts, label vocabulary, stats), the options as the manifest records
 * them, and every output format's and extra config's shard boundaries (rows per shard, file paths). Partitions and
 * finalize read it back, so the write pass and the manifest are functions of it alone, whatever
 * machine runs them. Its id is the sha256 of its text: records of another plan are never mixed in.
 */
import { createHash } from 'node:crypto';
import { InputError, UsageError } from '../errors.ts';
import type { ExportReader } from '../export/read.ts';
import type { JsonObject } from '../export/step.ts';
import { configModule, configRowBytes } from '../configs/registry.ts';
import type { ExtraConfigName } from '../configs/registry.ts';
import { ALL_FORMATS, formatModule } from '../formats/registry.ts';
import type { OutputFormat } from '../formats/registry.ts';
import type { WriteRun } from '../formats/types.ts';
import { LabelVocab } from '../hf/labels.ts';
import type { LabelVocabJson } from '../hf/labels.ts';
import { parseJsonText } from '../limits.ts';
import type { ConvertOptions } from './convert.ts';
import { planVerdicts } from './convert.ts';
import type { PlannedDataset } from './convert.ts';
import { recordedOptions } from './manifest-card.ts';
import { PLAN_FILE } from './partition-place.ts';
import type { PartitionPlace } from './partition-place.ts';
import type { PlanResult } from './plan-pass.ts';
import type { Sink } from '../sink/types.ts';
import type { RunScope } from '../write/shard-scope.ts';

/** 2: the extra configs' shards, and sessions before each resume point. */
const PLAN_VERSION = 2;
/** Nesting of a plan or record file (the export manifest and example rows sit a few levels down). */
const MAX_PLAN_JSON_DEPTH = 64;

/** One format's (or one extra config's) shards of one split. */
export interface PlannedShards {
  /** A config's shards are Parquet (`format: parquet`) with `config` set. */
  format: OutputFormat;
  config?: ExtraConfigName;
  split: string;
  /** Rows in each shard, in shard order (a config's own rows: episodes counts sessions). */
  rows: number[];
  paths: string[];
}

export interface PlanFile {
  version: number;
  /** The options as the caller gave them (partitions and finalize must be given the same). */
  request: unknown;
  options: ConvertOptions;
  export_manifest: ExportReader['manifest'];
  /** The manifest's `options`, computed where the referenced files (--labels-from …) are. */
  recorded_options: JsonObject;
  labels: { names: LabelVocabJson; appended: LabelVocabJson };
  planned: unknown;
  shards: PlannedShards[];
}

/** A plan read back: its id, the file, and the dataset plan as convert uses it. */
export interface LoadedPlan extends PlannedDataset {
  id: string;
  file: PlanFile;
  opts: ConvertOptions;
  exportManifest: ExportReader['manifest'];
}

/** The format writers' run a plan describes, as a partition and finalize both open it. */
export function planWriteRun(plan: LoadedPlan, sink: Sink, scope: RunScope, warnings: string[]): WriteRun {
  return {
    sink,
    features: plan.features,
    labels: plan.labels.toJSON(),
    approxBytesPerRow: plan.planned.approxBytesPerRow,
    mtime: plan.mtime,
    options: { maxShardBytes: plan.opts.maxShardBytes, wds: plan.opts.wds },
    scope,
    warn: (m) => warnings.push(m),
  };
}

/** What a run was given that belongs to this process (callbacks, its signal and fetch), not to the plan. */
function withoutRunFields(opts: ConvertOptions): ConvertOptions {
  return { ...opts, onProgress: undefined, signal: undefined, fetch: undefined };
}

/** The options compared between plan and partition: everything but this process's fields and thread count. */
export function requestOf(opts: ConvertOptions): unknown {
  return JSON.parse(JSON.stringify({ ...withoutRunFields(opts), frames: { ...opts.frames, workers: undefined } }));
}

/** Maps (split counts, viewports, skip reasons) as tagged entry lists, so JSON keeps them. */
function replacer(_key: string, value: unknown): unknown {
  return value instanceof Map ? { $map: [...value] } : value;
}
function reviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value) && '$map' in value) return new Map((value as { $map: [] }).$map);
  return value;
}

export async function planFileOf(
  given: ConvertOptions,
  plan: PlannedDataset & { opts: ConvertOptions; exportManifest: ExportReader['manifest'] },
): Promise<string> {
  const { planned, labels, splitNames, opts } = plan;
  const sizing = { approxBytesPerRow: planned.approxBytesPerRow, options: { maxShardBytes: opts.maxShardBytes, wds: opts.wds } };
  const shards: PlannedShards[] = [];
  for (const format of sortedFormats(opts.formats)) {
    const m = formatModule(format);
    for (const split of splitNames) {
      const rows = m.shardRows(split, planned.splits.get(split)!.rows, sizing);
      shards.push({ format, split, rows, paths: rows.map((_, i) => m.shardPath(split, i, rows.length)) });
    }
  }
  // The extra configs' Parquet shards, after the formats', in registry order (as convert writes them).
  for (const c of opts.configs ?? []) {
    const m = configModule(c);
    const rowBytes = configRowBytes(m, planned.approxBytesPerRow, planned.splits.values(), opts);
    for (const split of splitNames) {
      const rows = m.shardRows(planned.splits.get(split)!, rowBytes, opts);
      shards.push({ format: 'parquet', config: c, split, rows, paths: rows.map((_, i) => m.shardPath(split, i, rows.length)) });
    }
  }
  const { labels: _vocab, ...rest } = planned;
  const file: PlanFile = {
    version: PLAN_VERSION,
    request: requestOf(given),
    options: withoutRunFields(opts),
    export_manifest: plan.exportManifest,
    recorded_options: await recordedOptions(opts),
    labels: { names: labels.toJSON(), appended: labels.appended() },
    planned: rest,
    shards,
  };
  return JSON.stringify(file, replacer) + '\n';
}

export function planId(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A vocabulary read back from a plan: the same ids, and what the plan pass appended. */
class PlannedLabels extends LabelVocab {
  constructor(
    names: LabelVocabJson,
    private readonly appendedNames: LabelVocabJson,
  ) {
    super(names);
    this.freeze();
  }
  override appended(): LabelVocabJson {
    return this.appendedNames;
  }
}

/**
 * The plan under `place`, checked against the options this run was given. `what` names the step
 * for messages (`convert --partition`).
 */
export async function loadPlan(place: PartitionPlace, given: ConvertOptions, what: string): Promise<LoadedPlan> {
  const bytes = await place.read(PLAN_FILE);
  if (!bytes) throw new UsageError(`${what}: no plan at ${place.describe(PLAN_FILE)}; run convert --plan-only with the same options first`);
  const text = new TextDecoder().decode(bytes);
  const where = { file: place.describe(PLAN_FILE) };
  parseJsonText(text, MAX_PLAN_JSON_DEPTH, where, 'a convert plan');
  const file = JSON.parse(text, reviver) as PlanFile;
  if (file.version !== PLAN_VERSION) throw new InputError(`plan version ${file.version}, expected ${PLAN_VERSION}; plan again`, where);
  const differs = firstDifference(file.request, requestOf(given));
  if (differs !== undefined) {
    throw new UsageError(
      `${what}: the options differ from the plan's (${differs}); give it the command line convert --plan-only was given`,
    );
  }
  const opts: ConvertOptions = {
    ...file.options,
    frames: { ...file.options.frames, workers: given.frames.workers },
    onProgress: given.onProgress,
    signal: given.signal,
    fetch: given.fetch,
  };
  const labels = new PlannedLabels(file.labels.names, file.labels.appended);
  const planned = { ...(file.planned as Omit<PlanResult, 'labels'>), labels } as PlanResult;
  const verdicts = planVerdicts(opts, file.export_manifest, planned, labels);
  return { ...verdicts, id: planId(text), file, opts, exportManifest: file.export_manifest };
}

/** The path of the first value that differs between two JSON values, or undefined when equal. */
function firstDifference(a: unknown, b: unknown, at = 'options'): string | undefined {
  if (a === b) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
      const d = firstDifference(ao[k], bo[k], `${at}.${k}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return at;
}

/** What a plan's shards are keyed by in records and scopes: the config's name, else the format's. */
export function shardsKey(s: Pick<PlannedShards, 'format' | 'config' | 'split'>): string {
  return `${s.config ?? s.format}/${s.split}`;
}

/** Requested formats in registry order (the order rows fan out in and the plan lists them). */
export function sortedFormats(formats: readonly OutputFormat[]): OutputFormat[] {
  return ALL_FORMATS.filter((f) => formats.includes(f));
}
