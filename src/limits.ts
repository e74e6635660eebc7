/**
 * Limits on untrusted input. An export (and a dataset handed to validate) may be crafted: one
 * line, member or JSON text must not take all memory or the call stack. Every reader takes its
 * bound from here; each limit has a CLI flag (src/cli/input-options.ts) so a user can raise it.
 */
import { InputError } from './errors.ts';
import type { Where } from './errors.ts';

export interface InputLimits {
  /** Longest jsonl line in bytes (also inside .jsonl.gz and webdataset sidecars). */
  maxLineBytes: number;
  /** Largest object read whole: a tar member, a frame image file, manifest.json. */
  maxMemberBytes: number;
  /** Deepest nesting of JSON objects and arrays in a row, a JSON text column or a manifest. */
  maxJsonDepth: number;
  /** Most pixels a frame may have, from its image header (width × height). */
  maxFramePixels: number;
  /** How many times wider or taller than its viewport a frame may be (HiDPI captures are 2-3×). */
  maxFrameScale: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxLineBytes: 64 * MiB,
  maxMemberBytes: 256 * MiB,
  // Far deeper than any DOM tree; shallow enough that recursive walkers (ours, JSON.stringify,
  // Python's json with its default recursion limit of 1000) never run out of stack.
  maxJsonDepth: 256,
  // 8192 × 8192: an 8K screen fits; decoding one for a resize takes 256 MiB.
  maxFramePixels: 8192 * 8192,
  maxFrameScale: 4,
});

/** The flag that raises each limit, for messages. */
export const LIMIT_FLAG: Record<keyof InputLimits, string> = {
  maxLineBytes: '--max-line-bytes',
  maxMemberBytes: '--max-member-bytes',
  maxJsonDepth: '--max-json-depth',
  maxFramePixels: '--max-frame-pixels',
  maxFrameScale: '--max-frame-scale',
};

export function resolveLimits(partial: Partial<InputLimits> = {}): InputLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(partial) as (keyof InputLimits)[]) if (partial[k] !== undefined) out[k] = partial[k]!;
  return out;
}

/** `what is 300 bytes, over the limit of 256 (--max-member-bytes)`: the part of a message that says how to raise it. */
export function overLimit(limit: keyof InputLimits, value: number): string {
  return `over the limit of ${value} (${LIMIT_FLAG[limit]})`;
}

/** Whether a parsed JSON value nests objects and arrays deeper than `limit` (recursion never goes past it). */
export function jsonDeeperThan(v: unknown, limit: number): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (limit === 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (jsonDeeperThan(v[i], limit - 1)) return true;
    return false;
  }
  for (const k in v as Record<string, unknown>) if (jsonDeeperThan((v as Record<string, unknown>)[k], limit - 1)) return true;
  return false;
}

/**
 * Whether JSON text nests deeper than `limit`, from the text alone (nothing recursive runs): for
 * callers that must decide before parsing. After JSON.parse, `jsonDeeperThan` is cheaper.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash escape
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > limit) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/**
 * Why JSON.parse failed, without the text: V8's messages quote the input around the error
 * (`Unexpected token 'a', "secret..." is not valid JSON`), and input may be anything, a secret included.
 */
export function jsonSyntaxReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : '';
  const pos = /at position (\d+)/.exec(msg);
  const at = pos ? ` at character ${Number(pos[1]) + 1}` : '';
  if (/^Unexpected end of JSON input/.test(msg)) return 'it ends early';
  if (/^Unterminated string/.test(msg)) return `a string is not closed${at}`;
  if (/^Bad control character/.test(msg)) return `a control character inside a string${at}`;
  if (/^Bad (escaped character|Unicode escape)/.test(msg)) return `a bad escape in a string${at}`;
  if (/^Expected/.test(msg)) return `syntax error${at}: ${msg.replace(/ in JSON at position.*$/, '').replace(/^Expected/, 'expected')}`;
  if (/^Unexpected non-whitespace/.test(msg)) return `text after the JSON value${at}`;
  if (/^Unexpected token/.test(msg)) return `an unexpected character${at}`;
  return `syntax error${at}`;
}

/**
 * Why reading or parsing a file failed, without its text: JSON syntax errors give the position
 * only; a YAML error its code, line and column (its message quotes the source lines); any other
 * error (I/O, our own InputError) says nothing of the content and passes as it is.
 */
export function failureReason(err: unknown): string {
  if (err instanceof SyntaxError) return jsonSyntaxReason(err);
  const e = err as { name?: string; code?: string; linePos?: Array<{ line: number; col: number }>; message?: string };
  if (e?.name === 'YAMLParseError' || e?.name === 'YAMLWarning') {
    const at = e.linePos?.[0];
    return `${e.code ?? 'syntax error'}${at ? ` at line ${at.line}, column ${at.col}` : ''}`;
  }
  return String(e?.message ?? err);
}

/**
 * Parse untrusted JSON text: errors name `where` and the position only (never the text), and a
 * value nested deeper than `maxDepth` is refused before anything recursive walks it (V8's
 * JSON.parse itself is iterative and copes with any depth).
 */
export function parseJsonText(text: string, maxDepth: number, where: Where, what = 'valid JSON'): unknown {
  const v = parseJsonOnly(text, where, what);
  if (typeof v === 'object' && v !== null && jsonDeeperThan(v, maxDepth)) throw jsonTooDeep(maxDepth, where);
  return v;
}

/** parseJsonText without the depth check, for a caller that checks it in a walk of its own (export/jsonl.ts). */
export function parseJsonOnly(text: string, where: Where, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`not ${what} (${jsonSyntaxReason(err)})`, where);
  }
}

/** The error for JSON nested deeper than `maxDepth` (jsonDeeperThan). */
export function jsonTooDeep(maxDepth: number, where: Where): InputError {
  return new InputError(`JSON nested deeper than ${maxDepth} levels, ${overLimit('maxJsonDepth', maxDepth)}`, where);
}

/** A short, content-free name for a value's type, for messages about untrusted input. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/**
 * Why a frame's header size is refused, or undefined when it is fine: more pixels than
 * `maxFramePixels`, or wider/taller than `maxFrameScale` × its viewport (a 30000×30000 PNG behind a
 * 1440×900 viewport). Smaller than the viewport is fine: exports may carry downscaled frames.
 */
export function frameSizeProblem(
  width: number,
  height: number,
  viewport: { w: number; h: number },
  limits: Pick<InputLimits, 'maxFramePixels' | 'maxFrameScale'>,
): string | undefined {
  const pixels = width * height;
  if (pixels > limits.maxFramePixels)
    return `frame is ${width}x${height} (${pixels} pixels), ${overLimit('maxFramePixels', limits.maxFramePixels)}`;
  const scale = Math.max(width / viewport.w, height / viewport.h);
  if (scale > limits.maxFrameScale) {
    return `frame is ${width}x${height}, ${+scale.toFixed(2)} times its ${viewport.w}x${viewport.h} viewport, ${overLimit('maxFrameScale', limits.maxFrameScale)}`;
  }
  return undefined;
}

/** A byte size from a flag: `67108864`, `64MiB`, `64MB`, `1GiB`, `512KiB`. */
export function parseByteSize(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?$/i.exec(v.trim());
  if (!m) return undefined;
  const unit: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    kib: 1024,
    mib: MiB,
    gib: 1024 * MiB,
    tib: 1024 * 1024 * MiB,
  };
  const n = Math.round(Number(m[1]) * unit[(m[2] ?? 'b').toLowerCase()]!);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
