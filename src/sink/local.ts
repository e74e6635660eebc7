import { randomBytes } from 'node:crypto';
import { close, fdatasync, fsync, open, writev } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BlockHasher, newSharedBlock } from './hasher.ts';
import type { BlockSpan, SharedBlock } from './hasher.ts';
import { writeThrough } from './types.ts';
import type { OutputFile, Sink } from './types.ts';

/**
 * Write-behind in reused blocks: write() copies the chunk into the file's current block and
 * resolves (the caller may reuse its buffer at once); full blocks are written in order by writev,
 * then hashed by the hasher thread (blocks are shared memory; see hasher.ts), while the caller
 * encodes the next bytes. At most BLOCKS_IN_FLIGHT blocks per file are out (memory stays bounded); beyond that
 * write() waits. An error surfaces on the next write or on commit.
 *
 * Why copy: a sink that kept the callers' buffers (frames, pages) until written made them live
 * long enough to reach V8's old generation, where only full GCs free them. Blocks come from and
 * return to one process-wide free list, so steady state allocates nothing.
 */
const BLOCK_BYTES = 1 << 20;
const BLOCKS_IN_FLIGHT = 24;
const freeBlocks: SharedBlock[] = [];

/** A local directory. Files are written as `.<name>.tmp-<rand>` beside the target, fsynced, renamed. */
export class LocalSink implements Sink {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  describe(p: string): string {
    return path.join(this.root, p);
  }

  async create(p: string): Promise<OutputFile> {
    const final = path.join(this.root, p);
    await mkdir(path.dirname(final), { recursive: true });
    // The temp name never appears in outputs; the random suffix only avoids clashes between runs.
    const tmp = path.join(path.dirname(final), `.${path.basename(final)}.tmp-${randomBytes(4).toString('hex')}`);
    const fd = await new Promise<number>((resolve, reject) => open(tmp, 'w', (err, fd) => (err ? reject(err) : resolve(fd))));
    return new LocalOutputFile(p, final, tmp, fd);
  }

  writeFile(p: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
    return writeThrough(this, p, bytes);
  }
}

/**
 * While a file grows, an fdatasync is started in the background every this many bytes (never
 * awaited by writes), so the disk writes along and the fsync at commit has little left to wait for.
 */
const BACKGROUND_SYNC_BYTES = 64 << 20;

/** Most buffers per writev call (Linux IOV_MAX is 1024). */
const MAX_IOV = 256;

/** fs.writev of `chunks` at `position`; returns the bytes written (may be fewer than asked). */
function writevAt(fd: number, chunks: Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    writev(fd, chunks as NodeJS.ArrayBufferView[], position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

class LocalOutputFile implements OutputFile {
  private readonly hasher: BlockHasher;
  /** Bytes accepted (the next chunk's file offset). */
  private size = 0;
  /** Bytes written to the file so far (always a prefix: one writev at a time, in order). */
  private written = 0;
  /** The block being filled, and how much of it is. */
  private block: SharedBlock | undefined;
  private filled = 0;
  /** Filled blocks not yet handed to writev. */
  private queue: BlockSpan[] = [];
  /** Blocks taken and not yet returned to the free list. */
  private blocksOut = 0;
  private pumping: Promise<void> | undefined;
  /** Wakes a write() waiting for a block to come back. */
  private progressed: (() => void) | undefined;
  private failure: unknown;
  private done = false;
  /** The background fdatasync in progress, and where the next one is due. */
  private syncing: Promise<void> | undefined;
  private nextSync = BACKGROUND_SYNC_BYTES;
  constructor(
    readonly path: string,
    private readonly final: string,
    private readonly tmp: string,
    private readonly fd: number,
  ) {
    this.hasher = new BlockHasher(
      (blocks) => {
        freeBlocks.push(...blocks);
        this.blocksOut -= blocks.length;
        this.wake();
      },
      (err) => {
        this.failure ??= err;
        this.wake();
      },
    );
  }

  /** One write at a time: await each call before the next. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    let off = 0;
    while (off < chunk.length) {
      if (!this.block) {
        while (this.blocksOut >= BLOCKS_IN_FLIGHT && !this.failure) {
          await new Promise<void>((resolve) => (this.progressed = resolve));
        }
        if (this.failure) throw this.failure;
        this.block = freeBlocks.pop() ?? newSharedBlock(BLOCK_BYTES);
        this.blocksOut++;
        this.filled = 0;
      }
      const take = Math.min(BLOCK_BYTES - this.filled, chunk.length - off);
      this.block.bytes.set(chunk.subarray(off, off + take), this.filled);
      this.filled += take;
      off += take;
      if (this.filled === BLOCK_BYTES) this.enqueueBlock();
    }
    this.size += chunk.length;
  }

  /** Hand the current block (full, or the last partial one) to the writer loop. */
  private enqueueBlock(): void {
    if (!this.block) return;
    this.queue.push({ block: this.block, length: this.filled });
    this.block = undefined;
    this.filled = 0;
    this.pumping ??= this.pump();
  }

  /** Writes queued blocks (all that are waiting, in one writev) until the queue is empty; then hashes them. */
  private async pump(): Promise<void> {
    try {
      while (this.queue.length && !this.failure) {
        const batch = this.queue.splice(0, MAX_IOV);
        let pending = batch.map((s) => s.block.bytes.subarray(0, s.length));
        let bytes = 0;
        for (const s of batch) bytes += s.length;
        while (bytes > 0) {
          const n = await writevAt(this.fd, pending, this.written);
          this.written += n;
          bytes -= n;
          if (bytes > 0) pending = dropFront(pending, n);
        }
        this.hasher.update(batch);
        if (this.written >= this.nextSync && !this.syncing) this.backgroundSync();
      }
    } catch (err) {
      this.failure = err;
    } finally {
      this.pumping = undefined;
      this.wake();
    }
  }

  private backgroundSync(): void {
    this.nextSync = this.written + BACKGROUND_SYNC_BYTES;
    // A write-back error is reported to one fsync caller only: keep it for the next write/commit.
    this.syncing = new Promise<void>((resolve) => fdatasync(this.fd, (err) => {
      if (err) this.failure ??= err;
      resolve();
    })).then(() => {
      this.syncing = undefined;
    });
  }

  private wake(): void {
    const f = this.progressed;
    this.progressed = undefined;
    f?.();
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
    this.enqueueBlock();
    while (this.pumping) await this.pumping;
    if (this.failure) throw this.failure;
    const sha256 = this.hasher.digest();
    sha256.catch(() => {});
    while (this.syncing) await this.syncing;
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => close(this.fd, (err) => (err ? reject(err) : resolve())));
    this.done = true;
    const hex = await sha256;
    await rename(this.tmp, this.final);
    return { bytes: this.size, sha256: hex };
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.failure ??= new Error('aborted');
    for (const s of this.queue) freeBlocks.push(s.block); // never written
    this.blocksOut -= this.queue.length;
    this.queue = [];
    if (this.block) {
      freeBlocks.push(this.block);
      this.blocksOut--;
    }
    this.block = undefined;
    while (this.pumping) await this.pumping;
    while (this.syncing) await this.syncing; // never close the fd under a running fdatasync
    this.hasher.drop();
    await new Promise<void>((resolve) => close(this.fd, () => resolve()));
    await rm(this.tmp, { force: true });
  }
}

/** The buffers left after the first `n` bytes of `chunks` were written. */
function dropFront(chunks: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (n >= chunks[i]!.length) n -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  rest[0] = rest[0]!.subarray(n);
  return rest;
}
