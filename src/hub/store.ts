/**
 * On-disk storage of the local Hub server. Survives restarts; every write is temp + fsync + rename.
 *
 *   {dir}/objects/{aa}/{sha256}          content-addressed file bytes (LFS objects and small files alike)
 *   {dir}/repos/{type}s/{ns}/{name}/repo.json        visibility, branches, tags
 *   {dir}/repos/{type}s/{ns}/{name}/commits/{sha1}.json   one commit: parents, title, full file map
 *   {dir}/xet/                           Xet xorbs, file reconstructions and indexes (see xet-store.ts)
 *   {dir}/tmp/                           uploads in progress (never read as objects)
 *   {dir}/secret                         key that signs the self-authorizing LFS upload URLs (0600)
 *   {dir}/token                          the write token made when no token is configured (0600)
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { InputError } from '../errors.ts';
import { repoIdProblem } from './repo-id.ts';
import { mkdirs } from '../mkdirs.ts';

export type RepoType = 'dataset' | 'model' | 'space';

/** One file of a commit's tree. */
export interface TreeFile {
  size: number;
  /** sha256 of the bytes: the object's name in the store, and the LFS oid. */
  sha256: string;
  /** git blob sha1: of the bytes for regular files, of the pointer text for LFS files. */
  blobOid: string;
  lfs: boolean;
  /** Xet file hash, when the bytes are stored as Xet chunks (uploaded over Xet) rather than as an object. */
  xetHash?: string;
}

export interface CommitRecord {
  id: string;
  parents: string[];
  title: string;
  message: string;
  /** ISO time the server made the commit (server metadata, not part of the id). */
  date: string;
  authors: string[];
  files: Record<string, TreeFile>;
}

export interface TagRecord {
  commit: string;
  message?: string;
}

export interface RepoRecord {
  type: RepoType;
  id: string;
  private: boolean;
  createdAt: string;
  defaultBranch: string;
  branches: Record<string, string>;
  tags: Record<string, TagRecord>;
}

export const LFS_POINTER_VERSION = 'version https://git-lfs.github.com/spec/v1';

export function lfsPointer(sha256: string, size: number): string {
  return `${LFS_POINTER_VERSION}\noid sha256:${sha256}\nsize ${size}\n`;
}

/** A Buffer as a plain Uint8Array view (no copy): the node typings here do not unify the two. */
export function bytesOf(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** git's object id of a blob: sha1("blob <len>\0" + bytes). */
export function gitBlobOid(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export function treeFileFor(sha256: string, size: number, lfs: boolean, bytes?: Uint8Array): TreeFile {
  const blobOid = gitBlobOid(lfs ? new TextEncoder().encode(lfsPointer(sha256, size)) : (bytes ?? new Uint8Array(0)));
  return { size, sha256, blobOid, lfs };
}

/** Commit ids are derived from content (parents, title, message, tree): no clock, no randomness. */
export function commitId(c: Pick<CommitRecord, 'parents' | 'title' | 'message' | 'files'>): string {
  const h = createHash('sha1');
  h.update(JSON.stringify({ parents: c.parents, title: c.title, message: c.message }));
  for (const p of Object.keys(c.files).sort()) {
    const f = c.files[p]!;
    h.update(`\n${p}\0${f.sha256}\0${f.size}\0${f.lfs ? 1 : 0}`);
  }
  return h.digest('hex');
}

export class ObjectMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ObjectMismatchError';
  }
}

const SHA256_RE = /^[0-9a-f]{64}$/;
const NOT_YOURS =
  'is a link or not your own regular file: the server takes no token or signing key from it; delete it and the server makes a new one';
let tmpCounter = 0;

export class HubStore {
  readonly dir: string;
  private locks = new Map<string, Promise<unknown>>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async open(dir: string): Promise<HubStore> {
    const store = new HubStore(path.resolve(dir));
    // The root first, with a mkdir that ends where recursive mkdir loops (a --dir under /proc).
    // Private repos' bytes live here: a storage dir this makes is its owner's only.
    await mkdirs(store.dir, 0o700);
    await mkdir(path.join(store.dir, 'objects'), { recursive: true });
    await mkdir(path.join(store.dir, 'repos'), { recursive: true });
    // Leftovers of uploads cut off by a previous stop are never objects: drop them.
    await rm(path.join(store.dir, 'tmp'), { recursive: true, force: true });
    await mkdir(path.join(store.dir, 'tmp'), { recursive: true });
    return store;
  }

  /** Key for signing upload URLs; made once, kept so that URLs handed out survive a restart. */
  async secret(): Promise<string> {
    return this.privateFile('secret', () => randomBytes(32).toString('hex'));
  }

  /**
   * A small secret file of the store (`secret`, `token`): made once with `make`, and readable only
   * by its owner (0600), also when an older version left it readable by others. A link, or a file
   * of another user (planted in a --dir other users can write to), is refused: its text would
   * become the server's token or signing key.
   */
  async privateFile(name: string, make: () => string): Promise<string> {
    const file = path.join(this.dir, name);
    let fh: FileHandle | undefined;
    try {
      fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new InputError(NOT_YOURS, { file });
      if (code !== 'ENOENT') throw err;
    }
    if (fh) {
      try {
        const st = await fh.stat();
        if (!st.isFile() || (process.getuid !== undefined && st.uid !== process.getuid())) throw new InputError(NOT_YOURS, { file });
        await fh.chmod(0o600);
        return await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    }
    await this.writeAtomic(file, make(), 0o600);
    return readFile(file, 'utf8');
  }

  tmpPath(label: string): string {
    tmpCounter += 1;
    return path.join(this.dir, 'tmp', `${process.pid}-${tmpCounter}-${label}`);
  }

  async writeAtomic(file: string, data: Uint8Array | string, mode = 0o666): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = this.tmpPath(path.basename(file));
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  }

  // ---- objects ----

  objectPath(sha256: string): string {
    if (!SHA256_RE.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.dir, 'objects', sha256.slice(0, 2), sha256);
  }

  /** Size of a stored object, or undefined when it is not stored. */
  async objectSize(sha256: string): Promise<number | undefined> {
    if (!SHA256_RE.test(sha256)) return undefined;
    try {
      return (await stat(this.objectPath(sha256))).size;
    } catch {
      return undefined;
    }
  }

  async putObjectBytes(bytes: Uint8Array): Promise<string> {
    const sha = createHash('sha256').update(bytes).digest('hex');
    if ((await this.objectSize(sha)) === undefined) await this.writeAtomic(this.objectPath(sha), bytes);
    return sha;
  }

  /**
   * Stream bytes into the store under the oid the client claimed. The bytes go to a temp file
   * while hashed; only when sha256 and size both match is the file renamed to its final name.
   * `onBytes` sees every chunk received (for the server's byte counter).
   */
  async putObjectStream(
    src: Readable | AsyncIterable<Uint8Array>,
    oid: string,
    size: number,
    onBytes?: (n: number) => void,
  ): Promise<void> {
    if (!SHA256_RE.test(oid)) throw new ObjectMismatchError(`oid ${oid} is not a lowercase sha256 hex`);
    const tmp = this.tmpPath(oid);
    const hash = createHash('sha256');
    let received = 0;
    const out = createWriteStream(tmp);
    try {
      await pipeline(
        src,
        async function* (chunks: AsyncIterable<Uint8Array>) {
          for await (const chunk of chunks) {
            received += chunk.length;
            onBytes?.(chunk.length);
            // Stop at the first byte past the claimed size: a signed URL must not fill the disk.
            if (received > size) throw new ObjectMismatchError(`received more than the ${size} bytes of oid ${oid}`);
            hash.update(chunk);
            yield chunk;
          }
        },
        out,
      );
      const got = hash.digest('hex');
      if (received !== size) throw new ObjectMismatchError(`received ${received} bytes for oid ${oid}, expected size ${size}`);
      if (got !== oid) throw new ObjectMismatchError(`the bytes received hash to sha256 ${got}, not the oid ${oid}`);
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await mkdir(path.dirname(this.objectPath(oid)), { recursive: true });
      await rename(tmp, this.objectPath(oid));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  readObject(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.objectPath(sha256), range);
  }

  async readObjectBytes(sha256: string): Promise<Buffer> {
    return readFile(this.objectPath(sha256));
  }

  // ---- multipart parts ----

  partsDir(oid: string): string {
    return path.join(this.dir, 'parts', oid);
  }

  /** Store one multipart part of at most `maxBytes` (temp + rename); returns its md5 hex, used as the part ETag. */
  async putPart(oid: string, partNumber: number, src: Readable, maxBytes: number, onBytes?: (n: number) => void): Promise<string> {
    const dir = this.partsDir(oid);
    await mkdir(dir, { recursive: true });
    const tmp = this.tmpPath(`${oid}-${partNumber}`);
    const md5 = createHash('md5');
    let received = 0;
    try {
      await pipeline(
        src,
        async function* (chunks: AsyncIterable<Uint8Array>) {
          for await (const chunk of chunks) {
            received += chunk.length;
            onBytes?.(chunk.length);
            if (received > maxBytes) throw new ObjectMismatchError(`part ${partNumber} of oid ${oid} is larger than its ${maxBytes} bytes`);
            md5.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp),
      );
      await rename(tmp, path.join(dir, String(partNumber).padStart(5, '0')));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return md5.digest('hex');
  }

  /** Concatenate parts 1..n into the object (verified like a single PUT), then drop the parts. */
  async completeParts(oid: string, size: number, partCount: number): Promise<void> {
    const dir = this.partsDir(oid);
    const names = Array.from({ length: partCount }, (_, i) => path.join(dir, String(i + 1).padStart(5, '0')));
    for (const n of names) {
      try {
        await stat(n);
      } catch {
        throw new ObjectMismatchError(`part ${path.basename(n)} of oid ${oid} was never uploaded`);
      }
    }
    async function* concat(): AsyncIterable<Uint8Array> {
      for (const n of names) for await (const chunk of createReadStream(n)) yield chunk as Uint8Array;
    }
    try {
      await this.putObjectStream(concat(), oid, size);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // ---- repos, commits ----

  repoDir(type: RepoType, id: string): string {
    // The server checked the id already; this keeps any other caller inside repos/ too.
    const problem = repoIdProblem(id);
    if (problem) throw new Error(`invalid repo id ${JSON.stringify(id)}: ${problem}`);
    return path.join(this.dir, 'repos', `${type}s`, ...id.split('/'));
  }

  async getRepo(type: RepoType, id: string): Promise<RepoRecord | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.repoDir(type, id), 'repo.json'), 'utf8')) as RepoRecord;
    } catch {
      return undefined;
    }
  }

  async saveRepo(repo: RepoRecord): Promise<void> {
    await this.writeAtomic(path.join(this.repoDir(repo.type, repo.id), 'repo.json'), JSON.stringify(repo, null, 1));
  }

  async deleteRepo(type: RepoType, id: string): Promise<void> {
    await rm(this.repoDir(type, id), { recursive: true, force: true });
  }

  async listRepoIds(type: RepoType): Promise<string[]> {
    const base = path.join(this.dir, 'repos', `${type}s`);
    const out: string[] = [];
    for (const ns of await readdir(base).catch(() => [] as string[])) {
      for (const name of await readdir(path.join(base, ns)).catch(() => [] as string[])) out.push(`${ns}/${name}`);
    }
    return out.sort();
  }

  async getCommit(type: RepoType, id: string, sha: string): Promise<CommitRecord | undefined> {
    if (!/^[0-9a-f]{40}$/.test(sha)) return undefined;
    try {
      return JSON.parse(await readFile(path.join(this.repoDir(type, id), 'commits', `${sha}.json`), 'utf8')) as CommitRecord;
    } catch {
      return undefined;
    }
  }

  async saveCommit(type: RepoType, id: string, commit: CommitRecord): Promise<void> {
    await this.writeAtomic(path.join(this.repoDir(type, id), 'commits', `${commit.id}.json`), JSON.stringify(commit));
  }

  /** Run `fn` with exclusive access to one repo (commits, refs): mutations never interleave. */
  async withRepoLock<T>(type: RepoType, id: string, fn: () => Promise<T>): Promise<T> {
    const key = `${type}/${id}`;
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }
}
