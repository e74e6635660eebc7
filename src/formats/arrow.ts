/**
 * Arrow: `arrow/{split}/data-{i:05d}-of-{n:05d}.arrow` plus `state.json` and `dataset_info.json`
 * per split and `arrow/dataset_dict.json`, the layout `datasets.load_from_disk` reads (what
 * `DatasetDict.save_to_disk` writes). A card config after Parquet.
 */
import { pad5 } from '../write/shards.ts';
import { columnarShardRows, columnarWriter } from './columnar.ts';
import type { OutputFormatModule } from './types.ts';

const DIR = 'arrow';

/** The shard's file name inside its split folder (`save_to_disk` names them so). */
export function arrowShardName(i: number, n: number): string {
  return `data-${pad5(i)}-of-${pad5(n)}.arrow`;
}

export const arrowFormat: OutputFormatModule<'arrow'> = {
  name: 'arrow',
  folder: `${DIR}/`,
  dataFile: /\.arrow$/i,
  shardPath: (split, i, n) => `${DIR}/${split}/${arrowShardName(i, n)}`,
  shardRows: (_split, rows, run) => columnarShardRows(rows, run),
  card: { configName: 'default', rank: 1, glob: (split) => `${DIR}/${split}/data-*.arrow` },
  async writer() {
    const { createArrowSplitWriter, writeArrowDatasetDict } = await import('../write/arrow.ts');
    return columnarWriter('arrow', createArrowSplitWriter, async (sink, splits) => [await writeArrowDatasetDict(sink, splits)]);
  },
  async validator() {
    const { checkArrow, checkSaveToDiskDir } = await import('../validate/arrow.ts');
    return ({ ctx, manifest, listed }) => {
      const dirs = new Set<string>();
      return {
        check(file) {
          dirs.add(file.path.slice(0, file.path.lastIndexOf('/')));
          return checkArrow(ctx, file);
        },
        // save_to_disk directories (every directory holding an .arrow data file) of a dataset.
        async done() {
          if (!manifest) return;
          for (const d of [...dirs].sort()) await checkSaveToDiskDir(ctx, d, listed);
        },
      };
    };
  },
};
