/**
 * push's Xet chunker cuts and hashes exactly as @huggingface/xetchunk-wasm (the chunker of
 * @huggingface/hub, same boundaries as hf_xet) does, however the bytes arrive: the server and other
 * clients deduplicate against these chunks, so one differing boundary or hash would resend data.
 */
import { createHash } from 'node:crypto';
import { createChunker, finalize, nextBlock, type Chunk } from '@huggingface/xetchunk-wasm';
import { describe, expect, it } from 'vitest';
import { XetChunker } from '../src/hub/xet-chunker.ts';
import { xetHex } from '../src/hub/xet-hash.ts';

/** Deterministic bytes: pseudo-random runs mixed with repeated low-entropy stretches (long chunks). */
function sample(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  let block = createHash('sha256').update(String(seed)).digest();
  for (let at = 0; at < bytes; at += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, at);
  }
  // A stretch of zeros longer than the largest chunk, and one of a short repeating pattern.
  const q = Math.floor(bytes / 4);
  out.fill(0, q, q + 300_000);
  for (let i = 2 * q; i < 2 * q + 200_000; i++) out[i] = i % 7;
  return out;
}

function reference(data: Buffer, block: number): string[] {
  const c = createChunker();
  const out: Chunk[] = [];
  for (let at = 0; at < data.length; at += block) out.push(...nextBlock(c, data.subarray(at, at + block)));
  const tail = finalize(c);
  if (tail) out.push(tail);
  return out.map((x) => `${x.length}:${xetHex(x.hash)}`);
}

function ours(data: Buffer, block: number): string[] {
  const c = new XetChunker();
  const out: string[] = [];
  let tail: Buffer = Buffer.alloc(0);
  const take = (d: Buffer, final: boolean): void => {
    let at = 0;
    for (const x of c.chunks(d, final)) {
      out.push(`${x.length}:${xetHex(x.hash)}`);
      at += x.length;
    }
    tail = d.subarray(at);
  };
  for (let at = 0; at < data.length; at += block) take(Buffer.concat([tail, data.subarray(at, at + block)]), false);
  take(tail, true);
  return out;
}

describe('XetChunker', () => {
  const data = sample(3 * 1024 * 1024 + 12_345, 1);

  it('cuts and hashes like @huggingface/xetchunk-wasm, whatever the read sizes', () => {
    const want = reference(data, 4 * 1024 * 1024);
    expect(want.length).toBeGreaterThan(20);
    // Both a chunk cut at the 128 KiB limit (the zeros) and content-defined cuts occur.
    expect(want.some((w) => w.startsWith('131072:'))).toBe(true);
    for (const block of [4 * 1024 * 1024, 1 << 20, 100_003, 8_191, 65_536]) {
      expect(ours(data, block)).toEqual(want);
      expect(reference(data, block)).toEqual(want);
    }
  });

  it('makes one chunk of a small file and none of an empty one', () => {
    expect(ours(data.subarray(0, 5000), 4096)).toEqual(reference(data.subarray(0, 5000), 4096));
    expect(ours(data.subarray(0, 5000), 4096)).toHaveLength(1);
    expect(ours(Buffer.alloc(0), 4096)).toEqual([]);
  });
});
