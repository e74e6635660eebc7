/**
 * Open a byte source from what the user wrote: a local path or `file://` URL, `s3://bucket/prefix/`,
 * `az://container/prefix/`, or an `https://` signed URL of an export's manifest.json.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { LocalSource } from './local.ts';
import type { Source } from './types.ts';
import { urlScheme } from '../util/url-scheme.ts';

// Remote sources load their SDKs (~0.8 s at startup) only when a URL asks for them.
const s3Source = async (root: string): Promise<Source> => new (await import('./s3.ts')).S3Source(root);
const azureSource = async (root: string): Promise<Source> => new (await import('./azure.ts')).AzureSource(root);

/** The root of an export (or dataset): a directory path, `file://` URL, or a remote URL. */
export async function openSource(root: string): Promise<Source> {
  const scheme = urlScheme(root);
  if (scheme === undefined) return new LocalSource(root);
  if (scheme === 'file') return new LocalSource(fileURLToPath(root));
  if (scheme === 's3') return s3Source(root);
  if (scheme === 'az') return azureSource(root);
  // http:// only makes sense for local servers; signed URLs in the wild are https://.
  if (scheme === 'https' || scheme === 'http') return new (await import('./https.ts')).HttpsSource(root);
  throw new UsageError(`unsupported source "${root}": expected a local path, file://, s3://, az:// or https:// URL`);
}

/**
 * One file by URL (a frame image outside the export root): returns a source rooted at the file's
 * directory and the file's name under it.
 */
export async function openFileUrl(url: string): Promise<{ source: Source; path: string }> {
  const scheme = urlScheme(url);
  if (scheme === undefined || scheme === 'file') {
    const full = scheme === 'file' ? fileURLToPath(url) : url;
    return { source: new LocalSource(path.dirname(full)), path: path.basename(full) };
  }
  if (scheme === 's3' || scheme === 'az') {
    const cut = url.lastIndexOf('/') + 1;
    const folder = url.slice(0, cut);
    const source = scheme === 's3' ? await s3Source(folder) : await azureSource(folder);
    return { source, path: url.slice(cut) };
  }
  if (scheme === 'https' || scheme === 'http') {
    // Rooted at the file itself, so its signed query string is applied to it.
    const pathname = new URL(url).pathname;
    const { HttpsSource } = await import('./https.ts');
    return { source: new HttpsSource(url, { manifest: false }), path: decodeURIComponent(pathname.slice(pathname.lastIndexOf('/') + 1)) };
  }
  throw new UsageError(`unsupported URL "${url}": expected a local path, file://, s3://, az:// or https:// URL`);
}
