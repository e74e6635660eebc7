import { newSharedBlock, whenUnpinned } from '../sink/shared-blocks.ts';
import type { SharedBlock } from '../sink/shared-blocks.ts';

/**
 * A row group's (or record batch's) media bytes, copied in as rows arrive, so a writer that holds
 * ~100 rows before writing them keeps no reference to the rows' own frame buffers: those are free
 * as soon as `add()` returns (convert hands them back to the reader for reuse), and nothing large
 * lives long enough to reach V8's old generation.
 *
 * The bytes live in shared blocks (sink/shared-blocks.ts), so the local sink writes and hashes a
 * group's frames where they are instead of copying them again; it pins a block until done. Two
 * blocks take turns: while one group's frames are still being written, the next group fills the
 * other. A block grows to the largest group's media.
 */
export class MediaArena {
  private blocks: SharedBlock[] = [newSharedBlock(16 << 20), newSharedBlock(16 << 20)];
  private current = 0;
  private used = 0;

  /** Call before the first `hold` of a group: waits until the sink is done with this block's last group. */
  async begin(): Promise<void> {
    await whenUnpinned(this.blocks[this.current]!);
  }

  /** An Image value `{bytes, path}` with its bytes moved into the arena (other values as they are). */
  hold(v: unknown): unknown {
    const image = v as { bytes?: unknown; path?: unknown } | null | undefined;
    if (!image || !(image.bytes instanceof Uint8Array)) return v ?? null;
    const bytes = image.bytes;
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

  /** The group is written (the sink has copied or pinned every byte): the next group takes the other block. */
  reset(): void {
    this.current = 1 - this.current;
    this.used = 0;
  }
}
