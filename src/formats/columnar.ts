/**
 * The writer shape Parquet, Arrow and JSONL share: every split cut into `n` shards of evenly spaced
 * rows (`-of-N` names need `n` before the first byte), `n` from the plan pass's bytes-per-row
 * estimate and `--max-shard-bytes`.
 */
import type { StepsRow } from '../hf/steps-schema.ts';
import type { Features } from '../hf/features.ts';
import type { Sink } from '../sink/types.ts';
import type { SplitPlan, SplitWriter, WrittenFile } from '../write/shards.ts';
import { manifestEntry } from './types.ts';
import type { FormatWriter, ShardSizing, WriteRun } from './types.ts';
import { shardStarts } from '../write/shards.ts';
import type { DatasetFile } from '../hf/dataset-manifest.ts';

/** `datasets`' own shard size for push_to_hub and save_to_disk (decimal bytes). */
export const DEFAULT_MAX_SHARD_BYTES = 500_000_000;

/** Shards for a split of `rows` rows: enough to keep each under `maxShardBytes`, at most one per row. */
export function columnarShardCount(rows: number, approxBytesPerRow: number, maxShardBytes = DEFAULT_MAX_SHARD_BYTES): number {
  return Math.max(1, Math.min(rows, Math.ceil((rows * approxBytesPerRow) / maxShardBytes)));
}

/** Rows per shard of a columnar split: evenly spaced (sizes differ by at most one row). */
export function columnarShardRows(rows: number, run: ShardSizing): number[] {
  const starts = shardStarts(rows, columnarShardCount(rows, run.approxBytesPerRow, run.options.maxShardBytes));
  return starts.slice(1).map((s, i) => s - starts[i]!);
}

type CreateSplitWriter = (sink: Sink, plan: SplitPlan & { features: Features }) => SplitWriter<StepsRow>;

/**
 * A FormatWriter over a split writer factory. A file the writer records under the format's own name
 * is a data file (its rows go to the manifest); other records (state.json, frames) are support files.
 * `after` writes dataset-level files once every split is done.
 */
export function columnarWriter(
  format: 'parquet' | 'arrow' | 'jsonl',
  create: CreateSplitWriter,
  after?: (sink: Sink, splits: readonly string[]) => Promise<WrittenFile[]>,
): (run: WriteRun) => FormatWriter {
  return (run) => {
    const written: WrittenFile[] = [];
    return {
      split(name, rows) {
        const numShards = columnarShardCount(rows, run.approxBytesPerRow, run.options.maxShardBytes);
        const scope = run.scope?.shard(format, name);
        const w = create(run.sink, { split: name, totalRows: rows, numShards, features: run.features, scope });
        return {
          add: (row) => w.add(row),
          seek: async (row) => w.seek?.(row),
          async finish() {
            const files = await w.finish();
            written.push(...files);
            return files;
          },
          abort: () => w.abort(),
        };
      },
      async finish(splits) {
        if (after && (run.scope?.datasetFiles ?? true)) written.push(...(await after(run.sink, splits)));
        const files: DatasetFile[] = written.map((f) => manifestEntry(f, format, f.format === format ? f.rows : null));
        return { files };
      },
    };
  };
}
