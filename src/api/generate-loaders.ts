import { UsageError } from '../errors.ts';
import type { GenerateLoadersResult } from '../loaders/generate.ts';
import type { LoaderOrigin } from '../loaders/render.ts';
import { ALL_TARGETS } from '../loaders/targets.ts';
import type { LoaderTarget } from '../loaders/targets.ts';

export type { GenerateLoadersResult, LoaderOrigin, LoaderTarget };

export interface GenerateLoadersParams {
  /** A dataset directory `convert` wrote, or a Hub dataset repo `org/name[@revision]` (pinned to its commit). */
  dataset: string;
  /** Directory to write the modules and README.md into (created when missing). */
  out: string;
  /** Loader targets: `hf`, `torch-wds`, `torch-parquet`, `ray`. Default: every one the dataset's formats allow. */
  targets?: LoaderTarget[];
  /** Dataset name in module names. Default: the repo name, else the workflow. */
  name?: string;
  /** Hub endpoint. Default: `$HF_ENDPOINT`, else https://huggingface.co. */
  hubUrl?: string;
  /** A Hub token that can read the repo. Default: `$HF_TOKEN`, else the token file of `hf auth login`. */
  accessToken?: string;
  /** The fetch every Hub request goes through. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/**
 * Write pinned Python loader modules (one per target) and a README for a dataset directory or a
 * Hub repo. Returns what `nusomi-hf loaders --json` prints: the file names are relative to `out`.
 */
export async function generateLoaders(params: GenerateLoadersParams): Promise<GenerateLoadersResult> {
  const { dataset, accessToken, targets, ...rest } = params;
  if (targets !== undefined) checkTargets(targets);
  // Loaded on first call: a program (or the CLI) that never writes loaders skips these modules.
  const [{ generateLoaders: run }, { HubToken }] = await Promise.all([import('../loaders/generate.ts'), import('../hub/token.ts')]);
  return run({
    ...rest,
    source: dataset,
    ...(targets !== undefined && { targets: [...new Set(targets)] }),
    ...(accessToken !== undefined && { token: new HubToken(accessToken, 'accessToken') }),
  });
}

function checkTargets(targets: readonly string[]): void {
  for (const t of targets) {
    if (!(ALL_TARGETS as readonly string[]).includes(t))
      throw new UsageError(`--targets: unknown target "${t}" (expected ${ALL_TARGETS.join(', ')})`);
  }
  if (!targets.length) throw new UsageError('--targets: give at least one target');
}
