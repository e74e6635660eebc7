/**
 * What a convert reports: where the dataset went, rows and sessions per split, what was skipped or
 * filtered, and the files written. The public `convert` returns it and `nusomi-hf convert --json`
 * prints it.
 */
import type { ConvertResult } from './convert.ts';
import type { DatasetManifest } from '../hf/dataset-manifest.ts';

/** The card and the dataset manifest, written beside the files the manifest lists. */
const CARD_AND_MANIFEST = 2;

export interface ConvertSummary {
  /** The output root, as given. */
  out: string;
  /** Rows and sessions per split. */
  splits: DatasetManifest['splits'];
  /** The formats of the `steps` config written (none when `configs` leaves `steps` out). */
  formats: DatasetManifest['formats'];
  /** The dataset configs written, `steps` first when it is: `load_dataset(out, name)` reads each. */
  configs: string[];
  /** Files written: the data files, README.md and dataset-manifest.json. */
  files: number;
  /** Bytes of the data files. */
  bytes: number;
  /** Bad rows skipped (`onError: 'skip'`), by reason, and files lost part-way. */
  skipped: DatasetManifest['skipped'];
  /** The export manifest's counts, as the export claimed them. */
  source_counts: DatasetManifest['source_counts'];
  /** Rows dropped per filter. */
  filtered: DatasetManifest['filtered'];
  /** The label vocabularies (action types, outcomes) and their ids. */
  labels: DatasetManifest['labels'];
  /** Labels appended beyond a pinned (`labelsFrom`) or the known vocabulary. */
  labels_appended: DatasetManifest['labels_appended'];
  /** Warnings a user should read (empty splits, manifest count mismatches, appended labels). */
  warnings: string[];
  /** Every data file written, relative to `out`, as dataset-manifest.json lists it. */
  data_files: Array<{ path: string; bytes: number }>;
}

export function convertSummary(r: ConvertResult): ConvertSummary {
  const m = r.manifest;
  return {
    out: r.out,
    splits: m.splits,
    formats: m.formats,
    configs: [...(m.formats.length ? ['steps'] : []), ...Object.keys(m.configs ?? {})],
    files: m.files.length + CARD_AND_MANIFEST,
    bytes: m.files.reduce((a, f) => a + f.bytes, 0),
    skipped: m.skipped,
    source_counts: m.source_counts,
    filtered: m.filtered,
    labels: m.labels,
    labels_appended: m.labels_appended,
    warnings: r.warnings,
    data_files: m.files.map((f) => ({ path: f.path, bytes: f.bytes })),
  };
}
