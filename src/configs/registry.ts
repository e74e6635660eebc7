/**
 * The dataset configs, registered once: `steps` (the `default` config, `data/`, written by the
 * output formats of src/formats) and the configs derived from the same rows, each one module
 * (types.ts says what it holds). `convert --configs steps,sft,episodes` picks them; every place
 * that lists configs (convert's fan-out, the manifest's `configs`, the card, the folders convert
 * and push own) reads this list, in this order.
 */
import type { ConvertOptions } from '../convert/convert.ts';
import type { SplitCounts } from '../convert/plan-pass.ts';
import { UsageError } from '../errors.ts';
import type { WriteRun } from '../formats/types.ts';
import { episodesConfig } from './episodes.ts';
import { sftConfig } from './sft.ts';
import type { ConfigWriter, DatasetConfigModule } from './types.ts';

/**
 * `steps` is written unless `--configs` names others without it: the other configs are views of its
 * rows, made in the same pass, so leaving `steps` out (`--configs sft`) writes each frame once.
 */
export const CONFIG_NAMES = ['steps', 'sft', 'episodes'] as const;
export type ConfigName = (typeof CONFIG_NAMES)[number];
export type ExtraConfigName = Exclude<ConfigName, 'steps'>;
export const EXTRA_CONFIG_NAMES: readonly ExtraConfigName[] = ['sft', 'episodes'];

const CONFIGS: { readonly [N in ExtraConfigName]: DatasetConfigModule<N> } = {
  sft: sftConfig,
  episodes: episodesConfig,
};

export function configModule<N extends ExtraConfigName>(name: N): DatasetConfigModule<N> {
  return CONFIGS[name];
}

/** Every extra config's module, in registry order. */
export function configModules(): DatasetConfigModule[] {
  return EXTRA_CONFIG_NAMES.map((n) => CONFIGS[n]);
}

/** Whether `--configs <list>` writes the `steps` config: when the list is empty (the default) or names it. */
export function writesSteps(list: readonly string[]): boolean {
  return list.length === 0 || list.includes('steps');
}

/** `--configs steps,sft`: the extra configs named, in registry order (`steps` may be named or not). */
export function parseConfigs(list: readonly string[]): ExtraConfigName[] {
  for (const n of list)
    if (!(CONFIG_NAMES as readonly string[]).includes(n))
      throw new UsageError(`--configs: unknown config "${n}"; expected ${CONFIG_NAMES.join(', ')}`);
  return EXTRA_CONFIG_NAMES.filter((n) => list.includes(n));
}

/**
 * Estimated stored bytes of one row of a config, from the plan's bytes per steps row and its counts
 * over all splits: what sizes the config's shards, in the plan and in every writer alike.
 */
export function configRowBytes(m: DatasetConfigModule, stepBytes: number, splits: Iterable<SplitCounts>, opts: ConvertOptions): number {
  const all = { rows: 0, sessions: 0, numBytes: 0 };
  for (const s of splits) {
    all.rows += s.rows;
    all.sessions += s.sessions;
  }
  return m.rowBytes(stepBytes, all, opts);
}

/** A config's writer for a run (the formats' run with the config's own features and row size). */
export async function openConfigWriter(
  m: DatasetConfigModule,
  run: WriteRun,
  splits: Iterable<SplitCounts>,
  opts: ConvertOptions,
): Promise<ConfigWriter> {
  const approxBytesPerRow = configRowBytes(m, run.approxBytesPerRow, splits, opts);
  return (await m.writer())({ ...run, opts, features: m.features(run.labels, opts), approxBytesPerRow });
}
