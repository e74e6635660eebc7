import type { JsonObject } from './step.ts';

export type ExportFormat = 'parquet' | 'jsonl' | 'arrow' | 'webdataset';

/** A file named by the manifest (`files[]`); required for https roots, wins over listing elsewhere. */
export interface ManifestFile {
  /** Relative to the export root (or to the manifest URL). */
  path?: string;
  /** Absolute URL (signed query kept). */
  url?: string;
  bytes?: number;
  sha256?: string;
}

/** manifest.json of an export, as the vendor documents it. Unknown fields are kept in `raw`. */
export interface ExportManifest {
  export_id: string;
  workflow: string;
  format: ExportFormat;
  rows: number;
  shards: number;
  shard_size_bytes: number;
  frames: number;
  actions: number;
  filter_summary: string;
  /** Where the vendor wrote the export; image URLs under it map into the export root. */
  destination: string;
  /** ISO timestamp. */
  created_at: string;
  files?: ManifestFile[];
  /** The manifest exactly as parsed (every field, known or not), for the dataset manifest. */
  raw: JsonObject;
}
