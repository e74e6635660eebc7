/** The `--partition i/N` value and its bound (kept apart from partition.ts, which the CLI loads lazily). */

/** Most partitions a convert may be cut into. */
export const MAX_PARTITIONS = 100_000;

/** Partition `index` of `count` (0 ≤ index < count). */
export interface PartitionSpec {
  index: number;
  count: number;
}
