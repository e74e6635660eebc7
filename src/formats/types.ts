/**
 * The shape every output format has (src/formats/<name>.ts): what convert writes, what the card
 * declares, what push owns and how validate checks it. registry.ts lists them once.
 */
import type { ConvertOptions } from '../convert/convert.ts';
import type { DatasetFile, DatasetManifest } from '../hf/dataset-manifest.ts';
import type { Features } from '../hf/features.ts';
import type { LabelVocabJson } from '../hf/labels.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import type { JsonObject } from '../export/step.ts';
import type { Sink } from '../sink/types.ts';
import type { FileToCheck, ValidateContext } from '../validate/context.ts';
import type { RunScope } from '../write/shard-scope.ts';
import type { SplitWriter, WrittenFile } from '../write/shards.ts';
import type { OutputFormat } from './registry.ts';

/** What the plan pass decided, as every format's writer needs it for one convert run. */
export interface WriteRun {
  sink: Sink;
  features: Features;
  labels: LabelVocabJson;
  /** Estimated stored bytes per row (frame + columns), for shard counts. */
  approxBytesPerRow: number;
  /** The export's created_at in integer seconds: the one timestamp outputs may carry (tar mtime). */
  mtime: number;
  options: Pick<ConvertOptions, 'maxShardBytes' | 'wds'>;
  /** Partitioned runs only: which shards this run writes, and whether the dataset-level files. */
  scope?: RunScope;
  /** A sentence for the user (convert prints it and returns it in `warnings`). */
  warn(message: string): void;
}

/** What shard boundaries depend on: the plan's bytes-per-row estimate and the size options. */
export type ShardSizing = Pick<WriteRun, 'approxBytesPerRow' | 'options'>;

/** One format's writing for one convert run: a writer per split (in split order), then the rest. */
export interface FormatWriter {
  split(name: string, rows: number): SplitWriter<StepsRow>;
  /**
   * After every split finished: dataset-level files (Arrow's dataset_dict.json, the wids indexes),
   * and every file of the format as manifest entries. `manifest` holds format-specific manifest
   * fields (WebDataset's `webdataset_balance`), placed after `formats`.
   */
  finish(splits: readonly string[]): Promise<{ files: DatasetFile[]; manifest?: Partial<DatasetManifest> }>;
}

/** What a format's validator gets besides the file: the run's context and the dataset around it. */
export interface ValidateRun {
  ctx: ValidateContext;
  manifest: DatasetManifest | null;
  /** Every path in the target (for support files that sit beside a data file). */
  listed: ReadonlySet<string>;
}

/** Checks the data files of one format, one by one in (split, path) order, then across them. */
export interface FormatValidator {
  /** Rows read from the file, counted one by one, or null when it could not be read to its end. */
  check(file: FileToCheck): Promise<number | null>;
  /** After the last file of the format: checks across files (WebDataset index and balance, Arrow split folders). */
  done(): Promise<void>;
}

export interface OutputFormatModule<F extends OutputFormat = OutputFormat> {
  name: F;
  /**
   * The top-level folder of the format at the dataset root, with a trailing slash. convert owns it
   * (a re-run replaces it) and push owns it on the Hub (the push glob is `{folder}**`: files under
   * it that the version no longer lists are deleted).
   */
  folder: string;
  /** A data file of this format, by its path (support files and frames do not match). */
  dataFile: RegExp;
  /** Path of shard `index` of `count` of a split, relative to the dataset root. */
  shardPath(split: string, index: number, count: number): string;
  /**
   * Rows in each shard of a split of `rows` rows, in shard order: the format's shard boundaries, a
   * function of the plan alone (partitions own shards by them; the writer cuts by them).
   */
  shardRows(split: string, rows: number, run: ShardSizing): number[];
  /** The card's `configs` entry for this format, or null when the format is not a card config. */
  /** `rank`: which format a card declares when several are there (lowest first; the first config decides the builder). */
  card: { configName: string; rank: number; glob(split: string): string } | null;
  /** The format's own options as recorded in the manifest's `options.<name>` (null when not asked for). */
  recordedOptions?(opts: ConvertOptions): JsonObject;
  /** The writer, loaded on first use (apache-arrow, hyparquet-writer: ~100-200 ms each to load). */
  writer(): Promise<(run: WriteRun) => FormatWriter>;
  /** The validator, loaded on first use. */
  validator(): Promise<(run: ValidateRun) => FormatValidator>;
}

/** A writer's file record as a manifest entry (field order is part of the manifest's bytes). */
export function manifestEntry(f: WrittenFile, format: OutputFormat, rows: number | null): DatasetFile {
  if (f.first_key !== undefined && f.last_key !== undefined) {
    return {
      path: f.path,
      format,
      split: f.split,
      rows: f.rows,
      bytes: f.bytes,
      sha256: f.sha256,
      first_key: f.first_key,
      last_key: f.last_key,
    };
  }
  return { path: f.path, format, split: f.split || null, rows, bytes: f.bytes, sha256: f.sha256 };
}
