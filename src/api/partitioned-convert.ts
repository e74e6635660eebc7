/**
 * A convert cut into independent steps for many machines (Ray, Kubernetes Indexed Jobs, batch
 * arrays): `planConvert` once, `convertPartition` for each i of N (in any order, anywhere, re-run
 * alone after a failure), then `finalizeConvert`. The result is byte-identical to one `convert`
 * with the same params, which every step must be given.
 */
import type { ConvertOptions } from '../convert/convert.ts';
import type { PartitionSpec } from '../convert/partition-limits.ts';
import type { ConvertSummary } from '../convert/summary.ts';
import { UsageError } from '../errors.ts';
import { convertOptionsOf } from './convert.ts';
import type { ConvertParams } from './convert.ts';

export type { PartitionSpec };

export interface PlanResult {
  /** The output root, as given. */
  out: string;
  /** Where the plan was written (under `out`). */
  plan: string;
  /** Output files planned, over every format. */
  shards: number;
  warnings: string[];
}

export interface PartitionResult {
  /** The output root, as given. */
  out: string;
  /** Files this partition wrote. */
  files: number;
  warnings: string[];
}

/**
 * The options of a partitioned step. Extra configs (sft, episodes) are not planned into partitions
 * yet: refused, rather than finalizing a dataset that lacks them.
 */
function stepOptions(params: ConvertParams, step: string): ConvertOptions {
  const extra = params.configs ?? [];
  if (extra.length)
    throw new UsageError(`convert ${step}: --configs ${extra.join(',')} cannot be partitioned yet; run one convert for them`);
  return convertOptionsOf(params);
}

/** Step 1 (`convert --plan-only`): one pass over the rows without frames; writes the plan under `out`. */
export async function planConvert(params: ConvertParams): Promise<PlanResult> {
  const { planOnly } = await import('../convert/partition.ts');
  return planOnly(stepOptions(params, '--plan-only'));
}

/** Step 2 (`convert --partition i/N`): writes only the files partition `partition.index` of `partition.count` owns. */
export async function convertPartition(params: ConvertParams & { partition: PartitionSpec }): Promise<PartitionResult> {
  const { partition, ...rest } = params;
  const { convertPartition: run } = await import('../convert/partition.ts');
  return run(stepOptions(rest, `--partition ${partition.index}/${partition.count}`), partition);
}

/**
 * Step 3 (`convert --finalize`): checks every planned file is there with its recorded size, then
 * writes the card and `dataset-manifest.json` last; an {@link InputError} names what is missing.
 */
export async function finalizeConvert(params: ConvertParams): Promise<ConvertSummary> {
  const [{ finalizeConvert: run }, { convertSummary }] = await Promise.all([
    import('../convert/finalize.ts'),
    import('../convert/summary.ts'),
  ]);
  return convertSummary(await run(stepOptions(params, '--finalize')));
}
