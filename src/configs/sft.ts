/**
 * `sft`: TRL's conversational prompt-completion rows for vision-language models. Being built.
 */
import { UsageError } from '../errors.ts';
import type { DatasetConfigModule } from './types.ts';

/** Options of the sft config (`ConvertOptions.sft`). */
export type SftOptions = Record<string, never>;

const notBuilt = (): never => {
  throw new UsageError('--configs: the sft config is not available in this build');
};

export const sftConfig: DatasetConfigModule<'sft'> = {
  name: 'sft',
  folder: 'sft/',
  summary: "TRL's conversational prompt-completion rows for vision-language models",
  prepare: async () => notBuilt(),
  rows: (split) => split.rows,
  rowBytes: (stepBytes) => stepBytes,
  features: notBuilt,
  recordedOptions: () => ({}),
  cardSection: () => '',
  writer: async () => notBuilt(),
};
