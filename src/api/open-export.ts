import type { ExportReader, ReadCounts, SkipReport } from '../export/read.ts';
import type { ExportManifest } from '../export/manifest-types.ts';
import type { Action, Context, Frame, FrameImage, Json, JsonObject, Step, StepOrigin } from '../export/step.ts';
import { assertLocalInputExists } from './input.ts';
import type { InputParams } from './input.ts';

export type { Action, Context, ExportManifest, Frame, FrameImage, Json, JsonObject, ReadCounts, SkipReport, Step, StepOrigin };

export interface OpenExportParams extends InputParams {
  /**
   * The export root: a local folder or `file://` URL, `s3://bucket/prefix/`,
   * `az://container/prefix/`, or the `https://` (signed) URL of its manifest.json.
   */
  export: string;
  /**
   * `'stop'` (default): iteration throws an {@link InputError} at the first bad row. `'skip'`: bad
   * rows are skipped and counted in `skipped`.
   */
  onError?: 'stop' | 'skip';
}

/**
 * An open export: its manifest, and its rows as {@link Step}s in `(session_id, t_ms)` order when
 * iterated with `for await`. Frame bytes are read only when `step.image.read()` is called.
 */
export interface OpenedExport extends AsyncIterable<Step> {
  /** The export's manifest.json, checked. */
  readonly manifest: ExportManifest;
  /** What iteration has read so far: rows, readable rows, frames, sessions. */
  readonly counts: ReadCounts;
  /** Rows skipped so far (with `onError: 'skip'`), by reason, with the first examples. */
  readonly skipped: SkipReport;
}

/**
 * Open an export (any format: JSONL, Parquet, Arrow, WebDataset; any source) for reading its rows
 * yourself. The manifest is read and checked now; rows are read as you iterate, one at a time.
 */
export async function openExport(params: OpenExportParams): Promise<OpenedExport> {
  assertLocalInputExists(params.export);
  // Loaded on first call: a program (or the CLI) that never reads rows itself skips the readers.
  const { openExport: open } = await import('../export/read.ts');
  const reader: ExportReader = await open(params.export, {
    limits: params.limits,
    allowRemote: params.allowRemoteFrames ?? [],
    fetch: params.fetch,
    ...(params.onError === 'skip' && { onError: () => 'skip' as const }),
  });
  return {
    manifest: reader.manifest,
    counts: reader.counts,
    skipped: reader.skipped,
    [Symbol.asyncIterator]: () => reader.steps()[Symbol.asyncIterator](),
  };
}
