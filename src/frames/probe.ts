/**
 * Image dimensions and format from the header only (sharp reads the header, no full decode).
 */
import sharp from 'sharp';

/** The image formats a stored frame may have (the HF Image feature decodes all three). */
export type StoredFormat = 'webp' | 'jpeg' | 'png';
export type StoredExt = 'webp' | 'jpg' | 'png';

export interface ImageProbe {
  /** sharp's format name: webp, jpeg, png, gif, tiff, ... */
  format: string;
  width: number;
  height: number;
}

export const EXT_OF: Record<StoredFormat, StoredExt> = { webp: 'webp', jpeg: 'jpg', png: 'png' };

export function isStoredFormat(format: string): format is StoredFormat {
  return format === 'webp' || format === 'jpeg' || format === 'png';
}

/** Probe encoded image bytes. Rejects (with sharp's message) when the bytes are not an image. */
export async function probeImage(bytes: Uint8Array): Promise<ImageProbe> {
  const meta = await sharp(bytes, { failOn: 'error' }).metadata();
  if (meta.format === undefined || meta.width === undefined || meta.height === undefined) {
    throw new Error('the image header gives no format or size');
  }
  return { format: meta.format, width: meta.width, height: meta.height };
}
