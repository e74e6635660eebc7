/**
 * A small pool of worker_threads that resize and re-encode frames with sharp. sharp's own
 * concurrency is 1 per operation here, so parallelism comes from workers side by side.
 *
 * The worker is plain JavaScript evaluated from a string: it then runs the same under tsx, vitest
 * and an installed package, without a TypeScript loader in the worker. It loads the same sharp
 * the main thread resolves (passed as a path), so the binary matches.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface EncodeTask {
  bytes: Uint8Array;
  /** Resize to exactly this size (computed by the caller, aspect kept); omitted = keep size. */
  resize?: { width: number; height: number };
  format: 'webp' | 'jpeg' | 'png';
  /** webp/jpeg quality 1..100 (ignored for png). */
  quality: number;
}

export interface EncodeResult {
  bytes: Uint8Array;
  width: number;
  height: number;
}

/**
 * Every encoder option is set explicitly so the output bytes depend only on input and options.
 * JPEG has no alpha: transparent pixels are flattened onto white.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sharp = require(workerData.sharpPath);
sharp.cache(false);
async function encode(t) {
  let img = sharp(t.bytes, { failOn: 'error' });
  if (t.resize) img = img.resize({ width: t.resize.width, height: t.resize.height, fit: 'fill', kernel: 'lanczos3' });
  if (t.format === 'webp') img = img.webp({ quality: t.quality, alphaQuality: 100, lossless: false, nearLossless: false, smartSubsample: false, effort: 4 });
  else if (t.format === 'jpeg') img = img.flatten({ background: '#ffffff' }).jpeg({ quality: t.quality, progressive: false, chromaSubsampling: '4:2:0', optimiseCoding: true, mozjpeg: false });
  else img = img.png({ compressionLevel: 6, adaptiveFiltering: false, palette: false, progressive: false });
  return img.toBuffer({ resolveWithObject: true });
}
parentPort.on('message', async (msg) => {
  try {
    const { data, info } = await encode(msg.task);
    // A fresh, exactly-sized buffer so it can be transferred without copying again.
    const bytes = new Uint8Array(data.byteLength);
    bytes.set(data);
    parentPort.postMessage({ id: msg.id, ok: true, bytes, width: info.width, height: info.height }, [bytes.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: msg.id, ok: false, message: String((err && err.message) || err) });
  }
});
`;

interface Pending {
  resolve(r: EncodeResult): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  busyWith?: number;
}

/** Rejected when sharp cannot decode or encode the input: the caller names the step. */
export class EncodeFailure extends Error {}

export class EncodePool {
  private readonly slots: Slot[] = [];
  private readonly queue: { id: number; task: EncodeTask }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private broken: Error | undefined;
  private readonly size: number;

  constructor(size: number) {
    this.size = Math.max(1, Math.floor(size));
  }

  run(task: EncodeTask): Promise<EncodeResult> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise<EncodeResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, task });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length) {
      let slot = this.slots.find((s) => s.busyWith === undefined);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const { id, task } = this.queue.shift()!;
      slot.busyWith = id;
      slot.worker.ref();
      slot.worker.postMessage({ id, task });
    }
  }

  private spawn(): Slot {
    const sharpPath = createRequire(import.meta.url).resolve('sharp');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sharpPath } });
    const slot: Slot = { worker };
    worker.on('message', (msg: { id: number; ok: boolean; bytes?: Uint8Array; width?: number; height?: number; message?: string }) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      slot.busyWith = undefined;
      // An idle worker must not keep the process alive.
      worker.unref();
      if (p) {
        if (msg.ok) p.resolve({ bytes: msg.bytes!, width: msg.width!, height: msg.height! });
        else p.reject(new EncodeFailure(msg.message ?? 'unknown sharp error'));
      }
      this.dispatch();
    });
    const fail = (err: Error): void => {
      this.broken = new Error(`frame encoder worker failed: ${err.message}`);
      for (const p of this.pending.values()) p.reject(this.broken);
      this.pending.clear();
      this.queue.length = 0;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (code !== 0 && this.pending.size) fail(new Error(`exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }
}
