/**
 * JSONL lines decode with Buffer's UTF-8 (src/export/lines.ts `utf8Text`) instead of a TextDecoder
 * call per line: the text must stay what TextDecoder gives, invalid bytes and byte order marks
 * included, since every row's verdict (and the dataset's bytes) comes from it.
 */
import { describe, expect, it } from 'vitest';
import { readLines, utf8Text } from '../src/export/lines.ts';

const decoder = new TextDecoder('utf-8');

/** Bytes that decode in every way UTF-8 can go wrong, with and without a byte order mark in front. */
function hostileSamples(): Uint8Array[] {
  const fixed = [
    [],
    [0xef, 0xbb, 0xbf],
    [0xef, 0xbb, 0xbf, 0x7b, 0x7d],
    [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x41],
    [0x41, 0xef, 0xbb, 0xbf],
    [0xef, 0xbb],
    [0xed, 0xa0, 0x80], // a surrogate half
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0xc0, 0xaf], // overlong
    [0xe0, 0x80, 0xaf],
    [0xf0, 0x9f, 0x98], // truncated 4-byte sequence
    [0xf0, 0x9f, 0x98, 0x80, 0x22, 0xff],
  ].map((b) => new Uint8Array(b));
  // Deterministic pseudo-random bytes, mostly from the ranges multi-byte sequences use.
  let x = 0x9e3779b9;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const random = Array.from({ length: 3000 }, (_, i) => {
    const b = new Uint8Array(1 + (i % 13));
    for (let j = 0; j < b.length; j++) b[j] = next() % 2 ? 0x80 + (next() % 0x78) : next() % 256;
    if (i % 7 === 0) b.set([0xef, 0xbb, 0xbf].slice(0, b.length));
    return b;
  });
  return [...fixed, ...random];
}

describe('utf8Text', () => {
  it('gives what TextDecoder gives: U+FFFD for invalid bytes, a leading byte order mark dropped', () => {
    for (const b of hostileSamples()) expect(utf8Text(b)).toBe(decoder.decode(b));
    // A view into a larger buffer decodes only its own bytes.
    const big = new Uint8Array([0x41, 0xef, 0xbb, 0xbf, 0x42, 0x43]);
    expect(utf8Text(big.subarray(1, 5))).toBe('B');
  });
});

describe('readLines', () => {
  it('decodes each line as TextDecoder would, however the bytes are cut into chunks', async () => {
    const lines = hostileSamples()
      .slice(0, 400)
      .map((b) => b.filter((c) => c !== 0x0a));
    const joined: number[] = [];
    for (const l of lines) joined.push(...l, 0x0d, 0x0a);
    const bytes = new Uint8Array(joined);
    for (const size of [1, 2, 3, 7, 64, bytes.length]) {
      async function* chunks(): AsyncIterable<Uint8Array> {
        for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
      }
      const got: string[] = [];
      for await (const [, text] of readLines(chunks())) got.push(text);
      expect(got).toEqual(lines.map((l) => decoder.decode(l)));
    }
  });
});
