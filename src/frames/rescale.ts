/**
 * Rescale an action's coordinates from the capture viewport to the stored image.
 *
 * Positions (a point that lands on a pixel) use pixel-centre mapping, x' = (x + 0.5) * s - 0.5,
 * rounded to the nearest integer and clamped into [0, size - 1]: the pixel under x in the capture
 * is the pixel under x' in the resized image. Handled:
 *  - `x`, `y` of the action and of `from`, `to`, `start`, `end`, `target` objects;
 *  - `path` / `points`: arrays of `[x, y, ...rest]` (rest, e.g. a time, kept) or `{x, y}`;
 *  - boxes `bbox` (at the root or in `target`) as `[x, y, w, h]` or `{x, y, w|width, h|height}`:
 *    the corner scales as an edge (x * s), sizes as lengths (w * s), rounded, clamped inside the image.
 * Left alone on purpose: scroll `dx`/`dy` (and `delta_x`/`delta_y`) are scroll distances in page
 * content, not positions on the screen image. Non-numeric values (null, "[masked]") are kept.
 */
import type { Action, Json, JsonObject } from '../export/step.ts';

export interface ImageSize {
  w: number;
  h: number;
}

const POINT_HOLDERS = ['from', 'to', 'start', 'end', 'target'] as const;
const PATH_KEYS = ['path', 'points'] as const;

function clamp(v: number, max: number | undefined): number {
  if (max === undefined) return Math.max(0, v);
  return Math.min(Math.max(0, v), Math.max(0, max - 1));
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Rescale one position coordinate. */
export function scalePosition(v: number, s: number, size?: number): number {
  return clamp(Math.round((v + 0.5) * s - 0.5), size);
}

function scaleEdge(v: number, s: number, size?: number): number {
  return clamp(Math.round(v * s), size);
}

function scalePointObject(o: JsonObject, sx: number, sy: number, size?: ImageSize): JsonObject {
  const out: JsonObject = { ...o };
  if (typeof o['x'] === 'number') out['x'] = scalePosition(o['x'], sx, size?.w);
  if (typeof o['y'] === 'number') out['y'] = scalePosition(o['y'], sy, size?.h);
  return out;
}

function scaleBox(box: Json, sx: number, sy: number, size?: ImageSize): Json {
  if (Array.isArray(box)) {
    if (box.length < 4 || !box.slice(0, 4).every((v) => typeof v === 'number')) return box;
    const [x, y, w, h] = box as number[];
    const nx = scaleEdge(x!, sx, size?.w);
    const ny = scaleEdge(y!, sy, size?.h);
    const nw = Math.max(0, Math.min(Math.round(w! * sx), size ? size.w - nx : Infinity));
    const nh = Math.max(0, Math.min(Math.round(h! * sy), size ? size.h - ny : Infinity));
    return [nx, ny, nw, nh, ...box.slice(4)];
  }
  if (isObject(box)) {
    const out: JsonObject = { ...box };
    const nx = typeof box['x'] === 'number' ? scaleEdge(box['x'], sx, size?.w) : undefined;
    const ny = typeof box['y'] === 'number' ? scaleEdge(box['y'], sy, size?.h) : undefined;
    if (nx !== undefined) out['x'] = nx;
    if (ny !== undefined) out['y'] = ny;
    for (const k of ['w', 'width'] as const) {
      const v = box[k];
      if (typeof v === 'number') out[k] = Math.max(0, Math.min(Math.round(v * sx), size ? size.w - (nx ?? 0) : Infinity));
    }
    for (const k of ['h', 'height'] as const) {
      const v = box[k];
      if (typeof v === 'number') out[k] = Math.max(0, Math.min(Math.round(v * sy), size ? size.h - (ny ?? 0) : Infinity));
    }
    return out;
  }
  return box;
}

function scalePath(path: Json, sx: number, sy: number, size?: ImageSize): Json {
  if (!Array.isArray(path)) return path;
  return path.map((p) => {
    if (Array.isArray(p)) {
      if (p.length < 2 || typeof p[0] !== 'number' || typeof p[1] !== 'number') return p;
      return [scalePosition(p[0], sx, size?.w), scalePosition(p[1], sy, size?.h), ...p.slice(2)];
    }
    return isObject(p) ? scalePointObject(p, sx, sy, size) : p;
  });
}

/**
 * A copy of `action` with every coordinate scaled by (sx, sy) = stored size / capture viewport.
 * `size` (the stored image size) bounds the results; without it they are only kept >= 0.
 * The identity scale returns the action unchanged (passthrough keeps source values exactly).
 */
export function rescaleAction(action: Action, sx: number, sy: number, size?: ImageSize): Action {
  if (sx === 1 && sy === 1) return action;
  const out = scalePointObject(action, sx, sy, size) as Action;
  for (const k of POINT_HOLDERS) {
    const v = action[k];
    if (isObject(v)) out[k] = scalePointObject(v, sx, sy, size);
  }
  for (const k of PATH_KEYS) if (k in action) out[k] = scalePath(action[k]!, sx, sy, size);
  if ('bbox' in action) out['bbox'] = scaleBox(action['bbox']!, sx, sy, size);
  const target = out['target'];
  if (isObject(target) && 'bbox' in target) out['target'] = { ...target, bbox: scaleBox(target['bbox']!, sx, sy, size) };
  return out;
}
