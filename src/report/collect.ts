/**
 * One pass over the rows: counts (as `inspect` counts them), sessions, click heatmaps, player
 * timelines and the frame sample. The sample is whole sessions in the order of a hash of their id
 * (the first one that does not fit is cut short), up to `maxFrames` frames: the same input gives
 * the same sample. A thumbnail costs ~30-50 ms of CPU (decoding the frame), so a sampled row is kept
 * (not its frame) and thumbnailed once its session is surely wanted: after the pass, or while
 * reading when its hash is under a threshold sized from the row count the manifest announces
 * (EAGER_SHARE × maxFrames rows' worth), so thumbnails overlap the reading; a queued thumbnail of a
 * session pushed out by a smaller hash never runs. Memory is bounded by the sample (its rows, and
 * THUMB_CONCURRENCY frames in flight), MAX_LISTED_SESSIONS, MAX_TIMELINE_STEPS and MAX_HEATMAPS
 * (plus two numbers per session).
 */
import { createHash } from 'node:crypto';
import { releaseFrame } from '../buffers/index.ts';
import { bump, sorted } from '../export/inspect.ts';
import type { InputLimits } from '../limits.ts';
import type { Point, ReportAction, ReportRow } from './model.ts';
import { JobQueue, THUMB_CONCURRENCY, makeThumb } from './thumbs.ts';
import type { Thumb } from './thumbs.ts';

/** Player timeline steps kept for sessions outside the frame sample (the sample's are always kept). */
export const MAX_TIMELINE_STEPS = 100_000;
/** Sessions listed in the player (and data.js); beyond it sessions are counted, not listed. */
export const MAX_LISTED_SESSIONS = 100_000;
/**
 * Sessions thumbnailed while read: those whose hash is under (this × maxFrames / announced rows),
 * about the sample's worth; the rest of the sample is thumbnailed after the pass. Larger overlaps
 * more of the thumbnails with the reading, but a session under it that a smaller hash pushes out
 * later wastes the thumbnails already made.
 */
export const EAGER_SHARE = 1;
/** Viewport classes that get a heatmap (the first ones read); each holds a grid and a thumbnail. */
export const MAX_HEATMAPS = 16;
/** Heatmap grid, cells across and down. */
export const HEAT_COLS = 48;
export const HEAT_ROWS = 30;

/** Overlay geometry in [0, 1] of the frame. */
export interface Overlay {
  type: string;
  at: Point | null;
  to: Point | null;
  path: Point[];
  box: [number, number, number, number] | null;
  text: string | null;
  key: string | null;
  scroll: Point | null;
  target: string | null;
}

export interface SampledFrame {
  session: number;
  step: number;
  t_ms: number;
  split: string;
  workflow: string;
  outcome: string;
  type: string;
  thumb: Thumb;
  overlay: Overlay;
}

export interface TimelineStep {
  t_ms: number;
  action: string;
  prior: string;
}

export interface SessionInfo {
  id: string;
  split: string;
  workflow: string;
  outcome: string;
  actor_kind: string;
  steps: number;
  duration_ms: number;
  /** Null when the timeline budget ran out before this session. */
  timeline: TimelineStep[] | null;
  /** Index of this session's first frame in the sample, or -1. */
  firstFrame: number;
}

export interface HeatClass {
  viewport: string;
  clicks: number;
  cells: number[];
  /** The first frame of the sampled session with the smallest hash in this class: a typical screen (null: none sampled). */
  typical: Thumb | null;
}

export interface Collected {
  rows: number;
  sessions: number;
  frames: number;
  actions: number;
  splits: Record<string, { rows: number; sessions: number }>;
  workflows: Record<string, number>;
  outcomes: Record<string, number>;
  actor_kinds: Record<string, number>;
  action_types: Record<string, number>;
  viewports: Record<string, number>;
  /** The player's sessions: the first MAX_LISTED_SESSIONS in reading order. */
  sessionList: SessionInfo[];
  /** Steps and duration (ms) of every session, for the histograms. */
  lengths: number[];
  durations: number[];
  sample: SampledFrame[];
  heat: HeatClass[];
  /** Findings link targets: findingKey → [session index, step]. */
  linked: Map<string, [number, number]>;
  frameProblems: string[];
}

/** A sampled row: kept until its thumbnail is made, or its session leaves the sample. */
interface Candidate {
  row: ReportRow | null;
  step: number;
  /** The thumbnail job, once queued: the frame, or why it could not be read (null: cancelled). */
  done: Promise<SampledFrame | string | null> | null;
  dropped: boolean;
}

interface PendingSession {
  hash: string;
  index: number;
  viewport: string;
  eager: boolean;
  frames: Candidate[];
}

const hashOf = (id: string): string => createHash('sha256').update(id).digest('hex');

/** One line on an action, for the player and captions. */
export function describeAction(a: ReportAction): string {
  const parts = [a.type];
  if (a.at) parts.push(`(${a.at[0]}, ${a.at[1]})`);
  if (a.to) parts.push(`→ (${a.to[0]}, ${a.to[1]})`);
  if (a.target) parts.push(`on ${a.target}`);
  if (a.text !== null) parts.push(`"${a.text}"`);
  if (a.key !== null) parts.push(`key ${a.key}`);
  if (a.scroll) parts.push(`scroll ${a.scroll[0]}, ${a.scroll[1]}`);
  if (a.url !== null) parts.push(a.url);
  return parts.join(' ');
}

function overlayOf(a: ReportAction, space: { w: number; h: number }): Overlay {
  const n = (p: Point): Point => [p[0] / space.w, p[1] / space.h];
  return {
    type: a.type,
    at: a.at ? n(a.at) : a.norm,
    to: a.to ? n(a.to) : null,
    path: a.path.map(n),
    box: a.box ? [a.box[0] / space.w, a.box[1] / space.h, a.box[2] / space.w, a.box[3] / space.h] : null,
    text: a.text,
    key: a.key,
    scroll: a.scroll,
    target: a.target,
  };
}

const isClick = (type: string) => type === 'click' || type === 'double_click' || type === 'right_click';

/** A row's key as validate's row findings name it (`session <id> t_ms <t>` in their message). */
const rowKey = (session: string, t: number) => `${session}\0${t}`;

/** The row a finding names, as a key of `Collected.linked`; '' when it names none. */
export function findingKey(f: { message: string }): string {
  const m = /^session (\S+) t_ms (\d+)/.exec(f.message);
  return m ? rowKey(m[1]!, Number(m[2])) : '';
}

export interface CollectOptions {
  maxFrames: number;
  limits: InputLimits;
  /** findingKey of the rows findings name. */
  wanted: Set<string>;
  /** Rows the input announces (export or dataset manifest), to size the eager threshold; 0: unknown (all thumbnails after the pass). */
  expectedRows: number;
}

export async function collect(rows: AsyncIterable<ReportRow>, opts: CollectOptions): Promise<Collected> {
  const { maxFrames, limits } = opts;
  const splits = new Map<string, { rows: number; sessions: number }>();
  const workflows = new Map<string, number>();
  const outcomes = new Map<string, number>();
  const actors = new Map<string, number>();
  const types = new Map<string, number>();
  const viewports = new Map<string, number>();
  const sessionList: SessionInfo[] = [];
  const lengths: number[] = [];
  const durations: number[] = [];
  let sessions = 0;
  const heat = new Map<string, { clicks: number; cells: number[] }>();
  const eagerUnder = opts.expectedRows > 0 ? (EAGER_SHARE * maxFrames) / opts.expectedRows : 0;
  const linked = new Map<string, [number, number]>();
  const frameProblems: string[] = [];
  let rowCount = 0;
  let frames = 0;
  let timelineSteps = 0;

  // The sample: completed sessions in hash order, each with its frames.
  let chosen: PendingSession[] = [];
  const chosenFrames = () => chosen.reduce((n, s) => n + s.frames.length, 0);
  const queue = new JobQueue(THUMB_CONCURRENCY);
  let current: PendingSession | null = null;
  let currentInfo: SessionInfo | null = null;
  let mayJoin = false;
  let firstT = 0;
  let lastT = 0;
  let step = 0;

  const finishSession = (): void => {
    if (!current || !currentInfo) return;
    currentInfo.duration_ms = lastT - firstT;
    lengths.push(currentInfo.steps);
    durations.push(currentInfo.duration_ms);
    if (current.frames.length) {
      const all = [...chosen, current].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
      let budget = maxFrames;
      chosen = [];
      for (const s of all) {
        const keep = Math.max(0, Math.min(budget, s.frames.length));
        for (const c of s.frames.splice(keep)) drop(c);
        budget -= keep;
        if (keep) chosen.push(s);
      }
    }
    current = null;
  };

  const drop = (c: Candidate): void => {
    c.dropped = true;
    c.row = null;
  };

  const thumbOf = async (row: ReportRow): Promise<Thumb> => {
    const frame = await row.readFrame();
    try {
      return await makeThumb(frame, row.viewport, limits);
    } finally {
      // A local export's frame lives in a reader thread's slot: give it back.
      releaseFrame(frame);
    }
  };

  const sampled = async (c: Candidate, session: number): Promise<SampledFrame | string> => {
    const row = c.row!;
    c.row = null;
    try {
      const thumb = await thumbOf(row);
      // Re-encoded frames: the action's pixels are the stored image's.
      const space = row.space ? { w: thumb.frameW, h: thumb.frameH } : row.viewport;
      return {
        session,
        step: c.step,
        t_ms: row.t_ms,
        split: row.split,
        workflow: row.workflow,
        outcome: row.outcome,
        type: row.action.type,
        thumb,
        overlay: overlayOf(row.action, space),
      };
    } catch (err) {
      return `session ${row.session_id} t_ms ${row.t_ms}: ${(err as Error).message}`;
    }
  };

  const start = (c: Candidate, session: number): void => {
    c.done ??= queue.run(
      () => sampled(c, session),
      () => c.dropped,
    );
  };

  for await (const row of rows) {
    rowCount++;
    const vp = `${row.viewport.w}x${row.viewport.h}`;
    if (!currentInfo || row.session_id !== currentInfo.id || row.split !== currentInfo.split) {
      finishSession();
      const s = splits.get(row.split) ?? { rows: 0, sessions: 0 };
      s.sessions++;
      splits.set(row.split, s);
      const hash = hashOf(row.session_id);
      sessions++;
      const listed = sessionList.length < MAX_LISTED_SESSIONS;
      // Hashes as fractions of 2^52 in [0, 1): under `eagerUnder`, thumbnailed while read.
      const eager = Number.parseInt(hash.slice(0, 13), 16) / 2 ** 52 < eagerUnder;
      current = { hash, index: listed ? sessionList.length : -1, viewport: vp, eager, frames: [] };
      const last = chosen[chosen.length - 1];
      mayJoin = listed && maxFrames > 0 && (chosenFrames() < maxFrames || (last !== undefined && hash < last.hash));
      currentInfo = {
        id: row.session_id,
        split: row.split,
        workflow: row.workflow,
        outcome: row.outcome,
        actor_kind: row.actor_kind,
        steps: 0,
        duration_ms: 0,
        timeline: listed && (mayJoin || timelineSteps < MAX_TIMELINE_STEPS) ? [] : null,
        firstFrame: -1,
      };
      if (listed) sessionList.push(currentInfo);
      firstT = row.t_ms;
      step = 0;
    }
    const sessionIndex = current!.index;
    lastT = row.t_ms;
    splits.get(row.split)!.rows++;
    bump(workflows, row.workflow);
    bump(outcomes, row.outcome);
    bump(actors, row.actor_kind);
    bump(types, row.action.type);
    bump(viewports, vp);
    currentInfo.steps++;
    if (currentInfo.timeline) {
      currentInfo.timeline.push({
        t_ms: row.t_ms,
        action: describeAction(row.action),
        prior: row.prior ? describeAction(row.prior) : '',
      });
      timelineSteps++;
    }
    if (opts.wanted.size) {
      const key = rowKey(row.session_id, row.t_ms);
      if (sessionIndex >= 0 && opts.wanted.has(key)) linked.set(key, [sessionIndex, step]);
    }

    const space = row.space ?? row.viewport;
    let h = heat.get(vp);
    if (!h && heat.size < MAX_HEATMAPS) heat.set(vp, (h = { clicks: 0, cells: new Array(HEAT_COLS * HEAT_ROWS).fill(0) }));
    if (h && isClick(row.action.type)) {
      const p = row.action.norm ?? (row.action.at && space.w > 0 ? [row.action.at[0] / space.w, row.action.at[1] / space.h] : null);
      if (p && p[0] >= 0 && p[0] <= 1 && p[1] >= 0 && p[1] <= 1) {
        h.clicks++;
        h.cells[
          Math.min(HEAT_ROWS - 1, Math.floor(p[1] * HEAT_ROWS)) * HEAT_COLS + Math.min(HEAT_COLS - 1, Math.floor(p[0] * HEAT_COLS))
        ]!++;
      }
    }
    if (row.hasFrame) {
      frames++;
      if (mayJoin && current!.frames.length < maxFrames) {
        const c: Candidate = { row, step, done: null, dropped: false };
        current!.frames.push(c);
        if (current!.eager) start(c, sessionIndex);
      }
    }
    step++;
  }
  finishSession();

  // Sample order: by split and session as read, then step; frames that failed are left out. The
  // rest of the sample is queued in that order (a dataset's frames are read a row group at a time).
  const inOrder = [...chosen].sort((a, b) => a.index - b.index);
  for (const s of inOrder) for (const c of s.frames) start(c, s.index);
  const picked: SampledFrame[] = [];
  const thumbs = new Map<PendingSession, SampledFrame[]>();
  for (const s of inOrder) {
    const got: SampledFrame[] = [];
    for (const c of s.frames) {
      const done = await c.done;
      if (typeof done === 'string') {
        if (frameProblems.length < 20) frameProblems.push(done);
      } else if (done) got.push(done);
    }
    thumbs.set(s, got);
    picked.push(...got);
  }
  for (const [i, f] of picked.entries()) if (sessionList[f.session]!.firstFrame < 0) sessionList[f.session]!.firstFrame = i;

  // A typical screen per viewport: the first frame of the sampled session with the smallest hash.
  const typical = new Map<string, Thumb>();
  for (const sess of chosen) {
    if (typical.has(sess.viewport)) continue;
    const first = thumbs.get(sess)![0];
    if (first && first.step === sess.frames[0]!.step) typical.set(sess.viewport, first.thumb);
  }
  const heatList: HeatClass[] = [];
  for (const k of [...heat.keys()].sort()) {
    const h = heat.get(k)!;
    heatList.push({ viewport: k, clicks: h.clicks, cells: h.cells, typical: typical.get(k) ?? null });
  }
  return {
    rows: rowCount,
    sessions,
    frames,
    actions: rowCount,
    splits: Object.fromEntries(splits),
    workflows: sorted(workflows),
    outcomes: sorted(outcomes),
    actor_kinds: sorted(actors),
    action_types: sorted(types),
    viewports: sorted(viewports),
    sessionList,
    lengths,
    durations,
    sample: picked,
    heat: heatList,
    linked,
    frameProblems,
  };
}
