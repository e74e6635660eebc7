/**
 * Shared pieces of the split writers: the file record every writer returns, the caller's shard
 * plan (rows cut at evenly spaced indices), and the push-style writer shape that lets one row stream
 * feed several formats at once.
 */
import { InputError, UsageError } from '../errors.ts';
import type { OutputFormat } from '../formats/registry.ts';
import { SPLIT_NAME } from '../hf/split-name.ts';
import type { ShardScope } from './shard-scope.ts';

/**
 * What a file record is: a data file of an output format (its name), or a support file of one
 * (`<format>-<role>`: `arrow-meta`, `jsonl-frame`, `webdataset-index`), which carries no rows.
 */
export type FileFormat = OutputFormat | `${OutputFormat}-${string}`;

/** One file a writer made (for dataset-manifest.json): rows is 0 for metadata files. */
export interface WrittenFile {
  path: string;
  format: FileFormat;
  split: string;
  rows: number;
  bytes: number;
  sha256: string;
  /** WebDataset shards: first and last sample key (the manifest records them). */
  first_key?: string;
  last_key?: string;
}

/** What the convert pipeline decided for one split in its planning pass. */
export interface SplitPlan {
  split: string;
  /** Exact number of rows the split will stream (a mismatch is an error: names say `-of-N`). */
  totalRows: number;
  numShards: number;
  /** Partitioned runs only: which shards this run writes (src/write/shard-scope.ts). */
  scope?: ShardScope;
}

/** A writer for one split that takes rows one at a time (await each `add`: backpressure). */
export interface SplitWriter<R> {
  /**
   * Keeps no reference to the row's byte buffers once resolved (copied or written), unless it holds
   * a reference: frame bytes in shared memory may be kept past `add()` only retained (src/buffers:
   * `MediaArena` does it), because convert releases every frame when `add()` returns and the
   * reader then reuses its memory.
   */
  add(row: R): Promise<void>;
  /** Close the last shard (and write per-split metadata); returns every file written. */
  finish(): Promise<WrittenFile[]>;
  /** Drop the shard in progress; files already committed stay. */
  abort(): Promise<void>;
  /**
   * Partitioned runs: the next row added is the split's row `row` (0-based); rows before it that
   * were not added belong to shards this run does not write.
   */
  seek?(row: number): Promise<void>;
}

export function pad5(i: number): string {
  return String(i).padStart(5, '0');
}

/** Validate a plan; the split name must be one `datasets` accepts (see SPLIT_NAME). */
export function checkPlan(plan: SplitPlan): void {
  if (!SPLIT_NAME.test(plan.split)) {
    throw new UsageError(
      `split name "${plan.split}" is not accepted by datasets: it must match ${SPLIT_NAME.source} (letters, digits, _ and inner dots)`,
    );
  }
  if (!Number.isInteger(plan.totalRows) || plan.totalRows < 0)
    throw new UsageError(`split ${plan.split}: total rows must be a non-negative integer, got ${plan.totalRows}`);
  if (!Number.isInteger(plan.numShards) || plan.numShards < 1 || plan.numShards > Math.max(1, plan.totalRows)) {
    throw new UsageError(`split ${plan.split}: shard count must be between 1 and the row count (${plan.totalRows}), got ${plan.numShards}`);
  }
}

/** First row index of each shard: evenly spaced, so shard sizes differ by at most one row. */
export function shardStarts(totalRows: number, numShards: number): number[] {
  const starts: number[] = [];
  for (let i = 0; i <= numShards; i++) starts.push(Math.floor((i * totalRows) / numShards));
  return starts;
}

/**
 * Tracks which shard the next row belongs to. `next()` returns the shard index for the row about to
 * be added and whether it opens a new shard (the previous one, if any, must be closed first).
 */
export class ShardCursor {
  private readonly starts: number[];
  private row = 0;
  private shard = -1;
  constructor(readonly plan: SplitPlan) {
    checkPlan(plan);
    this.starts = shardStarts(plan.totalRows, plan.numShards);
  }

  next(): { shard: number; opens: boolean } {
    if (this.row >= this.plan.totalRows) {
      throw new Error(`split ${this.plan.split}: more rows than the ${this.plan.totalRows} planned`);
    }
    let opens = false;
    while (this.row >= this.starts[this.shard + 1]!) {
      this.shard++;
      opens = true;
    }
    this.row++;
    return { shard: this.shard, opens };
  }

  /** Throws unless exactly the planned rows came. */
  finish(): void {
    if (this.row !== this.plan.totalRows) {
      throw new Error(`split ${this.plan.split}: ${this.row} rows arrived, ${this.plan.totalRows} were planned`);
    }
  }

  get rowsSoFar(): number {
    return this.row;
  }
  /** Rows in shard i per the plan. */
  rowsIn(i: number): number {
    return this.starts[i + 1]! - this.starts[i]!;
  }
}

/** What a file writer supplies to `shardedSplitWriter`: how to open, fill, close and drop one shard. */
export interface ShardHooks<R> {
  open(index: number): Promise<void>;
  add(row: R): Promise<void>;
  /** Finish and commit the open shard (nothing when none is open). */
  close(): Promise<void>;
  /** Drop the open shard (and anything still committing). */
  abort(): Promise<void>;
  /** After the last shard is closed: wait for commits, write per-split metadata. */
  done?(): Promise<void>;
  /** Wait for commits still running (records complete), without writing per-split metadata. */
  settle?(): Promise<void>;
}

/**
 * The shard loop every file writer shares: the plan's cursor decides when a shard closes and the
 * next opens; an empty split still gets its one (empty) shard; `files` is what `finish()` returns.
 */
export function shardedSplitWriter<R>(plan: SplitPlan, files: WrittenFile[], hooks: ShardHooks<R>): SplitWriter<R> {
  if (plan.scope) return scopedSplitWriter(plan, plan.scope, files, hooks);
  const cursor = new ShardCursor(plan);
  return {
    async add(row: R): Promise<void> {
      const { shard, opens } = cursor.next();
      if (opens) {
        await hooks.close();
        await hooks.open(shard);
      }
      await hooks.add(row);
    },
    async finish(): Promise<WrittenFile[]> {
      cursor.finish();
      if (plan.totalRows === 0) await hooks.open(0);
      await hooks.close();
      await hooks.done?.();
      return files;
    },
    abort: () => hooks.abort(),
  };
}

/**
 * The same loop for a partitioned run: only the shards the scope writes are opened, each must get
 * exactly its planned rows; replayed shards contribute the records another run made.
 */
function scopedSplitWriter<R>(plan: SplitPlan, scope: ShardScope, files: WrittenFile[], hooks: ShardHooks<R>): SplitWriter<R> {
  checkPlan(plan);
  const starts = shardStarts(plan.totalRows, plan.numShards);
  const written = new Map<number, WrittenFile[]>();
  let next = 0;
  let open = -1;
  let openedAt = 0;
  let openRows = 0;
  const shardAt = (row: number): number => {
    let s = Math.max(open, 0);
    while (s + 1 < plan.numShards && starts[s + 1]! <= row) s++;
    return s;
  };
  async function close(): Promise<void> {
    if (open < 0) return;
    const planned = starts[open + 1]! - starts[open]!;
    if (openRows !== planned) throw new Error(`split ${plan.split}: shard ${open} got ${openRows} rows, ${planned} were planned`);
    await hooks.close();
    written.set(open, files.slice(openedAt));
    open = -1;
  }
  async function openShard(s: number): Promise<void> {
    await hooks.open(s);
    open = s;
    openedAt = files.length;
    openRows = 0;
  }
  return {
    async seek(row: number): Promise<void> {
      if (row < next) throw new Error(`split ${plan.split}: row ${row} comes after row ${next}`);
      next = row;
    },
    async add(row: R): Promise<void> {
      if (next >= plan.totalRows) throw new Error(`split ${plan.split}: more rows than the ${plan.totalRows} planned`);
      const s = shardAt(next);
      if (scope.mode(s) !== 'write') throw new Error(`split ${plan.split}: row ${next} is in shard ${s}, which this run does not write`);
      if (s !== open) {
        await close();
        await openShard(s);
      }
      await hooks.add(row);
      openRows++;
      next++;
    },
    async finish(): Promise<WrittenFile[]> {
      await close();
      if (plan.totalRows === 0 && scope.mode(0) === 'write') {
        await openShard(0);
        await close();
      }
      const missing: number[] = [];
      for (let s = 0; s < plan.numShards; s++) if (scope.mode(s) === 'write' && !written.has(s)) missing.push(s);
      if (missing.length)
        throw new InputError(
          `split ${plan.split}: the export ended before the rows of shard ${missing.join(', ')} (did it change since convert --plan-only?)`,
        );
      await hooks.settle?.();
      for (const [s, records] of written) scope.written(s, records);
      for (let s = 0; s < plan.numShards; s++) if (scope.mode(s) === 'replay') files.push(...scope.recorded(s));
      if (scope.splitFiles) await hooks.done?.();
      return files;
    },
    abort: () => hooks.abort(),
  };
}

/** Feed an async row stream to a push-style writer, aborting it on failure. */
export async function drain<R>(rows: AsyncIterable<R>, writer: SplitWriter<R>): Promise<WrittenFile[]> {
  try {
    for await (const row of rows) await writer.add(row);
    return await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** One writer feeding several (one row stream written as Parquet, Arrow and JSONL in one pass). */
export function fanOut<R>(writers: SplitWriter<R>[]): SplitWriter<R> {
  return {
    async add(row: R): Promise<void> {
      for (const w of writers) await w.add(row);
    },
    async finish(): Promise<WrittenFile[]> {
      const out: WrittenFile[] = [];
      for (const w of writers) out.push(...(await w.finish()));
      return out;
    },
    async abort(): Promise<void> {
      for (const w of writers) await w.abort();
    },
  };
}
