/**
 * Small WebP thumbnails of frames (sharp), each frame decoded once (the heatmap's typical frame is
 * a gallery thumbnail). Shrink-on-load keeps decoding cheap (a WebP is decoded straight to the
 * thumbnail's size), yet the decode is still most of a thumbnail's ~30 ms of CPU (1440x900 WebP);
 * the same bytes in give the same bytes out. A frame over the pixel limit is refused from its header, before decoding.
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { probeImage } from '../frames/probe.ts';
import { frameSizeProblem } from '../limits.ts';
import type { InputLimits } from '../limits.ts';

/** Width of gallery and player thumbnails, and of the frames under heatmaps. */
export const THUMB_WIDTH = 480;
export const THUMB_QUALITY = 60;

export interface Thumb {
  bytes: Buffer;
  /** Thumbnail size. */
  w: number;
  h: number;
  /** The source frame's size. */
  frameW: number;
  frameH: number;
}

let cacheOff = false;

export async function makeThumb(frame: Uint8Array, viewport: { w: number; h: number }, limits: InputLimits): Promise<Thumb> {
  if (!cacheOff) {
    // Each frame is decoded once: libvips' operation cache would only hold memory.
    sharp.cache(false);
    cacheOff = true;
  }
  const probe = await probeImage(frame);
  const tooBig = frameSizeProblem(probe.width, probe.height, viewport, limits);
  if (tooBig) throw new Error(tooBig);
  const { data, info } = await sharp(frame, { failOn: 'error', limitInputPixels: limits.maxFramePixels })
    .resize({ width: Math.min(THUMB_WIDTH, probe.width), withoutEnlargement: true })
    .webp({ quality: THUMB_QUALITY, effort: 2 })
    .toBuffer({ resolveWithObject: true });
  return { bytes: data, w: info.width, h: info.height, frameW: probe.width, frameH: probe.height };
}

/**
 * Thumbnails made at once: one per core, at most 4. A frame's decode is single-threaded (sharp
 * runs it on one of libuv's threads); each thread in flight also keeps its own malloc arena of
 * decode buffers, so more at once would buy no speed on a busy machine and cost resident memory.
 */
export const THUMB_CONCURRENCY = Math.max(1, Math.min(4, availableParallelism()));

/**
 * Runs jobs at most `limit` at a time, in the order they were queued. A job whose `cancelled()`
 * is true when its turn comes does not run (its promise gives null).
 */
export class JobQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(job: () => Promise<T>, cancelled: () => boolean): Promise<T | null> {
    if (this.running >= this.limit) await new Promise<void>((go) => this.waiting.push(go));
    else this.running++;
    try {
      return cancelled() ? null : await job();
    } finally {
      // Hand the slot straight to the next job (running stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
