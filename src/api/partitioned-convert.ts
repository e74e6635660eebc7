/**
 * A convert cut into independent steps for many machines (Ray, Kubernetes Indexed Jobs, batch
 * arrays): `planConvert` once, `convertPartition` for each i of N (in any order, anywhere, re-run
 * alone after a failure), then `finalizeConvert`. The result is byte-identical to one `convert`
 * with the same params, which every step must be given.
 */
import type { PartitionSpec } from '../convert/partition-limits.ts';
import type { ConvertSummary } from '../convert/summary.ts';
import { convertOptionsOf } from './convert.ts';
import { startLocalReader } from './input.ts';
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

/** Step 1 (`convert --plan-only`): one pass over the rows without frames; writes the plan under `out`. */
export async function planConvert(params: ConvertParams): Promise<PlanResult> {
  const opts = convertOptionsOf(params);
  const [{ planOnly }] = await Promise.all([import('../convert/partition.ts'), startLocalReader(opts.input)]);
  return planOnly(opts);
}

/** Step 2 (`convert --partition i/N`): writes only the files partition `partition.index` of `partition.count` owns. */
export async function convertPartition(params: ConvertParams & { partition: PartitionSpec }): Promise<PartitionResult> {
  const { partition, ...rest } = params;
  const { convertPartition: run } = await import('../convert/partition.ts');
  return run(convertOptionsOf(rest), partition);
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
  return convertSummary(await run(convertOptionsOf(params)));
}
