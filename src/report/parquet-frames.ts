/**
 * A dataset's Parquet frames, read only for the rows the report samples: the rows themselves are
 * read without the `image` column (it is most of the bytes), and a sampled row's frame comes from
 * a short run of rows read from the `image` column alone, kept while the next sampled rows fall in
 * it (a session's steps are consecutive rows). With the column's offset index (convert writes one)
 * only the pages holding the run are read, not the row group's every frame.
 */
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { InputError } from '../errors.ts';
import { openParquet } from '../export/parquet.ts';
import type { OpenParquet } from '../export/parquet.ts';
import type { DataFile } from '../export/raw.ts';

/** Rows read at once: about two pages of frames as convert writes them (~1 MB pages of ~7 frames). */
export const FRAME_RUN_ROWS = 16;

export class ParquetFrames {
  private run: { start: number; end: number; images: Promise<unknown[]> } | null = null;

  /** `open`: the file opened (its footer parsed) once, shared with the reader of its rows. */
  constructor(
    private readonly file: DataFile,
    private readonly column = 'image',
    private readonly open: () => Promise<OpenParquet> = once(() => openParquet(file)),
  ) {}

  /** The frame bytes of row `row` (0-based in the file). */
  async read(row: number): Promise<Uint8Array> {
    const { buf, metadata } = await this.open();
    if (!this.run || row < this.run.start || row >= this.run.end) {
      const start = row;
      const end = Math.min(Number(metadata.num_rows), row + FRAME_RUN_ROWS);
      const images = parquetReadObjects({
        file: buf,
        metadata,
        columns: [this.column],
        rowStart: start,
        rowEnd: end,
        utf8: false,
        compressors,
        useOffsetIndex: true,
      }).then((rows) => rows.map((r) => r[this.column]));
      this.run = { start, end, images };
    }
    // Another read may switch runs while this one waits: index into the run it asked for.
    const run = this.run;
    const image = (await run.images)[row - run.start] as { bytes?: unknown } | null | undefined;
    if (image && image.bytes instanceof Uint8Array) return image.bytes;
    throw new InputError(`the ${this.column} column holds no frame bytes`, { file: this.file.name, row: `row ${row}` });
  }
}

/** `f`'s promise, made on the first call and shared by every later one. */
export function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}
