/**
 * A convert cut into independent partitions, for running on many machines (Ray, Kubernetes Indexed
 * Jobs, AWS Batch or Slurm arrays):
 *   convert --plan-only     the plan pass, written as a plan file (plan-file.ts, partition-place.ts);
 *   convert --partition i/N the shards partition i owns, in every requested format;
 *   convert --finalize      checks, then the split and dataset files, the card and the manifest (finalize.ts).
 * Who owns a shard is a function of the plan and N alone (`shardOwner`), and each shard's bytes are
 * a function of its rows, so the result is the single convert's, byte for byte, whichever machine
 * writes what and when. A partition writes only complete files under final names (the sinks'
 * temp-then-rename and multipart uploads) and records them last, so a killed one is simply re-run.
 */
import { releaseFrame } from '../buffers/index.ts';
import { openExport } from '../export/read.ts';
import type { Step } from '../export/step.ts';
import { prepareFrames } from '../frames/transform.ts';
import { formatModule } from '../formats/registry.ts';
import type { OutputFormat } from '../formats/registry.ts';
import type { FormatWriter, WriteRun } from '../formats/types.ts';
import { stepsRowNbytes, toStepsRow } from '../hf/steps-schema.ts';
import { resolveLimits } from '../limits.ts';
import { filterSteps } from '../select/filters.ts';
import { createSplitter, makeSplitPlan } from '../select/split.ts';
import type { RunScope } from '../write/shard-scope.ts';
import { startsOf } from '../write/shard-scope.ts';
import type { SplitWriter, WrittenFile } from '../write/shards.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import { InputError, UsageError } from '../errors.ts';
import type { ConvertOptions } from './convert.ts';
import { planDataset, resolveConvertOptions } from './convert.ts';
import { openOutput } from './output.ts';
import { DONE_DIR, PLAN_FILE, partitionPlace } from './partition-place.ts';
import { loadPlan, planFileOf, planId, sortedFormats } from './plan-file.ts';
import type { LoadedPlan, PlannedShards } from './plan-file.ts';
import { readableFramesOnly, readerOptions } from './plan-pass.ts';
import { exampleRow } from './write-pass.ts';
import type { PartitionSpec } from './partition-limits.ts';

/**
 * The partition that writes a shard: shards are dealt out by where they start in their split (so
 * one partition holds the same stretch of rows in every format and reads each frame once), and the
 * deal is rotated by split so that small splits of one shard each do not all land on partition 0.
 */
export function shardOwner(shardStart: number, splitRows: number, splitIndex: number, count: number): number {
  const slot = splitRows > 0 ? Math.floor((shardStart * count) / splitRows) : 0;
  return (slot + splitIndex) % count;
}

/** One shard's records as a partition wrote them (the record file lists these). */
export interface ShardRecord {
  format: OutputFormat;
  split: string;
  shard: number;
  files: WrittenFile[];
  /** First format only: Arrow bytes of the shard's rows (summed into the card's `num_bytes`). */
  num_bytes?: number;
  /** First format, first split, shard 0: the card's example row. */
  example?: Record<string, unknown>;
}

export interface PartitionRecord {
  plan: string;
  partition: string;
  shards: ShardRecord[];
}

export function recordName(spec: PartitionSpec): string {
  return `${DONE_DIR}/${spec.index}-of-${spec.count}.json`;
}

/** `convert --plan-only`: the plan pass under the output's lock, written where the partitions find it. */
export async function planOnly(given: ConvertOptions): Promise<{ out: string; plan: string; shards: number; warnings: string[] }> {
  const { opts, exportManifest } = await resolveConvertOptions(given);
  const output = await openOutput(opts.out, opts.input);
  try {
    const plan = await planDataset(opts, exportManifest);
    const text = await planFileOf(given, { ...plan, opts, exportManifest });
    const place = await partitionPlace(opts.out);
    const earlier = await place.read(PLAN_FILE);
    // The same plan again keeps what partitions already wrote; another plan starts over.
    if (!earlier || planId(new TextDecoder().decode(earlier)) !== planId(text)) {
      await place.clear();
      // An object store is written in place: without its old manifest the prefix reads as incomplete.
      if (!place.buildDir) await output.openSink();
      await place.write(PLAN_FILE, new TextEncoder().encode(text));
    }
    const shards = (JSON.parse(text) as { shards: PlannedShards[] }).shards.reduce((a, s) => a + s.rows.length, 0);
    return { out: opts.out, plan: place.describe(PLAN_FILE), shards, warnings: [...output.notes, ...plan.warnings] };
  } finally {
    await output.abort().catch(() => {});
    await output.release();
  }
}

/** One format's shards of one split as a partition routes rows to them. */
class ShardRoute {
  private shard = 0;
  constructor(
    readonly starts: number[],
    readonly owned: boolean[],
    readonly writer: SplitWriter<StepsRow>,
  ) {}
  /** Whether this partition writes the shard holding `row` (rows come in increasing order). */
  owns(row: number): boolean {
    while (this.shard + 1 < this.owned.length && this.starts[this.shard + 1]! <= row) this.shard++;
    return this.owned[this.shard] ?? false;
  }
  get current(): number {
    return this.shard;
  }
}

/** `convert --partition i/N`: the shards partition i owns, then its record. */
export async function convertPartition(
  given: ConvertOptions,
  spec: PartitionSpec,
): Promise<{ out: string; files: number; warnings: string[] }> {
  const place = await partitionPlace(given.out);
  const plan = await loadPlan(place, given, `convert --partition ${spec.index}/${spec.count}`);
  const { opts, planned, splitNames, labels } = plan;
  const shardsOf = new Map(plan.file.shards.map((s) => [`${s.format}/${s.split}`, s]));
  const owner = (s: PlannedShards, i: number): number =>
    shardOwner(startsOf(s.rows)[i]!, planned.splits.get(s.split)!.rows, splitNames.indexOf(s.split), spec.count);
  const records: ShardRecord[] = [];
  const scope: RunScope = {
    datasetFiles: false,
    shard(format, split) {
      const s = shardsOf.get(`${format}/${split}`)!;
      return {
        mode: (i) => (owner(s, i) === spec.index ? 'write' : 'skip'),
        recorded: () => [],
        written: (shard, files) => records.push({ format: format as OutputFormat, split, shard, files }),
        splitFiles: false,
      };
    },
  };
  const sink = await place.dataSink();
  const warnings = [...plan.warnings];
  const formats = sortedFormats(opts.formats);
  const run: WriteRun = {
    sink,
    features: plan.features,
    labels: labels.toJSON(),
    approxBytesPerRow: planned.approxBytesPerRow,
    mtime: plan.mtime,
    options: { maxShardBytes: opts.maxShardBytes, wds: opts.wds },
    scope,
    warn: (m) => warnings.push(m),
  };
  const writers: FormatWriter[] = [];
  for (const f of formats) writers.push((await formatModule(f).writer())(run));

  // Per split: each format's route (writes), and a second set that decides which rows to read at all.
  const routes = new Map<string, ShardRoute[]>();
  const readRoutes = new Map<string, ShardRoute[]>();
  const lastRow = new Map<string, number>();
  for (const name of splitNames) {
    const rows = planned.splits.get(name)!.rows;
    const mine = formats.map((f, j) => {
      const s = shardsOf.get(`${f}/${name}`)!;
      const owned = s.rows.map((_, i) => owner(s, i) === spec.index);
      return new ShardRoute(startsOf(s.rows), owned, writers[j]!.split(name, rows));
    });
    routes.set(name, mine);
    readRoutes.set(
      name,
      mine.map((r) => new ShardRoute(r.starts, r.owned, r.writer)),
    );
    // The last row any owned shard needs: reading stops once every split is past its own.
    let last = -1;
    for (const r of mine) {
      r.owned.forEach((o, i) => {
        if (o) last = Math.max(last, r.starts[i + 1]! - 1);
      });
    }
    lastRow.set(name, last);
  }

  const where = new Map<Step, { split: string; row: number; stepIndex: number }>();
  const sizes = new Map<string, number>();
  let example: Record<string, unknown> | undefined;
  try {
    const reader = await openExport(opts.input, readerOptions(opts));
    const splitter = createSplitter(await makeSplitPlan(opts.split));
    const steps = readableFramesOnly(
      filterSteps(reader.steps(), opts.filters),
      reader,
      opts.onError === 'skip',
      resolveLimits(opts.limits),
    );
    // Every row is placed (split, row in split, step in session) without its frame; only the rows an
    // owned shard holds go on to have their frames read and prepared.
    async function* owned(): AsyncIterable<Step> {
      const next = new Map<string, number>();
      let pending = [...lastRow.values()].filter((l) => l >= 0).length;
      let session: string | undefined;
      let stepIndex = 0;
      for await (const step of steps) {
        if (pending === 0) return;
        if (step.session_id !== session) {
          session = step.session_id;
          stepIndex = 0;
        } else stepIndex++;
        const split = splitter.assign(step);
        const row = next.get(split) ?? 0;
        next.set(split, row + 1);
        if (row === lastRow.get(split)) pending--;
        const rs = readRoutes.get(split);
        if (!rs) throw new InputError(`split ${split} was not planned; did the export change since convert --plan-only?`);
        let wanted = false;
        for (const r of rs) if (r.owns(row)) wanted = true;
        if (!wanted) continue;
        where.set(step, { split, row, stepIndex });
        yield step;
      }
    }
    for await (const prepared of prepareFrames(owned(), opts.frames)) {
      const at = where.get(prepared.step)!;
      where.delete(prepared.step);
      const row = toStepsRow(prepared, at.stepIndex, labels);
      const rs = routes.get(at.split)!;
      for (const r of rs) {
        if (!r.owns(at.row)) continue;
        await r.writer.seek!(at.row);
        await r.writer.add(row);
      }
      // A row's bytes count once, with its shard in the first format.
      if (rs[0]!.owns(at.row)) {
        const key = `${at.split}/${rs[0]!.current}`;
        sizes.set(key, (sizes.get(key) ?? 0) + stepsRowNbytes(row));
        if (at.row === 0 && at.split === splitNames[0]) example = exampleRow(row, labels);
      }
      releaseFrame(prepared.image.bytes);
    }
    for (const name of splitNames) for (const r of routes.get(name)!) await r.writer.finish();
  } catch (err) {
    for (const rs of routes.values()) for (const r of rs) await r.writer.abort().catch(() => {});
    throw err;
  }

  for (const rec of records) {
    if (rec.format !== formats[0]) continue;
    rec.num_bytes = sizes.get(`${rec.split}/${rec.shard}`) ?? 0;
    if (rec.shard === 0 && rec.split === splitNames[0] && example) rec.example = example;
  }
  await writeRecord(plan, place, spec, records);
  return { out: opts.out, files: records.reduce((a, r) => a + r.files.length, 0), warnings };
}

/** The partition's record, last: only if the plan it worked for is still the one in place. */
async function writeRecord(
  plan: LoadedPlan,
  place: Awaited<ReturnType<typeof partitionPlace>>,
  spec: PartitionSpec,
  shards: ShardRecord[],
): Promise<void> {
  const now = await place.read(PLAN_FILE);
  if (!now || planId(new TextDecoder().decode(now)) !== plan.id) {
    throw new UsageError(
      `the plan at ${place.describe(PLAN_FILE)} was replaced or finalized while partition ${spec.index}/${spec.count} ran; plan and run it again`,
    );
  }
  const record: PartitionRecord = { plan: plan.id, partition: `${spec.index}/${spec.count}`, shards };
  await place.write(recordName(spec), new TextEncoder().encode(JSON.stringify(record) + '\n'));
}
