/**
 * `episodes`: one row per session, for sequence models, RL and evaluation:
 *   session_id, workflow, outcome, actor_kind, tags, path, started_at   the session (its first step's)
 *   num_steps, duration_ms                                              steps kept, last t_ms - first t_ms
 *   t_ms, frames, actions                                               parallel lists, one entry per step, in t_ms order
 * The steps are exactly the `default` config's rows of the session (after filters and --frames), so
 * `frames` and `actions` have `num_steps` entries each; an `actions` entry is the steps `action`
 * struct (type `none` for a frame without an action). Sessions are split as `default` splits them:
 * the config's writer gets each split's rows, and a session's rows are contiguous in one split.
 *
 * Memory: a session's frames are held (copied) until its last step, then the row goes to a row
 * group of at most EPISODES_ROW_GROUP_BYTES (estimated). A session over --episode-max-frames or
 * --episode-max-bytes stops the run naming it (a row is written whole, so it cannot be streamed).
 */
import { InvalidArgumentError, Option } from 'commander';
import { InputError, UsageError } from '../errors.ts';
import { stepLocation } from '../export/step.ts';
import { ClassLabel, Image, List, Value } from '../hf/features.ts';
import type { Features } from '../hf/features.ts';
import type { LabelVocabJson } from '../hf/labels.ts';
import { stepsFeatures } from '../hf/steps-schema.ts';
import type { ActionRow } from '../hf/steps-schema.ts';
import { TIMESTAMP_MS_UTC } from '../hf/features.ts';
import { parseByteSize } from '../limits.ts';
import { configShardPath, configShardRows } from './parquet.ts';
import type { RowMapper } from './parquet.ts';
import type { DatasetConfigModule } from './types.ts';

/** Default `--episode-max-frames`: most steps (frames) one episode row may hold. */
export const EPISODE_MAX_FRAMES = 10_000;
/** Default `--episode-max-bytes`: most frame bytes one episode row may hold (held in memory until the session ends). */
export const EPISODE_MAX_BYTES = 96 * 1024 * 1024;
/** Target size of a row group of episodes (estimated from the plan); at least one episode per group, at most 100. */
export const EPISODES_ROW_GROUP_BYTES = 8 * 1024 * 1024;

/** Options of the episodes config (`ConvertOptions.episodes`). */
export interface EpisodesOptions {
  maxFrames?: number;
  maxBytes?: number;
}

type Resolved = Required<EpisodesOptions>;

function resolved(o: EpisodesOptions | undefined): Resolved {
  return { maxFrames: o?.maxFrames ?? EPISODE_MAX_FRAMES, maxBytes: o?.maxBytes ?? EPISODE_MAX_BYTES };
}

export function episodesFeatures(labels: LabelVocabJson): Features {
  const steps = stepsFeatures(labels);
  return {
    session_id: Value('string'),
    workflow: Value('string'),
    outcome: ClassLabel(labels.outcome),
    actor_kind: Value('string'),
    tags: List(Value('string')),
    path: Value('string'),
    started_at: Value(TIMESTAMP_MS_UTC),
    num_steps: Value('int32'),
    duration_ms: Value('int64'),
    t_ms: List(Value('int64')),
    frames: List(Image()),
    actions: List(steps.action!),
  };
}

interface EpisodeRow {
  session_id: string;
  workflow: string | null;
  outcome: number | null;
  actor_kind: string | null;
  tags: string[] | null;
  path: string | null;
  started_at: number | null;
  num_steps: number;
  duration_ms: number;
  t_ms: number[];
  frames: Array<{ bytes: Uint8Array; path: string }>;
  actions: ActionRow[];
}

const NONE: EpisodeRow[] = [];

/** Each split's steps rows gathered into one row per session. */
function episodesMapper(o: Resolved): () => RowMapper<EpisodeRow> {
  return () => {
    let open: EpisodeRow | undefined;
    let bytes = 0;
    const close = (e: EpisodeRow): EpisodeRow => {
      e.num_steps = e.t_ms.length;
      e.duration_ms = e.t_ms[e.t_ms.length - 1]! - e.t_ms[0]!;
      return e;
    };
    return {
      add(row) {
        let done = NONE;
        if (open && open.session_id !== row.session_id) {
          done = [close(open)];
          open = undefined;
        }
        if (!open) {
          bytes = 0;
          open = {
            session_id: row.session_id,
            workflow: row.workflow,
            outcome: row.outcome,
            actor_kind: row.actor_kind,
            tags: row.tags,
            path: row.path,
            started_at: row.started_at,
            num_steps: 0,
            duration_ms: 0,
            t_ms: [],
            frames: [],
            actions: [],
          };
        }
        bytes += row.image.bytes.length;
        if (open.t_ms.length >= o.maxFrames) {
          throw new InputError(
            `the session has more than ${o.maxFrames} steps, over the episodes limit of ${o.maxFrames} frames per episode (--episode-max-frames)`,
            { row: stepLocation(row) },
          );
        }
        if (bytes > o.maxBytes) {
          throw new InputError(
            `the session's frames reach ${bytes} bytes, over the episodes limit of ${o.maxBytes} bytes per episode (--episode-max-bytes)`,
            { row: stepLocation(row) },
          );
        }
        open.t_ms.push(row.t_ms);
        // A copy: convert gives the frame's memory back once add() returns, and this row lives until the session ends.
        open.frames.push({ bytes: row.image.bytes.slice(), path: row.image.path });
        open.actions.push(row.action);
        return done;
      },
      end() {
        const last = open;
        open = undefined;
        return last ? [close(last)] : NONE;
      },
    };
  };
}

function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} expects an integer >= 1, got "${v.slice(0, 32)}"`);
    return n;
  };
}

function byteSize(flag: string): (v: string) => number {
  return (v) => {
    const n = parseByteSize(v);
    if (n === undefined) throw new InvalidArgumentError(`${flag} expects a size like 96MiB or 100000000, got "${v.slice(0, 32)}"`);
    return n;
  };
}

/** The flags by commander's camelCase names. */
const FLAGS = { episodeMaxFrames: '--episode-max-frames', episodeMaxBytes: '--episode-max-bytes' } as const;

export const episodesConfig: DatasetConfigModule<'episodes'> = {
  name: 'episodes',
  folder: 'episodes/',
  summary: 'one row per session: its frames and actions in t_ms order, outcome, workflow and duration',
  async prepare(opts) {
    return { ...opts, episodes: resolved(opts.episodes) };
  },
  rows: (split) => split.sessions,
  shardUnit: 'session',
  contextRows: () => 0,
  shardRows: (split, rowBytes, opts) => configShardRows(split.sessions, rowBytes, opts.maxShardBytes),
  shardPath: (split, i, n) => configShardPath('episodes', split, i, n),
  rowBytes: (stepBytes, split) => (stepBytes * split.rows) / Math.max(1, split.sessions),
  features: (labels) => episodesFeatures(labels),
  recordedOptions: () => ({}),
  cardSection: () =>
    [
      '### episodes',
      '',
      "One row per session, split as `default` is (a session is in one split): `session_id`, `workflow`, `outcome`, `actor_kind`, `tags`, `path`, `started_at`; `num_steps` and `duration_ms` (last `t_ms` minus first); then three lists with one entry per step, in `t_ms` order: `t_ms`, `frames` (images) and `actions` (the `default` config's `action` struct; type `none` marks a frame without an action). The steps are exactly the session's rows in `default`, after the filters and `--frames`.",
      '',
      `A session is held in memory until its last step: one with more than ${EPISODE_MAX_FRAMES} steps (\`--episode-max-frames\`) or ${EPISODE_MAX_BYTES} bytes of frames (\`--episode-max-bytes\`) stops convert, naming the session.`,
      '',
      '```python',
      'from datasets import load_dataset',
      'episodes = load_dataset("<org/name or path to this folder>", "episodes")',
      '```',
    ].join('\n'),
  cliOptions: () => [
    new Option('--episode-max-frames <n>', `episodes: most steps one session may have (default ${EPISODE_MAX_FRAMES})`).argParser(
      positiveInt(FLAGS.episodeMaxFrames),
    ),
    new Option('--episode-max-bytes <size>', `episodes: most frame bytes one session may hold (default ${EPISODE_MAX_BYTES})`).argParser(
      byteSize(FLAGS.episodeMaxBytes),
    ),
  ],
  fromFlags(flags) {
    const given = (Object.keys(FLAGS) as Array<keyof typeof FLAGS>).filter((k) => flags[k] !== undefined);
    if (!given.length) return {};
    const configs = (flags.configs as string[] | undefined) ?? [];
    if (!configs.includes('episodes')) throw new UsageError(`${FLAGS[given[0]!]} bounds the episodes config; add --configs episodes`);
    return { episodes: { maxFrames: flags.episodeMaxFrames as number | undefined, maxBytes: flags.episodeMaxBytes as number | undefined } };
  },
  async writer() {
    const { configParquetWriter } = await import('./parquet-writer.ts');
    return (run) => {
      const groupRows = Math.max(1, Math.min(100, Math.floor(EPISODES_ROW_GROUP_BYTES / Math.max(1, run.approxBytesPerRow))));
      return configParquetWriter('episodes', run, run.approxBytesPerRow, episodesMapper(resolved(run.opts.episodes)), groupRows);
    };
  },
};
