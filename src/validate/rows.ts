/**
 * Row checks shared by every format: order and step contiguity within a split, ClassLabel ranges,
 * coordinates against the stored frame, normalized coordinates, frame size vs the row, leakage
 * (a session or an identical frame in two splits) and privacy in text fields. Rows arrive in file
 * order, files in split order, so every finding is deterministic.
 */
import type { Findings } from './report.ts';
import type { DuplicateOf } from './frame-dedupe.ts';
import type { FrameInfo } from './frame-pool.ts';
import { scanFields } from './privacy.ts';
import type { PrivacyTexts } from './privacy.ts';

export interface RowLocation {
  file: string;
  row?: number;
  member?: string;
}

export interface ActionLike {
  x?: number | null;
  y?: number | null;
  x_norm?: number | null;
  y_norm?: number | null;
  to_x?: number | null;
  to_y?: number | null;
}

export interface VRow {
  /** Which copy of the data (parquet, arrow, jsonl, webdataset): checks across splits stay per copy. */
  format: string;
  split: string;
  loc: RowLocation;
  session_id: string | null;
  step: number | null;
  t_ms: number | null;
  viewport: { w: number; h: number } | null;
  action: ActionLike | null;
  /** ClassLabel ids by column name (`action.type`, `outcome`, ...). */
  labels: Record<string, number | null>;
  /** Text fields to scan for unmasked values (the one list in privacy.ts). */
  texts: PrivacyTexts;
  frame: FrameInfo | null;
  /** The same frame bytes were first seen in another split (set with the frame). */
  duplicateOf?: DuplicateOf | null;
}

export interface RowCheckOptions {
  /** ClassLabel column → number of names. */
  labelSizes: Record<string, number>;
  /** Frames stored as captured: their size must equal the viewport. */
  passthrough: boolean;
  /** Split order (index = rank) for reporting leakage in the later split. */
  splitOrder: string[];
}

const describe = (r: VRow): string => `session ${r.session_id} t_ms ${r.t_ms}`;

export class RowChecks {
  private last = new Map<string, { session: string; t: number; step: number } | null>();
  private sessionSplit = new Map<string, string>();
  private reportedLeaks = new Set<string>();

  constructor(
    private readonly f: Findings,
    private readonly opts: RowCheckOptions,
  ) {}

  /** A row that could not be read (reported elsewhere): the next row is not compared to a gap. */
  unreadable(format: string, split: string): void {
    this.last.set(`${format}\0${split}`, null);
  }

  row(r: VRow): void {
    const f = this.f;
    const at = r.loc;
    // Order and steps, per format + split.
    const key = `${r.format}\0${r.split}`;
    if (r.session_id !== null && r.t_ms !== null) {
      const gap = this.last.get(key) === null;
      const prev = this.last.get(key) ?? undefined;
      if (prev && (r.session_id < prev.session || (r.session_id === prev.session && r.t_ms <= prev.t))) {
        f.add('rows.order', { ...at, message: `${describe(r)} comes after session ${prev.session} t_ms ${prev.t}` });
      }
      if (r.step !== null && !gap) {
        const expected = prev && prev.session === r.session_id ? prev.step + 1 : 0;
        if (r.step !== expected && !(prev && r.session_id < prev.session)) {
          f.add('rows.step_gap', { ...at, message: `${describe(r)} has step ${r.step}, expected ${expected}` });
        }
      }
      this.last.set(key, { session: r.session_id, t: r.t_ms, step: r.step ?? 0 });
      // Leakage: a session seen in another split of the same copy.
      const sk = `${r.format}\0${r.session_id}`;
      const first = this.sessionSplit.get(sk);
      if (first === undefined) this.sessionSplit.set(sk, r.split);
      else if (first !== r.split && !this.reportedLeaks.has(`${sk}\0${r.split}`)) {
        this.reportedLeaks.add(`${sk}\0${r.split}`);
        f.add('leakage.session_in_two_splits', { ...at, message: `session ${r.session_id} is in ${first} and ${r.split}` });
      }
    }
    for (const [col, id] of Object.entries(r.labels)) {
      const n = this.opts.labelSizes[col];
      if (id === null || id === undefined || n === undefined) continue;
      if (!Number.isInteger(id) || id < 0 || id >= n) {
        f.add('rows.classlabel_out_of_range', { ...at, message: `${describe(r)}: ${col} = ${id}, but the vocabulary has ${n} names` });
      }
    }
    const fr = r.frame;
    if (fr && !fr.ok) {
      f.add('frame.undecodable', { ...at, message: `${describe(r)}: ${fr.message}` });
    } else if (fr?.ok) {
      f.format(r.format).frames++;
      this.frameChecks(r, fr);
    }
    f.stats.masked += scanFields(r.texts, (field, hit) =>
      f.add(hit.id, { ...at, message: `${describe(r)}: field ${field}: ${hit.excerpt}` }),
    );
  }

  private frameChecks(r: VRow, fr: Extract<FrameInfo, { ok: true }>): void {
    const f = this.f;
    const at = r.loc;
    const { width: w, height: h } = fr;
    const vp = r.viewport;
    if (vp && (this.opts.passthrough ? vp.w !== w || vp.h !== h : Math.abs(vp.w / vp.h - w / h) > 0.02)) {
      f.add('frame.size_mismatch', {
        ...at,
        message: `${describe(r)}: the frame is ${w}x${h} but the row's viewport is ${vp.w}x${vp.h}${this.opts.passthrough ? ' (frames are stored as captured)' : ' (aspect differs)'}`,
      });
    }
    const a = r.action;
    if (a) {
      const outside: string[] = [];
      for (const [name, v, lim] of [
        ['x', a.x, w],
        ['y', a.y, h],
        ['to_x', a.to_x, w],
        ['to_y', a.to_y, h],
      ] as const) {
        if (typeof v === 'number' && (v < 0 || v >= lim)) outside.push(`${name}=${v}`);
      }
      if (outside.length)
        f.add('rows.coord_outside_image', { ...at, message: `${describe(r)}: ${outside.join(', ')} outside the ${w}x${h} frame` });
      const bad: string[] = [];
      if (typeof a.x === 'number' && typeof a.x_norm === 'number' && Math.abs(a.x_norm * w - a.x) > 1)
        bad.push(`x_norm=${a.x_norm} vs x/width=${(a.x / w).toFixed(4)}`);
      if (typeof a.y === 'number' && typeof a.y_norm === 'number' && Math.abs(a.y_norm * h - a.y) > 1)
        bad.push(`y_norm=${a.y_norm} vs y/height=${(a.y / h).toFixed(4)}`);
      if (bad.length) f.add('rows.norm_inconsistent', { ...at, message: `${describe(r)}: ${bad.join(', ')}` });
    }
    const dup = r.duplicateOf;
    if (dup)
      f.add('leakage.duplicate_frame', {
        ...at,
        message: `${describe(r)}: the same frame (sha256 ${dup.hash.slice(0, 16)}…) is also in ${dup.split}`,
      });
  }
}
