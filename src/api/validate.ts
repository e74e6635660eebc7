import type { DecodeMode } from '../validate/frame-pool.ts';
import type { CheckResult, FindingExample, ValidationReport } from '../validate/report.ts';
import type { InputParams } from './input.ts';

export type { CheckResult, DecodeMode, FindingExample, ValidationReport };

export interface ValidateParams extends InputParams {
  /**
   * What to check: a dataset directory (with dataset-manifest.json), an export root, a folder of
   * data files, or `.tar`/`.parquet`/`.arrow`/`.jsonl` files named one by one (local paths,
   * `s3://`, `az://` or `https://` URLs).
   */
  targets: string | string[];
  /** Frames: `'header'` (default) reads the size from the header; `'full'` decodes every pixel. */
  decode?: DecodeMode;
  /** Training ranks, for the shard balance checks. Default 1. */
  worldSize?: number;
  /** DataLoader workers per rank, for the shard balance checks. Default 1. */
  workers?: number;
  /** Examples kept per check. Default 10. */
  maxFindings?: number;
  /** Frame worker threads. Default: available cores. */
  threads?: number;
}

/**
 * Check a dataset, an export or loose data files before training. Problems are findings in the
 * report (`report.clean`, `report.errors`, `report.warnings`), not thrown errors; a target that
 * does not exist is the finding `target.not_found`. Returns what `nusomi-hf validate --json` prints.
 */
export async function validate(params: ValidateParams): Promise<ValidationReport> {
  const { targets, ...opts } = params;
  // Loaded on first call: a program (or the CLI) that never validates skips these modules.
  const { validate: run } = await import('../validate/validate.ts');
  return run(typeof targets === 'string' ? [targets] : targets, opts);
}
