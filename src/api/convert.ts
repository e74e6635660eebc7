import type { ConvertOptions, WdsOptions } from '../convert/convert.ts';
import type { ConvertSummary } from '../convert/summary.ts';
import type { FrameOptions } from '../frames/transform.ts';
import type { OutputFormat } from '../hf/dataset-manifest.ts';
import type { FilterOptions } from '../select/filters.ts';
import type { SplitOptions } from '../select/split.ts';
import { assertLocalInputExists, startLocalReader } from './input.ts';
import type { InputParams } from './input.ts';

export type { ConvertSummary, FilterOptions, FrameOptions, OutputFormat, SplitOptions, WdsOptions };

/**
 * What to convert and how. Fields not listed here that the converter takes pass through as they
 * are (each is documented where it is declared).
 */
export interface ConvertParams
  extends InputParams,
    Omit<ConvertOptions, 'input' | 'formats' | 'split' | 'filters' | 'frames' | 'wds' | 'onError' | keyof InputParams> {
  /**
   * The export root: a local folder or `file://` URL, `s3://bucket/prefix/`,
   * `az://container/prefix/`, or the `https://` (signed) URL of its manifest.json.
   */
  export: string;
  /**
   * The dataset root: a local folder, `s3://bucket/prefix/` or `az://container/prefix/`. One
   * convert at a time per output; an earlier dataset there is replaced only once the new one is whole.
   */
  out: string;
  /**
   * Formats of the `steps` config, any of `ALL_FORMATS` (the format registry). Default: `['parquet']`.
   * `[]` with `configs` writes no `steps` config, only those configs (e.g. an sft-only dataset).
   */
  formats?: OutputFormat[];
  /**
   * How sessions go to splits: `split` ratios (`train=0.9,validation=0.05,test=0.05`, the default)
   * or value lists with `splitBy`, the hash `seed` (default 0), or a `splitSessions` file.
   */
  split?: SplitOptions;
  /**
   * Which sessions and rows to keep: `workflow`, `outcome`, `actorKind`, `tag`, `path` lists,
   * `since`/`until` (ISO time, or relative like `30d` before the export was created),
   * `minDurationMs`/`maxDurationMs`, `excludeSessionIds`/`excludeSessionsFile`, and `frames`
   * (`'action-only'` or `'all'`). Default: keep everything.
   */
  filters?: FilterOptions;
  /**
   * Frame re-encoding: `maxSide` (px; aspect kept, coordinates rescaled), `imageFormat`
   * (`webp`, `jpeg`, `png`), `quality` (1-100), `workers` (threads; default: cores). Default: frames as stored.
   */
  frames?: Omit<FrameOptions, 'limits'>;
  /**
   * WebDataset shards: `shardBytes` (default 1 GB), `shardSamples`, `minShards`, `sidecar: 'mp'`,
   * and the training job they are planned for (`worldSize` ranks × `workers` DataLoader workers;
   * `minShards` defaults to their product when either is given).
   */
  wds?: WdsOptions;
  /** `'stop'` (default) throws at the first bad row; `'skip'` skips and counts bad rows in the summary. */
  onError?: 'stop' | 'skip';
  /** Throw an {@link IntegrityError} when the export manifest's counts differ from what was read (else a warning). */
  strict?: boolean;
  /** Keep the label ids of an earlier dataset-manifest.json (a local path). */
  labelsFrom?: string;
  /** Parquet and Arrow shard size in bytes. Default: 500 MB. */
  maxShardBytes?: number;
  /** License for the card: a Hub license id (`cc-by-4.0`, `apache-2.0`, ...). */
  license?: string;
  /** Extra tags for the card. */
  tags?: string[];
  /** Title of the card. */
  prettyName?: string;
  /** Hub repo id (`org/name`) used in the card's loading snippets. */
  repoId?: string;
}

/**
 * Convert an export into a dataset directory that `datasets` and PyTorch read natively: data files
 * per format and split, a dataset card (README.md) and dataset-manifest.json. Returns what
 * `nusomi-hf convert --json` prints. Throws {@link InputError} for bad input (the file and row are
 * in `err.file` and `err.row`), {@link UsageError} for bad params.
 */
export async function convert(params: ConvertParams): Promise<ConvertSummary> {
  const opts = convertOptionsOf(params);
  // Loaded on first call: a program (or the CLI) that never converts skips these modules.
  const [{ convert: run }, { convertSummary }] = await Promise.all([
    import('../convert/convert.ts'),
    import('../convert/summary.ts'),
    startLocalReader(opts.input),
  ]);
  return convertSummary(await run(opts));
}

/** The internal options for `params`: the defaults a convert (and each partitioned step) starts from. */
export function convertOptionsOf(params: ConvertParams): ConvertOptions {
  const { export: input, formats, split, filters, frames, wds, onError, ...rest } = params;
  assertLocalInputExists(input);
  const shards = wds ?? {};
  const minShards = shards.minShards ?? (shards.worldSize || shards.workers ? (shards.worldSize ?? 1) * (shards.workers ?? 1) : undefined);
  return {
    ...rest,
    input,
    formats: formats ?? ['parquet'],
    split: split ?? {},
    filters: filters ?? {},
    frames: frames ?? {},
    wds: { ...shards, minShards },
    onError: onError ?? 'stop',
  };
}
