/**
 * A frame encoder thread (pool.ts starts them): resize and re-encode with sharp. It loads the same
 * sharp the main thread resolves (`workerData.sharpPath`), so the binary matches.
 *
 * Every encoder option is set explicitly so the output bytes depend only on input and options.
 * JPEG has no alpha: transparent pixels are flattened onto white.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { OutputInfo } from 'sharp';
import type sharpModule from 'sharp';
import type { EncodeTask } from './pool.ts';

export interface EncodeRequest {
  id: number;
  task: EncodeTask;
}
export type EncodeReply =
  | { id: number; ok: true; bytes: Uint8Array; width: number; height: number }
  | { id: number; ok: false; message: string };

const { sharpPath } = workerData as { sharpPath: string };
const sharp = createRequire(sharpPath)(sharpPath) as typeof sharpModule;
sharp.cache(false);

function encode(t: EncodeTask): Promise<{ data: Buffer; info: OutputInfo }> {
  let img = sharp(t.bytes, { failOn: 'error' });
  if (t.resize) img = img.resize({ width: t.resize.width, height: t.resize.height, fit: 'fill', kernel: 'lanczos3' });
  if (t.format === 'webp')
    img = img.webp({ quality: t.quality, alphaQuality: 100, lossless: false, nearLossless: false, smartSubsample: false, effort: 4 });
  else if (t.format === 'jpeg')
    img = img
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: t.quality, progressive: false, chromaSubsampling: '4:2:0', optimiseCoding: true, mozjpeg: false });
  else img = img.png({ compressionLevel: 6, adaptiveFiltering: false, palette: false, progressive: false });
  return img.toBuffer({ resolveWithObject: true });
}

const port = parentPort!;
port.on('message', async (msg: EncodeRequest) => {
  try {
    const { data, info } = await encode(msg.task);
    // A fresh, exactly-sized buffer so it can be transferred without copying again.
    const bytes = new Uint8Array(data.byteLength);
    bytes.set(data);
    port.postMessage({ id: msg.id, ok: true, bytes, width: info.width, height: info.height } satisfies EncodeReply, [bytes.buffer]);
  } catch (err) {
    port.postMessage({ id: msg.id, ok: false, message: String((err as Error)?.message ?? err) } satisfies EncodeReply);
  }
});
