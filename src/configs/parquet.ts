/**
 * The usual body of a config's writer: each split's steps rows mapped to the config's rows by a
 * per-split mapper, written as Parquet shards `<name>/<split>-{i:05d}-of-{n:05d}.parquet` (the same
 * writer, row groups and metadata as `data/`).
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
import type { DatasetFile } from '../hf/dataset-manifest.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import { columnarShardCount, columnarShardRows } from '../formats/columnar.ts';
import { createParquetSplitWriter, parquetShardPath } from '../write/parquet.ts';
import type { WrittenFile } from '../write/shards.ts';
import type { ConfigRun, ConfigSplitWriter, ConfigWriter } from './types.ts';
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

export function configParquetWriter<R extends object>(
  name: ExtraConfigName,
  run: ConfigRun,
  rowBytes: number,
  mapper: (split: string) => RowMapper<R>,
  /** Rows per row group (default the Parquet writer's 100: the Hub's advice for image rows). */
  rowGroupRows?: number,
): ConfigWriter {
  const written: WrittenFile[] = [];
  return {
    split(split, rows): ConfigSplitWriter {
      const numShards = columnarShardCount(rows, rowBytes, run.options.maxShardBytes);
      const scope = run.scope?.shard(name, split);
      const w = createParquetSplitWriter<R>(run.sink, {
        split,
        totalRows: rows,
        numShards,
        features: run.features,
        dir: name,
        rowGroupRows,
        scope,
      });
      const map = mapper(split);
      // Partitioned: the config rows begun (seek) and not yet out of the mapper, in order.
      const begun: number[] = [];
      const put = async (out: R[]): Promise<void> => {
        for (const r of out) {
          if (scope) {
            const at = begun.shift();
            if (at === undefined) throw new Error(`${name} split ${split}: a row came out of the mapper that no seek began`);
            await w.seek!(at);
          }
          await w.add(r);
        }
      };
      return {
        async seek(row) {
          if (begun[begun.length - 1] !== row) begun.push(row);
        },
        add: (row) => put(map.add(row)),
        async context(row) {
          map.add(row); // its own rows are another partition's
        },
        async finish() {
          await put(map.end());
          const files = await w.finish();
          written.push(...files);
          return [];
        },
        abort: () => w.abort(),
      };
    },
    async finish() {
      const files: DatasetFile[] = written.map((f) => ({
        path: f.path,
        format: 'parquet',
        config: name,
        split: f.split,
        rows: f.rows,
        bytes: f.bytes,
        sha256: f.sha256,
      }));
      return { files };
    },
  };
}
