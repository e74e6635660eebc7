import { createReadStream, readdirSync, realpathSync, statSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { FrameSlots } from '../buffers/index.ts';
import { InputError } from '../errors.ts';
import { startWorker } from '../worker-file.ts';
import type { FromReader, ReadReply, ReadRequest, ToReader } from './frame-reader.worker.ts';
import { overLimit } from '../limits.ts';
import type { SourceOptions } from './open.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';
import { byPath } from '../util/compare.ts';

/** `a/b.webp`: segments of ordinary characters that do not start with a dot, no empty segment. */
const PLAIN_RELATIVE = /^[A-Za-z0-9_-][A-Za-z0-9_\-.]*(\/[A-Za-z0-9_-][A-Za-z0-9_\-.]*)*$/;

/**
 * A local directory. Paths are POSIX-relative to the root; nothing outside the root is reachable:
 * `..` and absolute paths are refused, and so is a file whose real path (symlinks resolved) is
 * not under the root's real path.
 */
export class LocalSource implements Source {
  readonly root: string;
  private readonly abs: string;
  private readonly maxReadBytes?: number;
  private realRoot?: string;

  constructor(root: string, opts: SourceOptions = {}) {
    this.root = root;
    this.abs = path.resolve(root);
    this.maxReadBytes = opts.maxReadBytes;
  }

  /** The root with symlinks resolved (itself when it does not exist yet). */
  private real(): string {
    if (this.realRoot === undefined) {
      try {
        this.realRoot = realpathSync.native(this.abs);
      } catch {
        return this.abs;
      }
    }
    return this.realRoot;
  }

  /** Refuses a file that a symlink leads out of the root (a missing file is left to the caller). */
  private confined(full: string, p: string): string {
    let real: string;
    try {
      real = realpathSync.native(full);
    } catch {
      return full;
    }
    if (!isInside(real, this.real())) throw outsideRoot(this.describe(p));
    return full;
  }

  describe(p: string): string {
    return path.join(this.root, p);
  }

  private resolve(p: string): string {
    // The common case, a plain relative path (frames: tens of thousands per convert), needs no
    // normalising; anything with '.', '..', '//', '\\' or a leading '/' takes the full check.
    if (PLAIN_RELATIVE.test(p)) return `${this.abs}${path.sep}${p}`;
    const full = path.resolve(this.abs, p);
    const rel = path.relative(this.abs, full);
    // A path that climbs out of the root (a hostile manifest or image_url) is refused.
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new InputError(`path escapes the export root ${this.root}`, { file: p });
    }
    return full;
  }

  async list(keep?: (path: string) => boolean): Promise<SourceEntry[]> {
    const out: SourceEntry[] = [];
    // Sync, like the stats below: an export spreads its frames over hundreds of folders, and an
    // awaited readdir per folder is a thread-pool round trip each.
    const walk = (dir: string, prefix: string): void => {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (err) {
        throw notFound(err, this.root);
      }
      for (const e of entries) {
        const rel = prefix ? `${prefix}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(dir, e.name), rel);
        else if ((e.isFile() || e.isSymbolicLink()) && (!keep || keep(rel))) {
          // A stat is microseconds.
          const st = statSync(path.join(dir, e.name), { throwIfNoEntry: false });
          if (st?.isFile()) out.push({ path: rel, size: st.size });
        }
      }
    };
    walk(this.abs, '');
    out.sort(byPath);
    return out;
  }

  /** Whether the file is there; reading one a symlink leads out of the root is refused by the read. */
  async exists(p: string): Promise<boolean> {
    try {
      return (await stat(this.resolve(p))).isFile();
    } catch (err) {
      if (err instanceof InputError) throw err;
      return false;
    }
  }

  async size(p: string): Promise<number> {
    try {
      return (await stat(this.confined(this.resolve(p), p))).size;
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
  }

  async read(p: string, range?: ByteRange): Promise<Uint8Array> {
    const full = this.resolve(p);
    try {
      return await readInWorker(full, this.real(), range, undefined, range ? undefined : this.maxReadBytes);
    } catch (err) {
      throw notFound(err, this.describe(p), this.maxReadBytes);
    }
  }

  async readFrame(p: string): Promise<Uint8Array> {
    const full = this.resolve(p);
    try {
      return await readInWorker(full, this.real(), undefined, true, this.maxReadBytes);
    } catch (err) {
      throw notFound(err, this.describe(p), this.maxReadBytes);
    }
  }

  async *stream(p: string): AsyncIterable<Uint8Array> {
    const full = this.confined(this.resolve(p), p);
    try {
      await stat(full);
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
    for await (const chunk of createReadStream(full, { highWaterMark: 1 << 20 })) {
      const b = chunk as Buffer;
      yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
  }

  /**
   * Read into a ring of RING reused buffers, one read ahead: a fresh 1 MB buffer per chunk (what a
   * read stream allocates) cost a scan of a 1.5 GB shard more than the scan itself (page faults
   * on new memory, and a full GC every few dozen MB of external memory).
   */
  async *streamReusing(p: string): AsyncIterable<Uint8Array> {
    let fh: FileHandle;
    try {
      fh = await open(this.confined(this.resolve(p), p), 'r');
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
    let pending: Promise<{ bytesRead: number }> | null = null;
    try {
      const ring = Array.from({ length: RING }, () => new Uint8Array(RING_CHUNK));
      let k = 0;
      let pos = 0;
      pending = fh.read(ring[0]!, 0, RING_CHUNK, 0);
      for (;;) {
        const { bytesRead } = await pending;
        pending = null;
        if (bytesRead === 0) return;
        const cur = ring[k]!;
        pos += bytesRead;
        k = (k + 1) % RING;
        pending = fh.read(ring[k]!, 0, RING_CHUNK, pos);
        yield cur.subarray(0, bytesRead);
      }
    } finally {
      await pending?.catch(() => undefined);
      await fh.close();
    }
  }
}

const RING_CHUNK = 4 << 20;
/** A chunk from streamReusing stays intact while the two after it are handed out (one more is being read). */
const RING = 4;

function isInside(real: string, root: string): boolean {
  return real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function outsideRoot(where: string): InputError {
  return new InputError('a symbolic link leads out of the export root; only files inside it are read', { file: where });
}

function notFound(err: unknown, where: string, maxReadBytes?: number): Error {
  if (err instanceof InputError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EOUTSIDE') return outsideRoot(where);
  if (code === 'ETOOBIG')
    return new InputError(`${(err as { size?: number }).size} bytes, ${overLimit('maxMemberBytes', maxReadBytes ?? 0)}`, { file: where });
  if (code === 'ENOENT' || code === 'ENOTDIR') return new InputError('no such file or directory', { file: where });
  if (code === 'EACCES' || code === 'EPERM') return new InputError('permission denied', { file: where });
  if (code === 'EISDIR') return new InputError('is a directory, expected a file', { file: where });
  return err as Error;
}

/**
 * Whole-file and range reads run in one worker thread (frame-reader.worker.ts) with synchronous
 * calls, in batches: a frame is one small file (~150 KB, tens of thousands per convert), and four
 * async fs calls per file cost the main thread more than the copy itself. Results are never copied
 * twice:
 *  - `read`: into a buffer the worker transfers; it belongs to the caller;
 *  - `readFrame`: into a frame slot (src/buffers/frame-slots.ts), shared memory the local sink
 *    writes and hashes where it is. The slot comes back to the reader once its owner released it
 *    (`releaseFrame`) and nobody else holds it: fresh buffers count as external memory, and V8 ran
 *    a full GC (and recompiled the hot code it discarded) about every 64 MB of them.
 */
let reader: Worker | undefined;
/** The running reader thread's slots (a new thread starts with new ones). */
let slots: FrameSlots | undefined;
let nextReadId = 1;
let batch: ReadRequest[] = [];
const pendingReads = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();

function readerWorker(): Worker {
  if (!reader) {
    const w = startWorker('source/frame-reader.worker.ts');
    const own = new FrameSlots((list) => w.postMessage({ recycle: list } satisfies ToReader), MESSAGE_BATCH);
    w.on('message', (replies: FromReader) => {
      if (!Array.isArray(replies)) {
        own.forget(replies.forget);
        return;
      }
      outstanding -= replies.length;
      if (outstanding < MESSAGE_BATCH) scheduleSend();
      for (const r of replies) settle(r, own);
      if (pendingReads.size === 0) w.unref();
    });
    // A reader that dies (an error, or stopped) fails what waits on it, and the next read starts a
    // new one: nothing hangs on answers that will never come.
    const died = (err: Error): void => {
      if (reader !== w) return;
      for (const p of pendingReads.values()) p.reject(err);
      pendingReads.clear();
      batch = [];
      outstanding = 0;
      own.close();
      reader = undefined;
      slots = undefined;
    };
    w.on('error', died);
    w.on('exit', (code) => died(new Error(`the file reader thread stopped (exit code ${code}) before answering`)));
    w.unref();
    reader = w;
    slots = own;
  }
  return reader;
}

function settle(r: ReadReply, own: FrameSlots): void {
  const p = pendingReads.get(r.id);
  if (!p) return;
  pendingReads.delete(r.id);
  if (r.error) p.reject(Object.assign(new Error(r.error.message), { code: r.error.code, size: r.error.size }));
  else if (r.slot !== undefined) p.resolve(own.lease(r.slot, r.length!, r.sab));
  else p.resolve(r.bytes!);
}

/** @internal for tests: slots given back that the reader thread may still answer with. */
export function slotsAtReader(): number {
  return slots?.atReaderCount ?? 0;
}

/** @internal for tests: the reader thread, if one runs (to stop it mid-run). */
export function readerThread(): Worker | undefined {
  return reader;
}

/** Requests (and given-back slots) per message to the reader. */
const MESSAGE_BATCH = 8;
/** Requests sent and not answered yet. */
let outstanding = 0;
let sendScheduled = false;

/** Send the waiting requests at the next turn of the event loop (reads asked for meanwhile join them). */
function scheduleSend(): void {
  if (sendScheduled || batch.length === 0) return;
  sendScheduled = true;
  setImmediate(sendBatch);
}

function sendBatch(): void {
  sendScheduled = false;
  if (batch.length === 0) return;
  const b = batch;
  batch = [];
  outstanding += b.length;
  const w = readerWorker();
  w.ref();
  w.postMessage(b satisfies ToReader);
}

/** Starts the reader thread before a read needs it: it takes a few tens of ms to start. */
export function startLocalReader(): void {
  readerWorker();
}

/** `within`: the real root the file must be inside; `max`: the largest file read whole. */
function readInWorker(full: string, within: string, range?: ByteRange, shared?: true, max?: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const id = nextReadId++;
    pendingReads.set(id, { resolve, reject });
    const request: ReadRequest = range ? { id, path: full, within, start: range.start, end: range.end } : { id, path: full, within };
    if (shared) request.shared = true;
    if (max !== undefined) request.max = max;
    batch.push(request);
    // A read-ahead window asks one frame at a time: send a batch once it is full, or at once when
    // the reader is running out of work (the answers to earlier batches also send what waits).
    if (batch.length >= MESSAGE_BATCH || outstanding < MESSAGE_BATCH) scheduleSend();
  });
}
