/**
 * The frames stage: Steps in, PreparedSteps out (image bytes resolved, coordinates in stored-image
 * pixels), in input order.
 *
 *  - Passthrough by default: bytes unchanged, only the header is probed for size and format.
 *  - Every frame's header size is checked against the frame limits (limits.ts), in passthrough
 *    too: a 30000×30000 PNG behind a 1440×900 viewport is refused, never copied or decoded.
 *  - `maxSide`: downscale so the longer side is at most N (aspect kept, never upscales).
 *  - `imageFormat` / `quality`: re-encode (webp default q80, jpeg default q85; png lossless).
 *    A frame is re-encoded only when it must be: resized, another format, or a quality asked for a
 *    lossy output. Re-encoding runs in a worker_threads pool; a bounded in-flight window keeps the
 *    output order equal to the input order and memory bounded (window = 2 × workers frames).
 *  - Coordinates: s = stored size / capture viewport (`frame.viewport`), per axis, applied to
 *    `action` and `context.prior_action` (see rescale.ts); so x_norm = x / stored width later.
 *  - `image.path` = `{session}-{hash}_{t_ms:09d}.{ext}`: a stable file name, no directories, unique
 *    per (session_id, t_ms) even on case-insensitive file systems (see `framePath`).
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { InputError, NusomiError, UsageError } from '../errors.ts';
import { DEFAULT_LIMITS, frameSizeProblem } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import { stepLocation } from '../export/step.ts';
import type { Step } from '../export/step.ts';
import type { PreparedStep } from '../hf/steps-schema.ts';
import { EncodeFailure, EncodePool } from './pool.ts';
import type { EncodeResult, EncodeTask } from './pool.ts';
import { EXT_OF, isStoredFormat, probeImage } from './probe.ts';
import type { ImageProbe, StoredExt, StoredFormat } from './probe.ts';
import { rescaleAction } from './rescale.ts';

export interface FrameOptions {
  maxSide?: number;
  imageFormat?: StoredFormat;
  quality?: number;
  /** Encoder threads; default = available cores. */
  workers?: number;
  /** Largest frame (pixels, and size against the viewport); default DEFAULT_LIMITS. */
  limits?: Pick<InputLimits, 'maxFramePixels' | 'maxFrameScale'>;
}

/** `PreparedStep['image']`, named. */
export interface PreparedImage {
  bytes: Uint8Array;
  ext: StoredExt;
  width: number;
  height: number;
  /** Stable file name, e.g. `ses_01-0a1b2c3d4e5f_000012480.webp`. */
  path: string;
}

export type { PreparedStep };

const DEFAULT_QUALITY: Record<StoredFormat, number> = { webp: 80, jpeg: 85, png: 100 };

export function checkFrameOptions(opts: FrameOptions): void {
  if (opts.maxSide !== undefined && !(Number.isInteger(opts.maxSide) && opts.maxSide >= 1)) {
    throw new UsageError(`--max-side: expected a whole number of pixels >= 1, got ${opts.maxSide}`);
  }
  if (opts.imageFormat !== undefined && !isStoredFormat(opts.imageFormat)) {
    throw new UsageError(`--image-format: expected webp, jpeg or png, got ${String(opts.imageFormat)}`);
  }
  if (opts.quality !== undefined && !(Number.isInteger(opts.quality) && opts.quality >= 1 && opts.quality <= 100)) {
    throw new UsageError(`--quality: expected a whole number 1..100, got ${opts.quality}`);
  }
  if (opts.quality !== undefined && opts.imageFormat === 'png') {
    throw new UsageError('--quality applies to webp and jpeg; png is lossless');
  }
  if (opts.workers !== undefined && !(Number.isInteger(opts.workers) && opts.workers >= 1)) {
    throw new UsageError(`--workers: expected a whole number >= 1, got ${opts.workers}`);
  }
}

/** The stored size for a frame of (w, h) under maxSide: aspect kept, never upscaled. */
export function targetSize(w: number, h: number, maxSide?: number): { width: number; height: number } {
  if (maxSide === undefined || Math.max(w, h) <= maxSide) return { width: w, height: h };
  const s = maxSide / Math.max(w, h);
  return { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)) };
}

/** Characters of the sanitised session id kept in a frame file name; the hash after it keeps names unique. */
const FRAME_NAME_PREFIX = 48;
/** Hex digits of sha256(session_id) in a frame file name (48 bits). */
const FRAME_NAME_HASH_HEX = 12;

// Rows arrive grouped by session: one hash per session, not per frame.
let lastSessionId: string | undefined;
let lastSessionName = '';

/**
 * The session part of a frame file name: the id with characters outside [A-Za-z0-9_-] replaced by
 * `-` (readable), then `-` and a hash of the raw id. Sanitising alone is not injective (`ses-x` and
 * `ses.x` both become `ses-x`, `A` and `a` are one file on macOS/Windows); the hash of the raw id is.
 */
export function frameSessionName(sessionId: string): string {
  if (sessionId !== lastSessionId) {
    const hash = createHash('sha256').update(sessionId, 'utf8').digest('hex').slice(0, FRAME_NAME_HASH_HEX);
    lastSessionName = `${sessionId.slice(0, FRAME_NAME_PREFIX).replace(/[^A-Za-z0-9_-]/g, '-')}-${hash}`;
    lastSessionId = sessionId;
  }
  return lastSessionName;
}

/** `{session}-{hash}_{t_ms:09d}.{ext}`: t_ms (no `_` in it) follows the last `_`, so names are unique per (session_id, t_ms). */
export function framePath(step: Pick<Step, 'session_id' | 't_ms'>, ext: StoredExt): string {
  return `${frameSessionName(step.session_id)}_${String(step.t_ms).padStart(9, '0')}.${ext}`;
}

function where(step: Step) {
  return { file: step.origin.file, row: stepLocation(step) };
}

async function prepareOne(step: Step, opts: FrameOptions, pool: () => EncodePool): Promise<PreparedStep> {
  const vp = step.frame?.viewport;
  if (!vp || !(typeof vp.w === 'number' && vp.w > 0) || !(typeof vp.h === 'number' && vp.h > 0)) {
    throw new InputError(`frame.viewport must be {w, h} with positive numbers, got ${JSON.stringify(vp)}`, where(step));
  }
  let bytes: Uint8Array;
  try {
    bytes = await step.image.read();
  } catch (err) {
    if (err instanceof NusomiError) throw err;
    throw new InputError(`cannot read frame image ${step.image.ref}: ${(err as Error).message}`, where(step));
  }
  let probe: ImageProbe;
  try {
    probe = await probeImage(bytes);
  } catch (err) {
    throw new InputError(`cannot decode frame image ${step.image.ref}: ${(err as Error).message}`, where(step));
  }
  const tooBig = frameSizeProblem(probe.width, probe.height, vp, opts.limits ?? DEFAULT_LIMITS);
  if (tooBig) throw new InputError(`frame image ${step.image.ref}: ${tooBig}`, where(step));
  const size = targetSize(probe.width, probe.height, opts.maxSide);
  const resize = size.width !== probe.width || size.height !== probe.height;
  const outFormat = opts.imageFormat ?? probe.format;
  const lossy = outFormat === 'webp' || outFormat === 'jpeg';
  const reencode = resize || outFormat !== probe.format || (opts.quality !== undefined && lossy);
  if (!isStoredFormat(outFormat)) {
    throw new InputError(
      `frame image ${step.image.ref} is ${probe.format}; pass --image-format webp, jpeg or png to convert it`,
      where(step),
    );
  }
  let image: PreparedImage;
  if (!reencode) {
    image = { bytes, ext: EXT_OF[outFormat], width: probe.width, height: probe.height, path: framePath(step, EXT_OF[outFormat]) };
  } else {
    const task: EncodeTask = { bytes, format: outFormat, quality: opts.quality ?? DEFAULT_QUALITY[outFormat] };
    if (resize) task.resize = size;
    let out: EncodeResult;
    try {
      out = await pool().run(task);
    } catch (err) {
      if (err instanceof EncodeFailure) {
        throw new InputError(`cannot decode frame image ${step.image.ref}: ${err.message}`, where(step));
      }
      throw err;
    }
    const ext = EXT_OF[outFormat];
    image = { bytes: out.bytes, ext, width: out.width, height: out.height, path: framePath(step, ext) };
  }
  const sx = image.width / vp.w;
  const sy = image.height / vp.h;
  const bounds = { w: image.width, h: image.height };
  const prior = step.context?.prior_action ?? null;
  try {
    return {
      step,
      action: rescaleAction(step.action, sx, sy, bounds),
      prior_action: prior === null ? null : rescaleAction(prior, sx, sy, bounds),
      image,
    };
  } catch (err) {
    if (err instanceof InputError) throw new InputError(err.message, where(step));
    throw err;
  }
}

/** Prepare every frame of a Step stream, in order. See the module comment for the rules. */
export async function* prepareFrames(steps: AsyncIterable<Step>, opts: FrameOptions = {}): AsyncIterable<PreparedStep> {
  checkFrameOptions(opts);
  const workers = opts.workers ?? availableParallelism();
  // Re-encoding: 2 frames per worker. Passthrough only waits on reads, so more are read ahead
  // (16 × ~150 KB): the file reads overlap instead of stalling the writers one frame at a time.
  const reencodes = opts.maxSide !== undefined || opts.imageFormat !== undefined || opts.quality !== undefined;
  const window = reencodes ? Math.max(2, workers * 2) : Math.max(16, workers * 2);
  let pool: EncodePool | undefined;
  const getPool = (): EncodePool => (pool ??= new EncodePool(workers));
  const inflight: Promise<PreparedStep>[] = [];
  try {
    for await (const step of steps) {
      const p = prepareOne(step, opts, getPool);
      // Awaited in order below; this only keeps a later failure from being "unhandled" meanwhile.
      p.catch(() => {});
      inflight.push(p);
      if (inflight.length >= window) yield await inflight.shift()!;
    }
    while (inflight.length) yield await inflight.shift()!;
  } finally {
    // On error or early return, let in-flight work settle before the pool goes away.
    await Promise.allSettled(inflight);
    await pool?.close();
  }
}
