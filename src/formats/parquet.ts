/**
 * Parquet: `data/{split}-{i:05d}-of-{n:05d}.parquet`, the Hub's default-config layout (the
 * dataset viewer and `load_dataset(repo)` read it without a loading script). The card's `default`
 * config when present.
 */
import { pad5 } from '../write/shards.ts';
import { columnarShardRows, columnarWriter } from './columnar.ts';
import type { OutputFormatModule } from './types.ts';

const DIR = 'data';

export function parquetShardPath(split: string, i: number, n: number, dir = DIR): string {
  return `${dir}/${split}-${pad5(i)}-of-${pad5(n)}.parquet`;
}

export const parquetFormat: OutputFormatModule<'parquet'> = {
  name: 'parquet',
  folder: `${DIR}/`,
  dataFile: /\.parquet$/i,
  shardPath: (split, i, n) => parquetShardPath(split, i, n),
  shardRows: (_split, rows, run) => columnarShardRows(rows, run),
  card: { configName: 'default', rank: 0, glob: (split) => `${DIR}/${split}-*` },
  async writer() {
    const { createParquetSplitWriter } = await import('../write/parquet.ts');
    return columnarWriter('parquet', createParquetSplitWriter);
  },
  async validator() {
    const { checkParquet } = await import('../validate/parquet.ts');
    return ({ ctx }) => ({ check: (file) => checkParquet(ctx, file), done: async () => {} });
  },
};
