/**
 * Which shards of one (format, split) a run writes, when a convert is cut into partitions
 * (src/convert/partition.ts). A partition writes the shards it owns and skips the others; finalize
 * writes none and takes every shard's file records as the partitions recorded them, so the files
 * beside the shards (Arrow's state.json, the wids index) are made from the same records as in a
 * single run. A run either writes or replays, never both.
 */
import type { WrittenFile } from './shards.ts';

export type ShardMode = 'write' | 'skip' | 'replay';

export interface ShardScope {
  mode(shard: number): ShardMode;
  /** The records another run made for a replayed shard, in the order it made them. */
  recorded(shard: number): WrittenFile[];
  /** After this run's shards are committed: every record made for each written shard. */
  written(shard: number, files: WrittenFile[]): void;
  /** Whether this run writes the split's files beside its shards (metadata derived from all shards). */
  splitFiles: boolean;
}

/** A whole run's scope: per (format, split), and whether it writes the dataset-level files. */
export interface RunScope {
  shard(format: string, split: string): ShardScope;
  datasetFiles: boolean;
}

/** First row of each shard from rows per shard, plus the total at the end. */
export function startsOf(counts: readonly number[]): number[] {
  const starts = [0];
  for (const c of counts) starts.push(starts[starts.length - 1]! + c);
  return starts;
}
