/**
 * Open a byte source from what the user wrote: a local path or `file://` URL here; the remote
 * schemes (`s3://`, `az://`, `https://`) are added beside the local branch.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { LocalSource } from './local.ts';
import type { Source } from './types.ts';

/** `s3:`, `az:`, `https:`, ... or undefined for a plain path (a Windows drive letter is not a scheme). */
function schemeOf(s: string): string | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(s);
  return m ? m[1]!.toLowerCase() : undefined;
}

/** The root of an export (or dataset): a directory path, `file://` URL, or a remote URL. */
export async function openSource(root: string): Promise<Source> {
  const scheme = schemeOf(root);
  if (scheme === undefined) return new LocalSource(root);
  if (scheme === 'file') return new LocalSource(fileURLToPath(root));
  throw new UsageError(`unsupported source "${root}": expected a local path, file://, s3://, az:// or https:// URL`);
}

/**
 * One file by URL (a frame image outside the export root): returns a source rooted at the file's
 * directory and the file's name under it.
 */
export async function openFileUrl(url: string): Promise<{ source: Source; path: string }> {
  const scheme = schemeOf(url);
  if (scheme === undefined || scheme === 'file') {
    const full = scheme === 'file' ? fileURLToPath(url) : url;
    return { source: new LocalSource(path.dirname(full)), path: path.basename(full) };
  }
  throw new UsageError(`unsupported URL "${url}": expected a local path, file://, s3://, az:// or https:// URL`);
}
