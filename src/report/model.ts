/**
 * What a report shows of one row, whatever it was read from (an export's Step or a dataset's
 * `steps` row): labels, the action's overlay geometry and the frame, resolved only when sampled.
 * Geometry is in the row's own pixel space (`space`): the capture viewport for an export, the
 * stored image for a dataset.
 */
export type Point = [number, number];

export interface ReportAction {
  type: string;
  /** The point the action happened at (click, double-click, drag start, scroll position). */
  at: Point | null;
  /** The same point in [0, 1] of the stored image, when the row gives it (a dataset's x_norm, y_norm). */
  norm: Point | null;
  /** A drag's end. */
  to: Point | null;
  /** A drag's path (when the row gives one), start to end. */
  path: Point[];
  /** The target's box `[x, y, w, h]`, when present. */
  box: [number, number, number, number] | null;
  /** The target's role and name, for captions. */
  target: string | null;
  /** Typed text (or a selected value); `[masked]` stays as it is. */
  text: string | null;
  /** A key press with its modifiers, e.g. `Control+s`. */
  key: string | null;
  /** Scroll distance. */
  scroll: Point | null;
  url: string | null;
}

export interface ReportRow {
  split: string;
  session_id: string;
  t_ms: number;
  workflow: string;
  outcome: string;
  actor_kind: string;
  viewport: { w: number; h: number };
  /** The pixel space of the action's coordinates (null: same as the viewport). */
  space: { w: number; h: number } | null;
  action: ReportAction;
  prior: ReportAction | null;
  /** Whether the row references a frame. */
  hasFrame: boolean;
  readFrame(): Promise<Uint8Array>;
}

function num(v: unknown): number | null {
  if (typeof v === 'bigint') return Number(v);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function obj(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Record<string, unknown>) : null;
}

function point(v: unknown): Point | null {
  if (Array.isArray(v) && v.length >= 2) {
    const x = num(v[0]);
    const y = num(v[1]);
    return x !== null && y !== null ? [x, y] : null;
  }
  const o = obj(v);
  if (!o) return null;
  const x = num(o.x);
  const y = num(o.y);
  return x !== null && y !== null ? [x, y] : null;
}

/** `[x, y, w, h]` or an object of edges and sizes. */
function box(v: unknown): [number, number, number, number] | null {
  if (Array.isArray(v) && v.length >= 4) {
    const b = v.slice(0, 4).map(num);
    return b.every((n) => n !== null) ? (b as [number, number, number, number]) : null;
  }
  const o = obj(v);
  if (!o) return null;
  const x = num(o.x ?? o.left ?? o.x1);
  const y = num(o.y ?? o.top ?? o.y1);
  const w = num(o.w ?? o.width) ?? (num(o.x2 ?? o.right) !== null && x !== null ? num(o.x2 ?? o.right)! - x : null);
  const h = num(o.h ?? o.height) ?? (num(o.y2 ?? o.bottom) !== null && y !== null ? num(o.y2 ?? o.bottom)! - y : null);
  return x !== null && y !== null && w !== null && h !== null ? [x, y, w, h] : null;
}

const MAX_PATH_POINTS = 256;

/**
 * An action object (an export's action, or a dataset's action struct with its `args` JSON text
 * merged back in) → what the overlays draw. `typeName` maps a ClassLabel id to its name.
 */
export function reportAction(raw: unknown, typeName: (t: unknown) => string): ReportAction {
  const a = obj(raw) ?? {};
  let args: Record<string, unknown> = {};
  if (typeof a.args === 'string') {
    try {
      args = obj(JSON.parse(a.args)) ?? {};
    } catch {
      args = {};
    }
  }
  const get = (k: string): unknown => (a[k] !== undefined && a[k] !== null ? a[k] : args[k]);
  const x = num(get('x'));
  const y = num(get('y'));
  const toX = num(get('to_x'));
  const toY = num(get('to_y'));
  const target = obj(get('target'));
  const rawPath = get('path') ?? get('points') ?? get('trajectory');
  const path: Point[] = [];
  if (Array.isArray(rawPath)) {
    for (const p of rawPath.slice(0, MAX_PATH_POINTS)) {
      const q = point(p);
      if (q) path.push(q);
    }
  }
  const mods = get('modifiers');
  const keyName = str(get('key'));
  const modList = Array.isArray(mods) ? mods.filter((m): m is string => typeof m === 'string') : [];
  const dx = num(get('dx') ?? get('delta_x'));
  const dy = num(get('dy') ?? get('delta_y'));
  const text = str(get('text')) ?? str(get('value'));
  const name = target ? str(target.name) : null;
  const role = target ? str(target.role) : null;
  return {
    type: typeName(a.type),
    at: x !== null && y !== null ? [x, y] : null,
    norm: num(a.x_norm) !== null && num(a.y_norm) !== null ? [num(a.x_norm)!, num(a.y_norm)!] : null,
    to: toX !== null && toY !== null ? [toX, toY] : point(get('to')),
    path,
    box: target ? box(target.bbox ?? target.box ?? target.rect ?? target.bounds) : box(get('bbox')),
    target: name !== null || role !== null ? [role, name].filter((s) => s !== null).join(' ') : null,
    text,
    key: keyName !== null ? [...modList, keyName].join('+') : null,
    scroll: dx !== null || dy !== null ? [dx ?? 0, dy ?? 0] : null,
    url: str(get('url')),
  };
}
