/**
 * The local source's reader thread (local.ts starts it): whole-file and range reads with
 * synchronous calls, in batches. `read` answers with a transferred buffer; `readFrame` (`shared`)
 * reads into a frame slot (src/buffers/slot-pool.ts) and answers with its number.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { SlotPool } from '../buffers/slot-pool.ts';
import type { SlotList } from '../buffers/frame-slots.ts';

export interface ReadRequest { id: number; path: string; start?: number; end?: number; shared?: true }

export interface ReadReply {
  id: number;
  bytes?: Uint8Array;
  /** A shared read: the slot's number, the bytes read, and its memory when the slot is new. */
  slot?: number;
  length?: number;
  sab?: SharedArrayBuffer;
  error?: { message: string; code?: string };
}

/** To the reader: a batch of reads, or slots given back. */
export type ToReader = ReadRequest[] | { recycle: SlotList };
/** From the reader: the answers to one batch, or slots it dropped from its pool. */
export type FromReader = ReadReply[] | { forget: number[] };

const pool = new SlotPool();

function readOne(r: ReadRequest): ReadReply {
  const fd = openSync(r.path, 'r');
  try {
    const size = fstatSync(fd).size;
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
      const e = err as NodeJS.ErrnoException;
      out.push({ id: r.id, error: { message: String(e?.message ?? e), code: e?.code } });
    }
  }
  port.postMessage(out satisfies FromReader, transfer);
});
