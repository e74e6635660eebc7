/**
 * An export behind an `https://` signed URL to its `manifest.json` (`http://` is accepted for local
 * servers). Such a root cannot be listed, so `list()` returns the manifest's
 * `files: [{path | url, bytes?, sha256?}]`. Relative paths resolve against the manifest's URL and get
 * the manifest URL's query string (its signature); a file's own `url` is used verbatim.
 * Query strings are secrets: messages name URLs without them.
 */
import { InputError, UsageError } from '../errors.ts';
import { overLimit } from '../limits.ts';
import type { SourceOptions } from './open.ts';
import { resolveReference } from './reach.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';
import { byPath } from '../util/compare.ts';

const MAX_REDIRECTS = 5;

/** The URL without its query string or fragment: what messages may show. */
export function redactUrl(url: URL | string): string {
  const u = new URL(String(url));
  return `${u.origin}${u.pathname}`;
}

interface ManifestFiles {
  entries: SourceEntry[];
  /** path → the URL to fetch (only for entries that gave their own `url`). */
  urls: Map<string, URL>;
}

export class HttpsSource implements Source {
  readonly root: string;
  private readonly url: URL;
  private manifest?: Promise<ManifestFiles>;

  private readonly hasManifest: boolean;
  private readonly opts: SourceOptions;

  /**
   * `root` is the signed URL of `manifest.json`; with `{ manifest: false }` it is the URL of any
   * file in a folder and only relative reads work (a frame opened by URL). A manifest's file
   * entries may only point inside its own folder, or at hosts `opts.allowRemote` names.
   */
  constructor(root: string, opts: SourceOptions & { manifest?: boolean } = {}) {
    this.hasManifest = opts.manifest ?? true;
    this.opts = opts;
    let url: URL;
    try {
      url = new URL(root);
    } catch {
      throw new UsageError(`"${redactUrlLoose(root)}" is not a valid URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UsageError(`"${redactUrl(url)}" is not an https:// URL`);
    }
    url.hash = '';
    // A folder URL means the manifest inside it.
    if (this.hasManifest && url.pathname.endsWith('/')) url.pathname += 'manifest.json';
    this.root = root;
    this.url = url;
  }

  /** The URL a relative path is fetched from: resolved against the root, with the root's query. */
  private resolve(p: string): URL {
    if (p === 'manifest.json' || p === this.baseName()) return new URL(this.url.href);
    const encoded = p.split('/').map(encodeURIComponent).join('/');
    const u = new URL(encoded, this.url);
    if (!redactUrl(u).startsWith(this.folder())) {
      throw new InputError(`path escapes the export root ${redactUrl(this.url)}`, { file: p });
    }
    u.search = this.url.search;
    return u;
  }

  private folder(): string {
    return redactUrl(new URL('.', this.url));
  }

  private baseName(): string {
    return decodeURIComponent(this.url.pathname.slice(this.url.pathname.lastIndexOf('/') + 1));
  }

  private async urlFor(p: string): Promise<URL> {
    if (this.hasManifest && p !== 'manifest.json' && p !== this.baseName()) {
      // Entries with their own `url` are only known from the manifest, so load it first.
      const own = (await this.loadManifest()).urls.get(p);
      if (own) return own;
    }
    return this.resolve(p);
  }

  describe(p: string): string {
    const own = this.manifestUrls?.get(p);
    if (own) return redactUrl(own);
    try {
      return redactUrl(this.resolve(p));
    } catch {
      return `${this.folder()}${p}`;
    }
  }

  private manifestUrls?: Map<string, URL>;

  private loadManifest(): Promise<ManifestFiles> {
    this.manifest ??= (async () => {
      const where = redactUrl(this.url);
      const bytes = await this.fetchOk(this.url);
      let doc: unknown;
      try {
        doc = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new InputError('manifest is not valid JSON', { file: where });
      }
      const files = (doc as { files?: unknown } | null)?.files;
      if (!Array.isArray(files)) {
        throw new InputError(
          'an export read over https cannot be listed, so its manifest must name its files: ' +
            'add "files": [{"path": "data/part-0.jsonl", "bytes": 123, "sha256": "..."}, ...]',
          { file: where },
        );
      }
      const destination =
        typeof (doc as { destination?: unknown }).destination === 'string' ? (doc as { destination: string }).destination : '';
      const entries: SourceEntry[] = [{ path: 'manifest.json', size: bytes.byteLength }];
      const urls = new Map<string, URL>();
      files.forEach((f: unknown, i: number) => {
        const row = `files[${i}]`;
        if (f === null || typeof f !== 'object')
          throw new InputError('expected an object {path or url, bytes?, sha256?}', { file: where, row });
        const { path: p, url, bytes: size, sha256 } = f as Record<string, unknown>;
        if (p !== undefined && typeof p !== 'string') throw new InputError('"path" must be a string', { file: where, row });
        if (url !== undefined && typeof url !== 'string') throw new InputError('"url" must be a string', { file: where, row });
        if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) >= 0)) {
          throw new InputError('"bytes" must be a non-negative integer', { file: where, row });
        }
        if (sha256 !== undefined && !(typeof sha256 === 'string' && /^[0-9a-f]{64}$/i.test(sha256))) {
          throw new InputError('"sha256" must be 64 hex digits', { file: where, row });
        }
        if (!p && !url) throw new InputError('needs "path" or "url"', { file: where, row });
        let path = p as string | undefined;
        if (url) {
          let own: URL;
          try {
            own = new URL(url as string);
          } catch {
            throw new InputError('"url" is not a valid absolute URL', { file: where, row });
          }
          // Refuses file:// and other hosts (unless allowed); a URL under `destination` is a path here.
          const ref = resolveReference(url as string, this.url.href, destination, this.opts, { file: where, row }, 'file URL');
          if (ref.kind === 'root') {
            path ??= ref.path;
            this.resolve(path);
          } else {
            path ??= this.pathOfUrl(own);
            if (own.protocol === 'https:' || own.protocol === 'http:') urls.set(path, own);
          }
        } else {
          this.resolve(path!); // refuses paths that climb out of the folder
        }
        const entry: SourceEntry = { path: path! };
        if (size !== undefined) entry.size = size as number;
        if (sha256 !== undefined) entry.sha256 = (sha256 as string).toLowerCase();
        entries.push(entry);
      });
      entries.sort(byPath);
      for (let i = 1; i < entries.length; i++) {
        if (entries[i]!.path === entries[i - 1]!.path) {
          throw new InputError(`"files" names ${entries[i]!.path} twice`, { file: where });
        }
      }
      this.manifestUrls = urls;
      return { entries, urls };
    })();
    return this.manifest;
  }

  /** A path for a file given only by URL: relative to the manifest's folder when under it. */
  private pathOfUrl(u: URL): string {
    const bare = redactUrl(u);
    const rel = bare.startsWith(this.folder()) ? bare.slice(this.folder().length) : u.pathname.replace(/^\/+/, '');
    return rel.split('/').map(decodeURIComponent).join('/');
  }

  async list(keep?: (path: string) => boolean): Promise<SourceEntry[]> {
    if (!this.hasManifest) throw new UsageError(`${redactUrl(this.url)} is a single file over https and cannot be listed`);
    return (await this.loadManifest()).entries.filter((e) => !keep || keep(e.path)).map((e) => ({ ...e }));
  }

  async exists(p: string): Promise<boolean> {
    const u = await this.urlFor(p);
    // GET of one byte, not HEAD: a presigned URL is signed for GET only.
    const res = await this.request(u, 'bytes=0-0');
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (res.ok || res.status === 416) return true;
    throw this.statusError(res.status, u);
  }

  async size(p: string): Promise<number> {
    const u = await this.urlFor(p);
    const res = await this.request(u, 'bytes=0-0');
    await res.body?.cancel();
    const cr = res.headers.get('content-range');
    const total = cr ? /\/(\d+)\s*$/.exec(cr)?.[1] : undefined;
    if ((res.status === 206 || res.status === 416) && total !== undefined) return Number(total);
    if (res.status === 200 && res.headers.get('content-length') !== null) return Number(res.headers.get('content-length'));
    if (!res.ok && res.status !== 416) throw this.statusError(res.status, u);
    throw new InputError('the server did not report the file size (no Content-Range)', { file: redactUrl(u) });
  }

  async read(p: string, range?: ByteRange): Promise<Uint8Array> {
    const u = await this.urlFor(p);
    if (range && range.end <= range.start) {
      if (!(await this.exists(p))) throw new InputError('not found', { file: redactUrl(u) });
      return new Uint8Array(0);
    }
    if (!range) return this.fetchOk(u);
    const res = await this.request(u, `bytes=${range.start}-${range.end - 1}`);
    if (res.status === 416) {
      await res.body?.cancel();
      return new Uint8Array(0); // starts past the end: empty, as on a local file
    }
    if (res.status === 206) {
      const cr = res.headers.get('content-range') ?? '';
      const m = /^bytes (\d+)-(\d+)\//.exec(cr);
      if (!m || Number(m[1]) !== range.start) {
        await res.body?.cancel();
        throw new InputError(`the server answered range ${range.start}-${range.end - 1} with "${cr}"`, { file: redactUrl(u) });
      }
      return this.body(res, u, false);
    }
    if (res.ok) {
      // 200 to a range request is only right when the range is the whole file.
      const len = Number(res.headers.get('content-length') ?? NaN);
      if (res.status === 200 && range.start === 0 && len <= range.end) return this.body(res, u, false);
      await res.body?.cancel();
      throw new InputError(`the server ignored the Range request (HTTP ${res.status}, expected 206)`, { file: redactUrl(u) });
    }
    await res.body?.cancel();
    throw this.statusError(res.status, u);
  }

  async *stream(p: string): AsyncIterable<Uint8Array> {
    const u = await this.urlFor(p);
    const res = await this.request(u);
    if (!res.ok) {
      await res.body?.cancel();
      throw this.statusError(res.status, u);
    }
    if (!res.body) return;
    try {
      // A web stream pulls on demand: nothing is read ahead beyond its small internal queue.
      for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) yield c;
    } catch (err) {
      throw this.networkError(err, u);
    }
  }

  private async fetchOk(u: URL): Promise<Uint8Array> {
    const res = await this.request(u);
    if (!res.ok) {
      await res.body?.cancel();
      throw this.statusError(res.status, u);
    }
    return this.body(res, u);
  }

  /** The whole body, refused past `maxReadBytes` (by Content-Length, or while it streams in). */
  private async body(res: Response, u: URL, whole = true): Promise<Uint8Array> {
    const max = whole ? this.opts.maxReadBytes : undefined;
    if (max === undefined) {
      try {
        return new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        throw this.networkError(err, u);
      }
    }
    const tooBig = (n: number | string) => new InputError(`${n} bytes, ${overLimit('maxMemberBytes', max)}`, { file: redactUrl(u) });
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > max) {
      await res.body?.cancel();
      throw tooBig(declared);
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const c of (res.body ?? []) as AsyncIterable<Uint8Array>) {
        total += c.byteLength;
        // Leaving the loop cancels the body.
        if (total > max) throw tooBig(`more than ${max}`);
        parts.push(c);
      }
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw this.networkError(err, u);
    }
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of parts) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }

  /**
   * One request; redirects are followed only where the export may reach (reach.ts): a signed URL
   * whose server redirects to another host (an internal address, say) would otherwise escape it.
   */
  private async request(u: URL, range?: string): Promise<Response> {
    let url = u;
    for (let hop = 0; ; hop++) {
      let res: Response;
      try {
        res = await (this.opts.fetch ?? fetch)(url, { headers: range ? { range } : {}, redirect: 'manual' });
      } catch (err) {
        throw this.networkError(err, u);
      }
      const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
      if (location === null) return res;
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new InputError(`more than ${MAX_REDIRECTS} redirects`, { file: redactUrl(u) });
      const next = new URL(location, url);
      resolveReference(next.href, this.url.href, '', this.opts, { file: redactUrl(u) }, 'redirect to');
      url = next;
    }
  }

  private statusError(status: number, u: URL): InputError {
    const file = redactUrl(u);
    if (status === 404) return new InputError('not found (HTTP 404)', { file });
    if (status === 403 || status === 401) {
      return new InputError(`access denied (HTTP ${status}): the signed URL may be wrong or expired`, { file });
    }
    return new InputError(`HTTP ${status}`, { file });
  }

  private networkError(err: unknown, u: URL): InputError {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    // undici's cause says why (ECONNREFUSED, bad port, ...) and never carries the query string.
    const why = cause?.code ?? cause?.message ?? (err as { name?: string }).name ?? 'error';
    return new InputError(`cannot fetch (${why})`, { file: redactUrl(u) });
  }
}

/** Best effort for strings that do not parse as URLs: drop everything after `?`. */
function redactUrlLoose(s: string): string {
  return s.replace(/[?#].*$/, '');
}
