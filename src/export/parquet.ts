/**
 * Parquet export files, read row group by row group (memory is bounded by one row group) through
 * the source's range reads. Binary columns stay bytes (`utf8: false`); STRING columns are text.
 */
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { InputError } from '../errors.ts';
import type { DataFile, RawItem } from './raw.ts';

export async function asyncBuffer(file: DataFile): Promise<AsyncBuffer> {
  const byteLength = await file.source.size(file.path);
  return {
    byteLength,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const b = await file.source.read(file.path, { start, end: end ?? byteLength });
      // hyparquet wants an ArrayBuffer of exactly the slice.
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
    },
  };
}

export function notParquet(file: DataFile, err: unknown, what: string): unknown {
  if (err instanceof InputError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new InputError(`${what} (${msg})`, { file: file.name });
}

export interface OpenParquet {
  buf: AsyncBuffer;
  metadata: FileMetaData;
}

/** A Parquet file's range reader and footer (parsing a footer of many row groups costs several ms). */
export async function openParquet(file: DataFile): Promise<OpenParquet> {
  const buf = await asyncBuffer(file);
  try {
    return { buf, metadata: await parquetMetadataAsync(buf) };
  } catch (err) {
    throw notParquet(file, err, 'not a readable Parquet file: bad or missing footer');
  }
}

/** `columns`: read only these top-level columns (default: all), e.g. everything but the frames. */
export async function* readParquet(file: DataFile, columns?: string[]): AsyncIterable<RawItem> {
  const { buf, metadata } = await openParquet(file);
  let rowStart = 0;
  for (let g = 0; g < metadata.row_groups.length; g++) {
    const n = Number(metadata.row_groups[g]!.num_rows);
    if (n === 0) continue;
    const rows = await readGroupObjects(file, buf, metadata, g, rowStart, n, columns);
    for (let i = 0; i < rows.length; i++) {
      yield { kind: 'row', fields: rows[i]!, origin: { file: file.name, row: rowStart + i }, columnar: true };
    }
    rowStart += n;
  }
}

/** Row group `g` (rows `rowStart`.. of the file, `n` of them) as hyparquet assembles its rows. */
export async function readGroupObjects(
  file: DataFile,
  buf: AsyncBuffer,
  metadata: FileMetaData,
  g: number,
  rowStart: number,
  n: number,
  columns?: string[],
): Promise<Record<string, unknown>[]> {
  try {
    return await parquetReadObjects({
      file: buf,
      metadata,
      rowStart,
      rowEnd: rowStart + n,
      utf8: false,
      compressors,
      ...(columns && { columns }),
    });
  } catch (err) {
    throw notParquet(file, err, `row group ${g} (rows ${rowStart}..${rowStart + n - 1}) cannot be read`);
  }
}

/** Rows in a Parquet file as its footer says; undefined when the footer cannot be read. */
export async function parquetRowCount(file: DataFile): Promise<number | undefined> {
  try {
    return Number((await parquetMetadataAsync(await asyncBuffer(file))).num_rows);
  } catch {
    return undefined;
  }
}
