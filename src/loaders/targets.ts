/** The loader targets: which template each renders, which data format it reads, what it needs. */
import type { ExtraConfigName } from '../configs/registry.ts';
import type { OutputFormat } from '../hf/dataset-manifest.ts';

export type LoaderTarget = 'hf' | 'torch-wds' | 'torch-parquet' | 'ray' | 'sft';

export const ALL_TARGETS: readonly LoaderTarget[] = ['hf', 'torch-wds', 'torch-parquet', 'ray', 'sft'];

export type Fragment = 'common' | 'torch-common';

export interface TargetSpec {
  target: LoaderTarget;
  /** Template file under the top-level loaders/ folder. */
  template: string;
  /** The data format the generated module reads. */
  format: OutputFormat;
  /** The extra config it reads (its files and features), absent for the `steps` rows. */
  config?: ExtraConfigName;
  /** Shared blocks copied into the module (each from loaders/_<fragment>.py). */
  fragments: Fragment[];
  /** Module file name suffix: nusomi_<name>_<suffix>.py */
  suffix: string;
  /** Python packages the module imports (for the README). */
  requires: string[];
}

export const TARGETS: Record<LoaderTarget, TargetSpec> = {
  hf: {
    target: 'hf',
    template: 'hf.py',
    format: 'parquet',
    fragments: ['common', 'torch-common'],
    suffix: 'hf',
    requires: ['datasets', 'torch', 'numpy'],
  },
  'torch-wds': {
    target: 'torch-wds',
    template: 'torch_wds.py',
    format: 'webdataset',
    fragments: ['common', 'torch-common'],
    suffix: 'torch_wds',
    requires: ['torch', 'numpy', 'pillow'],
  },
  'torch-parquet': {
    target: 'torch-parquet',
    template: 'torch_parquet.py',
    format: 'parquet',
    fragments: ['common', 'torch-common'],
    suffix: 'torch_parquet',
    requires: ['torch', 'numpy', 'pyarrow', 'pillow'],
  },
  ray: {
    target: 'ray',
    template: 'ray_data.py',
    format: 'parquet',
    fragments: ['common'],
    suffix: 'ray',
    requires: ['ray[data]', 'numpy', 'pillow'],
  },
  sft: {
    target: 'sft',
    template: 'sft.py',
    format: 'parquet',
    config: 'sft',
    fragments: ['common'],
    suffix: 'sft',
    requires: ['datasets'],
  },
};

export function moduleFileName(name: string, target: LoaderTarget): string {
  return `nusomi_${name}_${TARGETS[target].suffix}.py`;
}
