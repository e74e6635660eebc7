/**
 * The usual body of a config's writer: each split's steps rows mapped to the config's rows by a
 * per-split mapper, written as Parquet shards `<name>/<split>-{i:05d}-of-{n:05d}.parquet` (the same
 * writer, row groups and metadata as `data/`).
 *
 * Frame bytes: convert releases a steps row's frame when `add()` returns. The Parquet writer holds
 * the frames of the rows it buffers (Image columns and lists of images, its media arena); a mapper
 * that keeps a frame past `add()` itself (history, a whole session) must retain it
 * (`retainShared` from src/buffers) and release it when done, or copy it.
 */
import type { DatasetFile } from '../hf/dataset-manifest.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import { columnarShardCount } from '../formats/columnar.ts';
import type { FormatWriter } from '../formats/types.ts';
import { createParquetSplitWriter } from '../write/parquet.ts';
import type { WrittenFile } from '../write/shards.ts';
import type { ConfigRun } from './types.ts';
import type { ExtraConfigName } from './registry.ts';

/** Turns one split's steps rows (in (session_id, t_ms) order) into a config's rows. */
export interface RowMapper<R> {
  /** The config rows this steps row completes (none, one, or several). */
  add(row: StepsRow): R[];
  /** The rows still pending when the split ends. */
  end(): R[];
}

export function configParquetWriter<R extends object>(
  name: ExtraConfigName,
  run: ConfigRun,
  rowBytes: number,
  mapper: (split: string) => RowMapper<R>,
  /** Rows per row group (default the Parquet writer's 100: the Hub's advice for image rows). */
  rowGroupRows?: number,
): FormatWriter {
  const written: WrittenFile[] = [];
  return {
    split(split, rows) {
      const numShards = columnarShardCount(rows, rowBytes, run.options.maxShardBytes);
      const w = createParquetSplitWriter<R>(run.sink, {
        split,
        totalRows: rows,
        numShards,
        features: run.features,
        dir: name,
        rowGroupRows,
      });
      const map = mapper(split);
      return {
        async add(row) {
          for (const r of map.add(row)) await w.add(r);
        },
        async finish() {
          for (const r of map.end()) await w.add(r);
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
