/**
 * `convert --finalize`: the last step of a partitioned convert. Every planned shard (of every format
 * and extra config) must have a partition's record, and every file recorded must be where the partitions write with its recorded
 * size (the sha256 is the one the sink computed from the bytes it committed); otherwise it refuses,
 * naming the missing files, and nothing is replaced. Then, under the output's lock: the split and
 * dataset files derived from the shards' records (Arrow's state.json, the wids index …) through the
 * same format writers a convert uses, the card, the manifest last, and the swap (local) or sweep
 * (object stores) a convert ends with. The plan and records go last.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { NusomiError } from '../errors.ts';
import { formatModule } from '../formats/registry.ts';
import type { OutputFormat } from '../formats/registry.ts';
import type { FormatWriter } from '../formats/types.ts';
import { configModule, openConfigWriter } from '../configs/registry.ts';
import type { DatasetFile, DatasetManifest } from '../hf/dataset-manifest.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import { parseJsonText } from '../limits.ts';
import type { RunScope } from '../write/shard-scope.ts';
import { byPath } from '../util/compare.ts';
import type { ConvertOptions, ConvertResult } from './convert.ts';
import { buildManifest, writeCardAndManifest } from './manifest-card.ts';
import { openOutput } from './output.ts';
import { preview } from './output-dir.ts';
import { DONE_DIR, partitionPlace } from './partition-place.ts';
import type { PartitionRecord, ShardRecord } from './partition.ts';
import { loadPlan, planWriteRun, shardsKey, sortedFormats } from './plan-file.ts';
import type { SplitCounts } from './plan-pass.ts';
import type { WritePassResult } from './write-pass.ts';

const MAX_RECORD_JSON_DEPTH = 64;

export async function finalizeConvert(given: ConvertOptions): Promise<ConvertResult> {
  const place = await partitionPlace(given.out);
  const plan = await loadPlan(place, given, 'convert --finalize');
  const { opts, planned, splitNames, labels, features } = plan;

  // Every planned shard's record (a shard recorded by two runs has the same bytes: the first is kept).
  const records = new Map<string, ShardRecord>();
  for (const name of await place.listDone()) {
    const file = `${DONE_DIR}/${name}`;
    const bytes = await place.read(file);
    if (!bytes) continue;
    const rec = parseJsonText(new TextDecoder().decode(bytes), MAX_RECORD_JSON_DEPTH, { file: place.describe(file) }) as PartitionRecord;
    if (rec.plan !== plan.id) continue;
    for (const s of rec.shards) {
      const key = `${shardsKey(s)}/${s.shard}`;
      if (!records.has(key)) records.set(key, s);
    }
  }
  const missing: string[] = [];
  for (const s of plan.file.shards) {
    s.paths.forEach((p, i) => {
      if (!records.has(`${shardsKey(s)}/${i}`)) missing.push(p);
    });
  }
  if (missing.length) {
    throw new NusomiError(
      `convert --finalize: ${missing.length} planned file${missing.length === 1 ? ' is' : 's are'} missing (a partition did not finish): ${preview(missing)}; re-run the partitions that own them`,
    );
  }
  const sizes = await place.dataSizes();
  const wrong: string[] = [];
  for (const r of records.values())
    for (const f of r.files) {
      const size = sizes.get(f.path);
      if (size !== f.bytes) wrong.push(size === undefined ? `${f.path} (missing)` : `${f.path} (${size} bytes, ${f.bytes} recorded)`);
    }
  if (wrong.length) {
    throw new NusomiError(
      `convert --finalize: ${wrong.length} recorded file${wrong.length === 1 ? ' is' : 's are'} not as the partition recorded: ${preview(wrong)}; re-run the partitions that own them`,
    );
  }

  // Under the output's lock from here: nothing else writes the dataset while it is completed.
  const output = await openOutput(opts.out, opts.input);
  try {
    let sink = place.buildDir && output.adoptBuild ? undefined : await output.openSink();
    if (place.buildDir) await sweepBuild(place.buildDir, sizes, records);
    if (!sink) sink = await output.adoptBuild!(place.buildDir!);

    // The format writers of a convert, every shard replayed from its record: they write the files
    // made from all shards and return the manifest entries.
    const scope: RunScope = {
      datasetFiles: true,
      shard: (format, split) => ({
        mode: () => 'replay',
        recorded: (i) => records.get(`${format}/${split}/${i}`)!.files,
        written: () => {},
        splitFiles: true,
      }),
    };
    const warnings = [...plan.warnings];
    const run = planWriteRun(plan, sink, scope, warnings);
    const formats = sortedFormats(opts.formats);
    const writers: Array<{ writer: FormatWriter; rows(s: SplitCounts): number }> = [];
    for (const f of formats) writers.push({ writer: (await formatModule(f).writer())(run), rows: (s) => s.rows });
    // The extra configs' writers after the formats', as in a convert (their scope key is the config's name).
    for (const c of opts.configs ?? []) {
      const m = configModule(c);
      writers.push({ writer: await openConfigWriter(m, run, planned.splits.values(), opts), rows: (s) => m.rows(s) });
    }
    for (const name of splitNames) for (const w of writers) await w.writer.split(name, w.rows(planned.splits.get(name)!)).finish();
    const files: DatasetFile[] = [];
    let manifestFields: Partial<DatasetManifest> = {};
    for (const { writer: w } of writers) {
      const done = await w.finish(splitNames);
      files.push(...done.files);
      manifestFields = { ...manifestFields, ...done.manifest };
    }
    files.sort(byPath);

    // The card's bytes per split and example row, from the first format's shard records (a
    // dataset without the steps config has neither).
    const first = formats[0] as OutputFormat;
    for (const name of formats.length ? splitNames : []) {
      const count = plan.file.shards.find((s) => s.format === first && s.split === name)!.rows.length;
      let bytes = 0;
      for (let i = 0; i < count; i++) bytes += records.get(`${first}/${name}/${i}`)!.num_bytes ?? 0;
      planned.splits.get(name)!.numBytes = bytes;
    }
    const example = records.get(`${first}/${splitNames[0]}/0`)?.example;
    const written: WritePassResult = { files, manifestFields, example };
    const input = {
      opts,
      exportManifest: plan.exportManifest,
      planned,
      splitNames,
      features,
      labels,
      written,
      mismatches: plan.mismatches,
      recordedOptions: plan.file.recorded_options,
    };
    const manifest = await buildManifest(input);
    await writeCardAndManifest(sink, manifest, input);
    await output.finish(manifest.files.map((f) => f.path));
    await place.clear();
    return { out: opts.out, manifest, warnings: [...output.notes, ...warnings] };
  } catch (err) {
    // A local build stays where the partitions wrote it unless it was already adopted.
    await output.abort().catch(() => {});
    throw err;
  } finally {
    await output.release();
  }
}

/** Files in a local build no record lists (temp files of killed partitions, an older plan's): removed. */
async function sweepBuild(buildDir: string, sizes: Map<string, number>, records: Map<string, ShardRecord>): Promise<void> {
  const listed = new Set<string>([DATASET_MANIFEST_FILE, 'README.md']);
  for (const r of records.values()) for (const f of r.files) listed.add(f.path);
  for (const p of sizes.keys()) if (!listed.has(p)) await rm(path.join(buildDir, p), { force: true });
}
