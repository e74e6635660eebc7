/**
 * `episodes`: one row per session (its frames, actions, outcome, workflow, duration). Not built on
 * this branch yet: asking for it is a usage error.
 */
import { UsageError } from '../errors.ts';
import type { DatasetConfigModule } from './types.ts';

/** Options of the episodes config (`ConvertOptions.episodes`). */
export type EpisodesOptions = Record<string, never>;

const notBuilt = (): never => {
  throw new UsageError('--configs: the episodes config is not available in this build');
};

export const episodesConfig: DatasetConfigModule<'episodes'> = {
  name: 'episodes',
  folder: 'episodes/',
  summary: 'one row per session: its frames, actions, outcome, workflow and duration',
  prepare: async () => notBuilt(),
  rows: (split) => split.sessions,
  rowBytes: (stepBytes, split) => (stepBytes * split.rows) / Math.max(1, split.sessions),
  features: notBuilt,
  recordedOptions: () => ({}),
  cardSection: () => '',
  writer: async () => notBuilt(),
};
