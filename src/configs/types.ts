/**
 * The shape of a dataset config written beside `steps` (src/configs/<name>.ts): a view of the same
 * Step stream with rows of its own (`sft`: TRL's prompt-completion rows; `episodes`: one row per
 * session), written as Parquet under `<name>/<split>-{i:05d}-of-{n:05d}.parquet` and declared in the
 * card's `configs`, so `load_dataset(folder_or_repo, "<name>")` reads it. registry.ts lists them.
 *
 * A config's writer gets each split's `steps` rows in (session_id, t_ms) order, one at a time, as
 * the Parquet writer of `data/` does: a session's rows are contiguous and in one split.
 */
import type { Option } from 'commander';
import type { ConvertOptions } from '../convert/convert.ts';
import type { SplitCounts } from '../convert/plan-pass.ts';
import type { DatasetManifest } from '../hf/dataset-manifest.ts';
import type { Features } from '../hf/features.ts';
import type { LabelVocabJson } from '../hf/labels.ts';
import type { JsonObject } from '../export/step.ts';
import type { FormatWriter, WriteRun } from '../formats/types.ts';
import type { ExtraConfigName } from './registry.ts';

/** What a config's writer gets for one convert run: the formats' run, its own features, all options. */
export interface ConfigRun extends WriteRun {
  opts: ConvertOptions;
}

export interface DatasetConfigModule<N extends ExtraConfigName = ExtraConfigName> {
  name: N;
  /** The top-level folder, `<name>/` (convert owns it locally, push on the Hub). */
  folder: string;
  /** One line for the card's list of configs. */
  summary: string;
  /**
   * Checks this config's options before the export is read (a usage error names the flag) and
   * loads what they name (a template file); returns the options completed with their defaults.
   */
  prepare(opts: ConvertOptions): Promise<ConvertOptions>;
  /** Rows of this config in a split, from the plan's counts (sft: one per step; episodes: one per session). */
  rows(split: SplitCounts): number;
  /** Estimated stored bytes of one of its rows, for shard counts (`stepBytes`: a steps row's estimate). */
  rowBytes(stepBytes: number, split: SplitCounts, opts: ConvertOptions): number;
  /** Its columns: one description for the Parquet schema, the `huggingface` metadata, the card and the manifest. */
  features(labels: LabelVocabJson, opts: ConvertOptions): Features;
  /** Its options as recorded in the manifest (`configs.<name>.options`): what shaped the rows. */
  recordedOptions(opts: ConvertOptions): JsonObject;
  /** Markdown for the card (a `### <name>` section): what a row holds, with examples. */
  cardSection(m: DatasetManifest): string;
  /** Its own `convert` flags, listed in `--help` (e.g. sft's `--action-format`). */
  cliOptions?(): Option[];
  /** Its options from the parsed flags (commander's camelCase names), as `ConvertOptions` fields. */
  fromFlags?(flags: Readonly<Record<string, unknown>>): Partial<ConvertOptions>;
  /** The writer, loaded on first use. `configParquetWriter` (parquet.ts here) is the usual body. */
  writer(): Promise<(run: ConfigRun) => FormatWriter>;
}
