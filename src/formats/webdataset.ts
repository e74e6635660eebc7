/**
 * WebDataset: `webdataset/{split}-{i:06d}.tar`, one sample per step, plus the wids index
 * `webdataset/{split}.index.json`. The card's config only when neither Parquet nor Arrow is there
 * (`datasets` reads every config with the builder of the first).
 *
 * Why its own shard plan and names: shards are cut by sample counts that feed ranks × DataLoader
 * workers evenly (`planShards`), not by the evenly spaced `-of-N` rows of the other formats, and
 * the names follow webdataset's convention (`{prefix}-{i:06d}.tar`, what its ShardWriter and `tarp`
 * write and what brace patterns like `train-{000000..000009}.tar` expect); a pipeline pointed at
 * `-of-N` names would break on a re-shard. Changing the names would also change published datasets.
 */
import type { WebDatasetBalance } from '../hf/dataset-manifest.ts';
import { shardBalance, unevenSplitMessage, planShards } from '../write/shard-plan.ts';
import type { WdsShardInfo } from '../write/webdataset.ts';
import { manifestEntry } from './types.ts';
import type { OutputFormatModule, ShardSizing } from './types.ts';

const DIR = 'webdataset';

export interface WdsOptions {
  shardBytes?: number;
  shardSamples?: number;
  /** At least this many shards per split with counts differing by ≤ 1 (world size × workers). */
  minShards?: number;
  /** The training job the shards are planned for: balance is reported for these (convert --world-size/--workers). */
  worldSize?: number;
  workers?: number;
  sidecar?: 'mp';
}

/** `webdataset/{split}-{i:06d}.tar` */
export function wdsShardPath(split: string, index: number): string {
  return `${DIR}/${split}-${String(index).padStart(6, '0')}.tar`;
}

/**
 * A split whose samples cannot feed the planned ranks × workers equally (the row count forbids
 * it; the plan is as even as it can be): what convert says in its warning and the manifest.
 */
export function unevenSplit(split: string, plan: number[], wds: WdsOptions): WebDatasetBalance | null {
  const job =
    wds.worldSize || wds.workers ? { w: wds.worldSize ?? 1, k: wds.workers ?? 1 } : wds.minShards ? { w: wds.minShards, k: 1 } : null;
  if (!job || job.w * job.k === 1 || plan.length < job.w * job.k) return null;
  const b = shardBalance(plan, job.w, job.k);
  if (b.slots[0] === b.slots[1]) return null;
  return {
    world_size: job.w,
    workers: job.k,
    rank_samples: b.ranks,
    worker_samples: b.slots,
    note: unevenSplitMessage(split, b, job.w, job.k),
  };
}

/** Samples per shard of a split (planShards: balanced over ranks × workers, sized by the options). */
function wdsShardRows(split: string, rows: number, run: ShardSizing): number[] {
  const wds = run.options.wds;
  return planShards({
    totalSamples: rows,
    approxBytesPerSample: run.approxBytesPerRow,
    shardBytes: wds.shardBytes,
    shardSamples: wds.shardSamples,
    minShards: wds.minShards,
    split,
  });
}

export const webdatasetFormat: OutputFormatModule<'webdataset'> = {
  name: 'webdataset',
  folder: `${DIR}/`,
  dataFile: /\.tar$/i,
  shardPath: (split, i) => wdsShardPath(split, i),
  shardRows: wdsShardRows,
  card: { configName: 'webdataset', rank: 2, glob: (split) => `${DIR}/${split}-*.tar` },
  recordedOptions: ({ wds }) => ({
    shard_bytes: wds.shardBytes ?? null,
    shard_samples: wds.shardSamples ?? null,
    min_shards: wds.minShards ?? null,
    sidecar: wds.sidecar ?? null,
  }),
  async writer() {
    const { createWdsSplitWriter } = await import('../write/wds-rows.ts');
    const { writeWidsIndex } = await import('../write/wids-index.ts');
    return (run) => {
      const wds = run.options.wds;
      const shards: WdsShardInfo[] = [];
      const balance: Record<string, WebDatasetBalance> = {};
      return {
        split(name, rows) {
          const plan = wdsShardRows(name, rows, run);
          const uneven = unevenSplit(name, plan, wds);
          if (uneven) {
            run.warn(uneven.note);
            balance[name] = uneven;
          }
          return createWdsSplitWriter(
            run.sink,
            {
              split: name,
              totalSamples: rows,
              plan,
              mtime: run.mtime,
              sidecarMp: wds.sidecar === 'mp',
              labels: run.labels,
              scope: run.scope?.shard('webdataset', name),
            },
            shards,
          );
        },
        async finish(splits) {
          const files = shards.map((f) => manifestEntry(f, 'webdataset', f.rows));
          for (const name of splits) {
            if (!(run.scope?.datasetFiles ?? true)) break;
            const idx = await writeWidsIndex(
              run.sink,
              name,
              shards.filter((s) => s.split === name),
            );
            files.push(manifestEntry({ ...idx, format: 'webdataset-index', split: name, rows: 0 }, 'webdataset', null));
          }
          return { files, manifest: Object.keys(balance).length ? { webdataset_balance: balance } : {} };
        },
      };
    };
  },
  async validator() {
    const { WdsSplitState, checkWdsShard, checkWdsSplit } = await import('../validate/webdataset.ts');
    return ({ ctx, listed }) => {
      const splits = new Map<string, InstanceType<typeof WdsSplitState>>();
      return {
        check(file) {
          let st = splits.get(file.split);
          if (!st) splits.set(file.split, (st = new WdsSplitState(file.split)));
          return checkWdsShard(ctx, file, st);
        },
        // Per split: the wids index beside the first shard, and the balance over ranks × workers.
        async done() {
          for (const [split, st] of splits) {
            const first = st.shardSamples[0]!.path;
            const idx = `${first.slice(0, first.lastIndexOf('/') + 1)}${split}.index.json`;
            await checkWdsSplit(ctx, st, listed.has(idx) ? idx : null);
          }
        },
      };
    };
  },
};
