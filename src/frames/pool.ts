/**
 * A small pool of worker_threads that resize and re-encode frames with sharp. sharp's own
 * concurrency is 1 per operation here, so parallelism comes from workers side by side.
 * The worker's code is encode.worker.ts.
 */
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-file.ts';
import type { EncodeReply, EncodeRequest } from './encode.worker.ts';

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
      slot.worker.postMessage({ id, task } satisfies EncodeRequest);
    }
  }

  private spawn(): Slot {
    const sharpPath = createRequire(import.meta.url).resolve('sharp');
    const worker = startWorker('frames/encode.worker.ts', { workerData: { sharpPath } });
    const slot: Slot = { worker };
    worker.on('message', (msg: EncodeReply) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      slot.busyWith = undefined;
      // An idle worker must not keep the process alive.
      worker.unref();
      if (p) {
        if (msg.ok) p.resolve({ bytes: msg.bytes, width: msg.width, height: msg.height });
        else p.reject(new EncodeFailure(msg.message || 'unknown sharp error'));
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
