import { createReadStream, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InputError } from '../errors.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';

/** A local directory. Paths are POSIX-relative to the root; nothing outside the root is reachable. */
export class LocalSource implements Source {
  readonly root: string;
  private readonly abs: string;

  constructor(root: string) {
    this.root = root;
    this.abs = path.resolve(root);
  }

  describe(p: string): string {
    return path.join(this.root, p);
  }

  private resolve(p: string): string {
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
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full, rel);
        else if ((e.isFile() || e.isSymbolicLink()) && (!keep || keep(rel))) {
          // Sync: an export lists tens of thousands of frames, and a stat is microseconds.
          const st = statSync(full, { throwIfNoEntry: false });
          if (st?.isFile()) out.push({ path: rel, size: st.size });
        }
      }
    };
    await walk(this.abs, '');
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return out;
  }

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
      return (await stat(this.resolve(p))).size;
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
  }

  async read(p: string, range?: ByteRange): Promise<Uint8Array> {
    const full = this.resolve(p);
    try {
      return await readInWorker(full, range);
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
  }

  async *stream(p: string): AsyncIterable<Uint8Array> {
    const full = this.resolve(p);
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
}

function notFound(err: unknown, where: string): Error {
  if (err instanceof InputError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new InputError('no such file or directory', { file: where });
  if (code === 'EACCES' || code === 'EPERM') return new InputError('permission denied', { file: where });
  if (code === 'EISDIR') return new InputError('is a directory, expected a file', { file: where });
  return err as Error;
}

/**
 * Whole-file and range reads run in one worker thread with synchronous calls, in batches: a frame
 * is one small file (~150 KB, tens of thousands per convert), and four async fs calls per file
 * cost the main thread more than the copy itself. The worker transfers each result, so nothing is
 * copied twice. Buffers the main thread is done with come back (`recycleFrame`) and are reused:
 * fresh buffers count as external memory, and V8 ran a full GC (and recompiled the hot code it
 * discarded) about every 64 MB of them. Plain JavaScript evaluated from a string (runs the same
 * under tsx, vitest and plain node).
 */
const READER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const pool = [];
const POOL_MAX = 64;
/** A view of exactly size bytes, over a returned buffer when one fits without wasting half of it. */
function buffer(size) {
  for (let i = pool.length - 1; i >= 0; i--) {
    const ab = pool[i];
    if (ab.byteLength >= size && ab.byteLength <= size * 1.5) {
      pool.splice(i, 1);
      return new Uint8Array(ab, 0, size);
    }
  }
  return new Uint8Array(size);
}
function readOne(r) {
  const fd = fs.openSync(r.path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, Math.min(r.start === undefined ? 0 : r.start, size));
    const end = Math.max(start, Math.min(r.end === undefined ? size : r.end, size));
    const buf = buffer(end - start);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) break;
      off += n;
    }
    return off === buf.length ? buf : buf.slice(0, off);
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (msg) => {
  if (msg.recycle) {
    for (const ab of msg.recycle) if (ab.byteLength > 0) pool.push(ab);
    if (pool.length > POOL_MAX) pool.splice(0, pool.length - POOL_MAX);
    return;
  }
  const out = [];
  const transfer = [];
  for (const r of msg) {
    try {
      const bytes = readOne(r);
      out.push({ id: r.id, bytes });
      transfer.push(bytes.buffer);
    } catch (err) {
      out.push({ id: r.id, error: { message: String(err && err.message || err), code: err && err.code } });
    }
  }
  parentPort.postMessage(out, transfer);
});
`;

interface ReadRequest { id: number; path: string; start?: number; end?: number }
interface ReadReply { id: number; bytes?: Uint8Array; error?: { message: string; code?: string } }

let reader: Worker | undefined;
let nextReadId = 1;
let batch: ReadRequest[] = [];
const pendingReads = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();

function readerWorker(): Worker {
  if (!reader) {
    const w = new Worker(READER_SOURCE, { eval: true });
    w.on('message', (replies: ReadReply[]) => {
      outstanding -= replies.length;
      if (outstanding < MESSAGE_BATCH) scheduleSend();
      for (const r of replies) {
        const p = pendingReads.get(r.id);
        if (!p) continue;
        pendingReads.delete(r.id);
        if (r.error) p.reject(Object.assign(new Error(r.error.message), { code: r.error.code }));
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
      reader = undefined;
    });
    w.unref();
    reader = w;
  }
  return reader;
}

/** Buffers this module handed out, the only ones `recycleFrame` takes back. */
const fromReader = new WeakSet<ArrayBuffer>();
let recycled: ArrayBuffer[] = [];

/**
 * Give a frame read from a local source back for reuse. Only for a caller that owns the bytes and
 * will not touch them again: the buffer moves to the reader thread (here it becomes empty).
 * Anything else (bytes from elsewhere, already given back) is ignored.
 */
export function recycleFrame(bytes: Uint8Array): void {
  const ab = bytes.buffer as ArrayBuffer;
  if (!reader || !fromReader.has(ab)) return;
  fromReader.delete(ab);
  recycled.push(ab);
  // In batches: every message wakes the reader thread, and on two cores a wake-up costs the
  // sender its time slice more often than not.
  if (recycled.length >= MESSAGE_BATCH) {
    const list = recycled;
    recycled = [];
    reader.postMessage({ recycle: list }, list);
  }
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

function readInWorker(full: string, range?: ByteRange): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const id = nextReadId++;
    pendingReads.set(id, { resolve, reject });
    batch.push(range ? { id, path: full, start: range.start, end: range.end } : { id, path: full });
    // A read-ahead window asks one frame at a time: send a batch once it is full, or at once when
    // the reader is running out of work (the answers to earlier batches also send what waits).
    if (batch.length >= MESSAGE_BATCH || outstanding < MESSAGE_BATCH) scheduleSend();
  });
}

