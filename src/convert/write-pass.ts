/**
 * Pass 2 of convert: the same filters and splits as the plan, frames prepared (passthrough or
 * re-encoded in workers), one `StepsRow` per step routed to its split's writer, which fans out to
 * every requested format (src/formats). Awaiting each `add` is the backpressure: memory does not
 * grow with the dataset. Ends with each format's dataset-level files; returns every file written
 * as a manifest entry.
 */
import { abortError, throwIfAborted } from '../abort.ts';
import { releaseFrame } from '../buffers/index.ts';
import { openExport } from '../export/read.ts';
import { stepLocation } from '../export/step.ts';
import { prepareFrames } from '../frames/transform.ts';
import { ALL_FORMATS, formatModule } from '../formats/registry.ts';
import { configModule } from '../configs/registry.ts';
import type { FormatWriter, WriteRun } from '../formats/types.ts';
import type { DatasetFile, DatasetManifest } from '../hf/dataset-manifest.ts';
import type { Features } from '../hf/features.ts';
import type { LabelVocab } from '../hf/labels.ts';
import { isoOfMs } from '../hf/timestamps.ts';
import { resolveLimits } from '../limits.ts';
import { stepsRowNbytes, toStepsRow } from '../hf/steps-schema.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import { filterSteps } from '../select/filters.ts';
import { createSplitter, makeSplitPlan } from '../select/split.ts';
import type { Sink } from '../sink/types.ts';
import { byPath } from '../util/compare.ts';
import { fanOut } from '../write/shards.ts';
import type { SplitWriter } from '../write/shards.ts';
import type { ConvertOptions } from './convert.ts';
import { readableFramesOnly, readerOptions } from './plan-pass.ts';
import type { PlanResult, SplitCounts } from './plan-pass.ts';
import type { ConvertProgressEvent, ProgressMeter } from '../progress.ts';

export interface WritePassInput {
  opts: ConvertOptions;
  planned: PlanResult;
  /** Split names in card order (orderSplits). */
  splitNames: string[];
  features: Features;
  labels: LabelVocab;
  sink: Sink;
  /** The export's created_at in integer seconds (tar member mtime). */
  mtime: number;
  warnings: string[];
  /** Progress of the `write` phase, then the start of `finalize`. */
  progress?: ProgressMeter<ConvertProgressEvent>;
}

export interface WritePassResult {
  /** Every file written, as manifest entries sorted by path. */
  files: DatasetFile[];
  /** Format-specific manifest fields (webdataset_balance). */
  manifestFields: Partial<DatasetManifest>;
  /** The first row of the first split, for the card (image bytes left out, labels named). */
  example: Record<string, unknown> | undefined;
}

/** A format's or config's writer, and how many rows it writes for a split of the plan. */
interface OpenWriter {
  writer: FormatWriter;
  rows(split: SplitCounts): number;
}

/**
 * One writer per requested format, in registry order, then one per extra config (src/configs);
 * each loads its code only when asked for.
 */
async function openFormatWriters(input: WritePassInput): Promise<OpenWriter[]> {
  const { opts, planned, features, labels, sink, mtime, warnings } = input;
  const run: WriteRun = {
    sink,
    features,
    labels: labels.toJSON(),
    approxBytesPerRow: planned.approxBytesPerRow,
    mtime,
    options: { maxShardBytes: opts.maxShardBytes, wds: opts.wds },
    warn: (m) => warnings.push(m),
  };
  const out: OpenWriter[] = [];
  for (const f of opts.formats) out.push({ writer: (await formatModule(f).writer())(run), rows: (s) => s.rows });
  // The extra configs (src/configs) take the same rows after the formats, each with its own features.
  const splits = [...planned.splits.values()];
  const all = { rows: splits.reduce((a, s) => a + s.rows, 0), sessions: splits.reduce((a, s) => a + s.sessions, 0), numBytes: 0 };
  for (const c of opts.configs ?? []) {
    const m = configModule(c);
    const approxBytesPerRow = m.rowBytes(planned.approxBytesPerRow, all, opts);
    const writer = (await m.writer())({ ...run, opts, features: m.features(run.labels, opts), approxBytesPerRow });
    out.push({ writer, rows: (s) => m.rows(s) });
  }
  return out;
}

export async function writePass(input: WritePassInput): Promise<WritePassResult> {
  const { opts, planned, splitNames, labels, progress } = input;
  const { signal } = opts;
  // Requested formats in registry order: the order rows fan out in.
  const formats = await openFormatWriters({ ...input, opts: { ...opts, formats: sortedFormats(opts.formats) } });
  // One writer per split, fanning out to every requested format.
  const writers = new Map<string, SplitWriter<StepsRow>>();
  for (const name of splitNames) writers.set(name, fanOut(formats.map((f) => f.writer.split(name, f.rows(planned.splits.get(name)!)))));

  let example: Record<string, unknown> | undefined;
  progress?.start('write', { rowsTotal: planned.rows });
  try {
    const reader = await openExport(opts.input, readerOptions(opts));
    const splitter = createSplitter(await makeSplitPlan(opts.split));
    const steps = readableFramesOnly(
      filterSteps(reader.steps(), opts.filters),
      reader,
      opts.onError === 'skip',
      resolveLimits(opts.limits),
    );
    let session: string | undefined;
    let stepIndex = 0;
    for await (const prepared of prepareFrames(steps, opts.frames)) {
      // Leaving the loop returns the frame stream, which stops its workers (prepareFrames).
      if (signal?.aborted) throw abortError(signal);
      const step = prepared.step;
      if (step.session_id !== session) {
        session = step.session_id;
        stepIndex = 0;
      } else stepIndex++;
      const name = splitter.assign(step);
      const writer = writers.get(name);
      if (!writer) throw new Error(`${stepLocation(step)}: split ${name} was not planned`);
      const row = toStepsRow(prepared, stepIndex, labels);
      planned.splits.get(name)!.numBytes += stepsRowNbytes(row);
      if (!example && name === splitNames[0]) example = exampleRow(row, labels);
      const frameBytes = prepared.image.bytes.length;
      await writer.add(row);
      // convert owns one reference to each frame and drops it here. A writer may keep the frame's
      // bytes past add() (a Parquet row group, an Arrow batch) only by retaining its own reference
      // (src/buffers: MediaArena); the reader reuses the memory once every reference is released.
      releaseFrame(prepared.image.bytes);
      progress?.advance(1, frameBytes);
    }
    for (const name of splitNames) await writers.get(name)!.finish();
    progress?.flush();
  } catch (err) {
    for (const w of writers.values()) await w.abort().catch(() => {});
    throw err;
  }

  throwIfAborted(signal);
  progress?.start('finalize');
  const files: DatasetFile[] = [];
  let manifestFields: Partial<DatasetManifest> = {};
  for (const f of formats) {
    const done = await f.writer.finish(splitNames);
    files.push(...done.files);
    manifestFields = { ...manifestFields, ...done.manifest };
  }
  files.sort(byPath);
  return { files, manifestFields, example };
}

function sortedFormats(formats: ConvertOptions['formats']): ConvertOptions['formats'] {
  return ALL_FORMATS.filter((f) => formats.includes(f));
}

/** A short example for the card: the steps row with the image bytes left out and labels named. */
export function exampleRow(row: StepsRow, labels: LabelVocab): Record<string, unknown> {
  const l = labels.toJSON();
  const named = (a: StepsRow['action'] | null) => (a ? { ...a, type: l.action_type[a.type] ?? a.type } : null);
  return {
    ...row,
    image: { path: row.image.path, bytes: `<${row.image.bytes.length} bytes>` },
    action: named(row.action),
    prior_action: named(row.prior_action),
    outcome: row.outcome === null ? null : l.outcome[row.outcome],
    started_at: row.started_at === null ? null : isoOfMs(row.started_at),
    dom: row.dom && row.dom.length > 200 ? row.dom.slice(0, 200) + '…' : row.dom,
    accessibility_tree:
      row.accessibility_tree && row.accessibility_tree.length > 200 ? row.accessibility_tree.slice(0, 200) + '…' : row.accessibility_tree,
  };
}
