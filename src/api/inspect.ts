import type { InspectReport } from '../export/inspect.ts';
import { assertLocalInputExists } from './input.ts';
import type { InputParams } from './input.ts';

export type { InspectReport };

export interface InspectParams extends InputParams {
  /**
   * The export root: a local folder or `file://` URL, `s3://bucket/prefix/`,
   * `az://container/prefix/`, or the `https://` (signed) URL of its manifest.json.
   */
  export: string;
}

/**
 * Read a whole export and report its counts, label spreads, frames and whether they match its
 * manifest (`report.consistent`). Bad rows are counted in the report, not thrown; an export that
 * cannot be opened at all throws an {@link InputError}. `nusomi-hf inspect --json` prints this report.
 */
export async function inspect(params: InspectParams): Promise<InspectReport> {
  assertLocalInputExists(params.export);
  // Loaded on first call: a program (or the CLI) that never inspects skips these modules.
  const { inspectExport } = await import('../export/inspect.ts');
  return inspectExport(params.export, {
    badRows: 'report',
    limits: params.limits,
    allowRemote: params.allowRemoteFrames ?? [],
    fetch: params.fetch,
    signal: params.signal,
  });
}
