/**
 * A frame check thread (frame-pool.ts starts them): hashes a frame and reads its size from the
 * header, or with `full` decodes every pixel with sharp (the same sharp the main thread resolves,
 * `workerData.sharpPath`).
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type sharpModule from 'sharp';
import { imageHeader } from './image-header.ts';
import type { ImageHeader } from './image-header.ts';

export interface CheckRequest {
  id: number;
  bytes: Uint8Array;
  full: boolean;
}
export type CheckReply = ({ id: number; ok: true; hash: string } & ImageHeader) | { id: number; ok: false; message: string };

let sharp: typeof sharpModule | undefined;

async function check(t: CheckRequest): Promise<{ hash: string } & ImageHeader> {
  const hash = createHash('sha256').update(t.bytes).digest('hex').slice(0, 32);
  if (t.full) {
    if (!sharp) {
      const { sharpPath } = workerData as { sharpPath: string };
      sharp = createRequire(sharpPath)(sharpPath) as typeof sharpModule;
      sharp.cache(false);
      sharp.concurrency(1);
    }
    const { info } = await sharp(t.bytes, { failOn: 'error', limitInputPixels: 1 << 28 })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const h = imageHeader(t.bytes);
    return { hash, width: info.width, height: info.height, format: h.format };
  }
  const h = imageHeader(t.bytes);
  if (!(h.width > 0 && h.height > 0)) throw new Error('the image header gives no size');
  return { hash, ...h };
}

const port = parentPort!;
port.on('message', async (msg: CheckRequest) => {
  try {
    const r = await check(msg);
    port.postMessage({ id: msg.id, ok: true, ...r } satisfies CheckReply);
  } catch (err) {
    port.postMessage({ id: msg.id, ok: false, message: String((err as Error)?.message ?? err) } satisfies CheckReply);
  }
});
