import { newSharedBlock, sharedBlockOf } from './shared-block.ts';
import type { SharedBlock } from './shared-block.ts';

/**
 * A row group's (or record batch's) media bytes, held so that a writer that keeps ~100 rows before
 * writing them holds a reference to every frame it keeps: the rows' own frame buffers are released
 * by their owner as soon as `add()` returns (convert gives slots back to the reader), and nothing
 * large lives long enough to reach V8's old generation.
 *
 *  - A frame already in shared memory (a frame slot, frame-slots.ts) is kept as it is and retained
 *    until `reset()`: a slot is reused only once nobody holds it, so the bytes stay put without a
 *    copy.
 *  - Any other frame is copied into the arena's own shared blocks. Two take turns: while one
 *    group's frames are still being written, the next group fills the other. A block grows to the
 *    largest group's media.
 * Either way the local sink writes and hashes the frames where they are (it retains them too).
 */
export class MediaArena {
  private blocks: SharedBlock[] = [newSharedBlock(16 << 20), newSharedBlock(16 << 20)];
  private current = 0;
  private used = 0;
  /** Blocks of other owners retained for this group. */
  private held: SharedBlock[] = [];
  /** This group's copies by the buffer copied: a frame held again (a history frame) is copied once and stays one buffer. */
  private copies = new Map<Uint8Array, Uint8Array>();

  /** Call before the first `hold` of a group: waits until the sink is done with this block's last group. */
  async begin(): Promise<void> {
    await this.blocks[this.current]!.whenReleased();
  }

  /** An Image value `{bytes, path}` whose bytes stay valid until `reset()` (other values as they are). */
  hold(v: unknown): unknown {
    const image = v as { bytes?: unknown; path?: unknown } | null | undefined;
    if (!image || !(image.bytes instanceof Uint8Array)) return v ?? null;
    const bytes = image.bytes;
    const shared = sharedBlockOf(bytes);
    if (shared) {
      shared.retain();
      this.held.push(shared);
      return image;
    }
    const copied = this.copies.get(bytes);
    if (copied) return { ...image, bytes: copied };
    let block = this.blocks[this.current]!;
    if (this.used + bytes.length > block.bytes.length) {
      // Views into the old block stay valid; it is collected once they and the sink let go of it.
      block = this.blocks[this.current] = newSharedBlock(Math.max(block.bytes.length * 2, bytes.length));
      this.used = 0;
    }
    const copy = block.bytes.subarray(this.used, this.used + bytes.length);
    copy.set(bytes);
    this.copies.set(bytes, copy);
    this.used += bytes.length;
    return { ...image, bytes: copy };
  }

  /** The group is written (the sink has copied or retained every byte): release it; the next group takes the other block. */
  reset(): void {
    for (const b of this.held) b.release();
    this.held = [];
    this.copies.clear();
    this.current = 1 - this.current;
    this.used = 0;
  }
}
