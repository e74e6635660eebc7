/**
 * Steps rows → WebDataset samples. The `.json` member holds every column of the steps row except
 * the image, in a TYPE-STABLE layout:
 *  - typed, never null: session_id, step, t_ms, image_path, action_type (name), action_type_id;
 *  - everything that can be null is JSON text (always a string; `json.loads` gives the Parquet
 *    value, `"null"` when absent): viewport, action, prior_action, context, dom,
 *    accessibility_tree, extra. `context` = {workflow, outcome, outcome_id, actor_kind, tags, path,
 *    started_at}; action/prior_action carry `type` as name and `type_id` as ClassLabel id.
 *
 * Why: `datasets`' webdataset loader infers the JSON schema from the first 5 samples of the first
 * shard; a field that is null in all of them (a first session without tags, clicks before the
 * first input_text...) fails the cast later ("Couldn't cast ... to null"), and keys first seen after
 * sample 5 are silently dropped (`datasets/packaged_modules/webdataset/webdataset.py`, `NUM_EXAMPLES_FOR_FEATURES_INFERENCE = 5`: https://github.com/huggingface/datasets/blob/main/src/datasets/packaged_modules/webdataset/webdataset.py).
 * Strings never change type.
 */
import { InputError } from '../errors.ts';
import { isoOfMs } from '../hf/timestamps.ts';
import type { ActionRow, StepsRow } from '../hf/steps-schema.ts';
import type { LabelVocabJson } from '../hf/labels.ts';
import type { Sink } from '../sink/types.ts';
import type { ShardScope } from './shard-scope.ts';
import { startsOf } from './shard-scope.ts';
import type { SplitWriter, WrittenFile } from './shards.ts';
import { sampleKey } from './wds-keys.ts';
import { WebDatasetWriter } from './webdataset.ts';
import type { WdsImageExt, WdsSample, WdsShardInfo } from './webdataset.ts';

function namedAction(a: ActionRow | null, labels: LabelVocabJson): string {
  if (!a) return 'null';
  // `{ ...a, type: name, type_id: id }` spelled out (the clone was ~5% of the main thread): every
  // ActionRow key in the order actionRow() builds it, so the text is the same.
  const named: Record<keyof ActionRow, unknown> & { type_id: number } = {
    type: labels.action_type[a.type] ?? null,
    x: a.x,
    y: a.y,
    x_norm: a.x_norm,
    y_norm: a.y_norm,
    target: a.target,
    text: a.text,
    key: a.key,
    modifiers: a.modifiers,
    url: a.url,
    to_x: a.to_x,
    to_y: a.to_y,
    dx: a.dx,
    dy: a.dy,
    args: a.args,
    type_id: a.type,
  };
  return JSON.stringify(named);
}

export function wdsSampleOf(row: StepsRow, labels: LabelVocabJson): WdsSample {
  const dot = row.image.path.lastIndexOf('.');
  const ext = row.image.path.slice(dot + 1) as WdsImageExt;
  return {
    key: sampleKey(row.session_id, row.step),
    image: { bytes: row.image.bytes, ext },
    json: {
      session_id: row.session_id,
      step: row.step,
      t_ms: row.t_ms,
      image_path: row.image.path,
      action_type: labels.action_type[row.action.type] ?? String(row.action.type),
      action_type_id: row.action.type,
      viewport: JSON.stringify(row.viewport),
      action: namedAction(row.action, labels),
      prior_action: namedAction(row.prior_action, labels),
      context: JSON.stringify({
        workflow: row.workflow,
        outcome: row.outcome === null ? null : (labels.outcome[row.outcome] ?? null),
        outcome_id: row.outcome,
        actor_kind: row.actor_kind,
        tags: row.tags,
        path: row.path,
        started_at: row.started_at === null ? null : isoOfMs(row.started_at),
      }),
      // dom is already JSON text in the steps row; null becomes the text "null".
      dom: row.dom ?? 'null',
      accessibility_tree: JSON.stringify(row.accessibility_tree),
      extra: row.extra,
    },
  };
}

interface WdsSplitOptions {
  split: string;
  totalSamples: number;
  plan: number[];
  mtime: number;
  sidecarMp: boolean;
  labels: LabelVocabJson;
  /** Partitioned runs only: which shards this run writes. */
  scope?: ShardScope;
}

/**
 * A steps-row SplitWriter over the WebDataset writer. Shard records go to `shardsOut` (they carry
 * first/last keys, which the shared WrittenFile shape has not).
 */
export function createWdsSplitWriter(sink: Sink, opts: WdsSplitOptions, shardsOut: WdsShardInfo[]): SplitWriter<StepsRow> {
  if (opts.scope) return scopedWdsSplitWriter(sink, opts, opts.scope, shardsOut);
  const writer = new WebDatasetWriter({
    sink,
    split: opts.split,
    totalSamples: opts.totalSamples,
    plan: opts.plan,
    mtime: opts.mtime,
    sidecarMp: opts.sidecarMp,
  });
  return {
    add: (row) => writer.add(wdsSampleOf(row, opts.labels)),
    async finish(): Promise<WrittenFile[]> {
      shardsOut.push(...(await writer.finish()));
      return [];
    },
    abort: () => writer.abort(),
  };
}

/**
 * A partitioned run's WebDataset split: each shard it writes is a writer of its own (planned for
 * that shard alone, named by its index); replayed shards contribute another run's records.
 * Duplicate keys and mixed frame types are checked within each shard here, not across shards.
 */
function scopedWdsSplitWriter(sink: Sink, opts: WdsSplitOptions, scope: ShardScope, shardsOut: WdsShardInfo[]): SplitWriter<StepsRow> {
  const starts = startsOf(opts.plan);
  const written = new Map<number, WdsShardInfo[]>();
  let next = 0;
  let open = -1;
  let writer: WebDatasetWriter | undefined;
  const shardAt = (row: number): number => {
    let s = Math.max(open, 0);
    while (s + 1 < opts.plan.length && starts[s + 1]! <= row) s++;
    return s;
  };
  async function close(): Promise<void> {
    if (!writer) return;
    written.set(open, await writer.finish());
    writer = undefined;
    open = -1;
  }
  return {
    async seek(row: number): Promise<void> {
      if (row < next) throw new Error(`split ${opts.split}: row ${row} comes after row ${next}`);
      next = row;
    },
    async add(row: StepsRow): Promise<void> {
      const s = shardAt(next);
      if (next >= opts.totalSamples || scope.mode(s) !== 'write')
        throw new Error(`split ${opts.split}: row ${next} is in no shard this run writes`);
      if (s !== open) {
        await close();
        const n = opts.plan[s]!;
        writer = new WebDatasetWriter({
          sink,
          split: opts.split,
          totalSamples: n,
          plan: [n],
          mtime: opts.mtime,
          sidecarMp: opts.sidecarMp,
          firstShard: s,
        });
        open = s;
      }
      await writer!.add(wdsSampleOf(row, opts.labels));
      next++;
    },
    async finish(): Promise<WrittenFile[]> {
      await close();
      const missing = opts.plan.map((_, s) => s).filter((s) => scope.mode(s) === 'write' && !written.has(s));
      if (missing.length)
        throw new InputError(
          `split ${opts.split}: the export ended before the rows of WebDataset shard ${missing.join(', ')} (did it change since convert --plan-only?)`,
        );
      for (const [s, records] of written) {
        scope.written(s, records);
        shardsOut.push(...records);
      }
      for (let s = 0; s < opts.plan.length; s++) if (scope.mode(s) === 'replay') shardsOut.push(...(scope.recorded(s) as WdsShardInfo[]));
      return [];
    },
    async abort(): Promise<void> {
      await writer?.abort();
      writer = undefined;
    },
  };
}
