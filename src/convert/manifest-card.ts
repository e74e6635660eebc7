/**
 * The last step of convert: `dataset-manifest.json` (what was converted, how, and every file with
 * its hash) and the card (README.md) written from it. The manifest is written last: its presence
 * means every file it lists is complete.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JsonObject } from '../export/step.ts';
import type { ExportReader } from '../export/read.ts';
import { COORDINATE_RULE } from '../frames/rescale.ts';
import { formatModules, ALL_FORMATS } from '../formats/registry.ts';
import { configModule } from '../configs/registry.ts';
import { renderCard } from '../hf/card.ts';
import { DATASET_MANIFEST_FILE, DATASET_MANIFEST_VERSION } from '../hf/dataset-manifest.ts';
import type { DatasetManifest } from '../hf/dataset-manifest.ts';
import { featuresToDict, featuresToYamlList } from '../hf/features.ts';
import type { Features } from '../hf/features.ts';
import type { LabelVocab } from '../hf/labels.ts';
import { resolveLimits } from '../limits.ts';
import { compareStrings } from '../util/compare.ts';
import { describeFilters } from '../select/filters.ts';
import type { Sink } from '../sink/types.ts';
import { DEFAULT_MAX_SHARD_BYTES } from '../formats/columnar.ts';
import type { ConvertOptions } from './convert.ts';
import { DEFAULT_SPLIT } from './defaults.ts';
import { filteredCounts, lostFile } from './plan-pass.ts';
import type { PlanResult } from './plan-pass.ts';
import type { WritePassResult } from './write-pass.ts';

/** Options as recorded in the manifest: what shaped the data, nothing of this machine. */
export async function recordedOptions(opts: ConvertOptions): Promise<JsonObject> {
  const limits = resolveLimits(opts.limits);
  const fileRef = async (p: string | undefined): Promise<JsonObject | null> =>
    p === undefined
      ? null
      : {
          name: path.basename(p),
          sha256: createHash('sha256')
            .update(new Uint8Array(await readFile(p)))
            .digest('hex'),
        };
  const f = opts.filters;
  // Each format's own options under its name (null when the format was not asked for).
  const perFormat: JsonObject = {};
  for (const m of formatModules())
    if (m.recordedOptions) perFormat[m.name] = opts.formats.includes(m.name) ? m.recordedOptions(opts) : null;
  return {
    formats: opts.formats,
    split: opts.split.split ?? (opts.split.splitBy || opts.split.splitSessions ? null : DEFAULT_SPLIT),
    seed: String(opts.split.seed ?? 0),
    split_by: opts.split.splitBy ?? null,
    split_sessions: await fileRef(opts.split.splitSessions),
    labels_from: await fileRef(opts.labelsFrom),
    filters: {
      workflow: f.workflow ?? null,
      outcome: f.outcome ?? null,
      actor_kind: f.actorKind ?? null,
      tag: f.tag ?? null,
      path: f.path ?? null,
      since: f.since ?? null,
      until: f.until ?? null,
      min_duration_ms: f.minDurationMs ?? null,
      max_duration_ms: f.maxDurationMs ?? null,
      exclude_sessions: await fileRef(f.excludeSessionsFile),
      frames: f.frames ?? 'all',
    },
    max_side: opts.frames.maxSide ?? null,
    image_format: opts.frames.imageFormat ?? null,
    quality: opts.frames.quality ?? null,
    max_shard_bytes: opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
    ...perFormat,
    on_error: opts.onError,
    // What the export was allowed to reach besides its root, and the input limits it was read under.
    allow_remote_frames: [...(opts.allowRemoteFrames ?? [])].sort(compareStrings),
    input_limits: {
      max_line_bytes: limits.maxLineBytes,
      max_member_bytes: limits.maxMemberBytes,
      max_json_depth: limits.maxJsonDepth,
      max_frame_pixels: limits.maxFramePixels,
      max_frame_scale: limits.maxFrameScale,
    },
  };
}

export interface ManifestCardInput {
  opts: ConvertOptions;
  exportManifest: ExportReader['manifest'];
  planned: PlanResult;
  splitNames: string[];
  features: Features;
  labels: LabelVocab;
  written: WritePassResult;
  /** Export manifest counts that differ from what was read (already warned about). */
  mismatches: string[];
  /** The manifest's `options` when computed earlier (a partitioned convert's plan); else from `opts`. */
  recordedOptions?: JsonObject;
}

/** The manifest's content (field order is part of its bytes). */
export async function buildManifest(input: ManifestCardInput): Promise<DatasetManifest> {
  const { opts, exportManifest, planned, splitNames, features, labels, written, mismatches } = input;
  const manifest: DatasetManifest = {
    manifest_version: DATASET_MANIFEST_VERSION,
    generator: { name: 'nusomi-hf', version: await packageVersion() },
    source_manifest: exportManifest.raw,
    options: input.recordedOptions ?? (await recordedOptions(opts)),
    features: featuresToDict(features) as JsonObject,
    labels: labels.toJSON(),
    labels_appended: labels.appended(),
    splits: Object.fromEntries(
      splitNames.map((n) => [n, { rows: planned.splits.get(n)!.rows, sessions: planned.splits.get(n)!.sessions }]),
    ),
    viewports: [...planned.viewports.values()].sort((a, b) => a.w - b.w || a.h - b.h),
    coordinates: { pixels: 'stored_image', normalized: 'x / stored width, y / stored height', fields: COORDINATE_RULE },
    image: {
      mode: opts.frames.maxSide || opts.frames.imageFormat || opts.frames.quality ? 'reencode' : 'passthrough',
      format: opts.frames.imageFormat ?? null,
      max_side: opts.frames.maxSide ?? null,
      quality: opts.frames.quality ?? null,
    },
    skipped: {
      count: planned.skipped.count,
      reasons: Object.fromEntries([...planned.skipped.reasons].sort()),
      files: planned.skipped.files.map(lostFile),
    },
    source_counts: { consistent: mismatches.length === 0, checks: planned.sourceChecks },
    filtered: filteredCounts(planned.filterStats),
    stats: planned.stats,
    formats: ALL_FORMATS.filter((f) => opts.formats.includes(f)),
    ...(opts.configs?.length ? { configs: configsManifest(input) } : {}),
    ...written.manifestFields,
    files: written.files,
  };
  manifest.options.filter_summary = describeFilters(opts.filters);
  return manifest;
}

/** The extra configs as the manifest records them (`configs.<name>`). */
function configsManifest(input: ManifestCardInput): DatasetManifest['configs'] {
  const { opts, planned, splitNames, labels } = input;
  const out: DatasetManifest['configs'] = {};
  for (const c of opts.configs ?? []) {
    const m = configModule(c);
    out[c] = {
      folder: m.folder,
      options: m.recordedOptions(opts),
      features: featuresToDict(m.features(labels.toJSON(), opts)) as JsonObject,
      splits: Object.fromEntries(splitNames.map((n) => [n, { rows: m.rows(planned.splits.get(n)!) }])),
    };
  }
  return out;
}

/** Writes the card, then the manifest (last: its presence means every file it lists is complete). */
export async function writeCardAndManifest(sink: Sink, manifest: DatasetManifest, input: ManifestCardInput): Promise<void> {
  const { opts, planned, splitNames, features, written } = input;
  const card = renderCard({
    manifest,
    featuresYaml: featuresToYamlList(features),
    splitNumBytes: Object.fromEntries(splitNames.map((n) => [n, planned.splits.get(n)!.numBytes])),
    example: written.example,
    license: opts.license,
    tags: opts.tags,
    prettyName: opts.prettyName,
    repoId: opts.repoId,
  });
  await sink.writeFile('README.md', new TextEncoder().encode(card));
  await sink.writeFile(DATASET_MANIFEST_FILE, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
}

let versionCache: string | undefined;
async function packageVersion(): Promise<string> {
  if (!versionCache) {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    versionCache = pkg.version;
  }
  return versionCache;
}
