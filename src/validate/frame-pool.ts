/**
 * Frame checks: read a frame's size. With `--decode header` that runs on the calling thread (WebP,
 * PNG and JPEG headers parsed by hand, no pixel work, no copy; duplicate frames are found by
 * frame-dedupe.ts from the bytes); with `--decode full` a pool of worker_threads decodes every
 * pixel with sharp and hashes the frame there (its bytes are transferred). The worker is plain JavaScript from a string, like
 * src/frames/pool.ts, so it runs the same under tsx, vitest and an installed package.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FrameLocation, FrameRef } from './frame-dedupe.ts';

export type DecodeMode = 'header' | 'full';

export type FrameInfo =
  | { ok: true; width: number; height: number; format: string; ref: FrameRef }
  | { ok: false; message: string };

/**
 * Image size from the WebP/PNG/JPEG header, as plain JavaScript source: the worker evaluates it,
 * and header mode evaluates it once on the main thread too (one parser for both).
 */
const HEADER_SOURCE = String.raw`
function u16be(b, i) { return (b[i] << 8) | b[i + 1]; }
function u32be(b, i) { return ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3]; }
function u24le(b, i) { return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16); }
function header(b) {
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[12] === 0x49 && b[13] === 0x48) {
    return { format: 'png', width: u32be(b, 16), height: u32be(b, 20) };
  }
  if (b.length >= 30 && String.fromCharCode(b[0], b[1], b[2], b[3]) === 'RIFF' && String.fromCharCode(b[8], b[9], b[10], b[11]) === 'WEBP') {
    const chunk = String.fromCharCode(b[12], b[13], b[14], b[15]);
    if (chunk === 'VP8 ' && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) return { format: 'webp', width: (b[26] | (b[27] << 8)) & 0x3fff, height: (b[28] | (b[29] << 8)) & 0x3fff };
    if (chunk === 'VP8L' && b[20] === 0x2f) { const v = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24); return { format: 'webp', width: (v & 0x3fff) + 1, height: ((v >>> 14) & 0x3fff) + 1 }; }
    if (chunk === 'VP8X') return { format: 'webp', width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
    throw new Error('a WebP file without a VP8/VP8L/VP8X header');
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) throw new Error('a JPEG marker is broken at byte ' + i);
      const m = b[i + 1];
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
      if ((m >= 0xc0 && m <= 0xcf) && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return { format: 'jpeg', width: u16be(b, i + 7), height: u16be(b, i + 5) };
      i += 2 + u16be(b, i + 2);
    }
    throw new Error('a JPEG without a frame header');
  }
  throw new Error('not a WebP, PNG or JPEG image (unknown signature)');
}
`;

type HeaderFn = (b: Uint8Array) => { format: string; width: number; height: number };
const imageHeader = new Function(`${HEADER_SOURCE}; return header;`)() as HeaderFn;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let sharp;
${HEADER_SOURCE}
async function check(t) {
  const hash = createHash('sha256').update(t.bytes).digest('hex').slice(0, 32);
  if (t.full) {
    if (!sharp) { sharp = require(workerData.sharpPath); sharp.cache(false); sharp.concurrency(1); }
    const { info } = await sharp(t.bytes, { failOn: 'error', limitInputPixels: 1 << 28 }).raw().toBuffer({ resolveWithObject: true });
    const h = header(t.bytes);
    return { hash, width: info.width, height: info.height, format: h.format };
  }
  const h = header(t.bytes);
  if (!(h.width > 0 && h.height > 0)) throw new Error('the image header gives no size');
  return { hash, ...h };
}
parentPort.on('message', async (msg) => {
  try {
    const r = await check(msg);
    parentPort.postMessage({ id: msg.id, ok: true, ...r });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, ok: false, message: String((err && err.message) || err) });
  }
});
`;

function checkHeader(bytes: Uint8Array, at: FrameLocation | null): FrameInfo {
  try {
    const h = imageHeader(bytes);
    if (!(h.width > 0 && h.height > 0)) return { ok: false, message: 'the image header gives no size' };
    return { ok: true, ...h, ref: { bytes, hash: null, at } };
  } catch (err) {
    return { ok: false, message: String((err as Error).message ?? err) };
  }
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

export class FramePool {
  private readonly slots: Slot[] = [];
  private readonly queue: { id: number; bytes: Uint8Array }[] = [];
  private readonly pending = new Map<number, (r: FrameInfo) => void>();
  private readonly where = new Map<number, FrameLocation | null>();
  private nextId = 0;
  private readonly size: number;

  constructor(private readonly mode: DecodeMode, size = Math.max(1, os.availableParallelism())) {
    this.size = size;
  }

  /**
   * In header mode the frame is checked on the calling thread: parsing a header is cheap, while
   * copying each frame out of the read chunk and posting it to a worker is not.
   */
  get inline(): boolean {
    return this.mode === 'header';
  }

  /**
   * Size (and in full mode hash) of one frame; `at` says where its bytes can be read again.
   * `bytes` is transferred in full mode (the caller must not use it after).
   */
  check(bytes: Uint8Array, at: FrameLocation | null = null): Promise<FrameInfo> {
    if (this.inline) return Promise.resolve(checkHeader(bytes, at));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.where.set(id, at);
      this.queue.push({ id, bytes });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const { id, bytes } = this.queue.shift()!;
      slot.busy = true;
      slot.worker.ref();
      // Move whole buffers to the worker; shared memory (and views of part of a buffer) are posted as is.
      const whole = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      slot.worker.postMessage({ id, bytes, full: this.mode === 'full' }, whole ? [bytes.buffer as ArrayBuffer] : []);
    }
  }

  private spawn(): Slot {
    const sharpPath = createRequire(import.meta.url).resolve('sharp');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sharpPath }, resourceLimits: { maxOldGenerationSizeMb: 128 } });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (msg: { id: number }) => {
      const resolve = this.pending.get(msg.id);
      const at = this.where.get(msg.id) ?? null;
      this.pending.delete(msg.id);
      this.where.delete(msg.id);
      slot.busy = false;
      worker.unref();
      const r = msg as { id: number; ok: boolean; hash?: string; width?: number; height?: number; format?: string; message?: string };
      resolve?.(r.ok ? { ok: true, width: r.width!, height: r.height!, format: r.format!, ref: { bytes: null, hash: r.hash!, at } } : { ok: false, message: r.message! });
      this.dispatch();
    });
    const fail = (err: Error): void => {
      for (const r of this.pending.values()) r({ ok: false, message: `frame worker failed: ${err.message}` });
      this.pending.clear();
      this.where.clear();
      this.queue.length = 0;
    };
    worker.on('error', fail);
    worker.on('exit', () => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    });
    this.slots.push(slot);
    return slot;
  }
}
