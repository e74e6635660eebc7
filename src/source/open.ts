/**
 * Open a byte source from what the user wrote: a local path or `file://` URL, `s3://bucket/prefix/`,
 * `az://container/prefix/`, or an `https://` signed URL of an export's manifest.json.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { AzureSource } from './azure.ts';
import { HttpsSource } from './https.ts';
import { LocalSource } from './local.ts';
import { S3Source } from './s3.ts';
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
  if (scheme === 's3') return new S3Source(root);
  if (scheme === 'az') return new AzureSource(root);
  // http:// only makes sense for local servers; signed URLs in the wild are https://.
  if (scheme === 'https' || scheme === 'http') return new HttpsSource(root);
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
  if (scheme === 's3' || scheme === 'az') {
    const cut = url.lastIndexOf('/') + 1;
    const folder = url.slice(0, cut);
    const source = scheme === 's3' ? new S3Source(folder) : new AzureSource(folder);
    return { source, path: url.slice(cut) };
  }
  if (scheme === 'https' || scheme === 'http') {
    // Rooted at the file itself, so its signed query string is applied to it.
    const pathname = new URL(url).pathname;
    return { source: new HttpsSource(url, { manifest: false }), path: decodeURIComponent(pathname.slice(pathname.lastIndexOf('/') + 1)) };
  }
  throw new UsageError(`unsupported URL "${url}": expected a local path, file://, s3://, az:// or https:// URL`);
}
