/**
 * Writing to a repo: preupload (the server decides LFS vs inline), and the NDJSON commit.
 */
import { createInterface } from 'node:readline';
import { Transform } from 'node:stream';
import { HttpError, readJson, revisionNotFound, sendJson } from './server-http.ts';
import { checkRepoPath, openRepo, USER_NAME, type HubContext, type HubRequest } from './server-context.ts';
import { XetStore } from './xet-store.ts';
import { readSmallFile } from './server-files.ts';
import { bytesOf, commitId, treeFileFor, type CommitRecord, type RepoRecord, type TreeFile } from './store.ts';

/** The .gitattributes a new repo starts with: the usual binary and archive formats go through LFS. */
export const DEFAULT_GITATTRIBUTES =
  [
    '*.7z',
    '*.arrow',
    '*.bin',
    '*.bz2',
    '*.ckpt',
    '*.ftz',
    '*.gz',
    '*.h5',
    '*.joblib',
    '*.lfs.*',
    '*.lz4',
    '*.mds',
    '*.mlmodel',
    '*.model',
    '*.msgpack',
    '*.npy',
    '*.npz',
    '*.onnx',
    '*.ot',
    '*.parquet',
    '*.pb',
    '*.pickle',
    '*.pkl',
    '*.pt',
    '*.pth',
    '*.rar',
    '*.safetensors',
    'saved_model/**/*',
    '*.tar.*',
    '*.tar',
    '*.tflite',
    '*.tgz',
    '*.wasm',
    '*.xz',
    '*.zip',
    '*.zst',
    '*tfevents*',
    '*.mp3',
    '*.ogg',
    '*.wav',
    '*.flac',
    '*.jpg',
    '*.jpeg',
    '*.png',
    '*.webp',
    '*.gif',
    '*.mp4',
    '*.webm',
  ]
    .map((p) => `${p} filter=lfs diff=lfs merge=lfs -text`)
    .join('\n') + '\n';

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether .gitattributes text routes `filePath` through LFS (the last matching rule wins). */
export function gitattributesSaysLfs(text: string, filePath: string): boolean {
  let lfs = false;
  const base = filePath.slice(filePath.lastIndexOf('/') + 1);
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [pattern, ...attrs] = line.split(/\s+/);
    const anchored = pattern!.includes('/');
    const re = globToRegExp(pattern!.replace(/^\//, ''));
    if (!re.test(anchored ? filePath : base)) continue;
    for (const a of attrs) {
      if (a === 'filter=lfs') lfs = true;
      else if (a === '-filter' || a === '!filter' || (a.startsWith('filter=') && a !== 'filter=lfs')) lfs = false;
    }
  }
  return lfs;
}

/** Largest .gitattributes read to classify preuploads. */
const MAX_GITATTRIBUTES_BYTES = 1024 * 1024;

async function gitattributesOf(ctx: HubContext, commit: CommitRecord | undefined): Promise<string> {
  const f = commit?.files['.gitattributes'];
  return f ? (await readSmallFile(ctx, f, MAX_GITATTRIBUTES_BYTES)).toString('utf8') : '';
}

async function branchHead(ctx: HubContext, repo: RepoRecord, rev: string): Promise<CommitRecord> {
  const sha = Object.hasOwn(repo.branches, rev) ? repo.branches[rev] : undefined;
  const commit = sha && (await ctx.store.getCommit(repo.type, repo.id, sha));
  if (!commit) throw revisionNotFound(rev);
  return commit;
}

function refusePullRequest(r: HubRequest): void {
  const pr = r.url.searchParams.get('create_pr');
  if (pr === '1' || pr === 'true') throw new HttpError(400, 'pull requests (create_pr) are not supported by this local Hub server');
}

export async function handlePreupload(ctx: HubContext, r: HubRequest, repo: RepoRecord, rev: string): Promise<void> {
  refusePullRequest(r);
  const head = await branchHead(ctx, repo, rev);
  const body = await readJson(r.req);
  if (!Array.isArray(body.files)) throw new HttpError(400, 'preupload body needs "files": [{path, size, sample}]');
  const attributes = typeof body.gitAttributes === 'string' ? body.gitAttributes : await gitattributesOf(ctx, head);
  const files = (body.files as Array<Record<string, unknown>>).map((f) => {
    const p = checkRepoPath(f?.path);
    const size = Number(f.size);
    if (!Number.isSafeInteger(size) || size < 0) throw new HttpError(400, `preupload: invalid size for ${p}`);
    const sample = typeof f.sample === 'string' ? Buffer.from(f.sample, 'base64') : Buffer.alloc(0);
    const lfs = size > 0 && (size >= ctx.lfsThresholdBytes || sample.includes(0) || gitattributesSaysLfs(attributes, p));
    const existing = head.files[p];
    const out: Record<string, unknown> = { path: p, uploadMode: lfs ? 'lfs' : 'regular', shouldIgnore: false };
    if (existing) out.oid = existing.lfs ? existing.sha256 : existing.blobOid;
    return out;
  });
  sendJson(r.res, 200, { files });
}

type Op =
  | { kind: 'add'; path: string; file: TreeFile }
  | { kind: 'lfs'; path: string; oid: string; size: number }
  | { kind: 'delete'; path: string }
  | { kind: 'deleteFolder'; path: string };

function field(v: Record<string, unknown>, key: string, line: number): unknown {
  if (!(key in v)) throw new HttpError(400, `commit line ${line}: "${key}" is missing`);
  return v[key];
}

/**
 * Longest NDJSON line of a commit: an inline file below the LFS threshold, base64-encoded, plus its
 * JSON. Larger files go through LFS (preupload says so), so a longer line is refused, not buffered.
 */
export function maxCommitLineBytes(ctx: HubContext): number {
  return Math.ceil((ctx.lfsThresholdBytes * 4) / 3) + 1024 * 1024;
}

/** Pass bytes through, failing with 413 once a line (bytes since the last newline) exceeds `max`. */
function lineLimit(max: number): Transform {
  let run = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const first = chunk.indexOf(10);
      // The line that ends in this chunk (or goes on past it), then the one it ends with.
      const tooLong = (first === -1 ? run + chunk.length : run + first) > max;
      run = first === -1 ? run + chunk.length : chunk.length - chunk.lastIndexOf(10) - 1;
      if (tooLong || run > max) done(new HttpError(413, `a commit line is longer than ${max} bytes: send files of that size through LFS`));
      else done(null, chunk);
    },
  });
}

/** Parse the NDJSON stream; inline file bytes go to the object store as they arrive. */
async function readCommitLines(ctx: HubContext, r: HubRequest): Promise<{ header: Record<string, unknown>; ops: Op[] }> {
  let header: Record<string, unknown> | undefined;
  const ops: Op[] = [];
  let n = 0;
  const lines = createInterface({ input: r.req.pipe(lineLimit(maxCommitLineBytes(ctx))), crlfDelay: Infinity });
  for await (const raw of lines) {
    n += 1;
    if (raw.trim() === '') continue;
    let item: { key?: unknown; value?: unknown };
    try {
      item = JSON.parse(raw) as typeof item;
    } catch {
      throw new HttpError(400, `commit line ${n} is not JSON`);
    }
    const v = (item.value ?? {}) as Record<string, unknown>;
    if (item.key === 'header') {
      if (header) throw new HttpError(400, `commit line ${n}: a second header`);
      header = v;
      continue;
    }
    if (!header) throw new HttpError(400, `commit line ${n}: the first line must be the header`);
    switch (item.key) {
      case 'file': {
        const p = checkRepoPath(field(v, 'path', n));
        const content = field(v, 'content', n);
        if (typeof content !== 'string') throw new HttpError(400, `commit line ${n}: content must be a string`);
        const bytes = bytesOf(Buffer.from(content, v.encoding === 'base64' ? 'base64' : 'utf8'));
        const sha = await ctx.store.putObjectBytes(bytes);
        ops.push({ kind: 'add', path: p, file: treeFileFor(sha, bytes.length, false, bytes) });
        break;
      }
      case 'lfsFile': {
        const p = checkRepoPath(field(v, 'path', n));
        const oid = String(field(v, 'oid', n));
        const size = Number(field(v, 'size', n));
        if (v.algo !== undefined && v.algo !== 'sha256') throw new HttpError(400, `commit line ${n}: algo must be sha256`);
        if (!/^[0-9a-f]{64}$/.test(oid) || !Number.isSafeInteger(size) || size < 0)
          throw new HttpError(400, `commit line ${n}: invalid lfsFile oid or size`);
        ops.push({ kind: 'lfs', path: p, oid, size });
        break;
      }
      case 'deletedFile':
        ops.push({ kind: 'delete', path: checkRepoPath(field(v, 'path', n)) });
        break;
      case 'deletedFolder':
        ops.push({ kind: 'deleteFolder', path: checkRepoPath(String(field(v, 'path', n)).replace(/\/+$/, '')) });
        break;
      default:
        throw new HttpError(400, `commit line ${n}: unsupported key ${JSON.stringify(item.key)}`);
    }
  }
  if (!header) throw new HttpError(400, 'commit body is empty: the header line is missing');
  return { header, ops };
}

async function applyOps(ctx: HubContext, base: Record<string, TreeFile>, ops: Op[]): Promise<Record<string, TreeFile>> {
  const files = { ...base };
  for (const op of ops) {
    if (op.kind === 'add') files[op.path] = op.file;
    else if (op.kind === 'lfs') {
      const stored = await ctx.store.objectSize(op.oid);
      if (stored === undefined) {
        // Uploaded over Xet: the pointer names the sha256 the verified shard recorded for the file.
        const xet = await new XetStore(ctx.store).fileBySha256(op.oid);
        if (!xet) throw new HttpError(422, `LFS object ${op.oid} for ${op.path} was never uploaded`);
        if (xet.size !== op.size) throw new HttpError(422, `Xet file ${op.oid} for ${op.path} has ${xet.size} bytes, not ${op.size}`);
        files[op.path] = { ...treeFileFor(op.oid, op.size, true), xetHash: xet.hash };
        continue;
      }
      if (stored !== op.size) throw new HttpError(422, `LFS object ${op.oid} for ${op.path} has ${stored} bytes, not ${op.size}`);
      files[op.path] = treeFileFor(op.oid, op.size, true);
    } else if (op.kind === 'delete') {
      if (!Object.hasOwn(files, op.path)) throw new HttpError(404, `file to delete not found: ${op.path}`, 'EntryNotFound');
      delete files[op.path];
    } else {
      const prefix = `${op.path}/`;
      for (const p of Object.keys(files)) if (p.startsWith(prefix)) delete files[p];
    }
  }
  // git cannot hold a file and a folder of the same name.
  for (const p of Object.keys(files)) {
    for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) {
      if (Object.hasOwn(files, p.slice(0, i))) throw new HttpError(400, `${p.slice(0, i)} cannot be both a file and a folder`);
    }
  }
  return files;
}

/** Build, store and return a commit on top of `parent` (no ref is moved). */
export async function writeCommit(
  ctx: HubContext,
  repo: RepoRecord,
  parent: string | undefined,
  title: string,
  message: string,
  files: Record<string, TreeFile>,
): Promise<CommitRecord> {
  const body = { parents: parent ? [parent] : [], title, message, files };
  const commit: CommitRecord = { id: commitId(body), ...body, date: new Date().toISOString(), authors: [USER_NAME] };
  const existing = await ctx.store.getCommit(repo.type, repo.id, commit.id);
  if (existing) return existing;
  await ctx.store.saveCommit(repo.type, repo.id, commit);
  ctx.stats.commits += 1;
  return commit;
}

export async function handleCommit(ctx: HubContext, r: HubRequest, repo: RepoRecord, branch: string): Promise<void> {
  refusePullRequest(r);
  await branchHead(ctx, repo, branch); // fail before reading a large body
  const { header, ops } = await readCommitLines(ctx, r);
  const summary = typeof header.summary === 'string' && header.summary.trim() ? header.summary.trim() : 'Upload files';
  const description = typeof header.description === 'string' ? header.description : '';
  const commit = await ctx.store.withRepoLock(repo.type, repo.id, async () => {
    const fresh = await openRepo(ctx, r, repo.type, repo.id, true);
    const head = await branchHead(ctx, fresh, branch);
    if (typeof header.parentCommit === 'string' && header.parentCommit !== head.id) {
      throw new HttpError(412, `parentCommit ${header.parentCommit} is not the head of ${branch} (${head.id}): pull and retry`);
    }
    const files = await applyOps(ctx, head.files, ops);
    // The repo's readers may now fetch the Xet files it names through the CAS.
    const xs = new XetStore(ctx.store);
    for (const op of ops) {
      const xetHash = op.kind === 'lfs' ? files[op.path]?.xetHash : undefined;
      if (xetHash) await xs.grant(xetHash, `${fresh.type}/${fresh.id}`);
    }
    const c = await writeCommit(ctx, fresh, head.id, summary, description, files);
    fresh.branches[branch] = c.id;
    await ctx.store.saveRepo(fresh);
    return c;
  });
  const commitUrl = `${r.endpoint}/${repo.type === 'model' ? '' : `${repo.type}s/`}${repo.id}/commit/${commit.id}`;
  sendJson(r.res, 200, { success: true, commitOid: commit.id, commitUrl, hookOutput: '' });
}
