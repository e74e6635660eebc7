/**
 * Rescale an action's coordinates from the capture viewport to the stored image.
 *
 * What is a coordinate (`COORDINATE_RULE` below, also written to the card and the dataset manifest):
 * the action is walked at every depth (sub-objects, arrays of objects), and
 *  - positions: a number under `x`, `x1`, `x2` (x axis) or `y`, `y1`, `y2` (y axis) in any object;
 *    a `[x, y, ...rest]` array under a point key (`center`, `point`, `from`, `to`, ...);
 *    the items of a path (`path`, `points`, `trajectory`, `polygon`, `polyline`): `[x, y, ...rest]`
 *    arrays or `{x, y}` objects;
 *  - boxes: the value under a box key (`bbox`, `box`, `rect`, `bounds`, `bounding_box`), an array
 *    `[x, y, w, h, ...rest]`, two corners `[[x1, y1], [x2, y2]]`, or an object of edges (`x`, `y`, `left`, `top`, `x1`, `y1`, `x2`,
 *    `y2`, `right`, `bottom`) and sizes (`w`, `h`, `width`, `height`); under an xyxy key (`xyxy`,
 *    `bbox_xyxy`, `box_xyxy`) an array `[x1, y1, x2, y2, ...rest]`;
 *  - not coordinates, with everything under them: `dx`, `dy`, `delta_x`, `delta_y` (scroll
 *    distances in page content), `scroll`, `scroll_x`, `scroll_y` (page offsets), `viewport` (a size).
 * Non-numeric values (null, "[masked]") are kept; other numbers are left alone.
 *
 * Positions use pixel-centre mapping, x' = (x + 0.5) * s - 0.5, rounded and clamped into
 * [0, size - 1]: the pixel under x in the capture is the pixel under x' in the resized image.
 * Box edges scale as x * s and sizes as w * s, rounded and clamped so the box stays inside the image.
 */
import { InputError } from '../errors.ts';
import type { Action, Json, JsonObject } from '../export/step.ts';

export interface ImageSize {
  w: number;
  h: number;
}

/** Deepest nesting of objects/arrays inside an action that is searched for coordinates. */
export const MAX_ACTION_DEPTH = 64;

type Axis = 0 | 1; // 0 = x, 1 = y

const POSITION_KEYS = new Map<string, Axis>([
  ['x', 0],
  ['x1', 0],
  ['x2', 0],
  ['y', 1],
  ['y1', 1],
  ['y2', 1],
]);
const POINT_ARRAY_KEYS = new Set([
  'center',
  'point',
  'position',
  'pos',
  'location',
  'coords',
  'coordinates',
  'xy',
  'from',
  'to',
  'start',
  'end',
]);
const PATH_KEYS = new Set(['path', 'points', 'trajectory', 'polygon', 'polyline']);
const BOX_KEYS = new Set(['bbox', 'box', 'rect', 'bounds', 'bounding_box']);
const XYXY_KEYS = new Set(['xyxy', 'bbox_xyxy', 'box_xyxy']);
/** Box object keys: `start` edges (left/top), `end` edges (right/bottom) and sizes. */
const BOX_START_EDGES = new Map<string, Axis>([
  ['x', 0],
  ['x1', 0],
  ['left', 0],
  ['y', 1],
  ['y1', 1],
  ['top', 1],
]);
const BOX_END_EDGES = new Map<string, Axis>([
  ['x2', 0],
  ['right', 0],
  ['y2', 1],
  ['bottom', 1],
]);
const BOX_SIZES = new Map<string, Axis>([
  ['w', 0],
  ['width', 0],
  ['h', 1],
  ['height', 1],
]);
const NOT_COORDINATES = new Set(['dx', 'dy', 'delta_x', 'delta_y', 'scroll', 'scroll_x', 'scroll_y', 'viewport']);

/** The rule above as data: which action fields are coordinates (for the card and dataset manifest). */
export const COORDINATE_RULE = {
  columns: ['x', 'y', 'to_x', 'to_y', 'target.bbox'],
  positions: [...POSITION_KEYS.keys()],
  point_arrays: [...POINT_ARRAY_KEYS],
  paths: [...PATH_KEYS],
  boxes_xywh: [...BOX_KEYS],
  boxes_xyxy: [...XYXY_KEYS],
  box_edges: [...BOX_START_EDGES.keys(), ...BOX_END_EDGES.keys()],
  box_sizes: [...BOX_SIZES.keys()],
  not_coordinates: [...NOT_COORDINATES],
};

interface Scale {
  s: [number, number];
  /** Stored image size per axis; Infinity when unknown (results are then only kept >= 0). */
  size: [number, number];
}

function clamp(v: number, max: number): number {
  return Math.min(Math.max(0, v), Math.max(0, max));
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Rescale one position coordinate. */
export function scalePosition(v: number, s: number, size?: number): number {
  return clamp(Math.round((v + 0.5) * s - 0.5), size === undefined ? Infinity : size - 1);
}

function position(v: number, axis: Axis, sc: Scale): number {
  return clamp(Math.round((v + 0.5) * sc.s[axis] - 0.5), sc.size[axis] - 1);
}

function isPointArray(v: Json[]): boolean {
  return v.length >= 2 && typeof v[0] === 'number' && typeof v[1] === 'number';
}

function pointArray(p: Json[], sc: Scale): Json[] {
  const out = p.slice();
  out[0] = position(p[0] as number, 0, sc);
  out[1] = position(p[1] as number, 1, sc);
  return out;
}

function box(v: Json, sc: Scale, xyxy: boolean, depth: number): Json {
  if (Array.isArray(v) && v.length === 2 && Array.isArray(v[0]) && Array.isArray(v[1]) && isPointArray(v[0]) && isPointArray(v[1])) {
    // Two corners: the flat [x1, y1, x2, y2] rule, put back in its nested shape.
    const [a, b] = v as [Json[], Json[]];
    const [x1, y1, x2, y2] = box([a[0]!, a[1]!, b[0]!, b[1]!], sc, true, depth) as number[];
    return [
      [x1!, y1!, ...a.slice(2)],
      [x2!, y2!, ...b.slice(2)],
    ];
  }
  if (Array.isArray(v)) {
    if (v.length < 4 || !(typeof v[0] === 'number' && typeof v[1] === 'number' && typeof v[2] === 'number' && typeof v[3] === 'number'))
      return walk(v, sc, depth);
    const out = v.slice();
    const x = clamp(Math.round(v[0] * sc.s[0]), sc.size[0] - 1);
    const y = clamp(Math.round(v[1] * sc.s[1]), sc.size[1] - 1);
    out[0] = x;
    out[1] = y;
    out[2] = xyxy ? clamp(Math.round(v[2] * sc.s[0]), sc.size[0]) : clamp(Math.round(v[2] * sc.s[0]), sc.size[0] - x);
    out[3] = xyxy ? clamp(Math.round(v[3] * sc.s[1]), sc.size[1]) : clamp(Math.round(v[3] * sc.s[1]), sc.size[1] - y);
    return out;
  }
  if (!isObject(v)) return v;
  const out: JsonObject = { ...v };
  const start: [number, number] = [0, 0];
  for (const k of Object.keys(v)) {
    const n = v[k];
    if (typeof n !== 'number') continue;
    const a = BOX_START_EDGES.get(k);
    if (a !== undefined) out[k] = start[a] = clamp(Math.round(n * sc.s[a]), sc.size[a] - 1);
  }
  for (const k of Object.keys(v)) {
    const n = v[k];
    if (typeof n !== 'number') continue;
    const e = BOX_END_EDGES.get(k);
    if (e !== undefined) out[k] = clamp(Math.round(n * sc.s[e]), sc.size[e]);
    const z = BOX_SIZES.get(k);
    if (z !== undefined) out[k] = clamp(Math.round(n * sc.s[z]), sc.size[z] - start[z]);
  }
  return out;
}

function path(v: Json[], sc: Scale, depth: number): Json[] {
  let out: Json[] | undefined;
  for (let i = 0; i < v.length; i++) {
    const p = v[i]!;
    const q = Array.isArray(p) && isPointArray(p) ? pointArray(p, sc) : walk(p, sc, depth + 1);
    if (q !== p) (out ??= v.slice())[i] = q;
  }
  return out ?? v;
}

/** `v` with its coordinates rescaled; the same reference when nothing in it changed. */
function walk(v: Json, sc: Scale, depth: number): Json {
  if (v === null || typeof v !== 'object') return v;
  if (depth > MAX_ACTION_DEPTH) {
    throw new InputError(`action is nested deeper than ${MAX_ACTION_DEPTH} levels; its coordinates cannot be rescaled`);
  }
  if (Array.isArray(v)) {
    let out: Json[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const q = walk(v[i]!, sc, depth + 1);
      if (q !== v[i]) (out ??= v.slice())[i] = q;
    }
    return out ?? v;
  }
  let out: JsonObject | undefined;
  for (const k of Object.keys(v)) {
    // Assigning `__proto__` on the copy would set its prototype instead: such a key is kept as is.
    if (k === '__proto__') continue;
    const x = v[k]!;
    let q: Json = x;
    if (typeof x === 'number') {
      const axis = POSITION_KEYS.get(k);
      if (axis !== undefined) q = position(x, axis, sc);
    } else if (x !== null && typeof x === 'object' && !NOT_COORDINATES.has(k)) {
      if (BOX_KEYS.has(k)) q = box(x, sc, false, depth + 1);
      else if (XYXY_KEYS.has(k)) q = box(x, sc, true, depth + 1);
      else if (Array.isArray(x) && PATH_KEYS.has(k)) q = path(x, sc, depth + 1);
      else if (Array.isArray(x) && POINT_ARRAY_KEYS.has(k) && isPointArray(x)) q = pointArray(x, sc);
      else q = walk(x, sc, depth + 1);
    }
    if (q !== x) (out ??= { ...v })[k] = q;
  }
  return out ?? v;
}

/**
 * A copy of `action` with every coordinate scaled by (sx, sy) = stored size / capture viewport.
 * `size` (the stored image size) bounds the results; without it they are only kept >= 0.
 * The identity scale returns the action unchanged (passthrough keeps source values exactly).
 * An action nested deeper than MAX_ACTION_DEPTH is an InputError (the caller adds the row).
 */
export function rescaleAction(action: Action, sx: number, sy: number, size?: ImageSize): Action {
  if (sx === 1 && sy === 1) return action;
  const sc: Scale = { s: [sx, sy], size: size ? [size.w, size.h] : [Infinity, Infinity] };
  return walk(action, sc, 0) as Action;
}
