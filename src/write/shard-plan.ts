/**
 * How many samples go into each WebDataset shard of one split.
 *
 * webdataset and plain PyTorch loaders hand out whole shards: rank r, worker k of a W×K job reads
 * shards r + W·(k + K·j) (split_by_node, then split_by_worker). A rank or worker without a shard
 * yields nothing and DDP collectives hang; one with more shards than the others runs longer. So with
 * minShards N = W×K we make the shard count a multiple of N and all counts differ by at most 1:
 * every (rank, worker) slot then gets the same number of shards and its sample total differs from
 * any other slot's by at most 1 (the larger shards come first, one per slot in turn).
 */
import { UsageError } from '../errors.ts';

export interface ShardPlanOptions {
  totalSamples: number;
  /** Mean bytes of one sample in the tar (frame + JSON + headers); 0 when unknown. */
  approxBytesPerSample: number;
  /** Target shard size (default 1e9). A shard may exceed it by less than one sample. */
  shardBytes?: number;
  /** At most this many samples per shard. */
  shardSamples?: number;
  /** At least this many shards, as a multiple of it, all equal ±1 (world size × workers). */
  minShards?: number;
  /** For messages: the split being planned. */
  split?: string;
}

export const DEFAULT_SHARD_BYTES = 1e9;

/**
 * Sample count per shard, in shard order. Sums to `totalSamples`; no shard is empty; counts differ
 * by at most 1. Zero samples give no shards (unless minShards asks for some: then an error).
 *
 * Fewer samples than minShards is a UsageError: some rank or worker would get no shard, which is
 * exactly what minShards exists to prevent; the message says what to change.
 */
export function planShards(opts: ShardPlanOptions): number[] {
  const { totalSamples: total, approxBytesPerSample: perSample } = opts;
  const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
  const where = opts.split ? `split ${opts.split}: ` : '';
  if (!Number.isSafeInteger(total) || total < 0) throw new UsageError(`${where}totalSamples must be a non-negative integer, got ${total}`);
  if (!(perSample >= 0) || !Number.isFinite(perSample)) throw new UsageError(`${where}approxBytesPerSample must be ≥ 0, got ${perSample}`);
  if (!(shardBytes > 0)) throw new UsageError(`--shard-bytes must be > 0, got ${shardBytes}`);
  if (opts.shardSamples !== undefined && !(Number.isSafeInteger(opts.shardSamples) && opts.shardSamples > 0)) {
    throw new UsageError(`--shard-samples must be a positive integer, got ${opts.shardSamples}`);
  }
  const minShards = opts.minShards ?? 1;
  if (!Number.isSafeInteger(minShards) || minShards < 1) throw new UsageError(`--min-shards must be a positive integer, got ${opts.minShards}`);

  if (minShards > total) {
    if (total === 0 && opts.minShards === undefined) return [];
    throw new UsageError(
      `${where}${total} samples cannot fill ${minShards} shards (--min-shards, or --world-size × --workers): ` +
        `some DDP rank or DataLoader worker would get no shard and hang or stop early. ` +
        `Use fewer ranks/workers for this split, give it more sessions, or read it with resampled=True.`,
    );
  }

  // Shards needed by the size limits alone.
  const bySize = perSample > 0 ? Math.ceil(total / Math.max(1, Math.floor(shardBytes / perSample))) : 1;
  const byCount = opts.shardSamples ? Math.ceil(total / opts.shardSamples) : 1;
  let n = Math.max(1, bySize, byCount);
  if (opts.minShards !== undefined) {
    // A multiple of N so every slot gets the same number of shards; if rounding up would leave
    // empty shards, round down instead (balance matters more than the soft size target).
    n = Math.ceil(n / minShards) * minShards;
    if (n > total) n = Math.floor(total / minShards) * minShards;
  }
  const base = Math.floor(total / n);
  const extra = total % n;
  return Array.from({ length: n }, (_, i) => base + (i < extra ? 1 : 0));
}
