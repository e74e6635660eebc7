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
import type { Step } from './step.ts';

export type OnError = (err: InputError) => 'skip' | 'throw';

export interface SkipReport {
  count: number;
  /** Reason (the message without its location) → how many times. */
  reasons: Map<string, number>;
  /** The first few full messages, to show where. */
  examples: string[];
}

export interface ExportReader {
  manifest: ExportManifest;
  source: Source;
  /** The data files, in reading order (`path` relative to the root, or a URL for files elsewhere). */
  files: SourceEntry[];
  /** Rows skipped so far by `onError` returning 'skip' (filled while `steps()` runs). */
  skipped: SkipReport;
  steps(): AsyncIterable<Step>;
}

export interface OpenExportOptions {
  /** Called for each bad row (or unreadable rest of a file); 'skip' counts it and goes on. Default: throw. */
  onError?: OnError;
  /** Bounds on lines, members, JSON nesting and frame size (defaults: DEFAULT_LIMITS). */
  limits?: Partial<InputLimits>;
  /** Hosts, buckets or containers besides the export root that frames and data files may come from. */
  allowRemote?: readonly string[];
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
  parquet: async function* (f) { yield* (await import('./parquet.ts')).readParquet(f); },
  arrow: async function* (f) { yield* (await import('./arrow.ts')).readArrow(f); },
  webdataset: async function* (f) { yield* (await import('./webdataset.ts')).readWebDataset(f); },
};

/** Whether a path is a data file of this format (a .jsonl beside a .tar is a webdataset sidecar, not data). */
export function isDataFile(format: ExportFormat, path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return DATA_EXT[format].test(path) && base !== 'manifest.json' && !base.startsWith('.');
}

async function dataFiles(source: Source, manifest: ExportManifest, limits: InputLimits, sourceOpts: SourceOptions): Promise<{ entries: SourceEntry[]; files: DataFile[] }> {
  if (manifest.files) {
    const entries: SourceEntry[] = [];
    const files: DataFile[] = [];
    for (const [i, f] of manifest.files.entries()) {
      let df: DataFile;
      const ref = f.path ?? f.url!;
      const to = resolveReference(ref, source.root, manifest.destination, sourceOpts, { file: 'manifest.json', row: `files[${i}]` }, 'data file');
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

export async function openExport(root: string | Source, opts: OpenExportOptions = {}): Promise<ExportReader> {
  const limits = resolveLimits(opts.limits);
  const sourceOpts: SourceOptions = { maxReadBytes: limits.maxMemberBytes, allowRemote: opts.allowRemote ?? [] };
  const source = typeof root === 'string' ? await openSource(root, sourceOpts) : root;
  const manifest = await readManifest(source, limits);
  const { entries, files } = await dataFiles(source, manifest, limits, sourceOpts);
  const skipped: SkipReport = { count: 0, reasons: new Map(), examples: [] };
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

  async function* steps(): AsyncIterable<Step> {
    let last: { session_id: string; t_ms: number } | undefined;
    const ctx = { manifest, source, limits, reach: sourceOpts };
    for (const file of files) {
      try {
        for await (const item of READERS[manifest.format](file)) {
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
              const what = cmp === 0
                ? `session ${step.session_id} t_ms ${step.t_ms} appears twice; each (session_id, t_ms) must be unique`
                : `session ${step.session_id} t_ms ${step.t_ms} comes after session ${last.session_id} t_ms ${last.t_ms}; rows must be ordered by (session_id, t_ms)`;
              handle(new InputError(what, originWhere(step.origin)));
              continue;
            }
          }
          last = { session_id: step.session_id, t_ms: step.t_ms };
          yield step;
        }
      } catch (err) {
        // A file that breaks part-way (truncated tar, bad row group): with 'skip' its rest is skipped.
        if (!(err instanceof InputError) || refused.has(err)) throw err;
        handle(err);
      }
    }
  }

  return { manifest, source, files: entries, skipped, steps };
}
