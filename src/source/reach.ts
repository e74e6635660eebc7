/**
 * What an export may reach: only itself. Every reference an export makes to another file (a row's
 * `frame.image_url`, a manifest `files[]` entry) is resolved here:
 *  - a relative path, or a URL under the manifest's `destination`, is a path under the export root
 *    (the root's source refuses `..`, absolute paths and, locally, symlinks that lead out of it);
 *  - a URL inside the root itself (same bucket and prefix, same container and prefix, or the https
 *    manifest's own origin and folder) is read as it is;
 *  - `file://` is always refused: a row must not copy a file of this machine into a dataset;
 *  - a URL anywhere else is refused unless its host (or bucket, or container) is allowed by
 *    `--allow-remote-frames`, which convert records in dataset-manifest.json.
 */
import { InputError } from '../errors.ts';
import type { Where } from '../errors.ts';
import { urlScheme } from '../util/url-scheme.ts';

/** What the user allowed beyond the root: host names (`cdn.example.com`, `host:port`), S3 buckets, Azure containers. */
export interface ReachOptions {
  allowRemote?: readonly string[];
}

/** Where a reference leads: a path under the export root, or a URL to open on its own. */
export type Reference = { kind: 'root'; path: string } | { kind: 'url'; url: string };

type Scope = { kind: 'local' } | { kind: 's3' | 'az'; bucket: string; prefix: string } | { kind: 'http'; origin: string; folder: string };

/** `s3://bucket/key` or `az://container/key` → bucket and key. */
function bucketUrl(url: string): { bucket: string; key: string } | undefined {
  const m = /^[a-zA-Z0-9]+:\/\/([^/?#]+)\/?([^?#]*)$/.exec(url);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

/** The root an export was opened at (`Source.root`), as the scope its references must stay in. */
function scopeOf(root: string): Scope {
  const scheme = urlScheme(root);
  if (scheme === 's3' || scheme === 'az') {
    const b = bucketUrl(root);
    if (b) return { kind: scheme, bucket: b.bucket, prefix: b.key === '' || b.key.endsWith('/') ? b.key : b.key + '/' };
  }
  if (scheme === 'http' || scheme === 'https') {
    const u = new URL(root);
    return { kind: 'http', origin: u.origin, folder: u.pathname.slice(0, u.pathname.lastIndexOf('/') + 1) };
  }
  return { kind: 'local' };
}

/** A URL as messages may show it: no query string (signatures) or fragment. */
export function shownUrl(url: string): string {
  return url.replace(/[?#].*$/, '');
}

/** Whether an allow-list entry names this host, bucket or container. */
function allowed(allow: readonly string[], scheme: string, name: string, hostname?: string): boolean {
  for (const a of allow) {
    const e = a.toLowerCase();
    if (e === name.toLowerCase() || (hostname !== undefined && e === hostname.toLowerCase()) || e === `${scheme}://${name.toLowerCase()}`)
      return true;
  }
  return false;
}

/**
 * Resolve one reference `ref` found in an export opened at `root` (the manifest's `destination`
 * maps URLs into the root). Throws InputError at `where` when the export may not reach it.
 */
export function resolveReference(
  ref: string,
  root: string,
  destination: string,
  opts: ReachOptions,
  where: Where,
  what = 'frame URL',
): Reference {
  if (destination !== '' && ref.startsWith(destination)) return { kind: 'root', path: ref.slice(destination.length).replace(/^\/+/, '') };
  const scheme = urlScheme(ref);
  if (scheme === undefined) return { kind: 'root', path: ref.replace(/^(\.\/)+/, '') };
  const shown = shownUrl(ref);
  // `what` '' when the caller's message already names the URL.
  const subject = (u: string) => (what ? `${what} ${u}` : 'it');
  if (scheme === 'file') {
    throw new InputError(
      `${subject(shown)} is refused: file:// URLs could read any file of this machine; an export reaches only its own files`,
      where,
    );
  }
  const allow = opts.allowRemote ?? [];
  const scope = scopeOf(root);
  if (scheme === 's3' || scheme === 'az') {
    const b = bucketUrl(ref);
    if (!b) throw new InputError(`${subject(shown)} is not a valid ${scheme}:// URL`, where);
    if (scope.kind === scheme && scope.bucket === b.bucket && b.key.startsWith(scope.prefix)) {
      return { kind: 'root', path: b.key.slice(scope.prefix.length) };
    }
    if (allowed(allow, scheme, b.bucket)) return { kind: 'url', url: ref };
    const kind = scheme === 's3' ? 'bucket' : 'container';
    throw new InputError(
      `${subject(shown)} is outside the export root (${kind} ${b.bucket}); pass --allow-remote-frames ${b.bucket} to allow it`,
      where,
    );
  }
  if (scheme === 'http' || scheme === 'https') {
    let u: URL;
    try {
      u = new URL(ref);
    } catch {
      throw new InputError(`${subject(shown)} is not a valid URL`, where);
    }
    // URL parsing has already resolved `..` and `%2e%2e` segments: the path is what gets fetched.
    if (scope.kind === 'http' && u.origin === scope.origin && u.pathname.startsWith(scope.folder)) return { kind: 'url', url: u.href };
    if (allowed(allow, scheme, u.host, u.hostname)) return { kind: 'url', url: u.href };
    throw new InputError(
      `${subject(shownUrl(u.href))} is outside the export root (host ${u.host}); pass --allow-remote-frames ${u.hostname} to allow it`,
      where,
    );
  }
  throw new InputError(
    `${subject(shown)} has an unsupported scheme ${scheme}:; expected a path under the export root, s3://, az:// or https://`,
    where,
  );
}
