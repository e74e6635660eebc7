import type { OutputFormat } from '../hf/dataset-manifest.ts';
import type { PushOptions, PushProgressEvent } from '../hub/push.ts';
import type { PushSummary } from '../hub/push-summary.ts';
import { assertLocalInputExists } from './input.ts';

export type { PushProgressEvent, PushSummary };

/**
 * Where to publish and how. Fields not listed here that push takes pass through as they are (each
 * is documented where it is declared).
 */
export interface PushParams extends Omit<PushOptions, 'token'> {
  /** The dataset directory `convert` wrote (README.md, dataset-manifest.json, data files). */
  dir: string;
  /** The dataset repo, `org/name`; created when missing. */
  repo: string;
  /** Tag the pushed commit, e.g. `v1`. */
  tag?: string;
  /** Move `tag` when it already points at another commit. Default false. */
  forceTag?: boolean;
  /** Branch to push to. Default `main`. */
  branch?: string;
  /** Create the repo private (only when push creates it). Default false. */
  private?: boolean;
  /** Formats to upload (each must be in the dataset). Default `['parquet']`. */
  formats?: OutputFormat[];
  /** Commit title. Default: `Push dataset from export <id> with nusomi-hf`. */
  message?: string;
  /** Hub endpoint. Default: `$HF_ENDPOINT`, else https://huggingface.co. */
  hubUrl?: string;
  /** Plan only: report what would be uploaded and deleted (in `plan`), change nothing. */
  dryRun?: boolean;
  /**
   * A Hub token with write access. Default: `$HF_TOKEN`, else the token file of `hf auth login`
   * (`$HF_TOKEN_PATH`, `$HF_HOME/token`). It never appears in a result or an error message.
   */
  accessToken?: string;
  /** Called as the push plans, uploads each file and makes each commit. */
  onProgress?: (event: PushProgressEvent) => void;
  /** The fetch every Hub request goes through. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/**
 * Publish a dataset version to a Hub dataset repo: upload only what changed, in commits of fewer
 * than 100 files; a change that takes more commits is staged on a branch and the branch moved at
 * the end, so it never shows half a version. Returns what `nusomi-hf push --json` prints. Throws
 * {@link RemoteError} when the Hub refuses or fails, {@link IntegrityError} when a file no longer
 * matches the manifest convert wrote.
 */
export async function push(params: PushParams): Promise<PushSummary> {
  const { accessToken, ...opts } = params;
  assertLocalInputExists(opts.dir);
  // Loaded on first call: a program (or the CLI) that never pushes skips the Hub client.
  const [{ pushDataset }, { pushSummary }, { HubToken }] = await Promise.all([
    import('../hub/push.ts'),
    import('../hub/push-summary.ts'),
    import('../hub/token.ts'),
  ]);
  return pushSummary(await pushDataset({ ...opts, ...(accessToken !== undefined && { token: new HubToken(accessToken, 'accessToken') }) }));
}
