import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.ts';
import type { Action, Step } from '../src/export/step.ts';
import { describeFilters, emptyFilterStats, filterSteps, parseTimeBound } from '../src/select/filters.ts';
import type { FilterOptions } from '../src/select/filters.ts';

interface Spec {
  session: string;
  times: number[];
  context?: Record<string, unknown>;
  actions?: (Action | null)[];
}

function makeSteps(specs: Spec[]): Step[] {
  const out: Step[] = [];
  for (const s of specs) {
    s.times.forEach((t_ms, i) => {
      out.push({
        session_id: s.session,
        t_ms,
        frame: { viewport: { w: 1440, h: 900 }, dom: null, accessibility_tree: null },
        action: (s.actions ? s.actions[i] : { type: 'click', x: 1, y: 1 }) as Action,
        context: { prior_action: null, ...s.context } as Step['context'],
        extra: {},
        image: { ref: 'r', ext: 'webp', read: async () => new Uint8Array() },
        origin: { file: 'data/part-0.jsonl', line: out.length + 1 },
      });
    });
  }
  return out;
}

async function* stream<T>(xs: T[]): AsyncIterable<T> {
  for (const x of xs) yield x;
}

async function run(steps: Step[], opts: FilterOptions) {
  const stats = emptyFilterStats();
  const kept: string[] = [];
  for await (const s of filterSteps(stream(steps), opts, stats)) kept.push(`${s.session_id}@${s.t_ms}`);
  return { kept, stats };
}

const full = (over: Record<string, unknown> = {}) => ({
  workflow: 'process_invoice',
  outcome: 'success',
  actor: { kind: 'human' },
  tags: ['v1'],
  path: 'p/approve',
  started_at: '2026-03-01T10:00:00Z',
  ...over,
});

const data = makeSteps([
  { session: 'a', times: [0, 1000, 5000], context: full() },
  {
    session: 'b',
    times: [0, 200],
    context: full({
      workflow: 'refund',
      outcome: 'error',
      actor: { kind: 'model' },
      tags: ['v2', 'hard'],
      path: 'p/reject',
      started_at: '2026-04-20T00:00:00Z',
    }),
  },
  {
    session: 'c',
    times: [0, 60_000],
    context: full({ outcome: 'abandoned', actor: { kind: 'script' }, tags: [], started_at: '2026-05-06T00:00:00Z' }),
  },
  { session: 'd', times: [0, 100, 200], context: full({ workflow: 'onboarding', tags: undefined, started_at: '2025-12-31T23:59:59Z' }) },
]);
const sessionsOf = (kept: string[]) => [...new Set(kept.map((k) => k.split('@')[0]))];

describe('filterSteps', () => {
  it('passes everything with no filters and counts rows and sessions', async () => {
    const { kept, stats } = await run(data, {});
    expect(kept.length).toBe(10);
    expect(stats).toMatchObject({ rowsIn: 10, rowsOut: 10, sessionsIn: 4, sessionsOut: 4 });
  });

  it('workflow (one or more), outcome, actor kind, tag, path', async () => {
    expect(sessionsOf((await run(data, { workflow: ['process_invoice'] })).kept)).toEqual(['a', 'c']);
    expect(sessionsOf((await run(data, { workflow: ['refund', 'onboarding'] })).kept)).toEqual(['b', 'd']);
    expect(sessionsOf((await run(data, { outcome: ['error', 'abandoned'] })).kept)).toEqual(['b', 'c']);
    expect(sessionsOf((await run(data, { actorKind: ['model'] })).kept)).toEqual(['b']);
    // d has no tags at all: it has none, so it does not match.
    expect(sessionsOf((await run(data, { tag: ['hard'] })).kept)).toEqual(['b']);
    expect(sessionsOf((await run(data, { tag: ['v1'] })).kept)).toEqual(['a']);
    expect(sessionsOf((await run(data, { path: ['p/reject'] })).kept)).toEqual(['b']);
  });

  it('combines filters with AND and counts each drop under the first rejecting filter', async () => {
    const { kept, stats } = await run(data, {
      workflow: ['process_invoice', 'refund'],
      outcome: ['success', 'error'],
      actorKind: ['human'],
    });
    expect(sessionsOf(kept)).toEqual(['a']);
    expect(stats.dropped.workflow).toBe(3); // d
    expect(stats.dropped.outcome).toBe(2); // c
    expect(stats.dropped.actor_kind).toBe(2); // b
    expect(stats.rowsIn - stats.rowsOut).toBe(Object.values(stats.dropped).reduce((a, b) => a + b, 0));
    expect(stats.sessionsOut).toBe(1);
  });

  it('since/until with ISO timestamps: since inclusive, until exclusive', async () => {
    expect(sessionsOf((await run(data, { since: '2026-01-01' })).kept)).toEqual(['a', 'b', 'c']);
    expect(sessionsOf((await run(data, { since: '2026-03-01T10:00:00Z', until: '2026-05-06T00:00:00Z' })).kept)).toEqual(['a', 'b']);
    const { stats } = await run(data, { until: '2026-04-01' });
    expect(stats.dropped.until).toBe(4);
  });

  it('a started_at that is not a timestamp is an InputError naming the row', async () => {
    const bad = makeSteps([{ session: 'z', times: [0, 40], context: full() }]);
    bad[1]!.context['started_at'] = 'soon';
    await expect(run(bad, { since: '2026-01-01' })).rejects.toThrow(
      /data\/part-0\.jsonl: session z t_ms 40: context\.started_at must be an ISO timestamp, got "soon"/,
    );
  });

  it('relative since/until count back from the export created_at, not the clock', async () => {
    const referenceTime = '2026-05-07T14:08:11Z';
    expect(sessionsOf((await run(data, { since: '30d', referenceTime })).kept)).toEqual(['b', 'c']);
    expect(sessionsOf((await run(data, { since: '2d', referenceTime })).kept)).toEqual(['c']);
    expect(sessionsOf((await run(data, { until: '48h', referenceTime })).kept)).toEqual(['a', 'b', 'd']);
    expect(parseTimeBound('1w', '--since', '2026-01-08T00:00:00Z')).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(() => parseTimeBound('30d', '--since')).toThrow(/created_at/);
    expect(() => parseTimeBound('yesterday', '--since', referenceTime)).toThrow(UsageError);
  });

  it('min/max duration is per session (last t_ms - first t_ms), inclusive', async () => {
    const min = await run(data, { minDurationMs: 5000 });
    expect(sessionsOf(min.kept)).toEqual(['a', 'c']);
    expect(min.kept).toEqual(['a@0', 'a@1000', 'a@5000', 'c@0', 'c@60000']);
    expect(min.stats.dropped.duration).toBe(5);
    expect(sessionsOf((await run(data, { maxDurationMs: 200 })).kept)).toEqual(['b', 'd']);
    expect(sessionsOf((await run(data, { minDurationMs: 200, maxDurationMs: 5000 })).kept)).toEqual(['a', 'b', 'd']);
    // Duration is the session's as read, even when other filters drop some of its rows.
    const steps = makeSteps([
      { session: 'x', times: [0, 10, 9000], context: full(), actions: [{ type: 'click' }, { type: 'click' }, null] },
    ]);
    expect((await run(steps, { minDurationMs: 9000, frames: 'action-only' })).kept).toEqual(['x@0', 'x@10']);
  });

  it('excludes sessions from a file (lines or JSON) and from ids', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'filters-'));
    const lines = path.join(dir, 'exclude.txt');
    await writeFile(lines, '# bad runs\na\n\nc\n');
    const json = path.join(dir, 'exclude.json');
    await writeFile(json, '["b"]');
    const r = await run(data, { excludeSessionsFile: lines });
    expect(sessionsOf(r.kept)).toEqual(['b', 'd']);
    expect(r.stats.dropped.exclude_sessions).toBe(5);
    expect(sessionsOf((await run(data, { excludeSessionsFile: json, excludeSessionIds: ['d'] })).kept)).toEqual(['a', 'c']);
    await expect(run(data, { excludeSessionsFile: path.join(dir, 'missing.txt') })).rejects.toThrow(UsageError);
  });

  it('frames action-only drops rows without an action', async () => {
    const steps = makeSteps([
      {
        session: 's',
        times: [0, 1, 2, 3, 4, 5],
        context: full(),
        actions: [{ type: 'click' }, null, { type: 'none' }, { type: 'frame' }, { type: 'wait' }, { x: 1 } as unknown as Action],
      },
    ]);
    const r = await run(steps, { frames: 'action-only' });
    expect(r.kept).toEqual(['s@0', 's@4']);
    expect(r.stats.dropped.frames).toBe(4);
    expect((await run(steps, { frames: 'all' })).kept.length).toBe(6);
  });

  it('a filter on a field the rows lack is a UsageError naming the first row', async () => {
    const bare = makeSteps([{ session: 'ses_1', times: [1200, 1300], context: { workflow: 'w' } }]);
    const cases: [FilterOptions, RegExp][] = [
      [{ tag: ['x'] }, /--tag needs context\.tags, which the rows of this export do not have \(first row: session ses_1 t_ms 1200\)/],
      [{ actorKind: ['human'] }, /--actor-kind needs context\.actor\.kind/],
      [{ outcome: ['success'] }, /--outcome needs context\.outcome/],
      [{ path: ['p'] }, /--path needs context\.path/],
      [{ since: '2026-01-01' }, /--since needs context\.started_at/],
      [{ until: '2026-01-01', minDurationMs: 0 }, /--until needs context\.started_at/],
    ];
    for (const [opts, re] of cases) {
      const err = await run(bare, opts).catch((e: unknown) => e);
      expect(err, JSON.stringify(opts)).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toMatch(/^data\/part-0\.jsonl: /);
    }
    // Even when the first row is excluded by another filter.
    const err = await run(bare, { excludeSessionIds: ['ses_1'], tag: ['x'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
  });

  it('rejects bad options before reading', async () => {
    await expect(run(data, { minDurationMs: -1 })).rejects.toThrow(/--min-duration-ms/);
    await expect(run(data, { frames: 'some' as never })).rejects.toThrow(/--frames/);
  });

  it('describes the filters in words', () => {
    expect(describeFilters({})).toBe('none');
    expect(describeFilters({ workflow: ['a', 'b'], since: '30d', referenceTime: '2026-05-07T14:08:11Z', frames: 'action-only' })).toBe(
      'workflow in [a, b]; started_at >= 2026-04-07T14:08:11.000Z (30d before created_at); action frames only',
    );
    expect(describeFilters({ until: '2026-01-01', minDurationMs: 1000 })).toBe('started_at < 2026-01-01; duration_ms >= 1000');
  });
});
