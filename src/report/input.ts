/**
 * What a report reads: an export (through the export reader, the one `inspect` and `convert` use)
 * or a dataset (its `dataset-manifest.json`, then the rows of its Parquet files, else its JSONL
 * files, through the export module's own Parquet and JSONL readers), from a local folder, `s3://`,
 * `az://`, or a Hub repo at a revision (`hf://datasets/<owner>/<name>@<rev>`, read over HTTP
 * ranges from the Hub's resolve URLs).
 */
import { EXTRA_CONFIG_NAMES } from '../configs/registry.ts';
import { InputError, UsageError } from '../errors.ts';
import { label } from '../export/inspect.ts';
import { readJsonl } from '../export/jsonl.ts';
import { openExport } from '../export/read.ts';
import type { ExportReader } from '../export/read.ts';
import type { DataFile, RawItem } from '../export/raw.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import type { DatasetManifest } from '../hf/dataset-manifest.ts';
import { LabelVocab } from '../hf/labels.ts';
import type { LabelVocabJson } from '../hf/labels.ts';
import { repoIdProblem } from '../hub/repo-id.ts';
import { parseJsonText, resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { HttpsSource } from '../source/https.ts';
import { openSource } from '../source/open.ts';
import type { Source } from '../source/types.ts';
import { compareStrings } from '../util/compare.ts';
import { reportAction } from './model.ts';
import type { ReportRow } from './model.ts';
import type { ParquetFrames } from './parquet-frames.ts';

export interface SkipSummary {
  count: number;
  /** reason → rows */
  reasons: Record<string, number>;
  /** One line per source file that broke part-way, and the first bad rows' messages. */
  lines: string[];
}

export interface ReportInput {
  kind: 'export' | 'dataset';
  /** What the report is titled with: the export id or the dataset's name, never a local path. */
  title: string;
  /** The source, for validate (datasets only); null for a Hub repo. */
  validateTarget: string | null;
  rows(): AsyncIterable<ReportRow>;
  /** Rows the manifest announces (0: it does not say), to size the frame sample's threshold. */
  expectedRows: number;
  /** Label vocabularies with their ids (for an export: the ids convert would give). Final after rows(). */
  labels(): LabelVocabJson;
  /** Bad and skipped rows. Final after rows(). */
  skipped(): SkipSummary;
}

export interface OpenInputOptions {
  limits?: Partial<InputLimits>;
  allowRemote?: readonly string[];
  /** Hub endpoint for `hf://` targets. */
  hubUrl: string;
}

/** The columns of a dataset's `steps` rows that a report reads (besides the frame). */
const SHOWN_COLUMNS = new Set(['session_id', 't_ms', 'viewport', 'action', 'prior_action', 'workflow', 'outcome', 'actor_kind']);

const HF_TARGET = /^hf:\/\/(?:datasets\/)?([^@]+)@(.+)$/;

/** The last path segment of a target: names it without a machine's path. */
function baseName(target: string): string {
  const parts = target
    .replace(/[?#].*$/, '')
    .split(/[/\\]+/)
    .filter(Boolean);
  return parts[parts.length - 1] ?? target;
}

export async function openReportInput(target: string, opts: OpenInputOptions): Promise<ReportInput> {
  const limits = resolveLimits(opts.limits);
  const allowRemote = opts.allowRemote ?? [];
  const hub = HF_TARGET.exec(target);
  if (target.startsWith('hf://') && !hub) throw new UsageError(`"${target}" is not hf://datasets/<owner>/<name>@<revision>`);
  let source: Source;
  let title: string;
  if (hub) {
    const [, repo, rev] = hub;
    const problem = repoIdProblem(repo!);
    if (problem) throw new UsageError(`hub repo "${repo}": ${problem}`);
    const base = `${opts.hubUrl}/datasets/${repo}/resolve/${encodeURIComponent(rev!)}/`;
    source = new HttpsSource(base + DATASET_MANIFEST_FILE, { manifest: false, maxReadBytes: limits.maxMemberBytes, allowRemote });
    title = `${repo}@${rev}`;
    return openDataset(source, title, null, limits);
  }
  source = await openSource(target, { maxReadBytes: limits.maxMemberBytes, allowRemote });
  title = baseName(target);
  if (await source.exists(DATASET_MANIFEST_FILE)) return openDataset(source, title, target, limits);
  if (!(await source.exists('manifest.json'))) {
    throw new InputError(`neither ${DATASET_MANIFEST_FILE} (a dataset) nor manifest.json (an export) is here`, { file: target });
  }
  const reader = await openExport(source, { limits, allowRemote, onError: () => 'skip' });
  return exportInput(reader, reader.manifest.export_id || title);
}

function exportInput(reader: ExportReader, title: string): ReportInput {
  const vocab = new LabelVocab();
  async function* rows(): AsyncIterable<ReportRow> {
    for await (const step of reader.steps()) {
      const actor = step.context.actor;
      const type = label(step.action.type);
      const outcome = label(step.context.outcome);
      vocab.actionTypes.observe(type);
      vocab.outcomes.observe(outcome);
      yield {
        split: 'export',
        session_id: step.session_id,
        t_ms: step.t_ms,
        workflow: label(step.context.workflow),
        outcome,
        actor_kind: label(actor && typeof actor === 'object' && !Array.isArray(actor) ? actor.kind : actor),
        viewport: step.frame.viewport,
        space: null,
        action: reportAction(step.action, label),
        prior: step.context.prior_action ? reportAction(step.context.prior_action, label) : null,
        hasFrame: step.image.ref !== '',
        readFrame: () => step.image.read(),
      };
    }
  }
  return {
    kind: 'export',
    title,
    validateTarget: null,
    rows,
    expectedRows: Number.isSafeInteger(reader.manifest.rows) && reader.manifest.rows > 0 ? reader.manifest.rows : 0,
    labels: () => vocab.toJSON(),
    skipped: () => ({
      count: reader.skipped.count,
      reasons: Object.fromEntries([...reader.skipped.reasons].sort((a, b) => compareStrings(a[0], b[0]))),
      lines: [...reader.skipped.files.map((f) => `${f.file}: ${f.message}`), ...reader.skipped.examples],
    }),
  };
}

async function openDataset(source: Source, title: string, validateTarget: string | null, limits: InputLimits): Promise<ReportInput> {
  const where = { file: source.describe(DATASET_MANIFEST_FILE) };
  const text = Buffer.from(await source.read(DATASET_MANIFEST_FILE)).toString('utf8');
  const m = parseJsonText(text, limits.maxJsonDepth, where, 'a dataset manifest object') as Partial<DatasetManifest>;
  if (!m || typeof m !== 'object' || !Array.isArray(m.files) || !m.labels || !m.splits) {
    throw new InputError('expected a dataset manifest with files, labels and splits', where);
  }
  const manifest = m as DatasetManifest;
  // Parquet is the default config (always pushed); JSONL when a dataset has no Parquet. The steps
  // rows only: files of extra configs (sft, episodes: `config` set) have other columns.
  const format = manifest.files.some((f) => f.format === 'parquet' && f.rows !== null) ? 'parquet' : 'jsonl';
  const splitOrder = Object.keys(manifest.splits);
  const files = manifest.files
    .filter((f) => f.format === format && f.config === undefined && f.rows !== null && f.split !== null)
    .sort((a, b) => splitOrder.indexOf(a.split!) - splitOrder.indexOf(b.split!) || compareStrings(a.path, b.path));
  // Named from the registry, never from the manifest's keys (a crafted manifest's text is not echoed).
  const configs = EXTRA_CONFIG_NAMES.filter((n) => manifest.configs && typeof manifest.configs === 'object' && manifest.configs[n]).join(
    ',',
  );
  if (!files.length && Array.isArray(manifest.formats) && !manifest.formats.length && configs) {
    throw new InputError(
      `has no steps rows to report (converted with --configs ${configs}): report its export, or convert with --configs steps,${configs}`,
      where,
    );
  }
  if (!files.length) throw new InputError('lists no Parquet or JSONL data files to read rows from', where);
  const names = manifest.labels;
  const byId = (list: string[]) => (v: unknown) => {
    const id = typeof v === 'bigint' ? Number(v) : v;
    return typeof id === 'number' ? (list[id] ?? `#${id}`) : label(id);
  };
  const typeName = byId(names.action_type);
  const outcomeName = byId(names.outcome);
  const passthrough = manifest.image?.mode !== 'reencode';

  async function* rows(): AsyncIterable<ReportRow> {
    for (const f of files) {
      const file: DataFile = { source, path: f.path, name: f.path, limits };
      // Parquet rows: only the columns shown (the frames, most of the bytes, and the DOM and
      // accessibility text are not): sampled rows' frames are read apart.
      const rest = Object.keys(manifest.features ?? {}).filter((k) => SHOWN_COLUMNS.has(k));
      let items: AsyncIterable<RawItem>;
      let frames: ParquetFrames | null = null;
      if (format === 'parquet') {
        const { openParquet, readParquet } = await import('../export/parquet.ts');
        const { ParquetFrames, once } = await import('./parquet-frames.ts');
        // The footer is parsed once, for the rows and the frames; the rows are decoded column-wise
        // (hyparquet's generic record assembly was most of the rows pass).
        const open = once(() => openParquet(file));
        items = rest.length ? (await import('../export/parquet-columns.ts')).readParquetColumns(file, rest, open) : readParquet(file);
        frames = new ParquetFrames(file, 'image', open);
      } else {
        items = readJsonl(file);
      }
      const folder = f.path.slice(0, f.path.lastIndexOf('/') + 1);
      for await (const item of items) {
        if (item.kind === 'problem') throw item.error;
        const r = item.fields;
        const vp = r.viewport as { w?: unknown; h?: unknown } | null;
        const viewport = { w: Number(vp?.w ?? 0), h: Number(vp?.h ?? 0) };
        const image = r.image as { bytes?: unknown; path?: unknown } | string | null;
        const embedded = image && typeof image === 'object' && image.bytes instanceof Uint8Array ? image.bytes : null;
        const rel = typeof image === 'string' ? image : null;
        const session = typeof r.session_id === 'string' ? r.session_id : label(r.session_id);
        yield {
          split: f.split!,
          session_id: session,
          t_ms: Number(r.t_ms),
          workflow: label(r.workflow),
          outcome: outcomeName(r.outcome),
          actor_kind: label(r.actor_kind),
          viewport,
          // Re-encoded frames: coordinates are pixels of the stored image, sized when it is read.
          space: passthrough ? null : { w: 0, h: 0 },
          action: reportAction(r.action, typeName),
          prior: r.prior_action ? reportAction(r.prior_action, typeName) : null,
          hasFrame: embedded !== null || rel !== null || frames !== null,
          readFrame: async () => {
            if (embedded) return embedded;
            if (frames && item.origin.row !== undefined) return frames.read(item.origin.row);
            // A frame path stays inside the dataset: no absolute path, no `..`.
            if (rel !== null && !rel.startsWith('/') && !rel.split(/[/\\]/).includes('..')) return source.read(folder + rel);
            throw new InputError('the row names no frame inside the dataset', {
              file: f.path,
              row: `row ${item.origin.row ?? (item.origin.line ?? 1) - 1}`,
            });
          },
        };
      }
    }
  }
  return {
    kind: 'dataset',
    title,
    validateTarget,
    rows,
    expectedRows: files.reduce((n, f) => n + (Number.isSafeInteger(f.rows) && f.rows! > 0 ? f.rows! : 0), 0),
    labels: () => ({ action_type: [...names.action_type], outcome: [...names.outcome] }),
    skipped: () => ({
      count: manifest.skipped?.count ?? 0,
      reasons: manifest.skipped?.reasons ?? {},
      lines: (manifest.skipped?.files ?? []).map((f) => `${f.file}: ${f.message}`),
    }),
  };
}
