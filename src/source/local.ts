import { createReadStream, realpathSync, statSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InputError } from '../errors.ts';
import { overLimit } from '../limits.ts';
import type { SourceOptions } from './open.ts';
import { sharedBlockFor, sharedBlockOf, whenUnpinned } from '../sink/shared-blocks.ts';
import type { SharedBlock } from '../sink/shared-blocks.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';

/** `a/b.webp`: segments of ordinary characters that do not start with a dot, no empty segment. */
const PLAIN_RELATIVE = /^[A-Za-z0-9_\-][A-Za-z0-9_\-.]*(\/[A-Za-z0-9_\-][A-Za-z0-9_\-.]*)*$/;

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
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        throw notFound(err, this.root);
      }
      for (const e of entries) {
        const rel = prefix ? `${prefix}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(path.join(dir, e.name), rel);
        else if ((e.isFile() || e.isSymbolicLink()) && (!keep || keep(rel))) {
          // Sync: an export lists tens of thousands of frames, and a stat is microseconds.
          const st = statSync(path.join(dir, e.name), { throwIfNoEntry: false });
          if (st?.isFile()) out.push({ path: rel, size: st.size });
        }
      }
    };
    await walk(this.abs, '');
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
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
    let fh;
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
  if (code === 'ETOOBIG') return new InputError(`${(err as { size?: number }).size} bytes, ${overLimit('maxMemberBytes', maxReadBytes ?? 0)}`, { file: where });
  if (code === 'ENOENT' || code === 'ENOTDIR') return new InputError('no such file or directory', { file: where });
  if (code === 'EACCES' || code === 'EPERM') return new InputError('permission denied', { file: where });
  if (code === 'EISDIR') return new InputError('is a directory, expected a file', { file: where });
  return err as Error;
}

/**
 * Whole-file and range reads run in one worker thread with synchronous calls, in batches: a frame
 * is one small file (~150 KB, tens of thousands per convert), and four async fs calls per file
 * cost the main thread more than the copy itself. Results are never copied twice:
 *  - `read`: into a buffer the worker transfers; it belongs to the caller;
 *  - `readFrame`: into a slot of shared memory (sink/shared-blocks.ts), which the local sink writes
 *    and hashes where it is (no copy into the sink's blocks). The worker forgets a slot once it is
 *    handed out: an unrecycled slot is collected like any buffer.
 * Buffers and slots the main thread is done with come back (`recycleFrame`) and are reused: fresh
 * buffers count as external memory, and V8 ran a full GC (and recompiled the hot code it
 * discarded) about every 64 MB of them. Plain JavaScript evaluated from a string (runs the same
 * under tsx, vitest and plain node).
 */
const READER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const POOL_MAX = 64;
const buffers = [];
/** Recycled slots: [slot number, SharedArrayBuffer]. */
const slots = [];
const SLOTS_MAX = 512;
let nextSlot = 1;
/** Index of a pooled buffer (ArrayBuffer or SharedArrayBuffer) that fits size without wasting half of it. */
function fit(pool, size, bytesOf) {
  for (let i = pool.length - 1; i >= 0; i--) {
    const n = bytesOf(pool[i]).byteLength;
    if (n >= size && n <= size * 1.5 + 65536) return i;
  }
  return -1;
}
const NOFOLLOW = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW || 0);
/** Directories whose real path was checked: dir → inside the root it was checked against. */
const dirsChecked = new Map();
function inside(real, root) {
  return real === root || real.startsWith(root.endsWith('/') ? root : root + '/');
}
function outside() {
  return Object.assign(new Error('outside the root'), { code: 'EOUTSIDE' });
}
/**
 * Open a file that must be inside the real root \`within\`, without an extra syscall per file: the
 * open refuses a symlink as the last component (O_NOFOLLOW), and each directory's real path is
 * checked once. A symlink that stays inside the root is still read.
 */
function openInside(p, within) {
  const dir = p.slice(0, p.lastIndexOf('/'));
  const key = within + '\0' + dir;
  let ok = dirsChecked.get(key);
  if (ok === undefined) {
    let real;
    try { real = fs.realpathSync.native(dir); } catch { real = undefined; }
    // A missing directory is left to the open below (not found), and checked again next time.
    if (real !== undefined) {
      ok = inside(real, within);
      if (dirsChecked.size > 4096) dirsChecked.clear();
      dirsChecked.set(key, ok);
    }
  }
  if (ok === false) throw outside();
  try {
    return fs.openSync(p, NOFOLLOW);
  } catch (err) {
    if (err.code !== 'ELOOP') throw err;
    if (!inside(fs.realpathSync.native(p), within)) throw outside();
    return fs.openSync(p, 'r');
  }
}
function readOne(r) {
  const fd = openInside(r.path, r.within);
  try {
    const size = fs.fstatSync(fd).size;
    if (r.max !== undefined && size > r.max) throw Object.assign(new Error('too big'), { code: 'ETOOBIG', size });
    const start = Math.max(0, Math.min(r.start === undefined ? 0 : r.start, size));
    const end = Math.max(start, Math.min(r.end === undefined ? size : r.end, size));
    const want = end - start;
    let buf;
    let slot;
    if (r.shared) {
      const i = fit(slots, want, (s) => s[1]);
      slot = i >= 0 ? slots.splice(i, 1)[0] : [nextSlot++, new SharedArrayBuffer(Math.ceil((want + 1) / 65536) * 65536), true];
      buf = new Uint8Array(slot[1], 0, want);
    } else {
      const i = fit(buffers, want, (b) => b);
      buf = i >= 0 ? new Uint8Array(buffers.splice(i, 1)[0], 0, want) : new Uint8Array(want);
    }
    let off = 0;
    while (off < want) {
      const n = fs.readSync(fd, buf, off, want - off, start + off);
      if (n === 0) break;
      off += n;
    }
    // A new slot goes with its memory; a recycled one the main thread still holds.
    if (slot) return { id: r.id, slot: slot[0], length: off, sab: slot[2] ? slot[1] : undefined };
    return { id: r.id, bytes: off === want ? buf : buf.slice(0, off) };
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (msg) => {
  if (msg.recycle) {
    for (const ab of msg.recycle) if (ab.byteLength > 0) buffers.push(ab);
    if (buffers.length > POOL_MAX) buffers.splice(0, buffers.length - POOL_MAX);
    for (let i = 0; i < msg.slots.length; i += 2) slots.push([msg.slots[i], msg.slots[i + 1], false]);
    // Slots dropped here are never answered with again: the main thread lets go of them too.
    if (slots.length > SLOTS_MAX) parentPort.postMessage({ forget: slots.splice(0, slots.length - SLOTS_MAX).map((s) => s[0]) });
    return;
  }
  const out = [];
  const transfer = [];
  for (const r of msg) {
    try {
      const reply = readOne(r);
      out.push(reply);
      if (reply.bytes) transfer.push(reply.bytes.buffer);
    } catch (err) {
      out.push({ id: r.id, error: { message: String(err && err.message || err), code: err && err.code, size: err && err.size } });
    }
  }
  parentPort.postMessage(out, transfer);
});
`;

interface ReadRequest { id: number; path: string; within: string; start?: number; end?: number; shared?: true; max?: number }
interface ReadReply {
  id: number;
  bytes?: Uint8Array;
  /** A shared read: the slot's number, the bytes read, and its memory when the slot is new. */
  slot?: number;
  length?: number;
  sab?: SharedArrayBuffer;
  error?: { message: string; code?: string; size?: number };
}

let reader: Worker | undefined;
/** Counts reader threads started: slot numbers mean something only to the thread that made them. */
let readerGeneration = 0;
let nextReadId = 1;
let batch: ReadRequest[] = [];
const pendingReads = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();

function readerWorker(): Worker {
  if (!reader) {
    const w = new Worker(READER_SOURCE, { eval: true });
    w.on('message', (replies: ReadReply[] | { forget: number[] }) => {
      if (!Array.isArray(replies)) {
        for (const slot of replies.forget) atReader.delete(slot);
        return;
      }
      outstanding -= replies.length;
      if (outstanding < MESSAGE_BATCH) scheduleSend();
      for (const r of replies) {
        const p = pendingReads.get(r.id);
        if (!p) continue;
        pendingReads.delete(r.id);
        if (r.error) p.reject(Object.assign(new Error(r.error.message), { code: r.error.code, size: r.error.size }));
        else if (r.slot !== undefined) p.resolve(leaseSlot(r.slot, r.length!, r.sab));
        else {
          fromReader.add(r.bytes!.buffer as ArrayBuffer);
          p.resolve(r.bytes!);
        }
      }
      if (pendingReads.size === 0) w.unref();
    });
    w.on('error', (err) => {
      for (const p of pendingReads.values()) p.reject(err);
      pendingReads.clear();
      batch = [];
      outstanding = 0;
      atReader.clear();
      recycled = [];
      recycledSlots = [];
      reader = undefined;
    });
    w.unref();
    reader = w;
    readerGeneration++;
  }
  return reader;
}

/** Buffers this module handed out, the only ones `recycleFrame` takes back. */
const fromReader = new WeakSet<ArrayBuffer>();
let recycled: ArrayBuffer[] = [];

/** Slots handed out by `readFrame` and not given back: the reader thread that made each, and its number. */
const leased = new WeakMap<SharedBlock, { generation: number; slot: number }>();
/** Slots given back: the reader thread reuses them by number (it forgot them when it handed them out). */
const atReader = new Map<number, SharedBlock>();
/** [slot number, its memory]... waiting to go back to the reader. */
let recycledSlots: (number | SharedArrayBuffer)[] = [];

/** @internal for tests: slots given back that the reader thread may still answer with. */
export function slotsAtReader(): number {
  return atReader.size;
}

function leaseSlot(slot: number, length: number, sab: SharedArrayBuffer | undefined): Uint8Array {
  const block = sab ? sharedBlockFor(sab) : atReader.get(slot);
  if (!block) throw new Error(`reader thread answered with slot ${slot}, which it was never given back`);
  atReader.delete(slot);
  leased.set(block, { generation: readerGeneration, slot });
  return block.bytes.subarray(0, length);
}

/**
 * Give a frame read from a local source back for reuse. Only for a caller that owns the bytes and
 * will not touch them again: a transferred buffer moves to the reader thread (here it becomes
 * empty); a shared slot goes back once the sink has written and hashed it (it may be pinned).
 * Anything else (bytes from elsewhere, already given back) is ignored.
 */
export function recycleFrame(bytes: Uint8Array): void {
  if (!reader) return;
  const block = sharedBlockOf(bytes);
  if (block) {
    const lease = leased.get(block);
    if (!lease) return;
    leased.delete(block);
    if (block.pins === 0) slotBack(lease, block);
    else void whenUnpinned(block).then(() => slotBack(lease, block));
    return;
  }
  const ab = bytes.buffer as ArrayBuffer;
  if (!fromReader.has(ab)) return;
  fromReader.delete(ab);
  recycled.push(ab);
  sendRecycled();
}

function slotBack(lease: { generation: number; slot: number }, block: SharedBlock): void {
  // A slot number means something only to the reader thread that made it (one may have died since).
  if (!reader || lease.generation !== readerGeneration) return;
  atReader.set(lease.slot, block);
  recycledSlots.push(lease.slot, block.bytes.buffer as SharedArrayBuffer);
  sendRecycled();
}

function sendRecycled(): void {
  // In batches: every message wakes the reader thread, and on two cores a wake-up costs the
  // sender its time slice more often than not.
  if (recycled.length + recycledSlots.length / 2 < MESSAGE_BATCH || !reader) return;
  const list = recycled;
  reader.postMessage({ recycle: list, slots: recycledSlots }, list);
  recycled = [];
  recycledSlots = [];
}

/** Requests (and recycled buffers) per message to the reader; see recycleFrame. */
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
  w.postMessage(b);
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

