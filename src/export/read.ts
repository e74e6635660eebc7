/**
 * Open an export (any format, any source) and read it as one ordered stream of Steps.
 * Data files: `manifest.files` when given (a missing one is an error), else found by extension in
 * lexical path order. `(session_id, t_ms)` order is verified across the whole export.
 */
import { InputError } from '../errors.ts';
import { resolveLimits } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { openFileUrl, openSource } from '../source/open.ts';
import type { SourceOptions } from '../source/open.ts';
import { resolveReference } from '../source/reach.ts';
import type { Source, SourceEntry } from '../source/types.ts';
import { readJsonl } from './jsonl.ts';
import { readManifest } from './manifest.ts';
import type { ExportFormat, ExportManifest } from './manifest-types.ts';
import { normalizeRow, originWhere } from './normalize.ts';
import type { DataFile, RawItem } from './raw.ts';
import { hasAction } from './step.ts';
import type { Step } from './step.ts';

export type OnError = (err: InputError) => 'skip' | 'throw';

export interface SkipReport {
  /** Rows skipped: bad rows, plus the rows lost in files that broke part-way (where that is known). */
  count: number;
  /** Reason (the message without its location) → how many rows. */
  reasons: Map<string, number>;
  /** The first few full messages, to show where. */
  examples: string[];
  /** Files that could not be read to their end, in reading order. */
  files: LostRows[];
}

/** Where a count of a file's rows came from. */
export type RowCountSource = 'export manifest' | 'sidecar' | 'parquet footer';

/** A data file that broke part-way (truncated tar, unreadable Parquet): what was lost. */
export interface LostRows {
  file: string;
  /** Rows (good or bad) read from it before it broke. */
  rowsRead: number;
  /** Rows it held past that point, or null when nothing says how many it held. */
  rowsLost: number | null;
  /** What the file's row count was taken from; null when unknown. */
  countedFrom: RowCountSource | null;
  /** Why it could not be read further. */
  message: string;
}

/** The reason under which rows lost in broken files are counted. */
export const LOST_ROWS_REASON = 'rows lost in a file that cannot be read to its end';

export interface ExportReader {
  manifest: ExportManifest;
  source: Source;
  /** The data files, in reading order (`path` relative to the root, or a URL for files elsewhere). */
  files: SourceEntry[];
  /** Rows skipped so far by `onError` returning 'skip' (filled while `steps()` runs). */
  skipped: SkipReport;
  /** What `steps()` has read so far (for checks against the manifest's counts). */
  counts: ReadCounts;
  steps(): AsyncIterable<Step>;
}

export interface ReadCounts {
  /** Rows read from the data files, bad ones included. */
  rows: number;
  /** Rows that became Steps. */
  readable: number;
  /** Readable rows that reference a frame (embedded or by URL). */
  frames: number;
  /** Readable rows that carry an action (a frame-sampled export also has frames without one). */
  actions: number;
  /** Sessions among the readable rows (rows are ordered by session). */
  sessions: number;
}

export interface OpenExportOptions {
  /** Called for each bad row (or unreadable rest of a file); 'skip' counts it and goes on. Default: throw. */
  onError?: OnError;
  /** Bounds on lines, members, JSON nesting and frame size (defaults: DEFAULT_LIMITS). */
  limits?: Partial<InputLimits>;
  /** Hosts, buckets or containers besides the export root that frames and data files may come from. */
  allowRemote?: readonly string[];
  /** https:// requests (an https export, its frames) go through it. Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Start reading here instead of at the first row (a partition resuming at a plan's resume point). */
  resumeAt?: ReadPosition;
  /** Filled with where each session's first row is (a session's id is set once, when its first row is read). */
  sessionStarts?: Map<string, ReadPosition>;
  /** The export as an earlier `locateExport` found it: its manifest is not read, nor its data files listed, again. */
  located?: LocatedExport;
}

/** An export's source, manifest and data files, found once (listing a local export walks every frame's folder). */
export interface LocatedExport {
  source: Source;
  manifest: ExportManifest;
  entries: SourceEntry[];
  files: DataFile[];
}

/** A row's place in the export: data file index, and raw rows (good or bad) before it in that file. */
export interface ReadPosition {
  file: number;
  item: number;
}

const DATA_EXT: Record<ExportFormat, RegExp> = {
  jsonl: /\.jsonl(\.gz)?$/i,
  parquet: /\.parquet$/i,
  arrow: /\.(arrow|arrows|ipc)$/i,
  webdataset: /\.tar$/i,
};

// The Parquet, Arrow and tar readers (and their libraries) load only for exports in that format.
const READERS: Record<ExportFormat, (f: DataFile) => AsyncIterable<RawItem>> = {
  jsonl: readJsonl,
  parquet: async function* (f) {
    yield* (await import('./parquet.ts')).readParquet(f);
  },
  arrow: async function* (f) {
    yield* (await import('./arrow.ts')).readArrow(f);
  },
  webdataset: async function* (f) {
    yield* (await import('./webdataset.ts')).readWebDataset(f);
  },
};

/**
 * How many rows a data file holds, from what travels with it (the Parquet footer, the WebDataset
 * sidecar); read only once the file broke, to count what was lost.
 */
const ROWS_IN_FILE: Partial<Record<ExportFormat, (f: DataFile) => Promise<number | undefined>>> = {
  parquet: async (f) => (await import('./parquet.ts')).parquetRowCount(f),
  webdataset: async (f) => (await import('./webdataset.ts')).sidecarRowCount(f),
};
/** Readers that pass over `DataFile.skipRows` rows themselves, cheaper than reading them (jsonl: no JSON parse). */
const SKIPS_ROWS: ReadonlySet<ExportFormat> = new Set(['jsonl']);

const ROWS_IN_FILE_SOURCE: Partial<Record<ExportFormat, RowCountSource>> = { parquet: 'parquet footer', webdataset: 'sidecar' };

/** Whether a path is a data file of this format (a .jsonl beside a .tar is a webdataset sidecar, not data). */
export function isDataFile(format: ExportFormat, path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return DATA_EXT[format].test(path) && base !== 'manifest.json' && !base.startsWith('.');
}

/** Rows per data file as the export manifest's `files[i].rows` gives them (not in the vendor's docs; used when present). */
function manifestFileRows(manifest: ExportManifest): Array<number | undefined> {
  const listed = manifest.raw.files;
  if (!manifest.files || !Array.isArray(listed)) return [];
  return listed.map((f) => {
    const rows = f !== null && typeof f === 'object' && !Array.isArray(f) ? f.rows : undefined;
    return typeof rows === 'number' && Number.isSafeInteger(rows) && rows >= 0 ? rows : undefined;
  });
}

async function dataFiles(
  source: Source,
  manifest: ExportManifest,
  limits: InputLimits,
  sourceOpts: SourceOptions,
): Promise<{ entries: SourceEntry[]; files: DataFile[] }> {
  if (manifest.files) {
    const entries: SourceEntry[] = [];
    const files: DataFile[] = [];
    for (const [i, f] of manifest.files.entries()) {
      let df: DataFile;
      const ref = f.path ?? f.url!;
      const to = resolveReference(
        ref,
        source.root,
        manifest.destination,
        sourceOpts,
        { file: 'manifest.json', row: `files[${i}]` },
        'data file',
      );
      if (to.kind === 'root') {
        df = { source, path: to.path, name: to.path, limits };
      } else {
        const opened = await openFileUrl(to.url, sourceOpts);
        df = { source: opened.source, path: opened.path, name: ref.replace(/[?#].*$/, ''), limits };
      }
      if (!(await df.source.exists(df.path))) {
        throw new InputError(`files[${i}] names ${ref}, which does not exist`, { file: 'manifest.json' });
      }
      files.push(df);
      entries.push({ path: df.name, ...(f.bytes !== undefined ? { size: f.bytes } : {}), ...(f.sha256 ? { sha256: f.sha256 } : {}) });
    }
    return { entries, files };
  }
  const listed = await source.list((p) => isDataFile(manifest.format, p));
  if (!listed.length) {
    throw new InputError(`no ${manifest.format} data files found under the export root (looked for ${DATA_EXT[manifest.format].source})`, {
      file: source.describe(''),
    });
  }
  return { entries: listed, files: listed.map((e) => ({ source, path: e.path, name: e.path, limits })) };
}

/** The message without its `file: row: ` prefix, used to group skip reasons. */
function reasonOf(err: InputError): string {
  const w = err.where;
  const prefix = [w.file, w.member && `member ${w.member}`, w.row].filter(Boolean).join(': ');
  const what = prefix && err.message.startsWith(prefix + ': ') ? err.message.slice(prefix.length + 2) : err.message;
  // Values vary per row; the reason is the kind of problem.
  return what.replace(/, got .*$/, '').replace(/ \(.*\)$/, '');
}

/** Opens the export's source, reads its manifest and finds its data files (errors as `openExport` gives them). */
export async function locateExport(root: string | Source, opts: OpenExportOptions = {}): Promise<LocatedExport> {
  const limits = resolveLimits(opts.limits);
  const sourceOpts = sourceOptions(opts, limits);
  const source = typeof root === 'string' ? await openSource(root, sourceOpts) : root;
  const manifest = await readManifest(source, limits);
  return { source, manifest, ...(await dataFiles(source, manifest, limits, sourceOpts)) };
}

function sourceOptions(opts: OpenExportOptions, limits: InputLimits): SourceOptions {
  return { maxReadBytes: limits.maxMemberBytes, allowRemote: opts.allowRemote ?? [], fetch: opts.fetch };
}

export async function openExport(root: string | Source, opts: OpenExportOptions = {}): Promise<ExportReader> {
  const limits = resolveLimits(opts.limits);
  const sourceOpts = sourceOptions(opts, limits);
  const { source, manifest, entries, files } = opts.located ?? (await locateExport(root, opts));
  const skipped: SkipReport = { count: 0, reasons: new Map(), examples: [], files: [] };
  const listedRows = manifestFileRows(manifest);
  const counts: ReadCounts = { rows: 0, readable: 0, frames: 0, actions: 0, sessions: 0 };
  const onError = opts.onError ?? (() => 'throw' as const);

  // Errors already refused by onError pass through the per-file catch below untouched.
  const refused = new WeakSet<Error>();
  const handle = (err: InputError): void => {
    if (onError(err) !== 'skip') {
      refused.add(err);
      throw err;
    }
    skipped.count++;
    const r = reasonOf(err);
    skipped.reasons.set(r, (skipped.reasons.get(r) ?? 0) + 1);
    if (skipped.examples.length < 20) skipped.examples.push(err.message);
  };

  const countLost = (rows: number): void => {
    skipped.count += rows;
    skipped.reasons.set(LOST_ROWS_REASON, (skipped.reasons.get(LOST_ROWS_REASON) ?? 0) + rows);
  };

  /** A file broke after `read` rows: with 'skip', record how many rows it lost, when anything says. */
  const brokenFile = async (err: InputError, i: number, read: number): Promise<void> => {
    if (onError(err) !== 'skip') {
      refused.add(err);
      throw err;
    }
    if (skipped.examples.length < 20) skipped.examples.push(err.message);
    let held = listedRows[i];
    let from: RowCountSource | null = held === undefined ? null : 'export manifest';
    if (held === undefined) {
      held = await ROWS_IN_FILE[manifest.format]?.(files[i]!).catch(() => undefined);
      if (held !== undefined) from = ROWS_IN_FILE_SOURCE[manifest.format]!;
    }
    const lost = held === undefined ? null : Math.max(0, held - read);
    skipped.files.push({
      file: files[i]!.name,
      rowsRead: read,
      rowsLost: lost,
      countedFrom: lost === null ? null : from,
      message: err.message,
    });
    if (lost) countLost(lost);
  };

  /**
   * One broken file whose own count is unknown: the export manifest's total, less every row read
   * or counted elsewhere, is what it lost. With two or more such files, their losses stay unknown.
   */
  const attributeManifestRows = (totalRead: number): void => {
    const unknown = skipped.files.filter((f) => f.rowsLost === null);
    if (unknown.length !== 1) return;
    const counted = skipped.files.reduce((n, f) => n + (f.rowsLost ?? 0), 0);
    const rest = manifest.rows - totalRead - counted;
    if (rest < 0) return;
    unknown[0]!.rowsLost = rest;
    unknown[0]!.countedFrom = 'export manifest';
    if (rest) countLost(rest);
  };

  async function* steps(): AsyncIterable<Step> {
    let last: { session_id: string; t_ms: number } | undefined;
    const ctx = { manifest, source, limits, reach: sourceOpts };
    let totalRead = 0;
    const resume = opts.resumeAt;
    for (const [i, file] of files.entries()) {
      // Resuming: files before the resume point are not opened, rows before it in its file not read.
      if (resume && i < resume.file) continue;
      const skip = resume && i === resume.file ? resume.item : 0;
      let read = 0;
      try {
        const readsSkip = skip > 0 && SKIPS_ROWS.has(manifest.format);
        const items = READERS[manifest.format](readsSkip ? { ...file, skipRows: skip } : file);
        if (readsSkip) read = skip;
        for await (const item of items) {
          read++;
          if (read <= skip) continue;
          counts.rows++;
          if (item.kind === 'problem') {
            handle(item.error);
            continue;
          }
          let step: Step;
          try {
            step = normalizeRow(item, ctx);
          } catch (err) {
            if (!(err instanceof InputError)) throw err;
            handle(err);
            continue;
          }
          if (last) {
            const cmp = step.session_id < last.session_id ? -1 : step.session_id > last.session_id ? 1 : Math.sign(step.t_ms - last.t_ms);
            if (cmp <= 0) {
              const what =
                cmp === 0
                  ? `session ${step.session_id} t_ms ${step.t_ms} appears twice; each (session_id, t_ms) must be unique`
                  : `session ${step.session_id} t_ms ${step.t_ms} comes after session ${last.session_id} t_ms ${last.t_ms}; rows must be ordered by (session_id, t_ms)`;
              handle(new InputError(what, originWhere(step.origin)));
              continue;
            }
          }
          if (step.session_id !== last?.session_id) {
            counts.sessions++;
            opts.sessionStarts?.set(step.session_id, { file: i, item: read - 1 });
          }
          counts.readable++;
          if (step.image.ref !== '') counts.frames++;
          if (hasAction(step)) counts.actions++;
          last = { session_id: step.session_id, t_ms: step.t_ms };
          yield step;
        }
      } catch (err) {
        // A file that breaks part-way (truncated tar, bad row group): with 'skip' its rest is skipped.
        if (!(err instanceof InputError) || refused.has(err)) throw err;
        await brokenFile(err, i, read);
      }
      totalRead += read;
    }
    // A resumed read did not see every row: the manifest's total says nothing about what it lost.
    if (!resume) attributeManifestRows(totalRead);
  }

  return { manifest, source, files: entries, skipped, counts, steps };
}
