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
  if (!Number.isSafeInteger(minShards) || minShards < 1)
    throw new UsageError(`--min-shards must be a positive integer, got ${opts.minShards}`);

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

/** How evenly a split's shards feed W ranks × K DataLoader workers, as webdataset hands them out. */
export interface ShardBalance {
  samples: number;
  /** Smallest and largest samples one rank reads per epoch. */
  ranks: [number, number];
  /** Smallest and largest samples one (rank, worker) slot reads per epoch. */
  slots: [number, number];
  /** Whether other shard sizes could make it more even (else the row count itself forbids it). */
  avoidable: boolean;
}

/**
 * Shard i goes to rank i mod W (split_by_node), then to worker ⌊i / W⌋ mod K of that rank
 * (split_by_worker): slot i mod W·K. Equal counts are possible only when W·K (for ranks: W)
 * divides the samples; otherwise the best is a difference of 1, which convert's plan reaches.
 */
export function shardBalance(counts: number[], worldSize: number, workers: number): ShardBalance {
  const n = worldSize * workers;
  const slots = new Array<number>(n).fill(0);
  counts.forEach((c, i) => {
    slots[i % n]! += c;
  });
  const ranks = new Array<number>(worldSize).fill(0);
  slots.forEach((c, s) => {
    ranks[s % worldSize]! += c;
  });
  const samples = counts.reduce((a, b) => a + b, 0);
  const spread = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
  const r = spread(ranks);
  const s = spread(slots);
  const avoidable = s[1] - s[0] > (samples % n ? 1 : 0) || r[1] - r[0] > (samples % worldSize ? 1 : 0);
  return { samples, ranks: r, slots: s, avoidable };
}

/** What a training loop must do with an uneven split (the same words in convert's warning and validate's note). */
export function unevenSplitMessage(split: string, b: ShardBalance, worldSize: number, workers: number): string {
  const range = ([lo, hi]: [number, number]) => (lo === hi ? `${lo}` : `${lo}..${hi}`);
  return (
    `split ${split}: ${b.samples} samples cannot be split equally over ${worldSize} rank(s) x ${workers} worker(s): ` +
    `every row is kept and shards differ by at most one sample, so ranks read ${range(b.ranks)} and workers ${range(b.slots)} samples per epoch; ` +
    `cap each worker at ${b.slots[0]} samples per epoch (e.g. webdataset .with_epoch(${b.slots[0]})) or use torch.distributed Join`
  );
}
