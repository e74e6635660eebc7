/**
 * A convert cut into independent partitions, for running on many machines (Ray, Kubernetes Indexed
 * Jobs, AWS Batch or Slurm arrays):
 *   convert --plan-only     the plan pass, written as a plan file (plan-file.ts, partition-place.ts);
 *   convert --partition i/N the shards partition i owns, in every requested format and extra config;
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
import { configModule, openConfigWriter } from '../configs/registry.ts';
import type { ExtraConfigName } from '../configs/registry.ts';
import type { ConfigSplitWriter, ConfigWriter } from '../configs/types.ts';
import { formatModule } from '../formats/registry.ts';
import type { OutputFormat } from '../formats/registry.ts';
import type { FormatWriter } from '../formats/types.ts';
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
import { loadPlan, planFileOf, planId, planWriteRun, shardsKey, sortedFormats } from './plan-file.ts';
import type { LoadedPlan, PlannedShards } from './plan-file.ts';
import { readableFramesOnly, readerOptions } from './plan-pass.ts';
import type { ResumePoint } from './plan-pass.ts';
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
  /** An extra config's shard (Parquet under `<config>/`). */
  config?: ExtraConfigName;
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
  const { opts, exportManifest, located } = await resolveConvertOptions(given);
  const output = await openOutput(opts.out, opts.input);
  try {
    const plan = await planDataset(opts, exportManifest, undefined, located);
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
  /** After `owns(row)`: whether an owned shard starts within `ahead` rows after `row`. */
  leadsInto(row: number, ahead: number): boolean {
    for (let i = this.shard + 1; i < this.owned.length && this.starts[i]! - ahead <= row; i++) if (this.owned[i]) return true;
    return false;
  }
  get current(): number {
    return this.shard;
  }
}

/**
 * One extra config's shards of one split. A config file is owned whole by one partition, like a
 * format's shard, by where it starts among the config's rows (episodes: sessions). Its rows are made
 * from the steps rows of the sessions they cover, and sft rows also from up to `contextRows` steps
 * rows before (history, which never crosses a session): the partition reads from the resume point
 * (a session start) before those, so each config row is made from the same rows as in one convert.
 */
class ConfigRoute {
  readonly shards: ShardRoute;
  constructor(
    readonly unit: 'row' | 'session',
    readonly contextRows: number,
    starts: number[],
    owned: boolean[],
    readonly writer: ConfigSplitWriter,
  ) {
    this.shards = new ShardRoute(starts, owned, writer);
  }
  /** The config's row a steps row (row `row`, in the split's session `session`) belongs to. */
  unitOf(row: number, session: number): number {
    return this.unit === 'row' ? row : session;
  }
  /** Whether the steps row goes to an owned shard, or to the mapper only (history before one), or neither. */
  need(row: number, session: number): 'write' | 'context' | undefined {
    const u = this.unitOf(row, session);
    if (this.shards.owns(u)) return 'write';
    return this.contextRows > 0 && this.shards.leadsInto(u, this.contextRows) ? 'context' : undefined;
  }
}

/** What a partition reads of a split: from the first row (or session) an owned file needs, to the last. */
interface SplitNeeds {
  firstRow: number;
  firstSession: number;
  /** The last row needed (-1: none), and the last session (-1: none; its end shows only at the next one). */
  lastRow: number;
  lastSession: number;
}

function splitNeeds(formats: readonly ShardRoute[], configs: readonly ConfigRoute[], splitRows: number): SplitNeeds {
  const n: SplitNeeds = { firstRow: Infinity, firstSession: Infinity, lastRow: -1, lastSession: -1 };
  for (const r of formats)
    r.owned.forEach((o, i) => {
      if (!o) return;
      n.firstRow = Math.min(n.firstRow, r.starts[i]!);
      n.lastRow = Math.max(n.lastRow, r.starts[i + 1]! - 1);
    });
  for (const c of configs) {
    const { starts, owned } = c.shards;
    owned.forEach((o, i) => {
      if (!o) return;
      if (c.unit === 'row') {
        n.firstRow = Math.min(n.firstRow, Math.max(0, starts[i]! - c.contextRows));
        n.lastRow = Math.max(n.lastRow, starts[i + 1]! - 1);
      } else {
        n.firstSession = Math.min(n.firstSession, starts[i]!);
        // The split's last session ends with its last row.
        if (i === owned.length - 1) n.lastRow = Math.max(n.lastRow, splitRows - 1);
        else n.lastSession = Math.max(n.lastSession, starts[i + 1]! - 1);
      }
    });
  }
  return n;
}

/** `convert --partition i/N`: the shards partition i owns, then its record. */
export async function convertPartition(
  given: ConvertOptions,
  spec: PartitionSpec,
): Promise<{ out: string; files: number; warnings: string[] }> {
  const place = await partitionPlace(given.out);
  const plan = await loadPlan(place, given, `convert --partition ${spec.index}/${spec.count}`);
  const { opts, planned, splitNames, labels } = plan;
  const shardsOf = new Map(plan.file.shards.map((s) => [shardsKey(s), s]));
  // By where a shard starts among its own rows (a config's: sft steps rows, episodes sessions);
  // worked out once per (format or config, split): writers ask for every row.
  const owners = new Map<PlannedShards, number[]>();
  const owner = (s: PlannedShards, i: number): number => {
    let o = owners.get(s);
    if (!o) {
      const starts = startsOf(s.rows);
      const total = starts[starts.length - 1]!;
      o = s.rows.map((_, j) => shardOwner(starts[j]!, total, splitNames.indexOf(s.split), spec.count));
      owners.set(s, o);
    }
    return o[i]!;
  };
  const records: ShardRecord[] = [];
  const scope: RunScope = {
    datasetFiles: false,
    // `key` is a format's name, or an extra config's (whose files are Parquet).
    shard(key, split) {
      const s = shardsOf.get(`${key}/${split}`)!;
      return {
        mode: (i) => (owner(s, i) === spec.index ? 'write' : 'skip'),
        recorded: () => [],
        written: (shard, files) =>
          records.push(s.config ? { format: s.format, config: s.config, split, shard, files } : { format: s.format, split, shard, files }),
        splitFiles: false,
      };
    },
  };
  const sink = await place.dataSink();
  const warnings = [...plan.warnings];
  const formats = sortedFormats(opts.formats);
  const run = planWriteRun(plan, sink, scope, warnings);
  const writers: FormatWriter[] = [];
  for (const f of formats) writers.push((await formatModule(f).writer())(run));
  const configs = (opts.configs ?? []).map((c) => configModule(c));
  const configWriters: ConfigWriter[] = [];
  for (const m of configs) configWriters.push(await openConfigWriter(m, run, planned.splits.values(), opts));

  // Per split: each format's and config's route (writes), and a second set that decides which rows to read at all.
  const routes = new Map<string, ShardRoute[]>();
  const readRoutes = new Map<string, ShardRoute[]>();
  const configRoutes = new Map<string, ConfigRoute[]>();
  const readConfigRoutes = new Map<string, ConfigRoute[]>();
  const needs = new Map<string, SplitNeeds>();
  for (const name of splitNames) {
    const counts = planned.splits.get(name)!;
    const mine = formats.map((f, j) => {
      const s = shardsOf.get(`${f}/${name}`)!;
      const owned = s.rows.map((_, i) => owner(s, i) === spec.index);
      return new ShardRoute(startsOf(s.rows), owned, writers[j]!.split(name, counts.rows));
    });
    routes.set(name, mine);
    readRoutes.set(
      name,
      mine.map((r) => new ShardRoute(r.starts, r.owned, r.writer)),
    );
    const mineConfigs = configs.map((m, j) => {
      const s = shardsOf.get(`${m.name}/${name}`)!;
      const owned = s.rows.map((_, i) => owner(s, i) === spec.index);
      return new ConfigRoute(m.shardUnit, m.contextRows(opts), startsOf(s.rows), owned, configWriters[j]!.split(name, m.rows(counts)));
    });
    configRoutes.set(name, mineConfigs);
    readConfigRoutes.set(
      name,
      mineConfigs.map((c) => new ConfigRoute(c.unit, c.contextRows, c.shards.starts, c.shards.owned, c.writer)),
    );
    needs.set(name, splitNeeds(mine, mineConfigs, counts.rows));
  }

  const firstRows = new Map<string, number>();
  const firstSessions = new Map<string, number>();
  for (const [split, n] of needs) {
    if (n.firstRow !== Infinity) firstRows.set(split, n.firstRow);
    if (n.firstSession !== Infinity) firstSessions.set(split, n.firstSession);
  }
  const resumeAt = resumePoint(planned.resumePoints ?? [], firstRows, firstSessions);
  const where = new Map<Step, { split: string; row: number; session: number; stepIndex: number }>();
  const sizes = new Map<string, number>();
  let example: Record<string, unknown> | undefined;
  const allWriters = (): SplitWriter<StepsRow>[] => [
    ...[...routes.values()].flatMap((rs) => rs.map((r) => r.writer)),
    ...[...configRoutes.values()].flatMap((cs) => cs.map((c) => c.writer)),
  ];
  try {
    const reader = await openExport(opts.input, resumeAt ? { ...readerOptions(opts), resumeAt } : readerOptions(opts));
    const splitter = createSplitter(await makeSplitPlan(opts.split));
    const steps = readableFramesOnly(
      filterSteps(reader.steps(), opts.filters, undefined, resumeAt === undefined),
      reader,
      opts.onError === 'skip',
      resolveLimits(opts.limits),
    );
    // Every row is placed (split, row and session in split, step in session) without its frame; only
    // the rows an owned file needs go on to have their frames read and prepared.
    async function* owned(): AsyncIterable<Step> {
      const next = new Map<string, number>(Object.entries(resumeAt?.before ?? {}));
      const nextSession = new Map<string, number>(Object.entries(resumeAt?.sessions ?? {}));
      const open = new Set<string>();
      for (const [split, n] of needs) if (n.lastRow >= 0 || n.lastSession >= 0) open.add(split);
      let session: string | undefined;
      let split = '';
      let sessionIndex = 0;
      let stepIndex = 0;
      for await (const step of steps) {
        if (open.size === 0) return;
        split = splitter.assign(step);
        if (step.session_id !== session) {
          session = step.session_id;
          stepIndex = 0;
          sessionIndex = nextSession.get(split) ?? 0;
          nextSession.set(split, sessionIndex + 1);
        } else stepIndex++;
        const row = next.get(split) ?? 0;
        next.set(split, row + 1);
        const rs = readRoutes.get(split);
        const n = needs.get(split);
        if (!rs || !n) throw new InputError(`split ${split} was not planned; did the export change since convert --plan-only?`);
        if ((n.lastRow < 0 || row >= n.lastRow) && (n.lastSession < 0 || sessionIndex > n.lastSession)) open.delete(split);
        let wanted = false;
        for (const r of rs) if (r.owns(row)) wanted = true;
        for (const c of readConfigRoutes.get(split)!) if (c.need(row, sessionIndex)) wanted = true;
        if (!wanted) continue;
        where.set(step, { split, row, session: sessionIndex, stepIndex });
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
      for (const c of configRoutes.get(at.split)!) {
        const need = c.need(at.row, at.session);
        if (need === 'write') {
          await c.writer.seek(c.unitOf(at.row, at.session));
          await c.writer.add(row);
        } else if (need === 'context') await c.writer.context(row);
      }
      // A row's bytes count once, with its shard in the first format (none without steps: the
      // card's num_bytes and example row describe the steps config only).
      if (rs[0]?.owns(at.row)) {
        const key = `${at.split}/${rs[0]!.current}`;
        sizes.set(key, (sizes.get(key) ?? 0) + stepsRowNbytes(row));
        if (at.row === 0 && at.split === splitNames[0]) example = exampleRow(row, labels);
      }
      releaseFrame(prepared.image.bytes);
    }
    for (const name of splitNames) {
      for (const r of routes.get(name)!) await r.writer.finish();
      for (const c of configRoutes.get(name)!) await c.writer.finish();
    }
  } catch (err) {
    for (const w of allWriters()) await w.abort().catch(() => {});
    throw err;
  }

  for (const rec of records) {
    if (rec.config || rec.format !== formats[0]) continue;
    rec.num_bytes = sizes.get(`${rec.split}/${rec.shard}`) ?? 0;
    if (rec.shard === 0 && rec.split === splitNames[0] && example) rec.example = example;
  }
  await writeRecord(plan, place, spec, records);
  return { out: opts.out, files: records.reduce((a, r) => a + r.files.length, 0), warnings };
}

/**
 * The last resume point before every row (and session) the partition needs, per split: rows of a
 * split before a point are counted in its `before`, sessions in its `sessions`. Undefined: read from
 * the first row.
 */
export function resumePoint(
  points: readonly ResumePoint[],
  first: Map<string, number>,
  firstSessions: Map<string, number> = new Map(),
): ResumePoint | undefined {
  if (first.size === 0 && firstSessions.size === 0) return undefined;
  let found: ResumePoint | undefined;
  for (const p of points) {
    let ahead = false;
    for (const [split, row] of first) if ((p.before[split] ?? 0) > row) ahead = true;
    // A point without session counts (none recorded) cannot be started from for a session.
    for (const [split, session] of firstSessions) if ((p.sessions ? (p.sessions[split] ?? 0) : Infinity) > session) ahead = true;
    if (ahead) break;
    found = p;
  }
  return found;
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
