/**
 * A byte sink: where a dataset directory is written (local dir, s3://, az://). Writers never see
 * which; they create files through this interface. A file becomes visible under its final name only
 * when `commit()` completes (local: temp name + fsync + rename; S3: multipart complete; Azure: block
 * list commit), so a killed run never leaves an incomplete file under a final name.
 */
import type { OutputLock } from './lock.ts';

export interface OutputFile {
  /** The final path relative to the sink root. */
  readonly path: string;
  /**
   * Append bytes. Resolves when the sink accepted them (backpressure: await every call, one at a
   * time). The sink keeps no reference to `chunk` afterwards (it copies what it still has to
   * write), so the caller may reuse its buffer; except a chunk in a shared block
   * (src/buffers), which a sink may write where it is, holding a reference until then. A failed
   * write may surface on a later write or on commit.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Finish the file and make it visible under its final name. Returns its size and sha256 (hex). */
  commit(): Promise<{ bytes: number; sha256: string }>;
  /** Drop everything written; no file appears under the final name. Safe to call after a failure. */
  abort(): Promise<void>;
}

export interface Sink {
  /** The root as the user wrote it (`./out`, `s3://bucket/prefix/`), for messages. */
  readonly root: string;
  /** Start a new file at `path` (POSIX, relative to the root); parent folders are implied. */
  create(path: string): Promise<OutputFile>;
  /** Whole small file in one call (cards, manifests, index files); atomic like create+commit. */
  writeFile(path: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }>;
  /** The full name of a path for messages. */
  describe(path: string): string;
}

/**
 * An object store root (S3, Azure) as convert keeps it across runs: one writer at a time, and what
 * earlier or killed runs left there removed once the new dataset is complete.
 */
export interface ObjectStoreSink extends Sink {
  /** Take the root's lock (fails at once when another live run holds it). */
  lock(): Promise<OutputLock>;
  /** Committed objects under the root, as paths relative to it (the lock excluded). */
  list(): Promise<string[]>;
  /** Delete these objects (paths relative to the root); missing ones are fine. */
  remove(paths: string[]): Promise<void>;
  /**
   * Discard uploads a killed run left unfinished (S3 multipart uploads, Azure uncommitted blocks)
   * at paths `owned` accepts. Returns their paths.
   */
  dropUnfinished(owned: (path: string) => boolean): Promise<string[]>;
}

/** writeFile through create/write/commit: one file's bytes, atomic like any file; aborted on failure. */
export async function writeThrough(sink: Sink, path: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
  const f = await sink.create(path);
  try {
    await f.write(bytes);
    return await f.commit();
  } catch (err) {
    await f.abort();
    throw err;
  }
}
