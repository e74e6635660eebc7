/**
 * A row group's (or record batch's) media bytes, copied in as rows arrive, so a writer that holds
 * ~100 rows before writing them keeps no reference to the rows' own frame buffers: those are free
 * as soon as `add()` returns (convert hands them back to the reader for reuse), and nothing large
 * lives long enough to reach V8's old generation. One buffer, reused for every group; it grows to
 * the largest group's media. `reset()` only once the group's bytes are written (the sink copies).
 */
export class MediaArena {
  private buffer = new Uint8Array(16 << 20);
  private used = 0;

  /** An Image value `{bytes, path}` with its bytes moved into the arena (other values as they are). */
  hold(v: unknown): unknown {
    const image = v as { bytes?: unknown; path?: unknown } | null | undefined;
    if (!image || !(image.bytes instanceof Uint8Array)) return v ?? null;
    const bytes = image.bytes;
    if (this.used + bytes.length > this.buffer.length) {
      // Views into the old buffer stay valid; it is dropped with them after this group.
      this.buffer = new Uint8Array(Math.max(this.buffer.length * 2, bytes.length));
      this.used = 0;
    }
    const copy = this.buffer.subarray(this.used, this.used + bytes.length);
    copy.set(bytes);
    this.used += bytes.length;
    return { ...image, bytes: copy };
  }

  reset(): void {
    this.used = 0;
  }
}
