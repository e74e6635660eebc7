/**
 * Xet content-defined chunking (https://huggingface.co/docs/xet/chunking): a GEAR rolling hash
 * (gearhash-jit) cuts chunks of 8 KiB..128 KiB, about 64 KiB on average, and each chunk is hashed
 * with keyed BLAKE3 (`chunkHash`, native). The boundaries are those of @huggingface/xetchunk-wasm
 * (and of hf_xet); that package also hashes, in WASM, about ten times slower than the native hash,
 * which made it push's bottleneck.
 *
 * The chunker keeps no bytes: the caller passes its unplaced bytes (starting at a chunk start) each
 * time and keeps the tail that did not yet make a whole chunk.
 */
import { Hasher } from 'gearhash-jit';
import { chunkHash } from './xet-hash.ts';

const TARGET_CHUNK_BYTES = 64 * 1024;
const MIN_CHUNK_BYTES = TARGET_CHUNK_BYTES / 8;
const MAX_CHUNK_BYTES = TARGET_CHUNK_BYTES * 2;
const HASH_WINDOW_BYTES = 64;
/** A boundary is where the hash's top 16 bits (log2 of the target size) are all zero. */
const BOUNDARY_MASK = 0xffffn << 48n;
/** The hash is fed from here on in a chunk, so the first possible cut is at MIN_CHUNK_BYTES. */
const SCAN_FROM = MIN_CHUNK_BYTES - HASH_WINDOW_BYTES - 1;

export interface XetChunk {
  hash: Uint8Array;
  length: number;
}

export class XetChunker {
  private readonly gear = new Hasher(BOUNDARY_MASK);

  /**
   * The whole chunks at the start of `data` (which begins at a chunk start). Bytes after the last
   * one are not a chunk yet: pass them again, followed by more, or as the last call with `final`.
   */
  chunks(data: Uint8Array, final: boolean): XetChunk[] {
    const out: XetChunk[] = [];
    let start = 0;
    while (start < data.length) {
      const scanStart = Math.min(start + SCAN_FROM, data.length);
      const scanEnd = Math.min(data.length, start + MAX_CHUNK_BYTES);
      this.gear.resetHash();
      const at = this.gear.nextMatch(data.subarray(scanStart, scanEnd));
      let end: number;
      if (at !== -1) end = scanStart + at;
      else if (scanEnd - start >= MAX_CHUNK_BYTES) end = start + MAX_CHUNK_BYTES;
      else if (final) end = data.length;
      else break;
      out.push({ hash: chunkHash(data.subarray(start, end)), length: end - start });
      start = end;
    }
    return out;
  }
}
