/**
 * The local source's reader thread (local.ts starts it): whole-file and range reads with
 * synchronous calls, in batches. `read` answers with a transferred buffer; `readFrame` (`shared`)
 * reads into a frame slot (src/buffers/slot-pool.ts) and answers with its number.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { SlotPool } from '../buffers/slot-pool.ts';
import type { SlotList } from '../buffers/frame-slots.ts';

/** `within`: the real root the file must be inside; `max`: the largest file read whole. */
export interface ReadRequest {
  id: number;
  path: string;
  within: string;
  start?: number;
  end?: number;
  shared?: true;
  max?: number;
}

export interface ReadReply {
  id: number;
  bytes?: Uint8Array;
  /** A shared read: the slot's number, the bytes read, and its memory when the slot is new. */
  slot?: number;
  length?: number;
  sab?: SharedArrayBuffer;
  error?: { message: string; code?: string; size?: number };
}

/** To the reader: a batch of reads, or slots given back. */
export type ToReader = ReadRequest[] | { recycle: SlotList };
/** From the reader: the answers to one batch, or slots it dropped from its pool. */
export type FromReader = ReadReply[] | { forget: number[] };

const pool = new SlotPool();

const NOFOLLOW = constants.O_RDONLY | (constants.O_NOFOLLOW || 0);
/** Directories whose real path was checked: within + dir → inside the root it was checked against. */
const dirsChecked = new Map<string, boolean>();

function inside(real: string, root: string): boolean {
  return real === root || real.startsWith(root.endsWith('/') ? root : root + '/');
}

function outside(): Error {
  return Object.assign(new Error('outside the root'), { code: 'EOUTSIDE' });
}

/**
 * Open a file that must be inside the real root `within`, without an extra syscall per file: the
 * open refuses a symlink as the last component (O_NOFOLLOW), and each directory's real path is
 * checked once. A symlink that stays inside the root is still read.
 */
function openInside(p: string, within: string): number {
  const dir = p.slice(0, p.lastIndexOf('/'));
  const key = within + '\0' + dir;
  let ok = dirsChecked.get(key);
  if (ok === undefined) {
    let real: string | undefined;
    try {
      real = realpathSync.native(dir);
    } catch {
      real = undefined;
    }
    // A missing directory is left to the open below (not found), and checked again next time.
    if (real !== undefined) {
      ok = inside(real, within);
      if (dirsChecked.size > 4096) dirsChecked.clear();
      dirsChecked.set(key, ok);
    }
  }
  if (ok === false) throw outside();
  try {
    return openSync(p, NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
    if (!inside(realpathSync.native(p), within)) throw outside();
    return openSync(p, 'r');
  }
}

function readOne(r: ReadRequest): ReadReply {
  const fd = openInside(r.path, r.within);
  try {
    const size = fstatSync(fd).size;
    if (r.max !== undefined && size > r.max) throw Object.assign(new Error('too big'), { code: 'ETOOBIG', size });
    const start = Math.max(0, Math.min(r.start ?? 0, size));
    const end = Math.max(start, Math.min(r.end ?? size, size));
    const want = end - start;
    const slot = r.shared ? pool.take(want) : undefined;
    const buf = slot ? new Uint8Array(slot.buffer, 0, want) : new Uint8Array(want);
    let off = 0;
    while (off < want) {
      const n = readSync(fd, buf, off, want - off, start + off);
      if (n === 0) break;
      off += n;
    }
    // A new slot goes with its memory; a reused one the main thread still holds.
    if (slot) return { id: r.id, slot: slot.slot, length: off, sab: slot.fresh ? slot.buffer : undefined };
    return { id: r.id, bytes: off === want ? buf : buf.slice(0, off) };
  } finally {
    closeSync(fd);
  }
}

const port = parentPort!;
port.on('message', (msg: ToReader) => {
  if (!Array.isArray(msg)) {
    const dropped = pool.giveBack(msg.recycle);
    // Slots dropped here are never answered with again: the main thread lets go of them too.
    if (dropped.length) port.postMessage({ forget: dropped } satisfies FromReader);
    return;
  }
  const out: ReadReply[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const r of msg) {
    try {
      const reply = readOne(r);
      out.push(reply);
      if (reply.bytes) transfer.push(reply.bytes.buffer as ArrayBuffer);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { size?: number };
      out.push({ id: r.id, error: { message: String(e?.message ?? e), code: e?.code, size: e?.size } });
    }
  }
  port.postMessage(out satisfies FromReader, transfer);
});
