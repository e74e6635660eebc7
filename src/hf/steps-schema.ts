/**
 * The default `steps` table: one row per frame/action pair. Column names are a product contract
 * (loaders, cards and published datasets name them; renaming one breaks them). Nothing of the source row is lost: a value that has no typed column, or that a typed
 * column cannot hold exactly, is kept as JSON text in `action.args` / `extra`, and
 * `fromStepsRow` rebuilds the source row from a steps row.
 *
 * Columns beyond the first contract's list: `actor_kind`, `tags`, `path`, `started_at` (the context fields the
 * vendor's filters use) so training code can filter without parsing `extra`; and in `action`:
 * `modifiers` (key chords), `to_x`/`to_y` (drag end), `dx`/`dy` (scroll delta).
 * `started_at` is a timestamp[ms, tz=UTC] column; text that is not a canonical ISO 8601 instant
 * also stays in `extra` (so does anything that is not an instant at all).
 *
 * Integer columns (x, y, to_x, to_y, dx, dy, bbox) hold the value rounded to int32; when the source
 * value was not an integer the exact value is also kept in `args` (which wins on reconstruction).
 */
import { InputError } from '../errors.ts';
import type { Action, Json, JsonObject, Step } from '../export/step.ts';
import { stepLocation } from '../export/step.ts';
import { ClassLabel, Image, JsonText, List, Struct, TIMESTAMP_MS_UTC, Value } from './features.ts';
import type { Features, StructFeature } from './features.ts';
import type { LabelVocab, LabelVocabJson } from './labels.ts';
import { isoOfMs, msOfIso } from './timestamps.ts';

/** Produced by the frames stage: action/prior_action coordinates ALREADY rescaled to the stored image. */
export interface PreparedStep {
  step: Step;
  action: Action;
  prior_action: Action | null;
  image: { bytes: Uint8Array; ext: 'webp' | 'jpg' | 'png'; width: number; height: number; path: string };
}

export interface TargetRow {
  role: string | null;
  name: string | null;
  bbox: number[] | null;
}

export interface ActionRow {
  type: number;
  x: number | null;
  y: number | null;
  x_norm: number | null;
  y_norm: number | null;
  target: TargetRow | null;
  /** What was typed: `text`, or an `input_text` action's `value` (see takeText). */
  text: string | null;
  key: string | null;
  modifiers: string[] | null;
  url: string | null;
  to_x: number | null;
  to_y: number | null;
  dx: number | null;
  dy: number | null;
  /** JSON text of every action field not held exactly by a column above (`{}` when none); an `input_text` `value` stays here too. */
  args: string;
}

export interface StepsRow {
  session_id: string;
  step: number;
  t_ms: number;
  image: { bytes: Uint8Array; path: string };
  viewport: { w: number | null; h: number | null } | null;
  action: ActionRow;
  prior_action: ActionRow | null;
  workflow: string | null;
  outcome: number | null;
  actor_kind: string | null;
  tags: string[] | null;
  path: string | null;
  /** context.started_at as epoch milliseconds (UTC); null when absent or not an ISO 8601 instant. */
  started_at: number | null;
  /** JSON text of frame.dom (object or string); null when the source dom is null. */
  dom: string | null;
  accessibility_tree: string | null;
  /** JSON text: unknown top-level fields, plus `frame` / `context` objects of fields without a column. */
  extra: string;
}

function actionFeature(labels: LabelVocabJson): StructFeature {
  return Struct({
    type: ClassLabel(labels.action_type),
    x: Value('int32'),
    y: Value('int32'),
    x_norm: Value('float32'),
    y_norm: Value('float32'),
    target: Struct({ role: Value('string'), name: Value('string'), bbox: List(Value('int32')) }),
    text: Value('string'),
    key: Value('string'),
    modifiers: List(Value('string')),
    url: Value('string'),
    to_x: Value('int32'),
    to_y: Value('int32'),
    dx: Value('int32'),
    dy: Value('int32'),
    args: JsonText(),
  });
}

/** The features of the steps table, with the ClassLabel names of the (frozen) vocabulary. */
export function stepsFeatures(labels: LabelVocab | LabelVocabJson): Features {
  const l = 'toJSON' in labels ? labels.toJSON() : labels;
  return {
    session_id: Value('string'),
    step: Value('int32'),
    t_ms: Value('int64'),
    image: Image(),
    viewport: Struct({ w: Value('int32'), h: Value('int32') }),
    action: actionFeature(l),
    prior_action: actionFeature(l),
    workflow: Value('string'),
    outcome: ClassLabel(l.outcome),
    actor_kind: Value('string'),
    tags: List(Value('string')),
    path: Value('string'),
    started_at: Value(TIMESTAMP_MS_UTC),
    dom: JsonText(),
    accessibility_tree: Value('string'),
    extra: JsonText(),
  };
}

// ---------------------------------------------------------------------------------------------

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isInt32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;
}

/** Take `key` out of `rest` into an int32 column; non-integers keep their exact value in `rest`. */
function takeInt(rest: JsonObject, key: string): number | null {
  if (!(key in rest)) return null;
  const v = rest[key];
  if (typeof v === 'number' && Number.isFinite(v)) {
    const r = Math.round(v);
    if (r >= INT32_MIN && r <= INT32_MAX) {
      if (r === v) delete rest[key];
      return r;
    }
  }
  return null;
}
function takeString(rest: JsonObject, key: string): string | null {
  const v = rest[key];
  if (typeof v !== 'string') return null;
  delete rest[key];
  return v;
}
/**
 * An ISO 8601 instant into a timestamp column. Text in another form than the canonical one
 * (an offset, more digits) also stays in `rest`, which wins on reconstruction.
 */
function takeInstant(rest: JsonObject, key: string): number | null {
  const v = rest[key];
  if (typeof v !== 'string') return null;
  const ms = msOfIso(v);
  if (ms !== null && isoOfMs(ms) === v) delete rest[key];
  return ms;
}
function takeStringList(rest: JsonObject, key: string): string[] | null {
  const v = rest[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return null;
  delete rest[key];
  return v as string[];
}
function takeIntList(rest: JsonObject, key: string): number[] | null {
  const v = rest[key];
  if (!Array.isArray(v) || !v.every(isInt32)) return null;
  delete rest[key];
  return v as number[];
}

/**
 * Action types whose `value` is the text typed: the vendor's example is
 * `{"type": "input_text", "field": "amount", "value": "[masked]"}`.
 */
const TYPED_VALUE_TYPES: ReadonlySet<string> = new Set(['input_text']);

/**
 * The `text` column: what was typed. A `text` key fills it for every type; a typing action without
 * a string `text` fills it from `value`, which also stays in `args` so the row rebuilds with the
 * source key (`text` stays in `args` too in the one ambiguous case, `text` equal to `value`).
 */
function takeText(rest: JsonObject, type: string): string | null {
  const text = rest.text;
  if (typeof text === 'string') {
    if (!(TYPED_VALUE_TYPES.has(type) && rest.value === text)) delete rest.text;
    return text;
  }
  const value = rest.value;
  return TYPED_VALUE_TYPES.has(type) && typeof value === 'string' ? value : null;
}

function actionRow(a: Action, width: number, height: number, labels: LabelVocab, where: string): ActionRow {
  if (!isObject(a) || typeof a.type !== 'string') {
    throw new InputError(`expected an action object with a string "type", got ${JSON.stringify(a)}`, { row: where });
  }
  const rest: JsonObject = { ...a };
  delete rest.type;
  const rawX = rest.x;
  const rawY = rest.y;
  const x = takeInt(rest, 'x');
  const y = takeInt(rest, 'y');

  let target: TargetRow | null = null;
  if (isObject(rest.target)) {
    const t: JsonObject = { ...rest.target };
    target = { role: takeString(t, 'role'), name: takeString(t, 'name'), bbox: takeIntList(t, 'bbox') };
    if (Object.keys(t).length) rest.target = t;
    else delete rest.target;
  }

  let to_x: number | null = null;
  let to_y: number | null = null;
  if (isObject(rest.to)) {
    const t: JsonObject = { ...rest.to };
    to_x = takeInt(t, 'x');
    to_y = takeInt(t, 'y');
    // Keep `to` in args when something is left, or when no column could say it existed.
    if (Object.keys(t).length || (to_x === null && to_y === null)) rest.to = t;
    else delete rest.to;
  }

  const row: ActionRow = {
    type: labels.actionTypes.id(a.type),
    x,
    y,
    x_norm: typeof rawX === 'number' && Number.isFinite(rawX) ? Math.fround(rawX / width) : null,
    y_norm: typeof rawY === 'number' && Number.isFinite(rawY) ? Math.fround(rawY / height) : null,
    target,
    text: takeText(rest, a.type),
    key: takeString(rest, 'key'),
    modifiers: takeStringList(rest, 'modifiers'),
    url: takeString(rest, 'url'),
    to_x,
    to_y,
    dx: takeInt(rest, 'dx'),
    dy: takeInt(rest, 'dy'),
    args: JSON.stringify(rest),
  };
  return row;
}

/** Record the label values of a step (planning pass, before the vocabulary is frozen). */
export function observeLabels(labels: LabelVocab, step: Step): void {
  if (typeof step.action?.type === 'string') labels.actionTypes.observe(step.action.type);
  const prior = step.context?.prior_action;
  if (isObject(prior) && typeof prior.type === 'string') labels.actionTypes.observe(prior.type);
  if (typeof step.context?.outcome === 'string') labels.outcomes.observe(step.context.outcome);
}

export function toStepsRow(p: PreparedStep, stepIndex: number, labels: LabelVocab): StepsRow {
  const s = p.step;
  const where = stepLocation(s);
  const { width, height } = p.image;

  const frameRest: JsonObject = { ...s.frame };
  let viewport: StepsRow['viewport'] = null;
  if (isObject(frameRest.viewport)) {
    const v: JsonObject = { ...frameRest.viewport };
    viewport = { w: takeIntExact(v, 'w'), h: takeIntExact(v, 'h') };
    if (Object.keys(v).length) frameRest.viewport = v;
    else delete frameRest.viewport;
  }
  const dom = frameRest.dom === null || frameRest.dom === undefined ? null : JSON.stringify(frameRest.dom);
  // dom always comes back (null when absent), so it never needs to stay in extra.
  delete frameRest.dom;
  let accessibility_tree: string | null = null;
  if (typeof frameRest.accessibility_tree === 'string' || frameRest.accessibility_tree === null) {
    accessibility_tree = frameRest.accessibility_tree;
    delete frameRest.accessibility_tree;
  }

  const ctxRest: JsonObject = { ...s.context };
  delete ctxRest.prior_action; // its own column (rescaled by the frames stage)
  const workflow = takeString(ctxRest, 'workflow');
  const outcomeName = takeString(ctxRest, 'outcome');
  let actor_kind: string | null = null;
  if (isObject(ctxRest.actor) && typeof ctxRest.actor.kind === 'string') {
    const actor: JsonObject = { ...ctxRest.actor };
    actor_kind = takeString(actor, 'kind');
    if (Object.keys(actor).length) ctxRest.actor = actor;
    else delete ctxRest.actor;
  }
  const tags = takeStringList(ctxRest, 'tags');
  const path = takeString(ctxRest, 'path');
  const started_at = takeInstant(ctxRest, 'started_at');

  const extra: JsonObject = { ...s.extra };
  for (const k of ['session_id', 't_ms', 'frame', 'action', 'context']) {
    if (k in extra) throw new InputError(`unknown field "${k}" collides with a known field`, { file: s.origin?.file, row: where });
  }
  if (Object.keys(frameRest).length) extra.frame = frameRest;
  if (Object.keys(ctxRest).length) extra.context = ctxRest;

  if (!isInt32(stepIndex)) throw new InputError(`step index ${stepIndex} is not an int32`, { row: where });
  return {
    session_id: s.session_id,
    step: stepIndex,
    t_ms: s.t_ms,
    image: { bytes: p.image.bytes, path: p.image.path },
    viewport,
    action: actionRow(p.action, width, height, labels, where),
    prior_action: p.prior_action === null || p.prior_action === undefined ? null : actionRow(p.prior_action, width, height, labels, where),
    workflow,
    outcome: outcomeName === null ? null : labels.outcomes.id(outcomeName),
    actor_kind,
    tags,
    path,
    started_at,
    dom,
    accessibility_tree,
    extra: JSON.stringify(extra),
  };
}

/** Like takeInt, but only exact int32 values leave `rest` (viewport sizes are never rounded). */
function takeIntExact(rest: JsonObject, key: string): number | null {
  const v = rest[key];
  if (!isInt32(v)) return null;
  delete rest[key];
  return v;
}

// ---------------------------------------------------------------------------------------------
// Reconstruction: the inverse of toStepsRow (used by tests, validate and anyone auditing a row).

function putInt(o: JsonObject, key: string, v: number | null, rest: JsonObject): void {
  if (key in rest) o[key] = rest[key]!;
  else if (v !== null) o[key] = v;
}

export function actionFromRow(r: ActionRow, actionTypes: readonly string[]): Action {
  const rest = JSON.parse(r.args) as JsonObject;
  const a: JsonObject = { type: actionTypes[r.type] ?? null };
  putInt(a, 'x', r.x, rest);
  putInt(a, 'y', r.y, rest);
  if (r.target) {
    const t: JsonObject = {};
    if (r.target.role !== null) t.role = r.target.role;
    if (r.target.name !== null) t.name = r.target.name;
    if (r.target.bbox !== null) t.bbox = r.target.bbox;
    a.target = { ...t, ...(isObject(rest.target) ? rest.target : {}) };
    delete rest.target;
  }
  // A typing action whose `value` (kept in args) equals the column had no `text` of its own (see takeText).
  if (r.text !== null && !(TYPED_VALUE_TYPES.has(actionTypes[r.type] ?? '') && rest.value === r.text)) a.text = r.text;
  for (const k of ['key', 'modifiers', 'url'] as const) if (r[k] !== null) a[k] = r[k];
  if (r.to_x !== null || r.to_y !== null) {
    const restTo = isObject(rest.to) ? rest.to : {};
    const t: JsonObject = {};
    putInt(t, 'x', r.to_x, restTo);
    putInt(t, 'y', r.to_y, restTo);
    a.to = { ...restTo, ...t };
    delete rest.to;
  }
  putInt(a, 'dx', r.dx, rest);
  putInt(a, 'dy', r.dy, rest);
  return { ...a, ...rest } as Action;
}

/** Rebuild the source row (session_id, t_ms, frame, action, context, unknown fields) from a steps row. */
export function fromStepsRow(row: StepsRow, labels: LabelVocabJson): JsonObject {
  const extra = JSON.parse(row.extra) as JsonObject;
  const frameRest = isObject(extra.frame) ? extra.frame : {};
  const ctxRest = isObject(extra.context) ? extra.context : {};
  delete extra.frame;
  delete extra.context;

  const frame: JsonObject = {};
  if (row.viewport) {
    const v: JsonObject = {};
    if (row.viewport.w !== null) v.w = row.viewport.w;
    if (row.viewport.h !== null) v.h = row.viewport.h;
    frame.viewport = { ...v, ...(isObject(frameRest.viewport) ? frameRest.viewport : {}) };
  }
  frame.dom = row.dom === null ? null : (JSON.parse(row.dom) as Json);
  if (row.accessibility_tree !== null || !('accessibility_tree' in frameRest)) frame.accessibility_tree = row.accessibility_tree;
  for (const [k, v] of Object.entries(frameRest)) if (k !== 'viewport' || !row.viewport) frame[k] = v;

  const context: JsonObject = {};
  if (row.workflow !== null) context.workflow = row.workflow;
  context.prior_action = row.prior_action ? actionFromRow(row.prior_action, labels.action_type) : null;
  if (row.outcome !== null) context.outcome = labels.outcome[row.outcome] ?? null;
  if (row.actor_kind !== null) context.actor = { kind: row.actor_kind, ...(isObject(ctxRest.actor) ? ctxRest.actor : {}) };
  if (row.tags !== null) context.tags = row.tags;
  if (row.path !== null) context.path = row.path;
  if (row.started_at !== null && !('started_at' in ctxRest)) context.started_at = isoOfMs(row.started_at);
  for (const [k, v] of Object.entries(ctxRest)) if (k !== 'actor' || row.actor_kind === null) context[k] = v;

  return {
    session_id: row.session_id,
    t_ms: row.t_ms,
    frame,
    action: actionFromRow(row.action, labels.action_type),
    context,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------

function strBytes(s: string | null): number {
  return s === null ? 0 : Buffer.byteLength(s) + 4;
}
function actionNbytes(a: ActionRow | null): number {
  if (!a) return 0;
  return (
    8 +
    4 * 4 +
    4 * 4 +
    strBytes(a.target?.role ?? null) +
    strBytes(a.target?.name ?? null) +
    4 +
    (a.target?.bbox?.length ?? 0) * 4 +
    strBytes(a.text) +
    strBytes(a.key) +
    strBytes(a.url) +
    strBytes(a.args) +
    4 +
    (a.modifiers ?? []).reduce((n, m) => n + strBytes(m), 0)
  );
}

/**
 * Approximate in-memory Arrow size of a row (what `datasets` reports as a split's `num_bytes`):
 * fixed-width values plus variable-length bytes and their int32 offsets. For the card.
 */
export function stepsRowNbytes(r: StepsRow): number {
  return (
    strBytes(r.session_id) +
    4 +
    8 +
    r.image.bytes.length +
    4 +
    strBytes(r.image.path) +
    8 +
    actionNbytes(r.action) +
    actionNbytes(r.prior_action) +
    strBytes(r.workflow) +
    8 +
    strBytes(r.actor_kind) +
    4 +
    (r.tags ?? []).reduce((n, t) => n + strBytes(t), 0) +
    strBytes(r.path) +
    8 +
    strBytes(r.dom) +
    strBytes(r.accessibility_tree) +
    strBytes(r.extra)
  );
}
