/**
 * Small WebP thumbnails of frames (sharp). Shrink-on-load keeps decoding cheap; the same bytes in
 * give the same bytes out. A frame over the pixel limit is refused from its header, before decoding.
 */
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
