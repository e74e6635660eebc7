/**
 * The dataset configs, registered once: `steps` (the `default` config, `data/`, written by the
 * output formats of src/formats) and the configs derived from the same rows, each one module
 * (types.ts says what it holds). `convert --configs steps,sft,episodes` picks them; every place
 * that lists configs (convert's fan-out, the manifest's `configs`, the card, the folders convert
 * and push own) reads this list, in this order.
 */
import { UsageError } from '../errors.ts';
import { episodesConfig } from './episodes.ts';
import { sftConfig } from './sft.ts';
import type { DatasetConfigModule } from './types.ts';

/** `steps` is always written: the other configs are views of its rows. */
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

/** `--configs steps,sft`: the extra configs named, in registry order (`steps` may be named or not). */
export function parseConfigs(list: readonly string[]): ExtraConfigName[] {
  for (const n of list)
    if (!(CONFIG_NAMES as readonly string[]).includes(n))
      throw new UsageError(`--configs: unknown config "${n}"; expected ${CONFIG_NAMES.join(', ')}`);
  return EXTRA_CONFIG_NAMES.filter((n) => list.includes(n));
}
