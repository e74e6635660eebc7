import { newSharedBlock, pin, sharedBlockOf, unpin, whenUnpinned } from '../sink/shared-blocks.ts';
import type { SharedBlock } from '../sink/shared-blocks.ts';

/**
 * A row group's (or record batch's) media bytes, held so that a writer that keeps ~100 rows before
 * writing them keeps no ordinary reference to the rows' own frame buffers: those are free as soon
 * as `add()` returns (convert hands them back to the reader for reuse), and nothing large lives
 * long enough to reach V8's old generation.
 *
 *  - A frame already in shared memory (read by the local source, sink/shared-blocks.ts) is kept as
 *    it is and its block pinned until `reset()`: a block is reused only once unpinned, so the bytes
 *    stay put without a copy.
 *  - Any other frame is copied into the arena's own shared blocks. Two take turns: while one
 *    group's frames are still being written, the next group fills the other. A block grows to the
 *    largest group's media.
 * Either way the local sink writes and hashes the frames where they are (it pins them too).
 */
export class MediaArena {
  private blocks: SharedBlock[] = [newSharedBlock(16 << 20), newSharedBlock(16 << 20)];
  private current = 0;
  private used = 0;
  /** Blocks of other owners pinned for this group. */
  private held: SharedBlock[] = [];

  /** Call before the first `hold` of a group: waits until the sink is done with this block's last group. */
  async begin(): Promise<void> {
    await whenUnpinned(this.blocks[this.current]!);
  }

  /** An Image value `{bytes, path}` whose bytes stay valid until `reset()` (other values as they are). */
  hold(v: unknown): unknown {
    const image = v as { bytes?: unknown; path?: unknown } | null | undefined;
    if (!image || !(image.bytes instanceof Uint8Array)) return v ?? null;
    const bytes = image.bytes;
    const shared = sharedBlockOf(bytes);
    if (shared) {
      pin(shared);
      this.held.push(shared);
      return image;
    }
    let block = this.blocks[this.current]!;
    if (this.used + bytes.length > block.bytes.length) {
      // Views into the old block stay valid; it is collected once they and the sink let go of it.
      block = this.blocks[this.current] = newSharedBlock(Math.max(block.bytes.length * 2, bytes.length));
      this.used = 0;
    }
    const copy = block.bytes.subarray(this.used, this.used + bytes.length);
    copy.set(bytes);
    this.used += bytes.length;
    return { ...image, bytes: copy };
  }

  /** The group is written (the sink has copied or pinned every byte): release it; the next group takes the other block. */
  reset(): void {
    for (const b of this.held) unpin(b);
    this.held = [];
    this.current = 1 - this.current;
    this.used = 0;
  }
}
