/**
 * The by-reference row group writer (src/write/parquet-row-group.ts) must write exactly the bytes
 * hyparquet-writer's own `ParquetWriter.write()` writes for the same rows: same pages, headers,
 * levels, metadata, page index and footer. Only the copying differs. That holds for an Image column
 * and for a list of images (repetition levels, empty and null lists, null images in a list).
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { toParquetSchema } from '../src/hf/features.ts';
import { Image, List, Value } from '../src/hf/features.ts';
import type { Features } from '../src/hf/features.ts';
import { writeRowGroup } from '../src/write/parquet-row-group.ts';
import type { RowGroupColumn } from '../src/write/parquet-row-group.ts';
import { noise, sha } from './helpers/bytes.ts';

const features: Features = {
  session_id: { kind: 'value', dtype: 'string' },
  t_ms: { kind: 'value', dtype: 'int64' },
  image: { kind: 'image' },
  extra: { kind: 'value', dtype: 'string' },
};

/** Rows with frames of varied sizes (several 1 MB pages per group), a null image and null bytes. */
function rows(n: number, offset: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const k = i + offset;
    const image =
      k % 17 === 5
        ? null
        : k % 23 === 7
          ? { bytes: null, path: `f${k}.webp` }
          : { bytes: noise(40_000 + ((k * 7919) % 180_000), k + 1), path: `f${k}.webp` };
    return { session_id: `s${k % 3}`, t_ms: BigInt(k * 100), image, extra: k % 4 === 0 ? null : `{"k":${k}}` };
  });
}

function columnsOf(features: Features, group: Record<string, unknown>[]): RowGroupColumn[] {
  return Object.entries(features).map(([name, f]) => {
    const data = group.map((r) => r[name]);
    // Frames: an Image column, a list of images, or a list of binary values (the frames alone).
    const media =
      f.kind === 'image' ||
      (f.kind === 'list' && (f.feature.kind === 'image' || (f.feature.kind === 'value' && f.feature.dtype === 'binary')));
    return media
      ? {
          name,
          data,
          encoding: 'PLAIN',
          codec: 'UNCOMPRESSED',
          statistics: false,
          columnIndex: false,
          offsetIndex: true,
          byReference: true,
        }
      : { name, data, codec: 'SNAPPY', columnIndex: true, offsetIndex: true };
  });
}

/** Writes `groups` with ParquetWriter.write and with writeRowGroup; returns both files and the values writeRowGroup was handed whole. */
async function writeBoth(features: Features, groups: Record<string, unknown>[][], referenceColumn = (c: ColumnSource) => c) {
  const schema = toParquetSchema(features);
  const kvMetadata = [{ key: 'huggingface', value: '{}' }];

  const reference = new ByteWriter();
  const a = new ParquetWriter({ writer: reference, schema, codec: 'SNAPPY', kvMetadata, statistics: true });
  for (const g of groups) {
    const columnData = columnsOf(features, g).map(({ byReference: _, ...c }) => referenceColumn(c as ColumnSource));
    await a.write({ columnData, rowGroupSize: g.length });
  }
  await a.finish();

  // The writer under test records which values it was handed whole (not copied into a page).
  const handed: Uint8Array[] = [];
  const ours = new (class extends ByteWriter {
    override appendBytes(value: Uint8Array): void {
      if (value.length >= 40_000) handed.push(value);
      super.appendBytes(value);
    }
  })();
  const b = new ParquetWriter({ writer: ours, schema, codec: 'SNAPPY', kvMetadata, statistics: true });
  for (const g of groups) writeRowGroup(b, columnsOf(features, g), g.length);
  await b.finish();
  return { want: reference.getBytes(), got: ours.getBytes(), handed };
}

describe('writeRowGroup', () => {
  it('writes the same bytes as ParquetWriter.write, without copying frames into pages', async () => {
    const groups = [rows(100, 0), rows(100, 100), rows(37, 200)];
    const { want, got, handed } = await writeBoth(features, groups);
    expect(got.length).toBe(want.length);
    expect(sha(got)).toBe(sha(want));
    // Every frame reached the writer as the caller's own buffer.
    const frames = groups
      .flat()
      .map((r) => (r.image as { bytes: Uint8Array | null } | null)?.bytes)
      .filter((x): x is Uint8Array => !!x);
    expect(handed.length).toBe(frames.length);
    handed.forEach((h, i) => {
      expect(h).toBe(frames[i]);
    });
  });

  it('writes a list of images by reference with the same bytes, levels and page index', async () => {
    const listFeatures: Features = { images: List(Image()), step: Value('int32') };
    const frame = (k: number) => ({ bytes: noise(40_000 + ((k * 7919) % 180_000), k + 1), path: `f${k}.webp` });
    // Lists of 0 to 3 images (a history window), null lists, null images and images without bytes.
    const listRows = (n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => {
        const k = i + offset;
        const images =
          k % 19 === 3
            ? null
            : k % 13 === 4
              ? []
              : Array.from({ length: k % 4 }, (_, j) =>
                  k % 11 === 2 && j === 0 ? null : k % 29 === 6 && j === 1 ? { bytes: null, path: `f${k}.webp` } : frame(k * 4 + j),
                );
        return { images, step: k };
      });
    const groups = [listRows(50, 0), listRows(50, 50), listRows(23, 100)];
    const { want, got, handed } = await writeBoth(listFeatures, groups);
    // More than one page per column chunk: the offset index and first_row_index are exercised.
    const perGroup = groups.map((g) => g.flatMap((r) => r.images ?? []).reduce((n, x) => n + (x?.bytes?.length ?? 0), 0));
    expect(Math.min(...perGroup)).toBeGreaterThan(2 << 20);
    expect(got.length).toBe(want.length);
    expect(sha(got)).toBe(sha(want));
    const frames = groups
      .flat()
      .flatMap((r) => r.images ?? [])
      .map((x) => x?.bytes)
      .filter((x): x is Uint8Array => !!x);
    expect(handed.length).toBe(frames.length);
    handed.forEach((h, i) => {
      expect(h).toBe(frames[i]);
    });
  });

  it('writes a list holding the same frame buffer more than once as one dictionary page of those frames, by reference', async () => {
    // Rows as the sft config's history windows make them: the previous two frames of the session
    // (the same buffers) and the current one; a new session every 7 rows, a null list and an empty one.
    const binaryList: Features = { frames: List(Value('binary')), step: Value('int32') };
    const windows = (n: number, offset: number) => {
      let window: Uint8Array[] = [];
      return Array.from({ length: n }, (_, i) => {
        const k = i + offset;
        if (k % 7 === 0) window = [];
        window = [...window, noise(40_000 + ((k * 7919) % 180_000), k + 1)].slice(-3);
        return { frames: k % 31 === 9 ? null : k % 37 === 10 ? [] : window, step: k };
      });
    };
    const groups = [windows(40, 0), windows(40, 40), windows(9, 80)];
    // hyparquet-writer's own RLE_DICTIONARY (it dedupes by content; these frames differ in content).
    const { want, got, handed } = await writeBoth(binaryList, groups, (c) =>
      c.name === 'frames' ? { ...c, encoding: 'RLE_DICTIONARY' } : c,
    );
    expect(sha(got)).toBe(sha(want));
    // Each distinct frame of a group was handed over once, as the caller's own buffer.
    const distinct = groups.flatMap((g) => [...new Set(g.flatMap((r) => r.frames ?? []))]);
    expect(handed.length).toBe(distinct.length);
    handed.forEach((h, i) => {
      expect(h).toBe(distinct[i]);
    });
    const listed = groups.flat().reduce((n, r) => n + (r.frames?.length ?? 0), 0);
    expect(distinct.length).toBeLessThan(listed / 2);
  });
});
