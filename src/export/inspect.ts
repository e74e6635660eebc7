/**
 * `inspect`: read a whole export and report what a user checks first — counts, label spreads,
 * viewport sizes, frames that are missing or not images, and whether the manifest's counts match.
 * Streams the export; memory is bounded by the number of distinct labels.
 */
import { abortError, throwIfAborted } from '../abort.ts';
import { InputError } from '../errors.ts';
import { probeImage } from '../frames/probe.ts';
import { plural } from '../plural.ts';
import { checkManifestCounts, mismatchText } from './manifest-check.ts';
import type { ManifestCheck } from './manifest-check.ts';
import { frameSizeProblem, resolveLimits } from '../limits.ts';
import { openExport } from './read.ts';
import type { OpenExportOptions } from './read.ts';
import { hasAction, stepLocation } from './step.ts';
import type { Source } from '../source/types.ts';

export type { ManifestCheck };

export interface FrameProblem {
  /** `session ses_01 t_ms 1200` */
  step: string;
  file: string;
  ref: string;
  problem: 'missing' | 'unreadable';
  message: string;
}

export interface InspectReport {
  /** The export root as given. */
  export: string;
  export_id: string;
  workflow: string;
  format: string;
  /** Data files read, in order. */
  files: string[];
  rows: number;
  sessions: number;
  /** Rows that reference a frame (embedded or by URL). */
  frames: number;
  actions: number;
  workflows: Record<string, number>;
  outcomes: Record<string, number>;
  actor_kinds: Record<string, number>;
  action_types: Record<string, number>;
  /** `1440x900` → rows. */
  viewports: Record<string, number>;
  /** Decoded image format (sharp) → frames. */
  image_formats: Record<string, number>;
  frames_missing: number;
  frames_unreadable: number;
  /** The first problems, to show where. */
  frame_problems: FrameProblem[];
  manifest: ManifestCheck[];
  manifest_matches: boolean;
  /** Rows that could not be read (bad JSON, missing fields, out of order...); 0 unless `badRows: 'report'`. */
  bad_rows: number;
  /** The first bad rows' messages (file and line), at most MAX_PROBLEMS. */
  row_problems: string[];
  /** Everything checked out: the manifest matches, every row and every frame reads. `inspect` exits 0 exactly then. */
  consistent: boolean;
}

export interface InspectOptions extends Pick<OpenExportOptions, 'limits' | 'allowRemote' | 'fetch'> {
  /**
   * 'report': count bad rows and go on, showing the first MAX_PROBLEMS (the `inspect` command);
   * 'throw' (default): the first bad row ends the read with its InputError.
   */
  badRows?: 'report' | 'throw';
  /** Stops the read: inspect then rejects with an AbortError (src/abort.ts). */
  signal?: AbortSignal;
}

/** Bad rows and frame problems shown, each; all are counted. */
const MAX_PROBLEMS = 20;
const UNSET = '(none)';

export function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** Counts as an object with keys in sorted order, so output is the same run after run. */
export function sorted(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!;
  return out;
}

/** A label as counted in the spreads: the string, `(none)` when absent, else its JSON. */
export function label(v: unknown): string {
  return typeof v === 'string' && v !== '' ? v : v === undefined || v === null ? UNSET : JSON.stringify(v);
}

/** `opts`: input limits, allowed remote hosts, and whether bad rows stop the read or are counted. */
export async function inspectExport(root: string | Source, opts: InspectOptions = {}): Promise<InspectReport> {
  const { signal } = opts;
  throwIfAborted(signal);
  const limits = resolveLimits(opts.limits);
  const reader = await openExport(root, {
    limits,
    allowRemote: opts.allowRemote ?? [],
    fetch: opts.fetch,
    ...(opts.badRows === 'report' ? { onError: () => 'skip' as const } : {}),
  });
  const { manifest } = reader;
  let rows = 0;
  let sessions = 0;
  let frames = 0;
  let actions = 0;
  let missing = 0;
  let unreadable = 0;
  let lastSession: string | undefined;
  const problems: FrameProblem[] = [];
  const workflows = new Map<string, number>();
  const outcomes = new Map<string, number>();
  const actors = new Map<string, number>();
  const types = new Map<string, number>();
  const viewports = new Map<string, number>();
  const formats = new Map<string, number>();

  for await (const step of reader.steps()) {
    if (signal?.aborted) throw abortError(signal);
    rows++;
    if (step.session_id !== lastSession) {
      sessions++;
      lastSession = step.session_id;
    }
    if (hasAction(step)) actions++;
    bump(types, label(step.action.type));
    bump(workflows, label(step.context.workflow));
    bump(outcomes, label(step.context.outcome));
    const actor = step.context.actor;
    bump(actors, label(actor && typeof actor === 'object' && !Array.isArray(actor) ? actor.kind : actor));
    bump(viewports, `${step.frame.viewport.w}x${step.frame.viewport.h}`);
    if (step.image.ref === '') continue;
    frames++;
    const problem = (kind: FrameProblem['problem'], message: string): void => {
      if (kind === 'missing') missing++;
      else unreadable++;
      if (problems.length < MAX_PROBLEMS) {
        problems.push({ step: stepLocation(step), file: step.origin.file, ref: step.image.ref, problem: kind, message });
      }
    };
    let bytes: Uint8Array;
    try {
      bytes = await step.image.read();
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      problem('missing', err.message);
      continue;
    }
    try {
      // Header only: cheap, and enough to tell an image from anything else. No pixel limit here:
      // the frame limits below say why a frame is too large, naming the flag that raises them.
      const probe = await probeImage(bytes);
      const tooBig = frameSizeProblem(probe.width, probe.height, step.frame.viewport, limits);
      if (tooBig) {
        problem('unreadable', `${step.origin.file}: ${stepLocation(step)}: frame ${step.image.ref}: ${tooBig}`);
        continue;
      }
      bump(formats, probe.format);
    } catch (err) {
      problem(
        'unreadable',
        `${step.origin.file}: ${stepLocation(step)}: frame ${step.image.ref} is not a readable image (${(err as Error).message})`,
      );
    }
  }

  // The manifest counts every row the exporter wrote, bad ones included.
  const badRows = reader.skipped.count;
  const checks = checkManifestCounts(manifest, { rows: rows + badRows, sessions, frames, actions, shards: reader.files.length });
  const manifestMatches = checks.every((c) => c.ok);
  return {
    export: typeof root === 'string' ? root : root.root,
    export_id: manifest.export_id,
    workflow: manifest.workflow,
    format: manifest.format,
    files: reader.files.map((f) => f.path),
    rows,
    sessions,
    frames,
    actions,
    workflows: sorted(workflows),
    outcomes: sorted(outcomes),
    actor_kinds: sorted(actors),
    action_types: sorted(types),
    viewports: sorted(viewports),
    image_formats: sorted(formats),
    frames_missing: missing,
    frames_unreadable: unreadable,
    frame_problems: problems,
    manifest: checks,
    manifest_matches: manifestMatches,
    bad_rows: badRows,
    row_problems: reader.skipped.examples.slice(0, MAX_PROBLEMS),
    consistent: manifestMatches && badRows === 0 && reader.skipped.examples.length === 0 && missing === 0 && unreadable === 0,
  };
}

/** Whether `inspect` exits 0: the manifest matches and every row and frame reads. */
export function inspectPassed(r: InspectReport): boolean {
  return r.consistent;
}

/** The differences a failing report has, one line each. */
export function inspectFailures(r: InspectReport): string[] {
  const out = r.manifest.filter((c) => !c.ok).map(mismatchText);
  // The first problem of each kind, in full: its message names the file and the step.
  const first = (kind: FrameProblem['problem']) => r.frame_problems.find((p) => p.problem === kind)?.message;
  // A file that breaks part-way may lose rows nothing counts: its problem is still shown.
  if (r.bad_rows || r.row_problems.length) {
    out.push(
      `${r.bad_rows ? `${plural(r.bad_rows, 'row')} not readable` : 'a data file not readable to its end'}; first: ${r.row_problems[0]}`,
    );
  }
  if (r.frames_missing) out.push(`${plural(r.frames_missing, 'frame')} missing; first: ${first('missing')}`);
  if (r.frames_unreadable)
    out.push(
      `${plural(r.frames_unreadable, 'frame')} not readable as ${r.frames_unreadable === 1 ? 'an image' : 'images'} or over the frame limits; first: ${first('unreadable')}`,
    );
  return out;
}

/** The human report: aligned label/value lines. */
export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${k.padEnd(14)}${v}`);
  const spread = (m: Record<string, number>) => {
    const e = Object.entries(m);
    return e.length ? e.map(([k, n]) => `${k} ${n}`).join(' · ') : '-';
  };
  row('export', `${r.export}  (${r.export_id}, ${r.format})`);
  row('data files', `${r.files.length}`);
  row('rows', `${r.rows}`);
  row('sessions', `${r.sessions}`);
  row('frames', `${r.frames}  (missing ${r.frames_missing}, unreadable ${r.frames_unreadable})`);
  row('actions', `${r.actions}`);
  if (r.bad_rows) row('bad rows', `${r.bad_rows}`);
  lines.push('');
  row('workflow', spread(r.workflows));
  row('outcome', spread(r.outcomes));
  row('actor kind', spread(r.actor_kinds));
  row('action type', spread(r.action_types));
  row('viewport', spread(r.viewports));
  row('image format', spread(r.image_formats));
  if (r.row_problems.length) {
    lines.push('');
    lines.push('row problems' + (r.row_problems.length < r.bad_rows ? ` (first ${r.row_problems.length} of ${r.bad_rows})` : ''));
    for (const p of r.row_problems) lines.push(`  ${p}`);
  }
  if (r.frame_problems.length) {
    lines.push('');
    lines.push(
      'frame problems' + (r.frame_problems.length < r.frames_missing + r.frames_unreadable ? ` (first ${r.frame_problems.length})` : ''),
    );
    for (const p of r.frame_problems) lines.push(`  ${p.problem.padEnd(11)}${p.message}`);
  }
  lines.push('');
  const w = Math.max(8, ...r.manifest.map((c) => String(c.manifest).length)) + 2;
  lines.push(`${'manifest'.padEnd(14)}${'field'.padEnd(9)}${'manifest'.padEnd(w)}${'read'.padEnd(w)}`);
  for (const c of r.manifest) {
    lines.push(
      `${''.padEnd(14)}${c.field.padEnd(9)}${String(c.manifest).padEnd(w)}${String(c.actual).padEnd(w)}${c.ok ? 'ok' : 'DIFFERS'}`,
    );
  }
  lines.push('');
  row('consistent', r.consistent ? 'yes' : `no (${inspectFailures(r).join('; ')})`);
  return lines.join('\n') + '\n';
}
