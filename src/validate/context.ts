/**
 * What every file checker shares: the source, findings, row checks, the frame pool, and what the
 * dataset manifest says (features, labels, image policy) when there is one.
 */
import { abortError } from '../abort.ts';
import type { InputLimits } from '../limits.ts';
import type { Source } from '../source/types.ts';
import type { FrameDedupe } from './frame-dedupe.ts';
import type { DecodeMode, FrameInfo, FramePool } from './frame-pool.ts';
import type { Findings } from './report.ts';
import type { RowChecks, VRow } from './rows.ts';

export type JsonFeatures = Record<string, unknown>;

export interface ValidateContext {
  source: Source;
  findings: Findings;
  rows: RowChecks;
  pool: FramePool;
  /** Identical frames across splits (rows must reach it in order). */
  dedupe: FrameDedupe;
  decode: DecodeMode;
  /** The manifest's features (`Features.to_dict()` form), or null for loose files. */
  features: JsonFeatures | null;
  worldSize: number;
  workers: number;
  /** Bounds on untrusted input (`--max-line-bytes`, ...); default DEFAULT_LIMITS. */
  limits?: InputLimits;
  /** Aborts the run: checked once per row (RowWindow) and per file. */
  signal?: AbortSignal;
}

export interface FileToCheck {
  path: string;
  split: string;
  size: number;
  /** Expected sha256 from dataset-manifest.json (null: none). */
  sha256: string | null;
  /** The size already differs from the manifest (reported once; no sha256 finding on top). */
  sizeMismatch?: boolean;
}

/** Keeps up to `size` rows waiting for their frame results, and checks rows in order. */
export class RowWindow {
  private readonly q: Array<{ row: VRow | null; frame: Promise<FrameInfo> | null }> = [];
  constructor(
    private readonly ctx: ValidateContext,
    private readonly format: string,
    private readonly split: string,
    private readonly size = 32,
  ) {}

  /** A row (null: a sample whose row could not be read, reported already) with its frame check. */
  async push(row: VRow | null, frame: Promise<FrameInfo> | null): Promise<void> {
    this.q.push({ row, frame });
    if (this.q.length >= this.size) await this.next();
  }

  private async next(): Promise<void> {
    const signal = this.ctx.signal;
    if (signal?.aborted) throw abortError(signal);
    const { row, frame } = this.q.shift()!;
    const info = frame ? await frame : null;
    if (!row) {
      this.ctx.rows.unreadable(this.format, this.split);
      return;
    }
    row.frame = info;
    if (info?.ok) row.duplicateOf = await this.ctx.dedupe.check(this.format, this.split, info.ref);
    this.ctx.rows.row(row);
  }

  async drain(): Promise<void> {
    while (this.q.length) await this.next();
  }
}

/** A ClassLabel id from an int32/int64 cell. */
export function toNum(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  return null;
}

export function toStr(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  return null;
}

/** A steps-schema row (Parquet, Arrow, JSONL shape) → the fields row checks look at. */
export function stepsRowToV(r: Record<string, unknown>, base: Pick<VRow, 'format' | 'split' | 'loc'>): VRow {
  const action = (r.action ?? null) as Record<string, unknown> | null;
  const prior = (r.prior_action ?? null) as Record<string, unknown> | null;
  const vp = r.viewport as { w?: unknown; h?: unknown } | null | undefined;
  const target = (action?.target ?? null) as Record<string, unknown> | null;
  const num = (v: unknown) => toNum(v);
  return {
    ...base,
    session_id: toStr(r.session_id),
    step: toNum(r.step),
    t_ms: toNum(r.t_ms),
    viewport: vp && toNum(vp.w) !== null && toNum(vp.h) !== null ? { w: toNum(vp.w)!, h: toNum(vp.h)! } : null,
    action: action
      ? {
          x: num(action.x),
          y: num(action.y),
          x_norm: num(action.x_norm),
          y_norm: num(action.y_norm),
          to_x: num(action.to_x),
          to_y: num(action.to_y),
        }
      : null,
    labels: {
      'action.type': typeof action?.type === 'string' ? null : toNum(action?.type),
      'prior_action.type': typeof prior?.type === 'string' ? null : toNum(prior?.type),
      outcome: typeof r.outcome === 'string' ? null : toNum(r.outcome),
    },
    texts: {
      'action.text': toStr(action?.text),
      'action.target.name': toStr(target?.name),
      'action.url': toStr(action?.url),
      'action.args': toStr(action?.args),
      dom: toStr(r.dom),
      accessibility_tree: toStr(r.accessibility_tree),
      extra: toStr(r.extra),
    },
    frame: null,
  };
}
