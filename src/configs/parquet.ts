/**
 * The usual body of a config's writer: each split's steps rows mapped to the config's rows by a
 * per-split mapper, written as Parquet shards `<name>/<split>-{i:05d}-of-{n:05d}.parquet` (the same
 * writer, row groups and metadata as `data/`). Here what the plan needs (shard rows and paths, the
 * mapper's shape); the writer itself is parquet-writer.ts, loaded only when a config is written.
 *
 * Frame bytes: convert releases a steps row's frame when `add()` returns. The Parquet writer holds
 * the frames of the rows it buffers (Image columns and lists of images, its media arena); a mapper
 * that keeps a frame past `add()` itself (history, a whole session) must retain it
 * (`retainShared` from src/buffers) and release it when done, or copy it.
 *
 * Partitioned runs (src/convert/partition.ts) write only the shards they own: each steps row comes
 * with the config row it belongs to (`seek`), the mapper's rows come out in that order, and rows
 * given only as context (history) go through the mapper with their own rows dropped.
 */
import type { StepsRow } from '../hf/steps-schema.ts';
import { columnarShardRows } from '../formats/columnar.ts';
import { parquetShardPath } from '../formats/parquet.ts';
import type { ExtraConfigName } from './registry.ts';

/** Turns one split's steps rows (in (session_id, t_ms) order) into a config's rows. */
export interface RowMapper<R> {
  /** The config rows this steps row completes (none, one, or several). */
  add(row: StepsRow): R[];
  /** The rows still pending when the split ends. */
  end(): R[];
}

/** A config's shard boundaries: its rows of a split evenly cut, as `data/` is, by its own row-size estimate. */
export function configShardRows(rows: number, rowBytes: number, maxShardBytes: number | undefined): number[] {
  return columnarShardRows(rows, { approxBytesPerRow: rowBytes, options: { maxShardBytes, wds: {} } });
}

export function configShardPath(name: ExtraConfigName, split: string, index: number, count: number): string {
  return parquetShardPath(split, index, count, name);
}
