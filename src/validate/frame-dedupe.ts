/**
 * Identical frames across splits (`leakage.duplicate_frame`) without hashing every frame. Each
 * frame gets a cheap fingerprint (size + sha256 of its first and last 2 KB); a frame whose
 * fingerprint was never seen is new, full stop. Only when a fingerprint repeats are the frames
 * compared byte for byte (the earlier one re-read by range when it is not cached), and the full
 * sha256 is computed only for what a finding prints. The result is exact: two frames are the same
 * when their bytes are equal, never because a fingerprint matched.
 *
 * Frames whose bytes were already hashed elsewhere (`--decode full` hashes in the frame workers)
 * are grouped by that hash instead. Frames that cannot be re-read (embedded in Parquet/Arrow) are
 * hashed when first seen, as before.
 */
import { createHash } from 'node:crypto';
import type { Source } from '../source/types.ts';

/** Where a frame's bytes can be read again: a tar member's data, a frame file. */
export interface FrameLocation {
  file: string;
  start: number;
  end: number;
}

export interface FrameRef {
  /** The bytes, while the caller still has them (header mode); null when they went to a worker. */
  bytes: Uint8Array | null;
  /** sha256 hex (32 chars), when already computed. */
  hash: string | null;
  at: FrameLocation | null;
  /** Set by FrameDedupe.identify: which distinct content these bytes are (then `bytes` may go). */
  content?: FrameContent;
}

export interface DuplicateOf {
  /** The split the same bytes were first seen in. */
  split: string;
  /** sha256 hex (32 chars) of those bytes. */
  hash: string;
}

/** One distinct content within a fingerprint group, kept as cheaply as possible. */
export interface FrameContent {
  /** The split of the first row that showed it (null: identified, no row checked yet). */
  split: string | null;
  hash: string | null;
  bytes: Uint8Array | null;
  at: FrameLocation | null;
}

const EDGE = 2048;
/** Copies of frames kept to compare repeats against without re-reading them. */
const DEFAULT_CACHE = 32 << 20;
/** Beyond this many distinct contents under one fingerprint, compare by full hash. */
const MAX_BYTEWISE = 4;

export function frameHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

function fingerprint(b: Uint8Array): string {
  const h = createHash('sha256');
  if (b.length <= 2 * EDGE) h.update(b);
  else h.update(b.subarray(0, EDGE)).update(b.subarray(b.length - EDGE));
  return `${b.length}:${h.digest('base64')}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

export class FrameDedupe {
  /** Per copy (format): fingerprint (or `#` + full hash) → the distinct contents under it. */
  private readonly groups = new Map<string, Map<string, FrameContent | FrameContent[]>>();
  private cached = 0;

  constructor(
    private readonly source: Source,
    private readonly cacheBudget = DEFAULT_CACHE,
  ) {}

  /**
   * Which distinct content a frame is (exact: bytes compared). Call it while the bytes are valid,
   * in any order; it records no split.
   */
  async identify(format: string, frame: FrameRef): Promise<FrameContent> {
    if (frame.content) return frame.content;
    let groups = this.groups.get(format);
    if (!groups) this.groups.set(format, (groups = new Map()));
    const key = frame.bytes ? fingerprint(frame.bytes) : `#${frame.hash}`;
    const found = groups.get(key);
    if (found === undefined) {
      // A new fingerprint: nothing to compare. Keep where to find the bytes again, or their hash.
      const c = this.remember(frame, false);
      groups.set(key, c);
      return (frame.content = c);
    }
    const list = Array.isArray(found) ? found : [found];
    for (const c of list) {
      if (await this.same(c, frame, list.length > MAX_BYTEWISE)) return (frame.content = c);
    }
    // Same fingerprint, other bytes: one more content (cached, since its fingerprint repeats).
    const c = this.remember(frame, true);
    list.push(c);
    if (!Array.isArray(found)) groups.set(key, list);
    return (frame.content = c);
  }

  /**
   * Call once per checked row with a frame, in row order: the split identical bytes were first
   * seen in when that is another split than this row's, else null.
   */
  async check(format: string, split: string, frame: FrameRef): Promise<DuplicateOf | null> {
    const c = await this.identify(format, frame);
    if (c.split === null) {
      c.split = split;
      return null;
    }
    return c.split === split ? null : { split: c.split, hash: await this.hashOf(c) };
  }

  private remember(frame: FrameRef, cache: boolean): FrameContent {
    const c: FrameContent = { split: null, hash: frame.hash, bytes: null, at: frame.at };
    if (frame.bytes && cache && this.cached + frame.bytes.length <= this.cacheBudget) {
      c.bytes = frame.bytes.slice();
      this.cached += c.bytes.length;
    } else if (!c.at && !c.hash && frame.bytes) {
      // Cannot be read again: the hash is all there will be to compare with.
      c.hash = frameHash(frame.bytes);
    }
    return c;
  }

  private async same(c: FrameContent, frame: FrameRef, byHash: boolean): Promise<boolean> {
    if (c.hash && frame.hash) return c.hash === frame.hash;
    if (!frame.bytes) {
      // Only a hash for this frame (full mode): compare hashes.
      if (!frame.hash) return false;
      const h = await this.hashOf(c);
      return h === frame.hash;
    }
    if (!byHash && (c.bytes || c.at)) {
      const bytes = c.bytes ?? (await this.load(c));
      if (bytes) return equalBytes(frame.bytes, bytes);
    }
    if (!c.hash && !c.bytes && !c.at) return false;
    frame.hash ??= frameHash(frame.bytes);
    return (await this.hashOf(c)) === frame.hash;
  }

  /** The content's hash: computed once, from the cached copy or a re-read. */
  private async hashOf(c: FrameContent): Promise<string> {
    if (c.hash) return c.hash;
    const bytes = c.bytes ?? (await this.load(c));
    c.hash = bytes ? frameHash(bytes) : '(unreadable)';
    return c.hash;
  }

  /** Re-reads an earlier frame; caches it while the budget lasts, else keeps only its hash. */
  private async load(c: FrameContent): Promise<Uint8Array | null> {
    const at = c.at;
    if (!at) return null;
    let bytes: Uint8Array;
    try {
      bytes = await this.source.read(at.file, { start: at.start, end: at.end });
    } catch {
      bytes = new Uint8Array(0);
    }
    if (bytes.length !== at.end - at.start) {
      // The file changed under us: this content can no longer be matched.
      c.at = null;
      c.hash = '(unreadable)';
      return null;
    }
    if (this.cached + bytes.length <= this.cacheBudget) {
      c.bytes = bytes;
      this.cached += bytes.length;
    } else {
      c.hash ??= frameHash(bytes);
      c.at = null;
    }
    return bytes;
  }
}
