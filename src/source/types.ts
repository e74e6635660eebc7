/**
 * A byte source: where an export (or a dataset) lives. Every reader goes through this interface,
 * so a local directory, S3/GCS, Azure Blob and an https signed URL behave the same.
 * Paths are POSIX-style and relative to the source root.
 */
export interface SourceEntry {
  /** Relative POSIX path under the root, e.g. `data/part-00000.parquet`. */
  path: string;
  /** Size in bytes when known (listing or manifest `files[].bytes`). */
  size?: number;
  /** Expected sha256 (hex) when the manifest gives one. */
  sha256?: string;
}

export interface ByteRange {
  /** Inclusive start offset. */
  start: number;
  /** Exclusive end offset. */
  end: number;
}

export interface Source {
  /** The root as the user wrote it, e.g. `s3://bucket/prefix/` or `/data/export`. */
  readonly root: string;
  /** Every file under the root, sorted by path (lexical, code-unit order). */
  /**
   * `keep` (optional) picks entries by path before anything else is asked about them (a local
   * export holds tens of thousands of frames: no stat for the ones the caller does not want).
   */
  list(keep?: (path: string) => boolean): Promise<SourceEntry[]>;
  /** Whether a file exists. */
  exists(path: string): Promise<boolean>;
  /** File size in bytes. */
  size(path: string): Promise<number>;
  /** Bytes of a file, or of a range of it (Range requests on remote sources). */
  read(path: string, range?: ByteRange): Promise<Uint8Array>;
  /**
   * Optional: a whole frame file, like `read`, where the bytes may live in a frame slot the source
   * reuses once released (local: shared memory the sink writes without a copy; src/buffers). The
   * caller holds the slot's one reference until `releaseFrame`; unreleased, it is collected.
   */
  readFrame?(path: string): Promise<Uint8Array>;
  /** The whole file as a stream of chunks, with backpressure (nothing is buffered ahead unboundedly). */
  stream(path: string): AsyncIterable<Uint8Array>;
  /**
   * Optional: like `stream`, but a chunk's memory is reused once two more chunks were handed out,
   * for scans that keep nothing longer (local: a small ring of buffers instead of a fresh one each).
   */
  streamReusing?(path: string): AsyncIterable<Uint8Array>;
  /** The file's full name for messages: `s3://bucket/prefix/data/x.parquet`, or a path. */
  describe(path: string): string;
}
