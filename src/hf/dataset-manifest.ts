/**
 * `dataset-manifest.json`: the record of one converted dataset version. `convert` writes it last
 * (after every data file is committed); `validate`, `push` and `loaders` read it. It is
 * deterministic: no clock, host or absolute path, so an unchanged re-convert is byte-identical and
 * an unchanged re-push uploads nothing.
 */
import type { ManifestCheck } from '../export/manifest-check.ts';
import type { JsonObject } from '../export/step.ts';

export const DATASET_MANIFEST_FILE = 'dataset-manifest.json';
export const DATASET_MANIFEST_VERSION = 1;

/** The output formats (src/formats/registry.ts). */
export type { OutputFormat } from '../formats/registry.ts';
import type { OutputFormat } from '../formats/registry.ts';
import type { ExtraConfigName } from '../configs/registry.ts';

export interface DatasetFile {
  /** POSIX path relative to the dataset root, e.g. `data/train-00000-of-00002.parquet`. */
  path: string;
  /** The output format the file belongs to, support files included (state.json, wids index, jsonl frames). */
  format: OutputFormat;
  /** The config a data file of an extra config belongs to (`sft/...`); absent for `steps` files. */
  config?: ExtraConfigName;
  /** The split the file belongs to; null for files that span splits (dataset_dict.json). */
  split: string | null;
  /** Rows (samples) in the file; null for support files (state.json, dataset_info.json, index, frames). */
  rows: number | null;
  bytes: number;
  sha256: string;
  /** WebDataset shards: first and last sample key. */
  first_key?: string;
  last_key?: string;
}

/** Which action fields are coordinates (the rule of src/frames/rescale.ts, as data). */
export interface CoordinateFields {
  columns: string[];
  positions: string[];
  point_arrays: string[];
  paths: string[];
  boxes_xywh: string[];
  boxes_xyxy: string[];
  box_edges: string[];
  box_sizes: string[];
  not_coordinates: string[];
}

/** A source data file that could not be read to its end (`--on-error skip`). */
export interface LostFile {
  /** The file as the export names it. */
  file: string;
  /** Rows (good or bad) read from it before it broke. */
  rows_read: number;
  /** Rows it held past that point; null when nothing says how many it held. */
  rows_lost: number | null;
  /** Where the file's row count came from. */
  counted_from: 'export manifest' | 'sidecar' | 'parquet footer' | null;
  /** Why it could not be read further. */
  message: string;
}

/** One line on a lost file, for the card and the CLI. */
export function lostFileText(f: LostFile): string {
  const plural = (n: number) => `${n} row${n === 1 ? '' : 's'}`;
  return f.rows_lost === null
    ? `${f.file}: rows after ${f.rows_read} unknown (nothing says how many rows it held)`
    : `${f.file}: ${plural(f.rows_lost)} lost after ${plural(f.rows_read)} read (count from the ${f.counted_from})`;
}

export interface WebDatasetBalance {
  world_size: number;
  workers: number;
  /** Smallest and largest samples per rank, and per (rank, worker), per epoch. */
  rank_samples: [number, number];
  worker_samples: [number, number];
  note: string;
}

export interface SplitSummary {
  rows: number;
  sessions: number;
}

/** One extra config in the manifest: what shaped its rows, their columns and counts. */
export interface ConfigManifest {
  folder: string;
  options: JsonObject;
  /** `Features.to_dict()` form, like the manifest's `features`. */
  features: JsonObject;
  splits: Record<string, { rows: number }>;
}

export interface DatasetManifest {
  manifest_version: number;
  /** Name and version of the tool that wrote it. */
  generator: { name: 'nusomi-hf'; version: string };
  /** The source export's manifest.json, verbatim (every field). */
  source_manifest: JsonObject;
  /** The convert options that shaped this version (normalised, no paths of this machine). */
  options: JsonObject;
  /** HF features JSON (`Features.to_dict()` form): single source of truth for every format. */
  features: JsonObject;
  /** ClassLabel vocabularies, id = index. Later versions pin these with --labels-from. */
  labels: { action_type: string[]; outcome: string[] };
  /** Label values appended in this version beyond the pinned/known vocabulary. */
  labels_appended: { action_type: string[]; outcome: string[] };
  /** Split name → counts; split order is the card's order (train, validation, test, others). */
  splits: Record<string, SplitSummary>;
  /** Capture viewports seen, e.g. [{w:1440,h:900,rows:40}]. */
  viewports: Array<{ w: number; h: number; rows: number }>;
  /**
   * How coordinates relate to the stored image, and which action fields are coordinates (rescaled
   * with a resized frame): `columns` of action/prior_action, and the keys found at any depth of the
   * action (in `args` too); absent in manifests written before it was recorded.
   */
  coordinates: { pixels: 'stored_image'; normalized: 'x / stored width, y / stored height'; fields?: CoordinateFields };
  /** Stored image policy: passthrough or re-encoded. */
  image: { mode: 'passthrough' | 'reencode'; format: string | null; max_side: number | null; quality: number | null };
  /**
   * Rows skipped with --on-error skip, and why (reason → rows); `files` lists the source files that
   * could not be read to their end (absent in manifests written before it was recorded).
   */
  skipped: { count: number; reasons: Record<string, number>; files?: LostFile[] };
  /**
   * The export manifest's counts (rows, frames, actions, shards; sessions when it has them) against
   * what convert read; a difference is a warning (an error with --strict). Absent in older manifests.
   */
  source_counts?: { consistent: boolean; checks: ManifestCheck[] };
  /** Rows dropped by filters (filter → count). */
  filtered: Record<string, number>;
  /** Row counts over the whole dataset, for the card and for reviewers. */
  stats: {
    workflows: Record<string, number>;
    outcomes: Record<string, number>;
    action_types: Record<string, number>;
    actor_kinds: Record<string, number>;
  };
  /** The formats of the `steps` config; empty when `convert --configs` left steps out (e.g. `--configs sft`). */
  formats: OutputFormat[];
  /**
   * The configs written beside `steps` (`convert --configs`), by name: their options, features and
   * rows per split. Absent when only `steps` was written.
   */
  configs?: Partial<Record<ExtraConfigName, ConfigManifest>>;
  /**
   * WebDataset splits whose samples cannot be split equally over the planned ranks × workers
   * (convert --world-size/--workers): how uneven convert left them and what a training loop does.
   * Absent when every split divides evenly.
   */
  webdataset_balance?: Record<string, WebDatasetBalance>;
  /** Every file of the dataset except README.md and this manifest, sorted by path. */
  files: DatasetFile[];
}
