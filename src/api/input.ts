/**
 * What the public functions that read an export share: the bounds on untrusted input, what the
 * export may reach besides itself, and the fetch its https requests go through.
 */
import { existsSync } from 'node:fs';
import { InputError } from '../errors.ts';
import type { InputLimits } from '../limits.ts';
import { hasUrlScheme } from '../util/url-scheme.ts';

export type { InputLimits };

export interface InputParams {
  /**
   * Bounds on untrusted input: longest line, largest object read whole, deepest JSON, largest
   * frame. Each one left out keeps its default (64 MiB lines, 256 MiB members, depth 256,
   * 8192×8192 pixels, 4× the viewport).
   */
  limits?: Partial<InputLimits>;
  /**
   * Hosts (`host` or `host:port`), S3 buckets (`s3://bucket`) or Azure containers (`az://container`)
   * outside the export that its frames and data files may come from. Default: none.
   */
  allowRemoteFrames?: string[];
  /** The fetch that https:// requests (an https export, its frames) go through. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Stops the operation: it then rejects with an `AbortError` and leaves nothing half written. */
  signal?: AbortSignal;
}

/**
 * For a local export, starts the file reader thread (source/local.ts) while the caller loads its
 * modules: the export's manifest is its first read, which otherwise waits for the thread to start.
 */
export async function startLocalReader(p: string): Promise<void> {
  if (hasUrlScheme(p) && !p.startsWith('file:')) return;
  (await import('../source/local.ts')).startLocalReader();
}

/** A local input path that is not there: `<path>: does not exist`, before any reader runs. */
export function assertLocalInputExists(p: string): void {
  if (hasUrlScheme(p)) return;
  if (!existsSync(p)) throw new InputError('does not exist', { file: p });
}
