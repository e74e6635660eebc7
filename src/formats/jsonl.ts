/**
 * JSONL: `jsonl/{split}-{i:05d}.jsonl`, one row per line, frames as files beside them
 * (`jsonl/frames/{split}/…`). For reading and grepping; the card's config only when no Parquet, Arrow or
 * WebDataset is there (without one, `datasets` would read the frames beside it as an image folder).
 * No `-of-N` in the name:
 * `datasets`' json builder finds shards by glob, and nothing else reads the count.
 */
import { pad5 } from '../write/shards.ts';
import { columnarShardRows, columnarWriter } from './columnar.ts';
import type { OutputFormatModule } from './types.ts';

const DIR = 'jsonl';

export function jsonlShardPath(dir: string, split: string, i: number): string {
  return `${dir}/${split}-${pad5(i)}.jsonl`;
}

export const jsonlFormat: OutputFormatModule<'jsonl'> = {
  name: 'jsonl',
  folder: `${DIR}/`,
  dataFile: /\.jsonl(\.gz)?$/i,
  shardPath: (split, i) => jsonlShardPath(DIR, split, i),
  shardRows: (_split, rows, run) => columnarShardRows(rows, run),
  card: { configName: 'default', rank: 3, glob: (split) => `${DIR}/${split}-*.jsonl` },
  async writer() {
    const { createJsonlSplitWriter } = await import('../write/jsonl.ts');
    return columnarWriter('jsonl', createJsonlSplitWriter);
  },
  async validator() {
    const { checkJsonl } = await import('../validate/jsonl.ts');
    return ({ ctx, manifest }) => ({ check: (file) => checkJsonl(ctx, file, manifest?.labels ?? null), done: async () => {} });
  },
};
