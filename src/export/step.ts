/**
 * The canonical in-memory record: one frame/action pair of an export, whatever format and source
 * it came from. Everything downstream (select, frames, writers, validate) takes Steps.
 *
 * Field values are kept as in the source row (unknown fields included) so nothing is lost.
 * Normalisation every reader applies, so that all export formats read to equal Steps:
 *  - JSON text of a nested value (frame, action, context, frame.viewport, frame.dom,
 *    context.prior_action, context.actor) is parsed, in every format, row by row;
 *  - object keys whose value is null are dropped, in every format (Parquet/Arrow structs cannot
 *    tell "absent" from "null"), except the fields below that are always present;
 *  - `frame.dom`, `frame.accessibility_tree` and `context.prior_action` are always present (null when absent);
 *  - int64 values become JS numbers (an error if beyond 2^53);
 *  - embedded frame bytes (`frame.image_bytes` column, tar image member) move out of `frame` into `image`.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Action extends JsonObject {
  /** click, double_click, right_click, input_text, key, scroll, drag, hover, navigate, select, wait, ... (open set) */
  type: string;
}

export interface Frame extends JsonObject {
  viewport: { w: number; h: number };
  dom: Json; // object, string or null
  accessibility_tree: string | null;
}

export interface Context extends JsonObject {
  prior_action: Action | null;
}

/** Where a Step came from, for error messages: the file and the row or tar member. */
export interface StepOrigin {
  /** Relative path under the export root (or full URL for https files). */
  file: string;
  /** 1-based line (jsonl) or 0-based row index (parquet/arrow), when applicable. */
  line?: number;
  row?: number;
  /** Tar member key or name, for webdataset exports. */
  member?: string;
}

/** The frame's image bytes, resolved only when asked (frames are most of an export's bytes). */
export interface FrameImage {
  /**
   * Where the bytes come from, for messages and dedup: `embedded:<file>#<row|member>`, a relative
   * path under the export root, or a URL fetched through a source.
   */
  readonly ref: string;
  /** Image file extension without the dot as found at the source: `webp`, `png`, `jpg`. */
  readonly ext: string;
  /** The encoded image bytes. Throws InputError naming the step when the frame cannot be read. */
  read(): Promise<Uint8Array>;
}

export interface Step {
  session_id: string;
  t_ms: number;
  frame: Frame;
  action: Action;
  context: Context;
  /** Unknown top-level fields of the row, kept verbatim. */
  extra: JsonObject;
  image: FrameImage;
  origin: StepOrigin;
}

/** `session ses_01 t_ms 1200` — the row location used in error messages. */
export function stepLocation(s: Pick<Step, 'session_id' | 't_ms'>): string {
  return `session ${s.session_id} t_ms ${s.t_ms}`;
}

/** How a frame-sampled export's rows without an event look: `{"type": "none"}` and the like. */
const NO_ACTION_TYPES = new Set(['none', 'frame', 'null']);

/**
 * Does this row carry an action? Not when `action` is absent, null or not an object, has no
 * `type`, or has type `none`/`frame`/`null` (`wait` is an action).
 */
export function hasAction(step: Pick<Step, 'action'>): boolean {
  const a = step.action as Json | undefined;
  if (a === null || a === undefined || typeof a !== 'object' || Array.isArray(a)) return false;
  const type = a['type'];
  return typeof type === 'string' && type !== '' && !NO_ACTION_TYPES.has(type);
}
