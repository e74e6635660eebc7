import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { ALL_FORMATS } from '../convert/formats.ts';
import { convert } from '../api/convert.ts';
import { convertPartition, finalizeConvert as finalize, planConvert } from '../api/partitioned-convert.ts';
import type { ConvertParams } from '../api/convert.ts';
import type { ConvertSummary } from '../convert/summary.ts';
import { lostFileText } from '../hf/dataset-manifest.ts';
import type { OutputFormat } from '../hf/dataset-manifest.ts';
import type { FilterOptions } from '../select/filters.ts';
import { FRAMES_EXPECTED, parseFrameSampling } from '../select/frame-sampling.ts';
import type { FramesMode } from '../select/frame-sampling.ts';
import type { StoredFormat } from '../frames/probe.ts';
import { addInputOptions, inputOptionsOf } from './input-options.ts';
import type { InputFlags } from './input-options.ts';
import { hubLicense } from '../hf/hub-metadata.ts';
import { SPLIT_RATIOS_EXAMPLE, SPLIT_VALUES_EXAMPLE } from '../select/split.ts';
import { plural } from '../plural.ts';
import { untilInterrupted } from '../sink/lock.ts';
import { detail, say, warn } from './output.ts';
import { progressBar, progressWanted } from './progress.ts';
import { MAX_PARTITIONS } from '../convert/partition-limits.ts';
import type { PartitionSpec } from '../convert/partition-limits.ts';
import { CONFIG_NAMES, configModules, parseConfigs, writesSteps } from '../configs/registry.ts';
import { UsageError } from '../errors.ts';

/** Comma lists and repeated flags both work: `--workflow a,b --workflow c`. */
function list(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

function int(flag: string, min = 0): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${flag} expects an integer >= ${min}, got "${v}"`);
    return n;
  };
}

/**
 * `--formats`: a comma list of known formats, repeatable. The default (parquet) is a constant the
 * first occurrence replaces, since commander hands the default in as `previous`.
 */
const DEFAULT_FORMATS: string[] = ['parquet'];
function formatList(value: string, previous: string[] = DEFAULT_FORMATS): string[] {
  const given = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (!given.length) throw new InvalidArgumentError(`No format given; expected a comma list of ${ALL_FORMATS.join(', ')}.`);
  for (const f of given) {
    if (!(ALL_FORMATS as readonly string[]).includes(f))
      throw new InvalidArgumentError(`Unknown format "${f}"; expected ${ALL_FORMATS.join(', ')}.`);
  }
  return [...new Set([...(previous === DEFAULT_FORMATS ? [] : previous), ...given])];
}

/**
 * `--formats` are the formats of the `steps` config: none when `--configs` leaves steps out, and
 * naming formats then is a mistake worth saying (they would not be written).
 */
function stepsFormats(flags: ConvertFlags): OutputFormat[] {
  const configs = flags.configs ?? [];
  if (writesSteps(configs)) return flags.formats as OutputFormat[];
  if (flags.formats !== DEFAULT_FORMATS)
    throw new UsageError(
      `--formats ${flags.formats.join(',')}: formats of the steps config, which --configs ${configs.join(',')} leaves out; add steps to --configs`,
    );
  return [];
}

/** `--frames`: checked before the export is opened (frame-sampling.ts says what each mode keeps). */
function framesMode(value: string): FramesMode {
  try {
    parseFrameSampling(value);
  } catch {
    throw new InvalidArgumentError(`${FRAMES_EXPECTED[0]!.toUpperCase()}${FRAMES_EXPECTED.slice(1)}.`);
  }
  return value as FramesMode;
}

/** `--license`: one of the Hub's license identifiers, lower-cased as the Hub spells them. */
function license(value: string): string {
  const r = hubLicense(value);
  if ('error' in r) throw new InvalidArgumentError(`${r.error}.`);
  return r.id;
}

/** Byte sizes: plain numbers or with a decimal unit (500MB, 1GB), as datasets writes them. */
function bytes(flag: string): (v: string) => number {
  return (v: string) => {
    const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?$/i.exec(v.trim());
    if (!m) throw new InvalidArgumentError(`${flag} expects a size like 500MB or 1000000, got "${v}"`);
    const unit = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 }[(m[2] ?? 'b').toLowerCase() as 'b'];
    return Math.round(Number(m[1]) * unit);
  };
}

/** commander's parsed flags; the filter flags are named as FilterOptions names them. */
interface ConvertFlags
  extends InputFlags,
    Pick<
      FilterOptions,
      'workflow' | 'outcome' | 'actorKind' | 'tag' | 'path' | 'since' | 'until' | 'minDurationMs' | 'maxDurationMs' | 'frames'
    > {
  out: string;
  formats: string[];
  configs?: string[];
  split?: string;
  seed: string;
  splitBy?: string;
  splitSessions?: string;
  labelsFrom?: string;
  excludeSessions?: string;
  maxSide?: number;
  imageFormat?: StoredFormat;
  quality?: number;
  encodeWorkers?: number;
  maxShardBytes?: number;
  shardBytes?: number;
  shardSamples?: number;
  minShards?: number;
  worldSize?: number;
  workers?: number;
  sidecar?: 'mp';
  onError: 'stop' | 'skip';
  strict?: boolean;
  license?: string;
  cardTag?: string[];
  prettyName?: string;
  repoId?: string;
  json?: boolean;
  planOnly?: boolean;
  partition?: PartitionSpec;
  finalize?: boolean;
}

export function registerConvert(program: Command): void {
  const cmd = program
    .command('convert <export>')
    .description('convert an export into a dataset directory that datasets and PyTorch read natively')
    .requiredOption('-o, --out <dir>', 'output dataset directory (local path, s3://bucket/prefix/ or az://container/prefix/)')
    .addOption(
      new Option('--formats <list>', `output formats, comma separated: ${ALL_FORMATS.join(', ')}`)
        .argParser(formatList)
        .default(DEFAULT_FORMATS, 'parquet'),
    )
    .option(
      '--configs <list>',
      `dataset configs, comma separated: ${CONFIG_NAMES.join(', ')} (default steps; the others are Parquet under <config>/; a list without steps writes no data/, e.g. --configs sft)`,
      list,
    )
    .option(
      '--split <spec>',
      `split ratios by session (default: ${SPLIT_RATIOS_EXAMPLE}); with --split-by, value lists like ${SPLIT_VALUES_EXAMPLE}`,
    )
    .option('--seed <seed>', 'seed of the session hash that assigns splits', '0')
    .option('--split-by <field>', 'hold out whole values of a context field (e.g. workflow, actor.kind)')
    .option('--split-sessions <file>', 'explicit session lists: JSON {"train": [...], "test": [...]} or split<TAB>session lines')
    .option('--labels-from <manifest>', 'keep the label ids of an earlier dataset-manifest.json')
    .option('--workflow <slugs>', 'keep these workflows (comma list, repeatable)', list)
    .option('--outcome <outcomes>', 'keep these outcomes: success, error, abandoned', list)
    .option('--actor-kind <kinds>', 'keep these actor kinds: human, model, script', list)
    .option('--tag <tags>', 'keep sessions carrying one of these tags', list)
    .option('--path <ids>', 'keep these memory-graph paths', list)
    .option('--since <time>', 'keep sessions started at or after (ISO time, or 30d before the export was created)')
    .option('--until <time>', 'keep sessions started before (ISO time, or relative like 7d)')
    .option('--min-duration-ms <ms>', 'keep sessions lasting at least this long', int('--min-duration-ms'))
    .option('--max-duration-ms <ms>', 'keep sessions lasting at most this long', int('--max-duration-ms'))
    .option('--exclude-sessions <file>', 'drop the sessions listed in this file (one id per line, or JSON list)')
    .option(
      '--frames <mode>',
      'which frames to keep: all (default), action-only, every-n-ms:N (a frame every N ms) or keyframes[:T] (screen changes); the last two keep every action frame',
      framesMode,
    )
    .option(
      '--max-side <px>',
      'resize frames so the longest side is at most this (aspect kept; coordinates rescaled)',
      int('--max-side', 1),
    )
    .addOption(new Option('--image-format <fmt>', 're-encode frames').choices(['webp', 'jpeg', 'png']))
    .option('--quality <q>', 'encoder quality for webp/jpeg (1-100)', int('--quality', 1))
    .option('--encode-workers <n>', 'frame re-encoding threads (default: cores)', int('--encode-workers', 1))
    .option('--max-shard-bytes <size>', 'Parquet and Arrow shard size (default 500MB)', bytes('--max-shard-bytes'))
    .option('--shard-bytes <size>', 'WebDataset shard size (default 1GB)', bytes('--shard-bytes'))
    .option('--shard-samples <n>', 'WebDataset samples per shard at most', int('--shard-samples', 1))
    .option('--min-shards <n>', 'WebDataset: at least n shards per split, counts within 1 of each other', int('--min-shards', 1))
    .option('--world-size <w>', 'WebDataset: training ranks (with --workers: min shards = W x K)', int('--world-size', 1))
    .option('--workers <k>', 'WebDataset: DataLoader workers per rank', int('--workers', 1))
    .addOption(new Option('--sidecar <kind>', 'WebDataset: also write a msgpack member per sample').choices(['mp']))
    .addOption(
      new Option('--on-error <mode>', 'stop at the first bad row, or skip and count bad rows').choices(['stop', 'skip']).default('stop'),
    )
    .option(
      '--strict',
      "exit 1 when the export manifest's counts (rows, frames, actions, shards) differ from what was read; without it, a warning",
    )
    .option(
      '--license <id>',
      'license for the card: a Hub license identifier (e.g. cc-by-4.0, apache-2.0; https://huggingface.co/docs/hub/repositories-licenses)',
      license,
    )
    .option('--card-tag <tags>', 'extra tags for the card', list)
    .option('--pretty-name <name>', 'title of the card')
    .option('--repo-id <org/name>', "Hub repo id used in the card's loading snippets")
    .option('--json', 'print a machine-readable summary')
    .addOption(new Option('--plan-only', 'partitioned convert, step 1: write the plan under --out').conflicts(['partition', 'finalize']))
    .addOption(
      new Option('--partition <i/N>', 'partitioned convert, step 2: write the files partition i of N owns (0 <= i < N)')
        .argParser(partitionSpec)
        .conflicts(['finalize']),
    )
    .option('--finalize', 'partitioned convert, step 3: check every partition finished, write the card and manifest');
  // Each extra config's own flags (src/configs/<name>.ts).
  for (const m of configModules()) for (const o of m.cliOptions?.() ?? []) cmd.addOption(o);
  addInputOptions(cmd).action(async (input: string, flags: ConvertFlags) => {
    const formats = stepsFormats(flags);
    const progress = progressWanted({ json: flags.json }) ? progressBar('convert') : undefined;
    const params: ConvertParams = {
      export: input,
      out: flags.out,
      formats,
      split: { split: flags.split, seed: flags.seed, splitBy: flags.splitBy, splitSessions: flags.splitSessions },
      filters: {
        workflow: flags.workflow,
        outcome: flags.outcome,
        actorKind: flags.actorKind,
        tag: flags.tag,
        path: flags.path,
        since: flags.since,
        until: flags.until,
        minDurationMs: flags.minDurationMs,
        maxDurationMs: flags.maxDurationMs,
        excludeSessionsFile: flags.excludeSessions,
        frames: flags.frames,
      },
      frames: { maxSide: flags.maxSide, imageFormat: flags.imageFormat, quality: flags.quality, workers: flags.encodeWorkers },
      labelsFrom: flags.labelsFrom,
      maxShardBytes: flags.maxShardBytes,
      wds: {
        shardBytes: flags.shardBytes,
        shardSamples: flags.shardSamples,
        minShards: flags.minShards,
        worldSize: flags.worldSize,
        workers: flags.workers,
        sidecar: flags.sidecar,
      },
      onError: flags.onError,
      strict: flags.strict,
      ...inputOptionsOf(flags),
      license: flags.license,
      tags: flags.cardTag,
      prettyName: flags.prettyName,
      repoId: flags.repoId,
      configs: parseConfigs(flags.configs ?? []),
      ...Object.assign({}, ...configModules().map((m) => m.fromFlags?.(flags as unknown as Record<string, unknown>) ?? {})),
      ...(progress && { onProgress: progress.on }),
    };
    if (flags.planOnly || flags.partition) return runPartitionStep(params, flags);
    let result: ConvertSummary;
    try {
      // Ctrl-C aborts the convert, which cleans up as on any abort; then the process dies of the signal.
      result = await untilInterrupted((signal) => (flags.finalize ? finalize : convert)({ ...params, signal }));
    } finally {
      progress?.stop();
    }
    for (const w of result.warnings) warn(w);
    if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else say(humanSummary(result));
    for (const f of result.data_files) detail(`  ${f.path} (${f.bytes} bytes)`);
  });
}

/** `--partition i/N`, checked by commander (a bad value is a usage error, exit 2). */
function partitionSpec(value: string): PartitionSpec {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || !(count >= 1 && count <= MAX_PARTITIONS && index < count))
    throw new InvalidArgumentError(`expected i/N with 0 <= i < N <= ${MAX_PARTITIONS}, got "${value}".`);
  return { index, count };
}

/** `--plan-only` and `--partition`: one line about what was written. */
async function runPartitionStep(params: ConvertParams, flags: ConvertFlags): Promise<void> {
  const r = flags.partition ? await convertPartition({ ...params, partition: flags.partition }) : await planConvert(params);
  for (const w of r.warnings) warn(w);
  if (flags.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else if ('plan' in r) say(`planned ${plural(r.shards, 'shard')}: ${r.plan}\n`);
  else say(`partition ${flags.partition!.index}/${flags.partition!.count}: wrote ${plural(r.files, 'file')} under ${r.out}\n`);
}

export interface SummaryOptions {
  /** Print the "load it with" hints (default true; the main job prints its own, in run order). */
  hints?: boolean;
}

/** The human summary: what was written where, rows per split, and how to load it. */
export function humanSummary(s: ConvertSummary, opts: SummaryOptions = {}): string {
  const lines = [
    `wrote ${plural(s.files, 'file')} (${(s.bytes / 1e6).toFixed(1)} MB) to ${s.out}`,
    ...Object.entries(s.splits).map(
      ([name, c]) =>
        `  ${name.padEnd(12)} ${String(c.rows).padStart(8)} ${c.rows === 1 ? 'row ' : 'rows'}  ${String(c.sessions).padStart(6)} ${c.sessions === 1 ? 'session' : 'sessions'}`,
    ),
  ];
  const reasons = Object.entries(s.skipped.reasons)
    .map(([k, v]) => `${k} (${v})`)
    .join('; ');
  if (s.skipped.count || s.skipped.files?.length)
    lines.push(`skipped ${plural(s.skipped.count, 'bad row')}${reasons ? `: ${reasons}` : ''}`);
  for (const f of s.skipped.files ?? []) lines.push(`  ${lostFileText(f)}`);
  const filtered = Object.entries(s.filtered);
  if (filtered.length) lines.push(`filtered out: ${filtered.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const at = (p: string) => `${s.out.replace(/\/+$/, '')}/${p}`;
  lines.push(`dataset card: ${at('README.md')}  manifest: ${at('dataset-manifest.json')}`);
  if (opts.hints === false) return lines.join('\n') + '\n';
  lines.push('', 'load it with:');
  if (s.formats.includes('parquet') || s.formats.includes('arrow'))
    lines.push(`  python -c 'from datasets import load_dataset; print(load_dataset("${s.out}"))'`);
  if (s.formats.includes('arrow')) lines.push(`  python -c 'from datasets import load_from_disk; print(load_from_disk("${at('arrow')}"))'`);
  if (s.formats.includes('webdataset'))
    lines.push(
      `  webdataset tar shards in ${at('webdataset/')}: load_dataset("webdataset", data_files=...) as the card's "How to load" shows`,
    );
  if (s.formats.includes('jsonl')) lines.push(`  JSONL for inspection in ${at('jsonl/')} (frames beside it)`);
  for (const c of s.configs.filter((n) => n !== 'steps'))
    lines.push(`  python -c 'from datasets import load_dataset; print(load_dataset("${s.out}", "${c}"))'`);
  return lines.join('\n') + '\n';
}
