/**
 * Reading a repo: tree listings (recursive, paginated), paths-info, and resolve/raw downloads with
 * the headers huggingface_hub and @huggingface/hub require (X-Repo-Commit, ETag, X-Linked-*, Range).
 */
import { createHash } from 'node:crypto';
import { entryNotFound, HttpError, parseRange, readBody, sendJson } from './server-http.ts';
import { splitRevision, type HubContext, type HubRequest } from './server-context.ts';
import { lfsPointer, type CommitRecord, type RepoRecord, type TreeFile } from './store.ts';
import { byPath } from '../util/compare.ts';
import { Readable } from 'node:stream';
import { xetDownloadHeaders } from './server-xet.ts';
import { XetStore } from './xet-store.ts';

type Entry = { type: 'file'; path: string; file: TreeFile } | { type: 'directory'; path: string };

/** Folders implied by the file paths, each with a content-derived id (stands in for git's tree sha). */
function directoryOids(files: Record<string, TreeFile>): Map<string, string> {
  const hashes = new Map<string, ReturnType<typeof createHash>>();
  for (const p of Object.keys(files).sort()) {
    for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) {
      const dir = p.slice(0, i);
      let h = hashes.get(dir);
      if (!h) hashes.set(dir, (h = createHash('sha1')));
      h.update(`${p.slice(i + 1)}\0${files[p]!.blobOid}\n`);
    }
  }
  return new Map([...hashes].map(([d, h]) => [d, h.digest('hex')]));
}

function listEntries(commit: CommitRecord, base: string, recursive: boolean): Entry[] | undefined {
  const dirs = directoryOids(commit.files);
  if (base !== '' && !dirs.has(base)) return undefined;
  const prefix = base === '' ? '' : `${base}/`;
  const out: Entry[] = [];
  const seenDirs = new Set<string>();
  for (const p of Object.keys(commit.files)) {
    if (!p.startsWith(prefix)) continue;
    const rest = p.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash === -1) out.push({ type: 'file', path: p, file: commit.files[p]! });
    else if (!recursive) seenDirs.add(prefix + rest.slice(0, slash));
    else for (let i = slash; i !== -1; i = rest.indexOf('/', i + 1)) seenDirs.add(prefix + rest.slice(0, i));
    if (recursive && slash !== -1) out.push({ type: 'file', path: p, file: commit.files[p]! });
  }
  for (const d of seenDirs) out.push({ type: 'directory', path: d });
  return out.sort(byPath);
}

/** For each entry, the newest commit (first-parent walk) that changed it. */
async function lastCommits(ctx: HubContext, repo: RepoRecord, head: CommitRecord, entries: Entry[]): Promise<Map<string, CommitRecord>> {
  const found = new Map<string, CommitRecord>();
  let c: CommitRecord | undefined = head;
  while (c && found.size < entries.length) {
    const parent: CommitRecord | undefined = c.parents[0] ? await ctx.store.getCommit(repo.type, repo.id, c.parents[0]) : undefined;
    const before = parent?.files ?? {};
    const changed = new Set<string>();
    for (const p of new Set([...Object.keys(c.files), ...Object.keys(before)])) {
      if (c.files[p]?.sha256 !== before[p]?.sha256 || c.files[p]?.lfs !== before[p]?.lfs) changed.add(p);
    }
    for (const e of entries) {
      if (found.has(e.path)) continue;
      const hit = e.type === 'file' ? changed.has(e.path) : [...changed].some((p) => p.startsWith(`${e.path}/`));
      if (hit) found.set(e.path, c);
    }
    c = parent;
  }
  return found;
}

async function render(ctx: HubContext, repo: RepoRecord, commit: CommitRecord, entries: Entry[], expand: boolean): Promise<unknown[]> {
  const dirs = directoryOids(commit.files);
  const last = expand ? await lastCommits(ctx, repo, commit, entries) : undefined;
  return entries.map((e) => {
    const out: Record<string, unknown> =
      e.type === 'file'
        ? { type: 'file', oid: e.file.blobOid, size: e.file.size, path: e.path }
        : { type: 'directory', oid: dirs.get(e.path), size: 0, path: e.path };
    if (e.type === 'file' && e.file.lfs)
      out.lfs = { oid: e.file.sha256, size: e.file.size, pointerSize: Buffer.byteLength(lfsPointer(e.file.sha256, e.file.size)) };
    // Only for files stored as Xet chunks: clients that see it may skip the resolve and read through the CAS.
    if (e.type === 'file' && e.file.xetHash) out.xetHash = e.file.xetHash;
    const lc = last?.get(e.path);
    if (lc) out.lastCommit = { id: lc.id, title: lc.title, date: lc.date };
    // No securityFileStatus: this server scans nothing, and must not claim files are safe.
    return out;
  });
}

const truthy = (v: string | null | undefined): boolean => v === '1' || v?.toLowerCase() === 'true';

/** `GET /api/{type}s/{id}/tree/{rev}[/{path}]?recursive=&expand=&cursor=` */
export async function handleTree(ctx: HubContext, r: HubRequest, repo: RepoRecord, segs: string[]): Promise<void> {
  const { commit, rest } = await splitRevision(ctx, repo, segs);
  const base = rest.join('/').replace(/\/+$/, '');
  const entries = listEntries(commit, base, truthy(r.url.searchParams.get('recursive')));
  if (!entries) throw entryNotFound(base, commit.id);
  const offset = Number(r.url.searchParams.get('cursor') ?? '0');
  if (!Number.isSafeInteger(offset) || offset < 0) throw new HttpError(400, 'invalid cursor');
  const limitParam = Number(r.url.searchParams.get('limit') ?? ctx.treePageSize);
  const limit = Number.isSafeInteger(limitParam) && limitParam > 0 ? Math.min(limitParam, ctx.treePageSize) : ctx.treePageSize;
  const page = entries.slice(offset, offset + limit);
  const headers: Record<string, string> = {};
  if (offset + limit < entries.length) {
    const next = new URL(r.url.pathname + r.url.search, r.endpoint);
    next.searchParams.set('cursor', String(offset + limit));
    headers.Link = `<${next.href}>; rel="next"`;
  }
  sendJson(r.res, 200, await render(ctx, repo, commit, page, truthy(r.url.searchParams.get('expand'))), headers);
}

/** `POST /api/{type}s/{id}/paths-info/{rev}` with a JSON body (JS) or a form body (Python). */
export async function handlePathsInfo(ctx: HubContext, r: HubRequest, repo: RepoRecord, segs: string[]): Promise<void> {
  const { commit } = await splitRevision(ctx, repo, segs);
  const raw = (await readBody(r.req, 16 * 1024 * 1024)).toString('utf8');
  let paths: unknown[];
  let expand = false;
  if ((r.req.headers['content-type'] ?? '').includes('json') || raw.trimStart().startsWith('{')) {
    let body: { paths?: unknown; expand?: unknown };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      throw new HttpError(400, 'paths-info body is not JSON');
    }
    paths = Array.isArray(body.paths) ? body.paths : [body.paths];
    expand = body.expand === true;
  } else {
    const form = new URLSearchParams(raw);
    paths = form.getAll('paths');
    expand = truthy(form.get('expand'));
  }
  const dirs = directoryOids(commit.files);
  const entries: Entry[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    if (typeof p !== 'string') continue;
    const clean = p.replace(/^\/+|\/+$/g, '');
    if (seen.has(clean)) continue;
    seen.add(clean);
    const file = commit.files[clean];
    if (file) entries.push({ type: 'file', path: clean, file });
    else if (dirs.has(clean)) entries.push({ type: 'directory', path: clean });
  }
  sendJson(r.res, 200, await render(ctx, repo, commit, entries, expand));
}

/** `GET|HEAD /{prefix}{id}/resolve|raw/{rev}/{path}`: the bytes, served directly (no redirect). */
export async function handleDownload(ctx: HubContext, r: HubRequest, repo: RepoRecord, segs: string[], raw: boolean): Promise<void> {
  const { commit, rest, rev } = await splitRevision(ctx, repo, segs);
  const filePath = rest.join('/');
  const file = commit.files[filePath];
  if (!file) throw entryNotFound(filePath, commit.id);
  const pointer = raw && file.lfs ? Buffer.from(lfsPointer(file.sha256, file.size)) : undefined;
  const size = pointer ? pointer.length : file.size;
  const headers: Record<string, string> = {
    'X-Repo-Commit': commit.id,
    ETag: `"${file.lfs && !raw ? file.sha256 : file.blobOid}"`,
    'Accept-Ranges': 'bytes',
    'Content-Type': pointer ? 'text/plain; charset=utf-8' : 'application/octet-stream',
  };
  if (file.lfs && !raw) {
    headers['X-Linked-Etag'] = `"${file.sha256}"`;
    headers['X-Linked-Size'] = String(file.size);
  }
  if (file.xetHash && !raw) {
    Object.assign(headers, xetDownloadHeaders(r, repo, rev, file.xetHash));
    if ((r.req.headers.accept ?? '').includes(XET_FILEINFO)) {
      // @huggingface/hub asks for this to download through the CAS instead of these bytes.
      sendJson(r.res, 200, { hash: file.xetHash, size: file.size, etag: file.sha256 }, headers, r.head, XET_FILEINFO);
      return;
    }
  }
  const range = parseRange(r.req.headers.range, size);
  if (range === 'unsatisfiable') {
    if (size === 0) {
      // An empty file has no byte 0; still tell range-probing clients (JS downloadFile) its size.
      r.res.writeHead(200, { ...headers, 'Content-Length': '0', 'Content-Range': 'bytes */0' }).end();
      return;
    }
    r.res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' }).end();
    return;
  }
  const status = range ? 206 : 200;
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  r.res.writeHead(status, headers);
  if (r.head || size === 0) {
    r.res.end();
    return;
  }
  if (pointer) {
    r.res.end(pointer.subarray(start, end + 1));
    return;
  }
  const stream = readTreeFile(ctx, file, start, end);
  stream.on('error', () => r.res.destroy());
  stream.pipe(r.res);
}

const XET_FILEINFO = 'application/vnd.xet-fileinfo+json';

/** Bytes [start, end] of a committed file, from the object store or decoded from its Xet chunks. */
export function readTreeFile(ctx: HubContext, file: TreeFile, start: number, end: number): Readable {
  if (!file.xetHash) return ctx.store.readObject(file.sha256, { start, end });
  const xs = new XetStore(ctx.store);
  const hash = file.xetHash;
  return Readable.from(
    (async function* () {
      const rec = await xs.fileRecord(hash);
      if (!rec) throw new Error(`Xet file ${hash} is missing from the store`);
      yield* xs.readFile(rec, start, end);
    })(),
    { objectMode: false },
  );
}

/** A whole small committed file (README, .gitattributes), at most `limit` bytes. */
export async function readSmallFile(ctx: HubContext, file: TreeFile, limit: number): Promise<Buffer> {
  if (file.size > limit) throw new HttpError(413, `file of ${file.size} bytes is larger than the ${limit} bytes read here`);
  if (!file.xetHash) return ctx.store.readObjectBytes(file.sha256);
  const parts: Buffer[] = [];
  for await (const p of readTreeFile(ctx, file, 0, file.size - 1)) parts.push(p as Buffer);
  return Buffer.concat(parts);
}
