import type { ReportResult } from '../report/report.ts';
import { assertLocalInputExists } from './input.ts';
import type { InputParams } from './input.ts';

export type { ReportResult };

export interface ReportParams extends Omit<InputParams, 'fetch' | 'signal'> {
  /**
   * What to look at: an export root or a dataset folder (local, `s3://`, `az://`), or a Hub dataset
   * as `hf://datasets/<owner>/<name>@<revision>` (public repos; no token is sent).
   */
  target: string;
  /** Folder to write `index.html` and `assets/` into: new, empty, or an earlier report (replaced whole). */
  out: string;
  /** Frames sampled for the gallery and the player: whole sessions, chosen by a hash of their id. Default 200. */
  maxFrames?: number;
  /** Hub endpoint for `hf://` targets. Default: `$HF_ENDPOINT`, else https://huggingface.co. */
  hubUrl?: string;
  /** Run `validate` on a dataset target and link its findings to their rows. Default true. */
  validate?: boolean;
}

/**
 * Write a static, self-contained HTML report (overview, click heatmaps, a frame gallery with
 * overlays, a session player) that opens from `file://`. Returns what `nusomi-hf report --json` prints.
 */
export async function report(params: ReportParams): Promise<ReportResult> {
  if (!params.target.startsWith('hf://')) assertLocalInputExists(params.target);
  // Loaded on first call: a program (or the CLI) that never writes a report skips these modules.
  const { buildReport } = await import('../report/report.ts');
  const { hubUrl } = await import('../hub/endpoint.ts');
  return buildReport({
    target: params.target,
    out: params.out,
    maxFrames: params.maxFrames,
    limits: params.limits,
    allowRemote: params.allowRemoteFrames,
    hubUrl: hubUrl(params.hubUrl),
    validate: params.validate,
  });
}
