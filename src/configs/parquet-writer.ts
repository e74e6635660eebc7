/**
 * `configParquetWriter`, the usual body of a config's writer (parquet.ts says what it writes). A
 * module of its own, loaded by a config's `writer()`: it brings in the Parquet writer and its
 * library, which a command that writes no config (`--plan-only`, `inspect`) never loads.
 */
import type { DatasetFile } from '../hf/dataset-manifest.ts';
import { columnarShardCount } from '../formats/columnar.ts';
import { createParquetSplitWriter } from '../write/parquet.ts';
import type { WrittenFile } from '../write/shards.ts';
import type { RowMapper } from './parquet.ts';
import type { ConfigRun, ConfigSplitWriter, ConfigWriter } from './types.ts';
import type { ExtraConfigName } from './registry.ts';

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
