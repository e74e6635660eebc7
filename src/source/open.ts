/**
 * Open a byte source from what the user wrote: a local path or `file://` URL, `s3://bucket/prefix/`,
 * `az://container/prefix/`, or an `https://` signed URL of an export's manifest.json.
 */
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { LocalSource } from './local.ts';
import type { ReachOptions } from './reach.ts';
import type { Source } from './types.ts';
import { urlScheme } from '../util/url-scheme.ts';

/** How an export's source is opened: what it may reach besides itself, and the largest object it reads whole. */
export interface SourceOptions extends ReachOptions {
  /** Whole-file reads (`read` without a range, `readFrame`) larger than this are refused. */
  maxReadBytes?: number;
  /** https:// and http:// requests go through it. Default globalThis.fetch. */
  fetch?: typeof fetch;
}

// Remote sources load their SDKs (~0.8 s at startup) only when a URL asks for them.
const s3Source = async (root: string, o: SourceOptions): Promise<Source> => new (await import('./s3.ts')).S3Source(root, process.env, o);
const azureSource = async (root: string, o: SourceOptions): Promise<Source> =>
  new (await import('./azure.ts')).AzureSource(root, process.env, o);

/** The root of an export (or dataset): a directory path, `file://` URL, or a remote URL. */
export async function openSource(root: string, opts: SourceOptions = {}): Promise<Source> {
  const scheme = urlScheme(root);
  if (scheme === undefined) return new LocalSource(root, opts);
  if (scheme === 'file') return new LocalSource(fileURLToPath(root), opts);
  if (scheme === 's3') return s3Source(root, opts);
  if (scheme === 'az') return azureSource(root, opts);
  // http:// only makes sense for local servers; signed URLs in the wild are https://.
  if (scheme === 'https' || scheme === 'http') return new (await import('./https.ts')).HttpsSource(root, opts);
  throw new UsageError(`unsupported source "${root}": expected a local path, file://, s3://, az:// or https:// URL`);
}

/**
 * One file by URL, once reach.ts allowed it (a frame or data file an https manifest names by its
 * own signed URL, or one on a host the user allowed): a source rooted at the file's directory and
 * the file's name under it. Local paths and `file://` are not opened here: an export never
 * reaches this machine's files by URL.
 */
export async function openFileUrl(url: string, opts: SourceOptions = {}): Promise<{ source: Source; path: string }> {
  const scheme = urlScheme(url);
  if (scheme === 's3' || scheme === 'az') {
    const cut = url.lastIndexOf('/') + 1;
    const folder = url.slice(0, cut);
    const source = scheme === 's3' ? await s3Source(folder, opts) : await azureSource(folder, opts);
    return { source, path: url.slice(cut) };
  }
  if (scheme === 'https' || scheme === 'http') {
    // Rooted at the file itself, so its signed query string is applied to it.
    const pathname = new URL(url).pathname;
    const { HttpsSource } = await import('./https.ts');
    return {
      source: new HttpsSource(url, { ...opts, manifest: false }),
      path: decodeURIComponent(pathname.slice(pathname.lastIndexOf('/') + 1)),
    };
  }
  throw new UsageError(`unsupported URL "${url.replace(/[?#].*$/, '')}": expected an s3://, az:// or https:// URL`);
}
