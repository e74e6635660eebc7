/**
 * Frame checks: read a frame's size. With `--decode header` that runs on the calling thread (WebP,
 * PNG and JPEG headers parsed by hand, no pixel work, no copy; duplicate frames are found by
 * frame-dedupe.ts from the bytes); with `--decode full` a pool of worker_threads decodes every
 * pixel with sharp and hashes the frame there (its bytes are transferred; frame-decode.worker.ts).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-file.ts';
import type { CheckReply, CheckRequest } from './frame-decode.worker.ts';
import { imageHeader } from './image-header.ts';
import type { FrameLocation, FrameRef } from './frame-dedupe.ts';

export type DecodeMode = 'header' | 'full';

export type FrameInfo = { ok: true; width: number; height: number; format: string; ref: FrameRef } | { ok: false; message: string };

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

  constructor(
    private readonly mode: DecodeMode,
    size = Math.max(1, os.availableParallelism()),
  ) {
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
      slot.worker.postMessage({ id, bytes, full: this.mode === 'full' } satisfies CheckRequest, whole ? [bytes.buffer as ArrayBuffer] : []);
    }
  }

  private spawn(): Slot {
    const sharpPath = createRequire(import.meta.url).resolve('sharp');
    const worker = startWorker('validate/frame-decode.worker.ts', {
      workerData: { sharpPath },
      resourceLimits: { maxOldGenerationSizeMb: 128 },
    });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (msg: CheckReply) => {
      const resolve = this.pending.get(msg.id);
      const at = this.where.get(msg.id) ?? null;
      this.pending.delete(msg.id);
      this.where.delete(msg.id);
      slot.busy = false;
      worker.unref();
      resolve?.(
        msg.ok
          ? { ok: true, width: msg.width, height: msg.height, format: msg.format, ref: { bytes: null, hash: msg.hash, at } }
          : { ok: false, message: msg.message },
      );
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
