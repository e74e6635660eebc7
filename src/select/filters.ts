/**
 * Consumer-side filters, in the vendor's export-filter vocabulary (the filter names of its export page),
 * applied to a Step stream ordered by (session_id, t_ms).
 *
 * Semantics (documented for the card and the CLI help):
 *  - Several values of one filter match any of them (OR); different filters all apply (AND).
 *  - workflow, outcome, actor kind (`context.actor.kind`), tag (`context.tags` contains), path
 *    (`context.path`), since/until (`context.started_at`) are tested per row. A filter on a field the
 *    FIRST row lacks is a UsageError (the export does not carry it); a later row that lacks it
 *    simply does not match (counted). A row without `context.tags` has no tags.
 *  - since is inclusive, until exclusive: since <= started_at < until. Both take ISO timestamps
 *    (a date alone is midnight UTC) or a relative duration `30d` (units ms, s, m, h, d, w) that is
 *    counted back from `referenceTime` — the export manifest's `created_at`, never the wall clock,
 *    so the same export and options always select the same rows.
 *  - min/max duration: session duration = last t_ms - first t_ms over all the session's rows as
 *    read (before other filters); bounds inclusive. Needs the whole session, so when set the stream
 *    buffers ONE session's Steps (metadata only: frame bytes stay unread).
 *  - exclude sessions: ids from `excludeSessionIds` and/or a file (one id per line, `#` comments,
 *    or a JSON array of ids).
 *  - frames `action-only` drops rows without an action: `action` absent/null/not an object, with
 *    no `type`, or with `type` `none`/`frame`/`null` (how frame-sampled rows without an event look;
 *    `wait` is an action and is kept). `all` (default) keeps every row. `every-n-ms:N` and
 *    `keyframes` sample the frames without an action and keep every action frame
 *    (frame-sampling.ts); they see only the rows the other filters kept.
 *  - Stats: each dropped row is counted under the FIRST filter (in FILTER_ORDER) that rejects it,
 *    so the counts sum to rowsIn - rowsOut.
 */
import { readFile } from 'node:fs/promises';
import { InputError, UsageError } from '../errors.ts';
import { hasAction, stepLocation } from '../export/step.ts';
import type { Json, Step } from '../export/step.ts';
import { contextField } from './split.ts';
import { failureReason } from '../limits.ts';
import { createFrameSampler, describeFrameSampling, parseFrameSampling } from './frame-sampling.ts';
import type { FramesMode } from './frame-sampling.ts';

export type { FramesMode };
export { hasAction };

export interface FilterOptions {
  workflow?: string[];
  outcome?: string[];
  actorKind?: string[];
  tag?: string[];
  path?: string[];
  since?: string;
  until?: string;
  /** ISO time relative durations count back from: the export manifest's created_at. */
  referenceTime?: string;
  minDurationMs?: number;
  maxDurationMs?: number;
  excludeSessionIds?: Iterable<string>;
  /** `--exclude-sessions <file>` (local path). */
  excludeSessionsFile?: string;
  frames?: FramesMode;
  /** `--frames keyframes` decodes frames: larger ones are refused (default DEFAULT_LIMITS). */
  maxFramePixels?: number;
}

export const FILTER_ORDER = [
  'exclude_sessions',
  'workflow',
  'outcome',
  'actor_kind',
  'tag',
  'path',
  'since',
  'until',
  'duration',
  'frames',
] as const;
export type FilterName = (typeof FILTER_ORDER)[number];

export interface FilterStats {
  rowsIn: number;
  rowsOut: number;
  sessionsIn: number;
  sessionsOut: number;
  /** Rows dropped per filter (first rejecting filter only). */
  dropped: Record<FilterName, number>;
}

export function emptyFilterStats(): FilterStats {
  const dropped = Object.fromEntries(FILTER_ORDER.map((n) => [n, 0])) as Record<FilterName, number>;
  return { rowsIn: 0, rowsOut: 0, sessionsIn: 0, sessionsOut: 0, dropped };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parse since/until: ISO timestamp or relative duration before `referenceTime`. Returns epoch ms. */
export function parseTimeBound(value: string, flag: string, referenceTime?: string): number {
  const rel = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(value.trim());
  if (rel) {
    if (referenceTime === undefined) {
      throw new UsageError(`${flag} ${value}: a relative duration needs the export's created_at to count back from, and none is known`);
    }
    const ref = Date.parse(referenceTime);
    if (Number.isNaN(ref)) throw new UsageError(`${flag} ${value}: the export's created_at "${referenceTime}" is not an ISO timestamp`);
    return ref - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) {
    throw new UsageError(
      `${flag} ${value}: expected an ISO timestamp (2026-01-01 or 2026-01-01T00:00:00Z) or a relative duration (30d, 12h)`,
    );
  }
  const t = Date.parse(value.trim());
  if (Number.isNaN(t)) throw new UsageError(`${flag} ${value}: not a valid date`);
  return t;
}

/** Read an exclude-sessions file: one id per line (`#` comments) or a JSON array. */
export async function readSessionIdList(file: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--exclude-sessions: cannot read the file: ${(err as Error).message}`, { file });
  }
  if (text.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`not valid JSON: ${failureReason(err)}; expected ["ses_...", ...] or one id per line`, { file });
    }
    const ids = parsed as unknown[];
    ids.forEach((id, i) => {
      if (typeof id !== 'string') throw new UsageError(`item ${i} is not a string session id`, { file });
    });
    return new Set(ids as string[]);
  }
  const ids = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line !== '' && !line.startsWith('#')) ids.add(line);
  }
  return ids;
}

interface RowFilter {
  name: FilterName;
  flag: string;
  /** The field, for the missing-field message. */
  field: string;
  /** undefined = the row lacks the field. */
  read(step: Step): Json | undefined;
  test(value: Json | undefined, step: Step): boolean;
}

function oneOf(values: string[]): (v: Json | undefined) => boolean {
  const set = new Set(values);
  return (v) => typeof v === 'string' && set.has(v);
}

function buildRowFilters(opts: FilterOptions): RowFilter[] {
  const filters: RowFilter[] = [];
  const ctx = (name: FilterName, flag: string, field: string, test: RowFilter['test']): RowFilter => ({
    name,
    flag,
    field: `context.${field}`,
    read: (s) => contextField(s, field),
    test,
  });
  if (opts.workflow?.length) filters.push(ctx('workflow', '--workflow', 'workflow', oneOf(opts.workflow)));
  if (opts.outcome?.length) filters.push(ctx('outcome', '--outcome', 'outcome', oneOf(opts.outcome)));
  if (opts.actorKind?.length) filters.push(ctx('actor_kind', '--actor-kind', 'actor.kind', oneOf(opts.actorKind)));
  if (opts.tag?.length) {
    const wanted = new Set(opts.tag);
    filters.push(ctx('tag', '--tag', 'tags', (v) => Array.isArray(v) && v.some((t) => typeof t === 'string' && wanted.has(t))));
  }
  if (opts.path?.length) filters.push(ctx('path', '--path', 'path', oneOf(opts.path)));
  const startedAt = (bound: number, cmp: (t: number, b: number) => boolean) => (v: Json | undefined, step: Step) => {
    if (v === undefined || v === null) return false;
    const t = typeof v === 'string' ? Date.parse(v) : NaN;
    if (Number.isNaN(t)) {
      // A bad timestamp is a data problem, not a row the time window excludes.
      throw new InputError(`context.started_at must be an ISO timestamp, got ${JSON.stringify(v)}`, {
        file: step.origin.file,
        row: stepLocation(step),
      });
    }
    return cmp(t, bound);
  };
  if (opts.since !== undefined) {
    const bound = parseTimeBound(opts.since, '--since', opts.referenceTime);
    filters.push(
      ctx(
        'since',
        '--since',
        'started_at',
        startedAt(bound, (t, b) => t >= b),
      ),
    );
  }
  if (opts.until !== undefined) {
    const bound = parseTimeBound(opts.until, '--until', opts.referenceTime);
    filters.push(
      ctx(
        'until',
        '--until',
        'started_at',
        startedAt(bound, (t, b) => t < b),
      ),
    );
  }
  return filters;
}

/** The filters in words, for the dataset card and manifest ("workflow in [a, b]; since 2026-01-01"). */
export function describeFilters(opts: FilterOptions): string {
  const parts: string[] = [];
  const list = (label: string, v?: string[]) => v?.length && parts.push(`${label} in [${v.join(', ')}]`);
  list('workflow', opts.workflow);
  list('outcome', opts.outcome);
  list('actor.kind', opts.actorKind);
  list('tag', opts.tag);
  list('path', opts.path);
  // Relative bounds are shown with the instant they resolve to, so the card says what was selected.
  const bound = (v: string, flag: string) => {
    const t = parseTimeBound(v, flag, opts.referenceTime);
    return /^\d{4}-/.test(v.trim()) ? v : `${new Date(t).toISOString()} (${v} before created_at)`;
  };
  if (opts.since !== undefined) parts.push(`started_at >= ${bound(opts.since, '--since')}`);
  if (opts.until !== undefined) parts.push(`started_at < ${bound(opts.until, '--until')}`);
  if (opts.minDurationMs !== undefined) parts.push(`duration_ms >= ${opts.minDurationMs}`);
  if (opts.maxDurationMs !== undefined) parts.push(`duration_ms <= ${opts.maxDurationMs}`);
  if (opts.excludeSessionsFile !== undefined) parts.push(`excluding sessions listed in ${opts.excludeSessionsFile.split(/[\\/]/).pop()}`);
  if (opts.excludeSessionIds !== undefined) parts.push('excluding listed sessions');
  const frames = opts.frames === undefined ? undefined : describeFrameSampling(parseFrameSampling(opts.frames));
  if (frames !== undefined) parts.push(frames);
  return parts.length ? parts.join('; ') : 'none';
}

function checkDuration(v: number | undefined, flag: string): void {
  if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new UsageError(`${flag}: expected a number of milliseconds >= 0, got ${v}`);
}

/**
 * Filter a Step stream. Options are validated before the first row is read (bad flags fail fast);
 * a filter on a field the first row lacks is a UsageError naming that row.
 */
export async function* filterSteps(
  steps: AsyncIterable<Step>,
  opts: FilterOptions,
  stats: FilterStats = emptyFilterStats(),
): AsyncIterable<Step> {
  checkDuration(opts.minDurationMs, '--min-duration-ms');
  checkDuration(opts.maxDurationMs, '--max-duration-ms');
  const sampling = parseFrameSampling(opts.frames ?? 'all');
  const sampler = createFrameSampler(sampling, opts.maxFramePixels);
  const rowFilters = buildRowFilters(opts);
  const excluded = new Set<string>(opts.excludeSessionIds ?? []);
  if (opts.excludeSessionsFile !== undefined) for (const id of await readSessionIdList(opts.excludeSessionsFile)) excluded.add(id);
  const byDuration = opts.minDurationMs !== undefined || opts.maxDurationMs !== undefined;
  const actionOnly = sampling.mode === 'action-only';

  let first = true;
  let lastSessionIn: string | undefined;
  let lastSessionOut: string | undefined;

  /** The first rejecting filter, or undefined when the row passes. */
  const reject = (step: Step, durationOk: boolean): FilterName | undefined => {
    if (first) {
      for (const f of rowFilters) {
        const v = f.read(step);
        if (v === undefined || v === null) {
          throw new UsageError(`${f.flag} needs ${f.field}, which the rows of this export do not have (first row: ${stepLocation(step)})`, {
            file: step.origin.file,
          });
        }
      }
    }
    if (excluded.has(step.session_id)) return 'exclude_sessions';
    for (const f of rowFilters) if (!f.test(f.read(step), step)) return f.name;
    if (!durationOk) return 'duration';
    if (actionOnly && !hasAction(step)) return 'frames';
    return undefined;
  };

  /** Counts the row as dropped (by `why`) or kept; true when kept. */
  function counted(step: Step, why: FilterName | undefined): boolean {
    if (why !== undefined) {
      stats.dropped[why]++;
      return false;
    }
    stats.rowsOut++;
    if (step.session_id !== lastSessionOut) {
      stats.sessionsOut++;
      lastSessionOut = step.session_id;
    }
    return true;
  }

  function* emit(step: Step, durationOk: boolean): Generator<Step> {
    const why = reject(step, durationOk);
    first = false;
    if (counted(step, why)) yield step;
  }

  /** With a frame sampler: it sees only the rows the other filters kept. */
  async function* emitSampled(step: Step, durationOk: boolean): AsyncGenerator<Step> {
    let why = reject(step, durationOk);
    first = false;
    if (why === undefined && !(await sampler!.keep(step, hasAction(step)))) why = 'frames';
    if (counted(step, why)) yield step;
  }

  const durationOk = (session: Step[]): boolean => {
    const d = session[session.length - 1]!.t_ms - session[0]!.t_ms;
    return (opts.minDurationMs === undefined || d >= opts.minDurationMs) && (opts.maxDurationMs === undefined || d <= opts.maxDurationMs);
  };

  let buffer: Step[] = [];
  for await (const step of sampler?.ahead ? sampler.ahead(steps) : steps) {
    stats.rowsIn++;
    if (step.session_id !== lastSessionIn) {
      stats.sessionsIn++;
      if (byDuration && buffer.length) {
        const ok = durationOk(buffer);
        for (const s of buffer) yield* sampler ? emitSampled(s, ok) : emit(s, ok);
        buffer = [];
      }
      lastSessionIn = step.session_id;
    }
    if (byDuration) {
      if (typeof step.t_ms !== 'number' || !Number.isFinite(step.t_ms)) {
        throw new InputError(`t_ms must be a number for --min/--max-duration-ms, got ${JSON.stringify(step.t_ms)}`, {
          file: step.origin.file,
          row: stepLocation(step),
        });
      }
      buffer.push(step);
    } else {
      yield* sampler ? emitSampled(step, true) : emit(step, true);
    }
  }
  if (byDuration && buffer.length) {
    const ok = durationOk(buffer);
    for (const s of buffer) yield* sampler ? emitSampled(s, ok) : emit(s, ok);
  }
}
