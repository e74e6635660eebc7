/**
 * A dataset's Parquet frames, read only for the rows the report samples: the rows themselves are
 * read without the `image` column (it is most of the bytes), and a sampled row's frame comes from
 * its row group's `image` column, read once and kept while the next sampled rows fall in it.
 */
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { InputError } from '../errors.ts';
import { asyncBuffer } from '../export/parquet.ts';
import type { DataFile } from '../export/raw.ts';

export class ParquetFrames {
  private opened?: Promise<{ buf: AsyncBuffer; metadata: FileMetaData; starts: number[] }>;
  private group: { start: number; end: number; images: Promise<unknown[]> } | null = null;

  constructor(
    private readonly file: DataFile,
    private readonly column = 'image',
  ) {}

  private open() {
    return (this.opened ??= (async () => {
      const buf = await asyncBuffer(this.file);
      const metadata = await parquetMetadataAsync(buf);
      const starts = [0];
      for (const g of metadata.row_groups) starts.push(starts[starts.length - 1]! + Number(g.num_rows));
      return { buf, metadata, starts };
    })());
  }

  /** The frame bytes of row `row` (0-based in the file). */
  async read(row: number): Promise<Uint8Array> {
    const { buf, metadata, starts } = await this.open();
    if (!this.group || row < this.group.start || row >= this.group.end) {
      let g = 0;
      while (g + 1 < starts.length - 1 && starts[g + 1]! <= row) g++;
      const start = starts[g]!;
      const end = starts[g + 1] ?? start;
      const images = parquetReadObjects({
        file: buf,
        metadata,
        columns: [this.column],
        rowStart: start,
        rowEnd: end,
        utf8: false,
        compressors,
      }).then((rows) => rows.map((r) => r[this.column]));
      this.group = { start, end, images };
    }
    const image = (await this.group.images)[row - this.group.start] as { bytes?: unknown } | null | undefined;
    if (image && image.bytes instanceof Uint8Array) return image.bytes;
    throw new InputError(`the ${this.column} column holds no frame bytes`, { file: this.file.name, row: `row ${row}` });
  }
}
