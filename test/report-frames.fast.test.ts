/** A dataset's frames read for sampled rows: concurrent reads in different row groups. */
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { resolveLimits } from '../src/limits.ts';
import { ParquetFrames } from '../src/report/parquet-frames.ts';
import type { Source } from '../src/source/types.ts';

/** One in-memory file as a Source (only what ParquetFrames reads). */
function memorySource(bytes: Uint8Array): Source {
  return {
    root: 'mem://',
    list: async () => [{ path: 'f.parquet', size: bytes.byteLength }],
    exists: async (p) => p === 'f.parquet',
    size: async () => bytes.byteLength,
    read: async (_p, range) => bytes.slice(range?.start ?? 0, range?.end ?? bytes.byteLength),
    async *stream() {
      yield bytes;
    },
    describe: (p) => `mem://${p}`,
  };
}

describe('ParquetFrames', () => {
  it('reads rows of different row groups at once, each its own frame', async () => {
    const frames = Array.from({ length: 6 }, (_, i) => new Uint8Array([i, i, i]));
    const file = new Uint8Array(
      parquetWriteBuffer({
        schema: [
          { name: 'root', num_children: 1 },
          { name: 'image', repetition_type: 'OPTIONAL', num_children: 1 },
          { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
        ],
        columnData: [{ name: 'image', data: frames.map((bytes) => ({ bytes })) }],
        rowGroupSize: 2,
      }),
    );
    const reader = new ParquetFrames({ source: memorySource(file), path: 'f.parquet', name: 'f.parquet', limits: resolveLimits() });
    // Three groups asked for before any is read: each read must index its own group.
    const got = await Promise.all([0, 2, 5, 1, 4].map((row) => reader.read(row)));
    expect(got.map((b) => [...b])).toEqual([0, 2, 5, 1, 4].map((i) => [i, i, i]));
  });
});
