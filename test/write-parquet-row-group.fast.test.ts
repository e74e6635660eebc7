/**
 * The by-reference row group writer (src/write/parquet-row-group.ts) must write exactly the bytes
 * hyparquet-writer's own `ParquetWriter.write()` writes for the same rows: same pages, headers,
 * levels, metadata, page index and footer. Only the copying differs.
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { toParquetSchema } from '../src/hf/features.ts';
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

function columnsOf(group: Record<string, unknown>[]): RowGroupColumn[] {
  return Object.entries(features).map(([name, f]) => {
    const data = group.map((r) => r[name]);
    return f.kind === 'image'
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

describe('writeRowGroup', () => {
  it('writes the same bytes as ParquetWriter.write, without copying frames into pages', async () => {
    const groups = [rows(100, 0), rows(100, 100), rows(37, 200)];
    const schema = toParquetSchema(features);
    const kvMetadata = [{ key: 'huggingface', value: '{}' }];

    const reference = new ByteWriter();
    const a = new ParquetWriter({ writer: reference, schema, codec: 'SNAPPY', kvMetadata, statistics: true });
    for (const g of groups) {
      const columnData = columnsOf(g).map(({ byReference: _, ...c }) => c as ColumnSource);
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
    for (const g of groups) writeRowGroup(b, columnsOf(g), g.length);
    await b.finish();

    const want = reference.getBytes();
    const got = ours.getBytes();
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
});
