/**
 * HF-native Parquet shards `data/{split}-{i:05d}-of-{n:05d}.parquet` with hyparquet-writer.
 *
 * What `datasets`, the Hub viewer, pyarrow, polars and duckdb need:
 * an explicit all-optional schema, key/value metadata `huggingface`, row groups of ~100 rows for
 * image data, an offset index, media columns PLAIN + UNCOMPRESSED without statistics (WebP does not
 * compress; dictionary probing would hash every image), other columns SNAPPY.
 *
 * Memory is bounded by one row group: rows are buffered until a group is full, encoded, and the
 * encoded bytes are flushed to the sink before the next group is accepted.
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { huggingfaceMetadata, toParquetSchema, toParquetValue } from '../hf/features.ts';
import type { Features } from '../hf/features.ts';
import type { OutputFile, Sink } from '../sink/types.ts';
import { MediaArena } from '../buffers/index.ts';
import { writeRowGroup } from './parquet-row-group.ts';
import type { RowGroupColumn } from './parquet-row-group.ts';
import { drain, shardedSplitWriter } from './shards.ts';
import { parquetShardPath } from '../formats/parquet.ts';
import type { SplitPlan, SplitWriter, WrittenFile } from './shards.ts';

export interface ParquetSplitOptions extends SplitPlan {
  features: Features;
  /** Rows per row group; 100 is what the Hub viewer uses for image data. */
  rowGroupRows?: number;
  /** Folder under the sink root (default `data`, the Hub's default-config layout). */
  dir?: string;
}

export { parquetShardPath };

/** Values at least this long skip the write buffer: they are handed to the sink as they are. */
const PASS_THROUGH_BYTES = 64 << 10;

/**
 * hyparquet-writer's ByteWriter whose flush() hands the encoded bytes to a sink file.
 *
 * Large values (the frames writeRowGroup appends from the group's media arena, large pages) are
 * not copied into this buffer: they are queued as they are and handed to the sink, in order with
 * the small pieces between them at the next flush. The local sink writes the arena's frames where
 * they are (shared memory, see src/buffers/media-arena.ts) and copies the rest.
 */
class SinkByteWriter extends ByteWriter {
  private parts: Uint8Array[] = [];
  constructor(private readonly out: OutputFile) {
    super(1 << 20);
  }

  override appendBytes(value: Uint8Array): void {
    if (value.length < PASS_THROUGH_BYTES) {
      super.appendBytes(value);
      return;
    }
    this.cut();
    this.parts.push(value);
    this.offset += value.length;
  }

  /** Move the buffered small bytes to the queue (a copy: the buffer is reused). */
  private cut(): void {
    if (this.index === 0) return;
    this.parts.push(new Uint8Array(this.buffer.slice(0, this.index)));
    this.index = 0;
  }

  async flush(): Promise<void> {
    this.cut();
    const parts = this.parts;
    this.parts = [];
    for (const p of parts) await this.out.write(p);
  }

  override finish(): Promise<void> {
    return this.flush();
  }
}

/**
 * hyparquet-writer grows its page buffers from 1 KiB by doubling, copying the page so far each
 * time: long values (DOM and accessibility-tree text) were copied about twice. Growing straight to
 * several times a large value instead leaves at most one small copy per page. Only the buffer
 * capacity changes, never the bytes.
 */
const LARGE_APPEND = 16 << 10;
ByteWriter.prototype.ensure = function ensure(this: ByteWriter, size: number): void {
  if (this.index + size <= this.buffer.byteLength) return;
  const doubled = this.buffer.byteLength * 2;
  const newSize = size >= LARGE_APPEND ? Math.max(doubled, this.index + size * 8) : Math.max(doubled, this.index + size);
  const grown = new ArrayBuffer(newSize);
  new Uint8Array(grown).set(new Uint8Array(this.buffer, 0, this.index));
  this.buffer = grown;
  this.view = new DataView(grown);
};

interface OpenShard {
  out: OutputFile;
  pq: ParquetWriter;
  index: number;
  rows: number;
}

export function createParquetSplitWriter<R extends object>(sink: Sink, opts: ParquetSplitOptions): SplitWriter<R> {
  const dir = opts.dir ?? 'data';
  const groupRows = opts.rowGroupRows ?? 100;
  const schema = toParquetSchema(opts.features);
  const kvMetadata = [{ key: 'huggingface', value: huggingfaceMetadata(opts.features) }];
  const columns = Object.entries(opts.features);
  // Frames the row group holds (retained or copied by the arena until it is written): an Image column, or a list of images.
  const mediaKind = columns.map(([, f]) =>
    f.kind === 'image' ? 'image' : f.kind === 'list' && f.feature.kind === 'image' ? 'images' : null,
  );
  const files: WrittenFile[] = [];
  let shard: OpenShard | undefined;
  let group: unknown[][] = columns.map(() => []);
  let groupLen = 0;
  const arena = new MediaArena();

  async function open(index: number): Promise<void> {
    const out = await sink.create(parquetShardPath(opts.split, index, opts.numShards, dir));
    const writer = new SinkByteWriter(out);
    const pq = new ParquetWriter({ writer, schema, codec: 'SNAPPY', kvMetadata, statistics: true });
    shard = { out, pq, index, rows: 0 };
  }

  async function flushGroup(): Promise<void> {
    if (!shard || groupLen === 0) return;
    const groupColumns: RowGroupColumn[] = columns.map(([name, f], j) => {
      const media = f.kind === 'image';
      // A list of images (the sft config's `images`): frames too, but repeated values cannot be
      // written by reference; still no compression (WebP does not compress), no statistics.
      if (mediaKind[j] === 'images')
        return {
          name,
          data: group[j]!,
          encoding: 'PLAIN',
          codec: 'UNCOMPRESSED',
          statistics: false,
          columnIndex: false,
          offsetIndex: true,
        };
      return media
        ? {
            name,
            data: group[j]!,
            encoding: 'PLAIN',
            codec: 'UNCOMPRESSED',
            statistics: false,
            columnIndex: false,
            offsetIndex: true,
            byReference: f.kind === 'image',
          }
        : { name, data: group[j]!, codec: 'SNAPPY', columnIndex: true, offsetIndex: true };
    });
    writeRowGroup(shard.pq, groupColumns, groupLen);
    await shard.pq.writer.flush?.();
    shard.rows += groupLen;
    group = columns.map(() => []);
    groupLen = 0;
    arena.reset(); // the sink copied or retained every byte of the group
  }

  // A finished shard's commit (fsync, rename) runs while the next shard is written; at most one at
  // a time. The file gets its final name only when its commit completes; finish() waits for it.
  let committing: Promise<void> | undefined;

  async function settle(): Promise<void> {
    const c = committing;
    committing = undefined;
    await c;
  }

  async function close(): Promise<void> {
    if (!shard) return;
    await flushGroup();
    await shard.pq.finish();
    const { out, rows } = shard;
    shard = undefined;
    try {
      await settle();
    } catch (err) {
      await out.abort().catch(() => {});
      throw err;
    }
    const record: WrittenFile = { path: out.path, format: 'parquet', split: opts.split, rows, bytes: 0, sha256: '' };
    files.push(record);
    committing = out.commit().then(
      ({ bytes, sha256 }) => {
        record.bytes = bytes;
        record.sha256 = sha256;
      },
      async (err: unknown) => {
        await out.abort().catch(() => {}); // nothing half-written stays behind
        throw err;
      },
    );
    committing.catch(() => {});
  }

  return shardedSplitWriter<R>(opts, files, {
    open,
    close,
    async add(row: R): Promise<void> {
      const r = row as Record<string, unknown>;
      if (groupLen === 0) await arena.begin();
      columns.forEach(([name, f], j) => {
        const v = r[name];
        const kind = mediaKind[j];
        group[j]!.push(
          kind === 'image'
            ? arena.hold(v)
            : kind === 'images'
              ? ((v as unknown[] | null)?.map((x) => arena.hold(x)) ?? null)
              : toParquetValue(f, v),
        );
      });
      if (++groupLen >= groupRows) await flushGroup();
    },
    async abort(): Promise<void> {
      arena.reset(); // the unwritten group's frames are free again
      const s = shard;
      shard = undefined;
      if (s) await s.out.abort();
      await settle().catch(() => {});
    },
    done: settle,
    settle,
  });
}

/** Write one split's rows as Parquet shards per the caller's plan. */
export function writeParquetSplit<R extends object>(sink: Sink, rows: AsyncIterable<R>, opts: ParquetSplitOptions): Promise<WrittenFile[]> {
  return drain(rows, createParquetSplitWriter<R>(sink, opts));
}
