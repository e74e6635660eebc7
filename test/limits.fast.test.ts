/**
 * The input limits (src/limits.ts) and the line reader that enforces the longest line: parse errors
 * never carry the text, depth is refused before anything recursive walks a value, and a .jsonl.gz
 * line past the limit stops decompression (and the read of the file) right there.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import { readLines } from '../src/export/lines.ts';
import { jsonDeeperThan, jsonSyntaxReason, parseByteSize, parseJsonText } from '../src/limits.ts';

const SECRET = 'SECRET-41b2';

describe('parseJsonText', () => {
  it.each([
    `{"a": ${SECRET}}`,
    `${SECRET} trailing`,
    `{"a": "${SECRET}`,
    `{"a": 1 "${SECRET}"}`,
    `{"a": 1} ${SECRET}`,
    `{"${SECRET}\u0001": 1}`,
    `{"a": "\\x${SECRET}"}`,
    `[1, 2, ${SECRET.repeat(50)}]`,
  ])('names the place and the position, never the text: %s', (text) => {
    let err: unknown;
    try {
      parseJsonText(text, 256, { file: 'f.jsonl', row: 'line 2' }, 'a JSON object');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^f\.jsonl: line 2: not a JSON object \(/);
    expect(msg).not.toContain(SECRET);
    expect(msg).not.toContain('SECRET');
  });

  it('gives the character position when V8 knows it', () => {
    expect(() => parseJsonText('{"a": 1 "b"}', 256, { file: 'm.json' })).toThrow(
      "m.json: not valid JSON (syntax error at character 9: expected ',' or '}' after property value)",
    );
    expect(jsonSyntaxReason(new SyntaxError('Unexpected end of JSON input'))).toBe('it ends early');
  });

  it('refuses nesting past the limit, at any depth, without a stack overflow', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(() => parseJsonText(deep, 256, { file: 'f', row: 'line 1' })).toThrow(
      'f: line 1: JSON nested deeper than 256 levels, over the limit of 256 (--max-json-depth)',
    );
    expect(jsonDeeperThan(JSON.parse('[[[1]]]'), 3)).toBe(false);
    expect(jsonDeeperThan(JSON.parse('[[[1]]]'), 2)).toBe(true);
    expect(jsonDeeperThan(JSON.parse('{"a": {"b": [1, {"c": 2}]}}'), 4)).toBe(false);
    expect(jsonDeeperThan(JSON.parse('{"a": {"b": [1, {"c": {}}]}}'), 4)).toBe(true);
  });
});

it('parseByteSize reads binary and decimal units', () => {
  expect(parseByteSize('64MiB')).toBe(64 * 1024 * 1024);
  expect(parseByteSize('1.5GB')).toBe(1_500_000_000);
  expect(parseByteSize('1000')).toBe(1000);
  expect(parseByteSize('0')).toBeUndefined();
  expect(parseByteSize('lots')).toBeUndefined();
});

describe('readLines', () => {
  /** Chunks of `bytes`, counting how many the reader pulled. */
  function source(bytes: Uint8Array, chunk = 64 * 1024): { chunks: AsyncIterable<Uint8Array>; pulled: () => number } {
    let pulled = 0;
    return {
      chunks: (async function* () {
        for (let o = 0; o < bytes.length; o += chunk) {
          pulled += Math.min(chunk, bytes.length - o);
          yield bytes.subarray(o, o + chunk);
        }
      })(),
      pulled: () => pulled,
    };
  }

  it('stops decompressing a .jsonl.gz at the limit, naming the file and line', async () => {
    // 1 GiB of zeros in one line: 64 gzip members of 16 MiB (~16 KB each), read as one stream.
    const member = gzipSync(new Uint8Array(16 * 1024 * 1024));
    const file = new Uint8Array(
      Buffer.concat([
        gzipSync(new TextEncoder().encode('{"ok": 1}\n')),
        ...Array.from({ length: 64 }, () => member),
      ] as unknown as Uint8Array[]),
    );
    const src = source(file);
    const seen: number[] = [];
    const err = await (async () => {
      for await (const [n] of readLines(src.chunks, true, { maxLineBytes: 8 * 1024 * 1024, file: 'data/a.jsonl.gz' })) seen.push(n);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([1]);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      'data/a.jsonl.gz: line 2: line longer than 8388608 bytes, over the limit of 8388608 (--max-line-bytes)',
    );
    // 8 MiB of the 1 GiB line were inflated: the reader pulled a small part of the ~1 MB file.
    expect(src.pulled()).toBeLessThan(file.length / 2);
  });

  it('keeps lines up to the limit, \\r\\n included', async () => {
    const text = `${'a'.repeat(100)}\r\n${'b'.repeat(99)}\n`;
    const lines: string[] = [];
    for await (const [, t] of readLines(source(new TextEncoder().encode(text), 7).chunks, false, { maxLineBytes: 100 })) lines.push(t);
    expect(lines).toEqual(['a'.repeat(100), 'b'.repeat(99)]);
    await expect(
      (async () => {
        for await (const _ of readLines(source(new TextEncoder().encode(`${'a'.repeat(101)}\n`), 7).chunks, false, { maxLineBytes: 100 }))
          void _;
      })(),
    ).rejects.toThrow('line 1: line longer than 100 bytes');
  });
});
