/**
 * `--frames`: the vendor's frame sampling modes (its export page's `frame_sampling`), applied on the
 * consumer side to an export that carries more than action frames (rows whose action is absent or
 * `none`/`frame`/`null`, see `hasAction`). Every mode keeps every action frame.
 *
 *  - `all` (default): every row. `action-only`: action frames only (the vendor's `event_only`).
 *  - `every-n-ms:N`: per session, a frame without an action is kept when at least N ms passed since
 *    the last frame kept (action frames count); the first frame of a session is kept. So kept
 *    frames are never more than N ms plus one capture interval apart, and never closer than N ms
 *    except around actions.
 *  - `keyframes[:T]`: per session, a frame without an action is kept when the screen changed
 *    materially since the last frame kept: each frame is decoded to a KEYFRAME_SIDE² greyscale
 *    thumbnail, and a frame is a keyframe when the mean absolute difference of its thumbnail and the
 *    last kept frame's is at least T grey levels (default KEYFRAME_MIN_DIFFERENCE). The first frame
 *    of a session is kept. A frame that cannot be decoded is kept (it then fails, or is skipped with
 *    --on-error skip, like any bad frame) and is not compared against. Each frame
 *    without an action, and each kept frame one follows, is decoded once per convert pass (tens of ms
 *    for a 1440×900 WebP), up to KEYFRAME_DECODE_AHEAD at once ahead of the decisions; action
 *    frames followed by action frames are not decoded.
 * The decisions depend only on the rows and frame bytes, so every run (and both convert passes)
 * keep the same frames.
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { UsageError } from '../errors.ts';
import { hasAction } from '../export/step.ts';
import type { Step } from '../export/step.ts';
import { releaseFrame } from '../buffers/index.ts';
import { DEFAULT_LIMITS } from '../limits.ts';

export type FramesMode = 'action-only' | 'all' | 'keyframes' | `keyframes:${number}` | `every-n-ms:${number}`;

export type FrameSampling =
  | { mode: 'all' }
  | { mode: 'action-only' }
  | { mode: 'every-n-ms'; intervalMs: number }
  | { mode: 'keyframes'; minDifference: number };

/** Keyframes: frames are compared as KEYFRAME_SIDE × KEYFRAME_SIDE greyscale thumbnails. */
export const KEYFRAME_SIDE = 32;
/**
 * Keyframes: the least mean absolute difference (grey levels 0..255, averaged over the thumbnail)
 * that counts as a material change. Measured on the sample UI at 1440×900 (WebP): a loading panel
 * over the content about 14.6; a typed value, a focus ring or a new table line 0.12 to 0.28; the
 * mouse pointer jumping across the screen 0.02 to 0.07, drifting a few pixels below 0.04.
 */
export const KEYFRAME_MIN_DIFFERENCE = 0.1;
/** `every-n-ms:N`: the largest N (one hour). */
export const MAX_FRAME_INTERVAL_MS = 3_600_000;

/** What `--frames` accepts, for usage errors. */
export const FRAMES_EXPECTED =
  'expected all, action-only, every-n-ms:N (N whole milliseconds, 1..3600000) or keyframes[:T] (T grey levels, > 0 and <= 255)';

/** Parse a `--frames` value. A bad one is a one-line UsageError. */
export function parseFrameSampling(value: string): FrameSampling {
  if (value === 'all' || value === 'action-only') return { mode: value };
  if (value === 'keyframes') return { mode: 'keyframes', minDifference: KEYFRAME_MIN_DIFFERENCE };
  const bad = () => new UsageError(`--frames: ${FRAMES_EXPECTED}, got ${JSON.stringify(String(value).slice(0, 80))}`);
  const every = /^every-n-ms:(\d{1,7})$/.exec(value);
  if (every) {
    const n = Number(every[1]);
    if (!(n >= 1 && n <= MAX_FRAME_INTERVAL_MS)) throw bad();
    return { mode: 'every-n-ms', intervalMs: n };
  }
  const key = /^keyframes:(\d{1,3}(?:\.\d{1,6})?)$/.exec(value);
  if (key) {
    const t = Number(key[1]);
    if (!(t > 0 && t <= 255)) throw bad();
    return { mode: 'keyframes', minDifference: t };
  }
  throw bad();
}

/** The mode in words, for the card and the manifest's filter summary; undefined for `all`. */
export function describeFrameSampling(s: FrameSampling): string | undefined {
  switch (s.mode) {
    case 'all':
      return undefined;
    case 'action-only':
      return 'action frames only';
    case 'every-n-ms':
      return `a frame every ${s.intervalMs} ms, plus every action frame`;
    case 'keyframes':
      return `keyframes (mean absolute difference of ${KEYFRAME_SIDE}x${KEYFRAME_SIDE} greyscale thumbnails >= ${s.minDifference} grey levels from the last kept frame), plus every action frame`;
  }
}

/** Decides, row by row in (session_id, t_ms) order, whether a frame without an action is kept. */
export interface FrameSampler {
  /** `action`: the row carries an action (always kept; it still moves the sampler's reference). */
  keep(step: Step, action: boolean): Promise<boolean>;
  /** The input stream, wrapped to prepare work ahead of `keep` (keyframes decodes a few frames ahead). */
  ahead?(steps: AsyncIterable<Step>): AsyncIterable<Step>;
}

/** Keyframes: frames decoded ahead of the decisions, at once (sharp decodes on libvips' threads). */
export const KEYFRAME_DECODE_AHEAD = Math.min(8, Math.max(2, availableParallelism()));

/** The sampler for a stateful mode, or undefined when the mode decides row by row (`all`, `action-only`). */
export function createFrameSampler(s: FrameSampling, maxFramePixels = DEFAULT_LIMITS.maxFramePixels): FrameSampler | undefined {
  if (s.mode === 'every-n-ms') return intervalSampler(s.intervalMs);
  if (s.mode === 'keyframes') return keyframeSampler(s.minDifference, maxFramePixels);
  return undefined;
}

function intervalSampler(intervalMs: number): FrameSampler {
  let session: string | undefined;
  let lastKept = 0;
  return {
    async keep(step, action) {
      const first = step.session_id !== session;
      if (first || action || step.t_ms - lastKept >= intervalMs) {
        session = step.session_id;
        lastKept = step.t_ms;
        return true;
      }
      return false;
    },
  };
}

/** The frame's greyscale thumbnail, or null when it cannot be read or decoded. */
export async function keyframeThumbnail(step: Step, maxFramePixels: number): Promise<Uint8Array | null> {
  let bytes: Uint8Array;
  try {
    bytes = await step.image.read();
  } catch {
    return null;
  }
  try {
    const out = await sharp(bytes, { limitInputPixels: maxFramePixels })
      .greyscale()
      .resize(KEYFRAME_SIDE, KEYFRAME_SIDE, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    // Greyscale of an image with alpha keeps 2 channels: take the grey one.
    const ch = out.info.channels;
    if (ch === 1) return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
    const grey = new Uint8Array(KEYFRAME_SIDE * KEYFRAME_SIDE);
    for (let i = 0; i < grey.length; i++) grey[i] = out.data[i * ch]!;
    return grey;
  } catch {
    return null;
  } finally {
    releaseFrame(bytes);
  }
}

/** Mean absolute difference of two thumbnails, in grey levels. */
export function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function keyframeSampler(minDifference: number, maxFramePixels: number): FrameSampler {
  // libvips' operation cache would keep recent decodes (up to 50 MB); no frame is decoded twice in a row.
  sharp.cache(false);
  let session: string | undefined;
  // The last kept frame: its thumbnail is made only when a frame without an action needs it, so
  // action frames followed by action frames are never decoded (re-reading a frame costs less).
  let reference: Step | undefined;
  let referenceThumb: Uint8Array | null = null;
  // Compared as integer sums, so no float rounding can differ between runs.
  const minSum = minDifference * KEYFRAME_SIDE * KEYFRAME_SIDE;
  const keepAsReference = (step: Step, thumb: Uint8Array | null): true => {
    reference = step;
    referenceThumb = thumb;
    return true;
  };
  // Thumbnails started ahead: frames without an action, and an action frame one follows.
  const started = new WeakMap<Step, Promise<Uint8Array | null>>();
  const thumbnail = (step: Step): Promise<Uint8Array | null> => started.get(step) ?? keyframeThumbnail(step, maxFramePixels);
  return {
    async *ahead(steps) {
      const queue: Step[] = [];
      const it = steps[Symbol.asyncIterator]();
      let last: Step | undefined;
      let done = false;
      try {
        for (;;) {
          while (!done && queue.length < KEYFRAME_DECODE_AHEAD) {
            const r = await it.next();
            if (r.done) {
              done = true;
              break;
            }
            const step = r.value;
            if (!hasAction(step)) {
              if (last && last.session_id === step.session_id && !started.has(last))
                started.set(last, keyframeThumbnail(last, maxFramePixels));
              started.set(step, keyframeThumbnail(step, maxFramePixels));
            }
            queue.push(step);
            last = step;
          }
          const next = queue.shift();
          if (next === undefined) return;
          yield next;
        }
      } finally {
        if (!done) await it.return?.();
      }
    },
    async keep(step, action) {
      if (step.session_id !== session) {
        session = step.session_id;
        return keepAsReference(step, null);
      }
      if (action) return keepAsReference(step, null);
      const thumb = await thumbnail(step);
      // Not decodable: kept (it fails or is skipped downstream), and not compared against.
      if (thumb === null) return true;
      if (referenceThumb === null && reference !== undefined) referenceThumb = await thumbnail(reference);
      if (referenceThumb === null) return keepAsReference(step, thumb);
      let sum = 0;
      for (let i = 0; i < thumb.length; i++) sum += Math.abs(thumb[i]! - referenceThumb[i]!);
      if (sum < minSum) return false;
      return keepAsReference(step, thumb);
    },
  };
}
