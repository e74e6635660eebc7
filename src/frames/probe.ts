/**
 * Image dimensions and format from the header only. Complete WebP, PNG and JPEG files are read
 * directly (a few bytes; calling sharp per frame cost more than the rest of a passthrough convert);
 * anything else, or a file that looks truncated, goes to sharp, which reads the header too (loaded
 * on first use: ~100 ms that a passthrough convert of WebP frames never needs).
 */

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
  // sharp would say "Input Bit Array is empty".
  if (bytes.length === 0) throw new Error('empty file: 0 bytes');
  const fast = probeHeader(bytes);
  if (fast) return fast;
  const { default: sharp } = await import('sharp');
  // Header only: the frame limits (src/limits.ts) judge the size, so sharp's own pixel limit is off.
  const meta = await sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata();
  if (meta.format === undefined || meta.width === undefined || meta.height === undefined) {
    throw new Error('the image header gives no format or size');
  }
  return { format: meta.format, width: meta.width, height: meta.height };
}

const u16le = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u24le = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
const u32le = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
const u16be = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32be = (b: Uint8Array, o: number) => b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
const tag = (b: Uint8Array, o: number) => String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);

/** Size of a complete still WebP, PNG or JPEG from its header; null for anything else (sharp decides). */
export function probeHeader(b: Uint8Array): ImageProbe | null {
  if (b.length >= 30 && tag(b, 0) === 'RIFF' && tag(b, 8) === 'WEBP') {
    // The RIFF size must cover the file exactly: a truncated file goes to sharp.
    if (u32le(b, 4) + 8 !== b.length) return null;
    const chunk = tag(b, 12);
    if (chunk === 'VP8 ' && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) {
      return { format: 'webp', width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
    }
    if (chunk === 'VP8L' && b[20] === 0x2f) {
      const width = 1 + (((b[22]! & 0x3f) << 8) | b[21]!);
      const height = 1 + (((b[24]! & 0x0f) << 10) | (b[23]! << 2) | ((b[22]! & 0xc0) >> 6));
      return { format: 'webp', width, height };
    }
    // VP8X without the animation flag: the canvas size is the image size.
    if (chunk === 'VP8X' && (b[20]! & 0x02) === 0) return { format: 'webp', width: 1 + u24le(b, 24), height: 1 + u24le(b, 27) };
    return null;
  }
  if (b.length >= 45 && b[0] === 0x89 && tag(b, 1) === 'PNG\r' && tag(b, 12) === 'IHDR' && tag(b, b.length - 8) === 'IEND') {
    return { format: 'png', width: u32be(b, 16), height: u32be(b, 20) };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9) {
    // Walk the marker segments up to the first start-of-frame (SOF0..SOF15 but DHT, JPG, DAC).
    let o = 2;
    while (o + 9 < b.length && b[o] === 0xff) {
      const m = b[o + 1]!;
      if (m === 0xff) {
        o++;
        continue;
      }
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        const height = u16be(b, o + 5);
        const width = u16be(b, o + 7);
        return width > 0 && height > 0 ? { format: 'jpeg', width, height } : null;
      }
      if (m === 0xda || m === 0xd9) return null;
      o += 2 + u16be(b, o + 2);
    }
    return null;
  }
  return null;
}
