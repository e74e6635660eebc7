/**
 * Raw row → Step, following the rules in step.ts and README.md, so that every export format reads
 * to equal Steps. Frame bytes are not read here: `image.read()` fetches them when asked.
 */
import { InputError } from '../errors.ts';
import type { Where } from '../errors.ts';
import { DEFAULT_LIMITS, jsonDeeperThan, jsonSyntaxReason, overLimit, typeName } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { openFileUrl } from '../source/open.ts';
import type { SourceOptions } from '../source/open.ts';
import { resolveReference } from '../source/reach.ts';
import type { Reference } from '../source/reach.ts';
import type { Source } from '../source/types.ts';
import type { ExportManifest } from './manifest-types.ts';
import type { RawRow } from './raw.ts';
import { stepLocation } from './step.ts';
import type { Action, Context, Frame, FrameImage, Json, JsonObject, Step, StepOrigin } from './step.ts';

export interface NormalizeContext {
  manifest: ExportManifest;
  /** The export root: relative image paths and URLs under `manifest.destination` are read here. */
  source: Source;
  /** JSON depth for JSON text columns (default: DEFAULT_LIMITS). */
  limits?: InputLimits;
  /** What frame URLs may reach besides the root, and the largest frame read (sources opened by URL). */
  reach?: SourceOptions;
}

/** The row location in messages: `line 3`, `row 40`, or the tar member. */
export function originWhere(o: StepOrigin): Where {
  if (o.member !== undefined) return { file: o.file, member: o.member };
  if (o.line !== undefined) return { file: o.file, row: `line ${o.line}` };
  if (o.row !== undefined) return { file: o.file, row: `row ${o.row}` };
  return { file: o.file };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (field missing)';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

const NOT_PLAIN = Symbol('not plain JSON');

/** What `jsonKind` finds. */
const PLAIN = 0;
const HAS_NULL_KEYS = 1;
const NOT_PLAIN_JSON = 2;

/**
 * Whether `v` is made of what JSON.parse makes (null, strings, finite numbers, booleans, arrays,
 * plain objects), and whether an object in it has a null-valued key. One pass, no allocation: the
 * common row takes no copy. A `__proto__` key is NOT_PLAIN_JSON: a copy would not keep it as an own key.
 */
function jsonKind(v: unknown): number {
  return jsonKindWithin(v, Number.POSITIVE_INFINITY);
}

/** Plain JSON without its null-valued object keys; only the objects on the way to one are copied. */
function withoutNullKeys(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const c = withoutNullKeys(v[i]);
      if (c !== v[i]) (out ??= v.slice())[i] = c;
    }
    return out ?? v;
  }
  const o = v as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  let i = 0;
  for (const k in o) {
    const x = o[k];
    const c = x === null ? undefined : withoutNullKeys(x);
    if (c !== x && !out) {
      // First change: copy the keys before this one (all unchanged).
      out = {};
      let j = 0;
      for (const p in o) {
        if (j++ === i) break;
        out[p] = o[p];
      }
    }
    if (out && c !== undefined) out[k] = c;
    i++;
  }
  return out ?? v;
}

/** `v` in canonical form (no null-valued object keys) when it is plain JSON, else NOT_PLAIN. */
function canonicalJson(v: unknown, kind = jsonKind(v)): unknown {
  return kind === PLAIN ? v : kind === HAS_NULL_KEYS ? withoutNullKeys(v) : NOT_PLAIN;
}

/** What `jsonKindWithin` returns for a value nested deeper than its limit. */
export const DEEPER = 4;

/**
 * `jsonKind(v)`, or DEEPER when `jsonDeeperThan(v, limit)` (limits.ts) holds: a JSON-parsed row is
 * checked for depth and walked for its kind in one walk, not two (RawRow.jsonKind carries it on).
 */
export function jsonKindWithin(v: unknown, limit: number): number {
  const bits = kindBits(v, limit);
  return bits & DEEPER ? DEEPER : bits & NOT_PLAIN_JSON ? NOT_PLAIN_JSON : bits;
}

/** The one walk behind jsonKind and jsonKindWithin: every node is visited (for depth) unless DEEPER stops it. */
function kindBits(v: unknown, limit: number): number {
  if (v === null) return PLAIN;
  const t = typeof v;
  if (t === 'string' || t === 'number' || t === 'boolean') return PLAIN;
  if (t !== 'object') return NOT_PLAIN_JSON;
  if (limit === 0) return DEEPER;
  let bits = PLAIN;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      bits |= kindBits(v[i], limit - 1);
      if (bits & DEEPER) return bits;
    }
    return bits;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) bits |= NOT_PLAIN_JSON;
  for (const key in v as Record<string, unknown>) {
    if (key === '__proto__') bits |= NOT_PLAIN_JSON;
    const x = (v as Record<string, unknown>)[key];
    if (x === null) {
      bits |= HAS_NULL_KEYS;
      continue;
    }
    bits |= kindBits(x, limit - 1);
    if (bits & DEEPER) return bits;
  }
  return bits;
}

class RowContext {
  constructor(
    readonly origin: StepOrigin,
    readonly maxJsonDepth: number,
  ) {}
  error(field: string, expected: string, got: unknown): InputError {
    return new InputError(`field "${field}": expected ${expected}, got ${describe(got)}`, originWhere(this.origin));
  }

  /**
   * Plain JSON values: int64 bigint → number (error beyond 2^53), Date → ISO string, bytes → base64
   * (only `frame.image_bytes` is binary by contract; any other binary value is kept as base64 text).
   * Object keys whose value is null are dropped (see normalizeRow).
   */
  plain(v: unknown, field: string): unknown {
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw this.error(field, 'an integer within ±2^53', v.toString());
      }
      return Number(v);
    }
    if (typeof v !== 'object') return v;
    if (v instanceof Uint8Array) return field === 'frame.image_bytes' ? v : Buffer.from(v).toString('base64');
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.map((x, i) => this.plain(x, `${field}[${i}]`));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === null || x === undefined) continue;
      out[k] = this.plain(x, field ? `${field}.${k}` : k);
    }
    return out;
  }

  /** Parsed JSON in canonical form (no null-valued keys). */
  canonical(parsed: unknown, field: string): unknown {
    const c = canonicalJson(parsed);
    return c === NOT_PLAIN ? this.plain(parsed, field) : c;
  }

  /** A string holding JSON text of an object (or null) is parsed; anything else is an error. */
  jsonText(v: unknown, field: string, allowNull: boolean): unknown {
    if (typeof v !== 'string') return v;
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch (err) {
      // The reason and position only: the text may be anything, a secret included.
      throw new InputError(
        `field "${field}": expected an object or JSON text of one, got text that is not JSON (${jsonSyntaxReason(err)})`,
        originWhere(this.origin),
      );
    }
    if (!isObject(parsed) && !(allowNull && parsed === null)) {
      throw new InputError(
        `field "${field}": expected JSON text of an object, got JSON text of ${typeName(parsed)}`,
        originWhere(this.origin),
      );
    }
    this.checkDepth(parsed, field, v);
    return this.canonical(parsed, field);
  }

  /** Refuses parsed JSON text nested deeper than the limit (text shorter than the limit cannot be). */
  checkDepth(parsed: unknown, field: string, text: string): void {
    if (text.length > this.maxJsonDepth && jsonDeeperThan(parsed, this.maxJsonDepth)) {
      throw new InputError(
        `field "${field}": JSON nested deeper than ${this.maxJsonDepth} levels, ${overLimit('maxJsonDepth', this.maxJsonDepth)}`,
        originWhere(this.origin),
      );
    }
  }
}

/** The first character of `s` that is not JSON whitespace ('' when none). */
function firstChar(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return s[i]!;
  }
  return '';
}

/** `frame.dom` as a string: JSON text of an object/array is parsed, any other text (HTML) is kept. */
function domText(v: string, rc: RowContext): Json {
  const c = firstChar(v);
  if (c === '{' || c === '[') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      return v;
    }
    rc.checkDepth(parsed, 'frame.dom', v);
    return rc.canonical(parsed, 'frame.dom') as Json;
  }
  return v;
}

/** Put dotted column names (`frame.viewport.w`) into their nested place. */
function nestDotted(fields: Record<string, unknown>, rc: RowContext): Record<string, unknown> {
  const dotted = Object.keys(fields).filter((k) => k.includes('.'));
  if (!dotted.length) return fields;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (!k.includes('.')) out[k] = v;
  for (const k of dotted) {
    const parts = k.split('.');
    let node = out;
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i]!;
      const prefix = parts.slice(0, i + 1).join('.');
      let child = rc.jsonText(node[p], prefix, false);
      if (child === undefined || child === null) child = {};
      if (!isObject(child)) throw rc.error(prefix, 'an object (a dotted column is nested under it)', child);
      node[p] = child;
      node = child;
    }
    node[parts[parts.length - 1]!] = fields[k];
  }
  return out;
}

function extOf(url: string): string | undefined {
  const p = url.replace(/[?#].*$/, '');
  const m = /\.([a-zA-Z0-9]+)$/.exec(p.slice(p.lastIndexOf('/') + 1));
  return m ? m[1]!.toLowerCase() : undefined;
}

function lazyImage(ref: string, ext: string, load: () => Promise<Uint8Array>, step: () => Step): FrameImage {
  return {
    ref,
    ext,
    async read() {
      try {
        return await load();
      } catch (err) {
        const s = step();
        const why = err instanceof Error ? err.message : String(err);
        throw new InputError(`frame ${ref || '(none)'} cannot be read: ${why}`, { file: s.origin.file, row: stepLocation(s) });
      }
    },
  };
}

function readFrame(source: Source, rel: string): Promise<Uint8Array> {
  return source.readFrame ? source.readFrame(rel) : source.read(rel);
}

/** Where the frame bytes of a row come from; nothing is read until `read()`. */
function frameImage(
  raw: RawRow,
  frame: Record<string, unknown>,
  bytes: Uint8Array | undefined,
  ctx: NormalizeContext,
  step: () => Step,
): FrameImage {
  if (raw.image) {
    const img = raw.image;
    return lazyImage(img.ref, img.ext, async () => img.bytes, step);
  }
  const url = typeof frame.image_url === 'string' ? frame.image_url : '';
  const format = typeof frame.image_format === 'string' ? frame.image_format.toLowerCase() : undefined;
  const ext = format ?? extOf(url) ?? 'webp';
  if (bytes) {
    const at =
      raw.origin.row !== undefined
        ? `row ${raw.origin.row}`
        : raw.origin.line !== undefined
          ? `line ${raw.origin.line}`
          : (raw.origin.member ?? '');
    return lazyImage(`embedded:${raw.origin.file}#${at}`, ext, async () => bytes, step);
  }
  if (url === '') {
    return lazyImage(
      '',
      ext,
      async () => {
        throw new Error('the row has no frame.image_url and no embedded image bytes');
      },
      step,
    );
  }
  // Where the export may reach is decided once, here; a refused URL fails this row's frame read.
  let to: Reference;
  try {
    to = resolveReference(url, ctx.source.root, ctx.manifest.destination, ctx.reach ?? {}, {}, '');
  } catch (err) {
    const why = (err as Error).message;
    return lazyImage(
      url.replace(/[?#].*$/, ''),
      ext,
      async () => {
        throw new Error(why);
      },
      step,
    );
  }
  if (to.kind === 'root') {
    const rel = to.path;
    return lazyImage(rel, ext, () => readFrame(ctx.source, rel), step);
  }
  const target = to.url;
  return lazyImage(
    url,
    ext,
    async () => {
      const { source, path } = await openFileUrl(target, ctx.reach);
      return readFrame(source, path);
    },
    step,
  );
}

/** Top-level fields that hold an object (or JSON text of one). */
const TOP_OBJECTS = ['frame', 'action', 'context'] as const;

/**
 * Turn a raw row into a Step; throws InputError naming the file, row and field when the row is bad.
 *
 * One canonical form whatever the format, so an export converts to the same bytes whether its rows
 * carry objects, JSON text, or a mix:
 *  - a nested value that may arrive as JSON text (`frame`, `action`, `context`, `frame.viewport`,
 *    `frame.dom`, `context.prior_action`, `context.actor`) is parsed, in every format, row by row;
 *  - an object key whose value is null is dropped at every depth, as Parquet and Arrow structs
 *    cannot tell it from an absent key (`frame.dom`, `frame.accessibility_tree` and
 *    `context.prior_action` come back as null when absent).
 */
export function normalizeRow(raw: RawRow, ctx: NormalizeContext): Step {
  const rc = new RowContext(raw.origin, (ctx.limits ?? DEFAULT_LIMITS).maxJsonDepth);
  // JSON-parsed rows (jsonl) are already plain: skip the deep copy (and its per-key path strings).
  const canon = raw.columnar ? NOT_PLAIN : canonicalJson(raw.fields, raw.jsonKind);
  let fields = (canon === NOT_PLAIN ? rc.plain(raw.fields, '') : canon) as Record<string, unknown>;
  for (const k of TOP_OBJECTS) if (typeof fields[k] === 'string') fields[k] = rc.jsonText(fields[k], k, false);
  if (raw.columnar) fields = nestDotted(fields, rc);
  const { session_id, t_ms, frame: frameIn, action: actionIn, context: contextIn, ...extra } = fields;
  if (typeof session_id !== 'string' || session_id === '') throw rc.error('session_id', 'a non-empty string', session_id);
  if (typeof t_ms !== 'number' || !Number.isSafeInteger(t_ms)) throw rc.error('t_ms', 'an integer (milliseconds from session start)', t_ms);

  if (!isObject(frameIn)) throw rc.error('frame', 'an object', frameIn);
  const { image_bytes, ...frameRest } = frameIn;
  if (image_bytes !== undefined && image_bytes !== null && !(image_bytes instanceof Uint8Array)) {
    throw rc.error('frame.image_bytes', 'binary image bytes', image_bytes);
  }
  const viewport = rc.jsonText(frameRest.viewport, 'frame.viewport', false);
  if (!isObject(viewport) || typeof viewport.w !== 'number' || typeof viewport.h !== 'number') {
    throw rc.error('frame.viewport', 'an object {w, h} of numbers', viewport);
  }
  let dom = frameRest.dom ?? null;
  if (typeof dom === 'string') dom = domText(dom, rc);
  const tree = frameRest.accessibility_tree ?? null;
  if (tree !== null && typeof tree !== 'string') throw rc.error('frame.accessibility_tree', 'a string or null', tree);
  const frame = { ...frameRest, viewport, dom, accessibility_tree: tree } as Frame;

  if (!isObject(actionIn) || typeof actionIn.type !== 'string') throw rc.error('action', 'an object with a string "type"', actionIn);
  const action = actionIn as Action;

  if (!isObject(contextIn)) throw rc.error('context', 'an object', contextIn);
  const context = { ...contextIn } as Record<string, unknown>;
  context.prior_action = rc.jsonText(context.prior_action ?? null, 'context.prior_action', true);
  if (typeof context.actor === 'string' && firstChar(context.actor) === '{') {
    context.actor = rc.jsonText(context.actor, 'context.actor', false);
  }
  const prior = context.prior_action ?? null;
  if (prior !== null && (!isObject(prior) || typeof prior.type !== 'string')) {
    throw rc.error('context.prior_action', 'null or an object with a string "type"', prior);
  }
  context.prior_action = prior;

  const step: Step = {
    session_id,
    t_ms,
    frame,
    action,
    context: context as Context,
    extra: extra as JsonObject,
    image: undefined as unknown as FrameImage,
    origin: raw.origin,
  };
  step.image = frameImage(raw, frameRest, image_bytes ?? undefined, ctx, () => step);
  return step;
}
