/**
 * `dataset-manifest.json`: the record of one converted dataset version. `convert` writes it last
 * (after every data file is committed); `validate`, `push` and `loaders` read it. It is
 * deterministic: no clock, host or absolute path, so an unchanged re-convert is byte-identical and
 * an unchanged re-push uploads nothing.
 */
import type { JsonObject } from '../export/step.ts';

export const DATASET_MANIFEST_FILE = 'dataset-manifest.json';
export const DATASET_MANIFEST_VERSION = 1;

export type OutputFormat = 'parquet' | 'arrow' | 'jsonl' | 'webdataset';

export interface DatasetFile {
  /** POSIX path relative to the dataset root, e.g. `data/train-00000-of-00002.parquet`. */
  path: string;
  /** The output format the file belongs to, support files included (state.json, wids index, jsonl frames). */
  format: OutputFormat;
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
  /** How coordinates relate to the stored image. */
  coordinates: { pixels: 'stored_image'; normalized: 'x / stored width, y / stored height' };
  /** Stored image policy: passthrough or re-encoded. */
  image: { mode: 'passthrough' | 'reencode'; format: string | null; max_side: number | null; quality: number | null };
  /** Rows skipped with --on-error skip, and why (reason → count). */
  skipped: { count: number; reasons: Record<string, number> };
  /** Rows dropped by filters (filter → count). */
  filtered: Record<string, number>;
  /** Row counts over the whole dataset, for the card and for reviewers. */
  stats: {
    workflows: Record<string, number>;
    outcomes: Record<string, number>;
    action_types: Record<string, number>;
    actor_kinds: Record<string, number>;
  };
  formats: OutputFormat[];
  /**
   * WebDataset splits whose samples cannot be split equally over the planned ranks × workers
   * (convert --world-size/--workers): how uneven convert left them and what a training loop does.
   * Absent when every split divides evenly.
   */
  webdataset_balance?: Record<string, WebDatasetBalance>;
  /** Every file of the dataset except README.md and this manifest, sorted by path. */
  files: DatasetFile[];
}
